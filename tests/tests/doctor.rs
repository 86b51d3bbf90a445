//! `deckhand check --online` against the fake Slack and Discord: tokens, and each
//! configured channel the bot cannot see, post to or hear reactions in.

use deckhand::config::Config;
use deckhand::doctor::{Finding, check_online};
use deckhand_tests::console::fast_limits;
use deckhand_tests::discord::{FakeDiscord, tester as discord};
use deckhand_tests::slack::{FakeSlack, tester as slack};

fn config() -> Config {
    let toml = format!(
        r#"
[bot]
announce = ["slack:#deploys", "slack:#missing", "discord:{announce}", "discord:600000000000000404"]

[environments.prod]
announce = ["slack:#private-ops"]

[[environments.prod.deploy]]
name = "Deploy"
run = ["true"]

[reminders]
channel = "slack:#general"
schedule = "0 0 9 * * Mon"
"#,
        announce = discord::ANNOUNCE
    );
    Config::parse(&toml, "doctor.toml").expect("config")
}

fn line<'a>(findings: &'a [Finding], needle: &str) -> &'a Finding {
    findings
        .iter()
        .find(|f| f.line.contains(needle))
        .unwrap_or_else(|| panic!("no finding about {needle}: {findings:#?}"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn online_check_names_every_channel_the_bot_cannot_use() {
    let fake_slack = FakeSlack::start().await;
    fake_slack.channel("deploys", true, false);
    fake_slack.channel("general", false, false);
    fake_slack.channel("private-ops", false, true);
    fake_slack.channel("random", false, false);
    let fake_discord = FakeDiscord::start().await;
    fake_discord.visible_channel(discord::ANNOUNCE);
    let slack_settings = slack::settings(&fake_slack, slack::Mode::Http, fast_limits());
    let discord_settings = discord::settings(&fake_discord, discord::Mode::Gateway);
    let findings = check_online(&config(), Some(&slack_settings), Some(&discord_settings)).await;

    assert!(line(&findings, "slack: signed in to acme").ok);
    let deploys = line(&findings, "bot.announce[0] = slack:#deploys");
    assert!(
        deploys.ok && deploys.line.contains("CDEPLOYS"),
        "{deploys:?}"
    );
    let missing = line(&findings, "slack:#missing");
    assert!(
        !missing.ok && missing.line.contains("sees no such channel"),
        "{missing:?}"
    );
    let private = line(
        &findings,
        "environments.prod.announce[0] = slack:#private-ops",
    );
    assert!(
        !private.ok && private.line.contains("/invite @deckhand"),
        "{private:?}"
    );
    // Reminders want a ✅, which Slack only sends from channels the bot is in.
    let reminders = line(&findings, "reminders.channel = slack:#general");
    assert!(
        !reminders.ok && reminders.line.contains("never hears"),
        "{reminders:?}"
    );
    assert!(line(&findings, "discord: signed in as deckhand").ok);
    assert!(line(&findings, &format!("discord:{}", discord::ANNOUNCE)).ok);
    let unseen = line(&findings, "discord:600000000000000404");
    assert!(
        !unseen.ok && unseen.line.contains("cannot see it"),
        "{unseen:?}"
    );
    assert_eq!(
        findings.iter().filter(|f| !f.ok).count(),
        4,
        "{findings:#?}"
    );
    // Four channels, one per page: every page was read.
    assert_eq!(fake_slack.calls_of("conversations.list").len(), 4);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_channels_read_the_check_says_which_scope_to_add() {
    let fake_slack = FakeSlack::start().await;
    fake_slack.without_channels_read();
    let settings = slack::settings(&fake_slack, slack::Mode::Http, fast_limits());
    let findings = check_online(&config(), Some(&settings), None).await;
    let listing = line(&findings, "cannot list channels");
    assert!(
        !listing.ok && listing.line.contains("`channels:read`"),
        "{listing:?}"
    );
}
