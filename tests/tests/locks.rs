//! No env stays locked by a job that ended: the failed deploy hands its lock to its
//! rollback in the same transaction, the sweeper frees locks of ended jobs, and an admin
//! can free one at once.

use std::time::Duration;

use deckhand::store::jobs::JobState;
use deckhand::store::{Store, locks, now_ms};
use deckhand_tests::Tester;
use deckhand_tests::console::quick_settings;

const CONFIG: &str = r#"
[roles]
admins = ["console:root"]
deployers = ["console:alice"]

[environments.prod]
deployers = ["deployers"]
rollback_on_failure = true

[[environments.prod.deploy]]
name = "Deploy"
run = ["sh", "-c", "test \"$DECKHAND_REF\" != broken"]

[[environments.prod.rollback]]
name = "Roll back"
run = ["true"]
"#;

/// What a crash between a job's end and its lock's release used to leave behind.
async fn stale_lock(store: &Store, job: i64) {
    sqlx::query(
        "INSERT INTO env_locks (env, job_id, holder, holder_name, since) VALUES ('prod', $1, 'console:alice', 'alice', $2)",
    )
    .bind(job)
    .bind(now_ms())
    .execute(&store.pool)
    .await
    .unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failed_deploy_and_its_rollback_never_leave_the_env_unheld_or_held_by_the_failure() {
    let mut t = Tester::new(CONFIG).await;
    t.say("alice", "/deploy prod v1").await;
    t.wait_for_state(1, JobState::Succeeded).await;
    t.say("alice", "/deploy prod broken").await;
    let failed = t.wait_for_state(2, JobState::Failed).await;
    // The instant #2 is failed, #3 exists and holds prod: they were one transaction.
    let lock = locks::get(&t.store.pool, "prod", now_ms()).await.unwrap();
    let rollback = deckhand::store::jobs::get(&t.store.pool, 3).await.unwrap();
    match (lock, rollback) {
        (Some(lock), Some(rollback)) => {
            assert_eq!(lock.job_id, Some(3), "the rollback holds prod");
            assert_eq!(rollback.rolls_back, Some(failed.id));
        }
        (None, Some(rollback)) => {
            assert!(
                rollback.state.is_terminal(),
                "the lock went with a finished rollback"
            )
        }
        other => panic!("#2 failed but no rollback holds prod: {other:?}"),
    }
    t.wait_for_state(3, JobState::Succeeded).await;
    assert!(!t.locked("prod").await);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_sweeper_frees_a_lock_whose_job_has_ended() {
    let mut t = Tester::new(CONFIG).await;
    t.say("alice", "/deploy prod v1").await;
    t.wait_for_state(1, JobState::Succeeded).await;
    stale_lock(&t.store, 1).await;
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    while t.locked("prod").await {
        assert!(
            tokio::time::Instant::now() < deadline,
            "the stale lock was never freed"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    t.say("alice", "/deploy prod v2").await;
    t.wait_for_state(2, JobState::Succeeded).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_admin_can_unlock_an_env_held_by_an_ended_job_and_nobody_else_can() {
    let (store, _) = deckhand::testing::sqlite().await;
    let settings = deckhand::jobs::Settings {
        // The sweeper must not beat the admin to it.
        sweep: Duration::from_secs(3600),
        ..quick_settings()
    };
    let mut t = Tester::with_settings(CONFIG, store, settings).await;
    t.say("alice", "/deploy prod v1").await;
    t.wait_for_state(1, JobState::Succeeded).await;
    t.drain();
    stale_lock(&t.store, 1).await;
    t.say("alice", "/unlock prod").await;
    let refused = t.next_message().await;
    assert!(refused.text.contains("#1"), "{}", refused.text);
    assert!(t.locked("prod").await);
    t.say("root", "/unlock prod").await;
    let freed = t.expect_message("unlocked by root").await;
    assert!(
        freed.text.contains("its job #1 had already ended"),
        "{}",
        freed.text
    );
    assert!(!t.locked("prod").await);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn only_the_locker_or_an_admin_removes_a_manual_lock() {
    let config = CONFIG.replace(
        "deployers = [\"console:alice\"]",
        "deployers = [\"console:alice\", \"console:bob\"]",
    );
    let mut t = Tester::new(&config).await;
    t.say("alice", "/lock prod --for 1h db migration").await;
    t.expect_message("locked").await;
    t.say("bob", "/unlock prod").await;
    let refused = t.expect_message("only they or an admin").await;
    assert_eq!(refused.to.as_deref(), Some("bob"));
    assert!(refused.text.contains("locked by alice"), "{}", refused.text);
    assert!(t.locked("prod").await, "bob's /unlock changed nothing");
    t.say("alice", "/unlock prod").await;
    t.expect_message("unlocked by alice").await;
    assert!(!t.locked("prod").await);
    t.say("alice", "/lock prod --for 1h db migration").await;
    t.expect_message("locked").await;
    t.say("root", "/unlock prod").await;
    t.expect_message("unlocked by root").await;
    assert!(!t.locked("prod").await);
}
