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
