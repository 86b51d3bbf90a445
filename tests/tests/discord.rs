//! Discord end to end: the real serenity client in deckhand against a fake Discord on
//! 127.0.0.1 (gateway and REST), the HTTP interactions endpoint, and Slack and Discord
//! configured together.

use deckhand::store::jobs::JobState;
use deckhand_tests::discord::tester::{ANNOUNCE, CHANNEL, Mode, PEOPLE, signing_key};
use deckhand_tests::discord::{DiscordTester, FakeDiscord, GUILD_ID, command};
use deckhand_tests::slack::tester::CHANNEL as SLACK_CHANNEL;
use deckhand_tests::team::{MANY_STEPS, without_times};
use ed25519_dalek::SigningKey;
use serde_json::{Value, json};

/// A message as a person sees it, pinned, with its times blanked.
macro_rules! assert_shown {
    ($name:literal, $call:expr) => {
        without_times(|| insta::assert_snapshot!($name, $call.shown()))
    };
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn gateway_deploy_is_answered_at_once_approved_by_reaction_edited_and_announced() {
    let t = DiscordTester::start(Mode::Gateway).await;
    let identify = &t.discord.identifies()[0];
    assert_eq!(
        identify["intents"],
        json!((1 << 0) | (1 << 10) | (1 << 13)),
        "guilds + guild and DM reactions, nothing more"
    );
    t.discord
        .wait_until("commands registered", |f| {
            f.registered(Some(GUILD_ID)).is_some()
        })
        .await;
    let registered = t.discord.registered(Some(GUILD_ID)).unwrap();
    assert!(
        registered.to_string().contains("\"autocomplete\":true"),
        "env options autocomplete"
    );

    let answer = t
        .say("alice", "deploy", &[("env", "prod"), ("ref", "v1.4.2")])
        .await;
    assert_eq!(
        (&answer["type"], &answer["data"]["flags"]),
        (&json!(4), &json!(64)),
        "answered in the response, privately: {answer}"
    );
    assert_eq!(
        answer["data"]["content"],
        "✅ `/deploy prod v1.4.2`: done, see the channel."
    );
    let card = t.card(1).await;
    assert_eq!(card.channel, CHANNEL);
    let posted = t
        .expect(
            "POST",
            &format!("/channels/{CHANNEL}/messages"),
            "awaiting approval",
        )
        .await;
    assert_shown!("deploy_card_awaiting_approval", posted);
    t.react("bob", "✅", &card);
    t.wait_for_state(1, JobState::Succeeded).await;
    let edited = t
        .expect(
            "PATCH",
            &format!("/channels/{CHANNEL}/messages/{}", card.id),
            "succeeded",
        )
        .await;
    assert_shown!("deploy_card_succeeded", edited);
    assert_eq!(edited.authorization.as_deref(), Some("Bot fake-bot-token"));
    let announced = t
        .discord
        .wait_for_text(
            "POST",
            &format!("/channels/{ANNOUNCE}/messages"),
            "Deployed",
        )
        .await;
    assert_shown!("deploy_announcement", announced);
    t.settled(2).await;
    let webhooks: Vec<String> = t
        .discord
        .calls()
        .iter()
        .filter(|c| c.path.starts_with("/webhooks/"))
        .map(|c| c.path.clone())
        .collect();
    assert!(webhooks.is_empty(), "no second answer: {webhooks:?}");
    t.server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_slow_command_is_deferred_and_each_interaction_gets_its_own_answer() {
    for mode in [Mode::Gateway, Mode::Http] {
        let t = DiscordTester::start(mode).await;
        // Posting the incident card takes longer than the acknowledgement window, and
        // a declaration is done only once its card is out. (A deploy is answered as soon
        // as its job exists: its card may wait, the answer does not.)
        for channel in [CHANNEL, ANNOUNCE] {
            t.discord.slow_down(
                &format!("/channels/{channel}/messages"),
                std::time::Duration::from_millis(2500),
            );
        }
        let declare = |title: &str| {
            let id = t.interaction_id();
            command(
                &id,
                t.user("alice"),
                CHANNEL,
                "incident",
                json!([{ "name": "declare", "type": 1, "options": [
                    { "name": "severity", "type": 3, "value": "sev3" },
                    { "name": "title", "type": 3, "value": title },
                ]}]),
            )
        };
        let (prod, twokeys) = (declare("prod is slow"), declare("twokeys is slow"));
        // Two commands from one person in one channel, at once.
        let (first, second) = tokio::join!(t.interact(&prod), t.interact(&twokeys));
        for answer in [&first, &second] {
            assert_eq!(
                (&answer["type"], &answer["data"]["flags"]),
                (&json!(5), &json!(64)),
                "{mode:?}: deferred and ephemeral: {answer}"
            );
        }
        // Each deferred answer is completed through its own interaction's token.
        for (n, env) in [(1, "prod"), (2, "twokeys")] {
            let done = t
                .discord
                .wait_for_any("/webhooks/", &format!("{env} is slow`"))
                .await;
            assert_eq!(done.method, "PATCH", "{mode:?}: the original is replaced");
            let token = format!("token-50000000000000{n:04}");
            let other = format!("token-50000000000000{:04}", 3 - n);
            let (mine, theirs) = if done.path.contains(&token) {
                (token, other)
            } else {
                (other, token)
            };
            assert!(
                done.path.ends_with(&format!("/{mine}/messages/@original")),
                "{}",
                done.path
            );
            assert!(!done.path.contains(&theirs));
            if n == 1 && mode == Mode::Gateway {
                assert_shown!("deferred_answer", done);
            }
        }
        let tokens: std::collections::BTreeSet<String> = t
            .discord
            .calls()
            .iter()
            .filter(|c| c.path.starts_with("/webhooks/"))
            .map(|c| c.path.split('/').nth(3).unwrap_or_default().to_owned())
            .collect();
        assert_eq!(
            tokens.len(),
            2,
            "{mode:?}: one answer per interaction: {tokens:?}"
        );
        let refused = t
            .discord
            .calls()
            .iter()
            .filter(|c| c.method.contains('('))
            .count();
        assert_eq!(refused, 0, "{mode:?}: no call Discord would refuse");
        t.server.stop().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn quick_answers_ride_in_the_interaction_response_on_both_transports() {
    for mode in [Mode::Gateway, Mode::Http] {
        let t = DiscordTester::start(mode).await;
        let status = t.say("alice", "status", &[]).await;
        let help = t.say("alice", "help", &[]).await;
        // carol approves but may not deploy.
        let refusal = t.say("carol", "deploy", &[("env", "prod")]).await;
        let typo = t.say("alice", "deploy", &[("env", "prdo")]).await;
        let unparsed = t
            .say("alice", "history", &[("env", "prod"), ("limit", "lots")])
            .await;
        for (what, answer, needle) in [
            ("status", &status, "prod"),
            ("help", &help, "/deploy"),
            ("refusal", &refusal, "can't deploy"),
            ("unknown env", &typo, "prod"),
            ("parse error", &unparsed, "lots"),
        ] {
            assert_eq!(
                answer["type"], 4,
                "{mode:?} {what}: answered at once: {answer}"
            );
            assert_eq!(answer["data"]["flags"], 64, "{mode:?} {what}: privately");
            let content = answer["data"]["content"].as_str().unwrap_or_default();
            assert!(content.contains(needle), "{mode:?} {what}: {content}");
        }
        t.settled(4).await;
        let said: Vec<String> = t
            .discord
            .calls()
            .iter()
            .filter(|c| c.path.starts_with("/webhooks/") || c.path.contains("/messages"))
            .map(|c| format!("{} {}", c.method, c.path))
            .collect();
        assert!(
            said.is_empty(),
            "{mode:?}: nothing but the responses: {said:?}"
        );
        t.server.stop().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn commands_are_registered_only_when_they_changed() {
    let t = DiscordTester::start(Mode::Gateway).await;
    // The fake records a call after it has answered it: wait for the PUT itself, not
    // for the state it leaves, or the count below can run between the two.
    t.discord
        .wait_for("PUT", |c| c.path.contains("/commands"))
        .await;
    let registered = t.discord.registered(Some(GUILD_ID)).unwrap();
    // Only in deckhand's server, never globally (a global command shows in every server
    // the bot is in), and hidden from members who cannot post.
    assert!(t.discord.registered(None).is_none(), "nothing global");
    for command in registered.as_array().unwrap() {
        assert_eq!(command["default_member_permissions"], "2048", "{command}");
    }
    let puts = |discord: &FakeDiscord| discord.calls().iter().filter(|c| c.method == "PUT").count();
    assert_eq!(puts(&t.discord), 1);
    t.server.stop().await;
    // A restart against the same Discord finds them unchanged.
    let again = DiscordTester::start_on(t.discord.clone(), Mode::Gateway, false).await;
    let platform = again.server.discord.clone().unwrap();
    deckhand_tests::team::eventually("the commands compared", || {
        std::future::ready(platform.commands_checked() == 1)
    })
    .await;
    let fetches = again
        .discord
        .calls()
        .iter()
        .filter(|c| c.method == "GET" && c.path.contains("/commands"))
        .count();
    assert_eq!(fetches, 2, "each start compares the registered commands");
    assert_eq!(puts(&again.discord), 1, "no second registration");
    again.server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn self_approval_on_discord_is_refused_privately() {
    let t = DiscordTester::start(Mode::Gateway).await;
    t.say("alice", "deploy", &[("env", "prod")]).await;
    let card = t.card(1).await;
    t.react("alice", "✅", &card);
    // A reaction has no interaction to answer through: the refusal is a DM, never a
    // reply through alice's earlier /deploy (whose token answers that command only).
    let refusal = t
        .discord
        .wait_for_any("/messages", "approve your own")
        .await;
    let dm = t.discord.dm_of(PEOPLE.alice).expect("a DM channel opened");
    assert_eq!(refusal.path, format!("/channels/{dm}/messages"));
    assert_shown!("self_approval_refusal", refusal);
    t.settled(2).await;
    assert_eq!(t.job(1).await.unwrap().state, JobState::AwaitingApproval);
    // Now alice takes no DMs from the bot: her next refusal mentions her in the channel.
    t.discord.close_dms(PEOPLE.alice);
    t.say("alice", "deploy", &[("env", "twokeys")]).await;
    let card = t.card(2).await;
    t.react("alice", "✅", &card);
    let fallback = t
        .discord
        .wait_for_text(
            "POST",
            &format!("/channels/{CHANNEL}/messages"),
            "approve your own",
        )
        .await;
    let alice = PEOPLE.alice;
    assert!(
        fallback.text().contains(&format!("<@{alice}>")),
        "{}",
        fallback.text()
    );
    assert_eq!(fallback.body["allowed_mentions"]["users"], json!([alice]));
    let webhooks = t
        .discord
        .calls()
        .iter()
        .filter(|c| c.path.starts_with("/webhooks/"))
        .count();
    assert_eq!(webhooks, 0, "no answer through another interaction's token");
    t.server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_reaction_replayed_after_a_resume_counts_once() {
    let t = DiscordTester::start(Mode::Gateway).await;
    t.say("alice", "deploy", &[("env", "twokeys")]).await;
    let card = t.card(1).await;
    t.react("bob", "✅", &card);
    let sequence = t.discord.sequence();
    t.discord
        .wait_for_any(&format!("/messages/{}", card.id), "1/2")
        .await;
    t.settled(2).await;
    t.discord.reconnect();
    t.discord.wait_until("a resume", |f| f.resumes() >= 1).await;
    let bob = deckhand_tests::discord::reaction(PEOPLE.bob, CHANNEL, &card.id, "✅");
    t.discord.redispatch("MESSAGE_REACTION_ADD", bob, sequence);
    t.settled(3).await;
    let store = &t.server.engine.store().pool;
    let (stored,): (i64,) = sqlx::query_as("SELECT COUNT(*) FROM inbox WHERE kind = 'reaction'")
        .fetch_one(store)
        .await
        .unwrap();
    assert_eq!(
        stored, 1,
        "the replay, which has no event id, was dropped at the door"
    );
    assert_eq!(
        deckhand::store::approvals::list(store, 1)
            .await
            .unwrap()
            .len(),
        1
    );
    assert_eq!(t.job(1).await.unwrap().state, JobState::AwaitingApproval);
    t.react("carol", "✅", &card);
    t.wait_for_state(1, JobState::Succeeded).await;
    t.server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn buttons_approve_on_discord() {
    let t = DiscordTester::start(Mode::Gateway).await;
    t.say("alice", "deploy", &[("env", "prod")]).await;
    let card = t.card(1).await;
    let answer = t.click("bob", &card, "deckhand_approve:1").await;
    assert_eq!(
        answer,
        json!({ "type": 6 }),
        "the click is acknowledged without a message"
    );
    t.wait_for_state(1, JobState::Succeeded).await;
    t.server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_http_endpoint_answers_ping_and_rejects_bad_signatures() {
    let t = DiscordTester::start(Mode::Http).await;
    let ping = json!({ "id": "500000000000000010", "application_id": deckhand_tests::discord::APPLICATION_ID, "type": 1, "token": "t", "version": 1 });
    assert_eq!(t.interact(&ping).await, json!({ "type": 1 }));
    let deploy = command(
        &t.interaction_id(),
        t.user("alice"),
        CHANNEL,
        "deploy",
        json!([{ "name": "env", "type": 3, "value": "prod" }]),
    );
    let forged = t
        .post_interaction(&deploy, &SigningKey::from_bytes(&[9u8; 32]))
        .await;
    assert_eq!(forged.status(), 401);
    let unsigned = reqwest::Client::new()
        .post(format!("http://{}/discord/interactions", t.server.addr))
        .body(deploy.to_string())
        .send()
        .await
        .unwrap();
    assert_eq!(unsigned.status(), 401);
    // Genuinely signed, but six minutes old: a replay.
    let stale = t
        .post_interaction_at(
            &deploy,
            &signing_key(),
            chrono::Utc::now().timestamp() - 360,
        )
        .await;
    assert_eq!(stale.status(), 401);
    // The genuine one is the first event deckhand handles, and makes job 1.
    let accepted = t.post_interaction(&deploy, &signing_key()).await;
    assert_eq!(accepted.status(), 200);
    assert_eq!(accepted.json::<Value>().await.unwrap()["type"], 4);
    t.card(1).await;
    t.settled(1).await;
    assert_eq!(t.jobs("prod").await, 1);
    t.server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_429_burst_loses_no_update() {
    let t = DiscordTester::start(Mode::Gateway).await;
    t.discord
        .rate_limit(&format!("/channels/{CHANNEL}/messages/"), 3);
    t.say("alice", "deploy", &[("env", "many")]).await;
    t.wait_for_state(1, JobState::Succeeded).await;
    t.settled(1).await;
    let limited = t
        .discord
        .calls()
        .iter()
        .filter(|c| c.method == "PATCH (429)")
        .count();
    assert_eq!(limited, 3);
    let card = format!("/channels/{CHANNEL}/messages/");
    let last = t
        .discord
        .calls()
        .into_iter()
        .rfind(|c| c.method == "PATCH" && c.path.starts_with(&card))
        .unwrap();
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
    assert!(t.server.discord.as_ref().unwrap().rate_limit_waits() >= 3);
    t.server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_deploy_started_in_slack_is_announced_on_slack_and_discord() {
    let t = DiscordTester::with_slack().await;
    let slack = t.slack.as_ref().unwrap();
    let body = deckhand_tests::slack::slash_command(
        "U01ALICE",
        SLACK_CHANNEL,
        "/deploy",
        "many v9",
        "trigger-1",
    );
    let now = chrono::Utc::now().timestamp();
    let answer = reqwest::Client::new()
        .post(format!("http://{}/slack/commands", t.server.addr))
        .header("content-type", "application/x-www-form-urlencoded")
        .header("x-slack-request-timestamp", now.to_string())
        .header(
            "x-slack-signature",
            deckhand_tests::slack::sign(deckhand_tests::slack::tester::SECRET, now, &body),
        )
        .body(body)
        .send()
        .await
        .unwrap();
    assert_eq!(answer.status(), 200);
    t.wait_for_state(1, JobState::Succeeded).await;
    let on_slack = slack.wait_for_text("chat.postMessage", "Deployed").await;
    let on_discord = t
        .discord
        .wait_for_text(
            "POST",
            &format!("/channels/{ANNOUNCE}/messages"),
            "Deployed",
        )
        .await;
    without_times(|| {
        insta::assert_snapshot!(
            "cross_platform_announcement",
            format!(
                "slack:\n{}\n\ndiscord:\n{}",
                on_slack.shown(),
                on_discord.shown()
            )
        );
    });
    t.server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn env_options_autocomplete_from_the_config_and_a_retried_interaction_counts_once() {
    let t = DiscordTester::start(Mode::Gateway).await;
    let mut autocomplete = command(
        &t.interaction_id(),
        t.user("alice"),
        CHANNEL,
        "deploy",
        json!([{ "name": "env", "type": 3, "value": "tw", "focused": true }]),
    );
    autocomplete["type"] = json!(4);
    let choices = t.interact(&autocomplete).await;
    assert_eq!(choices["type"], 8);
    assert_eq!(
        choices["data"]["choices"],
        json!([{ "name": "twokeys", "value": "twokeys" }])
    );
    let deploy = command(
        &t.interaction_id(),
        t.user("alice"),
        CHANNEL,
        "deploy",
        json!([{ "name": "env", "type": 3, "value": "prod" }]),
    );
    t.discord.dispatch("INTERACTION_CREATE", deploy.clone());
    t.discord.dispatch("INTERACTION_CREATE", deploy);
    t.card(1).await;
    t.settled(2).await;
    assert_eq!(t.jobs("prod").await, 1, "one job");
    t.server.stop().await;
}

/// A server deckhand was invited to but does not serve.
const STRANGER_GUILD: &str = "900000000000000666";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn strangers_servers_and_dms_are_ignored_on_both_transports() {
    use deckhand_tests::discord::{from_dm, from_guild};
    for mode in [Mode::Gateway, Mode::Http] {
        let t = DiscordTester::start(mode).await;
        let status = |t: &DiscordTester| {
            command(
                &t.interaction_id(),
                t.user("alice"),
                CHANNEL,
                "status",
                json!([]),
            )
        };
        for interaction in [from_guild(status(&t), STRANGER_GUILD), from_dm(status(&t))] {
            let answer = t.interact(&interaction).await;
            assert_eq!(answer["type"], 4, "{mode:?}: answered at once: {answer}");
            assert_eq!(answer["data"]["flags"], 64, "{mode:?}: privately");
            let text = answer["data"]["content"].as_str().unwrap_or_default();
            assert!(text.contains("isn't set up here"), "{mode:?}: {text}");
        }
        // Nothing was stored or handled, so nothing was said anywhere.
        let store = &t.server.engine.store().pool;
        let (events,): (i64,) = sqlx::query_as("SELECT COUNT(*) FROM inbox")
            .fetch_one(store)
            .await
            .unwrap();
        assert_eq!(events, 0, "{mode:?}");
        // A deploy from a stranger's server creates no job.
        let deploy = command(
            &t.interaction_id(),
            t.user("alice"),
            CHANNEL,
            "deploy",
            json!([{ "name": "env", "type": 3, "value": "staging" }]),
        );
        t.interact(&from_guild(deploy, STRANGER_GUILD)).await;
        assert_eq!(t.jobs("staging").await, 0, "{mode:?}");
        t.server.stop().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_reaction_in_another_server_does_not_approve() {
    let t = DiscordTester::start(Mode::Gateway).await;
    t.say("alice", "deploy", &[("env", "twokeys")]).await;
    let card = t.card(1).await;
    t.discord
        .dispatch("MESSAGE_REACTION_ADD", from_guild_reaction(&card));
    t.react("bob", "✅", &card);
    t.discord
        .wait_for_any(&format!("/messages/{}", card.id), "1/2")
        .await;
    // Two events were handled (the command, bob's ✅); carol's from elsewhere was not one.
    t.settled(2).await;
    let approvals = deckhand::store::approvals::list(&t.server.engine.store().pool, 1)
        .await
        .unwrap();
    assert_eq!(approvals.len(), 1, "{approvals:?}");
    assert_eq!(approvals[0].person_name, "bob");
    assert_eq!(t.job(1).await.unwrap().state, JobState::AwaitingApproval);
    // Her ✅ in deckhand's own server counts.
    t.react("carol", "✅", &card);
    t.wait_for_state(1, JobState::Succeeded).await;
    t.server.stop().await;
}

/// carol's ✅ on the card, as if the message were in a server deckhand does not serve.
fn from_guild_reaction(card: &deckhand_tests::discord::tester::Message) -> Value {
    deckhand_tests::discord::from_guild(
        deckhand_tests::discord::reaction(PEOPLE.carol, &card.channel, &card.id, "✅"),
        STRANGER_GUILD,
    )
}

/// A `deckhand run` replica on `store` with the gateway on, against `discord`.
async fn replica(discord: &FakeDiscord, store: deckhand::store::Store) -> deckhand::server::Server {
    let options = deckhand::server::Options {
        settings: deckhand_tests::console::quick_settings(),
        listen: "127.0.0.1:0".into(),
        slack: None,
        discord: Some(deckhand_tests::discord::tester::settings(
            discord,
            Mode::Gateway,
        )),
        api_token: None,
        metrics_token: None,
        edge: Default::default(),
        github: None,
    };
    deckhand::server::Server::start(
        deckhand_tests::discord::tester::config(false),
        store,
        options,
    )
    .await
    .expect("server")
}

async fn role(server: &deckhand::server::Server) -> String {
    let health: Value = reqwest::get(format!("http://{}/healthz", server.addr))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    health["role"].as_str().unwrap_or_default().to_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn on_postgres_only_the_leader_connects_the_gateway_and_a_follower_takes_over() {
    let Some(base) = deckhand::testing::require_postgres() else {
        return;
    };
    let discord = FakeDiscord::start().await;
    let (store, url) = deckhand::testing::postgres(&base).await;
    let first = replica(&discord, store).await;
    discord.wait_ready().await;
    let second = replica(&discord, deckhand::store::Store::open(&url).await.unwrap()).await;
    tokio::time::sleep(std::time::Duration::from_secs(2)).await;
    assert_eq!(
        discord.identifies().len(),
        1,
        "one gateway session for two replicas"
    );
    assert_eq!(role(&first).await, "leader");
    assert_eq!(role(&second).await, "follower");

    let stopped = std::time::Instant::now();
    first.stop().await;
    discord
        .wait_until("the follower connecting the gateway", |f| {
            f.identifies().len() == 2
        })
        .await;
    println!(
        "gateway connected on the new leader {:?} after the old one stopped",
        stopped.elapsed()
    );
    assert_eq!(role(&second).await, "leader");
    second.stop().await;
}
