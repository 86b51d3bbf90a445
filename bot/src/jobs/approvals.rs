//! Approvals: ✅/❌ reactions on a job's card and `/approve`, `/reject`, under one set of
//! rules (`policy::may_decide`): distinct people, never the requester, only approvers,
//! before expiry, bound to the job's parameters.

use std::sync::Arc;

use super::{Engine, Origin};
use crate::policy;
use crate::refusal::Refusal;
use crate::store::approvals::{self, Approval, Decision};
use crate::store::jobs::{self, Job, JobState};
use crate::store::now_ms;

impl Engine {
    pub(crate) async fn decide_by_command(
        self: &Arc<Self>,
        origin: &Origin,
        job_id: i64,
        approve: bool,
        reason: Option<String>,
    ) -> anyhow::Result<()> {
        let job = jobs::get(&self.ctx.store.pool, job_id)
            .await?
            .ok_or(Refusal::NoSuchJob { job: job_id })?;
        // Slack's Approve / Reject buttons arrive as these commands, with their action id.
        let via = if origin
            .reply
            .as_deref()
            .is_some_and(|r| r.starts_with("action:"))
        {
            "button"
        } else {
            "command"
        };
        self.decide(origin, job, approve, reason, via).await
    }

    pub(crate) async fn decide(
        self: &Arc<Self>,
        origin: &Origin,
        job: Job,
        approve: bool,
        reason: Option<String>,
        via: &'static str,
    ) -> anyhow::Result<()> {
        let user = &origin.user;
        let now = now_ms();
        let allowed = policy::may_decide(&self.ctx.config, &job, &user.id, approve, now);
        if let Err(Refusal::ApprovalExpired { .. }) = &allowed {
            self.expire(&job).await?;
        }
        allowed?;
        // The binding, recomputed: if the plan changed since the job was asked for,
        // nobody's approval (this one included) is of what would run.
        let bound = super::binding::now_for(&self.ctx.config, &job);
        if bound != job.params_hash {
            self.void_approvals(&job, &bound, now).await?;
            return Err(Refusal::ApprovalsVoid {
                job: job.id,
                env: job.env.clone(),
            }
            .into());
        }
        // A gate that closed since the request holds here too: an approval given while
        // a sev1 is open would start the deploy the moment it is counted.
        if approve {
            let mut conn = self.ctx.store.pool.acquire().await?;
            self.incident_gate_at(&job, &mut conn).await?;
        }
        // Recorded under the person, so their second account is the same approver
        // (one decision per person per job, by the table's unique key).
        let decision = Approval {
            person: self.ctx.config.person_of(&user.id).to_owned(),
            person_name: user.name.clone(),
            decision: if approve {
                Decision::Approve
            } else {
                Decision::Reject
            },
            params_hash: bound,
            created_at: now,
            via: Some(via.to_owned()),
        };
        let audit = self.ctx.audit_row(
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
        );
        // The decision and its audit row commit together, or neither does.
        let mut tx = self.ctx.store.pool.begin().await?;
        if !approvals::record(&mut *tx, job.id, &decision).await? {
            tx.rollback().await?;
            return Err(Refusal::AlreadyDecided {
                job: job.id,
                env: job.env.clone(),
            }
            .into());
        }
        crate::store::audit::append(&mut tx, &audit).await?;
        tx.commit().await?;
        if approve {
            self.queue_at_quorum(origin, &job, now).await?;
        } else {
            self.reject(origin, &job, reason).await?;
        }
        self.refresh_card(job.id).await;
        Ok(())
    }

    /// A ❌ from an approver ends the job and frees its env.
    async fn reject(
        &self,
        origin: &Origin,
        job: &Job,
        reason: Option<String>,
    ) -> anyhow::Result<()> {
        let user = &origin.user;
        let why = reason.map(|r| format!(": {r}")).unwrap_or_default();
        let error = format!("rejected by {}{why}", user.name);
        // `false` when it moved on meanwhile: then whoever moved it has said so.
        self.end(
            job,
            &[JobState::AwaitingApproval],
            JobState::Rejected,
            Some(&error),
            &self.ctx.audit_row(
                &user.id,
                &origin.platform,
                "job.rejected",
                Some(&job.env),
                Some(job.id),
                "",
            ),
        )
        .await?;
        Ok(())
    }

    /// Queues the job once enough distinct approvals bound to its parameters are in.
    async fn queue_at_quorum(&self, origin: &Origin, job: &Job, now: i64) -> anyhow::Result<()> {
        // Only approvals bound to this job's exact parameters count.
        let approved = approvals::list(&self.ctx.store.pool, job.id)
            .await?
            .into_iter()
            .filter(|a| a.decision == Decision::Approve && a.params_hash == job.params_hash)
            .count() as i64;
        if approved < job.approvals_required {
            return Ok(());
        }
        let audit = self.ctx.audit_row(
            &origin.user.id,
            &origin.platform,
            "job.queued",
            Some(&job.env),
            Some(job.id),
            &format!("{approved} approval(s)"),
        );
        // Queued and its audit row together, or neither.
        let mut tx = self.ctx.store.pool.begin().await?;
        let queued = jobs::transition(
            &mut *tx,
            job.id,
            &[JobState::AwaitingApproval],
            JobState::Queued,
            None,
            now,
        )
        .await?;
        if queued {
            crate::store::audit::append(&mut tx, &audit).await?;
            // "Approvals void" is over once it is approved again.
            if job.held.is_some() {
                jobs::unhold(&mut *tx, job.id).await?;
            }
        }
        tx.commit().await?;
        if queued {
            self.wake.notify_one();
        }
        Ok(())
    }

    /// Voids a job's approvals because what would run changed: it goes back to
    /// waiting for approval (a fresh window), bound to the plan as it is now, and its
    /// card says why. The audit row commits with the change.
    pub(crate) async fn void_approvals(
        &self,
        job: &Job,
        bound: &str,
        now: i64,
    ) -> anyhow::Result<()> {
        let why = format!(
            "approvals void: `{}`'s {} pipeline changed since #{} was requested; approve the plan shown here",
            job.env,
            job.kind.as_str(),
            job.id
        );
        self.void_approvals_for(job, bound, now, &why, None).await
    }

    /// Voids a job's approvals for `why`; with `commit`, the job now deploys that
    /// commit (its ref moved), with its change lines, written in the same transaction.
    pub(crate) async fn void_approvals_for(
        &self,
        job: &Job,
        bound: &str,
        now: i64,
        why: &str,
        commit: Option<(&str, Option<&str>)>,
    ) -> anyhow::Result<()> {
        let ttl = self.ctx.config.approval_ttl(&job.env);
        let audit = self.ctx.audit_row(
            "deckhand",
            "deckhand",
            "job.approvals_voided",
            Some(&job.env),
            Some(job.id),
            why,
        );
        let mut tx = self.ctx.store.pool.begin().await?;
        let expires = now + ttl.as_millis() as i64;
        if jobs::rebind(&mut *tx, job.id, bound, expires, why).await? {
            approvals::void(&mut *tx, job.id).await?;
            if let Some((sha, change)) = commit {
                jobs::set_commit(&mut *tx, job.id, sha, change).await?;
            }
            // Its checklist shows the steps that would run now.
            let names = self
                .ctx
                .config
                .env(&job.env)
                .map(|env| env.step_names(job.kind))
                .unwrap_or_default();
            crate::store::steps::replace(&mut tx, job.id, &names).await?;
            crate::store::audit::append(&mut tx, &audit).await?;
        }
        tx.commit().await?;
        self.refresh_card(job.id).await;
        Ok(())
    }

    /// The gates a job must pass at every door (request, approval, claim): a freeze
    /// (unless the job broke the glass), and the incident gate, for deploys. `--hotfix INC-N` passes INC-N's gate only, and only
    /// while INC-N is open. A closed gate is a [`Refusal`] inside the error; a gate that
    /// cannot be read is a plain error, and the caller stops there (fails closed).
    pub(crate) async fn gates(
        &self,
        job: &Job,
        conn: &mut sqlx::AnyConnection,
    ) -> anyhow::Result<()> {
        self.freeze_gate_at_claim(job, &mut *conn).await?;
        self.incident_gate_at(job, conn).await
    }

    /// The incident gate alone: also asked when an approval is given, so an approval
    /// during a sev1 is refused rather than counted. A freeze is not asked there: the
    /// approval counts, and the claim holds the job while the freeze lasts.
    pub(crate) async fn incident_gate_at(
        &self,
        job: &Job,
        conn: &mut sqlx::AnyConnection,
    ) -> anyhow::Result<()> {
        if job.kind != crate::config::JobKind::Deploy {
            return Ok(());
        }
        let gating = self.incidents.gating_in(&mut *conn, &job.env).await?;
        let hotfix = job
            .hotfix_for
            .map(|id| deckhand_commands::IncidentId(id as u64));
        policy::incident_gate(
            &job.env,
            job.git_ref.as_deref().unwrap_or(""),
            &gating,
            hotfix,
        )?;
        Ok(())
    }

    /// A removed ✅ before quorum takes that approval back.
    pub(crate) async fn withdraw(&self, origin: &Origin, job: &Job) -> anyhow::Result<()> {
        if job.state != JobState::AwaitingApproval {
            return Ok(());
        }
        let audit = self.ctx.audit_row(
            &origin.user.id,
            &origin.platform,
            "approval.withdrawn",
            Some(&job.env),
            Some(job.id),
            "",
        );
        let mut tx = self.ctx.store.pool.begin().await?;
        let person = self.ctx.config.person_of(&origin.user.id);
        let withdrawn = approvals::withdraw(&mut *tx, job.id, person).await?;
        if withdrawn {
            crate::store::audit::append(&mut tx, &audit).await?;
        }
        tx.commit().await?;
        if withdrawn {
            self.refresh_card(job.id).await;
        }
        Ok(())
    }

    /// Ends a job whose approval window passed, and frees its env.
    pub(crate) async fn expire(&self, job: &Job) -> anyhow::Result<()> {
        let ttl = self.ctx.config.approval_ttl(&job.env);
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
                &self.ctx.audit_row(
                    "deckhand",
                    "deckhand",
                    "job.expired",
                    Some(&job.env),
                    Some(job.id),
                    &error,
                ),
            )
            .await?
        {
            self.refresh_card(job.id).await;
        }
        Ok(())
    }
}
