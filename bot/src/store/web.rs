//! What the web page keeps: one-time sign-in tokens (their hashes) and the key that
//! signs session cookies.

use sqlx::{Any, Executor};

/// Stores a sign-in token's hash for `person` until `expires_at`.
pub async fn add_login<'c>(
    db: impl Executor<'c, Database = Any>,
    token_hash: &str,
    person: &str,
    person_name: &str,
    now: i64,
    expires_at: i64,
) -> sqlx::Result<()> {
    sqlx::query(
        "INSERT INTO login_tokens (token_hash, person, person_name, created_at, expires_at) VALUES ($1, $2, $3, $4, $5)",
    )
    .bind(token_hash)
    .bind(person)
    .bind(person_name)
    .bind(now)
    .bind(expires_at)
    .execute(db)
    .await?;
    Ok(())
}

/// Uses a sign-in token: the person it names, once, while it has not expired.
pub async fn use_login<'c>(
    db: impl Executor<'c, Database = Any>,
    token_hash: &str,
    now: i64,
) -> sqlx::Result<Option<(String, String)>> {
    sqlx::query_as(
        "UPDATE login_tokens SET used_at = $1 WHERE token_hash = $2 AND used_at IS NULL AND expires_at > $1 RETURNING person, person_name",
    )
    .bind(now)
    .bind(token_hash)
    .fetch_optional(db)
    .await
}

/// Forgets sign-in tokens that ended before `before`.
pub async fn forget_logins<'c>(
    db: impl Executor<'c, Database = Any>,
    before: i64,
) -> sqlx::Result<u64> {
    Ok(
        sqlx::query("DELETE FROM login_tokens WHERE expires_at < $1")
            .bind(before)
            .execute(db)
            .await?
            .rows_affected(),
    )
}

/// The key called `name`, made from `fresh` the first time it is asked for (whichever
/// replica asks first wins; the others read its key).
pub async fn key(pool: &sqlx::AnyPool, name: &str, fresh: &str, now: i64) -> sqlx::Result<String> {
    sqlx::query(
        "INSERT INTO deckhand_keys (name, value, created_at) VALUES ($1, $2, $3) ON CONFLICT (name) DO NOTHING",
    )
    .bind(name)
    .bind(fresh)
    .bind(now)
    .execute(pool)
    .await?;
    let (value,): (String,) = sqlx::query_as("SELECT value FROM deckhand_keys WHERE name = $1")
        .bind(name)
        .fetch_one(pool)
        .await?;
    Ok(value)
}
