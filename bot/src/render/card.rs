//! The pieces of a job card that every platform shows the same way: checklist lines, the
//! failed step's output, and the notes under the checklist.

use super::{JobCard, bytes, duration, step_icon};
use crate::store::jobs::JobState;
use crate::store::steps::{Step, StepState};

/// `✅ Build (9.0s)`, or `❌ Smoke test (9.0s) — exited with status 1`; `emphasis`
/// wraps the duration in the platform's italics (`_` Slack, `*` Discord, none in text).
pub fn checklist_line(step: &Step, emphasis: &str) -> String {
    let mut line = format!("{} {}", step_icon(step.state), step.name);
    if let (Some(start), Some(end)) = (step.started_at, step.finished_at) {
        line.push_str(&format!(" {emphasis}({}){emphasis}", duration(end - start)));
    }
    if matches!(step.state, StepState::Failed | StepState::FailedIgnored)
        && let Some(error) = &step.error
    {
        line.push_str(&format!(" — {error}"));
    }
    // Sub-lines: a workflow run's link and its jobs.
    for sub in step.detail.iter().flat_map(|d| d.lines()) {
        line.push_str(&format!("\n      {sub}"));
    }
    line
}

/// The last `lines` lines the failed step printed, if it printed any.
pub fn failed_tail(card: &JobCard, lines: usize) -> Option<String> {
    let failed = card
        .steps
        .iter()
        .find(|s| s.state == StepState::Failed && !s.output_tail.trim().is_empty())?;
    let all: Vec<&str> = failed.output_tail.lines().collect();
    Some(all[all.len().saturating_sub(lines)..].join("\n"))
}

/// Why a waiting job waits beyond the usual (held by a gate, approvals voided).
pub fn waiting_on(card: &JobCard) -> Option<String> {
    let job = &card.job;
    let waiting = matches!(job.state, JobState::Queued | JobState::AwaitingApproval);
    job.held
        .as_ref()
        .filter(|_| waiting)
        .map(|hold| format!("⏸️ {}", hold.reason))
}

/// What a card says the job bypassed (a freeze broken, checks skipped), and what GitHub
/// adds: the change since the running commit,
/// and the latest GitHub note (waiting for checks, a refused permission).
pub fn github_lines(job: &crate::store::jobs::Job) -> Vec<String> {
    let mut lines = Vec::new();
    // Not GitHub's, but as loud and in the same place: what the job bypassed.
    if let Some(why) = &job.break_glass {
        lines.push(format!("🔥 break-glass: went through a freeze: {why}"));
    }
    if let Some(why) = &job.github.skip_checks {
        lines.push(format!("⚠️ required checks skipped: {why}"));
    }
    if let Some(change) = &job.github.change_summary {
        lines.extend(change.lines().map(str::to_owned));
    }
    if let Some(note) = &job.github.note {
        lines.push(note.clone());
    }
    lines
}

/// What goes under the checklist: timing, reason, what it rolls back, how it ended (when
/// not a step failure), its backup, and how to approve it.
pub fn card_notes(card: &JobCard) -> Vec<String> {
    let job = &card.job;
    let mut notes = Vec::new();
    match (job.started_at, job.finished_at) {
        (Some(s), Some(f)) => notes.push(format!("took {}", duration(f - s))),
        (Some(s), None) => notes.push(format!("running for {}", duration(card.now - s))),
        _ => {}
    }
    if let Some(reason) = &job.reason {
        notes.push(format!("reason: {reason}"));
    }
    notes.extend(github_lines(job));
    if let Some(hold) = waiting_on(card) {
        notes.push(hold);
    }
    if let Some(target) = job.rolls_back {
        notes.push(format!("rolls back #{target}"));
    }
    if let Some(error) = &job.error
        && job.state != JobState::Failed
    {
        notes.push(error.clone());
    }
    if let Some(artifact) = &job.artifact {
        notes.push(format!(
            "backup {} ({}, sha256 `{}`)",
            artifact.path,
            bytes(artifact.size),
            &artifact.sha256[..artifact.sha256.len().min(12)]
        ));
    }
    if job.state == JobState::AwaitingApproval {
        notes.push(format!(
            "react ✅ to approve or ❌ to reject · approvers: {}",
            card.approvers_hint
        ));
    }
    if let Some(page) = &card.page {
        notes.push(format!("details: {page}"));
    }
    notes
}
