//! Chat message refs: which platform message shows which job, so reactions and edits
//! find their job.

use sqlx::{Any, Executor, FromRow};

#[derive(Debug, Clone, PartialEq, Eq, FromRow)]
pub struct MessageRef {
    pub platform: String,
    pub channel: String,
    pub message_id: String,
    pub job_id: i64,
    pub purpose: String,
}

pub async fn remember<'c>(
    db: impl Executor<'c, Database = Any>,
    message: &MessageRef,
    now: i64,
) -> sqlx::Result<()> {
    sqlx::query(
        "INSERT INTO chat_messages (platform, channel, message_id, job_id, purpose, created_at) VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT (platform, channel, message_id) DO NOTHING",
    )
    .bind(&message.platform)
    .bind(&message.channel)
    .bind(&message.message_id)
    .bind(message.job_id)
    .bind(&message.purpose)
    .bind(now)
    .execute(db)
    .await?;
    Ok(())
}

/// The job a message shows, if it shows one.
pub async fn find<'c>(
    db: impl Executor<'c, Database = Any>,
    platform: &str,
    channel: &str,
    message_id: &str,
) -> sqlx::Result<Option<MessageRef>> {
    sqlx::query_as(
        "SELECT platform, channel, message_id, job_id, purpose FROM chat_messages WHERE platform = $1 AND channel = $2 AND message_id = $3",
    )
    .bind(platform)
    .bind(channel)
    .bind(message_id)
    .fetch_optional(db)
    .await
}

pub async fn for_job<'c>(
    db: impl Executor<'c, Database = Any>,
    job_id: i64,
) -> sqlx::Result<Vec<MessageRef>> {
    sqlx::query_as(
        "SELECT platform, channel, message_id, job_id, purpose FROM chat_messages WHERE job_id = $1 ORDER BY created_at",
    )
    .bind(job_id)
    .fetch_all(db)
    .await
}

/// The next free console message number (`m12` -> 13), so console ids never repeat
/// across sessions that share a database.
pub async fn next_console_number<'c>(db: impl Executor<'c, Database = Any>) -> sqlx::Result<u64> {
    let ids: Vec<(String,)> = sqlx::query_as(
        "SELECT message_id FROM chat_messages WHERE platform = 'console' \
         UNION SELECT message_id FROM announcement_messages WHERE platform = 'console' \
         UNION SELECT message_id FROM incident_messages WHERE platform = 'console' \
         UNION SELECT message_id FROM reminder_messages WHERE platform = 'console'",
    )
    .fetch_all(db)
    .await?;
    let max = ids
        .iter()
        .filter_map(|(id,)| id.strip_prefix('m')?.parse::<u64>().ok())
        .max()
        .unwrap_or(0);
    Ok(max + 1)
}
