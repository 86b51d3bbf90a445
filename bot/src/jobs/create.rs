//! Creating a job: the env lock and the job are taken together in one transaction, then
//! its card is posted.

use std::sync::Arc;

use sha2::{Digest, Sha256};

use super::{Engine, Origin};
use crate::config::JobKind;
use crate::store::jobs::{Job, JobState, NewJob};
use crate::store::locks::{self, EnvLock};
use crate::store::{audit, jobs, now_ms, steps};

/// What a new job should be.
#[derive(Debug, Clone)]
pub(super) struct JobSpec {
    pub kind: JobKind,
    pub env: String,
    pub app: Option<String>,
    pub git_ref: Option<String>,
    pub previous_ref: Option<String>,
    pub reason: Option<String>,
    pub approvals_required: u32,
    pub rolls_back: Option<i64>,
    pub restore_of: Option<i64>,
}

impl JobSpec {
    /// The parameters an approval is bound to: approving one job can never approve a
    /// different deploy.
    fn params_hash(&self) -> String {
        let mut hasher = Sha256::new();
        for part in [
            self.kind.as_str(),
            &self.env,
            self.app.as_deref().unwrap_or(""),
            self.git_ref.as_deref().unwrap_or(""),
            &self.rolls_back.map(|n| n.to_string()).unwrap_or_default(),
            &self.restore_of.map(|n| n.to_string()).unwrap_or_default(),
        ] {
            hasher.update(part.as_bytes());
            hasher.update([0]);
        }
        hex::encode(hasher.finalize())
    }
}

/// Why a job could not be created.
pub(super) enum Refused {
    Locked(EnvLock),
}

/// Fails a job when the lock is not free, with the lock's holder.
pub(super) async fn lock_holder_text(engine: &Engine, lock: &EnvLock) -> String {
    let now = now_ms();
    let since = format!(
        "since {} ({} ago)",
        engine.clock(lock.since),
        crate::render::duration(now - lock.since)
    );
    match lock.job_id {
        Some(job_id) => {
            let job = jobs::get(&engine.store.pool, job_id).await.ok().flatten();
            let what = job
                .map(|j| {
                    format!(
                        "{} {}",
                        j.kind.as_str(),
                        crate::render::state_words(j.state)
                    )
                })
                .unwrap_or_else(|| "job".into());
            format!(
                "`{}` is locked by {} for job #{job_id} ({what}) {since}. Wait for it to finish, or `/cancel {job_id}`.",
                lock.env, lock.holder_name
            )
        }
        None => {
            let mut text = format!("`{}` is locked by {} {since}", lock.env, lock.holder_name);
            if let Some(reason) = &lock.reason {
                text.push_str(&format!(": {reason}"));
            }
            match lock.expires_at {
                Some(at) => text.push_str(&format!(". The lock ends at {}.", engine.clock(at))),
                None => text.push_str(&format!(
                    ". Ask them, or `/unlock {}` when it's safe.",
                    lock.env
                )),
            }
            text
        }
    }
}

impl Engine {
    /// Creates the job, its checklist and its env lock atomically; posts its card; wakes
    /// the runner when it needs no approval.
    pub(super) async fn create_job(
        self: &Arc<Self>,
        origin: &Origin,
        spec: JobSpec,
        requester: &crate::chat::Person,
    ) -> anyhow::Result<Result<Job, Refused>> {
        let Some(env) = self.config.env(&spec.env) else {
            anyhow::bail!("env {} vanished from the config", spec.env);
        };
        let names: Vec<String> = env
            .pipeline(spec.kind)
            .iter()
            .map(|s| s.name.clone())
            .collect();
        let now = now_ms();
        let state = if spec.approvals_required > 0 {
            JobState::AwaitingApproval
        } else {
            JobState::Queued
        };
        let new = NewJob {
            kind: spec.kind,
            env: spec.env.clone(),
            app: spec.app.clone(),
            git_ref: spec.git_ref.clone(),
            previous_ref: spec.previous_ref.clone(),
            requester: requester.id.clone(),
            requester_name: requester.name.clone(),
            platform: origin.platform.clone(),
            channel: origin.channel.clone(),
            state,
            reason: spec.reason.clone(),
            params_hash: spec.params_hash(),
            approvals_required: i64::from(spec.approvals_required),
            approval_expires_at: (spec.approvals_required > 0)
                .then(|| now + env.approval_ttl().as_millis() as i64),
            rolls_back: spec.rolls_back,
            restore_of: spec.restore_of,
        };
        let mut tx = self.store.pool.begin().await?;
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
            let held = locks::get(&self.store.pool, &spec.env, now).await?;
            return match held {
                Some(held) => Ok(Err(Refused::Locked(held))),
                None => anyhow::bail!(
                    "the lock on {} was taken and released meanwhile; try again",
                    spec.env
                ),
            };
        }
        let id = jobs::insert(&mut *tx, &new, now).await?;
        locks::attach_job(&mut *tx, &spec.env, id).await?;
        steps::create(&mut tx, id, &names).await?;
        audit::append(
            &mut *tx,
            &audit::AuditEntry {
                at: now,
                actor: requester.id.clone(),
                platform: origin.platform.clone(),
                action: format!("job.{}", state.as_str()),
                env: Some(spec.env.clone()),
                job_id: Some(id),
                detail: format!(
                    "{} {} ref={} approvals={}{}",
                    spec.kind.as_str(),
                    spec.app.as_deref().unwrap_or("-"),
                    spec.git_ref.as_deref().unwrap_or("-"),
                    spec.approvals_required,
                    spec.reason
                        .as_deref()
                        .map(|r| format!(" reason={r}"))
                        .unwrap_or_default()
                ),
            },
        )
        .await?;
        tx.commit().await?;
        let job = jobs::get(&self.store.pool, id)
            .await?
            .ok_or_else(|| anyhow::anyhow!("job {id} disappeared after it was created"))?;
        self.post_card(&job).await?;
        if state == JobState::Queued {
            self.wake.notify_one();
        }
        Ok(Ok(job))
    }
}
