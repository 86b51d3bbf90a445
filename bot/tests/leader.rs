//! Leadership on Postgres: one replica per schema holds the advisory lock, and another
//! takes over when the leader's session ends.

use std::time::{Duration, Instant};

use deckhand::leader::{Leadership, Role};
use deckhand::store::Store;
use deckhand::testing::{postgres, require_postgres};
use tokio_util::sync::CancellationToken;

async fn until(what: &str, done: impl Fn() -> bool) -> Duration {
    let started = Instant::now();
    while !done() {
        assert!(
            started.elapsed() < Duration::from_secs(15),
            "{what} did not happen within 15 s"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    started.elapsed()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_replica_leads_and_another_takes_over_when_its_session_ends() {
    let Some(base) = require_postgres() else {
        return;
    };
    let (first_store, url) = postgres(&base).await;
    let second_store = Store::open(&url).await.unwrap();
    let first = Leadership::start(&first_store, CancellationToken::new());
    until("the first replica leading", || first.is_leader()).await;
    let second_stop = CancellationToken::new();
    let second = Leadership::start(&second_store, second_stop.clone());
    tokio::time::sleep(Duration::from_millis(1500)).await;
    assert_eq!(second.role(), Role::Follower, "one leader per schema");

    // Another schema (another team's deckhand on the same server) has its own leader.
    let (elsewhere_store, _) = postgres(&base).await;
    let elsewhere = Leadership::start(&elsewhere_store, CancellationToken::new());
    until("the other schema's replica leading", || {
        elsewhere.is_leader()
    })
    .await;

    // The leader's session ends as a dead replica's does (Postgres drops it).
    let schema: (String,) = sqlx::query_as("SELECT current_schema()::text")
        .fetch_one(&first_store.pool)
        .await
        .unwrap();
    let (terminated,): (i64,) = sqlx::query_as(
        "SELECT count(pg_terminate_backend(pid)) FROM pg_locks \
         WHERE locktype = 'advisory' AND objsubid = 2 \
         AND classid = x'6465636b'::int::oid AND objid = hashtext($1)::oid AND granted",
    )
    .bind(&schema.0)
    .fetch_one(&first_store.pool)
    .await
    .unwrap();
    assert_eq!(terminated, 1, "exactly one session holds the lock");
    let failover = until("the follower taking over", || second.is_leader()).await;
    until("the old leader stepping down", || !first.is_leader()).await;
    println!("failover after the leader's session ended: {failover:?}");
    tokio::time::sleep(Duration::from_millis(1500)).await;
    assert!(!first.is_leader(), "the old leader stays a follower");
    assert!(elsewhere.is_leader());

    // A replica that stops lets go at once.
    second_stop.cancel();
    until("the other taking over again", || first.is_leader()).await;
}
