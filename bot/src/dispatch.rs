//! Where commands meet features: each verified event is deduplicated, rate-limited and
//! sent to the one handler that decides it; a refusal comes back as a value and is
//! answered, audited and logged here.

use std::sync::Arc;

use deckhand_commands::{Command, help, help_for, parse};
use tracing::Instrument as _;

use crate::chat::{Event, Origin};
use crate::jobs::Engine;
use crate::refusal::Refusal;
use crate::store::{events, now_ms};

/// How many jobs `/history` shows by default.
const DEFAULT_HISTORY: u32 = 10;

impl Engine {
    /// Handles one event to its end (answers sent, job created), not to the job's end.
    pub async fn handle(self: &Arc<Self>, event: Event) {
        let (platform, channel, user, event_id) = match &event {
            Event::Command {
                platform,
                channel,
                user,
                event_id,
                ..
            }
            | Event::Reaction {
                platform,
                channel,
                user,
                event_id,
                ..
            } => (platform, channel, user, event_id),
        };
        let origin = Origin {
            platform: platform.clone(),
            channel: channel.clone(),
            user: user.clone(),
        };
        let span =
            tracing::info_span!("event", platform = %origin.platform, user = %origin.user.id);
        let event_id = event_id.clone();
        self.handle_in_span(origin, event, event_id)
            .instrument(span)
            .await;
        self.events_handled
            .fetch_add(1, std::sync::atomic::Ordering::SeqCst);
    }

    async fn handle_in_span(
        self: &Arc<Self>,
        origin: Origin,
        event: Event,
        event_id: Option<String>,
    ) {
        let result = async {
            if let Some(id) = &event_id {
                let key = format!("{}:{id}", origin.platform);
                if !events::first_seen(&self.store().pool, &key, now_ms()).await? {
                    tracing::info!(event_id = %id, "duplicate delivery ignored");
                    return Ok(());
                }
            }
            match event {
                Event::Command { text, .. } => {
                    self.metrics.commands.inc();
                    if self.commands.check_key(&origin.user.id).is_err() {
                        return Err(Refusal::RateLimited.into());
                    }
                    self.command(&origin, &text).await
                }
                Event::Reaction {
                    message_id,
                    emoji,
                    added,
                    ..
                } => self.reaction(&origin, &message_id, &emoji, added).await,
            }
        }
        .await;
        match result {
            Ok(()) => {}
            Err(error) => match error.downcast::<Refusal>() {
                Ok(refusal) => self.ctx.refuse(&origin, &refusal).await,
                Err(error) => self.internal_error(&origin, error).await,
            },
        }
    }

    /// Logs the detail; the person gets a short apology with a reference to find it.
    async fn internal_error(&self, origin: &Origin, error: anyhow::Error) {
        let reference = format!("E{:x}", now_ms() % 0xfffff);
        tracing::error!(%reference, error = %format!("{error:#}"), "handling an event failed");
        self.ctx.whisper(
            origin,
            format!("Sorry, something went wrong on my side (ref `{reference}`); nothing was changed that the card doesn't show. The team can find the details in deckhand's log."),
        )
        .await;
    }

    /// One command, to the feature that decides it.
    async fn command(self: &Arc<Self>, origin: &Origin, text: &str) -> anyhow::Result<()> {
        let command = parse(text).map_err(Refusal::Unparsed)?;
        tracing::info!(command = %command, "command");
        match command {
            Command::Deploy(deploy) => self.deploy(origin, deploy).await,
            Command::Rollback { env, app, to } => self.rollback(origin, &env, app, to).await,
            Command::Backup { env, database } => self.backup(origin, &env, database).await,
            Command::BackupList { env } => self.backup_list(origin, &env).await,
            Command::Restore { env, backup } => self.restore(origin, &env, backup.0 as i64).await,
            Command::Status { env } => self.status(origin, env.as_deref()).await,
            Command::History { env, limit } => {
                self.history(origin, &env, limit.unwrap_or(DEFAULT_HISTORY))
                    .await
            }
            Command::Cancel { job } => self.cancel(origin, job.0 as i64).await,
            Command::Lock {
                env,
                duration,
                reason,
            } => self.lock(origin, &env, duration, reason).await,
            Command::Unlock { env } => self.unlock(origin, &env).await,
            Command::Approve { job } => {
                self.decide_by_command(origin, job.0 as i64, true, None)
                    .await
            }
            Command::Reject { job, reason } => {
                self.decide_by_command(origin, job.0 as i64, false, reason)
                    .await
            }
            Command::Help { topic } => {
                let text = match topic {
                    Some(name) => help_for(name),
                    None => help(),
                };
                self.ctx.whisper(origin, text).await;
                Ok(())
            }
            Command::Incident(incident) => self.incidents().command(origin, incident).await,
            Command::Announce {
                kind,
                priority,
                subject,
                message,
            } => {
                self.announcements()
                    .command(origin, kind, priority, subject, message)
                    .await
            }
            Command::Secrets(secrets) => self.secrets().command(origin, secrets).await,
        }
    }
}
