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
