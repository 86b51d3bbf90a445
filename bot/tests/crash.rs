//! The binary killed and restarted: kill -9 mid-job, and a second deckhand on the same
//! database.

use std::io::{BufRead, BufReader, Write};
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use deckhand::store::jobs::{self, JobState};
use deckhand::store::{Store, locks, now_ms};

mod common;

use common::{BIN, deckhand, text, workspace};

/// A prod deploy whose one step runs for five minutes, writing its pid to step.pid.
const LONG_STEP: &str = r#"
[roles]
team = ["console:*"]
[environments.prod]
deployers = ["team"]
[[environments.prod.deploy]]
name = "Long migration"
run = ["sh", "-c", "echo $$ > {dir}/step.pid; echo migrating; exec sleep 300"]
"#;

/// Starts `deckhand console` in `dir`, deploys prod, and returns once the long step runs
/// (with the console's stdin, still open).
fn console_with_a_running_job(dir: &Path) -> (std::process::Child, std::process::ChildStdin) {
    let mut child = Command::new(BIN)
        .arg("console")
        .current_dir(dir)
        .env_remove("DATABASE_URL")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut stdin = child.stdin.take().unwrap();
    stdin.write_all(b"/deploy prod v1\n").unwrap();
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let started = Instant::now();
    while let Some(Ok(line)) = lines.next() {
        if line.contains("⏳ Long migration") {
            // The card shows the step as it starts; its program writes its pid a moment later.
            while !dir.join("step.pid").exists() && started.elapsed() < Duration::from_secs(30) {
                std::thread::sleep(Duration::from_millis(20));
            }
            return (child, stdin);
        }
        if started.elapsed() > Duration::from_secs(30) {
            break;
        }
    }
    child.kill().ok();
    child.wait().ok();
    panic!("the step never started");
}

/// The step's process group outlives a killed deckhand; tests clean it up.
fn kill_the_step(dir: &Path) {
    if let Ok(pid) = std::fs::read_to_string(dir.join("step.pid")) {
        Command::new("kill")
            .args(["-9", pid.trim()])
            .stderr(Stdio::null())
            .status()
            .ok();
    }
}

/// Whether the step's process (its pid in step.pid) still runs.
fn step_alive(dir: &Path) -> bool {
    let pid = std::fs::read_to_string(dir.join("step.pid")).expect("the step wrote its pid");
    let stat = std::fs::read_to_string(format!("/proc/{}/stat", pid.trim()));
    // A zombie is dead: only its parent has not read its status yet.
    stat.is_ok_and(|s| {
        !s.rsplit(')')
            .next()
            .unwrap_or("")
            .trim_start()
            .starts_with('Z')
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_job_killed_with_the_process_is_interrupted_with_a_free_lock_after_restart() {
    let dir = workspace(Some(LONG_STEP));
    let (mut child, stdin) = console_with_a_running_job(&dir);
    child.kill().unwrap(); // SIGKILL: no cleanup runs
    child.wait().unwrap();
    drop(stdin);
    assert!(
        step_alive(&dir),
        "the step's process group outlives a killed deckhand"
    );

    let url = format!("sqlite://{}/deckhand.db", dir.display());
    let store = Store::connect(&url).await.unwrap();
    assert_eq!(
        jobs::get(&store.pool, 1).await.unwrap().unwrap().state,
        JobState::Running
    );
    store.pool.close().await;

    let out = deckhand(&dir, &["console"], &[], "/status prod\n");
    let stdout = text(&out.stdout);
    assert!(stdout.contains("#1 (deploy of `v1` to `prod`) was interrupted: deckhand stopped while step `Long migration` was running; its processes were stopped (SIGTERM). Nothing was re-run."), "{stdout}");
    assert!(
        !step_alive(&dir),
        "the restarted deckhand stopped the step before freeing prod"
    );
    let store = Store::connect(&url).await.unwrap();
    let job = jobs::get(&store.pool, 1).await.unwrap().unwrap();
    assert_eq!(job.state, JobState::Interrupted);
    assert!(
        locks::get(&store.pool, "prod", now_ms())
            .await
            .unwrap()
            .is_none(),
        "the lock is free"
    );
    let steps = deckhand::store::steps::list(&store.pool, 1).await.unwrap();
    assert_eq!(steps[0].state, deckhand::store::steps::StepState::Failed);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_step_whose_group_was_never_recorded_is_found_by_its_marker() {
    let dir = workspace(Some(LONG_STEP));
    let (mut child, stdin) = console_with_a_running_job(&dir);
    child.kill().unwrap();
    child.wait().unwrap();
    drop(stdin);
    // The state a kill between starting the program and recording its group leaves: the
    // marker written before the start, and no group.
    let url = format!("sqlite://{}/deckhand.db", dir.display());
    let store = Store::connect(&url).await.unwrap();
    let (marker,): (Option<String>,) =
        sqlx::query_as("SELECT process_marker FROM job_steps WHERE job_id = 1 AND idx = 0")
            .fetch_one(&store.pool)
            .await
            .unwrap();
    assert!(
        marker.is_some(),
        "the marker is written before the program starts"
    );
    sqlx::query(
        "UPDATE job_steps SET process_group = NULL, process_started = NULL WHERE job_id = 1",
    )
    .execute(&store.pool)
    .await
    .unwrap();
    store.pool.close().await;
    assert!(step_alive(&dir));

    let out = deckhand(&dir, &["console"], &[], "/status prod\n");
    let stdout = text(&out.stdout);
    let stopped = !step_alive(&dir);
    kill_the_step(&dir);
    assert!(
        stdout.contains("was running; its processes were stopped (SIGTERM)"),
        "{stdout}"
    );
    assert!(
        stopped,
        "the restarted deckhand found the step by its marker"
    );
}

#[test]
fn a_second_deckhand_on_the_same_file_leaves_live_jobs_alone() {
    let dir = workspace(Some(LONG_STEP));
    let (mut first, mut stdin) = console_with_a_running_job(&dir);
    let second = deckhand(&dir, &["console"], &[], "/status prod\n");
    let stdout = text(&second.stdout);
    assert!(
        !stdout.contains("interrupted"),
        "a live job was taken for a crash: {stdout}"
    );
    assert!(
        stdout.contains("#1 deploy `v1`") && stdout.contains("running"),
        "{stdout}"
    );
    stdin.write_all(b"/cancel 1\n").unwrap();
    drop(stdin);
    assert!(first.wait().unwrap().success());
    kill_the_step(&dir);
}

/// LONG_STEP with a short shutdown grace, and an env whose step ends within it.
const GRACEFUL: &str = r#"
[bot]
shutdown_grace = "2s"
[roles]
team = ["console:*"]
[environments.prod]
deployers = ["team"]
[[environments.prod.deploy]]
name = "Long migration"
run = ["sh", "-c", "echo $$ > {dir}/step.pid; echo migrating; exec sleep 300"]
[environments.quick]
deployers = ["team"]
[[environments.quick.deploy]]
name = "Short step"
run = ["sh", "-c", "echo $$ > {dir}/step.pid; sleep 0.5; echo done"]
"#;

fn sigterm(child: &std::process::Child) {
    Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
}

/// Waits for the process to exit; its exit status.
fn exits_within(child: &mut std::process::Child, within: Duration) -> std::process::ExitStatus {
    let deadline = Instant::now() + within;
    loop {
        if let Some(status) = child.try_wait().unwrap() {
            return status;
        }
        if Instant::now() > deadline {
            child.kill().ok();
            panic!("deckhand did not exit within {within:?} of SIGTERM");
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_beyond_the_grace_stops_the_step_and_records_the_job_interrupted() {
    let dir = workspace(Some(GRACEFUL));
    let (mut child, _stdin) = console_with_a_running_job(&dir);
    sigterm(&child);
    // The 2 s grace, the step's SIGTERM, the records: well under Kubernetes' 30 s.
    let status = exits_within(&mut child, Duration::from_secs(20));
    assert!(status.success(), "exit 0 after a graceful stop: {status:?}");
    assert!(!step_alive(&dir), "no step outlives deckhand");
    let store = Store::connect(&format!("sqlite://{}/deckhand.db", dir.display()))
        .await
        .unwrap();
    let job = jobs::get(&store.pool, 1).await.unwrap().unwrap();
    assert_eq!(job.state, JobState::Interrupted);
    assert!(
        job.error
            .as_deref()
            .unwrap()
            .contains("deckhand was stopped"),
        "{:?}",
        job.error
    );
    assert!(
        locks::get(&store.pool, "prod", now_ms())
            .await
            .unwrap()
            .is_none()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_within_the_grace_lets_the_step_finish() {
    let dir = workspace(Some(GRACEFUL));
    let mut child = Command::new(BIN)
        .arg("console")
        .current_dir(&dir)
        .env_remove("DATABASE_URL")
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut stdin = child.stdin.take().unwrap();
    stdin.write_all(b"/deploy quick v1\n").unwrap();
    let started = Instant::now();
    while !dir.join("step.pid").exists() {
        assert!(
            started.elapsed() < Duration::from_secs(30),
            "the step never started"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    sigterm(&child);
    let status = exits_within(&mut child, Duration::from_secs(20));
    assert!(status.success(), "{status:?}");
    let store = Store::connect(&format!("sqlite://{}/deckhand.db", dir.display()))
        .await
        .unwrap();
    let job = jobs::get(&store.pool, 1).await.unwrap().unwrap();
    assert_eq!(job.state, JobState::Succeeded, "{:?}", job.error);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_second_deckhand_run_on_one_sqlite_file_refuses_to_start_and_a_console_still_works() {
    let dir = workspace(None);
    let port = common::free_port();
    let mut first = common::run_slack_http(&dir, "http://127.0.0.1:9/api", port, "s").await;
    let health: serde_json::Value = reqwest::get(format!("http://127.0.0.1:{port}/healthz"))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(health["role"], "leader", "alone on SQLite: {health}");

    let url = format!("sqlite://{}/deckhand.db", dir.display());
    let other_port = common::free_port().to_string();
    let second = deckhand(
        &dir,
        &["run"],
        &[
            ("DATABASE_URL", &url),
            ("DECKHAND_LISTEN", &format!("127.0.0.1:{other_port}")),
        ],
        "",
    );
    let stderr = text(&second.stderr);
    assert!(!second.status.success(), "{stderr}");
    assert!(
        stderr.contains(&format!(
            "another `deckhand run` (process {}) is serving",
            first.id()
        )) && stderr.contains("deckhand.db"),
        "{stderr}"
    );
    let console = deckhand(&dir, &["console"], &[("DATABASE_URL", &url)], "/status\n");
    assert!(console.status.success(), "{}", text(&console.stderr));

    // The kernel lets go of a killed process's lock: the next run starts.
    first.kill().unwrap();
    first.wait().unwrap();
    let mut next = common::run_slack_http(&dir, "http://127.0.0.1:9/api", port, "s").await;
    next.kill().ok();
    next.wait().ok();
}
