//! Each job's steps: status, timings and a bounded, redacted output tail.

use sqlx::{Any, Executor, FromRow};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StepState {
    Pending,
    Running,
    Succeeded,
    Failed,
    /// Failed, but the step has `continue_on_error`.
    FailedIgnored,
    Skipped,
}

impl StepState {
    pub fn as_str(self) -> &'static str {
        match self {
            StepState::Pending => "pending",
            StepState::Running => "running",
            StepState::Succeeded => "succeeded",
            StepState::Failed => "failed",
            StepState::FailedIgnored => "failed_ignored",
            StepState::Skipped => "skipped",
        }
    }

    pub fn parse(value: &str) -> StepState {
        match value {
            "running" => StepState::Running,
            "succeeded" => StepState::Succeeded,
            "failed" => StepState::Failed,
            "failed_ignored" => StepState::FailedIgnored,
            "skipped" => StepState::Skipped,
            _ => StepState::Pending,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Step {
    pub idx: i64,
    pub name: String,
    pub state: StepState,
    pub started_at: Option<i64>,
    pub finished_at: Option<i64>,
    pub output_tail: String,
    pub error: Option<String>,
    /// Live sub-lines under the step (a workflow run's link and its jobs), newest state.
    pub detail: Option<String>,
}

#[derive(FromRow)]
struct StepRow {
    idx: i64,
    name: String,
    state: String,
    started_at: Option<i64>,
    finished_at: Option<i64>,
    output_tail: String,
    error: Option<String>,
    detail: Option<String>,
}

/// Creates the pending checklist of a job.
pub async fn create(
    conn: &mut sqlx::AnyConnection,
    job_id: i64,
    names: &[String],
) -> sqlx::Result<()> {
    for (idx, name) in names.iter().enumerate() {
        sqlx::query(
            "INSERT INTO job_steps (job_id, idx, name, state) VALUES ($1, $2, $3, 'pending')",
        )
        .bind(job_id)
        .bind(idx as i64)
        .bind(name)
        .execute(&mut *conn)
        .await?;
    }
    Ok(())
}

/// A job's checklist replaced by `names` (its pipeline changed before it ran).
pub async fn replace(
    conn: &mut sqlx::AnyConnection,
    job_id: i64,
    names: &[String],
) -> sqlx::Result<()> {
    sqlx::query("DELETE FROM job_steps WHERE job_id = $1")
        .bind(job_id)
        .execute(&mut *conn)
        .await?;
    create(conn, job_id, names).await
}

pub async fn start<'c>(
    db: impl Executor<'c, Database = Any>,
    job_id: i64,
    idx: i64,
    now: i64,
) -> sqlx::Result<()> {
    sqlx::query(
        "UPDATE job_steps SET state = 'running', started_at = $1 WHERE job_id = $2 AND idx = $3",
    )
    .bind(now)
    .bind(job_id)
    .bind(idx)
    .execute(db)
    .await?;
    Ok(())
}

/// Sets a step's live sub-lines (already redacted and bounded).
pub async fn set_detail<'c>(
    db: impl Executor<'c, Database = Any>,
    job_id: i64,
    idx: i64,
    detail: &str,
) -> sqlx::Result<()> {
    sqlx::query("UPDATE job_steps SET detail = $1 WHERE job_id = $2 AND idx = $3")
        .bind(detail)
        .bind(job_id)
        .bind(idx)
        .execute(db)
        .await?;
    Ok(())
}

/// Stores the step's outcome. `output_tail` must already be redacted and bounded.
pub async fn finish<'c>(
    db: impl Executor<'c, Database = Any>,
    job_id: i64,
    idx: i64,
    state: StepState,
    output_tail: &str,
    error: Option<&str>,
    now: i64,
) -> sqlx::Result<()> {
    sqlx::query(
        "UPDATE job_steps SET state = $1, finished_at = $2, output_tail = $3, error = $4 WHERE job_id = $5 AND idx = $6",
    )
    .bind(state.as_str())
    .bind(now)
    .bind(output_tail)
    .bind(error)
    .bind(job_id)
    .bind(idx)
    .execute(db)
    .await?;
    Ok(())
}

/// Marks every step not yet finished as skipped (after a failure or a cancel).
pub async fn skip_rest<'c>(db: impl Executor<'c, Database = Any>, job_id: i64) -> sqlx::Result<()> {
    sqlx::query("UPDATE job_steps SET state = 'skipped' WHERE job_id = $1 AND state = 'pending'")
        .bind(job_id)
        .execute(db)
        .await?;
    Ok(())
}

/// A step left running by a dead process.
pub async fn interrupt_running<'c>(
    db: impl Executor<'c, Database = Any>,
    job_id: i64,
    now: i64,
) -> sqlx::Result<()> {
    sqlx::query(
        "UPDATE job_steps SET state = 'failed', finished_at = $1, error = 'interrupted: deckhand stopped while this step ran' WHERE job_id = $2 AND state = 'running'",
    )
    .bind(now)
    .bind(job_id)
    .execute(db)
    .await?;
    Ok(())
}

pub async fn list<'c>(
    db: impl Executor<'c, Database = Any>,
    job_id: i64,
) -> sqlx::Result<Vec<Step>> {
    let rows: Vec<StepRow> = sqlx::query_as(
        "SELECT idx, name, state, started_at, finished_at, output_tail, error, detail FROM job_steps WHERE job_id = $1 ORDER BY idx",
    )
    .bind(job_id)
    .fetch_all(db)
    .await?;
    Ok(rows
        .into_iter()
        .map(|r| Step {
            idx: r.idx,
            name: r.name,
            state: StepState::parse(&r.state),
            started_at: r.started_at,
            finished_at: r.finished_at,
            output_tail: r.output_tail,
            detail: r.detail,
            error: r.error,
        })
        .collect())
}

/// (count, total seconds) of finished steps, for `/metrics`.
pub async fn duration_totals<'c>(
    db: impl Executor<'c, Database = Any>,
) -> sqlx::Result<(i64, f64)> {
    let (count, total): (i64, Option<i64>) = sqlx::query_as(
        "SELECT COUNT(*), SUM(finished_at - started_at) FROM job_steps WHERE finished_at IS NOT NULL AND started_at IS NOT NULL",
    )
    .fetch_one(db)
    .await?;
    Ok((count, total.unwrap_or(0) as f64 / 1000.0))
}

/// The process group a `run` step was started in, and how to recognise it later.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StepProcess {
    /// The process group id (the leader's pid).
    pub group: i64,
    /// The leader's start time, in clock ticks since boot.
    pub started: i64,
    /// `hostname/boot-id` of the machine that started it.
    pub host: String,
}

/// Remembers the process group of a step that just started.
pub async fn record_process<'c>(
    db: impl Executor<'c, Database = Any>,
    job_id: i64,
    idx: i64,
    process: &StepProcess,
) -> sqlx::Result<()> {
    sqlx::query(
        "UPDATE job_steps SET process_group = $1, process_started = $2, process_host = $3 WHERE job_id = $4 AND idx = $5",
    )
    .bind(process.group)
    .bind(process.started)
    .bind(&process.host)
    .bind(job_id)
    .bind(idx)
    .execute(db)
    .await?;
    Ok(())
}

/// Marks a step about to start its program: the marker is in the program's environment
/// (and its children's), so the processes can be found even if no group is ever recorded.
pub async fn mark_process<'c>(
    db: impl Executor<'c, Database = Any>,
    job_id: i64,
    idx: i64,
    marker: &str,
    host: &str,
) -> sqlx::Result<()> {
    sqlx::query(
        "UPDATE job_steps SET process_marker = $1, process_host = $2 WHERE job_id = $3 AND idx = $4",
    )
    .bind(marker)
    .bind(host)
    .bind(job_id)
    .bind(idx)
    .execute(db)
    .await?;
    Ok(())
}

/// The marker and host of the job's running step, if it got as far as starting a program.
pub async fn running_marker<'c>(
    db: impl Executor<'c, Database = Any>,
    job_id: i64,
) -> sqlx::Result<Option<(String, String)>> {
    let row: Option<(Option<String>, Option<String>)> = sqlx::query_as(
        "SELECT process_marker, process_host FROM job_steps WHERE job_id = $1 AND state = 'running' ORDER BY idx LIMIT 1",
    )
    .bind(job_id)
    .fetch_optional(db)
    .await?;
    Ok(match row {
        Some((Some(marker), Some(host))) => Some((marker, host)),
        _ => None,
    })
}

/// The process group of the job's running step, if one was recorded.
pub async fn running_process<'c>(
    db: impl Executor<'c, Database = Any>,
    job_id: i64,
) -> sqlx::Result<Option<StepProcess>> {
    let row: Option<(Option<i64>, Option<i64>, Option<String>)> = sqlx::query_as(
        "SELECT process_group, process_started, process_host FROM job_steps WHERE job_id = $1 AND state = 'running' ORDER BY idx LIMIT 1",
    )
    .bind(job_id)
    .fetch_optional(db)
    .await?;
    Ok(match row {
        Some((Some(group), Some(started), Some(host))) => Some(StepProcess {
            group,
            started,
            host,
        }),
        _ => None,
    })
}
