//! The `github` step: dispatch a workflow, find its run, follow it to the end with its
//! jobs as the step's sub-lines, cancel it with the job.

use std::time::Duration;

use tokio::time::Instant;

use super::{GitHub, GitHubError, Repo};
use crate::config::GitHubStep;
use crate::steps::{Outcome, StepContext};
use crate::store::now_ms;

/// How long deckhand looks for a run it dispatched without being told its id.
const FIND_RUN_FOR: Duration = Duration::from_secs(120);
/// A dispatched run is created a moment after the dispatch; clocks differ a little.
const CLOCK_SLACK_MS: i64 = 5_000;

/// Whether an input value is a fixed string with only `${DECKHAND_*}` variables.
pub fn check_input(value: &str) -> Result<(), String> {
    let mut rest = value;
    while let Some(start) = rest.find("${") {
        let after = &rest[start + 2..];
        let Some(end) = after.find('}') else {
            return Err(format!("`{value}` opens `${{` without closing it"));
        };
        let name = &after[..end];
        if !KNOWN_VARS.contains(&name) {
            return Err(format!(
                "`${{{name}}}` is not a job variable; inputs may use {}",
                KNOWN_VARS
                    .iter()
                    .map(|v| format!("${{{v}}}"))
                    .collect::<Vec<_>>()
                    .join(", ")
            ));
        }
        rest = &after[end + 1..];
    }
    Ok(())
}

/// The job variables an input may name (validated values, never chat text as such).
const KNOWN_VARS: &[&str] = &[
    "DECKHAND_JOB_ID",
    "DECKHAND_JOB_KIND",
    "DECKHAND_ENV",
    "DECKHAND_APP",
    "DECKHAND_REF",
    "DECKHAND_COMMIT",
    "DECKHAND_PREVIOUS_REF",
    "DECKHAND_REQUESTER",
    "DECKHAND_ROLLS_BACK",
];

/// `value` with each `${DECKHAND_*}` replaced by the job's value (empty when unset).
pub fn substitute(value: &str, vars: &[(String, String)]) -> String {
    let mut out = String::new();
    let mut rest = value;
    while let Some(start) = rest.find("${") {
        out.push_str(&rest[..start]);
        let after = &rest[start + 2..];
        let Some(end) = after.find('}') else {
            out.push_str(&rest[start..]);
            return out;
        };
        let name = &after[..end];
        let found = vars
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str());
        out.push_str(found.unwrap_or(""));
        rest = &after[end + 1..];
    }
    out.push_str(rest);
    out
}

fn var<'a>(ctx: &'a StepContext<'_>, name: &str) -> Option<&'a str> {
    ctx.vars
        .iter()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.as_str())
        .filter(|v| !v.is_empty())
}

/// Runs the step: dispatch, find the run, watch it.
pub async fn run(step: &GitHubStep, ctx: &StepContext<'_>, outcome: &mut Outcome) {
    let (Some(github), Some(repo)) = (ctx.github, ctx.repo.as_ref()) else {
        outcome.fail(
            "a `github` step needs GitHub: set GITHUB_TOKEN (or the App's id and key) and `repo` on the job's app",
        );
        return;
    };
    let mut watch = Watch {
        github,
        repo,
        ctx,
        lines: Vec::new(),
        written: String::new(),
    };
    if let Err(error) = watch.go(step, outcome).await {
        outcome.fail(error);
    }
}

struct Watch<'a, 'c> {
    github: &'a GitHub,
    repo: &'a Repo,
    ctx: &'a StepContext<'c>,
    /// The run's link, how it was found, and one line per job of the run.
    lines: Vec<String>,
    written: String,
}

/// How a wait ended early.
enum Interrupted {
    Cancelled,
    TimedOut,
}

impl Watch<'_, '_> {
    async fn go(&mut self, step: &GitHubStep, outcome: &mut Outcome) -> Result<(), String> {
        let clock = self.ctx.clock;
        let say = |e: GitHubError| e.say(self.repo, &clock);
        let git_ref = match &step.git_ref {
            Some(r) => r.clone(),
            None => self.default_ref().await?,
        };
        let inputs: serde_json::Map<String, serde_json::Value> = step
            .inputs
            .iter()
            .map(|(k, v)| (k.clone(), substitute(v, &self.ctx.vars).into()))
            .collect();
        outcome.tail.push(&format!(
            "dispatching {} on `{git_ref}` in {}",
            step.workflow, self.repo.full
        ));
        let dispatched_at = now_ms();
        let (github, repo) = (self.github, self.repo);
        let first = self
            .with_rate_limit(|| github.dispatch(repo, &step.workflow, &git_ref, &inputs, true))
            .await;
        let details = match first {
            Ok(details) => details,
            // An older GitHub Enterprise Server does not know the parameter.
            Err(Ok(GitHubError::Unprocessable { message, .. }))
                if message.contains("return_run_details") =>
            {
                outcome
                    .tail
                    .push("this GitHub does not return run ids; dispatching without");
                self.with_rate_limit(|| {
                    github.dispatch(repo, &step.workflow, &git_ref, &inputs, false)
                })
                .await
                .map_err(|e| self.stopped(e, &say))?
            }
            Err(e) => return Err(self.stopped(e, &say)),
        };
        let (run_id, url, by_time) = match details {
            Some(d) => (d.workflow_run_id, d.html_url, false),
            None => {
                let run = self
                    .find_run(&step.workflow, dispatched_at)
                    .await
                    .map_err(|e| self.stopped(e, &say))?;
                (run.id, run.html_url, true)
            }
        };
        let mut head = format!(
            "run: {}",
            url.clone().unwrap_or_else(|| format!("#{run_id}"))
        );
        if by_time {
            head.push_str(
                " (matched by time: this GitHub does not say which run a dispatch started)",
            );
        }
        outcome.tail.push(&head);
        self.lines = vec![head];
        self.show().await;
        match self.follow(run_id, outcome).await {
            Ok(result) => result,
            Err(Ok(error)) => Err(say(error)),
            Err(Err(interrupted)) => {
                // The run stops with the job: a cancelled or timed-out deploy leaves
                // nothing running on GitHub.
                if let Err(e) = self.github.cancel_run(self.repo, run_id).await {
                    outcome
                        .tail
                        .push(&format!("could not cancel run {run_id}: {}", say(e)));
                } else {
                    outcome.tail.push(&format!("cancelled run {run_id}"));
                }
                Err(match interrupted {
                    Interrupted::Cancelled => {
                        outcome.cancelled = true;
                        "cancelled (the workflow run was cancelled too)".into()
                    }
                    Interrupted::TimedOut => {
                        "timed out waiting for the workflow run (it was cancelled)".into()
                    }
                })
            }
        }
    }

    fn stopped(
        &self,
        error: Result<GitHubError, Interrupted>,
        say: &dyn Fn(GitHubError) -> String,
    ) -> String {
        match error {
            Ok(e) => say(e),
            Err(Interrupted::Cancelled) => "cancelled".into(),
            Err(Interrupted::TimedOut) => "timed out".into(),
        }
    }

    /// The job's ref when it is a branch or tag; for a SHA, a branch whose head it is.
    async fn default_ref(&self) -> Result<String, String> {
        let git_ref = var(self.ctx, "DECKHAND_REF").unwrap_or("");
        let commit = var(self.ctx, "DECKHAND_COMMIT").unwrap_or("");
        let is_sha = git_ref.len() >= 7 && git_ref.chars().all(|c| c.is_ascii_hexdigit());
        if !git_ref.is_empty() && !is_sha {
            return Ok(git_ref.to_owned());
        }
        let sha = if commit.is_empty() { git_ref } else { commit };
        let branches = self
            .github
            .branches_at(self.repo, sha)
            .await
            .map_err(|e| e.say(self.repo, &self.ctx.clock))?;
        branches.into_iter().next().ok_or_else(|| {
            format!(
                "a workflow runs from a branch or tag, and no branch of {} has `{}` at its head; set `ref` on the step",
                self.repo.full,
                super::short(sha)
            )
        })
    }

    /// The run a dispatch without run details started: the oldest `workflow_dispatch`
    /// run of the workflow by deckhand's actor created since the dispatch.
    async fn find_run(
        &mut self,
        workflow: &str,
        since: i64,
    ) -> Result<super::client::Run, Result<GitHubError, Interrupted>> {
        let (github, repo) = (self.github, self.repo);
        let actor = github.actor(repo).await.map_err(Ok)?;
        let give_up = Instant::now() + FIND_RUN_FOR;
        loop {
            let runs = self
                .with_rate_limit(|| {
                    github.dispatched_runs(repo, workflow, &actor, since - CLOCK_SLACK_MS)
                })
                .await?;
            let oldest = runs
                .into_iter()
                .filter(|r| {
                    r.created_at
                        .is_none_or(|t| t.timestamp_millis() >= since - CLOCK_SLACK_MS)
                })
                .min_by_key(|r| (r.created_at, r.id));
            if let Some(run) = oldest {
                return Ok(run);
            }
            if Instant::now() >= give_up {
                return Err(Ok(GitHubError::NotFound {
                    what: format!(
                        "run of `{workflow}` by {actor} since the dispatch (looked for {}s)",
                        FIND_RUN_FOR.as_secs()
                    ),
                }));
            }
            self.pause(self.github.poll()).await.map_err(Err)?;
        }
    }

    /// Polls the run until it completes; its jobs become the step's sub-lines.
    async fn follow(
        &mut self,
        run_id: i64,
        outcome: &mut Outcome,
    ) -> Result<Result<(), String>, Result<GitHubError, Interrupted>> {
        let (github, repo) = (self.github, self.repo);
        loop {
            let run = self.with_rate_limit(|| github.run(repo, run_id)).await?;
            let jobs = self
                .with_rate_limit(|| github.run_jobs(repo, run_id))
                .await?;
            self.lines.truncate(1);
            self.lines.extend(jobs.iter().map(job_line));
            self.show().await;
            if run.status.as_deref() == Some("completed") {
                let conclusion = run.conclusion.unwrap_or_else(|| "unknown".into());
                outcome
                    .tail
                    .push(&format!("run {run_id} completed: {conclusion}"));
                if conclusion == "success" {
                    return Ok(Ok(()));
                }
                let failed: Vec<String> = jobs
                    .iter()
                    .filter(|j| {
                        j.conclusion
                            .as_deref()
                            .is_some_and(|c| !matches!(c, "success" | "skipped" | "neutral"))
                    })
                    .map(|j| match &j.html_url {
                        Some(url) => format!("`{}` ({url})", j.name),
                        None => format!("`{}`", j.name),
                    })
                    .collect();
                let mut error = format!("workflow run {conclusion}");
                if !failed.is_empty() {
                    error.push_str(&format!(": {}", failed.join(", ")));
                }
                return Ok(Err(error));
            }
            self.pause(self.github.poll()).await.map_err(Err)?;
        }
    }

    /// Calls GitHub; while it says its rate limit is reached, the sub-lines say until
    /// when, and the call is made again then (within the step's deadline).
    async fn with_rate_limit<T, F, Fut>(
        &mut self,
        call: F,
    ) -> Result<T, Result<GitHubError, Interrupted>>
    where
        F: Fn() -> Fut,
        Fut: std::future::Future<Output = Result<T, GitHubError>>,
    {
        let mut transient = 0;
        loop {
            match call().await {
                Ok(value) => {
                    if self
                        .lines
                        .last()
                        .is_some_and(|l| l.starts_with("⏳ GitHub"))
                    {
                        self.lines.pop();
                        self.show().await;
                    }
                    return Ok(value);
                }
                Err(GitHubError::RateLimited { until }) => {
                    let line = format!(
                        "⏳ GitHub's rate limit is reached; waiting until {}",
                        self.ctx.clock.time_of_day(until)
                    );
                    if self
                        .lines
                        .last()
                        .is_some_and(|l| l.starts_with("⏳ GitHub"))
                    {
                        self.lines.pop();
                    }
                    self.lines.push(line);
                    self.show().await;
                    let wait = Duration::from_millis((until - now_ms()).max(1_000) as u64);
                    self.pause(wait).await.map_err(Err)?;
                }
                // A blip on GitHub's side: a few more tries before the step fails.
                Err(GitHubError::Unavailable { .. }) if transient < 3 => {
                    transient += 1;
                    self.pause(self.github.poll()).await.map_err(Err)?;
                }
                Err(other) => return Err(Ok(other)),
            }
        }
    }

    async fn pause(&self, wait: Duration) -> Result<(), Interrupted> {
        tokio::select! {
            _ = self.ctx.cancel.cancelled() => Err(Interrupted::Cancelled),
            _ = tokio::time::sleep_until(self.ctx.deadline) => Err(Interrupted::TimedOut),
            _ = tokio::time::sleep(wait) => Ok(()),
        }
    }

    /// Writes the sub-lines when they changed, and asks for the card to be redrawn.
    async fn show(&mut self) {
        let text = self.ctx.redactor.redact(&self.lines.join("\n"));
        if text == self.written {
            return;
        }
        let stored = crate::store::steps::set_detail(
            &self.ctx.store.pool,
            self.ctx.job_id,
            self.ctx.step_idx,
            &text,
        )
        .await;
        if let Err(e) = stored {
            tracing::warn!(error = %e, "cannot store the workflow run's progress");
            return;
        }
        self.written = text;
        self.ctx.progress.notify_one();
    }
}

/// `✅ build (1m02s)`, `🔄 deploy`, `❌ test — URL`.
fn job_line(job: &super::client::RunJob) -> String {
    let icon = match (job.status.as_str(), job.conclusion.as_deref()) {
        ("completed", Some("success")) => "✅",
        ("completed", Some("skipped" | "neutral")) => "⏭️",
        ("completed", Some("cancelled")) => "🚫",
        ("completed", _) => "❌",
        ("in_progress", _) => "🔄",
        _ => "⏳",
    };
    let mut line = format!("{icon} {}", job.name);
    if let (Some(start), Some(end)) = (job.started_at, job.completed_at) {
        line.push_str(&format!(
            " ({})",
            crate::render::duration((end - start).num_milliseconds())
        ));
    }
    if icon == "❌"
        && let Some(url) = &job.html_url
    {
        line.push_str(&format!(" — {url}"));
    }
    line
}

#[cfg(test)]
mod tests {
    use super::{check_input, substitute};

    #[test]
    fn inputs_take_only_job_variables() {
        assert!(check_input("prod").is_ok());
        assert!(check_input("v-${DECKHAND_REF}-${DECKHAND_COMMIT}").is_ok());
        assert!(
            check_input("${HOME}")
                .unwrap_err()
                .contains("not a job variable")
        );
        assert!(
            check_input("${DECKHAND_REF")
                .unwrap_err()
                .contains("without closing")
        );
        let vars = vec![("DECKHAND_REF".to_owned(), "v1.4.2".to_owned())];
        assert_eq!(substitute("v=${DECKHAND_REF}!", &vars), "v=v1.4.2!");
        // A value that looks like a variable is not expanded again.
        let sneaky = vec![("DECKHAND_REF".to_owned(), "${DECKHAND_ENV}".to_owned())];
        assert_eq!(substitute("${DECKHAND_REF}", &sneaky), "${DECKHAND_ENV}");
    }
}
