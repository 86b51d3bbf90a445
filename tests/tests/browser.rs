//! The web page in a real headless Chromium (Debian's `chromium` and `chromium-driver`,
//! over WebDriver with fantoccini): sign in with a link, see the environments, watch a
//! running job's step turn ✅ without reloading, find the DORA charts. Screenshots go
//! to `target/web-screenshots/` for people to look at.

use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use deckhand::store::jobs::JobState;
use deckhand_tests::Tester;
use fantoccini::{ClientBuilder, Locator};

const CHROMEDRIVER: &str = "/usr/bin/chromedriver";
const CHROMIUM: &str = "/usr/bin/chromium";

fn config(public_url: &str) -> String {
    format!(
        r#"
[bot]
public_url = "{public_url}"
commands_per_minute = 600

[roles]
deployers = ["console:alice"]

[environments.staging]
deployers = ["deployers"]

[[environments.staging.deploy]]
name = "Build"
run = ["true"]

[[environments.staging.deploy]]
name = "Wait for the go"
run = ["sh", "-c", "test \"$DECKHAND_REF\" != slow || while [ ! -f {{dir}}/go ]; do sleep 0.05; done"]

[environments.prod]
deployers = ["deployers"]

[[environments.prod.deploy]]
name = "Deploy"
run = ["true"]
"#
    )
}

/// chromedriver on a free port, killed when the test ends.
struct Driver(Child, u16);

impl Drop for Driver {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

async fn driver() -> Option<Driver> {
    if !std::path::Path::new(CHROMEDRIVER).exists() || !std::path::Path::new(CHROMIUM).exists() {
        // CI installs them (.ci/run); a developer machine without them skips, saying so.
        assert!(
            std::env::var_os("CI").is_none(),
            "{CHROMEDRIVER} or {CHROMIUM} is missing: apt-get install chromium chromium-driver"
        );
        eprintln!("skipping the browser test: install chromium and chromium-driver");
        return None;
    }
    let port = free_port();
    let child = Command::new(CHROMEDRIVER)
        .arg(format!("--port={port}"))
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("chromedriver starts");
    let driver = Driver(child, port);
    for _ in 0..100 {
        if reqwest::get(format!("http://127.0.0.1:{port}/status"))
            .await
            .is_ok()
        {
            return Some(driver);
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("chromedriver did not answer on port {port}");
}

fn screenshots() -> PathBuf {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../target/web-screenshots");
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sign_in_watch_a_step_turn_green_and_find_the_charts() {
    let Some(driver) = driver().await else {
        return;
    };
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    let mut t = Tester::new(&config(&base)).await;
    let sessions = t.engine.sessions().await.unwrap();
    let router = deckhand::http::router(t.engine.clone(), None, None, sessions);
    tokio::spawn(async move { axum::serve(listener, router).await.unwrap() });
    t.say("alice", "/deploy prod v1").await;
    t.wait_for_state(1, JobState::Succeeded).await;

    let mut capabilities = serde_json::Map::new();
    capabilities.insert(
        "goog:chromeOptions".into(),
        serde_json::json!({
            "binary": CHROMIUM,
            "args": ["--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--window-size=1280,900"],
        }),
    );
    let browser = ClientBuilder::new(hyper_util::client::legacy::connect::HttpConnector::new())
        .capabilities(capabilities)
        .connect(&format!("http://127.0.0.1:{}", driver.1))
        .await
        .expect("a Chromium session");
    let shots = screenshots();

    // Signed out: the sign-in page.
    browser.goto(&format!("{base}/")).await.unwrap();
    let body = browser
        .find(Locator::Css("main"))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(body.contains("/login"), "{body}");

    // The link from chat signs in and lands on the environments page.
    t.drain();
    t.say("alice", "/login").await;
    let whisper = t.expect_message("sign-in link").await;
    let link = whisper.text.split(": ").last().unwrap().trim().to_owned();
    browser.goto(&link).await.unwrap();
    assert_eq!(browser.current_url().await.unwrap().path(), "/");
    let table = browser
        .find(Locator::Css("table.envs"))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(table.contains("prod") && table.contains("v1"), "{table}");
    std::fs::write(
        shots.join("environments.png"),
        browser.screenshot().await.unwrap(),
    )
    .unwrap();

    // A running job's page follows its steps without a reload.
    t.say("alice", "/deploy staging slow").await;
    t.wait_for_state(2, JobState::Running).await;
    browser.goto(&format!("{base}/jobs/2")).await.unwrap();
    browser
        .wait()
        .at_most(Duration::from_secs(20))
        .for_element(Locator::Css("tr.step-running"))
        .await
        .expect("the waiting step shows as running");
    std::fs::write(
        shots.join("job-running.png"),
        browser.screenshot().await.unwrap(),
    )
    .unwrap();
    // Marks the page: a reload would lose it.
    browser
        .execute(
            "document.body.dataset.sameLoad = 'yes'; return null;",
            vec![],
        )
        .await
        .unwrap();
    std::fs::write(t.dir.join("go"), "").unwrap();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    loop {
        let green = browser
            .find_all(Locator::Css("tr.step-succeeded"))
            .await
            .unwrap()
            .len();
        if green == 2 {
            break;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "the step never turned green on the page"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let same = browser
        .execute(
            "return document.body.dataset.sameLoad || 'reloaded';",
            vec![],
        )
        .await
        .unwrap();
    assert_eq!(same, serde_json::json!("yes"), "the page was reloaded");
    let icons = browser
        .find(Locator::Css("table.steps"))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(icons.contains('✅') && !icons.contains('⏳'), "{icons}");
    std::fs::write(
        shots.join("job-succeeded.png"),
        browser.screenshot().await.unwrap(),
    )
    .unwrap();

    // DORA: four charts for all envs, four per env.
    browser
        .goto(&format!("{base}/metrics/dora?days=7"))
        .await
        .unwrap();
    let charts = browser.find_all(Locator::Css("svg.chart")).await.unwrap();
    assert_eq!(charts.len(), 4 * 3, "all environments, prod and staging");
    std::fs::write(shots.join("dora.png"), browser.screenshot().await.unwrap()).unwrap();
    browser.close().await.unwrap();
}
