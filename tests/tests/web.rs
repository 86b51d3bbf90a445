//! The web page over real HTTP on a seeded store: the session rule, one-time sign-in
//! links, each page's HTML (pinned), the live stream sending a step change, the
//! security headers, and DORA as JSON.

use std::time::Duration;

use deckhand::store::jobs::JobState;
use deckhand_tests::Tester;

const CONFIG: &str = r#"
[bot]
public_url = "http://deckhand.test"
timezone = "UTC"
commands_per_minute = 600

[roles]
admins = ["console:root"]
deployers = ["console:alice"]
approvers = ["console:bob"]

[environments.staging]
deployers = ["deployers"]

[[environments.staging.deploy]]
name = "Build"
run = ["true"]

[[environments.staging.deploy]]
name = "Wait for the go"
run = ["sh", "-c", "test \"$DECKHAND_REF\" != slow || while [ ! -f {dir}/go ]; do sleep 0.05; done"]

[environments.prod]
deployers = ["deployers"]
approvers = ["approvers"]
approvals = 1

[[environments.prod.deploy]]
name = "Deploy"
run = ["sh", "-c", "test \"$DECKHAND_REF\" != broken"]

[incidents]
gate = ["sev1"]
declarers = ["deployers"]

[[secrets]]
name = "STRIPE_SECRET_KEY"
env = "prod"
every = "90d"
owner = "console:alice"
last_rotated = "2020-01-01"
runbook = "https://wiki.example.com/rotate-stripe"
"#;

const API_TOKEN: &str = "web-test-token-0123456789abcdef0123456789";

struct Page {
    t: Tester,
    base: String,
    http: reqwest::Client,
}

async fn page() -> Page {
    let t = Tester::new(CONFIG).await;
    let sessions = t.engine.sessions().await.unwrap();
    let router = deckhand::http::router(
        t.engine.clone(),
        Some(API_TOKEN.to_owned().into()),
        None,
        sessions,
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, router).await.unwrap() });
    let http = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    Page { t, base, http }
}

impl Page {
    async fn get(&self, path: &str, cookie: Option<&str>) -> reqwest::Response {
        let mut request = self.http.get(format!("{}{path}", self.base));
        if let Some(cookie) = cookie {
            request = request.header("cookie", cookie);
        }
        request.send().await.unwrap()
    }

    /// `/login` in the console, then the link: the session cookie.
    async fn sign_in(&mut self, who: &str) -> String {
        let token = self.link(who).await;
        let response = self.get(&format!("/login/{token}"), None).await;
        assert_eq!(response.status(), 303);
        assert_eq!(response.headers()["location"], "/");
        let cookie = response.headers()["set-cookie"]
            .to_str()
            .unwrap()
            .to_owned();
        assert!(
            cookie.contains("HttpOnly") && cookie.contains("SameSite=Lax"),
            "{cookie}"
        );
        cookie.split(';').next().unwrap().to_owned()
    }

    async fn link(&mut self, who: &str) -> String {
        self.t.drain();
        self.t.say(who, "/login").await;
        let whisper = self.t.expect_message("sign-in link").await;
        assert_eq!(whisper.to.as_deref(), Some(who));
        whisper
            .text
            .split("http://deckhand.test/login/")
            .nth(1)
            .expect("a link to the public URL")
            .trim()
            .to_owned()
    }
}

/// The history the pages show: two staging deploys, a prod deploy that failed and one
/// that waits for approval, an incident.
async fn seed(t: &mut Tester) {
    t.say("alice", "/deploy staging v1").await;
    t.wait_for_state(1, JobState::Succeeded).await;
    t.say("alice", "/deploy staging v2").await;
    t.wait_for_state(2, JobState::Succeeded).await;
    t.say("alice", "/deploy prod broken").await;
    t.say("bob", "/approve 3").await;
    t.wait_for_state(3, JobState::Failed).await;
    t.say("alice", "/incident declare sev2 checkout is slow")
        .await;
    t.say("alice", "/deploy prod v2").await;
    t.wait_for_state(4, JobState::AwaitingApproval).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_a_session_every_page_sends_people_to_sign_in() {
    let p = page().await;
    for path in [
        "/",
        "/jobs",
        "/jobs/1",
        "/jobs/1/events",
        "/incidents",
        "/secrets",
        "/metrics/dora",
    ] {
        let response = p.get(path, None).await;
        assert_eq!(response.status(), 303, "{path}");
        assert_eq!(response.headers()["location"], "/login", "{path}");
    }
    // A forged or tampered cookie is no session either.
    let forged = p.get("/", Some("deckhand_session=eyJ9.AAAA")).await;
    assert_eq!(forged.status(), 303);
    let signin = p.get("/login", None).await;
    assert_eq!(signin.status(), 200);
    let headers = signin.headers().clone();
    let csp = headers["content-security-policy"].to_str().unwrap();
    assert!(
        csp.contains("script-src 'self'") && csp.contains("frame-ancestors 'none'"),
        "{csp}"
    );
    assert!(!csp.contains("unsafe-inline"), "{csp}");
    assert_eq!(headers["referrer-policy"], "no-referrer");
    assert_eq!(headers["x-frame-options"], "DENY");
    assert!(signin.text().await.unwrap().contains("/login"));
    // The API and the health check carry them too.
    let health = p.get("/healthz", None).await;
    assert_eq!(health.headers()["x-content-type-options"], "nosniff");
    assert_eq!(health.headers()["cache-control"], "no-store");
    assert_eq!(p.get("/static/deckhand.css", None).await.status(), 200);
    assert_eq!(p.get("/static/live.js", None).await.status(), 200);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_sign_in_link_works_once_and_only_for_people_with_a_role() {
    let mut p = page().await;
    let token = p.link("alice").await;
    let first = p.get(&format!("/login/{token}"), None).await;
    assert_eq!(first.status(), 303);
    let cookie = first.headers()["set-cookie"].to_str().unwrap();
    assert!(
        cookie.contains("Max-Age=43200"),
        "12 h by default: {cookie}"
    );
    let cookie = cookie.split(';').next().unwrap().to_owned();
    let again = p.get(&format!("/login/{token}"), None).await;
    assert_eq!(again.status(), 403, "a link works once");
    assert!(
        again
            .text()
            .await
            .unwrap()
            .contains("used already or has expired")
    );
    let home = p.get("/", Some(&cookie)).await;
    assert_eq!(home.status(), 200);
    let html = home.text().await.unwrap();
    assert!(
        html.contains("signed in as <strong>alice</strong>"),
        "{html}"
    );
    assert!(html.contains("staging") && html.contains("prod"));
    // Only the token's hash is stored.
    let (stored,): (String,) = sqlx::query_as("SELECT token_hash FROM login_tokens")
        .fetch_one(&p.t.store.pool)
        .await
        .unwrap();
    assert_ne!(stored, token);
    // Someone with no role gets no link.
    p.t.say("mallory", "/login").await;
    p.t.expect_message("hold a deckhand role").await;
    assert_eq!(p.get("/login/0123", None).await.status(), 403);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_page_renders_what_the_store_holds() {
    let mut p = page().await;
    seed(&mut p.t).await;
    let cookie = p.sign_in("alice").await;
    let dir = p.t.dir.display().to_string();
    for (name, path, must) in [
        (
            "environments",
            "/",
            vec!["v2", "held by #4", "awaiting approval", "#4"],
        ),
        ("jobs", "/jobs", vec!["#1", "#3", "failed"]),
        (
            "jobs_filtered",
            "/jobs?env=staging&state=succeeded",
            vec!["#2"],
        ),
        (
            "job",
            "/jobs/3",
            vec![
                "Deploy #3 · prod",
                "✅ bob",
                "by command",
                "job.failed",
                "Audit trail",
            ],
        ),
        (
            "incidents",
            "/incidents",
            vec!["INC-1", "checkout is slow", "sev2"],
        ),
        ("incident", "/incidents/INC-1", vec!["Timeline", "declared"]),
        (
            "secrets",
            "/secrets",
            vec!["STRIPE_SECRET_KEY", "overdue", "runbook"],
        ),
        (
            "dora",
            "/metrics/dora?days=7",
            vec![
                "deployment frequency",
                "change failure rate",
                "<svg",
                "request → deployed",
            ],
        ),
    ] {
        let response = p.get(path, Some(&cookie)).await;
        assert_eq!(response.status(), 200, "{path}");
        assert_eq!(
            response.headers()["content-type"],
            "text/html; charset=utf-8",
            "{path}"
        );
        let html = response.text().await.unwrap();
        for needle in must {
            assert!(html.contains(needle), "{path} lacks {needle:?}:\n{html}");
        }
        let filters = vec![
            (
                r#"<time datetime="[^"]*">[^<]*</time>"#,
                "<time>[time]</time>",
            ),
            (r"\b\d+(\.\d+)?s\b|\b\d+m\d\ds\b|\b\d+h\d\dm\b", "[took]"),
            (r"\d+\.\d\d / day", "[rate] / day"),
            (r"[\w.-]+-\d+-\d{13}", "[instance]"),
            (r"\(\d+d over\)", "([days] over)"),
        ];
        insta::with_settings!({ filters => filters }, {
            insta::assert_snapshot!(format!("page_{name}"), html.replace(&dir, "{dir}").replace("><", ">\n<"));
        });
    }
    assert_eq!(p.get("/jobs/999", Some(&cookie)).await.status(), 404);
    assert_eq!(
        p.get("/incidents/INC-99", Some(&cookie)).await.status(),
        404
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_running_job_page_streams_its_step_turning_green() {
    use futures::StreamExt as _;
    let mut p = page().await;
    let cookie = p.sign_in("alice").await;
    p.t.say("alice", "/deploy staging slow").await;
    p.t.wait_for_state(1, JobState::Running).await;
    let response = p.get("/jobs/1/events", Some(&cookie)).await;
    assert_eq!(response.status(), 200);
    assert_eq!(response.headers()["content-type"], "text/event-stream");
    let mut body = response.bytes_stream();
    let mut seen = String::new();
    let mut released = false;
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    loop {
        let chunk = tokio::time::timeout_at(deadline, body.next())
            .await
            .expect("the stream went quiet")
            .expect("the stream ended early")
            .unwrap();
        seen.push_str(&String::from_utf8_lossy(&chunk));
        if !released && seen.contains("event: steps") && seen.contains("⏳") {
            // The page shows the waiting step running; now let it finish.
            std::fs::write(p.t.dir.join("go"), "").unwrap();
            released = true;
        }
        if seen.contains("event: done") {
            break;
        }
    }
    let last_steps = seen.rsplit("event: steps").next().unwrap();
    assert!(
        last_steps.contains("step-succeeded") && !last_steps.contains("⏳"),
        "the last table shows every step green: {last_steps}"
    );
    assert!(seen.contains("data: succeeded"), "{seen}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dora_is_json_for_the_api_token() {
    let mut p = page().await;
    seed(&mut p.t).await;
    let url = format!("{}/api/v1/metrics/dora?days=7", p.base);
    assert_eq!(p.http.get(&url).send().await.unwrap().status(), 401);
    let body: serde_json::Value = p
        .http
        .get(&url)
        .bearer_auth(API_TOKEN)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(body["days"], 7);
    assert_eq!(body["overall"]["now"]["deploys"], 2);
    assert_eq!(body["overall"]["now"]["lead_from"], "request");
    // Three deploys ended (two good, one failed): a third failed.
    let rate = body["overall"]["now"]["change_failure_rate"]
        .as_f64()
        .unwrap();
    assert!((rate - 1.0 / 3.0).abs() < 1e-9, "{body}");
    assert_eq!(
        body["overall"]["now"]["unrestored"], 2,
        "the failed deploy and the open incident"
    );
    let envs: Vec<&str> = body["environments"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["env"].as_str().unwrap())
        .collect();
    assert_eq!(envs, ["prod", "staging"]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn login_says_what_is_missing_without_a_public_url() {
    let mut t = Tester::new(&CONFIG.replace("public_url = \"http://deckhand.test\"\n", "")).await;
    t.say("alice", "/login").await;
    let answer = t.expect_message("bot.public_url").await;
    assert_eq!(answer.to.as_deref(), Some("alice"));
    let (tokens,): (i64,) = sqlx::query_as("SELECT COUNT(*) FROM login_tokens")
        .fetch_one(&t.store.pool)
        .await
        .unwrap();
    assert_eq!(tokens, 0);
}
