//! Outbound platform calls under deckhand's own rate limits: a governor limiter per
//! channel and a global one. A 429 waits its Retry-After and tries again; nothing is
//! dropped. Edits of one message are coalesced: a burst of updates ends with the latest
//! state shown, sent as few times as the limits allow. Shared by Slack and Discord.

use std::collections::HashMap;
use std::future::Future;
use std::num::NonZeroU32;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use governor::{DefaultDirectRateLimiter, DefaultKeyedRateLimiter, Quota, RateLimiter};
use std::sync::atomic::{AtomicUsize, Ordering};

use tokio::sync::Notify;

/// Outbound rate limits.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    pub per_channel_per_second: u32,
    pub per_channel_burst: u32,
    pub global_per_second: u32,
}

impl Default for Limits {
    /// Slack allows about one message per second per channel with short bursts.
    fn default() -> Self {
        Limits {
            per_channel_per_second: 1,
            per_channel_burst: 4,
            global_per_second: 20,
        }
    }
}

/// Gives up on an edit or post after this many consecutive non-429 failures.
const MAX_FAILURES: u32 = 5;
/// An idle per-message edit worker stops after this long.
const EDIT_WORKER_IDLE: Duration = Duration::from_secs(600);

/// How a platform's errors say "rate limited" and "try again".
pub trait Retry: std::fmt::Display {
    /// `Some(wait)` for a 429.
    fn rate_limited(&self) -> Option<Duration>;
    /// A network hiccup worth another try.
    fn transient(&self) -> bool;
    /// Whether `rate_limited` is the platform's own Retry-After, or a guess that should
    /// grow when 429s keep coming.
    fn wait_is_known(&self) -> bool {
        true
    }
}

/// The longest deckhand waits on a guessed 429 back-off.
const MAX_GUESSED_WAIT: Duration = Duration::from_secs(30);

/// Sends the given content as the new body of message (channel, id).
pub type EditFn<E> = Arc<
    dyn Fn(String, String, serde_json::Value) -> futures::future::BoxFuture<'static, Result<(), E>>
        + Send
        + Sync,
>;

/// (channel, ts) of a message deckhand posted.
type MessageKey = (String, String);

pub struct Outbox<E> {
    per_channel: DefaultKeyedRateLimiter<String>,
    global: DefaultDirectRateLimiter,
    edits: Mutex<HashMap<MessageKey, Arc<EditSlot>>>,
    /// Calls being made now (a post, or an edit taken from its slot), so `busy` is exact.
    sending: AtomicUsize,
    /// Rate-limit waits (429s honoured), for metrics and tests.
    pub waits: std::sync::atomic::AtomicU64,
    /// Calls made (each attempt), for metrics.
    pub calls: std::sync::atomic::AtomicU64,
    _error: std::marker::PhantomData<fn() -> E>,
}

/// The latest unsent content of one message, and the bell its worker waits on.
#[derive(Default)]
struct EditSlot {
    latest: Mutex<Option<serde_json::Value>>,
    changed: Notify,
}

/// Counts one call in `sending` until dropped.
struct Sending<'a>(&'a AtomicUsize);

impl<'a> Sending<'a> {
    fn start(counter: &'a AtomicUsize) -> Sending<'a> {
        counter.fetch_add(1, Ordering::SeqCst);
        Sending(counter)
    }
}

impl Drop for Sending<'_> {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::SeqCst);
    }
}

fn nz(n: u32) -> NonZeroU32 {
    NonZeroU32::new(n).unwrap_or(NonZeroU32::MIN)
}

impl<E: Retry + Send + 'static> Outbox<E> {
    pub fn new(limits: Limits) -> Arc<Outbox<E>> {
        Arc::new(Outbox {
            per_channel: RateLimiter::keyed(
                Quota::per_second(nz(limits.per_channel_per_second))
                    .allow_burst(nz(limits.per_channel_burst)),
            ),
            global: RateLimiter::direct(Quota::per_second(nz(limits.global_per_second))),
            edits: Mutex::new(HashMap::new()),
            sending: AtomicUsize::new(0),
            waits: std::sync::atomic::AtomicU64::new(0),
            calls: std::sync::atomic::AtomicU64::new(0),
            _error: std::marker::PhantomData,
        })
    }

    /// Calls waiting or being made, and edits not yet sent: 0 when everything deckhand
    /// meant to say has been said (or given up on).
    pub fn busy(&self) -> usize {
        let unsent = self.edits.lock().map_or(0, |edits| {
            edits
                .values()
                .filter(|slot| slot.latest.lock().is_ok_and(|latest| latest.is_some()))
                .count()
        });
        self.sending.load(Ordering::SeqCst) + unsent
    }

    /// Runs `call` when the limits allow, again after each 429. `channel` is `None` for
    /// calls that post nothing (users.info): only the global limit applies.
    pub async fn send<T, F, Fut>(&self, channel: Option<&str>, call: F) -> Result<T, E>
    where
        F: Fn() -> Fut,
        Fut: Future<Output = Result<T, E>>,
    {
        let _sending = Sending::start(&self.sending);
        self.send_counted(channel, call).await
    }

    async fn send_counted<T, F, Fut>(&self, channel: Option<&str>, call: F) -> Result<T, E>
    where
        F: Fn() -> Fut,
        Fut: Future<Output = Result<T, E>>,
    {
        let mut failures = crate::retry::platform_failure(MAX_FAILURES - 1);
        // Started at the first guessed 429, from the platform's guess.
        let mut guessed = None;
        let key = channel.map(str::to_owned);
        let channel = channel.unwrap_or("-");
        loop {
            if let Some(key) = &key {
                self.per_channel.until_key_ready(key).await;
            }
            self.global.until_ready().await;
            self.calls
                .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            match call().await {
                Ok(value) => return Ok(value),
                Err(error) if error.rate_limited().is_some() => {
                    let mut wait = error.rate_limited().unwrap_or(Duration::from_secs(1));
                    if !error.wait_is_known() {
                        let first = wait;
                        wait = guessed
                            .get_or_insert_with(|| {
                                crate::retry::guessed_rate_limit(first, MAX_GUESSED_WAIT)
                            })
                            .next()
                            .unwrap_or(MAX_GUESSED_WAIT);
                    }
                    self.waits
                        .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                    tracing::info!(%channel, wait_ms = wait.as_millis() as u64, "rate limited; waiting");
                    tokio::time::sleep(wait).await;
                }
                Err(error) => match failures.next() {
                    Some(delay) if error.transient() => tokio::time::sleep(delay).await,
                    _ => return Err(error),
                },
            }
        }
    }

    /// Queues the new content of a message; a worker sends the latest content.
    pub fn edit(
        self: &Arc<Self>,
        channel: &str,
        ts: &str,
        content: serde_json::Value,
        send: EditFn<E>,
    ) {
        let key = (channel.to_owned(), ts.to_owned());
        let Ok(mut edits) = self.edits.lock() else {
            return;
        };
        // Set under the map lock, so a worker that is about to retire sees it.
        let slot = edits.entry(key.clone()).or_default().clone();
        if let Ok(mut latest) = slot.latest.lock() {
            *latest = Some(content);
        }
        // Only the map and this function hold a slot no worker serves yet.
        let spawn = Arc::strong_count(&slot) == 2;
        drop(edits);
        slot.changed.notify_one();
        if spawn {
            tokio::spawn(self.clone().edit_worker(key, slot, send));
        }
    }

    async fn edit_worker(self: Arc<Self>, key: MessageKey, slot: Arc<EditSlot>, send: EditFn<E>) {
        let (channel, ts) = key.clone();
        loop {
            let sending = Sending::start(&self.sending);
            let latest = slot.latest.lock().ok().and_then(|mut latest| latest.take());
            if let Some(content) = latest {
                let result = self
                    .send_counted(Some(&channel), || {
                        send(channel.clone(), ts.clone(), content.clone())
                    })
                    .await;
                if let Err(error) = result {
                    tracing::error!(%channel, %ts, %error, "could not update the message");
                }
                continue;
            }
            drop(sending);
            if tokio::time::timeout(EDIT_WORKER_IDLE, slot.changed.notified())
                .await
                .is_err()
            {
                let Ok(mut edits) = self.edits.lock() else {
                    return;
                };
                if slot.latest.lock().is_ok_and(|latest| latest.is_none()) {
                    edits.remove(&key);
                    return;
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicU32, Ordering};

    #[derive(Debug)]
    struct Limited;

    impl std::fmt::Display for Limited {
        fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            f.write_str("429")
        }
    }

    impl Retry for Limited {
        fn rate_limited(&self) -> Option<Duration> {
            Some(Duration::from_millis(50))
        }
        fn transient(&self) -> bool {
            false
        }
    }

    #[tokio::test]
    async fn a_burst_of_fifty_edits_ends_on_the_latest_and_sends_far_fewer() {
        let outbox: Arc<Outbox<Limited>> = Outbox::new(Limits {
            per_channel_per_second: 10,
            per_channel_burst: 1,
            global_per_second: 100,
        });
        let sent = Arc::new(Mutex::new(Vec::new()));
        let refusals = Arc::new(AtomicU32::new(2));
        let record = sent.clone();
        let send: EditFn<Limited> = Arc::new(move |_channel, _ts, body| {
            let record = record.clone();
            let refusals = refusals.clone();
            Box::pin(async move {
                // The first two calls are rate limited; nothing may be lost because of it.
                if refusals.load(Ordering::SeqCst) > 0 {
                    refusals.fetch_sub(1, Ordering::SeqCst);
                    return Err(Limited);
                }
                record.lock().unwrap().push(body);
                Ok(())
            })
        });
        for n in 1..=50 {
            outbox.edit("C1", "1.0", serde_json::json!({ "state": n }), send.clone());
        }
        assert!(outbox.busy() > 0, "the edits are pending");
        let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
        while outbox.busy() > 0 {
            assert!(
                tokio::time::Instant::now() < deadline,
                "the outbox never settled: {:?}",
                sent.lock().unwrap()
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        assert_eq!(
            sent.lock().unwrap().last(),
            Some(&serde_json::json!({ "state": 50 })),
            "settled on the latest state"
        );
        let calls = sent.lock().unwrap().len();
        assert!(
            calls < 10,
            "{calls} calls for 50 updates: edits are coalesced"
        );
        assert_eq!(outbox.waits.load(std::sync::atomic::Ordering::Relaxed), 2);
    }
}
