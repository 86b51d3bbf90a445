-- Sign-in links for the web page: the hash of a one-time token, whose it is, until when
-- it works, and when it was used (once).
CREATE TABLE login_tokens (
    token_hash  TEXT   PRIMARY KEY,
    person      TEXT   NOT NULL,
    person_name TEXT   NOT NULL,
    created_at  BIGINT NOT NULL,
    expires_at  BIGINT NOT NULL,
    used_at     BIGINT
);
-- Keys deckhand makes for itself and every replica shares: the session cookies' HMAC key.
CREATE TABLE deckhand_keys (
    name       TEXT   PRIMARY KEY,
    value      TEXT   NOT NULL,
    created_at BIGINT NOT NULL
);
-- How an approval was given: `reaction` or `command`.
ALTER TABLE approvals ADD COLUMN via TEXT;
-- When the deployed commit was made (GitHub's committer date), for DORA's lead time.
ALTER TABLE jobs ADD COLUMN commit_at BIGINT;
