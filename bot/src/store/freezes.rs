//! Freezes set from chat (`/freeze prod 2h reason`), and who lifted them.

use sqlx::{Any, Executor, FromRow};

#[derive(Debug, Clone, PartialEq, Eq, FromRow)]
pub struct ChatFreeze {
    pub id: i64,
    pub env: String,
    pub reason: String,
    pub from_at: i64,
    pub until_at: i64,
    pub created_by: String,
    pub created_by_name: String,
    pub created_at: i64,
    pub lifted_by: Option<String>,
    pub lifted_at: Option<i64>,
}

/// A freeze to store.
#[derive(Debug, Clone)]
pub struct NewFreeze<'a> {
    pub env: &'a str,
    pub reason: &'a str,
    pub from_at: i64,
    pub until_at: i64,
    pub created_by: &'a str,
    pub created_by_name: &'a str,
}

const COLUMNS: &str = "id, env, reason, from_at, until_at, created_by, created_by_name, created_at, lifted_by, lifted_at";

pub async fn insert<'c>(
    db: impl Executor<'c, Database = Any>,
    freeze: &NewFreeze<'_>,
    now: i64,
) -> sqlx::Result<i64> {
    let (id,): (i64,) = sqlx::query_as(
        "INSERT INTO freezes (env, reason, from_at, until_at, created_by, created_by_name, created_at) VALUES ($1, $2, $3, $4, $5, $6, $7) RETURNING id",
    )
    .bind(freeze.env)
    .bind(freeze.reason)
    .bind(freeze.from_at)
    .bind(freeze.until_at)
    .bind(freeze.created_by)
    .bind(freeze.created_by_name)
    .bind(now)
    .fetch_one(db)
    .await?;
    Ok(id)
}

/// Chat freezes not lifted that have not ended by `now`, on `env` (or every env).
pub async fn current<'c>(
    db: impl Executor<'c, Database = Any>,
    env: Option<&str>,
    now: i64,
) -> sqlx::Result<Vec<ChatFreeze>> {
    sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "SELECT {COLUMNS} FROM freezes WHERE lifted_at IS NULL AND until_at > $1 AND ($2 = '' OR env = $2) ORDER BY from_at, id"
    )))
    .bind(now)
    .bind(env.unwrap_or(""))
    .fetch_all(db)
    .await
}

/// Lifts `env`'s chat freezes holding at `now` or still to come; returns them.
pub async fn lift<'c>(
    db: impl Executor<'c, Database = Any>,
    env: &str,
    by: &str,
    now: i64,
) -> sqlx::Result<Vec<ChatFreeze>> {
    sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "UPDATE freezes SET lifted_by = $1, lifted_at = $2 WHERE env = $3 AND lifted_at IS NULL AND until_at > $2 RETURNING {COLUMNS}"
    )))
    .bind(by)
    .bind(now)
    .bind(env)
    .fetch_all(db)
    .await
}
