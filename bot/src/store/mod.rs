//! The database: SQLite (embedded default) or Postgres, same schema, same behaviour.
//! Queries are free functions grouped by table, each taking an executor so they work
//! inside a transaction.

pub mod announcements;
pub mod approvals;
pub mod audit;
pub mod freezes;
pub mod github;
pub mod inbox;
pub mod incidents;
pub mod jobs;
pub mod locks;
pub mod messages;
pub mod outbox;
pub mod run_lock;
pub mod secrets;
pub mod steps;
pub mod web;

use std::str::FromStr;
use std::time::Duration;

use anyhow::Context as _;
use sqlx::any::{AnyConnectOptions, AnyPoolOptions};
use sqlx::{AnyPool, ConnectOptions as _};

/// Which SQL engine is behind the pool, for the few statements that differ.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Dialect {
    Sqlite,
    Postgres,
}

/// The connection pool and its dialect.
#[derive(Debug, Clone)]
pub struct Store {
    pub pool: AnyPool,
    pub dialect: Dialect,
}

/// The migration that made the audit log a hash chain.
const AUDIT_CHAIN_MIGRATION: i64 = 15;

static SQLITE_MIGRATIONS: sqlx::migrate::Migrator = sqlx::migrate!("../migrations/sqlite");
static POSTGRES_MIGRATIONS: sqlx::migrate::Migrator = sqlx::migrate!("../migrations/postgres");

/// A URL with any password replaced, for messages and logs.
pub fn redact_url(url: &str) -> String {
    match reqwest::Url::parse(url) {
        Ok(mut parsed) if parsed.password().is_some() => {
            let _ = parsed.set_password(Some("********"));
            parsed.to_string()
        }
        _ => url.to_owned(),
    }
}

impl Store {
    /// Connects and applies migrations. SQLite files are created when missing and run in
    /// WAL mode.
    pub async fn connect(url: &str) -> anyhow::Result<Store> {
        let store = Store::open(url).await?;
        store.migrate().await?;
        Ok(store)
    }

    /// Connects without touching the schema (for `deckhand check`).
    pub async fn open(url: &str) -> anyhow::Result<Store> {
        sqlx::any::install_default_drivers();
        let dialect = if url.starts_with("postgres://") || url.starts_with("postgresql://") {
            Dialect::Postgres
        } else if url.starts_with("sqlite:") {
            Dialect::Sqlite
        } else {
            anyhow::bail!(
                "DATABASE_URL `{}` is neither `sqlite://FILE` nor `postgres://...`",
                redact_url(url)
            );
        };
        let url = match dialect {
            Dialect::Sqlite => {
                private_file(url)?;
                sqlite_url(url)
            }
            Dialect::Postgres => url.to_owned(),
        };
        let options = AnyConnectOptions::from_str(&url)
            .with_context(|| format!("`{}` is not a usable database URL", redact_url(&url)))?
            .log_statements(tracing::log::LevelFilter::Trace);
        let pool = AnyPoolOptions::new()
            .after_connect(move |conn, _| {
                Box::pin(async move {
                    if dialect == Dialect::Sqlite {
                        // WAL's recommended durability: commits survive a process crash;
                        // only a power loss can take the last ones.
                        sqlx::query("PRAGMA synchronous = NORMAL")
                            .execute(&mut *conn)
                            .await?;
                        sqlx::query("PRAGMA busy_timeout = 10000")
                            .execute(&mut *conn)
                            .await?;
                    }
                    Ok(())
                })
            })
            .max_connections(match dialect {
                Dialect::Sqlite => 4,
                Dialect::Postgres => 10,
            })
            .acquire_timeout(Duration::from_secs(10))
            .connect_with(options)
            .await
            .with_context(|| format!("cannot connect to the database at {}", redact_url(&url)))?;
        Ok(Store { pool, dialect })
    }

    /// Applies pending migrations.
    pub async fn migrate(&self) -> anyhow::Result<()> {
        self.migrate_to(i64::MAX).await
    }

    /// Applies pending migrations up to and including `version` (migration tests seed
    /// an older schema, then apply the rest).
    pub async fn migrate_to(&self, version: i64) -> anyhow::Result<()> {
        if self.dialect == Dialect::Sqlite {
            // WAL is a property of the file: readers never wait for the writer.
            sqlx::query("PRAGMA journal_mode = WAL")
                .execute(&self.pool)
                .await
                .context("cannot switch SQLite to WAL mode")?;
        }
        let migrator = match self.dialect {
            Dialect::Sqlite => &SQLITE_MIGRATIONS,
            Dialect::Postgres => &POSTGRES_MIGRATIONS,
        };
        migrator
            .run_to(version, &self.pool)
            .await
            .context("cannot apply database migrations")?;
        if version >= AUDIT_CHAIN_MIGRATION {
            let sealed = audit::seal_unchained(&self.pool)
                .await
                .context("cannot chain the audit log's earlier rows")?;
            if sealed > 0 {
                tracing::info!(rows = sealed, "chained the audit log's earlier rows");
            }
        }
        Ok(())
    }

    /// Whether the database answers, for `/healthz`.
    pub async fn ping(&self) -> bool {
        sqlx::query("SELECT 1").execute(&self.pool).await.is_ok()
    }
}

/// The SQLite file holds the audit log, who approved what and commands as typed: it is
/// created readable by deckhand's user only (0600; SQLite gives its WAL and shared-memory
/// files the database's mode), and an existing file open to others is closed to them.
fn private_file(url: &str) -> anyhow::Result<()> {
    use std::os::unix::fs::{OpenOptionsExt as _, PermissionsExt as _};
    let path = url
        .trim_start_matches("sqlite://")
        .trim_start_matches("sqlite:")
        .split('?')
        .next()
        .unwrap_or_default();
    if path.is_empty() || path.contains(":memory:") {
        return Ok(());
    }
    let path = std::path::Path::new(path);
    match std::fs::metadata(path) {
        Ok(meta) if meta.permissions().mode() & 0o077 != 0 => {
            tracing::warn!(path = %path.display(), "the database file was readable by others; it is now 0600");
            std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600))
                .with_context(|| format!("cannot make {} private (0600)", path.display()))?;
        }
        Ok(_) => {}
        Err(_) => {
            std::fs::OpenOptions::new()
                .write(true)
                .create_new(true)
                .mode(0o600)
                .open(path)
                .with_context(|| format!("cannot create the database file {}", path.display()))?;
        }
    }
    Ok(())
}

/// `sqlite://deckhand.db` -> create the file when missing.
fn sqlite_url(url: &str) -> String {
    if url.contains("mode=") || url.contains(":memory:") {
        return url.to_owned();
    }
    let separator = if url.contains('?') { '&' } else { '?' };
    format!("{url}{separator}mode=rwc")
}

/// Milliseconds since the Unix epoch: how the store keeps time.
pub fn now_ms() -> i64 {
    chrono::Utc::now().timestamp_millis()
}
