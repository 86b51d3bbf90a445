//! Why deckhand said no: one value per refusal, rendered, audited and sent in one place.
//!
//! Handlers return `anyhow::Result`; a refusal travels in it (`Err(Refusal::X)?`, or a
//! policy check's `?`) and `dispatch` turns it into a private answer plus one audit row,
//! the way triagebot's handlers return a `UserError`. Everything else that fails is an
//! internal error: logged with detail, and the person gets a short apology.

use deckhand_commands::{IncidentId, ParseError};

use crate::clock::Clock;
use crate::config::JobKind;
use crate::render::{duration, mention_name, state_words};
use crate::store::jobs::JobState;
use crate::store::locks::EnvLock;

/// What someone tried to do to an env, in the words of a refusal ("You can't {…} `prod`").
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Act {
    Deploy,
    Rollback,
    Backup,
    Restore,
    Lock,
    Unlock,
    Freeze,
}

impl Act {
    pub fn words(self) -> &'static str {
        match self {
            Act::Deploy => "deploy to",
            Act::Rollback => "roll back",
            Act::Backup => "back up",
            Act::Restore => "restore",
            Act::Lock => "lock",
            Act::Unlock => "unlock",
            Act::Freeze => "freeze",
        }
    }
}

/// An open incident that holds deploys, as a refusal names it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GatingIncident {
    pub id: i64,
    pub severity: String,
    pub title: String,
}

/// Every reason deckhand turns a command or a reaction down.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("refused: {}", self.kind())]
pub enum Refusal {
    /// The text is not a command deckhand knows (rendered by the command language).
    Unparsed(ParseError),
    RateLimited,
    NoSuchEnv {
        given: String,
        near: Option<String>,
        known: Vec<String>,
    },
    NoSuchApp {
        given: String,
        near: Option<String>,
        known: Vec<String>,
    },
    /// Several apps are configured and the command named none.
    WhichApp {
        known: Vec<String>,
    },
    NotDeployer {
        env: String,
        act: Act,
        /// The env's deployer roles; empty means only admins.
        roles: Vec<String>,
    },
    NoPipeline {
        env: String,
        kind: JobKind,
    },
    /// The env is held: by a person, or by a job (with what that job is doing).
    Locked {
        lock: Box<EnvLock>,
        job: Option<(JobKind, JobState)>,
        now: i64,
    },
    IncidentGate {
        env: String,
        git_ref: String,
        incidents: Vec<GatingIncident>,
    },
    /// A freeze holds the env: deploys, rollbacks (and restores) wait for its end.
    Frozen {
        env: String,
        act: Act,
        window: Box<crate::freezes::Window>,
        now: i64,
    },
    /// `--break-glass` where no freeze holds.
    NothingToBreak {
        env: String,
    },
    /// `/freeze` or `/unfreeze` by someone outside `bot.freezers`.
    NotFreezer {
        env: String,
    },
    /// `/login` where the page has no address (`bot.public_url`).
    NoWebPage,
    /// `/login` by someone who holds no deckhand role.
    NotOnTheTeam,
    /// `/unfreeze` of an env no chat freeze holds.
    NotFrozen {
        env: String,
        /// The config's window holding it, if one does.
        configured: Option<Box<crate::freezes::Window>>,
        now: i64,
    },
    NothingToRollBack {
        env: String,
    },
    NoEarlierRelease {
        env: String,
        current_ref: Option<String>,
        current_job: i64,
    },
    NotASuccessfulDeploy {
        job: u64,
        env: String,
    },
    NotABackup {
        backup: i64,
        env: String,
    },
    /// The backup exists in the store, but its file cannot be restored from here.
    BackupUnreachable {
        backup: i64,
        env: String,
        path: String,
        why: String,
    },
    NoSuchJob {
        job: i64,
    },
    /// GitHub said no, or the commit did not pass: an unknown ref, a failed check,
    /// a missing permission. `text` is the whole answer.
    GitHub {
        env: String,
        kind: &'static str,
        text: String,
    },
    NotCanceller {
        job: i64,
        env: String,
    },
    AlreadyEnded {
        job: i64,
        state: JobState,
    },
    NotLocked {
        env: String,
    },
    /// `/unlock` of someone else's manual lock by a person who is not an admin.
    NotLocker {
        env: String,
        holder: String,
    },
    /// `/unlock` on an env a job holds.
    HeldByJob {
        env: String,
        job: i64,
    },
    NotAwaitingApproval {
        job: i64,
        env: String,
        state: JobState,
    },
    ApprovalExpired {
        job: i64,
        env: String,
    },
    /// What would run is no longer what was asked for (the pipeline changed): the
    /// job's approvals were voided and it waits for new ones.
    ApprovalsVoid {
        job: i64,
        env: String,
    },
    SelfApproval {
        job: i64,
        env: String,
    },
    /// A requester rejecting their own job: they cancel it instead.
    SelfRejection {
        job: i64,
        env: String,
    },
    NotApprover {
        job: i64,
        env: String,
        approve: bool,
        approvers: Vec<String>,
    },
    AlreadyDecided {
        job: i64,
        env: String,
    },
    NotAnnouncer,
    /// `/incident declare` by someone outside `incidents.declarers`.
    NotDeclarer {
        who: String,
    },
    /// `/incident update|resolve` by someone who is not its commander or a responder.
    NotResponder {
        id: IncidentId,
        commander: String,
    },
    NoSuchIncident {
        id: IncidentId,
    },
    IncidentResolved {
        id: IncidentId,
    },
    NoSuchSecret {
        name: String,
        env: Option<String>,
    },
    AmbiguousSecret {
        name: String,
        envs: Vec<String>,
    },
    NotSecretManager {
        name: String,
        env: String,
        owner: String,
    },
    /// A ✅ or 💤 on a reminder from someone who is neither its owner nor an admin.
    NotSecretOwner {
        name: String,
        env: String,
        owner: String,
    },
    NotSecretAdder {
        env: String,
    },
    SecretAlreadyTracked {
        name: String,
        env: String,
    },
}

/// The audit row a refusal leaves.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RefusalAudit {
    pub action: String,
    pub env: Option<String>,
    pub job: Option<i64>,
    pub detail: String,
}

fn quoted(names: &[String]) -> String {
    names
        .iter()
        .map(|n| format!("`{n}`"))
        .collect::<Vec<_>>()
        .join(", ")
}

/// What holds an env, and what to do about it: for refusals and for `--dry-run`.
pub fn lock_holder_text(
    lock: &EnvLock,
    job: Option<(JobKind, JobState)>,
    now: i64,
    clock: &Clock,
) -> String {
    let since = format!(
        "since {} ({} ago)",
        clock.time(lock.since),
        duration(now - lock.since)
    );
    match lock.job_id {
        Some(job_id) => {
            let what = job
                .map(|(kind, state)| format!("{} {}", kind.as_str(), state_words(state)))
                .unwrap_or_else(|| "job".into());
            format!(
                "`{}` is locked by {} for job #{job_id} ({what}) {since}. Wait for it to finish, or `/cancel {job_id}`.",
                lock.env, lock.holder_name
            )
        }
        None => {
            let mut text = format!("`{}` is locked by {} {since}", lock.env, lock.holder_name);
            if let Some(reason) = &lock.reason {
                text.push_str(&format!(": {reason}"));
            }
            match lock.expires_at {
                Some(at) => text.push_str(&format!(". The lock ends at {}.", clock.time(at))),
                None => text.push_str(&format!(
                    ". Ask them, or `/unlock {}` when it's safe.",
                    lock.env
                )),
            }
            text
        }
    }
}

impl Refusal {
    /// A short name for logs and audit details.
    pub fn kind(&self) -> &'static str {
        match self {
            Refusal::Unparsed(_) => "unparsed",
            Refusal::RateLimited => "rate_limited",
            Refusal::NoSuchEnv { .. } => "no_such_env",
            Refusal::NoSuchApp { .. } => "no_such_app",
            Refusal::WhichApp { .. } => "which_app",
            Refusal::NotDeployer { .. } => "not_deployer",
            Refusal::NoPipeline { .. } => "no_pipeline",
            Refusal::Locked { .. } => "locked",
            Refusal::IncidentGate { .. } => "incident_gate",
            Refusal::Frozen { .. } => "frozen",
            Refusal::NothingToBreak { .. } => "nothing_to_break",
            Refusal::NotFreezer { .. } => "not_freezer",
            Refusal::NotFrozen { .. } => "not_frozen",
            Refusal::NoWebPage => "no_web_page",
            Refusal::NotOnTheTeam => "not_on_the_team",
            Refusal::NothingToRollBack { .. } => "nothing_to_roll_back",
            Refusal::NoEarlierRelease { .. } => "no_earlier_release",
            Refusal::NotASuccessfulDeploy { .. } => "not_a_successful_deploy",
            Refusal::NotABackup { .. } => "not_a_backup",
            Refusal::BackupUnreachable { .. } => "backup_unreachable",
            Refusal::NoSuchJob { .. } => "no_such_job",
            Refusal::GitHub { kind, .. } => kind,
            Refusal::NotCanceller { .. } => "not_canceller",
            Refusal::AlreadyEnded { .. } => "already_ended",
            Refusal::NotLocked { .. } => "not_locked",
            Refusal::NotLocker { .. } => "not_locker",
            Refusal::HeldByJob { .. } => "held_by_job",
            Refusal::NotAwaitingApproval { .. } => "not_awaiting_approval",
            Refusal::ApprovalExpired { .. } => "approval_expired",
            Refusal::ApprovalsVoid { .. } => "approvals_void",
            Refusal::SelfApproval { .. } => "self_approval",
            Refusal::SelfRejection { .. } => "self_rejection",
            Refusal::NotApprover { .. } => "not_approver",
            Refusal::AlreadyDecided { .. } => "already_decided",
            Refusal::NotAnnouncer => "not_announcer",
            Refusal::NotDeclarer { .. } => "not_declarer",
            Refusal::NotResponder { .. } => "not_responder",
            Refusal::NoSuchIncident { .. } => "no_such_incident",
            Refusal::IncidentResolved { .. } => "incident_resolved",
            Refusal::NoSuchSecret { .. } => "no_such_secret",
            Refusal::AmbiguousSecret { .. } => "ambiguous_secret",
            Refusal::NotSecretManager { .. } => "not_secret_manager",
            Refusal::NotSecretOwner { .. } => "not_secret_owner",
            Refusal::NotSecretAdder { .. } => "not_secret_adder",
            Refusal::SecretAlreadyTracked { .. } => "secret_already_tracked",
        }
    }

    /// The answer the person gets: what was wrong and what would be right.
    pub fn render(&self, clock: &Clock) -> String {
        match self {
            Refusal::Unparsed(error) => error.render(),
            Refusal::RateLimited => {
                "You're sending commands faster than I take them; wait a few seconds and try again."
                    .into()
            }
            Refusal::NoSuchEnv { given, near, known } => {
                let mut text = format!("There is no environment `{given}`.");
                if let Some(near) = near {
                    text.push_str(&format!(" Did you mean `{near}`?"));
                }
                text.push_str(&format!(" Environments: {}.", quoted(known)));
                text
            }
            Refusal::NoSuchApp { given, near, known } => {
                let mut text = format!("There is no app `{given}`.");
                if let Some(near) = near {
                    text.push_str(&format!(" Did you mean `{near}`?"));
                }
                if !known.is_empty() {
                    text.push_str(&format!(" Apps: {}.", quoted(known)));
                }
                text
            }
            Refusal::WhichApp { known } => format!(
                "Which app? This deckhand has {}: e.g. `/deploy {} prod`.",
                quoted(known),
                known.first().map(String::as_str).unwrap_or("APP")
            ),
            Refusal::NotDeployer { env, act, roles } => {
                let roles = if roles.is_empty() {
                    "only admins".to_owned()
                } else {
                    quoted(roles)
                };
                format!(
                    "You can't {} `{env}`: you are not one of its deployers ({roles}). Ask one of them, or an admin.",
                    act.words()
                )
            }
            Refusal::NoPipeline { env, kind } => format!(
                "`{env}` has no {0} pipeline: add `[[environments.{env}.{0}]]` steps to the config.",
                kind.as_str()
            ),
            Refusal::Locked { lock, job, now } => lock_holder_text(lock, *job, *now, clock),
            Refusal::IncidentGate {
                env,
                git_ref,
                incidents,
            } => format!(
                "🚫 Deploys to `{env}` are on hold while {} is open. To ship the fix, `/deploy {env} {git_ref} --hotfix INC-{}`.",
                gating_names(incidents),
                incidents.first().map(|i| i.id).unwrap_or_default()
            ),
            Refusal::Frozen {
                env,
                act,
                window,
                now,
            } => format!(
                "❄️ You can't {} `{env}` now: {}. For an emergency, a deployer can add `--break-glass REASON…` (it is announced and audited).",
                act.words(),
                freeze_text(window, *now, clock)
            ),
            Refusal::NothingToBreak { env } => format!(
                "`--break-glass` has nothing to break: no freeze holds `{env}` now. Run it without the flag."
            ),
            Refusal::NotFreezer { env } => {
                format!("You can't freeze or unfreeze `{env}`: only admins and `bot.freezers` can.")
            }
            Refusal::NotFrozen {
                env,
                configured,
                now,
            } => match configured {
                Some(window) => format!(
                    "`{env}` has no freeze set from chat to lift. It is {} by deckhand.toml; that window stays until it ends or the config changes. `--break-glass REASON…` passes it in an emergency.",
                    freeze_text(window, *now, clock)
                ),
                None => format!("`{env}` isn't frozen; `/freeze list` shows the freezes."),
            },
            Refusal::NoWebPage => "The web page has no address yet: an admin sets `bot.public_url` (where people reach deckhand, e.g. `https://deckhand.example.com`) and restarts it.".into(),
            Refusal::NotOnTheTeam => "The web page is for people who hold a deckhand role; ask an admin to add you to one in `[roles]`.".into(),
            Refusal::NothingToRollBack { env } => {
                format!("Nothing to roll back: `{env}` has no successful deploy yet.")
            }
            Refusal::NoEarlierRelease {
                env,
                current_ref,
                current_job,
            } => format!(
                "Nothing to roll back to: `{env}` runs `{}` (job #{current_job}) and has no earlier successful deploy of another ref. Name one with `/rollback {env} to REF`.",
                current_ref.as_deref().unwrap_or("?")
            ),
            Refusal::NotASuccessfulDeploy { job, env } => format!(
                "Job {job} is not a successful deploy of `{env}`; `/history {env}` lists them."
            ),
            Refusal::NotABackup { backup, env } => {
                format!("#{backup} is not a backup of `{env}`. `/backup list {env}` shows them.")
            }
            Refusal::BackupUnreachable {
                backup,
                env,
                path,
                why,
            } => format!(
                "Can't restore #{backup}: its file `{path}` {why}. Nothing was queued. `/backup list {env}` shows the backups that can be restored."
            ),
            Refusal::NoSuchJob { job } => format!("There is no job #{job}."),
            Refusal::GitHub { text, .. } => text.clone(),
            Refusal::NotCanceller { job, env } => {
                format!("You can't cancel #{job}: only its requester and `{env}`'s deployers can.")
            }
            Refusal::AlreadyEnded { job, state } => {
                format!("#{job} has already ended ({}).", state.as_str())
            }
            Refusal::NotLocked { env } => format!("`{env}` isn't locked."),
            Refusal::NotLocker { env, holder } => format!(
                "`{env}` is locked by {holder}: only they or an admin can unlock it. Ask them, or an admin."
            ),
            Refusal::HeldByJob { env, job } => format!(
                "`{env}` is held by job #{job}, not by a person: it frees itself when the job ends, or `/cancel {job}`."
            ),
            Refusal::NotAwaitingApproval { job, state, .. } => format!(
                "#{job} isn't waiting for approval (it is {}).",
                state_words(*state)
            ),
            Refusal::ApprovalExpired { job, .. } => {
                format!("#{job} waited too long for approval and has expired; ask for it again.")
            }
            Refusal::ApprovalsVoid { job, env } => format!(
                "🔁 Your approval of #{job} was not counted: `{env}`'s pipeline changed since #{job} was requested, so every approval of it is void. Its card now shows the plan that would run; approve again if it looks right."
            ),
            Refusal::SelfApproval { job, .. } => format!(
                "You can't approve your own job #{job}: someone else among its approvers must."
            ),
            Refusal::SelfRejection { job, .. } => {
                format!("You requested #{job}; to withdraw it, `/cancel {job}`.")
            }
            Refusal::NotApprover {
                job,
                env,
                approve,
                approvers,
            } => format!(
                "Your {} of #{job} doesn't count: you are not an approver for `{env}` ({}).",
                if *approve { "approve" } else { "reject" },
                quoted(approvers)
            ),
            Refusal::AlreadyDecided { job, .. } => format!("You have already decided on #{job}."),
            Refusal::NotAnnouncer => {
                "You can't announce: only admins and the roles in `bot.announcers` can.".into()
            }
            Refusal::NotDeclarer { who } => format!(
                "You can't declare an incident: only {who} and admins can (`incidents.declarers`)."
            ),
            Refusal::NotResponder { id, commander } => format!(
                "You can't change {id}: its commander ({commander}), `incidents.responders` and admins can."
            ),
            Refusal::NoSuchIncident { id } => {
                format!("There is no {id}. `/incident list` shows the open ones.")
            }
            Refusal::IncidentResolved { id } => format!("{id} is already resolved."),
            Refusal::NoSuchSecret { name, env } => format!(
                "No tracked secret `{name}`{}. `/secrets list` shows them.",
                env.as_ref()
                    .map(|e| format!(" in `{e}`"))
                    .unwrap_or_default()
            ),
            Refusal::AmbiguousSecret { name, envs } => format!(
                "`{name}` is tracked in {}: say which, e.g. `/secrets rotated {name} {}`.",
                envs.join(", "),
                envs.first().map(String::as_str).unwrap_or("ENV")
            ),
            Refusal::NotSecretManager { name, env, owner } => format!(
                "You can't record rotations of `{name}`: ask its owner ({}), a deployer of `{env}`, or an admin.",
                mention_name(owner)
            ),
            Refusal::NotSecretOwner { name, owner, .. } => format!(
                "Only `{name}`'s owner ({}) or an admin can do that.",
                mention_name(owner)
            ),
            Refusal::NotSecretAdder { env } => {
                format!("You can't add secrets to `{env}`: only its deployers and admins can.")
            }
            Refusal::SecretAlreadyTracked { name, env } => {
                format!("`{name}` is already tracked in `{env}`; `/secrets list {env}` shows it.")
            }
        }
    }

    /// The audit row: permission refusals keep the actions the log has always used
    /// (`command.denied`, `approval.refused_*`, `incident.gate_blocked`); the rest are
    /// `command.refused` with the refusal's kind. Nothing the person typed is copied in,
    /// so a pasted credential never reaches the log.
    pub fn audit(&self) -> RefusalAudit {
        let row =
            |action: &str, env: Option<&String>, job: Option<i64>, detail: &str| RefusalAudit {
                action: action.to_owned(),
                env: env.cloned(),
                job,
                detail: detail.to_owned(),
            };
        match self {
            Refusal::RateLimited => row("command.rate_limited", None, None, ""),
            Refusal::NotDeployer { env, act, .. } => {
                row("command.denied", Some(env), None, act.words())
            }
            Refusal::NotCanceller { job, env } => {
                row("command.denied", Some(env), Some(*job), "cancel")
            }
            Refusal::NotAnnouncer => row("command.denied", None, None, "announce"),
            Refusal::NotDeclarer { .. } => row("command.denied", None, None, "incident declare"),
            Refusal::NotResponder { id, .. } => {
                row("command.denied", None, None, &format!("incident {id}"))
            }
            Refusal::NotSecretAdder { env } => {
                row("command.denied", Some(env), None, "secrets add")
            }
            Refusal::NotSecretManager { env, name, .. }
            | Refusal::NotSecretOwner { env, name, .. } => {
                row("command.denied", Some(env), None, &format!("secret {name}"))
            }
            Refusal::IncidentGate { env, incidents, .. } => row(
                "incident.gate_blocked",
                Some(env),
                None,
                &gating_names(incidents),
            ),
            Refusal::SelfApproval { job, env } => {
                row("approval.refused_self_approve", Some(env), Some(*job), "")
            }
            Refusal::SelfRejection { job, env } => {
                row("approval.refused_self_reject", Some(env), Some(*job), "")
            }
            Refusal::NotApprover {
                job, env, approve, ..
            } => row(
                if *approve {
                    "approval.refused_approve"
                } else {
                    "approval.refused_reject"
                },
                Some(env),
                Some(*job),
                "not an approver",
            ),
            Refusal::NotAwaitingApproval { job, env, .. }
            | Refusal::ApprovalExpired { job, env }
            | Refusal::ApprovalsVoid { job, env }
            | Refusal::AlreadyDecided { job, env } => {
                row("command.refused", Some(env), Some(*job), self.kind())
            }
            Refusal::Locked { lock, .. } => {
                row("command.refused", Some(&lock.env), lock.job_id, self.kind())
            }
            Refusal::NotFreezer { env } => row("command.denied", Some(env), None, "freeze"),
            Refusal::NotOnTheTeam => row("command.denied", None, None, "login"),
            Refusal::NoWebPage => row("command.refused", None, None, self.kind()),
            Refusal::Frozen { env, window, .. } => {
                row("freeze.blocked", Some(env), None, &window.reason)
            }
            Refusal::NoPipeline { env, .. }
            | Refusal::NothingToBreak { env }
            | Refusal::NotFrozen { env, .. }
            | Refusal::NothingToRollBack { env }
            | Refusal::NoEarlierRelease { env, .. }
            | Refusal::NotASuccessfulDeploy { env, .. }
            | Refusal::NotABackup { env, .. }
            | Refusal::BackupUnreachable { env, .. }
            | Refusal::GitHub { env, .. }
            | Refusal::NotLocked { env }
            | Refusal::NotLocker { env, .. }
            | Refusal::HeldByJob { env, .. }
            | Refusal::SecretAlreadyTracked { env, .. } => {
                row("command.refused", Some(env), None, self.kind())
            }
            // No job row to point at: the number goes in the detail.
            Refusal::NoSuchJob { job } => row(
                "command.refused",
                None,
                None,
                &format!("no_such_job #{job}"),
            ),
            Refusal::AlreadyEnded { job, .. } => {
                row("command.refused", None, Some(*job), self.kind())
            }
            Refusal::Unparsed(_)
            | Refusal::NoSuchEnv { .. }
            | Refusal::NoSuchApp { .. }
            | Refusal::WhichApp { .. }
            | Refusal::NoSuchIncident { .. }
            | Refusal::IncidentResolved { .. }
            | Refusal::NoSuchSecret { .. }
            | Refusal::AmbiguousSecret { .. } => row("command.refused", None, None, self.kind()),
        }
    }
}

/// `the weekend freeze (from 2026-12-11 17:00 CET until 2026-12-14 08:00 CET, 2d 13h
/// from now)`, as refusals, plans and `/status` say it.
pub(crate) fn freeze_text(window: &crate::freezes::Window, now: i64, clock: &Clock) -> String {
    let by = match &window.source {
        crate::freezes::Source::Chat { by, .. } => format!(", set by {by}"),
        crate::freezes::Source::Config(_) => String::new(),
    };
    let left = if window.until > now {
        format!(", ends in {}", duration(window.until - now))
    } else {
        String::new()
    };
    format!(
        "frozen for “{}” from {} until {}{left}{by}",
        window.reason,
        clock.time(window.from),
        clock.time(window.until)
    )
}

/// `INC-1 (sev1: db down), INC-2 (…)`.
pub(crate) fn gating_names(incidents: &[GatingIncident]) -> String {
    incidents
        .iter()
        .map(|i| format!("INC-{} ({}: {})", i.id, i.severity, i.title))
        .collect::<Vec<_>>()
        .join(", ")
}
