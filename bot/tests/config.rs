//! Reading a config: every problem of a file in one run, each with its key and line.

use deckhand::config::Config;

const MANY_PROBLEMS: &str = r#"
[bot]
timezone = "Mars/Olympus"
max_concurrent_jobs = "four"
colour = "blue"

[roles]
admins = ["console:root"]

[environments.prod]
deployers = ["admins"]
approvals = "two"
approval_ttl = "soon"
deploy = [{ name = "go", run = ["true"], timeout = 5 }]

[[environments.prod.rollback]]
name = 7
run = ["true"]

[[environments.prod.rollback]]
name = "ok"
runn = ["true"]
"#;

#[test]
fn unknown_keys_and_type_errors_anywhere_in_the_file_are_all_listed_with_their_lines() {
    let errors = Config::parse(MANY_PROBLEMS, "deckhand.toml").unwrap_err();
    insta::assert_snapshot!(errors.to_string());
}

#[test]
fn a_value_set_aside_does_not_bring_its_consequences_along() {
    // `name` is required: once the bad one is set aside, "missing field `name`" would
    // follow from it. Only the real problem is listed.
    let text = "[roles]\nadmins = [\"console:root\"]\n[[environments.prod.deploy]]\nname = 7\nrun = [\"true\"]\n";
    let errors = Config::parse(text, "deckhand.toml").unwrap_err();
    assert_eq!(errors.0.len(), 1, "{errors}");
    assert_eq!(errors.0[0].key, "environments.prod.deploy[0].name");
    assert!(errors.0[0].reason.ends_with("(line 4)"), "{errors}");
}

#[test]
fn a_syntax_error_is_one_problem_with_its_line() {
    let errors = Config::parse("[bot]\ntimezone = \n", "deckhand.toml").unwrap_err();
    assert_eq!(errors.0.len(), 1, "{errors}");
    assert!(errors.0[0].reason.contains("line 2"), "{errors}");
}

#[test]
fn durations_out_of_their_range_are_listed_with_the_bounds() {
    let text = r#"
[roles]
admins = ["console:root"]

[environments.prod]
deployers = ["admins"]
timeout = "10d"
approval_ttl = "8d"

[[environments.prod.deploy]]
name = "wait"
health = { url = "http://127.0.0.1:1/", every = "2h", within = "3d" }
timeout = "2d"

[incidents]
update_every = { sev1 = "30s" }
"#;
    let errors = Config::parse(text, "deckhand.toml").unwrap_err();
    insta::assert_snapshot!(errors.to_string());
}

const GITHUB_PROBLEMS: &str = r#"
[roles]
admins = ["console:root"]

[apps.web]
repo = "not a repo"

[environments.prod]
deployers = ["admins"]
require_checks = "everything"
checks_timeout = "3d"
auto_deploy = { branch = "", app = "api" }

[[environments.prod.deploy]]
name = "Workflow"
github = { workflow = "deploy.yml", inputs = { version = "${HOME}", env = "${DECKHAND_ENV" }, timeout = "10m" }
timeout = "20m"

[[environments.prod.rollback]]
name = "Workflow"
github = { workflow = "", inputs = { version = "${DECKHAND_COMMIT}" } }
"#;

#[test]
fn github_keys_are_checked_with_the_rest() {
    let errors = Config::parse_with(GITHUB_PROBLEMS, "deckhand.toml", &|_| false)
        .unwrap_err()
        .to_string();
    for expected in [
        "`apps.web.repo`: `not a repo` is not a GitHub repository; write it `owner/name`",
        "`environments.prod.require_checks`: `everything` is not a choice",
        "`environments.prod.checks_timeout`: `3d` is out of range",
        "`environments.prod.auto_deploy.branch`: name the branch",
        "`environments.prod.auto_deploy.app`: `api` is not an app with a `repo`",
        "a deploy nobody asked for in chat needs a channel for its card",
        "set GITHUB_WEBHOOK_SECRET",
        "has a timeout both on the step and inside `github`",
    ] {
        assert!(
            errors.contains(expected),
            "missing {expected:?} in:\n{errors}"
        );
    }
    // The step with two timeouts is set aside; the other step's problems still show.
    let fixed = GITHUB_PROBLEMS.replace("timeout = \"20m\"\n", "");
    let errors = Config::parse_with(&fixed, "deckhand.toml", &|_| false)
        .unwrap_err()
        .to_string();
    for expected in [
        "`environments.prod.deploy[0].github.inputs.version`: `${HOME}` is not a job variable",
        "`environments.prod.deploy[0].github.inputs.env`: `${DECKHAND_ENV` opens `${` without closing it",
        "`environments.prod.rollback[0].github.workflow`: name the workflow file",
        "needs GitHub: set GITHUB_TOKEN, or GITHUB_APP_ID and GITHUB_APP_PRIVATE_KEY",
    ] {
        assert!(
            errors.contains(expected),
            "missing {expected:?} in:\n{errors}"
        );
    }
}
