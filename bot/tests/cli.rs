//! The `deckhand` binary end to end: the README's commands, bad input, secrets that
//! must never leak, a kill -9 mid-job, and backup/restore on a real Postgres.

use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

use deckhand::store::jobs::{self, JobState};
use deckhand::store::{Store, locks, now_ms};
use deckhand::testing;

const BIN: &str = env!("CARGO_BIN_EXE_deckhand");

/// A scratch dir with `deckhand.toml` written from `config` (`{dir}` replaced).
fn workspace(config: Option<&str>) -> PathBuf {
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

fn deckhand(dir: &Path, args: &[&str], env: &[(&str, &str)], stdin: &str) -> Output {
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

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

#[test]
fn readme_demo_deploys_staging_from_a_fresh_directory() {
    let dir = workspace(None);
    let out = deckhand(
        &dir,
        &["console"],
        &[("USER", "newcomer")],
        "/deploy staging\n",
    );
    let stdout = text(&out.stdout);
    assert!(out.status.success(), "{stdout}\n{}", text(&out.stderr));
    assert!(
        stdout.contains("[m1] deckhand: ⏸️ *Deploy #1* · staging"),
        "{stdout}"
    );
    assert!(
        stdout.contains("✅ *Deploy #1* · staging · `demo@main` — succeeded"),
        "{stdout}"
    );
    assert!(
        dir.join("deckhand.db").exists(),
        "the default SQLite file is created"
    );
}

#[test]
fn demo_prod_waits_for_approval_then_fails_and_rolls_back_on_broken() {
    let dir = workspace(None);
    let script = "/deploy prod v1\n@bob react ✅ m1\n";
    let out = deckhand(&dir, &["console"], &[("USER", "alice")], script);
    let first = text(&out.stdout);
    assert!(
        first.contains("✅ *Deploy #1* · prod · `demo@v1` — succeeded"),
        "{first}"
    );
    let ids = |output: &str| -> std::collections::BTreeSet<String> {
        output
            .lines()
            .filter_map(|l| l.strip_prefix('[')?.split(']').next().map(str::to_owned))
            .collect()
    };
    let first_ids = ids(&first);
    // A second session continues the numbering and sees the first one's history.
    let script = "/deploy prod broken\n@bob /approve 2\n";
    let out = deckhand(&dir, &["console"], &[("USER", "alice")], script);
    let stdout = text(&out.stdout);
    assert!(
        stdout.contains("❌ *Deploy #2* · prod · `demo@broken` — failed"),
        "{stdout}"
    );
    assert!(
        stdout.contains("✅ *Rollback #3* · prod · `demo@v1` — succeeded"),
        "{stdout}"
    );
    let reused: Vec<_> = ids(&stdout).intersection(&first_ids).cloned().collect();
    assert!(
        reused.is_empty(),
        "message ids are never reused: {reused:?}"
    );
}

#[test]
fn console_leaves_jobs_awaiting_approval_pending_and_exits_0() {
    let dir = workspace(None);
    let out = deckhand(&dir, &["console"], &[], "/deploy prod v1\n");
    assert!(out.status.success());
    let stdout = text(&out.stdout);
    assert!(stdout.contains("awaiting approval"), "{stdout}");
}

#[test]
fn malformed_config_names_file_line_and_reason() {
    let dir = workspace(Some("[environments.prod\n"));
    let out = deckhand(&dir, &["check"], &[], "");
    assert_eq!(out.status.code(), Some(1));
    let stderr = text(&out.stderr);
    assert!(stderr.contains("deckhand.toml"), "{stderr}");
    assert!(stderr.contains("line 1"), "{stderr}");
    assert!(
        !stderr.contains("panicked") && !stderr.contains("RUST_BACKTRACE"),
        "{stderr}"
    );
}

#[test]
fn unknown_key_names_its_path() {
    let dir = workspace(Some(
        "[environments.prod]\ndeployers = []\n[[environments.prod.deploy]]\nname = \"x\"\nrunn = [\"true\"]\n",
    ));
    let out = deckhand(&dir, &["check"], &[], "");
    assert_eq!(out.status.code(), Some(1));
    let stderr = text(&out.stderr);
    assert!(
        stderr.contains("environments.prod.deploy[0].runn"),
        "{stderr}"
    );
    assert!(stderr.contains("unknown field `runn`"), "{stderr}");
}

#[test]
fn check_lists_every_problem_at_once() {
    let config = r#"
[roles]
deployers = ["slack:U1"]
[environments.prod]
deployers = ["deployrs"]
approvals = 1
approval_ttl = "soon"
"#;
    let dir = workspace(Some(config));
    let out = deckhand(&dir, &["check"], &[], "");
    assert_eq!(out.status.code(), Some(1));
    let stderr = text(&out.stderr);
    assert!(
        stderr.contains("environments.prod.approval_ttl"),
        "{stderr}"
    );
    assert!(stderr.contains("`soon` is not a duration"), "{stderr}");
    let config = r#"
[roles]
deployers = ["slack:U1"]
[environments.prod]
deployers = ["deployrs"]
approvals = 1
[[environments.prod.deploy]]
name = "Deploy"
run = ["railway", "up"]
env = ["RAILWAY_TOKEN_FOR_TEST"]
[[environments.prod.deploy]]
name = "Both"
"#;
    std::fs::write(dir.join("deckhand.toml"), config).unwrap();
    let out = deckhand(&dir, &["check"], &[], "");
    assert_eq!(out.status.code(), Some(1));
    let stderr = text(&out.stderr);
    for expected in [
        "`environments.prod.deployers[0]`: unknown role `deployrs`",
        "Did you mean `deployers`?",
        "`environments.prod.approvers`: `approvals = 1` needs someone to approve",
        "`environments.prod.deploy[0].env[0]`: the step needs env var `RAILWAY_TOKEN_FOR_TEST`, which is not set",
        "`environments.prod.deploy[1]`: step `Both` does nothing",
    ] {
        assert!(
            stderr.contains(expected),
            "missing {expected:?} in:\n{stderr}"
        );
    }
}

#[test]
fn missing_env_var_stops_start_up_too() {
    let config = "[environments.prod]\n[[environments.prod.deploy]]\nname = \"Hook\"\nhttp = { url_env = \"HOOK_FOR_TEST\" }\n";
    let dir = workspace(Some(config));
    let out = deckhand(&dir, &["console"], &[], "/status\n");
    assert_eq!(out.status.code(), Some(1));
    assert!(text(&out.stderr).contains(
        "`environments.prod.deploy[0].http.url_env`: the step needs env var `HOOK_FOR_TEST`"
    ));
    let out = deckhand(
        &dir,
        &["check"],
        &[("HOOK_FOR_TEST", "https://example.com/hook")],
        "",
    );
    assert!(out.status.success(), "{}", text(&out.stderr));
}

#[test]
fn explicit_config_that_does_not_exist_is_an_error() {
    let dir = workspace(None);
    let out = deckhand(&dir, &["check", "--config", "nope.toml"], &[], "");
    assert_eq!(out.status.code(), Some(1));
    assert!(
        text(&out.stderr).contains("nope.toml: cannot read it"),
        "{}",
        text(&out.stderr)
    );
}

#[test]
fn unreachable_database_is_a_precise_error() {
    let dir = workspace(None);
    let out = deckhand(
        &dir,
        &[
            "check",
            "--database-url",
            "postgres://deckhand:hunter2secret@127.0.0.1:1/nope",
        ],
        &[],
        "",
    );
    assert_eq!(out.status.code(), Some(1));
    let stderr = text(&out.stderr);
    assert!(
        stderr.contains(
            "cannot connect to the database at postgres://deckhand:********@127.0.0.1:1/nope"
        ),
        "{stderr}"
    );
    assert!(
        !stderr.contains("hunter2secret"),
        "the password leaked: {stderr}"
    );
    let out = deckhand(&dir, &["migrate", "--database-url", "mysql://x"], &[], "");
    assert_eq!(out.status.code(), Some(1));
    assert!(text(&out.stderr).contains("neither `sqlite://FILE` nor `postgres://...`"));
}

#[test]
fn reference_config_passes_check_when_its_env_vars_are_set() {
    let dir = workspace(None);
    let reference = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../deploy/examples/deckhand.toml"
    );
    let vars = [
        ("PROD_DATABASE_URL", "postgres://u:p@db/app"),
        ("RAILWAY_TOKEN", "rw-token"),
        ("VERCEL_DEPLOY_HOOK", "https://api.vercel.com/v1/hooks/x"),
    ];
    let out = deckhand(&dir, &["check", "--config", reference], &vars, "");
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(text(&out.stdout).contains("config OK"));
    let out = deckhand(&dir, &["check", "--config", reference], &vars[1..], "");
    assert_eq!(out.status.code(), Some(1));
    assert!(text(&out.stderr).contains("PROD_DATABASE_URL"));
}

#[test]
fn every_example_config_passes_check() {
    let examples = concat!(env!("CARGO_MANIFEST_DIR"), "/../deploy/examples");
    let dir = workspace(None);
    let env_example =
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../.env.example")).unwrap();
    let vars: Vec<(String, String)> = env_example
        .lines()
        .filter_map(|l| l.split_once('='))
        // Only the secrets the example pipelines name; platform tokens stay unset.
        .filter(|(k, _)| {
            !k.starts_with('#')
                && ![
                    "DATABASE_URL",
                    "DECKHAND_",
                    "SLACK_",
                    "DISCORD_",
                    "GITHUB_API_URL",
                    "RUST_LOG",
                ]
                .iter()
                .any(|p| k.starts_with(p))
        })
        .map(|(k, _)| (k.trim().to_owned(), "postgres://u:p@db/app".to_owned()))
        .collect();
    let vars: Vec<(&str, &str)> = vars.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
    for entry in std::fs::read_dir(examples).unwrap() {
        let path = entry.unwrap().path();
        if path.extension().is_some_and(|e| e == "toml") {
            let out = deckhand(
                &dir,
                &["check", "--config", path.to_str().unwrap()],
                &vars,
                "",
            );
            assert!(
                out.status.success(),
                "{}: {}",
                path.display(),
                text(&out.stderr)
            );
        }
    }
}

const CANARY: &str = "canary-7f3a9c1e5d2b";

#[test]
fn a_secret_printed_by_a_step_never_appears_in_stored_or_printed_output() {
    let config = r#"
[roles]
team = ["console:*"]
[environments.prod]
deployers = ["team"]
secrets = ["CANARY_TOKEN"]
[[environments.prod.deploy]]
name = "Leaky"
run = ["sh", "-c", "echo \"token is $CANARY_TOKEN\"; echo \"$CANARY_TOKEN\" >&2; exit 1"]
env = ["CANARY_TOKEN"]
"#;
    let dir = workspace(Some(config));
    let out = deckhand(
        &dir,
        &["console"],
        &[("CANARY_TOKEN", CANARY), ("RUST_LOG", "debug")],
        "/deploy prod v1\n/status\n",
    );
    let stdout = text(&out.stdout);
    assert!(stdout.contains("failed"), "{stdout}");
    assert!(
        stdout.contains("token is [redacted CANARY_TOKEN]"),
        "the failed step's tail is shown, redacted: {stdout}"
    );
    assert!(!stdout.contains(CANARY), "stdout leaked the secret");
    assert!(
        !text(&out.stderr).contains(CANARY),
        "logs leaked the secret"
    );
    for file in std::fs::read_dir(&dir).unwrap() {
        let path = file.unwrap().path();
        if path.to_string_lossy().contains("deckhand.db") {
            let bytes = std::fs::read(&path).unwrap();
            assert!(
                !bytes.windows(CANARY.len()).any(|w| w == CANARY.as_bytes()),
                "{} holds the secret",
                path.display()
            );
        }
    }
}

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

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_job_killed_with_the_process_is_interrupted_with_a_free_lock_after_restart() {
    let dir = workspace(Some(LONG_STEP));
    let (mut child, stdin) = console_with_a_running_job(&dir);
    child.kill().unwrap(); // SIGKILL: no cleanup runs
    child.wait().unwrap();
    drop(stdin);
    kill_the_step(&dir);

    let url = format!("sqlite://{}/deckhand.db", dir.display());
    let store = Store::connect(&url).await.unwrap();
    assert_eq!(
        jobs::get(&store.pool, 1).await.unwrap().unwrap().state,
        JobState::Running
    );
    store.pool.close().await;

    let out = deckhand(&dir, &["console"], &[], "/status prod\n");
    let stdout = text(&out.stdout);
    assert!(stdout.contains("#1 (deploy of `v1` to `prod`) was interrupted: deckhand stopped while step `Long migration` was running. Nothing was re-run."), "{stdout}");
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

fn psql(url: &str, sql: &str) -> String {
    let out = Command::new("psql")
        .args([url, "-qAtc", sql])
        .output()
        .expect("psql");
    assert!(out.status.success(), "psql {sql}: {}", text(&out.stderr));
    text(&out.stdout).trim().to_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_backup_then_restore_brings_a_dropped_table_back() {
    let Some(base) = testing::require_postgres() else {
        return;
    };
    // A database of its own, so pg_restore --clean touches nothing else.
    let name = format!("deckhand_restore_{}", std::process::id());
    psql(&base, &format!("DROP DATABASE IF EXISTS {name}"));
    psql(&base, &format!("CREATE DATABASE {name}"));
    let app_url = {
        let mut url = reqwest::Url::parse(&base).unwrap();
        url.set_path(&name);
        url.set_query(None);
        url.to_string()
    };
    psql(
        &app_url,
        "CREATE TABLE customers (id int primary key, name text); INSERT INTO customers VALUES (1, 'ada'), (2, 'grace')",
    );
    let config = r#"
[roles]
team = ["console:*"]
[environments.prod]
deployers = ["team"]
approvers = ["team"]
[[environments.prod.deploy]]
name = "Deploy"
run = ["true"]
[[environments.prod.backup]]
name = "Backup database"
backup = { database_url_env = "PROD_DATABASE_URL", dir = "{dir}/backups/prod", keep = 2 }
[[environments.prod.restore]]
name = "Restore database"
restore = { database_url_env = "PROD_DATABASE_URL" }
"#;
    let dir = workspace(Some(config));
    // deckhand's own store on Postgres too.
    let (_, store_url) = testing::postgres(&base).await;
    let env = [
        ("PROD_DATABASE_URL", app_url.as_str()),
        ("DATABASE_URL", store_url.as_str()),
    ];
    let out = deckhand(&dir, &["console"], &env, "@alice /backup prod\n");
    let stdout = text(&out.stdout);
    assert!(
        stdout.contains("✅ *Backup #1* · prod"),
        "{stdout}\n{}",
        text(&out.stderr)
    );
    assert!(stdout.contains("backup: "), "{stdout}");
    psql(&app_url, "DROP TABLE customers");
    let out = deckhand(
        &dir,
        &["console"],
        &env,
        "@alice /backup list prod\n@alice /restore prod 1\n@bob /approve 2\n",
    );
    let stdout = text(&out.stdout);
    assert!(stdout.contains("#1 · "), "the backup is listed: {stdout}");
    assert!(
        stdout.contains("✅ *Restore #2* · prod · `backup #1` — succeeded"),
        "{stdout}\n{}",
        text(&out.stderr)
    );
    assert_eq!(
        psql(
            &app_url,
            "SELECT string_agg(name, ',' ORDER BY id) FROM customers"
        ),
        "ada,grace"
    );
    psql(&base, &format!("DROP DATABASE IF EXISTS {name}"));
}

#[test]
fn slack_half_configured_stops_start_up_with_the_reason() {
    let dir = workspace(None);
    let out = deckhand(&dir, &["check"], &[("SLACK_BOT_TOKEN", "xoxb-1")], "");
    assert_eq!(out.status.code(), Some(1));
    assert!(
        text(&out.stderr)
            .contains("neither SLACK_APP_TOKEN (Socket Mode) nor SLACK_SIGNING_SECRET (HTTP mode)"),
        "{}",
        text(&out.stderr)
    );
    let out = deckhand(
        &dir,
        &["check"],
        &[
            ("SLACK_BOT_TOKEN", "xoxb-1"),
            ("SLACK_APP_TOKEN", "xoxb-wrong"),
        ],
        "",
    );
    assert_eq!(out.status.code(), Some(1));
    assert!(text(&out.stderr).contains("must be an app-level token starting with `xapp-`"));
    let out = deckhand(
        &dir,
        &["check"],
        &[("SLACK_BOT_TOKEN", "xoxb-1"), ("SLACK_SIGNING_SECRET", "s")],
        "",
    );
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(
        text(&out.stdout).contains("slack OK: HTTP mode"),
        "{}",
        text(&out.stdout)
    );
}

#[test]
fn manifest_prints_json_for_both_platforms() {
    let dir = workspace(None);
    for platform in ["slack", "discord"] {
        let out = deckhand(&dir, &["manifest", platform], &[], "");
        assert!(out.status.success());
        let value: serde_json::Value = serde_json::from_slice(&out.stdout).expect("JSON");
        assert!(value.to_string().contains("deploy"));
    }
}

const SECRETS_CONFIG: &str = r#"
[roles]
team = ["console:*"]
[environments.prod]
deployers = ["team"]
[[environments.prod.deploy]]
name = "Deploy"
run = ["true"]
"#;

#[test]
fn env_example_import_registers_each_name_once() {
    let dir = workspace(Some(SECRETS_CONFIG));
    std::fs::write(dir.join(".env.example"), "# API keys\nSTRIPE_SECRET_KEY=sk_test_replace_me\n\nexport RAILWAY_TOKEN=\n# DATABASE_URL is below\nDATABASE_URL=postgres://localhost/app\n").unwrap();
    let args = [
        "secrets",
        "import",
        ".env.example",
        "--env",
        "prod",
        "--every",
        "90d",
        "--owner",
        "console:alice",
    ];
    let out = deckhand(&dir, &args, &[], "");
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(
        text(&out.stdout).contains(
            "registered 3 new secret(s) in prod: STRIPE_SECRET_KEY, RAILWAY_TOKEN, DATABASE_URL"
        ),
        "{}",
        text(&out.stdout)
    );
    let out = deckhand(&dir, &args, &[], "");
    assert!(
        text(&out.stdout).contains("registered 0 new secret(s)")
            && text(&out.stdout).contains("3 already tracked"),
        "{}",
        text(&out.stdout)
    );
    std::fs::write(
        dir.join(".env.example"),
        "STRIPE_SECRET_KEY=\nSENTRY_DSN=\n",
    )
    .unwrap();
    let out = deckhand(&dir, &args, &[], "");
    assert!(
        text(&out.stdout).contains("registered 1 new secret(s) in prod: SENTRY_DSN"),
        "{}",
        text(&out.stdout)
    );
    // Values are never read into storage.
    let bytes = std::fs::read(dir.join("deckhand.db")).unwrap();
    assert!(!bytes.windows(17).any(|w| w == b"sk_test_replace_m"));
    let out = deckhand(&dir, &["console"], &[("USER", "alice")], "/secrets list\n");
    assert!(
        text(&out.stdout).contains("`SENTRY_DSN` · prod · owner @alice"),
        "{}",
        text(&out.stdout)
    );
    let bad = deckhand(
        &dir,
        &[
            "secrets",
            "import",
            ".env.example",
            "--env",
            "prdo",
            "--every",
            "90d",
            "--owner",
            "console:alice",
        ],
        &[],
        "",
    );
    assert_eq!(bad.status.code(), Some(1));
    assert!(text(&bad.stderr).contains("--env `prdo` is not a configured environment"));
}

#[test]
fn a_pasted_credential_is_refused_and_stored_logged_or_echoed_nowhere() {
    const LEAKED: &str = "sk_live_51NzQ8dLkPq2Xv9Rt4Wm7Yb3Hc6Jf0Gs1";
    let dir = workspace(Some(SECRETS_CONFIG));
    let script = format!(
        "/secrets add STRIPE_SECRET_KEY prod every=90d owner=@alice {LEAKED}\n/secrets rotated {LEAKED}\n/lock prod key is {LEAKED}\n"
    );
    let out = deckhand(
        &dir,
        &["console"],
        &[("USER", "alice"), ("RUST_LOG", "trace")],
        &script,
    );
    let stdout = text(&out.stdout);
    assert!(
        stdout.contains("looks like a Stripe live secret key"),
        "{stdout}"
    );
    assert!(stdout.contains("Treat it as leaked"), "{stdout}");
    assert!(
        !stdout.contains(LEAKED) && !stdout.contains("51NzQ8"),
        "echoed in chat: {stdout}"
    );
    assert!(
        !text(&out.stderr).contains("51NzQ8"),
        "logged: {}",
        text(&out.stderr)
    );
    for file in std::fs::read_dir(&dir).unwrap() {
        let path = file.unwrap().path();
        if path.to_string_lossy().contains("deckhand.db") {
            let bytes = std::fs::read(&path).unwrap();
            assert!(
                !bytes.windows(6).any(|w| w == b"51NzQ8"),
                "{} holds it",
                path.display()
            );
        }
    }
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
