//! The one definition of every command: names, usage, arguments. Help text, the Slack
//! manifest and the Discord application commands are all derived from it.

use std::fmt;

use crate::values::{AnnouncementType, Priority, Severity};

/// A command family: what follows the slash.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum CommandName {
    Deploy,
    Rollback,
    Backup,
    Restore,
    Status,
    History,
    Cancel,
    Lock,
    Unlock,
    Freeze,
    Unfreeze,
    Approve,
    Reject,
    Incident,
    Announce,
    Secrets,
    Login,
    Help,
}

impl CommandName {
    pub const ALL: &'static [CommandName] = &[
        CommandName::Deploy,
        CommandName::Rollback,
        CommandName::Backup,
        CommandName::Restore,
        CommandName::Status,
        CommandName::History,
        CommandName::Cancel,
        CommandName::Lock,
        CommandName::Unlock,
        CommandName::Freeze,
        CommandName::Unfreeze,
        CommandName::Approve,
        CommandName::Reject,
        CommandName::Incident,
        CommandName::Announce,
        CommandName::Secrets,
        CommandName::Login,
        CommandName::Help,
    ];

    pub fn as_str(self) -> &'static str {
        self.spec().name
    }

    /// Case-insensitive; a leading `/` is allowed.
    pub fn parse(word: &str) -> Option<CommandName> {
        let word = word.strip_prefix('/').unwrap_or(word);
        CommandName::ALL
            .iter()
            .copied()
            .find(|name| name.as_str().eq_ignore_ascii_case(word))
    }

    /// Everything known about this command. Exhaustive on purpose: a new command does not
    /// compile until it has its usage, help and platform definitions.
    pub fn spec(self) -> &'static Spec {
        match self {
            CommandName::Deploy => &DEPLOY,
            CommandName::Rollback => &ROLLBACK,
            CommandName::Backup => &BACKUP,
            CommandName::Restore => &RESTORE,
            CommandName::Status => &STATUS,
            CommandName::History => &HISTORY,
            CommandName::Cancel => &CANCEL,
            CommandName::Lock => &LOCK,
            CommandName::Unlock => &UNLOCK,
            CommandName::Freeze => &FREEZE,
            CommandName::Unfreeze => &UNFREEZE,
            CommandName::Approve => &APPROVE,
            CommandName::Reject => &REJECT,
            CommandName::Incident => &INCIDENT,
            CommandName::Announce => &ANNOUNCE,
            CommandName::Secrets => &SECRETS,
            CommandName::Login => &LOGIN,
            CommandName::Help => &HELP,
        }
    }
}

impl fmt::Display for CommandName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "/{}", self.as_str())
    }
}

/// One command family.
#[derive(Debug)]
pub struct Spec {
    pub name: &'static str,
    /// One line for the command list.
    pub summary: &'static str,
    /// More than one when the command has sub-commands (`/incident declare`, ...).
    pub forms: &'static [Form],
    pub examples: &'static [&'static str],
}

/// One way to call a command. On Discord, a command with several forms becomes a command
/// with sub-commands.
#[derive(Debug)]
pub struct Form {
    /// The sub-command word(s) typed after the command name, e.g. `"declare"`; empty for
    /// the plain form.
    pub words: &'static str,
    /// Usage line, without the command name: `ENV [REF] [--dry-run]`.
    pub usage: &'static str,
    pub summary: &'static str,
    /// The arguments in the order they are written.
    pub args: &'static [Arg],
}

impl Form {
    /// The Discord sub-command name for this form.
    pub fn discord_name(&self) -> &'static str {
        if self.words.is_empty() {
            "run"
        } else {
            self.words
        }
    }
}

/// One argument of a form.
#[derive(Debug)]
pub struct Arg {
    pub name: &'static str,
    pub help: &'static str,
    pub kind: ArgKind,
    pub required: bool,
    pub place: Place,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ArgKind {
    Text,
    /// An environment name; platforms may autocomplete it from the config.
    Env,
    /// An app name; platforms may autocomplete it from the config.
    App,
    Integer,
    Switch,
    Choice(&'static [&'static str]),
}

/// Where an argument goes in the typed command.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Place {
    Positional,
    /// `--reason TEXT`, or `--dry-run` for a switch.
    Flag(&'static str),
    /// `to REF`
    Keyword(&'static str),
    /// `every=90d`
    KeyValue(&'static str),
    /// Free text to the end of the line.
    Rest,
}

const fn arg(name: &'static str, help: &'static str, kind: ArgKind, place: Place) -> Arg {
    Arg {
        name,
        help,
        kind,
        required: true,
        place,
    }
}

const fn opt(name: &'static str, help: &'static str, kind: ArgKind, place: Place) -> Arg {
    Arg {
        name,
        help,
        kind,
        required: false,
        place,
    }
}

use ArgKind::{App, Choice, Env, Integer, Switch, Text};
use Place::{Flag, KeyValue, Keyword, Positional, Rest};

const ENV: Arg = arg("env", "the environment, e.g. prod", Env, Positional);
const OPTIONAL_ENV: Arg = opt("env", "the environment, e.g. prod", Env, Positional);
const JOB: Arg = arg("job", "the job number, e.g. 12", Integer, Positional);
const INCIDENT_ID: Arg = arg("id", "the incident, e.g. INC-3", Text, Positional);
const DRY_RUN: Arg = opt(
    "dry_run",
    "show what would happen, change nothing",
    Switch,
    Flag("--dry-run"),
);
const BREAK_GLASS: Arg = opt(
    "break_glass",
    "go through a freeze; why, in a few words",
    Text,
    Flag("--break-glass"),
);

pub(crate) static DEPLOY: Spec = Spec {
    name: "deploy",
    summary: "deploy a ref to an environment, after approval where the env needs it",
    forms: &[Form {
        words: "",
        usage: "[APP] ENV [REF] [--dry-run] [--reason TEXT] [--hotfix INC-N] [--break-glass REASON...] [--skip-checks REASON...]",
        summary: "Deploy REF (default: the app's default ref) of APP to ENV. `/deploy APP/REF to ENV` works too.",
        args: &[
            opt(
                "app",
                "the app, when there is more than one",
                App,
                Positional,
            ),
            ENV,
            opt("ref", "branch, tag, sha or version", Text, Positional),
            DRY_RUN,
            opt("reason", "why, for the audit log", Text, Flag("--reason")),
            opt(
                "hotfix",
                "deploy while this incident gates the env",
                Text,
                Flag("--hotfix"),
            ),
            BREAK_GLASS,
            opt(
                "skip_checks",
                "deploy without the required GitHub checks, with this reason",
                Text,
                Flag("--skip-checks"),
            ),
        ],
    }],
    examples: &[
        "/deploy staging",
        "/deploy prod v1.4.2",
        "/deploy web/main to prod --dry-run",
    ],
};

pub(crate) static ROLLBACK: Spec = Spec {
    name: "rollback",
    summary: "go back to the last good deploy, or to a ref or job you name",
    forms: &[Form {
        words: "",
        usage: "ENV [APP] [to REF|N] [--dry-run] [--break-glass REASON...]",
        summary: "Run ENV's rollback to the last successful deploy before the current one, or to REF or job N.",
        args: &[
            ENV,
            opt(
                "app",
                "the app, when there is more than one",
                App,
                Positional,
            ),
            opt("to", "a ref, or a job number like #12", Text, Keyword("to")),
            DRY_RUN,
            BREAK_GLASS,
        ],
    }],
    examples: &[
        "/rollback prod",
        "/rollback prod to v1.4.1",
        "/rollback prod web to #12",
    ],
};

pub(crate) static BACKUP: Spec = Spec {
    name: "backup",
    summary: "back up an environment's database, or list its backups",
    forms: &[
        Form {
            words: "",
            usage: "ENV [DATABASE] [--dry-run]",
            summary: "Run ENV's backup pipeline now.",
            args: &[
                ENV,
                opt(
                    "database",
                    "which database, when there is more than one",
                    Text,
                    Positional,
                ),
                DRY_RUN,
            ],
        },
        Form {
            words: "list",
            usage: "list ENV",
            summary: "List ENV's backups, newest first.",
            args: &[ENV],
        },
    ],
    examples: &["/backup prod", "/backup list prod"],
};

pub(crate) static RESTORE: Spec = Spec {
    name: "restore",
    summary: "restore a backup (always needs an approval)",
    forms: &[Form {
        words: "",
        usage: "ENV BACKUP_ID [--dry-run] [--break-glass REASON...]",
        summary: "Restore backup BACKUP_ID (the number of the job that made it) into ENV.",
        args: &[
            ENV,
            arg(
                "backup",
                "the backup's job number, e.g. 7",
                Integer,
                Positional,
            ),
            DRY_RUN,
            BREAK_GLASS,
        ],
    }],
    examples: &["/restore prod 7"],
};

pub(crate) static STATUS: Spec = Spec {
    name: "status",
    summary: "what runs where: jobs, locks and the current version",
    forms: &[Form {
        words: "",
        usage: "[ENV]",
        summary: "Show every environment, or just ENV.",
        args: &[OPTIONAL_ENV],
    }],
    examples: &["/status", "/status prod"],
};

pub(crate) static HISTORY: Spec = Spec {
    name: "history",
    summary: "recent jobs of an environment",
    forms: &[Form {
        words: "",
        usage: "ENV [LIMIT]",
        summary: "Show ENV's last LIMIT jobs (default 10, at most 100).",
        args: &[
            ENV,
            opt("limit", "how many jobs, 1 to 100", Integer, Positional),
        ],
    }],
    examples: &["/history prod", "/history staging 25"],
};

pub(crate) static CANCEL: Spec = Spec {
    name: "cancel",
    summary: "stop a waiting, queued or running job",
    forms: &[Form {
        words: "",
        usage: "N [--dry-run]",
        summary: "Cancel job N; a running step is stopped and the env's lock is freed.",
        args: &[JOB, DRY_RUN],
    }],
    examples: &["/cancel 12", "/cancel #12"],
};

pub(crate) static LOCK: Spec = Spec {
    name: "lock",
    summary: "hold an environment so nobody deploys to it",
    forms: &[Form {
        words: "",
        usage: "ENV [--for DURATION] [--dry-run] [REASON...]",
        summary: "Lock ENV until `/unlock`, or for DURATION.",
        args: &[
            ENV,
            opt("for", "how long, e.g. 2h", Text, Flag("--for")),
            DRY_RUN,
            opt(
                "reason",
                "why, shown to anyone who tries to deploy",
                Text,
                Rest,
            ),
        ],
    }],
    examples: &[
        "/lock prod db migration in progress",
        "/lock prod --for 2h load test",
    ],
};

pub(crate) static UNLOCK: Spec = Spec {
    name: "unlock",
    summary: "release an environment's manual lock",
    forms: &[Form {
        words: "",
        usage: "ENV [--dry-run]",
        summary: "Release the manual lock on ENV.",
        args: &[ENV, DRY_RUN],
    }],
    examples: &["/unlock prod"],
};

pub(crate) static FREEZE: Spec = Spec {
    name: "freeze",
    summary: "hold deploys and rollbacks to an environment for a while, or list freezes",
    forms: &[
        Form {
            words: "",
            usage: "ENV DURATION [--dry-run] REASON...",
            summary: "Freeze ENV for DURATION: deploys and rollbacks are refused unless they break the glass.",
            args: &[
                ENV,
                arg("duration", "how long, e.g. 2h or 3d", Text, Positional),
                DRY_RUN,
                arg(
                    "reason",
                    "why, shown to anyone who tries to deploy",
                    Text,
                    Rest,
                ),
            ],
        },
        Form {
            words: "list",
            usage: "list",
            summary: "List the freezes that hold now and the next ones.",
            args: &[],
        },
    ],
    examples: &["/freeze prod 2h black friday traffic peak", "/freeze list"],
};

pub(crate) static UNFREEZE: Spec = Spec {
    name: "unfreeze",
    summary: "lift a freeze set with /freeze",
    forms: &[Form {
        words: "",
        usage: "ENV [--dry-run]",
        summary: "Lift the freezes set from chat on ENV (freezes in deckhand.toml stay).",
        args: &[ENV, DRY_RUN],
    }],
    examples: &["/unfreeze prod"],
};

pub(crate) static APPROVE: Spec = Spec {
    name: "approve",
    summary: "approve a job (same as reacting ✅ on its card)",
    forms: &[Form {
        words: "",
        usage: "N",
        summary: "Approve job N. You cannot approve your own job.",
        args: &[JOB],
    }],
    examples: &["/approve 12"],
};

pub(crate) static REJECT: Spec = Spec {
    name: "reject",
    summary: "reject a job (same as reacting ❌ on its card)",
    forms: &[Form {
        words: "",
        usage: "N [REASON...]",
        summary: "Reject job N, saying why.",
        args: &[JOB, opt("reason", "why", Text, Rest)],
    }],
    examples: &["/reject 12 wait for the migration review"],
};

pub(crate) static INCIDENT: Spec = Spec {
    name: "incident",
    summary: "declare, update, resolve and list incidents",
    forms: &[
        Form {
            words: "declare",
            usage: "declare SEV TITLE...",
            summary: "Declare an incident (sev1 is the worst); you become its commander.",
            args: &[
                arg(
                    "severity",
                    "sev1 to sev4",
                    Choice(Severity::WORDS),
                    Positional,
                ),
                arg("title", "what is broken", Text, Rest),
            ],
        },
        Form {
            words: "update",
            usage: "update ID TEXT...",
            summary: "Add a status update to incident ID.",
            args: &[INCIDENT_ID, arg("text", "the update", Text, Rest)],
        },
        Form {
            words: "resolve",
            usage: "resolve ID [SUMMARY...]",
            summary: "Resolve incident ID.",
            args: &[
                INCIDENT_ID,
                opt("summary", "what happened and what fixed it", Text, Rest),
            ],
        },
        Form {
            words: "list",
            usage: "list",
            summary: "List open incidents.",
            args: &[],
        },
    ],
    examples: &[
        "/incident declare sev2 checkout returns 500s",
        "/incident update INC-3 rolled back, watching error rates",
        "/incident resolve INC-3 bad config in v1.4.2",
    ],
};

pub(crate) static ANNOUNCE: Spec = Spec {
    name: "announce",
    summary: "post an announcement to every announce channel",
    forms: &[Form {
        words: "",
        usage: "TYPE [PRIORITY] \"SUBJECT\" MESSAGE...",
        summary: "Announce on every platform. TYPE: info, resolution, deployment, incident, maintenance, reminder, blocker. PRIORITY: low, normal, high, urgent.",
        args: &[
            arg(
                "type",
                "what kind of announcement",
                Choice(AnnouncementType::WORDS),
                Positional,
            ),
            opt(
                "priority",
                "default normal",
                Choice(Priority::WORDS),
                Positional,
            ),
            arg("subject", "the headline", Text, Positional),
            arg("message", "the body", Text, Rest),
        ],
    }],
    examples: &[
        "/announce maintenance high \"DB upgrade Sunday 02:00 UTC\" expect 10 minutes of read-only mode",
    ],
};

pub(crate) static SECRETS: Spec = Spec {
    name: "secrets",
    summary: "track when secrets were rotated and which are due",
    forms: &[
        Form {
            words: "list",
            usage: "list [ENV]",
            summary: "List tracked secrets with their due dates.",
            args: &[OPTIONAL_ENV],
        },
        Form {
            words: "due",
            usage: "due",
            summary: "List secrets that are due or overdue for rotation.",
            args: &[],
        },
        Form {
            words: "rotated",
            usage: "rotated NAME [ENV]",
            summary: "Record that secret NAME was just rotated (never paste the value).",
            args: &[
                arg(
                    "name",
                    "the secret's name, e.g. STRIPE_SECRET_KEY",
                    Text,
                    Positional,
                ),
                OPTIONAL_ENV,
            ],
        },
        Form {
            words: "add",
            usage: "add NAME ENV every=DURATION owner=@someone [runbook=URL]",
            summary: "Track secret NAME in ENV, due for rotation every DURATION.",
            args: &[
                arg(
                    "name",
                    "the secret's name, e.g. STRIPE_SECRET_KEY",
                    Text,
                    Positional,
                ),
                ENV,
                arg(
                    "every",
                    "rotation interval, e.g. 90d",
                    Text,
                    KeyValue("every"),
                ),
                arg(
                    "owner",
                    "a @mention or a role name",
                    Text,
                    KeyValue("owner"),
                ),
                opt(
                    "runbook",
                    "link to the rotation runbook",
                    Text,
                    KeyValue("runbook"),
                ),
            ],
        },
    ],
    examples: &[
        "/secrets due",
        "/secrets add STRIPE_SECRET_KEY prod every=90d owner=@alice",
        "/secrets rotated STRIPE_SECRET_KEY prod",
    ],
};

pub(crate) static LOGIN: Spec = Spec {
    name: "login",
    summary: "get a one-time link that signs you in to deckhand's web page",
    forms: &[Form {
        words: "",
        usage: "",
        summary: "Whisper a sign-in link for the web page, valid for 10 minutes and once.",
        args: &[],
    }],
    examples: &["/login"],
};

pub(crate) static HELP: Spec = Spec {
    name: "help",
    summary: "list commands, or explain one",
    forms: &[Form {
        words: "",
        usage: "[COMMAND]",
        summary: "Show every command, or the details of COMMAND.",
        args: &[opt("command", "a command name", Text, Positional)],
    }],
    examples: &["/help", "/help deploy"],
};

#[cfg(test)]
mod tests {
    use super::*;

    /// Exhaustive on purpose: a new command does not compile until it has a place here,
    /// and the test below then fails until it is in `CommandName::ALL` too (so it cannot
    /// silently miss parsing, help and the manifests).
    fn place(name: CommandName) -> usize {
        match name {
            CommandName::Deploy => 0,
            CommandName::Rollback => 1,
            CommandName::Backup => 2,
            CommandName::Restore => 3,
            CommandName::Status => 4,
            CommandName::History => 5,
            CommandName::Cancel => 6,
            CommandName::Lock => 7,
            CommandName::Unlock => 8,
            CommandName::Freeze => 9,
            CommandName::Unfreeze => 10,
            CommandName::Approve => 11,
            CommandName::Reject => 12,
            CommandName::Incident => 13,
            CommandName::Announce => 14,
            CommandName::Secrets => 15,
            CommandName::Login => 16,
            CommandName::Help => 17,
        }
    }

    #[test]
    fn all_lists_every_command_once() {
        let mut seen = [false; 18];
        for &name in CommandName::ALL {
            assert!(!seen[place(name)], "{name:?} is listed twice");
            seen[place(name)] = true;
        }
        assert!(seen.iter().all(|s| *s), "a command is missing from ALL");
    }

    #[test]
    fn every_name_parses_back() {
        for &name in CommandName::ALL {
            assert_eq!(CommandName::parse(name.as_str()), Some(name));
            assert_eq!(CommandName::parse(&name.to_string()), Some(name));
        }
    }

    #[test]
    fn rest_arguments_come_last() {
        for &name in CommandName::ALL {
            for form in name.spec().forms {
                let rest = form.args.iter().position(|a| a.place == Place::Rest);
                if let Some(i) = rest {
                    assert_eq!(i, form.args.len() - 1, "{name} {}", form.words);
                }
            }
        }
    }
}
