//! Where commands meet features: each verified event is deduplicated, rate-limited and
//! sent to the one handler that decides it; a refusal comes back as a value and is
//! answered, audited and logged here.

use std::sync::Arc;

use deckhand_commands::{Command, help, help_for, parse};
use tracing::Instrument as _;

use crate::chat::{Event, Origin};
use crate::jobs::Engine;
use crate::refusal::Refusal;
use crate::store::{inbox, now_ms};

/// How many jobs `/history` shows by default.
const DEFAULT_HISTORY: u32 = 10;

/// Why an event could not be taken: the adapter must not acknowledge it as received
/// (or, when deckhand is busy, says so in the acknowledgement).
#[derive(Debug, thiserror::Error)]
#[error("deckhand could not store the event: {0}")]
pub struct NotStored(#[from] crate::intake::Refused);

impl From<sqlx::Error> for NotStored {
    fn from(error: sqlx::Error) -> Self {
        NotStored(error.into())
    }
}

impl NotStored {
    /// Refused because too many events wait to be stored: load shed, not a failure.
    pub fn is_busy(&self) -> bool {
        matches!(self.0, crate::intake::Refused::Busy)
    }
}

impl Engine {
    /// Stores a verified event in the inbox, claimed by this process, before the
    /// platform is acknowledged. `None` for a delivery seen before (a retry or replay),
    /// which counts as handled.
    pub async fn receive(&self, event: &Event) -> Result<Option<i64>, NotStored> {
        let now = now_ms();
        let claimed_until = now + self.settings.lease.as_millis() as i64;
        let intake = self
            .intake
            .get_or_init(|| crate::intake::Intake::start(self.store().pool.clone()));
        let id = intake
            .receive(event, &self.instance, claimed_until, now)
            .await?;
        if id.is_none() {
            tracing::info!("duplicate delivery ignored");
            self.events_handled
                .fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        }
        Ok(id)
    }

    /// Stores and handles at once (the console, and callers with nobody to acknowledge).
    pub async fn handle(self: &Arc<Self>, event: Event) {
        match self.receive(&event).await {
            Ok(Some(id)) => self.handle_received(id, event).await,
            Ok(None) => {}
            Err(error) => {
                let origin = origin_of(&event);
                self.internal_error(&origin, error.into()).await;
                self.events_handled
                    .fetch_add(1, std::sync::atomic::Ordering::SeqCst);
            }
        }
    }

    /// Handles a stored event to its end (answers sent, job created), not to the job's
    /// end, and marks it handled.
    pub async fn handle_received(self: &Arc<Self>, id: i64, event: Event) {
        self.handle_stored(id, event).await;
        if let Err(error) = inbox::finish(&self.store().pool, id, "handled", now_ms()).await {
            // Handled but not marked: a restart within the replay window would repeat
            // it, which the delivery's own effects (one job per env lock, one decision
            // per person) make harmless; say so loudly.
            tracing::error!(inbox = id, %error, "could not mark an event handled");
        }
        self.events_handled
            .fetch_add(1, std::sync::atomic::Ordering::SeqCst);
    }

    async fn handle_stored(self: &Arc<Self>, inbox: i64, event: Event) {
        let origin = Origin {
            inbox: Some(inbox),
            ..origin_of(&event)
        };
        let span =
            tracing::info_span!("event", platform = %origin.platform, user = %origin.user.id);
        self.handle_in_span(origin, event).instrument(span).await;
    }

    async fn handle_in_span(self: &Arc<Self>, origin: Origin, event: Event) {
        let about = match &event {
            Event::Reaction { message_id, .. } => Some(message_id.clone()),
            Event::Command { .. } => None,
        };
        let result = async {
            match event {
                Event::Command { text, .. } => {
                    self.metrics.commands.inc();
                    if !self.within_limit(&origin) {
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
                Ok(refusal) => self.ctx.refuse(&origin, &refusal, about.as_deref()).await,
                Err(error) => self.internal_error(&origin, error).await,
            },
        }
    }
}

/// Where an event came from.
pub(crate) fn origin_of(event: &Event) -> Origin {
    let (platform, channel, user, reply) = match event {
        Event::Command {
            platform,
            channel,
            user,
            event_id,
            ..
        } => (platform, channel, user, event_id.clone()),
        Event::Reaction {
            platform,
            channel,
            user,
            ..
        } => (platform, channel, user, None),
    };
    Origin {
        platform: platform.clone(),
        channel: channel.clone(),
        user: user.clone(),
        reply,
        inbox: None,
    }
}

impl Engine {
    /// One limiter per person (not per account) for commands and the reactions
    /// deckhand acts on, so a script or a flood of ✅ costs little.
    pub(crate) fn within_limit(&self, origin: &Origin) -> bool {
        let person = self.ctx.config.person_of(&origin.user.id).to_owned();
        self.commands.check_key(&person).is_ok()
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
            Command::Rollback {
                env,
                app,
                to,
                dry_run,
                break_glass,
            } => {
                self.rollback(origin, &env, app, to, dry_run, break_glass)
                    .await
            }
            Command::Backup {
                env,
                database,
                dry_run,
            } => self.backup(origin, &env, database, dry_run).await,
            Command::BackupList { env } => self.backup_list(origin, &env).await,
            Command::Restore {
                env,
                backup,
                dry_run,
                break_glass,
            } => {
                self.restore(origin, &env, backup.0 as i64, dry_run, break_glass)
                    .await
            }
            Command::Status { env } => self.status(origin, env.as_deref()).await,
            Command::History { env, limit } => {
                self.history(origin, &env, limit.unwrap_or(DEFAULT_HISTORY))
                    .await
            }
            Command::Cancel { job, dry_run } => self.cancel(origin, job.0 as i64, dry_run).await,
            Command::Lock {
                env,
                duration,
                reason,
                dry_run,
            } => self.lock(origin, &env, duration, reason, dry_run).await,
            Command::Unlock { env, dry_run } => self.unlock(origin, &env, dry_run).await,
            Command::Freeze(freeze) => self.freeze(origin, freeze).await,
            Command::Unfreeze { env, dry_run } => self.unfreeze(origin, &env, dry_run).await,
            Command::Approve { job } => {
                self.decide_by_command(origin, job.0 as i64, true, None)
                    .await
            }
            Command::Reject { job, reason } => {
                self.decide_by_command(origin, job.0 as i64, false, reason)
                    .await
            }
            Command::Login => self.login(origin).await,
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
