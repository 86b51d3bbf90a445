-- Announcements (from chat, jobs and CI) with the messages that show them, and incidents
-- with their timeline and status cards.

CREATE TABLE announcements (
    id              INTEGER PRIMARY KEY AUTOINCREMENT,
    idempotency_key TEXT UNIQUE,
    body            TEXT   NOT NULL,
    sender          TEXT   NOT NULL,
    scheduled_for   BIGINT,
    posted_at       BIGINT,
    created_at      BIGINT NOT NULL,
    updated_at      BIGINT NOT NULL
);
CREATE INDEX announcements_due ON announcements (posted_at, scheduled_for);

CREATE TABLE announcement_messages (
    announcement_id BIGINT NOT NULL REFERENCES announcements (id),
    platform        TEXT   NOT NULL,
    channel         TEXT   NOT NULL,
    message_id      TEXT   NOT NULL,
    PRIMARY KEY (announcement_id, platform, channel, message_id)
);

CREATE TABLE incidents (
    id               INTEGER PRIMARY KEY AUTOINCREMENT,
    severity         TEXT   NOT NULL,
    title            TEXT   NOT NULL,
    commander        TEXT   NOT NULL,
    commander_name   TEXT   NOT NULL,
    status           TEXT   NOT NULL,
    platform         TEXT   NOT NULL,
    channel          TEXT   NOT NULL,
    declared_at      BIGINT NOT NULL,
    last_update_at   BIGINT NOT NULL,
    last_reminded_at BIGINT,
    resolved_at      BIGINT,
    summary          TEXT
);
CREATE INDEX incidents_by_status ON incidents (status, id);

CREATE TABLE incident_timeline (
    id          INTEGER PRIMARY KEY AUTOINCREMENT,
    incident_id BIGINT NOT NULL REFERENCES incidents (id),
    at          BIGINT NOT NULL,
    actor       TEXT   NOT NULL,
    kind        TEXT   NOT NULL,
    text        TEXT   NOT NULL
);
CREATE INDEX incident_timeline_by_incident ON incident_timeline (incident_id, id);

CREATE TABLE incident_messages (
    incident_id BIGINT NOT NULL REFERENCES incidents (id),
    platform    TEXT   NOT NULL,
    channel     TEXT   NOT NULL,
    message_id  TEXT   NOT NULL,
    PRIMARY KEY (incident_id, platform, channel, message_id)
);
