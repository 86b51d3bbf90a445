//! Config errors that name the file, the key and the reason, all collected at once.

use std::fmt;
use std::str::FromStr;

use deckhand_commands::HumanDuration;

use super::{Config, StepAction, StepConfig};

/// One problem with the config.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigError {
    pub file: String,
    /// Dotted path, e.g. `environments.prod.deploy[1].run`; empty for the whole file.
    pub key: String,
    pub reason: String,
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.key.is_empty() {
            write!(f, "{}: {}", self.file, self.reason)
        } else {
            write!(f, "{}: `{}`: {}", self.file, self.key, self.reason)
        }
    }
}

/// Every problem found, so one `deckhand check` shows them all.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigErrors(pub Vec<ConfigError>);

impl fmt::Display for ConfigErrors {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, error) in self.0.iter().enumerate() {
            if i > 0 {
                writeln!(f)?;
            }
            write!(f, "{error}")?;
        }
        Ok(())
    }
}

impl std::error::Error for ConfigErrors {}

const PLATFORMS: &[&str] = &["slack", "discord", "console"];

/// Checks what serde cannot: references between sections, pipelines, schedules, and the
/// env vars steps need. `is_set` says whether an env var is set.
pub(super) fn validate(config: &Config, is_set: &dyn Fn(&str) -> bool) -> Result<(), ConfigErrors> {
    let mut errors = Vec::new();
    let mut error = |key: String, reason: String| {
        errors.push(ConfigError {
            file: config.source.clone(),
            key,
            reason,
        })
    };
    check_bot(config, &mut error);
    if config.environments.is_empty() {
        error(
            "environments".into(),
            "no environments are configured; add at least `[environments.staging]` with a `deploy` pipeline".into(),
        );
    }
    for (name, env) in &config.environments {
        check_env(config, name, env, is_set, &mut error);
        check_github(config, name, env, is_set, &mut error);
    }
    check_durations(config, &mut error);
    check_freezes(config, &mut error);
    check_the_rest(config, &mut error);
    if errors.is_empty() {
        Ok(())
    } else {
        Err(ConfigErrors(errors))
    }
}

/// Roles, announce channels, the time zone, concurrency, announcers.
fn check_bot(config: &Config, error: &mut impl FnMut(String, String)) {
    check_people(config, error);
    for (role, members) in &config.roles {
        for (i, member) in members.iter().enumerate() {
            if config.people.contains_key(member) {
                continue;
            }
            if let Err(reason) = check_person(member) {
                error(format!("roles.{role}[{i}]"), reason);
            }
        }
    }
    for (key, channel) in config.channels() {
        if let Err(reason) = check_channel(channel) {
            error(key, reason);
        }
    }
    if let Some(tz) = &config.bot.timezone
        && chrono_tz::Tz::from_str(tz).is_err()
    {
        error(
            "bot.timezone".into(),
            format!("`{tz}` is not an IANA time zone (e.g. `Europe/Berlin`, `UTC`)"),
        );
    }
    if config.bot.max_concurrent_jobs == Some(0) {
        error(
            "bot.max_concurrent_jobs".into(),
            "must be at least 1".into(),
        );
    }
    check_entries(config, "bot.announcers", &config.bot.announcers, error);
    check_entries(config, "bot.freezers", &config.bot.freezers, error);
    if let Some(every) = config.bot.audit_checkpoint
        && !(HumanDuration::minutes(1)..=HumanDuration::days(30)).contains(&every)
    {
        error(
            "bot.audit_checkpoint".into(),
            format!("`{every}` is out of range: give between `1m` and `30d`"),
        );
    }
    if let Some(ttl) = config.bot.session_ttl
        && !(HumanDuration::minutes(5)..=HumanDuration::days(30)).contains(&ttl)
    {
        error(
            "bot.session_ttl".into(),
            format!("`{ttl}` is out of range: give between `5m` and `30d`"),
        );
    }
    if config.bot.audit_checkpoint.is_some() && config.bot.audit_channel.is_none() {
        error(
            "bot.audit_checkpoint".into(),
            "checkpoints are posted to `bot.audit_channel`, which is not set".into(),
        );
    }
}

/// `[[freezes]]`: known envs, a reason, and exactly one kind of window.
fn check_freezes(config: &Config, error: &mut impl FnMut(String, String)) {
    let tz = config
        .bot
        .timezone
        .as_deref()
        .and_then(|t| chrono_tz::Tz::from_str(t).ok())
        .unwrap_or(chrono_tz::UTC);
    let known: Vec<&str> = config.environments.keys().map(String::as_str).collect();
    for (i, freeze) in config.freezes.iter().enumerate() {
        let at = |key: &str| format!("freezes[{i}].{key}");
        if freeze.envs.is_empty() {
            error(
                at("envs"),
                "names no env: list env names, or `[\"*\"]` for every env".into(),
            );
        }
        for (j, env) in freeze.envs.iter().enumerate() {
            if env != "*" && !config.environments.contains_key(env) {
                let near = deckhand_commands::did_you_mean(env, known.iter().copied())
                    .map(|n| format!(" (did you mean `{n}`?)"))
                    .unwrap_or_default();
                error(
                    format!("freezes[{i}].envs[{j}]"),
                    format!("`{env}` is not a configured env{near}; use `\"*\"` for every env"),
                );
            }
        }
        if freeze.reason.trim().is_empty() {
            error(
                at("reason"),
                "is empty: say why, it is what people see when a deploy is refused".into(),
            );
        }
        let fixed = freeze.from.is_some() || freeze.until.is_some();
        let recurring = freeze.schedule.is_some() || freeze.duration.is_some();
        if fixed && recurring {
            error(
                format!("freezes[{i}]"),
                "give either `schedule` + `duration` (a recurring window) or `from` + `until` (a fixed one), not both".into(),
            );
            continue;
        }
        if !fixed && !recurring {
            error(
                format!("freezes[{i}]"),
                "needs `schedule` + `duration` (e.g. `\"0 0 17 * * Fri\"` and `\"63h\"`) or `from` + `until`".into(),
            );
            continue;
        }
        if recurring {
            match freeze.duration {
                None => error(
                    at("schedule"),
                    "needs `duration`: how long each window lasts, e.g. `\"63h\"`".into(),
                ),
                Some(d) if !(HumanDuration::minutes(1)..=HumanDuration::days(90)).contains(&d) => {
                    error(
                        at("duration"),
                        format!("`{d}` is out of range: give between `1m` and `90d`"),
                    )
                }
                Some(_) => {}
            }
            if freeze.schedule.is_none() {
                error(
                    at("duration"),
                    "goes with `schedule`: when each window starts (cron crate syntax)".into(),
                );
            }
            continue;
        }
        let parse = |key: &str, value: &Option<String>| match value {
            None => Err(format!("needs `{key}` too")),
            Some(text) => crate::freezes::moment(text, tz),
        };
        match (parse("from", &freeze.from), parse("until", &freeze.until)) {
            (Ok(from), Ok(until)) if until <= from => error(
                at("until"),
                format!(
                    "`{}` is not after `from` (`{}`): a freeze must end after it starts",
                    freeze.until.as_deref().unwrap_or_default(),
                    freeze.from.as_deref().unwrap_or_default()
                ),
            ),
            (from, until) => {
                if let Err(reason) = from {
                    error(at("from"), reason);
                }
                if let Err(reason) = until {
                    error(at("until"), reason);
                }
            }
        }
    }
}

/// One environment: its people, channels and pipelines.
fn check_env(
    config: &Config,
    name: &str,
    env: &super::EnvConfig,
    is_set: &dyn Fn(&str) -> bool,
    error: &mut impl FnMut(String, String),
) {
    if !is_name(name) {
        error(
            format!("environments.{name}"),
            "env names are lower-case letters, digits, `-` and `_`, starting with a letter or digit (what people can type in `/deploy ENV`)".into(),
        );
    }
    let at = |key: &str| format!("environments.{name}.{key}");
    check_entries(config, &at("deployers"), &env.deployers, error);
    check_entries(config, &at("approvers"), &env.approvers, error);
    if env.approvals > 0 && env.approvers.is_empty() {
        error(
            at("approvers"),
            format!(
                "`approvals = {}` needs someone to approve: list role names or people",
                env.approvals
            ),
        );
    }
    for (kind, steps) in [
        ("deploy", &env.deploy),
        ("rollback", &env.rollback),
        ("backup", &env.backup),
        ("restore", &env.restore),
    ] {
        let Some(steps) = steps else {
            continue;
        };
        if steps.is_empty() {
            error(
                at(kind),
                format!(
                    "the {kind} pipeline is empty: give it at least one step (`[[environments.{name}.{kind}]]`) or remove it"
                ),
            );
        }
        for (i, step) in steps.iter().enumerate() {
            check_step(step, &at(&format!("{kind}[{i}]")), is_set, error);
        }
    }
    if env.restore.as_ref().is_some_and(|r| !r.is_empty())
        && env.approvers.is_empty()
        && !config.roles.contains_key("admins")
    {
        error(
            at("approvers"),
            "restores always need an approval: list approvers, or define an `admins` role".into(),
        );
    }
}

/// What an env asks of GitHub, and whether deckhand can reach it: a repo to ask about,
/// credentials to ask with, and `require_checks` / `auto_deploy` written as documented.
fn check_github(
    config: &Config,
    name: &str,
    env: &super::EnvConfig,
    is_set: &dyn Fn(&str) -> bool,
    error: &mut impl FnMut(String, String),
) {
    let at = |key: &str| format!("environments.{name}.{key}");
    let steps = [&env.deploy, &env.rollback, &env.backup, &env.restore];
    let github_step = steps
        .iter()
        .flat_map(|p| p.iter().flatten())
        .any(|s| matches!(s.action, StepAction::GitHub(_)));
    let mut uses: Vec<&str> = Vec::new();
    if github_step {
        uses.push("a `github` step");
    }
    if env.require_checks.is_some() {
        uses.push("`require_checks`");
    }
    if env.auto_deploy.is_some() {
        uses.push("`auto_deploy`");
    }
    if let Some(super::RequireChecks::All(word)) = &env.require_checks
        && word != "all"
    {
        error(
            at("require_checks"),
            format!(
                "`{word}` is not a choice: write `\"all\"` or a list of check names, e.g. `[\"build\", \"test\"]`"
            ),
        );
    }
    if let Some(super::RequireChecks::Names(names)) = &env.require_checks
        && (names.is_empty() || names.iter().any(|n| n.trim().is_empty()))
    {
        error(
            at("require_checks"),
            "list the check names (check runs or status contexts), or write `\"all\"`".into(),
        );
    }
    if let Some(auto) = &env.auto_deploy {
        if auto.branch.trim().is_empty() {
            error(
                at("auto_deploy.branch"),
                "name the branch whose green heads deploy here, e.g. `\"main\"`".into(),
            );
        }
        if let Some(app) = &auto.app
            && config.apps.get(app).is_none_or(|a| a.repo.is_none())
        {
            error(
                at("auto_deploy.app"),
                format!("`{app}` is not an app with a `repo`"),
            );
        }
        if env
            .announce
            .as_ref()
            .unwrap_or(&config.bot.announce)
            .is_empty()
        {
            error(
                at("auto_deploy"),
                "a deploy nobody asked for in chat needs a channel for its card: set `announce` on the env or `bot.announce`".into(),
            );
        }
        if !is_set("GITHUB_WEBHOOK_SECRET") {
            error(
                at("auto_deploy"),
                "deploys on green come from GitHub's webhook: set GITHUB_WEBHOOK_SECRET (and point the repo's webhook at /github/webhook)".into(),
            );
        }
    }
    if uses.is_empty() {
        return;
    }
    if !config.apps.values().any(|a| a.repo.is_some()) {
        error(
            format!("environments.{name}"),
            format!(
                "{} needs an app with a GitHub repo: add `repo = \"owner/name\"` to an `[apps.NAME]`",
                uses.join(" and ")
            ),
        );
    }
    if !is_set("GITHUB_TOKEN") && !is_set("GITHUB_APP_ID") {
        error(
            format!("environments.{name}"),
            format!(
                "{} needs GitHub: set GITHUB_TOKEN, or GITHUB_APP_ID and GITHUB_APP_PRIVATE_KEY",
                uses.join(" and ")
            ),
        );
    }
}

/// Every configured duration within its range: a typo like `timeout = "10d"` stops
/// start-up instead of holding an env for ten days.
fn check_durations(config: &Config, error: &mut impl FnMut(String, String)) {
    let mut within =
        |key: String, given: Option<HumanDuration>, least: HumanDuration, most: HumanDuration| {
            if let Some(given) = given
                && !(least..=most).contains(&given)
            {
                error(
                    key,
                    format!("`{given}` is out of range: give between `{least}` and `{most}`"),
                );
            }
        };
    let second = HumanDuration::seconds(1);
    let minute = HumanDuration::minutes(1);
    let day = HumanDuration::days(1);
    within(
        "bot.shutdown_grace".into(),
        config.bot.shutdown_grace,
        second,
        HumanDuration::minutes(60),
    );
    within(
        "bot.replay_window".into(),
        config.bot.replay_window,
        second,
        HumanDuration::minutes(60),
    );
    for (name, env) in &config.environments {
        let at = |key: &str| format!("environments.{name}.{key}");
        within(
            at("approval_ttl"),
            env.approval_ttl,
            second,
            HumanDuration::days(7),
        );
        within(at("timeout"), env.timeout, second, day);
        within(at("checks_timeout"), env.checks_timeout, second, day);
        for (kind, steps) in [
            ("deploy", &env.deploy),
            ("rollback", &env.rollback),
            ("backup", &env.backup),
            ("restore", &env.restore),
        ] {
            for (i, step) in steps.iter().flatten().enumerate() {
                let at = at(&format!("{kind}[{i}]"));
                within(format!("{at}.timeout"), step.timeout, second, day);
                if let StepAction::Health(health) = &step.action {
                    within(format!("{at}.health.within"), health.within, second, day);
                    within(
                        format!("{at}.health.every"),
                        health.every,
                        second,
                        HumanDuration::minutes(60),
                    );
                }
            }
        }
    }
    if let Some(incidents) = &config.incidents {
        for (severity, every) in &incidents.update_every {
            within(
                format!("incidents.update_every.{severity}"),
                Some(*every),
                minute,
                HumanDuration::days(7),
            );
        }
    }
    for (i, secret) in config.secrets.iter().enumerate() {
        within(
            format!("secrets[{i}].every"),
            secret.every,
            day,
            HumanDuration::days(5 * 365),
        );
    }
}

/// Apps, incidents, reminders and the secrets inventory.
fn check_the_rest(config: &Config, error: &mut impl FnMut(String, String)) {
    for (name, app) in &config.apps {
        if !is_name(name) {
            error(
                format!("apps.{name}"),
                "app names are lower-case letters, digits, `-` and `_`, starting with a letter or digit (what people can type in `/deploy APP ENV`)".into(),
            );
        }
        if let Some(repo) = &app.repo
            && !is_repo(repo)
        {
            error(
                format!("apps.{name}.repo"),
                format!(
                    "`{repo}` is not a GitHub repository; write it `owner/name`, e.g. `acme/web`"
                ),
            );
        }
        if let Some(r) = &app.default_ref
            && deckhand_commands::GitRef::new(r).is_err()
        {
            error(
                format!("apps.{name}.default_ref"),
                format!("`{r}` is not a valid ref"),
            );
        }
    }
    for (i, secret) in config.secrets.iter().enumerate() {
        if !deckhand_commands::is_secret_name(&secret.name) {
            error(
                format!("secrets[{i}].name"),
                format!("`{}` is not an env var name", secret.name),
            );
        }
        if !config.environments.contains_key(&secret.env) {
            error(
                format!("secrets[{i}].env"),
                format!("no environment `{}` is configured", secret.env),
            );
        }
    }
}

/// The names chat can address: the parser's own rule, so every configured name can be typed.
fn is_name(name: &str) -> bool {
    deckhand_commands::is_name(name)
}

fn check_entries(
    config: &Config,
    key: &str,
    entries: &[String],
    error: &mut impl FnMut(String, String),
) {
    for (i, entry) in entries.iter().enumerate() {
        if config.roles.contains_key(entry) || config.people.contains_key(entry) {
            continue;
        }
        if entry.contains(':') {
            if let Err(reason) = check_person(entry) {
                error(format!("{key}[{i}]"), reason);
            }
        } else {
            let known: Vec<&str> = config.roles.keys().map(String::as_str).collect();
            let hint = deckhand_commands::did_you_mean(entry, known.iter().copied())
                .map(|s| format!(" Did you mean `{s}`?"))
                .unwrap_or_default();
            error(
                format!("{key}[{i}]"),
                format!(
                    "unknown role or person `{entry}`: define it under [roles] or [people], or name an account like `slack:U123`.{hint}"
                ),
            );
        }
    }
}

/// `[people]`: names that can be typed, real account ids, each account one person's.
fn check_people(config: &Config, error: &mut impl FnMut(String, String)) {
    let mut owner: std::collections::BTreeMap<String, &str> = Default::default();
    for (name, person) in &config.people {
        let at = |key: &str| format!("people.{name}{key}");
        if !is_name(name) {
            error(
                at(""),
                "person names are lower-case letters, digits, `-` and `_` (like `alice`)".into(),
            );
        }
        if config.roles.contains_key(name) {
            error(
                at(""),
                format!("`{name}` is also a role; a name in a role list must mean one thing"),
            );
        }
        let ids = [
            (
                "slack",
                &person.slack,
                "a Slack user id like `U01ALICE`",
                is_slack_user as fn(&str) -> bool,
            ),
            (
                "discord",
                &person.discord,
                "a Discord user id like `223344556677889900`",
                is_snowflake,
            ),
            (
                "console",
                &person.console,
                "a console user name like `alice`",
                is_console_user,
            ),
        ];
        let mut any = false;
        for (platform, id, like, valid) in ids {
            let Some(id) = id else { continue };
            any = true;
            if !valid(id) {
                error(at(&format!(".{platform}")), format!("`{id}` is not {like}"));
                continue;
            }
            let account = format!("{platform}:{id}");
            if let Some(other) = owner.insert(account.clone(), name) {
                error(
                    at(&format!(".{platform}")),
                    format!(
                        "`{account}` is already `{other}`'s account; an account is one person's"
                    ),
                );
            }
        }
        if !any {
            error(
                at(""),
                "lists no account: give at least one of `slack`, `discord`, `console`".into(),
            );
        }
    }
}

fn is_slack_user(id: &str) -> bool {
    !id.is_empty()
        && id
            .bytes()
            .all(|b| b.is_ascii_uppercase() || b.is_ascii_digit())
}

fn is_snowflake(id: &str) -> bool {
    (15..=20).contains(&id.len()) && id.bytes().all(|b| b.is_ascii_digit())
}

fn is_console_user(id: &str) -> bool {
    !id.is_empty() && !id.contains(char::is_whitespace) && id != "*"
}

fn check_person(person: &str) -> Result<(), String> {
    match person.split_once(':') {
        Some((platform, id)) if PLATFORMS.contains(&platform) && !id.is_empty() => Ok(()),
        _ => Err(format!(
            "`{person}` is not a person; write `slack:U123`, `discord:123456789012345678` or `console:alice`"
        )),
    }
}

fn check_channel(channel: &str) -> Result<(), String> {
    match channel.split_once(':') {
        Some((platform, id)) if PLATFORMS.contains(&platform) && !id.is_empty() => Ok(()),
        _ => Err(format!(
            "`{channel}` is not a channel; write `slack:#deploys`, `slack:C123`, `discord:112233445566778899` or `console:#deploys`"
        )),
    }
}

/// The env vars a step reads, with the key that names each.
pub(crate) fn env_vars_of(step: &StepConfig) -> Vec<(String, String)> {
    let mut vars: Vec<(String, String)> = step
        .env
        .iter()
        .enumerate()
        .map(|(i, v)| (format!("env[{i}]"), v.clone()))
        .collect();
    let named = |key: &str, var: &Option<String>| {
        var.iter()
            .map(|v| (key.to_owned(), v.clone()))
            .collect::<Vec<_>>()
    };
    match &step.action {
        StepAction::Run(_) => {}
        StepAction::Http(http) => {
            vars.extend(named("http.url_env", &http.url_env));
            vars.extend(
                http.headers
                    .iter()
                    .map(|(h, v)| (format!("http.headers.{h}"), v.clone())),
            );
        }
        StepAction::Health(health) => vars.extend(named("health.url_env", &health.url_env)),
        StepAction::Backup(backup) => {
            vars.extend(named("backup.database_url_env", &backup.database_url_env))
        }
        StepAction::Restore(restore) => {
            vars.extend(named("restore.database_url_env", &restore.database_url_env))
        }
        StepAction::GitHub(_) => {}
    }
    vars
}

fn check_step(
    step: &StepConfig,
    at: &str,
    is_set: &dyn Fn(&str) -> bool,
    error: &mut impl FnMut(String, String),
) {
    if step.name.trim().is_empty() {
        error(
            format!("{at}.name"),
            "a step needs a name people can read".into(),
        );
    }
    if let StepAction::Run(argv) = &step.action
        && argv.first().is_none_or(|p| p.trim().is_empty())
    {
        error(
            format!("{at}.run"),
            "`run` needs a program: `run = [\"program\", \"arg\", ...]`".into(),
        );
    }
    if let StepAction::Http(http) = &step.action {
        if http.url.is_some() == http.url_env.is_some() {
            error(
                format!("{at}.http"),
                "give exactly one of `url` and `url_env`".into(),
            );
        }
        if reqwest::Method::from_bytes(http.method.to_ascii_uppercase().as_bytes()).is_err() {
            error(
                format!("{at}.http.method"),
                format!("`{}` is not an HTTP method", http.method),
            );
        }
        if let Some(url) = &http.url
            && reqwest::Url::parse(url).is_err()
        {
            error(format!("{at}.http.url"), format!("`{url}` is not a URL"));
        }
    }
    if let StepAction::Health(health) = &step.action {
        if health.url.is_some() == health.url_env.is_some() {
            error(
                format!("{at}.health"),
                "give exactly one of `url` and `url_env`".into(),
            );
        }
        if let Some(url) = &health.url
            && reqwest::Url::parse(url).is_err()
        {
            error(format!("{at}.health.url"), format!("`{url}` is not a URL"));
        }
    }
    if let StepAction::Backup(backup) = &step.action {
        if backup.database_url_env.is_some() == backup.file.is_some() {
            error(
                format!("{at}.backup"),
                "give exactly one of `database_url_env` and `file`".into(),
            );
        }
        if backup.keep == Some(0) {
            error(format!("{at}.backup.keep"), "keep at least 1 backup".into());
        }
    }
    if let StepAction::GitHub(github) = &step.action {
        if github.workflow.trim().is_empty() {
            error(
                format!("{at}.github.workflow"),
                "name the workflow file, e.g. `workflow = \"deploy.yml\"`".into(),
            );
        }
        for (input, value) in &github.inputs {
            if let Err(reason) = crate::github::workflow::check_input(value) {
                error(format!("{at}.github.inputs.{input}"), reason);
            }
        }
    }
    if let StepAction::Restore(restore) = &step.action
        && restore.database_url_env.is_some() == restore.file.is_some()
    {
        error(
            format!("{at}.restore"),
            "give exactly one of `database_url_env` and `file`".into(),
        );
    }
    for (key, var) in env_vars_of(step) {
        if !is_set(&var) {
            error(
                format!("{at}.{key}"),
                format!("the step needs env var `{var}`, which is not set"),
            );
        }
    }
}

/// `owner/name`, in the characters GitHub allows.
fn is_repo(text: &str) -> bool {
    let ok = |part: &str| {
        !part.is_empty()
            && part
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
    };
    matches!(text.split_once('/'), Some((owner, name)) if ok(owner) && ok(name))
}
