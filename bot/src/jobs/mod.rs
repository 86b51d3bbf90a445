//! The job engine: turns verified events into jobs, approvals and answers; runs jobs;
//! keeps cards current; recovers after a crash.

mod approvals;
mod commands;
mod control;
mod create;
mod recovery;
mod runner;
mod views;

use std::collections::HashMap;
use std::num::NonZeroU32;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::sync::{Notify, Semaphore};
use tokio_util::sync::CancellationToken;
use tracing::Instrument as _;

use crate::chat::{Chat, Event, Person, Posted};
use crate::config::Config;
use crate::render::{JobCard, Message};
use crate::steps::Redactor;
use crate::store::jobs::{Job, JobState};
use crate::store::{
    Store, approvals as approval_rows, audit, events, jobs, messages, now_ms, steps,
};

/// Timings of the engine's background work. Tests shorten them.
#[derive(Debug, Clone)]
pub struct Settings {
    /// How long a claimed job's lease lasts without a heartbeat.
    pub lease: Duration,
    pub heartbeat: Duration,
    /// How often expired approvals and orphaned jobs are looked for.
    pub sweep: Duration,
    /// How often the runner looks for queued jobs when nothing woke it.
    pub poll: Duration,
    /// SIGTERM to SIGKILL, for cancelled and timed-out programs.
    pub grace: Duration,
}

impl Default for Settings {
    fn default() -> Self {
        Settings {
            lease: Duration::from_secs(30),
            heartbeat: Duration::from_secs(5),
            sweep: Duration::from_secs(1),
            poll: Duration::from_secs(2),
            grace: Duration::from_secs(5),
        }
    }
}

/// Where a command came from, and who sent it: answers go back there.
#[derive(Debug, Clone)]
pub struct Origin {
    pub platform: String,
    pub channel: String,
    pub user: Person,
}

/// The person deckhand acts as when it starts work by itself (automatic rollbacks).
pub fn deckhand_person() -> Person {
    Person {
        id: "deckhand".into(),
        name: "deckhand".into(),
    }
}

pub struct Engine {
    pub config: Arc<Config>,
    pub store: Store,
    pub chat: Chat,
    pub settings: Settings,
    /// This process, as the owner of job leases.
    instance: String,
    redactor: Redactor,
    http: reqwest::Client,
    /// Jobs this process runs, to cancel them at once.
    running: Mutex<HashMap<i64, CancellationToken>>,
    wake: Notify,
    slots: Arc<Semaphore>,
    shutdown: CancellationToken,
    /// Commands received, for `/metrics`.
    pub commands_received: std::sync::atomic::AtomicU64,
    /// Commands per person, so one script or one angry person can't flood the engine.
    commands: governor::DefaultKeyedRateLimiter<String>,
}

impl Engine {
    pub fn new(config: Arc<Config>, store: Store, chat: Chat, settings: Settings) -> Arc<Engine> {
        let redactor = Redactor::from_env(&config.secret_names());
        let slots = Arc::new(Semaphore::new(config.bot.max_concurrent_jobs.unwrap_or(4)));
        let http = reqwest::Client::builder()
            .user_agent(concat!("deckhand/", env!("CARGO_PKG_VERSION")))
            .build()
            .unwrap_or_default();
        let per_minute = NonZeroU32::new(config.bot.commands_per_minute.unwrap_or(30))
            .unwrap_or(NonZeroU32::MIN);
        let burst = per_minute.min(NonZeroU32::new(10).unwrap_or(NonZeroU32::MIN));
        let commands = governor::RateLimiter::keyed(
            governor::Quota::per_minute(per_minute).allow_burst(burst),
        );
        Arc::new(Engine {
            config,
            store,
            chat,
            settings,
            instance: format!(
                "{}-{}-{}",
                hostname(),
                std::process::id(),
                chrono::Utc::now().timestamp_millis()
            ),
            redactor,
            http,
            running: Mutex::new(HashMap::new()),
            wake: Notify::new(),
            slots,
            shutdown: CancellationToken::new(),
            commands,
            commands_received: std::sync::atomic::AtomicU64::new(0),
        })
    }

    /// Recovers from a previous crash, then starts the runner and the sweeper.
    pub async fn start(self: &Arc<Self>) -> anyhow::Result<()> {
        self.recover().await?;
        self.sync_config_secrets().await?;
        tokio::spawn(self.clone().run_queue());
        tokio::spawn(self.clone().sweep());
        Ok(())
    }

    /// Stops taking new jobs.
    pub fn stop(&self) {
        self.shutdown.cancel();
    }

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
    }

    async fn handle_in_span(
        self: &Arc<Self>,
        origin: Origin,
        event: Event,
        event_id: Option<String>,
    ) {
        let platform = &origin.platform;
        if let Some(id) = &event_id {
            match events::first_seen(&self.store.pool, &format!("{platform}:{id}"), now_ms()).await
            {
                Ok(true) => {}
                Ok(false) => {
                    tracing::info!(event_id = %id, "duplicate delivery ignored");
                    return;
                }
                Err(e) => return self.internal_error(&origin, e.into()).await,
            }
        }
        let result = match event {
            Event::Command { text, .. } => {
                self.commands_received
                    .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                if self.commands.check_key(&origin.user.id).is_err() {
                    self.whisper(&origin, "You're sending commands faster than I take them; wait a few seconds and try again.").await;
                    self.audit(
                        &origin.user.id,
                        &origin.platform,
                        "command.rate_limited",
                        None,
                        None,
                        "",
                    )
                    .await;
                    return;
                }
                self.command(&origin, &text).await
            }
            Event::Reaction {
                message_id,
                emoji,
                added,
                ..
            } => self.reaction(&origin, &message_id, &emoji, added).await,
        };
        if let Err(error) = result {
            self.internal_error(&origin, error).await;
        }
    }

    /// Logs the detail; the person gets a short apology with a reference to find it.
    async fn internal_error(&self, origin: &Origin, error: anyhow::Error) {
        let reference = format!("E{:x}", now_ms() % 0xfffff);
        tracing::error!(%reference, error = %format!("{error:#}"), "handling an event failed");
        self.whisper(
            origin,
            format!("Sorry, something went wrong on my side (ref `{reference}`); nothing was changed that the card doesn't show. The team can find the details in deckhand's log."),
        )
        .await;
    }

    /// An answer only the person sees.
    pub(crate) async fn whisper(&self, origin: &Origin, text: impl Into<String>) {
        self.chat
            .whisper(
                &origin.platform,
                &origin.channel,
                &origin.user,
                &Message::text(text),
            )
            .await;
    }

    /// An answer the channel sees.
    pub(crate) async fn say(&self, origin: &Origin, text: impl Into<String>) {
        self.chat
            .post(&origin.platform, &origin.channel, &Message::text(text))
            .await;
    }

    /// Appends to the audit log; a failure is logged, never hidden.
    pub(crate) async fn audit(
        &self,
        actor: &str,
        platform: &str,
        action: &str,
        env: Option<&str>,
        job: Option<i64>,
        detail: &str,
    ) {
        let entry = audit::AuditEntry {
            at: now_ms(),
            actor: actor.to_owned(),
            platform: platform.to_owned(),
            action: action.to_owned(),
            env: env.map(str::to_owned),
            job_id: job,
            detail: self.redactor.redact(detail),
        };
        if let Err(e) = audit::append(&self.store.pool, &entry).await {
            tracing::error!(error = %e, ?entry, "cannot write the audit log");
        }
    }

    /// The job's card as of now.
    async fn card(&self, job: Job) -> anyhow::Result<Message> {
        let steps = steps::list(&self.store.pool, job.id).await?;
        let approvals = approval_rows::list(&self.store.pool, job.id).await?;
        let approvers_hint = self
            .config
            .env(&job.env)
            .map(|e| {
                e.approvers
                    .iter()
                    .map(|a| format!("`{a}`"))
                    .collect::<Vec<_>>()
                    .join(", ")
            })
            .filter(|h| !h.is_empty())
            .unwrap_or_else(|| "`admins`".into());
        Ok(Message::Job(Box::new(JobCard {
            job,
            steps,
            approvals,
            approvers_hint,
            now: now_ms(),
        })))
    }

    /// Posts a job's card where the command came from and remembers it for reactions.
    async fn post_card(&self, job: &Job) -> anyhow::Result<Option<Posted>> {
        let message = self.card(job.clone()).await?;
        let Some(posted) = self.chat.post(&job.platform, &job.channel, &message).await else {
            return Ok(None);
        };
        messages::remember(
            &self.store.pool,
            &messages::MessageRef {
                platform: posted.platform.clone(),
                channel: posted.channel.clone(),
                message_id: posted.message_id.clone(),
                job_id: job.id,
                purpose: "card".into(),
            },
            now_ms(),
        )
        .await?;
        Ok(Some(posted))
    }

    /// Edits every card of a job to show its current state.
    async fn refresh_card(&self, job_id: i64) {
        let result: anyhow::Result<()> = async {
            let Some(job) = jobs::get(&self.store.pool, job_id).await? else {
                return Ok(());
            };
            let message = self.card(job).await?;
            for m in messages::for_job(&self.store.pool, job_id).await? {
                let posted = Posted {
                    platform: m.platform,
                    channel: m.channel,
                    message_id: m.message_id,
                };
                self.chat.edit(&posted, &message).await;
            }
            Ok(())
        }
        .await;
        if let Err(e) = result {
            tracing::error!(job = job_id, error = %format!("{e:#}"), "cannot refresh the job card");
        }
    }

    /// Ends a job: moves it from one of `from` to `to`, marks its unfinished steps
    /// skipped and (unless `keep_lock`) frees its env, in one transaction, so nobody
    /// sees a finished job whose env is still held. `false` when the job was not in
    /// `from` (someone else ended it first).
    async fn end(
        &self,
        job: &Job,
        from: &[JobState],
        to: JobState,
        error: Option<&str>,
        keep_lock: bool,
    ) -> anyhow::Result<bool> {
        let mut tx = self.store.pool.begin().await?;
        if !jobs::transition(&mut *tx, job.id, from, to, error, now_ms()).await? {
            tx.rollback().await?;
            return Ok(false);
        }
        steps::skip_rest(&mut *tx, job.id).await?;
        if !keep_lock {
            crate::store::locks::release_job(&mut *tx, &job.env, job.id).await?;
        }
        tx.commit().await?;
        Ok(true)
    }

    /// Waits until no job is queued and none of this process's jobs is running (jobs
    /// awaiting approval stay pending; another process's running jobs are its own).
    pub async fn wait_idle(&self) {
        loop {
            let local = self.running.lock().map(|r| r.len()).unwrap_or(0);
            let busy = jobs::in_states(&self.store.pool, &[JobState::Queued, JobState::Running])
                .await
                .map(|list| {
                    list.iter()
                        .filter(|j| {
                            j.state == JobState::Queued
                                || j.lease_owner.as_deref() == Some(self.instance.as_str())
                        })
                        .count()
                })
                .unwrap_or(0);
            if local == 0 && busy == 0 {
                return;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// How a time reads to people: in the configured time zone.
    pub(crate) fn clock(&self, ms: i64) -> String {
        let tz: chrono_tz::Tz = self
            .config
            .bot
            .timezone
            .as_deref()
            .and_then(|t| t.parse().ok())
            .unwrap_or(chrono_tz::UTC);
        chrono::DateTime::from_timestamp_millis(ms)
            .map(|t| t.with_timezone(&tz).format("%Y-%m-%d %H:%M %Z").to_string())
            .unwrap_or_default()
    }
}

/// Whether a lease owner (`host-pid-startms`) is a process alive on this machine: another
/// deckhand on the same SQLite file, whose jobs must not be taken for a crash's.
pub(crate) fn owner_alive_here(owner: &str) -> bool {
    let mut parts = owner.rsplitn(3, '-');
    let (Some(_started), Some(pid), Some(host)) = (parts.next(), parts.next(), parts.next()) else {
        return false;
    };
    let Ok(pid) = pid.parse::<u32>() else {
        return false;
    };
    host == hostname()
        && pid != std::process::id()
        && std::path::Path::new(&format!("/proc/{pid}")).exists()
}

fn hostname() -> String {
    std::fs::read_to_string("/etc/hostname")
        .ok()
        .map(|h| h.trim().to_owned())
        .filter(|h| !h.is_empty())
        .unwrap_or_else(|| "deckhand".into())
}
