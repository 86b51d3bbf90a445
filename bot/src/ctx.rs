//! What every feature needs and nothing more: the config (with its clock), the store,
//! the chat platforms, the audit log (redacted), and the messages deckhand posted.

use std::sync::Arc;

use crate::chat::{Chat, Origin, Posted};
use crate::config::Config;
use crate::refusal::Refusal;
use crate::render::Message;
use crate::steps::Redactor;
use crate::store::messages::{self, PostedMessage, Subject};
use crate::store::{Store, audit, now_ms};

pub struct Ctx {
    pub config: Arc<Config>,
    pub store: Store,
    pub chat: Chat,
    redactor: Redactor,
    posting: InFlight,
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
        Ctx {
            config,
            store,
            chat,
            redactor,
            posting: InFlight::default(),
        }
    }

    pub fn redactor(&self) -> &Redactor {
        &self.redactor
    }

    /// An answer only the person sees.
    pub async fn whisper(&self, origin: &Origin, text: impl Into<String>) {
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
    pub async fn say(&self, origin: &Origin, text: impl Into<String>) {
        self.chat
            .post(&origin.platform, &origin.channel, &Message::text(text))
            .await;
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

    /// Edits every message that shows `subject`.
    pub async fn edit_all(&self, subject: Subject, message: &Message) -> anyhow::Result<()> {
        for posted in self.posted(subject).await? {
            self.chat.edit(&posted, message).await;
        }
        Ok(())
    }

    /// Tells the person why not, and records that they were turned down.
    pub async fn refuse(&self, origin: &Origin, refusal: &Refusal) {
        tracing::info!(refusal = refusal.kind(), "refused");
        let row = refusal.audit();
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
        };
        if let Err(e) = audit::append(&self.store.pool, &entry).await {
            tracing::error!(error = %e, ?entry, "cannot write the audit log");
        }
    }
}
