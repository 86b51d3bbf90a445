//! The audit chain checked and copied: `deckhand audit verify` (on the store or on an
//! exported file), `deckhand audit export`, and the checkpoints posted to the audit
//! channel, which keep a copy of the chain's state outside the database.

use std::fmt;
use std::io::{BufRead, Write};

use crate::store::Store;
use crate::store::audit::{self, ChainedRow, GENESIS, Head};

/// Rows read from the store at a time: verifying a long log keeps little in memory.
const PAGE: i64 = 1000;

/// A chain that holds: how many rows, and the hash of the last.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Verified {
    pub rows: u64,
    pub last_id: i64,
    pub head: String,
}

/// The first place a chain does not hold.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Break {
    /// The row's contents no longer match its hash: edited, or given another id.
    Changed { id: i64 },
    /// The row has no hash: written around deckhand.
    Unchained { id: i64 },
    /// The row is not chained to the one before it: rows between were removed (or
    /// the rows were reordered).
    Unlinked { before: i64, after: Option<i64> },
    /// A row's id is not above the one before it (an exported file reordered).
    OutOfOrder { id: i64, after: i64 },
    /// The store's head names rows that are no longer there.
    TailRemoved {
        last: Option<i64>,
        head_last_id: i64,
        head_rows: i64,
        seen: u64,
    },
    /// The rows hold together but the head was changed.
    HeadChanged { head: String, last: String },
    /// `--expect HASH` (a checkpoint) is not in the chain.
    CheckpointMissing { hash: String },
    /// A line of an exported file could not be read.
    Unreadable { line: usize, why: String },
}

impl fmt::Display for Break {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Break::Changed { id } => write!(
                f,
                "row {id} was changed or moved: its contents no longer match its hash"
            ),
            Break::Unchained { id } => {
                write!(f, "row {id} has no hash: it was written around deckhand")
            }
            Break::Unlinked {
                before,
                after: Some(after),
            } => write!(
                f,
                "row {before} is not chained to row {after} before it: rows between them were removed, or rows were reordered"
            ),
            Break::Unlinked {
                before,
                after: None,
            } => write!(
                f,
                "row {before} is the first row but is chained to an earlier one: the rows before it were removed"
            ),
            Break::OutOfOrder { id, after } => {
                write!(
                    f,
                    "row {id} comes after row {after}: the rows were reordered"
                )
            }
            Break::TailRemoved {
                last,
                head_last_id,
                head_rows,
                seen,
            } => write!(
                f,
                "the chain's head names {head_rows} rows up to row {head_last_id}, but {seen} are left{}: rows at the end were removed",
                last.map(|id| format!(" (up to row {id})"))
                    .unwrap_or_default()
            ),
            Break::HeadChanged { head, last } => write!(
                f,
                "the chain's head says `{head}` but its last row hashes to `{last}`: the head was changed"
            ),
            Break::CheckpointMissing { hash } => write!(
                f,
                "the checkpoint `{hash}` is not in the chain: rows were removed or rewritten since it was posted"
            ),
            Break::Unreadable { line, why } => write!(f, "line {line} cannot be read: {why}"),
        }
    }
}

/// Walks a chain a row at a time.
struct Walker {
    /// The hash the first row must be chained to; `None` takes the first row's own
    /// (an export that starts after the beginning).
    start: Option<String>,
    last: Option<(i64, String)>,
    rows: u64,
    expect: Option<String>,
    expect_seen: bool,
}

impl Walker {
    fn new(start: Option<String>, expect: Option<String>) -> Walker {
        Walker {
            start,
            last: None,
            rows: 0,
            expect,
            expect_seen: false,
        }
    }

    fn feed(&mut self, row: &ChainedRow) -> Result<(), Break> {
        let (Some(prev), Some(hash)) = (&row.prev_hash, &row.hash) else {
            return Err(Break::Unchained { id: row.id });
        };
        if let Some((after, _)) = &self.last
            && row.id <= *after
        {
            return Err(Break::OutOfOrder {
                id: row.id,
                after: *after,
            });
        }
        // Its own hash first: a row given another id (rows reordered) fails here.
        if row.expected_hash(prev) != *hash {
            return Err(Break::Changed { id: row.id });
        }
        let wanted = match (&self.last, &self.start) {
            (Some((_, hash)), _) => Some(hash.as_str()),
            (None, Some(start)) => Some(start.as_str()),
            (None, None) => None,
        };
        if wanted.is_some_and(|w| w != prev) {
            return Err(Break::Unlinked {
                before: row.id,
                after: self.last.as_ref().map(|(id, _)| *id),
            });
        }
        if self.expect.as_deref() == Some(hash.as_str()) {
            self.expect_seen = true;
        }
        self.rows += 1;
        self.last = Some((row.id, hash.clone()));
        Ok(())
    }

    fn finish(self, head: Option<&Head>) -> Result<Verified, Break> {
        let (last_id, last_hash) = self
            .last
            .clone()
            .unwrap_or_else(|| (0, self.start.clone().unwrap_or_else(|| GENESIS.to_owned())));
        if let Some(head) = head {
            if head.last_id > last_id || head.rows > self.rows as i64 {
                return Err(Break::TailRemoved {
                    last: self.last.as_ref().map(|(id, _)| *id),
                    head_last_id: head.last_id,
                    head_rows: head.rows,
                    seen: self.rows,
                });
            }
            if head.hash != last_hash {
                return Err(Break::HeadChanged {
                    head: head.hash.clone(),
                    last: last_hash,
                });
            }
        }
        if let Some(hash) = self.expect
            && !self.expect_seen
        {
            return Err(Break::CheckpointMissing { hash });
        }
        Ok(Verified {
            rows: self.rows,
            last_id,
            head: last_hash,
        })
    }
}

/// Walks the store's whole chain against its head; `expect` is a checkpoint's hash
/// that must be in it.
pub async fn verify(
    store: &Store,
    expect: Option<String>,
) -> anyhow::Result<Result<Verified, Break>> {
    let head = audit::head(&store.pool).await?;
    let mut walker = Walker::new(Some(GENESIS.to_owned()), expect);
    let mut after = i64::MIN;
    loop {
        let rows = audit::page(&store.pool, after, None, PAGE).await?;
        let Some(last) = rows.last() else { break };
        after = last.id;
        for row in &rows {
            if let Err(broken) = walker.feed(row) {
                return Ok(Err(broken));
            }
        }
    }
    Ok(walker.finish(Some(&head)))
}

/// How an export is written.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Format {
    Jsonl,
    Csv,
}

/// One exported row: the stored fields with their hashes, and the time for people.
#[derive(Debug, serde::Serialize, serde::Deserialize)]
struct Exported {
    id: i64,
    /// Milliseconds since the epoch, as hashed.
    at: i64,
    /// The same instant in RFC 3339, for people reading the file.
    time: String,
    actor: String,
    platform: String,
    action: String,
    env: Option<String>,
    job_id: Option<i64>,
    detail: String,
    mark: Option<String>,
    prev_hash: Option<String>,
    hash: Option<String>,
}

impl From<ChainedRow> for Exported {
    fn from(row: ChainedRow) -> Exported {
        Exported {
            time: chrono::DateTime::from_timestamp_millis(row.at)
                .map(|t| t.to_rfc3339_opts(chrono::SecondsFormat::Millis, true))
                .unwrap_or_default(),
            id: row.id,
            at: row.at,
            actor: row.actor,
            platform: row.platform,
            action: row.action,
            env: row.env,
            job_id: row.job_id,
            detail: row.detail,
            mark: row.mark,
            prev_hash: row.prev_hash,
            hash: row.hash,
        }
    }
}

impl From<Exported> for ChainedRow {
    fn from(row: Exported) -> ChainedRow {
        ChainedRow {
            id: row.id,
            at: row.at,
            actor: row.actor,
            platform: row.platform,
            action: row.action,
            // CSV has no null: an empty field is none.
            env: row.env.filter(|e| !e.is_empty()),
            job_id: row.job_id,
            detail: row.detail,
            mark: row.mark.filter(|m| !m.is_empty()),
            prev_hash: row.prev_hash.filter(|h| !h.is_empty()),
            hash: row.hash.filter(|h| !h.is_empty()),
        }
    }
}

/// Where an export goes, in its format.
enum Sink<'a> {
    Csv(Box<csv::Writer<&'a mut dyn Write>>),
    Jsonl(&'a mut dyn Write),
}

/// Writes the log (rows at or after `since`, in ms) to `out`; returns the row count.
pub async fn export(
    store: &Store,
    since: Option<i64>,
    format: Format,
    out: &mut dyn Write,
) -> anyhow::Result<u64> {
    // Both formats stream a page at a time: a long log is never all in memory.
    let mut sink = match format {
        Format::Csv => Sink::Csv(Box::new(csv::Writer::from_writer(out))),
        Format::Jsonl => Sink::Jsonl(out),
    };
    let mut after = i64::MIN;
    let mut count = 0;
    loop {
        let rows = audit::page(&store.pool, after, since, PAGE).await?;
        let Some(last) = rows.last() else { break };
        after = last.id;
        for row in rows {
            let row = Exported::from(row);
            match &mut sink {
                Sink::Csv(writer) => writer.serialize(&row)?,
                Sink::Jsonl(out) => {
                    serde_json::to_writer(&mut **out, &row)?;
                    out.write_all(b"\n")?;
                }
            }
            count += 1;
        }
    }
    match &mut sink {
        Sink::Csv(writer) => writer.flush()?,
        Sink::Jsonl(out) => out.flush()?,
    }
    Ok(count)
}

/// Checks an exported file (JSON lines, or CSV with its header): each row against its
/// hash and the one before it. A file that starts after the beginning is checked from
/// its first row on.
pub fn verify_file(
    input: impl BufRead,
    format: Format,
    expect: Option<String>,
) -> Result<Verified, Break> {
    let mut walker = Walker::new(None, expect);
    match format {
        Format::Jsonl => {
            for (i, line) in input.lines().enumerate() {
                let line = line.map_err(|e| Break::Unreadable {
                    line: i + 1,
                    why: e.to_string(),
                })?;
                if line.trim().is_empty() {
                    continue;
                }
                let row: Exported = serde_json::from_str(&line).map_err(|e| Break::Unreadable {
                    line: i + 1,
                    why: e.to_string(),
                })?;
                walker.feed(&row.into())?;
            }
        }
        Format::Csv => {
            let mut reader = csv::Reader::from_reader(input);
            for (i, row) in reader.deserialize::<Exported>().enumerate() {
                let row = row.map_err(|e| Break::Unreadable {
                    line: i + 2,
                    why: e.to_string(),
                })?;
                walker.feed(&row.into())?;
            }
        }
    }
    walker.finish(None)
}

/// An export's format from its file name: `.csv` is CSV, anything else JSON lines.
pub fn format_of(path: &std::path::Path) -> Format {
    match path.extension().and_then(|e| e.to_str()) {
        Some(ext) if ext.eq_ignore_ascii_case("csv") => Format::Csv,
        _ => Format::Jsonl,
    }
}

/// A date for `--since`: `YYYY-MM-DD` (midnight in `tz`) or RFC 3339.
pub fn since(text: &str, tz: chrono_tz::Tz) -> anyhow::Result<i64> {
    if let Ok(date) = chrono::NaiveDate::parse_from_str(text.trim(), "%Y-%m-%d") {
        let midnight = date.and_hms_opt(0, 0, 0).expect("midnight exists");
        return crate::freezes::moment(&midnight.format("%Y-%m-%d %H:%M").to_string(), tz)
            .map_err(anyhow::Error::msg);
    }
    chrono::DateTime::parse_from_rfc3339(text.trim())
        .map(|t| t.timestamp_millis())
        .map_err(|_| {
            anyhow::anyhow!("`{text}` is not a date: write `2026-12-01` or an RFC 3339 time")
        })
}
