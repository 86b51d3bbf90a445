//! GitHub: refs resolved to commits, the CI-green gate, workflow runs, deployments and
//! the webhook that deploys on green. One typed REST client, pointed at `GITHUB_API_URL`.

mod auth;
pub mod checks;
mod client;
pub mod deployments;
pub mod refs;
pub mod webhook;
pub mod workflow;

pub use auth::Credentials;
pub use client::{GitHub, GitHubError, Repo};

use secrecy::SecretString;

/// How deckhand reaches GitHub, from the environment.
#[derive(Debug, Clone)]
pub struct GitHubSettings {
    /// `GITHUB_API_URL`; default `https://api.github.com`.
    pub api_url: String,
    pub credentials: Credentials,
    /// `GITHUB_WEBHOOK_SECRET`: `POST /github/webhook` is off without it.
    pub webhook_secret: Option<SecretString>,
    /// How often a workflow run and pending checks are polled. Default 10s.
    pub poll: std::time::Duration,
}

/// The GitHub API when `GITHUB_API_URL` is not set.
pub const DEFAULT_API_URL: &str = "https://api.github.com";

impl GitHubSettings {
    /// `None` when neither `GITHUB_TOKEN` nor `GITHUB_APP_ID` is set; an error naming the
    /// variable when what is set cannot work.
    pub fn from_env(
        var: &dyn Fn(&str) -> Option<String>,
    ) -> Result<Option<GitHubSettings>, String> {
        let webhook_secret = var("GITHUB_WEBHOOK_SECRET").map(SecretString::from);
        let credentials = match (var("GITHUB_TOKEN"), var("GITHUB_APP_ID")) {
            (Some(_), Some(_)) => {
                return Err("both GITHUB_TOKEN and GITHUB_APP_ID are set: deckhand uses one way into GitHub; unset one of them".into());
            }
            (Some(token), None) => Credentials::Token(token.trim().to_owned().into()),
            (None, Some(app_id)) => {
                let Some(key) = var("GITHUB_APP_PRIVATE_KEY") else {
                    return Err("GITHUB_APP_ID is set but GITHUB_APP_PRIVATE_KEY is not: give the App's private key (the PEM GitHub generated, or a path to it)".into());
                };
                Credentials::app(app_id.trim(), &key)?
            }
            (None, None) => {
                if var("GITHUB_APP_PRIVATE_KEY").is_some() {
                    return Err("GITHUB_APP_PRIVATE_KEY is set but GITHUB_APP_ID is not: deckhand needs the App's id too".into());
                }
                if webhook_secret.is_some() {
                    return Err("GITHUB_WEBHOOK_SECRET is set but neither GITHUB_TOKEN nor GITHUB_APP_ID is: deckhand could hear GitHub but never ask it anything".into());
                }
                return Ok(None);
            }
        };
        let api_url = var("GITHUB_API_URL")
            .map(|u| u.trim().trim_end_matches('/').to_owned())
            .unwrap_or_else(|| DEFAULT_API_URL.to_owned());
        if !(api_url.starts_with("https://") || api_url.starts_with("http://")) {
            return Err(format!(
                "GITHUB_API_URL `{api_url}` is not a URL; for GitHub Enterprise Server write it like https://github.example.com/api/v3"
            ));
        }
        Ok(Some(GitHubSettings {
            api_url,
            credentials,
            webhook_secret,
            poll: std::time::Duration::from_secs(10),
        }))
    }
}

/// The first 7 characters of a SHA, as GitHub shows it.
pub fn short(sha: &str) -> &str {
    &sha[..sha.len().min(7)]
}
