//! Memory under a flood of step output: one job whose step prints a single 400 MB line
//! (and then a flood of short ones), through the real engine and runner. Reports the
//! process's peak resident memory (VmHWM) before and after, and how long the step took.
//! Run: `cargo bench -p deckhand --bench output`.

use std::sync::Arc;
use std::time::{Duration, Instant};

use deckhand::chat::console::Console;
use deckhand::chat::{Chat, Event, Person};
use deckhand::config::Config;
use deckhand::jobs::{Engine, Settings};
use deckhand::store::jobs::{self, JobState};

const LINE_BYTES: u64 = 400_000_000;

fn config() -> Config {
    let text = format!(
        "[roles]\nteam = [\"console:*\"]\n[environments.flood]\ndeployers = [\"team\"]\n\
         [[environments.flood.deploy]]\nname = \"Flood\"\ntimeout = \"10m\"\n\
         run = [\"sh\", \"-c\", \"head -c {LINE_BYTES} /dev/zero | tr '\\\\0' x; echo; seq 1 2000000\"]\n"
    );
    Config::parse(&text, "bench.toml").expect("bench config")
}

/// VmHWM (peak resident set) of this process, in KiB.
fn peak_kib() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .unwrap_or_default()
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap_or(0)
}

#[tokio::main]
async fn main() {
    if std::env::args().any(|a| a == "--list") {
        println!("output_flood: benchmark");
        return;
    }
    let (store, _) = deckhand::testing::sqlite().await;
    let mut chat = Chat::new();
    chat.add(Arc::new(Console::new(Box::new(std::io::sink()), None)));
    let settings = Settings {
        poll: Duration::from_millis(50),
        ..Settings::default()
    };
    let engine = Engine::new(Arc::new(config()), store.clone(), chat, settings);
    engine.start().await.expect("engine");
    let before = peak_kib();
    let started = Instant::now();
    engine
        .handle(Event::Command {
            platform: "console".into(),
            channel: "console".into(),
            user: Person {
                id: "console:bench".into(),
                name: "bench".into(),
            },
            text: "/deploy flood".into(),
            event_id: None,
        })
        .await;
    let job = loop {
        let job = jobs::get(&store.pool, 1).await.expect("store");
        if let Some(job) = job.filter(|j| j.state.is_terminal()) {
            break job;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    let took = started.elapsed();
    let after = peak_kib();
    assert_eq!(job.state, JobState::Succeeded, "{:?}", job.error);
    println!(
        "one {} MB line + 2,000,000 short lines: {:.1}s; peak RSS {} MiB before, {} MiB after",
        LINE_BYTES / 1_000_000,
        took.as_secs_f64(),
        before / 1024,
        after / 1024
    );
}
