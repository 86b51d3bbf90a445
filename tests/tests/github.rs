//! GitHub end to end, through the console and a fake GitHub that speaks the documented
//! REST shapes: refs resolved to commits and compared, the CI gate (pending waits, red
//! refuses, `--skip-checks` is audited), the workflow step (dispatch, follow, fail,
//! cancel, an Enterprise Server without run details, the rate limit, a missing
//! permission), deployments and their statuses, the moved branch that voids an
//! approval, an App's installation tokens, and the deploy-on-green webhook.

use std::time::Duration;

use deckhand::store::audit;
use deckhand::store::jobs::{self, JobState};
use deckhand_tests::Tester;
use deckhand_tests::github::{self, FakeGitHub};

const REPO: &str = "acme/web";

fn config() -> &'static str {
    r#"
[bot]
announce = ["console:#deploys"]

[roles]
deployers = ["console:alice"]
approvers = ["console:bob", "console:carol"]

[apps.web]
repo = "acme/web"

[environments.prod]
deployers = ["deployers"]
require_checks = ["build", "test"]
checks_timeout = "20s"
rollback_on_failure = true
environment_url = "https://web.example.com"

[[environments.prod.deploy]]
name = "Deploy"
github = { workflow = "deploy.yml", inputs = { environment = "prod", version = "${DECKHAND_REF}" }, timeout = "30s" }

[environments.gated]
deployers = ["deployers"]
approvers = ["approvers"]
approvals = 1

[[environments.gated.deploy]]
name = "Ship"
run = ["true"]

[environments.staging]
deployers = ["deployers"]
auto_deploy = { branch = "main" }
require_checks = "all"

[[environments.staging.deploy]]
name = "Ship"
run = ["true"]
"#
}

/// A fake with `acme/web` (five commits on main, tag `v1.0` at the second) whose main
/// head and `v1.0` pass `build` and `test`; and deckhand reaching it with a token.
async fn setup() -> (FakeGitHub, Vec<String>, Tester) {
    let gh = FakeGitHub::start().await;
    let commits = gh.repo(REPO, 5);
    gh.tag(REPO, "v1.0", &commits[1]);
    for sha in [&commits[1], &commits[4]] {
        green(&gh, sha);
    }
    let t = Tester::with_github(config(), gh.settings()).await;
    (gh, commits, t)
}

fn green(gh: &FakeGitHub, sha: &str) {
    gh.check(REPO, sha, "build", "completed", Some("success"));
    gh.check(REPO, sha, "test", "completed", Some("success"));
}

/// Waits until `check` holds, for things the fake sees a moment after deckhand acts.
async fn eventually(what: &str, check: impl Fn() -> bool) {
    for _ in 0..400 {
        if check() {
            return;
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    panic!("never happened: {what}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_deploy_resolves_its_commit_waits_for_a_pending_check_and_follows_the_workflow() {
    let (gh, commits, mut t) = setup().await;
    // The first deploy: v1.0, so prod has a running commit to compare with.
    t.say("alice", "/deploy prod v1.0").await;
    let first = t.wait_for_state(1, JobState::Succeeded).await;
    assert_eq!(
        first.github.commit_sha.as_deref(),
        Some(commits[1].as_str())
    );
    // main moves on; its `test` is still running.
    let head = gh.push(REPO, "main", "Fix the login page");
    gh.check(REPO, &head, "build", "completed", Some("success"));
    gh.check(REPO, &head, "test", "in_progress", None);
    t.drain();
    t.say("alice", "/deploy prod main").await;
    let card = t.expect_message("*Deploy #2*").await;
    let short = &head[..7];
    assert!(
        card.text.contains(&format!("web@main ({short})")),
        "{}",
        card.text
    );
    assert!(card.text.contains("4 commits since #1"), "{}", card.text);
    assert!(
        card.text.contains("Fix the login page — Dana"),
        "{}",
        card.text
    );
    assert!(
        card.text
            .contains(&format!("compare: https://github.com/{REPO}/compare/")),
        "{}",
        card.text
    );
    let waiting = t.expect_message("waiting for checks `test`").await;
    assert!(waiting.text.contains(short), "{}", waiting.text);
    assert_eq!(
        gh.runs().len(),
        1,
        "nothing more is dispatched while a check is pending"
    );
    gh.check(REPO, &head, "test", "completed", Some("success"));
    let job = t.wait_for_state(2, JobState::Succeeded).await;
    assert_eq!(job.github.commit_sha.as_deref(), Some(head.as_str()));
    // Dispatched on the job's ref, with the inputs substituted, and followed to the end.
    let runs = gh.runs();
    let run = runs.last().unwrap();
    assert_eq!(run.git_ref, "main");
    assert_eq!(run.inputs["environment"], "prod");
    assert_eq!(run.inputs["version"], "main");
    let dispatch = &gh.calls_to("POST /repos/acme/web/actions/workflows/deploy.yml/dispatches")[1];
    assert_eq!(dispatch.body["return_run_details"], true);
    let steps = deckhand::store::steps::list(&t.store.pool, 2)
        .await
        .unwrap();
    let detail = steps[0].detail.clone().unwrap_or_default();
    assert!(
        detail.contains(&format!(
            "run: https://github.com/{REPO}/actions/runs/{}",
            run.id
        )),
        "{detail}"
    );
    assert!(detail.contains("✅ build (1m02s)"), "{detail}");
    assert!(detail.contains("✅ deploy"), "{detail}");
    // The deployment: the commit, the env, no merging, statuses in the job's order.
    eventually("the success status", || {
        gh.deployment_states(2).last().map(String::as_str) == Some("success")
    })
    .await;
    assert_eq!(
        gh.deployment_states(2),
        ["queued", "in_progress", "success"]
    );
    let deployment = gh
        .deployments()
        .into_iter()
        .find(|d| d.payload["deckhand_job"] == 2)
        .unwrap();
    assert_eq!(deployment.git_ref, head);
    assert_eq!(deployment.environment, "prod");
    let created = gh
        .calls_to("POST /repos/acme/web/deployments")
        .into_iter()
        .find(|c| c.path == "/repos/acme/web/deployments" && c.body["payload"]["deckhand_job"] == 2)
        .unwrap();
    assert_eq!(created.body["auto_merge"], false);
    assert_eq!(created.body["required_contexts"], serde_json::json!([]));
    assert_eq!(
        deployment.statuses[2]["environment_url"],
        "https://web.example.com"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_older_commit_says_how_far_back_it_goes() {
    let (gh, _commits, mut t) = setup().await;
    t.say("alice", "/deploy prod main").await;
    t.wait_for_state(1, JobState::Succeeded).await;
    t.drain();
    t.say("alice", "/deploy prod v1.0").await;
    let card = t.expect_message("*Deploy #2*").await;
    assert!(
        card.text.contains("this goes back 3 commits"),
        "{}",
        card.text
    );
    t.wait_for_state(2, JobState::Succeeded).await;
    drop(gh);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unknown_ref_is_refused_with_the_nearest_names() {
    let (gh, commits, mut t) = setup().await;
    gh.tag(REPO, "v1.4.2", &commits[3]);
    t.say("alice", "/deploy prod v1.4.3").await;
    let answer = t.next_message().await;
    assert!(
        answer
            .text
            .contains("There is no branch, tag or commit `v1.4.3` in acme/web. Nearest: `v1.4.2`"),
        "{}",
        answer.text
    );
    assert!(jobs::get(&t.store.pool, 1).await.unwrap().is_none());
    assert!(!t.locked("prod").await);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_red_check_refuses_and_skip_checks_passes_the_gate_on_the_record() {
    let (gh, _commits, mut t) = setup().await;
    let head = gh.push(REPO, "main", "Break the tests");
    gh.check(REPO, &head, "build", "completed", Some("success"));
    gh.check(REPO, &head, "test", "completed", Some("failure"));
    t.say("alice", "/deploy prod main").await;
    let answer = t.next_message().await;
    assert!(
        answer
            .text
            .contains("`test` failed (https://github.com/acme/web/runs/"),
        "{}",
        answer.text
    );
    assert!(answer.text.contains("--skip-checks"), "{}", answer.text);
    assert!(jobs::get(&t.store.pool, 1).await.unwrap().is_none());
    // A failing combined status counts as much as a check run.
    let other = gh.push(REPO, "main", "Another change");
    green(&gh, &other);
    gh.status(REPO, &other, "test", "failure");
    t.say("alice", "/deploy prod main").await;
    let answer = t.next_message().await;
    assert!(
        answer
            .text
            .contains("`test` failed (https://ci.example.com/test/"),
        "{}",
        answer.text
    );
    // By hand, on the record.
    t.say(
        "alice",
        "/deploy prod main --skip-checks \"hotfix for the outage, tests are flaky\"",
    )
    .await;
    let card = t.expect_message("required checks skipped").await;
    assert!(card.text.contains("tests are flaky"), "{}", card.text);
    let job = t.wait_for_state(1, JobState::Succeeded).await;
    assert_eq!(
        job.github.skip_checks.as_deref(),
        Some("hotfix for the outage, tests are flaky")
    );
    let log = audit::for_job(&t.store.pool, 1).await.unwrap();
    let skipped = log
        .iter()
        .find(|e| e.action == "job.checks_skipped")
        .expect("audited");
    assert_eq!(skipped.actor, "console:alice");
    assert!(skipped.detail.contains(&other), "{}", skipped.detail);
    let announced = t.expect_message("Required checks were skipped").await;
    assert!(
        announced.text.contains("tests are flaky"),
        "{}",
        announced.text
    );
    // Where nothing is required, the flag is refused rather than ignored.
    t.say("alice", "/deploy gated main --skip-checks \"just because\"")
        .await;
    let answer = t.expect_message("nothing to skip").await;
    assert_eq!(answer.to.as_deref(), Some("alice"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn checks_that_stay_pending_fail_the_job_naming_them() {
    let gh = FakeGitHub::start().await;
    let commits = gh.repo(REPO, 2);
    gh.check(REPO, &commits[1], "build", "completed", Some("success"));
    let text = config().replace("checks_timeout = \"20s\"", "checks_timeout = \"1s\"");
    let mut t = Tester::with_github(&text, gh.settings()).await;
    t.say("alice", "/deploy prod main").await;
    let job = t.wait_for_state(1, JobState::Failed).await;
    assert_eq!(
        job.error.as_deref(),
        Some("checks still pending after 1.0s: `test`"),
    );
    assert!(gh.runs().is_empty());
    assert!(!t.locked("prod").await);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failed_workflow_fails_the_deploy_and_the_rollback_gets_its_own_deployment() {
    let (gh, commits, mut t) = setup().await;
    t.say("alice", "/deploy prod v1.0").await;
    t.wait_for_state(1, JobState::Succeeded).await;
    gh.next_run(REPO, "deploy.yml", "failure");
    t.say("alice", "/deploy prod main").await;
    let failed = t.wait_for_state(2, JobState::Failed).await;
    let error = failed.error.unwrap_or_default();
    assert!(error.contains("workflow run failure"), "{error}");
    assert!(
        error.contains("`deploy` (https://github.com/acme/web/actions/runs/"),
        "{error}"
    );
    // The rollback goes back to v1.0's commit, through the workflow again.
    let rollback = t.wait_for_state(3, JobState::Succeeded).await;
    assert_eq!(rollback.kind, deckhand::config::JobKind::Rollback);
    assert_eq!(
        rollback.github.commit_sha.as_deref(),
        Some(commits[1].as_str())
    );
    eventually("the rollback's success", || {
        gh.deployment_states(3).last().map(String::as_str) == Some("success")
    })
    .await;
    assert_eq!(
        gh.deployment_states(2),
        ["queued", "in_progress", "failure", "inactive"]
    );
    assert_eq!(
        gh.deployment_states(3),
        ["queued", "in_progress", "success"]
    );
    let last = gh.runs().last().unwrap().clone();
    assert_eq!(last.inputs["version"], "v1.0");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cancel_cancels_the_workflow_run() {
    let (gh, _commits, mut t) = setup().await;
    gh.next_run(REPO, "deploy.yml", "hang");
    t.say("alice", "/deploy prod main").await;
    eventually("the run is dispatched", || !gh.runs().is_empty()).await;
    t.say("alice", "/cancel 1").await;
    let job = t.wait_for_state(1, JobState::Cancelled).await;
    assert_eq!(job.state, JobState::Cancelled);
    let run = gh.runs()[0].clone();
    assert!(run.cancelled, "the run on GitHub was cancelled");
    assert_eq!(
        gh.calls_to(&format!(
            "POST /repos/acme/web/actions/runs/{}/cancel",
            run.id
        ))
        .len(),
        1
    );
    eventually("the error status", || {
        gh.deployment_states(1).last().map(String::as_str) == Some("error")
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_enterprise_server_without_run_details_is_matched_by_time() {
    let (gh, _commits, mut t) = setup().await;
    gh.be_enterprise();
    t.say("alice", "/deploy prod main").await;
    let job = t.wait_for_state(1, JobState::Succeeded).await;
    assert_eq!(job.state, JobState::Succeeded);
    let dispatches = gh.calls_to("POST /repos/acme/web/actions/workflows/deploy.yml/dispatches");
    assert_eq!(
        dispatches.len(),
        2,
        "refused with the parameter, then sent without"
    );
    assert!(dispatches[1].body.get("return_run_details").is_none());
    let listed = gh.calls_to("GET /repos/acme/web/actions/workflows/deploy.yml/runs");
    assert!(
        listed[0].path.contains("event=workflow_dispatch")
            && listed[0].path.contains("actor=deckhand-bot"),
        "{}",
        listed[0].path
    );
    let steps = deckhand::store::steps::list(&t.store.pool, 1)
        .await
        .unwrap();
    assert!(
        steps[0]
            .detail
            .as_deref()
            .unwrap_or("")
            .contains("matched by time"),
        "{:?}",
        steps[0].detail
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_rate_limit_is_waited_out_and_the_card_says_until_when() {
    let (gh, _commits, mut t) = setup().await;
    // Let the request through, then limit the run's polling.
    t.say("alice", "/deploy prod main").await;
    eventually("the run is dispatched", || !gh.runs().is_empty()).await;
    gh.rate_limit(2, 2);
    let card = t
        .expect_message("rate limit is reached; waiting until")
        .await;
    assert!(card.text.contains("Deploy"), "{}", card.text);
    t.wait_for_state(1, JobState::Succeeded).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_missing_permission_is_named_and_a_deployment_refusal_never_fails_the_deploy() {
    let (gh, _commits, mut t) = setup().await;
    gh.forbid("/deployments", "deployments=write");
    t.say("alice", "/deploy gated main").await;
    t.next_message().await;
    t.say("bob", "/approve #1").await;
    let job = t.wait_for_state(1, JobState::Succeeded).await;
    assert_eq!(
        job.state,
        JobState::Succeeded,
        "GitHub's refusal is a note, not a failure"
    );
    let note = t.job(1).await.github.note.unwrap_or_default();
    assert!(
        note.contains("lacks the `deployments=write` permission"),
        "{note}"
    );
    gh.forbid("/dispatches", "actions=write");
    t.say("alice", "/deploy prod main").await;
    let failed = t.wait_for_state(2, JobState::Failed).await;
    let error = failed.error.unwrap_or_default();
    assert!(
        error.contains("lacks the `actions=write` permission on acme/web"),
        "{error}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_repo_deckhand_cannot_see_is_named_with_its_config_key() {
    let gh = FakeGitHub::start().await;
    let mut t = Tester::with_github(config(), gh.settings()).await;
    t.say("alice", "/deploy gated main").await;
    let answer = t.next_message().await;
    assert!(
        answer.text.contains(
            "GitHub has no repository `acme/web` that deckhand can see (config key `apps.web.repo`)"
        ),
        "{}",
        answer.text
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_branch_that_moves_after_approval_does_not_carry_the_approval() {
    let (gh, commits, mut t) = setup().await;
    t.say("alice", "/deploy gated main").await;
    let card = t.next_message().await;
    assert!(card.text.contains(&commits[4][..7]), "{}", card.text);
    // Someone pushes to main before the approval lands.
    let moved = gh.push(REPO, "main", "A change nobody approved");
    t.react("bob", "✅", &card.id).await;
    t.expect_message("approvals void: `main` moved from").await;
    let job = t.wait_for_state(1, JobState::AwaitingApproval).await;
    assert_eq!(job.github.commit_sha.as_deref(), Some(moved.as_str()));
    let log = audit::for_job(&t.store.pool, 1).await.unwrap();
    assert!(log.iter().any(|e| e.action == "job.approvals_voided"));
    // The new commit, approved, runs.
    t.say("carol", "/approve #1").await;
    let done = t.wait_for_state(1, JobState::Succeeded).await;
    assert_eq!(done.github.commit_sha.as_deref(), Some(moved.as_str()));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_github_app_gets_an_installation_token_once_and_reuses_it() {
    let gh = FakeGitHub::start().await;
    let commits = gh.repo(REPO, 3);
    green(&gh, &commits[2]);
    let t_settings = gh.app_settings();
    let mut t = Tester::with_github(config(), t_settings).await;
    t.say("alice", "/deploy prod main").await;
    t.wait_for_state(1, JobState::Succeeded).await;
    assert_eq!(
        gh.installation_tokens(),
        1,
        "one token for the whole deploy"
    );
    let jwt_calls = gh.calls_to("POST /app/installations/777/access_tokens");
    assert_eq!(jwt_calls.len(), 1);
}

/// Serves the webhook route of `t`'s engine; its URL.
async fn webhook(t: &Tester, secret: &str) -> String {
    let router = deckhand::github::webhook::routes(t.engine.clone(), secret.to_owned().into());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, router).await.unwrap() });
    url
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_signed_green_main_deploys_staging_once() {
    let (gh, commits, t) = setup().await;
    let secret = "webhook-secret-for-tests";
    let url = webhook(&t, secret).await;
    let head = &commits[4];
    let event = github::check_suite_completed(REPO, "main", head, "octocat");
    // A bad signature changes nothing.
    let status = github::deliver(&url, "not-the-secret", "check_suite", "d-0", &event).await;
    assert_eq!(status, 401);
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert!(jobs::get(&t.store.pool, 1).await.unwrap().is_none());
    // The signed one deploys staging as GitHub's actor.
    assert_eq!(
        github::deliver(&url, secret, "check_suite", "d-1", &event).await,
        202
    );
    let job = t.wait_for_state(1, JobState::Succeeded).await;
    assert_eq!(job.env, "staging");
    assert_eq!(job.requester, "github:octocat");
    assert_eq!(job.github.commit_sha.as_deref(), Some(head.as_str()));
    // A redelivery does nothing; nor does another event for the same commit.
    assert_eq!(
        github::deliver(&url, secret, "check_suite", "d-1", &event).await,
        200
    );
    let again = serde_json::json!({
        "action": "completed",
        "workflow_run": {"head_branch": "main", "head_sha": head},
        "repository": {"full_name": REPO},
        "sender": {"login": "octocat"},
    });
    assert_eq!(
        github::deliver(&url, secret, "workflow_run", "d-2", &again).await,
        202
    );
    tokio::time::sleep(Duration::from_millis(500)).await;
    t.engine.wait_idle().await;
    assert!(
        jobs::get(&t.store.pool, 2).await.unwrap().is_none(),
        "one deploy per commit"
    );
    // A head whose checks are not all green is not deployed.
    let red = gh.push(REPO, "main", "Red change");
    gh.check(REPO, &red, "build", "completed", Some("failure"));
    let event = github::check_suite_completed(REPO, "main", &red, "octocat");
    assert_eq!(
        github::deliver(&url, secret, "check_suite", "d-3", &event).await,
        202
    );
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert!(
        jobs::get(&t.store.pool, 2).await.unwrap().is_none(),
        "red is not deployed"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_webhook_refuses_unsigned_oversized_and_unnamed_deliveries() {
    let (_gh, commits, t) = setup().await;
    let url = webhook(&t, "s3cret").await;
    let client = reqwest::Client::new();
    // No signature at all.
    let unsigned = client
        .post(format!("{url}/github/webhook"))
        .header("X-GitHub-Event", "check_suite")
        .header("X-GitHub-Delivery", "u-1")
        .body(github::check_suite_completed(REPO, "main", &commits[4], "octo").to_string())
        .send()
        .await
        .unwrap();
    assert_eq!(unsigned.status().as_u16(), 401);
    // A body past the bound is refused before its signature is even computed.
    let huge = serde_json::json!({"action": "completed", "padding": "x".repeat(2 * 1024 * 1024)});
    assert_eq!(
        github::deliver(&url, "s3cret", "check_suite", "u-2", &huge).await,
        413
    );
    // Signed, but without a delivery id there is nothing to deduplicate on.
    let body = github::check_suite_completed(REPO, "main", &commits[4], "octo");
    let raw = body.to_string();
    let signature = {
        use hmac::Mac;
        let mut mac = hmac::Hmac::<sha2::Sha256>::new_from_slice(b"s3cret").unwrap();
        mac.update(raw.as_bytes());
        format!("sha256={}", hex::encode(mac.finalize().into_bytes()))
    };
    let unnamed = client
        .post(format!("{url}/github/webhook"))
        .header("X-GitHub-Event", "check_suite")
        .header("X-Hub-Signature-256", signature)
        .body(raw)
        .send()
        .await
        .unwrap();
    assert_eq!(unnamed.status().as_u16(), 400);
    // A ping is answered; nothing was deployed by any of it.
    assert_eq!(
        github::deliver(
            &url,
            "s3cret",
            "ping",
            "u-3",
            &serde_json::json!({"zen": "hi"})
        )
        .await,
        200
    );
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert!(jobs::get(&t.store.pool, 1).await.unwrap().is_none());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn check_online_asks_github_about_each_repo() {
    let gh = FakeGitHub::start().await;
    let config = deckhand::config::Config::parse_with(config(), "test.toml", &|_| true).unwrap();
    let findings = deckhand::doctor::github_findings(&config, &gh.settings()).await;
    assert_eq!(findings.len(), 1);
    assert!(!findings[0].ok);
    assert!(
        findings[0].line.contains("config key `apps.web.repo`"),
        "{}",
        findings[0].line
    );
    gh.repo(REPO, 1);
    let findings = deckhand::doctor::github_findings(&config, &gh.settings()).await;
    assert!(findings[0].ok, "{}", findings[0].line);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn github_deployments_can_be_turned_off_per_env() {
    let gh = FakeGitHub::start().await;
    let commits = gh.repo(REPO, 2);
    green(&gh, &commits[1]);
    let text = config().replace(
        "[environments.gated]\n",
        "[environments.gated]\ngithub_deployments = false\n",
    );
    let mut t = Tester::with_github(&text, gh.settings()).await;
    t.say("alice", "/deploy gated main").await;
    t.next_message().await;
    t.say("bob", "/approve #1").await;
    let job = t.wait_for_state(1, JobState::Succeeded).await;
    assert_eq!(job.github.commit_sha.as_deref(), Some(commits[1].as_str()));
    assert!(
        gh.deployments().is_empty(),
        "no deployment for an env that turned them off"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_dry_run_names_the_commit_the_change_and_the_checks_as_they_stand() {
    let (gh, commits, mut t) = setup().await;
    t.say("alice", "/deploy prod v1.0").await;
    t.wait_for_state(1, JobState::Succeeded).await;
    let head = gh.push(REPO, "main", "Fix the login page");
    gh.check(REPO, &head, "build", "completed", Some("success"));
    gh.check(REPO, &head, "test", "in_progress", None);
    t.drain();
    t.say("alice", "/deploy prod main --dry-run").await;
    let plan = t.expect_message("Dry run").await;
    let short = &head[..7];
    assert!(
        plan.text
            .contains(&format!("*Dry run*: deploy `web@main` ({short}) to `prod`")),
        "{}",
        plan.text
    );
    assert!(plan.text.contains("4 commits since #1"), "{}", plan.text);
    assert!(plan.text.contains("1. Deploy (github)"), "{}", plan.text);
    assert!(
        plan.text.contains("⏳ Checks still running") && plan.text.contains("`test`"),
        "{}",
        plan.text
    );
    assert!(
        plan.text.contains("It would wait for its checks"),
        "{}",
        plan.text
    );
    // A red check is a ⛔ in the plan, not a refusal of the plan.
    gh.check(REPO, &head, "test", "completed", Some("failure"));
    t.say("alice", "/deploy prod main --dry-run").await;
    let plan = t.expect_message("Dry run").await;
    assert!(plan.text.contains("⛔ `test` failed"), "{}", plan.text);
    assert!(
        plan.text.contains("It would be refused now"),
        "{}",
        plan.text
    );
    assert!(
        jobs::get(&t.store.pool, 2).await.unwrap().is_none(),
        "a plan creates no job"
    );
    assert_eq!(
        gh.calls_to("POST /repos/acme/web/actions/workflows/deploy.yml/dispatches")
            .len(),
        1,
        "a plan dispatches nothing"
    );
    assert_eq!(gh.deployments().len(), 1, "a plan records no deployment");
    let _ = commits;
}
