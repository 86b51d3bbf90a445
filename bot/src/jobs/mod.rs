//! The job engine: creates jobs from commands, decides approvals, runs jobs, keeps their
//! cards current and recovers after a crash.

mod approvals;
pub mod binding;
mod commands;
mod control;
mod create;
mod freeze;
mod github;
mod news;
mod plan;
mod recovery;
mod runner;
mod views;

pub use views::EnvView;

use std::collections::HashMap;
use std::num::NonZeroU32;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::sync::{Notify, Semaphore};
use tokio_util::sync::CancellationToken;

use crate::announce::Announcements;
use crate::chat::{Chat, Person, Posted};
use crate::config::Config;
use crate::ctx::Ctx;
use crate::incidents::Incidents;
use crate::metrics::Metrics;
use crate::render::{JobCard, Message};
use crate::secrets::Secrets;
use crate::store::jobs::{Job, JobState};
use crate::store::messages::Subject;
use crate::store::{Store, approvals as approval_rows, jobs, now_ms, steps};

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
    /// Outbox rows this process holds in memory and sends at once: behind a 429 storm
    /// the rest wait in the store, not in memory.
    pub outbox_sending: usize,
    /// The time freeze windows are judged at (the system clock but in tests).
    pub now: crate::clock::Now,
}

impl Default for Settings {
    fn default() -> Self {
        Settings {
            lease: Duration::from_secs(30),
            heartbeat: Duration::from_secs(5),
            sweep: Duration::from_secs(1),
            poll: Duration::from_secs(2),
            grace: Duration::from_secs(5),
            outbox_sending: 256,
            now: crate::clock::Now::default(),
        }
    }
}

pub use crate::chat::Origin;

/// The person deckhand acts as when it starts work by itself (automatic rollbacks).
/// Beyond the step grace, how long a shutdown waits for stopped jobs to be recorded.
const SHUTDOWN_RECORD: Duration = Duration::from_secs(5);

pub fn deckhand_person() -> Person {
    Person {
        id: "deckhand".into(),
        name: "deckhand".into(),
    }
}

/// The job engine, and the holder of the features events reach through `dispatch`.
pub struct Engine {
    pub(crate) ctx: Arc<Ctx>,
    /// The inbox's group-commit writer, started by the first event.
    pub(crate) intake: std::sync::OnceLock<crate::intake::Intake>,
    announcements: Arc<Announcements>,
    incidents: Arc<Incidents>,
    secrets: Arc<Secrets>,
    pub(crate) settings: Settings,
    /// This process, as the owner of job leases and inbox claims.
    pub(crate) instance: String,
    http: reqwest::Client,
    /// Jobs this process runs, to cancel them at once.
    running: Mutex<HashMap<i64, CancellationToken>>,
    wake: Notify,
    slots: Arc<Semaphore>,
    shutdown: CancellationToken,
    pub(crate) metrics: Metrics,
    pub(crate) events_handled: std::sync::atomic::AtomicU64,
    /// Set when a shutdown stops the jobs still running: they end `interrupted`.
    stopping: std::sync::atomic::AtomicBool,
    /// Commands per person, so one script or one angry person can't flood the engine.
    pub(crate) commands: governor::DefaultKeyedRateLimiter<String>,
    /// Whether this replica runs the singletons; set at start.
    leadership: std::sync::OnceLock<Arc<crate::leader::Leadership>>,
    /// GitHub, when `GITHUB_TOKEN` or an App is configured.
    github: std::sync::OnceLock<Arc<crate::github::GitHub>>,
    /// One webhook-started deploy decision at a time in this process.
    pub(crate) auto_deploying: tokio::sync::Mutex<()>,
    /// GitHub deployment updates one at a time, so a job's deployment is created once
    /// and its statuses are posted in the order the job moved.
    pub(crate) deployment_updates: tokio::sync::Mutex<()>,
}

impl Engine {
    pub fn new(config: Arc<Config>, store: Store, chat: Chat, settings: Settings) -> Arc<Engine> {
        let slots = Arc::new(Semaphore::new(config.bot.max_concurrent_jobs.unwrap_or(4)));
        let http = reqwest::Client::builder()
            .user_agent(concat!("deckhand/", env!("CARGO_PKG_VERSION")))
            .redirect(crate::steps::http::same_origin_redirects())
            .build()
            .unwrap_or_default();
        let per_minute = NonZeroU32::new(config.bot.commands_per_minute.unwrap_or(30))
            .unwrap_or(NonZeroU32::MIN);
        let burst = per_minute.min(NonZeroU32::new(10).unwrap_or(NonZeroU32::MIN));
        let commands = governor::RateLimiter::keyed(
            governor::Quota::per_minute(per_minute).allow_burst(burst),
        );
        let ctx = Arc::new(Ctx::new(config, store, chat));
        let announcements = Arc::new(Announcements::new(ctx.clone()));
        let incidents = Arc::new(Incidents::new(ctx.clone(), announcements.clone()));
        let secrets = Arc::new(Secrets::new(ctx.clone()));
        Arc::new(Engine {
            intake: std::sync::OnceLock::new(),
            metrics: Metrics::new(ctx.clone()),
            ctx,
            announcements,
            incidents,
            secrets,
            settings,
            instance: format!(
                "{}-{}-{}",
                hostname(),
                std::process::id(),
                chrono::Utc::now().timestamp_millis()
            ),
            http,
            running: Mutex::new(HashMap::new()),
            wake: Notify::new(),
            slots,
            shutdown: CancellationToken::new(),
            commands,
            events_handled: std::sync::atomic::AtomicU64::new(0),
            stopping: std::sync::atomic::AtomicBool::new(false),
            leadership: std::sync::OnceLock::new(),
            github: std::sync::OnceLock::new(),
            auto_deploying: tokio::sync::Mutex::new(()),
            deployment_updates: tokio::sync::Mutex::new(()),
        })
    }

    /// Recovers from a previous crash, then starts the runner and the sweeper, and (on
    /// Postgres) contends for leadership.
    pub async fn start(self: &Arc<Self>) -> anyhow::Result<()> {
        self.leadership.get_or_init(|| {
            crate::leader::Leadership::start(&self.ctx.store, self.shutdown.clone())
        });
        self.recover().await?;
        self.secrets.sync_config().await?;
        tokio::spawn(self.clone().run_queue());
        tokio::spawn(self.clone().sweep());
        tokio::spawn(self.clone().send_outbox());
        Ok(())
    }

    /// Whether this replica runs the singletons (alone, until started on Postgres).
    pub fn leadership(&self) -> Arc<crate::leader::Leadership> {
        self.leadership
            .get_or_init(crate::leader::Leadership::alone)
            .clone()
    }

    /// Stops taking new jobs.
    pub fn stop(&self) {
        self.shutdown.cancel();
    }

    /// A graceful stop: claims nothing more, lets running jobs finish within `grace`,
    /// then stops their steps (SIGTERM, SIGKILL after the step grace) and records those
    /// jobs `interrupted` ("deckhand was stopped"). Returns the jobs it stopped.
    pub async fn shut_down(&self, grace: Duration) -> Vec<i64> {
        self.shutdown.cancel();
        let finished = tokio::time::Instant::now() + grace;
        while self.running_jobs() > 0 && tokio::time::Instant::now() < finished {
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        let stopped: Vec<i64> = match self.running.lock() {
            Ok(running) => {
                self.stopping
                    .store(true, std::sync::atomic::Ordering::SeqCst);
                running
                    .iter()
                    .map(|(id, token)| {
                        token.cancel();
                        *id
                    })
                    .collect()
            }
            Err(_) => Vec::new(),
        };
        // Each runner stops its step and records the end; give them the step grace.
        let recorded = tokio::time::Instant::now() + self.settings.grace + SHUTDOWN_RECORD;
        while self.running_jobs() > 0 && tokio::time::Instant::now() < recorded {
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        if !stopped.is_empty() {
            tracing::warn!(jobs = ?stopped, "stopped running jobs to shut down");
        }
        stopped
    }

    fn running_jobs(&self) -> usize {
        self.running.lock().map(|r| r.len()).unwrap_or(0)
    }

    /// Whether the jobs now ending were stopped by a shutdown.
    pub(crate) fn is_stopping(&self) -> bool {
        self.stopping.load(std::sync::atomic::Ordering::SeqCst)
    }

    pub fn config(&self) -> &Config {
        &self.ctx.config
    }

    /// The web page's sessions, with the store's signing key and `bot.session_ttl`.
    pub async fn sessions(&self) -> anyhow::Result<Arc<crate::web::session::Sessions>> {
        let bot = &self.ctx.config.bot;
        let ttl = bot
            .session_ttl
            .map(deckhand_commands::HumanDuration::as_std)
            .unwrap_or(crate::web::session::DEFAULT_SESSION_TTL);
        Ok(Arc::new(
            crate::web::session::Sessions::load(&self.ctx.store, ttl, bot.public_url.as_deref())
                .await?,
        ))
    }

    pub fn store(&self) -> &Store {
        &self.ctx.store
    }

    pub fn announcements(&self) -> &Announcements {
        &self.announcements
    }

    pub fn incidents(&self) -> &Incidents {
        &self.incidents
    }

    pub fn secrets(&self) -> &Secrets {
        &self.secrets
    }

    /// Events handled to their end since start (answered, deduplicated or refused), so a
    /// test can wait for deckhand to have decided everything it was sent.
    pub fn events_handled(&self) -> u64 {
        self.events_handled
            .load(std::sync::atomic::Ordering::SeqCst)
    }

    /// Whispers, posts and redraws written to the outbox and not yet accepted by their
    /// platform (0 when deckhand has said everything it meant to).
    pub fn outbox_busy(&self) -> usize {
        self.ctx.outbox_busy()
    }

    /// Outbox rows this process is sending now (at most `Settings::outbox_sending`).
    pub fn outbox_sending(&self) -> usize {
        self.ctx
            .outbox
            .sending
            .load(std::sync::atomic::Ordering::SeqCst)
    }

    /// Commands received since start, for `/metrics`.
    pub fn commands_received(&self) -> u64 {
        self.metrics.commands.get()
    }

    /// `/metrics` as of now.
    pub async fn metrics_text(&self) -> anyhow::Result<String> {
        self.metrics.render(&self.ctx).await
    }

    /// Work that is due at `now`: scheduled announcements, incident update reminders and
    /// secret reminders. The sweeper calls it every second; tests call it with the time
    /// they want.
    pub async fn tick(&self, now: i64) -> anyhow::Result<()> {
        self.announcements.post_due(now).await?;
        self.incidents.remind(now).await?;
        self.secrets.remind(now).await?;
        self.audit_checkpoint(now).await?;
        Ok(())
    }

    /// Every `bot.audit_checkpoint`, the audit chain's head goes to `bot.audit_channel`:
    /// a copy of the chain's state outside the database, which `deckhand audit verify
    /// --expect HASH` checks against later. Once per period, whichever replica leads.
    async fn audit_checkpoint(&self, now: i64) -> anyhow::Result<()> {
        use crate::store::audit;
        let Some(channel) = &self.ctx.config.bot.audit_channel else {
            return Ok(());
        };
        let every = self
            .ctx
            .config
            .bot
            .audit_checkpoint
            .map(deckhand_commands::HumanDuration::as_std)
            .unwrap_or(crate::config::DEFAULT_AUDIT_CHECKPOINT)
            .as_millis() as i64;
        let slot = now - now.rem_euclid(every);
        let pool = &self.ctx.store.pool;
        if audit::last_checkpoint(pool)
            .await?
            .is_some_and(|at| at >= slot)
        {
            return Ok(());
        }
        let head = audit::head(pool).await?;
        if !audit::record_checkpoint(pool, slot, &head).await? {
            return Ok(()); // another replica posted this period's
        }
        let text = format!(
            "🔗 Audit checkpoint {}: {} row(s), head `{}` (row {}). `deckhand audit verify --expect {}` checks the log still holds it.",
            self.clock(now),
            head.rows,
            head.hash,
            head.last_id,
            head.hash
        );
        self.ctx.say_to(channel, text).await;
        Ok(())
    }

    /// The job's card as of now.
    pub(crate) async fn card(&self, job: Job) -> anyhow::Result<Message> {
        let steps = steps::list(&self.ctx.store.pool, job.id).await?;
        let approvals = approval_rows::list(&self.ctx.store.pool, job.id).await?;
        let approvers_hint = self
            .ctx
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
        let page = self
            .ctx
            .config
            .bot
            .public_url
            .as_deref()
            .map(|url| format!("{}/jobs/{}", url.trim_end_matches('/'), job.id));
        Ok(Message::Job(Box::new(JobCard {
            job,
            steps,
            approvals,
            approvers_hint,
            now: now_ms(),
            page,
        })))
    }

    /// Posts a job's card where the command came from and remembers it for reactions.
    async fn post_card(&self, job: &Job) -> anyhow::Result<Option<Posted>> {
        let message = self.card(job.clone()).await?;
        let channel = format!("{}:{}", job.platform, job.channel);
        let posted = self
            .ctx
            .post_subject(&channel, &message, Subject::Job(job.id))
            .await?;
        // A runner may claim the job while its card is on the way: its edits found no
        // message to edit, so the card would show a state already gone until the next
        // step. Drawn again once it is posted.
        if posted.is_some()
            && jobs::get(&self.ctx.store.pool, job.id)
                .await?
                .is_some_and(|now| now.state != job.state)
        {
            self.refresh_card(job.id).await;
        }
        Ok(posted)
    }

    /// Edits every card of a job to show its current state.
    async fn refresh_card(&self, job_id: i64) {
        if self.ctx.redraw(Subject::Job(job_id)).await {
            return;
        }
        let result: anyhow::Result<()> = async {
            let Some(job) = jobs::get(&self.ctx.store.pool, job_id).await? else {
                return Ok(());
            };
            let message = self.card(job).await?;
            self.ctx.edit_now(Subject::Job(job_id), &message).await?;
            Ok(())
        }
        .await;
        if let Err(e) = result {
            tracing::error!(job = job_id, error = %format!("{e:#}"), "cannot refresh the job card");
        }
    }

    /// Ends a job: moves it from one of `from` to `to`, marks its unfinished steps
    /// skipped, frees its env and writes `audit`, in one transaction, so nobody sees a
    /// finished job whose env is still held or whose end is not in the audit log. `false` when the job was not in
    /// `from` (someone else ended it first).
    async fn end(
        &self,
        job: &Job,
        from: &[JobState],
        to: JobState,
        error: Option<&str>,
        audit: &crate::store::audit::AuditEntry,
    ) -> anyhow::Result<bool> {
        let mut tx = self.ctx.store.pool.begin().await?;
        if !jobs::transition(&mut *tx, job.id, from, to, error, now_ms()).await? {
            tx.rollback().await?;
            return Ok(false);
        }
        steps::skip_rest(&mut *tx, job.id).await?;
        crate::store::locks::release_job(&mut *tx, &job.env, job.id).await?;
        crate::store::audit::append(&mut tx, audit).await?;
        self.ctx.redraw_in(&mut tx, Subject::Job(job.id)).await?;
        tx.commit().await?;
        self.ctx.ring();
        self.deployment_moved(job.id).await;
        Ok(true)
    }

    /// Ends a running job this process runs, only while it still holds the lease: a
    /// runner that was fenced out changes nothing, and says why.
    async fn end_held(
        &self,
        job: &Job,
        to: JobState,
        error: Option<&str>,
        audit: &crate::store::audit::AuditEntry,
    ) -> anyhow::Result<bool> {
        let mut tx = self.ctx.store.pool.begin().await?;
        if !jobs::transition_held(&mut *tx, job.id, &self.instance, to, error, now_ms()).await? {
            tx.rollback().await?;
            tracing::error!(
                job = job.id,
                "the job is no longer this runner's (its lease lapsed or moved); its end was not written"
            );
            return Ok(false);
        }
        steps::skip_rest(&mut *tx, job.id).await?;
        crate::store::locks::release_job(&mut *tx, &job.env, job.id).await?;
        crate::store::audit::append(&mut tx, audit).await?;
        self.ctx.redraw_in(&mut tx, Subject::Job(job.id)).await?;
        tx.commit().await?;
        self.ctx.ring();
        self.deployment_moved(job.id).await;
        Ok(true)
    }

    /// Waits until no job is queued and none of this process's jobs is running (jobs
    /// awaiting approval stay pending; another process's running jobs are its own).
    pub async fn wait_idle(&self) {
        loop {
            let local = self.running.lock().map(|r| r.len()).unwrap_or(0);
            let busy =
                jobs::in_states(&self.ctx.store.pool, &[JobState::Queued, JobState::Running])
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
    pub fn clock(&self, ms: i64) -> String {
        self.ctx.config.clock.time(ms)
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
    host == hostname() && pid != std::process::id() && process_alive(pid)
}

/// Whether a process exists: signal 0 checks without sending anything (`EPERM` means it
/// exists but belongs to someone else).
fn process_alive(pid: u32) -> bool {
    let Ok(pid) = i32::try_from(pid) else {
        return false;
    };
    match nix::sys::signal::kill(nix::unistd::Pid::from_raw(pid), None) {
        Ok(()) => true,
        Err(errno) => errno == nix::errno::Errno::EPERM,
    }
}

/// This machine's name, for lease owners (`host-pid-startms`).
pub(crate) fn hostname() -> String {
    nix::unistd::gethostname()
        .ok()
        .and_then(|h| h.into_string().ok())
        .filter(|h| !h.is_empty())
        .unwrap_or_else(|| "deckhand".into())
}
