-- Every verified inbound event, stored before the platform is acknowledged, so a crash
-- after the acknowledgement loses nothing: an event not yet handled is handled once
-- after a restart (within bot.replay_window) or its author is told. `delivery_id` is
-- the platform's id for the delivery (NULL when it gives none): its unique index drops
-- retries and replays. Replaces inbound_events, whose ids move here as handled.
CREATE TABLE inbox (
    id            BIGSERIAL PRIMARY KEY,
    delivery_id   TEXT,
    platform      TEXT   NOT NULL,
    channel       TEXT   NOT NULL,
    user_id       TEXT   NOT NULL,
    user_name     TEXT   NOT NULL,
    -- command | reaction
    kind          TEXT   NOT NULL,
    text          TEXT,
    message_id    TEXT,
    emoji         TEXT,
    added         BIGINT,
    received_at   BIGINT NOT NULL,
    -- Who is handling it, until when: a replica that dies mid-event loses its claim.
    claimed_by    TEXT,
    claimed_until BIGINT,
    handled_at    BIGINT,
    -- handled | expired | migrated
    outcome       TEXT
);
CREATE UNIQUE INDEX inbox_delivery ON inbox (delivery_id);
CREATE INDEX inbox_unhandled ON inbox (claimed_until) WHERE handled_at IS NULL;

INSERT INTO inbox (delivery_id, platform, channel, user_id, user_name, kind, received_at, handled_at, outcome)
SELECT event_id, '', '', '', '', 'command', received_at, received_at, 'migrated' FROM inbound_events;
DROP TABLE inbound_events;
