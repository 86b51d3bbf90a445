//! Freezes, break-glass and `--dry-run`, end to end through the console, with a clock
//! the tests set: a Friday freeze refuses with its window, `/freeze` and `/unfreeze`,
//! break-glass passes a freeze loudly but never a lock or an approval, a freeze that
//! starts while a job waits holds it at claim, and every plan changes nothing.

use deckhand::clock::Now;
use deckhand::store::jobs::JobState;
use deckhand::store::{Store, audit};
use deckhand_tests::Tester;
use deckhand_tests::console::quick_settings;

const CONFIG: &str = r#"
[bot]
timezone = "Europe/Berlin"
commands_per_minute = 600
audit_channel = "console:#audit"
announce = ["console:#deploys"]
freezers = ["release-managers"]

[roles]
admins = ["console:root"]
deployers = ["console:alice", "console:bob"]
approvers = ["console:bob", "console:carol"]
release-managers = ["console:rita"]

[environments.prod]
deployers = ["deployers"]
approvers = ["approvers"]
approvals = 1

[[environments.prod.deploy]]
name = "Deploy"
run = ["true"]

[environments.staging]
deployers = ["deployers"]

[[environments.staging.deploy]]
name = "Deploy"
run = ["true"]

[[environments.staging.backup]]
name = "Back up"
backup = { file = "{dir}/app.db", dir = "{dir}/backups" }

[[environments.staging.restore]]
name = "Restore"
restore = { file = "{dir}/app.db" }

[[freezes]]
envs = ["prod"]
reason = "weekend"
schedule = "0 0 17 * * Fri"
duration = "63h"
"#;

fn berlin(text: &str) -> i64 {
    deckhand::freezes::moment(text, "Europe/Berlin".parse().unwrap()).unwrap()
}

/// A Friday evening in a frozen weekend, and a Thursday before it.
const FRIDAY: &str = "2026-12-11 18:00";
const THURSDAY: &str = "2026-12-10 12:00";

async fn tester_at(config: &str, at: &str) -> (Tester, Now) {
    let now = Now::manual(berlin(at));
    let (store, _) = deckhand::testing::sqlite().await;
    let settings = deckhand::jobs::Settings {
        now: now.clone(),
        ..quick_settings()
    };
    (Tester::with_settings(config, store, settings).await, now)
}

async fn job_count(store: &Store) -> i64 {
    count(store, "jobs").await
}

async fn count(store: &Store, table: &str) -> i64 {
    let (n,): (i64,) = sqlx::query_as(sqlx::AssertSqlSafe(format!("SELECT COUNT(*) FROM {table}")))
        .fetch_one(&store.pool)
        .await
        .unwrap();
    n
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_friday_freeze_refuses_a_deploy_with_its_window() {
    let (mut t, now) = tester_at(CONFIG, FRIDAY).await;
    t.say("alice", "/deploy prod v2").await;
    let refusal = t.expect_message("frozen").await;
    assert_eq!(refusal.to.as_deref(), Some("alice"));
    assert!(
        refusal.text.contains(
            "frozen for “weekend” from 2026-12-11 17:00 CET until 2026-12-14 08:00 CET, ends in 62h00m"
        ),
        "{}",
        refusal.text
    );
    assert!(refusal.text.contains("--break-glass"), "{}", refusal.text);
    assert_eq!(job_count(&t.store).await, 0, "nothing was created");
    // Rollbacks are held too; staging is not frozen.
    t.say("alice", "/deploy staging v2").await;
    t.wait_for_state(1, JobState::Succeeded).await;
    // /status shows the freeze; after it ends, prod deploys again.
    t.drain();
    t.say("alice", "/status prod").await;
    let status = t.expect_message("*prod*").await;
    assert!(
        status.text.contains("❄️ frozen for “weekend”"),
        "{}",
        status.text
    );
    now.set(berlin("2026-12-14 08:00"));
    t.say("alice", "/status prod").await;
    let status = t.expect_message("*prod*").await;
    assert!(
        status
            .text
            .contains("next freeze: “weekend” from 2026-12-18 17:00 CET"),
        "{}",
        status.text
    );
    t.say("alice", "/deploy prod v2").await;
    t.expect_message("needs 1 approval").await;
    assert_eq!(t.job(2).await.state, JobState::AwaitingApproval);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn freeze_from_chat_then_unfreeze() {
    let (mut t, now) = tester_at(CONFIG, THURSDAY).await;
    t.say("alice", "/freeze staging 2h release candidate testing")
        .await;
    assert!(
        t.expect_message("can't freeze")
            .await
            .text
            .contains("bot.freezers")
    );
    t.say("rita", "/freeze staging 2h release candidate testing")
        .await;
    let frozen = t.expect_message("❄️ `staging` frozen by rita").await;
    assert_eq!(frozen.to, None, "the channel hears of it");
    assert!(
        frozen.text.contains("until 2026-12-10 14:00 CET"),
        "{}",
        frozen.text
    );
    t.say("alice", "/deploy staging v3").await;
    let refused = t.expect_message("frozen").await;
    assert!(
        refused.text.contains("“release candidate testing”")
            && refused.text.contains("set by rita"),
        "{}",
        refused.text
    );
    t.say("bob", "/freeze list").await;
    let list = t.expect_message("*Freezes*").await;
    assert!(
        list.text
            .contains("*staging*: frozen for “release candidate testing”"),
        "{}",
        list.text
    );
    assert!(
        list.text
            .contains("next: “weekend” from 2026-12-11 17:00 CET"),
        "{}",
        list.text
    );
    t.say("rita", "/unfreeze staging").await;
    t.expect_message("☀️ `staging` unfrozen by rita").await;
    t.say("alice", "/deploy staging v3").await;
    t.wait_for_state(1, JobState::Succeeded).await;
    // A config freeze cannot be lifted from chat, and says so.
    now.set(berlin(FRIDAY));
    t.say("root", "/unfreeze prod").await;
    let answer = t.expect_message("no freeze set from chat").await;
    assert!(answer.text.contains("deckhand.toml"), "{}", answer.text);
    let actions: Vec<String> = audit::recent(&t.store.pool, 50)
        .await
        .unwrap()
        .into_iter()
        .map(|r| r.action)
        .collect();
    assert!(actions.contains(&"env.frozen".to_owned()), "{actions:?}");
    assert!(actions.contains(&"env.unfrozen".to_owned()), "{actions:?}");
    assert!(
        actions.contains(&"freeze.blocked".to_owned()),
        "{actions:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn break_glass_passes_a_freeze_loudly_but_not_a_lock_or_an_approval() {
    let (mut t, now) = tester_at(CONFIG, FRIDAY).await;
    // Not a deployer: break-glass is no way around roles.
    t.say(
        "carol",
        "/deploy prod v2 --break-glass checkout is down for everyone",
    )
    .await;
    t.expect_message("not one of its deployers").await;
    // A lock held by a person is not passed either.
    t.say("root", "/lock prod db maintenance").await;
    t.expect_message("🔒 `prod` locked").await;
    t.say(
        "alice",
        "/deploy prod v2 --break-glass checkout is down for everyone",
    )
    .await;
    t.expect_message("is locked by root").await;
    t.say("root", "/unlock prod").await;
    t.expect_message("unlocked").await;
    assert_eq!(job_count(&t.store).await, 0);

    t.say(
        "alice",
        "/deploy prod v2 --break-glass checkout is down for everyone",
    )
    .await;
    let card = t.expect_message("🔥 break-glass").await;
    assert!(
        card.text.contains("checkout is down for everyone"),
        "{}",
        card.text
    );
    let notice = t.expect_message("🔥 Break-glass").await;
    assert_eq!(notice.channel, "#audit");
    assert!(notice.text.contains("weekend"), "{}", notice.text);
    t.expect_message("🔥 Break-glass").await; // and the env's announce channel
    // The approval is still needed: nothing runs until bob approves.
    let job = t.job(1).await;
    assert_eq!(job.state, JobState::AwaitingApproval);
    assert_eq!(
        job.break_glass.as_deref(),
        Some("checkout is down for everyone")
    );
    let marked = audit::for_job(&t.store.pool, 1).await.unwrap();
    assert_eq!(marked[0].mark.as_deref(), Some(audit::BREAK_GLASS));
    t.say("bob", "/approve 1").await;
    t.wait_for_state(1, JobState::Succeeded).await;
    t.say("alice", "/history prod").await;
    let history = t.expect_message("last 1 job").await;
    assert!(
        history.text.contains("🔥 break-glass: checkout is down"),
        "{}",
        history.text
    );

    // Outside a freeze there is nothing to break; a thin reason is refused before that.
    now.set(berlin(THURSDAY));
    t.say("alice", "/deploy prod v3 --break-glass urgent").await;
    t.expect_message("at least 3 words").await;
    t.say(
        "alice",
        "/deploy prod v3 --break-glass checkout is down again",
    )
    .await;
    t.expect_message("nothing to break").await;
    assert_eq!(job_count(&t.store).await, 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_freeze_that_starts_while_a_job_awaits_approval_holds_it_at_claim() {
    let (mut t, now) = tester_at(CONFIG, "2026-12-11 16:50").await;
    t.say("alice", "/deploy prod v4").await;
    t.expect_message("needs 1 approval").await;
    now.set(berlin("2026-12-11 17:05"));
    t.say("bob", "/approve 1").await;
    let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(20);
    let held = loop {
        let job = t.job(1).await;
        if let Some(hold) = job.held.clone() {
            break (job, hold);
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "the job was never held"
        );
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    };
    assert_eq!(held.0.state, JobState::Queued);
    assert!(
        held.1
            .reason
            .contains("frozen for “weekend” until 2026-12-14 08:00 CET"),
        "{}",
        held.1.reason
    );
    t.expect_message("⏸️ held").await;
    // Once the freeze ends, the held job runs.
    now.set(berlin("2026-12-14 08:01"));
    t.wait_for_state(1, JobState::Succeeded).await;
}

/// Every table a command could write to, for the "creates nothing" check.
const TABLES: &[&str] = &[
    "jobs",
    "job_steps",
    "approvals",
    "env_locks",
    "audit_log",
    "freezes",
    "posted_messages",
    "outbox",
    "announcements",
];

async fn snapshot_of_tables(store: &Store) -> Vec<(String, i64)> {
    let mut out = Vec::new();
    for table in TABLES {
        out.push(((*table).to_owned(), count(store, table).await));
    }
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_dry_run_answers_with_its_plan_and_changes_nothing() {
    let (mut t, _) = tester_at(CONFIG, FRIDAY).await;
    // Something to roll back, restore, cancel and unlock.
    t.say("alice", "/deploy staging v1").await;
    t.wait_for_state(1, JobState::Succeeded).await;
    t.say("alice", "/deploy staging v2").await;
    t.wait_for_state(2, JobState::Succeeded).await;
    std::fs::write(t.dir.join("app.db"), "data").unwrap();
    t.say("alice", "/backup staging").await;
    t.wait_for_state(3, JobState::Succeeded).await;
    t.say(
        "alice",
        "/deploy prod v2 --break-glass checkout is down for everyone",
    )
    .await;
    t.say("rita", "/freeze staging 3h release testing").await;
    t.say("root", "/lock staging load test").await;
    let before = snapshot_of_tables(&t.store).await;
    t.drain();

    let plans = [
        ("deploy", "/deploy prod v3 --dry-run"),
        (
            "deploy_break_glass",
            "/deploy staging v3 --dry-run --break-glass the release must ship now",
        ),
        ("rollback", "/rollback staging --dry-run"),
        ("backup", "/backup staging --dry-run"),
        ("restore", "/restore staging 3 --dry-run"),
        ("lock", "/lock staging --for 2h --dry-run load test"),
        ("unlock", "/unlock staging --dry-run"),
        ("cancel", "/cancel 4 --dry-run"),
        ("freeze", "/freeze prod 2h --dry-run launch"),
        ("unfreeze", "/unfreeze staging --dry-run"),
    ];
    for (name, command) in plans {
        // Paced under the per-person limit (bursts of 10, then 10 a second here).
        tokio::time::sleep(std::time::Duration::from_millis(150)).await;
        t.say("alice", command).await;
        let answer = t.expect_message("Dry run").await;
        assert_eq!(
            answer.to.as_deref(),
            Some("alice"),
            "{name}: a plan is a whisper"
        );
        let text = answer.text.replace(&t.dir.display().to_string(), "{dir}");
        insta::with_settings!({
            filters => vec![
                (r"\(\d[^)]* ago\)", "([ago])"),
                (r"for 2h, until \d{4}-\d\d-\d\d \d\d:\d\d \w+", "for 2h, until [time]"),
                (r"held for [\d.]+\w+", "held for [time]"),
                (r"sha256 [0-9a-f]{12}", "sha256 [sha]"),
                (r"\d+ bytes|\d+(\.\d+)? [KMG]iB", "[size]"),
                (r"since \d{4}-\d\d-\d\d \d\d:\d\d \w+", "since [time]"),
                (r"backups/[^`]+", "backups/[file]"),
            ]
        }, {
            insta::assert_snapshot!(format!("dry_run_{name}"), text);
        });
    }
    assert_eq!(
        snapshot_of_tables(&t.store).await,
        before,
        "a dry run changed something"
    );
    assert!(
        t.drain().iter().all(|m| m.to.is_some()),
        "a dry run posted to a channel"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_bad_freeze_config_names_each_problem() {
    let bad = format!(
        "{CONFIG}
[[freezes]]
envs = [\"prdo\"]
reason = \"both\"
schedule = \"0 0 17 * * Fri\"
duration = \"10h\"
from = \"2026-12-24 00:00\"
until = \"2026-12-26 00:00\"

[[freezes]]
envs = [\"prod\"]
reason = \"backwards\"
from = \"2026-12-26 00:00\"
until = \"2026-12-24 00:00\"

[[freezes]]
envs = []
reason = \"\"
schedule = \"0 0 17 * * Fri\"
"
    );
    let errors = deckhand::config::Config::parse_with(&bad, "deckhand.toml", &|_| true)
        .unwrap_err()
        .to_string();
    insta::assert_snapshot!(errors);
}
