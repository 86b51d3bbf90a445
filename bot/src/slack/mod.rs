//! Slack with slack-morphism: Socket Mode or HTTP mode in, Block Kit out.

pub mod blocks;
mod inbound;

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::Context as _;
use async_trait::async_trait;
use secrecy::ExposeSecret;
use slack_morphism::errors::SlackClientError;
use slack_morphism::prelude::*;

pub use crate::chat::outbox::Limits;
pub use inbound::{Inbound, routes, start_socket_mode};

use crate::chat::outbox::{Outbox, Retry};
use crate::chat::{Person, Platform};
use crate::render::Message;

pub use crate::config::SlackSettings;

impl Retry for SlackClientError {
    fn rate_limited(&self) -> Option<Duration> {
        match self {
            SlackClientError::RateLimitError(limited) => {
                Some(limited.retry_after.unwrap_or(Duration::from_secs(1)))
            }
            _ => None,
        }
    }

    fn transient(&self) -> bool {
        matches!(
            self,
            SlackClientError::HttpError(_)
                | SlackClientError::HttpProtocolError(_)
                | SlackClientError::SystemError(_)
        )
    }
}

/// The Slack client type deckhand uses everywhere.
pub type Client = SlackClient<SlackClientHyperHttpsConnector>;

/// A client for `api_url` (https, or plain http for proxies and tests), on rustls.
pub fn client(api_url: Option<&str>) -> anyhow::Result<Arc<Client>> {
    let builder = hyper_rustls::HttpsConnectorBuilder::new();
    let builder = match builder.with_native_roots() {
        Ok(with_roots) => with_roots,
        // Without CA certificates only a plain-http SLACK_API_URL can work.
        Err(e) if api_url.is_some_and(|u| u.starts_with("http://")) => {
            tracing::debug!(error = %e, "no native CA roots; plain http only");
            hyper_rustls::HttpsConnectorBuilder::new().with_tls_config(
                rustls::ClientConfig::builder_with_provider(Arc::new(
                    rustls::crypto::ring::default_provider(),
                ))
                .with_safe_default_protocol_versions()
                .context("TLS setup")?
                .with_root_certificates(rustls::RootCertStore::empty())
                .with_no_client_auth(),
            )
        }
        Err(e) => {
            return Err(anyhow::anyhow!(
                "no CA certificates to reach Slack over https: {e}"
            ));
        }
    };
    let https = builder
        .https_or_http()
        .enable_http1()
        .enable_http2()
        .build();
    let mut connector = SlackClientHyperConnector::with_connector(https);
    if let Some(url) = api_url {
        connector = connector.with_slack_api_url(url);
    }
    Ok(Arc::new(SlackClient::new(connector)))
}

/// Slack's outbound side: posts, coalesced edits, ephemeral answers, display names.
pub struct SlackPlatform {
    client: Arc<Client>,
    token: SlackApiToken,
    outbox: Arc<Outbox<SlackClientError>>,
    names: Mutex<HashMap<String, (String, Instant)>>,
    /// One `users.info` in flight per person: a flood from one person waits for the
    /// first lookup and reads its answer, instead of asking Slack again each time.
    lookups: Mutex<HashMap<String, Arc<tokio::sync::Mutex<()>>>>,
    /// Channel name (`#deploys`) -> its id, from `conversations.list` at start or from
    /// the first post there: every later call, and the per-channel limit, use the id.
    channels: Mutex<HashMap<String, String>>,
}

/// A channel as the bot sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SeenChannel {
    pub id: String,
    pub name: String,
    pub private: bool,
    /// Whether the bot is in it: Slack sends reaction events only from channels it is in.
    pub member: bool,
}

/// At most this many pages of `conversations.list` (1,000 channels each) are read.
const MAX_CHANNEL_PAGES: usize = 20;

/// How long a display name is trusted.
const NAME_TTL: Duration = Duration::from_secs(3600);

/// The most display names kept.
const NAMES: usize = 10_000;

impl SlackPlatform {
    pub fn new(settings: &SlackSettings) -> anyhow::Result<Arc<SlackPlatform>> {
        Ok(Arc::new(SlackPlatform {
            client: client(settings.api_url.as_deref())?,
            token: SlackApiToken::new(settings.bot_token.expose_secret().into()),
            outbox: Outbox::new(settings.limits),
            names: Mutex::new(HashMap::new()),
            lookups: Mutex::new(HashMap::new()),
            channels: Mutex::new(HashMap::new()),
        }))
    }

    /// The id for a configured channel (`#deploys` or `C…`), when it is known.
    fn id_of(&self, channel: &str) -> String {
        self.channels
            .lock()
            .ok()
            .and_then(|ids| ids.get(channel).cloned())
            .unwrap_or_else(|| channel.to_owned())
    }

    /// Every channel the bot can see (`conversations.list`, public and private, not
    /// archived), remembering the ids of the names. Needs the `channels:read` scope (and
    /// `groups:read` for private channels); without it, names resolve at their first post.
    pub async fn list_channels(&self) -> anyhow::Result<Vec<SeenChannel>> {
        let session = self.client.open_session(&self.token);
        let mut seen = Vec::new();
        let mut cursor: Option<SlackCursorId> = None;
        for _ in 0..MAX_CHANNEL_PAGES {
            let request = SlackApiConversationsListRequest::new()
                .with_limit(1000)
                .with_exclude_archived(true)
                .with_types(vec![
                    SlackConversationType::Public,
                    SlackConversationType::Private,
                ]);
            let request = match &cursor {
                Some(cursor) => request.with_cursor(cursor.clone()),
                None => request,
            };
            let page = self
                .outbox
                .send(None, || session.conversations_list(&request))
                .await
                .context("conversations.list")?;
            for channel in page.channels {
                let Some(name) = channel.name.clone() else {
                    continue;
                };
                seen.push(SeenChannel {
                    id: channel.id.0.clone(),
                    name,
                    private: channel.flags.is_private.unwrap_or(false),
                    member: channel.flags.is_member.unwrap_or(false),
                });
            }
            cursor = page
                .response_metadata
                .and_then(|m| m.next_cursor)
                .filter(|c| !c.0.is_empty());
            if cursor.is_none() {
                break;
            }
        }
        if let Ok(mut ids) = self.channels.lock() {
            for channel in &seen {
                ids.insert(format!("#{}", channel.name), channel.id.clone());
            }
        }
        Ok(seen)
    }

    /// Who the bot token belongs to (`auth.test`): the workspace and the bot's user id.
    pub async fn whoami(&self) -> anyhow::Result<(String, String)> {
        let session = self.client.open_session(&self.token);
        let me = self
            .outbox
            .send(None, || session.auth_test())
            .await
            .context("auth.test")?;
        Ok((me.team, me.user_id.0))
    }

    pub fn client(&self) -> Arc<Client> {
        self.client.clone()
    }

    /// Outbound calls waiting or under way, and edits not yet sent (0: all said).
    pub fn outbound_busy(&self) -> usize {
        self.outbox.busy()
    }

    /// 429s honoured so far.
    pub fn rate_limit_waits(&self) -> u64 {
        self.outbox.waits.load(std::sync::atomic::Ordering::Relaxed)
    }

    fn content(message: &Message) -> anyhow::Result<SlackMessageContent> {
        serde_json::from_value(blocks::content(message))
            .context("Block Kit the SDK does not accept")
    }

    /// A display name looked up less than an hour ago.
    fn cached_name(&self, user_id: &str) -> Option<String> {
        self.names.lock().ok().and_then(|names| {
            names
                .get(user_id)
                .filter(|(_, at)| at.elapsed() < NAME_TTL)
                .map(|(n, _)| n.clone())
        })
    }

    /// Asks `users.info` (under the outbound limits) and remembers the answer; the id
    /// when Slack can't say.
    async fn look_up(&self, user_id: &str) -> String {
        let session = self.client.open_session(&self.token);
        let request = SlackApiUsersInfoRequest::new(SlackUserId(user_id.to_owned()));
        let found = self
            .outbox
            .send(None, || session.users_info(&request))
            .await;
        let name = match found {
            Ok(response) => {
                let user = response.user;
                user.profile
                    .as_ref()
                    .and_then(|p| p.display_name.clone().filter(|n| !n.is_empty()))
                    .or_else(|| user.real_name.clone().filter(|n| !n.is_empty()))
                    .or(user.name.clone())
                    .unwrap_or_else(|| user_id.to_owned())
            }
            Err(error) => {
                tracing::warn!(%user_id, %error, "users.info failed; using the id");
                user_id.to_owned()
            }
        };
        if let Ok(mut names) = self.names.lock() {
            // Bounded: past NAMES people, the expired go, then the oldest.
            if names.len() >= NAMES {
                names.retain(|_, (_, at)| at.elapsed() < NAME_TTL);
                if names.len() >= NAMES
                    && let Some(oldest) = names
                        .iter()
                        .min_by_key(|(_, (_, at))| *at)
                        .map(|(id, _)| id.clone())
                {
                    names.remove(&oldest);
                }
            }
            names.insert(user_id.to_owned(), (name.clone(), Instant::now()));
        }
        name
    }

    /// The person behind a Slack user id, with a display name from `users.info` (cached
    /// for an hour, one lookup at a time per person; the id when Slack can't say).
    pub async fn person(&self, user_id: &str) -> Person {
        let name = match self.cached_name(user_id) {
            Some(name) => name,
            None => {
                let gate = self
                    .lookups
                    .lock()
                    .map(|mut lookups| lookups.entry(user_id.to_owned()).or_default().clone())
                    .unwrap_or_default();
                let _turn = gate.lock().await;
                // Whoever held the turn before may have looked them up already.
                let name = match self.cached_name(user_id) {
                    Some(name) => name,
                    None => self.look_up(user_id).await,
                };
                if let Ok(mut lookups) = self.lookups.lock() {
                    lookups.remove(user_id);
                }
                name
            }
        };
        Person {
            id: format!("slack:{user_id}"),
            name,
        }
    }
}

#[async_trait]
impl Platform for SlackPlatform {
    fn name(&self) -> &'static str {
        "slack"
    }

    async fn post(&self, channel: &str, message: &Message) -> anyhow::Result<(String, String)> {
        let target = self.id_of(channel);
        let request = SlackApiChatPostMessageRequest::new(
            SlackChannelId(target.clone()),
            Self::content(message)?,
        );
        let session = self.client.open_session(&self.token);
        let response = self
            .outbox
            .send(Some(&target), || session.chat_post_message(&request))
            .await
            .with_context(|| format!("chat.postMessage to {channel}"))?;
        // The id, not the name it was posted by: `chat.update` takes only ids, and
        // later posts by the name use it too (one rate limit per channel).
        if response.channel.0 != target
            && let Ok(mut ids) = self.channels.lock()
        {
            ids.insert(channel.to_owned(), response.channel.0.clone());
        }
        Ok((response.channel.0, response.ts.0))
    }

    async fn edit(&self, channel: &str, message_id: &str, message: &Message) -> anyhow::Result<()> {
        let request = SlackApiChatUpdateRequest::new(
            SlackChannelId(channel.to_owned()),
            Self::content(message)?,
            SlackTs(message_id.to_owned()),
        );
        let session = self.client.open_session(&self.token);
        self.outbox
            .send(Some(channel), || session.chat_update(&request))
            .await
            .with_context(|| format!("chat.update in {channel}"))?;
        Ok(())
    }

    fn stats(&self) -> (u64, u64) {
        use std::sync::atomic::Ordering::Relaxed;
        (
            self.outbox.calls.load(Relaxed),
            self.outbox.waits.load(Relaxed),
        )
    }

    /// Always `chat.postEphemeral`: a slash command's quick answers already rode in its
    /// acknowledgement, so `reply` adds nothing here.
    async fn whisper(
        &self,
        channel: &str,
        user: &Person,
        _reply: Option<&str>,
        message: &Message,
    ) -> anyhow::Result<()> {
        let Some(user_id) = user.id.strip_prefix("slack:") else {
            anyhow::bail!("{} is not a Slack user", user.id);
        };
        let channel = self.id_of(channel);
        let request = SlackApiChatPostEphemeralRequest::new(
            SlackChannelId(channel.clone()),
            SlackUserId(user_id.to_owned()),
            Self::content(message)?,
        );
        let session = self.client.open_session(&self.token);
        self.outbox
            .send(Some(&channel), || session.chat_post_ephemeral(&request))
            .await
            .with_context(|| format!("chat.postEphemeral to {channel}"))?;
        Ok(())
    }
}
