//! The Slack and Discord command definitions come from the same source as the parser.

use deckhand_commands::manifest::{
    InvocationError, OptionValue, discord_commands, discord_invocation_text, slack_slash_commands,
};
use deckhand_commands::{Command, CommandName, parse};

#[test]
fn slack_registers_every_command_and_the_umbrella() {
    let commands = slack_slash_commands();
    for &name in CommandName::ALL {
        assert!(commands.iter().any(|c| c.command == name.to_string()));
    }
    assert!(commands.iter().any(|c| c.command == "/deckhand"));
    insta::assert_json_snapshot!(commands);
}

#[test]
fn discord_commands_are_pinned() {
    insta::assert_json_snapshot!(discord_commands());
}

#[test]
fn discord_rules_hold() {
    for command in discord_commands() {
        check_name(&command.name);
        assert!((1..=100).contains(&command.description.chars().count()));
        let mut seen_optional = false;
        for option in &command.options {
            check_name(&option.name);
            assert!((1..=100).contains(&option.description.chars().count()));
            if option.kind != 1 {
                assert!(
                    !(seen_optional && option.required),
                    "{}: required after optional",
                    command.name
                );
                seen_optional |= !option.required;
            }
        }
    }
}

fn check_name(name: &str) {
    assert!(
        (1..=32).contains(&name.len())
            && name
                .chars()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_' || c == '-'),
        "bad discord name {name}"
    );
}

#[test]
fn env_and_app_options_autocomplete() {
    let deploy = discord_commands()
        .into_iter()
        .find(|c| c.name == "deploy")
        .unwrap();
    for option in &deploy.options {
        assert_eq!(
            option.autocomplete,
            option.name == "env" || option.name == "app",
            "{}",
            option.name
        );
    }
}

fn text(command: &str, sub: Option<&str>, options: &[(&str, OptionValue)]) -> String {
    let options: Vec<(String, OptionValue)> = options
        .iter()
        .map(|(k, v)| ((*k).to_owned(), v.clone()))
        .collect();
    discord_invocation_text(command, sub, &options).unwrap()
}

#[test]
fn discord_deploy_becomes_the_typed_command() {
    let t = text(
        "deploy",
        None,
        &[
            ("env", OptionValue::Text("prod".into())),
            ("ref", OptionValue::Text("v1.2".into())),
            ("dry_run", OptionValue::Bool(true)),
            ("reason", OptionValue::Text("two words".into())),
        ],
    );
    assert_eq!(t, "/deploy prod v1.2 --dry-run --reason \"two words\"");
    assert_eq!(
        parse(&t).unwrap(),
        parse("/deploy prod v1.2 --dry-run --reason 'two words'").unwrap()
    );
}

#[test]
fn discord_sub_commands_become_their_words() {
    let t = text(
        "incident",
        Some("declare"),
        &[
            ("title", OptionValue::Text("--api down".into())),
            ("severity", OptionValue::Text("sev1".into())),
        ],
    );
    assert!(matches!(parse(&t).unwrap(), Command::Incident(_)), "{t}");
    let t = text(
        "backup",
        Some("run"),
        &[("env", OptionValue::Text("prod".into()))],
    );
    assert_eq!(t, "/backup prod");
    let t = text("cancel", None, &[("job", OptionValue::Integer(12))]);
    assert_eq!(t, "/cancel 12");
    let t = text(
        "secrets",
        Some("add"),
        &[
            ("name", OptionValue::Text("X".into())),
            ("env", OptionValue::Text("prod".into())),
            ("every", OptionValue::Text("90d".into())),
            ("owner", OptionValue::Text("<@123>".into())),
        ],
    );
    assert_eq!(t, "/secrets add X prod every=90d owner=<@123>");
    parse(&t).unwrap();
}

#[test]
fn discord_unknown_names_are_errors() {
    assert_eq!(
        discord_invocation_text("nope", None, &[]),
        Err(InvocationError::UnknownCommand("nope".into()))
    );
    assert_eq!(
        discord_invocation_text("incident", Some("nope"), &[]),
        Err(InvocationError::UnknownSubcommand("nope".into()))
    );
    assert_eq!(
        discord_invocation_text("deploy", None, &[("x".into(), OptionValue::Bool(true))]),
        Err(InvocationError::UnknownOption("x".into()))
    );
}
