-- GitHub: the commit a job's ref resolved to (approvals bind to it), what changed since
-- the env's last good deploy, a --skip-checks reason, the GitHub deployment recorded
-- for the job, and the latest GitHub note its card shows (waiting for checks, a
-- permission GitHub refused). A step's live sub-lines (a workflow run's jobs).
ALTER TABLE jobs ADD COLUMN commit_sha TEXT;
ALTER TABLE jobs ADD COLUMN change_summary TEXT;
ALTER TABLE jobs ADD COLUMN skip_checks TEXT;
ALTER TABLE jobs ADD COLUMN github_deployment BIGINT;
ALTER TABLE jobs ADD COLUMN github_note TEXT;
ALTER TABLE job_steps ADD COLUMN detail TEXT;
-- Webhook deliveries already handled: GitHub redelivers with the same id.
CREATE TABLE github_deliveries (
    delivery_id TEXT PRIMARY KEY,
    event TEXT NOT NULL,
    received_at BIGINT NOT NULL
);
