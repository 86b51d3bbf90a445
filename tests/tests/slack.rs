//! Slack end to end: the real slack-morphism client in deckhand against a fake Slack on
//! 127.0.0.1, in HTTP mode (signed requests) and in Socket Mode.

use deckhand::slack::Limits;
use deckhand::store::jobs::JobState;
use deckhand_tests::slack::tester::{CHANNEL, SECRET};
use deckhand_tests::slack::{Mode, SlackTester, event_callback, reaction, sign, slash_command};
use deckhand_tests::team::{MANY_STEPS, without_times};

fn now() -> i64 {
    chrono::Utc::now().timestamp()
}

/// A message as a person sees it, pinned, with its times blanked.
macro_rules! assert_shown {
    ($name:literal, $call:expr) => {
        without_times(|| insta::assert_snapshot!($name, $call.shown()))
    };
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn http_mode_deploy_is_approved_by_reaction_and_announced() {
    let t = SlackTester::start(Mode::Http).await;
    let ack = t.say("alice", "/deploy prod v1.4.2").await;
    assert_eq!(ack["response_type"], "ephemeral");
    insta::assert_snapshot!(ack["text"].as_str().unwrap(), @"⏳ on it: `/deploy prod v1.4.2`");

    let card = t.card(1).await;
    let posted = t.expect("chat.postMessage", "awaiting approval").await;
    assert_eq!(posted.channel(), CHANNEL);
    assert_eq!(
        posted.authorization.as_deref(),
        Some("Bearer xoxb-test-token")
    );
    assert_shown!("deploy_card_awaiting_approval", posted);
    let users = t.slack.calls_of("users.info");
    assert!(users.iter().any(|c| c.body["user"] == "U01ALICE"));

    t.react("bob", "✅", &card).await;
    t.wait_for_state(1, JobState::Succeeded).await;
    let done = t.expect("chat.update", "succeeded").await;
    assert_eq!(
        done.body["ts"].as_str(),
        Some(card.ts.as_str()),
        "the same card is edited"
    );
    assert_shown!("deploy_card_succeeded", done);
    // The announcement is posted as the job ends, the card edit goes through the
    // outbox: either may reach Slack first.
    let announcement = t.slack.wait_for_text("chat.postMessage", "Deployed").await;
    // By name, or by the id the first post to #deploys taught deckhand.
    assert_eq!(
        deckhand_tests::slack::channel_id(announcement.channel()),
        "CDEPLOYS"
    );
    assert_shown!("deploy_announcement", announcement);
    t.server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn self_approval_in_slack_is_refused_with_an_ephemeral_reason() {
    let t = SlackTester::start(Mode::Http).await;
    t.say("alice", "/deploy prod v2").await;
    let card = t.card(1).await;
    t.react("alice", "✅", &card).await;
    let refusal = t.expect("chat.postEphemeral", "approve").await;
    assert_eq!(refusal.body["user"], "U01ALICE");
    assert_eq!(refusal.channel(), CHANNEL);
    assert_shown!("self_approval_refusal", refusal);
    t.settled(2).await;
    assert_eq!(t.job(1).await.unwrap().state, JobState::AwaitingApproval);
    t.server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tampered_or_missing_signature_gets_401_and_nothing_happens() {
    let t = SlackTester::start(Mode::Http).await;
    let form = "application/x-www-form-urlencoded";
    let body = slash_command("U01ALICE", CHANNEL, "/deploy", "prod v1", "trigger-1");
    let signed_as = |signature: String| {
        t.request("/slack/commands", form, &body)
            .header("x-slack-request-timestamp", now().to_string())
            .header("x-slack-signature", signature)
    };
    let tampered = sign(SECRET, now(), &body.replace("v1", "v2"));
    assert_eq!(signed_as(tampered).send().await.unwrap().status(), 401);
    let wrong_key = sign("not-the-secret", now(), &body);
    assert_eq!(signed_as(wrong_key).send().await.unwrap().status(), 401);
    let unsigned = t
        .request("/slack/commands", form, &body)
        .send()
        .await
        .unwrap();
    assert_eq!(unsigned.status(), 401);
    // A genuine command after them is the first and only thing deckhand handles; its
    // answer is the acknowledgement itself.
    let ack = t.say("alice", "/status prod").await;
    let text = ack["text"].as_str().unwrap_or_default();
    assert!(text.contains("prod") && !text.contains("on it"), "{ack}");
    t.settled(1).await;
    assert_eq!(t.jobs("prod").await, 0);
    // (conversations.list is the start-up lookup of #deploys's id.)
    let calls: Vec<_> = t
        .slack
        .calls()
        .into_iter()
        .map(|c| c.method)
        .filter(|m| m != "conversations.list")
        .collect();
    assert_eq!(calls, ["users.info"], "no separate answer");
    t.server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stale_timestamp_gets_401() {
    let t = SlackTester::start(Mode::Http).await;
    let body = slash_command("U01ALICE", CHANNEL, "/deploy", "prod v1", "trigger-1");
    let old = now() - 6 * 60;
    let answer = t
        .signed(
            "/slack/commands",
            "application/x-www-form-urlencoded",
            &body,
            old,
        )
        .send()
        .await
        .unwrap();
    assert_eq!(answer.status(), 401);
    t.say("alice", "/status prod").await;
    t.settled(1).await;
    assert_eq!(t.jobs("prod").await, 0);
    t.server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn url_verification_is_answered_with_the_challenge() {
    let t = SlackTester::start(Mode::Http).await;
    let challenge = "3eZbrw1aBm2rZgRNFdxV2595E9CY3gmdALWMmHkvFXO7tYXAYM8P";
    let body =
        serde_json::json!({"token": "t", "challenge": challenge, "type": "url_verification"});
    let answer = t
        .signed(
            "/slack/events",
            "application/json",
            &body.to_string(),
            now(),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(answer.status(), 200);
    assert_eq!(answer.text().await.unwrap(), challenge);
    t.server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn retried_deliveries_create_one_job_and_count_one_approval() {
    let t = SlackTester::start(Mode::Http).await;
    t.say_with_trigger("alice", "/deploy twokeys v1", "trigger-1")
        .await;
    t.say_with_trigger("alice", "/deploy twokeys v1", "trigger-1")
        .await;
    let card = t.card(1).await;
    let approval = event_callback(
        "Ev7",
        reaction(true, "U02BOB", "white_check_mark", &card.channel, &card.ts),
    );
    t.deliver(&approval, None).await;
    for n in 1..=3 {
        t.deliver(&approval, Some(n)).await;
    }
    t.settled(6).await;
    let store = &t.server.engine.store().pool;
    assert_eq!(t.jobs("twokeys").await, 1, "one job");
    assert_eq!(
        t.job(1).await.unwrap().state,
        JobState::AwaitingApproval,
        "bob's ✅ counted once of the two needed"
    );
    assert_eq!(
        deckhand::store::approvals::list(store, 1)
            .await
            .unwrap()
            .len(),
        1
    );
    t.react("carol", "✔️", &card).await;
    t.wait_for_state(1, JobState::Succeeded).await;
    t.server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_parse_error_is_the_ack_itself_and_makes_no_job() {
    let t = SlackTester::start(Mode::Http).await;
    let ack = t.say("alice", "/deploy prod v1;rm").await;
    insta::assert_snapshot!("parse_error_ack", ack["text"].as_str().unwrap());
    // A parse error never reaches the engine: the next command is the first it handles.
    t.say("alice", "/status prod").await;
    t.settled(1).await;
    assert_eq!(t.jobs("prod").await, 0);
    t.server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn buttons_approve_and_umbrella_and_mentions_work() {
    let t = SlackTester::start(Mode::Http).await;
    t.say("alice", "/deckhand deploy prod v3").await;
    let card = t.card(1).await;
    t.click("bob", &card, "deckhand_approve", "1").await;
    t.wait_for_state(1, JobState::Succeeded).await;
    // The job's page says how it was approved.
    let approvals = deckhand::store::approvals::list(&t.server.engine.store().pool, 1)
        .await
        .unwrap();
    assert_eq!(approvals[0].via.as_deref(), Some("button"));
    t.mention("alice", "status prod").await;
    let status = t.expect("chat.postEphemeral", "runs").await;
    assert_shown!("status_after_deploy", status);
    t.server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_burst_of_429s_loses_no_update_and_ends_on_the_latest_state() {
    let limits = Limits {
        per_channel_per_second: 1,
        per_channel_burst: 2,
        global_per_second: 20,
    };
    let t = SlackTester::start_with(Mode::Http, limits).await;
    t.slack.rate_limit("chat.update", 3);
    t.say("alice", "/deploy many v1").await;
    t.wait_for_state(1, JobState::Succeeded).await;
    let announcement = t.expect("chat.postMessage", "Deployed").await;
    assert_eq!(
        deckhand_tests::slack::channel_id(announcement.channel()),
        "CDEPLOYS"
    );
    t.settled(1).await;
    // The 429s were honoured, and the final state is the last thing Slack was told.
    assert_eq!(t.slack.calls_of("chat.update (429)").len(), 3);
    let last = t.slack.calls_of("chat.update").pop().unwrap();
    assert!(
        last.text().contains("succeeded"),
        "latest state last: {}",
        last.text()
    );
    assert!(
        last.text().contains(&format!("✅ Step {MANY_STEPS}")),
        "{}",
        last.text()
    );
    assert!(t.server.slack.as_ref().unwrap().rate_limit_waits() >= 3);
    let metrics = reqwest::get(format!("http://{}/metrics", t.server.addr))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    for line in [
        "deckhand_rate_limit_waits_total{platform=\"slack\"} 3".to_owned(),
        "deckhand_jobs{state=\"succeeded\"} 1".to_owned(),
        "deckhand_commands_total 1".to_owned(),
        format!("deckhand_step_duration_seconds_count {MANY_STEPS}"),
    ] {
        assert!(metrics.contains(&line), "{line} in {metrics}");
    }
    t.server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn socket_mode_deploy_acks_runs_and_survives_a_disconnect() {
    let t = SlackTester::start(Mode::Socket).await;
    let ack = t
        .say_with_trigger("alice", "/deploy prod v7", "trigger-s1")
        .await;
    insta::assert_snapshot!(ack["text"].as_str().unwrap(), @"⏳ on it: `/deploy prod v7`");
    let card = t.card(1).await;
    t.react("bob", "✅", &card).await;
    t.wait_for_state(1, JobState::Succeeded).await;
    t.expect("chat.update", "succeeded").await;

    t.slack.disconnect();
    t.slack.wait_for_connections(2).await;
    t.say_with_trigger("alice", "/deploy prod v8", "trigger-s2")
        .await;
    t.card(2).await;
    // A redelivered envelope (same trigger) makes no second job.
    t.say_with_trigger("alice", "/deploy prod v8", "trigger-s2")
        .await;
    t.settled(4).await;
    assert_eq!(t.jobs("prod").await, 2);
    t.server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn peoples_text_can_never_ping_a_channel() {
    let t = SlackTester::start(Mode::Http).await;
    t.say("alice", "/lock prod &lt;!channel&gt; db work").await;
    let said = t.expect("chat.postMessage", "locked by").await;
    assert!(
        said.text().contains("&lt;!channel&gt; db work"),
        "{}",
        said.text()
    );
    assert!(!said.text().contains("<!channel>"), "{}", said.text());
    assert_shown!("lock_with_a_channel_ping", said);
    t.server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_shutting_down_deckhand_answers_503_so_slack_retries_elsewhere() {
    let t = SlackTester::start(Mode::Http).await;
    t.server.drain();
    let body = slash_command("U01ALICE", CHANNEL, "/deploy", "prod v1", "trigger-1");
    let answer = t.post_form("/slack/commands", &body).await;
    assert_eq!(answer.status(), 503);
    assert_eq!(answer.headers()["retry-after"], "5");
    let health = reqwest::get(format!("http://{}/healthz", t.server.addr))
        .await
        .unwrap();
    assert_eq!(health.status(), 503, "readiness fails while draining");
    assert_eq!(t.server.engine.events_handled(), 0);
    assert_eq!(t.jobs("prod").await, 0);
    t.server.shut_down(std::time::Duration::from_secs(1)).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn behind_a_429_storm_the_outbox_holds_no_more_in_memory_than_its_bound() {
    const BOUND: usize = 4;
    let settings = deckhand::jobs::Settings {
        outbox_sending: BOUND,
        now: Default::default(),
        ..deckhand_tests::console::quick_settings()
    };
    let t = SlackTester::start_with_settings(
        Mode::Http,
        deckhand_tests::console::fast_limits(),
        settings,
    )
    .await;
    // Every answer is refused with 429 for a while (Retry-After: 1 each).
    t.slack.rate_limit("chat.postEphemeral", 30);
    let pool = &t.server.engine.store().pool;
    let alice = deckhand::chat::Person {
        id: "slack:U01ALICE".into(),
        name: "alice".into(),
    };
    for n in 0..40 {
        let answer = deckhand::store::outbox::Outgoing::Whisper {
            platform: "slack".into(),
            channel: format!("C{n:02}"),
            user: alice.clone(),
            reply: None,
            text: format!("answer {n}"),
        };
        deckhand::store::outbox::queue(pool, &answer, deckhand::store::now_ms())
            .await
            .unwrap();
    }
    // While the storm lasts, at most BOUND rows are in memory; the rest wait in the store.
    let mut most = 0;
    let engine = &t.server.engine;
    deckhand_tests::team::eventually("all 40 answers sent", || {
        most = most.max(engine.outbox_sending());
        let sent = t.slack.calls_of("chat.postEphemeral").len();
        std::future::ready(sent == 40)
    })
    .await;
    assert!(most > 0, "the sender was watched while it worked");
    assert!(
        most <= BOUND,
        "{most} rows in memory at once, bound {BOUND}"
    );
    assert!(t.slack.calls_of("chat.postEphemeral (429)").len() >= 30);
    t.server.stop().await;
}

/// 150 refused ✅ from one person against Slack's one-message-per-second channel limit:
/// one answer per reason, one audit row each, and the real approval's card edit is not
/// queued behind them.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_flood_of_refused_reactions_costs_one_answer_and_does_not_delay_the_card() {
    let slack_like = deckhand::chat::outbox::Limits {
        per_channel_per_second: 1,
        per_channel_burst: 1,
        global_per_second: 50,
    };
    let t = SlackTester::start_with(Mode::Http, slack_like).await;
    t.say("alice", "/deploy prod v2").await;
    let card = t.card(1).await;
    for _ in 0..150 {
        t.react("alice", "✅", &card).await;
    }
    t.settled(151).await;
    t.react("bob", "✅", &card).await;
    // The first card edit after bob's ✅ (a burst of changes may coalesce into one).
    t.slack.wait_for("chat.update", |_| true).await;
    // Everything sent to the channel before that edit: at most the two answers
    // (self-approval, then slow down), never 150.
    let calls = t.slack.calls();
    let before: Vec<_> = calls
        .iter()
        .take_while(|c| c.method != "chat.update")
        .filter(|c| c.method == "chat.postEphemeral")
        .collect();
    assert!(before.len() <= 2, "{} answers went first", before.len());
    t.wait_for_state(1, JobState::Succeeded).await;
    let answers = t.slack.calls_of("chat.postEphemeral");
    let to_alice: Vec<_> = answers
        .iter()
        .filter(|c| c.body["user"] == "U01ALICE")
        .collect();
    assert!(
        (1..=2).contains(&to_alice.len()),
        "one answer per reason: {:?}",
        to_alice
            .iter()
            .map(|c| c.body["text"].clone())
            .collect::<Vec<_>>()
    );
    let log = deckhand::store::audit::recent(&t.server.engine.store().pool, 500)
        .await
        .unwrap();
    let refused = log
        .iter()
        .filter(|r| r.actor == "slack:U01ALICE" && r.action != "job.awaiting_approval")
        .count();
    assert!(
        (1..=2).contains(&refused),
        "one audit row per reason, not 150: {refused}"
    );
    t.server.stop().await;
}

/// `/status`, `/help`, a refusal, a parse error and a `--dry-run` plan are answered in the slash command's
/// acknowledgement: no `chat.postEphemeral`, nothing queued behind the channel limit.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn quick_answers_ride_in_the_acknowledgement() {
    for mode in [Mode::Http, Mode::Socket] {
        let t = SlackTester::start(mode).await;
        let status = t.say("alice", "/status").await;
        assert!(
            status["text"].as_str().unwrap().contains("prod"),
            "{mode:?}: {status}"
        );
        let help = t.say("alice", "/help deploy").await;
        assert!(
            help["text"].as_str().unwrap().contains("/deploy"),
            "{mode:?}: {help}"
        );
        let refused = t.say("carol", "/deploy prod v1").await;
        assert!(
            refused["text"].as_str().unwrap().contains("deploy"),
            "{mode:?}: {refused}"
        );
        let unparsed = t.say("alice", "/deploy").await;
        assert!(
            unparsed["text"].as_str().unwrap().contains("ENV"),
            "{mode:?}: {unparsed}"
        );
        // A plan is an answer too: nothing is created, and nothing waits to be posted.
        let plan = t.say("alice", "/deploy prod v1 --dry-run").await;
        assert!(
            plan["text"].as_str().unwrap().contains("*Dry run*: deploy"),
            "{mode:?}: {plan}"
        );
        for answer in [&status, &help, &refused, &unparsed, &plan] {
            assert_eq!(answer["response_type"], "ephemeral", "{mode:?}");
            // The answer itself, not the "⏳ on it" placeholder (which names the command).
            let text = answer["text"].as_str().unwrap_or_default();
            assert!(!text.contains("on it"), "{mode:?}: {text}");
        }
        t.settled(4).await;
        assert!(
            t.slack.calls_of("chat.postEphemeral").is_empty(),
            "{mode:?}: {:?}",
            t.slack.calls_of("chat.postEphemeral")
        );
        // A deploy still posts its card in the channel.
        let deploy = t.say("alice", "/deploy prod v1").await;
        t.card(1).await;
        assert!(deploy["text"].as_str().is_some(), "{mode:?}: {deploy}");
        t.server.stop().await;
    }
}

/// Incidents and reminders in channels configured by name, as most teams write them.
const NAMED_CHANNELS: &str = r#"
[incidents]
channels = ["slack:#incidents"]
declarers = ["deployers"]

[reminders]
schedule = "0 0 9 * * *"
channel = "slack:#ops"

[[secrets]]
name = "LATE_KEY"
env = "prod"
every = "90d"
owner = "slack:U01ALICE"
last_rotated = "2020-01-01"
"#;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn channels_configured_by_name_work_after_the_first_post_in_both_modes() {
    use deckhand::store::messages::{self, Subject};
    for mode in [Mode::Http, Mode::Socket] {
        let t = SlackTester::start_with_config(mode, NAMED_CHANNELS).await;
        // The incident card goes to #incidents by name, and is edited there by id.
        t.say("alice", "/incident declare sev2 checkout is slow")
            .await;
        let card = t.slack.wait_for_text("chat.postMessage", "INC-1").await;
        assert_eq!(card.channel(), "#incidents", "{mode:?}");
        t.say("alice", "/incident update INC-1 rolled the cache back")
            .await;
        let edited = t
            .slack
            .wait_for_text("chat.update", "rolled the cache back")
            .await;
        assert_eq!(edited.channel(), "CINCIDENTS", "{mode:?}: edited by id");

        // The reminder goes to #ops by name; alice's ✅ arrives with the channel's id.
        let pool = &t.server.engine.store().pool;
        t.server
            .engine
            .tick(deckhand::store::now_ms())
            .await
            .unwrap();
        let tomorrow = deckhand::store::now_ms() + 24 * 3600 * 1000;
        t.server.engine.tick(tomorrow).await.unwrap();
        let reminder = t.slack.wait_for_text("chat.postMessage", "LATE_KEY").await;
        assert_eq!(reminder.channel(), "#ops", "{mode:?}");
        let secret = deckhand::store::secrets::by_name(pool, "LATE_KEY")
            .await
            .unwrap()
            .remove(0);
        let posted = deckhand_tests::team::until("the reminder remembered", || async {
            messages::for_subject(pool, Subject::Secret(secret.id))
                .await
                .unwrap()
                .into_iter()
                .find(|m| m.platform == "slack")
        })
        .await;
        assert_eq!(posted.channel, "COPS", "{mode:?}: kept by id");
        let card = deckhand_tests::slack::tester::Card {
            channel: "COPS".into(),
            ts: posted.message_id.clone(),
        };
        t.react("alice", "✅", &card).await;
        deckhand_tests::team::eventually("the rotation recorded", || async {
            deckhand::store::secrets::by_name(pool, "LATE_KEY")
                .await
                .unwrap()
                .remove(0)
                .last_rotated_by
                .is_some()
        })
        .await;
        let refused: Vec<String> = t
            .slack
            .calls()
            .iter()
            .filter(|c| c.method.contains('('))
            .map(|c| c.method.clone())
            .collect();
        assert!(refused.is_empty(), "{mode:?}: Slack refused {refused:?}");
        t.server.stop().await;
    }
}

/// A burst from one person asks `users.info` once: the first lookup is in flight, the
/// rest wait for it and read its answer.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_burst_from_one_person_looks_them_up_once() {
    let t = SlackTester::start(Mode::Http).await;
    t.slack
        .slow("users.info", std::time::Duration::from_millis(300));
    let answers = futures::future::join_all((0..30).map(|_| t.say("carol", "/status"))).await;
    assert_eq!(answers.len(), 30);
    assert_eq!(
        t.slack.calls_of("users.info").len(),
        1,
        "one lookup for 30 commands from one person"
    );
    t.server.stop().await;
}
