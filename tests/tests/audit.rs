//! The audit chain's checkpoints: once per `bot.audit_checkpoint`, the head hash goes to
//! `bot.audit_channel`, whichever tick or replica gets there first, and it is a hash
//! `deckhand audit verify --expect` finds in the chain.

use deckhand::store::{audit, now_ms};
use deckhand_tests::Tester;

const CONFIG: &str = r#"
[bot]
audit_channel = "console:#audit"
audit_checkpoint = "1h"

[roles]
deployers = ["console:alice"]

[environments.staging]
deployers = ["deployers"]

[[environments.staging.deploy]]
name = "Deploy"
run = ["true"]
"#;

fn checkpoints(printed: &[deckhand::chat::console::Printed]) -> Vec<String> {
    printed
        .iter()
        .filter(|m| m.channel == "#audit" && m.text.contains("Audit checkpoint"))
        .map(|m| m.text.clone())
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_head_hash_is_posted_once_per_period_and_verifies() {
    let mut t = Tester::new(CONFIG).await;
    t.say("alice", "/deploy staging v1").await;
    t.wait_for_state(1, deckhand::store::jobs::JobState::Succeeded)
        .await;
    // The sweeper's own ticks post this hour's checkpoint; ticks later in the same hour
    // add none, the next hour's adds one.
    t.expect_message("Audit checkpoint").await;
    t.drain();
    let hour = 3_600_000;
    let later = now_ms() + 2 * hour;
    let next_hour = later - later % hour;
    t.engine.tick(next_hour + 1).await.unwrap();
    t.engine.tick(next_hour + 60_000).await.unwrap();
    let posted = checkpoints(&t.drain());
    let head = audit::head(&t.store.pool).await.unwrap();
    assert_eq!(posted.len(), 1, "one checkpoint per period: {posted:?}");
    assert!(posted[0].contains(&head.hash), "{}", posted[0]);
    let verified = deckhand::audit::verify(&t.store, Some(head.hash.clone()))
        .await
        .unwrap()
        .expect("the chain holds the checkpoint");
    assert_eq!(verified.head, head.hash);
}
