//! Two `deckhand run` replicas on one Postgres, both serving Slack HTTP and configured for
//! the Discord gateway, 1,000 signed commands spread across both, and the leader killed
//! -9 halfway through: nothing acknowledged is lost or done twice, its running job ends
//! `interrupted` (not re-run), and leadership (the gateway, the scheduler, the reaping)
//! moves to the survivor.

use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use deckhand::store::jobs::{self, JobState};
use deckhand_tests::discord::FakeDiscord;
use deckhand_tests::slack::{FakeSlack, sign, slash_command};
use serde_json::Value;

mod common;

use common::{BIN, free_port, workspace};

const SECRET: &str = "replicas-signing-secret";
const COMMANDS: usize = 1000;
/// People sending the commands: ten each, so none of them runs into the per-person
/// burst limit (`bot.commands_per_minute` allows a burst of 10) however the handlers bunch.
const PEOPLE: usize = 100;

fn person(i: usize) -> String {
    format!("U0REP{:03}", i % PEOPLE)
}

/// 1,000 envs (one per command, each job waits for an approval nobody gives: one card
/// each, nothing more to send), `slow` with a step that runs for minutes, and a secret
/// overdue since 2020 that the scheduler reminds about every 3 seconds.
fn config(dir: &std::path::Path) -> String {
    let people: Vec<String> = (0..PEOPLE)
        .map(|i| format!("\"slack:{}\"", person(i)))
        .collect();
    let mut config = format!(
        r#"[roles]
team = [{}]
reviewers = ["slack:U0REVIEW"]
[bot]
commands_per_minute = 1000000
[reminders]
schedule = "*/3 * * * * *"
channel = "slack:C0OPS"
[[secrets]]
name = "STRIPE_KEY"
env = "slow"
every = "90d"
owner = "slack:U0REVIEW"
last_rotated = "2020-01-01"
[environments.slow]
deployers = ["team"]
[[environments.slow.deploy]]
name = "Long migration"
run = ["sh", "-c", "echo $$ > {}/step.pid; exec sleep 300"]
"#,
        people.join(", "),
        dir.display()
    );
    for i in 0..COMMANDS {
        config.push_str(&format!(
            "[environments.e{i}]\ndeployers = [\"team\"]\napprovers = [\"reviewers\"]\napprovals = 1\n[[environments.e{i}.deploy]]\nname = \"Deploy\"\nrun = [\"true\"]\n"
        ));
    }
    config
}

struct Replica {
    child: Child,
    port: u16,
}

/// The slow job's step, killed when the test ends however it ends.
struct Step(std::path::PathBuf);

impl Drop for Step {
    fn drop(&mut self) {
        if let Ok(pid) = std::fs::read_to_string(&self.0) {
            let _ = Command::new("kill").args(["-9", pid.trim()]).status();
        }
    }
}

/// A failing test must not leave replicas (or the dead one's step) running.
impl Drop for Replica {
    fn drop(&mut self) {
        self.child.kill().ok();
        self.child.wait().ok();
    }
}

/// A replica on `url`; its log goes to `dir/NAME.log`, for a failing run to show.
fn start(
    name: &str,
    dir: &std::path::Path,
    url: &str,
    slack: &FakeSlack,
    discord: &FakeDiscord,
) -> Replica {
    let port = free_port();
    let log = std::fs::File::create(dir.join(format!("{name}.log"))).unwrap();
    let child = Command::new(BIN)
        .arg("run")
        .current_dir(dir)
        .env_remove("DECKHAND_CONFIG")
        .env("DATABASE_URL", url)
        .env("DECKHAND_LISTEN", format!("127.0.0.1:{port}"))
        .env("SLACK_BOT_TOKEN", "xoxb-replicas")
        .env("SLACK_SIGNING_SECRET", SECRET)
        .env("SLACK_API_URL", &slack.api_url)
        .env("DISCORD_TOKEN", "fake-bot-token")
        .env("DISCORD_API_URL", &discord.api_url)
        .env("DISCORD_GUILD_IDS", deckhand_tests::discord::GUILD_ID)
        .env("RUST_LOG", "warn")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(log)
        .spawn()
        .expect("deckhand run");
    Replica { child, port }
}

async fn health(http: &reqwest::Client, port: u16) -> Option<Value> {
    http.get(format!("http://127.0.0.1:{port}/healthz"))
        .send()
        .await
        .ok()?
        .json()
        .await
        .ok()
}

async fn until<F: std::future::Future<Output = bool>>(
    what: &str,
    within: Duration,
    check: impl Fn() -> F,
) -> Duration {
    let started = Instant::now();
    while !check().await {
        assert!(started.elapsed() < within, "{what}: not within {within:?}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    started.elapsed()
}

async fn role_is(http: &reqwest::Client, port: u16, role: &str) -> bool {
    health(http, port)
        .await
        .is_some_and(|h| h["role"].as_str() == Some(role))
}

/// Posts a signed slash command; `true` when deckhand acknowledged it with 200.
async fn send(http: &reqwest::Client, port: u16, body: &str) -> bool {
    let timestamp = chrono::Utc::now().timestamp();
    http.post(format!("http://127.0.0.1:{port}/slack/commands"))
        .header("content-type", "application/x-www-form-urlencoded")
        .header("x-slack-request-timestamp", timestamp.to_string())
        .header("x-slack-signature", sign(SECRET, timestamp, body))
        .body(body.to_owned())
        .send()
        .await
        .is_ok_and(|r| r.status() == 200)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_replicas_one_killed_halfway_lose_nothing_and_do_nothing_twice() {
    let Some(base) = deckhand::testing::require_postgres() else {
        return;
    };
    let (store, url) = deckhand::testing::postgres(&base).await;
    let dir = workspace(None);
    std::fs::write(dir.join("deckhand.toml"), config(&dir)).unwrap();
    let _step = Step(dir.join("step.pid"));
    let slack = FakeSlack::start().await;
    for i in 0..PEOPLE {
        slack.name(&person(i), &format!("person{i}"));
    }
    let discord = FakeDiscord::start().await;
    let http = reqwest::Client::new();

    // The first replica leads and runs the slow job; then the second joins.
    let mut first = start("first", &dir, &url, &slack, &discord);
    until("the first replica leading", Duration::from_secs(60), || {
        role_is(&http, first.port, "leader")
    })
    .await;
    assert!(
        send(
            &http,
            first.port,
            &slash_command(&person(0), "C0DEPLOY", "/deploy", "slow v1", "trigger-slow")
        )
        .await
    );
    let running = || async {
        jobs::get(&store.pool, 1)
            .await
            .unwrap()
            .is_some_and(|j| j.state == JobState::Running)
            && dir.join("step.pid").exists()
    };
    until("the slow job running", Duration::from_secs(30), running).await;
    discord.wait_ready().await;
    let second = start("second", &dir, &url, &slack, &discord);
    until("the second replica up", Duration::from_secs(60), || {
        role_is(&http, second.port, "follower")
    })
    .await;

    // 1,000 commands, alternating, 16 at a time; the leader dies after the 500th is sent.
    let http = Arc::new(http);
    let bodies: Vec<String> = (0..COMMANDS)
        .map(|i| {
            slash_command(
                &person(i),
                &format!("C0CH{}", i % 50),
                "/deploy",
                &format!("e{i} v{i}"),
                &format!("trigger-{i}"),
            )
        })
        .collect();
    let mut acked_by_first = 0;
    let mut resent = 0;
    let mut killed_at = None;
    let mut takeover = None;
    for (batch_start, batch) in bodies.chunks(16).enumerate().map(|(n, b)| (n * 16, b)) {
        if batch_start >= COMMANDS / 2 && killed_at.is_none() {
            first.child.kill().unwrap(); // SIGKILL
            first.child.wait().unwrap();
            let killed = Instant::now();
            killed_at = Some(killed);
            let (http, port) = (http.clone(), second.port);
            takeover = Some(tokio::spawn(async move {
                while !role_is(&http, port, "leader").await {
                    tokio::time::sleep(Duration::from_millis(20)).await;
                }
                killed.elapsed()
            }));
        }
        let sends: Vec<_> = batch
            .iter()
            .enumerate()
            .map(|(k, body)| {
                let http = http.clone();
                let body = body.clone();
                let port = if (batch_start + k) % 2 == 0 {
                    first.port
                } else {
                    second.port
                };
                let (first_port, second_port) = (first.port, second.port);
                tokio::spawn(async move {
                    if send(&http, port, &body).await {
                        return (port == first_port, false);
                    }
                    // Not acknowledged (the replica is gone): the client sends it again,
                    // with the same trigger id, to the other one.
                    assert!(send(&http, second_port, &body).await, "the survivor acks");
                    (false, true)
                })
            })
            .collect();
        for sent in sends {
            let (by_first, again) = sent.await.unwrap();
            acked_by_first += usize::from(by_first);
            resent += usize::from(again);
        }
    }
    assert!(killed_at.is_some(), "the leader was killed");
    let failover = tokio::time::timeout(Duration::from_secs(30), takeover.expect("watched"))
        .await
        .expect("the survivor leads within 30 s")
        .unwrap();
    println!(
        "failover: the survivor led {failover:?} after the leader was killed -9 \
         ({acked_by_first} commands acked by the killed replica, {resent} sent again to the survivor)"
    );

    // Every command: exactly one job, on its own env, awaiting approval.
    let counted = || async {
        let (envs, jobs): (i64, i64) = sqlx::query_as(
            "SELECT COUNT(DISTINCT env), COUNT(*) FROM jobs WHERE env LIKE 'e%' AND state = 'awaiting_approval'",
        )
        .fetch_one(&store.pool)
        .await
        .unwrap();
        envs == COMMANDS as i64 && jobs == COMMANDS as i64
    };
    let all_jobs = Instant::now();
    let waited = tokio::time::timeout(Duration::from_secs(300), async {
        while !counted().await {
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    })
    .await;
    if waited.is_err() {
        let states: Vec<(String, i64)> =
            sqlx::query_as("SELECT state, COUNT(*) FROM jobs GROUP BY state")
                .fetch_all(&store.pool)
                .await
                .unwrap();
        let inbox: Vec<(Option<String>, i64)> =
            sqlx::query_as("SELECT outcome, COUNT(*) FROM inbox GROUP BY outcome")
                .fetch_all(&store.pool)
                .await
                .unwrap();
        let log = std::fs::read_to_string(dir.join("second.log")).unwrap_or_default();
        let tail: Vec<&str> = log.lines().rev().take(30).collect();
        panic!(
            "not every command has its job after 300 s: jobs {states:?}, inbox {inbox:?}; the survivor's log ends:\n{}",
            tail.join("\n")
        );
    }
    println!(
        "every command had its job {:?} after the last was sent",
        all_jobs.elapsed()
    );
    let (doubled,): (i64,) = sqlx::query_as(
        "SELECT COUNT(*) FROM (SELECT env FROM jobs GROUP BY env HAVING COUNT(*) > 1) AS d",
    )
    .fetch_one(&store.pool)
    .await
    .unwrap();
    assert_eq!(doubled, 0, "no env got two jobs");
    // The killed replica's job: interrupted once its lease ran out, never re-run.
    let interrupted = || async {
        jobs::get(&store.pool, 1)
            .await
            .unwrap()
            .is_some_and(|j| j.state == JobState::Interrupted)
    };
    until(
        "the slow job interrupted",
        Duration::from_secs(60),
        interrupted,
    )
    .await;
    let step_pid = std::fs::read_to_string(dir.join("step.pid")).unwrap();
    assert!(
        !std::path::Path::new(&format!("/proc/{}", step_pid.trim())).exists()
            || std::fs::read_to_string(format!("/proc/{}/stat", step_pid.trim()))
                .is_ok_and(|s| s.contains(") Z")),
        "the survivor stopped the dead replica's step before freeing the env"
    );
    let (runs,): (i64,) = sqlx::query_as("SELECT COUNT(*) FROM job_steps WHERE job_id = 1")
        .fetch_one(&store.pool)
        .await
        .unwrap();
    assert_eq!(runs, 1, "not re-run");
    let unhandled = || async {
        deckhand::store::inbox::unhandled(&store.pool)
            .await
            .unwrap()
            == 0
    };
    until(
        "every stored command handled",
        Duration::from_secs(60),
        unhandled,
    )
    .await;
    let (handled,): (i64,) =
        sqlx::query_as("SELECT COUNT(*) FROM inbox WHERE kind = 'command' AND outcome = 'handled'")
            .fetch_one(&store.pool)
            .await
            .unwrap();
    assert_eq!(
        handled,
        COMMANDS as i64 + 1,
        "each delivery stored and handled once"
    );

    // The gateway moved: one session from the first replica, one from the survivor.
    discord
        .wait_until("the survivor connecting the gateway", |f| {
            f.identifies().len() == 2
        })
        .await;

    // One reminder per fire time across the two: a fire time is claimed in the store
    // before its reminder is posted (the first fire only starts tracking), so more posts
    // than claimed fire times would be a reminder sent twice.
    let posted = || {
        slack
            .calls_of("chat.postMessage")
            .iter()
            .filter(|c| c.text().contains("overdue for rotation"))
            .count() as i64
    };
    until("reminders posted", Duration::from_secs(60), || async {
        posted() >= 3
    })
    .await;
    let sent = posted();
    let (fires,): (i64,) =
        sqlx::query_as("SELECT COUNT(*) FROM reminder_runs WHERE kind = 'reminders'")
            .fetch_one(&store.pool)
            .await
            .unwrap();
    assert!(
        sent < fires,
        "{sent} reminders for {} fire times: one was sent twice",
        fires - 1
    );
    drop(second);
}
