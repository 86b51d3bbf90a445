//! Every command form the issue names parses to the right command.

use deckhand_commands::{
    AnnouncementType, Command, CommandName, Deploy, FreezeCommand, GitRef, HumanDuration,
    IncidentCommand, IncidentId, JobNumber, Person, Priority, RollbackTarget, SecretsCommand,
    Severity, Target, parse,
};

fn ok(text: &str) -> Command {
    parse(text).unwrap_or_else(|e| panic!("{text:?} did not parse: {e}"))
}

fn deploy(text: &str) -> Deploy {
    match ok(text) {
        Command::Deploy(d) => d,
        other => panic!("{text:?} parsed as {other:?}"),
    }
}

fn target(app: Option<&str>, env: &str, git_ref: Option<&str>) -> Target {
    Target {
        app: app.map(str::to_owned),
        env: env.to_owned(),
        git_ref: git_ref.map(|r| GitRef::new(r).unwrap()),
    }
}

fn r(value: &str) -> GitRef {
    GitRef::new(value).unwrap()
}

#[test]
fn deploy_env_alone() {
    assert_eq!(deploy("/deploy prod").target, target(None, "prod", None));
}

#[test]
fn deploy_env_and_ref() {
    assert_eq!(
        deploy("/deploy prod v1.4.2").target,
        target(None, "prod", Some("v1.4.2"))
    );
}

#[test]
fn deploy_app_env_ref() {
    assert_eq!(
        deploy("/deploy web prod a1b2c3d").target,
        target(Some("web"), "prod", Some("a1b2c3d"))
    );
}

#[test]
fn deploy_two_words_resolve_to_app_and_env_with_the_config() {
    let t = deploy("/deploy web prod")
        .target
        .resolve(|n| n == "web", |n| n == "prod" || n == "staging");
    assert_eq!(t, target(Some("web"), "prod", None));
}

#[test]
fn deploy_hubot_form_with_ref() {
    assert_eq!(
        deploy("/deploy web/feature/login to staging").target,
        target(Some("web"), "staging", Some("feature/login"))
    );
}

#[test]
fn deploy_hubot_form_without_ref() {
    assert_eq!(
        deploy("/deploy web to prod").target,
        target(Some("web"), "prod", None)
    );
}

#[test]
fn deploy_to_env_reads_as_deploy_env() {
    assert_eq!(deploy("/deploy to prod").target, target(None, "prod", None));
}

#[test]
fn deploy_flags_anywhere_and_in_both_spellings() {
    let d = deploy(
        "/deploy --dry-run prod --reason \"customer fix\" v2 --hotfix INC-4 --break-glass=release day is today",
    );
    assert_eq!(d.target, target(None, "prod", Some("v2")));
    assert!(d.dry_run);
    assert_eq!(d.reason.as_deref(), Some("customer fix"));
    assert_eq!(d.hotfix, Some(IncidentId(4)));
    assert_eq!(d.break_glass.as_deref(), Some("release day is today"));
    assert_eq!(d.skip_checks, None);
}

#[test]
fn skip_checks_takes_a_reason_and_round_trips() {
    let d = deploy("/deploy prod main --skip-checks \"CI is down, hotfix\"");
    assert_eq!(d.skip_checks.as_deref(), Some("CI is down, hotfix"));
    let again = deploy(&Command::Deploy(d.clone()).to_string());
    assert_eq!(again, d);
    assert!(parse("/deploy prod --skip-checks").is_err());
}

#[test]
fn deploy_flag_value_with_equals_and_quotes() {
    let d = deploy("/deploy prod --reason=\"two words\"");
    assert_eq!(d.reason.as_deref(), Some("two words"));
}

#[test]
fn umbrella_command_means_the_same() {
    assert_eq!(ok("/deckhand deploy prod"), ok("/deploy prod"));
    assert_eq!(ok("/deckhand approve 3"), ok("/approve 3"));
}

#[test]
fn umbrella_alone_is_help() {
    assert_eq!(ok("/deckhand"), Command::Help { topic: None });
}

#[test]
fn mention_then_text_without_slash_means_the_same() {
    assert_eq!(ok("<@U0BOT> deploy prod"), ok("/deploy prod"));
    assert_eq!(ok("<@U0BOT|deckhand> deploy prod"), ok("/deploy prod"));
    assert_eq!(ok("<@123456789> deploy prod"), ok("/deploy prod"));
    assert_eq!(ok("@deckhand deploy prod"), ok("/deploy prod"));
    assert_eq!(ok("deploy prod"), ok("/deploy prod"));
}

#[test]
fn command_names_ignore_case() {
    assert_eq!(ok("/Deploy PROD"), Command::Deploy(deploy("/deploy PROD")));
}

#[test]
fn chat_client_text_is_cleaned_up() {
    let d = deploy("\u{a0} /deploy\u{a0}prod \u{2014}dry-run \u{a0}");
    assert_eq!(d.target, target(None, "prod", None));
    assert!(d.dry_run);
    let d = deploy("/deploy prod --reason \u{201C}late night fix\u{201D}");
    assert_eq!(d.reason.as_deref(), Some("late night fix"));
    let d = deploy("/deploy prod --reason \u{2018}it\u{2019}s fine\u{2019}");
    assert_eq!(d.reason.as_deref(), Some("it's fine"));
}

#[test]
fn rollback_forms() {
    assert_eq!(
        ok("/rollback prod"),
        Command::Rollback {
            env: "prod".into(),
            app: None,
            to: None,
            dry_run: false,
            break_glass: None,
        }
    );
    assert_eq!(
        ok("/rollback prod web to v1.2.0"),
        Command::Rollback {
            env: "prod".into(),
            app: Some("web".into()),
            to: Some(RollbackTarget::Ref(r("v1.2.0"))),
            dry_run: false,
            break_glass: None,
        }
    );
    assert_eq!(
        ok("/rollback prod to #12"),
        Command::Rollback {
            env: "prod".into(),
            app: None,
            to: Some(RollbackTarget::Job(JobNumber(12))),
            dry_run: false,
            break_glass: None,
        }
    );
    assert_eq!(
        ok("/rollback prod to 12"),
        Command::Rollback {
            env: "prod".into(),
            app: None,
            to: Some(RollbackTarget::Job(JobNumber(12))),
            dry_run: false,
            break_glass: None,
        }
    );
}

#[test]
fn backup_and_restore_forms() {
    assert_eq!(
        ok("/backup prod"),
        Command::Backup {
            env: "prod".into(),
            database: None,
            dry_run: false,
        }
    );
    assert_eq!(
        ok("/backup prod billing"),
        Command::Backup {
            env: "prod".into(),
            database: Some("billing".into()),
            dry_run: false,
        }
    );
    assert_eq!(
        ok("/backup list prod"),
        Command::BackupList { env: "prod".into() }
    );
    assert_eq!(
        ok("/backup \"list\""),
        Command::Backup {
            env: "list".into(),
            database: None,
            dry_run: false,
        }
    );
    assert_eq!(
        ok("/restore prod 7"),
        Command::Restore {
            env: "prod".into(),
            backup: JobNumber(7),
            dry_run: false,
            break_glass: None,
        }
    );
    assert_eq!(
        ok("/restore prod #7"),
        Command::Restore {
            env: "prod".into(),
            backup: JobNumber(7),
            dry_run: false,
            break_glass: None,
        }
    );
}

#[test]
fn status_history_cancel_forms() {
    assert_eq!(ok("/status"), Command::Status { env: None });
    assert_eq!(
        ok("/status prod"),
        Command::Status {
            env: Some("prod".into())
        }
    );
    assert_eq!(
        ok("/history prod"),
        Command::History {
            env: "prod".into(),
            limit: None
        }
    );
    assert_eq!(
        ok("/history prod 25"),
        Command::History {
            env: "prod".into(),
            limit: Some(25)
        }
    );
    assert_eq!(
        ok("/cancel 12"),
        Command::Cancel {
            job: JobNumber(12),
            dry_run: false
        }
    );
    assert_eq!(
        ok("/cancel #12"),
        Command::Cancel {
            job: JobNumber(12),
            dry_run: false
        }
    );
}

#[test]
fn lock_forms() {
    assert_eq!(
        ok("/lock prod"),
        Command::Lock {
            env: "prod".into(),
            duration: None,
            reason: None,
            dry_run: false,
        }
    );
    assert_eq!(
        ok("/lock prod db migration, don't deploy"),
        Command::Lock {
            env: "prod".into(),
            duration: None,
            reason: Some("db migration, don't deploy".into()),
            dry_run: false,
        }
    );
    assert_eq!(
        ok("/lock prod --for 2h load test"),
        Command::Lock {
            env: "prod".into(),
            duration: HumanDuration::parse("2h"),
            reason: Some("load test".into()),
            dry_run: false,
        }
    );
    assert_eq!(
        ok("/unlock prod"),
        Command::Unlock {
            env: "prod".into(),
            dry_run: false
        }
    );
}

#[test]
fn every_command_that_changes_something_takes_dry_run() {
    for text in [
        "/deploy prod --dry-run",
        "/rollback prod --dry-run",
        "/rollback --dry-run prod to v1",
        "/backup prod --dry-run",
        "/restore prod 7 --dry-run",
        "/lock prod --dry-run db work",
        "/lock prod --for 2h --dry-run",
        "/unlock prod --dry-run",
        "/cancel --dry-run 12",
        "/freeze prod 2h --dry-run sale",
        "/unfreeze prod --dry-run",
    ] {
        assert!(ok(text).is_dry_run(), "{text}");
    }
    for text in [
        "/deploy prod",
        "/lock prod --for 2h",
        "/freeze prod 2h sale",
    ] {
        assert!(!ok(text).is_dry_run(), "{text}");
    }
    // A lock's reason is free text: a `--dry-run` inside it is part of the reason.
    assert!(!ok("/lock prod db work --dry-run").is_dry_run());
}

#[test]
fn break_glass_takes_the_words_up_to_the_next_flag() {
    let d = deploy("/deploy prod v2 --break-glass checkout is down for all --reason fix");
    assert_eq!(d.break_glass.as_deref(), Some("checkout is down for all"));
    assert_eq!(d.reason.as_deref(), Some("fix"));
    assert_eq!(
        ok("/rollback prod --break-glass bad release took checkout down"),
        Command::Rollback {
            env: "prod".into(),
            app: None,
            to: None,
            dry_run: false,
            break_glass: Some("bad release took checkout down".into()),
        }
    );
    assert_eq!(
        ok("/restore prod 7 --break-glass \"orders table was dropped\""),
        Command::Restore {
            env: "prod".into(),
            backup: JobNumber(7),
            dry_run: false,
            break_glass: Some("orders table was dropped".into()),
        }
    );
}

#[test]
fn freeze_forms() {
    assert_eq!(
        ok("/freeze prod 2h black friday peak"),
        Command::Freeze(FreezeCommand::Set {
            env: "prod".into(),
            duration: HumanDuration::parse("2h").unwrap(),
            reason: "black friday peak".into(),
            dry_run: false,
        })
    );
    assert_eq!(ok("/freeze list"), Command::Freeze(FreezeCommand::List));
    assert_eq!(
        ok("/unfreeze prod"),
        Command::Unfreeze {
            env: "prod".into(),
            dry_run: false
        }
    );
}

#[test]
fn approve_and_reject_forms() {
    assert_eq!(ok("/approve 3"), Command::Approve { job: JobNumber(3) });
    assert_eq!(
        ok("/reject #3"),
        Command::Reject {
            job: JobNumber(3),
            reason: None
        }
    );
    assert_eq!(
        ok("/reject 3 can't ship on a Friday"),
        Command::Reject {
            job: JobNumber(3),
            reason: Some("can't ship on a Friday".into())
        }
    );
    assert_eq!(
        ok("/reject 3 \"quoted reason\""),
        Command::Reject {
            job: JobNumber(3),
            reason: Some("quoted reason".into())
        }
    );
}

#[test]
fn incident_forms() {
    assert_eq!(
        ok("/incident declare sev2 Checkout returns 500s"),
        Command::Incident(IncidentCommand::Declare {
            severity: Severity::Sev2,
            title: "Checkout returns 500s".into()
        })
    );
    assert_eq!(
        ok("/incident update INC-3 rolled back, watching"),
        Command::Incident(IncidentCommand::Update {
            id: IncidentId(3),
            text: "rolled back, watching".into()
        })
    );
    assert_eq!(
        ok("/incident resolve inc-3"),
        Command::Incident(IncidentCommand::Resolve {
            id: IncidentId(3),
            summary: None
        })
    );
    assert_eq!(
        ok("/incident resolve 3 bad config"),
        Command::Incident(IncidentCommand::Resolve {
            id: IncidentId(3),
            summary: Some("bad config".into())
        })
    );
    assert_eq!(
        ok("/incident list"),
        Command::Incident(IncidentCommand::List)
    );
}

#[test]
fn announce_forms() {
    assert_eq!(
        ok(
            "/announce deployment \"Production Deployment Successful - v1.2.0\" Includes US002 (billing)."
        ),
        Command::Announce {
            kind: AnnouncementType::Deployment,
            priority: Priority::Normal,
            subject: "Production Deployment Successful - v1.2.0".into(),
            message: "Includes US002 (billing).".into()
        }
    );
    assert_eq!(
        ok("/announce maintenance urgent “DB upgrade” read-only for 10 minutes"),
        Command::Announce {
            kind: AnnouncementType::Maintenance,
            priority: Priority::Urgent,
            subject: "DB upgrade".into(),
            message: "read-only for 10 minutes".into()
        }
    );
}

#[test]
fn secrets_forms() {
    assert_eq!(
        ok("/secrets list"),
        Command::Secrets(SecretsCommand::List { env: None })
    );
    assert_eq!(
        ok("/secrets list prod"),
        Command::Secrets(SecretsCommand::List {
            env: Some("prod".into())
        })
    );
    assert_eq!(ok("/secrets due"), Command::Secrets(SecretsCommand::Due));
    assert_eq!(
        ok("/secrets rotated STRIPE_SECRET_KEY prod"),
        Command::Secrets(SecretsCommand::Rotated {
            name: "STRIPE_SECRET_KEY".into(),
            env: Some("prod".into())
        })
    );
    assert_eq!(
        ok("/secrets add STRIPE_SECRET_KEY prod every=90d owner=<@U01ALICE|alice>"),
        Command::Secrets(SecretsCommand::Add {
            name: "STRIPE_SECRET_KEY".into(),
            env: "prod".into(),
            every: HumanDuration::parse("90d").unwrap(),
            owner: Person::Mention("U01ALICE".into()),
            runbook: None
        })
    );
    assert_eq!(
        ok("/secrets add owner=@alice RAILWAY_TOKEN every=30d prod runbook=https://wiki/x?a=b"),
        Command::Secrets(SecretsCommand::Add {
            name: "RAILWAY_TOKEN".into(),
            env: "prod".into(),
            every: HumanDuration::parse("30d").unwrap(),
            owner: Person::Name("alice".into()),
            runbook: Some("https://wiki/x?a=b".into())
        })
    );
}

#[test]
fn help_forms() {
    assert_eq!(ok("/help"), Command::Help { topic: None });
    assert_eq!(
        ok("/help deploy"),
        Command::Help {
            topic: Some(CommandName::Deploy)
        }
    );
    assert_eq!(
        ok("/help /rollback"),
        Command::Help {
            topic: Some(CommandName::Rollback)
        }
    );
}

#[test]
fn canonical_text_of_each_form_parses_back() {
    for text in [
        "/deploy prod",
        "/deploy web to prod --dry-run --reason \"a b\" --hotfix INC-2 --break-glass x y z --skip-checks ci down",
        "/rollback prod web to #3",
        "/rollback prod --break-glass the fix is broken --dry-run",
        "/backup list prod",
        "/backup prod billing --dry-run",
        "/restore prod 7",
        "/restore --dry-run prod 7 --break-glass data was lost today",
        "/cancel 4 --dry-run",
        "/unlock prod --dry-run",
        "/freeze prod 2h --dry-run black friday \"peak\"",
        "/freeze list",
        "/unfreeze prod --dry-run",
        "/history prod 5",
        "/lock prod --for 1h30m \"--odd\" reason",
        "/reject 4 -- no",
        "/incident declare sev1 -down-",
        "/announce info high \"low\" hi",
        "/secrets add A_B prod every=1d owner=<@U1> runbook=\"https://x/?a=b\"",
        "/help secrets",
    ] {
        let first = ok(text);
        let canonical = first.to_string();
        assert_eq!(ok(&canonical), first, "{text:?} -> {canonical:?}");
    }
}

#[test]
fn announce_short_one_word_subject_is_not_taken_for_a_priority() {
    assert!(matches!(
        ok("/announce info now we are live"),
        Command::Announce { priority: Priority::Normal, ref subject, .. } if subject == "now"
    ));
}
