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
