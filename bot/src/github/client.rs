//! The REST client: authenticated requests with bounded bodies, GitHub's refusals as
//! typed errors (missing permission, rate limit, not found), and the typed endpoints.

use std::time::Duration;

use reqwest::{Method, StatusCode, header::HeaderMap};
use serde::Deserialize;
use serde::de::DeserializeOwned;

use super::GitHubSettings;
use super::auth::{self, Credentials, Installation, Tokens};
use crate::store::now_ms;

/// The most of a GitHub answer deckhand reads: a page of 100 check runs is far below.
const MAX_BODY: usize = 4 * 1024 * 1024;

/// `owner/name`, as `apps.*.repo` writes it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Repo {
    pub full: String,
    /// The config key that named it, for errors people can act on.
    pub key: String,
}

impl Repo {
    pub fn new(full: &str, key: impl Into<String>) -> Repo {
        Repo {
            full: full.to_owned(),
            key: key.into(),
        }
    }
}

/// What GitHub refused, in words a person can act on.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum GitHubError {
    #[error("GitHub has no {what}")]
    NotFound { what: String },
    #[error("GitHub refused: {message}")]
    Forbidden {
        /// From `X-Accepted-GitHub-Permissions`, e.g. `actions=write`.
        permission: Option<String>,
        message: String,
    },
    #[error("GitHub's rate limit is reached")]
    RateLimited {
        /// When it lifts (Unix ms).
        until: i64,
    },
    #[error("GitHub did not accept deckhand's credentials")]
    BadCredentials,
    #[error("GitHub refused the request: {message}")]
    Unprocessable { status: u16, message: String },
    #[error("GitHub could not be reached: {why}")]
    Unavailable { why: String },
}

impl GitHubError {
    /// The sentence a card or a refusal shows, with what to change.
    pub fn say(&self, repo: &Repo, clock: &crate::clock::Clock) -> String {
        match self {
            GitHubError::NotFound { what } if what.starts_with("repository") => format!(
                "GitHub has no repository `{}` that deckhand can see (config key `{}`); check the name, or give the token access to it",
                repo.full, repo.key
            ),
            GitHubError::NotFound { what } => format!("GitHub has no {what} in {}", repo.full),
            GitHubError::Forbidden {
                permission: Some(permission),
                ..
            } => format!(
                "GitHub refused: the token lacks the `{permission}` permission on {}; grant it to the token or App",
                repo.full
            ),
            GitHubError::Forbidden {
                permission: None,
                message,
            } => format!("GitHub refused on {}: {message}", repo.full),
            GitHubError::RateLimited { until } => format!(
                "GitHub's rate limit is reached; it lifts at {}",
                clock.time_of_day(*until)
            ),
            GitHubError::BadCredentials => "GitHub did not accept deckhand's credentials (GITHUB_TOKEN or the App's key); renew them".into(),
            GitHubError::Unprocessable { message, .. } => {
                format!("GitHub refused the request on {}: {message}", repo.full)
            }
            GitHubError::Unavailable { why } => format!("GitHub could not be reached: {why}"),
        }
    }
}

/// The client. Cheap to share behind an `Arc`.
pub struct GitHub {
    http: reqwest::Client,
    api: String,
    credentials: Credentials,
    tokens: Tokens,
    /// Who deckhand acts as (`octocat`, or `my-app[bot]`), for finding its runs.
    actor: tokio::sync::OnceCell<String>,
    pub(crate) settings: GitHubSettings,
}

impl std::fmt::Debug for GitHub {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "GitHub({})", self.api)
    }
}

/// One answer: its status, headers and body (bounded).
struct Answer {
    status: StatusCode,
    headers: HeaderMap,
    body: Vec<u8>,
}

#[derive(Deserialize)]
struct ErrorBody {
    #[serde(default)]
    message: String,
}

impl GitHub {
    pub fn new(settings: GitHubSettings) -> GitHub {
        let http = reqwest::Client::builder()
            .user_agent(concat!("deckhand/", env!("CARGO_PKG_VERSION")))
            .timeout(Duration::from_secs(30))
            .connect_timeout(Duration::from_secs(10))
            .build()
            .unwrap_or_default();
        GitHub {
            http,
            api: settings.api_url.clone(),
            credentials: settings.credentials.clone(),
            tokens: Tokens::default(),
            actor: tokio::sync::OnceCell::new(),
            settings,
        }
    }

    pub fn poll(&self) -> Duration {
        self.settings.poll
    }

    /// The header a request for `repo` carries: the token, or the App's installation
    /// token for that repo (fetched, then kept until shortly before it expires).
    async fn authorization(&self, repo: &str) -> Result<String, GitHubError> {
        let (app_id, key) = match &self.credentials {
            Credentials::Token(token) => return Ok(auth::bearer(token)),
            Credentials::App { app_id, key } => (app_id, key),
        };
        let now = now_ms() / 1000;
        if let Some(token) = self.tokens.fresh(repo, now) {
            return Ok(auth::bearer(&token));
        }
        let jwt =
            auth::app_jwt(app_id, key, now).map_err(|why| GitHubError::Unavailable { why })?;
        let jwt = format!("Bearer {jwt}");
        #[derive(Deserialize)]
        struct InstallationRef {
            id: i64,
        }
        #[derive(Deserialize)]
        struct AccessToken {
            token: String,
            expires_at: chrono::DateTime<chrono::Utc>,
        }
        let answer = self
            .send_as(
                &jwt,
                Method::GET,
                &format!("/repos/{repo}/installation"),
                None,
            )
            .await?;
        let installation: InstallationRef =
            self.parse(answer, || format!("App installation on repository {repo}"))?;
        let answer = self
            .send_as(
                &jwt,
                Method::POST,
                &format!("/app/installations/{}/access_tokens", installation.id),
                None,
            )
            .await?;
        let token: AccessToken = self.parse(answer, || "App installation".into())?;
        let secret: secrecy::SecretString = token.token.into();
        self.tokens.keep(
            repo,
            Installation {
                token: secret.clone(),
                expires_at: token.expires_at.timestamp(),
            },
        );
        Ok(auth::bearer(&secret))
    }

    async fn send_as(
        &self,
        authorization: &str,
        method: Method,
        path: &str,
        body: Option<&serde_json::Value>,
    ) -> Result<Answer, GitHubError> {
        let mut request = self
            .http
            .request(method, format!("{}{path}", self.api))
            .header("Accept", "application/vnd.github+json")
            .header("X-GitHub-Api-Version", "2022-11-28")
            .header("Authorization", authorization);
        if let Some(body) = body {
            request = request.json(body);
        }
        let mut response = request.send().await.map_err(|e| GitHubError::Unavailable {
            why: without_url(&e),
        })?;
        let status = response.status();
        let headers = response.headers().clone();
        let mut body = Vec::new();
        while let Some(chunk) = response
            .chunk()
            .await
            .map_err(|e| GitHubError::Unavailable {
                why: without_url(&e),
            })?
        {
            if body.len() + chunk.len() > MAX_BODY {
                return Err(GitHubError::Unavailable {
                    why: format!("its answer to {path} was larger than {MAX_BODY} bytes"),
                });
            }
            body.extend_from_slice(&chunk);
        }
        Ok(Answer {
            status,
            headers,
            body,
        })
    }

    /// A request for `repo`; the answer, or GitHub's refusal as a typed error.
    async fn send(
        &self,
        repo: &str,
        method: Method,
        path: &str,
        body: Option<&serde_json::Value>,
    ) -> Result<Answer, GitHubError> {
        let authorization = self.authorization(repo).await?;
        let answer = self.send_as(&authorization, method, path, body).await?;
        if answer.status == StatusCode::UNAUTHORIZED {
            // An installation token revoked early: the next call fetches a new one.
            self.tokens.forget(repo);
        }
        Ok(answer)
    }

    /// The body as `T` when the status is a success; otherwise the refusal. `what`
    /// names the thing a 404 means is missing.
    fn parse<T: DeserializeOwned>(
        &self,
        answer: Answer,
        what: impl FnOnce() -> String,
    ) -> Result<T, GitHubError> {
        refusal(&answer, what)?;
        serde_json::from_slice(&answer.body).map_err(|e| GitHubError::Unavailable {
            why: format!("GitHub's answer was not what its API documents ({e})"),
        })
    }

    async fn get<T: DeserializeOwned>(
        &self,
        repo: &Repo,
        path: &str,
        what: impl FnOnce() -> String,
    ) -> Result<T, GitHubError> {
        let answer = self.send(&repo.full, Method::GET, path, None).await?;
        self.parse(answer, what)
    }

    /// `GET /repos/{repo}/commits/{ref}`: the commit a branch, tag or SHA names.
    pub async fn commit(&self, repo: &Repo, git_ref: &str) -> Result<Commit, GitHubError> {
        let path = format!("/repos/{}/commits/{}", repo.full, segment(git_ref));
        let answer = self.send(&repo.full, Method::GET, &path, None).await?;
        // GitHub answers 422 "No commit found for SHA" for a ref it does not know.
        if answer.status == StatusCode::UNPROCESSABLE_ENTITY {
            return Err(GitHubError::NotFound {
                what: format!("branch, tag or commit `{git_ref}`"),
            });
        }
        self.parse(answer, || format!("branch, tag or commit `{git_ref}`"))
    }

    /// Whether the repository itself exists for deckhand (to tell "no such ref" from
    /// "no such repo").
    pub async fn repository(&self, repo: &Repo) -> Result<(), GitHubError> {
        let path = format!("/repos/{}", repo.full);
        let _: serde_json::Value = self
            .get(repo, &path, || format!("repository {}", repo.full))
            .await?;
        Ok(())
    }

    /// `GET /repos/{repo}/compare/{base}...{head}`.
    pub async fn compare(
        &self,
        repo: &Repo,
        base: &str,
        head: &str,
    ) -> Result<Comparison, GitHubError> {
        let path = format!(
            "/repos/{}/compare/{}...{}",
            repo.full,
            segment(base),
            segment(head)
        );
        self.get(repo, &path, || format!("comparison {base}...{head}"))
            .await
    }

    /// Branch and tag names (the first page of each), for "did you mean".
    pub async fn ref_names(&self, repo: &Repo) -> Result<Vec<String>, GitHubError> {
        #[derive(Deserialize)]
        struct Named {
            name: String,
        }
        let mut names = Vec::new();
        for kind in ["branches", "tags"] {
            let path = format!("/repos/{}/{kind}?per_page=100", repo.full);
            let page: Vec<Named> = self
                .get(repo, &path, || format!("repository {}", repo.full))
                .await?;
            names.extend(page.into_iter().map(|n| n.name));
        }
        Ok(names)
    }

    /// Branches whose head is `sha`, for a workflow dispatched on a job that named a SHA.
    pub async fn branches_at(&self, repo: &Repo, sha: &str) -> Result<Vec<String>, GitHubError> {
        #[derive(Deserialize)]
        struct Named {
            name: String,
        }
        let path = format!(
            "/repos/{}/commits/{}/branches-where-head",
            repo.full,
            segment(sha)
        );
        let page: Vec<Named> = self.get(repo, &path, || format!("commit {sha}")).await?;
        Ok(page.into_iter().map(|n| n.name).collect())
    }

    /// `GET /repos/{repo}/commits/{sha}/check-runs` (the first 100).
    pub async fn check_runs(&self, repo: &Repo, sha: &str) -> Result<Vec<CheckRun>, GitHubError> {
        #[derive(Deserialize)]
        struct Page {
            check_runs: Vec<CheckRun>,
        }
        let path = format!(
            "/repos/{}/commits/{}/check-runs?per_page=100",
            repo.full,
            segment(sha)
        );
        let page: Page = self.get(repo, &path, || format!("commit {sha}")).await?;
        Ok(page.check_runs)
    }

    /// `GET /repos/{repo}/commits/{sha}/status`: the combined commit status.
    pub async fn combined_status(
        &self,
        repo: &Repo,
        sha: &str,
    ) -> Result<CombinedStatus, GitHubError> {
        let path = format!("/repos/{}/commits/{}/status", repo.full, segment(sha));
        self.get(repo, &path, || format!("commit {sha}")).await
    }

    /// `POST .../actions/workflows/{workflow}/dispatches`. With `details`, asks for the
    /// run id (`return_run_details`); `Ok(None)` when GitHub ran it without saying which.
    pub async fn dispatch(
        &self,
        repo: &Repo,
        workflow: &str,
        git_ref: &str,
        inputs: &serde_json::Map<String, serde_json::Value>,
        details: bool,
    ) -> Result<Option<RunDetails>, GitHubError> {
        let path = format!(
            "/repos/{}/actions/workflows/{}/dispatches",
            repo.full,
            segment(workflow)
        );
        let mut body = serde_json::json!({ "ref": git_ref, "inputs": inputs });
        if details {
            body["return_run_details"] = serde_json::Value::Bool(true);
        }
        let answer = self
            .send(&repo.full, Method::POST, &path, Some(&body))
            .await?;
        if answer.status == StatusCode::NO_CONTENT {
            return Ok(None);
        }
        self.parse(answer, || format!("workflow `{workflow}`"))
            .map(Some)
    }

    /// The workflow's `workflow_dispatch` runs by `actor` created at or after `since`
    /// (Unix ms), newest first.
    pub async fn dispatched_runs(
        &self,
        repo: &Repo,
        workflow: &str,
        actor: &str,
        since: i64,
    ) -> Result<Vec<Run>, GitHubError> {
        #[derive(Deserialize)]
        struct Page {
            workflow_runs: Vec<Run>,
        }
        let since = chrono::DateTime::from_timestamp_millis(since)
            .unwrap_or_default()
            .format("%Y-%m-%dT%H:%M:%SZ");
        let path = format!(
            "/repos/{}/actions/workflows/{}/runs?event=workflow_dispatch&actor={}&created=%3E%3D{since}&per_page=20",
            repo.full,
            segment(workflow),
            segment(actor)
        );
        let page: Page = self
            .get(repo, &path, || format!("workflow `{workflow}`"))
            .await?;
        Ok(page.workflow_runs)
    }

    pub async fn run(&self, repo: &Repo, id: i64) -> Result<Run, GitHubError> {
        let path = format!("/repos/{}/actions/runs/{id}", repo.full);
        self.get(repo, &path, || format!("workflow run {id}")).await
    }

    pub async fn run_jobs(&self, repo: &Repo, id: i64) -> Result<Vec<RunJob>, GitHubError> {
        #[derive(Deserialize)]
        struct Page {
            jobs: Vec<RunJob>,
        }
        let path = format!("/repos/{}/actions/runs/{id}/jobs?per_page=100", repo.full);
        let page: Page = self
            .get(repo, &path, || format!("workflow run {id}"))
            .await?;
        Ok(page.jobs)
    }

    /// `POST .../actions/runs/{id}/cancel` (202; 409 when it already ended).
    pub async fn cancel_run(&self, repo: &Repo, id: i64) -> Result<(), GitHubError> {
        let path = format!("/repos/{}/actions/runs/{id}/cancel", repo.full);
        let answer = self.send(&repo.full, Method::POST, &path, None).await?;
        if answer.status == StatusCode::CONFLICT {
            return Ok(());
        }
        refusal(&answer, || format!("workflow run {id}"))
    }

    /// `POST /repos/{repo}/deployments`: its id.
    pub async fn create_deployment(
        &self,
        repo: &Repo,
        body: &serde_json::Value,
    ) -> Result<i64, GitHubError> {
        #[derive(Deserialize)]
        struct Created {
            id: i64,
        }
        let path = format!("/repos/{}/deployments", repo.full);
        let answer = self
            .send(&repo.full, Method::POST, &path, Some(body))
            .await?;
        let created: Created = self.parse(answer, || format!("repository {}", repo.full))?;
        Ok(created.id)
    }

    /// `POST /repos/{repo}/deployments/{id}/statuses`.
    pub async fn deployment_status(
        &self,
        repo: &Repo,
        deployment: i64,
        body: &serde_json::Value,
    ) -> Result<(), GitHubError> {
        let path = format!("/repos/{}/deployments/{deployment}/statuses", repo.full);
        let answer = self
            .send(&repo.full, Method::POST, &path, Some(body))
            .await?;
        refusal(&answer, || format!("deployment {deployment}"))
    }

    /// Who deckhand's runs are by: the token's user, or the App's bot.
    pub async fn actor(&self, repo: &Repo) -> Result<String, GitHubError> {
        self.actor
            .get_or_try_init(|| async {
                match &self.credentials {
                    Credentials::Token(_) => {
                        #[derive(Deserialize)]
                        struct User {
                            login: String,
                        }
                        let user: User = self.get(repo, "/user", || "user".into()).await?;
                        Ok(user.login)
                    }
                    Credentials::App { app_id, key } => {
                        #[derive(Deserialize)]
                        struct App {
                            slug: String,
                        }
                        let jwt = auth::app_jwt(app_id, key, now_ms() / 1000)
                            .map_err(|why| GitHubError::Unavailable { why })?;
                        let answer = self
                            .send_as(&format!("Bearer {jwt}"), Method::GET, "/app", None)
                            .await?;
                        let app: App = self.parse(answer, || "App".into())?;
                        Ok(format!("{}[bot]", app.slug))
                    }
                }
            })
            .await
            .cloned()
    }
}

/// GitHub's refusal in `answer`, if it is one.
fn refusal(answer: &Answer, what: impl FnOnce() -> String) -> Result<(), GitHubError> {
    let status = answer.status;
    if status.is_success() {
        return Ok(());
    }
    let header = |name: &str| {
        answer
            .headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .map(str::trim)
    };
    let message = serde_json::from_slice::<ErrorBody>(&answer.body)
        .map(|b| b.message)
        .unwrap_or_default();
    let message: String = message.chars().take(300).collect();
    // The primary rate limit: 403 or 429 with nothing remaining, lifting at the reset.
    if matches!(status.as_u16(), 403 | 429) {
        if let Some(secs) = header("retry-after").and_then(|v| v.parse::<i64>().ok()) {
            return Err(GitHubError::RateLimited {
                until: now_ms() + secs * 1000,
            });
        }
        if header("x-ratelimit-remaining") == Some("0")
            && let Some(reset) = header("x-ratelimit-reset").and_then(|v| v.parse::<i64>().ok())
        {
            return Err(GitHubError::RateLimited {
                until: reset * 1000,
            });
        }
    }
    Err(match status.as_u16() {
        401 => GitHubError::BadCredentials,
        403 => GitHubError::Forbidden {
            permission: header("x-accepted-github-permissions")
                .filter(|p| !p.is_empty())
                .map(str::to_owned),
            message,
        },
        404 => GitHubError::NotFound { what: what() },
        400 | 409 | 422 => GitHubError::Unprocessable {
            status: status.as_u16(),
            message,
        },
        _ => GitHubError::Unavailable {
            why: format!("it answered {status}"),
        },
    })
}

/// A path segment: refs and workflow names keep their `/` and `.`, nothing else passes.
fn segment(text: &str) -> String {
    const SEGMENT: &percent_encoding::AsciiSet = &percent_encoding::NON_ALPHANUMERIC
        .remove(b'/')
        .remove(b'.')
        .remove(b'-')
        .remove(b'_');
    percent_encoding::utf8_percent_encode(text, SEGMENT).to_string()
}

/// A reqwest error without its URL (which may carry a token in some proxies' setups).
fn without_url(error: &reqwest::Error) -> String {
    let text = match error.url() {
        Some(url) => error.to_string().replace(url.as_str(), "(GitHub)"),
        None => error.to_string(),
    };
    if error.is_timeout() {
        format!("{text} (timed out)")
    } else {
        text
    }
}

#[derive(Debug, Clone, Deserialize)]
pub struct Commit {
    pub sha: String,
    #[serde(default)]
    pub html_url: Option<String>,
    pub commit: CommitDetail,
}

#[derive(Debug, Clone, Deserialize)]
pub struct CommitDetail {
    #[serde(default)]
    pub message: String,
    pub author: Option<GitPerson>,
    pub committer: Option<GitPerson>,
}

#[derive(Debug, Clone, Deserialize)]
pub struct GitPerson {
    #[serde(default)]
    pub name: String,
    pub date: Option<chrono::DateTime<chrono::Utc>>,
}

#[derive(Debug, Clone, Deserialize)]
pub struct Comparison {
    /// `ahead`, `behind`, `identical` or `diverged`.
    pub status: String,
    pub ahead_by: i64,
    pub behind_by: i64,
    #[serde(default)]
    pub html_url: Option<String>,
    #[serde(default)]
    pub commits: Vec<Commit>,
}

#[derive(Debug, Clone, Deserialize)]
pub struct CheckRun {
    pub id: i64,
    pub name: String,
    /// `queued`, `in_progress`, `completed` (and `waiting`, `requested`, `pending`).
    pub status: String,
    pub conclusion: Option<String>,
    pub html_url: Option<String>,
}

#[derive(Debug, Clone, Deserialize)]
pub struct CombinedStatus {
    /// `success`, `pending`, `failure` or `error`.
    pub state: String,
    #[serde(default)]
    pub statuses: Vec<CommitStatus>,
}

#[derive(Debug, Clone, Deserialize)]
pub struct CommitStatus {
    pub context: String,
    pub state: String,
    pub target_url: Option<String>,
}

/// What a dispatch with `return_run_details` answers.
#[derive(Debug, Clone, Deserialize)]
pub struct RunDetails {
    pub workflow_run_id: i64,
    pub html_url: Option<String>,
}

#[derive(Debug, Clone, Deserialize)]
pub struct Run {
    pub id: i64,
    pub html_url: Option<String>,
    pub status: Option<String>,
    pub conclusion: Option<String>,
    pub created_at: Option<chrono::DateTime<chrono::Utc>>,
}

#[derive(Debug, Clone, Deserialize)]
pub struct RunJob {
    pub name: String,
    pub status: String,
    pub conclusion: Option<String>,
    pub html_url: Option<String>,
    pub started_at: Option<chrono::DateTime<chrono::Utc>>,
    pub completed_at: Option<chrono::DateTime<chrono::Utc>>,
}
