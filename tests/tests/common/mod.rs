//! What the console end-to-end tests share: the team's config (staging, prod with one
//! approval, steps that leave files in `{dir}`) and a deploy that gets approved.
#![allow(dead_code)]

use deckhand::store::jobs::JobState;
use deckhand_tests::Tester;

pub const CONFIG: &str = r#"
[bot]
announce = ["console:#deploys", "slack:#deploys"]

[roles]
deployers = ["console:alice", "console:dave"]
approvers = ["console:bob", "console:carol", "console:alice"]

[apps.web]
default_ref = "main"

[environments.staging]
deployers = ["deployers"]

[[environments.staging.deploy]]
name = "Build"
run = ["sh", "-c", "echo building $DECKHAND_REF for $DECKHAND_REQUESTER"]
cwd = "{dir}"

[[environments.staging.deploy]]
name = "Deploy"
run = ["sh", "-c", "echo deployed"]

[environments.prod]
deployers = ["deployers"]
approvers = ["approvers"]
approvals = 1
rollback_on_failure = true

[[environments.prod.deploy]]
name = "Deploy"
run = ["sh", "-c", "echo \"$DECKHAND_REF\" > {dir}/prod.version; echo deployed $DECKHAND_REF"]

[[environments.prod.deploy]]
name = "Smoke test"
run = ["sh", "-c", "echo checking; if [ \"$DECKHAND_REF\" = broken ]; then echo 'HTTP 500 from /health'; exit 3; fi"]

[[environments.prod.rollback]]
name = "Redeploy"
run = ["sh", "-c", "echo \"$DECKHAND_REF\" > {dir}/prod.version; echo back on $DECKHAND_REF"]

[environments.twokeys]
deployers = ["deployers"]
approvers = ["approvers"]
approvals = 2

[[environments.twokeys.deploy]]
name = "Deploy"
run = ["true"]

[environments.quick]
deployers = ["deployers"]
approvers = ["approvers"]
approvals = 1
approval_ttl = "1s"

[[environments.quick.deploy]]
name = "Deploy"
run = ["true"]

[environments.slow]
deployers = ["deployers"]

[[environments.slow.deploy]]
name = "Long step"
run = ["sh", "-c", "sleep 300 & echo $! > {dir}/child.pid; echo $$ > {dir}/parent.pid; echo started; wait"]

[[environments.slow.deploy]]
name = "Never reached"
run = ["true"]
"#;

pub async fn tester() -> Tester {
    Tester::new(CONFIG).await
}

/// Deploys `web@v1` to prod with bob's approval and waits for it.
pub async fn deploy_prod(t: &mut Tester, git_ref: &str) -> i64 {
    t.say("alice", &format!("/deploy prod {git_ref}")).await;
    let card = t.expect_message("awaiting approval").await;
    let id = card
        .text
        .split('#')
        .nth(1)
        .unwrap()
        .split('*')
        .next()
        .unwrap()
        .parse::<i64>()
        .unwrap();
    t.react("bob", "✅", &card.id).await;
    t.wait_for_state(id, JobState::Succeeded).await;
    // The announcements (one per channel in `bot.announce`, both printed by the console)
    // come just after the job's end is stored: wait for both, or a caller's `drain()` can
    // run before one and its next message be that instead.
    t.expect_message("Deployed").await;
    t.expect_message("Deployed").await;
    id
}
