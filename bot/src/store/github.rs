//! GitHub webhook deliveries already taken: a redelivery (same `X-GitHub-Delivery`)
//! does nothing the second time.

use sqlx::{Any, Executor};

/// Records a delivery; `false` when it was recorded before.
pub async fn first_delivery<'c>(
    db: impl Executor<'c, Database = Any>,
    delivery: &str,
    event: &str,
    now: i64,
) -> sqlx::Result<bool> {
    let done = sqlx::query(
        "INSERT INTO github_deliveries (delivery_id, event, received_at) VALUES ($1, $2, $3) \
         ON CONFLICT (delivery_id) DO NOTHING",
    )
    .bind(delivery)
    .bind(event)
    .bind(now)
    .execute(db)
    .await?;
    Ok(done.rows_affected() == 1)
}

/// Forgets a delivery whose handling failed, so GitHub's redelivery is handled.
pub async fn forget_delivery<'c>(
    db: impl Executor<'c, Database = Any>,
    delivery: &str,
) -> sqlx::Result<()> {
    sqlx::query("DELETE FROM github_deliveries WHERE delivery_id = $1")
        .bind(delivery)
        .execute(db)
        .await?;
    Ok(())
}

/// Whether a deploy of `sha` to `env` was ever created (deploy on green runs once per
/// commit, whichever event reported it green first).
pub async fn deployed_commit<'c>(
    db: impl Executor<'c, Database = Any>,
    env: &str,
    sha: &str,
) -> sqlx::Result<bool> {
    let row: Option<(i64,)> = sqlx::query_as(
        "SELECT id FROM jobs WHERE env = $1 AND commit_sha = $2 AND kind = 'deploy' LIMIT 1",
    )
    .bind(env)
    .bind(sha)
    .fetch_optional(db)
    .await?;
    Ok(row.is_some())
}

/// Deliveries older than `before` are forgotten (GitHub redelivers within days).
pub async fn prune_deliveries<'c>(
    db: impl Executor<'c, Database = Any>,
    before: i64,
) -> sqlx::Result<u64> {
    let done = sqlx::query("DELETE FROM github_deliveries WHERE received_at < $1")
        .bind(before)
        .execute(db)
        .await?;
    Ok(done.rows_affected())
}
