//! `deckhand.toml` (or the built-in demo) plus the process environment, validated once.

mod read;
mod settings;
mod steps;
mod validate;

use std::collections::BTreeMap;
use std::path::Path;

use deckhand_commands::{HumanDuration, Severity};
use serde::Deserialize;

pub use settings::{DiscordSettings, Runtime, SlackSettings};
pub use steps::{
    BackupStep, GitHubStep, HealthStep, HttpStep, RestoreStep, StepAction, StepConfig,
};
pub use validate::{ConfigError, ConfigErrors};

/// The demo config used when there is no `deckhand.toml`: local commands only.
pub const DEMO: &str = include_str!("demo.toml");

/// Where a config came from, for error messages.
pub const DEMO_SOURCE: &str = "<built-in demo config>";

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    #[serde(default)]
    pub bot: BotConfig,
    /// Role name -> people (`slack:U123`, `discord:123`, `console:alice`, `console:*`).
    #[serde(default)]
    pub roles: BTreeMap<String, Vec<String>>,
    /// Person name -> their accounts, so one person on Slack and Discord is one person
    /// to approvals and roles.
    #[serde(default)]
    pub people: BTreeMap<String, PersonConfig>,
    #[serde(default)]
    pub apps: BTreeMap<String, AppConfig>,
    #[serde(default)]
    pub environments: BTreeMap<String, EnvConfig>,
    pub incidents: Option<IncidentsConfig>,
    pub reminders: Option<RemindersConfig>,
    #[serde(default)]
    pub secrets: Vec<SecretConfig>,
    /// `[[freezes]]`: windows in which deploys and rollbacks are refused unless they
    /// break the glass.
    #[serde(default)]
    pub freezes: Vec<FreezeConfig>,
    /// The file this came from, or [`DEMO_SOURCE`].
    #[serde(skip)]
    pub source: String,
    /// `bot.timezone`, parsed once at load (UTC when unset).
    #[serde(skip)]
    pub clock: crate::clock::Clock,
    /// Account (`slack:U01ALICE`) -> person name, from `[people]`.
    #[serde(skip)]
    accounts: BTreeMap<String, String>,
}

/// `[people.NAME]`: one person's accounts on each platform.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PersonConfig {
    /// Slack user id, e.g. `U01ALICE`.
    pub slack: Option<String>,
    /// Discord user id (a snowflake).
    pub discord: Option<String>,
    /// Console user name.
    pub console: Option<String>,
}

impl PersonConfig {
    /// The person's accounts as deckhand writes them: `slack:U01ALICE`.
    pub fn accounts(&self) -> impl Iterator<Item = String> + '_ {
        [
            ("slack", &self.slack),
            ("discord", &self.discord),
            ("console", &self.console),
        ]
        .into_iter()
        .filter_map(|(platform, id)| id.as_ref().map(|id| format!("{platform}:{id}")))
    }
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BotConfig {
    /// Channels for announcements, e.g. `slack:#deploys`.
    #[serde(default)]
    pub announce: Vec<String>,
    /// IANA time zone for schedules and dates shown to people.
    pub timezone: Option<String>,
    /// How many jobs may run at once (on different envs). Default 4.
    pub max_concurrent_jobs: Option<usize>,
    /// Commands one person may send per minute before deckhand asks them to slow down.
    /// Default 30 (bursts of 10).
    pub commands_per_minute: Option<u32>,
    /// Roles allowed to run `/announce`. Default: admins.
    #[serde(default)]
    pub announcers: Vec<String>,
    /// Who an `urgent` announcement pings: `here`, `everyone` or `none` (default `here`).
    #[serde(default)]
    pub attention: Attention,
    /// Extra channels per announcement type, e.g. `incident = ["slack:#incidents"]`.
    #[serde(default)]
    pub announce_routes: BTreeMap<deckhand_commands::AnnouncementType, Vec<String>>,
    /// On SIGTERM, how long running steps may go on before they are stopped. Default 25s,
    /// under Kubernetes' default 30 s between SIGTERM and SIGKILL.
    pub shutdown_grace: Option<HumanDuration>,
    /// After a restart, events stored but not handled are handled if younger than this
    /// (default 2m); older ones are dropped and their authors told.
    pub replay_window: Option<HumanDuration>,
    /// Where deckhand's pages are reached (`https://deckhand.example.com`), for links
    /// such as a GitHub deployment's log.
    pub public_url: Option<String>,
    /// Where break-glass notices and the audit chain's checkpoints go, e.g.
    /// `slack:#audit`.
    pub audit_channel: Option<String>,
    /// How often the audit chain's head is posted to `audit_channel`. Default 1d.
    pub audit_checkpoint: Option<HumanDuration>,
    /// Who may `/freeze` and `/unfreeze` besides admins: roles or people.
    #[serde(default)]
    pub freezers: Vec<String>,
    /// How long a web page session lasts after its sign-in link. Default 12h.
    pub session_ttl: Option<HumanDuration>,
}

/// `bot.audit_checkpoint` when not set.
pub const DEFAULT_AUDIT_CHECKPOINT: std::time::Duration = std::time::Duration::from_secs(86_400);

/// `[[freezes]]`: a recurring window (`schedule` + `duration`) or a fixed one
/// (`from`/`until`) on some envs (or `["*"]`).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FreezeConfig {
    pub envs: Vec<String>,
    pub reason: String,
    /// cron crate syntax in `bot.timezone`: when each window starts.
    pub schedule: Option<Cron>,
    /// How long each window of `schedule` lasts.
    pub duration: Option<HumanDuration>,
    /// RFC 3339, or `YYYY-MM-DD HH:MM` in `bot.timezone`.
    #[serde(default, deserialize_with = "moment")]
    pub from: Option<String>,
    #[serde(default, deserialize_with = "moment")]
    pub until: Option<String>,
}

impl FreezeConfig {
    /// Whether the freeze covers `env`.
    pub fn covers(&self, env: &str) -> bool {
        self.envs.iter().any(|e| e == "*" || e == env)
    }
}

/// A time written as a string or as a TOML date-time, kept as written.
fn moment<'de, D: serde::Deserializer<'de>>(deserializer: D) -> Result<Option<String>, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum Written {
        Text(String),
        Toml(toml::value::Datetime),
    }
    Ok(Some(match Written::deserialize(deserializer)? {
        Written::Text(text) => text,
        Written::Toml(datetime) => datetime.to_string(),
    }))
}

/// `bot.replay_window` when not set.
pub const DEFAULT_REPLAY_WINDOW: std::time::Duration = std::time::Duration::from_secs(120);

/// `bot.shutdown_grace` when not set.
pub const DEFAULT_SHUTDOWN_GRACE: std::time::Duration = std::time::Duration::from_secs(25);

/// Who the attention mention of an urgent message pings.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Attention {
    #[default]
    Here,
    Everyone,
    None,
}

/// A cron schedule (`sec min hour day month weekday`), parsed when the config is read.
#[derive(Debug, Clone)]
pub struct Cron(pub cron::Schedule);

impl<'de> Deserialize<'de> for Cron {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Cron, D::Error> {
        let text = String::deserialize(deserializer)?;
        text.parse::<cron::Schedule>().map(Cron).map_err(|e| {
            serde::de::Error::custom(format!(
                "`{text}` is not a cron schedule ({e}); the format is `sec min hour day month weekday`, e.g. `0 0 9 * * Mon-Fri`"
            ))
        })
    }
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AppConfig {
    /// `owner/name` on GitHub, for GitHub steps and commit ranges.
    pub repo: Option<String>,
    /// What `/deploy ENV` ships when no ref is given. Default `main`.
    pub default_ref: Option<String>,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EnvConfig {
    /// Who may deploy, roll back, back up and lock: role names or people.
    #[serde(default)]
    pub deployers: Vec<String>,
    /// Who may approve: role names or people. Never the requester.
    #[serde(default)]
    pub approvers: Vec<String>,
    /// Distinct approvals a deploy or rollback needs before it runs.
    #[serde(default)]
    pub approvals: u32,
    /// How long a job waits for approval before it expires. Default 1h.
    pub approval_ttl: Option<HumanDuration>,
    #[serde(default)]
    pub rollback_on_failure: bool,
    /// Env var names whose values are redacted from everything stored or posted.
    #[serde(default)]
    pub secrets: Vec<String>,
    /// The longest a whole job may run. Default 1h.
    pub timeout: Option<HumanDuration>,
    /// Announce channels for this env, instead of `bot.announce`.
    pub announce: Option<Vec<String>>,
    /// Announce when a job starts here. Default: only for `prod` and `production`.
    pub announce_started: Option<bool>,
    /// Open incidents of the gating severities block deploys here. Default: only for
    /// `prod` and `production`.
    pub incident_gate: Option<bool>,
    /// Pipelines; `None` when the env has none of that kind (an explicitly empty one is
    /// a config error).
    pub deploy: Option<Vec<StepConfig>>,
    pub rollback: Option<Vec<StepConfig>>,
    pub backup: Option<Vec<StepConfig>>,
    pub restore: Option<Vec<StepConfig>>,
    /// GitHub checks a deploy's commit must pass: names (check runs or status
    /// contexts), or `"all"`. Only for apps with a `repo`.
    pub require_checks: Option<RequireChecks>,
    /// How long a deploy waits for pending checks before it fails. Default 30m.
    pub checks_timeout: Option<HumanDuration>,
    /// Record GitHub deployments for jobs here. Default: on when GitHub is configured.
    pub github_deployments: Option<bool>,
    /// The env's address, for its GitHub deployment statuses.
    pub environment_url: Option<String>,
    /// Deploy each new head of a branch here once its checks are green (webhook).
    pub auto_deploy: Option<AutoDeploy>,
    /// Whether freezes hold restores here too. Default true.
    pub freeze_restores: Option<bool>,
}

/// `require_checks`: every check reported, or these names.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(untagged)]
pub enum RequireChecks {
    /// `"all"` (validation refuses any other word).
    All(String),
    Names(Vec<String>),
}

/// `auto_deploy = { branch = "main" }`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AutoDeploy {
    pub branch: String,
    /// The app to deploy, when more than one has the webhook's repo.
    pub app: Option<String>,
}

/// `checks_timeout` when not set.
pub const DEFAULT_CHECKS_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(1800);

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct IncidentsConfig {
    #[serde(default)]
    pub channels: Vec<String>,
    /// Severity -> how often the commander is reminded to post an update.
    #[serde(default)]
    pub update_every: BTreeMap<Severity, HumanDuration>,
    /// Open incidents of these severities block prod deploys.
    #[serde(default)]
    pub gate: Vec<Severity>,
    /// Who may declare an incident (roles or people). Unset: anyone who holds any role,
    /// so a stranger in the channel cannot hold production's deploys.
    pub declarers: Option<Vec<String>>,
    /// Who may update and resolve any incident, besides its commander and admins.
    #[serde(default)]
    pub responders: Vec<String>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RemindersConfig {
    /// cron crate syntax: sec min hour day month weekday, in `bot.timezone`.
    pub schedule: Cron,
    pub channel: String,
    pub escalation_channel: Option<String>,
    /// The weekly digest's schedule. Default `0 0 9 * * Mon`.
    pub digest: Option<Cron>,
    /// Days before the due date when the owner gets a note. Default 7.
    pub warn_days: Option<u32>,
    /// Days overdue before the escalation channel and the attention mention. Default 3.
    pub escalate_after_days: Option<u32>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SecretConfig {
    pub name: String,
    pub env: String,
    pub every: Option<HumanDuration>,
    pub owner: String,
    /// `"2026-09-01"` or an unquoted TOML date.
    #[serde(default, deserialize_with = "date")]
    pub last_rotated: Option<chrono::NaiveDate>,
    pub runbook: Option<String>,
    pub provider_note: Option<String>,
}

/// A date written as a string or as a TOML date.
fn date<'de, D: serde::Deserializer<'de>>(
    deserializer: D,
) -> Result<Option<chrono::NaiveDate>, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum Written {
        Text(String),
        Toml(toml::value::Datetime),
    }
    let text = match Written::deserialize(deserializer)? {
        Written::Text(text) => text,
        Written::Toml(datetime) => datetime.to_string(),
    };
    chrono::NaiveDate::parse_from_str(&text, "%Y-%m-%d")
        .map(Some)
        .map_err(|_| {
            serde::de::Error::custom(format!(
                "`{text}` is not a date; write it like \"2026-09-01\""
            ))
        })
}

/// The kinds of job, each with its own pipeline per env.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum JobKind {
    Deploy,
    Rollback,
    Backup,
    Restore,
}

impl JobKind {
    pub fn as_str(self) -> &'static str {
        match self {
            JobKind::Deploy => "deploy",
            JobKind::Rollback => "rollback",
            JobKind::Backup => "backup",
            JobKind::Restore => "restore",
        }
    }

    pub fn parse(value: &str) -> Option<JobKind> {
        [
            JobKind::Deploy,
            JobKind::Rollback,
            JobKind::Backup,
            JobKind::Restore,
        ]
        .into_iter()
        .find(|k| k.as_str() == value)
    }

    /// "Deploy", for card headers.
    pub fn title(self) -> &'static str {
        match self {
            JobKind::Deploy => "Deploy",
            JobKind::Rollback => "Rollback",
            JobKind::Backup => "Backup",
            JobKind::Restore => "Restore",
        }
    }
}

impl EnvConfig {
    /// The steps a job of this kind runs. A rollback without its own pipeline redeploys
    /// the target ref with the deploy pipeline.
    pub fn pipeline(&self, kind: JobKind) -> &[StepConfig] {
        fn steps(p: &Option<Vec<StepConfig>>) -> &[StepConfig] {
            p.as_deref().unwrap_or(&[])
        }
        match kind {
            JobKind::Deploy => steps(&self.deploy),
            JobKind::Rollback if steps(&self.rollback).is_empty() => steps(&self.deploy),
            JobKind::Rollback => steps(&self.rollback),
            JobKind::Backup => steps(&self.backup),
            JobKind::Restore => steps(&self.restore),
        }
    }

    /// The names of the steps a `kind` job runs here, for its checklist.
    pub fn step_names(&self, kind: JobKind) -> Vec<String> {
        self.pipeline(kind).iter().map(|s| s.name.clone()).collect()
    }

    pub fn approval_ttl(&self) -> std::time::Duration {
        self.approval_ttl
            .map(HumanDuration::as_std)
            .unwrap_or(std::time::Duration::from_secs(3600))
    }

    pub fn checks_timeout(&self) -> std::time::Duration {
        self.checks_timeout
            .map(HumanDuration::as_std)
            .unwrap_or(DEFAULT_CHECKS_TIMEOUT)
    }

    pub fn job_timeout(&self) -> std::time::Duration {
        self.timeout
            .map(HumanDuration::as_std)
            .unwrap_or(std::time::Duration::from_secs(3600))
    }
}

impl Config {
    /// Reads and validates the config at `path`; without a file there, the demo config.
    /// `explicit` says the path was asked for (then a missing file is an error).
    pub fn load(path: &Path, explicit: bool) -> Result<Config, ConfigErrors> {
        match std::fs::read_to_string(path) {
            Ok(text) => Config::parse(&text, &path.display().to_string()),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound && !explicit => {
                Config::parse(DEMO, DEMO_SOURCE)
            }
            Err(e) => Err(ConfigErrors(vec![ConfigError {
                file: path.display().to_string(),
                key: String::new(),
                reason: format!("cannot read it: {e}"),
            }])),
        }
    }

    /// Parses and validates TOML text; `source` names it in errors.
    pub fn parse(text: &str, source: &str) -> Result<Config, ConfigErrors> {
        Config::parse_with(text, source, &|name| std::env::var_os(name).is_some())
    }

    /// `parse`, with `is_set` saying which env vars are set (tests pass their own).
    pub fn parse_with(
        text: &str,
        source: &str,
        is_set: &dyn Fn(&str) -> bool,
    ) -> Result<Config, ConfigErrors> {
        let mut read = read::read(text, source);
        let mut errors = std::mem::take(&mut read.errors);
        let Some(mut config) = read.config.take() else {
            return Err(ConfigErrors(errors));
        };
        config.source = source.to_owned();
        config.accounts = config
            .people
            .iter()
            .flat_map(|(name, person)| person.accounts().map(move |a| (a, name.clone())))
            .collect();
        // What is left is checked too; problems that only follow from a value set aside
        // above are not repeated.
        if let Err(ConfigErrors(more)) = validate::validate(&config, is_set) {
            let fresh = more
                .into_iter()
                .filter(|e| !read.set_aside.iter().any(|k| read::related(k, &e.key)));
            errors.extend(fresh.map(|mut e| {
                if let Some(line) = read.line_of(&e.key) {
                    e.reason.push_str(&format!(" (line {line})"));
                }
                e
            }));
        }
        if !errors.is_empty() {
            return Err(ConfigErrors(errors));
        }
        if let Some(tz) = config.bot.timezone.as_deref().and_then(|t| t.parse().ok()) {
            config.clock = crate::clock::Clock::new(tz);
        }
        Ok(config)
    }

    pub fn is_demo(&self) -> bool {
        self.source == DEMO_SOURCE
    }

    pub fn env(&self, name: &str) -> Option<&EnvConfig> {
        self.environments.get(name)
    }

    /// How long a job on `env` may wait for approval (or be held by a gate after it).
    pub fn approval_ttl(&self, env: &str) -> std::time::Duration {
        self.env(env)
            .map(EnvConfig::approval_ttl)
            .unwrap_or_default()
    }

    /// Who `account` (`slack:U01ALICE`) is: its `[people]` name, or (not listed) the
    /// account itself, its own person.
    pub fn person_of<'a>(&'a self, account: &'a str) -> &'a str {
        self.accounts
            .get(account)
            .map(String::as_str)
            .unwrap_or(account)
    }

    /// Whether two accounts are one person.
    pub fn same_person(&self, a: &str, b: &str) -> bool {
        a == b || self.person_of(a) == self.person_of(b)
    }

    /// Whether `account` is what a role member or an entry names: a person from
    /// `[people]` (any of their accounts), an account (or another account of the same
    /// person), or a platform wildcard (`console:*`).
    fn names(&self, pattern: &str, account: &str) -> bool {
        if self.people.contains_key(pattern) {
            return self.person_of(account) == pattern;
        }
        person_matches(pattern, account) || self.same_person(pattern, account)
    }

    /// Whether `person` (`console:bob`) is in `entries` (role names, people, accounts).
    pub fn includes(&self, entries: &[String], person: &str) -> bool {
        entries.iter().any(|entry| match self.roles.get(entry) {
            Some(members) => members.iter().any(|m| self.names(m, person)),
            None => self.names(entry, person),
        })
    }

    /// Whether `person` is a member of any role.
    pub fn holds_a_role(&self, person: &str) -> bool {
        self.roles
            .values()
            .any(|members| members.iter().any(|m| self.names(m, person)))
    }

    pub fn is_admin(&self, person: &str) -> bool {
        self.roles
            .get("admins")
            .is_some_and(|admins| admins.iter().any(|m| self.names(m, person)))
    }

    /// The env var values to redact: every env's `secrets` and every variable a step
    /// reads, since those are credentials more often than not.
    pub fn secret_names(&self) -> Vec<String> {
        let mut names: Vec<String> = Vec::new();
        for env in self.environments.values() {
            names.extend(env.secrets.iter().cloned());
            for kind in [
                JobKind::Deploy,
                JobKind::Rollback,
                JobKind::Backup,
                JobKind::Restore,
            ] {
                for step in env.pipeline(kind) {
                    names.extend(validate::env_vars_of(step).into_iter().map(|(_, v)| v));
                }
            }
        }
        names.sort();
        names.dedup();
        names
    }

    /// Whether an env counts as production when the config does not say.
    pub fn is_production(name: &str) -> bool {
        matches!(name, "prod" | "production")
    }

    /// The mention an urgent announcement carries, if any.
    pub fn attention(&self) -> Option<&'static str> {
        match self.bot.attention {
            Attention::Here => Some("here"),
            Attention::Everyone => Some("everyone"),
            Attention::None => None,
        }
    }

    /// Every channel the config names, with the key that names it
    /// (`bot.announce[0]`, `environments.prod.announce[1]`…), in file order.
    pub fn channels(&self) -> Vec<(String, &str)> {
        let mut out = Vec::new();
        fn list<'a>(out: &mut Vec<(String, &'a str)>, key: String, channels: &'a [String]) {
            for (i, channel) in channels.iter().enumerate() {
                out.push((format!("{key}[{i}]"), channel.as_str()));
            }
        }
        list(&mut out, "bot.announce".into(), &self.bot.announce);
        if let Some(channel) = &self.bot.audit_channel {
            out.push(("bot.audit_channel".into(), channel.as_str()));
        }
        for (kind, channels) in &self.bot.announce_routes {
            list(&mut out, format!("bot.announce_routes.{kind}"), channels);
        }
        for (name, env) in &self.environments {
            if let Some(channels) = &env.announce {
                list(&mut out, format!("environments.{name}.announce"), channels);
            }
        }
        if let Some(incidents) = &self.incidents {
            list(&mut out, "incidents.channels".into(), &incidents.channels);
        }
        if let Some(reminders) = &self.reminders {
            out.push(("reminders.channel".into(), reminders.channel.as_str()));
            if let Some(channel) = &reminders.escalation_channel {
                out.push(("reminders.escalation_channel".into(), channel.as_str()));
            }
        }
        out
    }

    /// Where announcements about `env` go.
    pub fn announce_channels(&self, env: &str) -> &[String] {
        self.env(env)
            .and_then(|e| e.announce.as_deref())
            .unwrap_or(&self.bot.announce)
    }
}

/// `console:*` matches every console user; otherwise the exact person.
fn person_matches(pattern: &str, person: &str) -> bool {
    match pattern.strip_suffix('*') {
        Some(prefix) if prefix.ends_with(':') => person.starts_with(prefix),
        _ => pattern == person,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wildcard_person_matches_only_its_platform() {
        assert!(person_matches("console:*", "console:bob"));
        assert!(!person_matches("console:*", "slack:U1"));
        assert!(person_matches("slack:U1", "slack:U1"));
        assert!(!person_matches("slack:U1", "slack:U12"));
    }
}
