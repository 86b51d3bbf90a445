-- Written before a `run` step's program starts, and set in its environment as
-- DECKHAND_STEP: a deckhand killed between starting the program and recording its process
-- group still leaves something its successor can find the processes by.
ALTER TABLE job_steps ADD COLUMN process_marker TEXT;
