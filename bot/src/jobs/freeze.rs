//! Freezes in the engine: `/freeze`, `/unfreeze`, `/freeze list`, the freeze gate at
//! request and at claim, and the loud notice a break-glass leaves.

use std::fmt::Write as _;

use deckhand_commands::{AnnouncementType, FreezeCommand, HumanDuration, Priority};

use super::{Engine, Origin};
use crate::config::{EnvConfig, JobKind};
use crate::freezes::{self, Freezes, Window};
use crate::policy;
use crate::refusal::{Act, Refusal, freeze_text};
use crate::render::{Announcement, subject};
use crate::store::freezes::{self as freeze_rows, NewFreeze};
use crate::store::jobs::{self, Job, JobState};

/// Whether freezes hold jobs of `kind` on `env`: deploys and rollbacks always, restores
/// unless the env says `freeze_restores = false`, backups never (they change nothing).
pub(crate) fn frozen_kind(env: &EnvConfig, kind: JobKind) -> bool {
    match kind {
        JobKind::Deploy | JobKind::Rollback => true,
        JobKind::Restore => env.freeze_restores.unwrap_or(true),
        JobKind::Backup => false,
    }
}

/// What a job of `kind` does to its env, in the words of a refusal.
pub(crate) fn act_of(kind: JobKind) -> Act {
    match kind {
        JobKind::Deploy => Act::Deploy,
        JobKind::Rollback => Act::Rollback,
        JobKind::Restore => Act::Restore,
        JobKind::Backup => Act::Backup,
    }
}

impl Engine {
    /// The time freezes are judged at.
    pub(crate) fn now(&self) -> i64 {
        self.settings.now.ms()
    }

    /// `env`'s freezes now.
    pub(crate) async fn freezes_on(&self, env: &str) -> anyhow::Result<Freezes> {
        let mut conn = self.ctx.store.pool.acquire().await?;
        self.freezes_in(&mut conn, env, self.now()).await
    }

    async fn freezes_in(
        &self,
        conn: &mut sqlx::AnyConnection,
        env: &str,
        now: i64,
    ) -> anyhow::Result<Freezes> {
        let chat = freeze_rows::current(&mut *conn, Some(env), now).await?;
        Ok(freezes::at(&self.ctx.config, env, &chat, now))
    }

    /// The freeze gate when a job is asked for: `Ok(None)` when no freeze holds, the
    /// window a `--break-glass` passes, or the refusal (frozen; or a break-glass with
    /// nothing to break).
    pub(crate) async fn freeze_gate(
        &self,
        env_name: &str,
        env: &EnvConfig,
        kind: JobKind,
        break_glass: Option<&str>,
    ) -> anyhow::Result<Option<Window>> {
        let holding = if frozen_kind(env, kind) {
            self.freezes_on(env_name).await?.holding().cloned()
        } else {
            None
        };
        match (holding, break_glass) {
            (None, None) => Ok(None),
            (None, Some(_)) => Err(Refusal::NothingToBreak {
                env: env_name.to_owned(),
            }
            .into()),
            (Some(window), Some(_)) => Ok(Some(window)),
            (Some(window), None) => Err(Refusal::Frozen {
                env: env_name.to_owned(),
                act: act_of(kind),
                window: Box::new(window),
                now: self.now(),
            }
            .into()),
        }
    }

    /// The freeze gate at approval and claim: a freeze that began after the request
    /// holds the job, unless it broke the glass. An automatic rollback is never held:
    /// it undoes a failed change, and a freeze must not keep the failure running.
    pub(crate) async fn freeze_gate_at_claim(
        &self,
        job: &Job,
        conn: &mut sqlx::AnyConnection,
    ) -> anyhow::Result<()> {
        let Some(env) = self.ctx.config.env(&job.env) else {
            return Ok(());
        };
        let automatic = job.rolls_back.is_some() && job.requester == super::deckhand_person().id;
        if !frozen_kind(env, job.kind) || job.break_glass.is_some() || automatic {
            return Ok(());
        }
        let now = self.now();
        if let Some(window) = self.freezes_in(conn, &job.env, now).await?.holding() {
            return Err(Refusal::Frozen {
                env: job.env.clone(),
                act: act_of(job.kind),
                window: Box::new(window.clone()),
                now,
            }
            .into());
        }
        Ok(())
    }

    pub(crate) async fn freeze(
        &self,
        origin: &Origin,
        command: FreezeCommand,
    ) -> anyhow::Result<()> {
        match command {
            FreezeCommand::List => self.freeze_list(origin).await,
            FreezeCommand::Set {
                env,
                duration,
                reason,
                dry_run,
            } => {
                self.freeze_env(origin, &env, duration, &reason, dry_run)
                    .await
            }
        }
    }

    async fn freeze_env(
        &self,
        origin: &Origin,
        env_name: &str,
        length: HumanDuration,
        reason: &str,
        dry_run: bool,
    ) -> anyhow::Result<()> {
        let config = &self.ctx.config;
        let env = policy::known_env(config, env_name)?;
        let allowed = policy::may_freeze(config, env_name, &origin.user.id);
        let now = self.now();
        let until = now + length.as_secs() as i64 * 1000;
        let waiting = self.waiting_jobs(env_name).await?;
        let what = if env.freeze_restores.unwrap_or(true) {
            "deploys, rollbacks and restores"
        } else {
            "deploys and rollbacks"
        };
        if dry_run {
            let mut text = format!(
                "*Dry run*: freeze `{env_name}` for {length}, until {}: {reason}.\nIt would refuse {what} to `{env_name}` until then, except those that break the glass.",
                self.clock(until)
            );
            for job in &waiting {
                let _ = write!(
                    text,
                    "\n• #{} ({} `{}`, {}) would be held when it is claimed.",
                    job.id,
                    job.kind.as_str(),
                    subject(job),
                    crate::render::state_words(job.state)
                );
            }
            let _ = write!(
                text,
                "\n{}",
                allowed_line(&allowed, "freeze", env_name, &config.clock)
            );
            text.push_str("\nNothing was changed.");
            self.ctx.whisper(origin, text).await;
            return Ok(());
        }
        allowed?;
        let audit = self.ctx.audit_row(
            &origin.user.id,
            &origin.platform,
            "env.frozen",
            Some(env_name),
            None,
            &format!("until {}: {reason}", self.clock(until)),
        );
        let mut tx = self.ctx.store.pool.begin().await?;
        freeze_rows::insert(
            &mut *tx,
            &NewFreeze {
                env: env_name,
                reason,
                from_at: now,
                until_at: until,
                created_by: &origin.user.id,
                created_by_name: &origin.user.name,
            },
            now,
        )
        .await?;
        crate::store::audit::append(&mut tx, &audit).await?;
        tx.commit().await?;
        let mut text = format!(
            "❄️ `{env_name}` frozen by {} until {} ({length}): {reason}. {} are refused until then; `/unfreeze {env_name}` lifts it.",
            origin.user.name,
            self.clock(until),
            crate::render::capitalised(what)
        );
        for job in &waiting {
            let _ = write!(
                text,
                "\n• #{} ({}) will be held when it is claimed, until the freeze ends.",
                job.id,
                crate::render::state_words(job.state)
            );
        }
        self.ctx.say(origin, text).await;
        Ok(())
    }

    pub(crate) async fn unfreeze(
        &self,
        origin: &Origin,
        env_name: &str,
        dry_run: bool,
    ) -> anyhow::Result<()> {
        let config = &self.ctx.config;
        policy::known_env(config, env_name)?;
        let allowed = policy::may_freeze(config, env_name, &origin.user.id);
        let now = self.now();
        let chat = freeze_rows::current(&self.ctx.store.pool, Some(env_name), now).await?;
        let remaining = freezes::at(config, env_name, &[], now);
        if chat.is_empty() {
            return Err(Refusal::NotFrozen {
                env: env_name.to_owned(),
                configured: remaining.holding().cloned().map(Box::new),
                now,
            }
            .into());
        }
        let lifted: Vec<String> = chat
            .iter()
            .map(|f| {
                format!(
                    "“{}” by {} until {}",
                    f.reason,
                    f.created_by_name,
                    self.clock(f.until_at)
                )
            })
            .collect();
        let still = remaining
            .holding()
            .map(|w| {
                format!(
                    "\n`{env_name}` stays {} (deckhand.toml).",
                    freeze_text(w, now, &config.clock)
                )
            })
            .unwrap_or_default();
        if dry_run {
            let text = format!(
                "*Dry run*: unfreeze `{env_name}`: it would lift {}.{still}\n{}\nNothing was changed.",
                lifted.join("; "),
                allowed_line(&allowed, "unfreeze", env_name, &config.clock)
            );
            self.ctx.whisper(origin, text).await;
            return Ok(());
        }
        allowed?;
        let audit = self.ctx.audit_row(
            &origin.user.id,
            &origin.platform,
            "env.unfrozen",
            Some(env_name),
            None,
            &lifted.join("; "),
        );
        let mut tx = self.ctx.store.pool.begin().await?;
        freeze_rows::lift(&mut *tx, env_name, &origin.user.id, now).await?;
        crate::store::audit::append(&mut tx, &audit).await?;
        tx.commit().await?;
        // Jobs held by the freeze are looked at again by the runner's next poll.
        self.wake.notify_one();
        self.ctx
            .say(
                origin,
                format!(
                    "☀️ `{env_name}` unfrozen by {}: lifted {}.{still}",
                    origin.user.name,
                    lifted.join("; ")
                ),
            )
            .await;
        Ok(())
    }

    /// `/freeze list`: what holds each env now and what comes next.
    async fn freeze_list(&self, origin: &Origin) -> anyhow::Result<()> {
        let now = self.now();
        let chat = freeze_rows::current(&self.ctx.store.pool, None, now).await?;
        let clock = self.ctx.config.clock;
        let mut text = String::from("❄️ *Freezes*");
        for name in self.ctx.config.environments.keys() {
            let env_freezes = freezes::at(&self.ctx.config, name, &chat, now);
            let _ = write!(text, "\n*{name}*: ");
            match env_freezes.holding() {
                Some(window) => text.push_str(&freeze_text(window, now, &clock)),
                None => text.push_str("not frozen"),
            }
            for window in env_freezes.active.iter().skip(1) {
                let _ = write!(text, "\n    also {}", freeze_text(window, now, &clock));
            }
            if let Some(next) = &env_freezes.next {
                let _ = write!(
                    text,
                    "\n    next: “{}” from {} until {}",
                    next.reason,
                    clock.time(next.from),
                    clock.time(next.until)
                );
            }
        }
        self.ctx.whisper(origin, text).await;
        Ok(())
    }

    /// Jobs on `env` that wait for approval or a runner: what a freeze would hold.
    async fn waiting_jobs(&self, env: &str) -> anyhow::Result<Vec<Job>> {
        Ok(jobs::in_states(
            &self.ctx.store.pool,
            &[JobState::AwaitingApproval, JobState::Queued],
        )
        .await?
        .into_iter()
        .filter(|j| j.env == env)
        .collect())
    }

    /// A break-glass is loud: the audit channel and the env's announce channels hear
    /// of it, with the freeze it broke and the reason.
    pub(crate) async fn break_glass_notice(&self, job: &Job, window: &Window) {
        let Some(reason) = &job.break_glass else {
            return;
        };
        let mut recipients: Vec<String> =
            self.ctx.config.bot.audit_channel.iter().cloned().collect();
        for channel in self.ctx.config.announce_channels(&job.env) {
            if !recipients.contains(channel) {
                recipients.push(channel.clone());
            }
        }
        if recipients.is_empty() {
            return;
        }
        let announcement = Announcement {
            sender: "deckhand".into(),
            recipients,
            kind: AnnouncementType::Blocker,
            priority: Priority::High,
            subject: format!(
                "🔥 Break-glass: {} #{} of `{}` to {} by {}",
                job.kind.as_str(),
                job.id,
                subject(job),
                job.env,
                job.requester_name
            ),
            message: format!(
                "{} went through a freeze: {}. Reason: {reason}",
                job.requester_name,
                freeze_text(window, self.now(), &self.ctx.config.clock)
            ),
            references: vec![format!("#{}", job.id)],
            attention: None,
        };
        if let Err(e) = self.announce_news(announcement).await {
            tracing::error!(error = %format!("{e:#}"), "could not post the break-glass notice");
        }
    }
}

/// A plan's line on whether the person may do it.
pub(crate) fn allowed_line(
    allowed: &Result<(), Refusal>,
    act: &str,
    env: &str,
    clock: &crate::clock::Clock,
) -> String {
    match allowed {
        Ok(()) => format!("✅ You may {act} `{env}`."),
        Err(refusal) => format!("⛔ {}", refusal.render(clock)),
    }
}
