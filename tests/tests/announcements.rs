//! Announcements from CI through the REST API, reaching Slack and Discord fakes: auth,
//! validation, size limit, idempotency, in-place updates, scheduling across a restart.

use deckhand::config::Config;
use deckhand::discord::DiscordSettings;
use deckhand::server::{Options, Server};
use deckhand::slack::SlackSettings;
use deckhand::store::Store;
use deckhand_tests::console::quick_settings;
use deckhand_tests::discord::FakeDiscord;
use deckhand_tests::slack::FakeSlack;
use serde_json::{Value, json};

const TOKEN: &str = "ci-token-5b1f0c-0123456789abcdef01";
const DISCORD_CHANNEL: &str = "600000000000000009";

fn config() -> String {
    format!(
        r#"
[bot]
announce = ["slack:#deploys", "discord:{DISCORD_CHANNEL}"]
[bot.announce_routes]
incident = ["slack:#incidents"]

[environments.prod]
[[environments.prod.deploy]]
name = "Deploy"
run = ["true"]
"#
    )
}

struct Harness {
    slack: FakeSlack,
    discord: FakeDiscord,
    server: Server,
    http: reqwest::Client,
}

async fn start_with(store: Store, slack: FakeSlack, discord: FakeDiscord) -> Harness {
    let options = Options {
        settings: quick_settings(),
        listen: "127.0.0.1:0".into(),
        slack: Some(SlackSettings {
            bot_token: "xoxb-test".to_owned().into(),
            app_token: None,
            signing_secret: Some("secret".to_owned().into()),
            api_url: Some(slack.api_url.clone()),
            limits: deckhand_tests::console::fast_limits(),
        }),
        discord: Some(DiscordSettings {
            token: "bot-token".to_owned().into(),
            public_key: None,
            api_url: Some(discord.api_url.clone()),
            guild_ids: vec![deckhand_tests::discord::GUILD_ID.parse().unwrap()],
            gateway: false,
            limits: deckhand_tests::console::fast_limits(),
        }),
        api_token: Some(TOKEN.to_owned().into()),
        metrics_token: None,
        edge: Default::default(),
        github: None,
    };
    let config = Config::parse(&config(), "api-test.toml").unwrap();
    let server = Server::start(config, store, options).await.unwrap();
    Harness {
        slack,
        discord,
        server,
        http: reqwest::Client::new(),
    }
}

async fn start() -> Harness {
    let (store, _) = deckhand::testing::sqlite().await;
    start_with(store, FakeSlack::start().await, FakeDiscord::start().await).await
}

fn announcement() -> Value {
    json!({
        "sender": "ci",
        "recipients": ["all"],
        "type": "deployment",
        "priority": "normal",
        "subject": "Production Deployment Successful - v1.2.0",
        "message": "Includes US002 (billing), US003 (dashboard).",
        "references": ["US002", "US003"]
    })
}

impl Harness {
    fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.server.addr)
    }

    async fn post(
        &self,
        body: &Value,
        token: Option<&str>,
        key: Option<&str>,
    ) -> reqwest::Response {
        let mut request = self.http.post(self.url("/api/v1/announcements")).json(body);
        if let Some(token) = token {
            request = request.bearer_auth(token);
        }
        if let Some(key) = key {
            request = request.header("idempotency-key", key);
        }
        request.send().await.unwrap()
    }

    fn slack_posts(&self, needle: &str) -> usize {
        self.slack
            .calls_of("chat.postMessage")
            .iter()
            .filter(|c| c.text().contains(needle))
            .count()
    }

    fn discord_posts(&self, needle: &str) -> usize {
        self.discord
            .calls()
            .iter()
            .filter(|c| {
                c.method == "POST" && c.path.contains("/messages") && c.text().contains(needle)
            })
            .count()
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_missing_or_wrong_token_gets_401_and_posts_nothing() {
    let h = start().await;
    assert_eq!(h.post(&announcement(), None, None).await.status(), 401);
    assert_eq!(
        h.post(&announcement(), Some("ci-token-5b1f0d"), None)
            .await
            .status(),
        401
    );
    assert_eq!(h.post(&announcement(), Some(""), None).await.status(), 401);
    // A genuine announcement after them is the only one that reaches either platform.
    assert_eq!(
        h.post(&announcement(), Some(TOKEN), None).await.status(),
        201
    );
    h.slack.wait_for("chat.postMessage", |_| true).await;
    h.discord
        .wait_for("POST", |c| c.path.contains("/messages"))
        .await;
    let posts = |calls: Vec<String>| {
        calls
            .iter()
            .filter(|m| m.contains("post") || m.starts_with("POST"))
            .count()
    };
    assert_eq!(
        posts(h.slack.calls().into_iter().map(|c| c.method).collect()),
        1
    );
    assert_eq!(
        posts(h.discord.calls().into_iter().map(|c| c.method).collect()),
        1
    );
    h.server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_token_guesser_is_rate_limited_by_address_before_the_token_is_looked_at() {
    let h = start().await;
    let mut statuses = Vec::new();
    for n in 0..200 {
        let guess = format!("guess-{n:04}-0123456789abcdef0123456789");
        statuses.push(h.post(&announcement(), Some(&guess), None).await.status());
    }
    let refused = statuses.iter().filter(|s| s.as_u16() == 401).count();
    let limited = statuses.iter().filter(|s| s.as_u16() == 429).count();
    assert!(
        limited > 0,
        "200 guesses from one address were never slowed"
    );
    assert_eq!(refused + limited, 200, "{statuses:?}");
    assert!(
        refused <= 120,
        "{refused} guesses were checked: the limit comes first"
    );
    // The same address with the right token is held too: the limit is by address.
    assert_eq!(
        h.post(&announcement(), Some(TOKEN), None).await.status(),
        429
    );
    h.server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_invalid_body_gets_422_naming_every_bad_field() {
    let h = start().await;
    let bad = json!({ "sender": "ci", "type": "party", "priority": "asap", "subject": "", "recipients": ["irc:#x"], "colour": "red" });
    let answer = h.post(&bad, Some(TOKEN), None).await;
    assert_eq!(answer.status(), 422);
    let body: Value = answer.json().await.unwrap();
    let fields: Vec<&str> = body["fields"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["field"].as_str().unwrap())
        .collect();
    for expected in ["type", "priority", "subject", "recipients", "colour"] {
        assert!(fields.contains(&expected), "{expected} missing from {body}");
    }
    let not_json = h
        .http
        .post(h.url("/api/v1/announcements"))
        .bearer_auth(TOKEN)
        .body("{nope")
        .send()
        .await
        .unwrap();
    assert_eq!(not_json.status(), 422);
    h.server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_credential_in_an_announcement_is_refused_without_repeating_it() {
    let h = start().await;
    for (field, value) in [
        (
            "message",
            "rotate done, new key (sk_live_51HxyzABCdef1234567)",
        ),
        ("subject", "db at postgres://app:hunter22@db.internal/app"),
        ("message", "password=correcthorse"),
    ] {
        let mut body = announcement();
        body[field] = json!(value);
        let answer = h.post(&body, Some(TOKEN), None).await;
        assert_eq!(answer.status(), 422, "{value}");
        let text = answer.text().await.unwrap();
        assert!(
            text.contains(field) && text.contains("looks like"),
            "{text}"
        );
        for secret in ["sk_live_51H", "hunter22", "correcthorse"] {
            assert!(!text.contains(secret), "{text}");
        }
    }
    let mut references = announcement();
    references["references"] = json!(["https://ci/run/1", "token=ghp_abcdefghijklmnop1234"]);
    assert_eq!(h.post(&references, Some(TOKEN), None).await.status(), 422);
    // Nothing was posted anywhere.
    assert!(
        !h.slack
            .calls()
            .iter()
            .any(|c| c.method == "chat.postMessage"),
        "something was posted"
    );
    h.server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_oversized_body_is_refused() {
    let h = start().await;
    let mut big = announcement();
    big["message"] = json!("x".repeat(deckhand::api::MAX_BODY + 1));
    let answer = h.post(&big, Some(TOKEN), None).await;
    assert_eq!(answer.status(), 413);
    h.server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn all_reaches_every_platform_once_per_idempotency_key() {
    let h = start().await;
    let first = h
        .post(&announcement(), Some(TOKEN), Some("deploy-v1.2.0"))
        .await;
    assert_eq!(first.status(), 201);
    let first: Value = first.json().await.unwrap();
    let messages = first["messages"].as_array().unwrap();
    assert_eq!(messages.len(), 2, "{first}");
    assert!(
        messages
            .iter()
            // Slack's id for the channel it was posted to by name.
            .any(|m| m["platform"] == "slack" && m["channel"] == "CDEPLOYS")
    );
    assert!(
        messages
            .iter()
            .any(|m| m["platform"] == "discord" && m["channel"] == DISCORD_CHANNEL)
    );
    let again = h
        .post(&announcement(), Some(TOKEN), Some("deploy-v1.2.0"))
        .await;
    assert_eq!(again.status(), 200);
    let again: Value = again.json().await.unwrap();
    assert_eq!(again["status"], "duplicate");
    assert_eq!(again["messages"], first["messages"]);
    assert_eq!(h.slack_posts("Production Deployment Successful"), 1);
    assert_eq!(h.discord_posts("Production Deployment Successful"), 1);
    h.server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn per_type_routes_add_channels() {
    let h = start().await;
    let mut incident = announcement();
    incident["type"] = json!("incident");
    incident["recipients"] = json!(["discord:600000000000000009"]);
    let body: Value = h
        .post(&incident, Some(TOKEN), None)
        .await
        .json()
        .await
        .unwrap();
    let channels: Vec<&str> = body["messages"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["channel"].as_str().unwrap())
        .collect();
    assert!(
        channels.contains(&"CINCIDENTS") && channels.contains(&DISCORD_CHANNEL),
        "{body}"
    );
    h.server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn put_edits_the_same_messages_in_place() {
    let h = start().await;
    let mut maintenance = announcement();
    maintenance["type"] = json!("maintenance");
    maintenance["subject"] = json!("DB upgrade: in progress");
    h.post(&maintenance, Some(TOKEN), Some("db-upgrade")).await;
    maintenance["subject"] = json!("DB upgrade: done");
    let answer = h
        .http
        .put(h.url("/api/v1/announcements/db-upgrade"))
        .bearer_auth(TOKEN)
        .json(&maintenance)
        .send()
        .await
        .unwrap();
    assert_eq!(answer.status(), 200);
    h.slack
        .wait_for_text("chat.update", "DB upgrade: done")
        .await;
    h.discord
        .wait_for_any("/messages/", "DB upgrade: done")
        .await;
    assert_eq!(h.slack_posts("DB upgrade"), 1, "edited, not posted again");
    let missing = h
        .http
        .put(h.url("/api/v1/announcements/nope"))
        .bearer_auth(TOKEN)
        .json(&maintenance)
        .send()
        .await
        .unwrap();
    assert_eq!(missing.status(), 404);
    h.server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_scheduled_notice_is_posted_at_its_time_and_not_twice_after_a_restart() {
    let (store, _) = deckhand::testing::sqlite().await;
    let h = start_with(
        store.clone(),
        FakeSlack::start().await,
        FakeDiscord::start().await,
    )
    .await;
    let at = chrono::Utc::now() + chrono::Duration::hours(1);
    let mut notice = announcement();
    notice["type"] = json!("maintenance");
    notice["subject"] = json!("Maintenance window tonight");
    notice["scheduled_for"] = json!(at.to_rfc3339());
    let answer = h.post(&notice, Some(TOKEN), Some("window")).await;
    assert_eq!(answer.status(), 202);
    h.server
        .engine
        .tick(at.timestamp_millis() - 1000)
        .await
        .unwrap();
    assert_eq!(
        h.slack_posts("Maintenance window"),
        0,
        "not before its time"
    );
    h.server
        .engine
        .tick(at.timestamp_millis() + 1000)
        .await
        .unwrap();
    assert_eq!(h.slack_posts("Maintenance window"), 1);
    assert_eq!(h.discord_posts("Maintenance window"), 1);
    let (slack, discord) = (h.slack.clone(), h.discord.clone());
    h.server.stop().await;
    // Restart on the same database: the notice is not posted again.
    let restarted = start_with(store, slack, discord).await;
    restarted
        .server
        .engine
        .tick(at.timestamp_millis() + 5000)
        .await
        .unwrap();
    assert_eq!(restarted.slack_posts("Maintenance window"), 1);
    assert_eq!(restarted.discord_posts("Maintenance window"), 1);
    restarted.server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn job_history_api_needs_the_token() {
    let h = start().await;
    assert_eq!(
        h.http
            .get(h.url("/api/v1/jobs"))
            .send()
            .await
            .unwrap()
            .status(),
        401
    );
    let jobs: Value = h
        .http
        .get(h.url("/api/v1/jobs"))
        .bearer_auth(TOKEN)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(jobs["jobs"], json!([]));
    let envs: Value = h
        .http
        .get(h.url("/api/v1/environments"))
        .bearer_auth(TOKEN)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(envs["environments"][0]["name"], "prod");
    h.server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_rest_announcement_is_audited_as_the_api_whatever_sender_it_claims() {
    let h = start().await;
    let mut spoofed = announcement();
    spoofed["sender"] = json!("slack:UADMIN");
    assert_eq!(
        h.post(&spoofed, Some(TOKEN), Some("spoof")).await.status(),
        201
    );
    let log = deckhand::store::audit::recent(&h.server.engine.store().pool, 20)
        .await
        .unwrap();
    let created = log
        .iter()
        .find(|e| e.action == "announcement.created")
        .expect("audited");
    assert_eq!(
        created.actor, "api",
        "the token acted, not the sender it named"
    );
    assert_eq!(created.platform, "api");
    assert!(
        created.detail.contains("sender: slack:UADMIN"),
        "{}",
        created.detail
    );
    assert!(
        log.iter().all(|e| e.actor != "slack:UADMIN"),
        "nobody is impersonated: {log:?}"
    );
    h.server.stop().await;
}
