//! Where reactions meet features: the message reacted to says what it shows (a job card,
//! a secret's reminder), and the reaction goes to that feature.

use std::sync::Arc;

use crate::chat::{Origin, Verdict, verdict};
use crate::jobs::Engine;
use crate::store::{jobs, messages};

impl Engine {
    pub(crate) async fn reaction(
        self: &Arc<Self>,
        origin: &Origin,
        message_id: &str,
        emoji: &str,
        added: bool,
    ) -> anyhow::Result<()> {
        let pool = &self.store().pool;
        let found = messages::find(pool, &origin.platform, &origin.channel, message_id).await?;
        let Some(message) = found else {
            // A secret's reminder: ✅ records its rotation, 💤 snoozes it.
            if added
                && let Some(secret) = crate::store::secrets::secret_for_message(
                    pool,
                    &origin.platform,
                    &origin.channel,
                    message_id,
                )
                .await?
            {
                return self.secrets().reaction(origin, secret, emoji).await;
            }
            // Reactions on anything else mean nothing to deckhand.
            return Ok(());
        };
        let Some(verdict) = verdict(emoji) else {
            return Ok(());
        };
        let Some(job) = jobs::get(pool, message.job_id).await? else {
            return Ok(());
        };
        if !added {
            if verdict == Verdict::Approve {
                self.withdraw(origin, &job).await?;
            }
            return Ok(());
        }
        self.decide(origin, job, verdict == Verdict::Approve, None)
            .await
    }
}
