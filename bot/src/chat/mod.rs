//! The platform boundary: one neutral event type in, one small trait out. The core never
//! sees a Slack or Discord type.

pub mod console;
pub mod outbox;
pub mod reply;

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex};

use async_trait::async_trait;

use crate::render::Message;

/// Someone talking to deckhand.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Person {
    /// `platform:id`, as the config's roles write people: `console:bob`, `slack:U123`.
    pub id: String,
    /// What to call them in messages.
    pub name: String,
}

/// Where a command came from, and who sent it: answers go back there.
#[derive(Debug, Clone)]
pub struct Origin {
    pub platform: String,
    pub channel: String,
    pub user: Person,
    /// The platform's handle for answering this delivery privately (a Discord
    /// interaction's id), carried with every answer to it; `None` for reactions.
    pub reply: Option<String>,
    /// The inbox row of the delivery, when it was stored: a job it creates marks the row
    /// handled in the job's own transaction, so a crash can never replay it into a
    /// second job.
    pub inbox: Option<i64>,
}

/// What a platform delivers, verified and stripped of platform types.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Event {
    /// A slash command or a mention, as typed.
    Command {
        platform: String,
        channel: String,
        user: Person,
        text: String,
        /// The platform's delivery id, to drop retries and replays.
        event_id: Option<String>,
    },
    /// An emoji added to or removed from a message.
    Reaction {
        platform: String,
        channel: String,
        message_id: String,
        user: Person,
        emoji: String,
        added: bool,
        event_id: Option<String>,
    },
}

/// A message deckhand posted: enough to edit it later.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Posted {
    pub platform: String,
    pub channel: String,
    pub message_id: String,
}

/// One chat platform's outbound side.
#[async_trait]
pub trait Platform: Send + Sync {
    /// `slack`, `discord` or `console`.
    fn name(&self) -> &'static str;
    /// Posts to a channel. Returns where the message is, as the platform names it from now on: the
    /// channel's id (Slack takes a name like `#deploys` here, and only ids in every later
    /// call) and the message's id.
    async fn post(&self, channel: &str, message: &Message) -> anyhow::Result<(String, String)>;
    /// Replaces a message deckhand posted.
    async fn edit(&self, channel: &str, message_id: &str, message: &Message) -> anyhow::Result<()>;
    /// A message only `user` sees (Slack ephemeral; on Discord through the interaction
    /// `reply` names, or a DM when there is none).
    async fn whisper(
        &self,
        channel: &str,
        user: &Person,
        reply: Option<&str>,
        message: &Message,
    ) -> anyhow::Result<()>;

    /// (outbound calls made, rate-limit waits), for `/metrics`.
    fn stats(&self) -> (u64, u64) {
        (0, 0)
    }
}

/// `slack:#deploys` -> (`slack`, `#deploys`).
pub fn split_channel(channel_ref: &str) -> Option<(&str, &str)> {
    channel_ref
        .split_once(':')
        .filter(|(p, c)| !p.is_empty() && !c.is_empty())
}

/// Every configured platform; routes each post to the right one.
#[derive(Default)]
pub struct Chat {
    platforms: HashMap<&'static str, Arc<dyn Platform>>,
    warned: Mutex<HashSet<String>>,
}

impl Chat {
    pub fn new() -> Chat {
        Chat::default()
    }

    pub fn add(&mut self, platform: Arc<dyn Platform>) {
        self.platforms.insert(platform.name(), platform);
    }

    /// (platform, outbound calls, rate-limit waits) of every platform.
    pub fn stats(&self) -> Vec<(&'static str, u64, u64)> {
        let mut stats: Vec<_> = self
            .platforms
            .iter()
            .map(|(name, p)| {
                let (calls, waits) = p.stats();
                (*name, calls, waits)
            })
            .collect();
        stats.sort();
        stats
    }

    pub fn has(&self, name: &str) -> bool {
        self.platforms.contains_key(name)
    }

    /// Whether a channel ref can be posted to at all (its platform, or the console, is
    /// configured): a channel that cannot is skipped, not waited for.
    pub fn reaches(&self, channel_ref: &str) -> bool {
        split_channel(channel_ref)
            .is_some_and(|(platform, _)| self.has(platform) || self.has("console"))
    }

    /// The platform for a channel ref, and the channel to give it. In the console every
    /// channel prints to the terminal; otherwise a channel of a platform that is not
    /// configured is skipped with one warning.
    fn route(&self, platform: &str, channel: &str) -> Option<(Arc<dyn Platform>, String)> {
        if let Some(p) = self.platforms.get(platform) {
            return Some((p.clone(), channel.to_owned()));
        }
        if let Some(console) = self.platforms.get("console") {
            return Some((console.clone(), format!("{platform}:{channel}")));
        }
        let key = format!("{platform}:{channel}");
        if self
            .warned
            .lock()
            .map(|mut w| w.insert(key.clone()))
            .unwrap_or(false)
        {
            tracing::warn!(channel = %key, "platform `{platform}` is not configured; skipping its channel");
        }
        None
    }

    /// Posts; logs and returns `None` when the platform fails, so one broken platform
    /// never stops a job.
    pub async fn post(&self, platform: &str, channel: &str, message: &Message) -> Option<Posted> {
        let (target, channel) = self.route(platform, channel)?;
        match target.post(&channel, message).await {
            Ok((channel, message_id)) => Some(Posted {
                platform: target.name().to_owned(),
                // The terminal is one channel: reactions there name no other, and console
                // message ids are unique anyway.
                channel: if target.name() == "console" {
                    console::CHANNEL.to_owned()
                } else {
                    channel
                },
                message_id,
            }),
            Err(error) => {
                tracing::error!(%platform, %channel, error = %format!("{error:#}"), "posting failed");
                None
            }
        }
    }

    /// Edits; `false` when the platform refused (logged). A message of a platform that
    /// is no longer configured counts as done: nothing can ever edit it.
    pub async fn edit(&self, posted: &Posted, message: &Message) -> bool {
        let Some(target) = self.platforms.get(posted.platform.as_str()) else {
            return true;
        };
        match target
            .edit(&posted.channel, &posted.message_id, message)
            .await
        {
            Ok(()) => true,
            Err(error) => {
                tracing::error!(platform = %posted.platform, message_id = %posted.message_id, error = %format!("{error:#}"), "editing failed");
                false
            }
        }
    }

    /// Whispers; `false` when the platform refused (logged). A channel no platform
    /// reaches counts as done.
    pub async fn whisper(
        &self,
        platform: &str,
        channel: &str,
        user: &Person,
        reply: Option<&str>,
        message: &Message,
    ) -> bool {
        let Some((target, channel)) = self.route(platform, channel) else {
            return true;
        };
        match target.whisper(&channel, user, reply, message).await {
            Ok(()) => true,
            Err(error) => {
                tracing::error!(%platform, %channel, error = %format!("{error:#}"), "whisper failed");
                false
            }
        }
    }

    /// Posts to a channel ref such as `slack:#deploys`.
    pub async fn post_to(&self, channel_ref: &str, message: &Message) -> Option<Posted> {
        let (platform, channel) = split_channel(channel_ref)?;
        self.post(platform, channel, message).await
    }
}

/// What a reaction means on an approval card.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    Approve,
    Reject,
}

/// ✅ approves and ❌ rejects, whether the platform sends the emoji or its shortcode.
pub fn verdict(emoji: &str) -> Option<Verdict> {
    let emoji = emoji.trim().trim_matches(':');
    match emoji {
        "✅"
        | "✔️"
        | "✔"
        | "☑️"
        | "white_check_mark"
        | "heavy_check_mark"
        | "ballot_box_with_check" => Some(Verdict::Approve),
        "❌" | "✖️" | "x" | "heavy_multiplication_x" => Some(Verdict::Reject),
        _ => None,
    }
}

/// 💤 snoozes a reminder.
pub fn is_snooze(emoji: &str) -> bool {
    matches!(emoji.trim().trim_matches(':'), "💤" | "zzz" | "sleeping")
}
