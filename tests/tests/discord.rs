//! Discord end to end: the real serenity client in deckhand against a fake Discord on
//! 127.0.0.1 (gateway and REST), the HTTP interactions endpoint, and Slack and Discord
//! configured together.

use std::time::Duration;

use deckhand::config::Config;
use deckhand::discord::DiscordSettings;
use deckhand::server::{Options, Server};
use deckhand::slack::SlackSettings;
use deckhand::store::jobs::{self, JobState};
use deckhand_tests::console::quick_settings;
use deckhand_tests::discord::{FakeDiscord, GUILD_ID, button, command, reaction, user};
use ed25519_dalek::{Signer, SigningKey};
use serde_json::{Value, json};

const ALICE: &str = "700000000000000001";
const BOB: &str = "700000000000000002";
const CAROL: &str = "700000000000000003";
const CHANNEL: &str = "600000000000000001";
const ANNOUNCE: &str = "600000000000000009";

fn config() -> String {
    format!(
        r#"
[bot]
announce = ["discord:{ANNOUNCE}", "slack:#deploys"]

[roles]
deployers = ["discord:{ALICE}", "slack:U01ALICE"]
approvers = ["discord:{BOB}", "discord:{CAROL}", "slack:U02BOB"]

[environments.prod]
deployers = ["deployers"]
approvers = ["approvers"]
approvals = 1

[[environments.prod.deploy]]
name = "Build"
run = ["sh", "-c", "echo building"]

[[environments.prod.deploy]]
name = "Deploy"
run = ["true"]

[environments.twokeys]
deployers = ["deployers"]
approvers = ["approvers"]
approvals = 2

[[environments.twokeys.deploy]]
name = "Deploy"
run = ["true"]

[environments.many]
deployers = ["deployers"]

[[environments.many.deploy]]
name = "Step 1"
run = ["true"]
[[environments.many.deploy]]
name = "Step 2"
run = ["true"]
[[environments.many.deploy]]
name = "Step 3"
run = ["true"]
[[environments.many.deploy]]
name = "Step 4"
run = ["true"]
[[environments.many.deploy]]
name = "Step 5"
run = ["true"]
"#
    )
}

fn signing_key() -> SigningKey {
    SigningKey::from_bytes(&[7u8; 32])
}

struct Harness {
    discord: FakeDiscord,
    server: Server,
}

async fn start(gateway: bool, slack: Option<SlackSettings>) -> Harness {
    let discord = FakeDiscord::start().await;
    discord.name(BOB, "bob");
    discord.name(CAROL, "carol");
    let settings = DiscordSettings {
        token: "fake-bot-token".to_owned().into(),
        public_key: Some(hex::encode(signing_key().verifying_key().to_bytes())),
        api_url: Some(discord.api_url.clone()),
        guild_id: Some(GUILD_ID.parse().unwrap()),
        gateway,
        limits: deckhand_tests::console::fast_limits(),
    };
    let (store, _) = deckhand::testing::sqlite().await;
    let config = Config::parse(&config(), "discord-test.toml").unwrap();
    let options = Options {
        settings: quick_settings(),
        listen: "127.0.0.1:0".into(),
        slack,
        discord: Some(settings),
        api_token: None,
    };
    let server = Server::start(config, store, options).await.expect("server");
    if gateway {
        discord.wait_ready().await;
    }
    Harness { discord, server }
}

impl Harness {
    async fn wait_state(&self, env: &str, id: i64, state: JobState) {
        let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
        loop {
            let job = jobs::get(&self.server.engine.store().pool, id)
                .await
                .unwrap();
            if job
                .as_ref()
                .is_some_and(|j| j.state == state && j.env == env)
            {
                return;
            }
            assert!(
                tokio::time::Instant::now() < deadline,
                "job {id} never became {state:?}: {job:?}"
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// The id of the card message deckhand posted (the fake answers with ids it makes).
    async fn card_id(&self) -> String {
        let call = self
            .discord
            .wait_for_text(
                "POST",
                &format!("/channels/{CHANNEL}/messages"),
                "awaiting approval",
            )
            .await;
        call.created.expect("the fake gave the card an id")
    }
}

fn options(pairs: &[(&str, Value)]) -> Value {
    Value::Array(pairs.iter().map(|(name, value)| json!({ "name": name, "type": if value.is_string() { 3 } else { 4 }, "value": value })).collect())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn gateway_deploy_is_deferred_approved_by_reaction_edited_and_announced() {
    let h = start(true, None).await;
    let identify = &h.discord.identifies()[0];
    assert_eq!(
        identify["intents"],
        json!((1 << 0) | (1 << 10) | (1 << 13)),
        "guilds + guild and DM reactions, nothing more"
    );
    h.discord
        .wait_until("commands registered", |f| {
            f.registered(Some(GUILD_ID)).is_some()
        })
        .await;
    let registered = h.discord.registered(Some(GUILD_ID)).unwrap();
    assert!(
        registered.to_string().contains("\"autocomplete\":true"),
        "env options autocomplete"
    );

    h.discord.dispatch(
        "INTERACTION_CREATE",
        command(
            "500000000000000001",
            user(ALICE, "alice"),
            CHANNEL,
            "deploy",
            options(&[("env", json!("prod")), ("ref", json!("v1.4.2"))]),
        ),
    );
    let deferred = h
        .discord
        .wait_for_text("POST", "/interactions/500000000000000001/", "\"type\":5")
        .await;
    assert_eq!(deferred.body["data"]["flags"], 64, "deferred and ephemeral");
    let card = h.card_id().await;
    h.discord
        .dispatch("MESSAGE_REACTION_ADD", reaction(BOB, CHANNEL, &card, "✅"));
    h.wait_state("prod", 1, JobState::Succeeded).await;
    let edited = h
        .discord
        .wait_for_text(
            "PATCH",
            &format!("/channels/{CHANNEL}/messages/{card}"),
            "succeeded",
        )
        .await;
    assert!(edited.text().contains("✅ Build"), "{}", edited.text());
    assert!(edited.text().contains("bob"), "{}", edited.text());
    assert_eq!(edited.authorization.as_deref(), Some("Bot fake-bot-token"));
    let announced = h
        .discord
        .wait_for_text(
            "POST",
            &format!("/channels/{ANNOUNCE}/messages"),
            "Deployed",
        )
        .await;
    assert!(announced.text().contains("v1.4.2"));
    // The deferred answer was completed for alice.
    h.discord
        .wait_for_text("PATCH", "/webhooks/", "see the channel")
        .await;
    h.server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn commands_are_registered_only_when_they_changed() {
    let h = start(true, None).await;
    h.discord
        .wait_until("commands registered", |f| {
            f.registered(Some(GUILD_ID)).is_some()
        })
        .await;
    let puts = h
        .discord
        .calls()
        .iter()
        .filter(|c| c.method == "PUT")
        .count();
    assert_eq!(puts, 1);
    h.server.stop().await;
    // A restart against the same Discord finds them unchanged.
    let discord = h.discord.clone();
    let settings = DiscordSettings {
        token: "fake-bot-token".to_owned().into(),
        public_key: None,
        api_url: Some(discord.api_url.clone()),
        guild_id: Some(GUILD_ID.parse().unwrap()),
        gateway: true,
        limits: deckhand_tests::console::fast_limits(),
    };
    let (store, _) = deckhand::testing::sqlite().await;
    let config = Config::parse(&config(), "discord-test.toml").unwrap();
    let server = Server::start(
        config,
        store,
        Options {
            settings: quick_settings(),
            listen: "127.0.0.1:0".into(),
            slack: None,
            discord: Some(settings),
            api_token: None,
        },
    )
    .await
    .unwrap();
    discord
        .wait_until("second identify", |f| f.identifies().len() >= 2)
        .await;
    discord
        .wait_until("commands fetched again", |f| {
            f.calls()
                .iter()
                .filter(|c| c.method == "GET" && c.path.contains("/commands"))
                .count()
                >= 2
        })
        .await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(
        discord.calls().iter().filter(|c| c.method == "PUT").count(),
        1,
        "no second registration"
    );
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn self_approval_on_discord_is_refused_privately() {
    let h = start(true, None).await;
    h.discord.dispatch(
        "INTERACTION_CREATE",
        command(
            "500000000000000002",
            user(ALICE, "alice"),
            CHANNEL,
            "deploy",
            options(&[("env", json!("prod"))]),
        ),
    );
    let card = h.card_id().await;
    h.discord.dispatch(
        "MESSAGE_REACTION_ADD",
        reaction(ALICE, CHANNEL, &card, "✅"),
    );
    let refusal = h
        .discord
        .wait_for_any("/webhooks/", "can't approve your own job")
        .await;
    assert_eq!(refusal.body["flags"], 64, "only alice sees it");
    assert!(refusal.path.contains("token-500000000000000002"));
    h.wait_state("prod", 1, JobState::AwaitingApproval).await;
    h.server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_reaction_replayed_after_a_resume_counts_once() {
    let h = start(true, None).await;
    h.discord.dispatch(
        "INTERACTION_CREATE",
        command(
            "500000000000000003",
            user(ALICE, "alice"),
            CHANNEL,
            "deploy",
            options(&[("env", json!("twokeys"))]),
        ),
    );
    let card = h.card_id().await;
    let bob = reaction(BOB, CHANNEL, &card, "✅");
    h.discord.dispatch("MESSAGE_REACTION_ADD", bob.clone());
    let sequence = h.discord.sequence();
    h.discord
        .wait_for_any(&format!("/messages/{card}"), "1/2")
        .await;
    h.discord.reconnect();
    h.discord.wait_until("a resume", |f| f.resumes() >= 1).await;
    h.discord
        .wait_until("the socket", |f| f.resumes() >= 1)
        .await;
    tokio::time::sleep(Duration::from_millis(200)).await;
    h.discord.redispatch("MESSAGE_REACTION_ADD", bob, sequence);
    tokio::time::sleep(Duration::from_millis(500)).await;
    let store = &h.server.engine.store().pool;
    assert_eq!(
        deckhand::store::approvals::list(store, 1)
            .await
            .unwrap()
            .len(),
        1
    );
    h.wait_state("twokeys", 1, JobState::AwaitingApproval).await;
    h.discord.dispatch(
        "MESSAGE_REACTION_ADD",
        reaction(CAROL, CHANNEL, &card, "✅"),
    );
    h.wait_state("twokeys", 1, JobState::Succeeded).await;
    h.server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn buttons_approve_on_discord() {
    let h = start(true, None).await;
    h.discord.dispatch(
        "INTERACTION_CREATE",
        command(
            "500000000000000004",
            user(ALICE, "alice"),
            CHANNEL,
            "deploy",
            options(&[("env", json!("prod"))]),
        ),
    );
    let card = h.card_id().await;
    h.discord.dispatch(
        "INTERACTION_CREATE",
        button(
            "500000000000000005",
            user(BOB, "bob"),
            CHANNEL,
            &card,
            "deckhand_approve:1",
        ),
    );
    h.discord
        .wait_for_text("POST", "/interactions/500000000000000005/", "\"type\":6")
        .await;
    h.wait_state("prod", 1, JobState::Succeeded).await;
    h.server.stop().await;
}

async fn post_interaction(h: &Harness, body: &Value, sign_with: &SigningKey) -> reqwest::Response {
    let body = body.to_string();
    let timestamp = chrono::Utc::now().timestamp().to_string();
    let signature = sign_with.sign(format!("{timestamp}{body}").as_bytes());
    reqwest::Client::new()
        .post(format!("http://{}/discord/interactions", h.server.addr))
        .header("content-type", "application/json")
        .header("x-signature-ed25519", hex::encode(signature.to_bytes()))
        .header("x-signature-timestamp", timestamp)
        .body(body)
        .send()
        .await
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_http_endpoint_answers_ping_and_rejects_bad_signatures() {
    let h = start(false, None).await;
    let ping = json!({ "id": "500000000000000010", "application_id": deckhand_tests::discord::APPLICATION_ID, "type": 1, "token": "t", "version": 1 });
    let answer = post_interaction(&h, &ping, &signing_key()).await;
    assert_eq!(answer.status(), 200);
    assert_eq!(answer.json::<Value>().await.unwrap(), json!({ "type": 1 }));
    let deploy = command(
        "500000000000000011",
        user(ALICE, "alice"),
        CHANNEL,
        "deploy",
        options(&[("env", json!("prod"))]),
    );
    let forged = post_interaction(&h, &deploy, &SigningKey::from_bytes(&[9u8; 32])).await;
    assert_eq!(forged.status(), 401);
    let unsigned = reqwest::Client::new()
        .post(format!("http://{}/discord/interactions", h.server.addr))
        .body(deploy.to_string())
        .send()
        .await
        .unwrap();
    assert_eq!(unsigned.status(), 401);
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert!(
        jobs::get(&h.server.engine.store().pool, 1)
            .await
            .unwrap()
            .is_none(),
        "no job"
    );
    assert!(
        h.discord
            .calls()
            .iter()
            .all(|c| !c.path.contains("/channels/")),
        "nothing posted"
    );
    let accepted = post_interaction(&h, &deploy, &signing_key()).await;
    assert_eq!(accepted.status(), 200);
    assert_eq!(accepted.json::<Value>().await.unwrap()["type"], 5);
    h.discord
        .wait_for_text(
            "POST",
            &format!("/channels/{CHANNEL}/messages"),
            "awaiting approval",
        )
        .await;
    h.server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_429_burst_loses_no_update() {
    let h = start(true, None).await;
    h.discord
        .rate_limit(&format!("/channels/{CHANNEL}/messages/"), 3);
    h.discord.dispatch(
        "INTERACTION_CREATE",
        command(
            "500000000000000020",
            user(ALICE, "alice"),
            CHANNEL,
            "deploy",
            options(&[("env", json!("many"))]),
        ),
    );
    h.wait_state("many", 1, JobState::Succeeded).await;
    let last = h
        .discord
        .wait_for_text(
            "PATCH",
            &format!("/channels/{CHANNEL}/messages/"),
            "succeeded",
        )
        .await;
    assert!(last.text().contains("✅ Step 5"), "{}", last.text());
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let limited = h
        .discord
        .calls()
        .iter()
        .filter(|c| c.method == "PATCH (429)")
        .count();
    assert_eq!(limited, 3);
    let edits: Vec<_> = h
        .discord
        .calls()
        .into_iter()
        .filter(|c| {
            c.method == "PATCH"
                && c.path
                    .starts_with(&format!("/channels/{CHANNEL}/messages/"))
        })
        .collect();
    assert!(
        edits.last().unwrap().text().contains("succeeded"),
        "latest state last"
    );
    assert!(h.server.discord.as_ref().unwrap().rate_limit_waits() >= 3);
    h.server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_deploy_started_in_slack_is_announced_on_slack_and_discord() {
    let slack = deckhand_tests::slack::FakeSlack::start().await;
    slack.name("U01ALICE", "alice");
    let settings = SlackSettings {
        bot_token: "xoxb-test".to_owned().into(),
        app_token: None,
        signing_secret: Some("secret".to_owned().into()),
        api_url: Some(slack.api_url.clone()),
        limits: deckhand_tests::console::fast_limits(),
    };
    let h = start(true, Some(settings)).await;
    let body =
        deckhand_tests::slack::slash_command("U01ALICE", "C1", "/deploy", "many v9", "trigger-1");
    let now = chrono::Utc::now().timestamp();
    let answer = reqwest::Client::new()
        .post(format!("http://{}/slack/commands", h.server.addr))
        .header("content-type", "application/x-www-form-urlencoded")
        .header("x-slack-request-timestamp", now.to_string())
        .header(
            "x-slack-signature",
            deckhand_tests::slack::sign("secret", now, &body),
        )
        .body(body)
        .send()
        .await
        .unwrap();
    assert_eq!(answer.status(), 200);
    h.wait_state("many", 1, JobState::Succeeded).await;
    slack.wait_for_text("chat.postMessage", "Deployed").await;
    let on_discord = h
        .discord
        .wait_for_text(
            "POST",
            &format!("/channels/{ANNOUNCE}/messages"),
            "Deployed",
        )
        .await;
    assert!(on_discord.text().contains("v9"));
    h.server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn env_options_autocomplete_from_the_config_and_a_retried_interaction_counts_once() {
    let h = start(true, None).await;
    let mut autocomplete = command(
        "500000000000000030",
        user(ALICE, "alice"),
        CHANNEL,
        "deploy",
        json!([{ "name": "env", "type": 3, "value": "tw", "focused": true }]),
    );
    autocomplete["type"] = json!(4);
    h.discord.dispatch("INTERACTION_CREATE", autocomplete);
    let choices = h
        .discord
        .wait_for_text("POST", "/interactions/500000000000000030/", "\"type\":8")
        .await;
    assert_eq!(
        choices.body["data"]["choices"],
        json!([{ "name": "twokeys", "value": "twokeys" }])
    );
    let deploy = command(
        "500000000000000031",
        user(ALICE, "alice"),
        CHANNEL,
        "deploy",
        options(&[("env", json!("prod"))]),
    );
    h.discord.dispatch("INTERACTION_CREATE", deploy.clone());
    h.discord.dispatch("INTERACTION_CREATE", deploy);
    h.card_id().await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(
        jobs::history(&h.server.engine.store().pool, "prod", 10)
            .await
            .unwrap()
            .len(),
        1,
        "one job"
    );
    h.server.stop().await;
}
