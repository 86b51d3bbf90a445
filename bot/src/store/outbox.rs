//! The outbox's rows: whispers, channel posts and redraws waiting to be said on a
//! platform, claimed by the sender that sends them and deleted when the platform
//! accepted them. Redraws of one subject share one row; its version counts the changes.

use sqlx::{Any, Executor, FromRow};

use crate::chat::Person;
use crate::store::messages::Subject;

/// What a row asks the sender to do.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outgoing {
    /// An answer only `user` sees.
    Whisper {
        platform: String,
        channel: String,
        user: Person,
        /// The platform's handle for answering the delivery privately (see `Origin`).
        reply: Option<String>,
        text: String,
    },
    /// Plain text the channel sees.
    Say {
        platform: String,
        channel: String,
        text: String,
    },
    /// Every message showing the subject, drawn again from its state when sent.
    Redraw(Subject),
}

/// A claimed row.
#[derive(Debug, Clone)]
pub struct Pending {
    pub id: i64,
    /// The version this claim saw: a redraw whose version moved on is sent again.
    pub version: i64,
    pub attempts: i64,
    pub send: Outgoing,
}

#[derive(FromRow)]
struct Row {
    id: i64,
    kind: String,
    platform: String,
    channel: String,
    user_id: Option<String>,
    user_name: Option<String>,
    reply_to: Option<String>,
    body: Option<String>,
    subject_kind: Option<String>,
    subject_id: Option<i64>,
    version: i64,
    attempts: i64,
}

impl Row {
    fn into_pending(self) -> Option<Pending> {
        let send = match self.kind.as_str() {
            "whisper" => Outgoing::Whisper {
                platform: self.platform,
                channel: self.channel,
                user: Person {
                    id: self.user_id?,
                    name: self.user_name.unwrap_or_default(),
                },
                reply: self.reply_to,
                text: self.body?,
            },
            "say" => Outgoing::Say {
                platform: self.platform,
                channel: self.channel,
                text: self.body?,
            },
            "redraw" => Outgoing::Redraw(Subject::from_row(
                self.subject_kind.as_deref()?,
                self.subject_id?,
            )?),
            _ => return None,
        };
        Some(Pending {
            id: self.id,
            version: self.version,
            attempts: self.attempts,
            send,
        })
    }
}

const COLUMNS: &str = "id, kind, platform, channel, user_id, user_name, reply_to, body, subject_kind, subject_id, version, attempts";

/// Queues a whisper or a post.
pub async fn queue<'c>(
    db: impl Executor<'c, Database = Any>,
    send: &Outgoing,
    now: i64,
) -> sqlx::Result<()> {
    match send {
        Outgoing::Whisper {
            platform,
            channel,
            user,
            reply,
            text,
        } => {
            sqlx::query(
                "INSERT INTO outbox (kind, platform, channel, user_id, user_name, reply_to, body, not_before, created_at) \
                 VALUES ('whisper', $1, $2, $3, $4, $5, $6, $7, $7)",
            )
            .bind(platform)
            .bind(channel)
            .bind(&user.id)
            .bind(&user.name)
            .bind(reply)
            .bind(text)
            .bind(now)
            .execute(db)
            .await?;
        }
        Outgoing::Say {
            platform,
            channel,
            text,
        } => {
            sqlx::query(
                "INSERT INTO outbox (kind, platform, channel, body, not_before, created_at) \
                 VALUES ('say', $1, $2, $3, $4, $4)",
            )
            .bind(platform)
            .bind(channel)
            .bind(text)
            .bind(now)
            .execute(db)
            .await?;
        }
        Outgoing::Redraw(subject) => redraw(db, *subject, now).await?,
    }
    Ok(())
}

/// Asks for the subject's messages to be drawn again: a new row, or a new version of
/// the one waiting.
pub async fn redraw<'c>(
    db: impl Executor<'c, Database = Any>,
    subject: Subject,
    now: i64,
) -> sqlx::Result<()> {
    sqlx::query(
        "INSERT INTO outbox (kind, subject_kind, subject_id, not_before, created_at) \
         VALUES ('redraw', $1, $2, $3, $3) \
         ON CONFLICT (subject_kind, subject_id) DO UPDATE SET version = outbox.version + 1",
    )
    .bind(subject.kind())
    .bind(subject.id())
    .bind(now)
    .execute(db)
    .await?;
    Ok(())
}

/// Claims up to `limit` due rows nobody holds for `claimant`: cards and status edits
/// first, then channel posts, then whispers, each oldest first, so a flood of private
/// answers never holds up the card an approver is waiting on.
pub async fn claim<'c>(
    db: impl Executor<'c, Database = Any>,
    claimant: &str,
    claimed_until: i64,
    now: i64,
    limit: i64,
) -> sqlx::Result<Vec<Pending>> {
    let rows: Vec<Row> = sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "UPDATE outbox SET claimed_by = $1, claimed_until = $2 \
         WHERE id IN (SELECT id FROM outbox WHERE not_before <= $3 \
                      AND (claimed_until IS NULL OR claimed_until < $3) \
                      ORDER BY CASE kind WHEN 'redraw' THEN 0 WHEN 'say' THEN 1 ELSE 2 END, id LIMIT $4) \
         AND (claimed_until IS NULL OR claimed_until < $3) \
         RETURNING {COLUMNS}"
    )))
    .bind(claimant)
    .bind(claimed_until)
    .bind(now)
    .bind(limit)
    .fetch_all(db)
    .await?;
    let mut pending: Vec<Pending> = rows.into_iter().filter_map(Row::into_pending).collect();
    pending.sort_by_key(|p| p.id);
    Ok(pending)
}

/// The platform accepted the row as claimed: it goes, unless a redraw's version moved
/// on meanwhile, in which case it is freed to be sent again. `true` when it went.
pub async fn sent(db: &sqlx::AnyPool, pending: &Pending) -> sqlx::Result<bool> {
    let done = sqlx::query("DELETE FROM outbox WHERE id = $1 AND version = $2")
        .bind(pending.id)
        .bind(pending.version)
        .execute(db)
        .await?;
    if done.rows_affected() > 0 {
        return Ok(true);
    }
    sqlx::query("UPDATE outbox SET claimed_by = NULL, claimed_until = NULL WHERE id = $1")
        .bind(pending.id)
        .execute(db)
        .await?;
    Ok(false)
}

/// The platform refused the row: try again at `not_before`.
pub async fn retry<'c>(
    db: impl Executor<'c, Database = Any>,
    pending: &Pending,
    not_before: i64,
    error: &str,
) -> sqlx::Result<()> {
    sqlx::query(
        "UPDATE outbox SET attempts = attempts + 1, not_before = $2, last_error = $3, \
         claimed_by = NULL, claimed_until = NULL WHERE id = $1",
    )
    .bind(pending.id)
    .bind(not_before)
    .bind(error)
    .execute(db)
    .await?;
    Ok(())
}

/// Gives a row up (the platform kept refusing it, or it names nothing deckhand can draw).
pub async fn drop_row<'c>(db: impl Executor<'c, Database = Any>, id: i64) -> sqlx::Result<()> {
    sqlx::query("DELETE FROM outbox WHERE id = $1")
        .bind(id)
        .execute(db)
        .await?;
    Ok(())
}

/// Extends the claims `claimant` holds: a send that waits out a long 429 keeps its rows.
pub async fn renew<'c>(
    db: impl Executor<'c, Database = Any>,
    claimant: &str,
    claimed_until: i64,
) -> sqlx::Result<u64> {
    let done = sqlx::query("UPDATE outbox SET claimed_until = $2 WHERE claimed_by = $1")
        .bind(claimant)
        .bind(claimed_until)
        .execute(db)
        .await?;
    Ok(done.rows_affected())
}

/// Frees every claim but `keep`'s: at start on SQLite, where the claimants are dead.
pub async fn release_claims<'c>(
    db: impl Executor<'c, Database = Any>,
    keep: &str,
) -> sqlx::Result<u64> {
    let done = sqlx::query(
        "UPDATE outbox SET claimed_by = NULL, claimed_until = NULL \
         WHERE claimed_by IS NOT NULL AND claimed_by <> $1",
    )
    .bind(keep)
    .execute(db)
    .await?;
    Ok(done.rows_affected())
}

/// Rows waiting that `claimant` is not sending now: due later, or held by another.
pub async fn waiting<'c>(
    db: impl Executor<'c, Database = Any>,
    claimant: &str,
) -> sqlx::Result<i64> {
    let (count,): (i64,) =
        sqlx::query_as("SELECT COUNT(*) FROM outbox WHERE claimed_by IS NULL OR claimed_by <> $1")
            .bind(claimant)
            .fetch_one(db)
            .await?;
    Ok(count)
}
