//! Discord in: application commands, buttons and autocomplete (gateway or the signed HTTP
//! interactions endpoint) and ✅ / ❌ reactions, answered within 3 seconds and handled
//! after. Application commands are registered at start, only when they changed.

use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::{Json, Router};
use deckhand_commands::manifest::{OptionValue, discord_commands, discord_invocation_text};
use serde_json::{Value, json};
use serenity::all::{
    CommandDataOption, CommandDataOptionValue, CommandInteraction, ComponentInteraction, Context,
    CreateAllowedMentions, CreateAutocompleteResponse, CreateInteractionResponse,
    CreateInteractionResponseMessage, EventHandler, GatewayIntents, GuildId, Interaction, Reaction,
    ReactionType, Ready, ResumedEvent, User,
};
use serenity::async_trait;
use serenity::interactions_endpoint::Verifier;

use super::{DiscordPlatform, DiscordSettings, embeds, public_key_bytes};
use crate::chat::{Event, Person};
use crate::dispatch::NotStored;
use crate::jobs::Engine;

/// What inbound handlers share.
#[derive(Clone)]
pub struct Inbound {
    pub engine: Arc<Engine>,
    pub discord: Arc<DiscordPlatform>,
    /// The servers deckhand serves; everything from elsewhere is ignored.
    pub guild_ids: Vec<u64>,
}

/// What someone outside deckhand's servers is told (a stranger's server, or a DM).
const ELSEWHERE: &str = "deckhand isn't set up here: it only answers in its team's Discord server.";

/// Exactly what deckhand listens to: guilds (for commands), reactions in guilds and DMs.
pub fn intents() -> GatewayIntents {
    GatewayIntents::GUILDS
        | GatewayIntents::GUILD_MESSAGE_REACTIONS
        | GatewayIntents::DIRECT_MESSAGE_REACTIONS
}

fn person(user: &User, nick: Option<&str>) -> Person {
    Person {
        id: format!("discord:{}", user.id.get()),
        name: nick
            .map(str::to_owned)
            .or_else(|| user.global_name.clone())
            .unwrap_or_else(|| user.name.clone()),
    }
}

/// Options (recursively through sub-commands) as the command language's Discord mapping
/// wants them.
fn flatten(options: &[CommandDataOption]) -> (Option<String>, Vec<(String, OptionValue)>) {
    let mut sub = None;
    let mut values = Vec::new();
    for option in options {
        match &option.value {
            CommandDataOptionValue::SubCommand(inner)
            | CommandDataOptionValue::SubCommandGroup(inner) => {
                sub = Some(option.name.clone());
                values.extend(flatten(inner).1);
            }
            CommandDataOptionValue::String(s) => {
                values.push((option.name.clone(), OptionValue::Text(s.clone())))
            }
            CommandDataOptionValue::Integer(n) => {
                values.push((option.name.clone(), OptionValue::Integer(*n)))
            }
            CommandDataOptionValue::Boolean(b) => {
                values.push((option.name.clone(), OptionValue::Bool(*b)))
            }
            CommandDataOptionValue::Number(n) => {
                values.push((option.name.clone(), OptionValue::Text(n.to_string())))
            }
            CommandDataOptionValue::User(id) => values.push((
                option.name.clone(),
                OptionValue::Text(format!("<@{}>", id.get())),
            )),
            CommandDataOptionValue::Autocomplete { value, .. } => {
                values.push((option.name.clone(), OptionValue::Text(value.clone())))
            }
            _ => {}
        }
    }
    (sub, values)
}

/// The typed text of an application command, or the chat-sized reason it has none.
fn command_text(command: &CommandInteraction) -> Result<String, String> {
    let (sub, options) = flatten(&command.data.options);
    let text = discord_invocation_text(&command.data.name, sub.as_deref(), &options)
        .map_err(|e| e.to_string())?;
    deckhand_commands::parse(&text)
        .map(|_| text)
        .map_err(|e| e.render())
}

/// An interaction response body, as serenity's builders write it. A response without
/// data (PONG, a deferred update) leaves `data` out, as Discord documents them.
fn response(answer: CreateInteractionResponse) -> Value {
    let mut body = serde_json::to_value(answer).unwrap_or(Value::Null);
    if let Some(fields) = body.as_object_mut()
        && fields.get("data").is_some_and(Value::is_null)
    {
        fields.remove("data");
    }
    body
}

/// An answer only the person sees, that can ping nobody.
fn ephemeral(text: &str) -> Value {
    response(CreateInteractionResponse::Message(
        CreateInteractionResponseMessage::new()
            .content(text)
            .ephemeral(true)
            .allowed_mentions(CreateAllowedMentions::new()),
    ))
}

/// "deckhand is thinking", visible only to the person; the answer follows.
fn deferred_ephemeral() -> Value {
    response(CreateInteractionResponse::Defer(
        CreateInteractionResponseMessage::new().ephemeral(true),
    ))
}

/// A component's click acknowledged; the message is edited later.
fn deferred_update() -> Value {
    response(CreateInteractionResponse::Acknowledge)
}

/// What an interaction asks for, decided before anything is stored.
enum Then {
    /// An answer at once; nothing to store.
    Answer(Value),
    /// A command: stored, then handled inside the acknowledgement window; its quick
    /// private answers are the interaction's response.
    Command { event: Event, token: String },
    /// A button: stored, acknowledged with a silent update, handled after; private
    /// answers go as follow-ups.
    Click { event: Event, token: String },
}

impl Inbound {
    /// What to do with an interaction.
    fn answer(&self, interaction: Interaction) -> Then {
        // Follow-ups go to /webhooks/{application id}/{token}: the HTTP endpoint may be
        // the only place deckhand learns its application id.
        let application = match &interaction {
            Interaction::Command(i) | Interaction::Autocomplete(i) => Some(i.application_id),
            Interaction::Component(i) => Some(i.application_id),
            _ => None,
        };
        if let Some(application) = application
            && self.discord.http().application_id().is_none()
        {
            self.discord.http().set_application_id(application);
        }
        if !matches!(interaction, Interaction::Ping(_)) {
            let guild = match &interaction {
                Interaction::Command(i) | Interaction::Autocomplete(i) => i.guild_id,
                Interaction::Component(i) => i.guild_id,
                Interaction::Modal(i) => i.guild_id,
                _ => None,
            };
            if !self.serves(guild) {
                tracing::info!(guild = ?guild.map(|g| g.get()), "ignored a Discord interaction from outside deckhand's servers");
                return Then::Answer(match interaction {
                    Interaction::Autocomplete(_) => response(
                        CreateInteractionResponse::Autocomplete(CreateAutocompleteResponse::new()),
                    ),
                    _ => ephemeral(ELSEWHERE),
                });
            }
        }
        match interaction {
            Interaction::Ping(_) => Then::Answer(response(CreateInteractionResponse::Pong)),
            Interaction::Command(command) => match command_text(&command) {
                Err(reason) => Then::Answer(ephemeral(&reason)),
                Ok(text) => {
                    let nick = command.member.as_ref().and_then(|m| m.nick.as_deref());
                    let event = Event::Command {
                        platform: "discord".into(),
                        channel: command.channel_id.get().to_string(),
                        user: person(&command.user, nick),
                        text,
                        event_id: Some(format!("interaction:{}", command.id.get())),
                    };
                    Then::Command {
                        event,
                        token: command.token.clone(),
                    }
                }
            },
            Interaction::Autocomplete(command) => Then::Answer(self.autocomplete(&command)),
            Interaction::Component(component) => self.button(&component),
            _ => Then::Answer(deferred_update()),
        }
    }

    /// The interaction's response. A command is stored, then handled for up to the
    /// acknowledgement window: its private answers by then are the response; if it
    /// still runs, the response defers and later answers replace it or follow it. A
    /// command that cannot be stored gets a private answer saying nothing was done
    /// (Discord does not redeliver interactions). `sent` is called once the response
    /// has reached Discord, so answers through its token never race it.
    async fn respond(&self, then: Then) -> (Value, Option<String>) {
        let (event, token, command) = match then {
            Then::Answer(answer) => return (answer, None),
            Then::Command { event, token } => (event, token, true),
            Then::Click { event, token } => (event, token, false),
        };
        // The handle every answer to this event carries (see `Origin::reply`).
        let origin = crate::dispatch::origin_of(&event);
        let handle = origin.reply.unwrap_or_default();
        let text = match &event {
            Event::Command { text, .. } => deckhand_commands::without_credentials(text),
            Event::Reaction { .. } => String::new(),
        };
        let id = match self.engine.receive(&event).await {
            Ok(Some(id)) => id,
            Ok(None) => return (ephemeral(&format!("Already on it: `{text}`.")), None),
            Err(error) if error.is_busy() => {
                tracing::warn!("busy: a Discord interaction was turned away");
                let said = format!(
                    "⏳ deckhand is busy right now and did not take `{text}`; nothing was done. Try again in a minute."
                );
                return (ephemeral(&said), None);
            }
            Err(error) => {
                tracing::error!(%error, "a Discord interaction could not be stored");
                let said = format!(
                    "⚠️ deckhand could not record `{text}` (its database did not answer); nothing was done. Try again in a minute."
                );
                return (ephemeral(&said), None);
            }
        };
        // Answers after the response go through this token, once it has been sent.
        self.discord.expect_answers(&handle, &token);
        if !command {
            let me = self.clone();
            tokio::spawn(async move { me.engine.handle_received(id, event).await });
            self.discord.responding(&handle, false);
            return (deferred_update(), Some(handle));
        }
        let user = origin.user.id;
        let (done, finished) = tokio::sync::oneshot::channel();
        let me = self.clone();
        let answered = crate::chat::reply::within_window(&user, async move {
            me.engine.handle_received(id, event).await;
            let _ = done.send(());
        })
        .await;
        if !answered.answers.is_empty() {
            self.discord.responding(&handle, false);
            return (ephemeral(&answered.answers.join("\n\n")), Some(handle));
        }
        let done = format!("✅ `{text}`: done, see the channel.");
        if answered.finished {
            self.discord.responding(&handle, false);
            return (ephemeral(&done), Some(handle));
        }
        // Still at work: "thinking…" now, replaced by its first private answer, or by
        // "done" when it ends without one.
        self.discord.responding(&handle, true);
        let me = self.clone();
        let later = handle.clone();
        tokio::spawn(async move {
            if finished.await.is_ok() {
                me.discord.finish(&later, &done).await;
            }
        });
        (deferred_ephemeral(), Some(handle))
    }

    /// Env and app options complete from the config.
    fn autocomplete(&self, command: &CommandInteraction) -> Value {
        let (_, options) = flatten(&command.data.options);
        let focused = command
            .data
            .autocomplete()
            .map(|a| (a.name.to_owned(), a.value.to_owned()));
        let (name, typed) = focused.unwrap_or_else(|| {
            (
                options.first().map(|o| o.0.clone()).unwrap_or_default(),
                String::new(),
            )
        });
        let config = self.engine.config();
        let names: Vec<&String> = match name.as_str() {
            "app" => config.apps.keys().collect(),
            _ => config.environments.keys().collect(),
        };
        // Discord takes at most 25 choices.
        let choices = names
            .into_iter()
            .filter(|n| n.starts_with(typed.as_str()))
            .take(25)
            .fold(CreateAutocompleteResponse::new(), |choices, n| {
                choices.add_string_choice(n.as_str(), n.as_str())
            });
        response(CreateInteractionResponse::Autocomplete(choices))
    }

    /// Approve / Reject / Cancel buttons become the commands they stand for.
    fn button(&self, component: &ComponentInteraction) -> Then {
        let verb = match component.data.custom_id.split_once(':') {
            Some((embeds::APPROVE, job)) => Some(("approve", job)),
            Some((embeds::REJECT, job)) => Some(("reject", job)),
            Some((embeds::CANCEL, job)) => Some(("cancel", job)),
            _ => None,
        };
        let Some((verb, job)) = verb.filter(|(_, job)| job.chars().all(|c| c.is_ascii_digit()))
        else {
            return Then::Answer(deferred_update());
        };
        let channel = component.channel_id.get().to_string();
        let nick = component.member.as_ref().and_then(|m| m.nick.as_deref());
        let event = Event::Command {
            platform: "discord".into(),
            channel,
            user: person(&component.user, nick),
            text: format!("/{verb} {job}"),
            event_id: Some(format!("interaction:{}", component.id.get())),
        };
        Then::Click {
            event,
            token: component.token.clone(),
        }
    }

    /// Stores a verified reaction, then handles it.
    async fn take(&self, event: Event) -> Result<(), NotStored> {
        let Some(id) = self.engine.receive(&event).await? else {
            return Ok(());
        };
        let me = self.clone();
        tokio::spawn(async move { me.engine.handle_received(id, event).await });
        Ok(())
    }

    /// Whether deckhand serves this guild (`None`: a DM, which it never does).
    fn serves(&self, guild: Option<GuildId>) -> bool {
        guild.is_some_and(|g| self.guild_ids.contains(&g.get()))
    }

    fn reaction(&self, reaction: &Reaction, added: bool) {
        let ReactionType::Unicode(emoji) = &reaction.emoji else {
            return;
        };
        if !self.serves(reaction.guild_id) {
            tracing::info!(guild = ?reaction.guild_id.map(|g| g.get()), "ignored a Discord reaction from outside deckhand's servers");
            return;
        }
        let Some(user_id) = reaction.user_id else {
            return;
        };
        let member = reaction
            .member
            .as_ref()
            .map(|m| person(&m.user, m.nick.as_deref()));
        let me = self.clone();
        let (channel, message_id, emoji) = (
            reaction.channel_id.get().to_string(),
            reaction.message_id.get().to_string(),
            emoji.clone(),
        );
        tokio::spawn(async move {
            let user = match member {
                Some(user) => user,
                None => me.discord.person(user_id.get()).await,
            };
            let event = Event::Reaction {
                platform: "discord".into(),
                channel,
                message_id,
                user,
                emoji,
                added,
                // The gateway gives reactions no id: the inbox drops a repeat of the same
                // reaction within a short window (a replay after a RESUME, or a second
                // gateway during a failover).
                event_id: None,
            };
            // The gateway has no acknowledgement to withhold; a reaction that cannot be
            // stored is logged and lost, as Discord would lose it with deckhand down.
            if let Err(error) = me.take(event).await {
                tracing::error!(%error, "a Discord reaction could not be stored");
            }
        });
    }

    /// Registers the application commands in each of deckhand's servers, unless
    /// Discord already has exactly these there. Never globally: a global command shows
    /// in every server the bot is invited to.
    async fn register(&self) -> anyhow::Result<()> {
        let http = self.discord.http();
        let wanted = serde_json::to_value(discord_commands())?;
        for &guild in &self.guild_ids {
            let current = http.get_guild_commands(GuildId::new(guild)).await?;
            let current = normalize(&serde_json::to_value(current)?);
            if current == normalize(&wanted) {
                tracing::info!(guild, "Discord application commands are up to date");
                continue;
            }
            http.create_guild_commands(GuildId::new(guild), &wanted)
                .await?;
            tracing::info!(guild, "registered Discord application commands");
        }
        Ok(())
    }
}

/// The parts of command definitions deckhand controls, in a comparable form.
fn normalize(commands: &Value) -> Value {
    fn option(o: &Value) -> Value {
        json!({
            "type": o["type"],
            "name": o["name"],
            "description": o["description"],
            "required": o["required"].as_bool().unwrap_or(false),
            "autocomplete": o["autocomplete"].as_bool().unwrap_or(false),
            "choices": o["choices"].as_array().map(|c| c.iter().map(|c| json!({"name": c["name"], "value": c["value"]})).collect::<Vec<_>>()).unwrap_or_default(),
            "options": o["options"].as_array().map(|list| list.iter().map(option).collect::<Vec<_>>()).unwrap_or_default(),
        })
    }
    let mut list: Vec<Value> = commands
        .as_array()
        .map(|c| {
            c.iter()
                .map(|c| json!({ "name": c["name"], "description": c["description"], "default_member_permissions": c["default_member_permissions"], "options": c["options"].as_array().map(|l| l.iter().map(option).collect::<Vec<_>>()).unwrap_or_default() }))
                .collect()
        })
        .unwrap_or_default();
    list.sort_by(|a, b| a["name"].as_str().cmp(&b["name"].as_str()));
    Value::Array(list)
}

// ---- gateway ----

struct Handler {
    inbound: Inbound,
}

#[async_trait]
impl EventHandler for Handler {
    async fn ready(&self, ctx: Context, ready: Ready) {
        tracing::info!(user = %ready.user.name, "connected to the Discord gateway");
        ctx.http.set_application_id(ready.application.id);
        self.inbound
            .discord
            .http()
            .set_application_id(ready.application.id);
        if let Err(error) = self.inbound.register().await {
            tracing::error!(error = %format!("{error:#}"), "could not register Discord application commands");
        }
        self.inbound
            .discord
            .commands_checked
            .fetch_add(1, std::sync::atomic::Ordering::SeqCst);
    }

    async fn resume(&self, _ctx: Context, _event: ResumedEvent) {
        tracing::info!("resumed the Discord gateway session");
    }

    async fn interaction_create(&self, ctx: Context, interaction: Interaction) {
        let (id, token) = match &interaction {
            Interaction::Command(i) | Interaction::Autocomplete(i) => (i.id, i.token.clone()),
            Interaction::Component(i) => (i.id, i.token.clone()),
            Interaction::Modal(i) => (i.id, i.token.clone()),
            Interaction::Ping(i) => (i.id, i.token.clone()),
            _ => return,
        };
        let then = self.inbound.answer(interaction);
        let (answer, handle) = self.inbound.respond(then).await;
        let sent = ctx
            .http
            .create_interaction_response(id, &token, &answer, Vec::new())
            .await;
        if let Err(error) = &sent {
            tracing::warn!(%error, "could not answer a Discord interaction");
        }
        if let Some(handle) = handle {
            self.inbound.discord.responded(&handle, sent.is_ok());
        }
    }

    async fn reaction_add(&self, _ctx: Context, reaction: Reaction) {
        self.inbound.reaction(&reaction, true);
    }

    async fn reaction_remove(&self, _ctx: Context, reaction: Reaction) {
        self.inbound.reaction(&reaction, false);
    }
}

/// The running gateway connection; serenity reconnects and resumes by itself.
pub struct Gateway {
    shards: Arc<serenity::gateway::ShardManager>,
    task: tokio::task::JoinHandle<()>,
}

impl Gateway {
    pub async fn start(inbound: Inbound, settings: &DiscordSettings) -> anyhow::Result<Gateway> {
        let mut client =
            serenity::client::ClientBuilder::new_with_http(settings.http_client(), intents())
                .event_handler(Handler { inbound })
                .await
                .map_err(|e| anyhow::anyhow!("cannot set up the Discord gateway: {e}"))?;
        let shards = client.shard_manager.clone();
        let task = tokio::spawn(async move {
            if let Err(error) = client.start().await {
                tracing::error!(%error, "the Discord gateway stopped");
            }
        });
        Ok(Gateway { shards, task })
    }

    pub async fn stop(self) {
        self.shards.shutdown_all().await;
        let _ = self.task.await;
    }
}

// ---- HTTP interactions endpoint ----

#[derive(Clone)]
struct Endpoint {
    inbound: Inbound,
    verifier: Arc<Verifier>,
}

/// `POST /discord/interactions`: the Ed25519 signature is checked before the body is
/// parsed; a bad one gets 401 and nothing happens.
pub fn routes(inbound: Inbound, settings: &DiscordSettings) -> Option<Router> {
    let key = public_key_bytes(settings.public_key.as_deref()?)?;
    let verifier = Arc::new(Verifier::try_new(key).ok()?);
    Some(
        Router::new()
            .route("/discord/interactions", axum::routing::post(interactions))
            .with_state(Endpoint { inbound, verifier }),
    )
}

/// How far a signed interaction's timestamp may be from now.
const FRESH_FOR_SECS: i64 = 300;

async fn interactions(
    State(endpoint): State<Endpoint>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let header = |name: &str| headers.get(name).and_then(|v| v.to_str().ok());
    let (Some(signature), Some(timestamp)) = (
        header("x-signature-ed25519"),
        header("x-signature-timestamp"),
    ) else {
        return StatusCode::UNAUTHORIZED.into_response();
    };
    if endpoint
        .verifier
        .verify(signature, timestamp, &body)
        .is_err()
    {
        tracing::warn!("refused a Discord interaction with a bad signature");
        return StatusCode::UNAUTHORIZED.into_response();
    }
    // The signature covers the timestamp: one older (or newer) than five minutes is a
    // replay, however genuine it once was; the delivery-id dedupe forgets after a week.
    let fresh = timestamp
        .parse::<i64>()
        .is_ok_and(|at| (chrono::Utc::now().timestamp() - at).abs() <= FRESH_FOR_SECS);
    if !fresh {
        tracing::warn!(%timestamp, "refused a stale Discord interaction");
        return StatusCode::UNAUTHORIZED.into_response();
    }
    let interaction: Interaction = match serde_json::from_slice(&body) {
        Ok(interaction) => interaction,
        Err(error) => {
            tracing::warn!(%error, "a signed Discord interaction did not parse");
            return StatusCode::BAD_REQUEST.into_response();
        }
    };
    let then = endpoint.inbound.answer(interaction);
    let (answer, handle) = endpoint.inbound.respond(then).await;
    // The response is this body: it is on its way once the handler returns.
    if let Some(handle) = handle {
        endpoint.inbound.discord.responded(&handle, true);
    }
    Json(answer).into_response()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn response_bodies_are_discords_documented_shapes() {
        assert_eq!(
            response(CreateInteractionResponse::Pong),
            json!({ "type": 1 })
        );
        assert_eq!(deferred_update(), json!({ "type": 6 }));
        let deferred = deferred_ephemeral();
        assert_eq!(deferred["type"], 5);
        assert_eq!(deferred["data"]["flags"], 64);
        let answer = ephemeral("no @everyone here");
        assert_eq!(answer["type"], 4);
        assert_eq!(answer["data"]["flags"], 64);
        assert_eq!(answer["data"]["content"], "no @everyone here");
        assert_eq!(answer["data"]["allowed_mentions"]["parse"], json!([]));
    }
}
