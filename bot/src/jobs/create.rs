//! Creating a job: the env lock and the job are taken together in one transaction, then
//! its card is posted.

use std::sync::Arc;

use super::{Engine, Origin};
use crate::config::JobKind;
use crate::refusal::Refusal;
use crate::store::jobs::{Job, JobState, NewJob};
use crate::store::locks::{self, EnvLock};
use crate::store::{audit, jobs, now_ms, steps};

/// What a new job should be.
#[derive(Debug, Clone)]
pub(crate) struct JobSpec {
    pub kind: JobKind,
    pub env: String,
    pub app: Option<String>,
    pub git_ref: Option<String>,
    pub previous_ref: Option<String>,
    pub reason: Option<String>,
    pub approvals_required: u32,
    pub rolls_back: Option<i64>,
    pub restore_of: Option<i64>,
    /// The incident whose gate this deploy passes as its hotfix.
    pub hotfix_for: Option<i64>,
    /// GitHub apps: the commit the ref resolved to, and what changes.
    pub commit_sha: Option<String>,
    pub commit_at: Option<i64>,
    pub change_summary: Option<String>,
    /// `--skip-checks REASON`.
    pub skip_checks: Option<String>,
    /// `--break-glass REASON`, when it passes a freeze.
    pub break_glass: Option<String>,
}

impl JobSpec {
    /// The job row to insert: waiting for approval when it needs any, else queued.
    fn new_job(
        &self,
        config: &crate::config::Config,
        origin: &Origin,
        requester: &crate::chat::Person,
        approval_ttl: std::time::Duration,
        now: i64,
    ) -> NewJob {
        let needs_approval = self.approvals_required > 0;
        NewJob {
            kind: self.kind,
            env: self.env.clone(),
            app: self.app.clone(),
            git_ref: self.git_ref.clone(),
            previous_ref: self.previous_ref.clone(),
            requester: requester.id.clone(),
            requester_name: requester.name.clone(),
            platform: origin.platform.clone(),
            channel: origin.channel.clone(),
            state: if needs_approval {
                JobState::AwaitingApproval
            } else {
                JobState::Queued
            },
            reason: self.reason.clone(),
            params_hash: self.params_hash(config),
            hotfix_for: self.hotfix_for,
            approvals_required: i64::from(self.approvals_required),
            approval_expires_at: needs_approval.then(|| now + approval_ttl.as_millis() as i64),
            rolls_back: self.rolls_back,
            restore_of: self.restore_of,
            commit_sha: self.commit_sha.clone(),
            commit_at: self.commit_at,
            change_summary: self.change_summary.clone(),
            skip_checks: self.skip_checks.clone(),
            break_glass: self.break_glass.clone(),
        }
    }

    /// What the audit row of its creation says about it.
    fn audit_detail(&self) -> String {
        format!(
            "{} {} ref={}{} approvals={}{}",
            self.kind.as_str(),
            self.app.as_deref().unwrap_or("-"),
            self.git_ref.as_deref().unwrap_or("-"),
            self.commit_sha
                .as_deref()
                .map(|sha| format!(" commit={sha}"))
                .unwrap_or_default(),
            self.approvals_required,
            self.reason
                .as_deref()
                .map(|r| format!(" reason={r}"))
                .unwrap_or_default()
        ) + &self
            .break_glass
            .as_deref()
            .map(|r| format!(" break-glass={r}"))
            .unwrap_or_default()
    }

    /// The parameters an approval is bound to (see [`super::binding`]).
    fn params_hash(&self, config: &crate::config::Config) -> String {
        super::binding::Bound {
            kind: self.kind,
            env: &self.env,
            app: self.app.as_deref(),
            git_ref: self.git_ref.as_deref(),
            commit_sha: self.commit_sha.as_deref(),
            rolls_back: self.rolls_back,
            restore_of: self.restore_of,
        }
        .hash(config)
    }
}

impl Engine {
    /// The refusal for an env someone holds, with what the holding job is doing.
    pub(crate) async fn locked(&self, lock: EnvLock) -> Refusal {
        Refusal::Locked {
            job: self.holding_job(&lock).await,
            lock: Box::new(lock),
            now: now_ms(),
        }
    }

    /// What the job holding a lock is doing, if a job holds it.
    pub(crate) async fn holding_job(&self, lock: &EnvLock) -> Option<(JobKind, JobState)> {
        let id = lock.job_id?;
        let job = jobs::get(&self.ctx.store.pool, id).await.ok().flatten()?;
        Some((job.kind, job.state))
    }

    /// Creates the job, its checklist and its env lock atomically; posts its card; wakes
    /// the runner when it needs no approval.
    pub(crate) async fn create_job(
        self: &Arc<Self>,
        origin: &Origin,
        spec: JobSpec,
        requester: &crate::chat::Person,
    ) -> anyhow::Result<Job> {
        let Some(env) = self.ctx.config.env(&spec.env) else {
            anyhow::bail!("env {} vanished from the config", spec.env);
        };
        let names = env.step_names(spec.kind);
        let now = now_ms();
        let new = spec.new_job(&self.ctx.config, origin, requester, env.approval_ttl(), now);
        let state = new.state;
        let mut tx = self.ctx.store.pool.begin().await?;
        // The lock first (a write, so SQLite takes its write lock before any read).
        let lock = EnvLock {
            env: spec.env.clone(),
            job_id: None,
            holder: requester.id.clone(),
            holder_name: requester.name.clone(),
            reason: None,
            since: now,
            expires_at: None,
        };
        if !locks::acquire(&mut tx, &lock, now).await? {
            tx.rollback().await?;
            let held = locks::get(&self.ctx.store.pool, &spec.env, now).await?;
            return match held {
                Some(held) => Err(self.locked(held).await.into()),
                None => anyhow::bail!(
                    "the lock on {} was taken and released meanwhile; try again",
                    spec.env
                ),
            };
        }
        // The command that asked for it is handled in the same commit: a crash after it
        // leaves nothing to replay, and a second handler of the same delivery stops here.
        if let Some(inbox) = origin.inbox
            && !crate::store::inbox::finish_once(&mut *tx, inbox, now).await?
        {
            tx.rollback().await?;
            anyhow::bail!("this command was handled already; no second job was created");
        }
        let id = jobs::insert(&mut *tx, &new, now).await?;
        locks::attach_job(&mut *tx, &spec.env, id).await?;
        steps::create(&mut tx, id, &names).await?;
        audit::append(
            &mut tx,
            &audit::AuditEntry {
                at: now,
                actor: requester.id.clone(),
                platform: origin.platform.clone(),
                action: format!("job.{}", state.as_str()),
                env: Some(spec.env.clone()),
                job_id: Some(id),
                detail: spec.audit_detail(),
                mark: spec
                    .break_glass
                    .as_ref()
                    .map(|_| audit::BREAK_GLASS.to_owned()),
            },
        )
        .await?;
        if let Some(why) = &spec.skip_checks {
            // Passing the CI gate by hand is on the record with the job it let through.
            let row = self.ctx.audit_row(
                &requester.id,
                &origin.platform,
                "job.checks_skipped",
                Some(&spec.env),
                Some(id),
                &format!(
                    "required checks skipped for {}: {why}",
                    spec.commit_sha.as_deref().unwrap_or("-")
                ),
            );
            audit::append(&mut tx, &row).await?;
        }
        if let Some(incident) = spec.hotfix_for {
            // Passing the incident gate is recorded with the job it let through.
            let who = &requester.name;
            let git_ref = spec.git_ref.as_deref().unwrap_or("-");
            crate::incidents::timeline_in(
                &mut *tx,
                incident,
                who,
                "hotfix",
                &format!(
                    "hotfix deploy #{id} of `{git_ref}` to {} by {who}",
                    spec.env
                ),
            )
            .await?;
            let row = self.ctx.audit_row(
                &requester.id,
                &origin.platform,
                "incident.gate_override",
                Some(&spec.env),
                Some(id),
                &format!("hotfix for INC-{incident}"),
            );
            audit::append(&mut tx, &row).await?;
        }
        tx.commit().await?;
        let job = jobs::get(&self.ctx.store.pool, id)
            .await?
            .ok_or_else(|| anyhow::anyhow!("job {id} disappeared after it was created"))?;
        // The job exists: that is the command's answer. Its card may wait behind the
        // platform's rate limits; the acknowledgement does not wait with it.
        crate::chat::reply::answer_complete();
        self.post_card(&job).await?;
        self.deployment_moved(job.id).await;
        if state == JobState::Queued {
            self.wake.notify_one();
        }
        Ok(job)
    }
}
