//! `deckhand check --online`: asks Slack and Discord whether the tokens work and whether
//! each configured channel is one the bot can see, post to and hear reactions from; asks
//! GitHub whether each app's repo is one deckhand can read.

use crate::config::Config;
use crate::discord::{DiscordPlatform, DiscordSettings};
use crate::slack::{SeenChannel, SlackPlatform, SlackSettings};

/// One line of the report.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Finding {
    /// Whether deckhand can work with this as it is.
    pub ok: bool,
    pub line: String,
}

impl Finding {
    fn ok(line: String) -> Finding {
        Finding { ok: true, line }
    }

    fn problem(line: String) -> Finding {
        Finding { ok: false, line }
    }
}

/// Channels where people react to deckhand's messages (reminders want a ✅): the bot
/// must be in them, or Slack sends it no reaction events.
fn needs_reactions(key: &str) -> bool {
    key.starts_with("reminders.")
}

/// Every configured platform, asked about itself and its channels.
pub async fn check_online(
    config: &Config,
    slack: Option<&SlackSettings>,
    discord: Option<&DiscordSettings>,
) -> Vec<Finding> {
    let mut findings = Vec::new();
    let channels = config.channels();
    let on = |platform: &str| {
        channels
            .iter()
            .filter_map(|(key, channel)| {
                let (p, name) = crate::chat::split_channel(channel)?;
                (p == platform).then(|| (key.clone(), name.to_owned()))
            })
            .collect::<Vec<_>>()
    };
    if let Some(settings) = slack {
        match SlackPlatform::new(settings) {
            Ok(platform) => findings.extend(slack_findings(&platform, &on("slack")).await),
            Err(error) => findings.push(Finding::problem(format!("slack: {error:#}"))),
        }
    }
    if let Some(settings) = discord {
        let platform = DiscordPlatform::new(settings);
        findings.extend(discord_findings(&platform, &on("discord")).await);
    }
    findings
}

async fn slack_findings(platform: &SlackPlatform, wanted: &[(String, String)]) -> Vec<Finding> {
    let mut findings = Vec::new();
    match platform.whoami().await {
        Ok((team, user)) => findings.push(Finding::ok(format!(
            "slack: signed in to {team} as the bot user {user}"
        ))),
        Err(error) => {
            findings.push(Finding::problem(format!(
                "slack: the bot token does not work ({error:#}); check SLACK_BOT_TOKEN"
            )));
            return findings;
        }
    }
    if wanted.is_empty() {
        return findings;
    }
    let seen = match platform.list_channels().await {
        Ok(seen) => seen,
        Err(error) => {
            findings.push(Finding::problem(format!(
                "slack: cannot list channels ({error:#}); add the `channels:read` scope (and `groups:read` for private channels) and reinstall the app, so channels can be checked and names resolved before their first post"
            )));
            return findings;
        }
    };
    for (key, channel) in wanted {
        let found = seen
            .iter()
            .find(|c| c.id == *channel || format!("#{}", c.name) == *channel);
        findings.push(slack_channel(key, channel, found));
    }
    findings
}

fn slack_channel(key: &str, channel: &str, found: Option<&SeenChannel>) -> Finding {
    let Some(found) = found else {
        return Finding::problem(format!(
            "{key} = slack:{channel}: the bot sees no such channel (misspelt, archived, or private without the bot: /invite @deckhand there)"
        ));
    };
    let what = format!("{key} = slack:{channel} (#{}, {})", found.name, found.id);
    match (found.member, found.private) {
        (true, _) => Finding::ok(format!("{what}: the bot is in it")),
        (false, true) => Finding::problem(format!(
            "{what}: private and the bot is not in it, so it cannot post there: /invite @deckhand"
        )),
        (false, false) if needs_reactions(key) => Finding::problem(format!(
            "{what}: the bot can post but is not in it, so it never hears the ✅ on its reminders: /invite @deckhand"
        )),
        (false, false) => Finding::ok(format!(
            "{what}: the bot posts there without being in it (chat:write.public); /invite @deckhand to hear reactions"
        )),
    }
}

async fn discord_findings(platform: &DiscordPlatform, wanted: &[(String, String)]) -> Vec<Finding> {
    let mut findings = Vec::new();
    let http = platform.http();
    match http.get_current_user().await {
        Ok(me) => findings.push(Finding::ok(format!(
            "discord: signed in as {} ({})",
            me.name, me.id
        ))),
        Err(error) => {
            findings.push(Finding::problem(format!(
                "discord: the bot token does not work ({error}); check DISCORD_TOKEN"
            )));
            return findings;
        }
    }
    for (key, channel) in wanted {
        let Some(id) = channel
            .parse::<u64>()
            .ok()
            .filter(|id| *id > 0)
            .map(serenity::model::id::ChannelId::new)
        else {
            findings.push(Finding::problem(format!(
                "{key} = discord:{channel}: not a channel id (Developer Mode → Copy Channel ID)"
            )));
            continue;
        };
        findings.push(match http.get_channel(id).await {
            Ok(serenity::model::channel::Channel::Guild(found)) => Finding::ok(format!(
                "{key} = discord:{channel} (#{}): the bot can see it",
                found.name
            )),
            Ok(_) => Finding::problem(format!(
                "{key} = discord:{channel}: not a server channel"
            )),
            Err(error) => Finding::problem(format!(
                "{key} = discord:{channel}: the bot cannot see it ({error}); give it View Channels and Send Messages there"
            )),
        });
    }
    findings
}

/// Each app's repo, asked for with deckhand's credentials.
pub async fn github_findings(
    config: &Config,
    settings: &crate::github::GitHubSettings,
) -> Vec<Finding> {
    let github = crate::github::GitHub::new(settings.clone());
    let mut findings = Vec::new();
    for (name, app) in &config.apps {
        let Some(repo) = &app.repo else { continue };
        let repo = crate::github::Repo::new(repo, format!("apps.{name}.repo"));
        findings.push(match github.repository(&repo).await {
            Ok(()) => Finding::ok(format!("github: {} is readable", repo.full)),
            Err(error) => Finding::problem(format!("github: {}", error.say(&repo, &config.clock))),
        });
    }
    findings
}
