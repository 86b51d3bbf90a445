//! What a job tells others: open incidents' timelines and the announce channels, when it
//! starts and when it ends.

use deckhand_commands::{AnnouncementType, Priority};

use super::Engine;
use crate::config::JobKind;
use crate::render::{Announcement, duration, subject};
use crate::store::approvals::{self, Decision};
use crate::store::jobs::{Job, JobState};

impl Engine {
    /// A started job is noted on open incidents and, where the env asks for it (prod by
    /// default), announced.
    pub(super) async fn job_started(&self, job: &Job) {
        self.incidents
            .note_on_open(
                &job.requester_name,
                "job",
                &format!(
                    "{} #{} of `{}` to {} started",
                    job.kind.as_str(),
                    job.id,
                    subject(job),
                    job.env
                ),
            )
            .await;
        let announce = self
            .ctx
            .config
            .env(&job.env)
            .and_then(|e| e.announce_started)
            .unwrap_or_else(|| crate::config::Config::is_production(&job.env));
        if !announce
            || !matches!(
                job.kind,
                JobKind::Deploy | JobKind::Rollback | JobKind::Restore
            )
        {
            return;
        }
        let announcement = Announcement {
            sender: "deckhand".into(),
            recipients: self.ctx.config.announce_channels(&job.env).to_vec(),
            kind: AnnouncementType::Deployment,
            priority: Priority::Normal,
            subject: format!(
                "{} #{} of `{}` to {} started",
                job.kind.title(),
                job.id,
                subject(job),
                job.env
            ),
            message: format!(
                "Requested by {}{}.{}",
                job.requester_name,
                job.previous_ref
                    .as_ref()
                    .map(|p| format!("; {} runs `{p}` now", job.env))
                    .unwrap_or_default(),
                job.github
                    .skip_checks
                    .as_ref()
                    .map(|why| format!(" ⚠️ Required checks were skipped: {why}."))
                    .unwrap_or_default()
            ),
            references: vec![format!("#{}", job.id)],
            attention: None,
        };
        if let Err(e) = self.announce_news(announcement).await {
            tracing::error!(error = %format!("{e:#}"), "could not announce the job's start");
        }
    }

    /// Success of a deploy or rollback is announced to the env's announce channels; a
    /// failure posts a failure notice there.
    pub(super) async fn announce_outcome(&self, job: &Job) -> anyhow::Result<()> {
        let took = match (job.started_at, job.finished_at) {
            (Some(s), Some(f)) => duration(f - s),
            _ => "?".into(),
        };
        let approvers: Vec<String> = approvals::list(&self.ctx.store.pool, job.id)
            .await?
            .into_iter()
            .filter(|a| a.decision == Decision::Approve)
            .map(|a| a.person_name)
            .collect();
        let mut details = format!("Job #{} by {}", job.id, job.requester_name);
        if !approvers.is_empty() {
            details.push_str(&format!(", approved by {}", approvers.join(", ")));
        }
        details.push_str(&format!(", took {took}"));
        if let Some(previous) = &job.previous_ref {
            details.push_str(&format!("; previously `{previous}`"));
        }
        details.push('.');
        if let Some(why) = &job.github.skip_checks {
            details.push_str(&format!(" ⚠️ Required checks were skipped: {why}."));
        }
        let what = subject(job);
        let (kind, priority, subject_line) = match (job.state, job.kind) {
            (JobState::Succeeded, JobKind::Deploy) => (
                AnnouncementType::Deployment,
                Priority::Normal,
                format!("Deployed `{what}` to {}", job.env),
            ),
            (JobState::Succeeded, JobKind::Rollback) => (
                AnnouncementType::Deployment,
                Priority::High,
                format!("Rolled {} back to `{what}`", job.env),
            ),
            (JobState::Succeeded, JobKind::Restore) => (
                AnnouncementType::Maintenance,
                Priority::High,
                format!("Restored {} from {what}", job.env),
            ),
            (JobState::Failed, kind) => (
                AnnouncementType::Blocker,
                Priority::High,
                format!(
                    "{} #{} of `{what}` to {} failed",
                    kind.title(),
                    job.id,
                    job.env
                ),
            ),
            _ => return Ok(()),
        };
        if let Some(error) = &job.error
            && job.state == JobState::Failed
        {
            details.push_str(&format!("\n{error}"));
        }
        let channels = self.ctx.config.announce_channels(&job.env).to_vec();
        let announcement = Announcement {
            sender: "deckhand".into(),
            recipients: channels,
            kind,
            priority,
            subject: subject_line,
            message: details,
            references: vec![format!("#{}", job.id)],
            attention: None,
        };
        self.announce_news(announcement).await
    }

    /// Announces what deckhand itself did (a job's start, end or interruption): audited
    /// as `deckhand`, never as whoever the job was for.
    pub(super) async fn announce_news(&self, announcement: Announcement) -> anyhow::Result<()> {
        self.announcements
            .announce(
                announcement,
                None,
                None,
                &crate::announce::Actor::deckhand(),
            )
            .await?;
        Ok(())
    }
}
