//! A fake GitHub REST API on 127.0.0.1, speaking the documented shapes: commits (422
//! for an unknown ref), compare, branches and tags, check runs and the combined status,
//! workflow dispatch with and without `return_run_details` (an older Enterprise Server
//! refuses the parameter with 422), runs and their jobs, cancel, deployments and their
//! statuses, App installation tokens (the App's JWT checked against its public key),
//! the primary rate limit (`403` with `X-RateLimit-Remaining: 0`) and missing
//! permissions (`403` with `X-Accepted-GitHub-Permissions`).

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::sync::{Arc, Mutex};

use axum::Router;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, Method, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};

/// The token a test's deckhand uses.
pub const TOKEN: &str = "ghp_testtoken0123456789abcdefghijklmnopqrst";
/// Who that token belongs to.
pub const LOGIN: &str = "deckhand-bot";
/// The fake App's id, installation and slug.
pub const APP_ID: &str = "424242";
const INSTALLATION: i64 = 777;
const APP_SLUG: &str = "deckhand-app";

/// The private key of the fake App (PKCS#1 PEM, as GitHub hands them out).
pub fn app_private_key() -> String {
    std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/fixtures/github-app.pem"
    ))
    .expect("the App's test key")
}

fn app_public_key() -> String {
    std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/fixtures/github-app.pub.pem"
    ))
    .expect("the App's test public key")
}

/// One request the fake received.
#[derive(Debug, Clone)]
pub struct Call {
    pub method: String,
    /// Path and query.
    pub path: String,
    pub body: Value,
}

/// A commit of the fake's linear history.
#[derive(Debug, Clone)]
struct FakeCommit {
    sha: String,
    message: String,
    author: String,
}

/// A workflow run and how it goes.
#[derive(Debug, Clone)]
pub struct FakeRun {
    pub id: i64,
    pub workflow: String,
    pub git_ref: String,
    pub inputs: Value,
    pub actor: String,
    created_at: chrono::DateTime<chrono::Utc>,
    polls: u32,
    /// `success`, `failure`, or `hang` (never ends unless cancelled).
    outcome: String,
    pub cancelled: bool,
}

/// A deployment and the statuses posted on it, in order.
#[derive(Debug, Clone)]
pub struct FakeDeployment {
    pub id: i64,
    pub git_ref: String,
    pub environment: String,
    pub payload: Value,
    pub statuses: Vec<Value>,
}

#[derive(Default)]
struct Repo {
    commits: Vec<FakeCommit>,
    branches: BTreeMap<String, String>,
    tags: BTreeMap<String, String>,
    check_runs: HashMap<String, Vec<Value>>,
    statuses: HashMap<String, Vec<Value>>,
    /// Workflow file -> its declared inputs.
    workflows: BTreeMap<String, Vec<String>>,
    /// Outcomes of the next runs of each workflow (default `success`).
    outcomes: HashMap<String, VecDeque<String>>,
}

#[derive(Default)]
struct World {
    repos: BTreeMap<String, Repo>,
    runs: Vec<FakeRun>,
    deployments: Vec<FakeDeployment>,
    calls: Vec<Call>,
    /// An older Enterprise Server: refuses `return_run_details`.
    enterprise: bool,
    /// The next N API calls meet the rate limit, which lifts `reset_secs` after.
    rate_limited: u32,
    reset_secs: i64,
    /// Paths containing the key answer 403 naming the permission.
    forbidden: Vec<(String, String)>,
    installation_tokens: Vec<String>,
    next_id: i64,
}

/// The fake. Cheap to clone; every clone sees the same world.
#[derive(Clone)]
pub struct FakeGitHub {
    pub url: String,
    world: Arc<Mutex<World>>,
}

fn sha_of(seed: &str) -> String {
    use sha2::Digest;
    // Forty hex digits, like a Git SHA-1.
    hex::encode(sha2::Sha256::digest(seed.as_bytes()))[..40].to_owned()
}

impl FakeGitHub {
    pub async fn start() -> FakeGitHub {
        let world = Arc::new(Mutex::new(World {
            next_id: 1000,
            ..World::default()
        }));
        let app = Router::new().fallback(handle).with_state(world.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
        FakeGitHub { url, world }
    }

    fn with<T>(&self, f: impl FnOnce(&mut World) -> T) -> T {
        f(&mut self.world.lock().unwrap())
    }

    /// A repo with `commits` commits on `main` (`c1` oldest); returns their SHAs.
    pub fn repo(&self, name: &str, commits: usize) -> Vec<String> {
        self.with(|w| {
            let repo = w.repos.entry(name.to_owned()).or_default();
            for i in 1..=commits {
                let sha = sha_of(&format!("{name}-c{i}"));
                repo.commits.push(FakeCommit {
                    sha,
                    message: format!("Change number {i}\n\nwith a body"),
                    author: ["Alice", "Bob", "Carol"][i % 3].to_owned(),
                });
            }
            let head = repo
                .commits
                .last()
                .map(|c| c.sha.clone())
                .unwrap_or_default();
            repo.branches.insert("main".into(), head);
            repo.workflows.insert(
                "deploy.yml".into(),
                vec!["environment".into(), "version".into()],
            );
            repo.commits.iter().map(|c| c.sha.clone()).collect()
        })
    }

    /// Adds a commit to the repo's history and moves `branch` to it; its SHA.
    pub fn push(&self, repo: &str, branch: &str, message: &str) -> String {
        self.with(|w| {
            let r = w.repos.get_mut(repo).expect("repo");
            let sha = sha_of(&format!("{repo}-{message}-{}", r.commits.len()));
            r.commits.push(FakeCommit {
                sha: sha.clone(),
                message: message.to_owned(),
                author: "Dana".into(),
            });
            r.branches.insert(branch.to_owned(), sha.clone());
            sha
        })
    }

    pub fn tag(&self, repo: &str, tag: &str, sha: &str) {
        self.with(|w| {
            w.repos
                .get_mut(repo)
                .expect("repo")
                .tags
                .insert(tag.to_owned(), sha.to_owned());
        });
    }

    /// Sets a check run on `sha`: status `queued`/`in_progress`/`completed`, and the
    /// conclusion when completed. Replaces an earlier run of the same name.
    pub fn check(&self, repo: &str, sha: &str, name: &str, status: &str, conclusion: Option<&str>) {
        self.with(|w| {
            w.next_id += 1;
            let id = w.next_id;
            let runs = w
                .repos
                .get_mut(repo)
                .expect("repo")
                .check_runs
                .entry(sha.to_owned())
                .or_default();
            runs.retain(|r| r["name"] != name);
            runs.push(json!({
                "id": id,
                "name": name,
                "head_sha": sha,
                "status": status,
                "conclusion": conclusion,
                "html_url": format!("https://github.com/{repo}/runs/{id}"),
            }));
        });
    }

    /// Sets a commit status (`context`, `state`).
    pub fn status(&self, repo: &str, sha: &str, context: &str, state: &str) {
        self.with(|w| {
            let statuses = w
                .repos
                .get_mut(repo)
                .expect("repo")
                .statuses
                .entry(sha.to_owned())
                .or_default();
            statuses.retain(|s| s["context"] != context);
            statuses.push(json!({
                "context": context,
                "state": state,
                "target_url": format!("https://ci.example.com/{context}/{sha}"),
            }));
        });
    }

    /// How the next run of `workflow` ends: `success`, `failure` or `hang`.
    pub fn next_run(&self, repo: &str, workflow: &str, outcome: &str) {
        self.with(|w| {
            w.repos
                .get_mut(repo)
                .expect("repo")
                .outcomes
                .entry(workflow.to_owned())
                .or_default()
                .push_back(outcome.to_owned());
        });
    }

    /// Behaves like a GitHub Enterprise Server that predates run details.
    pub fn be_enterprise(&self) {
        self.with(|w| w.enterprise = true);
    }

    /// The next `calls` API calls meet the rate limit, lifting `reset_secs` later.
    pub fn rate_limit(&self, calls: u32, reset_secs: i64) {
        self.with(|w| {
            w.rate_limited = calls;
            w.reset_secs = reset_secs;
        });
    }

    /// Requests whose path contains `fragment` are refused for lack of `permission`.
    pub fn forbid(&self, fragment: &str, permission: &str) {
        self.with(|w| {
            w.forbidden
                .push((fragment.to_owned(), permission.to_owned()))
        });
    }

    pub fn calls(&self) -> Vec<Call> {
        self.with(|w| w.calls.clone())
    }

    /// The calls whose `METHOD path` starts with `prefix` (`POST /repos/acme/web/actions`).
    pub fn calls_to(&self, prefix: &str) -> Vec<Call> {
        self.calls()
            .into_iter()
            .filter(|c| format!("{} {}", c.method, c.path).starts_with(prefix))
            .collect()
    }

    pub fn runs(&self) -> Vec<FakeRun> {
        self.with(|w| w.runs.clone())
    }

    pub fn deployments(&self) -> Vec<FakeDeployment> {
        self.with(|w| w.deployments.clone())
    }

    /// The states posted on the deployment of deckhand job `job`, in order.
    pub fn deployment_states(&self, job: i64) -> Vec<String> {
        self.deployments()
            .into_iter()
            .filter(|d| d.payload["deckhand_job"] == job)
            .flat_map(|d| d.statuses)
            .map(|s| s["state"].as_str().unwrap_or("").to_owned())
            .collect()
    }

    /// How many installation tokens the App was given.
    pub fn installation_tokens(&self) -> usize {
        self.with(|w| w.installation_tokens.len())
    }

    /// deckhand's settings for this fake, with the token.
    pub fn settings(&self) -> deckhand::github::GitHubSettings {
        deckhand::github::GitHubSettings {
            api_url: self.url.clone(),
            credentials: deckhand::github::Credentials::Token(TOKEN.to_owned().into()),
            webhook_secret: None,
            poll: std::time::Duration::from_millis(50),
        }
    }

    /// The same, as the fake App.
    pub fn app_settings(&self) -> deckhand::github::GitHubSettings {
        deckhand::github::GitHubSettings {
            credentials: deckhand::github::Credentials::app(APP_ID, &app_private_key())
                .expect("the App's key"),
            ..self.settings()
        }
    }
}

fn answer(status: StatusCode, body: Value) -> Response {
    (
        status,
        [("content-type", "application/json")],
        body.to_string(),
    )
        .into_response()
}

fn not_found() -> Response {
    answer(
        StatusCode::NOT_FOUND,
        json!({"message": "Not Found", "documentation_url": "https://docs.github.com/rest"}),
    )
}

/// Who a request is from: `Ok(true)` for the App's JWT, `Ok(false)` for a token.
fn authenticate(world: &World, headers: &HeaderMap) -> Result<bool, Box<Response>> {
    let bad = || {
        Box::new(answer(
            StatusCode::UNAUTHORIZED,
            json!({"message": "Bad credentials"}),
        ))
    };
    let bearer = headers
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .ok_or_else(bad)?;
    if bearer == TOKEN || world.installation_tokens.iter().any(|t| t == bearer) {
        return Ok(false);
    }
    let key = jsonwebtoken::DecodingKey::from_rsa_pem(app_public_key().as_bytes()).unwrap();
    let mut validation = jsonwebtoken::Validation::new(jsonwebtoken::Algorithm::RS256);
    validation.set_issuer(&[APP_ID]);
    validation.set_required_spec_claims(&["exp", "iat", "iss"]);
    jsonwebtoken::decode::<Value>(bearer, &key, &validation)
        .map(|_| true)
        .map_err(|_| bad())
}

async fn handle(
    State(world): State<Arc<Mutex<World>>>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let body: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
    let path = uri.path().to_owned();
    let query: HashMap<String, String> = uri
        .query()
        .map(|q| {
            url::form_urlencoded::parse(q.as_bytes())
                .into_owned()
                .collect()
        })
        .unwrap_or_default();
    let mut w = world.lock().unwrap();
    w.calls.push(Call {
        method: method.to_string(),
        path: uri
            .path_and_query()
            .map(|p| p.to_string())
            .unwrap_or_default(),
        body: body.clone(),
    });
    if headers.get("x-github-api-version").is_none() || headers.get("user-agent").is_none() {
        return answer(
            StatusCode::BAD_REQUEST,
            json!({"message": "Request forbidden by administrative rules. Please make sure your request has a User-Agent header"}),
        );
    }
    let is_app = match authenticate(&w, &headers) {
        Ok(is_app) => is_app,
        Err(refused) => return *refused,
    };
    let segments: Vec<String> = path
        .trim_start_matches('/')
        .split('/')
        .map(|s| {
            percent_encoding::percent_decode_str(s)
                .decode_utf8_lossy()
                .into_owned()
        })
        .collect();
    let seg: Vec<&str> = segments.iter().map(String::as_str).collect();
    // App endpoints take only the App's JWT.
    match (method.as_str(), seg.as_slice()) {
        ("GET", ["app"]) if is_app => {
            return answer(StatusCode::OK, json!({"id": 424242, "slug": APP_SLUG}));
        }
        ("POST", ["app", "installations", id, "access_tokens"]) if is_app => {
            if *id != INSTALLATION.to_string() {
                return not_found();
            }
            let token = format!("ghs_installation{}", w.installation_tokens.len());
            w.installation_tokens.push(token.clone());
            let expires = chrono::Utc::now() + chrono::Duration::hours(1);
            return answer(
                StatusCode::CREATED,
                json!({"token": token, "expires_at": expires.to_rfc3339_opts(chrono::SecondsFormat::Secs, true)}),
            );
        }
        ("GET", ["repos", owner, name, "installation"]) if is_app => {
            return if w.repos.contains_key(&format!("{owner}/{name}")) {
                answer(
                    StatusCode::OK,
                    json!({"id": INSTALLATION, "app_id": 424242}),
                )
            } else {
                not_found()
            };
        }
        _ if is_app => {
            return answer(
                StatusCode::UNAUTHORIZED,
                json!({"message": "A JSON web token could not be decoded"}),
            );
        }
        _ => {}
    }
    if w.rate_limited > 0 {
        w.rate_limited -= 1;
        let reset = chrono::Utc::now().timestamp() + w.reset_secs;
        return (
            StatusCode::FORBIDDEN,
            [
                ("content-type", "application/json".to_owned()),
                ("x-ratelimit-limit", "5000".to_owned()),
                ("x-ratelimit-remaining", "0".to_owned()),
                ("x-ratelimit-reset", reset.to_string()),
            ],
            json!({"message": "API rate limit exceeded for user ID 1."}).to_string(),
        )
            .into_response();
    }
    if let Some((_, permission)) = w.forbidden.iter().find(|(f, _)| path.contains(f.as_str())) {
        return (
            StatusCode::FORBIDDEN,
            [
                ("content-type", "application/json".to_owned()),
                ("x-accepted-github-permissions", permission.clone()),
            ],
            json!({"message": "Resource not accessible by personal access token"}).to_string(),
        )
            .into_response();
    }
    if let ("GET", ["user"]) = (method.as_str(), seg.as_slice()) {
        return answer(StatusCode::OK, json!({"login": LOGIN, "id": 1}));
    }
    let ["repos", owner, name, rest @ ..] = seg.as_slice() else {
        return not_found();
    };
    let full = format!("{owner}/{name}");
    let World {
        repos,
        runs,
        deployments,
        enterprise,
        next_id,
        ..
    } = &mut *w;
    let Some(repo) = repos.get_mut(&full) else {
        return not_found();
    };
    match (method.as_str(), rest) {
        ("GET", []) => answer(StatusCode::OK, json!({"full_name": full, "id": 1})),
        ("GET", ["commits", sha, "check-runs"]) => {
            let list = repo.check_runs.get(*sha).cloned().unwrap_or_default();
            answer(
                StatusCode::OK,
                json!({"total_count": list.len(), "check_runs": list}),
            )
        }
        ("GET", ["commits", sha, "status"]) => {
            let list = repo.statuses.get(*sha).cloned().unwrap_or_default();
            let state = if list
                .iter()
                .any(|s| s["state"] == "failure" || s["state"] == "error")
            {
                "failure"
            } else if list.iter().all(|s| s["state"] == "success") && !list.is_empty() {
                "success"
            } else {
                "pending"
            };
            answer(
                StatusCode::OK,
                json!({"state": state, "sha": sha, "total_count": list.len(), "statuses": list}),
            )
        }
        ("GET", ["commits", sha, "branches-where-head"]) => {
            let names: Vec<Value> = repo
                .branches
                .iter()
                .filter(|(_, s)| s.as_str() == *sha)
                .map(|(n, s)| json!({"name": n, "commit": {"sha": s}}))
                .collect();
            answer(StatusCode::OK, Value::Array(names))
        }
        ("GET", ["commits", reference @ ..]) => {
            let reference = reference.join("/");
            match find(repo, &reference) {
                Some(i) => answer(StatusCode::OK, commit_json(&full, &repo.commits[i])),
                None => answer(
                    StatusCode::UNPROCESSABLE_ENTITY,
                    json!({"message": format!("No commit found for SHA: {reference}")}),
                ),
            }
        }
        ("GET", ["compare", spec @ ..]) => {
            let spec = spec.join("/");
            let Some((base, head)) = spec.split_once("...") else {
                return not_found();
            };
            let (Some(b), Some(h)) = (find(repo, base), find(repo, head)) else {
                return not_found();
            };
            let (status, ahead, behind) = match h.cmp(&b) {
                std::cmp::Ordering::Equal => ("identical", 0, 0),
                std::cmp::Ordering::Greater => ("ahead", h - b, 0),
                std::cmp::Ordering::Less => ("behind", 0, b - h),
            };
            let commits: Vec<Value> = if h > b {
                repo.commits[b + 1..=h]
                    .iter()
                    .map(|c| commit_json(&full, c))
                    .collect()
            } else {
                Vec::new()
            };
            answer(
                StatusCode::OK,
                json!({
                    "status": status,
                    "ahead_by": ahead,
                    "behind_by": behind,
                    "total_commits": commits.len(),
                    "html_url": format!("https://github.com/{full}/compare/{base}...{head}"),
                    "commits": commits,
                }),
            )
        }
        ("GET", ["branches"]) => answer(
            StatusCode::OK,
            Value::Array(
                repo.branches
                    .iter()
                    .map(|(n, s)| json!({"name": n, "commit": {"sha": s}}))
                    .collect(),
            ),
        ),
        ("GET", ["tags"]) => answer(
            StatusCode::OK,
            Value::Array(
                repo.tags
                    .iter()
                    .map(|(n, s)| json!({"name": n, "commit": {"sha": s}}))
                    .collect(),
            ),
        ),
        ("POST", ["actions", "workflows", workflow, "dispatches"]) => {
            let Some(declared) = repo.workflows.get(*workflow) else {
                return not_found();
            };
            if *enterprise && body.get("return_run_details").is_some() {
                return answer(
                    StatusCode::UNPROCESSABLE_ENTITY,
                    json!({"message": "Invalid request.\n\n\"return_run_details\" is not a permitted key."}),
                );
            }
            let git_ref = body["ref"].as_str().unwrap_or("").to_owned();
            if !repo.branches.contains_key(&git_ref) && !repo.tags.contains_key(&git_ref) {
                return answer(
                    StatusCode::UNPROCESSABLE_ENTITY,
                    json!({"message": format!("No ref found for: {git_ref}")}),
                );
            }
            let inputs = body["inputs"].clone();
            let undeclared: Vec<String> = inputs
                .as_object()
                .map(|o| {
                    o.keys()
                        .filter(|k| !declared.contains(k))
                        .cloned()
                        .collect()
                })
                .unwrap_or_default();
            if !undeclared.is_empty() {
                return answer(
                    StatusCode::UNPROCESSABLE_ENTITY,
                    json!({"message": format!("Unexpected inputs provided: {undeclared:?}")}),
                );
            }
            *next_id += 1;
            let id = *next_id;
            let outcome = repo
                .outcomes
                .get_mut(*workflow)
                .and_then(|q| q.pop_front())
                .unwrap_or_else(|| "success".into());
            runs.push(FakeRun {
                id,
                workflow: workflow.to_string(),
                git_ref,
                inputs,
                actor: LOGIN.into(),
                created_at: chrono::Utc::now(),
                polls: 0,
                outcome,
                cancelled: false,
            });
            if body["return_run_details"] == true {
                answer(
                    StatusCode::OK,
                    json!({
                        "workflow_run_id": id,
                        "run_url": format!("https://api.github.com/repos/{full}/actions/runs/{id}"),
                        "html_url": format!("https://github.com/{full}/actions/runs/{id}"),
                    }),
                )
            } else {
                StatusCode::NO_CONTENT.into_response()
            }
        }
        ("GET", ["actions", "workflows", workflow, "runs"]) => {
            let since = query
                .get("created")
                .and_then(|c| c.strip_prefix(">="))
                .and_then(|c| chrono::DateTime::parse_from_rfc3339(c).ok());
            let list: Vec<Value> = runs
                .iter()
                .rev()
                .filter(|r| r.workflow == *workflow)
                .filter(|_| query.get("event").is_none_or(|e| e == "workflow_dispatch"))
                .filter(|r| query.get("actor").is_none_or(|a| *a == r.actor))
                .filter(|r| since.is_none_or(|s| r.created_at >= s))
                .map(|r| run_json(&full, r))
                .collect();
            answer(
                StatusCode::OK,
                json!({"total_count": list.len(), "workflow_runs": list}),
            )
        }
        ("GET", ["actions", "runs", id]) => match runs.iter_mut().find(|r| r.id.to_string() == *id)
        {
            Some(run) => {
                run.polls += 1;
                answer(StatusCode::OK, run_json(&full, run))
            }
            None => not_found(),
        },
        ("GET", ["actions", "runs", id, "jobs"]) => {
            match runs.iter().find(|r| r.id.to_string() == *id) {
                Some(run) => {
                    let jobs = run_jobs(&full, run);
                    answer(
                        StatusCode::OK,
                        json!({"total_count": jobs.len(), "jobs": jobs}),
                    )
                }
                None => not_found(),
            }
        }
        ("POST", ["actions", "runs", id, "cancel"]) => {
            match runs.iter_mut().find(|r| r.id.to_string() == *id) {
                Some(run) if finished(run).is_some() => answer(
                    StatusCode::CONFLICT,
                    json!({"message": "Cannot cancel a workflow run that is completed."}),
                ),
                Some(run) => {
                    run.cancelled = true;
                    answer(StatusCode::ACCEPTED, json!({}))
                }
                None => not_found(),
            }
        }
        ("POST", ["deployments"]) => {
            *next_id += 1;
            let id = *next_id;
            deployments.push(FakeDeployment {
                id,
                git_ref: body["ref"].as_str().unwrap_or("").to_owned(),
                environment: body["environment"].as_str().unwrap_or("").to_owned(),
                payload: body["payload"].clone(),
                statuses: Vec::new(),
            });
            answer(
                StatusCode::CREATED,
                json!({"id": id, "ref": body["ref"], "environment": body["environment"], "payload": body["payload"]}),
            )
        }
        ("POST", ["deployments", id, "statuses"]) => {
            match deployments.iter_mut().find(|d| d.id.to_string() == *id) {
                Some(deployment) => {
                    let allowed = [
                        "error",
                        "failure",
                        "inactive",
                        "in_progress",
                        "queued",
                        "pending",
                        "success",
                    ];
                    let state = body["state"].as_str().unwrap_or("");
                    if !allowed.contains(&state) {
                        return answer(
                            StatusCode::UNPROCESSABLE_ENTITY,
                            json!({"message": format!("Validation Failed: state {state}")}),
                        );
                    }
                    deployment.statuses.push(body.clone());
                    answer(StatusCode::CREATED, json!({"id": 1, "state": state}))
                }
                None => not_found(),
            }
        }
        _ => not_found(),
    }
}

/// The index of the commit a branch, tag or SHA (7+ hex) names.
fn find(repo: &Repo, reference: &str) -> Option<usize> {
    let sha = repo
        .branches
        .get(reference)
        .or_else(|| repo.tags.get(reference))
        .cloned()
        .unwrap_or_else(|| reference.to_owned());
    if sha.len() < 7 {
        return None;
    }
    repo.commits.iter().position(|c| c.sha.starts_with(&sha))
}

fn commit_json(full: &str, commit: &FakeCommit) -> Value {
    json!({
        "sha": commit.sha,
        "html_url": format!("https://github.com/{full}/commit/{}", commit.sha),
        "commit": {
            "message": commit.message,
            "author": {"name": commit.author, "email": "dev@example.com", "date": "2026-12-01T10:00:00Z"},
            "committer": {"name": commit.author, "email": "dev@example.com", "date": "2026-12-01T10:00:00Z"},
        },
    })
}

/// How a run stands after its polls: queued, then in progress, then done on the third.
fn finished(run: &FakeRun) -> Option<&str> {
    if run.cancelled {
        return Some("cancelled");
    }
    (run.polls >= 3 && run.outcome != "hang").then_some(run.outcome.as_str())
}

fn run_json(full: &str, run: &FakeRun) -> Value {
    let (status, conclusion) = match finished(run) {
        Some(conclusion) => ("completed", Some(conclusion)),
        None if run.polls == 0 => ("queued", None),
        None => ("in_progress", None),
    };
    json!({
        "id": run.id,
        "name": run.workflow,
        "event": "workflow_dispatch",
        "status": status,
        "conclusion": conclusion,
        "html_url": format!("https://github.com/{full}/actions/runs/{}", run.id),
        "created_at": run.created_at.to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
        "actor": {"login": run.actor},
        "head_branch": run.git_ref,
    })
}

/// A run's two jobs: `build` finishes first; `deploy` carries the run's outcome.
fn run_jobs(full: &str, run: &FakeRun) -> Vec<Value> {
    let end = finished(run);
    let url = |n: i64| format!("https://github.com/{full}/actions/runs/{}/job/{n}", run.id);
    let build = if run.polls >= 2 || end.is_some() {
        json!({"id": 1, "name": "build", "status": "completed", "conclusion": "success", "html_url": url(1),
               "started_at": "2026-12-01T10:00:00Z", "completed_at": "2026-12-01T10:01:02Z"})
    } else {
        json!({"id": 1, "name": "build", "status": "in_progress", "conclusion": null, "html_url": url(1),
               "started_at": "2026-12-01T10:00:00Z", "completed_at": null})
    };
    let deploy = match end {
        Some(conclusion) => {
            json!({"id": 2, "name": "deploy", "status": "completed", "conclusion": conclusion, "html_url": url(2),
               "started_at": "2026-12-01T10:01:02Z", "completed_at": "2026-12-01T10:02:00Z"})
        }
        None => {
            json!({"id": 2, "name": "deploy", "status": "queued", "conclusion": null, "html_url": url(2),
               "started_at": null, "completed_at": null})
        }
    };
    vec![build, deploy]
}

/// Signs and posts a webhook delivery as GitHub does; the status deckhand answered.
pub async fn deliver(url: &str, secret: &str, event: &str, delivery: &str, body: &Value) -> u16 {
    use hmac::Mac;
    let raw = body.to_string();
    let mut mac = hmac::Hmac::<sha2::Sha256>::new_from_slice(secret.as_bytes()).unwrap();
    mac.update(raw.as_bytes());
    let signature = format!("sha256={}", hex::encode(mac.finalize().into_bytes()));
    reqwest::Client::new()
        .post(format!("{url}/github/webhook"))
        .header("X-GitHub-Event", event)
        .header("X-GitHub-Delivery", delivery)
        .header("X-Hub-Signature-256", signature)
        .header("Content-Type", "application/json")
        .body(raw)
        .send()
        .await
        .map(|r| r.status().as_u16())
        .unwrap_or(0)
}

/// A `check_suite` `completed` event for `sha` on `branch`.
pub fn check_suite_completed(repo: &str, branch: &str, sha: &str, actor: &str) -> Value {
    json!({
        "action": "completed",
        "check_suite": {
            "id": 1,
            "head_branch": branch,
            "head_sha": sha,
            "status": "completed",
            "conclusion": "success",
        },
        "repository": {"full_name": repo, "name": repo.split('/').nth(1)},
        "sender": {"login": actor},
    })
}
