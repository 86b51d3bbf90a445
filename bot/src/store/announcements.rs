//! Announcements: stored bodies, idempotency keys, schedules.

use sqlx::{Any, Executor, FromRow};

#[derive(Debug, Clone, PartialEq, Eq, FromRow)]
pub struct StoredAnnouncement {
    pub id: i64,
    pub idempotency_key: Option<String>,
    /// The announcement as JSON (DESIGN.md's schema).
    pub body: String,
    pub sender: String,
    pub scheduled_for: Option<i64>,
    pub posted_at: Option<i64>,
    pub created_at: i64,
}

const COLUMNS: &str = "id, idempotency_key, body, sender, scheduled_for, posted_at, created_at";

/// Stores a new announcement; `None` when the idempotency key is already taken.
pub async fn insert<'c>(
    db: impl Executor<'c, Database = Any>,
    key: Option<&str>,
    body: &str,
    sender: &str,
    scheduled_for: Option<i64>,
    now: i64,
) -> sqlx::Result<Option<i64>> {
    let row: Option<(i64,)> = sqlx::query_as(
        "INSERT INTO announcements (idempotency_key, body, sender, scheduled_for, created_at, updated_at) VALUES ($1, $2, $3, $4, $5, $5) \
         ON CONFLICT (idempotency_key) DO NOTHING RETURNING id",
    )
    .bind(key)
    .bind(body)
    .bind(sender)
    .bind(scheduled_for)
    .bind(now)
    .fetch_optional(db)
    .await?;
    Ok(row.map(|(id,)| id))
}

pub async fn by_key<'c>(
    db: impl Executor<'c, Database = Any>,
    key: &str,
) -> sqlx::Result<Option<StoredAnnouncement>> {
    sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "SELECT {COLUMNS} FROM announcements WHERE idempotency_key = $1"
    )))
    .bind(key)
    .fetch_optional(db)
    .await
}

pub async fn get<'c>(
    db: impl Executor<'c, Database = Any>,
    id: i64,
) -> sqlx::Result<Option<StoredAnnouncement>> {
    sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "SELECT {COLUMNS} FROM announcements WHERE id = $1"
    )))
    .bind(id)
    .fetch_optional(db)
    .await
}

/// Claims an announcement for posting: `true` for exactly one caller, so a scheduled
/// notice is posted once even across restarts and replicas.
pub async fn claim<'c>(
    db: impl Executor<'c, Database = Any>,
    id: i64,
    now: i64,
) -> sqlx::Result<bool> {
    let done =
        sqlx::query("UPDATE announcements SET posted_at = $1 WHERE id = $2 AND posted_at IS NULL")
            .bind(now)
            .bind(id)
            .execute(db)
            .await?;
    Ok(done.rows_affected() == 1)
}

/// Scheduled announcements whose time has come and that nobody posted yet.
pub async fn due<'c>(
    db: impl Executor<'c, Database = Any>,
    now: i64,
) -> sqlx::Result<Vec<StoredAnnouncement>> {
    sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "SELECT {COLUMNS} FROM announcements WHERE posted_at IS NULL AND scheduled_for IS NOT NULL AND scheduled_for <= $1 ORDER BY scheduled_for, id"
    )))
    .bind(now)
    .fetch_all(db)
    .await
}

pub async fn update_body<'c>(
    db: impl Executor<'c, Database = Any>,
    id: i64,
    body: &str,
    now: i64,
) -> sqlx::Result<()> {
    sqlx::query("UPDATE announcements SET body = $1, updated_at = $2 WHERE id = $3")
        .bind(body)
        .bind(now)
        .bind(id)
        .execute(db)
        .await?;
    Ok(())
}
