-- Gates checked at every door: the incident a hotfix deploy passes (only that one's
-- gate, and only while it is open), and a queued job held at claim time by a gate
-- (an incident opened after its approval): why, since when, and when to look again.
ALTER TABLE jobs ADD COLUMN hotfix_for BIGINT;
ALTER TABLE jobs ADD COLUMN held_reason TEXT;
ALTER TABLE jobs ADD COLUMN held_since BIGINT;
ALTER TABLE jobs ADD COLUMN held_until BIGINT;
