//! Approvals and rejections: one per person per job, bound to the job's parameters.

use sqlx::{Any, Executor, FromRow};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Decision {
    Approve,
    Reject,
}

impl Decision {
    pub fn as_str(self) -> &'static str {
        match self {
            Decision::Approve => "approve",
            Decision::Reject => "reject",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Approval {
    pub person: String,
    pub person_name: String,
    pub decision: Decision,
    pub params_hash: String,
    pub created_at: i64,
    /// How it was given: `reaction` or `command` (older rows: unknown).
    pub via: Option<String>,
}

#[derive(FromRow)]
struct ApprovalRow {
    person: String,
    person_name: String,
    decision: String,
    params_hash: String,
    created_at: i64,
    via: Option<String>,
}

/// Records a decision; `false` when this person already decided on this job (a repeated
/// reaction or a replayed event counts once).
pub async fn record<'c>(
    db: impl Executor<'c, Database = Any>,
    job_id: i64,
    approval: &Approval,
) -> sqlx::Result<bool> {
    let done = sqlx::query(
        "INSERT INTO approvals (job_id, person, person_name, decision, params_hash, created_at, via) VALUES ($1, $2, $3, $4, $5, $6, $7) \
         ON CONFLICT (job_id, person) DO NOTHING",
    )
    .bind(job_id)
    .bind(&approval.person)
    .bind(&approval.person_name)
    .bind(approval.decision.as_str())
    .bind(&approval.params_hash)
    .bind(approval.created_at)
    .bind(&approval.via)
    .execute(db)
    .await?;
    Ok(done.rows_affected() == 1)
}

/// Takes back a person's approval (a removed ✅); `false` when there was none.
pub async fn withdraw<'c>(
    db: impl Executor<'c, Database = Any>,
    job_id: i64,
    person: &str,
) -> sqlx::Result<bool> {
    let done = sqlx::query(
        "DELETE FROM approvals WHERE job_id = $1 AND person = $2 AND decision = 'approve'",
    )
    .bind(job_id)
    .bind(person)
    .execute(db)
    .await?;
    Ok(done.rows_affected() == 1)
}

/// Voids every decision on a job: they were given for a plan that is no longer what
/// would run. The audit log keeps them.
pub async fn void<'c>(db: impl Executor<'c, Database = Any>, job_id: i64) -> sqlx::Result<u64> {
    let done = sqlx::query("DELETE FROM approvals WHERE job_id = $1")
        .bind(job_id)
        .execute(db)
        .await?;
    Ok(done.rows_affected())
}

pub async fn list<'c>(
    db: impl Executor<'c, Database = Any>,
    job_id: i64,
) -> sqlx::Result<Vec<Approval>> {
    let rows: Vec<ApprovalRow> = sqlx::query_as(
        "SELECT person, person_name, decision, params_hash, created_at, via FROM approvals WHERE job_id = $1 ORDER BY created_at, person",
    )
    .bind(job_id)
    .fetch_all(db)
    .await?;
    Ok(rows
        .into_iter()
        .map(|r| Approval {
            decision: if r.decision == "reject" {
                Decision::Reject
            } else {
                Decision::Approve
            },
            person: r.person,
            person_name: r.person_name,
            params_hash: r.params_hash,
            created_at: r.created_at,
            via: r.via,
        })
        .collect())
}
