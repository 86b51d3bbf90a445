//! Inbound event ids, so a retried or replayed delivery is handled once.

use sqlx::{Any, Executor};

/// Records `event_id`; `true` the first time it is seen, `false` for a repeat.
pub async fn first_seen<'c>(
    db: impl Executor<'c, Database = Any>,
    event_id: &str,
    now: i64,
) -> sqlx::Result<bool> {
    let done = sqlx::query(
        "INSERT INTO inbound_events (event_id, received_at) VALUES ($1, $2) ON CONFLICT (event_id) DO NOTHING",
    )
    .bind(event_id)
    .bind(now)
    .execute(db)
    .await?;
    Ok(done.rows_affected() == 1)
}

/// Forgets delivery ids older than `before`: platforms stop retrying within minutes, and
/// the table must not grow forever.
pub async fn forget_before<'c>(
    db: impl Executor<'c, Database = Any>,
    before: i64,
) -> sqlx::Result<u64> {
    let done = sqlx::query("DELETE FROM inbound_events WHERE received_at < $1")
        .bind(before)
        .execute(db)
        .await?;
    Ok(done.rows_affected())
}
