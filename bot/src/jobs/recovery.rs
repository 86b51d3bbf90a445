//! After a crash: jobs that were running are `interrupted` (never re-run by themselves),
//! their locks freed and their channels told. Expired approvals end the same way.

use std::sync::Arc;

use super::Engine;
use crate::render::Message;
use crate::steps::supervise::{self, Leftover};
use crate::store::jobs::{self, Job, JobState};
use crate::store::{Dialect, inbox, now_ms, steps};

/// At start, the cards of jobs that ended within this long are redrawn.
const CARD_REDRAW_WINDOW: std::time::Duration = std::time::Duration::from_secs(3600);

impl Engine {
    /// Run once at start. On SQLite this process is the only runner, so anything left
    /// running or queued belongs to a process that died. On Postgres other replicas may
    /// be alive: only jobs whose lease ran out are taken (by the sweeper).
    pub(crate) async fn recover(self: &Arc<Self>) -> anyhow::Result<()> {
        if self.ctx.store.dialect == Dialect::Sqlite {
            let left =
                jobs::in_states(&self.ctx.store.pool, &[JobState::Running, JobState::Queued])
                    .await?;
            // Another deckhand still alive on this file (a console beside `deckhand run`)
            // owns these jobs: leave them to it, and to the lease sweeper if it dies.
            if left.iter().any(|j| {
                j.lease_owner
                    .as_deref()
                    .is_some_and(super::owner_alive_here)
            }) {
                tracing::warn!(
                    "another deckhand process is using this SQLite database; its jobs are left alone"
                );
                return Ok(());
            }
            for job in left {
                self.interrupt(&job).await?;
            }
            // Alone on the file: what a dead process had claimed is free at once.
            inbox::release_claims(&self.ctx.store.pool, &self.instance).await?;
            crate::store::announcements::release_claims(&self.ctx.store.pool).await?;
            crate::store::outbox::release_claims(&self.ctx.store.pool, &self.instance).await?;
        }
        self.redraw_recent_cards().await?;
        self.replay_abandoned().await
    }

    /// Card edits wait in the outbox, but a crash between a change and its outbox row
    /// (most changes write the row just after they commit) leaves a card behind, and a
    /// card's first post is not in the outbox. Cards are drawn from the store, so at
    /// start every recent job's card is redrawn to its last recorded state, and a live
    /// job whose card was never posted gets one (its approvers need something to react
    /// to).
    async fn redraw_recent_cards(&self) -> anyhow::Result<()> {
        let since = now_ms() - CARD_REDRAW_WINDOW.as_millis() as i64;
        for id in jobs::recently_active(&self.ctx.store.pool, since).await? {
            let has_card = !self
                .ctx
                .posted(crate::store::messages::Subject::Job(id))
                .await?
                .is_empty();
            match jobs::get(&self.ctx.store.pool, id).await? {
                Some(job) if !has_card && !job.state.is_terminal() => {
                    tracing::warn!(job = id, "posting the card a crash kept from being posted");
                    self.post_card(&job).await?;
                }
                Some(_) => self.refresh_card(id).await,
                None => {}
            }
        }
        Ok(())
    }

    /// Events stored but never handled by a process that died: handled once if they are
    /// younger than `bot.replay_window`, otherwise dropped and their author told.
    pub(crate) async fn replay_abandoned(self: &Arc<Self>) -> anyhow::Result<()> {
        let window = self
            .ctx
            .config
            .bot
            .replay_window
            .map(|w| w.as_std())
            .unwrap_or(crate::config::DEFAULT_REPLAY_WINDOW)
            .as_millis() as i64;
        loop {
            let now = now_ms();
            let claimed_until = now + self.settings.lease.as_millis() as i64;
            let Some(stored) =
                inbox::claim_abandoned(&self.ctx.store.pool, &self.instance, claimed_until, now)
                    .await?
            else {
                return Ok(());
            };
            if now - stored.received_at <= window {
                tracing::warn!(
                    inbox = stored.id,
                    "handling an event a stopped deckhand had not"
                );
                let me = self.clone();
                tokio::spawn(async move { me.handle_received(stored.id, stored.event).await });
                continue;
            }
            inbox::finish(&self.ctx.store.pool, stored.id, "expired", now).await?;
            let origin = crate::dispatch::origin_of(&stored.event);
            let what = match &stored.event {
                crate::chat::Event::Command { text, .. } => format!("`{text}`"),
                crate::chat::Event::Reaction { emoji, .. } => format!("your {emoji}"),
            };
            tracing::warn!(inbox = stored.id, "an event was too old to replay");
            self.ctx
                .whisper(
                    &origin,
                    format!("deckhand restarted before it could act on {what}; nothing was done, send it again."),
                )
                .await;
        }
    }

    /// Periodic. On every replica: its claims renewed, abandoned events replayed, repeat
    /// counts closed. On the leader only: expired approvals, pruning, locks of ended
    /// jobs, scheduled work and orphaned running jobs.
    pub(crate) async fn sweep(self: Arc<Self>) {
        loop {
            tokio::select! {
                _ = tokio::time::sleep(self.settings.sweep) => {}
                _ = self.shutdown.cancelled() => return,
            }
            let now = now_ms();
            // This process's handlers are alive while it is: their claims must not lapse
            // under a slow handler, or another replica would handle the event again.
            let held = now + self.settings.lease.as_millis() as i64;
            if let Err(e) = inbox::renew(&self.ctx.store.pool, &self.instance, now, held).await {
                tracing::error!(error = %e, "cannot renew the claims on events being handled");
            }
            if let Err(e) = self.replay_abandoned().await {
                tracing::error!(error = %format!("{e:#}"), "cannot replay abandoned events");
            }
            for repeats in self.ctx.damper.close_expired(now) {
                self.ctx.audit_repeats(&repeats).await;
            }
            if !self.leadership().is_leader() {
                continue;
            }
            match jobs::approval_expired(&self.ctx.store.pool, now).await {
                Ok(expired) => {
                    for job in expired {
                        if let Err(e) = self.expire(&job).await {
                            tracing::error!(job = job.id, error = %format!("{e:#}"), "cannot expire the job");
                        }
                    }
                }
                Err(e) => tracing::error!(error = %e, "cannot look for expired approvals"),
            }
            // Delivery ids are kept a week: far longer than any platform retries.
            if let Err(e) = inbox::forget_before(&self.ctx.store.pool, now - 7 * 86_400_000).await {
                tracing::warn!(error = %e, "could not prune old event ids");
            }
            let week_ago = now - 7 * 86_400_000;
            if let Err(e) =
                crate::store::github::prune_deliveries(&self.ctx.store.pool, week_ago).await
            {
                tracing::warn!(error = %e, "could not prune old GitHub deliveries");
            }
            match crate::store::locks::release_ended(&self.ctx.store.pool).await {
                Ok(freed) => {
                    for env in freed {
                        tracing::warn!(%env, "freed a lock its ended job still held");
                    }
                }
                Err(e) => tracing::error!(error = %e, "cannot look for locks of ended jobs"),
            }
            if let Err(e) = self.tick(now).await {
                tracing::error!(error = %format!("{e:#}"), "scheduled work failed");
            }
            match jobs::orphaned(&self.ctx.store.pool, now).await {
                Ok(orphans) => {
                    for job in orphans {
                        if let Err(e) = self.interrupt(&job).await {
                            tracing::error!(job = job.id, error = %format!("{e:#}"), "cannot interrupt the job");
                        }
                    }
                }
                Err(e) => tracing::error!(error = %e, "cannot look for orphaned jobs"),
            }
        }
    }

    async fn interrupt(&self, job: &Job) -> anyhow::Result<()> {
        let now = now_ms();
        let step = steps::list(&self.ctx.store.pool, job.id)
            .await?
            .into_iter()
            .find(|s| s.state == crate::store::steps::StepState::Running)
            .map(|s| s.name);
        // What the dead deckhand left running is stopped before the env is freed.
        let by_group = match steps::running_process(&self.ctx.store.pool, job.id).await? {
            Some(process) => supervise::stop(&process, self.settings.grace).await,
            None => Leftover::Gone,
        };
        // A deckhand killed after starting the program but before recording its group
        // left only the marker in the processes' environment.
        let by_marker = match steps::running_marker(&self.ctx.store.pool, job.id).await? {
            Some((marker, host)) => {
                supervise::stop_marked(&marker, &host, self.settings.grace).await
            }
            None => Leftover::Gone,
        };
        let stopped = by_group.worse(by_marker);
        let left = match stopped {
            Leftover::Gone => "",
            Leftover::Stopped { killed: false } => "; its processes were stopped (SIGTERM)",
            Leftover::Stopped { killed: true } => {
                "; its processes ignored SIGTERM and were killed (SIGKILL)"
            }
            Leftover::NotOurs => {
                "; its processes were started on another machine or boot, so they were not signalled"
            }
            Leftover::Stuck => {
                tracing::error!(
                    job = job.id,
                    "the step's processes survived SIGKILL; the env stays locked"
                );
                return Ok(());
            }
        };
        let error = match &step {
            Some(step) => {
                format!("interrupted: deckhand stopped while step `{step}` was running{left}")
            }
            None => "interrupted: deckhand stopped before the job could finish".to_owned(),
        };
        if !self
            .end(
                job,
                &[JobState::Running, JobState::Queued],
                JobState::Interrupted,
                Some(&error),
                &self.ctx.audit_row(
                    "deckhand",
                    "deckhand",
                    "job.interrupted",
                    Some(&job.env),
                    Some(job.id),
                    &error,
                ),
            )
            .await?
        {
            return Ok(());
        }
        steps::interrupt_running(&self.ctx.store.pool, job.id, now).await?;
        self.refresh_card(job.id).await;
        let what = crate::render::subject(job);
        let announcement = crate::render::Announcement {
            sender: "deckhand".into(),
            recipients: self.ctx.config.announce_channels(&job.env).to_vec(),
            kind: deckhand_commands::AnnouncementType::Blocker,
            priority: deckhand_commands::Priority::High,
            subject: format!(
                "{} #{} of `{}` to {} was interrupted",
                job.kind.title(),
                job.id,
                crate::render::subject(job),
                job.env
            ),
            message: format!(
                "{}. Nothing was re-run; check {} by hand.",
                error.trim_start_matches("interrupted: "),
                job.env
            ),
            references: vec![format!("#{}", job.id)],
            attention: None,
        };
        if let Err(e) = self.announce_news(announcement).await {
            tracing::error!(error = %format!("{e:#}"), "could not announce the interruption");
        }
        self.ctx.chat
            .post(&job.platform, &job.channel, &Message::text(format!(
                "⚠️ #{} ({} of `{what}` to `{}`) was interrupted: {}. Nothing was re-run. Check `{}`, then deploy again or roll back; the env is unlocked.",
                job.id,
                job.kind.as_str(),
                job.env,
                error.trim_start_matches("interrupted: "),
                job.env
            )))
            .await;
        Ok(())
    }
}
