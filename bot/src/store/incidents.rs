//! Incidents and their timelines.

use sqlx::{Any, Executor, FromRow};

#[derive(Debug, Clone, PartialEq, Eq, FromRow)]
pub struct Incident {
    pub id: i64,
    pub severity: String,
    pub title: String,
    pub commander: String,
    pub commander_name: String,
    /// `open` or `resolved`.
    pub status: String,
    pub platform: String,
    pub channel: String,
    pub declared_at: i64,
    pub last_update_at: i64,
    pub last_reminded_at: Option<i64>,
    pub resolved_at: Option<i64>,
    pub summary: Option<String>,
}

impl Incident {
    pub fn is_open(&self) -> bool {
        self.status == "open"
    }
}

#[derive(Debug, Clone, PartialEq, Eq, FromRow)]
pub struct TimelineEntry {
    pub at: i64,
    pub actor: String,
    /// `declared`, `update`, `job`, `gate`, `hotfix`, `reminder`, `resolved`.
    pub kind: String,
    pub text: String,
}

const COLUMNS: &str = "id, severity, title, commander, commander_name, status, platform, channel, declared_at, last_update_at, last_reminded_at, resolved_at, summary";

pub struct NewIncident<'a> {
    pub severity: &'a str,
    pub title: &'a str,
    pub commander: &'a str,
    pub commander_name: &'a str,
    pub platform: &'a str,
    pub channel: &'a str,
}

pub async fn insert<'c>(
    db: impl Executor<'c, Database = Any>,
    new: &NewIncident<'_>,
    now: i64,
) -> sqlx::Result<i64> {
    let (id,): (i64,) = sqlx::query_as(
        "INSERT INTO incidents (severity, title, commander, commander_name, status, platform, channel, declared_at, last_update_at) \
         VALUES ($1, $2, $3, $4, 'open', $5, $6, $7, $7) RETURNING id",
    )
    .bind(new.severity)
    .bind(new.title)
    .bind(new.commander)
    .bind(new.commander_name)
    .bind(new.platform)
    .bind(new.channel)
    .bind(now)
    .fetch_one(db)
    .await?;
    Ok(id)
}

pub async fn get<'c>(
    db: impl Executor<'c, Database = Any>,
    id: i64,
) -> sqlx::Result<Option<Incident>> {
    sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "SELECT {COLUMNS} FROM incidents WHERE id = $1"
    )))
    .bind(id)
    .fetch_optional(db)
    .await
}

pub async fn open<'c>(db: impl Executor<'c, Database = Any>) -> sqlx::Result<Vec<Incident>> {
    sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "SELECT {COLUMNS} FROM incidents WHERE status = 'open' ORDER BY id"
    )))
    .fetch_all(db)
    .await
}

/// The newest `limit` incidents, open or resolved, newest first.
pub async fn recent<'c>(
    db: impl Executor<'c, Database = Any>,
    limit: i64,
) -> sqlx::Result<Vec<Incident>> {
    sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "SELECT {COLUMNS} FROM incidents ORDER BY id DESC LIMIT $1"
    )))
    .bind(limit)
    .fetch_all(db)
    .await
}

/// Incidents declared at or after `since`, or still open.
pub async fn declared_since<'c>(
    db: impl Executor<'c, Database = Any>,
    since: i64,
) -> sqlx::Result<Vec<Incident>> {
    sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "SELECT {COLUMNS} FROM incidents WHERE declared_at >= $1 OR status = 'open' ORDER BY id"
    )))
    .bind(since)
    .fetch_all(db)
    .await
}

pub async fn touch<'c>(
    db: impl Executor<'c, Database = Any>,
    id: i64,
    now: i64,
) -> sqlx::Result<()> {
    sqlx::query("UPDATE incidents SET last_update_at = $1 WHERE id = $2")
        .bind(now)
        .bind(id)
        .execute(db)
        .await?;
    Ok(())
}

/// Marks a reminder sent; `false` when another replica sent it since `previous`.
pub async fn reminded<'c>(
    db: impl Executor<'c, Database = Any>,
    id: i64,
    previous: Option<i64>,
    now: i64,
) -> sqlx::Result<bool> {
    let done = sqlx::query(
        "UPDATE incidents SET last_reminded_at = $1 WHERE id = $2 AND status = 'open' AND (last_reminded_at = $3 OR ($3 IS NULL AND last_reminded_at IS NULL))",
    )
    .bind(now)
    .bind(id)
    .bind(previous)
    .execute(db)
    .await?;
    Ok(done.rows_affected() == 1)
}

pub async fn resolve<'c>(
    db: impl Executor<'c, Database = Any>,
    id: i64,
    summary: Option<&str>,
    now: i64,
) -> sqlx::Result<bool> {
    let done = sqlx::query("UPDATE incidents SET status = 'resolved', resolved_at = $1, last_update_at = $1, summary = $2 WHERE id = $3 AND status = 'open'")
        .bind(now)
        .bind(summary)
        .bind(id)
        .execute(db)
        .await?;
    Ok(done.rows_affected() == 1)
}

pub async fn append<'c>(
    db: impl Executor<'c, Database = Any>,
    id: i64,
    entry: &TimelineEntry,
) -> sqlx::Result<()> {
    sqlx::query("INSERT INTO incident_timeline (incident_id, at, actor, kind, text) VALUES ($1, $2, $3, $4, $5)")
        .bind(id)
        .bind(entry.at)
        .bind(&entry.actor)
        .bind(&entry.kind)
        .bind(&entry.text)
        .execute(db)
        .await?;
    Ok(())
}

pub async fn timeline<'c>(
    db: impl Executor<'c, Database = Any>,
    id: i64,
) -> sqlx::Result<Vec<TimelineEntry>> {
    sqlx::query_as(
        "SELECT at, actor, kind, text FROM incident_timeline WHERE incident_id = $1 ORDER BY id",
    )
    .bind(id)
    .fetch_all(db)
    .await
}
