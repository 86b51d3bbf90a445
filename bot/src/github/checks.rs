//! The CI-green gate: a commit's check runs and combined status, judged against an
//! env's `require_checks`.

use super::{GitHub, GitHubError, Repo};
use crate::config::RequireChecks;

/// What the gate says of one commit.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    Green,
    /// Checks not finished (or not reported yet), by name.
    Pending(Vec<String>),
    /// Checks that failed: name and the page that shows why.
    Failed(Vec<(String, Option<String>)>),
}

impl Verdict {
    /// `build, test`, for "waits for".
    pub fn pending_names(names: &[String]) -> String {
        names
            .iter()
            .map(|n| format!("`{n}`"))
            .collect::<Vec<_>>()
            .join(", ")
    }

    /// `` `test` failed (URL) ``, one per check.
    pub fn failed_text(failed: &[(String, Option<String>)]) -> String {
        failed
            .iter()
            .map(|(name, url)| match url {
                Some(url) => format!("`{name}` failed ({url})"),
                None => format!("`{name}` failed"),
            })
            .collect::<Vec<_>>()
            .join(", ")
    }
}

/// A check's state: one of these, whichever kind reported it.
#[derive(Debug, Clone, PartialEq, Eq)]
enum State {
    Passed,
    Pending,
    Failed(Option<String>),
}

/// A check run's conclusion as the gate reads it: neutral and skipped pass.
fn run_state(status: &str, conclusion: Option<&str>, url: Option<&String>) -> State {
    if status != "completed" {
        return State::Pending;
    }
    match conclusion {
        Some("success" | "neutral" | "skipped") => State::Passed,
        _ => State::Failed(url.cloned()),
    }
}

fn status_state(state: &str, url: Option<&String>) -> State {
    match state {
        "success" => State::Passed,
        "pending" => State::Pending,
        _ => State::Failed(url.cloned()),
    }
}

/// Judges `sha` against `required`.
pub async fn verdict(
    github: &GitHub,
    repo: &Repo,
    sha: &str,
    required: &RequireChecks,
) -> Result<Verdict, GitHubError> {
    let runs = github.check_runs(repo, sha).await?;
    let combined = github.combined_status(repo, sha).await?;
    // A re-run reports again under the same name: the newest (highest id) counts.
    let mut latest: std::collections::BTreeMap<&str, &super::client::CheckRun> =
        std::collections::BTreeMap::new();
    for run in &runs {
        match latest.get(run.name.as_str()) {
            Some(seen) if seen.id > run.id => {}
            _ => {
                latest.insert(&run.name, run);
            }
        }
    }
    let mut checks: Vec<(String, State)> = latest
        .values()
        .map(|r| {
            (
                r.name.clone(),
                run_state(&r.status, r.conclusion.as_deref(), r.html_url.as_ref()),
            )
        })
        .collect();
    checks.extend(combined.statuses.iter().map(|s| {
        (
            s.context.clone(),
            status_state(&s.state, s.target_url.as_ref()),
        )
    }));
    let judged: Vec<(String, State)> = match required {
        RequireChecks::All(_) => {
            if checks.is_empty() {
                return Ok(Verdict::Pending(vec!["(no checks reported yet)".into()]));
            }
            checks
        }
        RequireChecks::Names(names) => names
            .iter()
            .map(|name| {
                // A name may be both a check run and a status context: the worst counts.
                let states: Vec<&State> = checks
                    .iter()
                    .filter(|(n, _)| n == name)
                    .map(|(_, s)| s)
                    .collect();
                let state = states
                    .iter()
                    .find(|s| matches!(s, State::Failed(_)))
                    .or_else(|| states.iter().find(|s| **s == &State::Pending))
                    .or(states.first())
                    .map(|s| (*s).clone())
                    .unwrap_or(State::Pending);
                (name.clone(), state)
            })
            .collect(),
    };
    let failed: Vec<(String, Option<String>)> = judged
        .iter()
        .filter_map(|(n, s)| match s {
            State::Failed(url) => Some((n.clone(), url.clone())),
            _ => None,
        })
        .collect();
    if !failed.is_empty() {
        return Ok(Verdict::Failed(failed));
    }
    let pending: Vec<String> = judged
        .iter()
        .filter(|(_, s)| *s == State::Pending)
        .map(|(n, _)| n.clone())
        .collect();
    if !pending.is_empty() {
        return Ok(Verdict::Pending(pending));
    }
    Ok(Verdict::Green)
}
