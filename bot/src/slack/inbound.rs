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
use crate::chat::Event;
use crate::jobs::Engine;

/// What inbound handlers share.
#[derive(Clone)]
pub struct Inbound {
    pub engine: Arc<Engine>,
    pub slack: Arc<SlackPlatform>,
}

/// The immediate answer to a slash command: the parse error, or "on it". Pure and fast:
/// the 3-second rule never waits on the database or a step.
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
    /// Hands a verified slash command to the engine (unless it did not parse: the ack
    /// already said why).
    fn command(&self, event: SlackCommandEvent) {
        let text = command_text(&event);
        if deckhand_commands::parse(&text).is_err() {
            return;
        }
        let me = self.clone();
        tokio::spawn(async move {
            let user = me.slack.person(&event.user_id.0).await;
            me.engine
                .handle(Event::Command {
                    platform: "slack".into(),
                    channel: event.channel_id.0,
                    user,
                    text,
                    event_id: Some(format!("command:{}", event.trigger_id.0)),
                })
                .await;
        });
    }

    fn push(&self, callback: SlackPushEventCallback) {
        let event_id = callback.event_id.0.clone();
        let me = self.clone();
        tokio::spawn(async move {
            let event = match callback.event {
                SlackEventCallbackBody::AppMention(mention) => {
                    let Some(text) = mention.content.text.as_deref().map(unescape) else {
                        return;
                    };
                    Event::Command {
                        platform: "slack".into(),
                        channel: mention.channel.0,
                        user: me.slack.person(&mention.user.0).await,
                        text,
                        event_id: Some(event_id),
                    }
                }
                SlackEventCallbackBody::ReactionAdded(r) => {
                    let Some(event) = me
                        .reaction(r.user, r.reaction, r.item, true, event_id)
                        .await
                    else {
                        return;
                    };
                    event
                }
                SlackEventCallbackBody::ReactionRemoved(r) => {
                    let Some(event) = me
                        .reaction(r.user, r.reaction, r.item, false, event_id)
                        .await
                    else {
                        return;
                    };
                    event
                }
                _ => return,
            };
            me.engine.handle(event).await;
        });
    }

    /// A reaction on a message (files are not deckhand's business).
    async fn reaction(
        &self,
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
            user: self.slack.person(&user.0).await,
            emoji: emoji.0,
            added,
            event_id: Some(event_id),
        })
    }

    /// Approve / Reject / Cancel buttons become the commands they stand for, so the
    /// same rules apply.
    fn interaction(&self, event: SlackInteractionEvent) {
        let SlackInteractionEvent::BlockActions(actions) = event else {
            return;
        };
        let (Some(user), Some(list)) = (actions.user, actions.actions) else {
            return;
        };
        let channel = match (&actions.container, &actions.channel) {
            (SlackInteractionActionContainer::Message(m), _) if m.channel_id.is_some() => {
                m.channel_id.clone().map(|c| c.0)
            }
            (_, Some(channel)) => Some(channel.id.0.clone()),
            _ => None,
        };
        let Some(channel) = channel else {
            return;
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
            let me = self.clone();
            let channel = channel.clone();
            let user_id = user.id.0.clone();
            let event_id = format!(
                "action:{}:{}",
                actions.trigger_id.0,
                action
                    .action_ts
                    .as_ref()
                    .map(|t| t.0.as_str())
                    .unwrap_or(&job)
            );
            tokio::spawn(async move {
                let user = me.slack.person(&user_id).await;
                me.engine
                    .handle(Event::Command {
                        platform: "slack".into(),
                        channel,
                        user,
                        text: format!("/{verb} {job}"),
                        event_id: Some(event_id),
                    })
                    .await;
            });
        }
    }
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
    let answer = ack(&command_text(&event));
    inbound.command(event);
    Json(answer)
}

async fn http_push(
    State(inbound): State<Inbound>,
    Extension(event): Extension<SlackPushEvent>,
) -> Response {
    match event {
        // Slack checks the URL before it sends anything else.
        SlackPushEvent::UrlVerification(verification) => verification.challenge.into_response(),
        SlackPushEvent::EventCallback(callback) => {
            inbound.push(callback);
            StatusCode::OK.into_response()
        }
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
    inbound.interaction(event);
    StatusCode::OK
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
    let answer = ack(&command_text(&event));
    if let Some(inbound) = inbound_of(&state).await {
        inbound.command(event);
    }
    Ok(answer)
}

async fn socket_push(
    event: SlackPushEventCallback,
    _client: Arc<SlackHyperClient>,
    state: SlackClientEventsUserState,
) -> UserCallbackResult<()> {
    if let Some(inbound) = inbound_of(&state).await {
        inbound.push(event);
    }
    Ok(())
}

async fn socket_interaction(
    event: SlackInteractionEvent,
    _client: Arc<SlackHyperClient>,
    state: SlackClientEventsUserState,
) -> UserCallbackResult<()> {
    if let Some(inbound) = inbound_of(&state).await {
        inbound.interaction(event);
    }
    Ok(())
}

fn socket_error(
    error: Box<dyn std::error::Error + Send + Sync>,
    _client: Arc<SlackHyperClient>,
    _state: SlackClientEventsUserState,
) -> StatusCode {
    tracing::warn!(%error, "a Slack Socket Mode message could not be handled");
    StatusCode::OK
}
