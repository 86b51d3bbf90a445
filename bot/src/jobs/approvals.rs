//! Approvals: ✅/❌ reactions on a job's card and `/approve`, `/reject`, under one set of
//! rules: distinct people, never the requester, only approvers, before expiry, bound to
//! the job's parameters.

use std::sync::Arc;

use super::{Engine, Origin};
use crate::chat::{Verdict, verdict};
use crate::store::approvals::{self, Approval, Decision};
use crate::store::jobs::{self, Job, JobState};
use crate::store::{messages, now_ms};

impl Engine {
    pub(super) async fn reaction(
        self: &Arc<Self>,
        origin: &Origin,
        message_id: &str,
        emoji: &str,
        added: bool,
    ) -> anyhow::Result<()> {
        let found = messages::find(
            &self.store.pool,
            &origin.platform,
            &origin.channel,
            message_id,
        )
        .await?;
        let Some(message) = found else {
            // A secret's reminder: ✅ records its rotation, 💤 snoozes it.
            if added
                && let Some(secret) = crate::store::secrets::secret_for_message(
                    &self.store.pool,
                    &origin.platform,
                    &origin.channel,
                    message_id,
                )
                .await?
            {
                return self.secret_reaction(origin, secret, emoji).await;
            }
            // Reactions on anything else mean nothing to deckhand.
            return Ok(());
        };
        let Some(verdict) = verdict(emoji) else {
            return Ok(());
        };
        let Some(job) = jobs::get(&self.store.pool, message.job_id).await? else {
            return Ok(());
        };
        if !added {
            if verdict == Verdict::Approve {
                self.withdraw(origin, &job).await?;
            }
            return Ok(());
        }
        self.decide(origin, job, verdict == Verdict::Approve, None)
            .await
    }

    pub(super) async fn decide_by_command(
        self: &Arc<Self>,
        origin: &Origin,
        job_id: i64,
        approve: bool,
        reason: Option<String>,
    ) -> anyhow::Result<()> {
        match jobs::get(&self.store.pool, job_id).await? {
            Some(job) => self.decide(origin, job, approve, reason).await,
            None => {
                self.whisper(origin, format!("There is no job #{job_id}."))
                    .await;
                Ok(())
            }
        }
    }

    fn may_approve(&self, job: &Job, person: &str) -> bool {
        let Some(env) = self.config.env(&job.env) else {
            return false;
        };
        self.config.includes(&env.approvers, person) || self.config.is_admin(person)
    }

    async fn decide(
        self: &Arc<Self>,
        origin: &Origin,
        job: Job,
        approve: bool,
        reason: Option<String>,
    ) -> anyhow::Result<()> {
        let word = if approve { "approve" } else { "reject" };
        let user = &origin.user;
        if job.state != JobState::AwaitingApproval {
            let state = crate::render::state_words(job.state);
            self.whisper(
                origin,
                format!("#{} isn't waiting for approval (it is {state}).", job.id),
            )
            .await;
            return Ok(());
        }
        let now = now_ms();
        if job.approval_expires_at.is_some_and(|at| at < now) {
            self.expire(&job).await?;
            self.whisper(
                origin,
                format!(
                    "#{} waited too long for approval and has expired; ask for it again.",
                    job.id
                ),
            )
            .await;
            return Ok(());
        }
        if job.requester == user.id {
            let text = if approve {
                format!(
                    "You can't approve your own job #{}: someone else among its approvers must.",
                    job.id
                )
            } else {
                format!(
                    "You requested #{}; to withdraw it, `/cancel {}`.",
                    job.id, job.id
                )
            };
            self.whisper(origin, text).await;
            self.audit(
                &user.id,
                &origin.platform,
                &format!("approval.refused_self_{word}"),
                Some(&job.env),
                Some(job.id),
                "",
            )
            .await;
            return Ok(());
        }
        if !self.may_approve(&job, &user.id) {
            let approvers = self
                .config
                .env(&job.env)
                .map(|e| {
                    e.approvers
                        .iter()
                        .map(|a| format!("`{a}`"))
                        .collect::<Vec<_>>()
                        .join(", ")
                })
                .unwrap_or_default();
            self.whisper(
                origin,
                format!("Your {word} of #{} doesn't count: you are not an approver for `{}` ({approvers}).", job.id, job.env),
            )
            .await;
            self.audit(
                &user.id,
                &origin.platform,
                &format!("approval.refused_{word}"),
                Some(&job.env),
                Some(job.id),
                "not an approver",
            )
            .await;
            return Ok(());
        }
        let decision = Approval {
            person: user.id.clone(),
            person_name: user.name.clone(),
            decision: if approve {
                Decision::Approve
            } else {
                Decision::Reject
            },
            params_hash: job.params_hash.clone(),
            created_at: now,
        };
        if !approvals::record(&self.store.pool, job.id, &decision).await? {
            self.whisper(origin, format!("You have already decided on #{}.", job.id))
                .await;
            return Ok(());
        }
        self.audit(
            &user.id,
            &origin.platform,
            if approve {
                "approval.approved"
            } else {
                "approval.rejected"
            },
            Some(&job.env),
            Some(job.id),
            reason.as_deref().unwrap_or(""),
        )
        .await;
        if !approve {
            let why = reason.map(|r| format!(": {r}")).unwrap_or_default();
            let error = format!("rejected by {}{why}", user.name);
            if self
                .end(
                    &job,
                    &[JobState::AwaitingApproval],
                    JobState::Rejected,
                    Some(&error),
                    false,
                )
                .await?
            {
                self.audit(
                    &user.id,
                    &origin.platform,
                    "job.rejected",
                    Some(&job.env),
                    Some(job.id),
                    "",
                )
                .await;
            }
            self.refresh_card(job.id).await;
            return Ok(());
        }
        // Only approvals bound to this job's exact parameters count.
        let approved = approvals::list(&self.store.pool, job.id)
            .await?
            .into_iter()
            .filter(|a| a.decision == Decision::Approve && a.params_hash == job.params_hash)
            .count() as i64;
        if approved >= job.approvals_required
            && jobs::transition(
                &self.store.pool,
                job.id,
                &[JobState::AwaitingApproval],
                JobState::Queued,
                None,
                now,
            )
            .await?
        {
            self.audit(
                &user.id,
                &origin.platform,
                "job.queued",
                Some(&job.env),
                Some(job.id),
                &format!("{approved} approval(s)"),
            )
            .await;
            self.wake.notify_one();
        }
        self.refresh_card(job.id).await;
        Ok(())
    }

    /// A removed ✅ before quorum takes that approval back.
    async fn withdraw(&self, origin: &Origin, job: &Job) -> anyhow::Result<()> {
        if job.state != JobState::AwaitingApproval {
            return Ok(());
        }
        if approvals::withdraw(&self.store.pool, job.id, &origin.user.id).await? {
            self.audit(
                &origin.user.id,
                &origin.platform,
                "approval.withdrawn",
                Some(&job.env),
                Some(job.id),
                "",
            )
            .await;
            self.refresh_card(job.id).await;
        }
        Ok(())
    }

    /// Ends a job whose approval window passed, and frees its env.
    pub(super) async fn expire(&self, job: &Job) -> anyhow::Result<()> {
        let ttl = self
            .config
            .env(&job.env)
            .map(|e| e.approval_ttl())
            .unwrap_or_default();
        let error = format!(
            "expired: not approved within {}",
            crate::render::duration(ttl.as_millis() as i64)
        );
        if self
            .end(
                job,
                &[JobState::AwaitingApproval],
                JobState::Expired,
                Some(&error),
                false,
            )
            .await?
        {
            self.audit(
                "deckhand",
                "deckhand",
                "job.expired",
                Some(&job.env),
                Some(job.id),
                &error,
            )
            .await;
            self.refresh_card(job.id).await;
        }
        Ok(())
    }
}
