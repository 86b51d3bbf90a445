//! A pipeline step as the config writes it, and as the runner sees it: one `StepAction`.

use std::collections::BTreeMap;
use std::path::PathBuf;

use deckhand_commands::HumanDuration;
use serde::Deserialize;

/// One step of a pipeline, as the runner sees it: what it does, and how.
#[derive(Debug, Clone, Deserialize)]
#[serde(try_from = "StepFields")]
pub struct StepConfig {
    pub name: String,
    pub action: StepAction,
    /// Env var names passed through to this step (and nothing else of deckhand's env).
    pub env: Vec<String>,
    pub cwd: Option<PathBuf>,
    /// Default 10m.
    pub timeout: Option<HumanDuration>,
    pub continue_on_error: bool,
}

/// What a step does: exactly one kind, checked when the config is read.
#[derive(Debug, Clone)]
pub enum StepAction {
    /// A program and its arguments. Never a shell string built from chat text.
    Run(Vec<String>),
    Http(HttpStep),
    Health(HealthStep),
    Backup(BackupStep),
    Restore(RestoreStep),
    GitHub(GitHubStep),
}

/// A step as the file writes it: one of `run`, `http`, `health`, `backup`, `restore`.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct StepFields {
    name: String,
    run: Option<Vec<String>>,
    http: Option<HttpStep>,
    health: Option<HealthStep>,
    backup: Option<BackupStep>,
    restore: Option<RestoreStep>,
    github: Option<GitHubStep>,
    #[serde(default)]
    env: Vec<String>,
    cwd: Option<PathBuf>,
    timeout: Option<HumanDuration>,
    #[serde(default)]
    continue_on_error: bool,
}

impl TryFrom<StepFields> for StepConfig {
    type Error = String;

    fn try_from(fields: StepFields) -> Result<StepConfig, String> {
        let mut actions: Vec<StepAction> = Vec::new();
        actions.extend(fields.run.map(StepAction::Run));
        actions.extend(fields.http.map(StepAction::Http));
        actions.extend(fields.health.map(StepAction::Health));
        actions.extend(fields.backup.map(StepAction::Backup));
        actions.extend(fields.restore.map(StepAction::Restore));
        let mut timeout = fields.timeout;
        if let Some(github) = fields.github {
            // `github = { ..., timeout = "30m" }` is the step's timeout.
            match (github.timeout, timeout) {
                (Some(_), Some(_)) => {
                    return Err(format!(
                        "step `{}` has a timeout both on the step and inside `github`; keep one",
                        fields.name
                    ));
                }
                (Some(inner), None) => timeout = Some(inner),
                _ => {}
            }
            actions.push(StepAction::GitHub(github));
        }
        let name = fields.name;
        let action = match (actions.pop(), actions.is_empty()) {
            (Some(action), true) => action,
            (None, _) => {
                return Err(format!(
                    "step `{name}` does nothing: give it one of `run`, `http`, `health`, `backup`, `restore`, `github`"
                ));
            }
            (Some(_), false) => {
                return Err(format!(
                    "step `{name}` has more than one of `run`, `http`, `health`, `backup`, `restore`, `github`; split it into steps"
                ));
            }
        };
        Ok(StepConfig {
            name,
            action,
            env: fields.env,
            cwd: fields.cwd,
            timeout,
            continue_on_error: fields.continue_on_error,
        })
    }
}

/// `github = { workflow = "deploy.yml", ref = "main", inputs = { ... }, timeout = "30m" }`:
/// dispatch a GitHub Actions workflow and follow its run to the end.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GitHubStep {
    /// The workflow file name (`deploy.yml`) or its numeric id.
    pub workflow: String,
    /// The branch or tag to run the workflow from. Default: the job's ref, when that is
    /// a branch or tag, else a branch whose head is the job's commit.
    #[serde(rename = "ref")]
    pub git_ref: Option<String>,
    /// Fixed strings; only `${DECKHAND_*}` job variables are substituted.
    #[serde(default)]
    pub inputs: BTreeMap<String, String>,
    pub timeout: Option<HumanDuration>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HttpStep {
    #[serde(default = "default_method")]
    pub method: String,
    pub url: Option<String>,
    /// Env var holding the URL (deploy hooks carry tokens in their URL).
    pub url_env: Option<String>,
    /// Header name -> env var holding its value.
    #[serde(default)]
    pub headers: BTreeMap<String, String>,
    /// A JSON or text body.
    pub body: Option<String>,
    /// Expected status. Default: any 2xx.
    pub expect: Option<u16>,
    /// Extra attempts after a failure, with exponential backoff. Default 2.
    pub retries: Option<u32>,
}

fn default_method() -> String {
    "POST".to_owned()
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HealthStep {
    pub url: Option<String>,
    pub url_env: Option<String>,
    /// Default 200.
    pub expect: Option<u16>,
    /// Give up after this long. Default 2m.
    pub within: Option<HumanDuration>,
    /// Time between polls. Default 2s.
    pub every: Option<HumanDuration>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BackupStep {
    /// Env var holding a Postgres URL: backed up with `pg_dump --format=custom`.
    pub database_url_env: Option<String>,
    /// Or a file (an SQLite database, say): copied as it is.
    pub file: Option<PathBuf>,
    pub dir: PathBuf,
    /// Keep the newest N backups in `dir`. Default 10.
    pub keep: Option<usize>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RestoreStep {
    /// Env var holding the Postgres URL to restore into with `pg_restore`.
    pub database_url_env: Option<String>,
    /// Or the file to put the backup back into.
    pub file: Option<PathBuf>,
}
