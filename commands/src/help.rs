//! Help text, built from the command definitions so it cannot drift from the parser.

use std::fmt::Write as _;

use crate::spec::{CommandName, Place};

/// The command list: one line per command.
pub fn help() -> String {
    let mut out = String::from("*deckhand commands*\n");
    for &name in CommandName::ALL {
        let spec = name.spec();
        let _ = writeln!(out, "• `{name}` — {}", spec.summary);
    }
    out.push_str("Type `/help COMMAND` for details, e.g. `/help deploy`. In Slack, `/deckhand deploy prod` works everywhere.");
    out
}

/// One command in detail: every form, its options and examples.
pub fn help_for(name: CommandName) -> String {
    let spec = name.spec();
    let mut out = format!("*{name}* — {}\n", spec.summary);
    for form in spec.forms {
        let _ = writeln!(out, "`{name} {}`", form.usage);
        let _ = writeln!(out, "    {}", form.summary);
        for arg in form.args {
            if let Place::Flag(flag) = arg.place {
                let _ = writeln!(out, "    `{flag}`: {}", arg.help);
            }
        }
    }
    if !spec.examples.is_empty() {
        out.push_str("Examples: ");
        let examples: Vec<String> = spec.examples.iter().map(|e| format!("`{e}`")).collect();
        out.push_str(&examples.join(" · "));
    }
    out.trim_end().to_owned()
}
