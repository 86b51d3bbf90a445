//! What a fake platform was asked, in order: both fakes record their calls here, and
//! tests wait on a recorded call (never on a sleep) and read them in order with a cursor.
//! Also where a fake is served.

use std::sync::Mutex;

use tokio::sync::Notify;

use crate::team::PATIENCE;

/// A call a fake can describe when a wait fails.
pub trait Described: Clone {
    fn describe(&self) -> String;
}

pub struct Recorder<C> {
    calls: Mutex<Vec<C>>,
    changed: Notify,
    /// Calls already read by `next`.
    read: Mutex<usize>,
}

impl<C> Default for Recorder<C> {
    fn default() -> Self {
        Recorder {
            calls: Mutex::new(Vec::new()),
            changed: Notify::new(),
            read: Mutex::new(0),
        }
    }
}

impl<C: Described> Recorder<C> {
    pub fn record(&self, call: C) {
        self.calls.lock().expect("calls").push(call);
        self.changed.notify_waiters();
    }

    pub fn all(&self) -> Vec<C> {
        self.calls.lock().expect("calls").clone()
    }

    /// Waits for any call (read or not) for which `check` holds.
    pub async fn wait_for(&self, what: &str, check: impl Fn(&C) -> bool) -> C {
        self.wait(what, false, check).await
    }

    /// Waits for the first unread call for which `check` holds, and reads up to it.
    pub async fn next(&self, what: &str, check: impl Fn(&C) -> bool) -> C {
        self.wait(what, true, check).await
    }

    async fn wait(&self, what: &str, advance: bool, check: impl Fn(&C) -> bool) -> C {
        let deadline = tokio::time::Instant::now() + PATIENCE;
        loop {
            let notified = self.changed.notified();
            {
                let calls = self.calls.lock().expect("calls");
                let mut read = self.read.lock().expect("cursor");
                let from = if advance { *read } else { 0 };
                if let Some((n, call)) = calls
                    .iter()
                    .enumerate()
                    .skip(from)
                    .find(|(_, call)| check(call))
                {
                    if advance {
                        *read = n + 1;
                    }
                    return call.clone();
                }
            }
            if tokio::time::timeout_at(deadline, notified).await.is_err() {
                let seen: Vec<String> = self.all().iter().map(Described::describe).collect();
                panic!("no call was {what}; calls:\n{}", seen.join("\n"));
            }
        }
    }
}

/// Serves a fake's routes on a free loopback port; returns its address.
pub async fn serve(app: axum::Router) -> std::net::SocketAddr {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("a loopback port");
    let addr = listener.local_addr().expect("its address");
    tokio::spawn(async move { axum::serve(listener, app).await.expect("the fake serves") });
    addr
}
