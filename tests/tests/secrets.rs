//! Secret-rotation reminders on a controllable clock (the engine's `tick(now)`): tiers at
//! the right times, once per fire time across restarts, one catch-up after downtime,
//! rotations by command and by ✅, and delivery to Slack and Discord.

use chrono::{Duration as Days, NaiveDate, Utc};
use deckhand::store::now_ms;
use deckhand::store::secrets;
use deckhand_tests::Tester;

/// Rotated `ago` days ago, every 90 days.
fn config(ago: &[(&str, i64)]) -> String {
    let mut text = String::from(
        r#"
[bot]
announce = ["console:#deploys"]

[roles]
team = ["console:*"]
admins = ["console:root"]

[environments.prod]
deployers = ["team"]
[[environments.prod.deploy]]
name = "Deploy"
run = ["true"]

[reminders]
schedule = "0 0 9 * * *"
channel = "console:#ops"
escalation_channel = "console:#ops-leads"
"#,
    );
    let today = Utc::now().date_naive();
    for (name, days) in ago {
        let rotated: NaiveDate = today - Days::days(*days);
        text.push_str(&format!(
            "[[secrets]]\nname = \"{name}\"\nenv = \"prod\"\nevery = \"90d\"\nowner = \"console:alice\"\nlast_rotated = \"{rotated}\"\nrunbook = \"https://wiki.example.com/{name}\"\n"
        ));
    }
    text
}

/// 09:00 UTC, `days` from today.
fn nine(days: i64) -> i64 {
    let date = Utc::now().date_naive() + Days::days(days);
    date.and_hms_opt(9, 0, 0)
        .unwrap()
        .and_utc()
        .timestamp_millis()
}

/// Starts the reminder clock (the first tick only records where tracking begins).
async fn started(t: &Tester) {
    t.engine.tick(now_ms()).await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tiers_arrive_at_the_right_times_in_the_right_channels() {
    // SOON is due in 5 days, DUE today, LATE 10 days ago, FRESH in 60 days.
    let mut t = Tester::new(&config(&[
        ("SOON_KEY", 85),
        ("DUE_KEY", 90),
        ("LATE_KEY", 100),
        ("FRESH_KEY", 30),
    ]))
    .await;
    started(&t).await;
    t.engine.tick(nine(1)).await.unwrap();
    let mut seen = Vec::new();
    for _ in 0..3 {
        seen.push(t.next_message().await);
    }
    let soon = seen
        .iter()
        .find(|m| m.text.contains("SOON_KEY"))
        .expect("owner note");
    assert_eq!(soon.channel, "#ops");
    assert!(
        soon.text.contains("due for rotation in 3 days") || soon.text.contains("in 4 days"),
        "{}",
        soon.text
    );
    let due = seen
        .iter()
        .find(|m| m.text.contains("DUE_KEY"))
        .expect("due reminder");
    assert_eq!(due.channel, "#ops");
    let late = seen
        .iter()
        .find(|m| m.text.contains("LATE_KEY"))
        .expect("escalation");
    assert_eq!(late.channel, "#ops-leads");
    assert!(late.text.starts_with("@here"), "{}", late.text);
    assert!(
        late.text.contains("owner: @alice")
            && late
                .text
                .contains("runbook: https://wiki.example.com/LATE_KEY"),
        "{}",
        late.text
    );
    assert!(!seen.iter().any(|m| m.text.contains("FRESH_KEY")));
    assert!(t.drain().iter().all(|m| !m.text.contains("FRESH_KEY")));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_restart_between_fire_times_neither_repeats_nor_skips() {
    let (store, _) = deckhand::testing::sqlite().await;
    let text = config(&[("DUE_KEY", 90)]);
    let mut t = Tester::with_store(&text, store.clone()).await;
    started(&t).await;
    t.engine.tick(nine(1)).await.unwrap();
    assert!(t.next_message().await.text.contains("DUE_KEY"));
    t.engine.stop();
    // Restart before the next fire time: the same fire time is not sent again...
    let mut again = Tester::with_store(&text, store.clone()).await;
    again.engine.tick(nine(1) + 60_000).await.unwrap();
    assert!(
        again.drain().iter().all(|m| !m.text.contains("DUE_KEY")),
        "repeated after restart"
    );
    // ...and the next one is not skipped.
    again.engine.tick(nine(2)).await.unwrap();
    assert!(again.next_message().await.text.contains("DUE_KEY"));
    let runs: Vec<(i64,)> = sqlx::query_as(
        "SELECT fire_time FROM reminder_runs WHERE kind = 'reminders' ORDER BY fire_time",
    )
    .fetch_all(&store.pool)
    .await
    .unwrap();
    assert!(runs.iter().any(|(f,)| *f == nine(1)) && runs.iter().any(|(f,)| *f == nine(2)));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn downtime_across_three_fire_times_sends_one_catch_up() {
    let mut t = Tester::new(&config(&[("DUE_KEY", 90)])).await;
    started(&t).await;
    t.engine.tick(nine(3) + 3_600_000).await.unwrap();
    // A tick posts before it returns, so what it sent is in the transcript now.
    t.engine.tick(nine(3) + 3_700_000).await.unwrap();
    let reminders = t
        .drain()
        .into_iter()
        // The weekly digest lists it too when the three days span a Monday.
        .filter(|m| m.text.contains("DUE_KEY") && !m.text.contains("Secrets due in the next"))
        .count();
    assert_eq!(reminders, 1, "one catch-up, not one per missed morning");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rotation_by_command_or_owner_check_resets_the_due_date() {
    let mut t = Tester::new(&config(&[("DUE_KEY", 90), ("LATE_KEY", 100)])).await;
    started(&t).await;
    t.say("bob", "/secrets rotated DUE_KEY").await;
    assert!(
        t.expect_message("`DUE_KEY` (prod) rotated by bob")
            .await
            .text
            .contains("Next rotation due")
    );
    let rotated = secrets::by_name(&t.store.pool, "DUE_KEY")
        .await
        .unwrap()
        .remove(0);
    assert!(rotated.last_rotated_at.unwrap() > now_ms() - 60_000);
    assert_eq!(rotated.last_rotated_by.as_deref(), Some("bob"));
    t.engine.tick(nine(1)).await.unwrap();
    let reminder = t.expect_message("LATE_KEY").await;
    // Only the owner or an admin may check it off.
    t.react("mallory", "✅", &reminder.id).await;
    assert!(
        t.expect_message("Only `LATE_KEY`'s owner")
            .await
            .to
            .is_some()
    );
    t.react("alice", "💤", &reminder.id).await;
    t.expect_message("snoozed for a day").await;
    t.react("alice", "✅", &reminder.id).await;
    t.expect_message("`LATE_KEY` (prod) rotated by alice").await;
    t.say("alice", "/secrets due").await;
    assert!(t.expect_message("Nothing is due").await.to.is_some());
    let log = deckhand::store::audit::recent(&t.store.pool, 20)
        .await
        .unwrap();
    assert_eq!(
        log.iter().filter(|e| e.action == "secret.rotated").count(),
        2
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn secrets_list_add_and_the_weekly_digest() {
    let mut t = Tester::new(&config(&[("SOON_KEY", 85)])).await;
    t.say(
        "alice",
        "/secrets add RAILWAY_TOKEN prod every=30d owner=@alice runbook=https://wiki/railway",
    )
    .await;
    t.expect_message("Tracking `RAILWAY_TOKEN` in `prod`").await;
    t.say(
        "alice",
        "/secrets add RAILWAY_TOKEN prod every=30d owner=@alice",
    )
    .await;
    t.expect_message("already tracked").await;
    t.say("alice", "/secrets list prod").await;
    let list = t.expect_message("Tracked secrets").await;
    assert!(
        list.text.contains("`SOON_KEY` · prod · owner @alice")
            && list.text.contains("RAILWAY_TOKEN"),
        "{}",
        list.text
    );
    started(&t).await;
    // The digest runs Monday 09:00; find the next Monday.
    let mut day = 1;
    while (Utc::now().date_naive() + Days::days(day))
        .format("%a")
        .to_string()
        != "Mon"
    {
        day += 1;
    }
    t.engine.tick(nine(day)).await.unwrap();
    let digest = t.expect_message("Secrets due in the next 30 days").await;
    assert!(
        digest.text.contains("RAILWAY_TOKEN") || digest.text.contains("SOON_KEY"),
        "{}",
        digest.text
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reminders_reach_slack_and_discord() {
    use deckhand::config::Config;
    use deckhand::server::{Options, Server};
    let slack = deckhand_tests::slack::FakeSlack::start().await;
    let discord = deckhand_tests::discord::FakeDiscord::start().await;
    let fast = deckhand_tests::console::fast_limits();
    let text = config(&[("DUE_KEY", 90), ("LATE_KEY", 100)])
        .replace("console:#ops-leads", "discord:600000000000000007")
        .replace("console:#ops", "slack:#ops")
        .replace("console:alice", "slack:U01ALICE");
    let options = Options {
        settings: deckhand_tests::console::quick_settings(),
        listen: "127.0.0.1:0".into(),
        slack: Some(deckhand::slack::SlackSettings {
            bot_token: "xoxb-t".to_owned().into(),
            app_token: None,
            signing_secret: Some("s".to_owned().into()),
            api_url: Some(slack.api_url.clone()),
            limits: fast,
        }),
        discord: Some(deckhand::discord::DiscordSettings {
            token: "t".to_owned().into(),
            public_key: None,
            api_url: Some(discord.api_url.clone()),
            guild_ids: vec![deckhand_tests::discord::GUILD_ID.parse().unwrap()],
            gateway: false,
            limits: fast,
        }),
        api_token: None,
        metrics_token: None,
        edge: Default::default(),
        github: None,
    };
    let (store, _) = deckhand::testing::sqlite().await;
    let server = Server::start(Config::parse(&text, "t.toml").unwrap(), store, options)
        .await
        .unwrap();
    server.engine.tick(now_ms()).await.unwrap();
    server.engine.tick(nine(1)).await.unwrap();
    let due = slack.wait_for_text("chat.postMessage", "DUE_KEY").await;
    assert_eq!(due.channel(), "#ops");
    assert!(
        due.text().contains("<@U01ALICE>"),
        "the owner is mentioned: {}",
        due.text()
    );
    let late = discord
        .wait_for_any("/channels/600000000000000007/messages", "LATE_KEY")
        .await;
    assert_eq!(late.body["content"], "@here");
    server.stop().await;
}
