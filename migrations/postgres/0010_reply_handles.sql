-- A whisper answers one delivery: the platform's handle for answering it privately (a
-- Discord interaction's id, whose token deckhand keeps in memory only) travels with it,
-- so two commands from one person in one channel each get their own answer.
ALTER TABLE outbox ADD COLUMN reply_to TEXT;
