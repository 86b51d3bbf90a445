-- Freezes set from chat (`/freeze prod 2h reason`); the config's [[freezes]] are not
-- stored. A lifted freeze keeps its row, with who lifted it.
CREATE TABLE freezes (
    id          INTEGER PRIMARY KEY AUTOINCREMENT,
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

-- The chain's head, one row. Writers update it first, which serialises them: SQLite
-- takes its write lock, Postgres a row lock held to commit. `last_id` and `rows` let
-- `deckhand audit verify` see rows removed from the end.
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
DROP TRIGGER audit_log_no_update;
CREATE TRIGGER audit_log_no_update BEFORE UPDATE ON audit_log
WHEN OLD.hash IS NOT NULL OR NEW.hash IS NULL
  OR NEW.id IS NOT OLD.id OR NEW.at IS NOT OLD.at OR NEW.actor IS NOT OLD.actor
  OR NEW.platform IS NOT OLD.platform OR NEW.action IS NOT OLD.action
  OR NEW.env IS NOT OLD.env OR NEW.job_id IS NOT OLD.job_id
  OR NEW.detail IS NOT OLD.detail OR NEW.mark IS NOT OLD.mark
BEGIN SELECT RAISE(ABORT, 'audit_log is append-only'); END;
-- New rows come chained: a writer that does not know the chain (an older deckhand)
-- is refused, and its change with it.
CREATE TRIGGER audit_log_chained BEFORE INSERT ON audit_log
WHEN NEW.hash IS NULL OR NEW.prev_hash IS NULL
BEGIN SELECT RAISE(ABORT, 'audit rows are hash-chained: write them through deckhand'); END;
CREATE TRIGGER audit_head_kept BEFORE DELETE ON audit_head
BEGIN SELECT RAISE(ABORT, 'the audit chain head cannot be removed'); END;

-- When the head hash was last posted to the audit channel.
CREATE TABLE audit_checkpoints (
    at      BIGINT PRIMARY KEY,
    last_id BIGINT NOT NULL,
    rows    BIGINT NOT NULL,
    hash    TEXT   NOT NULL
);
