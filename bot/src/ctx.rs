//! What every feature needs and nothing more: the config (with its clock), the store,
//! the chat platforms, the audit log (redacted), and the messages deckhand posted.

use std::sync::Arc;

use crate::chat::{Chat, Origin, Posted};
use crate::config::Config;
use crate::refusal::Refusal;
use crate::render::Message;
use crate::steps::Redactor;
use crate::store::messages::{self, PostedMessage, Subject};
use crate::store::{Store, audit, now_ms, outbox};

pub struct Ctx {
    pub config: Arc<Config>,
    pub store: Store,
    pub chat: Chat,
    redactor: Redactor,
    posting: InFlight,
    /// Whether sends go through the durable outbox: with Slack or Discord, whose calls
    /// can fail and be retried. The console prints at once (after a crash there is no
    /// terminal left to print to).
    durable: bool,
    pub(crate) outbox: OutboxState,
    /// Repeated refusals, answered and audited once per window.
    pub(crate) damper: crate::damper::Damper,
}

/// How long one refusal to one person about one thing is answered only once.
pub const REFUSAL_WINDOW: std::time::Duration = std::time::Duration::from_secs(600);
/// The most refusal windows kept in memory.
const REFUSAL_WINDOWS: usize = 10_000;

/// What the outbox's sender and its writers share in this process.
#[derive(Default)]
pub(crate) struct OutboxState {
    /// Rung when a row is written, so the sender does not wait for its next poll.
    pub bell: tokio::sync::Notify,
    /// Rows written by this process, and how many of those writes the sender has seen:
    /// unequal while something written is not yet claimed.
    pub written: std::sync::atomic::AtomicU64,
    pub seen: std::sync::atomic::AtomicU64,
    /// Rows this process's sender is sending now.
    pub sending: std::sync::atomic::AtomicUsize,
    /// Rows waiting that this sender does not hold (due later, or another's), as of
    /// its last pass.
    pub waiting: std::sync::atomic::AtomicUsize,
}

/// The longest a reaction waits, in all, for the post it may be about.
pub const IN_FLIGHT_PATIENCE: std::time::Duration = std::time::Duration::from_secs(10);

/// Posts that are sent but whose message ids are not stored yet.
#[derive(Default)]
struct InFlight {
    count: std::sync::atomic::AtomicUsize,
    done: tokio::sync::Notify,
}

/// Ends one post in flight when dropped, however the post ended.
struct Posting<'a>(&'a InFlight);

impl InFlight {
    fn begin(&self) -> Posting<'_> {
        self.count.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        Posting(self)
    }

    fn busy(&self) -> bool {
        self.count.load(std::sync::atomic::Ordering::SeqCst) > 0
    }

    /// Resolves when the next post in flight ends (created before looking, so none is
    /// missed).
    fn settled(&self) -> std::pin::Pin<Box<tokio::sync::futures::Notified<'_>>> {
        let mut notified = Box::pin(self.done.notified());
        notified.as_mut().enable();
        notified
    }
}

impl Drop for Posting<'_> {
    fn drop(&mut self) {
        self.0
            .count
            .fetch_sub(1, std::sync::atomic::Ordering::SeqCst);
        self.0.done.notify_waiters();
    }
}

impl Ctx {
    pub fn new(config: Arc<Config>, store: Store, chat: Chat) -> Ctx {
        let redactor = Redactor::from_env(&config.secret_names());
        let durable = chat.has("slack") || chat.has("discord");
        Ctx {
            config,
            store,
            chat,
            redactor,
            posting: InFlight::default(),
            durable,
            outbox: OutboxState::default(),
            damper: crate::damper::Damper::new(REFUSAL_WINDOW, REFUSAL_WINDOWS),
        }
    }

    /// Whether sends go through the outbox (Slack or Discord configured).
    pub fn is_durable(&self) -> bool {
        self.durable
    }

    /// Whether anything written to the outbox is not yet accepted by its platform.
    pub fn outbox_busy(&self) -> usize {
        use std::sync::atomic::Ordering::SeqCst;
        let unseen = self.outbox.written.load(SeqCst) != self.outbox.seen.load(SeqCst);
        usize::from(unseen) + self.outbox.sending.load(SeqCst) + self.outbox.waiting.load(SeqCst)
    }

    /// Tells the sender rows were written (after their transaction committed).
    pub fn ring(&self) {
        self.outbox
            .written
            .fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        self.outbox.bell.notify_one();
    }

    /// Writes a send to the outbox; `false` when it must be sent at once instead (the
    /// console, or a store that refused the row: better said now than never).
    async fn queue(&self, send: &outbox::Outgoing) -> bool {
        if !self.durable {
            return false;
        }
        match outbox::queue(&self.store.pool, send, now_ms()).await {
            Ok(()) => {
                self.ring();
                true
            }
            Err(error) => {
                tracing::error!(%error, "cannot write to the outbox; sending at once");
                false
            }
        }
    }

    /// Asks, inside the caller's transaction, for the subject's messages to be drawn
    /// again; the caller rings once it commits.
    pub async fn redraw_in(
        &self,
        tx: &mut sqlx::Transaction<'_, sqlx::Any>,
        subject: Subject,
    ) -> sqlx::Result<()> {
        if self.durable {
            outbox::redraw(&mut **tx, subject, now_ms()).await?;
        }
        Ok(())
    }

    pub fn redactor(&self) -> &Redactor {
        &self.redactor
    }

    /// An answer only the person sees.
    pub async fn whisper(&self, origin: &Origin, text: impl Into<String>) {
        // Inside the acknowledgement window the answer rides in the acknowledgement.
        let Err(text) = crate::chat::reply::collect(&origin.user.id, text.into()) else {
            return;
        };
        let send = outbox::Outgoing::Whisper {
            platform: origin.platform.clone(),
            channel: origin.channel.clone(),
            user: origin.user.clone(),
            reply: origin.reply.clone(),
            text,
        };
        if !self.queue(&send).await {
            self.send_now(&send).await;
        }
    }

    /// An answer the channel sees.
    pub async fn say(&self, origin: &Origin, text: impl Into<String>) {
        let send = outbox::Outgoing::Say {
            platform: origin.platform.clone(),
            channel: origin.channel.clone(),
            text: text.into(),
        };
        if !self.queue(&send).await {
            self.send_now(&send).await;
        }
    }

    /// A post to a channel ref (`slack:#audit`), through the outbox.
    pub async fn say_to(&self, channel_ref: &str, text: impl Into<String>) {
        let Some((platform, channel)) = crate::chat::split_channel(channel_ref) else {
            tracing::warn!(channel = channel_ref, "not a channel ref; nothing posted");
            return;
        };
        let send = outbox::Outgoing::Say {
            platform: platform.to_owned(),
            channel: channel.to_owned(),
            text: text.into(),
        };
        if !self.queue(&send).await {
            self.send_now(&send).await;
        }
    }

    /// Sends a whisper or a post on its platform; `false` when the platform refused
    /// (logged). Redraws are drawn by the engine, not here.
    pub(crate) async fn send_now(&self, send: &outbox::Outgoing) -> bool {
        match send {
            outbox::Outgoing::Whisper {
                platform,
                channel,
                user,
                reply,
                text,
            } => {
                self.chat
                    .whisper(
                        platform,
                        channel,
                        user,
                        reply.as_deref(),
                        &Message::text(text.clone()),
                    )
                    .await
            }
            outbox::Outgoing::Say {
                platform,
                channel,
                text,
            } => self
                .chat
                .post(platform, channel, &Message::text(text.clone()))
                .await
                .is_some(),
            outbox::Outgoing::Redraw(_) => false,
        }
    }

    /// Posts to a channel ref (`slack:#deploys`) and remembers what the message shows,
    /// so edits and reactions find it. `None` when the platform failed (logged).
    pub async fn post_subject(
        &self,
        channel_ref: &str,
        message: &Message,
        subject: Subject,
    ) -> anyhow::Result<Option<Posted>> {
        // A reaction can reach us before the post's own reply does (Slack and Discord
        // deliver events on another connection): it waits for posts in flight.
        let _posting = self.posting.begin();
        let Some(posted) = self.chat.post_to(channel_ref, message).await else {
            return Ok(None);
        };
        self.remember(&posted, subject).await?;
        Ok(Some(posted))
    }

    /// The message with this id, waiting (a bounded time) for posts still in flight
    /// when it is not known yet.
    pub async fn find_posted(
        &self,
        platform: &str,
        channel: &str,
        message_id: &str,
    ) -> anyhow::Result<Option<PostedMessage>> {
        // One deadline for the whole wait: under a steady stream of posts (a backlog
        // behind a rate limit) a reaction on a message deckhand never posted must not
        // wait for ever.
        let deadline = tokio::time::Instant::now() + IN_FLIGHT_PATIENCE;
        loop {
            let settled = self.posting.settled();
            let found = messages::find(&self.store.pool, platform, channel, message_id).await?;
            if found.is_some() || !self.posting.busy() {
                return Ok(found);
            }
            if tokio::time::timeout_at(deadline, settled).await.is_err() {
                return Ok(None);
            }
        }
    }

    /// Remembers that `posted` shows `subject`, so edits and reactions find it.
    pub async fn remember(&self, posted: &Posted, subject: Subject) -> anyhow::Result<()> {
        let message = PostedMessage {
            platform: posted.platform.clone(),
            channel: posted.channel.clone(),
            message_id: posted.message_id.clone(),
            subject,
            purpose: subject.purpose().to_owned(),
        };
        messages::remember(&self.store.pool, &message, now_ms()).await?;
        Ok(())
    }

    /// Every message that shows `subject`.
    pub async fn posted(&self, subject: Subject) -> anyhow::Result<Vec<Posted>> {
        Ok(messages::for_subject(&self.store.pool, subject)
            .await?
            .into_iter()
            .map(|m| Posted {
                platform: m.platform,
                channel: m.channel,
                message_id: m.message_id,
            })
            .collect())
    }

    /// Asks for `subject`'s messages to be drawn again through the outbox (with Slack
    /// or Discord), which draws it when it sends: a burst of changes is one edit of the
    /// latest state, and a crash loses none. `false`: the caller edits now instead.
    pub async fn redraw(&self, subject: Subject) -> bool {
        self.queue(&outbox::Outgoing::Redraw(subject)).await
    }

    /// Edits every message of `subject` now; `false` when a platform refused one.
    pub(crate) async fn edit_now(
        &self,
        subject: Subject,
        message: &Message,
    ) -> anyhow::Result<bool> {
        let mut all = true;
        for posted in self.posted(subject).await? {
            all &= self.chat.edit(&posted, message).await;
        }
        Ok(all)
    }

    /// Tells the person why not, and records that they were turned down.
    /// Answers and audits a refusal, once per person, thing and reason per
    /// [`REFUSAL_WINDOW`]: 150 refused ✅ on one card are one answer, one audit row and
    /// (when the window closes) one row with the count. `about` is the message reacted
    /// to, when there is one; otherwise the refusal's job or env.
    pub async fn refuse(&self, origin: &Origin, refusal: &Refusal, about: Option<&str>) {
        let row = refusal.audit();
        let key = crate::damper::Key {
            person: self.config.person_of(&origin.user.id).to_owned(),
            about: match (about, refusal) {
                (Some(message), _) => format!("message:{message}"),
                // GitHub's answers differ by commit and check: each one is news.
                (None, Refusal::GitHub { env, text, .. }) => format!("{env}#github:{text}"),
                (None, _) => format!(
                    "{}#{}",
                    row.env.as_deref().unwrap_or(""),
                    row.job.map(|j| j.to_string()).unwrap_or_default()
                ),
            },
            reason: refusal.kind(),
        };
        let (verdict, closed) = self
            .damper
            .note(key, &origin.user.id, &origin.platform, now_ms());
        if let Some(closed) = closed {
            self.audit_repeats(&closed).await;
        }
        if verdict == crate::damper::Verdict::Repeat {
            tracing::debug!(refusal = refusal.kind(), "refused again; answered already");
            return;
        }
        tracing::info!(refusal = refusal.kind(), "refused");
        self.audit(
            &origin.user.id,
            &origin.platform,
            &row.action,
            row.env.as_deref(),
            row.job,
            &row.detail,
        )
        .await;
        self.whisper(origin, refusal.render(&self.config.clock))
            .await;
    }

    /// The one audit row for a window's repeated refusals.
    pub(crate) async fn audit_repeats(&self, repeats: &crate::damper::Repeats) {
        self.audit(
            &repeats.actor,
            &repeats.platform,
            "refusal.repeated",
            None,
            None,
            &format!(
                "{} refused {} more time(s) about {} within {}",
                repeats.key.reason,
                repeats.count,
                repeats.key.about,
                crate::render::duration(REFUSAL_WINDOW.as_millis() as i64)
            ),
        )
        .await;
    }

    /// Appends to the audit log; a failure is logged, never hidden.
    /// An audit row for a change the caller writes in its own transaction (redacted
    /// here), so the change and its record commit together or not at all.
    pub fn audit_row(
        &self,
        actor: &str,
        platform: &str,
        action: &str,
        env: Option<&str>,
        job: Option<i64>,
        detail: &str,
    ) -> audit::AuditEntry {
        audit::AuditEntry {
            at: now_ms(),
            actor: actor.to_owned(),
            platform: platform.to_owned(),
            action: action.to_owned(),
            env: env.map(str::to_owned),
            job_id: job,
            detail: self.redactor.redact(detail),
            mark: None,
        }
    }

    pub async fn audit(
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
            mark: None,
        };
        if let Err(e) = audit::append_alone(&self.store.pool, &entry).await {
            tracing::error!(error = %e, ?entry, "cannot write the audit log");
        }
    }
}
