//! Env locks: held by a job from creation to its end, or by a person with `/lock`.

use sqlx::{Any, Executor, FromRow};

#[derive(Debug, Clone, PartialEq, Eq, FromRow)]
pub struct EnvLock {
    pub env: String,
    /// The job holding it; `None` for a manual lock.
    pub job_id: Option<i64>,
    pub holder: String,
    pub holder_name: String,
    pub reason: Option<String>,
    pub since: i64,
    pub expires_at: Option<i64>,
}

/// Takes the lock; `false` when someone holds it. Expired manual locks are cleared first.
pub async fn acquire(
    conn: &mut sqlx::AnyConnection,
    lock: &EnvLock,
    now: i64,
) -> sqlx::Result<bool> {
    sqlx::query(
        "DELETE FROM env_locks WHERE env = $1 AND expires_at IS NOT NULL AND expires_at < $2",
    )
    .bind(&lock.env)
    .bind(now)
    .execute(&mut *conn)
    .await?;
    let done = sqlx::query(
        "INSERT INTO env_locks (env, job_id, holder, holder_name, reason, since, expires_at) VALUES ($1, $2, $3, $4, $5, $6, $7) \
         ON CONFLICT (env) DO NOTHING",
    )
    .bind(&lock.env)
    .bind(lock.job_id)
    .bind(&lock.holder)
    .bind(&lock.holder_name)
    .bind(&lock.reason)
    .bind(lock.since)
    .bind(lock.expires_at)
    .execute(&mut *conn)
    .await?;
    Ok(done.rows_affected() == 1)
}

/// The lock on `env`, unless it has expired.
pub async fn get<'c>(
    db: impl Executor<'c, Database = Any>,
    env: &str,
    now: i64,
) -> sqlx::Result<Option<EnvLock>> {
    sqlx::query_as(
        "SELECT env, job_id, holder, holder_name, reason, since, expires_at FROM env_locks WHERE env = $1 AND (expires_at IS NULL OR expires_at >= $2)",
    )
    .bind(env)
    .bind(now)
    .fetch_optional(db)
    .await
}

pub async fn all<'c>(
    db: impl Executor<'c, Database = Any>,
    now: i64,
) -> sqlx::Result<Vec<EnvLock>> {
    sqlx::query_as(
        "SELECT env, job_id, holder, holder_name, reason, since, expires_at FROM env_locks WHERE expires_at IS NULL OR expires_at >= $1 ORDER BY env",
    )
    .bind(now)
    .fetch_all(db)
    .await
}

/// Frees `env` if `job_id` holds it.
pub async fn release_job<'c>(
    db: impl Executor<'c, Database = Any>,
    env: &str,
    job_id: i64,
) -> sqlx::Result<bool> {
    let done = sqlx::query("DELETE FROM env_locks WHERE env = $1 AND job_id = $2")
        .bind(env)
        .bind(job_id)
        .execute(db)
        .await?;
    Ok(done.rows_affected() == 1)
}

/// Frees a manual lock; job locks are freed only by their job ending.
pub async fn release_manual<'c>(
    db: impl Executor<'c, Database = Any>,
    env: &str,
) -> sqlx::Result<bool> {
    let done = sqlx::query("DELETE FROM env_locks WHERE env = $1 AND job_id IS NULL")
        .bind(env)
        .execute(db)
        .await?;
    Ok(done.rows_affected() == 1)
}

/// Hands a job's lock to the job that follows it (a failed deploy to its rollback).
pub async fn transfer<'c>(
    db: impl Executor<'c, Database = Any>,
    env: &str,
    from_job: i64,
    to_job: i64,
    now: i64,
) -> sqlx::Result<bool> {
    let done =
        sqlx::query("UPDATE env_locks SET job_id = $1, since = $2 WHERE env = $3 AND job_id = $4")
            .bind(to_job)
            .bind(now)
            .bind(env)
            .bind(from_job)
            .execute(db)
            .await?;
    Ok(done.rows_affected() == 1)
}

/// Names the job that holds a lock taken in the same transaction.
pub async fn attach_job<'c>(
    db: impl Executor<'c, Database = Any>,
    env: &str,
    job_id: i64,
) -> sqlx::Result<()> {
    sqlx::query("UPDATE env_locks SET job_id = $1 WHERE env = $2")
        .bind(job_id)
        .bind(env)
        .execute(db)
        .await?;
    Ok(())
}

/// Frees every lock whose job has ended (a crash between a job's end and its lock's
/// release, from before both were one transaction); returns the envs freed.
pub async fn release_ended<'c>(db: impl Executor<'c, Database = Any>) -> sqlx::Result<Vec<String>> {
    let freed: Vec<(String,)> = sqlx::query_as(
        "DELETE FROM env_locks WHERE job_id IN \
         (SELECT id FROM jobs WHERE state NOT IN ('awaiting_approval', 'queued', 'running')) \
         RETURNING env",
    )
    .fetch_all(db)
    .await?;
    Ok(freed.into_iter().map(|(env,)| env).collect())
}
