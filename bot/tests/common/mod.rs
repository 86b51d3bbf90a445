//! What the binary's end-to-end tests share: a scratch workspace with a config, and
//! running `deckhand` in it with a deadline.
#![allow(dead_code)]

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

use deckhand::testing;

pub const BIN: &str = env!("CARGO_BIN_EXE_deckhand");

/// A scratch dir with `deckhand.toml` written from `config` (`{dir}` replaced).
pub fn workspace(config: Option<&str>) -> PathBuf {
    let dir = testing::scratch_dir("deckhand-cli");
    if let Some(config) = config {
        std::fs::write(
            dir.join("deckhand.toml"),
            config.replace("{dir}", &dir.display().to_string()),
        )
        .unwrap();
    }
    dir
}

pub fn deckhand(dir: &Path, args: &[&str], env: &[(&str, &str)], stdin: &str) -> Output {
    let mut child = Command::new(BIN)
        .args(args)
        .current_dir(dir)
        .env_remove("DATABASE_URL")
        .env_remove("DECKHAND_CONFIG")
        .envs(env.iter().copied())
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("cannot start deckhand");
    child
        .stdin
        .take()
        .unwrap()
        .write_all(stdin.as_bytes())
        .unwrap();
    let started = Instant::now();
    loop {
        if child.try_wait().unwrap().is_some() {
            return child.wait_with_output().unwrap();
        }
        if started.elapsed() > Duration::from_secs(60) {
            child.kill().ok();
            panic!(
                "deckhand {args:?} did not finish: {:?}",
                child.wait_with_output().unwrap()
            );
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

pub fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// `deckhand run` in `dir` in Slack HTTP mode (signing secret `secret`, Web API at
/// `api_url`), up: its /healthz answers.
pub async fn run_slack_http(
    dir: &std::path::Path,
    api_url: &str,
    port: u16,
    secret: &str,
) -> std::process::Child {
    let child = Command::new(BIN)
        .arg("run")
        .current_dir(dir)
        .env("SLACK_BOT_TOKEN", "xoxb-test")
        .env("SLACK_SIGNING_SECRET", secret)
        .env("SLACK_API_URL", api_url)
        .env(
            "DECKHAND_API_TOKEN",
            "inbox-test-api-token-0123456789abcdef",
        )
        .env("DECKHAND_LISTEN", format!("127.0.0.1:{port}"))
        .env(
            "DATABASE_URL",
            format!("sqlite://{}/deckhand.db", dir.display()),
        )
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let started = Instant::now();
    while reqwest::get(format!("http://127.0.0.1:{port}/healthz"))
        .await
        .is_err()
    {
        assert!(
            started.elapsed() < Duration::from_secs(30),
            "deckhand never came up"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    child
}
