//! The `deckhand` binary end to end: the README's commands, the console, manifests,
//! secrets import, and secrets that must never leak.

use std::process::Command;

use deckhand::testing;

mod common;

use common::{deckhand, text, workspace};

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
run = ["sh", "-c", """
echo "token is $CANARY_TOKEN"
echo "$CANARY_TOKEN" >&2
echo "b64 $(printf %s "$CANARY_TOKEN" | base64 -w0) basic $(printf %s "ci:$CANARY_TOKEN" | base64 -w0) hex $(printf %s "$CANARY_TOKEN" | od -An -tx1 | tr -d ' \n') url https://x/?t=$(printf %s "$CANARY_TOKEN" | sed 's/-/%2D/g')"
exit 1
"""]
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
    // Its encoded forms are redacted too (a Basic auth header keeps only the user's
    // part, `ci:` as `Y2k6`).
    use base64::Engine as _;
    let b64 = base64::engine::general_purpose::STANDARD.encode(CANARY);
    let hex = hex::encode(CANARY);
    for form in [b64.as_str(), hex.as_str(), "canary%2D7f3a"] {
        assert!(!stdout.contains(form), "stdout leaked {form}: {stdout}");
    }
    assert!(
        stdout.contains("b64 [redacted CANARY_TOKEN] basic Y2k6[redacted CANARY_TOKEN] hex [redacted CANARY_TOKEN] url https://x/?t=[redacted CANARY_TOKEN]"),
        "{stdout}"
    );
    assert!(
        !text(&out.stderr).contains(CANARY),
        "logs leaked the secret"
    );
    for file in std::fs::read_dir(&dir).unwrap() {
        let path = file.unwrap().path();
        if path.to_string_lossy().contains("deckhand.db") {
            let bytes = std::fs::read(&path).unwrap();
            for form in [CANARY, b64.as_str(), hex.as_str()] {
                assert!(
                    !bytes.windows(form.len()).any(|w| w == form.as_bytes()),
                    "{} holds the secret as {form}",
                    path.display()
                );
            }
        }
    }
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

/// `deckhand audit verify` and `deckhand audit export` as an operator runs them: a
/// fresh log verifies, its export verifies elsewhere against the head hash, and a row
/// edited in the SQLite file (triggers dropped, as someone with the file could) is named.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn audit_verify_and_export_through_the_binary() {
    let dir = workspace(None);
    let out = deckhand(
        &dir,
        &["console"],
        &[("USER", "alice")],
        "/deploy staging\n",
    );
    assert!(out.status.success(), "{}", text(&out.stderr));

    let verified = deckhand(&dir, &["audit", "verify"], &[], "");
    let stdout = text(&verified.stdout);
    assert!(verified.status.success(), "{stdout}");
    assert!(stdout.starts_with("audit chain OK: "), "{stdout}");
    let head = stdout
        .split("head ")
        .nth(1)
        .and_then(|rest| rest.split_whitespace().next())
        .expect("the head hash")
        .to_owned();
    assert_eq!(head.len(), 64, "{stdout}");

    for (format, file) in [("jsonl", "audit.jsonl"), ("csv", "audit.csv")] {
        let exported = deckhand(&dir, &["audit", "export", "--format", format], &[], "");
        assert!(exported.status.success(), "{}", text(&exported.stderr));
        std::fs::write(dir.join(file), &exported.stdout).unwrap();
        let copy = deckhand(
            &dir,
            &["audit", "verify", "--file", file, "--expect", &head],
            &[],
            "",
        );
        assert!(copy.status.success(), "{format}: {}", text(&copy.stdout));
    }

    let url = format!("sqlite://{}/deckhand.db", dir.display());
    let store = deckhand::store::Store::open(&url).await.unwrap();
    for statement in [
        "DROP TRIGGER audit_log_no_update",
        "UPDATE audit_log SET actor = 'console:mallory' WHERE id = 2",
    ] {
        sqlx::query(statement).execute(&store.pool).await.unwrap();
    }
    store.pool.close().await;
    let broken = deckhand(&dir, &["audit", "verify"], &[], "");
    let stdout = text(&broken.stdout);
    assert_eq!(broken.status.code(), Some(1), "{stdout}");
    assert!(stdout.contains("row 2 was changed"), "{stdout}");
    // The copy taken before still verifies against the checkpoint: the evidence survives.
    let copy = deckhand(
        &dir,
        &[
            "audit",
            "verify",
            "--file",
            "audit.jsonl",
            "--expect",
            &head,
        ],
        &[],
        "",
    );
    assert!(copy.status.success(), "{}", text(&copy.stdout));
}

/// `deckhand login-link PERSON`: a link for a person with a role, a clear no otherwise.
#[test]
fn login_link_prints_a_one_time_link_for_the_team_only() {
    let dir = workspace(Some(
        r#"
[bot]
public_url = "https://deckhand.example.com/"

[roles]
deployers = ["console:alice"]

[people.alice]
console = "alice"

[environments.staging]
deployers = ["deployers"]

[[environments.staging.deploy]]
name = "Deploy"
run = ["true"]
"#,
    ));
    for person in ["console:alice", "alice"] {
        let out = deckhand(&dir, &["login-link", person], &[], "");
        let stdout = text(&out.stdout);
        assert!(out.status.success(), "{person}: {}", text(&out.stderr));
        assert!(
            stdout.starts_with("https://deckhand.example.com/login/")
                && stdout.trim().len() == 35 + 64,
            "{stdout}"
        );
    }
    let stranger = deckhand(&dir, &["login-link", "console:mallory"], &[], "");
    assert!(!stranger.status.success());
    assert!(
        text(&stranger.stderr).contains("holds no role"),
        "{}",
        text(&stranger.stderr)
    );
}
