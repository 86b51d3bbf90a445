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

/// Claims an announcement for posting until `until`: `true` for one caller at a time,
/// so two posters never send it together; a claim that lapses (its poster died) can be
/// taken again, and only channels not yet delivered are sent.
pub async fn claim<'c>(
    db: impl Executor<'c, Database = Any>,
    id: i64,
    now: i64,
    until: i64,
) -> sqlx::Result<bool> {
    let done = sqlx::query(
        "UPDATE announcements SET claimed_until = $1 WHERE id = $2 AND posted_at IS NULL \
         AND (claimed_until IS NULL OR claimed_until < $3)",
    )
    .bind(until)
    .bind(id)
    .bind(now)
    .execute(db)
    .await?;
    Ok(done.rows_affected() == 1)
}

/// Channels the announcement already reached.
pub async fn delivered<'c>(
    db: impl Executor<'c, Database = Any>,
    id: i64,
) -> sqlx::Result<Vec<String>> {
    let rows: Vec<(String,)> = sqlx::query_as(
        "SELECT channel_ref FROM announcement_deliveries WHERE announcement_id = $1",
    )
    .bind(id)
    .fetch_all(db)
    .await?;
    Ok(rows.into_iter().map(|(c,)| c).collect())
}

/// Records that `channel_ref` has the announcement (the platform said so).
pub async fn record_delivery<'c>(
    db: impl Executor<'c, Database = Any>,
    id: i64,
    channel_ref: &str,
    now: i64,
) -> sqlx::Result<()> {
    sqlx::query(
        "INSERT INTO announcement_deliveries (announcement_id, channel_ref, delivered_at) VALUES ($1, $2, $3) \
         ON CONFLICT (announcement_id, channel_ref) DO NOTHING",
    )
    .bind(id)
    .bind(channel_ref)
    .bind(now)
    .execute(db)
    .await?;
    Ok(())
}

/// Ends a poster's claim: posted (every channel has it), or free again at `retry_at`.
pub async fn release<'c>(
    db: impl Executor<'c, Database = Any>,
    id: i64,
    posted_at: Option<i64>,
    retry_at: Option<i64>,
) -> sqlx::Result<()> {
    sqlx::query("UPDATE announcements SET posted_at = $1, claimed_until = $2 WHERE id = $3")
        .bind(posted_at)
        .bind(retry_at)
        .bind(id)
        .execute(db)
        .await?;
    Ok(())
}

/// Announcements whose time has come that are not (fully) posted and that nobody is
/// posting now: scheduled ones, and immediate ones whose poster failed or died.
pub async fn due<'c>(
    db: impl Executor<'c, Database = Any>,
    now: i64,
) -> sqlx::Result<Vec<StoredAnnouncement>> {
    sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "SELECT {COLUMNS} FROM announcements WHERE posted_at IS NULL AND COALESCE(scheduled_for, created_at) <= $1 \
         AND (claimed_until IS NULL OR claimed_until < $1) ORDER BY COALESCE(scheduled_for, created_at), id"
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

/// Frees every claim on announcements not yet posted: at start on SQLite, where the
/// claimants are dead processes.
pub async fn release_claims<'c>(db: impl Executor<'c, Database = Any>) -> sqlx::Result<u64> {
    let done = sqlx::query(
        "UPDATE announcements SET claimed_until = NULL WHERE posted_at IS NULL AND claimed_until IS NOT NULL",
    )
    .execute(db)
    .await?;
    Ok(done.rows_affected())
}
