//! `SlackTester`: deckhand's real server and slack-morphism client against the fake
//! Slack, driven like the console `Tester` (`t.say("alice", "/deploy prod")`,
//! `t.react("bob", "✅", &card)`, `t.next_post()`), in HTTP mode or Socket Mode.

use std::sync::atomic::{AtomicU64, Ordering};

use deckhand::config::Config;
use deckhand::server::{Options, Server};
use deckhand::slack::{Limits, SlackSettings};
use deckhand::store::jobs::{Job, JobState};
use serde_json::Value;

use super::{
    Call, FakeSlack, app_mention, block_action, event_callback, reaction, sign, slash_command,
    slash_command_payload,
};
use crate::console::{fast_limits, quick_settings};
use crate::team::{self, Deckhand, People};

/// The signing secret the tester's deckhand verifies with.
pub const SECRET: &str = "8f742231b10e8888abcd99yyyzzz85a5";
/// The channel people type in.
pub const CHANNEL: &str = "C1";

/// The team on Slack.
pub const PEOPLE: People = People {
    platform: "slack",
    alice: "U01ALICE",
    bob: "U02BOB",
    carol: "U03CAROL",
};

/// How events reach deckhand.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// Signed HTTP requests to `/slack/commands`, `/slack/events`, `/slack/interactivity`.
    Http,
    /// Envelopes on the Socket Mode websocket.
    Socket,
}

/// A message deckhand posted, as Slack names it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Card {
    pub channel: String,
    pub ts: String,
}

pub struct SlackTester {
    pub slack: FakeSlack,
    pub server: Server,
    pub http: reqwest::Client,
    mode: Mode,
    serial: AtomicU64,
}

/// The Slack settings for a fake at `api_url`.
pub fn settings(slack: &FakeSlack, mode: Mode, limits: Limits) -> SlackSettings {
    SlackSettings {
        bot_token: "xoxb-test-token".to_owned().into(),
        app_token: (mode == Mode::Socket).then(|| "xapp-test-token".to_owned().into()),
        signing_secret: (mode == Mode::Http).then(|| SECRET.to_owned().into()),
        api_url: Some(slack.api_url.clone()),
        limits,
    }
}

fn now() -> i64 {
    chrono::Utc::now().timestamp()
}

/// Slack's names for the emoji the tests use.
fn emoji_name(emoji: &str) -> &str {
    match emoji {
        "✅" => "white_check_mark",
        "✔️" => "heavy_check_mark",
        "❌" => "x",
        "💤" => "zzz",
        other => other,
    }
}

impl SlackTester {
    /// The team's config, fast outbound limits.
    pub async fn start(mode: Mode) -> SlackTester {
        SlackTester::start_with(mode, fast_limits()).await
    }

    pub async fn start_with(mode: Mode, limits: Limits) -> SlackTester {
        SlackTester::start_with_settings(mode, limits, quick_settings()).await
    }

    /// With the engine's timings and bounds given.
    pub async fn start_with_settings(
        mode: Mode,
        limits: Limits,
        engine: deckhand::jobs::Settings,
    ) -> SlackTester {
        SlackTester::start_full(mode, limits, engine, "").await
    }

    /// The team's config with `extra` TOML after it (incidents, reminders, secrets).
    pub async fn start_with_config(mode: Mode, extra: &str) -> SlackTester {
        SlackTester::start_full(mode, fast_limits(), quick_settings(), extra).await
    }

    async fn start_full(
        mode: Mode,
        limits: Limits,
        engine: deckhand::jobs::Settings,
        extra: &str,
    ) -> SlackTester {
        let slack = FakeSlack::start().await;
        for (name, id) in PEOPLE.named() {
            slack.name(id, name);
        }
        let (store, _) = deckhand::testing::sqlite().await;
        let text = team::config(&["slack:#deploys"], &[PEOPLE]) + "\n" + extra;
        let config = Config::parse(&text, "slack-test.toml").expect("team config");
        let options = Options {
            settings: engine,
            listen: "127.0.0.1:0".into(),
            slack: Some(settings(&slack, mode, limits)),
            discord: None,
            api_token: None,
            metrics_token: None,
            edge: Default::default(),
            github: None,
        };
        let server = Server::start(config, store, options).await.expect("server");
        if mode == Mode::Socket {
            slack.wait_for_connections(1).await;
        }
        SlackTester {
            slack,
            server,
            http: reqwest::Client::new(),
            mode,
            serial: AtomicU64::new(1),
        }
    }

    fn next_serial(&self) -> u64 {
        self.serial.fetch_add(1, Ordering::SeqCst)
    }

    /// `who` types a slash command (`"/deploy prod v1"`) in `#C1`; returns the ack's body
    /// (in Socket Mode, the ack's payload).
    pub async fn say(&self, who: &str, text: &str) -> Value {
        let trigger = format!("trigger-{}", self.next_serial());
        self.say_with_trigger(who, text, &trigger).await
    }

    /// A slash command with a given trigger id: the same one twice is a redelivery.
    pub async fn say_with_trigger(&self, who: &str, text: &str, trigger: &str) -> Value {
        let (command, rest) = text.split_once(' ').unwrap_or((text, ""));
        let user = PEOPLE.id(who);
        match self.mode {
            Mode::Http => {
                let body = slash_command(&user, CHANNEL, command, rest, trigger);
                let answer = self.post_form("/slack/commands", &body).await;
                assert_eq!(answer.status(), 200, "a slash command is acknowledged");
                answer.json().await.expect("the ack is JSON")
            }
            Mode::Socket => {
                let payload = slash_command_payload(&user, CHANNEL, command, rest, trigger);
                let envelope = self.slack.envelope("slash_commands", payload);
                self.slack.ack(&envelope).await["payload"].clone()
            }
        }
    }

    /// `who` mentions the bot: `"status prod"` becomes `<@U0BOT> status prod`.
    pub async fn mention(&self, who: &str, text: &str) {
        let text = format!("<@U0BOT> {text}");
        self.event(app_mention(&PEOPLE.id(who), CHANNEL, &text))
            .await;
    }

    /// `who` adds `emoji` to `card`.
    pub async fn react(&self, who: &str, emoji: &str, card: &Card) {
        let event = reaction(
            true,
            &PEOPLE.id(who),
            emoji_name(emoji),
            &card.channel,
            &card.ts,
        );
        self.event(event).await;
    }

    /// `who` clicks a button of `card` (`deckhand_approve`, value the job id).
    pub async fn click(&self, who: &str, card: &Card, action_id: &str, value: &str) {
        let click = block_action(&PEOPLE.id(who), &card.channel, &card.ts, action_id, value);
        let form = format!(
            "payload={}",
            url::form_urlencoded::byte_serialize(click.to_string().as_bytes()).collect::<String>()
        );
        let answer = self.post_form("/slack/interactivity", &form).await;
        assert_eq!(answer.status(), 200);
    }

    /// One Events API callback with a fresh event id.
    pub async fn event(&self, event: Value) {
        let callback = event_callback(&format!("Ev{}", self.next_serial()), event);
        self.deliver(&callback, None).await;
    }

    /// Delivers an event callback as given; `retry` adds Slack's retry headers.
    pub async fn deliver(&self, callback: &Value, retry: Option<u32>) {
        match self.mode {
            Mode::Http => {
                let body = callback.to_string();
                let mut request = self.signed("/slack/events", "application/json", &body, now());
                if let Some(n) = retry {
                    request = request
                        .header("x-slack-retry-num", n.to_string())
                        .header("x-slack-retry-reason", "http_timeout");
                }
                let answer = request.send().await.expect("deckhand answers");
                assert_eq!(answer.status(), 200, "an event is acknowledged");
            }
            Mode::Socket => {
                let envelope = self.slack.envelope("events_api", callback.clone());
                self.slack.ack(&envelope).await;
            }
        }
    }

    /// A signed form POST.
    pub async fn post_form(&self, path: &str, body: &str) -> reqwest::Response {
        self.signed(path, "application/x-www-form-urlencoded", body, now())
            .send()
            .await
            .expect("deckhand answers")
    }

    /// A request to deckhand signed with the tester's secret at `timestamp`.
    pub fn signed(
        &self,
        path: &str,
        content_type: &str,
        body: &str,
        timestamp: i64,
    ) -> reqwest::RequestBuilder {
        self.request(path, content_type, body)
            .header("x-slack-request-timestamp", timestamp.to_string())
            .header("x-slack-signature", sign(SECRET, timestamp, body))
    }

    /// An unsigned request to deckhand (add your own headers).
    pub fn request(&self, path: &str, content_type: &str, body: &str) -> reqwest::RequestBuilder {
        self.http
            .post(format!("http://{}{path}", self.server.addr))
            .header("content-type", content_type)
            .body(body.to_owned())
    }

    /// The card of job `id` on Slack, once deckhand has posted and remembered it.
    pub async fn card(&self, id: i64) -> Card {
        let card = self.deckhand().card("slack", id).await;
        Card {
            channel: card.channel,
            ts: card.message_id,
        }
    }

    /// The next message deckhand sent (posted, edited or whispered) after those read.
    pub async fn next_post(&self) -> Call {
        self.expect_post(|_| true, "any message").await
    }

    /// Reads on past messages until one of `method` contains `needle`; returns it.
    pub async fn expect(&self, method: &str, needle: &str) -> Call {
        self.expect_post(
            |c| c.method == method && c.text().contains(needle),
            &format!("{method} with {needle:?}"),
        )
        .await
    }

    async fn expect_post(&self, matches: impl Fn(&Call) -> bool, what: &str) -> Call {
        self.slack
            .next(what, |call| is_message(call) && matches(call))
            .await
    }

    /// The deckhand under test, for what does not depend on the platform.
    pub fn deckhand(&self) -> Deckhand<'_> {
        Deckhand(&self.server)
    }

    pub async fn job(&self, id: i64) -> Option<Job> {
        self.deckhand().job(id).await
    }

    pub async fn wait_for_state(&self, id: i64, state: JobState) -> Job {
        self.deckhand().wait_for_state(id, state).await
    }

    /// Jobs ever requested for `env`.
    pub async fn jobs(&self, env: &str) -> usize {
        self.deckhand().jobs(env).await
    }

    /// Waits until deckhand has handled `count` events to their end and said everything
    /// it meant to say: after this, "nothing else happened" is a fact, not a hope.
    pub async fn settled(&self, count: u64) {
        let slack = self.server.slack.as_ref().expect("slack runs");
        self.deckhand()
            .settled(count, || slack.outbound_busy())
            .await;
    }
}

/// A call that carries a message to people (not users.info or reactions.add).
fn is_message(call: &Call) -> bool {
    matches!(
        call.method.as_str(),
        "chat.postMessage" | "chat.update" | "chat.postEphemeral"
    )
}
