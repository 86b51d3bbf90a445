//! Approvals end to end through the console platform: who may approve, quorum, withdrawn
//! and rejected approvals, expiry.

use deckhand::store::audit;
use deckhand::store::jobs::JobState;

mod common;

use common::tester;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn prod_deploy_waits_for_approval_and_runs_after_another_users_check() {
    let mut t = tester().await;
    t.say("alice", "/deploy prod v2").await;
    let card = t.next_message().await;
    assert!(card.text.contains("awaiting approval"), "{}", card.text);
    assert!(
        card.text.contains("needs 1 approval (0/1)"),
        "{}",
        card.text
    );
    assert_eq!(t.job(1).await.state, JobState::AwaitingApproval);
    t.react("bob", "✅", &card.id).await;
    let job = t.wait_for_state(1, JobState::Succeeded).await;
    assert_eq!(job.git_ref.as_deref(), Some("v2"));
    // Nothing ran before approval: the job and each step started after bob's ✅.
    let approved = deckhand::store::approvals::list(&t.store.pool, 1)
        .await
        .unwrap()[0]
        .created_at;
    assert!(
        job.started_at.unwrap() >= approved,
        "the job started after approval"
    );
    for step in deckhand::store::steps::list(&t.store.pool, 1)
        .await
        .unwrap()
    {
        assert!(
            step.started_at.unwrap() >= approved,
            "{} started after approval",
            step.name
        );
    }
    assert_eq!(
        std::fs::read_to_string(t.dir.join("prod.version"))
            .unwrap()
            .trim(),
        "v2"
    );
    let done = t.expect_message("succeeded").await;
    assert!(done.text.contains("approved by bob"), "{}", done.text);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn approve_command_works_like_the_reaction() {
    let mut t = tester().await;
    t.say("alice", "/deploy prod v2").await;
    t.next_message().await;
    t.say("carol", "/approve #1").await;
    t.wait_for_state(1, JobState::Succeeded).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn self_approval_is_refused_with_a_reason() {
    let mut t = tester().await;
    t.say("alice", "/deploy prod v2").await;
    let card = t.next_message().await;
    t.react("alice", "✅", &card.id).await;
    let answer = t.next_message().await;
    assert_eq!(answer.to.as_deref(), Some("alice"));
    assert!(
        answer.text.contains("can't approve your own job #1"),
        "{}",
        answer.text
    );
    assert_eq!(t.job(1).await.state, JobState::AwaitingApproval);
    let log = audit::for_job(&t.store.pool, 1).await.unwrap();
    assert!(
        log.iter()
            .any(|e| e.action == "approval.refused_self_approve")
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn non_approver_reaction_is_ignored_and_said_so() {
    let mut t = tester().await;
    t.say("alice", "/deploy prod v2").await;
    let card = t.next_message().await;
    t.react("dave", "✅", &card.id).await;
    let answer = t.next_message().await;
    assert_eq!(answer.to.as_deref(), Some("dave"));
    assert!(
        answer
            .text
            .contains("doesn't count: you are not an approver for `prod`"),
        "{}",
        answer.text
    );
    assert_eq!(t.job(1).await.state, JobState::AwaitingApproval);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reactions_on_other_messages_and_other_emoji_are_ignored_quietly() {
    let mut t = tester().await;
    t.say("alice", "/deploy prod v2").await;
    let card = t.next_message().await;
    t.react("bob", "🎉", &card.id).await;
    t.react("bob", "✅", "m999").await;
    t.say("alice", "/help").await;
    let next = t.next_message().await;
    assert!(
        next.text.contains("deckhand commands"),
        "only the help answer follows: {}",
        next.text
    );
    assert_eq!(t.job(1).await.state, JobState::AwaitingApproval);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn deploy_needing_two_waits_for_two_distinct_approvers() {
    let mut t = tester().await;
    t.say("alice", "/deploy twokeys v1").await;
    let card = t.next_message().await;
    t.react("bob", "✅", &card.id).await;
    t.react("bob", ":white_check_mark:", &card.id).await;
    t.say("bob", "/approve 1").await;
    assert_eq!(t.job(1).await.state, JobState::AwaitingApproval);
    let edited = t.expect_message("(1/2)").await;
    assert_eq!(edited.id, card.id);
    t.react("carol", "heavy_check_mark", &card.id).await;
    t.wait_for_state(1, JobState::Succeeded).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn removed_check_before_quorum_withdraws_the_approval() {
    let mut t = tester().await;
    t.say("alice", "/deploy twokeys v1").await;
    let card = t.next_message().await;
    t.react("bob", "✅", &card.id).await;
    t.unreact("bob", "✅", &card.id).await;
    t.react("carol", "✅", &card.id).await;
    assert_eq!(
        t.job(1).await.state,
        JobState::AwaitingApproval,
        "bob's approval was taken back"
    );
    t.react("bob", "✅", &card.id).await;
    t.wait_for_state(1, JobState::Succeeded).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rejection_ends_the_job_and_frees_the_env() {
    let mut t = tester().await;
    t.say("alice", "/deploy prod v2").await;
    let card = t.next_message().await;
    t.say("bob", "/reject 1 not during the sale").await;
    let job = t.wait_for_state(1, JobState::Rejected).await;
    assert_eq!(
        job.error.as_deref(),
        Some("rejected by bob: not during the sale")
    );
    assert!(!t.locked("prod").await);
    let edited = t.expect_message("rejected").await;
    assert_eq!(edited.id, card.id);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn approval_that_expires_frees_the_lock() {
    let mut t = tester().await;
    t.say("alice", "/deploy quick v1").await;
    let card = t.next_message().await;
    let job = t.wait_for_state(1, JobState::Expired).await;
    assert!(job.error.as_deref().unwrap().starts_with("expired"));
    assert!(!t.locked("quick").await);
    t.react("bob", "✅", &card.id).await;
    let answer = t.expect_message("isn't waiting for approval").await;
    assert_eq!(answer.to.as_deref(), Some("bob"));
    assert_eq!(t.job(1).await.state, JobState::Expired);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_change_whose_audit_row_cannot_be_written_does_not_happen() {
    let mut t = tester().await;
    t.say("alice", "/deploy prod v2").await;
    let card = t.expect_message("awaiting approval").await;
    t.audit_fails_for("approval.approved").await;
    t.react("bob", "✅", &card.id).await;
    let told = t.next_message().await;
    assert!(
        told.text.contains("something went wrong on my side"),
        "{}",
        told.text
    );
    assert!(
        deckhand::store::approvals::list(&t.store.pool, 1)
            .await
            .unwrap()
            .is_empty(),
        "no approval without its record"
    );
    assert_eq!(t.job(1).await.state, JobState::AwaitingApproval);

    t.audit_fails_for("job.cancelled").await;
    t.say("alice", "/cancel 1").await;
    let told = t.next_message().await;
    assert!(
        told.text.contains("something went wrong on my side"),
        "{}",
        told.text
    );
    assert_eq!(
        t.job(1).await.state,
        JobState::AwaitingApproval,
        "not cancelled without its record"
    );
    assert!(t.locked("prod").await, "still held by #1");

    t.audit_fails_for("env.locked").await;
    t.say("dave", "/lock staging db work").await;
    let told = t.next_message().await;
    assert!(
        told.text.contains("something went wrong on my side"),
        "{}",
        told.text
    );
    assert!(!t.locked("staging").await, "not locked without its record");
}

/// One person on two platforms is one person: alice asks on the console and ✅s from
/// Slack, which is self-approval; bob's Slack and console accounts are one approver.
const PEOPLE: &str = r#"
[people.alice]
console = "alice"
slack = "U01ALICE"

[people.bob]
console = "bob"
slack = "U02BOB"

[roles]
team = ["alice", "bob", "console:carol"]
# Every account is listed, so without `[people]` alice's Slack account would count as
# someone else.
approvers = ["console:alice", "slack:U01ALICE", "console:bob", "slack:U02BOB", "console:carol"]

[environments.prod]
deployers = ["team"]
approvers = ["approvers"]
approvals = 2

[[environments.prod.deploy]]
name = "Deploy"
run = ["true"]
"#;

fn from_slack(user: &str, name: &str, text: &str) -> deckhand::chat::Event {
    deckhand::chat::Event::Command {
        platform: "slack".into(),
        channel: "slack:C0DEPLOY".into(),
        user: deckhand::chat::Person {
            id: format!("slack:{user}"),
            name: name.into(),
        },
        text: text.into(),
        event_id: None,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn approvals_are_decided_per_person_across_platforms() {
    let mut t = deckhand_tests::Tester::new(PEOPLE).await;
    // `team` names alice the person, so her console account may deploy.
    t.say("alice", "/deploy prod v2").await;
    t.next_message().await;
    // Alice's Slack account is alice: no self-approval by the back door.
    t.deliver(from_slack("U01ALICE", "alice", "/approve 1"))
        .await;
    let approvals = deckhand::store::approvals::list(&t.store.pool, 1)
        .await
        .unwrap();
    assert!(approvals.is_empty(), "{approvals:?}");
    // Bob approves twice, once per account: one approval.
    t.say("bob", "/approve 1").await;
    t.deliver(from_slack("U02BOB", "bob", "/approve 1")).await;
    let approvals = deckhand::store::approvals::list(&t.store.pool, 1)
        .await
        .unwrap();
    assert_eq!(approvals.len(), 1, "{approvals:?}");
    assert_eq!(approvals[0].person, "bob");
    assert_eq!(t.job(1).await.state, JobState::AwaitingApproval);
    // Carol, an account of her own, makes the second approver.
    t.say("carol", "/approve 1").await;
    t.wait_for_state(1, JobState::Succeeded).await;
}

/// Prod's pipeline as approved, and as changed before the job ran.
const PIPELINE_A: &str = r#"
[roles]
team = ["console:alice", "console:bob", "console:carol"]

[environments.prod]
deployers = ["team"]
approvers = ["team"]
approvals = 2

[[environments.prod.deploy]]
name = "Deploy"
run = ["sh", "-c", "echo from-a"]
"#;

fn pipeline_b() -> String {
    PIPELINE_A.replace(
        "name = \"Deploy\"\nrun = [\"sh\", \"-c\", \"echo from-a\"]",
        "name = \"Deploy v2\"\nrun = [\"sh\", \"-c\", \"echo from-b\"]",
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_pipeline_change_voids_approvals_given_before_it() {
    let (store, _) = deckhand::testing::sqlite().await;
    let mut before = deckhand_tests::Tester::with_store(PIPELINE_A, store.clone()).await;
    before.say("alice", "/deploy prod v2").await;
    before.say("bob", "/approve 1").await;
    before.engine.stop();
    // deckhand restarts with the step changed; carol's approval would make two.
    let mut t = deckhand_tests::Tester::with_store(&pipeline_b(), store.clone()).await;
    t.drain();
    t.say("carol", "/approve 1").await;
    // The card is redrawn with the new plan first, then carol is told.
    let card = t.expect_message("approvals void").await;
    assert!(
        card.text.contains("Deploy v2"),
        "the card shows the new plan: {}",
        card.text
    );
    let refused = t.expect_message("was not counted").await;
    assert!(
        refused.text.contains("pipeline changed"),
        "{}",
        refused.text
    );
    let job = t.job(1).await;
    assert_eq!(job.state, JobState::AwaitingApproval);
    let approvals = deckhand::store::approvals::list(&t.store.pool, 1)
        .await
        .unwrap();
    assert!(
        approvals.is_empty(),
        "bob's approval of the old plan is void: {approvals:?}"
    );
    let log = audit::for_job(&t.store.pool, 1).await.unwrap();
    assert!(
        log.iter().any(|r| r.action == "job.approvals_voided"),
        "{log:?}"
    );
    // Two approvals of the plan as it is now, and it runs that plan.
    t.say("bob", "/approve 1").await;
    t.say("carol", "/approve 1").await;
    t.wait_for_state(1, JobState::Succeeded).await;
    let steps = deckhand::store::steps::list(&t.store.pool, 1)
        .await
        .unwrap();
    assert_eq!(steps.len(), 1);
    assert_eq!(steps[0].name, "Deploy v2");
    assert!(
        steps[0].output_tail.contains("from-b"),
        "{:?}",
        steps[0].output_tail
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_replica_with_a_changed_pipeline_voids_a_queued_jobs_approvals_at_claim() {
    let Some(url) = deckhand::testing::require_postgres() else {
        return; // CI always sets DECKHAND_TEST_POSTGRES_URL
    };
    let (store, _) = deckhand::testing::postgres(&url).await;
    // One replica takes the approvals but claims nothing (its runner is stopped).
    let mut before = deckhand_tests::Tester::with_store(PIPELINE_A, store.clone()).await;
    before.engine.stop();
    before.say("alice", "/deploy prod v2").await;
    before.say("bob", "/approve 1").await;
    before.say("carol", "/approve 1").await;
    assert_eq!(before.job(1).await.state, JobState::Queued);
    // The replica that claims it runs a different pipeline: the approvals are void.
    let mut t = deckhand_tests::Tester::with_store(&pipeline_b(), store.clone()).await;
    let card = t.expect_message("approvals void").await;
    assert!(card.text.contains("Deploy v2"), "{}", card.text);
    let job = t.wait_for_state(1, JobState::AwaitingApproval).await;
    assert!(job.started_at.is_none(), "nothing ran");
    assert!(
        deckhand::store::approvals::list(&t.store.pool, 1)
            .await
            .unwrap()
            .is_empty()
    );
    assert!(!t.dir.join("from-a").exists());
}
