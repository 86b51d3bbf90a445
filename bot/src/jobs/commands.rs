//! The commands that create jobs: `/deploy`, `/rollback`, `/backup`, `/restore`. Each
//! checks (env, app, role, gates) through `policy`, then creates the job.

use std::sync::Arc;

use deckhand_commands::{Deploy, RollbackTarget};

use super::create::JobSpec;
use super::plan::JobAsk;
use super::{Engine, Origin};
use crate::config::{EnvConfig, JobKind};
use crate::policy;
use crate::refusal::{Act, Refusal};
use crate::store::jobs::{self, JobState};

impl Engine {
    /// The env, after checking that it exists and that the person may `act` on it.
    pub(crate) fn deployable_env(
        &self,
        origin: &Origin,
        env_name: &str,
        act: Act,
    ) -> Result<&EnvConfig, Refusal> {
        let config = &self.ctx.config;
        let env = policy::known_env(config, env_name)?;
        policy::may_deploy(config, env_name, env, &origin.user.id, act)?;
        Ok(env)
    }

    pub(crate) async fn deploy(
        self: &Arc<Self>,
        origin: &Origin,
        deploy: Deploy,
    ) -> anyhow::Result<()> {
        let config = self.ctx.config.clone();
        let reason = reason_with_flags(&deploy);
        let target = deploy.target.resolve(
            |name| config.apps.contains_key(name),
            |name| config.environments.contains_key(name),
        );
        let env = policy::known_env(&config, &target.env)?;
        let app = policy::known_app(&config, target.app.clone())?;
        let git_ref = target
            .git_ref
            .map(|r| r.as_str().to_owned())
            .or_else(|| {
                app.as_ref()
                    .and_then(|a| config.apps.get(a))
                    .and_then(|a| a.default_ref.clone())
            })
            .unwrap_or_else(|| "main".to_owned());
        let pool = &self.ctx.store.pool;
        let current = jobs::releases(pool, &target.env, app.as_deref(), 1).await?;
        let previous_ref = current.first().and_then(|j| j.git_ref.clone());
        if deploy.dry_run {
            let (github, checks) = self
                .plan_github(
                    JobKind::Deploy,
                    &target.env,
                    env,
                    app.as_deref(),
                    &git_ref,
                    None,
                    deploy.skip_checks.as_deref(),
                )
                .await?;
            let ask = JobAsk {
                kind: JobKind::Deploy,
                act: Act::Deploy,
                env_name: &target.env,
                env,
                what: format!(
                    "{}{git_ref}",
                    app.as_deref().map(|a| format!("{a}@")).unwrap_or_default()
                ),
                commit: github.commit_sha,
                change: github.change,
                checks,
                previous: previous_ref,
                approvals: env.approvals,
                break_glass: deploy.break_glass.as_deref(),
                hotfix: deploy.hotfix,
                notes: Vec::new(),
            };
            return self.answer_plan(origin, ask).await;
        }
        let glass = self
            .admit(
                origin,
                &target.env,
                env,
                JobKind::Deploy,
                deploy.break_glass.as_deref(),
            )
            .await?;
        // An open serious incident holds production deploys, unless this is its hotfix.
        let gating = self.incidents.gating(&target.env).await?;
        let hotfix_for = policy::incident_gate(&target.env, &git_ref, &gating, deploy.hotfix)?;
        if deploy.skip_checks.is_some()
            && (env.require_checks.is_none() || self.repo_of(app.as_deref()).is_none())
        {
            return Err(Refusal::GitHub {
                env: target.env.clone(),
                kind: "nothing_to_skip",
                text: format!(
                    "`--skip-checks` has nothing to skip: `{}` requires no GitHub checks. Deploy without it.",
                    target.env
                ),
            }
            .into());
        }
        let github = self
            .resolve_for_request(
                JobKind::Deploy,
                &target.env,
                env,
                app.as_deref(),
                &git_ref,
                None,
                deploy.skip_checks.as_deref(),
            )
            .await?;
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
            hotfix_for,
            skip_checks: github.commit_sha.as_ref().and(deploy.skip_checks.clone()),
            commit_sha: github.commit_sha,
            commit_at: github.commit_at,
            change_summary: github.change,
            break_glass: glass.as_ref().and(deploy.break_glass.clone()),
        };
        self.create_job_through(origin, spec, glass.as_ref())
            .await?;
        if let Some(incident) = hotfix_for {
            self.incidents.refresh_incident(incident).await?;
        }
        Ok(())
    }

    pub(crate) async fn rollback(
        self: &Arc<Self>,
        origin: &Origin,
        env_name: &str,
        app: Option<String>,
        to: Option<RollbackTarget>,
        dry_run: bool,
        break_glass: Option<String>,
    ) -> anyhow::Result<()> {
        let env = policy::known_env(&self.ctx.config, env_name)?;
        let app = policy::known_app(&self.ctx.config, app)?;
        let pool = &self.ctx.store.pool;
        let releases = jobs::releases(pool, env_name, app.as_deref(), 50).await?;
        let Some(current) = releases.first() else {
            return Err(Refusal::NothingToRollBack {
                env: env_name.to_owned(),
            }
            .into());
        };
        // A rollback goes back to the commit that ran, not to where its branch is now.
        let mut target_sha: Option<String> = None;
        let target_ref = match to {
            Some(RollbackTarget::Ref(r)) => r.as_str().to_owned(),
            Some(RollbackTarget::Job(n)) => match jobs::get(pool, n.0 as i64).await? {
                Some(job)
                    if job.env == env_name
                        && job.state == JobState::Succeeded
                        && matches!(job.kind, JobKind::Deploy | JobKind::Rollback)
                        && job.git_ref.is_some() =>
                {
                    target_sha = job.github.commit_sha.clone();
                    job.git_ref.unwrap_or_default()
                }
                _ => {
                    return Err(Refusal::NotASuccessfulDeploy {
                        job: n.0,
                        env: env_name.to_owned(),
                    }
                    .into());
                }
            },
            None => {
                let earlier = releases
                    .iter()
                    .skip(1)
                    .find(|j| j.kind == JobKind::Deploy && j.git_ref != current.git_ref)
                    .ok_or_else(|| Refusal::NoEarlierRelease {
                        env: env_name.to_owned(),
                        current_ref: current.git_ref.clone(),
                        current_job: current.id,
                    })?;
                target_sha = earlier.github.commit_sha.clone();
                earlier.git_ref.clone().unwrap_or_default()
            }
        };
        if dry_run {
            let (github, _) = self
                .plan_github(
                    JobKind::Rollback,
                    env_name,
                    env,
                    app.as_deref(),
                    &target_ref,
                    target_sha.as_deref(),
                    None,
                )
                .await?;
            let ask = JobAsk {
                kind: JobKind::Rollback,
                act: Act::Rollback,
                env_name,
                env,
                what: format!(
                    "{}{target_ref}",
                    app.as_deref().map(|a| format!("{a}@")).unwrap_or_default()
                ),
                commit: github.commit_sha,
                change: github.change,
                checks: None,
                previous: current.git_ref.clone(),
                approvals: env.approvals,
                break_glass: break_glass.as_deref(),
                hotfix: None,
                notes: vec![format!("It rolls back #{}.", current.id)],
            };
            return self.answer_plan(origin, ask).await;
        }
        let glass = self
            .admit(
                origin,
                env_name,
                env,
                JobKind::Rollback,
                break_glass.as_deref(),
            )
            .await?;
        let github = self
            .resolve_for_request(
                JobKind::Rollback,
                env_name,
                env,
                app.as_deref(),
                &target_ref,
                target_sha.as_deref(),
                None,
            )
            .await?;
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
            hotfix_for: None,
            commit_sha: github.commit_sha,
            commit_at: github.commit_at,
            change_summary: github.change,
            skip_checks: None,
            break_glass: glass.as_ref().and(break_glass),
        };
        self.create_job_through(origin, spec, glass.as_ref())
            .await?;
        Ok(())
    }

    /// What every job command checks once it is past its plan: the person may run
    /// `kind` on the env, and no freeze holds it (the window a `--break-glass` passes,
    /// if one does).
    async fn admit(
        &self,
        origin: &Origin,
        env_name: &str,
        env: &EnvConfig,
        kind: JobKind,
        break_glass: Option<&str>,
    ) -> anyhow::Result<Option<crate::freezes::Window>> {
        let act = super::freeze::act_of(kind);
        policy::may_deploy(&self.ctx.config, env_name, env, &origin.user.id, act)?;
        self.freeze_gate(env_name, env, kind, break_glass).await
    }

    /// Creates the job; one that broke the glass is announced as such.
    async fn create_job_through(
        self: &Arc<Self>,
        origin: &Origin,
        spec: JobSpec,
        glass: Option<&crate::freezes::Window>,
    ) -> anyhow::Result<()> {
        let job = self.create_job(origin, spec, &origin.user).await?;
        if let Some(window) = glass {
            self.break_glass_notice(&job, window).await;
        }
        Ok(())
    }

    /// The env, when it has a pipeline of `kind`.
    fn env_with_pipeline(&self, env_name: &str, kind: JobKind) -> Result<&EnvConfig, Refusal> {
        let env = policy::known_env(&self.ctx.config, env_name)?;
        if env.pipeline(kind).is_empty() {
            return Err(Refusal::NoPipeline {
                env: env_name.to_owned(),
                kind,
            });
        }
        Ok(env)
    }

    /// A plan for a job with no ref (backups, restores).
    #[allow(clippy::too_many_arguments)]
    fn plain_ask<'a>(
        &self,
        kind: JobKind,
        act: Act,
        env_name: &'a str,
        env: &'a EnvConfig,
        what: String,
        approvals: u32,
        break_glass: Option<&'a str>,
    ) -> JobAsk<'a> {
        JobAsk {
            kind,
            act,
            env_name,
            env,
            what,
            commit: None,
            change: None,
            checks: None,
            previous: None,
            approvals,
            break_glass,
            hotfix: None,
            notes: Vec::new(),
        }
    }

    pub(crate) async fn backup(
        self: &Arc<Self>,
        origin: &Origin,
        env_name: &str,
        database: Option<String>,
        dry_run: bool,
    ) -> anyhow::Result<()> {
        let env = self.env_with_pipeline(env_name, JobKind::Backup)?;
        if dry_run {
            let what = match &database {
                Some(d) => format!(" (database `{d}`)"),
                None => String::new(),
            };
            let ask = self.plain_ask(JobKind::Backup, Act::Backup, env_name, env, what, 0, None);
            return self.answer_plan(origin, ask).await;
        }
        self.admit(origin, env_name, env, JobKind::Backup, None)
            .await?;
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
            hotfix_for: None,
            commit_sha: None,
            commit_at: None,
            change_summary: None,
            skip_checks: None,
            break_glass: None,
        };
        self.create_job(origin, spec, &origin.user).await?;
        Ok(())
    }

    pub(crate) async fn restore(
        self: &Arc<Self>,
        origin: &Origin,
        env_name: &str,
        backup_id: i64,
        dry_run: bool,
        break_glass: Option<String>,
    ) -> anyhow::Result<()> {
        let env = self.env_with_pipeline(env_name, JobKind::Restore)?;
        let backup = jobs::get(&self.ctx.store.pool, backup_id).await?;
        // A `/backup` that succeeded, or any job whose backup step left an artifact
        // (a deploy's pre-deploy dump).
        let artifact = backup
            .as_ref()
            .filter(|b| b.env == env_name)
            .filter(|b| b.kind != JobKind::Backup || b.state == JobState::Succeeded)
            .and_then(|b| b.artifact.clone());
        let Some(artifact) = artifact else {
            return Err(Refusal::NotABackup {
                backup: backup_id,
                env: env_name.to_owned(),
            }
            .into());
        };
        // Checked before anyone is asked to approve: the replica that runs the restore
        // reads the same path, so a file missing here (pod-local storage) would fail it.
        if let Some(why) = self.unreachable(backup_id, &artifact).await? {
            return Err(Refusal::BackupUnreachable {
                backup: backup_id,
                env: env_name.to_owned(),
                path: artifact.path,
                why,
            }
            .into());
        }
        // Restores overwrite data: always at least one approval.
        let approvals = env.approvals.max(1);
        if dry_run {
            let mut ask = self.plain_ask(
                JobKind::Restore,
                Act::Restore,
                env_name,
                env,
                format!("backup #{backup_id}"),
                approvals,
                break_glass.as_deref(),
            );
            ask.notes.push(format!(
                "It overwrites `{env_name}`'s data with `{}` ({}, sha256 {}).",
                artifact.path,
                crate::render::bytes(artifact.size),
                &artifact.sha256[..artifact.sha256.len().min(12)]
            ));
            return self.answer_plan(origin, ask).await;
        }
        let glass = self
            .admit(
                origin,
                env_name,
                env,
                JobKind::Restore,
                break_glass.as_deref(),
            )
            .await?;
        let spec = JobSpec {
            kind: JobKind::Restore,
            env: env_name.to_owned(),
            app: None,
            git_ref: None,
            previous_ref: None,
            reason: None,
            approvals_required: approvals,
            rolls_back: None,
            restore_of: Some(backup_id),
            hotfix_for: None,
            commit_sha: None,
            commit_at: None,
            change_summary: None,
            skip_checks: None,
            break_glass: glass.as_ref().and(break_glass),
        };
        self.create_job_through(origin, spec, glass.as_ref())
            .await?;
        Ok(())
    }
}

/// The job's reason, with `--hotfix` written into it (a break-glass has its own field).
fn reason_with_flags(deploy: &Deploy) -> Option<String> {
    let mut reason = deploy.reason.clone();
    if let Some(incident) = deploy.hotfix {
        reason = Some(
            format!("{} (hotfix for {incident})", reason.unwrap_or_default())
                .trim()
                .to_owned(),
        );
    }
    reason
}

impl Engine {
    /// Why a recorded backup cannot be restored from this replica, if it cannot: pruned,
    /// or its file unreadable here ([`unreadable`]).
    pub(crate) async fn unreachable(
        &self,
        backup_id: i64,
        artifact: &crate::store::jobs::Artifact,
    ) -> anyhow::Result<Option<String>> {
        if let Some(at) = jobs::pruned_at(&self.ctx.store.pool, backup_id).await? {
            return Ok(Some(format!(
                "was removed on {} to keep only the newest backups (the step's `keep`)",
                self.clock(at)
            )));
        }
        Ok(unreadable(artifact).await)
    }
}

/// Why a backup's file cannot be restored from this replica, if it cannot: missing, or
/// not the size it was (the restore step checks its sha256 too).
pub(crate) async fn unreadable(artifact: &crate::store::jobs::Artifact) -> Option<String> {
    match tokio::fs::metadata(&artifact.path).await {
            Ok(meta) if meta.len() as i64 == artifact.size => None,
            Ok(meta) => Some(format!(
                "has changed since the backup ({} now, {} recorded)",
                crate::render::bytes(meta.len() as i64),
                crate::render::bytes(artifact.size)
            )),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Some(
                "is not on this replica's disk: backups must be in a directory every replica shares (a ReadWriteMany volume on Kubernetes)"
                    .to_owned(),
            ),
            Err(e) => Some(format!("cannot be read here ({e})")),
    }
}
