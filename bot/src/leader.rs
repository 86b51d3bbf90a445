//! Which replica runs the singletons (the Discord gateway, the scheduler, the sweeper's
//! reaping): on Postgres, the one holding an advisory lock on a connection of its own.
//!
//! Postgres ends a session whose client died (kill -9 closes its socket), and with it the
//! lock; the others keep trying, so one of them leads within a poll. A leader whose
//! connection stops answering steps down at once: for the moment before Postgres notices,
//! two replicas may both lead, which the store's claims (fire times, leases) make harmless.

use std::sync::Arc;
use std::time::Duration;

use sqlx::{Acquire as _, Connection as _};
use tokio::sync::watch;
use tokio_util::sync::CancellationToken;

use crate::store::{Dialect, Store};

/// The advisory lock's first key, "deck" in ASCII, so it stays clear of other programs';
/// the second is the schema's hash, so deckhands on one database in different schemas
/// (the tests, or two teams) each have a leader.
const LOCK_KEY: i32 = 0x6465_636b;

/// How often a follower tries for the lock, and a leader checks its connection.
const POLL: Duration = Duration::from_millis(500);

/// How long a leader's check may take before it counts as a lost connection.
const CHECK_TIMEOUT: Duration = Duration::from_secs(2);

/// What a replica does besides serving HTTP and running jobs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    /// Runs the gateway, the scheduler and the sweeper's reaping.
    Leader,
    /// Serves HTTP and runs jobs; waits to lead.
    Follower,
}

impl Role {
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Leader => "leader",
            Role::Follower => "follower",
        }
    }
}

/// This replica's role, as it changes.
pub struct Leadership {
    role: watch::Receiver<Role>,
    /// Keeps the channel open for a lone leader that has no contending task.
    _lone: Option<watch::Sender<Role>>,
}

impl Leadership {
    /// The only process on its database (SQLite, or a console): always the leader.
    pub fn alone() -> Arc<Leadership> {
        let (tx, rx) = watch::channel(Role::Leader);
        Arc::new(Leadership {
            role: rx,
            _lone: Some(tx),
        })
    }

    /// Leads on SQLite (where `deckhand run` is alone by its run lock); on Postgres
    /// contends for the advisory lock until `stop`.
    pub fn start(store: &Store, stop: CancellationToken) -> Arc<Leadership> {
        if store.dialect != Dialect::Postgres {
            return Leadership::alone();
        }
        let (tx, rx) = watch::channel(Role::Follower);
        tokio::spawn(contend(store.clone(), tx, stop));
        Arc::new(Leadership {
            role: rx,
            _lone: None,
        })
    }

    pub fn role(&self) -> Role {
        *self.role.borrow()
    }

    pub fn is_leader(&self) -> bool {
        self.role() == Role::Leader
    }

    /// Wakes on every change of role.
    pub fn watch(&self) -> watch::Receiver<Role> {
        self.role.clone()
    }
}

async fn contend(store: Store, role: watch::Sender<Role>, stop: CancellationToken) {
    loop {
        let held = tokio::select! {
            held = hold(&store, &role) => held,
            _ = stop.cancelled() => {
                role.send_replace(Role::Follower);
                return;
            }
        };
        if let Err(error) = held {
            tracing::warn!(error = %format!("{error:#}"), "lost the connection that holds or seeks leadership");
        }
        if role.send_replace(Role::Follower) == Role::Leader {
            tracing::warn!("stepped down: this replica no longer leads");
        }
        tokio::select! {
            _ = tokio::time::sleep(POLL) => {}
            _ = stop.cancelled() => return,
        }
    }
}

/// On a connection of its own (taken out of the pool, so it is never shared or
/// recycled): tries for the lock every poll, then, once held, checks the connection every
/// poll. Returns when the connection fails.
async fn hold(store: &Store, role: &watch::Sender<Role>) -> anyhow::Result<()> {
    let mut connection = store.pool.acquire().await?.detach();
    loop {
        let (got,): (bool,) =
            sqlx::query_as("SELECT pg_try_advisory_lock($1, hashtext(current_schema()))")
                .bind(LOCK_KEY)
                .fetch_one(connection.acquire().await?)
                .await?;
        if got {
            break;
        }
        tokio::time::sleep(POLL).await;
    }
    role.send_replace(Role::Leader);
    tracing::info!("this replica leads: it runs the gateway, the scheduler and the sweeper");
    loop {
        tokio::time::sleep(POLL).await;
        match tokio::time::timeout(CHECK_TIMEOUT, connection.ping()).await {
            Ok(Ok(())) => {}
            Ok(Err(e)) => return Err(e.into()),
            Err(_) => {
                anyhow::bail!("the leadership connection did not answer within {CHECK_TIMEOUT:?}")
            }
        }
    }
}
