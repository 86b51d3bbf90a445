//! The inbox: every verified inbound event, stored before the platform is acknowledged,
//! deduplicated by its delivery id, claimed by the process handling it, and marked
//! handled at the end, so a crash in between loses nothing and repeats nothing.

use sqlx::{Any, Executor, FromRow};

use crate::chat::{Event, Person};

/// An event as the inbox holds it.
#[derive(Debug, Clone)]
pub struct Stored {
    pub id: i64,
    pub received_at: i64,
    pub event: Event,
}

#[derive(FromRow)]
struct Row {
    id: i64,
    delivery_id: Option<String>,
    platform: String,
    channel: String,
    user_id: String,
    user_name: String,
    kind: String,
    text: Option<String>,
    message_id: Option<String>,
    emoji: Option<String>,
    added: Option<i64>,
    received_at: i64,
}

impl Row {
    fn into_stored(self) -> Stored {
        let user = Person {
            id: self.user_id,
            name: self.user_name,
        };
        // The platform prefix was added on the way in; the event carries the bare id.
        let event_id = self.delivery_id.map(|d| match d.split_once(':') {
            Some((platform, id)) if platform == self.platform => id.to_owned(),
            _ => d,
        });
        let event = match self.kind.as_str() {
            "reaction" => Event::Reaction {
                platform: self.platform,
                channel: self.channel,
                message_id: self.message_id.unwrap_or_default(),
                user,
                emoji: self.emoji.unwrap_or_default(),
                added: self.added.unwrap_or(1) != 0,
                event_id,
            },
            _ => Event::Command {
                platform: self.platform,
                channel: self.channel,
                user,
                text: self.text.unwrap_or_default(),
                event_id,
            },
        };
        Stored {
            id: self.id,
            received_at: self.received_at,
            event,
        }
    }
}

/// The key a delivery is deduplicated by: `platform:id`.
fn delivery_key(event: &Event) -> Option<String> {
    let (platform, id) = match event {
        Event::Command {
            platform, event_id, ..
        }
        | Event::Reaction {
            platform, event_id, ..
        } => (platform, event_id.as_ref()?),
    };
    Some(format!("{platform}:{id}"))
}

/// How far back a reaction without a delivery id is compared with the same person's last
/// one on the same message and emoji. Discord's gateway gives reactions no id, so a
/// replay after a RESUME, or a second gateway during a failover, would otherwise act
/// twice; a replay comes within minutes.
pub const REACTION_REPEAT_MS: i64 = 300_000;

/// The dedupe key of a reaction without a delivery id, before the store appends its
/// ordinal (how many such events it holds for this person, message and emoji): two
/// replicas storing the same event at the same instant compute the same key and meet on
/// the unique index.
fn reaction_key(event: &Event) -> Option<String> {
    match event {
        Event::Reaction {
            platform,
            message_id,
            user,
            emoji,
            event_id: None,
            ..
        } => Some(format!(
            "{platform}:reaction:{message_id}:{}:{emoji}:",
            user.id
        )),
        _ => None,
    }
}

/// Stores `event`, claimed by `claimant` until `claimed_until`; `None` when its delivery
/// id was stored before (a retry or replay), or when it is a reaction without an id that
/// repeats the same person's last one on that message and emoji (an add after an add):
/// taking a reaction back and adding it again are two events, and both count.
pub async fn receive<'c>(
    db: impl Executor<'c, Database = Any>,
    event: &Event,
    claimant: &str,
    claimed_until: i64,
    now: i64,
) -> sqlx::Result<Option<i64>> {
    let (platform, channel, user, kind, text, message_id, emoji, added) = match event {
        // A pasted key is refused when the line is parsed; it is never stored.
        Event::Command {
            platform,
            channel,
            user,
            text,
            ..
        } => (
            platform,
            channel,
            user,
            "command",
            Some(deckhand_commands::without_credentials(text)),
            None,
            None,
            None,
        ),
        Event::Reaction {
            platform,
            channel,
            message_id,
            user,
            emoji,
            added,
            ..
        } => (
            platform,
            channel,
            user,
            "reaction",
            None,
            Some(message_id),
            Some(emoji),
            Some(i64::from(*added)),
        ),
    };
    let repeat_key = reaction_key(event);
    // `$14`: a reaction without a delivery id. Its key gets its ordinal, and it is a
    // repeat when the same person's last such event (within the window) did the same.
    let id: Option<(i64,)> = sqlx::query_as(
        "INSERT INTO inbox (delivery_id, platform, channel, user_id, user_name, kind, text, message_id, emoji, added, received_at, claimed_by, claimed_until) \
         SELECT CASE WHEN $14 THEN $1 || (SELECT COUNT(*) FROM inbox WHERE kind = 'reaction' \
                    AND message_id = $8 AND user_id = $4 AND platform = $2 AND emoji = $9) ELSE $1 END, \
                $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13 \
         WHERE NOT ($14 AND COALESCE((SELECT added FROM inbox WHERE kind = 'reaction' \
                    AND message_id = $8 AND user_id = $4 AND platform = $2 AND emoji = $9 \
                    AND received_at > $15 ORDER BY id DESC LIMIT 1) = $10, FALSE)) \
         ON CONFLICT (delivery_id) DO NOTHING RETURNING id",
    )
    .bind(delivery_key(event).or_else(|| repeat_key.clone()))
    .bind(platform)
    .bind(channel)
    .bind(&user.id)
    .bind(&user.name)
    .bind(kind)
    .bind(text)
    .bind(message_id)
    .bind(emoji)
    .bind(added)
    .bind(now)
    .bind(claimant)
    .bind(claimed_until)
    .bind(repeat_key.is_some())
    .bind(now - REACTION_REPEAT_MS)
    .fetch_optional(db)
    .await?;
    Ok(id.map(|(id,)| id))
}

/// Marks an event handled inside the transaction of what it did; `false` when it was
/// handled already (the caller rolls back).
pub async fn finish_once<'c>(
    db: impl Executor<'c, Database = Any>,
    id: i64,
    now: i64,
) -> sqlx::Result<bool> {
    let done = sqlx::query(
        "UPDATE inbox SET handled_at = $1, outcome = 'handled' WHERE id = $2 AND handled_at IS NULL",
    )
    .bind(now)
    .bind(id)
    .execute(db)
    .await?;
    Ok(done.rows_affected() == 1)
}

/// Marks an event done; `outcome` is `handled` or `expired`.
pub async fn finish<'c>(
    db: impl Executor<'c, Database = Any>,
    id: i64,
    outcome: &str,
    now: i64,
) -> sqlx::Result<()> {
    // An event its job already marked keeps the job's commit time.
    sqlx::query(
        "UPDATE inbox SET handled_at = $1, outcome = $2 WHERE id = $3 AND handled_at IS NULL",
    )
    .bind(now)
    .bind(outcome)
    .bind(id)
    .execute(db)
    .await?;
    Ok(())
}

/// Claims one unhandled event whose claim ran out (its handler died), for `claimant`.
/// Never one `claimant` claimed itself: while this process lives, so do its handlers,
/// however slow.
pub async fn claim_abandoned<'c>(
    db: impl Executor<'c, Database = Any>,
    claimant: &str,
    claimed_until: i64,
    now: i64,
) -> sqlx::Result<Option<Stored>> {
    let row: Option<Row> = sqlx::query_as(
        "UPDATE inbox SET claimed_by = $1, claimed_until = $2 \
         WHERE id = (SELECT id FROM inbox WHERE handled_at IS NULL AND claimed_until < $3 \
                     AND (claimed_by IS NULL OR claimed_by <> $1) ORDER BY id LIMIT 1) \
         AND handled_at IS NULL AND claimed_until < $3 \
         RETURNING id, delivery_id, platform, channel, user_id, user_name, kind, text, message_id, emoji, added, received_at",
    )
    .bind(claimant)
    .bind(claimed_until)
    .bind(now)
    .fetch_optional(db)
    .await?;
    Ok(row.map(Row::into_stored))
}

/// Extends `claimant`'s claims on the events it is still handling to `claimed_until`,
/// but only those with less than half of that span left at `now`, so a sweep every
/// second does not rewrite every claim: a slow handler keeps its event while its
/// process lives.
pub async fn renew<'c>(
    db: impl Executor<'c, Database = Any>,
    claimant: &str,
    now: i64,
    claimed_until: i64,
) -> sqlx::Result<u64> {
    let half = (claimed_until - now) / 2;
    let done = sqlx::query(
        "UPDATE inbox SET claimed_until = $2 \
         WHERE claimed_by = $1 AND handled_at IS NULL AND claimed_until < $3",
    )
    .bind(claimant)
    .bind(claimed_until)
    .bind(now + half)
    .execute(db)
    .await?;
    Ok(done.rows_affected())
}

/// Frees every unhandled event's claim but `keep`'s: at start on SQLite, where the
/// claimants are dead processes.
pub async fn release_claims<'c>(
    db: impl Executor<'c, Database = Any>,
    keep: &str,
) -> sqlx::Result<u64> {
    let done = sqlx::query(
        "UPDATE inbox SET claimed_until = 0 WHERE handled_at IS NULL AND (claimed_by IS NULL OR claimed_by <> $1)",
    )
    .bind(keep)
    .execute(db)
    .await?;
    Ok(done.rows_affected())
}

/// Forgets handled events older than `before`: platforms stop retrying within minutes,
/// and the table must not grow forever.
pub async fn forget_before<'c>(
    db: impl Executor<'c, Database = Any>,
    before: i64,
) -> sqlx::Result<u64> {
    let done = sqlx::query("DELETE FROM inbox WHERE handled_at IS NOT NULL AND received_at < $1")
        .bind(before)
        .execute(db)
        .await?;
    Ok(done.rows_affected())
}

/// Events stored and not yet handled, for `/metrics` and tests.
pub async fn unhandled<'c>(db: impl Executor<'c, Database = Any>) -> sqlx::Result<i64> {
    let (count,): (i64,) = sqlx::query_as("SELECT COUNT(*) FROM inbox WHERE handled_at IS NULL")
        .fetch_one(db)
        .await?;
    Ok(count)
}
