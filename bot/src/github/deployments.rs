//! GitHub deployments: one per deploy and rollback job, its statuses following the job
//! (`queued`, `in_progress`, then `success`, `failure` or `error`; `inactive` for the
//! deploy a rollback replaces).

use super::{GitHub, GitHubError, Repo};
use crate::store::jobs::{Job, JobState};

/// Where a deployment's statuses point.
#[derive(Debug, Clone, Default)]
pub struct Links {
    /// The job's page (`bot.public_url` + `/jobs/N`).
    pub log_url: Option<String>,
    /// The env's address (`environment_url`).
    pub environment_url: Option<String>,
}

/// Creates the job's deployment: its commit, the env, no merging, no context checks
/// (deckhand's own gate has run), and the job's number in the payload.
pub async fn create(github: &GitHub, repo: &Repo, job: &Job) -> Result<i64, GitHubError> {
    let sha = job
        .github
        .commit_sha
        .clone()
        .or_else(|| job.git_ref.clone())
        .unwrap_or_default();
    let body = serde_json::json!({
        "ref": sha,
        "environment": job.env,
        "auto_merge": false,
        "required_contexts": [],
        "transient_environment": false,
        "production_environment": matches!(job.env.as_str(), "prod" | "production"),
        "description": format!("deckhand {} #{} by {}", job.kind.as_str(), job.id, job.requester_name),
        "payload": { "deckhand_job": job.id },
    });
    github.create_deployment(repo, &body).await
}

/// The deployment status a job in `state` reports.
pub fn status_for(state: JobState) -> &'static str {
    match state {
        JobState::AwaitingApproval | JobState::Queued => "queued",
        JobState::Running => "in_progress",
        JobState::Succeeded => "success",
        JobState::Failed => "failure",
        _ => "error",
    }
}

/// Posts `state` on `deployment`, with the job's links.
pub async fn post(
    github: &GitHub,
    repo: &Repo,
    deployment: i64,
    state: &str,
    description: &str,
    links: &Links,
) -> Result<(), GitHubError> {
    let mut body = serde_json::json!({
        "state": state,
        "description": description.chars().take(140).collect::<String>(),
        "auto_inactive": false,
    });
    if let Some(url) = &links.log_url {
        body["log_url"] = url.clone().into();
    }
    if let Some(url) = &links.environment_url {
        body["environment_url"] = url.clone().into();
    }
    github.deployment_status(repo, deployment, &body).await
}
