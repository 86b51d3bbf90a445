//! Slack in: slash commands, app mentions, reactions and button clicks, from Socket Mode
//! or from signed HTTP requests, acknowledged at once and handled after.

use std::sync::Arc;

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::{Extension, Json, Router};
use secrecy::ExposeSecret;
use slack_morphism::errors::SlackClientError;
use slack_morphism::prelude::*;

use super::{SlackPlatform, SlackSettings, blocks};
use crate::chat::{Event, Person};
use crate::dispatch::NotStored;
use crate::jobs::Engine;

/// What inbound handlers share.
#[derive(Clone)]
pub struct Inbound {
    pub engine: Arc<Engine>,
    pub slack: Arc<SlackPlatform>,
}

/// The acknowledgement that is the answer.
fn answer(text: &str) -> SlackCommandEventResponse {
    SlackCommandEventResponse::new(SlackMessageContent::new().with_text(text.to_owned()))
        .with_response_type(SlackMessageResponseType::Ephemeral)
}

/// The account a stored event is from (`slack:U…`).
fn unnamed_id(event: &Event) -> String {
    let (Event::Command { user, .. } | Event::Reaction { user, .. }) = event;
    user.id.clone()
}

/// The acknowledgement of a command that gave no quick answer: the parse error, or "on
/// it". Pure and fast: it never waits on the database or a step.
fn ack(text: &str) -> SlackCommandEventResponse {
    let answer = match deckhand_commands::parse(text) {
        Ok(command) => format!("⏳ on it: `{command}`"),
        Err(error) => error.render(),
    };
    SlackCommandEventResponse::new(SlackMessageContent::new().with_text(answer))
        .with_response_type(SlackMessageResponseType::Ephemeral)
}

fn command_text(event: &SlackCommandEvent) -> String {
    let text = format!(
        "{} {}",
        event.command.0,
        event.text.as_deref().unwrap_or("")
    );
    unescape(text.trim())
}

/// Slack sends `&`, `<` and `>` typed by people as entities; mentions stay `<@U…>`.
fn unescape(text: &str) -> String {
    text.replace("&lt;", "<")
        .replace("&gt;", ">")
        .replace("&amp;", "&")
}

impl Inbound {
    /// Stores a verified event, then handles it after the acknowledgement, with the
    /// person's display name looked up on the way (never before the ack).
    async fn take(&self, event: Event) -> Result<(), NotStored> {
        let Some(id) = self.engine.receive(&event).await? else {
            return Ok(());
        };
        let me = self.clone();
        tokio::spawn(async move {
            let event = me.named(event).await;
            me.engine.handle_received(id, event).await;
        });
        Ok(())
    }

    /// The event with its person's display name (users.info, cached).
    async fn named(&self, mut event: Event) -> Event {
        let (Event::Command { user, .. } | Event::Reaction { user, .. }) = &mut event;
        let raw = user.id.trim_start_matches("slack:").to_owned();
        *user = self.slack.person(&raw).await;
        event
    }

    /// Stores a verified slash command (unless it did not parse: the ack already said
    /// why) and handles it, for at most [`ACK_WINDOW`](crate::chat::reply::ACK_WINDOW): the private answers it gives its
    /// author by then (status, help, a refusal, "job #12 is waiting for approval") are
    /// returned for the acknowledgement itself. Work that takes longer goes on after the
    /// ack, and its answers go through the outbox.
    async fn command(&self, event: SlackCommandEvent) -> Result<Vec<String>, NotStored> {
        let text = command_text(&event);
        if deckhand_commands::parse(&text).is_err() {
            return Ok(Vec::new());
        }
        let event = Event::Command {
            platform: "slack".into(),
            channel: event.channel_id.0,
            user: unnamed(&event.user_id.0),
            text,
            event_id: Some(format!("command:{}", event.trigger_id.0)),
        };
        let Some(id) = self.engine.receive(&event).await? else {
            return Ok(Vec::new());
        };
        let me = self.clone();
        let author = unnamed_id(&event);
        let answered = crate::chat::reply::within_window(&author, async move {
            let event = me.named(event).await;
            me.engine.handle_received(id, event).await;
        })
        .await;
        Ok(answered.answers)
    }

    async fn push(&self, callback: SlackPushEventCallback) -> Result<(), NotStored> {
        let event_id = callback.event_id.0.clone();
        let event = match callback.event {
            SlackEventCallbackBody::AppMention(mention) => {
                let Some(text) = mention.content.text.as_deref().map(unescape) else {
                    return Ok(());
                };
                Event::Command {
                    platform: "slack".into(),
                    channel: mention.channel.0,
                    user: unnamed(&mention.user.0),
                    text,
                    event_id: Some(event_id),
                }
            }
            SlackEventCallbackBody::ReactionAdded(r) => {
                match reaction(r.user, r.reaction, r.item, true, event_id) {
                    Some(event) => event,
                    None => return Ok(()),
                }
            }
            SlackEventCallbackBody::ReactionRemoved(r) => {
                match reaction(r.user, r.reaction, r.item, false, event_id) {
                    Some(event) => event,
                    None => return Ok(()),
                }
            }
            _ => return Ok(()),
        };
        self.take(event).await
    }

    /// Approve / Reject / Cancel buttons become the commands they stand for, so the
    /// same rules apply.
    async fn interaction(&self, event: SlackInteractionEvent) -> Result<(), NotStored> {
        let SlackInteractionEvent::BlockActions(actions) = event else {
            return Ok(());
        };
        let (Some(user), Some(list)) = (actions.user, actions.actions) else {
            return Ok(());
        };
        let channel = match (&actions.container, &actions.channel) {
            (SlackInteractionActionContainer::Message(m), _) if m.channel_id.is_some() => {
                m.channel_id.clone().map(|c| c.0)
            }
            (_, Some(channel)) => Some(channel.id.0.clone()),
            _ => None,
        };
        let Some(channel) = channel else {
            return Ok(());
        };
        for action in list {
            let verb = match action.action_id.0.as_str() {
                blocks::APPROVE => "approve",
                blocks::REJECT => "reject",
                blocks::CANCEL => "cancel",
                _ => continue,
            };
            let Some(job) = action
                .value
                .filter(|v| v.chars().all(|c| c.is_ascii_digit()))
            else {
                continue;
            };
            let event_id = format!(
                "action:{}:{}",
                actions.trigger_id.0,
                action
                    .action_ts
                    .as_ref()
                    .map(|t| t.0.as_str())
                    .unwrap_or(&job)
            );
            self.take(Event::Command {
                platform: "slack".into(),
                channel: channel.clone(),
                user: unnamed(&user.id.0),
                text: format!("/{verb} {job}"),
                event_id: Some(event_id),
            })
            .await?;
        }
        Ok(())
    }
}

/// A person known so far only by id; `Inbound::named` looks the name up.
fn unnamed(user_id: &str) -> Person {
    Person {
        id: format!("slack:{user_id}"),
        name: user_id.to_owned(),
    }
}

/// A reaction on a message (files are not deckhand's business).
fn reaction(
    user: SlackUserId,
    emoji: SlackReactionName,
    item: SlackReactionsItem,
    added: bool,
    event_id: String,
) -> Option<Event> {
    let SlackReactionsItem::Message(message) = item else {
        return None;
    };
    Some(Event::Reaction {
        platform: "slack".into(),
        channel: message.origin.channel?.0,
        message_id: message.origin.ts.0,
        user: unnamed(&user.0),
        emoji: emoji.0,
        added,
        event_id: Some(event_id),
    })
}

// ---- HTTP mode ----

/// `/slack/commands`, `/slack/events`, `/slack/interactivity`, each behind
/// slack-morphism's signature check (v0 HMAC, 5-minute window), which runs before
/// anything is parsed.
pub fn routes(inbound: Inbound, settings: &SlackSettings) -> Option<Router> {
    let secret = SlackSigningSecret::new(settings.signing_secret.as_ref()?.expose_secret().into());
    let environment = Arc::new(
        SlackClientEventsListenerEnvironment::new(inbound.slack.client())
            .with_error_handler(refused),
    );
    let listener = SlackEventsAxumListener::new(environment);
    Some(
        Router::new()
            .route(
                "/slack/commands",
                axum::routing::post(http_command).layer(
                    listener
                        .events_layer(&secret)
                        .with_event_extractor(SlackEventsExtractors::command_event()),
                ),
            )
            .route(
                "/slack/events",
                axum::routing::post(http_push).layer(
                    listener
                        .events_layer(&secret)
                        .with_event_extractor(SlackEventsExtractors::push_event()),
                ),
            )
            .route(
                "/slack/interactivity",
                axum::routing::post(http_interaction).layer(
                    listener
                        .events_layer(&secret)
                        .with_event_extractor(SlackEventsExtractors::interaction_event()),
                ),
            )
            .with_state(inbound),
    )
}

/// Bad or missing signatures and stale timestamps: 401, nothing else happens.
fn refused(
    error: Box<dyn std::error::Error + Send + Sync>,
    _client: Arc<SlackHyperClient>,
    _state: SlackClientEventsUserState,
) -> StatusCode {
    tracing::warn!(%error, "refused a Slack request");
    if error
        .downcast_ref::<SlackClientError>()
        .is_some_and(|e| matches!(e, SlackClientError::ProtocolError(_)))
    {
        StatusCode::BAD_REQUEST
    } else {
        StatusCode::UNAUTHORIZED
    }
}

async fn http_command(
    State(inbound): State<Inbound>,
    Extension(event): Extension<SlackCommandEvent>,
) -> Json<SlackCommandEventResponse> {
    let text = command_text(&event);
    // Slack never retries a slash command: if it cannot be stored, say so in the ack.
    match inbound.command(event).await {
        Ok(answers) if !answers.is_empty() => Json(answer(&answers.join("\n\n"))),
        Ok(_) => Json(ack(&text)),
        Err(error) => Json(not_stored(&text, &error)),
    }
}

/// The ack of a command deckhand could not store: nothing was done.
fn not_stored(text: &str, error: &NotStored) -> SlackCommandEventResponse {
    if error.is_busy() {
        // Shed in the cheapest honest way: a 200 that says so (Slack does not retry).
        tracing::warn!("busy: a slash command was turned away");
        return answer(
            "⏳ deckhand is busy right now and did not take this command; nothing was done. Try again in a minute.",
        );
    }
    tracing::error!(%error, "a slash command could not be stored");
    let answer = format!(
        "⚠️ deckhand could not record `{}` (its database did not answer); nothing was done. Try again in a minute.",
        deckhand_commands::without_credentials(text)
    );
    SlackCommandEventResponse::new(SlackMessageContent::new().with_text(answer))
        .with_response_type(SlackMessageResponseType::Ephemeral)
}

async fn http_push(
    State(inbound): State<Inbound>,
    Extension(event): Extension<SlackPushEvent>,
) -> Response {
    match event {
        // Slack checks the URL before it sends anything else.
        SlackPushEvent::UrlVerification(verification) => verification.challenge.into_response(),
        // Not stored: 503, and Slack delivers it again.
        SlackPushEvent::EventCallback(callback) => match inbound.push(callback).await {
            Ok(()) => StatusCode::OK.into_response(),
            Err(error) => {
                tracing::error!(%error, "a Slack event could not be stored");
                StatusCode::SERVICE_UNAVAILABLE.into_response()
            }
        },
        SlackPushEvent::AppRateLimited(limited) => {
            tracing::warn!(?limited, "Slack is rate-limiting deckhand's events");
            StatusCode::OK.into_response()
        }
    }
}

async fn http_interaction(
    State(inbound): State<Inbound>,
    Extension(event): Extension<SlackInteractionEvent>,
) -> StatusCode {
    match inbound.interaction(event).await {
        Ok(()) => StatusCode::OK,
        Err(error) => {
            tracing::error!(%error, "a Slack button click could not be stored");
            StatusCode::SERVICE_UNAVAILABLE
        }
    }
}

// ---- Socket Mode ----

/// Connects with the app token; slack-morphism reconnects by itself after `disconnect`
/// messages and dropped sockets (each hello is logged).
pub async fn start_socket_mode(
    inbound: Inbound,
    settings: &SlackSettings,
) -> anyhow::Result<Option<Arc<SlackClientSocketModeListener<SlackClientHyperHttpsConnector>>>> {
    let Some(app_token) = &settings.app_token else {
        return Ok(None);
    };
    let callbacks = SlackSocketModeListenerCallbacks::new()
        .with_hello_events(socket_hello)
        .with_command_events(socket_command)
        .with_push_events(socket_push)
        .with_interaction_events(socket_interaction);
    let environment = Arc::new(
        SlackClientEventsListenerEnvironment::new(inbound.slack.client())
            .with_error_handler(socket_error)
            .with_user_state(inbound),
    );
    let listener = Arc::new(SlackClientSocketModeListener::new(
        &SlackClientSocketModeConfig::new().with_max_connections_count(1),
        environment,
        callbacks,
    ));
    let token = SlackApiToken::new(app_token.expose_secret().into());
    listener
        .listen_for(&token)
        .await
        .map_err(|e| anyhow::anyhow!("cannot open a Slack Socket Mode connection: {e}"))?;
    listener.start().await;
    Ok(Some(listener))
}

async fn inbound_of(state: &SlackClientEventsUserState) -> Option<Inbound> {
    state.read().await.get_user_state::<Inbound>().cloned()
}

async fn socket_hello<S>(
    _event: S,
    _client: Arc<SlackHyperClient>,
    _state: SlackClientEventsUserState,
) {
    tracing::info!("connected to Slack (Socket Mode)");
}

async fn socket_command(
    event: SlackCommandEvent,
    _client: Arc<SlackHyperClient>,
    state: SlackClientEventsUserState,
) -> UserCallbackResult<SlackCommandEventResponse> {
    let text = command_text(&event);
    match inbound_of(&state).await {
        Some(inbound) => match inbound.command(event).await {
            Ok(answers) if !answers.is_empty() => Ok(answer(&answers.join("\n\n"))),
            Ok(_) => Ok(ack(&text)),
            Err(error) => Ok(not_stored(&text, &error)),
        },
        None => Ok(ack(&text)),
    }
}

async fn socket_push(
    event: SlackPushEventCallback,
    _client: Arc<SlackHyperClient>,
    state: SlackClientEventsUserState,
) -> UserCallbackResult<()> {
    // An error leaves the envelope unacknowledged, so Slack delivers it again.
    if let Some(inbound) = inbound_of(&state).await {
        inbound.push(event).await?;
    }
    Ok(())
}

async fn socket_interaction(
    event: SlackInteractionEvent,
    _client: Arc<SlackHyperClient>,
    state: SlackClientEventsUserState,
) -> UserCallbackResult<()> {
    if let Some(inbound) = inbound_of(&state).await {
        inbound.interaction(event).await?;
    }
    Ok(())
}

fn socket_error(
    error: Box<dyn std::error::Error + Send + Sync>,
    _client: Arc<SlackHyperClient>,
    _state: SlackClientEventsUserState,
) -> StatusCode {
    tracing::warn!(%error, "a Slack Socket Mode message could not be handled");
    // Not stored: no ack, so Slack delivers the envelope again.
    if error.downcast_ref::<NotStored>().is_some() {
        StatusCode::SERVICE_UNAVAILABLE
    } else {
        StatusCode::OK
    }
}
