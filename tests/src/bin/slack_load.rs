//! Load generator: signed HTTP slash commands at increasing rates against a real
//! `deckhand run` on loopback (Slack HTTP mode, a fake Slack for its outbound calls).
//! Each command is a `/deploy` to its own env, so each creates a durable job (awaiting
//! approval). Reports throughput, p50/p99 ack latency, jobs stored, and resident memory.
//!
//!     cargo build --release -p deckhand -p deckhand-tests
//!     $CARGO_TARGET_DIR/release/slack-load            # or target/release/slack-load
//!
//! Rates and duration: `SLACK_LOAD_RATES=100,250,500,1000 SLACK_LOAD_SECONDS=5`.
//!
//! The flood (`SLACK_LOAD_MODE=flood`, `SLACK_LOAD_CONNECTIONS=32`, `SLACK_LOAD_SECONDS=10`):
//! closed loop, every connection sending `/deploy e0` as fast as it is answered, each a new
//! delivery, so after the first every one is refused (e0 is held). Reports throughput,
//! p50/p99/max ack, non-2xx, commands stored and handled, `chat.postEphemeral` calls, and
//! RSS idle, during (sampled) and 10 s after.
//! On Postgres instead of SQLite: `SLACK_LOAD_POSTGRES=postgres://…` (a fresh schema).
//!
//! For each rate it checks that every acknowledged command is in the inbox (stored
//! before the ack, the crash-safe promise), and at the end prints the highest rate whose
//! p99 ack stayed within 5 ms, the highest at which every acked command was stored, and
//! deckhand's peak resident memory (VmHWM).

use std::process::{Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use deckhand_tests::slack::{FakeSlack, sign, slash_command};

const SECRET: &str = "load-test-signing-secret";

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let rates: Vec<u64> = std::env::var("SLACK_LOAD_RATES")
        .unwrap_or_else(|_| "100,250,500,1000".into())
        .split(',')
        .filter_map(|r| r.trim().parse().ok())
        .collect();
    let seconds: u64 = std::env::var("SLACK_LOAD_SECONDS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(5);
    let flood = std::env::var("SLACK_LOAD_MODE").is_ok_and(|m| m == "flood");
    let total: u64 = if flood {
        1
    } else {
        rates.iter().map(|r| r * seconds).sum()
    };

    let slack = FakeSlack::start().await;
    let dir = deckhand::testing::scratch_dir("deckhand-slack-load");
    let mut config = String::from(
        "[roles]\nteam = [\"slack:U0LOAD0\", \"slack:U0LOAD1\", \"slack:U0LOAD2\", \"slack:U0LOAD3\"]\nreviewers = [\"slack:U0REVIEW\"]\n[bot]\ncommands_per_minute = 1000000\n",
    );
    for i in 0..total {
        config.push_str(&format!(
            "[environments.e{i}]\ndeployers = [\"team\"]\napprovers = [\"reviewers\"]\napprovals = 1\n[[environments.e{i}.deploy]]\nname = \"Deploy\"\nrun = [\"true\"]\n"
        ));
    }
    std::fs::write(dir.join("deckhand.toml"), config)?;
    let database_url = match std::env::var("SLACK_LOAD_POSTGRES") {
        Ok(base) => deckhand::testing::postgres(&base).await.1,
        Err(_) => format!("sqlite://{}/deckhand.db", dir.display()),
    };
    let dialect = if database_url.starts_with("postgres") {
        "Postgres"
    } else {
        "SQLite"
    };
    let port = free_port();
    let binary = std::env::var("DECKHAND_BIN")
        .map(std::path::PathBuf::from)
        .unwrap_or_else(|_| {
            std::env::current_exe()
                .expect("own path")
                .with_file_name("deckhand")
        });
    let mut deckhand = Command::new(&binary)
        .arg("run")
        .current_dir(&dir)
        .env("SLACK_BOT_TOKEN", "xoxb-load")
        .env("SLACK_SIGNING_SECRET", SECRET)
        .env("SLACK_API_URL", &slack.api_url)
        .env("DECKHAND_LISTEN", format!("127.0.0.1:{port}"))
        .env("DATABASE_URL", &database_url)
        .env("RUST_LOG", "error")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::inherit())
        .spawn()
        .map_err(|e| {
            anyhow::anyhow!(
                "cannot start {}: {e} (build it: cargo build --release -p deckhand)",
                binary.display()
            )
        })?;
    let base = format!("http://127.0.0.1:{port}");
    let http = reqwest::Client::builder()
        .pool_max_idle_per_host(256)
        .build()?;
    let up = Instant::now();
    while http.get(format!("{base}/healthz")).send().await.is_err() {
        anyhow::ensure!(
            up.elapsed() < Duration::from_secs(60),
            "deckhand did not come up"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let idle_rss = memory(deckhand.id(), "VmRSS:");
    let store = deckhand::store::Store::open(&database_url).await?;
    println!("deckhand up on {dialect} with {total} envs; idle RSS {idle_rss}");
    if flood {
        let connections: usize = std::env::var("SLACK_LOAD_CONNECTIONS")
            .ok()
            .and_then(|c| c.parse().ok())
            .unwrap_or(32);
        let seconds = std::env::var("SLACK_LOAD_SECONDS")
            .ok()
            .and_then(|s| s.parse().ok())
            .unwrap_or(10);
        run_flood(
            &http,
            &base,
            deckhand.id(),
            connections,
            seconds,
            &store,
            &slack,
        )
        .await?;
        deckhand.kill().ok();
        deckhand.wait().ok();
        return Ok(());
    }
    println!(
        "| rate (req/s) | sent | acked 200 | stored | throughput (req/s) | p50 ack | p99 ack | max ack |"
    );
    println!("|---|---|---|---|---|---|---|---|");
    let mut within_5ms = None;
    let mut all_stored = None;
    let mut env = 0u64;
    let mut stored_before = 0u64;
    for rate in &rates {
        let count = rate * seconds;
        let (sender, mut receiver) = tokio::sync::mpsc::unbounded_channel();
        let start = Instant::now();
        let http = Arc::new(http.clone());
        for n in 0..count {
            let due = start + Duration::from_secs_f64(n as f64 / *rate as f64);
            tokio::time::sleep_until(due.into()).await;
            let body = slash_command(
                &format!("U0LOAD{}", n % 4),
                "C1",
                "/deploy",
                &format!("e{env} v1"),
                &format!("load-{env}"),
            );
            env += 1;
            let timestamp = chrono::Utc::now().timestamp();
            let request = http
                .post(format!("{base}/slack/commands"))
                .header("content-type", "application/x-www-form-urlencoded")
                .header("x-slack-request-timestamp", timestamp.to_string())
                .header("x-slack-signature", sign(SECRET, timestamp, &body))
                .body(body);
            let sender = sender.clone();
            tokio::spawn(async move {
                // Latency from when the request was due, so queueing in the client counts.
                let ok = matches!(request.send().await, Ok(r) if r.status() == 200);
                let _ = sender.send((due.elapsed(), ok));
            });
        }
        drop(sender);
        let mut latencies = Vec::with_capacity(count as usize);
        let mut acked = 0;
        while let Some((latency, ok)) = receiver.recv().await {
            latencies.push(latency);
            acked += u64::from(ok);
        }
        let elapsed = start.elapsed().as_secs_f64();
        latencies.sort();
        let pick =
            |q: f64| latencies[((latencies.len() as f64 * q) as usize).min(latencies.len() - 1)];
        // Every ack promises a stored row: count them as soon as the last ack is in.
        let (stored,): (i64,) = sqlx::query_as("SELECT COUNT(*) FROM inbox WHERE kind = 'command'")
            .fetch_one(&store.pool)
            .await?;
        let stored_now = stored as u64 - stored_before;
        stored_before = stored as u64;
        let p99 = pick(0.99);
        println!(
            "| {rate} | {count} | {acked} | {stored_now} | {:.0} | {:.2} ms | {:.2} ms | {:.2} ms |",
            acked as f64 / elapsed,
            ms(pick(0.50)),
            ms(p99),
            ms(*latencies.last().unwrap())
        );
        if acked == count && p99 <= Duration::from_millis(5) {
            within_5ms = Some(*rate);
        }
        if stored_now >= acked {
            all_stored = Some(*rate);
        }
    }
    let rate = |r: Option<u64>| r.map_or("none of the rates".to_owned(), |r| format!("{r} req/s"));
    println!(
        "{dialect}: highest rate with every command acked and p99 ≤ 5 ms: {}; highest with every acked command stored: {}; peak RSS {}",
        rate(within_5ms),
        rate(all_stored),
        memory(deckhand.id(), "VmHWM:")
    );
    // Jobs are created right after each ack; give the last ones a moment, then count.
    let mut stored = 0;
    for _ in 0..100 {
        let counts = deckhand::store::jobs::count_by_state(&store.pool).await?;
        stored = counts.iter().map(|(_, n)| n).sum::<i64>();
        if stored as u64 >= total {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    println!(
        "durable jobs stored: {stored} of {total}; RSS under load {}",
        memory(deckhand.id(), "VmRSS:")
    );
    deckhand.kill().ok();
    deckhand.wait().ok();
    Ok(())
}

/// The closed-loop flood of one refused command (see the module's docs).
async fn run_flood(
    http: &reqwest::Client,
    base: &str,
    pid: u32,
    connections: usize,
    seconds: u64,
    store: &deckhand::store::Store,
    slack: &FakeSlack,
) -> anyhow::Result<()> {
    let serial = Arc::new(std::sync::atomic::AtomicU64::new(0));
    let end = Instant::now() + Duration::from_secs(seconds);
    let started = Instant::now();
    let peak = Arc::new(std::sync::atomic::AtomicU64::new(0));
    let sampler = {
        let peak = peak.clone();
        tokio::spawn(async move {
            while Instant::now() < end {
                let kb = memory(pid, "VmRSS:")
                    .trim_end_matches(" kB")
                    .parse::<u64>()
                    .unwrap_or(0);
                peak.fetch_max(kb, std::sync::atomic::Ordering::SeqCst);
                tokio::time::sleep(Duration::from_millis(250)).await;
            }
        })
    };
    let workers: Vec<_> = (0..connections)
        .map(|_| {
            let (http, base, serial) = (http.clone(), base.to_owned(), serial.clone());
            tokio::spawn(async move {
                let mut seen = Vec::new();
                let mut failed = 0u64;
                while Instant::now() < end {
                    let n = serial.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                    let body =
                        slash_command("U0LOAD0", "C1", "/deploy", "e0 v1", &format!("flood-{n}"));
                    let timestamp = chrono::Utc::now().timestamp();
                    let sent = Instant::now();
                    let answer = http
                        .post(format!("{base}/slack/commands"))
                        .header("content-type", "application/x-www-form-urlencoded")
                        .header("x-slack-request-timestamp", timestamp.to_string())
                        .header("x-slack-signature", sign(SECRET, timestamp, &body))
                        .body(body)
                        .send()
                        .await;
                    match answer {
                        Ok(r) if r.status() == 200 => seen.push(sent.elapsed()),
                        _ => failed += 1,
                    }
                }
                (seen, failed)
            })
        })
        .collect();
    let mut latencies = Vec::new();
    let mut failed = 0;
    for worker in workers {
        let (seen, bad) = worker.await?;
        latencies.extend(seen);
        failed += bad;
    }
    let elapsed = started.elapsed().as_secs_f64();
    sampler.await.ok();
    latencies.sort();
    anyhow::ensure!(!latencies.is_empty(), "no request was acknowledged");
    let pick = |q: f64| latencies[((latencies.len() as f64 * q) as usize).min(latencies.len() - 1)];
    let count = |sql: &'static str| async move {
        sqlx::query_as::<_, (i64,)>(sql)
            .fetch_one(&store.pool)
            .await
            .map(|(n,)| n)
    };
    let stored = count("SELECT COUNT(*) FROM inbox WHERE kind = 'command'").await?;
    tokio::time::sleep(Duration::from_secs(10)).await;
    let handled =
        count("SELECT COUNT(*) FROM inbox WHERE kind = 'command' AND handled_at IS NOT NULL")
            .await?;
    println!(
        "| connections | acked | non-2xx | throughput (req/s) | p50 ack | p99 ack | max ack | stored | handled (10 s after) | chat.postEphemeral | RSS during (peak) | RSS 10 s after |"
    );
    println!("|---|---|---|---|---|---|---|---|---|---|---|---|");
    println!(
        "| {connections} | {} | {failed} | {:.0} | {:.2} ms | {:.2} ms | {:.2} ms | {stored} | {handled} | {} | {} kB | {} |",
        latencies.len(),
        latencies.len() as f64 / elapsed,
        ms(pick(0.50)),
        ms(pick(0.99)),
        ms(*latencies.last().unwrap()),
        slack.calls_of("chat.postEphemeral").len(),
        peak.load(std::sync::atomic::Ordering::SeqCst),
        memory(pid, "VmRSS:")
    );
    Ok(())
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

/// A line of `/proc/PID/status`: `VmRSS:` now, `VmHWM:` the peak.
fn memory(pid: u32, field: &str) -> String {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with(field))
                .map(|l| l.trim_start_matches(field).trim().to_owned())
        })
        .unwrap_or_else(|| "?".into())
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .unwrap_or(18080)
}
