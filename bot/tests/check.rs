//! `deckhand check` and start-up: bad config, missing variables and unreachable
//! databases stop deckhand with the file, the key and the reason, all at once.

mod common;

use common::{deckhand, text, workspace};

#[test]
fn malformed_config_names_file_line_and_reason() {
    let dir = workspace(Some("[environments.prod\n"));
    let out = deckhand(&dir, &["check"], &[], "");
    assert_eq!(out.status.code(), Some(1));
    let stderr = text(&out.stderr);
    assert!(stderr.contains("deckhand.toml"), "{stderr}");
    assert!(stderr.contains("line 1"), "{stderr}");
    assert!(
        !stderr.contains("panicked") && !stderr.contains("RUST_BACKTRACE"),
        "{stderr}"
    );
}

#[test]
fn unknown_key_names_its_path() {
    let dir = workspace(Some(
        "[environments.prod]\ndeployers = []\n[[environments.prod.deploy]]\nname = \"x\"\nrunn = [\"true\"]\n",
    ));
    let out = deckhand(&dir, &["check"], &[], "");
    assert_eq!(out.status.code(), Some(1));
    let stderr = text(&out.stderr);
    assert!(
        stderr.contains("environments.prod.deploy[0].runn"),
        "{stderr}"
    );
    assert!(stderr.contains("unknown field `runn`"), "{stderr}");
}

#[test]
fn check_lists_every_problem_at_once() {
    let config = r#"
[roles]
deployers = ["slack:U1"]
[environments.prod]
deployers = ["deployrs"]
approvals = 1
approval_ttl = "soon"
"#;
    let dir = workspace(Some(config));
    let out = deckhand(&dir, &["check"], &[], "");
    assert_eq!(out.status.code(), Some(1));
    let stderr = text(&out.stderr);
    assert!(
        stderr.contains("environments.prod.approval_ttl"),
        "{stderr}"
    );
    assert!(stderr.contains("`soon` is not a duration"), "{stderr}");
    let config = r#"
[roles]
deployers = ["slack:U1"]
[environments.prod]
deployers = ["deployrs"]
approvals = 1
[[environments.prod.deploy]]
name = "Deploy"
run = ["railway", "up"]
env = ["RAILWAY_TOKEN_FOR_TEST"]
[[environments.prod.deploy]]
name = "Both"
"#;
    std::fs::write(dir.join("deckhand.toml"), config).unwrap();
    let out = deckhand(&dir, &["check"], &[], "");
    assert_eq!(out.status.code(), Some(1));
    let stderr = text(&out.stderr);
    for expected in [
        "`environments.prod.deployers[0]`: unknown role or person `deployrs`",
        "Did you mean `deployers`?",
        "`environments.prod.approvers`: `approvals = 1` needs someone to approve",
        "`environments.prod.deploy[0].env[0]`: the step needs env var `RAILWAY_TOKEN_FOR_TEST`, which is not set",
        "`environments.prod.deploy[1]`: step `Both` does nothing",
    ] {
        assert!(
            stderr.contains(expected),
            "missing {expected:?} in:\n{stderr}"
        );
    }
}

#[test]
fn people_and_names_are_checked_all_at_once() {
    let config = r#"
[people.alice]
slack = "U01ALICE"
discord = "not-a-snowflake"
[people.Bob]
console = "bob"
[people.carol]
[people.dup]
slack = "U01ALICE"
[people.ops]
console = "ops"
[roles]
ops = ["alice"]
[environments.Prod]
deployers = ["alice"]
[[environments.Prod.deploy]]
name = "Deploy"
run = ["true"]
"#;
    let dir = workspace(Some(config));
    let out = deckhand(&dir, &["check"], &[], "");
    assert_eq!(out.status.code(), Some(1));
    let stderr = text(&out.stderr);
    for expected in [
        "`people.alice.discord`: `not-a-snowflake` is not a Discord user id",
        "`people.Bob`: person names are lower-case",
        "`people.carol`: lists no account",
        "`people.dup.slack`: `slack:U01ALICE` is already `alice`'s account",
        "`people.ops`: `ops` is also a role",
        "`environments.Prod`: env names are lower-case letters",
    ] {
        assert!(
            stderr.contains(expected),
            "missing {expected:?} in:\n{stderr}"
        );
    }
}

#[test]
fn missing_env_var_stops_start_up_too() {
    let config = "[environments.prod]\n[[environments.prod.deploy]]\nname = \"Hook\"\nhttp = { url_env = \"HOOK_FOR_TEST\" }\n";
    let dir = workspace(Some(config));
    let out = deckhand(&dir, &["console"], &[], "/status\n");
    assert_eq!(out.status.code(), Some(1));
    assert!(text(&out.stderr).contains(
        "`environments.prod.deploy[0].http.url_env`: the step needs env var `HOOK_FOR_TEST`"
    ));
    let out = deckhand(
        &dir,
        &["check"],
        &[("HOOK_FOR_TEST", "https://example.com/hook")],
        "",
    );
    assert!(out.status.success(), "{}", text(&out.stderr));
}

#[test]
fn explicit_config_that_does_not_exist_is_an_error() {
    let dir = workspace(None);
    let out = deckhand(&dir, &["check", "--config", "nope.toml"], &[], "");
    assert_eq!(out.status.code(), Some(1));
    assert!(
        text(&out.stderr).contains("nope.toml: cannot read it"),
        "{}",
        text(&out.stderr)
    );
}

#[test]
fn unreachable_database_is_a_precise_error() {
    let dir = workspace(None);
    let out = deckhand(
        &dir,
        &[
            "check",
            "--database-url",
            "postgres://deckhand:hunter2secret@127.0.0.1:1/nope",
        ],
        &[],
        "",
    );
    assert_eq!(out.status.code(), Some(1));
    let stderr = text(&out.stderr);
    assert!(
        stderr.contains(
            "cannot connect to the database at postgres://deckhand:********@127.0.0.1:1/nope"
        ),
        "{stderr}"
    );
    assert!(
        !stderr.contains("hunter2secret"),
        "the password leaked: {stderr}"
    );
    let out = deckhand(&dir, &["migrate", "--database-url", "mysql://x"], &[], "");
    assert_eq!(out.status.code(), Some(1));
    assert!(text(&out.stderr).contains("neither `sqlite://FILE` nor `postgres://...`"));
}

#[test]
fn reference_config_passes_check_when_its_env_vars_are_set() {
    let dir = workspace(None);
    let reference = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../deploy/examples/deckhand.toml"
    );
    let vars = [
        ("PROD_DATABASE_URL", "postgres://u:p@db/app"),
        ("RAILWAY_TOKEN", "rw-token"),
        ("VERCEL_DEPLOY_HOOK", "https://api.vercel.com/v1/hooks/x"),
    ];
    let out = deckhand(&dir, &["check", "--config", reference], &vars, "");
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(text(&out.stdout).contains("config OK"));
    let out = deckhand(&dir, &["check", "--config", reference], &vars[1..], "");
    assert_eq!(out.status.code(), Some(1));
    assert!(text(&out.stderr).contains("PROD_DATABASE_URL"));
}

#[test]
fn every_example_config_passes_check() {
    let examples = concat!(env!("CARGO_MANIFEST_DIR"), "/../deploy/examples");
    let dir = workspace(None);
    let env_example =
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../.env.example")).unwrap();
    let vars: Vec<(String, String)> = env_example
        .lines()
        .filter_map(|l| l.split_once('='))
        // Only the secrets the example pipelines name; platform tokens stay unset.
        .filter(|(k, _)| {
            !k.starts_with('#')
                && ![
                    "DATABASE_URL",
                    "DECKHAND_",
                    "SLACK_",
                    "DISCORD_",
                    "GITHUB_API_URL",
                    // A token, not an App: deckhand takes one way into GitHub.
                    "GITHUB_APP_",
                    "RUST_LOG",
                ]
                .iter()
                .any(|p| k.starts_with(p))
        })
        .map(|(k, _)| (k.trim().to_owned(), "postgres://u:p@db/app".to_owned()))
        .collect();
    let vars: Vec<(&str, &str)> = vars.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
    for entry in std::fs::read_dir(examples).unwrap() {
        let path = entry.unwrap().path();
        if path.extension().is_some_and(|e| e == "toml") {
            let out = deckhand(
                &dir,
                &["check", "--config", path.to_str().unwrap()],
                &vars,
                "",
            );
            assert!(
                out.status.success(),
                "{}: {}",
                path.display(),
                text(&out.stderr)
            );
        }
    }
}

#[test]
fn slack_half_configured_stops_start_up_with_the_reason() {
    let dir = workspace(None);
    let out = deckhand(&dir, &["check"], &[("SLACK_BOT_TOKEN", "xoxb-1")], "");
    assert_eq!(out.status.code(), Some(1));
    assert!(
        text(&out.stderr)
            .contains("neither SLACK_APP_TOKEN (Socket Mode) nor SLACK_SIGNING_SECRET (HTTP mode)"),
        "{}",
        text(&out.stderr)
    );
    let out = deckhand(
        &dir,
        &["check"],
        &[
            ("SLACK_BOT_TOKEN", "xoxb-1"),
            ("SLACK_APP_TOKEN", "xoxb-wrong"),
        ],
        "",
    );
    assert_eq!(out.status.code(), Some(1));
    assert!(text(&out.stderr).contains("must be an app-level token starting with `xapp-`"));
    let out = deckhand(
        &dir,
        &["check"],
        &[("SLACK_BOT_TOKEN", "xoxb-1"), ("SLACK_SIGNING_SECRET", "s")],
        "",
    );
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(
        text(&out.stdout).contains("slack OK: HTTP mode"),
        "{}",
        text(&out.stdout)
    );
}

#[test]
fn github_half_configured_stops_start_up_with_the_reason() {
    let dir = workspace(None);
    let out = deckhand(&dir, &["check"], &[("GITHUB_APP_ID", "12345")], "");
    assert_eq!(out.status.code(), Some(1));
    assert!(
        text(&out.stderr).contains("GITHUB_APP_ID is set but GITHUB_APP_PRIVATE_KEY is not"),
        "{}",
        text(&out.stderr)
    );
    let out = deckhand(
        &dir,
        &["check"],
        &[
            ("GITHUB_TOKEN", "ghp_x"),
            ("GITHUB_APP_ID", "12345"),
            ("GITHUB_APP_PRIVATE_KEY", "/nonexistent.pem"),
        ],
        "",
    );
    assert_eq!(out.status.code(), Some(1));
    assert!(
        text(&out.stderr).contains("both GITHUB_TOKEN and GITHUB_APP_ID are set"),
        "{}",
        text(&out.stderr)
    );
    let out = deckhand(&dir, &["check"], &[("GITHUB_TOKEN", "ghp_x")], "");
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(
        text(&out.stdout).contains("github OK: token at https://api.github.com"),
        "{}",
        text(&out.stdout)
    );
}
