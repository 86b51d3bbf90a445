//! A fake Discord on 127.0.0.1: the REST routes deckhand uses (recorded, 429 on demand),
//! `GET /api/v10/gateway`, and a gateway websocket (HELLO, IDENTIFY, READY, heartbeats,
//! RESUME, dispatch). The real serenity client talks to it.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::Router;
use axum::body::Bytes;
use axum::extract::ws::{Message as WsMessage, WebSocket, WebSocketUpgrade};
use axum::extract::{Path, State};
use axum::http::{Method, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{any, get};
use serde_json::{Value, json};
use tokio::sync::mpsc;

use crate::recorder::{Described, Recorder};
use crate::team::PATIENCE;

pub mod tester;

pub use tester::{DiscordTester, Message};

pub const APPLICATION_ID: &str = "900000000000000001";
pub const BOT_ID: &str = "900000000000000002";
pub const GUILD_ID: &str = "900000000000000003";

/// One REST call deckhand made.
#[derive(Debug, Clone)]
pub struct Call {
    pub method: String,
    /// The path after `/api/v10`, e.g. `/channels/77/messages`.
    pub path: String,
    pub body: Value,
    pub authorization: Option<String>,
    /// The id of the message the fake created, for message-creating calls.
    pub created: Option<String>,
}

impl Call {
    pub fn text(&self) -> String {
        self.body.to_string()
    }

    /// What a person sees: the content, then each embed's title, description, fields and
    /// footer, then button labels, one per line, for snapshots. An interaction callback
    /// keeps its message under `data`.
    pub fn shown(&self) -> String {
        let message = if self.body["data"].is_object() {
            &self.body["data"]
        } else {
            &self.body
        };
        let mut out = Vec::new();
        let mut push = |value: &Value| {
            if let Some(text) = value.as_str().filter(|t| !t.is_empty()) {
                out.push(text.to_owned());
            }
        };
        push(&message["content"]);
        for embed in message["embeds"].as_array().into_iter().flatten() {
            push(&embed["title"]);
            push(&embed["description"]);
            for field in embed["fields"].as_array().into_iter().flatten() {
                push(&field["name"]);
                push(&field["value"]);
            }
            push(&embed["footer"]["text"]);
        }
        for row in message["components"].as_array().into_iter().flatten() {
            for component in row["components"].as_array().into_iter().flatten() {
                push(&component["label"]);
            }
        }
        out.join("\n")
    }
}

impl Described for Call {
    fn describe(&self) -> String {
        format!("{} {} {}", self.method, self.path, self.text())
    }
}

#[derive(Default)]
struct Fake {
    calls: Recorder<Call>,
    next_id: AtomicU64,
    /// Path prefix -> how many of the next matching calls answer 429.
    limited: Mutex<Vec<(String, u32)>>,
    /// Path prefix -> how long each matching call takes to answer (a slow Discord).
    slow: Mutex<Vec<(String, Duration)>>,
    commands: Mutex<HashMap<String, Value>>,
    socket: Mutex<Option<mpsc::UnboundedSender<String>>>,
    identifies: Mutex<Vec<Value>>,
    resumes: AtomicU64,
    sequence: AtomicU64,
    base: Mutex<String>,
    names: Mutex<HashMap<String, String>>,
    /// Interaction token -> the type of its response (`None`: not answered yet). Only
    /// tokens of interactions the fake sent are known, as on Discord.
    interactions: Mutex<HashMap<String, Option<u64>>>,
    /// User id -> their DM channel with the bot, once opened.
    dms: Mutex<HashMap<String, String>>,
    /// Channels the bot can see (`GET /channels/{id}`); others are Unknown Channel.
    visible: Mutex<Vec<String>>,
    /// Users who take no DMs from the bot (privacy settings): Discord answers 50007.
    closed_dms: Mutex<Vec<String>>,
}

#[derive(Clone)]
pub struct FakeDiscord {
    /// `DISCORD_API_URL` for deckhand.
    pub api_url: String,
    fake: Arc<Fake>,
}

impl FakeDiscord {
    pub async fn start() -> FakeDiscord {
        let fake = Arc::new(Fake {
            next_id: AtomicU64::new(1_000_000_000_000_000_000),
            ..Fake::default()
        });
        let app = Router::new()
            .route("/api/v10/gateway", get(gateway_url))
            .route("/api/v10/gateway/bot", get(gateway_url))
            .route("/gateway", get(gateway))
            .route("/api/v10/{*rest}", any(rest))
            .with_state(fake.clone());
        let addr = crate::recorder::serve(app).await;
        *fake.base.lock().unwrap() = format!("127.0.0.1:{}", addr.port());
        FakeDiscord {
            api_url: format!("http://{addr}"),
            fake,
        }
    }

    /// What `GET /users/{id}` answers as the user's name.
    pub fn name(&self, id: &str, name: &str) {
        self.fake
            .names
            .lock()
            .unwrap()
            .insert(id.into(), name.into());
    }

    pub fn calls(&self) -> Vec<Call> {
        self.fake.calls.all()
    }

    /// Waits for the first call not yet read for which `check` holds, and reads up to it.
    pub async fn next(&self, what: &str, check: impl Fn(&Call) -> bool) -> Call {
        self.fake.calls.next(what, check).await
    }

    /// An interaction the fake is about to send (its token becomes valid).
    pub fn issued(&self, interaction: &Value) {
        if let Some(token) = interaction["token"].as_str() {
            self.fake
                .interactions
                .lock()
                .unwrap()
                .entry(token.to_owned())
                .or_insert(None);
        }
    }

    /// An interaction answered by the HTTP endpoint's response body.
    pub fn answered(&self, interaction: &Value, response: &Value) {
        if let Some(token) = interaction["token"].as_str() {
            self.fake
                .interactions
                .lock()
                .unwrap()
                .insert(token.to_owned(), response["type"].as_u64());
        }
    }

    /// A channel the bot can see.
    pub fn visible_channel(&self, id: &str) {
        self.fake.visible.lock().unwrap().push(id.into());
    }

    /// `user_id` takes no DMs from the bot.
    pub fn close_dms(&self, user_id: &str) {
        self.fake.closed_dms.lock().unwrap().push(user_id.into());
    }

    /// The DM channel the bot opened with `user_id`, if it did.
    pub fn dm_of(&self, user_id: &str) -> Option<String> {
        self.fake.dms.lock().unwrap().get(user_id).cloned()
    }

    /// Every call whose path starts with `prefix` takes `delay` to answer.
    pub fn slow_down(&self, prefix: &str, delay: Duration) {
        self.fake.slow.lock().unwrap().push((prefix.into(), delay));
    }

    /// The next `count` calls whose path starts with `prefix` answer 429.
    pub fn rate_limit(&self, prefix: &str, count: u32) {
        self.fake
            .limited
            .lock()
            .unwrap()
            .push((prefix.into(), count));
    }

    /// Any method: a call whose path contains `path` and whose body contains `needle`.
    pub async fn wait_for_any(&self, path: &str, needle: &str) -> Call {
        let what = format!("to {path} with {needle:?}");
        self.fake
            .calls
            .wait_for(&what, |c| {
                !c.method.contains("429") && c.path.contains(path) && c.text().contains(needle)
            })
            .await
    }

    pub async fn wait_for(&self, method: &str, check: impl Fn(&Call) -> bool) -> Call {
        let what = format!("a matching {method}");
        self.fake
            .calls
            .wait_for(&what, |c| c.method == method && check(c))
            .await
    }

    /// A call of `method` whose path contains `path` and whose body contains `needle`.
    pub async fn wait_for_text(&self, method: &str, path: &str, needle: &str) -> Call {
        self.wait_for(method, |c| {
            c.path.contains(path) && c.text().contains(needle)
        })
        .await
    }

    /// IDENTIFY payloads received.
    pub fn identifies(&self) -> Vec<Value> {
        self.fake.identifies.lock().unwrap().clone()
    }

    pub fn resumes(&self) -> u64 {
        self.fake.resumes.load(Ordering::SeqCst)
    }

    pub async fn wait_until(&self, what: &str, check: impl Fn(&FakeDiscord) -> bool) {
        let deadline = tokio::time::Instant::now() + PATIENCE;
        while !check(self) {
            assert!(
                tokio::time::Instant::now() < deadline,
                "timed out waiting for {what}"
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// Waits until the bot has identified and is ready.
    pub async fn wait_ready(&self) {
        self.wait_until("READY", |f| {
            !f.identifies().is_empty() && f.fake.socket.lock().unwrap().is_some()
        })
        .await;
    }

    /// Sends a gateway dispatch (op 0) with the next sequence number.
    pub fn dispatch(&self, event: &str, data: Value) {
        if event == "INTERACTION_CREATE" {
            self.issued(&data);
        }
        let s = self.fake.sequence.fetch_add(1, Ordering::SeqCst) + 1;
        self.send(json!({ "op": 0, "t": event, "s": s, "d": data }).to_string());
    }

    /// Sends the same dispatch again with its old sequence number, as after a resume.
    pub fn redispatch(&self, event: &str, data: Value, sequence: u64) {
        self.send(json!({ "op": 0, "t": event, "s": sequence, "d": data }).to_string());
    }

    pub fn sequence(&self) -> u64 {
        self.fake.sequence.load(Ordering::SeqCst)
    }

    /// Op 7: the client should reconnect and resume.
    pub fn reconnect(&self) {
        self.send(json!({ "op": 7, "d": null }).to_string());
        *self.fake.socket.lock().unwrap() = None;
    }

    fn send(&self, text: String) {
        let socket = self.fake.socket.lock().unwrap();
        socket
            .as_ref()
            .expect("no gateway client")
            .send(text)
            .unwrap();
    }

    /// Registered commands, global (`None`) or per guild.
    pub fn registered(&self, guild: Option<&str>) -> Option<Value> {
        self.fake
            .commands
            .lock()
            .unwrap()
            .get(guild.unwrap_or("global"))
            .cloned()
    }
}

pub fn user(id: &str, name: &str) -> Value {
    json!({ "id": id, "username": name, "discriminator": "0", "global_name": name, "avatar": null, "bot": false })
}

fn message(fake: &Fake, channel: &str, body: &Value, id: Option<&str>) -> Value {
    let id = id
        .map(str::to_owned)
        .unwrap_or_else(|| fake.next_id.fetch_add(1, Ordering::SeqCst).to_string());
    json!({
        "id": id,
        "channel_id": channel,
        "author": { "id": BOT_ID, "username": "deckhand", "discriminator": "0", "avatar": null, "bot": true },
        "content": body["content"].as_str().unwrap_or(""),
        "timestamp": "2026-11-30T09:00:00.000000+00:00",
        "edited_timestamp": null,
        "tts": false,
        "mention_everyone": false,
        "mentions": [],
        "mention_roles": [],
        "attachments": [],
        "embeds": body["embeds"].clone(),
        "components": [],
        "pinned": false,
        "type": 0,
        "flags": 0
    })
}

async fn gateway_url(State(fake): State<Arc<Fake>>) -> axum::Json<Value> {
    let base = fake.base.lock().unwrap().clone();
    axum::Json(json!({
        "url": format!("ws://{base}/gateway"),
        "shards": 1,
        "session_start_limit": { "total": 1000, "remaining": 1000, "reset_after": 0, "max_concurrency": 1 }
    }))
}

async fn rest(
    State(fake): State<Arc<Fake>>,
    Path(rest): Path<String>,
    method: Method,
    headers: axum::http::HeaderMap,
    body: Bytes,
) -> Response {
    let path = format!("/{rest}");
    let body: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
    let mut call = Call {
        method: method.to_string(),
        path: path.clone(),
        body: body.clone(),
        authorization: headers
            .get("authorization")
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned),
        created: None,
    };
    if let Some(limited) = rate_limited(&fake, &call) {
        return limited;
    }
    let delay = fake
        .slow
        .lock()
        .unwrap()
        .iter()
        .find(|(prefix, _)| path.starts_with(prefix.as_str()))
        .map(|(_, delay)| *delay);
    if let Some(delay) = delay {
        tokio::time::sleep(delay).await;
    }
    let parts: Vec<&str> = path.trim_start_matches('/').split('/').collect();
    if let Some(refused) = refusal(&fake, &method, &parts) {
        call.method = format!("{} ({})", call.method, refused.0);
        fake.calls.record(call);
        return refused.1;
    }
    let answer = match (method.as_str(), parts.as_slice()) {
        ("POST", ["channels", channel, "messages"]) => {
            let created = message(&fake, channel, &body, None);
            call.created = created["id"].as_str().map(str::to_owned);
            axum::Json(created).into_response()
        }
        ("POST", ["users", "@me", "channels"]) => {
            let recipient = body["recipient_id"].as_str().unwrap_or_default().to_owned();
            let dm = fake
                .dms
                .lock()
                .unwrap()
                .entry(recipient.clone())
                .or_insert_with(|| fake.next_id.fetch_add(1, Ordering::SeqCst).to_string())
                .clone();
            let name = fake
                .names
                .lock()
                .unwrap()
                .get(&recipient)
                .cloned()
                .unwrap_or_default();
            axum::Json(json!({
                "id": dm, "type": 1, "last_message_id": null, "flags": 0,
                "recipients": [user(&recipient, &name)]
            }))
            .into_response()
        }
        ("PATCH", ["channels", channel, "messages", id]) => {
            axum::Json(message(&fake, channel, &body, Some(id))).into_response()
        }
        ("POST", ["interactions", _, token, "callback"]) => {
            fake.interactions
                .lock()
                .unwrap()
                .insert((*token).to_owned(), body["type"].as_u64());
            StatusCode::NO_CONTENT.into_response()
        }
        ("GET", ["users", "@me"]) => axum::Json(json!({
            "id": BOT_ID, "username": "deckhand", "discriminator": "0", "global_name": null,
            "avatar": null, "bot": true
        }))
        .into_response(),
        ("GET", ["channels", id]) if fake.visible.lock().unwrap().contains(&(*id).to_owned()) => {
            axum::Json(json!({
                "id": id, "type": 0, "guild_id": GUILD_ID, "name": format!("channel-{id}"),
                "position": 0, "permission_overwrites": [], "nsfw": false, "parent_id": null,
                "last_message_id": null, "rate_limit_per_user": 0, "topic": null, "flags": 0
            }))
            .into_response()
        }
        ("GET", ["channels", _]) => (
            StatusCode::NOT_FOUND,
            axum::Json(json!({ "message": "Unknown Channel", "code": 10003 })),
        )
            .into_response(),
        ("GET", ["users", id]) => {
            let name = fake
                .names
                .lock()
                .unwrap()
                .get(*id)
                .cloned()
                .unwrap_or_else(|| format!("user-{id}"));
            axum::Json(user(id, &name)).into_response()
        }
        ("PATCH", ["webhooks", _, _, "messages", "@original"]) | ("POST", ["webhooks", _, _]) => {
            // Discord answers with the message, in the interaction's channel (never 0:
            // serenity refuses a zero id).
            axum::Json(message(&fake, crate::discord::tester::CHANNEL, &body, None)).into_response()
        }
        ("GET", ["applications", _, "commands"]) => registered(&fake, "global"),
        ("GET", ["applications", _, "guilds", guild, "commands"]) => registered(&fake, guild),
        ("PUT", ["applications", _, "commands"]) => register(&fake, "global", &body),
        ("PUT", ["applications", _, "guilds", guild, "commands"]) => register(&fake, guild, &body),
        _ => (
            StatusCode::NOT_FOUND,
            axum::Json(json!({ "message": "Unknown route", "code": 0 })),
        )
            .into_response(),
    };
    fake.calls.record(call);
    answer
}

/// What Discord refuses before doing anything: interaction callbacks for unknown or
/// already answered interactions, webhook calls with a token Discord never issued or
/// whose interaction has no response yet, and DMs to people who take none. `(code, the
/// response)`.
fn refusal(fake: &Fake, method: &Method, parts: &[&str]) -> Option<(u64, Response)> {
    let error = |status: StatusCode, code: u64, message: &str| {
        Some((
            code,
            (
                status,
                axum::Json(json!({ "message": message, "code": code })),
            )
                .into_response(),
        ))
    };
    let interactions = fake.interactions.lock().unwrap();
    match (method.as_str(), parts) {
        ("POST", ["interactions", _, token, "callback"]) => match interactions.get(*token) {
            None => error(StatusCode::NOT_FOUND, 10062, "Unknown interaction"),
            Some(Some(_)) => error(
                StatusCode::BAD_REQUEST,
                40060,
                "Interaction has already been acknowledged.",
            ),
            Some(None) => None,
        },
        (_, ["webhooks", _, token, ..]) => match interactions.get(*token) {
            None => error(StatusCode::UNAUTHORIZED, 50027, "Invalid Webhook Token"),
            Some(None) => error(StatusCode::NOT_FOUND, 10015, "Unknown Webhook"),
            Some(Some(_)) => None,
        },
        ("POST", ["channels", channel, "messages"]) => {
            let dms = fake.dms.lock().unwrap();
            let (user, _) = dms.iter().find(|(_, dm)| dm.as_str() == *channel)?;
            let closed = fake.closed_dms.lock().unwrap().contains(user);
            closed.then_some(()).and(error(
                StatusCode::FORBIDDEN,
                50007,
                "Cannot send messages to this user",
            ))
        }
        _ => None,
    }
}

/// Discord's 429 for a call whose path was set to be limited (recorded as `METHOD (429)`).
fn rate_limited(fake: &Fake, call: &Call) -> Option<Response> {
    let mut limited = fake.limited.lock().unwrap();
    let (_, left) = limited
        .iter_mut()
        .find(|(prefix, left)| *left > 0 && call.path.starts_with(prefix.as_str()))?;
    *left -= 1;
    let mut call = call.clone();
    call.method = format!("{} (429)", call.method);
    fake.calls.record(call);
    Some(
        (
            StatusCode::TOO_MANY_REQUESTS,
            [("retry-after", "1"), ("x-ratelimit-scope", "user")],
            axum::Json(json!({ "message": "You are being rate limited.", "retry_after": 0.5, "global": false, "code": 0 })),
        )
            .into_response(),
    )
}

/// The application commands registered globally or for a guild.
fn registered(fake: &Fake, key: &str) -> Response {
    let commands = fake.commands.lock().unwrap().get(key).cloned();
    axum::Json(commands.unwrap_or(json!([]))).into_response()
}

/// Bulk overwrite: the commands as Discord stores them (with ids and versions).
fn register(fake: &Fake, key: &str, body: &Value) -> Response {
    let stored: Vec<Value> = body
        .as_array()
        .cloned()
        .unwrap_or_default()
        .into_iter()
        .map(|mut c| {
            c["id"] = json!(fake.next_id.fetch_add(1, Ordering::SeqCst).to_string());
            c["application_id"] = json!(APPLICATION_ID);
            c["version"] = json!("1");
            // Discord stores what was sent (null when left out).
            if c.get("default_member_permissions").is_none() {
                c["default_member_permissions"] = Value::Null;
            }
            c
        })
        .collect();
    fake.commands
        .lock()
        .unwrap()
        .insert(key.to_owned(), json!(stored));
    axum::Json(json!(stored)).into_response()
}

async fn gateway(State(fake): State<Arc<Fake>>, upgrade: WebSocketUpgrade) -> Response {
    upgrade.on_upgrade(move |ws| session(fake, ws))
}

async fn session(fake: Arc<Fake>, mut ws: WebSocket) {
    let hello = json!({ "op": 10, "d": { "heartbeat_interval": 1000 } });
    if ws
        .send(WsMessage::Text(hello.to_string().into()))
        .await
        .is_err()
    {
        return;
    }
    let (sender, mut outgoing) = mpsc::unbounded_channel::<String>();
    loop {
        tokio::select! {
            out = outgoing.recv() => match out {
                Some(text) => {
                    let reconnect = text.contains("\"op\":7");
                    if ws.send(WsMessage::Text(text.into())).await.is_err() {
                        return;
                    }
                    if reconnect {
                        tokio::time::sleep(Duration::from_millis(50)).await;
                        let _ = ws.send(WsMessage::Close(None)).await;
                        return;
                    }
                }
                None => return,
            },
            incoming = ws.recv() => {
                let Some(Ok(frame)) = incoming else { return };
                let text = match frame {
                    WsMessage::Text(text) => text.to_string(),
                    WsMessage::Binary(bytes) => String::from_utf8_lossy(&bytes).into_owned(),
                    WsMessage::Close(_) => return,
                    _ => continue,
                };
                let Ok(payload) = serde_json::from_str::<Value>(&text) else { continue };
                match payload["op"].as_u64() {
                    Some(1) => {
                        let ack = json!({ "op": 11, "d": null });
                        if ws.send(WsMessage::Text(ack.to_string().into())).await.is_err() { return; }
                    }
                    Some(2) => {
                        fake.identifies.lock().unwrap().push(payload["d"].clone());
                        let base = fake.base.lock().unwrap().clone();
                        let s = fake.sequence.fetch_add(1, Ordering::SeqCst) + 1;
                        let ready = json!({ "op": 0, "t": "READY", "s": s, "d": {
                            "v": 10,
                            "user": { "id": BOT_ID, "username": "deckhand", "discriminator": "0", "avatar": null, "bot": true },
                            "guilds": [],
                            "session_id": "fake-session",
                            "resume_gateway_url": format!("ws://{base}/gateway"),
                            "application": { "id": APPLICATION_ID, "flags": 0 }
                        }});
                        if ws.send(WsMessage::Text(ready.to_string().into())).await.is_err() { return; }
                        *fake.socket.lock().unwrap() = Some(sender.clone());
                    }
                    Some(6) => {
                        let s = fake.sequence.load(Ordering::SeqCst);
                        let resumed = json!({ "op": 0, "t": "RESUMED", "s": s, "d": {} });
                        if ws.send(WsMessage::Text(resumed.to_string().into())).await.is_err() { return; }
                        *fake.socket.lock().unwrap() = Some(sender.clone());
                        // Counted last: a test that saw the resume can dispatch at once.
                        fake.resumes.fetch_add(1, Ordering::SeqCst);
                    }
                    _ => {}
                }
            }
        }
    }
}

// ---- payload builders (the shapes Discord sends) ----

/// An application command interaction (type 2) from `user` in `channel`.
pub fn command(id: &str, user: Value, channel: &str, name: &str, options: Value) -> Value {
    json!({
        "id": id,
        "application_id": APPLICATION_ID,
        "type": 2,
        "token": format!("token-{id}"),
        "version": 1,
        "locale": "en-US",
        "entitlements": [],
        "attachment_size_limit": 8388608,
        "channel_id": channel,
        "guild_id": GUILD_ID,
        "member": member(user),
        "data": { "id": "800000000000000001", "name": name, "type": 1, "options": options }
    })
}

/// A guild member object around `user`, as guild interactions and reactions carry it
/// (in a guild, an interaction has `member` and no top-level `user`).
pub fn member(user: Value) -> Value {
    json!({
        "user": user,
        "nick": null,
        "roles": [],
        "joined_at": "2026-01-05T09:00:00.000000+00:00",
        "deaf": false,
        "mute": false,
        "flags": 0,
        "pending": false,
        "permissions": "2248473465835073"
    })
}

/// The same interaction or reaction from another server.
pub fn from_guild(mut payload: Value, guild: &str) -> Value {
    payload["guild_id"] = json!(guild);
    payload
}

/// The same interaction sent in a DM: no guild, no member, the user at the top level.
pub fn from_dm(mut payload: Value) -> Value {
    let fields = payload.as_object_mut().expect("an interaction object");
    fields.remove("guild_id");
    if let Some(member) = fields.remove("member") {
        fields.insert("user".into(), member["user"].clone());
    }
    payload
}

/// A button click (type 3) on message `message_id`.
pub fn button(id: &str, user: Value, channel: &str, message_id: &str, custom_id: &str) -> Value {
    json!({
        "id": id,
        "application_id": APPLICATION_ID,
        "type": 3,
        "token": format!("token-{id}"),
        "version": 1,
        "locale": "en-US",
        "entitlements": [],
        "attachment_size_limit": 8388608,
        "channel_id": channel,
        "guild_id": GUILD_ID,
        "member": member(user),
        "message": {
            "id": message_id, "channel_id": channel,
            "author": { "id": BOT_ID, "username": "deckhand", "discriminator": "0", "avatar": null, "bot": true },
            "content": "", "timestamp": "2026-11-30T09:00:00.000000+00:00", "edited_timestamp": null,
            "tts": false, "mention_everyone": false, "mentions": [], "mention_roles": [], "attachments": [],
            "embeds": [], "components": [], "pinned": false, "type": 0, "flags": 0
        },
        "data": { "custom_id": custom_id, "component_type": 2 }
    })
}

/// MESSAGE_REACTION_ADD / REMOVE data.
pub fn reaction(user_id: &str, channel: &str, message_id: &str, emoji: &str) -> Value {
    json!({
        "user_id": user_id,
        "channel_id": channel,
        "guild_id": GUILD_ID,
        "message_id": message_id,
        "emoji": { "id": null, "name": emoji },
        "burst": false,
        "type": 0
    })
}
