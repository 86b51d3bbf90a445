//! How long deckhand waits between attempts: one backoff policy (backon's exponential
//! backoff) for chat platform calls, guessed rate limits and `http` steps.

use std::time::Duration;

use backon::{BackoffBuilder as _, ExponentialBackoff, ExponentialBuilder};

/// Delays between an `http` step's attempts: 500 ms, then doubling, `retries` of them.
pub fn http_step(retries: u32) -> impl Iterator<Item = Duration> {
    ExponentialBuilder::default()
        .with_min_delay(Duration::from_millis(500))
        .with_factor(2.0)
        .with_max_delay(Duration::from_secs(60))
        .with_max_times(retries as usize)
        .build()
}

/// Delays after a platform call failed for a passing reason (a 5xx, a dropped
/// connection): 200 ms, then doubling, `retries` of them.
pub fn platform_failure(retries: u32) -> impl Iterator<Item = Duration> {
    ExponentialBuilder::default()
        .with_min_delay(Duration::from_millis(200))
        .with_factor(2.0)
        .with_max_delay(Duration::from_secs(5))
        .with_max_times(retries as usize)
        .build()
}

/// Waits for 429s whose wait the platform did not say: from `first`, doubling while
/// 429s continue, never longer than `longest`, for as long as they continue.
pub fn guessed_rate_limit(first: Duration, longest: Duration) -> ExponentialBackoff {
    ExponentialBuilder::default()
        .with_min_delay(first)
        .with_factor(2.0)
        .with_max_delay(longest)
        .without_max_times()
        .build()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn http_steps_back_off_exponentially_for_their_retries_only() {
        let delays: Vec<Duration> = http_step(3).collect();
        assert_eq!(
            delays,
            [500, 1000, 2000].map(Duration::from_millis).to_vec()
        );
        assert_eq!(http_step(0).count(), 0);
    }

    #[test]
    fn guessed_rate_limits_double_up_to_their_ceiling_and_go_on() {
        let delays: Vec<Duration> =
            guessed_rate_limit(Duration::from_secs(1), Duration::from_secs(30))
                .take(7)
                .collect();
        assert_eq!(
            delays,
            [1, 2, 4, 8, 16, 30, 30].map(Duration::from_secs).to_vec()
        );
    }
}
