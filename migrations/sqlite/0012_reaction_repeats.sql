-- Reactions without a delivery id (Discord's gateway) are deduplicated by who did what
-- to which message within a short window: this index makes that check a lookup.
CREATE INDEX inbox_reactions ON inbox (message_id, user_id) WHERE kind = 'reaction';
