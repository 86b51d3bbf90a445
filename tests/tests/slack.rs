//! Slack end to end: the real slack-morphism client in deckhand against a fake Slack on
//! 127.0.0.1, in HTTP mode (signed requests) and in Socket Mode.

use std::time::Duration;

use deckhand::config::Config;
use deckhand::server::{Options, Server};
use deckhand::slack::{Limits, SlackSettings};
use deckhand::store::jobs::{self, JobState};
use deckhand_tests::console::quick_settings;
use deckhand_tests::slack::{
    FakeSlack, app_mention, block_action, event_callback, reaction, sign, slash_command,
    slash_command_payload,
};
use serde_json::Value;

const SECRET: &str = "8f742231b10e8888abcd99yyyzzz85a5";

const CONFIG: &str = r#"
[bot]
announce = ["slack:#deploys"]

[roles]
deployers = ["slack:U01ALICE"]
approvers = ["slack:U02BOB", "slack:U03CAROL"]

[environments.prod]
deployers = ["deployers"]
approvers = ["approvers"]
approvals = 1

[[environments.prod.deploy]]
name = "Build"
run = ["sh", "-c", "echo building $DECKHAND_REF"]

[[environments.prod.deploy]]
name = "Deploy"
run = ["sh", "-c", "echo deployed"]

[[environments.prod.deploy]]
name = "Smoke test"
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
[[environments.many.deploy]]
name = "Step 6"
run = ["true"]
"#;

enum Mode {
    Http,
    Socket,
}

struct Harness {
    slack: FakeSlack,
    server: Server,
    http: reqwest::Client,
}

async fn start(mode: Mode, limits: Limits) -> Harness {
    let slack = FakeSlack::start().await;
    slack.name("U01ALICE", "alice");
    slack.name("U02BOB", "bob");
    let settings = SlackSettings {
        bot_token: "xoxb-test-token".to_owned().into(),
        app_token: matches!(mode, Mode::Socket).then(|| "xapp-test-token".to_owned().into()),
        signing_secret: matches!(mode, Mode::Http).then(|| SECRET.to_owned().into()),
        api_url: Some(slack.api_url.clone()),
        limits,
    };
    let (store, _) = deckhand::testing::sqlite().await;
    let config = Config::parse(CONFIG, "slack-test.toml").unwrap();
    let options = Options {
        settings: quick_settings(),
        listen: "127.0.0.1:0".into(),
        slack: Some(settings),
        discord: None,
        api_token: None,
    };
    let server = Server::start(config, store, options).await.expect("server");
    if matches!(mode, Mode::Socket) {
        slack.wait_for_connections(1).await;
    }
    Harness {
        slack,
        server,
        http: reqwest::Client::new(),
    }
}

impl Harness {
    async fn post_signed(
        &self,
        path: &str,
        body: &str,
        content_type: &str,
        timestamp: i64,
        signature: Option<String>,
    ) -> reqwest::Response {
        let mut request = self
            .http
            .post(format!("http://{}{path}", self.server.addr))
            .header("content-type", content_type)
            .header("x-slack-request-timestamp", timestamp.to_string())
            .body(body.to_owned());
        if let Some(signature) = signature.or_else(|| Some(sign(SECRET, timestamp, body))) {
            request = request.header("x-slack-signature", signature);
        }
        request.send().await.unwrap()
    }

    async fn command(
        &self,
        user: &str,
        command: &str,
        text: &str,
        trigger: &str,
    ) -> reqwest::Response {
        let body = slash_command(user, "C1", command, text, trigger);
        self.post_signed(
            "/slack/commands",
            &body,
            "application/x-www-form-urlencoded",
            now(),
            None,
        )
        .await
    }

    async fn event(&self, payload: Value) -> reqwest::Response {
        self.post_signed(
            "/slack/events",
            &payload.to_string(),
            "application/json",
            now(),
            None,
        )
        .await
    }

    async fn jobs(&self) -> usize {
        jobs::history(&self.server.engine.store().pool, "prod", 100)
            .await
            .unwrap()
            .len()
    }

    async fn wait_state(&self, id: i64, state: JobState) {
        let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
        loop {
            let job = jobs::get(&self.server.engine.store().pool, id)
                .await
                .unwrap();
            if job.as_ref().is_some_and(|j| j.state == state) {
                return;
            }
            assert!(
                tokio::time::Instant::now() < deadline,
                "job {id} never became {state:?}: {job:?}"
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
}

fn now() -> i64 {
    chrono::Utc::now().timestamp()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn http_mode_deploy_is_approved_by_reaction_and_announced() {
    let h = start(Mode::Http, deckhand_tests::console::fast_limits()).await;
    let ack = h
        .command("U01ALICE", "/deploy", "prod v1.4.2", "trigger-1")
        .await;
    assert_eq!(ack.status(), 200);
    let ack: Value = ack.json().await.unwrap();
    assert_eq!(ack["response_type"], "ephemeral");
    assert!(ack["text"].as_str().unwrap().contains("on it"), "{ack}");

    let card = h
        .slack
        .wait_for_text("chat.postMessage", "awaiting approval")
        .await;
    assert_eq!(card.channel(), "C1");
    assert_eq!(
        card.authorization.as_deref(),
        Some("Bearer xoxb-test-token")
    );
    assert!(
        card.text().contains("deckhand_approve"),
        "the card has buttons: {}",
        card.text()
    );
    let users = h.slack.calls_of("users.info");
    assert!(users.iter().any(|c| c.body["user"] == "U01ALICE"));
    let ts = "1700000000.000001"; // the fake's first ts

    let delivered = h
        .event(event_callback(
            "Ev1",
            reaction(true, "U02BOB", "white_check_mark", "C1", ts),
        ))
        .await;
    assert_eq!(delivered.status(), 200);
    h.wait_state(1, JobState::Succeeded).await;
    let done = h.slack.wait_for_text("chat.update", "succeeded").await;
    assert_eq!(done.body["ts"], ts, "the same card is edited");
    assert!(done.text().contains("✅ Build"), "{}", done.text());
    assert!(
        done.text().contains("bob"),
        "approver shown: {}",
        done.text()
    );
    let announcement = h.slack.wait_for_text("chat.postMessage", "Deployed").await;
    assert_eq!(announcement.channel(), "#deploys");
    assert!(
        announcement.text().contains("v1.4.2"),
        "{}",
        announcement.text()
    );
    h.server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn self_approval_in_slack_is_refused_with_an_ephemeral_reason() {
    let h = start(Mode::Http, deckhand_tests::console::fast_limits()).await;
    h.command("U01ALICE", "/deploy", "prod v2", "trigger-1")
        .await;
    h.slack
        .wait_for_text("chat.postMessage", "awaiting approval")
        .await;
    h.event(event_callback(
        "Ev1",
        reaction(
            true,
            "U01ALICE",
            "white_check_mark",
            "C1",
            "1700000000.000001",
        ),
    ))
    .await;
    let refusal = h
        .slack
        .wait_for_text("chat.postEphemeral", "can't approve your own job")
        .await;
    assert_eq!(refusal.body["user"], "U01ALICE");
    assert_eq!(refusal.channel(), "C1");
    h.wait_state(1, JobState::AwaitingApproval).await;
    h.server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tampered_or_missing_signature_gets_401_and_nothing_happens() {
    let h = start(Mode::Http, deckhand_tests::console::fast_limits()).await;
    let body = slash_command("U01ALICE", "C1", "/deploy", "prod v1", "trigger-1");
    let tampered = sign(SECRET, now(), &body.replace("v1", "v2"));
    let answer = h
        .post_signed(
            "/slack/commands",
            &body,
            "application/x-www-form-urlencoded",
            now(),
            Some(tampered),
        )
        .await;
    assert_eq!(answer.status(), 401);
    let wrong_key = sign("not-the-secret", now(), &body);
    let answer = h
        .post_signed(
            "/slack/commands",
            &body,
            "application/x-www-form-urlencoded",
            now(),
            Some(wrong_key),
        )
        .await;
    assert_eq!(answer.status(), 401);
    let unsigned = h
        .http
        .post(format!("http://{}/slack/commands", h.server.addr))
        .header("content-type", "application/x-www-form-urlencoded")
        .body(body.clone())
        .send()
        .await
        .unwrap();
    assert_eq!(unsigned.status(), 401);
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(h.jobs().await, 0);
    assert!(
        h.slack.calls().is_empty(),
        "nothing was posted: {:?}",
        h.slack.calls()
    );
    h.server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stale_timestamp_gets_401() {
    let h = start(Mode::Http, deckhand_tests::console::fast_limits()).await;
    let body = slash_command("U01ALICE", "C1", "/deploy", "prod v1", "trigger-1");
    let old = now() - 6 * 60;
    let answer = h
        .post_signed(
            "/slack/commands",
            &body,
            "application/x-www-form-urlencoded",
            old,
            None,
        )
        .await;
    assert_eq!(answer.status(), 401);
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(h.jobs().await, 0);
    h.server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn url_verification_is_answered_with_the_challenge() {
    let h = start(Mode::Http, deckhand_tests::console::fast_limits()).await;
    let answer = h.event(serde_json::json!({"token": "t", "challenge": "3eZbrw1aBm2rZgRNFdxV2595E9CY3gmdALWMmHkvFXO7tYXAYM8P", "type": "url_verification"})).await;
    assert_eq!(answer.status(), 200);
    assert_eq!(
        answer.text().await.unwrap(),
        "3eZbrw1aBm2rZgRNFdxV2595E9CY3gmdALWMmHkvFXO7tYXAYM8P"
    );
    h.server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn retried_deliveries_create_one_job_and_count_one_approval() {
    let h = start(Mode::Http, deckhand_tests::console::fast_limits()).await;
    let body = slash_command("U01ALICE", "C1", "/deploy", "twokeys v1", "trigger-1");
    h.post_signed(
        "/slack/commands",
        &body,
        "application/x-www-form-urlencoded",
        now(),
        None,
    )
    .await;
    h.post_signed(
        "/slack/commands",
        &body,
        "application/x-www-form-urlencoded",
        now(),
        None,
    )
    .await;
    h.slack
        .wait_for_text("chat.postMessage", "awaiting approval")
        .await;
    let approval = event_callback(
        "Ev7",
        reaction(
            true,
            "U02BOB",
            "white_check_mark",
            "C1",
            "1700000000.000001",
        ),
    );
    for _ in 0..3 {
        let retried = h
            .http
            .post(format!("http://{}/slack/events", h.server.addr))
            .header("content-type", "application/json")
            .header("x-slack-retry-num", "1")
            .header("x-slack-retry-reason", "http_timeout")
            .header("x-slack-request-timestamp", now().to_string())
            .header(
                "x-slack-signature",
                sign(SECRET, now(), &approval.to_string()),
            )
            .body(approval.to_string())
            .send()
            .await
            .unwrap();
        assert_eq!(retried.status(), 200);
    }
    tokio::time::sleep(Duration::from_millis(500)).await;
    let store = &h.server.engine.store().pool;
    assert_eq!(
        jobs::history(store, "twokeys", 10).await.unwrap().len(),
        1,
        "one job"
    );
    let job = jobs::get(store, 1).await.unwrap().unwrap();
    assert_eq!(
        job.state,
        JobState::AwaitingApproval,
        "bob's ✅ counted once of the two needed"
    );
    assert_eq!(
        deckhand::store::approvals::list(store, 1)
            .await
            .unwrap()
            .len(),
        1
    );
    h.event(event_callback(
        "Ev8",
        reaction(
            true,
            "U03CAROL",
            "heavy_check_mark",
            "C1",
            "1700000000.000001",
        ),
    ))
    .await;
    h.wait_state(1, JobState::Succeeded).await;
    h.server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_parse_error_is_the_ack_itself_and_makes_no_job() {
    let h = start(Mode::Http, deckhand_tests::console::fast_limits()).await;
    let ack: Value = h
        .command("U01ALICE", "/deploy", "prod v1;rm", "trigger-1")
        .await
        .json()
        .await
        .unwrap();
    assert!(
        ack["text"].as_str().unwrap().contains("can't be a ref"),
        "{ack}"
    );
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(h.jobs().await, 0);
    h.server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn buttons_approve_and_umbrella_and_mentions_work() {
    let h = start(Mode::Http, deckhand_tests::console::fast_limits()).await;
    h.command("U01ALICE", "/deckhand", "deploy prod v3", "trigger-1")
        .await;
    let card = h
        .slack
        .wait_for_text("chat.postMessage", "awaiting approval")
        .await;
    let ts = "1700000000.000001";
    let _ = card;
    let click = block_action("U02BOB", "C1", ts, "deckhand_approve", "1");
    let form = format!(
        "payload={}",
        url::form_urlencoded::byte_serialize(click.to_string().as_bytes()).collect::<String>()
    );
    let answer = h
        .post_signed(
            "/slack/interactivity",
            &form,
            "application/x-www-form-urlencoded",
            now(),
            None,
        )
        .await;
    assert_eq!(answer.status(), 200);
    h.wait_state(1, JobState::Succeeded).await;
    h.event(event_callback(
        "Ev2",
        app_mention("U01ALICE", "C1", "<@U0BOT> status prod"),
    ))
    .await;
    let status = h.slack.wait_for_text("chat.postEphemeral", "runs").await;
    assert!(status.text().contains("v3"), "{}", status.text());
    h.server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_burst_of_429s_loses_no_update_and_ends_on_the_latest_state() {
    let limits = Limits {
        per_channel_per_second: 1,
        per_channel_burst: 2,
        global_per_second: 20,
    };
    let h = start(Mode::Http, limits).await;
    h.slack.rate_limit("chat.update", 3);
    h.command("U01ALICE", "/deploy", "many v1", "trigger-1")
        .await;
    h.wait_state(1, JobState::Succeeded).await;
    let last = h.slack.wait_for_text("chat.update", "succeeded").await;
    assert!(last.text().contains("✅ Step 6"), "{}", last.text());
    // The 429s were honoured, and the final state is the last thing Slack was told.
    tokio::time::sleep(Duration::from_millis(1500)).await;
    assert_eq!(h.slack.calls_of("chat.update (429)").len(), 3);
    let updates = h.slack.calls_of("chat.update");
    assert!(
        updates.last().unwrap().text().contains("succeeded"),
        "latest state last"
    );
    assert!(h.server.slack.as_ref().unwrap().rate_limit_waits() >= 3);
    let announcement = h.slack.wait_for_text("chat.postMessage", "Deployed").await;
    assert_eq!(announcement.channel(), "#deploys");
    let metrics = reqwest::get(format!("http://{}/metrics", h.server.addr))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        metrics.contains("deckhand_rate_limit_waits_total{platform=\"slack\"} 3"),
        "{metrics}"
    );
    assert!(
        metrics.contains("deckhand_jobs{state=\"succeeded\"} 1"),
        "{metrics}"
    );
    assert!(metrics.contains("deckhand_commands_total 1"), "{metrics}");
    assert!(
        metrics.contains("deckhand_step_duration_seconds_count 6"),
        "{metrics}"
    );
    h.server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn socket_mode_deploy_acks_runs_and_survives_a_disconnect() {
    let h = start(Mode::Socket, deckhand_tests::console::fast_limits()).await;
    let envelope = h.slack.envelope(
        "slash_commands",
        slash_command_payload("U01ALICE", "C1", "/deploy", "prod v7", "trigger-s1"),
    );
    let ack = h.slack.ack(&envelope).await;
    assert!(
        ack["payload"]["text"]
            .as_str()
            .unwrap_or_default()
            .contains("on it"),
        "{ack}"
    );
    h.slack
        .wait_for_text("chat.postMessage", "awaiting approval")
        .await;
    let reacted = h.slack.envelope(
        "events_api",
        event_callback(
            "EvS1",
            reaction(
                true,
                "U02BOB",
                "white_check_mark",
                "C1",
                "1700000000.000001",
            ),
        ),
    );
    h.slack.ack(&reacted).await;
    h.wait_state(1, JobState::Succeeded).await;
    h.slack.wait_for_text("chat.update", "succeeded").await;

    h.slack.disconnect();
    h.slack.wait_for_connections(2).await;
    let again = h.slack.envelope(
        "slash_commands",
        slash_command_payload("U01ALICE", "C1", "/deploy", "prod v8", "trigger-s2"),
    );
    h.slack.ack(&again).await;
    h.slack.wait_for_text("chat.postMessage", "v8").await;
    // A redelivered envelope (same trigger) makes no second job.
    let replay = h.slack.envelope(
        "slash_commands",
        slash_command_payload("U01ALICE", "C1", "/deploy", "prod v8", "trigger-s2"),
    );
    h.slack.ack(&replay).await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(h.jobs().await, 2);
    h.server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn peoples_text_can_never_ping_a_channel() {
    let h = start(Mode::Http, deckhand_tests::console::fast_limits()).await;
    h.command(
        "U01ALICE",
        "/lock",
        "prod &lt;!channel&gt; db work",
        "trigger-1",
    )
    .await;
    let said = h.slack.wait_for_text("chat.postMessage", "locked by").await;
    assert!(
        said.text().contains("&lt;!channel&gt; db work"),
        "{}",
        said.text()
    );
    assert!(!said.text().contains("<!channel>"), "{}", said.text());
    h.server.stop().await;
}
