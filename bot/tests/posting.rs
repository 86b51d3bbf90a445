//! A reaction can reach deckhand before the reply to the post it is about (events come
//! over another connection): it must wait for posts in flight, and only so long.

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use deckhand::chat::{Chat, Person, Platform};
use deckhand::config::{Config, DEMO};
use deckhand::ctx::Ctx;
use deckhand::render::Message;
use deckhand::store::messages::Subject;
use tokio::sync::{Notify, Semaphore};

/// A platform whose posts hang until the test lets them through.
struct Gate {
    /// One permit per post allowed to answer.
    open: Semaphore,
    posted: Notify,
}

impl Gate {
    fn closed() -> Arc<Gate> {
        Arc::new(Gate {
            open: Semaphore::new(0),
            posted: Notify::new(),
        })
    }
}

#[async_trait]
impl Platform for Gate {
    fn name(&self) -> &'static str {
        "gate"
    }

    async fn post(&self, channel: &str, _message: &Message) -> anyhow::Result<(String, String)> {
        self.posted.notify_one();
        self.open.acquire().await?.forget();
        Ok((channel.to_owned(), "m1".into()))
    }

    async fn edit(&self, _: &str, _: &str, _: &Message) -> anyhow::Result<()> {
        Ok(())
    }

    async fn whisper(
        &self,
        _: &str,
        _: &Person,
        _: Option<&str>,
        _: &Message,
    ) -> anyhow::Result<()> {
        Ok(())
    }
}

async fn ctx_with(gate: Arc<Gate>) -> Arc<Ctx> {
    let (store, _) = deckhand::testing::sqlite().await;
    let mut chat = Chat::new();
    chat.add(gate);
    let config = Config::parse(DEMO, "demo").expect("the demo config");
    Arc::new(Ctx::new(Arc::new(config), store, chat))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_reaction_that_beats_the_posts_reply_still_finds_its_card() {
    let gate = Gate::closed();
    let ctx = ctx_with(gate.clone()).await;
    let posting = {
        let ctx = ctx.clone();
        tokio::spawn(async move {
            ctx.post_subject("gate:C1", &Message::text("card"), Subject::Job(1))
                .await
        })
    };
    // The platform has the post; its reply (the message id) has not reached us yet.
    gate.posted.notified().await;
    let looking = {
        let ctx = ctx.clone();
        tokio::spawn(async move { ctx.find_posted("gate", "C1", "m1").await })
    };
    // Give the reaction every chance to look too early before the reply arrives.
    tokio::time::sleep(Duration::from_millis(100)).await;
    assert!(
        !looking.is_finished(),
        "the reaction gave up while the post was in flight"
    );
    gate.open.add_permits(1);
    posting.await.unwrap().unwrap().expect("posted");
    let found = looking.await.unwrap().unwrap().expect("the card is found");
    assert_eq!(found.subject, Subject::Job(1));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_posts_in_flight_an_unknown_message_is_unknown_at_once() {
    let ctx = ctx_with(Gate::closed()).await;
    let found = tokio::time::timeout(Duration::from_secs(1), ctx.find_posted("gate", "C1", "m9"))
        .await
        .expect("no wait without posts in flight");
    assert!(found.unwrap().is_none());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_steady_stream_of_posts_holds_a_reaction_only_so_long() {
    let gate = Gate::closed();
    let ctx = ctx_with(gate.clone()).await;
    // Posts keep starting and ending (a backlog draining behind a rate limit), so
    // there is always one in flight and one settling every 200 ms: each post is let
    // through only once the next has reached the platform.
    let stream = {
        let (ctx, gate) = (ctx.clone(), gate.clone());
        tokio::spawn(async move {
            for job in 1.. {
                let ctx = ctx.clone();
                let reached = gate.posted.notified();
                tokio::spawn(async move {
                    ctx.post_subject("gate:C1", &Message::text("card"), Subject::Job(job))
                        .await
                });
                reached.await;
                if job > 1 {
                    gate.open.add_permits(1);
                }
                tokio::time::sleep(Duration::from_millis(200)).await;
            }
        })
    };
    tokio::time::sleep(Duration::from_millis(100)).await;
    let started = std::time::Instant::now();
    let patience = deckhand::ctx::IN_FLIGHT_PATIENCE;
    let found = tokio::time::timeout(
        patience + Duration::from_secs(5),
        ctx.find_posted("gate", "C1", "m9"),
    )
    .await
    .expect("the wait for posts in flight is bounded in all, not per post")
    .unwrap();
    let waited = started.elapsed();
    stream.abort();
    assert!(found.is_none());
    assert!(
        waited >= patience && waited < patience + Duration::from_secs(2),
        "waited {waited:?} for a message deckhand never posted"
    );
}
