//! Discord with serenity: the gateway (or the HTTP interactions endpoint) in, embeds out.

pub mod embeds;
mod inbound;

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::Context as _;
use async_trait::async_trait;
use secrecy::ExposeSecret;
use serenity::http::{Http, HttpBuilder};
use serenity::model::id::{ChannelId, MessageId};

pub use inbound::{Gateway, Inbound, routes};

use crate::chat::outbox::{Outbox, Retry};
use crate::chat::{Person, Platform};
use crate::render::Message;

pub use crate::config::DiscordSettings;

impl Retry for serenity::Error {
    fn rate_limited(&self) -> Option<Duration> {
        match self {
            // serenity drops the body's retry_after when its ratelimiter is off (behind
            // DISCORD_API_URL); Discord's buckets reset within a second or two.
            serenity::Error::Http(serenity::http::HttpError::UnsuccessfulRequest(response))
                if response.status_code.as_u16() == 429 =>
            {
                Some(Duration::from_secs(1))
            }
            _ => None,
        }
    }

    /// serenity drops Discord's retry_after behind a proxy: the 1 s above is a guess that
    /// doubles while 429s keep coming.
    fn wait_is_known(&self) -> bool {
        false
    }

    fn transient(&self) -> bool {
        match self {
            serenity::Error::Http(serenity::http::HttpError::UnsuccessfulRequest(response)) => {
                response.status_code.is_server_error()
            }
            serenity::Error::Http(serenity::http::HttpError::Request(_)) => true,
            _ => false,
        }
    }
}

impl DiscordSettings {
    /// serenity's HTTP client; behind a proxy URL its own ratelimiter must be off, or it
    /// silently talks to discord.com instead.
    pub fn http(&self) -> Arc<Http> {
        Arc::new(self.http_client())
    }

    pub fn http_client(&self) -> Http {
        let builder = HttpBuilder::new(self.token.expose_secret());
        let builder = match &self.api_url {
            Some(url) => builder.proxy(url.clone()).ratelimiter_disabled(true),
            None => builder,
        };
        builder.build()
    }
}

/// The 32 bytes of a hex Ed25519 public key, if it is one.
pub fn public_key_bytes(key: &str) -> Option<[u8; 32]> {
    let bytes = <[u8; 32]>::try_from(hex::decode(key.trim()).ok()?).ok()?;
    serenity::interactions_endpoint::Verifier::try_new(bytes).ok()?;
    Some(bytes)
}

/// An interaction whose token can still answer its user privately.
struct Answerable {
    token: String,
    answered: bool,
    at: Instant,
}

/// Interaction tokens last 15 minutes; keep a margin.
const TOKEN_TTL: Duration = Duration::from_secs(14 * 60);

/// Discord's outbound side: posts, coalesced edits, ephemeral answers.
pub struct DiscordPlatform {
    http: Arc<Http>,
    outbox: Arc<Outbox<serenity::Error>>,
    /// (channel, user id) -> the latest interaction of that user there.
    answerable: Mutex<HashMap<(String, String), Answerable>>,
    /// User id -> display name, for events that carry only an id.
    names: Mutex<HashMap<u64, (String, Instant)>>,
    /// Times the application commands were compared with Discord's (and registered if
    /// they differed) since start.
    pub(crate) commands_checked: std::sync::atomic::AtomicU64,
}

/// How long a display name is trusted.
const NAME_TTL: Duration = Duration::from_secs(3600);

fn channel_id(channel: &str) -> anyhow::Result<ChannelId> {
    channel
        .parse::<u64>()
        .ok()
        .filter(|id| *id > 0)
        .map(ChannelId::new)
        .ok_or_else(|| anyhow::anyhow!("`{channel}` is not a Discord channel id"))
}

impl DiscordPlatform {
    pub fn new(settings: &DiscordSettings) -> Arc<DiscordPlatform> {
        Arc::new(DiscordPlatform {
            http: settings.http(),
            outbox: Outbox::new(settings.limits),
            answerable: Mutex::new(HashMap::new()),
            names: Mutex::new(HashMap::new()),
            commands_checked: std::sync::atomic::AtomicU64::new(0),
        })
    }

    pub fn http(&self) -> Arc<Http> {
        self.http.clone()
    }

    /// Times the application commands were compared with Discord's since start.
    pub fn commands_checked(&self) -> u64 {
        self.commands_checked
            .load(std::sync::atomic::Ordering::SeqCst)
    }

    /// Outbound calls waiting or under way, and edits not yet sent (0: all said).
    pub fn outbound_busy(&self) -> usize {
        self.outbox.busy()
    }

    /// 429s honoured so far.
    pub fn rate_limit_waits(&self) -> u64 {
        self.outbox.waits.load(std::sync::atomic::Ordering::Relaxed)
    }

    /// The person behind a user id, named from `GET /users/{id}` (cached; the id when
    /// Discord can't say).
    pub async fn person(&self, user_id: u64) -> Person {
        let cached = self.names.lock().ok().and_then(|names| {
            names
                .get(&user_id)
                .filter(|(_, at)| at.elapsed() < NAME_TTL)
                .map(|(n, _)| n.clone())
        });
        let name = match cached {
            Some(name) => name,
            None => {
                let found = self
                    .outbox
                    .send(None, || {
                        self.http
                            .get_user(serenity::model::id::UserId::new(user_id))
                    })
                    .await;
                let name = match found {
                    Ok(user) => user.global_name.clone().unwrap_or(user.name),
                    Err(error) => {
                        tracing::warn!(user_id, %error, "could not look up a Discord user; using the id");
                        user_id.to_string()
                    }
                };
                if let Ok(mut names) = self.names.lock() {
                    names.insert(user_id, (name.clone(), Instant::now()));
                }
                name
            }
        };
        Person {
            id: format!("discord:{user_id}"),
            name,
        }
    }

    /// Remembers an interaction so answers meant for its user alone can use its token.
    pub fn answerable(&self, channel: &str, user: &str, token: &str, answered: bool) {
        if let Ok(mut map) = self.answerable.lock() {
            map.retain(|_, a| a.at.elapsed() < TOKEN_TTL);
            map.insert(
                (channel.to_owned(), user.to_owned()),
                Answerable {
                    token: token.to_owned(),
                    answered,
                    at: Instant::now(),
                },
            );
        }
    }

    /// Completes a deferred interaction that got no private answer.
    pub async fn finish(&self, channel: &str, user: &str, text: &str) {
        let token = {
            let Ok(mut map) = self.answerable.lock() else {
                return;
            };
            match map.get_mut(&(channel.to_owned(), user.to_owned())) {
                Some(a) if !a.answered => {
                    a.answered = true;
                    a.token.clone()
                }
                _ => return,
            }
        };
        let body = serde_json::json!({ "content": text, "allowed_mentions": { "parse": [] } });
        let sent = self
            .outbox
            .send(None, || {
                self.http
                    .edit_original_interaction_response(&token, &body, Vec::new())
            })
            .await;
        if let Err(error) = sent {
            tracing::warn!(%error, "could not complete the Discord interaction");
        }
    }
}

#[async_trait]
impl Platform for DiscordPlatform {
    fn name(&self) -> &'static str {
        "discord"
    }

    async fn post(&self, channel: &str, message: &Message) -> anyhow::Result<(String, String)> {
        let id = channel_id(channel)?;
        let body = embeds::content(message, None);
        let posted = self
            .outbox
            .send(Some(channel), || {
                self.http.send_message(id, Vec::new(), &body)
            })
            .await
            .with_context(|| format!("posting to Discord channel {channel}"))?;
        Ok((
            posted.channel_id.get().to_string(),
            posted.id.get().to_string(),
        ))
    }

    async fn edit(&self, channel: &str, message_id: &str, message: &Message) -> anyhow::Result<()> {
        let id = channel_id(channel)?;
        let message_id = MessageId::new(
            message_id
                .parse::<u64>()
                .ok()
                .filter(|&n| n != 0)
                .with_context(|| format!("`{message_id}` is not a Discord message id"))?,
        );
        let body = embeds::content(message, None);
        self.outbox
            .send(Some(channel), || {
                self.http.edit_message(id, message_id, &body, Vec::new())
            })
            .await
            .context("editing the Discord message")?;
        Ok(())
    }

    fn stats(&self) -> (u64, u64) {
        use std::sync::atomic::Ordering::Relaxed;
        (
            self.outbox.calls.load(Relaxed),
            self.outbox.waits.load(Relaxed),
        )
    }

    /// Privately through the person's latest interaction here when its token still
    /// works; otherwise a channel message that mentions them.
    async fn whisper(&self, channel: &str, user: &Person, message: &Message) -> anyhow::Result<()> {
        let Some(user_id) = user.id.strip_prefix("discord:") else {
            anyhow::bail!("{} is not a Discord user", user.id);
        };
        let slot = self.answerable.lock().ok().and_then(|mut map| {
            let key = (channel.to_owned(), user_id.to_owned());
            let entry = map.get_mut(&key).filter(|a| a.at.elapsed() < TOKEN_TTL)?;
            let first = !entry.answered;
            entry.answered = true;
            Some((entry.token.clone(), first))
        });
        match slot {
            Some((token, first)) => {
                let mut body = embeds::content(message, None);
                body["flags"] = serde_json::json!(64);
                let result = if first {
                    self.outbox
                        .send(None, || {
                            self.http
                                .edit_original_interaction_response(&token, &body, Vec::new())
                        })
                        .await
                } else {
                    self.outbox
                        .send(None, || {
                            self.http.create_followup_message(&token, &body, Vec::new())
                        })
                        .await
                };
                result.context("answering the Discord interaction")?;
            }
            None => {
                let id = channel_id(channel)?;
                let body = embeds::content(message, Some(user_id));
                self.outbox
                    .send(Some(channel), || {
                        self.http.send_message(id, Vec::new(), &body)
                    })
                    .await
                    .context("posting to Discord")?;
            }
        }
        Ok(())
    }
}
