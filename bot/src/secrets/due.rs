//! When secrets are due, which reminders a fire time sends, and which fire time is due:
//! pure functions of the registry and the clock (benchmarked on 100,000 secrets).

use chrono::TimeZone as _;
use chrono_tz::Tz;

use crate::store::secrets::Secret;

pub const DAY_MS: i64 = 86_400_000;

/// Escalation tiers, from the config with defaults.
#[derive(Debug, Clone, Copy)]
pub struct Tiers {
    /// A note to the owner this many days before the due date.
    pub warn_days: i64,
    /// The attention mention and the escalation channel after this many days overdue.
    pub escalate_after_days: i64,
    /// The weekly digest looks this far ahead.
    pub digest_days: i64,
}

impl Default for Tiers {
    fn default() -> Self {
        Tiers {
            warn_days: 7,
            escalate_after_days: 3,
            digest_days: 30,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Tier {
    /// Nothing to say yet.
    Fine,
    /// Due within `warn_days`: a note to the owner.
    Soon,
    /// Due or overdue by less than `escalate_after_days`: a channel reminder.
    Due,
    /// Overdue longer: attention mention, escalation channel.
    Escalated,
    /// No rotation interval: only the digest mentions it.
    NoInterval,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Status {
    pub due_at: Option<i64>,
    /// Whole days until due; negative when overdue.
    pub days_left: Option<i64>,
    pub tier: Tier,
}

/// A secret's rotation status at `now`.
pub fn status(secret: &Secret, now: i64, tiers: &Tiers) -> Status {
    let Some(every) = secret.every_secs.filter(|e| *e > 0) else {
        return Status {
            due_at: None,
            days_left: None,
            tier: Tier::NoInterval,
        };
    };
    let last = secret.last_rotated_at.unwrap_or(secret.created_at);
    let due_at = last + every * 1000;
    let until = due_at - now;
    let days_left = until.div_euclid(DAY_MS);
    let tier = if until > tiers.warn_days * DAY_MS {
        Tier::Fine
    } else if until > 0 {
        Tier::Soon
    } else if -until < tiers.escalate_after_days * DAY_MS {
        Tier::Due
    } else {
        Tier::Escalated
    };
    Status {
        due_at: Some(due_at),
        days_left: Some(days_left),
        tier,
    }
}

/// The secrets a reminder run speaks about, with their status: everything due soon, due
/// or overdue and not snoozed.
pub fn plan<'a>(secrets: &'a [Secret], now: i64, tiers: &Tiers) -> Vec<(&'a Secret, Status)> {
    secrets
        .iter()
        .filter(|s| s.snoozed_until.is_none_or(|until| until <= now))
        .map(|s| (s, status(s, now, tiers)))
        .filter(|(_, st)| matches!(st.tier, Tier::Soon | Tier::Due | Tier::Escalated))
        .collect()
}

/// The weekly digest: due within `digest_days` (or overdue), and secrets with no interval.
pub fn digest<'a>(secrets: &'a [Secret], now: i64, tiers: &Tiers) -> Vec<(&'a Secret, Status)> {
    secrets
        .iter()
        .map(|s| (s, status(s, now, tiers)))
        .filter(|(_, st)| {
            st.tier == Tier::NoInterval
                || st
                    .due_at
                    .is_some_and(|d| d - now <= tiers.digest_days * DAY_MS)
        })
        .collect()
}

/// Most fire times looked at when catching up (a per-second schedule after a long outage).
const MAX_FIRES: usize = 1_000_000;

/// The latest fire time of `schedule` (in `tz`) after `after` and at or before `now`, in
/// Unix ms: the one reminder to send, however many were missed.
pub fn latest_fire(schedule: &cron::Schedule, tz: Tz, after: i64, now: i64) -> Option<i64> {
    let start = tz.timestamp_millis_opt(after).single()?;
    let mut latest = None;
    for fire in schedule.after(&start).take(MAX_FIRES) {
        let at = fire.timestamp_millis();
        if at > now {
            break;
        }
        latest = Some(at);
    }
    latest
}

/// The variable names a `.env.example` lists: `NAME=...` or `export NAME=...` lines;
/// comments and blank lines are ignored; each name once, in file order.
pub fn env_example_names(text: &str) -> Vec<String> {
    let mut names: Vec<String> = Vec::new();
    for line in text.lines() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let line = line.strip_prefix("export ").unwrap_or(line).trim_start();
        let name = line.split_once('=').map(|(n, _)| n.trim()).unwrap_or(line);
        if deckhand_commands::is_secret_name(name) && !names.iter().any(|n| n == name) {
            names.push(name.to_owned());
        }
    }
    names
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::str::FromStr as _;

    fn secret(every_days: Option<i64>, rotated: i64) -> Secret {
        Secret {
            every_secs: every_days.map(|d| d * 86_400),
            last_rotated_at: Some(rotated),
            ..crate::testing::secret("X", "prod", "console:alice")
        }
    }

    #[test]
    fn tiers_follow_the_due_date() {
        let tiers = Tiers::default();
        let s = secret(Some(90), 0);
        let due = 90 * DAY_MS;
        assert_eq!(status(&s, due - 8 * DAY_MS, &tiers).tier, Tier::Fine);
        assert_eq!(status(&s, due - 7 * DAY_MS, &tiers).tier, Tier::Soon);
        assert_eq!(status(&s, due - 1, &tiers).tier, Tier::Soon);
        assert_eq!(status(&s, due, &tiers).tier, Tier::Due);
        assert_eq!(status(&s, due + 3 * DAY_MS - 1, &tiers).tier, Tier::Due);
        assert_eq!(status(&s, due + 3 * DAY_MS, &tiers).tier, Tier::Escalated);
        assert_eq!(status(&s, due + 10 * DAY_MS, &tiers).days_left, Some(-10));
        assert_eq!(status(&secret(None, 0), 0, &tiers).tier, Tier::NoInterval);
    }

    #[test]
    fn snoozed_secrets_wait() {
        let mut s = secret(Some(1), 0);
        s.snoozed_until = Some(5 * DAY_MS);
        let list = [s];
        assert!(plan(&list, 2 * DAY_MS, &Tiers::default()).is_empty());
        assert_eq!(plan(&list, 6 * DAY_MS, &Tiers::default()).len(), 1);
    }

    #[test]
    fn downtime_over_several_fire_times_gives_the_latest_one() {
        let schedule = cron::Schedule::from_str("0 0 9 * * *").unwrap();
        let tz: Tz = "UTC".parse().unwrap();
        let day0 = 1_764_460_800_000; // 2025-11-30T00:00:00Z
        let nine = |d: i64| day0 + d * DAY_MS + 9 * 3_600_000;
        assert_eq!(
            latest_fire(&schedule, tz, nine(0), nine(3) + 5),
            Some(nine(3))
        );
        assert_eq!(latest_fire(&schedule, tz, nine(3), nine(3) + 5), None);
    }

    #[test]
    fn fire_times_follow_local_time_across_daylight_saving() {
        // 09:00 in Berlin is 08:00 UTC in winter and 07:00 UTC in summer; DST began on
        // 2026-03-29.
        let schedule = cron::Schedule::from_str("0 0 9 * * *").unwrap();
        let berlin: Tz = "Europe/Berlin".parse().unwrap();
        let utc = |s: &str| {
            chrono::DateTime::parse_from_rfc3339(s)
                .unwrap()
                .timestamp_millis()
        };
        let before = latest_fire(
            &schedule,
            berlin,
            utc("2026-03-27T12:00:00Z"),
            utc("2026-03-28T12:00:00Z"),
        );
        assert_eq!(before, Some(utc("2026-03-28T08:00:00Z")));
        let after = latest_fire(
            &schedule,
            berlin,
            utc("2026-03-28T12:00:00Z"),
            utc("2026-03-29T12:00:00Z"),
        );
        assert_eq!(after, Some(utc("2026-03-29T07:00:00Z")));
        // Autumn: back to 08:00 UTC after 2026-10-25.
        let autumn = latest_fire(
            &schedule,
            berlin,
            utc("2026-10-24T12:00:00Z"),
            utc("2026-10-25T12:00:00Z"),
        );
        assert_eq!(autumn, Some(utc("2026-10-25T08:00:00Z")));
        // A time that does not exist on the spring-forward day is not invented twice.
        let at_230 = cron::Schedule::from_str("0 30 2 * * *").unwrap();
        let fires: Vec<i64> = at_230
            .after(
                &berlin
                    .timestamp_millis_opt(utc("2026-03-28T12:00:00Z"))
                    .unwrap(),
            )
            .take(2)
            .map(|t| t.timestamp_millis())
            .collect();
        assert!(fires[0] >= utc("2026-03-29T00:00:00Z") && fires[1] > fires[0]);
    }

    #[test]
    fn env_example_names_are_read_once_each() {
        let text = "# comment\n\nDATABASE_URL=postgres://x\nexport STRIPE_KEY=\nDATABASE_URL=again\n  SPACED = 1\nnot a var\n";
        assert_eq!(
            env_example_names(text),
            ["DATABASE_URL", "STRIPE_KEY", "SPACED"]
        );
    }
}
