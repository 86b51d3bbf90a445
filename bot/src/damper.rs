//! Repeated refusals damped: one answer and one audit row per person, message and
//! reason per window, and a count of the repeats when the window closes.

use std::collections::HashMap;
use std::sync::Mutex;

/// One kind of refusal, to one person, about one thing (a message reacted to, a job,
/// an env).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Key {
    pub person: String,
    pub about: String,
    pub reason: &'static str,
}

/// The repeats a closed window saw, for its audit row.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Repeats {
    pub key: Key,
    pub actor: String,
    pub platform: String,
    pub count: u64,
}

#[derive(Debug)]
struct Window {
    opened: i64,
    repeats: u64,
    actor: String,
    platform: String,
}

impl Window {
    fn open(actor: &str, platform: &str, now: i64) -> Window {
        Window {
            opened: now,
            repeats: 0,
            actor: actor.to_owned(),
            platform: platform.to_owned(),
        }
    }

    /// What the window saw besides its first refusal, if anything.
    fn repeats(&self, key: &Key) -> Option<Repeats> {
        (self.repeats > 0).then(|| Repeats {
            key: key.clone(),
            actor: self.actor.clone(),
            platform: self.platform.clone(),
            count: self.repeats,
        })
    }
}

/// What to do with a refusal.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    /// The first in its window: answer it and audit it.
    Answer,
    /// Said already in this window: counted, nothing sent.
    Repeat,
}

#[derive(Debug)]
pub struct Damper {
    window_ms: i64,
    /// The most windows kept: beyond it a refusal is answered undamped (the per-person
    /// limiter still bounds how many), so memory stays bounded under any flood.
    cap: usize,
    windows: Mutex<HashMap<Key, Window>>,
}

impl Damper {
    pub fn new(window: std::time::Duration, cap: usize) -> Damper {
        Damper {
            window_ms: window.as_millis() as i64,
            cap,
            windows: Mutex::new(HashMap::new()),
        }
    }

    /// Notes a refusal at `now`; the repeats of the window it closes, if any.
    pub fn note(
        &self,
        key: Key,
        actor: &str,
        platform: &str,
        now: i64,
    ) -> (Verdict, Option<Repeats>) {
        let Ok(mut windows) = self.windows.lock() else {
            return (Verdict::Answer, None);
        };
        if let Some(window) = windows.get_mut(&key) {
            if now - window.opened < self.window_ms {
                window.repeats += 1;
                return (Verdict::Repeat, None);
            }
            let closed = window.repeats(&key);
            *window = Window::open(actor, platform, now);
            return (Verdict::Answer, closed);
        }
        if windows.len() < self.cap {
            windows.insert(key, Window::open(actor, platform, now));
        }
        (Verdict::Answer, None)
    }

    /// Closes every window older than the window length; the repeats they saw.
    pub fn close_expired(&self, now: i64) -> Vec<Repeats> {
        let Ok(mut windows) = self.windows.lock() else {
            return Vec::new();
        };
        let mut closed = Vec::new();
        windows.retain(|key, window| {
            if now - window.opened < self.window_ms {
                return true;
            }
            closed.extend(window.repeats(key));
            false
        });
        closed
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(about: &str) -> Key {
        Key {
            person: "mallory".into(),
            about: about.into(),
            reason: "not_approver",
        }
    }

    #[test]
    fn one_answer_per_window_and_the_repeats_are_counted() {
        let damper = Damper::new(std::time::Duration::from_secs(600), 100);
        assert_eq!(
            damper.note(key("m1"), "slack:U1", "slack", 0).0,
            Verdict::Answer
        );
        for _ in 0..149 {
            assert_eq!(
                damper.note(key("m1"), "slack:U1", "slack", 10).0,
                Verdict::Repeat
            );
        }
        // Another message is another window.
        assert_eq!(
            damper.note(key("m2"), "slack:U1", "slack", 10).0,
            Verdict::Answer
        );
        assert!(damper.close_expired(599_999).is_empty());
        let closed = damper.close_expired(600_000);
        assert_eq!(closed.len(), 1, "m2 had no repeats");
        assert_eq!(closed[0].count, 149);
        assert_eq!(
            damper.note(key("m1"), "slack:U1", "slack", 600_001).0,
            Verdict::Answer
        );
    }

    #[test]
    fn a_window_reopened_by_a_late_repeat_reports_the_old_one() {
        let damper = Damper::new(std::time::Duration::from_secs(600), 100);
        damper.note(key("m1"), "slack:U1", "slack", 0);
        damper.note(key("m1"), "slack:U1", "slack", 1);
        let (verdict, closed) = damper.note(key("m1"), "slack:U1", "slack", 700_000);
        assert_eq!(verdict, Verdict::Answer);
        assert_eq!(closed.map(|c| c.count), Some(1));
    }

    #[test]
    fn beyond_the_cap_nothing_is_kept() {
        let damper = Damper::new(std::time::Duration::from_secs(600), 2);
        for i in 0..10 {
            damper.note(key(&format!("m{i}")), "slack:U1", "slack", 0);
        }
        assert_eq!(damper.windows.lock().unwrap().len(), 2);
    }
}
