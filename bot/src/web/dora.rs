//! The four DORA measures from deckhand's own history: deployment frequency, lead time
//! for changes, change failure rate and time to restore. Pure: the jobs and incidents
//! are handed in, so hand-made histories test them.

use serde::Serialize;

use crate::config::JobKind;
use crate::store::jobs::{Job, JobState};

const DAY: i64 = 86_400_000;

/// What an incident adds to time to restore.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Outage {
    pub opened_at: i64,
    pub resolved_at: Option<i64>,
}

/// How lead time was measured.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum LeadFrom {
    /// From the commit's time (GitHub) to the deploy's success.
    Commit,
    /// From the request to the deploy's success (no commit times known).
    Request,
}

/// The measures over one window.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Measures {
    /// Successful deploys.
    pub deploys: u32,
    /// Successful deploys per day.
    pub per_day: f64,
    /// Median lead time in ms, when there is a successful deploy.
    pub lead_time_ms: Option<i64>,
    pub lead_from: LeadFrom,
    /// Deploys that failed or were followed by a rollback or a hotfix, of all deploys
    /// that ended; `None` without deploys.
    pub change_failure_rate: Option<f64>,
    /// Median time from a failure (a failed deploy, an incident) to the next good
    /// deploy or the resolution, over the failures restored.
    pub time_to_restore_ms: Option<i64>,
    /// Failures in the window not restored yet.
    pub unrestored: u32,
}

/// One window with the one before it (for the trend) and per-bucket values (for the
/// charts).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Report {
    pub env: Option<String>,
    pub days: i64,
    pub now: Measures,
    pub before: Measures,
    /// Buckets oldest first: day buckets up to 30 days, weeks beyond.
    pub buckets: Vec<Bucket>,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Bucket {
    pub from: i64,
    pub deploys: u32,
    pub lead_time_ms: Option<i64>,
    pub change_failure_rate: Option<f64>,
    pub time_to_restore_ms: Option<i64>,
}

/// The report over `days` days up to `now`, for `env` (or every env). `jobs` must reach
/// back two windows (the trend) and include what follows each deploy; `outages` are
/// incidents (which hold every env).
pub fn report(jobs: &[Job], outages: &[Outage], env: Option<&str>, days: i64, now: i64) -> Report {
    let window = days * DAY;
    // Incidents name no env: they count for the whole team's report only.
    let outages = if env.is_none() { outages } else { &[] };
    let jobs: Vec<&Job> = jobs
        .iter()
        .filter(|j| env.is_none_or(|e| j.env == e))
        .collect();
    let bucket = if days <= 30 { DAY } else { 7 * DAY };
    let start = now - window;
    let mut buckets = Vec::new();
    let mut from = start;
    while from < now {
        let to = (from + bucket).min(now);
        let m = measures(&jobs, outages, from, to);
        buckets.push(Bucket {
            from,
            deploys: m.deploys,
            lead_time_ms: m.lead_time_ms,
            change_failure_rate: m.change_failure_rate,
            time_to_restore_ms: m.time_to_restore_ms,
        });
        from = to;
    }
    Report {
        env: env.map(str::to_owned),
        days,
        now: measures(&jobs, outages, start, now),
        before: measures(&jobs, outages, start - window, start),
        buckets,
    }
}

/// The measures of deploys that ended in `[from, to)`.
fn measures(jobs: &[&Job], outages: &[Outage], from: i64, to: i64) -> Measures {
    let ended = |j: &&&Job| j.finished_at.is_some_and(|t| from <= t && t < to);
    let deploys: Vec<&&Job> = jobs
        .iter()
        .filter(|j| {
            j.kind == JobKind::Deploy && matches!(j.state, JobState::Succeeded | JobState::Failed)
        })
        .filter(ended)
        .collect();
    let good: Vec<&&Job> = deploys
        .iter()
        .copied()
        .filter(|j| j.state == JobState::Succeeded)
        .collect();
    let lead_from = if good.iter().any(|j| j.github.commit_at.is_some()) {
        LeadFrom::Commit
    } else {
        LeadFrom::Request
    };
    let leads: Vec<i64> = good
        .iter()
        .filter_map(|j| {
            let done = j.finished_at?;
            let began = match lead_from {
                LeadFrom::Commit => j.github.commit_at?,
                LeadFrom::Request => j.created_at,
            };
            Some((done - began).max(0))
        })
        .collect();
    let failed_changes = deploys
        .iter()
        .filter(|d| d.state == JobState::Failed || followed_by_repair(jobs, d))
        .count();
    // Failures: failed deploys in the window, and incidents opened in it.
    let mut restores = Vec::new();
    let mut unrestored = 0;
    for failure in deploys.iter().filter(|d| d.state == JobState::Failed) {
        let at = failure.finished_at.unwrap_or(failure.created_at);
        match next_good(jobs, &failure.env, at) {
            Some(good_at) => restores.push(good_at - at),
            None => unrestored += 1,
        }
    }
    for outage in outages
        .iter()
        .filter(|o| from <= o.opened_at && o.opened_at < to)
    {
        match outage.resolved_at {
            Some(at) => restores.push(at - outage.opened_at),
            None => unrestored += 1,
        }
    }
    let span_days = ((to - from) as f64 / DAY as f64).max(1.0 / 24.0);
    Measures {
        deploys: good.len() as u32,
        per_day: good.len() as f64 / span_days,
        lead_time_ms: median(leads),
        lead_from,
        change_failure_rate: (!deploys.is_empty())
            .then(|| failed_changes as f64 / deploys.len() as f64),
        time_to_restore_ms: median(restores),
        unrestored,
    }
}

/// Whether the change a successful deploy made was repaired before the next deploy: a
/// rollback of it, or a hotfix deploy after it on the same env.
fn followed_by_repair(jobs: &[&Job], deploy: &Job) -> bool {
    let Some(done) = deploy.finished_at else {
        return false;
    };
    let next_deploy = jobs
        .iter()
        .filter(|j| j.env == deploy.env && j.kind == JobKind::Deploy && j.created_at > done)
        .min_by_key(|j| j.created_at);
    if next_deploy.is_some_and(|n| n.hotfix_for.is_some()) {
        return true;
    }
    let until = next_deploy.map(|n| n.created_at).unwrap_or(i64::MAX);
    jobs.iter().any(|j| {
        j.env == deploy.env
            && j.kind == JobKind::Rollback
            && j.created_at >= done
            && j.created_at < until
            && j.state != JobState::Rejected
            && j.state != JobState::Cancelled
    })
}

/// When `env` next had a good deploy or rollback after `at`.
fn next_good(jobs: &[&Job], env: &str, at: i64) -> Option<i64> {
    jobs.iter()
        .filter(|j| {
            j.env == env
                && matches!(j.kind, JobKind::Deploy | JobKind::Rollback)
                && j.state == JobState::Succeeded
        })
        .filter_map(|j| j.finished_at)
        .filter(|&t| t > at)
        .min()
}

fn median(mut values: Vec<i64>) -> Option<i64> {
    if values.is_empty() {
        return None;
    }
    values.sort_unstable();
    let mid = values.len() / 2;
    Some(if values.len().is_multiple_of(2) {
        (values[mid - 1] + values[mid]) / 2
    } else {
        values[mid]
    })
}

/// The change from `before` to `now`, in words for the page: `▲ 50%`, `▼ 20%`, `—`.
pub fn trend(now: Option<f64>, before: Option<f64>) -> String {
    match (now, before) {
        (Some(n), Some(b)) if b > 0.0 => {
            let change = (n - b) / b * 100.0;
            if change.abs() < 0.5 {
                "= same as before".into()
            } else if change > 0.0 {
                format!("▲ {change:.0}%")
            } else {
                format!("▼ {:.0}%", -change)
            }
        }
        (Some(_), Some(_)) | (Some(_), None) => "new".into(),
        _ => "—".into(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const H: i64 = 3_600_000;
    const NOW: i64 = 100 * DAY;

    fn job(id: i64, env: &str, kind: JobKind, state: JobState, created: i64, took: i64) -> Job {
        Job {
            id,
            kind,
            env: env.into(),
            app: None,
            git_ref: Some(format!("v{id}")),
            previous_ref: None,
            requester: "console:alice".into(),
            requester_name: "alice".into(),
            platform: "console".into(),
            channel: "console".into(),
            state,
            reason: None,
            params_hash: String::new(),
            approvals_required: 0,
            approval_expires_at: None,
            rolls_back: None,
            restore_of: None,
            created_at: created,
            started_at: Some(created),
            finished_at: Some(created + took),
            cancel_requested: false,
            lease_owner: None,
            error: None,
            artifact: None,
            hotfix_for: None,
            held: None,
            github: Default::default(),
            break_glass: None,
        }
    }

    #[test]
    fn an_env_with_no_deploys_has_no_measures() {
        let report = report(&[], &[], Some("prod"), 7, NOW);
        assert_eq!(report.now.deploys, 0);
        assert_eq!(report.now.per_day, 0.0);
        assert_eq!(report.now.lead_time_ms, None);
        assert_eq!(report.now.change_failure_rate, None);
        assert_eq!(report.now.time_to_restore_ms, None);
        assert_eq!(report.buckets.len(), 7);
        assert_eq!(trend(None, None), "—");
    }

    #[test]
    fn frequency_lead_time_and_failure_rate_on_a_known_week() {
        use JobKind::{Deploy, Rollback};
        use JobState::{Failed, Succeeded};
        let day = |d: i64| NOW - d * DAY;
        let mut jobs = vec![
            // Four good deploys taking 1h, 2h, 3h and 4h from request to success.
            job(1, "prod", Deploy, Succeeded, day(6), H),
            job(2, "prod", Deploy, Succeeded, day(5), 2 * H),
            job(3, "prod", Deploy, Succeeded, day(4), 3 * H),
            // Rolled back: a failed change, though its deploy succeeded.
            job(4, "prod", Rollback, Succeeded, day(4) + 4 * H, H),
            job(5, "prod", Deploy, Succeeded, day(3), 4 * H),
            // Failed, restored by job 7 two hours later.
            job(6, "prod", Deploy, Failed, day(2), H),
            job(7, "prod", Deploy, Succeeded, day(2) + 2 * H, H),
            // Another env does not count for prod.
            job(8, "staging", Deploy, Failed, day(1), H),
        ];
        jobs[6].finished_at = Some(day(2) + 3 * H);
        let r = report(&jobs, &[], Some("prod"), 7, NOW);
        assert_eq!(r.now.deploys, 5);
        assert!((r.now.per_day - 5.0 / 7.0).abs() < 1e-9);
        assert_eq!(r.now.lead_from, LeadFrom::Request);
        // Leads 1h, 2h, 3h, 4h and 1h (job 7): the median is 2h.
        assert_eq!(r.now.lead_time_ms, Some(2 * H));
        // Six deploys ended; #3 (rolled back) and #6 (failed) are failed changes.
        assert_eq!(r.now.change_failure_rate, Some(2.0 / 6.0));
        // #6 failed at day(2)+1h; #7 succeeded at day(2)+3h.
        assert_eq!(r.now.time_to_restore_ms, Some(2 * H));
        assert_eq!(r.now.unrestored, 0);
        // The week before had nothing: the trend says new.
        assert_eq!(r.before.deploys, 0);
        assert_eq!(trend(Some(r.now.per_day), Some(r.before.per_day)), "new");
        let overall = report(&jobs, &[], None, 7, NOW);
        assert_eq!(overall.now.change_failure_rate, Some(3.0 / 7.0));
        assert_eq!(
            overall.now.unrestored, 1,
            "staging's failure is not restored yet"
        );
    }

    #[test]
    fn lead_time_counts_from_the_commit_when_github_knows_it() {
        let mut deploy = job(
            1,
            "prod",
            JobKind::Deploy,
            JobState::Succeeded,
            NOW - DAY,
            H,
        );
        deploy.github.commit_at = Some(NOW - DAY - 5 * H);
        let r = report(&[deploy], &[], None, 7, NOW);
        assert_eq!(r.now.lead_from, LeadFrom::Commit);
        assert_eq!(r.now.lead_time_ms, Some(6 * H));
    }

    #[test]
    fn a_failure_with_no_recovery_yet_is_counted_apart() {
        let failed = job(1, "prod", JobKind::Deploy, JobState::Failed, NOW - DAY, H);
        let outages = [
            Outage {
                opened_at: NOW - 3 * DAY,
                resolved_at: Some(NOW - 3 * DAY + 30 * 60_000),
            },
            Outage {
                opened_at: NOW - 2 * H,
                resolved_at: None,
            },
        ];
        let r = report(std::slice::from_ref(&failed), &outages, None, 7, NOW);
        assert_eq!(r.now.change_failure_rate, Some(1.0));
        assert_eq!(r.now.unrestored, 2);
        assert_eq!(r.now.time_to_restore_ms, Some(30 * 60_000));
        // An env's own report has its failed deploy only: incidents name no env.
        let prod = report(&[failed], &outages, Some("prod"), 7, NOW);
        assert_eq!(
            (prod.now.unrestored, prod.now.time_to_restore_ms),
            (1, None)
        );
    }

    #[test]
    fn a_hotfix_after_a_deploy_marks_that_deploy_a_failed_change() {
        let first = job(
            1,
            "prod",
            JobKind::Deploy,
            JobState::Succeeded,
            NOW - 2 * DAY,
            H,
        );
        let mut fix = job(
            2,
            "prod",
            JobKind::Deploy,
            JobState::Succeeded,
            NOW - DAY,
            H,
        );
        fix.hotfix_for = Some(3);
        let r = report(&[first, fix], &[], None, 7, NOW);
        assert_eq!(r.now.change_failure_rate, Some(0.5));
    }

    #[test]
    fn ninety_days_are_weekly_buckets_and_trends_read_as_words() {
        assert_eq!(report(&[], &[], None, 90, NOW).buckets.len(), 13);
        assert_eq!(trend(Some(3.0), Some(2.0)), "▲ 50%");
        assert_eq!(trend(Some(1.0), Some(2.0)), "▼ 50%");
        assert_eq!(trend(Some(2.0), Some(2.0)), "= same as before");
    }
}
