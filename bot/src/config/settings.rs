//! What deckhand reads from its process environment (tokens, URLs, the listen address),
//! read once at start with every problem listed together.

use secrecy::SecretString;

use crate::chat::outbox::Limits;

/// Everything the environment configures besides the config file.
#[derive(Debug, Clone)]
pub struct Runtime {
    pub slack: Option<SlackSettings>,
    pub discord: Option<DiscordSettings>,
    /// `DECKHAND_API_TOKEN`: the REST API's bearer token; the API is off without it.
    pub api_token: Option<SecretString>,
    /// `DECKHAND_METRICS_TOKEN`: when set, `/metrics` wants it as a bearer token.
    pub metrics_token: Option<SecretString>,
    /// `DECKHAND_LISTEN`, default `127.0.0.1:8080`.
    pub listen: String,
    /// `GITHUB_TOKEN` or `GITHUB_APP_ID` + `GITHUB_APP_PRIVATE_KEY`, `GITHUB_API_URL`,
    /// `GITHUB_WEBHOOK_SECRET`.
    pub github: Option<crate::github::GitHubSettings>,
}

impl Runtime {
    /// Reads the process environment; every problem at once, one per line.
    pub fn from_env() -> anyhow::Result<Runtime> {
        Runtime::read(&|name| std::env::var(name).ok().filter(|v| !v.trim().is_empty()))
    }

    /// Reads settings through `var` (tests pass their own).
    pub fn read(var: &dyn Fn(&str) -> Option<String>) -> anyhow::Result<Runtime> {
        let slack = SlackSettings::from_env(var);
        let discord = DiscordSettings::from_env(var);
        let api_token = bearer_token(var, "DECKHAND_API_TOKEN");
        let metrics_token = bearer_token(var, "DECKHAND_METRICS_TOKEN");
        let github = crate::github::GitHubSettings::from_env(var);
        let problems: Vec<&String> = [
            slack.as_ref().err(),
            discord.as_ref().err(),
            api_token.as_ref().err(),
            metrics_token.as_ref().err(),
            github.as_ref().err(),
        ]
        .into_iter()
        .flatten()
        .collect();
        if !problems.is_empty() {
            let lines: Vec<&str> = problems.iter().map(|p| p.as_str()).collect();
            anyhow::bail!("{}", lines.join("\n"));
        }
        Ok(Runtime {
            slack: slack.ok().flatten(),
            discord: discord.ok().flatten(),
            api_token: api_token.ok().flatten(),
            metrics_token: metrics_token.ok().flatten(),
            listen: var("DECKHAND_LISTEN").unwrap_or_else(|| "127.0.0.1:8080".into()),
            github: github.ok().flatten(),
        })
    }
}

/// The shortest bearer token deckhand accepts: a guessable token is an open door.
pub const MIN_TOKEN: usize = 32;

/// A bearer token from `name`, if set, long enough to be unguessable.
fn bearer_token(
    var: &dyn Fn(&str) -> Option<String>,
    name: &str,
) -> Result<Option<SecretString>, String> {
    match var(name) {
        None => Ok(None),
        Some(token) if token.trim().chars().count() < MIN_TOKEN => Err(format!(
            "{name} is {} characters long; it must be at least {MIN_TOKEN} (make one with `openssl rand -hex 32`)",
            token.trim().chars().count()
        )),
        Some(token) => Ok(Some(token.trim().to_owned().into())),
    }
}

/// How deckhand reaches Slack, from the environment.
#[derive(Debug, Clone)]
pub struct SlackSettings {
    pub bot_token: SecretString,
    /// Socket Mode when set.
    pub app_token: Option<SecretString>,
    /// HTTP mode (routes on deckhand's server) when set.
    pub signing_secret: Option<SecretString>,
    /// `SLACK_API_URL`, e.g. `http://127.0.0.1:9999/api`; default Slack's.
    pub api_url: Option<String>,
    pub limits: Limits,
}

impl SlackSettings {
    /// `None` when `SLACK_BOT_TOKEN` is unset; an error when the rest cannot work.
    fn from_env(var: &dyn Fn(&str) -> Option<String>) -> Result<Option<SlackSettings>, String> {
        let Some(bot_token) = var("SLACK_BOT_TOKEN") else {
            if var("SLACK_APP_TOKEN").is_some() || var("SLACK_SIGNING_SECRET").is_some() {
                return Err("SLACK_APP_TOKEN or SLACK_SIGNING_SECRET is set but SLACK_BOT_TOKEN is not: deckhand needs the bot token (xoxb-...) to post".into());
            }
            return Ok(None);
        };
        let app_token = var("SLACK_APP_TOKEN");
        let signing_secret = var("SLACK_SIGNING_SECRET");
        if app_token.is_none() && signing_secret.is_none() {
            return Err("SLACK_BOT_TOKEN is set, but neither SLACK_APP_TOKEN (Socket Mode) nor SLACK_SIGNING_SECRET (HTTP mode) is: deckhand could post but never hear commands".into());
        }
        if let Some(token) = &app_token
            && !token.starts_with("xapp-")
        {
            return Err(
                "SLACK_APP_TOKEN must be an app-level token starting with `xapp-` (Socket Mode)"
                    .into(),
            );
        }
        Ok(Some(SlackSettings {
            bot_token: bot_token.into(),
            app_token: app_token.map(Into::into),
            signing_secret: signing_secret.map(Into::into),
            api_url: var("SLACK_API_URL").map(|u| u.trim_end_matches('/').to_owned()),
            limits: Limits::default(),
        }))
    }
}

/// How deckhand reaches Discord, from the environment.
#[derive(Debug, Clone)]
pub struct DiscordSettings {
    pub token: SecretString,
    /// Hex Ed25519 key for the HTTP interactions endpoint, when used.
    pub public_key: Option<String>,
    /// `DISCORD_API_URL` (proxies, tests): serenity's own ratelimiter is then off, and
    /// deckhand's limits hold the line.
    pub api_url: Option<String>,
    /// The servers deckhand serves (`DISCORD_GUILD_IDS`, or `DISCORD_GUILD_ID`): its
    /// commands are registered to these guilds only, and commands, buttons and
    /// reactions from any other guild or from DMs are ignored.
    pub guild_ids: Vec<u64>,
    /// Connect to the gateway (off for HTTP-interactions-only setups and tests of them).
    pub gateway: bool,
    pub limits: Limits,
}

/// `DISCORD_GUILD_IDS` (comma-separated) and `DISCORD_GUILD_ID`, together: at least
/// one, each a numeric id. Without an allowlist anyone who invites the bot to their own
/// server could run its read commands and incident commands.
fn guild_ids(var: &dyn Fn(&str) -> Option<String>) -> Result<Vec<u64>, String> {
    let listed: Vec<String> = ["DISCORD_GUILD_IDS", "DISCORD_GUILD_ID"]
        .iter()
        .filter_map(|name| var(name))
        .flat_map(|list| {
            list.split(',')
                .map(|id| id.trim().to_owned())
                .filter(|id| !id.is_empty())
                .collect::<Vec<_>>()
        })
        .collect();
    let bad: Vec<&str> = listed
        .iter()
        .filter(|id| id.parse::<u64>().is_err())
        .map(String::as_str)
        .collect();
    if !bad.is_empty() {
        return Err(format!(
            "DISCORD_GUILD_IDS must be numeric guild ids separated by commas, not `{}` (Discord: Server Settings → Widget, or Copy Server ID in developer mode)",
            bad.join("`, `")
        ));
    }
    let mut ids: Vec<u64> = listed.iter().filter_map(|id| id.parse().ok()).collect();
    ids.sort_unstable();
    ids.dedup();
    if ids.is_empty() {
        return Err("DISCORD_GUILD_IDS must list the Discord servers deckhand serves (comma-separated guild ids): without it, anyone who invites the bot to their server could use it".into());
    }
    Ok(ids)
}

impl DiscordSettings {
    fn from_env(var: &dyn Fn(&str) -> Option<String>) -> Result<Option<DiscordSettings>, String> {
        let Some(token) = var("DISCORD_TOKEN") else {
            if var("DISCORD_PUBLIC_KEY").is_some() {
                return Err("DISCORD_PUBLIC_KEY is set but DISCORD_TOKEN is not: deckhand needs the bot token to post".into());
            }
            return Ok(None);
        };
        let guild_ids = guild_ids(var)?;
        let public_key = var("DISCORD_PUBLIC_KEY");
        if let Some(key) = &public_key
            && crate::discord::public_key_bytes(key).is_none()
        {
            return Err("DISCORD_PUBLIC_KEY must be the application's Ed25519 public key: 64 hex characters".into());
        }
        Ok(Some(DiscordSettings {
            token: token.into(),
            public_key,
            api_url: var("DISCORD_API_URL").map(|u| u.trim_end_matches('/').to_owned()),
            guild_ids,
            gateway: true,
            limits: Limits {
                per_channel_per_second: 5,
                per_channel_burst: 5,
                global_per_second: 45,
            },
        }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn vars(pairs: &[(&str, &str)]) -> impl Fn(&str) -> Option<String> {
        let pairs: Vec<(String, String)> = pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect();
        move |name| {
            pairs
                .iter()
                .find(|(k, _)| k == name)
                .map(|(_, v)| v.clone())
        }
    }

    #[test]
    fn slack_and_discord_problems_are_listed_together() {
        let env = vars(&[
            ("SLACK_BOT_TOKEN", "xoxb-1"),
            ("DISCORD_TOKEN", "t"),
            ("DISCORD_GUILD_ID", "guild"),
        ]);
        let error = Runtime::read(&env).unwrap_err().to_string();
        assert!(error.contains("neither SLACK_APP_TOKEN"), "{error}");
        assert!(
            error.contains("DISCORD_GUILD_IDS must be numeric guild ids"),
            "{error}"
        );
    }

    #[test]
    fn discord_serves_the_listed_guilds_and_needs_at_least_one() {
        let both = vars(&[
            ("DISCORD_TOKEN", "t"),
            (
                "DISCORD_GUILD_IDS",
                "900000000000000003, 900000000000000004",
            ),
            ("DISCORD_GUILD_ID", "900000000000000003"),
        ]);
        assert_eq!(
            guild_ids(&both),
            Ok(vec![900000000000000003, 900000000000000004])
        );
        let none = vars(&[("DISCORD_TOKEN", "t")]);
        let error = DiscordSettings::from_env(&none).unwrap_err();
        assert!(error.contains("DISCORD_GUILD_IDS must list"), "{error}");
    }

    #[test]
    fn short_api_and_metrics_tokens_stop_start_up_together() {
        let env = vars(&[
            ("DECKHAND_API_TOKEN", "hunter2"),
            ("DECKHAND_METRICS_TOKEN", "short"),
        ]);
        let error = Runtime::read(&env).unwrap_err().to_string();
        assert!(
            error.contains("DECKHAND_API_TOKEN is 7 characters long; it must be at least 32"),
            "{error}"
        );
        assert!(
            error.contains("DECKHAND_METRICS_TOKEN is 5 characters"),
            "{error}"
        );
        let long = "x".repeat(32);
        let pairs = [("DECKHAND_API_TOKEN", long.as_str())];
        let env = vars(&pairs);
        assert!(Runtime::read(&env).unwrap().api_token.is_some());
    }

    #[test]
    fn nothing_set_means_no_platforms_and_the_default_listen_address() {
        let runtime = Runtime::read(&vars(&[])).unwrap();
        assert!(runtime.slack.is_none() && runtime.discord.is_none());
        assert!(runtime.api_token.is_none());
        assert_eq!(runtime.listen, "127.0.0.1:8080");
    }
}
