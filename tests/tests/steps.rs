//! Step kinds against real local servers and files: http with retries, health polling,
//! file backup and restore with the sha256 check, timeouts and continue_on_error.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use axum::Router;
use axum::http::StatusCode;
use axum::routing::{get, post};
use deckhand::store::jobs::JobState;
use deckhand::store::steps::{self, StepState};
use deckhand_tests::Tester;

/// A local server: `POST /hook` fails twice then answers 201; `GET /health` answers
/// 503 twice then 200; `GET /down` always 500.
async fn server() -> (String, Arc<AtomicUsize>) {
    let hits = Arc::new(AtomicUsize::new(0));
    let health = Arc::new(AtomicUsize::new(0));
    let (h1, h2) = (hits.clone(), health.clone());
    let app = Router::new()
        .route(
            "/hook",
            post(move || {
                let n = h1.fetch_add(1, Ordering::SeqCst);
                async move {
                    if n < 2 {
                        StatusCode::BAD_GATEWAY
                    } else {
                        StatusCode::CREATED
                    }
                }
            }),
        )
        .route(
            "/health",
            get(move || {
                let n = h2.fetch_add(1, Ordering::SeqCst);
                async move {
                    if n < 2 {
                        StatusCode::SERVICE_UNAVAILABLE
                    } else {
                        StatusCode::OK
                    }
                }
            }),
        )
        .route("/down", get(|| async { StatusCode::INTERNAL_SERVER_ERROR }));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    (url, hits)
}

fn config(url: &str) -> String {
    format!(
        r#"
[roles]
team = ["console:*"]

[environments.web]
deployers = ["team"]

[[environments.web.deploy]]
name = "Deploy hook"
http = {{ method = "POST", url = "{url}/hook", expect = 201, retries = 3 }}

[[environments.web.deploy]]
name = "Smoke test"
health = {{ url = "{url}/health", within = "20s", every = "1s" }}

[environments.down]
deployers = ["team"]

[[environments.down.deploy]]
name = "Optional check"
health = {{ url = "{url}/down", within = "2s", every = "1s" }}
continue_on_error = true

[[environments.down.deploy]]
name = "Too slow"
run = ["sleep", "30"]
timeout = "1s"

[environments.quickjob]
deployers = ["team"]
timeout = "1s"

[[environments.quickjob.deploy]]
name = "Slow"
run = ["sleep", "30"]

[environments.data]
deployers = ["team"]
approvers = ["team"]

[[environments.data.deploy]]
name = "Write"
run = ["sh", "-c", "echo \"$DECKHAND_REF\" > {{dir}}/app.db"]

[[environments.data.backup]]
name = "Back up"
backup = {{ file = "{{dir}}/app.db", dir = "{{dir}}/backups", keep = 2 }}

[[environments.data.restore]]
name = "Restore"
restore = {{ file = "{{dir}}/app.db" }}

[environments.predeploy]
deployers = ["team"]
approvers = ["team"]

[[environments.predeploy.deploy]]
name = "Back up first"
backup = {{ file = "{{dir}}/pre.db", dir = "{{dir}}/pre-backups" }}

[[environments.predeploy.deploy]]
name = "Write"
run = ["sh", "-c", "echo \"$DECKHAND_REF\" > {{dir}}/pre.db"]

[[environments.predeploy.restore]]
name = "Restore"
restore = {{ file = "{{dir}}/pre.db" }}
"#
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn http_step_retries_until_the_expected_status_and_health_waits_until_healthy() {
    let (url, hits) = server().await;
    let mut t = Tester::new(&config(&url)).await;
    t.say("alice", "/deploy web").await;
    t.wait_for_state(1, JobState::Succeeded).await;
    assert_eq!(hits.load(Ordering::SeqCst), 3, "two failures, then the 201");
    let list = steps::list(&t.store.pool, 1).await.unwrap();
    assert!(
        list[0].output_tail.contains("-> 502 Bad Gateway"),
        "{}",
        list[0].output_tail
    );
    assert!(
        list[0].output_tail.contains("-> 201 Created"),
        "{}",
        list[0].output_tail
    );
    assert!(
        list[1].output_tail.contains("-> 503 Service Unavailable"),
        "{}",
        list[1].output_tail
    );
    assert!(
        list[1].output_tail.contains("-> 200 OK"),
        "{}",
        list[1].output_tail
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn continue_on_error_goes_on_and_a_step_timeout_fails_the_job() {
    let (url, _) = server().await;
    let mut t = Tester::new(&config(&url)).await;
    t.say("alice", "/deploy down").await;
    let job = t.wait_for_state(1, JobState::Failed).await;
    let list = steps::list(&t.store.pool, 1).await.unwrap();
    assert_eq!(list[0].state, StepState::FailedIgnored);
    assert!(
        list[0]
            .error
            .as_deref()
            .unwrap()
            .contains("did not answer 200 within")
    );
    assert_eq!(list[1].state, StepState::Failed);
    assert_eq!(list[1].error.as_deref(), Some("timed out after 1.0s"));
    assert!(
        job.error
            .unwrap()
            .contains("step `Too slow` failed: timed out")
    );
    assert!(!t.locked("down").await);
}

/// `data` deployed at v1 (job #1), then `backups` backups of it (jobs #2…), each
/// succeeded; the last one is returned.
async fn deployed_and_backed_up(t: &mut Tester, backups: i64) -> deckhand::store::jobs::Job {
    t.say("alice", "/deploy data v1").await;
    t.wait_for_state(1, JobState::Succeeded).await;
    let mut last = None;
    for id in 2..=backups + 1 {
        t.say("alice", "/backup data").await;
        last = Some(t.wait_for_state(id, JobState::Succeeded).await);
        // Distinct modification times, so pruning keeps the newest.
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    last.expect("at least one backup")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn file_backup_records_its_artifact_and_restore_needs_an_approval() {
    let mut t = Tester::new(&config("http://127.0.0.1:9")).await;
    let backup = deployed_and_backed_up(&mut t, 1).await;
    let artifact = backup.artifact.expect("the backup is recorded");
    assert_eq!(artifact.size, 3);
    assert_eq!(artifact.sha256.len(), 64);
    assert!(std::path::Path::new(&artifact.path).exists());
    use std::os::unix::fs::PermissionsExt as _;
    let mode =
        |path: &std::path::Path| std::fs::metadata(path).unwrap().permissions().mode() & 0o777;
    let path = std::path::Path::new(&artifact.path);
    assert_eq!(mode(path), 0o600, "the backup is deckhand's alone");
    assert_eq!(
        mode(path.parent().unwrap()),
        0o700,
        "and so is its directory"
    );
    t.say("alice", "/deploy data v2").await;
    t.wait_for_state(3, JobState::Succeeded).await;
    // data has no approvals for deploys, but a restore always needs one.
    t.say("alice", "/restore data 2").await;
    let card = t.expect_message("Restore #4").await;
    assert!(card.text.contains("awaiting approval"), "{}", card.text);
    t.react("bob", "✅", &card.id).await;
    t.wait_for_state(4, JobState::Succeeded).await;
    assert_eq!(
        std::fs::read_to_string(t.dir.join("app.db")).unwrap(),
        "v1\n"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_backup_that_changed_since_it_was_made_is_not_restored() {
    let mut t = Tester::new(&config("http://127.0.0.1:9")).await;
    let backup = deployed_and_backed_up(&mut t, 1).await;
    // The same size, so only the sha256 the restore step checks can tell.
    std::fs::write(backup.artifact.unwrap().path, "v9\n").unwrap();
    t.say("alice", "/restore data 2").await;
    t.say("bob", "/approve 3").await;
    let job = t.wait_for_state(3, JobState::Failed).await;
    assert!(job.error.unwrap().contains("has changed since the backup"));
    assert_eq!(
        std::fs::read_to_string(t.dir.join("app.db")).unwrap(),
        "v1\n"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn old_backups_beyond_keep_are_removed_and_listed_newest_first() {
    let mut t = Tester::new(&config("http://127.0.0.1:9")).await;
    deployed_and_backed_up(&mut t, 3).await;
    let files = std::fs::read_dir(t.dir.join("backups")).unwrap().count();
    assert_eq!(files, 2, "keep = 2");
    t.drain();
    t.say("alice", "/backup list data").await;
    let list = t.expect_message("backups, newest first").await;
    let first = list.text.find("#4 ·").unwrap();
    let second = list.text.find("#3 ·").unwrap();
    assert!(first < second, "{}", list.text);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_pruned_backup_is_not_listed_and_its_restore_is_refused_before_any_approval() {
    let mut t = Tester::new(&config("http://127.0.0.1:9")).await;
    deployed_and_backed_up(&mut t, 3).await;
    t.drain();
    t.say("alice", "/backup list data").await;
    let list = t.expect_message("backups, newest first").await;
    assert!(
        list.text.contains("#4 ·") && list.text.contains("#3 ·") && !list.text.contains("#2"),
        "keep = 2, and #2's file was pruned: {}",
        list.text
    );
    t.say("alice", "/restore data 2").await;
    let answer = t.expect_message("Can't restore #2").await;
    assert!(
        answer.text.contains("was removed on") && answer.text.contains("Nothing was queued"),
        "{}",
        answer.text
    );
    assert!(
        deckhand::store::jobs::get(&t.store.pool, 5)
            .await
            .unwrap()
            .is_none(),
        "no job waits for an approval it could never use"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_backup_file_this_replica_cannot_see_is_refused_before_any_approval() {
    let mut t = Tester::new(&config("http://127.0.0.1:9")).await;
    let backup = deployed_and_backed_up(&mut t, 1).await;
    // As on a pod whose local disk never had it (another replica made the backup).
    let path = backup.artifact.unwrap().path;
    std::fs::remove_file(&path).unwrap();
    t.drain();
    t.say("alice", "/restore data 2").await;
    let answer = t.expect_message("Can't restore #2").await;
    assert!(
        answer
            .text
            .contains(&format!("`{path}` is not on this replica's disk"))
            && answer.text.contains("every replica shares"),
        "{}",
        answer.text
    );
    assert!(
        deckhand::store::jobs::get(&t.store.pool, 3)
            .await
            .unwrap()
            .is_none()
    );
    t.say("alice", "/backup list data").await;
    let list = t.expect_message("no backup this replica can restore").await;
    assert!(
        list.text
            .contains("1 recorded backup(s) cannot be restored from here: #2"),
        "{}",
        list.text
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_backup_gone_by_the_time_the_restore_runs_fails_it_before_anything_changes() {
    let mut t = Tester::new(&config("http://127.0.0.1:9")).await;
    let backup = deployed_and_backed_up(&mut t, 1).await;
    t.say("alice", "/restore data 2").await;
    t.wait_for_state(3, JobState::AwaitingApproval).await;
    // Claimed by a replica that cannot see the file.
    std::fs::remove_file(backup.artifact.unwrap().path).unwrap();
    t.say("bob", "/approve 3").await;
    let job = t.wait_for_state(3, JobState::Failed).await;
    let error = job.error.unwrap();
    assert!(
        error.contains("is not reachable from this replica")
            && error.contains("nothing was changed"),
        "{error}"
    );
    assert_eq!(
        std::fs::read_to_string(t.dir.join("app.db")).unwrap(),
        "v1\n"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_backup_taken_by_a_deploy_step_is_listed_with_its_deploy_and_restorable() {
    let mut t = Tester::new(&config("http://127.0.0.1:9")).await;
    std::fs::write(t.dir.join("pre.db"), "v0\n").unwrap();
    t.say("alice", "/deploy predeploy v1").await;
    t.wait_for_state(1, JobState::Succeeded).await;
    assert_eq!(
        std::fs::read_to_string(t.dir.join("pre.db")).unwrap(),
        "v1\n"
    );
    t.drain();
    t.say("alice", "/backup list predeploy").await;
    let list = t.expect_message("backups, newest first").await;
    assert!(
        list.text.contains("#1 ·") && list.text.contains("taken by deploy #1 of `v1`"),
        "{}",
        list.text
    );
    t.say("alice", "/restore predeploy 1").await;
    let card = t.expect_message("Restore #2").await;
    t.react("bob", "✅", &card.id).await;
    t.wait_for_state(2, JobState::Succeeded).await;
    assert_eq!(
        std::fs::read_to_string(t.dir.join("pre.db")).unwrap(),
        "v0\n",
        "back to what the deploy's backup step saved"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn restore_of_something_that_is_not_a_backup_is_refused() {
    let mut t = Tester::new(&config("http://127.0.0.1:9")).await;
    t.say("alice", "/deploy data v1").await;
    t.wait_for_state(1, JobState::Succeeded).await;
    t.drain();
    t.say("alice", "/restore data 1").await;
    let answer = t.expect_message("is not a backup").await;
    assert!(
        answer.text.contains("`/backup list data` shows them"),
        "{}",
        answer.text
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_job_timeout_stops_a_step_that_has_time_left_of_its_own() {
    let mut t = Tester::new(&config("http://127.0.0.1:9")).await;
    t.say("alice", "/deploy quickjob").await;
    let job = t.wait_for_state(1, JobState::Failed).await;
    assert!(
        job.error
            .as_deref()
            .unwrap()
            .contains("the job's timeout of 1.0s was reached during step `Slow`"),
        "{:?}",
        job.error
    );
    assert!(!t.locked("quickjob").await);
}

const ODD_OUTPUT: &str = r#"
[roles]
team = ["console:*"]

[environments.odd]
deployers = ["team"]

[[environments.odd.deploy]]
name = "Latin-1"
run = ["sh", "-c", "printf 'caf\\351\\n'; echo after"]

[[environments.odd.deploy]]
name = "One long line"
run = ["sh", "-c", "head -c 20000000 /dev/zero | tr '\\0' x; echo; echo done"]
"#;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn invalid_utf8_and_a_huge_line_are_output_not_failures() {
    let mut t = Tester::new(ODD_OUTPUT).await;
    t.say("alice", "/deploy odd").await;
    t.wait_for_state(1, JobState::Succeeded).await;
    let steps = steps::list(&t.store.pool, 1).await.unwrap();
    assert!(
        steps.iter().all(|s| s.state == StepState::Succeeded),
        "{steps:?}"
    );
    assert_eq!(
        steps[0].output_tail.trim_end(),
        "caf\u{fffd}\nafter",
        "the byte is replaced, the step goes on"
    );
    let long = steps[1].output_tail.trim_end();
    assert!(
        long.ends_with("\ndone"),
        "the line after the long one arrives: {long:?}"
    );
    assert!(
        long.lines().next().unwrap().len() < 1000,
        "the long line is cut for the tail"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_http_step_never_follows_a_redirect_to_another_origin_and_reads_at_most_a_mebibyte() {
    // The other origin: counts whoever reaches it.
    let reached = Arc::new(AtomicUsize::new(0));
    let seen = reached.clone();
    let elsewhere = Router::new().route(
        "/steal",
        post(move || {
            seen.fetch_add(1, Ordering::SeqCst);
            async { StatusCode::OK }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let other = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, elsewhere).await.unwrap() });
    let to = format!("{other}/steal");
    let hooks = Router::new()
        .route(
            "/moved",
            post(move || {
                let to = to.clone();
                async move { (StatusCode::TEMPORARY_REDIRECT, [("location", to)]) }
            }),
        )
        .route(
            "/same",
            post(|| async { (StatusCode::TEMPORARY_REDIRECT, [("location", "/big")]) }),
        )
        // 64 MiB of answer: a step needs its status and first lines, not all of it.
        .route("/big", post(|| async { "ok\n".repeat(22 * 1024 * 1024) }));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, hooks).await.unwrap() });
    let config = format!(
        r#"
[roles]
team = ["console:*"]

[environments.moved]
deployers = ["team"]
[[environments.moved.deploy]]
name = "Hook"
http = {{ method = "POST", url = "{url}/moved", retries = 0 }}

[environments.big]
deployers = ["team"]
[[environments.big.deploy]]
name = "Hook"
http = {{ method = "POST", url = "{url}/same", retries = 0 }}
"#
    );
    let mut t = Tester::new(&config).await;
    t.say("alice", "/deploy moved v1").await;
    let job = t.wait_for_state(1, JobState::Failed).await;
    assert!(
        job.error.as_deref().unwrap().contains("307"),
        "{:?}",
        job.error
    );
    assert_eq!(
        reached.load(Ordering::SeqCst),
        0,
        "the other origin was never called"
    );
    let step = &steps::list(&t.store.pool, 1).await.unwrap()[0];
    assert!(
        step.output_tail.contains("not following the redirect"),
        "{}",
        step.output_tail
    );

    // Within its own origin a redirect is followed, and a huge answer is cut at 1 MiB.
    t.say("alice", "/deploy big v1").await;
    t.wait_for_state(2, JobState::Succeeded).await;
    let step = &steps::list(&t.store.pool, 2).await.unwrap()[0];
    assert!(
        step.output_tail.contains("longer than 1 MiB"),
        "{}",
        step.output_tail
    );
}
