//! Properties: the parser never panics, and canonical text always parses back to the same
//! command.

use deckhand_commands::parse;
use proptest::prelude::*;

/// Words that exercise every corner of the grammar, plus arbitrary text.
fn word() -> impl Strategy<Value = String> {
    prop_oneof![
        prop::sample::select(vec![
            "deploy",
            "rollback",
            "backup",
            "restore",
            "status",
            "history",
            "cancel",
            "lock",
            "unlock",
            "approve",
            "reject",
            "incident",
            "announce",
            "secrets",
            "help",
            "deckhand",
            "/deploy",
            "prod",
            "staging",
            "web",
            "v1.2.3",
            "main",
            "feature/x",
            "a..b",
            "-rf",
            "to",
            "TO",
            "list",
            "due",
            "rotated",
            "add",
            "declare",
            "update",
            "resolve",
            "sev1",
            "sev9",
            "INC-3",
            "inc-0",
            "#12",
            "12",
            "0",
            "101",
            "--dry-run",
            "--reason",
            "--reason=x",
            "--hotfix",
            "--break-glass",
            "--for",
            "--nope",
            "-n",
            "—dry-run",
            "every=90d",
            "every=0s",
            "owner=@bob",
            "owner=<@U1|bob>",
            "runbook=http://x?a=b",
            "info",
            "deployment",
            "urgent",
            "high",
            "normal",
            "hgih",
            "\"",
            "'",
            "\"quoted words\"",
            "'single'",
            "‘it’s’",
            "“smart”",
            "<@U0BOT>",
            "<#C1|deploys>",
            "@deckhand",
            "=",
            "a=b",
            "\\",
            "\"esc \\\" aped\"",
            "\u{a0}",
            "STRIPE_SECRET_KEY",
            "x y",
        ])
        .prop_map(str::to_owned),
        "[a-zA-Z0-9._/#=@:-]{1,12}",
        "\\PC{1,8}",
    ]
}

/// A command head (so most lines reach a family parser) and then any words.
fn line() -> impl Strategy<Value = String> {
    (
        prop::sample::select(vec!["/", "", "<@U0BOT> ", "/deckhand ", " "]),
        prop::sample::select(vec![
            "deploy",
            "rollback",
            "backup",
            "backup list",
            "restore",
            "status",
            "history",
            "cancel",
            "lock",
            "unlock",
            "approve",
            "reject",
            "incident declare",
            "incident update",
            "incident resolve",
            "incident list",
            "announce",
            "secrets list",
            "secrets due",
            "secrets rotated",
            "secrets add",
            "help",
            "deplyo",
            "incident",
        ]),
        prop::collection::vec(
            (
                word(),
                prop::sample::select(vec![" ", "  ", "\u{a0}", "\t", "\n"]),
            ),
            0..7,
        ),
    )
        .prop_map(|(lead, head, words)| {
            let mut out = format!("{lead}{head} ");
            for (w, space) in words {
                out.push_str(&w);
                out.push_str(space);
            }
            out
        })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(20_000))]

    #[test]
    fn parsing_never_panics_on_arbitrary_text(text in "\\PC*") {
        let _ = parse(&text);
    }

    #[test]
    fn parsing_never_panics_on_arbitrary_unicode(text in any::<String>()) {
        let _ = parse(&text);
    }

    #[test]
    fn canonical_text_parses_to_the_same_command(text in line()) {
        if let Ok(command) = parse(&text) {
            let canonical = command.to_string();
            let again = parse(&canonical);
            prop_assert_eq!(again.as_ref(), Ok(&command), "{:?} -> {:?}", text, canonical);
            prop_assert_eq!(again.unwrap().to_string(), canonical);
        }
    }

    #[test]
    fn error_answers_are_chat_sized(text in line()) {
        if let Err(error) = parse(&text) {
            let answer = error.render();
            prop_assert!(!answer.is_empty());
            prop_assert!(answer.chars().count() < 600, "{}", answer);
        }
    }
}
