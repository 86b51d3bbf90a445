//! Commands back to canonical text: what `parse` reads back as the same command.

use std::fmt;

use crate::command::{Command, FreezeCommand, IncidentCommand, RollbackTarget, SecretsCommand};
use crate::text::{quote_rest, quote_word};

impl fmt::Display for Command {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.name())?;
        match self {
            Command::Deploy(deploy) => {
                let t = &deploy.target;
                match (&t.app, &t.git_ref) {
                    (None, None) => write!(f, " {}", quote_word(&t.env))?,
                    (None, Some(r)) => write!(f, " {} {}", quote_word(&t.env), r)?,
                    (Some(app), Some(r)) => {
                        write!(f, " {} {} {}", quote_word(app), quote_word(&t.env), r)?
                    }
                    (Some(app), None) => {
                        write!(f, " {} to {}", quote_word(app), quote_word(&t.env))?
                    }
                }
                if deploy.dry_run {
                    f.write_str(" --dry-run")?;
                }
                if let Some(reason) = &deploy.reason {
                    write!(f, " --reason {}", quote_word(reason))?;
                }
                if let Some(id) = &deploy.hotfix {
                    write!(f, " --hotfix {id}")?;
                }
                glass(f, deploy.break_glass.as_deref())?;
                if let Some(reason) = &deploy.skip_checks {
                    write!(f, " --skip-checks {}", quote_word(reason))?;
                }
                Ok(())
            }
            Command::Rollback {
                env,
                app,
                to,
                dry_run,
                break_glass,
            } => {
                write!(f, " {}", quote_word(env))?;
                if let Some(app) = app {
                    write!(f, " {}", quote_word(app))?;
                }
                match to {
                    None => {}
                    Some(RollbackTarget::Ref(r)) => write!(f, " to {r}")?,
                    Some(RollbackTarget::Job(n)) => write!(f, " to {n}")?,
                }
                dry(f, *dry_run)?;
                glass(f, break_glass.as_deref())
            }
            Command::Backup {
                env,
                database,
                dry_run,
            } => {
                write!(f, " {}", quote_word(env))?;
                optional(f, database.as_deref())?;
                dry(f, *dry_run)
            }
            Command::BackupList { env } => write!(f, " list {}", quote_word(env)),
            Command::Restore {
                env,
                backup,
                dry_run,
                break_glass,
            } => {
                write!(f, " {} {}", quote_word(env), backup.0)?;
                dry(f, *dry_run)?;
                glass(f, break_glass.as_deref())
            }
            Command::Status { env } => optional(f, env.as_deref()),
            Command::History { env, limit } => {
                write!(f, " {}", quote_word(env))?;
                match limit {
                    Some(n) => write!(f, " {n}"),
                    None => Ok(()),
                }
            }
            Command::Cancel { job, dry_run } => {
                write!(f, " {job}")?;
                dry(f, *dry_run)
            }
            Command::Approve { job } => write!(f, " {job}"),
            Command::Reject { job, reason } => {
                write!(f, " {job}")?;
                rest(f, reason.as_deref())
            }
            Command::Lock {
                env,
                duration,
                reason,
                dry_run,
            } => {
                write!(f, " {}", quote_word(env))?;
                if let Some(d) = duration {
                    write!(f, " --for {d}")?;
                }
                dry(f, *dry_run)?;
                rest(f, reason.as_deref())
            }
            Command::Unlock { env, dry_run } | Command::Unfreeze { env, dry_run } => {
                write!(f, " {}", quote_word(env))?;
                dry(f, *dry_run)
            }
            Command::Freeze(FreezeCommand::Set {
                env,
                duration,
                reason,
                dry_run,
            }) => {
                write!(f, " {} {duration}", quote_word(env))?;
                dry(f, *dry_run)?;
                rest(f, Some(reason))
            }
            Command::Freeze(FreezeCommand::List) => f.write_str(" list"),
            Command::Incident(incident) => match incident {
                IncidentCommand::Declare { severity, title } => {
                    write!(f, " declare {severity}")?;
                    rest(f, Some(title))
                }
                IncidentCommand::Update { id, text } => {
                    write!(f, " update {id}")?;
                    rest(f, Some(text))
                }
                IncidentCommand::Resolve { id, summary } => {
                    write!(f, " resolve {id}")?;
                    rest(f, summary.as_deref())
                }
                IncidentCommand::List => f.write_str(" list"),
            },
            Command::Announce {
                kind,
                priority,
                subject,
                message,
            } => {
                write!(f, " {kind} {priority} {}", quote_word(subject))?;
                rest(f, Some(message))
            }
            Command::Secrets(secrets) => match secrets {
                SecretsCommand::List { env } => {
                    f.write_str(" list")?;
                    optional(f, env.as_deref())
                }
                SecretsCommand::Due => f.write_str(" due"),
                SecretsCommand::Rotated { name, env } => {
                    write!(f, " rotated {name}")?;
                    optional(f, env.as_deref())
                }
                SecretsCommand::Add {
                    name,
                    env,
                    every,
                    owner,
                    runbook,
                } => {
                    write!(
                        f,
                        " add {name} {} every={every} owner={owner}",
                        quote_word(env)
                    )?;
                    match runbook {
                        Some(url) => write!(f, " runbook={}", quote_word(url)),
                        None => Ok(()),
                    }
                }
            },
            Command::Login => Ok(()),
            Command::Help { topic } => match topic {
                Some(name) => write!(f, " {}", name.as_str()),
                None => Ok(()),
            },
        }
    }
}

fn dry(f: &mut fmt::Formatter<'_>, dry_run: bool) -> fmt::Result {
    if dry_run {
        f.write_str(" --dry-run")?;
    }
    Ok(())
}

fn glass(f: &mut fmt::Formatter<'_>, reason: Option<&str>) -> fmt::Result {
    match reason {
        Some(reason) => write!(f, " --break-glass {}", quote_word(reason)),
        None => Ok(()),
    }
}

fn optional(f: &mut fmt::Formatter<'_>, word: Option<&str>) -> fmt::Result {
    match word {
        Some(word) => write!(f, " {}", quote_word(word)),
        None => Ok(()),
    }
}

fn rest(f: &mut fmt::Formatter<'_>, text: Option<&str>) -> fmt::Result {
    match text {
        Some(text) => write!(f, " {}", quote_rest(text)),
        None => Ok(()),
    }
}
