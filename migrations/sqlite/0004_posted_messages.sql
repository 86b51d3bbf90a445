-- One table for every message deckhand posted and may edit or get reactions on: which
-- platform message shows which subject (a job's card, an announcement, an incident's
-- status card, a secret's reminder). Replaces chat_messages, announcement_messages,
-- incident_messages and reminder_messages; their rows move here.
CREATE TABLE posted_messages (
    platform     TEXT   NOT NULL,
    channel      TEXT   NOT NULL,
    message_id   TEXT   NOT NULL,
    -- job | announcement | incident | secret
    subject_kind TEXT   NOT NULL,
    subject_id   BIGINT NOT NULL,
    -- card | announcement | status | reminder
    purpose      TEXT   NOT NULL,
    created_at   BIGINT NOT NULL,
    PRIMARY KEY (platform, channel, message_id)
);
CREATE INDEX posted_messages_by_subject ON posted_messages (subject_kind, subject_id);

-- `WHERE true` keeps SQLite from reading ON CONFLICT as part of the SELECT.
INSERT INTO posted_messages (platform, channel, message_id, subject_kind, subject_id, purpose, created_at)
SELECT platform, channel, message_id, 'job', job_id, purpose, created_at FROM chat_messages WHERE true
ON CONFLICT DO NOTHING;

INSERT INTO posted_messages (platform, channel, message_id, subject_kind, subject_id, purpose, created_at)
SELECT m.platform, m.channel, m.message_id, 'announcement', m.announcement_id, 'announcement', a.created_at
FROM announcement_messages m JOIN announcements a ON a.id = m.announcement_id WHERE true
ON CONFLICT DO NOTHING;

INSERT INTO posted_messages (platform, channel, message_id, subject_kind, subject_id, purpose, created_at)
SELECT m.platform, m.channel, m.message_id, 'incident', m.incident_id, 'status', i.declared_at
FROM incident_messages m JOIN incidents i ON i.id = m.incident_id WHERE true
ON CONFLICT DO NOTHING;

INSERT INTO posted_messages (platform, channel, message_id, subject_kind, subject_id, purpose, created_at)
SELECT m.platform, m.channel, m.message_id, 'secret', m.secret_id, 'reminder', s.created_at
FROM reminder_messages m JOIN secrets s ON s.id = m.secret_id WHERE true
ON CONFLICT DO NOTHING;

DROP TABLE chat_messages;
DROP TABLE announcement_messages;
DROP TABLE incident_messages;
DROP TABLE reminder_messages;
