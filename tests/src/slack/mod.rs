//! A fake Slack on 127.0.0.1: the Web API methods deckhand calls (recorded, answered
//! like Slack, 429 on demand), a Socket Mode websocket, and a request signer. The real
//! slack-morphism client talks to it through `SLACK_API_URL`.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::Router;
use axum::body::Bytes;
use axum::extract::ws::{Message as WsMessage, WebSocket, WebSocketUpgrade};
use axum::extract::{Path, RawQuery, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{any, get};
use hmac::{Hmac, Mac};
use serde_json::{Value, json};
use sha2::Sha256;
use tokio::sync::mpsc;

use crate::team::PATIENCE;

use crate::recorder::{Described, Recorder};

pub mod tester;

pub use tester::{Card, Mode, SlackTester};

/// One Web API call deckhand made.
#[derive(Debug, Clone)]
pub struct Call {
    pub method: String,
    /// JSON body of a POST, or the query of a GET as an object.
    pub body: Value,
    pub authorization: Option<String>,
}

impl Call {
    /// The message's whole JSON as text, for `contains` checks.
    pub fn text(&self) -> String {
        self.body.to_string()
    }

    pub fn channel(&self) -> &str {
        self.body["channel"].as_str().unwrap_or_default()
    }

    /// What a person sees: every text of the message's blocks, in order, one per line
    /// (button labels too), for snapshots.
    pub fn shown(&self) -> String {
        fn texts(value: &Value, out: &mut Vec<String>) {
            match value {
                Value::Object(object) => {
                    if let Some(Value::String(text)) = object.get("text") {
                        out.push(text.clone());
                    }
                    for (key, child) in object {
                        if key != "text" || child.is_object() {
                            texts(child, out);
                        }
                    }
                }
                Value::Array(items) => items.iter().for_each(|item| texts(item, out)),
                _ => {}
            }
        }
        let mut out = Vec::new();
        texts(&self.body["blocks"], &mut out);
        out.join("\n")
    }
}

impl Described for Call {
    fn describe(&self) -> String {
        format!("{} {}", self.method, self.text())
    }
}

#[derive(Default)]
struct Fake {
    calls: Recorder<Call>,
    next_ts: AtomicU64,
    /// Method -> how many of its next calls answer 429.
    limited: Mutex<HashMap<String, u32>>,
    /// Method -> how long it takes to answer (real Slack is tens of ms away).
    slow: Mutex<HashMap<String, std::time::Duration>>,
    socket: Mutex<Option<mpsc::UnboundedSender<String>>>,
    /// Every message deckhand sent on the socket (acks).
    socket_in: Mutex<Vec<Value>>,
    connections: AtomicU64,
    names: Mutex<HashMap<String, String>>,
    base: Mutex<String>,
    /// The workspace's channels `conversations.list` shows: (name, is_member, is_private).
    channels: Mutex<Vec<(String, bool, bool)>>,
    /// Whether the app was installed without `channels:read` (`missing_scope`).
    no_channels_read: std::sync::atomic::AtomicBool,
}

#[derive(Clone)]
pub struct FakeSlack {
    /// `SLACK_API_URL` for deckhand: `http://127.0.0.1:PORT/api`.
    pub api_url: String,
    fake: Arc<Fake>,
}

impl FakeSlack {
    pub async fn start() -> FakeSlack {
        let fake = Arc::new(Fake {
            next_ts: AtomicU64::new(1),
            ..Fake::default()
        });
        let app = Router::new()
            .route("/api/{method}", any(api))
            .route("/socket", get(socket))
            .with_state(fake.clone());
        let addr = crate::recorder::serve(app).await;
        *fake.base.lock().unwrap() = format!("127.0.0.1:{}", addr.port());
        FakeSlack {
            api_url: format!("http://{addr}/api"),
            fake,
        }
    }

    /// What `users.info` answers as the display name of `user`.
    pub fn name(&self, user: &str, name: &str) {
        self.fake
            .names
            .lock()
            .unwrap()
            .insert(user.into(), name.into());
    }

    /// A channel in the fake workspace (`deploys`), the bot in it or not.
    pub fn channel(&self, name: &str, member: bool, private: bool) {
        self.fake
            .channels
            .lock()
            .unwrap()
            .push((name.into(), member, private));
    }

    /// The app was installed without the `channels:read` scope.
    pub fn without_channels_read(&self) {
        self.fake.no_channels_read.store(true, Ordering::SeqCst);
    }

    /// Every call of `method` answers after `delay`, as a Slack far away would.
    pub fn slow(&self, method: &str, delay: std::time::Duration) {
        self.fake.slow.lock().unwrap().insert(method.into(), delay);
    }

    /// The next `count` calls of `method` answer 429 with `Retry-After: 1`.
    pub fn rate_limit(&self, method: &str, count: u32) {
        self.fake
            .limited
            .lock()
            .unwrap()
            .insert(method.into(), count);
    }

    pub fn calls(&self) -> Vec<Call> {
        self.fake.calls.all()
    }

    /// Waits for the first call not yet read for which `check` holds, and reads up to it.
    pub async fn next(&self, what: &str, check: impl Fn(&Call) -> bool) -> Call {
        self.fake.calls.next(what, check).await
    }

    pub fn calls_of(&self, method: &str) -> Vec<Call> {
        self.calls()
            .into_iter()
            .filter(|c| c.method == method)
            .collect()
    }

    /// Waits for a call of `method` for which `check` holds; returns it.
    pub async fn wait_for(&self, method: &str, check: impl Fn(&Call) -> bool) -> Call {
        let what = format!("a matching {method}");
        self.fake
            .calls
            .wait_for(&what, |c| c.method == method && check(c))
            .await
    }

    /// Waits until a call of `method` contains `needle`.
    pub async fn wait_for_text(&self, method: &str, needle: &str) -> Call {
        self.wait_for(method, |c| c.text().contains(needle)).await
    }

    // ---- Socket Mode ----

    /// How many times a client has connected to the socket.
    pub fn connections(&self) -> u64 {
        self.fake.connections.load(Ordering::SeqCst)
    }

    pub async fn wait_for_connections(&self, count: u64) {
        let deadline = tokio::time::Instant::now() + PATIENCE;
        while self.connections() < count || self.fake.socket.lock().unwrap().is_none() {
            assert!(
                tokio::time::Instant::now() < deadline,
                "no Socket Mode connection #{count}"
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// Sends an envelope (`slash_commands`, `events_api`, `interactive`) and returns its id.
    pub fn envelope(&self, kind: &str, payload: Value) -> String {
        static N: AtomicU64 = AtomicU64::new(1);
        let id = format!("env-{}", N.fetch_add(1, Ordering::SeqCst));
        let envelope = json!({
            "envelope_id": id,
            "type": kind,
            "payload": payload,
            "accepts_response_payload": kind == "slash_commands",
        });
        self.send_raw(envelope.to_string());
        id
    }

    /// Asks the client to reconnect, as Slack does before it rotates a connection.
    pub fn disconnect(&self) {
        self.send_raw(json!({"type": "disconnect", "reason": "refresh_requested", "debug_info": {"host": "fake"}}).to_string());
        *self.fake.socket.lock().unwrap() = None;
    }

    fn send_raw(&self, text: String) {
        let socket = self.fake.socket.lock().unwrap();
        socket
            .as_ref()
            .expect("no Socket Mode client is connected")
            .send(text)
            .unwrap();
    }

    /// Waits for deckhand's ack of an envelope.
    pub async fn ack(&self, envelope_id: &str) -> Value {
        let deadline = tokio::time::Instant::now() + PATIENCE;
        loop {
            if let Some(ack) = self
                .fake
                .socket_in
                .lock()
                .unwrap()
                .iter()
                .find(|m| m["envelope_id"] == envelope_id)
            {
                return ack.clone();
            }
            assert!(
                tokio::time::Instant::now() < deadline,
                "envelope {envelope_id} was never acked"
            );
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }
}

async fn api(
    State(fake): State<Arc<Fake>>,
    Path(method): Path<String>,
    RawQuery(query): RawQuery,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let body_json = if body.is_empty() {
        let pairs: serde_json::Map<String, Value> = url_pairs(query.as_deref().unwrap_or(""));
        Value::Object(pairs)
    } else {
        serde_json::from_slice(&body)
            .unwrap_or_else(|_| Value::Object(url_pairs(&String::from_utf8_lossy(&body))))
    };
    let authorization = headers
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    let delay = fake.slow.lock().unwrap().get(&method).copied();
    if let Some(delay) = delay {
        tokio::time::sleep(delay).await;
    }
    {
        let mut limited = fake.limited.lock().unwrap();
        if let Some(left) = limited.get_mut(&method)
            && *left > 0
        {
            *left -= 1;
            fake.calls.record(Call {
                method: format!("{method} (429)"),
                body: body_json,
                authorization,
            });
            return (
                StatusCode::TOO_MANY_REQUESTS,
                [("retry-after", "1")],
                axum::Json(json!({"ok": false, "error": "ratelimited"})),
            )
                .into_response();
        }
    }
    let answer = match method.as_str() {
        "chat.postMessage" => {
            let ts = format!(
                "1700000000.{:06}",
                fake.next_ts.fetch_add(1, Ordering::SeqCst)
            );
            // Slack takes a name (`#deploys`) here and answers with the channel's id.
            let channel = channel_id(body_json["channel"].as_str().unwrap_or("C0"));
            json!({"ok": true, "channel": channel, "ts": ts, "message": {"ts": ts, "text": body_json["text"]}})
        }
        // ...but not here: later methods want the id (Slack's SDK maintainers confirm
        // names work only in the oldest methods).
        "chat.update" if !is_channel_id(body_json["channel"].as_str().unwrap_or("")) => {
            json!({"ok": false, "error": "channel_not_found"})
        }
        "chat.update" => {
            // As documented: the updated message comes back too (slack-morphism needs it).
            json!({"ok": true, "channel": body_json["channel"], "ts": body_json["ts"], "text": body_json["text"], "message": {"text": body_json["text"], "user": "UDECKHAND"}})
        }
        "chat.postEphemeral" => {
            json!({"ok": true, "message_ts": format!("1700000000.{:06}", fake.next_ts.fetch_add(1, Ordering::SeqCst))})
        }
        "users.info" => {
            let user = body_json["user"].as_str().unwrap_or("U0").to_owned();
            let name = fake
                .names
                .lock()
                .unwrap()
                .get(&user)
                .cloned()
                .unwrap_or_else(|| user.to_lowercase());
            json!({"ok": true, "user": {"id": user, "name": name, "profile": {"display_name": name, "real_name": name}}})
        }
        "conversations.list" if fake.no_channels_read.load(Ordering::SeqCst) => {
            json!({"ok": false, "error": "missing_scope", "needed": "channels:read", "provided": "chat:write,commands"})
        }
        "conversations.list" => {
            // One channel per page, so paging is exercised.
            let channels = fake.channels.lock().unwrap().clone();
            let at: usize = body_json["cursor"]
                .as_str()
                .and_then(|c| c.parse().ok())
                .unwrap_or(0);
            let page: Vec<Value> = channels
                .iter()
                .skip(at)
                .take(1)
                .map(|(name, member, private)| {
                    json!({
                        "id": channel_id(name), "name": name, "name_normalized": name,
                        "created": 1700000000, "is_channel": !private, "is_group": private,
                        "is_private": private, "is_member": member, "is_archived": false,
                        "is_general": name == "general"
                    })
                })
                .collect();
            let next = if at + 1 < channels.len() {
                (at + 1).to_string()
            } else {
                String::new()
            };
            json!({"ok": true, "channels": page, "response_metadata": {"next_cursor": next}})
        }
        "apps.connections.open" => {
            let base = fake.base.lock().unwrap().clone();
            json!({"ok": true, "url": format!("ws://{base}/socket")})
        }
        "auth.test" => {
            json!({"ok": true, "user_id": "U0BOT", "bot_id": "B0BOT", "team_id": "T1", "team": "acme", "url": "https://acme.slack.com/"})
        }
        _ => json!({"ok": false, "error": "unknown_method"}),
    };
    // A refused call is recorded under its refusal, as a 429 is: a test waiting for a
    // `chat.update` must see one Slack accepted.
    let method = match answer["error"].as_str() {
        Some(error) => format!("{method} ({error})"),
        None => method,
    };
    fake.calls.record(Call {
        method,
        body: body_json,
        authorization,
    });
    axum::Json(answer).into_response()
}

/// A Slack conversation id: `C…` (channel), `G…` (private), `D…` (DM).
fn is_channel_id(channel: &str) -> bool {
    channel.len() > 1
        && channel.starts_with(['C', 'G', 'D'])
        && channel
            .bytes()
            .all(|b| b.is_ascii_uppercase() || b.is_ascii_digit())
}

/// The id the fake workspace gives a channel name: `#deploys` is `CDEPLOYS`.
pub fn channel_id(channel: &str) -> String {
    if is_channel_id(channel) {
        return channel.to_owned();
    }
    let name: String = channel
        .trim_start_matches('#')
        .chars()
        .filter(char::is_ascii_alphanumeric)
        .collect();
    format!("C{}", name.to_ascii_uppercase())
}

fn url_pairs(text: &str) -> serde_json::Map<String, Value> {
    url::form_urlencoded::parse(text.as_bytes())
        .map(|(k, v)| (k.into_owned(), Value::String(v.into_owned())))
        .collect()
}

async fn socket(State(fake): State<Arc<Fake>>, upgrade: WebSocketUpgrade) -> Response {
    upgrade.on_upgrade(move |ws| connected(fake, ws))
}

async fn connected(fake: Arc<Fake>, mut ws: WebSocket) {
    let (sender, mut outgoing) = mpsc::unbounded_channel::<String>();
    let hello = json!({
        "type": "hello",
        "num_connections": 1,
        "connection_info": {"app_id": "A0DECKHAND"},
        "debug_info": {"host": "fake-slack", "approximate_connection_time": 3600}
    });
    if ws
        .send(WsMessage::Text(hello.to_string().into()))
        .await
        .is_err()
    {
        return;
    }
    *fake.socket.lock().unwrap() = Some(sender);
    fake.connections.fetch_add(1, Ordering::SeqCst);
    loop {
        tokio::select! {
            out = outgoing.recv() => match out {
                Some(text) => {
                    let closing = text.contains("\"disconnect\"");
                    if ws.send(WsMessage::Text(text.into())).await.is_err() || closing {
                        // Slack closes the socket after a disconnect message.
                        tokio::time::sleep(Duration::from_millis(50)).await;
                        let _ = ws.send(WsMessage::Close(None)).await;
                        return;
                    }
                }
                None => return,
            },
            incoming = ws.recv() => match incoming {
                Some(Ok(WsMessage::Text(text))) => {
                    if let Ok(value) = serde_json::from_str::<Value>(&text) {
                        fake.socket_in.lock().unwrap().push(value);
                    }
                }
                Some(Ok(WsMessage::Ping(data))) => {
                    let _ = ws.send(WsMessage::Pong(data)).await;
                }
                Some(Ok(_)) => {}
                _ => return,
            },
        }
    }
}

/// Signs a request body as Slack does: `v0=hex(HMAC_SHA256(secret, "v0:{ts}:{body}"))`.
pub fn sign(secret: &str, timestamp: i64, body: &str) -> String {
    let mut mac = Hmac::<Sha256>::new_from_slice(secret.as_bytes()).expect("any key length");
    mac.update(format!("v0:{timestamp}:{body}").as_bytes());
    format!("v0={}", hex::encode(mac.finalize().into_bytes()))
}

// ---- payload builders (the shapes Slack sends) ----

/// The form body of a slash command.
pub fn slash_command(
    user: &str,
    channel: &str,
    command: &str,
    text: &str,
    trigger: &str,
) -> String {
    let pairs = [
        ("token", "legacy-verification-token"),
        ("team_id", "T1"),
        ("team_domain", "acme"),
        ("channel_id", channel),
        ("channel_name", "deploys"),
        ("user_id", user),
        ("user_name", user),
        ("command", command),
        ("text", text),
        ("api_app_id", "A0DECKHAND"),
        ("response_url", "https://hooks.slack.com/commands/T1/1/x"),
        ("trigger_id", trigger),
    ];
    pairs
        .iter()
        .map(|(k, v)| format!("{k}={}", encode(v)))
        .collect::<Vec<_>>()
        .join("&")
}

/// A slash command as a Socket Mode payload.
pub fn slash_command_payload(
    user: &str,
    channel: &str,
    command: &str,
    text: &str,
    trigger: &str,
) -> Value {
    json!({
        "token": "legacy-verification-token", "team_id": "T1", "team_domain": "acme",
        "channel_id": channel, "channel_name": "deploys", "user_id": user, "user_name": user,
        "command": command, "text": text, "api_app_id": "A0DECKHAND", "is_enterprise_install": "false",
        "response_url": "https://hooks.slack.com/commands/T1/1/x", "trigger_id": trigger
    })
}

fn encode(value: &str) -> String {
    url::form_urlencoded::byte_serialize(value.as_bytes()).collect()
}

/// An Events API callback around `event`.
pub fn event_callback(event_id: &str, event: Value) -> Value {
    json!({
        "token": "legacy-verification-token",
        "team_id": "T1",
        "api_app_id": "A0DECKHAND",
        "event": event,
        "type": "event_callback",
        "event_id": event_id,
        "event_time": 1700000000,
        "authorizations": [{"team_id": "T1", "user_id": "U0BOT", "is_bot": true}]
    })
}

pub fn reaction(added: bool, user: &str, emoji: &str, channel: &str, ts: &str) -> Value {
    json!({
        "type": if added { "reaction_added" } else { "reaction_removed" },
        "user": user,
        "reaction": emoji,
        "item_user": "U0BOT",
        "item": {"type": "message", "channel": channel, "ts": ts},
        "event_ts": "1700000100.000100"
    })
}

pub fn app_mention(user: &str, channel: &str, text: &str) -> Value {
    json!({
        "type": "app_mention", "user": user, "text": text, "ts": "1700000200.000100",
        "channel": channel, "event_ts": "1700000200.000100"
    })
}

/// A click on one of deckhand's buttons.
pub fn block_action(
    user: &str,
    channel: &str,
    message_ts: &str,
    action_id: &str,
    value: &str,
) -> Value {
    json!({
        "type": "block_actions",
        "team": {"id": "T1", "domain": "acme"},
        "user": {"id": user, "username": user, "team_id": "T1"},
        "api_app_id": "A0DECKHAND",
        "token": "legacy-verification-token",
        "container": {"type": "message", "message_ts": message_ts, "channel_id": channel, "is_ephemeral": false},
        "trigger_id": format!("trigger-{action_id}-{value}"),
        "channel": {"id": channel, "name": "deploys"},
        "actions": [{
            "type": "button", "action_id": action_id, "block_id": format!("job-{value}"),
            "value": value, "text": {"type": "plain_text", "text": "x"}, "action_ts": "1700000300.000100"
        }]
    })
}
