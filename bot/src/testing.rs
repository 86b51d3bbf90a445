//! Fresh, isolated databases for tests: a new SQLite file, or a new Postgres schema.

use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};

use crate::store::Store;

/// The Postgres that store tests also run on, when `DECKHAND_TEST_POSTGRES_URL` is set.
pub const POSTGRES_ENV: &str = "DECKHAND_TEST_POSTGRES_URL";

fn unique(prefix: &str) -> String {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    format!(
        "{prefix}_{}_{}_{}",
        std::process::id(),
        chrono::Utc::now().timestamp_micros(),
        COUNTER.fetch_add(1, Ordering::Relaxed)
    )
}

/// A scratch directory, removed by the OS's temp cleaning (tests keep it for post-mortems).
pub fn scratch_dir(prefix: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(unique(prefix));
    std::fs::create_dir_all(&dir).expect("cannot create a scratch directory");
    dir
}

/// A migrated SQLite store in a new file; returns its URL too.
pub async fn sqlite() -> (Store, String) {
    sqlite_at(i64::MAX).await
}

/// A SQLite store in a new file with migrations applied up to `version`.
pub async fn sqlite_at(version: i64) -> (Store, String) {
    let url = format!(
        "sqlite://{}/deckhand.db",
        scratch_dir("deckhand-test").display()
    );
    let store = Store::open(&url)
        .await
        .expect("cannot open a test SQLite store");
    store
        .migrate_to(version)
        .await
        .expect("cannot migrate a test SQLite store");
    (store, url)
}

/// The Postgres URL for tests, if configured.
pub fn postgres_url() -> Option<String> {
    std::env::var(POSTGRES_ENV).ok().filter(|u| !u.is_empty())
}

/// A migrated Postgres store in a new schema of the test database; returns its URL too.
/// Panics (failing the test) when the configured Postgres cannot be reached: a missing
/// database must never look like a pass.
pub async fn postgres(base: &str) -> (Store, String) {
    postgres_at(base, i64::MAX).await
}

/// The Postgres URL tests run on. Outside CI, `None` when it is not set (the test then
/// covers SQLite only); in CI (`CI` set) a missing URL fails the test instead.
pub fn require_postgres() -> Option<String> {
    let url = postgres_url();
    if url.is_none() && std::env::var_os("CI").is_some() {
        panic!(
            "{POSTGRES_ENV} must be set in CI: the Postgres half of this test cannot be skipped"
        );
    }
    url
}

/// A Postgres store in a new schema with migrations applied up to `version`.
pub async fn postgres_at(base: &str, version: i64) -> (Store, String) {
    use sqlx::Connection as _;
    let schema = unique("deckhand_test");
    let mut conn = sqlx::PgConnection::connect(base)
        .await
        .unwrap_or_else(|e| panic!("{POSTGRES_ENV} is set but Postgres is unreachable: {e}"));
    sqlx::query(sqlx::AssertSqlSafe(format!("CREATE SCHEMA {schema}")))
        .execute(&mut conn)
        .await
        .expect("cannot create a test schema");
    let separator = if base.contains('?') { '&' } else { '?' };
    let url = format!("{base}{separator}options=-c%20search_path%3D{schema}");
    let store = Store::open(&url)
        .await
        .expect("cannot open a test Postgres store");
    store
        .migrate_to(version)
        .await
        .expect("cannot migrate a test Postgres store");
    (store, url)
}

/// A tracked secret with nothing recorded yet, for tests to fill in what they need.
pub fn secret(name: &str, env: &str, owner: &str) -> crate::store::secrets::Secret {
    crate::store::secrets::Secret {
        id: 1,
        name: name.into(),
        env: env.into(),
        owner: owner.into(),
        every_secs: None,
        last_rotated_at: None,
        last_rotated_by: None,
        runbook: None,
        provider_note: None,
        snoozed_until: None,
        source: "config".into(),
        created_at: 0,
    }
}
