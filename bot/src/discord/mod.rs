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
    /// The interaction was deferred and its original response still says "thinking":
    /// the first private answer replaces it; later ones are follow-ups.
    original_open: bool,
    /// The interaction's response has reached Discord: until then its token answers
    /// nothing (Discord: 10015 Unknown Webhook).
    sent: bool,
    at: Instant,
}

/// How long an answer waits for its interaction's response to be sent.
const RESPONSE_WAIT: Duration = Duration::from_secs(3);

/// Interaction tokens last 15 minutes; keep a margin.
const TOKEN_TTL: Duration = Duration::from_secs(14 * 60);

/// Interactions remembered at most: a flood of commands cannot grow the map past this
/// (the oldest go first; their answers fall back to a DM).
const ANSWERABLE_CAP: usize = 10_000;

/// Discord's outbound side: posts, coalesced edits, ephemeral answers.
pub struct DiscordPlatform {
    http: Arc<Http>,
    outbox: Arc<Outbox<serenity::Error>>,
    /// Reply handle (`interaction:ID`, the delivery id its answers carry) -> its token.
    /// Tokens are credentials for 15 minutes, so they live here, never in the store.
    answerable: Mutex<HashMap<String, Answerable>>,
    /// Rung when an interaction's response has been sent.
    responses: tokio::sync::Notify,
    /// User id -> their DM channel, for answers that have no interaction to ride on
    /// (a refused reaction, an answer after a restart).
    dms: Mutex<HashMap<String, ChannelId>>,
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
            responses: tokio::sync::Notify::new(),
            dms: Mutex::new(HashMap::new()),
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

    /// Remembers an interaction whose response is being decided, so answers to it
    /// (their origin carries `handle`) wait for the response and then use its token.
    pub fn expect_answers(&self, handle: &str, token: &str) {
        if let Ok(mut map) = self.answerable.lock() {
            map.retain(|_, a| a.at.elapsed() < TOKEN_TTL);
            if map.len() >= ANSWERABLE_CAP
                && let Some(oldest) = map.iter().min_by_key(|(_, a)| a.at).map(|(k, _)| k.clone())
            {
                map.remove(&oldest);
            }
            map.insert(
                handle.to_owned(),
                Answerable {
                    token: token.to_owned(),
                    original_open: false,
                    sent: false,
                    at: Instant::now(),
                },
            );
        }
    }

    /// The response about to go: `deferred` when it says "thinking" and the first
    /// private answer should replace it.
    pub fn responding(&self, handle: &str, deferred: bool) {
        if let Ok(mut map) = self.answerable.lock()
            && let Some(entry) = map.get_mut(handle)
        {
            entry.original_open = deferred;
        }
    }

    /// The response has been sent (`ok`), or could not be, and the token is useless.
    pub fn responded(&self, handle: &str, ok: bool) {
        if let Ok(mut map) = self.answerable.lock() {
            if ok {
                if let Some(entry) = map.get_mut(handle) {
                    entry.sent = true;
                }
            } else {
                map.remove(handle);
            }
        }
        self.responses.notify_waiters();
    }

    /// The token answering `handle` once its response is out, and whether this answer
    /// replaces the deferred original (which it then closes). `None` for an
    /// interaction deckhand does not know (expired, or from before a restart), and,
    /// with `original_only`, for one whose original was already replaced.
    async fn answer_slot(&self, handle: &str, original_only: bool) -> Option<(String, bool)> {
        let deadline = tokio::time::Instant::now() + RESPONSE_WAIT;
        loop {
            let rung = self.responses.notified();
            {
                let mut map = self.answerable.lock().ok()?;
                let entry = map.get_mut(handle).filter(|a| a.at.elapsed() < TOKEN_TTL)?;
                if entry.sent {
                    if original_only && !entry.original_open {
                        return None;
                    }
                    let first = std::mem::replace(&mut entry.original_open, false);
                    return Some((entry.token.clone(), first));
                }
            }
            if tokio::time::timeout_at(deadline, rung).await.is_err() {
                return None;
            }
        }
    }

    /// Completes a deferred interaction that got no private answer.
    pub async fn finish(&self, handle: &str, text: &str) {
        let Some((token, _)) = self.answer_slot(handle, true).await else {
            return;
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

    /// Answers through an interaction's token: replacing the deferred original, or as
    /// an ephemeral follow-up.
    async fn through_interaction(
        &self,
        token: &str,
        first: bool,
        message: &Message,
    ) -> Result<(), serenity::Error> {
        let mut body = embeds::content(message, None);
        body["flags"] = serde_json::json!(64);
        if first {
            self.outbox
                .send(None, || {
                    self.http
                        .edit_original_interaction_response(token, &body, Vec::new())
                })
                .await
                .map(|_| ())
        } else {
            self.outbox
                .send(None, || {
                    self.http.create_followup_message(token, &body, Vec::new())
                })
                .await
                .map(|_| ())
        }
    }

    /// A direct message to `user_id` (its DM channel opened once and remembered).
    async fn direct(&self, user_id: &str, message: &Message) -> Result<(), serenity::Error> {
        let known = self
            .dms
            .lock()
            .ok()
            .and_then(|dms| dms.get(user_id).copied());
        let dm = match known {
            Some(dm) => dm,
            None => {
                let body = serde_json::json!({ "recipient_id": user_id });
                let opened = self
                    .outbox
                    .send(None, || self.http.create_private_channel(&body))
                    .await?;
                if let Ok(mut dms) = self.dms.lock() {
                    if dms.len() >= ANSWERABLE_CAP {
                        dms.clear();
                    }
                    dms.insert(user_id.to_owned(), opened.id);
                }
                opened.id
            }
        };
        let body = embeds::content(message, None);
        let key = dm.get().to_string();
        self.outbox
            .send(Some(&key), || self.http.send_message(dm, Vec::new(), &body))
            .await
            .map(|_| ())
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

    /// Privately through the interaction `reply` names while its token works;
    /// otherwise a DM; and when the person takes no DMs from the bot, a channel message
    /// that mentions them (Discord has no private message outside an interaction).
    async fn whisper(
        &self,
        channel: &str,
        user: &Person,
        reply: Option<&str>,
        message: &Message,
    ) -> anyhow::Result<()> {
        let Some(user_id) = user.id.strip_prefix("discord:") else {
            anyhow::bail!("{} is not a Discord user", user.id);
        };
        let slot = match reply {
            Some(handle) => self.answer_slot(handle, false).await,
            None => None,
        };
        if let Some((token, first)) = slot {
            return self
                .through_interaction(&token, first, message)
                .await
                .context("answering the Discord interaction");
        }
        match self.direct(user_id, message).await {
            Ok(()) => return Ok(()),
            Err(error) if error.rate_limited().is_none() && !error.transient() => {
                tracing::info!(%error, "could not DM a Discord user; mentioning them in the channel instead");
            }
            Err(error) => return Err(error).context("sending a Discord DM"),
        }
        let id = channel_id(channel)?;
        let body = embeds::content(message, Some(user_id));
        self.outbox
            .send(Some(channel), || {
                self.http.send_message(id, Vec::new(), &body)
            })
            .await
            .context("posting to Discord")?;
        Ok(())
    }
}
