//! The jobs table: creation, guarded state changes, leases, and history queries.

use sqlx::{Any, Executor, FromRow};

use super::Dialect;
use crate::config::JobKind;

/// DESIGN.md's job states.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum JobState {
    AwaitingApproval,
    Queued,
    Running,
    Succeeded,
    Failed,
    Cancelled,
    Rejected,
    Expired,
    Interrupted,
}

impl JobState {
    pub const ALL: [JobState; 9] = [
        JobState::AwaitingApproval,
        JobState::Queued,
        JobState::Running,
        JobState::Succeeded,
        JobState::Failed,
        JobState::Cancelled,
        JobState::Rejected,
        JobState::Expired,
        JobState::Interrupted,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            JobState::AwaitingApproval => "awaiting_approval",
            JobState::Queued => "queued",
            JobState::Running => "running",
            JobState::Succeeded => "succeeded",
            JobState::Failed => "failed",
            JobState::Cancelled => "cancelled",
            JobState::Rejected => "rejected",
            JobState::Expired => "expired",
            JobState::Interrupted => "interrupted",
        }
    }

    pub fn parse(value: &str) -> Option<JobState> {
        JobState::ALL.into_iter().find(|s| s.as_str() == value)
    }

    /// Done: nothing more will happen to the job.
    pub fn is_terminal(self) -> bool {
        !matches!(
            self,
            JobState::AwaitingApproval | JobState::Queued | JobState::Running
        )
    }
}

/// What a backup job produced.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Artifact {
    pub path: String,
    pub size: i64,
    pub sha256: String,
}

/// One job, as stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Job {
    pub id: i64,
    pub kind: JobKind,
    pub env: String,
    pub app: Option<String>,
    pub git_ref: Option<String>,
    pub previous_ref: Option<String>,
    pub requester: String,
    pub requester_name: String,
    pub platform: String,
    pub channel: String,
    pub state: JobState,
    pub reason: Option<String>,
    pub params_hash: String,
    pub approvals_required: i64,
    pub approval_expires_at: Option<i64>,
    pub rolls_back: Option<i64>,
    pub restore_of: Option<i64>,
    pub created_at: i64,
    pub started_at: Option<i64>,
    pub finished_at: Option<i64>,
    pub cancel_requested: bool,
    /// The process running it (`host-pid-startms`), while it runs.
    pub lease_owner: Option<String>,
    pub error: Option<String>,
    pub artifact: Option<Artifact>,
    /// The incident whose gate this deploy passes as its hotfix.
    pub hotfix_for: Option<i64>,
    /// Why a queued job is held at claim time (a gate closed after its approval).
    pub held: Option<Hold>,
    /// What GitHub knows of it, for apps with a `repo`.
    pub github: GitHubFacts,
    /// `--break-glass REASON`: it went through a freeze, for this reason.
    pub break_glass: Option<String>,
}

/// A job's GitHub facts: the commit its ref resolved to, and what its card says of them.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct GitHubFacts {
    /// The full SHA the ref resolved to when the job was requested (or re-resolved at claim).
    pub commit_sha: Option<String>,
    /// When that commit was made (GitHub's committer date), for lead time.
    pub commit_at: Option<i64>,
    /// The change since the env's last good deploy, as card lines.
    pub change_summary: Option<String>,
    /// `--skip-checks REASON`: the CI gate was passed by hand.
    pub skip_checks: Option<String>,
    /// The GitHub deployment recorded for this job.
    pub deployment: Option<i64>,
    /// The latest thing the card says about GitHub (waiting for checks, a refusal).
    pub note: Option<String>,
}

/// Why a waiting job waits beyond the usual: a queued job a gate holds at claim time
/// (it runs when the gate opens, or expires when the hold outlasts its approval
/// window), or a job sent back for approval because its approvals were voided.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Hold {
    pub reason: String,
    /// When a gate first held it; `None` for a voided approval.
    pub since: Option<i64>,
}

#[derive(FromRow)]
struct JobRow {
    id: i64,
    kind: String,
    env: String,
    app: Option<String>,
    git_ref: Option<String>,
    previous_ref: Option<String>,
    requester: String,
    requester_name: String,
    platform: String,
    channel: String,
    state: String,
    reason: Option<String>,
    params_hash: String,
    approvals_required: i64,
    approval_expires_at: Option<i64>,
    rolls_back: Option<i64>,
    restore_of: Option<i64>,
    created_at: i64,
    started_at: Option<i64>,
    finished_at: Option<i64>,
    cancel_requested: i64,
    lease_owner: Option<String>,
    error: Option<String>,
    artifact_path: Option<String>,
    artifact_size: Option<i64>,
    artifact_sha256: Option<String>,
    hotfix_for: Option<i64>,
    held_reason: Option<String>,
    held_since: Option<i64>,
    commit_sha: Option<String>,
    commit_at: Option<i64>,
    change_summary: Option<String>,
    skip_checks: Option<String>,
    github_deployment: Option<i64>,
    github_note: Option<String>,
    break_glass: Option<String>,
}

const COLUMNS: &str = "id, kind, env, app, git_ref, previous_ref, requester, requester_name, platform, channel, state, reason, params_hash, approvals_required, approval_expires_at, rolls_back, restore_of, created_at, started_at, finished_at, cancel_requested, lease_owner, error, artifact_path, artifact_size, artifact_sha256, hotfix_for, held_reason, held_since, commit_sha, change_summary, skip_checks, github_deployment, github_note, break_glass, commit_at";

impl TryFrom<JobRow> for Job {
    type Error = sqlx::Error;

    fn try_from(row: JobRow) -> Result<Job, sqlx::Error> {
        let bad = |what: &str, value: &str| {
            sqlx::Error::Decode(format!("job {}: unknown {what} `{value}`", row.id).into())
        };
        Ok(Job {
            kind: JobKind::parse(&row.kind).ok_or_else(|| bad("kind", &row.kind))?,
            state: JobState::parse(&row.state).ok_or_else(|| bad("state", &row.state))?,
            artifact: match (row.artifact_path, row.artifact_size, row.artifact_sha256) {
                (Some(path), Some(size), Some(sha256)) => Some(Artifact { path, size, sha256 }),
                _ => None,
            },
            id: row.id,
            env: row.env,
            app: row.app,
            git_ref: row.git_ref,
            previous_ref: row.previous_ref,
            requester: row.requester,
            requester_name: row.requester_name,
            platform: row.platform,
            channel: row.channel,
            reason: row.reason,
            params_hash: row.params_hash,
            approvals_required: row.approvals_required,
            approval_expires_at: row.approval_expires_at,
            rolls_back: row.rolls_back,
            restore_of: row.restore_of,
            created_at: row.created_at,
            started_at: row.started_at,
            finished_at: row.finished_at,
            cancel_requested: row.cancel_requested != 0,
            lease_owner: row.lease_owner,
            error: row.error,
            hotfix_for: row.hotfix_for,
            held: row.held_reason.map(|reason| Hold {
                reason,
                since: row.held_since,
            }),
            github: GitHubFacts {
                commit_sha: row.commit_sha,
                commit_at: row.commit_at,
                change_summary: row.change_summary,
                skip_checks: row.skip_checks,
                deployment: row.github_deployment,
                note: row.github_note,
            },
            break_glass: row.break_glass,
        })
    }
}

/// SQL assembled here only from constants and [`JobState`] names, never from input.
fn trusted(sql: String) -> sqlx::AssertSqlSafe<String> {
    sqlx::AssertSqlSafe(sql)
}

/// `SELECT` every job column, followed by `filter` (a `WHERE`/`ORDER BY` written here).
fn select(filter: &str) -> sqlx::query::QueryAs<'static, Any, JobRow, sqlx::any::AnyArguments> {
    sqlx::query_as(trusted(format!("SELECT {COLUMNS} FROM jobs {filter}")))
}

fn convert(rows: Vec<JobRow>) -> sqlx::Result<Vec<Job>> {
    rows.into_iter().map(Job::try_from).collect()
}

/// What a new job is made of.
#[derive(Debug, Clone)]
pub struct NewJob {
    pub kind: JobKind,
    pub env: String,
    pub app: Option<String>,
    pub git_ref: Option<String>,
    pub previous_ref: Option<String>,
    pub requester: String,
    pub requester_name: String,
    pub platform: String,
    pub channel: String,
    pub state: JobState,
    pub reason: Option<String>,
    pub params_hash: String,
    pub approvals_required: i64,
    pub approval_expires_at: Option<i64>,
    pub rolls_back: Option<i64>,
    pub restore_of: Option<i64>,
    pub hotfix_for: Option<i64>,
    pub commit_sha: Option<String>,
    pub commit_at: Option<i64>,
    pub change_summary: Option<String>,
    pub skip_checks: Option<String>,
    pub break_glass: Option<String>,
}

pub async fn insert<'c>(
    db: impl Executor<'c, Database = Any>,
    job: &NewJob,
    now: i64,
) -> sqlx::Result<i64> {
    let (id,): (i64,) = sqlx::query_as(
        "INSERT INTO jobs (kind, env, app, git_ref, previous_ref, requester, requester_name, platform, channel, state, reason, params_hash, approvals_required, approval_expires_at, rolls_back, restore_of, created_at, hotfix_for, commit_sha, change_summary, skip_checks, break_glass, commit_at) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18, $19, $20, $21, $22, $23) RETURNING id",
    )
    .bind(job.kind.as_str())
    .bind(&job.env)
    .bind(&job.app)
    .bind(&job.git_ref)
    .bind(&job.previous_ref)
    .bind(&job.requester)
    .bind(&job.requester_name)
    .bind(&job.platform)
    .bind(&job.channel)
    .bind(job.state.as_str())
    .bind(&job.reason)
    .bind(&job.params_hash)
    .bind(job.approvals_required)
    .bind(job.approval_expires_at)
    .bind(job.rolls_back)
    .bind(job.restore_of)
    .bind(now)
    .bind(job.hotfix_for)
    .bind(&job.commit_sha)
    .bind(&job.change_summary)
    .bind(&job.skip_checks)
    .bind(&job.break_glass)
    .bind(job.commit_at)
    .fetch_one(db)
    .await?;
    Ok(id)
}

pub async fn get<'c>(db: impl Executor<'c, Database = Any>, id: i64) -> sqlx::Result<Option<Job>> {
    let row: Option<JobRow> = select("WHERE id = $1").bind(id).fetch_optional(db).await?;
    row.map(Job::try_from).transpose()
}

/// `transition`, only while `owner` holds the job's lease: a runner that lost its
/// lease (fenced) writes nothing. `false` when the job moved or changed hands.
pub async fn transition_held<'c>(
    db: impl Executor<'c, Database = Any>,
    id: i64,
    owner: &str,
    to: JobState,
    error: Option<&str>,
    now: i64,
) -> sqlx::Result<bool> {
    let done = sqlx::query(
        "UPDATE jobs SET state = $1, error = COALESCE($2, error), finished_at = $3, lease_owner = NULL \
         WHERE id = $4 AND state = 'running' AND lease_owner = $5",
    )
    .bind(to.as_str())
    .bind(error)
    .bind(now)
    .bind(id)
    .bind(owner)
    .execute(db)
    .await?;
    Ok(done.rows_affected() == 1)
}

/// Moves a job from one of `from` to `to`; `false` when it was in none of them (someone
/// else got there first). Terminal states stamp `finished_at`.
pub async fn transition<'c>(
    db: impl Executor<'c, Database = Any>,
    id: i64,
    from: &[JobState],
    to: JobState,
    error: Option<&str>,
    now: i64,
) -> sqlx::Result<bool> {
    let states: Vec<String> = from.iter().map(|s| format!("'{}'", s.as_str())).collect();
    let finished = if to.is_terminal() {
        "$3"
    } else {
        "finished_at"
    };
    let sql = format!(
        "UPDATE jobs SET state = $1, error = COALESCE($2, error), finished_at = {finished}, lease_owner = CASE WHEN $1 = 'running' THEN lease_owner ELSE NULL END \
         WHERE id = $4 AND state IN ({})",
        states.join(", ")
    );
    let done = sqlx::query(trusted(sql))
        .bind(to.as_str())
        .bind(error)
        .bind(now)
        .bind(id)
        .execute(db)
        .await?;
    Ok(done.rows_affected() == 1)
}

/// Takes the oldest queued job for `owner` and marks it running with a lease.
pub async fn claim_next<'c>(
    db: impl Executor<'c, Database = Any>,
    dialect: Dialect,
    owner: &str,
    lease_until: i64,
    now: i64,
) -> sqlx::Result<Option<Job>> {
    // Postgres replicas skip rows another replica is claiming; SQLite has one writer.
    let pick = match dialect {
        Dialect::Postgres => {
            "SELECT id FROM jobs WHERE state = 'queued' AND (held_until IS NULL OR held_until <= $4) ORDER BY id LIMIT 1 FOR UPDATE SKIP LOCKED"
        }
        Dialect::Sqlite => {
            "SELECT id FROM jobs WHERE state = 'queued' AND (held_until IS NULL OR held_until <= $4) ORDER BY id LIMIT 1"
        }
    };
    let row: Option<JobRow> = sqlx::query_as(trusted(format!(
        "UPDATE jobs SET state = 'running', started_at = $1, lease_owner = $2, lease_expires_at = $3 \
         WHERE id = ({pick}) AND state = 'queued' RETURNING {COLUMNS}"
    )))
    .bind(now)
    .bind(owner)
    .bind(lease_until)
    .bind(now)
    .fetch_optional(db)
    .await?;
    row.map(Job::try_from).transpose()
}

/// Puts a just-claimed job back in the queue, held by a gate until `recheck`: the
/// hold's start is kept from its first time.
pub async fn hold<'c>(
    db: impl Executor<'c, Database = Any>,
    id: i64,
    reason: &str,
    now: i64,
    recheck: i64,
) -> sqlx::Result<bool> {
    let done = sqlx::query(
        "UPDATE jobs SET state = 'queued', started_at = NULL, lease_owner = NULL, lease_expires_at = NULL, \
         held_reason = $1, held_since = COALESCE(held_since, $2), held_until = $3 WHERE id = $4 AND state = 'running'",
    )
    .bind(reason)
    .bind(now)
    .bind(recheck)
    .bind(id)
    .execute(db)
    .await?;
    Ok(done.rows_affected() == 1)
}

/// Sends a job back for approval: its approvals no longer bind to what would run.
/// From `running` (just claimed) or `awaiting_approval`/`queued`.
pub async fn rebind<'c>(
    db: impl Executor<'c, Database = Any>,
    id: i64,
    params_hash: &str,
    approval_expires_at: i64,
    why: &str,
) -> sqlx::Result<bool> {
    let done = sqlx::query(
        "UPDATE jobs SET state = 'awaiting_approval', params_hash = $1, approval_expires_at = $2, started_at = NULL, \
         lease_owner = NULL, lease_expires_at = NULL, held_reason = $3, held_since = NULL, held_until = NULL \
         WHERE id = $4 AND state IN ('running', 'queued', 'awaiting_approval')",
    )
    .bind(params_hash)
    .bind(approval_expires_at)
    .bind(why)
    .bind(id)
    .execute(db)
    .await?;
    Ok(done.rows_affected() == 1)
}

/// A job's ref resolved again (a branch moved): its new commit and change summary.
pub async fn set_commit<'c>(
    db: impl Executor<'c, Database = Any>,
    id: i64,
    commit_sha: &str,
    change_summary: Option<&str>,
) -> sqlx::Result<()> {
    sqlx::query("UPDATE jobs SET commit_sha = $1, change_summary = $2 WHERE id = $3")
        .bind(commit_sha)
        .bind(change_summary)
        .bind(id)
        .execute(db)
        .await?;
    Ok(())
}

/// The GitHub deployment recorded for a job.
pub async fn set_deployment<'c>(
    db: impl Executor<'c, Database = Any>,
    id: i64,
    deployment: i64,
) -> sqlx::Result<()> {
    sqlx::query("UPDATE jobs SET github_deployment = $1 WHERE id = $2")
        .bind(deployment)
        .bind(id)
        .execute(db)
        .await?;
    Ok(())
}

/// What the card says about GitHub now (`None` clears it).
pub async fn set_github_note<'c>(
    db: impl Executor<'c, Database = Any>,
    id: i64,
    note: Option<&str>,
) -> sqlx::Result<()> {
    sqlx::query("UPDATE jobs SET github_note = $1 WHERE id = $2")
        .bind(note)
        .bind(id)
        .execute(db)
        .await?;
    Ok(())
}

/// Once a held job is claimed and passes its gates, it is no longer held.
pub async fn unhold<'c>(db: impl Executor<'c, Database = Any>, id: i64) -> sqlx::Result<()> {
    sqlx::query(
        "UPDATE jobs SET held_reason = NULL, held_since = NULL, held_until = NULL WHERE id = $1",
    )
    .bind(id)
    .execute(db)
    .await?;
    Ok(())
}

/// Extends the lease; `cancel_requested` comes back so the runner sees cancels made by
/// other replicas. `None` when the lease is no longer ours.
pub async fn heartbeat<'c>(
    db: impl Executor<'c, Database = Any>,
    id: i64,
    owner: &str,
    lease_until: i64,
) -> sqlx::Result<Option<bool>> {
    let row: Option<(i64,)> = sqlx::query_as(
        "UPDATE jobs SET lease_expires_at = $1 WHERE id = $2 AND lease_owner = $3 AND state = 'running' RETURNING cancel_requested",
    )
    .bind(lease_until)
    .bind(id)
    .bind(owner)
    .fetch_optional(db)
    .await?;
    Ok(row.map(|(c,)| c != 0))
}

pub async fn request_cancel<'c>(
    db: impl Executor<'c, Database = Any>,
    id: i64,
) -> sqlx::Result<()> {
    sqlx::query("UPDATE jobs SET cancel_requested = 1 WHERE id = $1")
        .bind(id)
        .execute(db)
        .await?;
    Ok(())
}

pub async fn set_artifact<'c>(
    db: impl Executor<'c, Database = Any>,
    id: i64,
    artifact: &Artifact,
) -> sqlx::Result<()> {
    sqlx::query(
        "UPDATE jobs SET artifact_path = $1, artifact_size = $2, artifact_sha256 = $3 WHERE id = $4",
    )
    .bind(&artifact.path)
    .bind(artifact.size)
    .bind(&artifact.sha256)
    .bind(id)
    .execute(db)
    .await?;
    Ok(())
}

pub async fn in_states<'c>(
    db: impl Executor<'c, Database = Any>,
    states: &[JobState],
) -> sqlx::Result<Vec<Job>> {
    if states.is_empty() {
        return Ok(Vec::new());
    }
    // Bound, not spliced in. `QueryBuilder<Any>` would write `?` placeholders, which
    // Postgres rejects, so the numbered ones both dialects accept are written here.
    let placeholders: Vec<String> = (1..=states.len()).map(|i| format!("${i}")).collect();
    let mut query = select(&format!(
        "WHERE state IN ({}) ORDER BY id",
        placeholders.join(", ")
    ));
    for state in states {
        query = query.bind(state.as_str());
    }
    let rows: Vec<JobRow> = query.fetch_all(db).await?;
    convert(rows)
}

/// Running jobs whose lease ran out: their runner died.
pub async fn orphaned<'c>(
    db: impl Executor<'c, Database = Any>,
    now: i64,
) -> sqlx::Result<Vec<Job>> {
    let rows: Vec<JobRow> = select(
        "WHERE state = 'running' AND (lease_expires_at IS NULL OR lease_expires_at < $1) ORDER BY id",
    )
    .bind(now)
    .fetch_all(db)
    .await?;
    convert(rows)
}

/// Jobs whose approval window has passed.
pub async fn approval_expired<'c>(
    db: impl Executor<'c, Database = Any>,
    now: i64,
) -> sqlx::Result<Vec<Job>> {
    let rows: Vec<JobRow> = select(
        "WHERE state = 'awaiting_approval' AND approval_expires_at IS NOT NULL AND approval_expires_at < $1 ORDER BY id",
    )
    .bind(now)
    .fetch_all(db)
    .await?;
    convert(rows)
}

/// An env's jobs, newest first.
pub async fn history<'c>(
    db: impl Executor<'c, Database = Any>,
    env: &str,
    limit: i64,
) -> sqlx::Result<Vec<Job>> {
    let rows: Vec<JobRow> = select("WHERE env = $1 ORDER BY id DESC LIMIT $2")
        .bind(env)
        .bind(limit)
        .fetch_all(db)
        .await?;
    convert(rows)
}

/// Successful deploys and rollbacks of `env` (and `app`), newest first: what ran there.
/// The jobs that roll `id` back.
pub async fn rolled_back_by<'c>(
    db: impl Executor<'c, Database = Any>,
    id: i64,
) -> sqlx::Result<Vec<Job>> {
    let rows: Vec<JobRow> = sqlx::query_as(trusted(format!(
        "SELECT {COLUMNS} FROM jobs WHERE rolls_back = $1 ORDER BY id"
    )))
    .bind(id)
    .fetch_all(db)
    .await?;
    rows.into_iter().map(Job::try_from).collect()
}

/// Jobs created or finished at or after `since`, oldest first: the history DORA reads.
pub async fn finished_since<'c>(
    db: impl Executor<'c, Database = Any>,
    since: i64,
) -> sqlx::Result<Vec<Job>> {
    let rows: Vec<JobRow> = sqlx::query_as(trusted(format!(
        "SELECT {COLUMNS} FROM jobs WHERE created_at >= $1 OR finished_at >= $1 ORDER BY id"
    )))
    .bind(since)
    .fetch_all(db)
    .await?;
    rows.into_iter().map(Job::try_from).collect()
}

pub async fn releases<'c>(
    db: impl Executor<'c, Database = Any>,
    env: &str,
    app: Option<&str>,
    limit: i64,
) -> sqlx::Result<Vec<Job>> {
    let rows: Vec<JobRow> = select(
        "WHERE env = $1 AND ($2 IS NULL OR app = $2) AND kind IN ('deploy', 'rollback') AND state = 'succeeded' \
         ORDER BY id DESC LIMIT $3",
    )
    .bind(env)
    .bind(app)
    .bind(limit)
    .fetch_all(db)
    .await?;
    convert(rows)
}

/// Jobs of `env` whose backup step left an artifact deckhand has not pruned, newest
/// first: `/backup` jobs and deploys (or rollbacks) with a backup step alike.
pub async fn backups<'c>(
    db: impl Executor<'c, Database = Any>,
    env: &str,
    limit: i64,
) -> sqlx::Result<Vec<Job>> {
    let rows: Vec<JobRow> = select(
        "WHERE env = $1 AND artifact_path IS NOT NULL AND artifact_pruned_at IS NULL ORDER BY id DESC LIMIT $2",
    )
    .bind(env)
    .bind(limit)
    .fetch_all(db)
    .await?;
    convert(rows)
}

/// Records that deckhand removed the backup file at `path` (pruned past `keep`).
pub async fn mark_pruned<'c>(
    db: impl Executor<'c, Database = Any>,
    path: &str,
    now: i64,
) -> sqlx::Result<()> {
    sqlx::query(
        "UPDATE jobs SET artifact_pruned_at = $1 WHERE artifact_path = $2 AND artifact_pruned_at IS NULL",
    )
    .bind(now)
    .bind(path)
    .execute(db)
    .await?;
    Ok(())
}

/// When the job's backup file was pruned, if it was.
pub async fn pruned_at<'c>(
    db: impl Executor<'c, Database = Any>,
    id: i64,
) -> sqlx::Result<Option<i64>> {
    let row: Option<(Option<i64>,)> =
        sqlx::query_as("SELECT artifact_pruned_at FROM jobs WHERE id = $1")
            .bind(id)
            .fetch_optional(db)
            .await?;
    Ok(row.and_then(|(at,)| at))
}

/// How many jobs are in each state, for `/metrics`.
pub async fn count_by_state<'c>(
    db: impl Executor<'c, Database = Any>,
) -> sqlx::Result<Vec<(String, i64)>> {
    sqlx::query_as("SELECT state, COUNT(*) FROM jobs GROUP BY state ORDER BY state")
        .fetch_all(db)
        .await
}

/// Ids of chat jobs (not the console's, which keeps no card to fix) not yet ended, or
/// ended since `since`: the cards a restart redraws, so an edit lost with a crashed
/// process is made good.
pub async fn recently_active<'c>(
    db: impl Executor<'c, Database = Any>,
    since: i64,
) -> sqlx::Result<Vec<i64>> {
    let rows: Vec<(i64,)> = sqlx::query_as(
        "SELECT id FROM jobs WHERE platform <> 'console' AND (finished_at IS NULL OR finished_at >= $1) ORDER BY id",
    )
    .bind(since)
    .fetch_all(db)
    .await?;
    Ok(rows.into_iter().map(|(id,)| id).collect())
}
