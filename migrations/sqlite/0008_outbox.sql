-- The outbox: what deckhand still has to say on Slack or Discord, so a crash or a
-- restart loses none of it. A row is a whisper (an answer only one person sees), a
-- post of plain text to a channel, or a redraw of a subject's messages (a job's card,
-- an incident's status card, an announcement) to its state at the time of sending.
-- Redraws coalesce: one row per subject, whose `version` goes up with each change, so
-- a sender that drew an older version sends again. A row is deleted when the platform
-- accepted it; a sender claims rows for a while (`claimed_until`), renewing while it
-- works, so a replica that dies loses its claims and another sends them.
CREATE TABLE outbox (
    id            INTEGER PRIMARY KEY AUTOINCREMENT,
    -- whisper | say | redraw
    kind          TEXT   NOT NULL,
    platform      TEXT   NOT NULL DEFAULT '',
    channel       TEXT   NOT NULL DEFAULT '',
    user_id       TEXT,
    user_name     TEXT,
    body          TEXT,
    subject_kind  TEXT,
    subject_id    BIGINT,
    version       BIGINT NOT NULL DEFAULT 1,
    attempts      BIGINT NOT NULL DEFAULT 0,
    not_before    BIGINT NOT NULL,
    claimed_by    TEXT,
    claimed_until BIGINT,
    last_error    TEXT,
    created_at    BIGINT NOT NULL
);
-- NULL subjects (whispers, says) never conflict, in SQLite and in Postgres.
CREATE UNIQUE INDEX outbox_redraw ON outbox (subject_kind, subject_id);
CREATE INDEX outbox_due ON outbox (not_before);
