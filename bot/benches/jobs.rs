//! Load harness: jobs created and completed per second with no-op steps, on SQLite and
//! (when DECKHAND_TEST_POSTGRES_URL is set) Postgres; and the resident memory of an idle
//! `deckhand run`. Run: `cargo bench -p deckhand --bench jobs`.

use std::sync::Arc;
use std::time::{Duration, Instant};

use deckhand::chat::console::Console;
use deckhand::chat::{Chat, Event, Person};
use deckhand::config::Config;
use deckhand::jobs::{Engine, Settings};
use deckhand::store::Store;
use deckhand::store::jobs::{self, JobState};

/// Envs deploy in parallel; each runs its jobs one after another (the env lock).
const ENVS: usize = 8;
const JOBS_PER_ENV: usize = 50;

fn config() -> Config {
    let mut text = format!(
        "[bot]\nmax_concurrent_jobs = {ENVS}\ncommands_per_minute = 1000000\n[roles]\nteam = [\"console:*\"]\n"
    );
    for e in 0..ENVS {
        text.push_str(&format!(
            "[environments.e{e}]\ndeployers = [\"team\"]\n[[environments.e{e}.deploy]]\nname = \"No-op\"\nrun = [\"true\"]\n"
        ));
    }
    Config::parse(&text, "bench.toml").expect("bench config")
}

async fn throughput(label: &str, store: Store) {
    let mut chat = Chat::new();
    chat.add(Arc::new(Console::new(Box::new(std::io::sink()), None)));
    let settings = Settings {
        poll: Duration::from_millis(50),
        ..Settings::default()
    };
    let engine = Engine::new(Arc::new(config()), store.clone(), chat, settings);
    engine.start().await.expect("engine");
    let started = Instant::now();
    let mut workers = Vec::new();
    for e in 0..ENVS {
        let engine = engine.clone();
        let store = store.clone();
        workers.push(tokio::spawn(async move {
            for _ in 0..JOBS_PER_ENV {
                let before = jobs::history(&store.pool, &format!("e{e}"), 1)
                    .await
                    .unwrap();
                engine
                    .handle(Event::Command {
                        platform: "console".into(),
                        channel: "console".into(),
                        user: Person {
                            id: "console:bench".into(),
                            name: "bench".into(),
                        },
                        text: format!("/deploy e{e} v1"),
                        event_id: None,
                    })
                    .await;
                let job = jobs::history(&store.pool, &format!("e{e}"), 1)
                    .await
                    .unwrap();
                let id = job.first().map(|j| j.id).unwrap();
                assert_ne!(
                    Some(id),
                    before.first().map(|j| j.id),
                    "the deploy was refused"
                );
                loop {
                    let state = jobs::get(&store.pool, id).await.unwrap().unwrap().state;
                    if state == JobState::Succeeded {
                        break;
                    }
                    assert!(!state.is_terminal(), "job {id} ended {state:?}");
                    tokio::time::sleep(Duration::from_millis(2)).await;
                }
            }
        }));
    }
    for worker in workers {
        worker.await.unwrap();
    }
    let elapsed = started.elapsed();
    let total = ENVS * JOBS_PER_ENV;
    println!(
        "{label}: {total} jobs (create, lock, run one no-op step, announce) in {:.2}s = {:.0} jobs/s",
        elapsed.as_secs_f64(),
        total as f64 / elapsed.as_secs_f64()
    );
    engine.stop();
}

fn idle_rss() {
    let dir = deckhand::testing::scratch_dir("deckhand-bench-rss");
    let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_deckhand"))
        .arg("run")
        .current_dir(&dir)
        .env("DECKHAND_LISTEN", "127.0.0.1:0")
        .env_remove("DATABASE_URL")
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .expect("deckhand run");
    std::thread::sleep(Duration::from_secs(3));
    let status =
        std::fs::read_to_string(format!("/proc/{}/status", child.id())).unwrap_or_default();
    let rss = status
        .lines()
        .find(|l| l.starts_with("VmRSS:"))
        .unwrap_or("VmRSS: ?")
        .to_owned();
    child.kill().ok();
    child.wait().ok();
    println!(
        "idle `deckhand run` (demo config, SQLite, HTTP server up): {}",
        rss.trim_start_matches("VmRSS:").trim()
    );
}

#[tokio::main]
async fn main() {
    if std::env::args().any(|a| a == "--list") {
        return; // `cargo test --benches` asks for a list; there is nothing to unit-test here.
    }
    let (store, _) = deckhand::testing::sqlite().await;
    throughput("SQLite", store).await;
    match deckhand::testing::postgres_url() {
        Some(url) => {
            let (store, _) = deckhand::testing::postgres(&url).await;
            throughput("Postgres", store).await;
        }
        None => println!("Postgres: skipped (set DECKHAND_TEST_POSTGRES_URL)"),
    }
    idle_rss();
}
