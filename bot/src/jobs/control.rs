//! Holding and freeing environments: `/cancel`, `/lock`, `/unlock`.

use std::sync::Arc;

use super::{Engine, Origin};
use crate::store::jobs::{self, JobState};
use crate::store::locks::{self, EnvLock};
use crate::store::now_ms;

impl Engine {
    pub(super) async fn cancel(
        self: &Arc<Self>,
        origin: &Origin,
        job_id: i64,
    ) -> anyhow::Result<()> {
        let Some(job) = jobs::get(&self.store.pool, job_id).await? else {
            self.whisper(origin, format!("There is no job #{job_id}."))
                .await;
            return Ok(());
        };
        let allowed = job.requester == origin.user.id
            || self
                .config
                .env(&job.env)
                .is_some_and(|env| self.may_deploy(env, &origin.user.id));
        if !allowed {
            self.whisper(
                origin,
                format!(
                    "You can't cancel #{job_id}: only its requester and `{}`'s deployers can.",
                    job.env
                ),
            )
            .await;
            self.audit(
                &origin.user.id,
                &origin.platform,
                "command.denied",
                Some(&job.env),
                Some(job_id),
                "cancel",
            )
            .await;
            return Ok(());
        }
        match job.state {
            JobState::AwaitingApproval | JobState::Queued => {
                let reason = format!("cancelled by {}", origin.user.name);
                if self
                    .end(
                        &job,
                        &[job.state],
                        JobState::Cancelled,
                        Some(&reason),
                        false,
                    )
                    .await?
                {
                    self.audit(
                        &origin.user.id,
                        &origin.platform,
                        "job.cancelled",
                        Some(&job.env),
                        Some(job_id),
                        "",
                    )
                    .await;
                    self.refresh_card(job_id).await;
                    self.say(
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
                jobs::request_cancel(&self.store.pool, job_id).await?;
                if let Some(token) = self
                    .running
                    .lock()
                    .ok()
                    .and_then(|r| r.get(&job_id).cloned())
                {
                    token.cancel();
                }
                self.audit(
                    &origin.user.id,
                    &origin.platform,
                    "job.cancel_requested",
                    Some(&job.env),
                    Some(job_id),
                    "",
                )
                .await;
                self.say(
                    origin,
                    format!(
                        "Stopping #{job_id} for {}: the running step gets SIGTERM, then SIGKILL.",
                        origin.user.name
                    ),
                )
                .await;
            }
            state => {
                self.whisper(
                    origin,
                    format!("#{job_id} has already ended ({}).", state.as_str()),
                )
                .await;
            }
        }
        Ok(())
    }

    pub(super) async fn lock(
        &self,
        origin: &Origin,
        env_name: &str,
        duration: Option<deckhand_commands::HumanDuration>,
        reason: Option<String>,
    ) -> anyhow::Result<()> {
        let Some(env) = self.known_env(origin, env_name).await else {
            return Ok(());
        };
        if !self.authorize_deployer(origin, env_name, env, "lock").await {
            return Ok(());
        }
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
        let mut conn = self.store.pool.acquire().await?;
        if !locks::acquire(&mut conn, &lock, now).await? {
            drop(conn);
            if let Some(held) = locks::get(&self.store.pool, env_name, now).await? {
                self.refuse_locked(origin, &held).await;
            }
            return Ok(());
        }
        drop(conn);
        self.audit(
            &origin.user.id,
            &origin.platform,
            "env.locked",
            Some(env_name),
            None,
            reason.as_deref().unwrap_or(""),
        )
        .await;
        let until = match lock.expires_at {
            Some(at) => format!("until {}", self.clock(at)),
            None => format!("until `/unlock {env_name}`"),
        };
        let why = reason.map(|r| format!(": {r}")).unwrap_or_default();
        self.say(
            origin,
            format!(
                "🔒 `{env_name}` locked by {} {until}{why}",
                origin.user.name
            ),
        )
        .await;
        Ok(())
    }

    pub(super) async fn unlock(&self, origin: &Origin, env_name: &str) -> anyhow::Result<()> {
        let Some(env) = self.known_env(origin, env_name).await else {
            return Ok(());
        };
        if !self
            .authorize_deployer(origin, env_name, env, "unlock")
            .await
        {
            return Ok(());
        }
        let now = now_ms();
        let held = locks::get(&self.store.pool, env_name, now).await?;
        match held {
            Some(lock) if lock.job_id.is_none() => {
                locks::release_manual(&self.store.pool, env_name).await?;
                self.audit(
                    &origin.user.id,
                    &origin.platform,
                    "env.unlocked",
                    Some(env_name),
                    None,
                    &format!("was held by {}", lock.holder),
                )
                .await;
                self.say(
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
            Some(lock) => {
                let job = lock.job_id.unwrap_or_default();
                self.whisper(origin, format!("`{env_name}` is held by job #{job}, not by a person: it frees itself when the job ends, or `/cancel {job}`.")).await;
            }
            None => {
                self.whisper(origin, format!("`{env_name}` isn't locked."))
                    .await
            }
        }
        Ok(())
    }
}
