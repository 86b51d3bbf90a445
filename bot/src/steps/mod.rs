//! Step executors: `run` a program, call `http`, wait for `health`, `backup` and `restore`
//! (and `github`, in `crate::github::workflow`).

mod backup;
pub mod http;
mod lines;
mod redact;
mod run;
pub(crate) mod supervise;
mod tail;

use std::path::PathBuf;
use std::time::Duration;

use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

pub use redact::Redactor;
pub use tail::Tail;

use crate::config::{StepAction, StepConfig};
use crate::store::jobs::Artifact;

/// Everything a step may use. User values (ref, requester) arrive only in `vars`, which
/// become environment variables: never part of a command line or a shell string.
pub struct StepContext<'a> {
    /// `DECKHAND_JOB_ID`, `DECKHAND_ENV`, `DECKHAND_REF`, ...
    pub vars: Vec<(String, String)>,
    pub redactor: &'a Redactor,
    pub cancel: CancellationToken,
    /// When this step must be done (its own timeout or the job's, whichever is first).
    pub deadline: Instant,
    pub http: &'a reqwest::Client,
    /// Job number, for naming backups.
    pub job_id: i64,
    pub env: &'a str,
    /// For a restore: the backup to put back.
    pub restore_from: Option<&'a Artifact>,
    /// How long a cancelled or timed-out program gets between SIGTERM and SIGKILL.
    pub grace: Duration,
    /// Where a `run` step's process group is recorded, so a restart can stop it.
    pub store: &'a crate::store::Store,
    pub step_idx: i64,
    /// GitHub and the job's repo, for `github` steps (when both are configured).
    pub github: Option<&'a crate::github::GitHub>,
    pub repo: Option<crate::github::Repo>,
    /// Rung when the step's sub-lines changed, so the card is redrawn.
    pub progress: std::sync::Arc<tokio::sync::Notify>,
    pub clock: crate::clock::Clock,
}

/// How a step ended.
#[derive(Debug, Default)]
pub struct Outcome {
    pub error: Option<String>,
    pub tail: Tail,
    pub artifact: Option<Artifact>,
    /// Ended because the job was cancelled.
    pub cancelled: bool,
}

impl Outcome {
    pub fn ok(&self) -> bool {
        self.error.is_none()
    }

    pub(crate) fn fail(&mut self, error: impl Into<String>) {
        self.error = Some(error.into());
    }
}

/// Why a wait ended early.
enum Stop {
    Cancelled,
    TimedOut,
}

impl StepContext<'_> {
    /// Sleeps, unless the job is cancelled or the deadline passes first.
    async fn sleep(&self, duration: Duration) -> Result<(), Stop> {
        tokio::select! {
            _ = self.cancel.cancelled() => Err(Stop::Cancelled),
            _ = tokio::time::sleep_until(self.deadline) => Err(Stop::TimedOut),
            _ = tokio::time::sleep(duration) => Ok(()),
        }
    }

    fn stopped(&self, outcome: &mut Outcome, stop: Stop, timeout: Duration) {
        match stop {
            Stop::Cancelled => {
                outcome.cancelled = true;
                outcome.fail("cancelled");
            }
            Stop::TimedOut => outcome.fail(format!(
                "timed out after {}",
                crate::render::duration(timeout.as_millis() as i64)
            )),
        }
    }

    /// A value the step names by env var; validation made sure it is set.
    fn secret_env(&self, name: &str) -> Result<String, String> {
        std::env::var(name).map_err(|_| format!("env var `{name}` is not set"))
    }
}

/// Default for a step without `timeout`.
pub const DEFAULT_STEP_TIMEOUT: Duration = Duration::from_secs(600);

/// Runs one step to its end. Never panics; every failure is in the outcome, redacted.
pub async fn execute(step: &StepConfig, ctx: &StepContext<'_>) -> Outcome {
    let timeout = ctx.deadline.saturating_duration_since(Instant::now());
    let mut outcome = Outcome::default();
    match &step.action {
        StepAction::Run(argv) => run::run(argv, step, ctx, timeout, &mut outcome).await,
        StepAction::Http(http) => http::http(http, ctx, timeout, &mut outcome).await,
        StepAction::Health(health) => http::health(health, ctx, timeout, &mut outcome).await,
        StepAction::Backup(backup) => backup::backup(backup, step, ctx, &mut outcome).await,
        StepAction::Restore(restore) => backup::restore(restore, step, ctx, &mut outcome).await,
        StepAction::GitHub(github) => crate::github::workflow::run(github, ctx, &mut outcome).await,
    }
    if let Some(error) = outcome.error.take() {
        outcome.error = Some(ctx.redactor.redact(&error));
    }
    outcome
}

/// The environment of a step's program: a clean one. Only `PATH`, `HOME`, `LANG`,
/// `LC_*`, `TZ`, the job's `DECKHAND_*` variables and the variables the step names.
pub fn step_environment(step: &StepConfig, vars: &[(String, String)]) -> Vec<(String, String)> {
    let mut env: Vec<(String, String)> = std::env::vars()
        .filter(|(k, _)| {
            matches!(k.as_str(), "PATH" | "HOME" | "LANG" | "TZ") || k.starts_with("LC_")
        })
        .collect();
    env.extend(vars.iter().cloned());
    for name in &step.env {
        if let Ok(value) = std::env::var(name) {
            env.push((name.clone(), value));
        }
    }
    env
}

/// Where a step runs: its `cwd`, or deckhand's working directory.
fn working_dir(step: &StepConfig) -> Option<PathBuf> {
    step.cwd.clone()
}
