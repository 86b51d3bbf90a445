//! Help text, pinned; and every command has help.

use deckhand_commands::{CommandName, help, help_for};

#[test]
fn command_list() {
    insta::assert_snapshot!(help());
}

#[test]
fn deploy_help() {
    insta::assert_snapshot!(help_for(CommandName::Deploy));
}

#[test]
fn incident_help_lists_every_sub_command() {
    insta::assert_snapshot!(help_for(CommandName::Incident));
}

#[test]
fn every_command_has_a_help_page_with_its_usage() {
    for &name in CommandName::ALL {
        let page = help_for(name);
        for form in name.spec().forms {
            assert!(page.contains(form.usage), "{name}: {page}");
        }
        assert!(help().contains(&name.to_string()));
    }
}

#[test]
fn every_example_in_help_parses() {
    for &name in CommandName::ALL {
        for example in name.spec().examples {
            let parsed =
                deckhand_commands::parse(example).unwrap_or_else(|e| panic!("{example}: {e}"));
            assert_eq!(parsed.name(), name, "{example}");
        }
    }
}
