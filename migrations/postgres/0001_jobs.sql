-- Jobs, their steps, approvals, chat message refs, env locks, audit log, inbound event ids.
-- Times are Unix milliseconds (BIGINT) so both dialects read them the same way.

CREATE TABLE jobs (
    id                  BIGSERIAL PRIMARY KEY,
    kind                TEXT    NOT NULL,
    env                 TEXT    NOT NULL,
    app                 TEXT,
    git_ref             TEXT,
    previous_ref        TEXT,
    requester           TEXT    NOT NULL,
    requester_name      TEXT    NOT NULL,
    platform            TEXT    NOT NULL,
    channel             TEXT    NOT NULL,
    state               TEXT    NOT NULL,
    reason              TEXT,
    params_hash         TEXT    NOT NULL,
    approvals_required  BIGINT  NOT NULL,
    approval_expires_at BIGINT,
    rolls_back          BIGINT,
    restore_of          BIGINT,
    created_at          BIGINT  NOT NULL,
    started_at          BIGINT,
    finished_at         BIGINT,
    lease_owner         TEXT,
    lease_expires_at    BIGINT,
    cancel_requested    BIGINT  NOT NULL DEFAULT 0,
    error               TEXT,
    artifact_path       TEXT,
    artifact_size       BIGINT,
    artifact_sha256     TEXT
);
CREATE INDEX jobs_by_state ON jobs (state, id);
CREATE INDEX jobs_by_env ON jobs (env, id);

CREATE TABLE job_steps (
    job_id      BIGINT NOT NULL REFERENCES jobs (id),
    idx         BIGINT NOT NULL,
    name        TEXT   NOT NULL,
    state       TEXT   NOT NULL,
    started_at  BIGINT,
    finished_at BIGINT,
    output_tail TEXT   NOT NULL DEFAULT '',
    error       TEXT,
    PRIMARY KEY (job_id, idx)
);

CREATE TABLE approvals (
    job_id      BIGINT NOT NULL REFERENCES jobs (id),
    person      TEXT   NOT NULL,
    person_name TEXT   NOT NULL,
    decision    TEXT   NOT NULL,
    params_hash TEXT   NOT NULL,
    created_at  BIGINT NOT NULL,
    PRIMARY KEY (job_id, person)
);

CREATE TABLE chat_messages (
    platform   TEXT   NOT NULL,
    channel    TEXT   NOT NULL,
    message_id TEXT   NOT NULL,
    job_id     BIGINT NOT NULL REFERENCES jobs (id),
    purpose    TEXT   NOT NULL,
    created_at BIGINT NOT NULL,
    PRIMARY KEY (platform, channel, message_id)
);
CREATE INDEX chat_messages_by_job ON chat_messages (job_id);

CREATE TABLE env_locks (
    env        TEXT   PRIMARY KEY,
    job_id     BIGINT,
    holder     TEXT   NOT NULL,
    holder_name TEXT  NOT NULL,
    reason     TEXT,
    since      BIGINT NOT NULL,
    expires_at BIGINT
);

CREATE TABLE audit_log (
    id       BIGSERIAL PRIMARY KEY,
    at       BIGINT NOT NULL,
    actor    TEXT   NOT NULL,
    platform TEXT   NOT NULL,
    action   TEXT   NOT NULL,
    env      TEXT,
    job_id   BIGINT,
    detail   TEXT   NOT NULL DEFAULT ''
);
-- Append-only: the log is evidence.
CREATE FUNCTION audit_log_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN RAISE EXCEPTION 'audit_log is append-only'; END $$;
CREATE TRIGGER audit_log_no_change BEFORE UPDATE OR DELETE ON audit_log
FOR EACH ROW EXECUTE FUNCTION audit_log_append_only();

CREATE TABLE inbound_events (
    event_id    TEXT   PRIMARY KEY,
    received_at BIGINT NOT NULL
);
