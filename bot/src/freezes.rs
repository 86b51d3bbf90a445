//! Freeze windows: which hold an env at a given time and which comes next, from the
//! config's `[[freezes]]` and the freezes set in chat. Pure: times are handed in.

use chrono::{NaiveDateTime, TimeZone as _};
use chrono_tz::Tz;

use crate::config::{Config, FreezeConfig};
use crate::store::freezes::ChatFreeze;

/// How many consecutive fire times of one schedule may join into one window (windows
/// longer than their period overlap); a bound, so a bad schedule cannot spin.
const MAX_JOINED: usize = 1000;

/// One window in which an env is frozen.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Window {
    pub from: i64,
    pub until: i64,
    pub reason: String,
    pub source: Source,
}

/// Where a window comes from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Source {
    /// `[[freezes]]` entry N of the config.
    Config(usize),
    /// `/freeze`, by this person.
    Chat { id: i64, by: String },
}

impl Window {
    pub fn holds(&self, now: i64) -> bool {
        self.from <= now && now < self.until
    }

    pub fn from_chat(&self) -> bool {
        matches!(self.source, Source::Chat { .. })
    }
}

/// An env's freezes at one moment: those that hold (latest end first) and the next to
/// start.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Freezes {
    pub active: Vec<Window>,
    pub next: Option<Window>,
}

impl Freezes {
    /// The window that governs now: of those holding, the one that ends last.
    pub fn holding(&self) -> Option<&Window> {
        self.active.first()
    }
}

/// `env`'s freezes at `now`: the config's windows and the chat freezes given (already
/// filtered to the env and not lifted).
pub fn at(config: &Config, env: &str, chat: &[ChatFreeze], now: i64) -> Freezes {
    let tz = config.clock.tz;
    let mut active = Vec::new();
    let mut upcoming = Vec::new();
    for (index, entry) in config.freezes.iter().enumerate() {
        if !entry.covers(env) {
            continue;
        }
        let (current, next) = windows(entry, tz, now);
        let source = || Source::Config(index);
        if let Some((from, until)) = current {
            active.push(Window {
                from,
                until,
                reason: entry.reason.clone(),
                source: source(),
            });
        }
        if let Some((from, until)) = next {
            upcoming.push(Window {
                from,
                until,
                reason: entry.reason.clone(),
                source: source(),
            });
        }
    }
    for freeze in chat
        .iter()
        .filter(|f| f.env == env && f.lifted_at.is_none())
    {
        let window = Window {
            from: freeze.from_at,
            until: freeze.until_at,
            reason: freeze.reason.clone(),
            source: Source::Chat {
                id: freeze.id,
                by: freeze.created_by_name.clone(),
            },
        };
        if window.holds(now) {
            active.push(window);
        } else if window.from > now {
            upcoming.push(window);
        }
    }
    active.sort_by_key(|w| std::cmp::Reverse(w.until));
    upcoming.sort_by_key(|w| w.from);
    Freezes {
        active,
        next: upcoming.into_iter().next(),
    }
}

/// One entry's window holding at `now` and its next window after `now`.
type Span = (i64, i64);
fn windows(entry: &FreezeConfig, tz: Tz, now: i64) -> (Option<Span>, Option<Span>) {
    if let (Some(from), Some(until)) = (&entry.from, &entry.until) {
        let (Ok(from), Ok(until)) = (moment(from, tz), moment(until, tz)) else {
            return (None, None);
        };
        return match (from <= now && now < until, from > now) {
            (true, _) => (Some((from, until)), None),
            (false, true) => (None, Some((from, until))),
            _ => (None, None),
        };
    }
    let (Some(schedule), Some(length)) = (&entry.schedule, entry.duration) else {
        return (None, None);
    };
    let length = length.as_secs() as i64 * 1000;
    let at = |ms: i64| tz.timestamp_millis_opt(ms).single();
    let Some(look_from) = at(now - length) else {
        return (None, None);
    };
    let mut fires = schedule.0.after(&look_from).map(|t| t.timestamp_millis());
    let mut current = None;
    let mut next = None;
    if let Some(first) = fires.next() {
        if first <= now {
            // Windows longer than their period overlap: join them into one.
            let mut until = first + length;
            for fire in fires.by_ref().take(MAX_JOINED) {
                if fire > until {
                    next = Some((fire, fire + length));
                    break;
                }
                until = until.max(fire + length);
            }
            current = Some((first, until));
        } else {
            next = Some((first, first + length));
        }
    }
    (current, next)
}

/// A freeze's `from`/`until`: RFC 3339 (`2026-11-27T00:00:00Z`), or a local time
/// (`2026-11-27 00:00`, or TOML's `2026-11-27T00:00:00`) in the bot's time zone.
pub fn moment(text: &str, tz: Tz) -> Result<i64, String> {
    if let Ok(at) = chrono::DateTime::parse_from_rfc3339(text.trim()) {
        return Ok(at.timestamp_millis());
    }
    let local = ["%Y-%m-%d %H:%M", "%Y-%m-%dT%H:%M:%S", "%Y-%m-%d %H:%M:%S"]
        .iter()
        .find_map(|format| NaiveDateTime::parse_from_str(text.trim(), format).ok());
    let Some(local) = local else {
        return Err(format!(
            "`{text}` is not a time: write RFC 3339 (`2026-11-27T00:00:00Z`) or `YYYY-MM-DD HH:MM` in `bot.timezone`"
        ));
    };
    match tz.from_local_datetime(&local) {
        chrono::LocalResult::Single(at) => Ok(at.timestamp_millis()),
        // The hour the clocks go back happens twice: the earlier, so the freeze is longer.
        chrono::LocalResult::Ambiguous(early, _) => Ok(early.timestamp_millis()),
        chrono::LocalResult::None => Err(format!(
            "`{text}` does not exist in {tz} (the clocks skip it); pick another minute"
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config(freezes: &str) -> Config {
        let text = format!(
            "[bot]\ntimezone = \"Europe/Berlin\"\n[environments.prod]\ndeploy = [{{ name = \"d\", run = [\"true\"] }}]\n[environments.staging]\ndeploy = [{{ name = \"d\", run = [\"true\"] }}]\n{freezes}"
        );
        Config::parse_with(&text, "t.toml", &|_| true).expect("config")
    }

    fn berlin(text: &str) -> i64 {
        moment(text, chrono_tz::Europe::Berlin).unwrap()
    }

    const WEEKEND: &str = "[[freezes]]\nenvs = [\"prod\"]\nreason = \"weekend\"\nschedule = \"0 0 17 * * Fri\"\nduration = \"63h\"\n";

    #[test]
    fn a_weekly_window_holds_from_friday_evening_to_monday_morning() {
        let config = config(WEEKEND);
        let friday = berlin("2026-12-11 18:00");
        let freezes = at(&config, "prod", &[], friday);
        let window = freezes.holding().expect("frozen on Friday evening");
        assert_eq!(window.from, berlin("2026-12-11 17:00"));
        assert_eq!(window.until, berlin("2026-12-14 08:00"));
        assert_eq!(
            freezes.next.as_ref().unwrap().from,
            berlin("2026-12-18 17:00")
        );
        assert!(at(&config, "staging", &[], friday).holding().is_none());
    }

    #[test]
    fn before_the_window_only_the_next_one_is_known() {
        let config = config(WEEKEND);
        let thursday = berlin("2026-12-10 12:00");
        let freezes = at(&config, "prod", &[], thursday);
        assert!(freezes.holding().is_none());
        assert_eq!(freezes.next.unwrap().from, berlin("2026-12-11 17:00"));
        // Monday 08:00 is the end: the window no longer holds.
        assert!(
            at(&config, "prod", &[], berlin("2026-12-14 08:00"))
                .holding()
                .is_none()
        );
        assert!(
            at(&config, "prod", &[], berlin("2026-12-14 07:59"))
                .holding()
                .is_some()
        );
    }

    #[test]
    fn a_fixed_window_on_every_env() {
        let config = config(
            "[[freezes]]\nenvs = [\"*\"]\nreason = \"sale\"\nfrom = \"2026-11-27 00:00\"\nuntil = 2026-11-30T23:59:00Z\n",
        );
        let during = berlin("2026-11-28 12:00");
        for env in ["prod", "staging"] {
            assert_eq!(
                at(&config, env, &[], during).holding().unwrap().reason,
                "sale"
            );
        }
        assert!(
            at(&config, "prod", &[], berlin("2026-12-01 02:00"))
                .holding()
                .is_none()
        );
        let before = at(&config, "prod", &[], berlin("2026-11-20 00:00"));
        assert_eq!(before.next.unwrap().from, berlin("2026-11-27 00:00"));
    }

    #[test]
    fn overlapping_windows_join() {
        // Every day at 18:00 for 30h: always frozen once it began.
        let config = config(
            "[[freezes]]\nenvs = [\"prod\"]\nreason = \"launch\"\nschedule = \"0 0 18 * * *\"\nduration = \"30h\"\n",
        );
        let window = at(&config, "prod", &[], berlin("2026-12-09 12:00"));
        let held = window.holding().unwrap();
        assert!(held.until - held.from > 30 * 3_600_000);
    }

    #[test]
    fn times_are_rfc3339_or_local() {
        let tz = chrono_tz::Europe::Berlin;
        assert_eq!(
            moment("2026-12-11T16:00:00Z", tz).unwrap(),
            moment("2026-12-11 17:00", tz).unwrap()
        );
        assert!(moment("next friday", tz).is_err());
        // 02:30 on the last Sunday of March does not exist in Berlin.
        assert!(moment("2026-03-29 02:30", tz).unwrap_err().contains("skip"));
    }
}
