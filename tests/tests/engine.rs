//! The core, end to end through the console platform: jobs, locks, cancel, rollback,
//! redaction, floods. Real processes, real SQLite.

use deckhand::chat::Event;
use deckhand::chat::Person;
use deckhand::store::jobs::JobState;
use deckhand::store::steps::{self, StepState};
use deckhand::store::{audit, jobs};
use deckhand_tests::Tester;

mod common;

use common::{CONFIG, deploy_prod, tester};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn staging_deploy_succeeds_with_a_complete_checklist() {
    let mut t = tester().await;
    t.say("alice", "/deploy staging v1.2").await;
    let card = t.next_message().await;
    assert!(card.text.contains("Deploy #1"), "{}", card.text);
    assert!(card.text.contains("`web@v1.2`"), "{}", card.text);
    let job = t.wait_for_state(1, JobState::Succeeded).await;
    assert!(job.started_at.is_some() && job.finished_at.is_some());
    let final_card = t.expect_message("succeeded").await;
    assert_eq!(final_card.id, card.id, "the card is edited in place");
    assert!(final_card.edited);
    assert!(final_card.text.contains("✅ Build"), "{}", final_card.text);
    assert!(final_card.text.contains("✅ Deploy"), "{}", final_card.text);
    let checklist = steps::list(&t.store.pool, 1).await.unwrap();
    assert!(
        checklist
            .iter()
            .all(|s| s.state == StepState::Succeeded && s.finished_at.is_some())
    );
    assert!(
        checklist[0]
            .output_tail
            .contains("building v1.2 for console:alice")
    );
    assert!(!t.locked("staging").await);
    let announcement = t.expect_message("Deployed `web@v1.2` to staging").await;
    assert!(
        announcement.text.contains("Job #1 by alice"),
        "{}",
        announcement.text
    );
    assert_eq!(announcement.channel, "#deploys");
    // In the console every channel prints, the Slack one included.
    let slack = t.expect_message("Deployed `web@v1.2` to staging").await;
    assert_eq!(slack.channel, "slack:#deploys");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn second_deploy_while_one_runs_is_refused_naming_the_holder() {
    let mut t = tester().await;
    t.say("alice", "/deploy slow").await;
    t.next_message().await;
    t.wait_for_state(1, JobState::Running).await;
    t.say("dave", "/deploy slow").await;
    let refusal = t.expect_message("is locked").await;
    assert_eq!(refusal.to.as_deref(), Some("dave"));
    assert!(
        refusal
            .text
            .contains("locked by alice for job #1 (deploy running) since"),
        "{}",
        refusal.text
    );
    assert!(
        jobs::get(&t.store.pool, 2).await.unwrap().is_none(),
        "no second job"
    );
    t.say("alice", "/cancel 1").await;
    t.wait_for_state(1, JobState::Cancelled).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn failing_step_fails_the_job_keeps_its_output_and_rolls_back() {
    let mut t = tester().await;
    deploy_prod(&mut t, "v1").await;
    t.say("alice", "/deploy prod broken").await;
    let card = t.expect_message("awaiting approval").await;
    t.react("bob", "✅", &card.id).await;
    let failed = t.wait_for_state(2, JobState::Failed).await;
    assert!(
        failed
            .error
            .as_deref()
            .unwrap()
            .contains("step `Smoke test` failed: exited with status 3")
    );
    let checklist = steps::list(&t.store.pool, 2).await.unwrap();
    assert_eq!(checklist[1].state, StepState::Failed);
    assert!(checklist[1].output_tail.contains("HTTP 500 from /health"));
    let notice = t.expect_message("rolling `prod` back to `v1`").await;
    assert!(notice.text.contains("as job #3"), "{}", notice.text);
    let rollback = t.wait_for_state(3, JobState::Succeeded).await;
    assert_eq!(rollback.rolls_back, Some(2));
    assert_eq!(rollback.git_ref.as_deref(), Some("v1"));
    assert_eq!(
        std::fs::read_to_string(t.dir.join("prod.version"))
            .unwrap()
            .trim(),
        "v1"
    );
    assert!(!t.locked("prod").await);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn manual_rollback_targets_the_previous_successful_deploy() {
    let mut t = tester().await;
    deploy_prod(&mut t, "v1").await;
    deploy_prod(&mut t, "v2").await;
    t.say("alice", "/rollback prod").await;
    let card = t.expect_message("Rollback #3").await;
    assert!(card.text.contains("`web@v1`"), "{}", card.text);
    t.react("carol", "✅", &card.id).await;
    let job = t.wait_for_state(3, JobState::Succeeded).await;
    assert_eq!(job.previous_ref.as_deref(), Some("v2"));
    assert_eq!(
        std::fs::read_to_string(t.dir.join("prod.version"))
            .unwrap()
            .trim(),
        "v1"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rollback_with_nothing_to_roll_back_to_is_a_clear_answer() {
    let mut t = tester().await;
    t.say("alice", "/rollback prod").await;
    let answer = t.next_message().await;
    assert!(
        answer
            .text
            .contains("Nothing to roll back: `prod` has no successful deploy yet."),
        "{}",
        answer.text
    );
    deploy_prod(&mut t, "v1").await;
    t.drain();
    t.say("alice", "/rollback prod").await;
    let answer = t.next_message().await;
    assert!(
        answer.text.contains("no earlier successful deploy"),
        "{}",
        answer.text
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cancel_kills_the_whole_process_tree_and_frees_the_lock() {
    let mut t = tester().await;
    t.say("alice", "/deploy slow").await;
    t.wait_for_state(1, JobState::Running).await;
    let child = read_pid(&t.dir.join("child.pid")).await;
    let parent = read_pid(&t.dir.join("parent.pid")).await;
    assert!(alive(child) && alive(parent));
    t.say("dave", "/cancel 1").await;
    let job = t.wait_for_state(1, JobState::Cancelled).await;
    assert_eq!(job.error.as_deref(), Some("cancelled"));
    for _ in 0..100 {
        if !alive(child) && !alive(parent) {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    assert!(!alive(parent), "the step's shell survived the cancel");
    assert!(
        !alive(child),
        "the step's background child survived the cancel"
    );
    assert!(!t.locked("slow").await);
    let checklist = steps::list(&t.store.pool, 1).await.unwrap();
    assert_eq!(checklist[1].state, StepState::Skipped);
    t.say("alice", "/deploy slow").await;
    t.wait_for_state(2, JobState::Running).await;
    t.say("alice", "/cancel 2").await;
    t.wait_for_state(2, JobState::Cancelled).await;
}

async fn read_pid(path: &std::path::Path) -> i32 {
    for _ in 0..200 {
        if let Ok(text) = std::fs::read_to_string(path)
            && let Ok(pid) = text.trim().parse()
        {
            return pid;
        }
        tokio::time::sleep(std::time::Duration::from_millis(25)).await;
    }
    panic!("{} never appeared", path.display());
}

/// Alive, and not a zombie waiting to be reaped.
fn alive(pid: i32) -> bool {
    match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
        Ok(stat) => !stat
            .rsplit(')')
            .next()
            .unwrap_or("")
            .trim_start()
            .starts_with('Z'),
        Err(_) => false,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cancelling_a_waiting_job_frees_the_env() {
    let mut t = tester().await;
    t.say("alice", "/deploy prod v3").await;
    t.next_message().await;
    assert!(t.locked("prod").await);
    t.say("alice", "/cancel 1").await;
    t.wait_for_state(1, JobState::Cancelled).await;
    assert!(!t.locked("prod").await);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unknown_env_gets_the_nearest_configured_name() {
    let mut t = tester().await;
    t.say("alice", "/deploy prdo").await;
    let answer = t.next_message().await;
    assert!(
        answer
            .text
            .contains("There is no environment `prdo`. Did you mean `prod`?"),
        "{}",
        answer.text
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn parse_errors_are_answered_to_the_person_only() {
    let mut t = tester().await;
    t.say("alice", "/deplyo prod").await;
    let answer = t.next_message().await;
    assert_eq!(answer.to.as_deref(), Some("alice"));
    assert!(
        answer.text.contains("Did you mean `/deploy`?"),
        "{}",
        answer.text
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn people_outside_deployers_cannot_deploy() {
    let mut t = tester().await;
    t.say("mallory", "/deploy staging").await;
    let answer = t.next_message().await;
    assert!(
        answer
            .text
            .contains("You can't deploy to `staging`: you are not one of its deployers"),
        "{}",
        answer.text
    );
    assert!(jobs::get(&t.store.pool, 1).await.unwrap().is_none());
    let log = audit::recent(&t.store.pool, 5).await.unwrap();
    assert!(
        log.iter()
            .any(|e| e.action == "command.denied" && e.actor == "console:mallory")
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn manual_lock_blocks_deploys_until_unlocked() {
    let mut t = tester().await;
    t.say("dave", "/lock staging --for 2h db maintenance").await;
    let said = t.next_message().await;
    assert!(
        said.text.contains("🔒 `staging` locked by dave until"),
        "{}",
        said.text
    );
    t.say("alice", "/deploy staging").await;
    let refusal = t.next_message().await;
    assert!(
        refusal.text.contains("`staging` is locked by dave since"),
        "{}",
        refusal.text
    );
    assert!(refusal.text.contains("db maintenance"), "{}", refusal.text);
    assert!(
        refusal.text.contains("The lock ends at"),
        "{}",
        refusal.text
    );
    t.say("alice", "/unlock staging").await;
    assert!(
        t.next_message()
            .await
            .text
            .contains("only they or an admin")
    );
    t.say("dave", "/unlock staging").await;
    assert!(t.next_message().await.text.contains("unlocked by dave"));
    t.say("alice", "/deploy staging").await;
    t.wait_for_state(1, JobState::Succeeded).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_lock_longer_than_30_days_is_refused_naming_the_bound() {
    let mut t = tester().await;
    t.say("dave", "/lock staging --for 300000000y forever")
        .await;
    let said = t.next_message().await;
    assert!(
        said.text.contains("give between `1m` and `30d`"),
        "{}",
        said.text
    );
    assert!(!t.locked("staging").await, "nothing was locked");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dry_run_shows_the_plan_and_creates_nothing() {
    let mut t = tester().await;
    t.say("alice", "/deploy prod v9 --dry-run").await;
    let plan = t.next_message().await;
    assert!(
        plan.text.contains("*Dry run*: deploy `web@v9` to `prod`"),
        "{}",
        plan.text
    );
    assert!(
        plan.text.contains("1. Deploy (run)\n2. Smoke test (run)"),
        "{}",
        plan.text
    );
    assert!(plan.text.contains("Nothing was run, locked or posted."));
    assert!(jobs::get(&t.store.pool, 1).await.unwrap().is_none());
    assert!(!t.locked("prod").await);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_redelivered_event_creates_one_job() {
    let mut t = tester().await;
    let event = Event::Command {
        platform: "console".into(),
        channel: "console".into(),
        user: Person {
            id: "console:alice".into(),
            name: "alice".into(),
        },
        text: "/deploy prod v1".into(),
        event_id: Some("Ev123".into()),
    };
    t.deliver(event.clone()).await;
    t.deliver(event).await;
    t.next_message().await;
    assert!(jobs::get(&t.store.pool, 2).await.unwrap().is_none());
    assert!(t.drain().is_empty(), "the retry said nothing");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn history_and_status_describe_what_ran() {
    let mut t = tester().await;
    deploy_prod(&mut t, "v1").await;
    t.drain();
    t.say("alice", "/history prod").await;
    let history = t.next_message().await;
    assert!(
        history.text.contains("✅ #1 deploy `web@v1` by alice"),
        "{}",
        history.text
    );
    t.say("alice", "/status prod").await;
    let status = t.next_message().await;
    assert!(
        status.text.contains("*prod* runs `web@v1` (#1"),
        "{}",
        status.text
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn steps_get_job_variables_and_a_clean_environment() {
    const ENV_CONFIG: &str = r#"
[roles]
team = ["console:*"]
[environments.staging]
deployers = ["team"]
[[environments.staging.deploy]]
name = "Show env"
run = ["sh", "-c", "env | sort"]
"#;
    let mut t = Tester::new(ENV_CONFIG).await;
    t.say("alice", "/deploy staging feature/x").await;
    t.wait_for_state(1, JobState::Succeeded).await;
    let output = &steps::list(&t.store.pool, 1).await.unwrap()[0].output_tail;
    for expected in [
        "DECKHAND_ENV=staging",
        "DECKHAND_REF=feature/x",
        "DECKHAND_JOB_ID=1",
        "DECKHAND_REQUESTER=console:alice",
    ] {
        assert!(
            output.contains(expected),
            "{expected} missing from:\n{output}"
        );
    }
    for line in output.lines() {
        let name = line.split('=').next().unwrap_or("");
        assert!(
            name.starts_with("DECKHAND_")
                || ["PATH", "HOME", "LANG", "TZ", "PWD", "SHLVL", "_", "OLDPWD"].contains(&name)
                || name.starts_with("LC_"),
            "unexpected variable reached the step: {line}"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_flood_of_commands_is_told_to_slow_down() {
    let mut t = tester().await;
    for _ in 0..10 {
        t.say("dave", "/help").await;
    }
    let answers = t.drain();
    assert_eq!(answers.len(), 10);
    assert!(answers.iter().all(|a| a.text.contains("deckhand commands")));
    t.say("dave", "/help").await;
    let answer = t.next_message().await;
    assert!(
        answer.text.contains("faster than I take them"),
        "{}",
        answer.text
    );
    t.say("alice", "/help").await;
    assert!(
        t.next_message().await.text.contains("deckhand commands"),
        "others are not slowed"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_engine_behaves_the_same_on_postgres() {
    let Some(url) = deckhand::testing::require_postgres() else {
        return; // CI always sets DECKHAND_TEST_POSTGRES_URL
    };
    let (store, _) = deckhand::testing::postgres(&url).await;
    let mut t = Tester::with_store(CONFIG, store).await;
    deploy_prod(&mut t, "v1").await;
    t.say("alice", "/deploy prod broken").await;
    let card = t.expect_message("awaiting approval").await;
    t.react("alice", "✅", &card.id).await;
    t.expect_message("can't approve your own job").await;
    t.react("bob", "✅", &card.id).await;
    t.wait_for_state(2, JobState::Failed).await;
    let rollback = t.wait_for_state(3, JobState::Succeeded).await;
    assert_eq!(rollback.git_ref.as_deref(), Some("v1"));
    assert!(!t.locked("prod").await);
    t.say("alice", "/deploy slow").await;
    t.wait_for_state(4, JobState::Running).await;
    t.say("dave", "/deploy slow").await;
    t.expect_message("is locked").await;
    t.say("alice", "/cancel 4").await;
    t.wait_for_state(4, JobState::Cancelled).await;
}
