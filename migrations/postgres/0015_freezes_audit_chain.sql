-- Freezes set from chat (`/freeze prod 2h reason`); the config's [[freezes]] are not
-- stored. A lifted freeze keeps its row, with who lifted it.
CREATE TABLE freezes (
    id          BIGSERIAL PRIMARY KEY,
    env         TEXT   NOT NULL,
    reason      TEXT   NOT NULL,
    from_at     BIGINT NOT NULL,
    until_at    BIGINT NOT NULL,
    created_by  TEXT   NOT NULL,
    created_by_name TEXT NOT NULL,
    created_at  BIGINT NOT NULL,
    lifted_by   TEXT,
    lifted_at   BIGINT
);
CREATE INDEX freezes_env ON freezes (env, until_at);

-- `--break-glass REASON`: the job went through a freeze; its reason.
ALTER TABLE jobs ADD COLUMN break_glass TEXT;

-- The audit log becomes a hash chain: each row's hash covers its contents and the hash
-- of the row before it. `mark` flags rows people must notice (`break-glass`).
ALTER TABLE audit_log ADD COLUMN mark TEXT;
ALTER TABLE audit_log ADD COLUMN prev_hash TEXT;
ALTER TABLE audit_log ADD COLUMN hash TEXT;

-- The chain's head, one row. Writers update it first, which serialises them: Postgres
-- holds the row lock to commit. `last_id` and `rows` let `deckhand audit verify` see
-- rows removed from the end.
CREATE TABLE audit_head (
    id      INTEGER PRIMARY KEY CHECK (id = 1),
    last_id BIGINT NOT NULL,
    rows    BIGINT NOT NULL,
    hash    TEXT   NOT NULL
);
INSERT INTO audit_head (id, last_id, rows, hash)
VALUES (1, 0, 0, '0000000000000000000000000000000000000000000000000000000000000000');

-- Rows written before this migration are sealed into the chain once, at start-up: the
-- only update allowed is giving an unsealed row its hashes, nothing else changing.
-- New rows come chained: a writer that does not know the chain (an older deckhand) is
-- refused, and its change with it.
CREATE OR REPLACE FUNCTION audit_log_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'INSERT' THEN
        IF NEW.hash IS NULL OR NEW.prev_hash IS NULL THEN
            RAISE EXCEPTION 'audit rows are hash-chained: write them through deckhand';
        END IF;
        RETURN NEW;
    END IF;
    IF TG_OP = 'UPDATE' AND OLD.hash IS NULL AND NEW.hash IS NOT NULL
       AND (NEW.id, NEW.at, NEW.actor, NEW.platform, NEW.action, NEW.env, NEW.job_id, NEW.detail, NEW.mark)
           IS NOT DISTINCT FROM
           (OLD.id, OLD.at, OLD.actor, OLD.platform, OLD.action, OLD.env, OLD.job_id, OLD.detail, OLD.mark)
    THEN
        RETURN NEW;
    END IF;
    RAISE EXCEPTION 'audit_log is append-only';
END $$;
CREATE TRIGGER audit_log_chained BEFORE INSERT ON audit_log
FOR EACH ROW EXECUTE FUNCTION audit_log_append_only();

-- TRUNCATE skips row triggers; a statement trigger refuses it.
CREATE FUNCTION audit_log_no_truncate() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN RAISE EXCEPTION 'audit_log is append-only: TRUNCATE is refused'; END $$;
CREATE TRIGGER audit_log_no_truncate BEFORE TRUNCATE ON audit_log
FOR EACH STATEMENT EXECUTE FUNCTION audit_log_no_truncate();
CREATE TRIGGER audit_head_no_truncate BEFORE TRUNCATE ON audit_head
FOR EACH STATEMENT EXECUTE FUNCTION audit_log_no_truncate();
CREATE FUNCTION audit_head_kept() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN RAISE EXCEPTION 'the audit chain head cannot be removed'; END $$;
CREATE TRIGGER audit_head_kept BEFORE DELETE ON audit_head
FOR EACH ROW EXECUTE FUNCTION audit_head_kept();

-- When the head hash was last posted to the audit channel.
CREATE TABLE audit_checkpoints (
    at      BIGINT PRIMARY KEY,
    last_id BIGINT NOT NULL,
    rows    BIGINT NOT NULL,
    hash    TEXT   NOT NULL
);
