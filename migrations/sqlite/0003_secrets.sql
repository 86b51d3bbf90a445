-- Tracked secrets (metadata only, never values), reminder fire times (one row per fire
-- time and kind: a restart or a second replica can never send it twice), and the
-- reminder messages people react to.

CREATE TABLE secrets (
    id               INTEGER PRIMARY KEY AUTOINCREMENT,
    name             TEXT   NOT NULL,
    env              TEXT   NOT NULL,
    owner            TEXT   NOT NULL,
    every_secs       BIGINT,
    last_rotated_at  BIGINT,
    last_rotated_by  TEXT,
    runbook          TEXT,
    provider_note    TEXT,
    snoozed_until    BIGINT,
    source           TEXT   NOT NULL,
    created_at       BIGINT NOT NULL,
    UNIQUE (name, env)
);

CREATE TABLE reminder_runs (
    kind      TEXT   NOT NULL,
    fire_time BIGINT NOT NULL,
    ran_at    BIGINT NOT NULL,
    PRIMARY KEY (kind, fire_time)
);

CREATE TABLE reminder_messages (
    platform   TEXT   NOT NULL,
    channel    TEXT   NOT NULL,
    message_id TEXT   NOT NULL,
    secret_id  BIGINT NOT NULL REFERENCES secrets (id),
    PRIMARY KEY (platform, channel, message_id)
);
