-- The process group a running step was started in, so a deckhand that restarts after a
-- crash can stop what its predecessor left running before it frees the env's lock.
-- `process_started` is the group leader's start time (clock ticks since boot, from
-- /proc), so a reused pid is never signalled; `process_host` is `hostname/boot-id`, so
-- only the machine (and boot) that started it signals it.
ALTER TABLE job_steps ADD COLUMN process_group BIGINT;
ALTER TABLE job_steps ADD COLUMN process_started BIGINT;
ALTER TABLE job_steps ADD COLUMN process_host TEXT;
