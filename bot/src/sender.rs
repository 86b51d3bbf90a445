//! The outbox's sender: drains the durable outbox onto Slack and Discord under their
//! rate limits, one lane per channel or subject, and retries what a platform refused.
//! A row goes only when the platform accepted it, so every whisper, post and redraw is
//! sent at least once, across crashes and restarts.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::atomic::Ordering::SeqCst;
use std::time::Duration;

use crate::jobs::Engine;
use crate::render::Message;
use crate::store::messages::Subject;
use crate::store::outbox::{self, Outgoing, Pending};
use crate::store::{announcements, now_ms};

/// How long a claim holds without renewal; renewed every `RENEW` while sending.
const CLAIM: Duration = Duration::from_secs(60);
const RENEW: Duration = Duration::from_secs(10);
/// Rows claimed per pass.
const BATCH: usize = 64;
/// How often the sender looks for rows nobody rang about (retries, other replicas').
const POLL: Duration = Duration::from_secs(1);
/// A row the platform refused this many times (each after its own retries) is given up.
const MAX_ATTEMPTS: i64 = 6;

impl Engine {
    /// Drains the outbox until the process ends. Shutdown does not stop it: what can be
    /// sent in the grace goes, the rest waits in the store for the next start.
    pub(crate) async fn send_outbox(self: Arc<Self>) {
        let mut renewed = tokio::time::Instant::now();
        loop {
            let seen = self.ctx.outbox.written.load(SeqCst);
            let now = now_ms();
            // Only as many as there is room for: what is claimed is held in memory.
            let room = self
                .settings
                .outbox_sending
                .saturating_sub(self.ctx.outbox.sending.load(SeqCst));
            let claimed = match room.min(BATCH) {
                0 => Ok(Vec::new()),
                room => {
                    outbox::claim(
                        &self.ctx.store.pool,
                        &self.instance,
                        now + CLAIM.as_millis() as i64,
                        now,
                        room as i64,
                    )
                    .await
                }
            };
            match claimed {
                Ok(rows) => {
                    self.ctx.outbox.sending.fetch_add(rows.len(), SeqCst);
                    for lane in lanes(rows) {
                        tokio::spawn(self.clone().send_lane(lane));
                    }
                }
                Err(error) => tracing::error!(%error, "cannot read the outbox"),
            }
            if renewed.elapsed() >= RENEW {
                renewed = tokio::time::Instant::now();
                let until = now_ms() + CLAIM.as_millis() as i64;
                if let Err(error) = outbox::renew(&self.ctx.store.pool, &self.instance, until).await
                {
                    tracing::error!(%error, "cannot renew the outbox claims");
                }
            }
            if let Ok(waiting) = outbox::waiting(&self.ctx.store.pool, &self.instance).await {
                self.ctx
                    .outbox
                    .waiting
                    .store(usize::try_from(waiting).unwrap_or(0), SeqCst);
            }
            self.ctx.outbox.seen.store(seen, SeqCst);
            let _ = tokio::time::timeout(POLL, self.ctx.outbox.bell.notified()).await;
        }
    }

    /// Sends one lane's rows in order: whispers and posts to one channel claimed in one
    /// pass keep the order they were written in (a later pass's lane may overlap it).
    async fn send_lane(self: Arc<Self>, lane: Vec<Pending>) {
        for pending in lane {
            let outcome = self.send_one(&pending).await;
            let pool = &self.ctx.store.pool;
            let written = match outcome {
                Outcome::Sent => outbox::sent(pool, &pending).await.map(|gone| {
                    if !gone {
                        // Changed while it was being drawn: draw it again now.
                        self.ctx.ring();
                    }
                }),
                Outcome::Refused(error) if pending.attempts + 1 < MAX_ATTEMPTS => {
                    let wait = Duration::from_secs(5 << pending.attempts.clamp(0, 6));
                    tracing::warn!(row = pending.id, %error, wait_s = wait.as_secs(), "the platform refused; trying again later");
                    let retried =
                        outbox::retry(pool, &pending, now_ms() + wait.as_millis() as i64, &error)
                            .await;
                    // Counted as waiting by the next pass, before this send stops counting.
                    self.ctx.ring();
                    retried
                }
                Outcome::Refused(error) => {
                    tracing::error!(row = pending.id, send = ?pending.send, %error, "the platform kept refusing; giving up");
                    outbox::drop_row(pool, pending.id).await
                }
                Outcome::Nothing => outbox::drop_row(pool, pending.id).await,
            };
            if let Err(error) = written {
                // The claim lapses and the row is sent again: at least once.
                tracing::error!(row = pending.id, %error, "cannot record an outbox send");
            }
            self.ctx.outbox.sending.fetch_sub(1, SeqCst);
        }
    }

    async fn send_one(&self, pending: &Pending) -> Outcome {
        match &pending.send {
            Outgoing::Redraw(subject) => match self.draw(*subject).await {
                Ok(Some(message)) => match self.ctx.edit_now(*subject, &message).await {
                    Ok(true) => Outcome::Sent,
                    Ok(false) => Outcome::Refused("a platform refused the edit".into()),
                    Err(error) => Outcome::Refused(format!("{error:#}")),
                },
                Ok(None) => Outcome::Nothing,
                Err(error) => Outcome::Refused(format!("{error:#}")),
            },
            Outgoing::Whisper {
                platform, channel, ..
            }
            | Outgoing::Say {
                platform, channel, ..
            } => {
                if !self.ctx.chat.reaches(&format!("{platform}:{channel}")) {
                    return Outcome::Nothing;
                }
                if self.ctx.send_now(&pending.send).await {
                    Outcome::Sent
                } else {
                    Outcome::Refused("the platform refused the message".into())
                }
            }
        }
    }

    /// A subject's messages as they should read now; `None` for a subject that is gone
    /// or whose messages are never edited (reminders).
    async fn draw(&self, subject: Subject) -> anyhow::Result<Option<Message>> {
        let pool = &self.ctx.store.pool;
        Ok(match subject {
            Subject::Job(id) => match crate::store::jobs::get(pool, id).await? {
                Some(job) => Some(self.card(job).await?),
                None => None,
            },
            Subject::Incident(id) => self.incidents().card_of(id).await?,
            Subject::Announcement(id) => match announcements::get(pool, id).await? {
                Some(stored) => Some(Message::Announcement(serde_json::from_str(&stored.body)?)),
                None => None,
            },
            Subject::Secret(_) => None,
        })
    }
}

enum Outcome {
    Sent,
    /// Nothing to send (a subject that is gone, a platform no longer configured).
    Nothing,
    Refused(String),
}

/// Groups claimed rows by where they go, keeping each group's order.
fn lanes(rows: Vec<Pending>) -> Vec<Vec<Pending>> {
    let mut lanes: BTreeMap<String, Vec<Pending>> = BTreeMap::new();
    for row in rows {
        let key = match &row.send {
            Outgoing::Whisper {
                platform, channel, ..
            }
            | Outgoing::Say {
                platform, channel, ..
            } => format!("{platform}:{channel}"),
            Outgoing::Redraw(subject) => format!("{subject:?}"),
        };
        lanes.entry(key).or_default().push(row);
    }
    lanes.into_values().collect()
}
