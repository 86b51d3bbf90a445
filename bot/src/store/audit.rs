//! The append-only audit log: who did what, when, from where.

use sqlx::{Any, Executor, FromRow};

#[derive(Debug, Clone, PartialEq, Eq, FromRow)]
pub struct AuditEntry {
    pub at: i64,
    pub actor: String,
    pub platform: String,
    pub action: String,
    pub env: Option<String>,
    pub job_id: Option<i64>,
    pub detail: String,
}

pub async fn append<'c>(
    db: impl Executor<'c, Database = Any>,
    entry: &AuditEntry,
) -> sqlx::Result<()> {
    sqlx::query(
        "INSERT INTO audit_log (at, actor, platform, action, env, job_id, detail) VALUES ($1, $2, $3, $4, $5, $6, $7)",
    )
    .bind(entry.at)
    .bind(&entry.actor)
    .bind(&entry.platform)
    .bind(&entry.action)
    .bind(&entry.env)
    .bind(entry.job_id)
    .bind(&entry.detail)
    .execute(db)
    .await?;
    Ok(())
}

/// Newest first.
pub async fn recent<'c>(
    db: impl Executor<'c, Database = Any>,
    limit: i64,
) -> sqlx::Result<Vec<AuditEntry>> {
    sqlx::query_as(
        "SELECT at, actor, platform, action, env, job_id, detail FROM audit_log ORDER BY id DESC LIMIT $1",
    )
    .bind(limit)
    .fetch_all(db)
    .await
}

pub async fn for_job<'c>(
    db: impl Executor<'c, Database = Any>,
    job_id: i64,
) -> sqlx::Result<Vec<AuditEntry>> {
    sqlx::query_as(
        "SELECT at, actor, platform, action, env, job_id, detail FROM audit_log WHERE job_id = $1 ORDER BY id",
    )
    .bind(job_id)
    .fetch_all(db)
    .await
}
