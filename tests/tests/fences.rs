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

/// What a kill -9 between a step's end and its record leaves: the job running, its step
/// running, its process group recorded, and that group already gone.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_crash_between_a_steps_end_and_its_record_is_recorded_as_unknown_not_rerun() {
    use deckhand::store::{jobs, steps};
    let (store, _) = deckhand::testing::sqlite().await;
    let job = jobs::NewJob {
        kind: deckhand::config::JobKind::Deploy,
        env: "prod".into(),
        app: None,
        git_ref: Some("v1".into()),
        previous_ref: None,
        requester: "console:alice".into(),
        requester_name: "alice".into(),
        platform: "console".into(),
        channel: "console".into(),
        state: JobState::Running,
        reason: None,
        params_hash: "h".into(),
        approvals_required: 0,
        approval_expires_at: None,
        rolls_back: None,
        restore_of: None,
        hotfix_for: None,
        commit_sha: None,
        change_summary: None,
        skip_checks: None,
        break_glass: None,
        commit_at: None,
    };
    let id = jobs::insert(&store.pool, &job, 1).await.unwrap();
    let mut conn = store.pool.acquire().await.unwrap();
    steps::create(&mut conn, id, &["Migrate".to_owned()])
        .await
        .unwrap();
    drop(conn);
    steps::start(&store.pool, id, 0, 2).await.unwrap();
    // The step's program ran and exited; its end was never written.
    let mut finished = std::process::Command::new("true").spawn().unwrap();
    let gone = finished.id();
    finished.wait().unwrap();
    let process = steps::StepProcess {
        group: i64::from(gone),
        started: 1,
        // This machine and boot, as deckhand names them.
        host: format!(
            "{}/{}",
            std::fs::read_to_string("/proc/sys/kernel/hostname")
                .unwrap()
                .trim(),
            std::fs::read_to_string("/proc/sys/kernel/random/boot_id")
                .unwrap()
                .trim()
        ),
    };
    steps::record_process(&store.pool, id, 0, &process)
        .await
        .unwrap();
    sqlx::query(
        "UPDATE jobs SET lease_owner = 'dead-host-1-1', lease_expires_at = 3 WHERE id = $1",
    )
    .bind(id)
    .execute(&store.pool)
    .await
    .unwrap();

    let mut t = Tester::with_store(CONFIG, store).await;
    let job = t.wait_for_state(id, JobState::Interrupted).await;
    let error = job.error.unwrap_or_default();
    assert!(
        error.contains("while step `Migrate` was running"),
        "{error}"
    );
    let told = t.expect_message("was interrupted").await;
    assert!(told.text.contains("Nothing was re-run"), "{}", told.text);
    assert!(!t.locked("prod").await);
    assert_eq!(
        jobs::history(&t.store.pool, "prod", 10)
            .await
            .unwrap()
            .len(),
        1,
        "no job re-run"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_command_is_marked_handled_in_the_commit_that_creates_its_job() {
    let mut t = Tester::new(
        "[roles]\nteam = [\"console:*\"]\n[environments.prod]\ndeployers = [\"team\"]\napprovals = 1\napprovers = [\"team\"]\n[[environments.prod.deploy]]\nname = \"x\"\nrun = [\"true\"]\n",
    )
    .await;
    t.say("alice", "/deploy prod v1").await;
    let job = t.wait_for_state(1, JobState::AwaitingApproval).await;
    let (handled_at, outcome): (Option<i64>, Option<String>) = sqlx::query_as(
        "SELECT handled_at, outcome FROM inbox WHERE kind = 'command' AND text = '/deploy prod v1'",
    )
    .fetch_one(&t.store.pool)
    .await
    .unwrap();
    assert_eq!(outcome.as_deref(), Some("handled"));
    assert_eq!(
        handled_at,
        Some(job.created_at),
        "the job's transaction marked its command handled"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_command_another_handler_already_handled_creates_no_second_job() {
    let t = Tester::new(
        "[roles]\nteam = [\"console:*\"]\n[environments.prod]\ndeployers = [\"team\"]\n[[environments.prod.deploy]]\nname = \"x\"\nrun = [\"true\"]\n",
    )
    .await;
    let event = deckhand::chat::Event::Command {
        platform: "console".into(),
        channel: "console".into(),
        user: deckhand::chat::Person {
            id: "console:alice".into(),
            name: "alice".into(),
        },
        text: "/deploy prod v1".into(),
        event_id: Some("delivery-1".into()),
    };
    let id = t.engine.receive(&event).await.unwrap().expect("stored");
    // Another replica handled it (its job's commit marked the row) and died before this
    // one's claim lapsed.
    assert!(
        deckhand::store::inbox::finish_once(&t.store.pool, id, 1)
            .await
            .unwrap()
    );
    t.engine.handle_received(id, event).await;
    assert!(
        deckhand::store::jobs::get(&t.store.pool, 1)
            .await
            .unwrap()
            .is_none(),
        "the job's transaction saw the row handled and rolled back"
    );
    assert!(!t.locked("prod").await, "and took no lock");
    // The same command in a fresh delivery does create its job: the refusal above was
    // the fence, nothing else.
    let again = deckhand::chat::Event::Command {
        platform: "console".into(),
        channel: "console".into(),
        user: deckhand::chat::Person {
            id: "console:alice".into(),
            name: "alice".into(),
        },
        text: "/deploy prod v1".into(),
        event_id: Some("delivery-2".into()),
    };
    t.engine.handle(again).await;
    t.wait_for_state(1, JobState::Succeeded).await;
}
