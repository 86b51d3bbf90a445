//! kill -9 with work in flight, through `deckhand run` in Slack HTTP mode against a Slack
//! stub: a slash command acknowledged but not acted on is acted on exactly once after the
//! restart (or, past `bot.replay_window`, its author is told); an announcement, 50
//! answers and a card edit stuck behind a 429 storm are delivered by the next start,
//! once.

use std::process::Child;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::extract::{Path, State};
use axum::response::IntoResponse;
use axum::routing::post;
use deckhand::store::jobs::{self, JobState};
use deckhand::store::{Store, inbox};
use hmac::{Hmac, Mac};
use serde_json::{Value, json};
use sha2::Sha256;

mod common;

use common::{free_port, workspace};

const SECRET: &str = "inbox-test-signing-secret";

const CONFIG: &str = r#"
[bot]
replay_window = "REPLAY"
[roles]
team = ["slack:U01ALICE"]
[environments.prod]
deployers = ["team"]
[[environments.prod.deploy]]
name = "Deploy"
run = ["true"]
"#;

/// Just enough of Slack's Web API for a deploy: calls are recorded; `users.info` can be
/// made to hang, which holds deckhand between its ack and its handling.
#[derive(Default)]
struct Stub {
    calls: Mutex<Vec<(String, String)>>,
    hang: AtomicBool,
    /// chat.postMessage answers 429 (Retry-After 1) while set.
    storm: AtomicBool,
    /// chat.postEphemeral and chat.update answer 429 (Retry-After 1) while set.
    whisper_storm: AtomicBool,
    ts: AtomicU64,
}

async fn api(
    State(stub): State<Arc<Stub>>,
    Path(method): Path<String>,
    body: String,
) -> axum::response::Response {
    let stormed = (method == "chat.postMessage" && stub.storm.load(Ordering::SeqCst))
        || (matches!(method.as_str(), "chat.postEphemeral" | "chat.update")
            && stub.whisper_storm.load(Ordering::SeqCst));
    if stormed {
        stub.calls
            .lock()
            .unwrap()
            .push((format!("{method} (429)"), body));
        return (
            axum::http::StatusCode::TOO_MANY_REQUESTS,
            [("retry-after", "1")],
            axum::Json(json!({"ok": false, "error": "ratelimited"})),
        )
            .into_response();
    }
    stub.calls.lock().unwrap().push((method.clone(), body));
    if method == "users.info" && stub.hang.load(Ordering::SeqCst) {
        std::future::pending::<()>().await;
    }
    let ts = format!("1700000000.{:06}", stub.ts.fetch_add(1, Ordering::SeqCst));
    axum::Json(match method.as_str() {
        "users.info" => {
            json!({"ok": true, "user": {"id": "U01ALICE", "name": "alice", "profile": {"display_name": "alice"}}})
        }
        "chat.postMessage" => json!({"ok": true, "channel": "C1", "ts": ts, "message": {"ts": ts}}),
        "chat.postEphemeral" => json!({"ok": true, "message_ts": ts}),
        "chat.update" => json!({"ok": true, "channel": "C1", "ts": ts, "text": "", "message": {"text": ""}}),
        _ => json!({"ok": true}),
    })
    .into_response()
}

async fn stub() -> (Arc<Stub>, String) {
    let stub = Arc::new(Stub::default());
    let app = axum::Router::new()
        .route("/api/{method}", post(api))
        .with_state(stub.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/api", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    (stub, url)
}

/// `deckhand run` in `dir` in Slack HTTP mode against `api_url`, up.
async fn run(dir: &std::path::Path, api_url: &str, port: u16) -> Child {
    common::run_slack_http(dir, api_url, port, SECRET).await
}

async fn slash_command(port: u16, text: &str) -> Value {
    slash_command_as(port, "C1", "U01ALICE", "deploy", text).await
}

async fn slash_command_as(
    port: u16,
    channel: &str,
    user: &str,
    command: &str,
    text: &str,
) -> Value {
    // Slack's trigger id is unique per invocation; deckhand dedupes deliveries by it.
    static TRIGGERS: AtomicU64 = AtomicU64::new(1);
    let body = format!(
        "team_id=T1&channel_id={channel}&user_id={user}&user_name={user}&command=%2F{command}&text={}&api_app_id=A1&response_url=https%3A%2F%2Fhooks.slack.com%2Fx&trigger_id=trigger-{}",
        text.replace(' ', "+"),
        TRIGGERS.fetch_add(1, Ordering::SeqCst)
    );
    let answer = signed_post(
        port,
        "/slack/commands",
        "application/x-www-form-urlencoded",
        body,
    )
    .await;
    answer.json().await.unwrap()
}

/// `user` mentions the bot in `channel`: a signed Events API delivery.
async fn mention_as(port: u16, channel: &str, user: &str, text: &str, serial: u32) {
    let body = serde_json::json!({
        "token": "legacy-verification-token",
        "team_id": "T1",
        "api_app_id": "A1",
        "event": {
            "type": "app_mention", "user": user, "text": format!("<@U0BOT> {text}"),
            "ts": format!("1700000200.{serial:06}"), "channel": channel,
            "event_ts": format!("1700000200.{serial:06}")
        },
        "type": "event_callback",
        "event_id": format!("EvMention{serial}"),
        "event_time": 1700000000,
        "authorizations": [{"team_id": "T1", "user_id": "U0BOT", "is_bot": true}]
    })
    .to_string();
    let answer = signed_post(port, "/slack/events", "application/json", body).await;
    assert_eq!(answer.status(), 200);
}

/// POSTs `body` to deckhand's `path`, signed as Slack signs requests.
async fn signed_post(port: u16, path: &str, content_type: &str, body: String) -> reqwest::Response {
    let timestamp = chrono::Utc::now().timestamp();
    let mut mac = Hmac::<Sha256>::new_from_slice(SECRET.as_bytes()).unwrap();
    mac.update(format!("v0:{timestamp}:{body}").as_bytes());
    let signature = format!("v0={}", hex_of(&mac.finalize().into_bytes()));
    reqwest::Client::new()
        .post(format!("http://127.0.0.1:{port}{path}"))
        .header("content-type", content_type)
        .header("x-slack-request-timestamp", timestamp.to_string())
        .header("x-slack-signature", signature)
        .body(body)
        .send()
        .await
        .unwrap()
}

fn hex_of(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// Acknowledged, stored, not handled: deckhand is held in its users.info lookup.
async fn acknowledged_then_killed(dir: &std::path::Path, stub: &Stub, api_url: &str) {
    stub.hang.store(true, Ordering::SeqCst);
    let port = free_port();
    let mut deckhand = run(dir, api_url, port).await;
    let ack = slash_command(port, "prod v1").await;
    assert!(ack["text"].as_str().unwrap().contains("on it"), "{ack}");
    let store = store(dir).await;
    assert_eq!(
        inbox::unhandled(&store.pool).await.unwrap(),
        1,
        "stored before the ack"
    );
    assert!(
        jobs::get(&store.pool, 1).await.unwrap().is_none(),
        "not acted on yet"
    );
    deckhand.kill().unwrap(); // SIGKILL: nothing runs on the way out
    deckhand.wait().unwrap();
    stub.hang.store(false, Ordering::SeqCst);
}

async fn store(dir: &std::path::Path) -> Store {
    Store::connect(&format!("sqlite://{}/deckhand.db", dir.display()))
        .await
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_command_acknowledged_before_a_kill_is_handled_once_after_the_restart() {
    let dir = workspace(Some(&CONFIG.replace("REPLAY", "2m")));
    let (stub, api_url) = stub().await;
    acknowledged_then_killed(&dir, &stub, &api_url).await;

    let port = free_port();
    let mut deckhand = run(&dir, &api_url, port).await;
    let store = store(&dir).await;
    let started = Instant::now();
    loop {
        let job = jobs::get(&store.pool, 1).await.unwrap();
        if job.as_ref().is_some_and(|j| j.state == JobState::Succeeded) {
            break;
        }
        assert!(
            started.elapsed() < Duration::from_secs(30),
            "never handled: {job:?}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(
        jobs::history(&store.pool, "prod", 10).await.unwrap().len(),
        1,
        "exactly once"
    );
    assert_eq!(inbox::unhandled(&store.pool).await.unwrap(), 0);
    deckhand.kill().ok();
    deckhand.wait().ok();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_command_too_old_to_replay_is_dropped_and_its_author_told() {
    let dir = workspace(Some(&CONFIG.replace("REPLAY", "1s")));
    let (stub, api_url) = stub().await;
    acknowledged_then_killed(&dir, &stub, &api_url).await;
    tokio::time::sleep(Duration::from_millis(1500)).await;

    let port = free_port();
    let mut deckhand = run(&dir, &api_url, port).await;
    let store = store(&dir).await;
    let started = Instant::now();
    let told = loop {
        let calls = stub.calls.lock().unwrap().clone();
        if let Some((_, body)) = calls
            .iter()
            .find(|(m, b)| m == "chat.postEphemeral" && b.contains("restarted"))
        {
            break body.clone();
        }
        assert!(
            started.elapsed() < Duration::from_secs(30),
            "alice was never told: {calls:?}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    assert!(told.contains("nothing was done, send it again"), "{told}");
    assert!(told.contains("U01ALICE"), "told privately to alice: {told}");
    assert!(
        jobs::get(&store.pool, 1).await.unwrap().is_none(),
        "nothing was done"
    );
    assert_eq!(inbox::unhandled(&store.pool).await.unwrap(), 0);
    deckhand.kill().ok();
    deckhand.wait().ok();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_announcement_stuck_behind_a_429_storm_is_delivered_once_after_a_kill() {
    let dir = workspace(Some(&format!(
        "{}\n",
        CONFIG
            .replace("REPLAY", "2m")
            .replace("[bot]", "[bot]\nannounce = [\"slack:#deploys\"]")
    )));
    let (stub, api_url) = stub().await;
    stub.storm.store(true, Ordering::SeqCst);
    let port = free_port();
    let mut deckhand = run(&dir, &api_url, port).await;
    // The API call waits on Slack's 429s; it is not what this test waits for.
    tokio::spawn(
        reqwest::Client::new()
            .post(format!("http://127.0.0.1:{port}/api/v1/announcements"))
            .bearer_auth("inbox-test-api-token-0123456789abcdef")
            .json(&json!({"sender": "ci", "type": "deployment", "subject": "Deployed v7", "recipients": ["slack:#deploys"]}))
            .send(),
    );
    let started = Instant::now();
    while !stub
        .calls
        .lock()
        .unwrap()
        .iter()
        .any(|(m, _)| m == "chat.postMessage (429)")
    {
        assert!(
            started.elapsed() < Duration::from_secs(30),
            "never tried to post"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    deckhand.kill().unwrap();
    deckhand.wait().unwrap();
    let store = store(&dir).await;
    let (posted,): (Option<i64>,) =
        sqlx::query_as("SELECT posted_at FROM announcements WHERE id = 1")
            .fetch_one(&store.pool)
            .await
            .unwrap();
    assert_eq!(posted, None, "not marked posted before Slack took it");

    stub.storm.store(false, Ordering::SeqCst);
    let mut deckhand = run(&dir, &api_url, free_port()).await;
    let started = Instant::now();
    loop {
        let (posted,): (Option<i64>,) =
            sqlx::query_as("SELECT posted_at FROM announcements WHERE id = 1")
                .fetch_one(&store.pool)
                .await
                .unwrap();
        if posted.is_some() {
            break;
        }
        assert!(
            started.elapsed() < Duration::from_secs(30),
            "never delivered"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let delivered = stub
        .calls
        .lock()
        .unwrap()
        .iter()
        .filter(|(m, b)| m == "chat.postMessage" && b.contains("Deployed v7"))
        .count();
    assert_eq!(delivered, 1, "delivered exactly once");
    deckhand.kill().ok();
    deckhand.wait().ok();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_job_whose_card_a_crash_kept_from_being_posted_gets_one_at_the_next_start() {
    let dir = workspace(Some(&CONFIG.replace("REPLAY", "2m").replace(
        "[environments.prod]",
        "[environments.prod]\napprovers = [\"team\"]\napprovals = 1",
    )));
    let (stub, api_url) = stub().await;
    // What a kill -9 between a job's creation and its card's post leaves behind.
    let store = store(&dir).await;
    let job = jobs::NewJob {
        kind: deckhand::config::JobKind::Deploy,
        env: "prod".into(),
        app: None,
        git_ref: Some("v1".into()),
        previous_ref: None,
        requester: "slack:U01ALICE".into(),
        requester_name: "alice".into(),
        platform: "slack".into(),
        channel: "C1".into(),
        state: JobState::AwaitingApproval,
        reason: None,
        params_hash: "h".into(),
        approvals_required: 1,
        approval_expires_at: None,
        rolls_back: None,
        restore_of: None,
        hotfix_for: None,
        commit_sha: None,
        change_summary: None,
        skip_checks: None,
        break_glass: None,
        commit_at: None,
    };
    jobs::insert(&store.pool, &job, deckhand::store::now_ms())
        .await
        .unwrap();

    let mut deckhand = run(&dir, &api_url, free_port()).await;
    let started = Instant::now();
    while !stub
        .calls
        .lock()
        .unwrap()
        .iter()
        .any(|(m, b)| m == "chat.postMessage" && b.contains("awaiting approval"))
    {
        assert!(
            started.elapsed() < Duration::from_secs(30),
            "no card was posted"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let card = deckhand::store::messages::Subject::Job(1);
    let started = Instant::now();
    let cards = loop {
        let cards = deckhand::store::messages::for_subject(&store.pool, card)
            .await
            .unwrap();
        if !cards.is_empty() || started.elapsed() > Duration::from_secs(10) {
            break cards;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    assert_eq!(cards.len(), 1, "remembered, so a ✅ on it counts");
    deckhand.kill().ok();
    deckhand.wait().ok();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fifty_answers_and_a_card_edit_stuck_behind_a_429_storm_are_delivered_once_after_a_kill() {
    let dir = workspace(Some(&CONFIG.replace("REPLAY", "2m")));
    let (stub, api_url) = stub().await;
    stub.whisper_storm.store(true, Ordering::SeqCst);
    let port = free_port();
    let mut deckhand = run(&dir, &api_url, port).await;
    // A deploy whose card is posted (postMessage is fine) but whose edits are stormed.
    slash_command(port, "prod v1").await;
    // Five people in five channels, ten questions each (the per-person command limit
    // allows a burst of ten): fifty answers, all held by the storm. Mentions, since a
    // slash command's quick answer rides in its acknowledgement and never waits.
    for n in 0..50 {
        let (channel, user) = (format!("C0{}", n % 5), format!("U0{}", n % 5));
        mention_as(port, &channel, &user, "status prod", n).await;
    }
    let store = store(&dir).await;
    let started = Instant::now();
    loop {
        let done = jobs::get(&store.pool, 1)
            .await
            .unwrap()
            .is_some_and(|j| j.state == JobState::Succeeded);
        let (whispers,): (i64,) =
            sqlx::query_as("SELECT COUNT(*) FROM outbox WHERE kind = 'whisper'")
                .fetch_one(&store.pool)
                .await
                .unwrap();
        // Each answer's acknowledgement came first; the outbox holds every answer.
        if done && whispers >= 50 {
            break;
        }
        assert!(
            started.elapsed() < Duration::from_secs(30),
            "never all waiting: job done {done}, {whispers} answers in the outbox"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(
        stub.calls
            .lock()
            .unwrap()
            .iter()
            .any(|(m, _)| m == "chat.postEphemeral (429)"),
        "the storm held them"
    );
    deckhand.kill().unwrap(); // SIGKILL: nothing flushes on the way out
    deckhand.wait().unwrap();

    stub.whisper_storm.store(false, Ordering::SeqCst);
    let mut deckhand = run(&dir, &api_url, free_port()).await;
    let started = Instant::now();
    loop {
        let (left,): (i64,) = sqlx::query_as("SELECT COUNT(*) FROM outbox")
            .fetch_one(&store.pool)
            .await
            .unwrap();
        if left == 0 {
            break;
        }
        assert!(
            started.elapsed() < Duration::from_secs(60),
            "{left} rows never sent"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let calls = stub.calls.lock().unwrap().clone();
    let answers: Vec<&String> = calls
        .iter()
        .filter(|(m, _)| m == "chat.postEphemeral")
        .map(|(_, b)| b)
        .collect();
    assert_eq!(answers.len(), 50, "every answer exactly once");
    for n in 0..5 {
        let user = format!("\"user\":\"U0{n}\"");
        assert_eq!(
            answers.iter().filter(|b| b.contains(&user)).count(),
            10,
            "U0{n}'s ten answers"
        );
    }
    let last_edit = calls
        .iter()
        .rev()
        .find(|(m, _)| m == "chat.update")
        .map(|(_, b)| b.clone())
        .expect("the card was edited after the restart");
    assert!(last_edit.contains("succeeded"), "{last_edit}");
    deckhand.kill().ok();
    deckhand.wait().ok();
}
