//! Tracked secrets and reminder fire times.

use sqlx::{Any, Executor, FromRow};

#[derive(Debug, Clone, PartialEq, Eq, FromRow)]
pub struct Secret {
    pub id: i64,
    pub name: String,
    pub env: String,
    /// A person (`slack:U123`) or a role name.
    pub owner: String,
    pub every_secs: Option<i64>,
    pub last_rotated_at: Option<i64>,
    pub last_rotated_by: Option<String>,
    pub runbook: Option<String>,
    pub provider_note: Option<String>,
    pub snoozed_until: Option<i64>,
    /// `config`, `chat` or `import`.
    pub source: String,
    pub created_at: i64,
}

const COLUMNS: &str = "id, name, env, owner, every_secs, last_rotated_at, last_rotated_by, runbook, provider_note, snoozed_until, source, created_at";

/// A secret to register.
#[derive(Debug, Clone)]
pub struct NewSecret {
    pub name: String,
    pub env: String,
    pub owner: String,
    pub every_secs: Option<i64>,
    pub last_rotated_at: Option<i64>,
    pub runbook: Option<String>,
    pub provider_note: Option<String>,
    pub source: String,
}

/// Registers a secret; `false` when one with that name and env is already known.
pub async fn insert<'c>(
    db: impl Executor<'c, Database = Any>,
    new: &NewSecret,
    now: i64,
) -> sqlx::Result<bool> {
    let done = sqlx::query(
        "INSERT INTO secrets (name, env, owner, every_secs, last_rotated_at, runbook, provider_note, source, created_at) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9) ON CONFLICT (name, env) DO NOTHING",
    )
    .bind(&new.name)
    .bind(&new.env)
    .bind(&new.owner)
    .bind(new.every_secs)
    .bind(new.last_rotated_at)
    .bind(&new.runbook)
    .bind(&new.provider_note)
    .bind(&new.source)
    .bind(now)
    .execute(db)
    .await?;
    Ok(done.rows_affected() == 1)
}

/// Brings a config-defined secret up to date; a rotation recorded in chat after the
/// config's date is kept.
pub async fn sync_from_config<'c>(
    db: impl Executor<'c, Database = Any>,
    new: &NewSecret,
) -> sqlx::Result<()> {
    sqlx::query(
        "UPDATE secrets SET owner = $1, every_secs = $2, runbook = $3, provider_note = $4, \
         last_rotated_at = CASE WHEN last_rotated_at IS NULL OR ($5 IS NOT NULL AND $5 > last_rotated_at) THEN $5 ELSE last_rotated_at END \
         WHERE name = $6 AND env = $7",
    )
    .bind(&new.owner)
    .bind(new.every_secs)
    .bind(&new.runbook)
    .bind(&new.provider_note)
    .bind(new.last_rotated_at)
    .bind(&new.name)
    .bind(&new.env)
    .execute(db)
    .await?;
    Ok(())
}

pub async fn all<'c>(db: impl Executor<'c, Database = Any>) -> sqlx::Result<Vec<Secret>> {
    sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "SELECT {COLUMNS} FROM secrets ORDER BY env, name"
    )))
    .fetch_all(db)
    .await
}

pub async fn by_name<'c>(
    db: impl Executor<'c, Database = Any>,
    name: &str,
) -> sqlx::Result<Vec<Secret>> {
    sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "SELECT {COLUMNS} FROM secrets WHERE name = $1 ORDER BY env"
    )))
    .bind(name)
    .fetch_all(db)
    .await
}

pub async fn get<'c>(
    db: impl Executor<'c, Database = Any>,
    id: i64,
) -> sqlx::Result<Option<Secret>> {
    sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "SELECT {COLUMNS} FROM secrets WHERE id = $1"
    )))
    .bind(id)
    .fetch_optional(db)
    .await
}

pub async fn rotated<'c>(
    db: impl Executor<'c, Database = Any>,
    id: i64,
    by: &str,
    at: i64,
) -> sqlx::Result<()> {
    sqlx::query("UPDATE secrets SET last_rotated_at = $1, last_rotated_by = $2, snoozed_until = NULL WHERE id = $3")
        .bind(at)
        .bind(by)
        .bind(id)
        .execute(db)
        .await?;
    Ok(())
}

pub async fn snooze<'c>(
    db: impl Executor<'c, Database = Any>,
    id: i64,
    until: i64,
) -> sqlx::Result<()> {
    sqlx::query("UPDATE secrets SET snoozed_until = $1 WHERE id = $2")
        .bind(until)
        .bind(id)
        .execute(db)
        .await?;
    Ok(())
}

/// The latest fire time recorded for `kind`.
pub async fn last_run<'c>(
    db: impl Executor<'c, Database = Any>,
    kind: &str,
) -> sqlx::Result<Option<i64>> {
    let row: Option<(Option<i64>,)> =
        sqlx::query_as("SELECT MAX(fire_time) FROM reminder_runs WHERE kind = $1")
            .bind(kind)
            .fetch_optional(db)
            .await?;
    Ok(row.and_then(|(t,)| t))
}

/// Records a fire time; `true` for exactly one caller per (kind, fire time).
pub async fn record_run<'c>(
    db: impl Executor<'c, Database = Any>,
    kind: &str,
    fire_time: i64,
    now: i64,
) -> sqlx::Result<bool> {
    let done = sqlx::query("INSERT INTO reminder_runs (kind, fire_time, ran_at) VALUES ($1, $2, $3) ON CONFLICT (kind, fire_time) DO NOTHING")
        .bind(kind)
        .bind(fire_time)
        .bind(now)
        .execute(db)
        .await?;
    Ok(done.rows_affected() == 1)
}
