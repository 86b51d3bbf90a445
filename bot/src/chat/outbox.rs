//! Outbound platform calls under deckhand's own rate limits: a governor limiter per
//! channel and a global one. A 429 waits its Retry-After and tries again; nothing is
//! dropped. Shared by Slack and Discord. (What is to be sent, and the coalescing of
//! edits, lives in the durable outbox: `store::outbox` and `sender`.)

use std::future::Future;
use std::num::NonZeroU32;
use std::sync::Arc;
use std::time::Duration;

use governor::{DefaultDirectRateLimiter, DefaultKeyedRateLimiter, Quota, RateLimiter};
use std::sync::atomic::{AtomicUsize, Ordering};

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

pub struct Outbox<E> {
    per_channel: DefaultKeyedRateLimiter<String>,
    global: DefaultDirectRateLimiter,
    /// Calls waiting or being made now, so `busy` is exact.
    sending: AtomicUsize,
    /// Rate-limit waits (429s honoured), for metrics and tests.
    pub waits: std::sync::atomic::AtomicU64,
    /// Calls made (each attempt), for metrics.
    pub calls: std::sync::atomic::AtomicU64,
    _error: std::marker::PhantomData<fn() -> E>,
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
            sending: AtomicUsize::new(0),
            waits: std::sync::atomic::AtomicU64::new(0),
            calls: std::sync::atomic::AtomicU64::new(0),
            _error: std::marker::PhantomData,
        })
    }

    /// Calls waiting or being made: 0 when nothing is on its way to the platform.
    pub fn busy(&self) -> usize {
        self.sending.load(Ordering::SeqCst)
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
    async fn a_call_refused_with_429s_is_made_again_until_it_goes() {
        let outbox: Arc<Outbox<Limited>> = Outbox::new(Limits::default());
        let refusals = AtomicU32::new(3);
        let calls = AtomicU32::new(0);
        let result = outbox
            .send(Some("C1"), || async {
                calls.fetch_add(1, Ordering::SeqCst);
                if refusals.load(Ordering::SeqCst) > 0 {
                    refusals.fetch_sub(1, Ordering::SeqCst);
                    return Err(Limited);
                }
                Ok("sent")
            })
            .await;
        assert_eq!(result.ok(), Some("sent"));
        assert_eq!(calls.load(Ordering::SeqCst), 4);
        assert_eq!(outbox.waits.load(Ordering::Relaxed), 3);
        assert_eq!(outbox.busy(), 0);
    }
}
