//! Where reactions meet features: the message reacted to says what it shows, and the
//! reaction goes to that feature (✅/❌ on a job card, ✅/💤 on a secret's reminder).

use std::sync::Arc;

use crate::chat::{Origin, Verdict, verdict};
use crate::jobs::Engine;
use crate::store::jobs;
use crate::store::messages::Subject;

impl Engine {
    pub(crate) async fn reaction(
        self: &Arc<Self>,
        origin: &Origin,
        message_id: &str,
        emoji: &str,
        added: bool,
    ) -> anyhow::Result<()> {
        let pool = &self.store().pool;
        let found = self
            .ctx
            .find_posted(&origin.platform, &origin.channel, message_id)
            .await?;
        // Reactions on anything deckhand did not post mean nothing to it.
        let Some(message) = found else {
            return Ok(());
        };
        // A reaction deckhand acts on passes the person's limiter, as a command does.
        let limited = || -> anyhow::Result<()> {
            if self.within_limit(origin) {
                Ok(())
            } else {
                Err(crate::refusal::Refusal::RateLimited.into())
            }
        };
        match message.subject {
            Subject::Job(id) => {
                let Some(verdict) = verdict(emoji) else {
                    return Ok(());
                };
                limited()?;
                let Some(job) = jobs::get(pool, id).await? else {
                    return Ok(());
                };
                match (added, verdict) {
                    (true, verdict) => {
                        self.decide(origin, job, verdict == Verdict::Approve, None, "reaction")
                            .await
                    }
                    // A removed ✅ before quorum takes that approval back.
                    (false, Verdict::Approve) => self.withdraw(origin, &job).await,
                    (false, Verdict::Reject) => Ok(()),
                }
            }
            Subject::Secret(id) if added => {
                limited()?;
                self.secrets().reaction(origin, id, emoji).await
            }
            // Announcements and incident cards take no reactions; nor does taking back a
            // reaction on a reminder.
            Subject::Secret(_) | Subject::Announcement(_) | Subject::Incident(_) => Ok(()),
        }
    }
}
