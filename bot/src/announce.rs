//! Announcements: routed to channels on every platform, stored with the messages that
//! show them (so an update edits in place), deduplicated by idempotency key, and posted
//! later when scheduled.

use std::collections::BTreeSet;

use anyhow::Context as _;
use deckhand_commands::Priority;

use std::sync::Arc;

use crate::chat::{Origin, Posted};
use crate::ctx::Ctx;
use crate::policy;
use crate::render::{Announcement, Message};
use crate::store::messages::Subject;
use crate::store::{announcements, now_ms};

/// What happened to an announcement that was asked for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    Posted {
        id: i64,
        messages: Vec<Posted>,
    },
    /// Its idempotency key was seen before: nothing new was posted.
    Duplicate {
        id: i64,
        messages: Vec<Posted>,
    },
    Scheduled {
        id: i64,
        at: i64,
    },
}

/// Who an announcement's audit rows name: the person who typed `/announce`, the REST
/// API's token, or deckhand itself (job and incident news). The body's `sender` is
/// content, never identity: anyone with the token can write any sender.
#[derive(Debug, Clone)]
pub struct Actor {
    pub id: String,
    pub platform: String,
}

impl Actor {
    pub fn person(origin: &Origin) -> Actor {
        Actor {
            id: origin.user.id.clone(),
            platform: origin.platform.clone(),
        }
    }

    /// A REST call with `DECKHAND_API_TOKEN` (one token, so one name).
    pub fn api() -> Actor {
        Actor {
            id: "api".into(),
            platform: "api".into(),
        }
    }

    /// deckhand announcing what it did (a job's outcome, an incident resolved).
    pub fn deckhand() -> Actor {
        Actor {
            id: "deckhand".into(),
            platform: "deckhand".into(),
        }
    }
}

/// Announcements: from chat (`/announce`), the REST API and jobs.
pub struct Announcements {
    ctx: Arc<Ctx>,
}

/// How long a poster holds an announcement before another may finish it: longer than
/// any wait behind a rate limit.
const POSTING_CLAIM: std::time::Duration = std::time::Duration::from_secs(300);
/// How long after a failed delivery the sweeper tries the missing channels again.
const RETRY: std::time::Duration = std::time::Duration::from_secs(30);

impl Announcements {
    pub fn new(ctx: Arc<Ctx>) -> Announcements {
        Announcements { ctx }
    }

    /// `/announce`: for the announcer roles (default: admins), to every announce channel.
    pub async fn command(
        &self,
        origin: &Origin,
        kind: deckhand_commands::AnnouncementType,
        priority: Priority,
        subject: String,
        message: String,
    ) -> anyhow::Result<()> {
        policy::may_announce(&self.ctx.config, &origin.user.id)?;
        let announcement = Announcement {
            sender: origin.user.name.clone(),
            recipients: vec!["all".into()],
            kind,
            priority,
            subject,
            message,
            references: Vec::new(),
            attention: None,
        };
        match self
            .announce(announcement, None, None, &Actor::person(origin))
            .await?
        {
            Outcome::Posted { messages, .. } => {
                let text = format!("📣 Announced in {} channel(s).", messages.len());
                self.ctx.whisper(origin, text).await;
            }
            other => tracing::debug!(?other, "announcement"),
        }
        Ok(())
    }

    /// The channel refs an announcement goes to: `all` means every announce channel of
    /// every platform; the config's per-type routes are always added.
    pub fn route(&self, announcement: &Announcement) -> Vec<String> {
        let mut channels = BTreeSet::new();
        for recipient in &announcement.recipients {
            if recipient == "all" {
                channels.extend(self.ctx.config.bot.announce.iter().cloned());
            } else {
                channels.insert(recipient.clone());
            }
        }
        if let Some(extra) = self.ctx.config.bot.announce_routes.get(&announcement.kind) {
            channels.extend(extra.iter().cloned());
        }
        channels.into_iter().collect()
    }

    /// Posts (or schedules) an announcement and remembers where it went.
    pub async fn announce(
        &self,
        mut announcement: Announcement,
        key: Option<&str>,
        scheduled_for: Option<i64>,
        actor: &Actor,
    ) -> anyhow::Result<Outcome> {
        if announcement.priority == Priority::Urgent {
            announcement.attention = self.ctx.config.attention().map(str::to_owned);
        }
        let body = serde_json::to_string(&announcement)?;
        let now = now_ms();
        let due_later = scheduled_for.filter(|at| *at > now);
        // The announcement and its audit row commit together.
        let mut tx = self.ctx.store.pool.begin().await?;
        let id =
            match announcements::insert(&mut *tx, key, &body, &announcement.sender, due_later, now)
                .await?
            {
                Some(id) => id,
                None => {
                    tx.rollback().await?;
                    let existing =
                        announcements::by_key(&self.ctx.store.pool, key.unwrap_or_default())
                            .await?
                            .context("an idempotency key without its announcement")?;
                    return Ok(Outcome::Duplicate {
                        id: existing.id,
                        messages: self.announcement_messages(existing.id).await?,
                    });
                }
            };
        let audit = self.ctx.audit_row(
            &actor.id,
            &actor.platform,
            "announcement.created",
            None,
            None,
            &format!(
                "#{id} {}: {} (sender: {})",
                announcement.kind, announcement.subject, announcement.sender
            ),
        );
        crate::store::audit::append(&mut tx, &audit).await?;
        tx.commit().await?;
        if let Some(at) = due_later {
            return Ok(Outcome::Scheduled { id, at });
        }
        let messages = self.post_announcement(id, &announcement, now).await?;
        Ok(Outcome::Posted { id, messages })
    }

    /// Posts a stored announcement to every channel it has not reached yet. It counts
    /// as posted when each platform accepted it; a channel that failed is tried again by
    /// the sweeper (`post_due`), and a poster that dies mid-way loses its claim.
    async fn post_announcement(
        &self,
        id: i64,
        announcement: &Announcement,
        now: i64,
    ) -> anyhow::Result<Vec<Posted>> {
        let pool = &self.ctx.store.pool;
        if !announcements::claim(pool, id, now, now + POSTING_CLAIM.as_millis() as i64).await? {
            return self.announcement_messages(id).await;
        }
        let delivered = announcements::delivered(pool, id).await?;
        let message = Message::Announcement(announcement.clone());
        let mut missing = 0;
        for channel in self.route(announcement) {
            if delivered.contains(&channel) || !self.ctx.chat.reaches(&channel) {
                continue;
            }
            let subject = Subject::Announcement(id);
            match self.ctx.post_subject(&channel, &message, subject).await? {
                Some(_) => announcements::record_delivery(pool, id, &channel, now_ms()).await?,
                None => missing += 1,
            }
        }
        let now = now_ms();
        match missing {
            0 => announcements::release(pool, id, Some(now), None).await?,
            _ => {
                announcements::release(pool, id, None, Some(now + RETRY.as_millis() as i64)).await?
            }
        }
        if missing > 0 {
            tracing::warn!(
                announcement = id,
                missing,
                "not every channel took the announcement; will retry"
            );
        }
        self.announcement_messages(id).await
    }

    /// Every message that shows the announcement.
    pub async fn announcement_messages(&self, id: i64) -> anyhow::Result<Vec<Posted>> {
        let mut posted = self.ctx.posted(Subject::Announcement(id)).await?;
        posted.sort_by(|a, b| (&a.platform, &a.channel).cmp(&(&b.platform, &b.channel)));
        Ok(posted)
    }

    /// Replaces an announcement's content and edits every message that shows it.
    /// `None` when no announcement has that key.
    pub async fn update_announcement(
        &self,
        key: &str,
        mut announcement: Announcement,
        actor: &Actor,
    ) -> anyhow::Result<Option<(i64, Vec<Posted>)>> {
        let Some(existing) = announcements::by_key(&self.ctx.store.pool, key).await? else {
            return Ok(None);
        };
        if announcement.priority == Priority::Urgent {
            announcement.attention = self.ctx.config.attention().map(str::to_owned);
        }
        let audit = self.ctx.audit_row(
            &actor.id,
            &actor.platform,
            "announcement.updated",
            None,
            None,
            &format!(
                "#{} {} (sender: {})",
                existing.id, announcement.subject, announcement.sender
            ),
        );
        let subject = Subject::Announcement(existing.id);
        // The new content, its audit row and the redraw of its messages: all or nothing.
        let mut tx = self.ctx.store.pool.begin().await?;
        announcements::update_body(
            &mut *tx,
            existing.id,
            &serde_json::to_string(&announcement)?,
            now_ms(),
        )
        .await?;
        crate::store::audit::append(&mut tx, &audit).await?;
        self.ctx.redraw_in(&mut tx, subject).await?;
        tx.commit().await?;
        self.ctx.ring();
        let messages = self.announcement_messages(existing.id).await?;
        if !self.ctx.is_durable() {
            self.ctx
                .edit_now(subject, &Message::Announcement(announcement))
                .await?;
        }
        Ok(Some((existing.id, messages)))
    }

    /// Posts the scheduled announcements that are due at `now`.
    pub async fn post_due(&self, now: i64) -> anyhow::Result<()> {
        for due in announcements::due(&self.ctx.store.pool, now).await? {
            let announcement: Announcement =
                serde_json::from_str(&due.body).context("a stored announcement")?;
            self.post_announcement(due.id, &announcement, now).await?;
        }
        Ok(())
    }
}
