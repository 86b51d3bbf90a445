//! Leases are fences: with the database locked longer than a job's lease, its runner
//! stops the step and writes nothing; the job is then recorded `interrupted`, not as if
//! the step had finished.

use std::time::Duration;

use deckhand::store::jobs::JobState;
use deckhand_tests::Tester;
use sqlx::Connection;

const CONFIG: &str = r#"
[roles]
team = ["console:*"]
[environments.prod]
deployers = ["team"]
[[environments.prod.deploy]]
name = "Migrate"
run = ["sh", "-c", "echo $$ > {dir}/step.pid; exec sleep 30"]
"#;

fn alive(pid: &str) -> bool {
    std::fs::read_to_string(format!("/proc/{pid}/stat")).is_ok_and(|s| {
        !s.rsplit(')')
            .next()
            .unwrap_or("")
            .trim_start()
            .starts_with('Z')
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_database_locked_past_the_lease_fences_the_runner() {
    let (store, url) = deckhand::testing::sqlite().await;
    let mut t = Tester::with_store(CONFIG, store).await;
    t.say("alice", "/deploy prod v1").await;
    t.wait_for_state(1, JobState::Running).await;
    let pid_file = t.dir.join("step.pid");
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    while !pid_file.exists() {
        assert!(
            tokio::time::Instant::now() < deadline,
            "the step never started"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let pid = std::fs::read_to_string(&pid_file)
        .unwrap()
        .trim()
        .to_owned();

    // Another writer holds the database for twice the lease (2 s in tests).
    let mut blocker = sqlx::AnyConnection::connect(&url).await.unwrap();
    sqlx::query("BEGIN EXCLUSIVE")
        .execute(&mut blocker)
        .await
        .unwrap();
    tokio::time::sleep(Duration::from_secs(4)).await;
    assert!(!alive(&pid), "the fenced runner stopped its step");
    sqlx::query("COMMIT").execute(&mut blocker).await.unwrap();

    let job = t.wait_for_state(1, JobState::Interrupted).await;
    assert!(
        job.error.as_deref().unwrap_or("").contains("interrupted"),
        "{:?}",
        job.error
    );
    let steps = deckhand::store::steps::list(&t.store.pool, 1)
        .await
        .unwrap();
    assert_ne!(steps[0].state, deckhand::store::steps::StepState::Succeeded);
    assert!(
        !t.locked("prod").await,
        "the env is free once the job is recorded"
    );
}
