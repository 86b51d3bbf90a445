//! The append-only audit log: who did what, when, from where; each row hash-chained to
//! the one before it, so a changed, removed or reordered row shows.

use sha2::{Digest as _, Sha256};
use sqlx::{Any, AnyConnection, Executor, FromRow};

/// The `prev_hash` of the first row of a chain.
pub const GENESIS: &str = "0000000000000000000000000000000000000000000000000000000000000000";

/// What `mark` says of a break-glass row.
pub const BREAK_GLASS: &str = "break-glass";

#[derive(Debug, Clone, PartialEq, Eq, FromRow)]
pub struct AuditEntry {
    pub at: i64,
    pub actor: String,
    pub platform: String,
    pub action: String,
    pub env: Option<String>,
    pub job_id: Option<i64>,
    pub detail: String,
    /// A flag people must notice: [`BREAK_GLASS`].
    pub mark: Option<String>,
}

/// A stored row with its place in the chain.
#[derive(Debug, Clone, PartialEq, Eq, FromRow, serde::Serialize, serde::Deserialize)]
pub struct ChainedRow {
    pub id: i64,
    pub at: i64,
    pub actor: String,
    pub platform: String,
    pub action: String,
    pub env: Option<String>,
    pub job_id: Option<i64>,
    pub detail: String,
    pub mark: Option<String>,
    pub prev_hash: Option<String>,
    pub hash: Option<String>,
}

/// The chain's head as the store keeps it.
#[derive(Debug, Clone, PartialEq, Eq, FromRow)]
pub struct Head {
    pub last_id: i64,
    pub rows: i64,
    pub hash: String,
}

impl ChainedRow {
    /// The hash this row should carry, given the hash it was chained to: SHA-256 over
    /// a canonical encoding of the row and that hash, a JSON array (fixed order, no
    /// whitespace, strings escaped by serde_json) with a version tag, so an exported
    /// copy can be checked by anything that speaks JSON and SHA-256.
    pub fn expected_hash(&self, prev_hash: &str) -> String {
        let canonical = serde_json::json!([
            "deckhand-audit/1",
            prev_hash,
            self.id,
            self.at,
            self.actor,
            self.platform,
            self.action,
            self.env,
            self.job_id,
            self.detail,
            self.mark,
        ]);
        hex::encode(Sha256::digest(canonical.to_string().as_bytes()))
    }

    fn new(id: i64, entry: &AuditEntry) -> ChainedRow {
        ChainedRow {
            id,
            at: entry.at,
            actor: entry.actor.clone(),
            platform: entry.platform.clone(),
            action: entry.action.clone(),
            env: entry.env.clone(),
            job_id: entry.job_id,
            detail: entry.detail.clone(),
            mark: entry.mark.clone(),
            prev_hash: None,
            hash: None,
        }
    }
}

/// Appends a row in the caller's transaction. The head is updated first, which
/// serialises writers (SQLite's write lock; Postgres's row lock, held to commit), so two
/// transactions can never chain to the same row.
pub async fn append(conn: &mut AnyConnection, entry: &AuditEntry) -> sqlx::Result<()> {
    let (last_id, prev): (i64, String) = sqlx::query_as(
        "UPDATE audit_head SET rows = rows + 1 WHERE id = 1 RETURNING last_id, hash",
    )
    .fetch_one(&mut *conn)
    .await?;
    let id = last_id + 1;
    let hash = ChainedRow::new(id, entry).expected_hash(&prev);
    sqlx::query(
        "INSERT INTO audit_log (id, at, actor, platform, action, env, job_id, detail, mark, prev_hash, hash) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)",
    )
    .bind(id)
    .bind(entry.at)
    .bind(&entry.actor)
    .bind(&entry.platform)
    .bind(&entry.action)
    .bind(&entry.env)
    .bind(entry.job_id)
    .bind(&entry.detail)
    .bind(&entry.mark)
    .bind(&prev)
    .bind(&hash)
    .execute(&mut *conn)
    .await?;
    sqlx::query("UPDATE audit_head SET last_id = $1, hash = $2 WHERE id = 1")
        .bind(id)
        .bind(&hash)
        .execute(&mut *conn)
        .await?;
    Ok(())
}

/// Appends a row in a transaction of its own (a record with no state change beside it).
pub async fn append_alone(pool: &sqlx::AnyPool, entry: &AuditEntry) -> sqlx::Result<()> {
    let mut tx = pool.begin().await?;
    append(&mut tx, entry).await?;
    tx.commit().await
}

/// Chains the rows written before the log was a chain (at start-up, once): in id
/// order, after the head. Returns how many were sealed.
pub async fn seal_unchained(pool: &sqlx::AnyPool) -> sqlx::Result<u64> {
    let mut tx = pool.begin().await?;
    let (mut last_id, mut prev): (i64, String) =
        sqlx::query_as("UPDATE audit_head SET rows = rows WHERE id = 1 RETURNING last_id, hash")
            .fetch_one(&mut *tx)
            .await?;
    let rows: Vec<ChainedRow> = sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "SELECT {ROW_COLUMNS} FROM audit_log WHERE hash IS NULL AND id > $1 ORDER BY id"
    )))
    .bind(last_id)
    .fetch_all(&mut *tx)
    .await?;
    let sealed = rows.len() as u64;
    for row in rows {
        let hash = row.expected_hash(&prev);
        sqlx::query("UPDATE audit_log SET prev_hash = $1, hash = $2 WHERE id = $3")
            .bind(&prev)
            .bind(&hash)
            .bind(row.id)
            .execute(&mut *tx)
            .await?;
        (last_id, prev) = (row.id, hash);
    }
    if sealed > 0 {
        sqlx::query("UPDATE audit_head SET last_id = $1, hash = $2, rows = rows + $3 WHERE id = 1")
            .bind(last_id)
            .bind(&prev)
            .bind(sealed as i64)
            .execute(&mut *tx)
            .await?;
    }
    tx.commit().await?;
    Ok(sealed)
}

const ROW_COLUMNS: &str =
    "id, at, actor, platform, action, env, job_id, detail, mark, prev_hash, hash";

pub async fn head<'c>(db: impl Executor<'c, Database = Any>) -> sqlx::Result<Head> {
    sqlx::query_as("SELECT last_id, rows, hash FROM audit_head WHERE id = 1")
        .fetch_one(db)
        .await
}

/// Up to `limit` rows with ids above `after`, in id order: the chain a page at a time,
/// so verifying a long log keeps little in memory.
pub async fn page<'c>(
    db: impl Executor<'c, Database = Any>,
    after: i64,
    since: Option<i64>,
    limit: i64,
) -> sqlx::Result<Vec<ChainedRow>> {
    sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "SELECT {ROW_COLUMNS} FROM audit_log WHERE id > $1 AND at >= $2 ORDER BY id LIMIT $3"
    )))
    .bind(after)
    .bind(since.unwrap_or(i64::MIN))
    .bind(limit)
    .fetch_all(db)
    .await
}

/// Newest first.
pub async fn recent<'c>(
    db: impl Executor<'c, Database = Any>,
    limit: i64,
) -> sqlx::Result<Vec<AuditEntry>> {
    sqlx::query_as(
        "SELECT at, actor, platform, action, env, job_id, detail, mark FROM audit_log ORDER BY id DESC LIMIT $1",
    )
    .bind(limit)
    .fetch_all(db)
    .await
}

pub async fn for_job<'c>(
    db: impl Executor<'c, Database = Any>,
    job_id: i64,
) -> sqlx::Result<Vec<AuditEntry>> {
    sqlx::query_as(
        "SELECT at, actor, platform, action, env, job_id, detail, mark FROM audit_log WHERE job_id = $1 ORDER BY id",
    )
    .bind(job_id)
    .fetch_all(db)
    .await
}

/// The latest checkpoint posted, if any.
pub async fn last_checkpoint<'c>(
    db: impl Executor<'c, Database = Any>,
) -> sqlx::Result<Option<i64>> {
    let row: Option<(Option<i64>,)> = sqlx::query_as("SELECT MAX(at) FROM audit_checkpoints")
        .fetch_optional(db)
        .await?;
    Ok(row.and_then(|(at,)| at))
}

/// Records a checkpoint of `head` at `at`; `true` for exactly one caller per time.
pub async fn record_checkpoint<'c>(
    db: impl Executor<'c, Database = Any>,
    at: i64,
    head: &Head,
) -> sqlx::Result<bool> {
    let done = sqlx::query(
        "INSERT INTO audit_checkpoints (at, last_id, rows, hash) VALUES ($1, $2, $3, $4) ON CONFLICT (at) DO NOTHING",
    )
    .bind(at)
    .bind(head.last_id)
    .bind(head.rows)
    .bind(&head.hash)
    .execute(db)
    .await?;
    Ok(done.rows_affected() == 1)
}
