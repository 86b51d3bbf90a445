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
        dry_run: bool,
    ) -> anyhow::Result<()> {
        let job = jobs::get(&self.ctx.store.pool, job_id)
            .await?
            .ok_or(Refusal::NoSuchJob { job: job_id })?;
        if dry_run {
            return self.cancel_plan(origin, &job).await;
        }
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
                    return Box::pin(self.cancel(origin, job_id, false)).await;
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
        dry_run: bool,
    ) -> anyhow::Result<()> {
        let now = now_ms();
        if dry_run {
            let env = policy::known_env(&self.ctx.config, env_name)?;
            let allowed =
                policy::may_deploy(&self.ctx.config, env_name, env, &origin.user.id, Act::Lock);
            let until = match duration {
                Some(d) => format!(
                    "for {d}, until {}",
                    self.clock(now + d.as_secs() as i64 * 1000)
                ),
                None => format!("until `/unlock {env_name}`"),
            };
            let held = match locks::get(&self.ctx.store.pool, env_name, now).await? {
                Some(lock) => {
                    let job = self.holding_job(&lock).await;
                    format!(
                        "⛔ {}",
                        crate::refusal::lock_holder_text(&lock, job, now, &self.ctx.config.clock)
                    )
                }
                None => format!("✅ `{env_name}` is not locked."),
            };
            let text = format!(
                "*Dry run*: lock `{env_name}` {until}{}. Deploys, rollbacks, backups and restores there would be refused until it is unlocked.\n{}\n{held}\nNothing was changed.",
                reason
                    .as_deref()
                    .map(|r| format!(": {r}"))
                    .unwrap_or_default(),
                super::freeze::allowed_line(&allowed, "lock", env_name, &self.ctx.config.clock),
            );
            self.ctx.whisper(origin, text).await;
            return Ok(());
        }
        self.deployable_env(origin, env_name, Act::Lock)?;
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
        crate::store::audit::append(&mut tx, &audit).await?;
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

    pub(crate) async fn unlock(
        &self,
        origin: &Origin,
        env_name: &str,
        dry_run: bool,
    ) -> anyhow::Result<()> {
        if dry_run {
            return self.unlock_plan(origin, env_name).await;
        }
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
                crate::store::audit::append(&mut tx, &audit).await?;
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
                    crate::store::audit::append(&mut tx, &audit).await?;
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

    /// `/cancel N --dry-run`: what cancelling would stop and free.
    async fn cancel_plan(&self, origin: &Origin, job: &jobs::Job) -> anyhow::Result<()> {
        let allowed = policy::may_cancel(&self.ctx.config, job, &origin.user.id);
        let what = format!(
            "#{} ({} `{}` to `{}`, {})",
            job.id,
            job.kind.as_str(),
            crate::render::subject(job),
            job.env,
            crate::render::state_words(job.state)
        );
        let effect = match job.state {
            JobState::AwaitingApproval | JobState::Queued => {
                format!("it would end cancelled, and `{}` would be free.", job.env)
            }
            JobState::Running => {
                let step = crate::store::steps::list(&self.ctx.store.pool, job.id)
                    .await?
                    .into_iter()
                    .find(|s| s.state == crate::store::steps::StepState::Running)
                    .map(|s| format!(" (now `{}`)", s.name))
                    .unwrap_or_default();
                format!(
                    "its running step{step} would get SIGTERM, then SIGKILL after {}; the rest would be skipped and `{}` freed once it stops.",
                    crate::render::duration(self.settings.grace.as_millis() as i64),
                    job.env
                )
            }
            state => {
                return Err(Refusal::AlreadyEnded { job: job.id, state }.into());
            }
        };
        let allowed = match allowed {
            Ok(()) => format!("✅ You may cancel #{}.", job.id),
            Err(refusal) => format!("⛔ {}", refusal.render(&self.ctx.config.clock)),
        };
        let text = format!("*Dry run*: cancel {what}: {effect}\n{allowed}\nNothing was changed.");
        self.ctx.whisper(origin, text).await;
        Ok(())
    }

    /// `/unlock ENV --dry-run`: whose lock it would release, and whether you may.
    async fn unlock_plan(&self, origin: &Origin, env_name: &str) -> anyhow::Result<()> {
        let config = &self.ctx.config;
        let env = policy::known_env(config, env_name)?;
        let role = policy::may_deploy(config, env_name, env, &origin.user.id, Act::Unlock);
        let now = now_ms();
        let (effect, allowed) = match locks::get(&self.ctx.store.pool, env_name, now).await? {
            None => {
                return Err(Refusal::NotLocked {
                    env: env_name.to_owned(),
                }
                .into());
            }
            Some(lock) if lock.job_id.is_none() => {
                let mine = config.same_person(&lock.holder, &origin.user.id)
                    || config.is_admin(&origin.user.id);
                let allowed = match (&role, mine) {
                    (Err(refusal), _) => Err(refusal.clone()),
                    (Ok(()), false) => Err(Refusal::NotLocker {
                        env: env_name.to_owned(),
                        holder: lock.holder_name.clone(),
                    }),
                    (Ok(()), true) => Ok(()),
                };
                (
                    format!(
                        "it would release the lock {} has held for {}{}; deploys could start again.",
                        lock.holder_name,
                        crate::render::duration(now - lock.since),
                        lock.reason
                            .as_deref()
                            .map(|r| format!(" ({r})"))
                            .unwrap_or_default()
                    ),
                    allowed,
                )
            }
            Some(lock) => {
                let job = lock.job_id.unwrap_or_default();
                let ended = self.lock_job_ended(&lock).await?;
                let allowed = if ended && config.is_admin(&origin.user.id) {
                    role.clone()
                } else {
                    Err(Refusal::HeldByJob {
                        env: env_name.to_owned(),
                        job,
                    })
                };
                (format!("it is held by job #{job}."), allowed)
            }
        };
        let text = format!(
            "*Dry run*: unlock `{env_name}`: {effect}\n{}\nNothing was changed.",
            super::freeze::allowed_line(&allowed, "unlock", env_name, &config.clock)
        );
        self.ctx.whisper(origin, text).await;
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
