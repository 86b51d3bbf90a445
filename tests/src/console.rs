//! `Tester`: the whole engine behind the console platform, with readable helpers
//! (`t.say("alice", "/deploy prod")`, `t.react("bob", "✅", "m1")`, `t.next_message()`).

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use deckhand::chat::console::{Console, Printed};
use deckhand::chat::{Chat, Event, Person};
use deckhand::config::Config;
use deckhand::jobs::{Engine, Settings};
use deckhand::store::jobs::{self, Job, JobState};
use deckhand::store::{Store, locks, now_ms};
use tokio::sync::mpsc;

/// Long enough for any step in the test configs; a hang fails instead of blocking CI.
const PATIENCE: Duration = Duration::from_secs(30);

pub struct Tester {
    pub engine: Arc<Engine>,
    pub store: Store,
    /// A scratch directory for steps to work in (`{dir}` in test configs).
    pub dir: PathBuf,
    transcript: mpsc::UnboundedReceiver<Printed>,
}

/// Fast background timings, so expiry and recovery tests finish in a second.
pub fn quick_settings() -> Settings {
    Settings {
        lease: Duration::from_secs(2),
        heartbeat: Duration::from_millis(200),
        sweep: Duration::from_millis(100),
        poll: Duration::from_millis(100),
        grace: Duration::from_millis(500),
        outbox_sending: 256,
        now: Default::default(),
    }
}

/// Outbound limits high enough that tests never wait on them (the 429 tests set their own).
pub fn fast_limits() -> deckhand::chat::outbox::Limits {
    deckhand::chat::outbox::Limits {
        per_channel_per_second: 50,
        per_channel_burst: 50,
        global_per_second: 200,
    }
}

impl Tester {
    /// An engine on a fresh SQLite store with `config` (where `{dir}` is replaced by a
    /// scratch directory).
    pub async fn new(config: &str) -> Tester {
        let (store, _) = deckhand::testing::sqlite().await;
        Tester::with_store(config, store).await
    }

    pub async fn with_store(config: &str, store: Store) -> Tester {
        Tester::with_settings(config, store, quick_settings()).await
    }

    /// With the engine's timings given (a test that must not race the sweeper slows it).
    pub async fn with_settings(config: &str, store: Store, settings: Settings) -> Tester {
        Tester::build(config, store, settings, None).await
    }

    /// An engine that reaches GitHub (a fake one) with `github`.
    pub async fn with_github(config: &str, github: deckhand::github::GitHubSettings) -> Tester {
        let (store, _) = deckhand::testing::sqlite().await;
        Tester::build(config, store, quick_settings(), Some(github)).await
    }

    async fn build(
        config: &str,
        store: Store,
        settings: Settings,
        github: Option<deckhand::github::GitHubSettings>,
    ) -> Tester {
        let dir = deckhand::testing::scratch_dir("deckhand-steps");
        let text = config.replace("{dir}", &dir.display().to_string());
        // With a fake GitHub, its settings stand for the GITHUB_* variables.
        let with_github = github.is_some();
        let is_set = |name: &str| {
            std::env::var_os(name).is_some() || (with_github && name.starts_with("GITHUB_"))
        };
        let config = Config::parse_with(&text, "test.toml", &is_set)
            .unwrap_or_else(|e| panic!("test config: {e}"));
        let (sender, transcript) = mpsc::unbounded_channel();
        let console = Console::new(Box::new(std::io::sink()), Some(sender));
        let mut chat = Chat::new();
        chat.add(Arc::new(console));
        let engine = Engine::new(Arc::new(config), store.clone(), chat, settings);
        if let Some(github) = github {
            engine.set_github(Arc::new(deckhand::github::GitHub::new(github)));
        }
        engine.start().await.expect("engine start");
        Tester {
            engine,
            store,
            dir,
            transcript,
        }
    }

    fn person(name: &str) -> Person {
        Person {
            id: format!("console:{name}"),
            name: name.to_owned(),
        }
    }

    /// `name` types `text`; returns once deckhand has answered (not when jobs end).
    pub async fn say(&mut self, name: &str, text: &str) {
        self.engine
            .handle(Event::Command {
                platform: "console".into(),
                channel: "console".into(),
                user: Self::person(name),
                text: text.into(),
                event_id: None,
            })
            .await;
    }

    /// Delivers an event as a platform would, with a delivery id.
    pub async fn deliver(&mut self, event: Event) {
        self.engine.handle(event).await;
    }

    pub async fn react(&mut self, name: &str, emoji: &str, message_id: &str) {
        self.reaction(name, emoji, message_id, true).await;
    }

    pub async fn unreact(&mut self, name: &str, emoji: &str, message_id: &str) {
        self.reaction(name, emoji, message_id, false).await;
    }

    async fn reaction(&mut self, name: &str, emoji: &str, message_id: &str, added: bool) {
        self.engine
            .handle(Event::Reaction {
                platform: "console".into(),
                channel: "console".into(),
                message_id: message_id.into(),
                user: Self::person(name),
                emoji: emoji.into(),
                added,
                event_id: None,
            })
            .await;
    }

    /// The next thing deckhand printed (a post, an edit or a whisper).
    pub async fn next_message(&mut self) -> Printed {
        tokio::time::timeout(PATIENCE, self.transcript.recv())
            .await
            .expect("deckhand said nothing in time")
            .expect("the console closed")
    }

    /// Reads on until a message contains `needle`; returns it.
    pub async fn expect_message(&mut self, needle: &str) -> Printed {
        let deadline = tokio::time::Instant::now() + PATIENCE;
        let mut seen = Vec::new();
        loop {
            match tokio::time::timeout_at(deadline, self.transcript.recv()).await {
                Ok(Some(printed)) if printed.text.contains(needle) => return printed,
                Ok(Some(printed)) => seen.push(printed.text),
                _ => panic!(
                    "no message contained {needle:?}; saw:\n{}",
                    seen.join("\n---\n")
                ),
            }
        }
    }

    /// Everything printed so far and not yet read.
    pub fn drain(&mut self) -> Vec<Printed> {
        let mut out = Vec::new();
        while let Ok(printed) = self.transcript.try_recv() {
            out.push(printed);
        }
        out
    }

    pub async fn job(&self, id: i64) -> Job {
        jobs::get(&self.store.pool, id)
            .await
            .expect("store")
            .expect("no such job")
    }

    /// Waits until job `id` exists and is in `state` (a rollback deckhand starts by
    /// itself appears a moment after the failure that causes it).
    pub async fn wait_for_state(&self, id: i64, state: JobState) -> Job {
        let deadline = tokio::time::Instant::now() + PATIENCE;
        loop {
            let job = jobs::get(&self.store.pool, id).await.expect("store");
            if let Some(job) = job.as_ref().filter(|j| j.state == state) {
                return job.clone();
            }
            if tokio::time::Instant::now() > deadline {
                panic!(
                    "job #{id} is {:?}, never became {state:?}",
                    job.map(|j| j.state)
                );
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// Whether anything holds `env`'s lock.
    /// Makes every audit row of `action` fail to write, as a full disk would (SQLite).
    pub async fn audit_fails_for(&self, action: &str) {
        sqlx::query(sqlx::AssertSqlSafe(format!(
            "CREATE TRIGGER \"audit_fails_{action}\" BEFORE INSERT ON audit_log WHEN NEW.action = '{action}' \
             BEGIN SELECT RAISE(ABORT, 'audit log unavailable'); END"
        )))
        .execute(&self.store.pool)
        .await
        .expect("the failing-audit trigger");
    }

    pub async fn locked(&self, env: &str) -> bool {
        locks::get(&self.store.pool, env, now_ms())
            .await
            .expect("store")
            .is_some()
    }
}
