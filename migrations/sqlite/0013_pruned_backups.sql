-- When deckhand removed a job's backup file (pruned past `keep`): `/backup list` and
-- `/restore` then know it is gone, on every replica, without looking at a disk.
ALTER TABLE jobs ADD COLUMN artifact_pruned_at BIGINT;
