//! `DiscordTester`: deckhand's real server and serenity client against the fake Discord,
//! driven like the console `Tester` (`t.say("alice", "deploy", &[("env", "prod")])`,
//! `t.react("bob", "✅", &card)`, `t.next_post()`), over the gateway or the signed HTTP
//! interactions endpoint, alone or beside a fake Slack.

use std::sync::atomic::{AtomicU64, Ordering};

use deckhand::config::Config;
use deckhand::discord::DiscordSettings;
use deckhand::server::{Options, Server};
use deckhand::store::jobs::{Job, JobState};
use ed25519_dalek::{Signer, SigningKey};
use serde_json::{Value, json};

use super::{Call, FakeDiscord, GUILD_ID, button, command, reaction, user};
use crate::console::{fast_limits, quick_settings};
use crate::slack::{FakeSlack, tester as slack};
use crate::team::{self, Deckhand, People};

/// The channel people type in.
pub const CHANNEL: &str = "600000000000000001";
/// Where announcements go.
pub const ANNOUNCE: &str = "600000000000000009";

/// The team on Discord.
pub const PEOPLE: People = People {
    platform: "discord",
    alice: "700000000000000001",
    bob: "700000000000000002",
    carol: "700000000000000003",
};

/// The key the fake signs HTTP interactions with; deckhand has its public half.
pub fn signing_key() -> SigningKey {
    SigningKey::from_bytes(&[7u8; 32])
}

/// How interactions reach deckhand.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// Dispatches on the gateway websocket.
    Gateway,
    /// Signed POSTs to `/discord/interactions` (reactions need the gateway, so none).
    Http,
}

/// A message deckhand posted, as Discord names it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Message {
    pub channel: String,
    pub id: String,
}

pub struct DiscordTester {
    pub discord: FakeDiscord,
    /// The fake Slack, when the test runs both platforms.
    pub slack: Option<FakeSlack>,
    pub server: Server,
    mode: Mode,
    serial: AtomicU64,
}

/// deckhand's Discord settings for the fake.
pub fn settings(discord: &FakeDiscord, mode: Mode) -> DiscordSettings {
    DiscordSettings {
        token: "fake-bot-token".to_owned().into(),
        public_key: Some(hex::encode(signing_key().verifying_key().to_bytes())),
        api_url: Some(discord.api_url.clone()),
        guild_ids: vec![GUILD_ID.parse().expect("a snowflake")],
        gateway: mode == Mode::Gateway,
        limits: fast_limits(),
    }
}

/// The team's config on Discord (and Slack, when it runs too).
pub fn config(with_slack: bool) -> Config {
    let announce = format!("discord:{ANNOUNCE}");
    let mut channels = vec![announce.as_str()];
    let mut teams = vec![PEOPLE];
    if with_slack {
        channels.push("slack:#deploys");
        teams.push(slack::PEOPLE);
    }
    Config::parse(&team::config(&channels, &teams), "discord-test.toml").expect("team config")
}

impl DiscordTester {
    pub async fn start(mode: Mode) -> DiscordTester {
        DiscordTester::start_on(FakeDiscord::start().await, mode, false).await
    }

    /// Discord over the gateway and Slack over HTTP, on one deckhand.
    pub async fn with_slack() -> DiscordTester {
        DiscordTester::start_on(FakeDiscord::start().await, Mode::Gateway, true).await
    }

    /// A deckhand (on a fresh store) against an existing fake, as after a restart.
    pub async fn start_on(discord: FakeDiscord, mode: Mode, with_slack: bool) -> DiscordTester {
        for (name, id) in PEOPLE.named() {
            discord.name(id, name);
        }
        let slack = if with_slack {
            let slack = FakeSlack::start().await;
            for (name, id) in slack::PEOPLE.named() {
                slack.name(id, name);
            }
            Some(slack)
        } else {
            None
        };
        let (store, _) = deckhand::testing::sqlite().await;
        let options = Options {
            settings: quick_settings(),
            listen: "127.0.0.1:0".into(),
            slack: slack
                .as_ref()
                .map(|s| slack::settings(s, slack::Mode::Http, fast_limits())),
            discord: Some(settings(&discord, mode)),
            api_token: None,
            metrics_token: None,
            edge: Default::default(),
            github: None,
        };
        let server = Server::start(config(with_slack), store, options)
            .await
            .expect("server");
        if mode == Mode::Gateway {
            discord.wait_ready().await;
        }
        DiscordTester {
            discord,
            slack,
            server,
            mode,
            serial: AtomicU64::new(1),
        }
    }

    /// A fresh interaction id (a snowflake).
    pub fn interaction_id(&self) -> String {
        format!(
            "5000000000000{:05}",
            self.serial.fetch_add(1, Ordering::SeqCst)
        )
    }

    /// `who` runs slash command `name` with `options` in the channel; returns deckhand's
    /// interaction response.
    pub async fn say(&self, who: &str, name: &str, options: &[(&str, &str)]) -> Value {
        let id = self.interaction_id();
        let options: Vec<Value> = options
            .iter()
            .map(|(name, value)| json!({ "name": name, "type": 3, "value": value }))
            .collect();
        let interaction = command(&id, self.user(who), CHANNEL, name, Value::Array(options));
        self.interact(&interaction).await
    }

    /// Delivers an interaction as given; returns deckhand's interaction response.
    pub async fn interact(&self, interaction: &Value) -> Value {
        let id = interaction["id"]
            .as_str()
            .expect("an interaction id")
            .to_owned();
        match self.mode {
            Mode::Gateway => {
                self.discord
                    .dispatch("INTERACTION_CREATE", interaction.clone());
                let callback = format!("/interactions/{id}/");
                self.discord
                    .wait_for("POST", |c| c.path.starts_with(&callback))
                    .await
                    .body
            }
            Mode::Http => {
                let answer = self.post_interaction(interaction, &signing_key()).await;
                assert_eq!(answer.status(), 200, "a signed interaction is answered");
                let answer: Value = answer.json().await.expect("an interaction response");
                self.discord.answered(interaction, &answer);
                answer
            }
        }
    }

    /// POSTs `body` to `/discord/interactions`, signed with `key`.
    pub async fn post_interaction(&self, body: &Value, key: &SigningKey) -> reqwest::Response {
        self.post_interaction_at(body, key, chrono::Utc::now().timestamp())
            .await
    }

    /// POSTs `body` signed with `key` as sent at `timestamp` (Unix seconds).
    pub async fn post_interaction_at(
        &self,
        body: &Value,
        key: &SigningKey,
        timestamp: i64,
    ) -> reqwest::Response {
        self.discord.issued(body);
        let body = body.to_string();
        let timestamp = timestamp.to_string();
        let signature = key.sign(format!("{timestamp}{body}").as_bytes());
        reqwest::Client::new()
            .post(format!("http://{}/discord/interactions", self.server.addr))
            .header("content-type", "application/json")
            .header("x-signature-ed25519", hex::encode(signature.to_bytes()))
            .header("x-signature-timestamp", timestamp)
            .body(body)
            .send()
            .await
            .expect("deckhand answers")
    }

    /// `who`'s user object, as interactions carry it.
    pub fn user(&self, who: &str) -> Value {
        user(&PEOPLE.id(who), who)
    }

    /// `who` adds `emoji` to `message` (a gateway dispatch).
    pub fn react(&self, who: &str, emoji: &str, message: &Message) {
        let data = reaction(&PEOPLE.id(who), &message.channel, &message.id, emoji);
        self.discord.dispatch("MESSAGE_REACTION_ADD", data);
    }

    /// `who` clicks the button `custom_id` on `message`; returns deckhand's response.
    pub async fn click(&self, who: &str, message: &Message, custom_id: &str) -> Value {
        let id = self.interaction_id();
        let click = button(
            &id,
            self.user(who),
            &message.channel,
            &message.id,
            custom_id,
        );
        self.interact(&click).await
    }

    /// The card of job `id` on Discord, once deckhand has posted and remembered it.
    pub async fn card(&self, id: i64) -> Message {
        let card = self.deckhand().card("discord", id).await;
        Message {
            channel: card.channel,
            id: card.message_id,
        }
    }

    /// The next message deckhand sent or edited (channel message or interaction reply).
    pub async fn next_post(&self) -> Call {
        self.discord.next("any message", is_message).await
    }

    /// Reads on past messages until one of `method` to a path containing `path` contains
    /// `needle`; returns it.
    pub async fn expect(&self, method: &str, path: &str, needle: &str) -> Call {
        let what = format!("{method} {path} with {needle:?}");
        self.discord
            .next(&what, |c| {
                is_message(c)
                    && c.method == method
                    && c.path.contains(path)
                    && c.text().contains(needle)
            })
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
    /// it meant to say on Discord.
    pub async fn settled(&self, count: u64) {
        let discord = self.server.discord.as_ref().expect("discord runs");
        self.deckhand()
            .settled(count, || discord.outbound_busy())
            .await;
    }
}

/// A call that carries a message to people (not user lookups or command registration).
fn is_message(call: &Call) -> bool {
    !call.method.contains("429")
        && (call.path.contains("/messages") || call.path.starts_with("/webhooks/"))
}
