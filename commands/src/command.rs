//! What people can ask deckhand to do, as typed values.

use crate::values::{
    AnnouncementType, GitRef, HumanDuration, IncidentId, JobNumber, Person, Priority, Severity,
};

/// One parsed command. Environment and app names are kept as typed: the caller checks
/// them against the config and can suggest the nearest configured name.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Command {
    Deploy(Deploy),
    Rollback {
        env: String,
        app: Option<String>,
        to: Option<RollbackTarget>,
        /// Show the plan, run nothing.
        dry_run: bool,
        /// Roll back through a freeze; the text is the reason.
        break_glass: Option<String>,
    },
    Backup {
        env: String,
        database: Option<String>,
        dry_run: bool,
    },
    BackupList {
        env: String,
    },
    Restore {
        env: String,
        backup: JobNumber,
        dry_run: bool,
        /// Restore through a freeze; the text is the reason.
        break_glass: Option<String>,
    },
    Status {
        env: Option<String>,
    },
    History {
        env: String,
        limit: Option<u32>,
    },
    Cancel {
        job: JobNumber,
        dry_run: bool,
    },
    Lock {
        env: String,
        /// How long the lock lasts; without it the lock is sticky until `/unlock`.
        duration: Option<HumanDuration>,
        reason: Option<String>,
        dry_run: bool,
    },
    Unlock {
        env: String,
        dry_run: bool,
    },
    Freeze(FreezeCommand),
    Unfreeze {
        env: String,
        dry_run: bool,
    },
    Approve {
        job: JobNumber,
    },
    Reject {
        job: JobNumber,
        reason: Option<String>,
    },
    Incident(IncidentCommand),
    Announce {
        kind: AnnouncementType,
        priority: Priority,
        subject: String,
        message: String,
    },
    Secrets(SecretsCommand),
    /// A sign-in link for the web page.
    Login,
    Help {
        topic: Option<crate::CommandName>,
    },
}

/// `/deploy`, with its target and flags.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Deploy {
    pub target: Target,
    /// Show the plan, run nothing.
    pub dry_run: bool,
    pub reason: Option<String>,
    /// Deploy while this incident gates the env.
    pub hotfix: Option<IncidentId>,
    /// Deploy through a freeze; the text is the reason (a few words at least), recorded
    /// in the audit log, on the card and in the audit channel.
    pub break_glass: Option<String>,
    /// Deploy without the env's required GitHub checks; the text is the reason, audited
    /// and shown on the card.
    pub skip_checks: Option<String>,
}

/// Where a deploy goes and what it ships.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Target {
    pub app: Option<String>,
    pub env: String,
    pub git_ref: Option<GitRef>,
}

impl Target {
    /// `/deploy web prod` reads as "env `web`, ref `prod`" until the config says that `web`
    /// is an app and not an env; then it means "app `web` to env `prod`".
    pub fn resolve(
        mut self,
        is_app: impl Fn(&str) -> bool,
        is_env: impl Fn(&str) -> bool,
    ) -> Target {
        if self.app.is_none()
            && is_app(&self.env)
            && !is_env(&self.env)
            && let Some(git_ref) = self.git_ref.take()
        {
            self.app = Some(std::mem::replace(
                &mut self.env,
                git_ref.as_str().to_owned(),
            ));
        }
        self
    }
}

/// What `/rollback ... to X` names.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RollbackTarget {
    Ref(GitRef),
    Job(JobNumber),
}

/// `/freeze`: hold deploys to an env for a while, or list the freezes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FreezeCommand {
    Set {
        env: String,
        duration: HumanDuration,
        reason: String,
        dry_run: bool,
    },
    List,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum IncidentCommand {
    Declare {
        severity: Severity,
        title: String,
    },
    Update {
        id: IncidentId,
        text: String,
    },
    Resolve {
        id: IncidentId,
        summary: Option<String>,
    },
    List,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SecretsCommand {
    List {
        env: Option<String>,
    },
    Due,
    Rotated {
        name: String,
        env: Option<String>,
    },
    Add {
        name: String,
        env: String,
        every: HumanDuration,
        owner: Person,
        runbook: Option<String>,
    },
}

impl Command {
    /// Whether this is a `--dry-run`: answer with the plan, change nothing.
    pub fn is_dry_run(&self) -> bool {
        match self {
            Command::Deploy(deploy) => deploy.dry_run,
            Command::Rollback { dry_run, .. }
            | Command::Backup { dry_run, .. }
            | Command::Restore { dry_run, .. }
            | Command::Cancel { dry_run, .. }
            | Command::Lock { dry_run, .. }
            | Command::Unlock { dry_run, .. }
            | Command::Unfreeze { dry_run, .. }
            | Command::Freeze(FreezeCommand::Set { dry_run, .. }) => *dry_run,
            _ => false,
        }
    }

    /// The command family, for help and error messages.
    pub fn name(&self) -> crate::CommandName {
        use crate::CommandName as N;
        match self {
            Command::Deploy(_) => N::Deploy,
            Command::Rollback { .. } => N::Rollback,
            Command::Backup { .. } | Command::BackupList { .. } => N::Backup,
            Command::Restore { .. } => N::Restore,
            Command::Status { .. } => N::Status,
            Command::History { .. } => N::History,
            Command::Cancel { .. } => N::Cancel,
            Command::Lock { .. } => N::Lock,
            Command::Unlock { .. } => N::Unlock,
            Command::Freeze(_) => N::Freeze,
            Command::Unfreeze { .. } => N::Unfreeze,
            Command::Approve { .. } => N::Approve,
            Command::Reject { .. } => N::Reject,
            Command::Incident(_) => N::Incident,
            Command::Announce { .. } => N::Announce,
            Command::Secrets(_) => N::Secrets,
            Command::Login => N::Login,
            Command::Help { .. } => N::Help,
        }
    }

    /// Every piece of text the command carries: what would be stored and echoed, so
    /// what the credential check looks at.
    pub fn texts(&self) -> Vec<&str> {
        let mut texts: Vec<Option<&str>> = Vec::new();
        match self {
            Command::Deploy(deploy) => {
                texts.push(deploy.target.app.as_deref());
                texts.push(Some(&deploy.target.env));
                texts.push(deploy.target.git_ref.as_ref().map(GitRef::as_str));
                texts.push(deploy.reason.as_deref());
                texts.push(deploy.break_glass.as_deref());
                texts.push(deploy.skip_checks.as_deref());
            }
            Command::Rollback {
                env,
                app,
                to,
                break_glass,
                ..
            } => {
                texts.push(Some(env));
                texts.push(app.as_deref());
                if let Some(RollbackTarget::Ref(r)) = to {
                    texts.push(Some(r.as_str()));
                }
                texts.push(break_glass.as_deref());
            }
            Command::Backup { env, database, .. } => {
                texts.push(Some(env));
                texts.push(database.as_deref());
            }
            Command::Restore {
                env, break_glass, ..
            } => {
                texts.push(Some(env));
                texts.push(break_glass.as_deref());
            }
            Command::BackupList { env }
            | Command::History { env, .. }
            | Command::Unlock { env, .. }
            | Command::Unfreeze { env, .. } => texts.push(Some(env)),
            Command::Freeze(FreezeCommand::Set { env, reason, .. }) => {
                texts.push(Some(env));
                texts.push(Some(reason));
            }
            Command::Status { env } => texts.push(env.as_deref()),
            Command::Lock { env, reason, .. } => {
                texts.push(Some(env));
                texts.push(reason.as_deref());
            }
            Command::Reject { reason, .. } => texts.push(reason.as_deref()),
            Command::Incident(IncidentCommand::Declare { title, .. }) => texts.push(Some(title)),
            Command::Incident(IncidentCommand::Update { text, .. }) => texts.push(Some(text)),
            Command::Incident(IncidentCommand::Resolve { summary, .. }) => {
                texts.push(summary.as_deref())
            }
            Command::Announce {
                subject, message, ..
            } => {
                texts.push(Some(subject));
                texts.push(Some(message));
            }
            Command::Secrets(SecretsCommand::List { env }) => texts.push(env.as_deref()),
            Command::Secrets(SecretsCommand::Rotated { name, env }) => {
                texts.push(Some(name));
                texts.push(env.as_deref());
            }
            Command::Secrets(SecretsCommand::Add {
                name,
                env,
                owner,
                runbook,
                ..
            }) => {
                texts.push(Some(name));
                texts.push(Some(env));
                texts.push(Some(match owner {
                    Person::Mention(id) | Person::Name(id) => id,
                }));
                texts.push(runbook.as_deref());
            }
            Command::Cancel { .. }
            | Command::Freeze(FreezeCommand::List)
            | Command::Approve { .. }
            | Command::Incident(IncidentCommand::List)
            | Command::Secrets(SecretsCommand::Due)
            | Command::Login
            | Command::Help { .. } => {}
        }
        texts.into_iter().flatten().collect()
    }

    /// The env and app names the command holds, with what each is, for the identifier
    /// rule. A two-word `/deploy web prod` holds `web` as its env until the config says
    /// otherwise; both words are names either way.
    pub(crate) fn names_mut(&mut self) -> Vec<(&'static str, &mut String)> {
        let mut names: Vec<(&'static str, &mut String)> = Vec::new();
        match self {
            Command::Deploy(deploy) => {
                if let Some(app) = deploy.target.app.as_mut() {
                    names.push(("app", app));
                }
                names.push(("env", &mut deploy.target.env));
            }
            Command::Rollback { env, app, .. } => {
                names.push(("env", env));
                if let Some(app) = app {
                    names.push(("app", app));
                }
            }
            Command::Backup { env, .. }
            | Command::BackupList { env }
            | Command::Restore { env, .. }
            | Command::History { env, .. }
            | Command::Lock { env, .. }
            | Command::Unlock { env, .. }
            | Command::Freeze(FreezeCommand::Set { env, .. })
            | Command::Unfreeze { env, .. }
            | Command::Secrets(SecretsCommand::Add { env, .. }) => names.push(("env", env)),
            Command::Status { env: Some(env) }
            | Command::Secrets(SecretsCommand::List { env: Some(env) })
            | Command::Secrets(SecretsCommand::Rotated { env: Some(env), .. }) => {
                names.push(("env", env))
            }
            _ => {}
        }
        names
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn target(app: Option<&str>, env: &str, git_ref: Option<&str>) -> Target {
        Target {
            app: app.map(str::to_owned),
            env: env.to_owned(),
            git_ref: git_ref.map(|r| GitRef::new(r).unwrap()),
        }
    }

    #[test]
    fn two_words_become_app_and_env_when_the_first_is_an_app() {
        let resolved = target(None, "web", Some("prod")).resolve(|n| n == "web", |n| n == "prod");
        assert_eq!(resolved, target(Some("web"), "prod", None));
    }

    #[test]
    fn two_words_stay_env_and_ref_when_the_first_is_an_env() {
        let resolved = target(None, "prod", Some("v1")).resolve(|n| n == "web", |n| n == "prod");
        assert_eq!(resolved, target(None, "prod", Some("v1")));
    }

    #[test]
    fn an_env_wins_when_an_app_has_the_same_name() {
        let resolved = target(None, "prod", Some("v1")).resolve(|_| true, |n| n == "prod");
        assert_eq!(resolved, target(None, "prod", Some("v1")));
    }
}
