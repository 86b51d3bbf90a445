//! Posted messages: which platform message shows which subject (a job's card, an
//! announcement, an incident's status card, a secret's reminder), so an edit finds every
//! message of a subject and a reaction finds the subject of its message in one lookup.

use sqlx::{Any, Executor, FromRow};

/// What a posted message shows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Subject {
    Job(i64),
    Announcement(i64),
    Incident(i64),
    /// A reminder about the secret with this id.
    Secret(i64),
}

impl Subject {
    pub(crate) fn kind(self) -> &'static str {
        match self {
            Subject::Job(_) => "job",
            Subject::Announcement(_) => "announcement",
            Subject::Incident(_) => "incident",
            Subject::Secret(_) => "secret",
        }
    }

    pub(crate) fn id(self) -> i64 {
        match self {
            Subject::Job(id)
            | Subject::Announcement(id)
            | Subject::Incident(id)
            | Subject::Secret(id) => id,
        }
    }

    pub(crate) fn from_row(kind: &str, id: i64) -> Option<Subject> {
        Some(match kind {
            "job" => Subject::Job(id),
            "announcement" => Subject::Announcement(id),
            "incident" => Subject::Incident(id),
            "secret" => Subject::Secret(id),
            _ => return None,
        })
    }

    /// What a message of this subject is, by default.
    pub fn purpose(self) -> &'static str {
        match self {
            Subject::Job(_) => "card",
            Subject::Announcement(_) => "announcement",
            Subject::Incident(_) => "status",
            Subject::Secret(_) => "reminder",
        }
    }
}

/// One message deckhand posted.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PostedMessage {
    pub platform: String,
    pub channel: String,
    pub message_id: String,
    pub subject: Subject,
    pub purpose: String,
}

#[derive(FromRow)]
struct Row {
    platform: String,
    channel: String,
    message_id: String,
    subject_kind: String,
    subject_id: i64,
    purpose: String,
}

impl Row {
    fn into_message(self) -> Option<PostedMessage> {
        let subject = Subject::from_row(&self.subject_kind, self.subject_id);
        if subject.is_none() {
            tracing::warn!(kind = %self.subject_kind, "a posted message of an unknown kind");
        }
        Some(PostedMessage {
            platform: self.platform,
            channel: self.channel,
            message_id: self.message_id,
            subject: subject?,
            purpose: self.purpose,
        })
    }
}

const COLUMNS: &str = "platform, channel, message_id, subject_kind, subject_id, purpose";

/// Remembers a message; remembering it again changes nothing.
pub async fn remember<'c>(
    db: impl Executor<'c, Database = Any>,
    message: &PostedMessage,
    now: i64,
) -> sqlx::Result<()> {
    sqlx::query(
        "INSERT INTO posted_messages (platform, channel, message_id, subject_kind, subject_id, purpose, created_at) \
         VALUES ($1, $2, $3, $4, $5, $6, $7) ON CONFLICT (platform, channel, message_id) DO NOTHING",
    )
    .bind(&message.platform)
    .bind(&message.channel)
    .bind(&message.message_id)
    .bind(message.subject.kind())
    .bind(message.subject.id())
    .bind(&message.purpose)
    .bind(now)
    .execute(db)
    .await?;
    Ok(())
}

/// The message with this id, and so what it shows.
pub async fn find<'c>(
    db: impl Executor<'c, Database = Any>,
    platform: &str,
    channel: &str,
    message_id: &str,
) -> sqlx::Result<Option<PostedMessage>> {
    let row: Option<Row> = sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "SELECT {COLUMNS} FROM posted_messages WHERE platform = $1 AND channel = $2 AND message_id = $3"
    )))
    .bind(platform)
    .bind(channel)
    .bind(message_id)
    .fetch_optional(db)
    .await?;
    Ok(row.and_then(Row::into_message))
}

/// Every message showing `subject`, oldest first.
pub async fn for_subject<'c>(
    db: impl Executor<'c, Database = Any>,
    subject: Subject,
) -> sqlx::Result<Vec<PostedMessage>> {
    let rows: Vec<Row> = sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "SELECT {COLUMNS} FROM posted_messages WHERE subject_kind = $1 AND subject_id = $2 \
         ORDER BY created_at, platform, channel, message_id"
    )))
    .bind(subject.kind())
    .bind(subject.id())
    .fetch_all(db)
    .await?;
    Ok(rows.into_iter().filter_map(Row::into_message).collect())
}

/// The next free console message number (`m12` -> 13), so console ids never repeat
/// across sessions that share a database.
pub async fn next_console_number<'c>(db: impl Executor<'c, Database = Any>) -> sqlx::Result<u64> {
    let ids: Vec<(String,)> =
        sqlx::query_as("SELECT message_id FROM posted_messages WHERE platform = 'console'")
            .fetch_all(db)
            .await?;
    let max = ids
        .iter()
        .filter_map(|(id,)| id.strip_prefix('m')?.parse::<u64>().ok())
        .max()
        .unwrap_or(0);
    Ok(max + 1)
}
