//! The team every platform test plays: alice deploys, bob and carol approve, on three
//! environments (`prod` needs one approval, `twokeys` two, `many` none and has six
//! steps, for rate-limit tests). One config, written for whichever platforms a test runs.

use std::time::Duration;

use deckhand::server::Server;
use deckhand::store::jobs::{self, Job, JobState};
use deckhand::store::messages::{self, PostedMessage, Subject};

/// The people of a platform: their ids there, and the name the fake gives each.
#[derive(Debug, Clone, Copy)]
pub struct People {
    pub platform: &'static str,
    pub alice: &'static str,
    pub bob: &'static str,
    pub carol: &'static str,
}

impl People {
    /// The id of `name` ("alice", "bob", "carol"); any other name is its own id.
    pub fn id(&self, name: &str) -> String {
        match name {
            "alice" => self.alice,
            "bob" => self.bob,
            "carol" => self.carol,
            other => other,
        }
        .to_owned()
    }

    /// Each person's (name, id), for naming them in the fake.
    pub fn named(&self) -> [(&'static str, &'static str); 3] {
        [
            ("alice", self.alice),
            ("bob", self.bob),
            ("carol", self.carol),
        ]
    }
}

/// The team's config: announcements to `announce`, and the roles filled by everyone in
/// `teams` (one `People` per platform under test).
pub fn config(announce: &[&str], teams: &[People]) -> String {
    let quoted = |pick: fn(&People) -> Vec<&'static str>| {
        teams
            .iter()
            .flat_map(|people| {
                pick(people)
                    .into_iter()
                    .map(move |id| format!("\"{}:{id}\"", people.platform))
            })
            .collect::<Vec<_>>()
            .join(", ")
    };
    let announce = announce
        .iter()
        .map(|c| format!("\"{c}\""))
        .collect::<Vec<_>>()
        .join(", ");
    let deployers = quoted(|p| vec![p.alice]);
    let approvers = quoted(|p| vec![p.bob, p.carol]);
    let many: String = (1..=MANY_STEPS)
        .map(|n| format!("[[environments.many.deploy]]\nname = \"Step {n}\"\nrun = [\"true\"]\n"))
        .collect();
    format!(
        r#"
[bot]
announce = [{announce}]

[roles]
deployers = [{deployers}]
approvers = [{approvers}]

[environments.prod]
deployers = ["deployers"]
approvers = ["approvers"]
approvals = 1

[[environments.prod.deploy]]
name = "Build"
run = ["sh", "-c", "echo building $DECKHAND_REF"]

[[environments.prod.deploy]]
name = "Deploy"
run = ["sh", "-c", "echo deployed"]

[[environments.prod.deploy]]
name = "Smoke test"
run = ["true"]

[environments.twokeys]
deployers = ["deployers"]
approvers = ["approvers"]
approvals = 2

[[environments.twokeys.deploy]]
name = "Deploy"
run = ["true"]

[environments.many]
deployers = ["deployers"]

{many}"#
    )
}

/// Runs `f` (an insta assertion) with the times in deckhand's messages, which vary from
/// run to run, blanked: `(12ms)`, `took 3s`, `4s ago`.
pub fn without_times<R>(f: impl FnOnce() -> R) -> R {
    let mut settings = insta::Settings::clone_current();
    settings.add_filter(r"[_*]?\(\d+(\.\d+)?(ms|s|m)\)[_*]?", "(TIME)");
    settings.add_filter(r"took \d+(\.\d+)?(ms|s|m)", "took TIME");
    settings.add_filter(r"\d+(\.\d+)?(ms|s|m) ago", "TIME ago");
    settings.bind(f)
}

/// What a platform tester asks of the deckhand it runs, whatever the platform.
pub struct Deckhand<'a>(pub &'a Server);

impl Deckhand<'_> {
    pub async fn job(&self, id: i64) -> Option<Job> {
        jobs::get(&self.0.engine.store().pool, id)
            .await
            .expect("jobs")
    }

    pub async fn wait_for_state(&self, id: i64, state: JobState) -> Job {
        until(&format!("job {id} {state:?}"), || async move {
            self.job(id).await.filter(|j| j.state == state)
        })
        .await
    }

    /// Jobs ever requested for `env`.
    pub async fn jobs(&self, env: &str) -> usize {
        jobs::history(&self.0.engine.store().pool, env, 100)
            .await
            .expect("history")
            .len()
    }

    /// The card of job `id` on `platform`, once deckhand has posted and remembered it.
    pub async fn card(&self, platform: &str, id: i64) -> PostedMessage {
        let pool = &self.0.engine.store().pool;
        until(&format!("a {platform} card for job {id}"), || async move {
            messages::for_subject(pool, Subject::Job(id))
                .await
                .expect("posted messages")
                .into_iter()
                .find(|m| m.platform == platform && m.purpose == "card")
        })
        .await
    }

    /// Waits until deckhand has handled exactly `count` events to their end (answered,
    /// deduplicated or refused) and `busy` (its outbox on the platform) reads 0.
    pub async fn settled(&self, count: u64, busy: impl Fn() -> usize) {
        let engine = &self.0.engine;
        eventually(&format!("{count} events handled"), || {
            std::future::ready(engine.events_handled() >= count)
        })
        .await;
        assert_eq!(engine.events_handled(), count, "more events than sent");
        let quiet = tokio::time::timeout(PATIENCE, async {
            while busy() + engine.outbox_busy() > 0 {
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
        })
        .await;
        if quiet.is_err() {
            // What is stuck, to say why in the failure.
            type Row = (i64, String, Option<String>, Option<String>, Option<String>);
            let rows: Vec<Row> =
                sqlx::query_as("SELECT id, kind, body, claimed_by, last_error FROM outbox")
                    .fetch_all(&engine.store().pool)
                    .await
                    .unwrap_or_default();
            panic!(
                "the outbox never emptied: platform {}, outbox {}; rows {rows:?}",
                busy(),
                engine.outbox_busy()
            );
        }
    }
}

/// Steps of the `many` env.
pub const MANY_STEPS: usize = 6;

/// Long enough for anything a platform test waits on; a hang fails instead of blocking.
pub const PATIENCE: Duration = Duration::from_secs(20);

/// Polls `check` until it holds, failing with `what` after `PATIENCE`.
pub async fn eventually<F, Fut>(what: &str, mut check: F)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    until(what, || {
        let done = check();
        async move { done.await.then_some(()) }
    })
    .await
}

/// Polls `find` until it finds something, failing with `what` after `PATIENCE`.
pub async fn until<T, F, Fut>(what: &str, mut find: F) -> T
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Option<T>>,
{
    let deadline = tokio::time::Instant::now() + PATIENCE;
    loop {
        if let Some(found) = find().await {
            return found;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "never happened: {what}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_team_config_parses_for_two_platforms() {
        let slack = People {
            platform: "slack",
            alice: "U01ALICE",
            bob: "U02BOB",
            carol: "U03CAROL",
        };
        let discord = People {
            platform: "discord",
            alice: "1",
            bob: "2",
            carol: "3",
        };
        let text = config(&["slack:#deploys"], &[slack, discord]);
        let config = deckhand::config::Config::parse(&text, "team.toml").unwrap();
        assert_eq!(
            config.environments["many"].deploy.as_ref().map(Vec::len),
            Some(MANY_STEPS)
        );
        assert!(
            text.contains(r#"deployers = ["slack:U01ALICE", "discord:1"]"#),
            "{text}"
        );
    }
}
