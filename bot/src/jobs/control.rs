//! Holding and freeing environments: `/cancel`, `/lock`, `/unlock`.

use std::sync::Arc;

use super::{Engine, Origin};
use crate::policy;
use crate::refusal::{Act, Refusal};
use crate::store::jobs::{self, JobState};
use crate::store::locks::{self, EnvLock};
use crate::store::now_ms;

impl Engine {
    pub(crate) async fn cancel(
        self: &Arc<Self>,
        origin: &Origin,
        job_id: i64,
    ) -> anyhow::Result<()> {
        let job = jobs::get(&self.ctx.store.pool, job_id)
            .await?
            .ok_or(Refusal::NoSuchJob { job: job_id })?;
        policy::may_cancel(&self.ctx.config, &job, &origin.user.id)?;
        match job.state {
            JobState::AwaitingApproval | JobState::Queued => {
                let reason = format!("cancelled by {}", origin.user.name);
                if self
                    .end(
                        &job,
                        &[job.state],
                        JobState::Cancelled,
                        Some(&reason),
                        &self.ctx.audit_row(
                            &origin.user.id,
                            &origin.platform,
                            "job.cancelled",
                            Some(&job.env),
                            Some(job_id),
                            "",
                        ),
                    )
                    .await?
                {
                    self.refresh_card(job_id).await;
                    self.ctx
                        .say(
                            origin,
                            format!(
                                "🚫 #{job_id} cancelled by {}; `{}` is free.",
                                origin.user.name, job.env
                            ),
                        )
                        .await;
                } else {
                    // It moved on while we looked: try again against its new state.
                    return Box::pin(self.cancel(origin, job_id)).await;
                }
            }
            JobState::Running => {
                jobs::request_cancel(&self.ctx.store.pool, job_id).await?;
                if let Some(token) = self
                    .running
                    .lock()
                    .ok()
                    .and_then(|r| r.get(&job_id).cloned())
                {
                    token.cancel();
                }
                self.ctx
                    .audit(
                        &origin.user.id,
                        &origin.platform,
                        "job.cancel_requested",
                        Some(&job.env),
                        Some(job_id),
                        "",
                    )
                    .await;
                self.ctx.say(
                    origin,
                    format!(
                        "Stopping #{job_id} for {}: the running step gets SIGTERM, then SIGKILL.",
                        origin.user.name
                    ),
                )
                .await;
            }
            state => return Err(Refusal::AlreadyEnded { job: job_id, state }.into()),
        }
        Ok(())
    }

    pub(crate) async fn lock(
        &self,
        origin: &Origin,
        env_name: &str,
        duration: Option<deckhand_commands::HumanDuration>,
        reason: Option<String>,
    ) -> anyhow::Result<()> {
        self.deployable_env(origin, env_name, Act::Lock)?;
        let now = now_ms();
        let lock = EnvLock {
            env: env_name.to_owned(),
            job_id: None,
            holder: origin.user.id.clone(),
            holder_name: origin.user.name.clone(),
            reason: reason.clone(),
            since: now,
            expires_at: duration.map(|d| now + d.as_secs() as i64 * 1000),
        };
        let audit = self.ctx.audit_row(
            &origin.user.id,
            &origin.platform,
            "env.locked",
            Some(env_name),
            None,
            reason.as_deref().unwrap_or(""),
        );
        // The lock and its audit row commit together, or neither does.
        let mut tx = self.ctx.store.pool.begin().await?;
        if !locks::acquire(&mut tx, &lock, now).await? {
            tx.rollback().await?;
            return match locks::get(&self.ctx.store.pool, env_name, now).await? {
                Some(held) => Err(self.locked(held).await.into()),
                // Released between the two looks: the person can simply try again.
                None => Ok(()),
            };
        }
        crate::store::audit::append(&mut *tx, &audit).await?;
        tx.commit().await?;
        let until = match lock.expires_at {
            Some(at) => format!("until {}", self.clock(at)),
            None => format!("until `/unlock {env_name}`"),
        };
        let why = reason.map(|r| format!(": {r}")).unwrap_or_default();
        self.ctx
            .say(
                origin,
                format!(
                    "🔒 `{env_name}` locked by {} {until}{why}",
                    origin.user.name
                ),
            )
            .await;
        Ok(())
    }

    pub(crate) async fn unlock(&self, origin: &Origin, env_name: &str) -> anyhow::Result<()> {
        self.deployable_env(origin, env_name, Act::Unlock)?;
        let now = now_ms();
        let held = locks::get(&self.ctx.store.pool, env_name, now).await?;
        match held {
            Some(lock)
                if lock.job_id.is_none()
                    && !self.ctx.config.same_person(&lock.holder, &origin.user.id)
                    && !self.ctx.config.is_admin(&origin.user.id) =>
            {
                return Err(Refusal::NotLocker {
                    env: env_name.to_owned(),
                    holder: lock.holder_name,
                }
                .into());
            }
            Some(lock) if lock.job_id.is_none() => {
                let audit = self.ctx.audit_row(
                    &origin.user.id,
                    &origin.platform,
                    "env.unlocked",
                    Some(env_name),
                    None,
                    &format!("was held by {}", lock.holder),
                );
                let mut tx = self.ctx.store.pool.begin().await?;
                locks::release_manual(&mut *tx, env_name).await?;
                crate::store::audit::append(&mut *tx, &audit).await?;
                tx.commit().await?;
                self.ctx
                    .say(
                        origin,
                        format!(
                            "🔓 `{env_name}` unlocked by {} (locked by {} for {}).",
                            origin.user.name,
                            lock.holder_name,
                            crate::render::duration(now - lock.since)
                        ),
                    )
                    .await;
            }
            Some(lock)
                if self.ctx.config.is_admin(&origin.user.id)
                    && self.lock_job_ended(&lock).await? =>
            {
                // Only reachable if a crash beat the end-and-release transaction; the
                // sweeper frees these too, an admin need not wait for it.
                let job = lock.job_id.unwrap_or_default();
                let audit = self.ctx.audit_row(
                    &origin.user.id,
                    &origin.platform,
                    "env.unlocked",
                    Some(env_name),
                    Some(job),
                    &format!("held by #{job}, which had ended"),
                );
                let mut tx = self.ctx.store.pool.begin().await?;
                if locks::release_job(&mut *tx, env_name, job).await? {
                    crate::store::audit::append(&mut *tx, &audit).await?;
                }
                tx.commit().await?;
                self.ctx
                    .say(
                        origin,
                        format!(
                            "🔓 `{env_name}` unlocked by {}: its job #{job} had already ended.",
                            origin.user.name
                        ),
                    )
                    .await;
            }
            Some(lock) => {
                return Err(Refusal::HeldByJob {
                    env: env_name.to_owned(),
                    job: lock.job_id.unwrap_or_default(),
                }
                .into());
            }
            None => {
                return Err(Refusal::NotLocked {
                    env: env_name.to_owned(),
                }
                .into());
            }
        }
        Ok(())
    }

    /// Whether the job holding `lock` has ended.
    async fn lock_job_ended(&self, lock: &locks::EnvLock) -> anyhow::Result<bool> {
        let Some(id) = lock.job_id else {
            return Ok(false);
        };
        Ok(jobs::get(&self.ctx.store.pool, id)
            .await?
            .is_none_or(|job| job.state.is_terminal()))
    }
}
