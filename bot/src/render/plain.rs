//! Plain text: what the console prints and what logs show.

use std::fmt::Write as _;

use super::{Announcement, IncidentCard, JobCard, Message};
use crate::store::approvals::Decision;
use crate::store::jobs::JobState;
use crate::store::steps::StepState;

/// Output lines of a failed step shown on its card.
const FAILED_TAIL_LINES: usize = 5;

pub fn plain(message: &Message) -> String {
    match message {
        Message::Text(text) => text.clone(),
        Message::Job(card) => job_card(card),
        Message::Announcement(a) => announcement(a),
        Message::Incident(card) => incident_card(card),
        Message::Reminder(card) => reminder(card),
    }
}

/// How a mention of a person or role reads outside its own platform.
pub fn mention_name(owner: &str) -> String {
    match owner.split_once(':') {
        Some((_, id)) => format!("@{id}"),
        None => format!("@{owner}"),
    }
}

fn reminder(card: &super::ReminderCard) -> String {
    let mut out = String::new();
    if let Some(who) = &card.attention {
        out.push_str(&format!("@{who} "));
    }
    out.push_str(&format!("*{}*", card.title));
    for line in &card.lines {
        out.push('\n');
        out.push_str(line);
    }
    if let Some(owner) = &card.owner {
        out.push_str(&format!("\nowner: {}", mention_name(owner)));
    }
    if let Some(runbook) = &card.runbook {
        out.push_str(&format!("\nrunbook: {runbook}"));
    }
    if card.actionable {
        out.push_str(
            "\nReact ✅ once it is rotated, or 💤 to snooze a day. Never paste the value.",
        );
    }
    out
}

/// Timeline entries a card shows (the newest).
pub const TIMELINE_SHOWN: usize = 8;

pub fn incident_title(card: &IncidentCard) -> String {
    let i = &card.incident;
    let icon = if i.is_open() { "🚨" } else { "✅" };
    let state = if i.is_open() { "open" } else { "resolved" };
    format!(
        "{icon} INC-{} · {} · {} — {state}",
        i.id,
        i.severity.to_uppercase(),
        i.title
    )
}

pub fn incident_lines(card: &IncidentCard) -> Vec<String> {
    let i = &card.incident;
    let mut lines = Vec::new();
    let since = match i.resolved_at {
        Some(end) => format!("lasted {}", duration(end - i.declared_at)),
        None => format!("open for {}", duration(card.now - i.declared_at)),
    };
    lines.push(format!("commander {} · {since}", i.commander_name));
    if let Some(summary) = &i.summary {
        lines.push(format!("summary: {summary}"));
    }
    let skip = card.timeline.len().saturating_sub(TIMELINE_SHOWN);
    for entry in &card.timeline[skip..] {
        let at = chrono::DateTime::from_timestamp_millis(entry.at)
            .map(|t| t.with_timezone(&card.timezone).format("%H:%M").to_string())
            .unwrap_or_default();
        lines.push(format!("{at} {} — {}", entry.actor, entry.text));
    }
    lines
}

fn incident_card(card: &IncidentCard) -> String {
    let mut out = format!("*{}*", incident_title(card));
    for line in incident_lines(card) {
        out.push('\n');
        out.push_str(&line);
    }
    out
}

/// `1h02m`, `2m05s`, `3.2s`.
pub fn duration(ms: i64) -> String {
    let ms = ms.max(0);
    if ms < 10_000 {
        return format!("{:.1}s", ms as f64 / 1000.0);
    }
    let secs = ms / 1000;
    match secs {
        0..=59 => format!("{secs}s"),
        60..=3599 => format!("{}m{:02}s", secs / 60, secs % 60),
        _ => format!("{}h{:02}m", secs / 3600, (secs % 3600) / 60),
    }
}

pub fn state_icon(state: JobState) -> &'static str {
    match state {
        JobState::AwaitingApproval => "🕐",
        JobState::Queued => "⏸️",
        JobState::Running => "⏳",
        JobState::Succeeded => "✅",
        JobState::Failed => "❌",
        JobState::Cancelled => "🚫",
        JobState::Rejected => "🙅",
        JobState::Expired => "⌛",
        JobState::Interrupted => "⚠️",
    }
}

/// How a state reads in a sentence.
pub fn state_words(state: JobState) -> &'static str {
    match state {
        JobState::AwaitingApproval => "awaiting approval",
        JobState::Queued => "queued",
        JobState::Running => "running",
        JobState::Succeeded => "succeeded",
        JobState::Failed => "failed",
        JobState::Cancelled => "cancelled",
        JobState::Rejected => "rejected",
        JobState::Expired => "expired",
        JobState::Interrupted => "interrupted",
    }
}

pub fn step_icon(state: StepState) -> &'static str {
    match state {
        StepState::Pending => "◻️",
        StepState::Running => "⏳",
        StepState::Succeeded => "✅",
        StepState::Failed => "❌",
        StepState::FailedIgnored => "⚠️",
        StepState::Skipped => "⏭",
    }
}

/// What the job ships, e.g. `web@v1.4.2`, `web@v1.4.2 (3f9c2e1)` with GitHub, or `backup #7`.
pub fn subject(job: &crate::store::jobs::Job) -> String {
    let mut what = String::new();
    if let Some(app) = &job.app {
        what.push_str(app);
    }
    if let Some(r) = &job.git_ref {
        if !what.is_empty() {
            what.push('@');
        }
        what.push_str(r);
    }
    // The commit the ref resolved to, unless the ref is that commit already.
    if let Some(sha) = &job.github.commit_sha {
        let short = crate::github::short(sha);
        if !job
            .git_ref
            .as_deref()
            .is_some_and(|r| r.len() >= 7 && sha.starts_with(&r.to_ascii_lowercase()))
        {
            what.push_str(&format!(" ({short})"));
        }
    }
    if let Some(backup) = job.restore_of {
        what = format!("backup #{backup}");
    }
    what
}

fn job_card(card: &JobCard) -> String {
    let job = &card.job;
    let mut out = String::new();
    let what = subject(job);
    let _ = write!(
        out,
        "{} *{} #{}* · {}",
        state_icon(job.state),
        job.kind.title(),
        job.id,
        job.env
    );
    if !what.is_empty() {
        let _ = write!(out, " · `{what}`");
    }
    let elapsed = match (job.started_at, job.finished_at) {
        (Some(start), Some(end)) => Some(end - start),
        (Some(start), None) => Some(card.now - start),
        _ => None,
    };
    let _ = write!(out, " — {}", state_words(job.state));
    if let Some(ms) = elapsed {
        let _ = write!(out, " ({})", duration(ms));
    }
    let _ = write!(out, "\nrequested by {}", job.requester_name);
    if let Some(previous) = &job.previous_ref {
        let _ = write!(out, " · was `{previous}`");
    }
    if let Some(target) = job.rolls_back {
        let _ = write!(out, " · rolls back #{target}");
    }
    if let Some(reason) = &job.reason {
        let _ = write!(out, "\nreason: {reason}");
    }
    for line in super::card::github_lines(job) {
        let _ = write!(out, "\n{line}");
    }
    if let Some(hold) = super::waiting_on(card) {
        let _ = write!(out, "\n{hold}");
    }
    approvals(&mut out, card);
    if let Some(page) = &card.page {
        let _ = write!(out, "\ndetails: {page}");
    }
    for step in &card.steps {
        let _ = write!(out, "\n{}", super::checklist_line(step, ""));
        if matches!(step.state, StepState::Failed | StepState::FailedIgnored) {
            let lines: Vec<&str> = step.output_tail.lines().collect();
            for line in &lines[lines.len().saturating_sub(FAILED_TAIL_LINES)..] {
                let _ = write!(out, "\n    │ {line}");
            }
        }
    }
    if let Some(error) = &job.error
        && job.state != JobState::Failed
    {
        let _ = write!(out, "\n{error}");
    }
    if let Some(artifact) = &job.artifact {
        let _ = write!(
            out,
            "\nbackup: {} ({}, sha256 {})",
            artifact.path,
            bytes(artifact.size),
            &artifact.sha256[..artifact.sha256.len().min(12)]
        );
    }
    out
}

/// Who approved or rejected, and what an awaiting job still needs.
fn approvals(out: &mut String, card: &JobCard) {
    let job = &card.job;
    let approved: Vec<&str> = card
        .approvals
        .iter()
        .filter(|a| a.decision == Decision::Approve)
        .map(|a| a.person_name.as_str())
        .collect();
    if !approved.is_empty() {
        let _ = write!(out, "\napproved by {}", approved.join(", "));
    }
    if let Some(rejection) = card
        .approvals
        .iter()
        .find(|a| a.decision == Decision::Reject)
    {
        let _ = write!(out, "\nrejected by {}", rejection.person_name);
    }
    if job.state == JobState::AwaitingApproval {
        let needed = job.approvals_required as usize;
        let _ = write!(
            out,
            "\nneeds {needed} approval{} ({}/{needed}) from {} — react ✅ to approve or ❌ to reject, or `/approve {}`",
            if needed == 1 { "" } else { "s" },
            approved.len(),
            card.approvers_hint,
            job.id
        );
        if let Some(expires) = job.approval_expires_at {
            let _ = write!(out, "; expires in {}", duration(expires - card.now));
        }
    }
}

pub fn bytes(size: i64) -> String {
    match size {
        s if s < 1024 => format!("{s} B"),
        s if s < 1024 * 1024 => format!("{:.1} KiB", s as f64 / 1024.0),
        s if s < 1024 * 1024 * 1024 => format!("{:.1} MiB", s as f64 / (1024.0 * 1024.0)),
        s => format!("{:.1} GiB", s as f64 / (1024.0 * 1024.0 * 1024.0)),
    }
}

fn announcement(a: &Announcement) -> String {
    let icon = match a.kind {
        deckhand_commands::AnnouncementType::Info => "ℹ️",
        deckhand_commands::AnnouncementType::Resolution => "✅",
        deckhand_commands::AnnouncementType::Deployment => "🚀",
        deckhand_commands::AnnouncementType::Incident => "🚨",
        deckhand_commands::AnnouncementType::Maintenance => "🛠️",
        deckhand_commands::AnnouncementType::Reminder => "⏰",
        deckhand_commands::AnnouncementType::Blocker => "⛔",
    };
    let mut out = match &a.attention {
        Some(who) if a.priority == deckhand_commands::Priority::Urgent => {
            format!("@{who} {icon} *{}*", a.subject)
        }
        _ => format!("{icon} *{}*", a.subject),
    };
    if a.priority != deckhand_commands::Priority::Normal {
        let _ = write!(out, " [{}]", a.priority);
    }
    if !a.message.is_empty() {
        let _ = write!(out, "\n{}", a.message);
    }
    if !a.references.is_empty() {
        let _ = write!(out, "\nrefs: {}", a.references.join(", "));
    }
    out
}
