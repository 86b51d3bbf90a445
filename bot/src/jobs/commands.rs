//! What each command does: checks (env, app, role, lock), then a job or an answer.

use std::sync::Arc;

use deckhand_commands::{Command, Deploy, RollbackTarget, did_you_mean, help, help_for, parse};

use super::create::{JobSpec, Refused, lock_holder_text};
use super::{Engine, Origin};
use crate::config::{EnvConfig, JobKind};
use crate::store::jobs::{self, JobState};
use crate::store::locks::{self, EnvLock};
use crate::store::now_ms;

/// How many jobs `/history` shows by default.
const DEFAULT_HISTORY: u32 = 10;

impl Engine {
    pub(super) async fn command(
        self: &Arc<Self>,
        origin: &Origin,
        text: &str,
    ) -> anyhow::Result<()> {
        let command = match parse(text) {
            Ok(command) => command,
            Err(error) => {
                self.whisper(origin, error.render()).await;
                return Ok(());
            }
        };
        tracing::info!(command = %command, "command");
        match command {
            Command::Deploy(deploy) => self.deploy(origin, deploy).await,
            Command::Rollback { env, app, to } => self.rollback(origin, &env, app, to).await,
            Command::Backup { env, database } => self.backup(origin, &env, database).await,
            Command::BackupList { env } => self.backup_list(origin, &env).await,
            Command::Restore { env, backup } => self.restore(origin, &env, backup.0 as i64).await,
            Command::Status { env } => self.status(origin, env.as_deref()).await,
            Command::History { env, limit } => {
                self.history(origin, &env, limit.unwrap_or(DEFAULT_HISTORY))
                    .await
            }
            Command::Cancel { job } => self.cancel(origin, job.0 as i64).await,
            Command::Lock {
                env,
                duration,
                reason,
            } => self.lock(origin, &env, duration, reason).await,
            Command::Unlock { env } => self.unlock(origin, &env).await,
            Command::Approve { job } => {
                self.decide_by_command(origin, job.0 as i64, true, None)
                    .await
            }
            Command::Reject { job, reason } => {
                self.decide_by_command(origin, job.0 as i64, false, reason)
                    .await
            }
            Command::Help { topic } => {
                let text = match topic {
                    Some(name) => help_for(name),
                    None => help(),
                };
                self.whisper(origin, text).await;
                Ok(())
            }
            Command::Incident(incident) => self.incident_command(origin, incident).await,
            Command::Announce {
                kind,
                priority,
                subject,
                message,
            } => {
                self.announce_command(origin, kind, priority, subject, message)
                    .await
            }
            Command::Secrets(secrets) => self.secrets_command(origin, secrets).await,
        }
    }

    /// `/announce`: for the announcer roles (default: admins), to every announce channel.
    async fn announce_command(
        &self,
        origin: &Origin,
        kind: deckhand_commands::AnnouncementType,
        priority: deckhand_commands::Priority,
        subject: String,
        message: String,
    ) -> anyhow::Result<()> {
        let person = &origin.user.id;
        if !(self.config.is_admin(person)
            || self.config.includes(&self.config.bot.announcers, person))
        {
            self.whisper(
                origin,
                "You can't announce: only admins and the roles in `bot.announcers` can.",
            )
            .await;
            self.audit(
                person,
                &origin.platform,
                "command.denied",
                None,
                None,
                "announce",
            )
            .await;
            return Ok(());
        }
        let announcement = crate::render::Announcement {
            sender: origin.user.name.clone(),
            recipients: vec!["all".into()],
            kind,
            priority,
            subject,
            message,
            references: Vec::new(),
            attention: None,
        };
        match self.announce(announcement, None, None).await? {
            crate::announce::Outcome::Posted { messages, .. } => {
                self.whisper(
                    origin,
                    format!("📣 Announced in {} channel(s).", messages.len()),
                )
                .await;
            }
            other => tracing::debug!(?other, "announcement"),
        }
        Ok(())
    }

    /// The env's config, or an answer naming the nearest configured env.
    pub(crate) async fn known_env(&self, origin: &Origin, name: &str) -> Option<&EnvConfig> {
        if let Some(env) = self.config.env(name) {
            return Some(env);
        }
        let names: Vec<&str> = self
            .config
            .environments
            .keys()
            .map(String::as_str)
            .collect();
        let mut text = format!("There is no environment `{name}`.");
        if let Some(near) = did_you_mean(name, names.iter().copied()) {
            text.push_str(&format!(" Did you mean `{near}`?"));
        }
        let list: Vec<String> = names.iter().map(|n| format!("`{n}`")).collect();
        text.push_str(&format!(" Environments: {}.", list.join(", ")));
        self.whisper(origin, text).await;
        None
    }

    /// The app a command is about: the one named, or the only one configured.
    async fn known_app(&self, origin: &Origin, named: Option<String>) -> Option<Option<String>> {
        let apps: Vec<&str> = self.config.apps.keys().map(String::as_str).collect();
        match named {
            Some(name) if self.config.apps.contains_key(&name) => Some(Some(name)),
            Some(name) => {
                let mut text = format!("There is no app `{name}`.");
                if let Some(near) = did_you_mean(&name, apps.iter().copied()) {
                    text.push_str(&format!(" Did you mean `{near}`?"));
                }
                if !apps.is_empty() {
                    let list: Vec<String> = apps.iter().map(|n| format!("`{n}`")).collect();
                    text.push_str(&format!(" Apps: {}.", list.join(", ")));
                }
                self.whisper(origin, text).await;
                None
            }
            None if apps.len() > 1 => {
                let list: Vec<String> = apps.iter().map(|n| format!("`{n}`")).collect();
                self.whisper(
                    origin,
                    format!(
                        "Which app? This deckhand has {}: e.g. `/deploy {} prod`.",
                        list.join(", "),
                        apps[0]
                    ),
                )
                .await;
                None
            }
            None => Some(apps.first().map(|a| (*a).to_owned())),
        }
    }

    pub(super) fn may_deploy(&self, env: &EnvConfig, person: &str) -> bool {
        self.config.is_admin(person) || self.config.includes(&env.deployers, person)
    }

    /// Refuses (and audits) when the person may not run jobs on `env`.
    pub(super) async fn authorize_deployer(
        &self,
        origin: &Origin,
        env_name: &str,
        env: &EnvConfig,
        what: &str,
    ) -> bool {
        if self.may_deploy(env, &origin.user.id) {
            return true;
        }
        let roles = if env.deployers.is_empty() {
            "only admins".to_owned()
        } else {
            env.deployers
                .iter()
                .map(|d| format!("`{d}`"))
                .collect::<Vec<_>>()
                .join(", ")
        };
        self.whisper(
            origin,
            format!("You can't {what} `{env_name}`: you are not one of its deployers ({roles}). Ask one of them, or an admin."),
        )
        .await;
        self.audit(
            &origin.user.id,
            &origin.platform,
            "command.denied",
            Some(env_name),
            None,
            what,
        )
        .await;
        false
    }

    pub(super) async fn refuse_locked(&self, origin: &Origin, lock: &EnvLock) {
        let text = lock_holder_text(self, lock).await;
        self.whisper(origin, text).await;
    }

    async fn deploy(self: &Arc<Self>, origin: &Origin, deploy: Deploy) -> anyhow::Result<()> {
        let config = self.config.clone();
        let target = deploy.target.resolve(
            |name| config.apps.contains_key(name),
            |name| config.environments.contains_key(name),
        );
        let Some(env) = self.known_env(origin, &target.env).await else {
            return Ok(());
        };
        let Some(app) = self.known_app(origin, target.app.clone()).await else {
            return Ok(());
        };
        if !self
            .authorize_deployer(origin, &target.env, env, "deploy to")
            .await
        {
            return Ok(());
        }
        let git_ref = target
            .git_ref
            .map(|r| r.as_str().to_owned())
            .or_else(|| {
                app.as_ref()
                    .and_then(|a| config.apps.get(a))
                    .and_then(|a| a.default_ref.clone())
            })
            .unwrap_or_else(|| "main".to_owned());
        let current = jobs::releases(&self.store.pool, &target.env, app.as_deref(), 1).await?;
        let previous_ref = current.first().and_then(|j| j.git_ref.clone());
        // An open serious incident holds production deploys, unless this is its hotfix.
        let gating = self.gating_incidents(&target.env).await?;
        let hotfix_for = deploy
            .hotfix
            .and_then(|id| gating.iter().find(|i| i.id == id.0 as i64).map(|i| i.id));
        if !gating.is_empty() && hotfix_for.is_none() && !deploy.dry_run {
            let names: Vec<String> = gating
                .iter()
                .map(|i| format!("INC-{} ({}: {})", i.id, i.severity, i.title))
                .collect();
            self.whisper(
                origin,
                format!(
                    "🚫 Deploys to `{}` are on hold while {} is open. To ship the fix, `/deploy {} {git_ref} --hotfix INC-{}`.",
                    target.env,
                    names.join(", "),
                    target.env,
                    gating[0].id
                ),
            )
            .await;
            self.audit(
                &origin.user.id,
                &origin.platform,
                "incident.gate_blocked",
                Some(&target.env),
                None,
                &names.join(", "),
            )
            .await;
            return Ok(());
        }
        if deploy.dry_run {
            return self
                .dry_run(
                    origin,
                    &target.env,
                    env,
                    app.as_deref(),
                    &git_ref,
                    previous_ref.as_deref(),
                )
                .await;
        }
        let mut reason = deploy.reason;
        if let Some(glass) = &deploy.break_glass {
            reason = Some(
                format!("{} (break-glass: {glass})", reason.unwrap_or_default())
                    .trim()
                    .to_owned(),
            );
        }
        if let Some(incident) = deploy.hotfix {
            reason = Some(
                format!("{} (hotfix for {incident})", reason.unwrap_or_default())
                    .trim()
                    .to_owned(),
            );
        }
        let spec = JobSpec {
            kind: JobKind::Deploy,
            env: target.env.clone(),
            app,
            git_ref: Some(git_ref.clone()),
            previous_ref,
            reason,
            approvals_required: env.approvals,
            rolls_back: None,
            restore_of: None,
        };
        match self.create_job(origin, spec, &origin.user).await? {
            Err(Refused::Locked(lock)) => self.refuse_locked(origin, &lock).await,
            Ok(job) => {
                if let Some(incident) = hotfix_for {
                    self.note_on_incident(
                        incident,
                        &origin.user.name,
                        "hotfix",
                        &format!(
                            "hotfix deploy #{} of `{git_ref}` to {} by {}",
                            job.id, target.env, origin.user.name
                        ),
                    )
                    .await?;
                    self.audit(
                        &origin.user.id,
                        &origin.platform,
                        "incident.gate_override",
                        Some(&target.env),
                        Some(job.id),
                        &format!("hotfix for INC-{incident}"),
                    )
                    .await;
                }
            }
        }
        Ok(())
    }

    /// `--dry-run`: the plan, and whether it could start now. Nothing is created.
    async fn dry_run(
        &self,
        origin: &Origin,
        env_name: &str,
        env: &EnvConfig,
        app: Option<&str>,
        git_ref: &str,
        previous: Option<&str>,
    ) -> anyhow::Result<()> {
        let mut text = format!(
            "*Dry run*: deploy `{}{git_ref}` to `{env_name}`",
            app.map(|a| format!("{a}@")).unwrap_or_default()
        );
        if let Some(previous) = previous {
            text.push_str(&format!(" (now `{previous}`)"));
        }
        text.push_str(":\n");
        for (i, step) in env.pipeline(JobKind::Deploy).iter().enumerate() {
            text.push_str(&format!("{}. {}\n", i + 1, step.name));
        }
        match env.approvals {
            0 => text.push_str("No approval needed."),
            n => text.push_str(&format!(
                "Needs {n} approval(s) from {}.",
                env.approvers.join(", ")
            )),
        }
        if let Some(lock) = locks::get(&self.store.pool, env_name, now_ms()).await? {
            text.push('\n');
            text.push_str(&lock_holder_text(self, &lock).await);
        }
        text.push_str("\nNothing was run.");
        self.whisper(origin, text).await;
        Ok(())
    }

    async fn rollback(
        self: &Arc<Self>,
        origin: &Origin,
        env_name: &str,
        app: Option<String>,
        to: Option<RollbackTarget>,
    ) -> anyhow::Result<()> {
        let Some(env) = self.known_env(origin, env_name).await else {
            return Ok(());
        };
        let Some(app) = self.known_app(origin, app).await else {
            return Ok(());
        };
        if !self
            .authorize_deployer(origin, env_name, env, "roll back")
            .await
        {
            return Ok(());
        }
        let releases = jobs::releases(&self.store.pool, env_name, app.as_deref(), 50).await?;
        let Some(current) = releases.first() else {
            self.whisper(
                origin,
                format!("Nothing to roll back: `{env_name}` has no successful deploy yet."),
            )
            .await;
            return Ok(());
        };
        let target_ref = match to {
            Some(RollbackTarget::Ref(r)) => r.as_str().to_owned(),
            Some(RollbackTarget::Job(n)) => {
                let job = jobs::get(&self.store.pool, n.0 as i64).await?;
                match job {
                    Some(job)
                        if job.env == env_name
                            && job.state == JobState::Succeeded
                            && matches!(job.kind, JobKind::Deploy | JobKind::Rollback)
                            && job.git_ref.is_some() =>
                    {
                        job.git_ref.unwrap_or_default()
                    }
                    _ => {
                        self.whisper(
                            origin,
                            format!("Job {n} is not a successful deploy of `{env_name}`; `/history {env_name}` lists them."),
                        )
                        .await;
                        return Ok(());
                    }
                }
            }
            None => {
                let current_ref = current.git_ref.clone();
                let earlier = releases
                    .iter()
                    .skip(1)
                    .find(|j| j.kind == JobKind::Deploy && j.git_ref != current_ref);
                match earlier.and_then(|j| j.git_ref.clone()) {
                    Some(r) => r,
                    None => {
                        self.whisper(
                            origin,
                            format!(
                                "Nothing to roll back to: `{env_name}` runs `{}` (job #{}) and has no earlier successful deploy of another ref. Name one with `/rollback {env_name} to REF`.",
                                current.git_ref.as_deref().unwrap_or("?"),
                                current.id
                            ),
                        )
                        .await;
                        return Ok(());
                    }
                }
            }
        };
        let spec = JobSpec {
            kind: JobKind::Rollback,
            env: env_name.to_owned(),
            app,
            git_ref: Some(target_ref),
            previous_ref: current.git_ref.clone(),
            reason: None,
            approvals_required: env.approvals,
            rolls_back: Some(current.id),
            restore_of: None,
        };
        if let Err(Refused::Locked(lock)) = self.create_job(origin, spec, &origin.user).await? {
            self.refuse_locked(origin, &lock).await;
        }
        Ok(())
    }

    async fn backup(
        self: &Arc<Self>,
        origin: &Origin,
        env_name: &str,
        database: Option<String>,
    ) -> anyhow::Result<()> {
        let Some(env) = self.known_env(origin, env_name).await else {
            return Ok(());
        };
        if env.pipeline(JobKind::Backup).is_empty() {
            self.whisper(origin, format!("`{env_name}` has no backup pipeline: add `[[environments.{env_name}.backup]]` steps to the config.")).await;
            return Ok(());
        }
        if !self
            .authorize_deployer(origin, env_name, env, "back up")
            .await
        {
            return Ok(());
        }
        let spec = JobSpec {
            kind: JobKind::Backup,
            env: env_name.to_owned(),
            app: None,
            git_ref: None,
            previous_ref: None,
            reason: database.map(|d| format!("database {d}")),
            approvals_required: 0,
            rolls_back: None,
            restore_of: None,
        };
        if let Err(Refused::Locked(lock)) = self.create_job(origin, spec, &origin.user).await? {
            self.refuse_locked(origin, &lock).await;
        }
        Ok(())
    }

    async fn restore(
        self: &Arc<Self>,
        origin: &Origin,
        env_name: &str,
        backup_id: i64,
    ) -> anyhow::Result<()> {
        let Some(env) = self.known_env(origin, env_name).await else {
            return Ok(());
        };
        if env.pipeline(JobKind::Restore).is_empty() {
            self.whisper(origin, format!("`{env_name}` has no restore pipeline: add `[[environments.{env_name}.restore]]` steps to the config.")).await;
            return Ok(());
        }
        if !self
            .authorize_deployer(origin, env_name, env, "restore")
            .await
        {
            return Ok(());
        }
        let backup = jobs::get(&self.store.pool, backup_id).await?;
        let valid = backup.as_ref().is_some_and(|b| {
            b.kind == JobKind::Backup
                && b.env == env_name
                && b.state == JobState::Succeeded
                && b.artifact.is_some()
        });
        if !valid {
            self.whisper(origin, format!("#{backup_id} is not a backup of `{env_name}`. `/backup list {env_name}` shows them.")).await;
            return Ok(());
        }
        // Restores overwrite data: always at least one approval.
        let spec = JobSpec {
            kind: JobKind::Restore,
            env: env_name.to_owned(),
            app: None,
            git_ref: None,
            previous_ref: None,
            reason: None,
            approvals_required: env.approvals.max(1),
            rolls_back: None,
            restore_of: Some(backup_id),
        };
        if let Err(Refused::Locked(lock)) = self.create_job(origin, spec, &origin.user).await? {
            self.refuse_locked(origin, &lock).await;
        }
        Ok(())
    }
}
