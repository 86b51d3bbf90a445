//! How times read to people: in the configured time zone, parsed once at load.

use chrono_tz::Tz;

/// The bot's time zone, for every time and date deckhand shows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Clock {
    pub tz: Tz,
}

impl Clock {
    pub fn new(tz: Tz) -> Clock {
        Clock { tz }
    }

    /// `2026-12-01 17:30 CET`.
    pub fn time(&self, ms: i64) -> String {
        self.format(ms, "%Y-%m-%d %H:%M %Z")
    }

    /// `17:30 CET`, for "waits until" within the day.
    pub fn time_of_day(&self, ms: i64) -> String {
        self.format(ms, "%H:%M %Z")
    }

    /// `2026-12-01`.
    pub fn date(&self, ms: i64) -> String {
        self.format(ms, "%Y-%m-%d")
    }

    fn format(&self, ms: i64, pattern: &str) -> String {
        chrono::DateTime::from_timestamp_millis(ms)
            .map(|t| t.with_timezone(&self.tz).format(pattern).to_string())
            .unwrap_or_default()
    }
}

impl Default for Clock {
    fn default() -> Self {
        Clock::new(chrono_tz::UTC)
    }
}

/// Where deckhand reads "now" for freeze windows: the system clock, or (tests of a
/// window that opens on Friday evening) a time set by hand.
#[derive(Debug, Clone, Default)]
pub struct Now(Option<std::sync::Arc<std::sync::atomic::AtomicI64>>);

impl Now {
    /// A clock that reads `at` until set again.
    pub fn manual(at: i64) -> Now {
        Now(Some(std::sync::Arc::new(at.into())))
    }

    /// Moves a manual clock to `at` (a system clock ignores it).
    pub fn set(&self, at: i64) {
        if let Some(time) = &self.0 {
            time.store(at, std::sync::atomic::Ordering::SeqCst);
        }
    }

    /// Milliseconds since the Unix epoch.
    pub fn ms(&self) -> i64 {
        match &self.0 {
            Some(time) => time.load(std::sync::atomic::Ordering::SeqCst),
            None => crate::store::now_ms(),
        }
    }
}
