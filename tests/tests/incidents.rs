//! Incidents end to end through the console: declare, update, resolve, the status card,
//! reminders on a controllable clock, and the production deploy gate.

use deckhand::store::incidents;
use deckhand::store::jobs::JobState;
use deckhand::store::{audit, now_ms};
use deckhand_tests::Tester;

const CONFIG: &str = r#"
[bot]
announce = ["console:#deploys"]

[roles]
team = ["console:*"]

[environments.staging]
deployers = ["team"]
[[environments.staging.deploy]]
name = "Deploy"
run = ["true"]

[environments.prod]
deployers = ["team"]
[[environments.prod.deploy]]
name = "Deploy"
run = ["true"]

[incidents]
channels = ["console:#incidents"]
update_every = { sev1 = "30m", sev2 = "1h" }
gate = ["sev1", "sev2"]
responders = ["team"]
"#;

const MINUTE: i64 = 60_000;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn declare_update_resolve_keeps_a_timeline_and_edits_the_card() {
    let mut t = Tester::new(CONFIG).await;
    t.say("alice", "/incident declare sev2 Checkout returns 500s")
        .await;
    let card = t.expect_message("INC-1").await;
    assert_eq!(card.channel, "#incidents");
    assert!(
        card.text.contains("SEV2") && card.text.contains("commander alice"),
        "{}",
        card.text
    );
    t.say(
        "bob",
        "/incident update INC-1 rolled back the config, watching errors",
    )
    .await;
    let edited = t.expect_message("rolled back the config").await;
    assert_eq!(edited.id, card.id);
    assert!(edited.edited);
    t.say("alice", "/incident list").await;
    assert!(
        t.expect_message("Checkout returns 500s — commander alice")
            .await
            .to
            .is_some()
    );
    t.say("alice", "/incident resolve INC-1 bad feature flag")
        .await;
    let resolved = t
        .expect_message("INC-1 resolved: Checkout returns 500s")
        .await;
    assert!(
        resolved.text.contains("bad feature flag"),
        "{}",
        resolved.text
    );
    let incident = incidents::get(&t.store.pool, 1).await.unwrap().unwrap();
    assert_eq!(incident.status, "resolved");
    assert_eq!(incident.summary.as_deref(), Some("bad feature flag"));
    let kinds: Vec<String> = incidents::timeline(&t.store.pool, 1)
        .await
        .unwrap()
        .into_iter()
        .map(|e| e.kind)
        .collect();
    assert_eq!(kinds, ["declared", "update", "resolved"]);
    t.say("alice", "/incident update INC-1 late").await;
    assert!(
        t.expect_message("INC-1 is already resolved")
            .await
            .to
            .is_some()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_commander_is_reminded_once_per_interval_and_updates_snooze_it() {
    let mut t = Tester::new(CONFIG).await;
    t.say("alice", "/incident declare sev1 Database down").await;
    t.expect_message("INC-1").await;
    let declared = incidents::get(&t.store.pool, 1)
        .await
        .unwrap()
        .unwrap()
        .declared_at;
    t.engine.tick(declared + 29 * MINUTE).await.unwrap();
    t.engine.tick(declared + 31 * MINUTE).await.unwrap();
    let reminder = t.expect_message("has had no update for 31m").await;
    assert!(
        reminder.text.contains("alice, please post one"),
        "{}",
        reminder.text
    );
    t.engine.tick(declared + 40 * MINUTE).await.unwrap();
    t.engine.tick(declared + 62 * MINUTE).await.unwrap();
    let reminders = incidents::timeline(&t.store.pool, 1)
        .await
        .unwrap()
        .into_iter()
        .filter(|e| e.kind == "reminder")
        .count();
    assert_eq!(reminders, 2, "one per 30 minutes");
    // An update resets the clock.
    t.say("alice", "/incident update INC-1 failing over").await;
    let updated = now_ms();
    t.engine.tick(updated + 29 * MINUTE).await.unwrap();
    let reminders = incidents::timeline(&t.store.pool, 1)
        .await
        .unwrap()
        .into_iter()
        .filter(|e| e.kind == "reminder")
        .count();
    assert_eq!(reminders, 2, "snoozed by the update");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_open_sev1_holds_prod_deploys_unless_they_are_its_hotfix() {
    let mut t = Tester::new(CONFIG).await;
    t.say("alice", "/incident declare sev1 API down").await;
    t.expect_message("INC-1").await;
    t.say("bob", "/deploy prod v2").await;
    let refusal = t.expect_message("on hold").await;
    assert!(
        refusal.text.contains("INC-1 (sev1: API down)"),
        "{}",
        refusal.text
    );
    assert!(refusal.text.contains("--hotfix INC-1"), "{}", refusal.text);
    assert!(
        deckhand::store::jobs::get(&t.store.pool, 1)
            .await
            .unwrap()
            .is_none()
    );
    t.say("bob", "/deploy staging v2").await;
    t.wait_for_state(1, JobState::Succeeded).await;
    t.say("bob", "/deploy prod v2 --hotfix INC-1").await;
    t.wait_for_state(2, JobState::Succeeded).await;
    let timeline = incidents::timeline(&t.store.pool, 1).await.unwrap();
    assert!(
        timeline
            .iter()
            .any(|e| e.kind == "hotfix" && e.text.contains("#2")),
        "{timeline:?}"
    );
    assert!(
        timeline.iter().any(|e| e.kind == "job"
            && e.text.contains("deploy #2")
            && e.text.contains("succeeded")),
        "{timeline:?}"
    );
    assert!(
        timeline
            .iter()
            .any(|e| e.kind == "job" && e.text.contains("deploy #1")),
        "staging jobs are noted too: {timeline:?}"
    );
    let log = audit::recent(&t.store.pool, 50).await.unwrap();
    assert!(log.iter().any(|e| e.action == "incident.gate_blocked"));
    assert!(log.iter().any(|e| e.action == "incident.gate_override"));
    t.say("alice", "/incident resolve INC-1").await;
    t.expect_message("INC-1 resolved").await;
    t.say("bob", "/deploy prod v3").await;
    t.wait_for_state(3, JobState::Succeeded).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn announce_is_for_admins_and_announcers() {
    const ANNOUNCE: &str = r#"
[bot]
announce = ["console:#general"]
announcers = ["comms"]
[roles]
comms = ["console:carol"]
admins = ["console:alice"]
[environments.prod]
[[environments.prod.deploy]]
name = "Deploy"
run = ["true"]
"#;
    let mut t = Tester::new(ANNOUNCE).await;
    t.say("mallory", "/announce info \"hello\" world").await;
    assert!(t.expect_message("You can't announce").await.to.is_some());
    t.say(
        "carol",
        "/announce maintenance urgent \"DB upgrade tonight\" read-only 02:00-02:10 UTC",
    )
    .await;
    let posted = t.expect_message("DB upgrade tonight").await;
    assert_eq!(posted.channel, "#general");
    assert!(
        posted.text.starts_with("@here"),
        "urgent pings: {}",
        posted.text
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn incident_changes_whose_audit_rows_cannot_be_written_do_not_happen() {
    let mut t = Tester::new(CONFIG).await;
    t.audit_fails_for("incident.declared").await;
    t.say("alice", "/incident declare sev1 API down").await;
    let told = t.expect_message("went wrong").await;
    assert_eq!(told.to.as_deref(), Some("alice"));
    assert!(
        incidents::get(&t.store.pool, 1).await.unwrap().is_none(),
        "no incident without its record"
    );

    // A hotfix deploy past the gate and its override record are one change.
    sqlx::query("DROP TRIGGER \"audit_fails_incident.declared\"")
        .execute(&t.store.pool)
        .await
        .unwrap();
    t.say("alice", "/incident declare sev1 API down").await;
    t.expect_message("INC-").await;
    let open = incidents::open(&t.store.pool).await.unwrap();
    let id = open[0].id;
    t.audit_fails_for("incident.gate_override").await;
    t.say("bob", &format!("/deploy prod v2 --hotfix INC-{id}"))
        .await;
    let told = t.expect_message("went wrong").await;
    assert_eq!(told.to.as_deref(), Some("bob"));
    assert!(
        deckhand::store::jobs::get(&t.store.pool, 1)
            .await
            .unwrap()
            .is_none(),
        "no hotfix job without the record of the gate it passed"
    );
    assert!(!t.locked("prod").await, "and no lock left behind");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn only_declarers_declare_and_only_the_commander_responders_and_admins_resolve() {
    let config = r#"
[roles]
admins = ["console:root"]
team = ["console:alice", "console:bob"]
oncall = ["console:carol"]

[environments.prod]
deployers = ["team"]
[[environments.prod.deploy]]
name = "Deploy"
run = ["true"]

[incidents]
gate = ["sev1"]
responders = ["oncall"]
"#;
    let mut t = Tester::new(config).await;
    // mallory holds no role: she cannot hold production's deploys.
    t.say("mallory", "/incident declare sev1 everything is fine")
        .await;
    let refused = t.expect_message("can't declare").await;
    assert_eq!(refused.to.as_deref(), Some("mallory"));
    assert!(incidents::open(&t.store.pool).await.unwrap().is_empty());

    t.say("alice", "/incident declare sev1 API down").await;
    t.expect_message("INC-1").await;
    for stranger in ["mallory", "bob"] {
        t.say(stranger, "/incident resolve INC-1 done").await;
        let refused = t.expect_message("can't change INC-1").await;
        assert_eq!(refused.to.as_deref(), Some(stranger));
        assert!(
            refused.text.contains("commander (alice)"),
            "{}",
            refused.text
        );
    }
    assert_eq!(
        incidents::open(&t.store.pool).await.unwrap().len(),
        1,
        "still open"
    );
    t.say("carol", "/incident update INC-1 rolling back the LB")
        .await;
    let timeline = incidents::timeline(&t.store.pool, 1).await.unwrap();
    assert!(
        timeline
            .iter()
            .any(|e| e.kind == "update" && e.actor == "carol" && e.text.contains("rolling back")),
        "a responder updates someone else's incident: {timeline:?}"
    );
    t.say("root", "/incident resolve INC-1 fixed").await;
    t.expect_message("resolved").await;
    assert!(incidents::open(&t.store.pool).await.unwrap().is_empty());
    let log = audit::recent(&t.store.pool, 50).await.unwrap();
    assert!(
        log.iter()
            .any(|e| e.action == "command.denied" && e.actor == "console:mallory")
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_hotfix_passes_only_its_own_incidents_gate_and_only_while_it_is_open() {
    let mut t = Tester::new(CONFIG).await;
    t.say("alice", "/incident declare sev1 API down").await;
    t.expect_message("INC-1").await;
    t.say("alice", "/incident declare sev2 Checkout slow").await;
    t.expect_message("INC-2").await;
    t.say("bob", "/deploy prod v2 --hotfix INC-1").await;
    let held = t.expect_message("on hold").await;
    assert!(
        held.text.contains("INC-2"),
        "held for the other incident: {}",
        held.text
    );
    assert!(
        !held.text.contains("INC-1 ("),
        "not for its own: {}",
        held.text
    );
    t.say("alice", "/incident resolve INC-2 fixed").await;
    t.expect_message("resolved").await;
    t.say("alice", "/incident resolve INC-1 fixed").await;
    t.expect_message("resolved").await;
    // INC-1 is over: its hotfix flag opens nothing (and nothing is closed either).
    t.say("bob", "/deploy prod v3 --hotfix INC-1").await;
    t.wait_for_state(1, JobState::Succeeded).await;
    let timeline = incidents::timeline(&t.store.pool, 1).await.unwrap();
    assert!(
        !timeline.iter().any(|e| e.kind == "hotfix"),
        "no hotfix is noted on a resolved incident: {timeline:?}"
    );
}

/// Prod needs one approval here, so a deploy can be asked for before an incident and
/// approved (or claimed) after it opens.
fn gated_config(approval_ttl: &str) -> String {
    CONFIG.replace(
        "[environments.prod]\ndeployers = [\"team\"]\n",
        &format!(
            "[environments.prod]\ndeployers = [\"team\"]\napprovers = [\"team\"]\napprovals = 1\napproval_ttl = \"{approval_ttl}\"\n"
        ),
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_deploy_approved_after_a_sev1_opened_does_not_run() {
    let mut t = Tester::new(&gated_config("1h")).await;
    t.say("alice", "/deploy prod v2").await;
    t.expect_message("awaiting approval").await;
    t.say("carol", "/incident declare sev1 API down").await;
    t.expect_message("INC-1").await;
    t.say("bob", "/approve 1").await;
    let refused = t.expect_message("on hold").await;
    assert!(refused.text.contains("INC-1"), "{}", refused.text);
    // The approval was not counted: nothing can start the deploy behind the gate.
    let approvals = deckhand::store::approvals::list(&t.store.pool, 1)
        .await
        .unwrap();
    assert!(approvals.is_empty(), "{approvals:?}");
    assert_eq!(t.job(1).await.state, JobState::AwaitingApproval);
    // Once it is resolved, the same approval goes through.
    t.say("carol", "/incident resolve INC-1 fixed").await;
    t.expect_message("resolved").await;
    t.say("bob", "/approve 1").await;
    t.wait_for_state(1, JobState::Succeeded).await;
}

/// Two replicas on one Postgres database: the claim-time doors are where replicas meet
/// (on SQLite a restart interrupts queued jobs). CI always has Postgres.
async fn replica_store() -> Option<deckhand::store::Store> {
    let url = deckhand::testing::require_postgres()?;
    Some(deckhand::testing::postgres(&url).await.0)
}

/// A replica that takes commands but claims nothing (its runner is stopped), with
/// `deploy` requested by alice and approved by bob: job 1, queued, not yet run.
async fn approved_but_not_claimed(
    config: &str,
    store: &deckhand::store::Store,
    deploy: &str,
) -> Tester {
    let before = Tester::with_store(config, store.clone()).await;
    before.engine.stop();
    approved_in(before, deploy).await
}

async fn approved_in(mut before: Tester, deploy: &str) -> Tester {
    before.say("alice", deploy).await;
    before.say("bob", "/approve 1").await;
    assert_eq!(before.job(1).await.state, JobState::Queued);
    before
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_job_approved_before_a_sev1_is_held_at_claim_and_runs_once_it_is_resolved() {
    let Some(store) = replica_store().await else {
        return;
    };
    let config = gated_config("1h");
    let mut before = approved_but_not_claimed(&config, &store, "/deploy prod v2").await;
    before.say("carol", "/incident declare sev1 API down").await;
    // The replica that claims it finds the gate closed.
    let mut t = Tester::with_store(&config, store.clone()).await;
    let held = t.expect_message("held: INC-1").await;
    assert!(held.text.contains("runs once resolved"), "{}", held.text);
    let job = t.job(1).await;
    assert_eq!(job.state, JobState::Queued);
    assert!(job.started_at.is_none(), "it never started");
    let rows = audit::for_job(&t.store.pool, 1).await.unwrap();
    let holds = rows.iter().filter(|r| r.action == "job.held").count();
    tokio::time::sleep(std::time::Duration::from_millis(500)).await;
    let rows = audit::for_job(&t.store.pool, 1).await.unwrap();
    assert_eq!(
        rows.iter().filter(|r| r.action == "job.held").count(),
        holds,
        "held once in the log, however often it is looked at"
    );
    assert_eq!(holds, 1);
    t.say("carol", "/incident resolve INC-1 fixed").await;
    t.wait_for_state(1, JobState::Succeeded).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_gate_that_outlives_the_approval_window_expires_the_job_and_frees_the_env() {
    let Some(store) = replica_store().await else {
        return;
    };
    let config = gated_config("1s");
    let mut before = approved_but_not_claimed(&config, &store, "/deploy prod v2").await;
    before.say("carol", "/incident declare sev1 API down").await;
    let t = Tester::with_store(&config, store.clone()).await;
    let job = t.wait_for_state(1, JobState::Expired).await;
    let error = job.error.unwrap_or_default();
    assert!(
        error.contains("held longer than its approval window"),
        "{error}"
    );
    assert!(error.contains("INC-1"), "{error}");
    assert!(!t.locked("prod").await, "the env is free again");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_hotfix_queued_before_a_second_incident_is_held_for_that_one() {
    let Some(store) = replica_store().await else {
        return;
    };
    let config = gated_config("1h");
    let mut before = Tester::with_store(&config, store.clone()).await;
    before.engine.stop();
    before.say("carol", "/incident declare sev1 API down").await;
    let mut before = approved_in(before, "/deploy prod v2 --hotfix INC-1").await;
    before
        .say("carol", "/incident declare sev2 Checkout slow")
        .await;
    let mut t = Tester::with_store(&config, store.clone()).await;
    let held = t.expect_message("held: INC-2").await;
    assert!(!held.text.contains("INC-1 ("), "{}", held.text);
    t.say("carol", "/incident resolve INC-2 fine").await;
    t.wait_for_state(1, JobState::Succeeded).await;
}
