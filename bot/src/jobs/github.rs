//! Where jobs meet GitHub: the commit a request resolves to and what changed, the CI
//! gate at request and at claim, the branch that moved after approval, and the job's
//! GitHub deployment following its state.

use std::sync::Arc;

use tokio_util::sync::CancellationToken;

use super::Engine;
use crate::config::{EnvConfig, JobKind, RequireChecks};
use crate::github::checks::{self, Verdict};
use crate::github::refs::{self, RefError};
use crate::github::{GitHub, Repo, deployments, short};
use crate::refusal::Refusal;
use crate::store::jobs::{self, Job, JobState};
use crate::store::now_ms;

/// What GitHub adds to a new job.
#[derive(Debug, Clone, Default)]
pub(crate) struct Resolved {
    pub commit_sha: Option<String>,
    /// When the commit was made, when GitHub said.
    pub commit_at: Option<i64>,
    pub change: Option<String>,
}

/// What the last door before the steps decided.
pub(crate) enum Preflight {
    Go,
    /// Sent back for approval (its branch moved): not this runner's any more.
    Voided,
    Fail(String),
    Cancelled,
}

impl Engine {
    /// Turns GitHub on for this engine (before `start`).
    pub fn set_github(&self, github: Arc<GitHub>) {
        let _ = self.github.set(github);
    }

    pub(crate) fn github(&self) -> Option<&Arc<GitHub>> {
        self.github.get()
    }

    /// The GitHub repo of `app`, when it has one and GitHub is configured.
    pub(crate) fn repo_of(&self, app: Option<&str>) -> Option<(Arc<GitHub>, Repo)> {
        let github = self.github()?.clone();
        let app = app?;
        let repo = self.ctx.config.apps.get(app)?.repo.as_deref()?;
        Some((github, Repo::new(repo, format!("apps.{app}.repo"))))
    }

    fn github_refused(&self, env: &str, kind: &'static str, text: String) -> anyhow::Error {
        Refusal::GitHub {
            env: env.to_owned(),
            kind,
            text,
        }
        .into()
    }

    /// At request: the ref's commit (an unknown ref is refused with the nearest names),
    /// the change since the env's last good deploy, and for deploys the CI gate (a
    /// failed check refuses; pending ones let the job wait at claim).
    #[allow(clippy::too_many_arguments)]
    pub(crate) async fn resolve_for_request(
        &self,
        kind: JobKind,
        env_name: &str,
        env: &EnvConfig,
        app: Option<&str>,
        git_ref: &str,
        known_sha: Option<&str>,
        skip_checks: Option<&str>,
    ) -> anyhow::Result<Resolved> {
        let Some((github, repo)) = self.repo_of(app) else {
            return Ok(Resolved::default());
        };
        let clock = self.ctx.config.clock;
        let (sha, commit_at) = match known_sha {
            Some(sha) => (sha.to_owned(), None),
            None => refs::resolve_commit(&github, &repo, git_ref)
                .await
                .map_err(|e| {
                    let kind = match e {
                        RefError::Unknown { .. } => "unknown_ref",
                        RefError::GitHub(_) => "github",
                    };
                    self.github_refused(env_name, kind, e.say(&repo, git_ref, &clock))
                })?,
        };
        if kind == JobKind::Deploy
            && skip_checks.is_none()
            && let Some(required) = &env.require_checks
        {
            match checks::verdict(&github, &repo, &sha, required).await {
                Ok(Verdict::Failed(failed)) => {
                    return Err(self.github_refused(
                        env_name,
                        "checks_failed",
                        format!(
                            "Can't deploy `{git_ref}` ({}) to `{env_name}`: {}. Fix it and deploy again, or add `--skip-checks \"why\"` if it must go out anyway.",
                            short(&sha),
                            Verdict::failed_text(&failed)
                        ),
                    ));
                }
                Ok(_) => {}
                Err(e) => {
                    return Err(self.github_refused(
                        env_name,
                        "github",
                        format!(
                            "Can't check `{git_ref}` ({}) for `{env_name}`'s required checks: {}. Nothing was queued; try again, or add `--skip-checks \"why\"`.",
                            short(&sha),
                            e.say(&repo, &clock)
                        ),
                    ));
                }
            }
        }
        let change = self
            .change_since_release(&github, &repo, env_name, app, &sha)
            .await;
        Ok(Resolved {
            commit_sha: Some(sha),
            commit_at,
            change,
        })
    }

    /// For a `--dry-run`: the commit the ref resolves to (an unknown ref is refused as
    /// at request), what changes, and the CI gate's line as it stands now. Asks
    /// GitHub; stores nothing.
    #[allow(clippy::too_many_arguments)]
    pub(crate) async fn plan_github(
        &self,
        kind: JobKind,
        env_name: &str,
        env: &EnvConfig,
        app: Option<&str>,
        git_ref: &str,
        known_sha: Option<&str>,
        skip_checks: Option<&str>,
    ) -> anyhow::Result<(Resolved, Option<String>)> {
        let Some((github, repo)) = self.repo_of(app) else {
            return Ok((Resolved::default(), None));
        };
        let clock = self.ctx.config.clock;
        let sha = match known_sha {
            Some(sha) => sha.to_owned(),
            None => refs::resolve(&github, &repo, git_ref).await.map_err(|e| {
                let kind = match e {
                    RefError::Unknown { .. } => "unknown_ref",
                    RefError::GitHub(_) => "github",
                };
                self.github_refused(env_name, kind, e.say(&repo, git_ref, &clock))
            })?,
        };
        let checks = match (&env.require_checks, kind) {
            (Some(required), JobKind::Deploy) => Some(match skip_checks {
                Some(why) => format!("⚠️ Required checks skipped: {why}"),
                None => match checks::verdict(&github, &repo, &sha, required).await {
                    Ok(Verdict::Green) => {
                        format!("✅ Required checks passed on `{}`", short(&sha))
                    }
                    Ok(Verdict::Pending(names)) => format!(
                        "⏳ Checks still running on `{}`: {}; it would wait for them (up to {})",
                        short(&sha),
                        Verdict::pending_names(&names),
                        crate::render::duration(env.checks_timeout().as_millis() as i64)
                    ),
                    Ok(Verdict::Failed(failed)) => {
                        format!("⛔ {}", Verdict::failed_text(&failed))
                    }
                    Err(e) => format!("⛔ Can't read the checks: {}", e.say(&repo, &clock)),
                },
            }),
            _ => None,
        };
        let change = self
            .change_since_release(&github, &repo, env_name, app, &sha)
            .await;
        Ok((
            Resolved {
                commit_sha: Some(sha),
                commit_at: None,
                change,
            },
            checks,
        ))
    }

    /// The card's lines for what changes against the env's running commit.
    async fn change_since_release(
        &self,
        github: &GitHub,
        repo: &Repo,
        env_name: &str,
        app: Option<&str>,
        sha: &str,
    ) -> Option<String> {
        let current = jobs::releases(&self.ctx.store.pool, env_name, app, 1)
            .await
            .ok()?
            .into_iter()
            .next()?;
        let base = current.github.commit_sha.as_deref()?;
        match refs::change(github, repo, base, current.id, sha).await {
            Ok(text) => Some(text),
            Err(e) => {
                tracing::warn!(error = %e, "cannot compare with the running commit");
                None
            }
        }
    }

    /// The last door before the steps, outside any transaction (it asks GitHub): a
    /// branch that moved since approval voids the approvals; the CI gate is asked again
    /// and waited on while checks are pending, up to `checks_timeout`.
    pub(crate) async fn github_preflight(&self, job: &Job, token: &CancellationToken) -> Preflight {
        let Some((github, repo)) = self.repo_of(job.app.as_deref()) else {
            return Preflight::Go;
        };
        let Some(env) = self.ctx.config.env(&job.env) else {
            return Preflight::Go;
        };
        let clock = self.ctx.config.clock;
        let Some(sha) = job.github.commit_sha.clone() else {
            return Preflight::Go;
        };
        let git_ref = job.git_ref.clone().unwrap_or_default();
        let moved = job.approvals_required > 0
            && job.kind == JobKind::Deploy
            && !sha.starts_with(&git_ref.to_ascii_lowercase());
        if moved {
            match refs::resolve(&github, &repo, &git_ref).await {
                Ok(now) if now != sha => {
                    let change = self
                        .change_since_release(&github, &repo, &job.env, job.app.as_deref(), &now)
                        .await;
                    let why = format!(
                        "approvals void: `{git_ref}` moved from `{}` to `{}` since #{} was approved; approve the new commit",
                        short(&sha),
                        short(&now),
                        job.id
                    );
                    let mut moved_job = job.clone();
                    moved_job.github.commit_sha = Some(now.clone());
                    let bound = super::binding::now_for(&self.ctx.config, &moved_job);
                    return match self
                        .void_approvals_for(
                            job,
                            &bound,
                            now_ms(),
                            &why,
                            Some((&now, change.as_deref())),
                        )
                        .await
                    {
                        Ok(()) => Preflight::Voided,
                        Err(e) => Preflight::Fail(format!(
                            "could not send #{} back for approval: {e:#}",
                            job.id
                        )),
                    };
                }
                Ok(_) => {}
                Err(e) => {
                    return Preflight::Fail(format!(
                        "could not confirm which commit `{git_ref}` is: {}",
                        e.say(&repo, &git_ref, &clock)
                    ));
                }
            }
        }
        if job.kind != JobKind::Deploy || job.github.skip_checks.is_some() {
            return Preflight::Go;
        }
        let Some(required) = env.require_checks.clone() else {
            return Preflight::Go;
        };
        self.wait_for_checks(
            job,
            &github,
            &repo,
            &sha,
            &required,
            env.checks_timeout(),
            token,
        )
        .await
    }

    /// Asks for the checks until they are green, one failed, or `timeout` passed; the
    /// card says which it waits for.
    #[allow(clippy::too_many_arguments)]
    async fn wait_for_checks(
        &self,
        job: &Job,
        github: &GitHub,
        repo: &Repo,
        sha: &str,
        required: &RequireChecks,
        timeout: std::time::Duration,
        token: &CancellationToken,
    ) -> Preflight {
        let clock = self.ctx.config.clock;
        let until = tokio::time::Instant::now() + timeout;
        let started = now_ms();
        let mut shown: Option<String> = None;
        let mut blips = 0;
        let result = loop {
            let wait = match checks::verdict(github, repo, sha, required).await {
                Ok(Verdict::Green) => break Preflight::Go,
                Ok(Verdict::Failed(failed)) => {
                    break Preflight::Fail(format!(
                        "required checks failed on `{}`: {}",
                        short(sha),
                        Verdict::failed_text(&failed)
                    ));
                }
                Ok(Verdict::Pending(names)) => {
                    if tokio::time::Instant::now() >= until {
                        break Preflight::Fail(format!(
                            "checks still pending after {}: {}",
                            crate::render::duration(timeout.as_millis() as i64),
                            Verdict::pending_names(&names)
                        ));
                    }
                    let note = format!(
                        "⏳ waiting for checks {} on `{}` (since {}, up to {})",
                        Verdict::pending_names(&names),
                        short(sha),
                        clock.time_of_day(started),
                        crate::render::duration(timeout.as_millis() as i64)
                    );
                    if shown.as_deref() != Some(note.as_str()) {
                        self.github_note(job.id, Some(&note)).await;
                        shown = Some(note);
                    }
                    github.poll()
                }
                Err(crate::github::GitHubError::RateLimited { until: lifts }) => {
                    let note = format!(
                        "⏳ waiting for checks: GitHub's rate limit lifts at {}",
                        clock.time_of_day(lifts)
                    );
                    self.github_note(job.id, Some(&note)).await;
                    shown = Some(note);
                    std::time::Duration::from_millis((lifts - now_ms()).max(1000) as u64)
                }
                Err(crate::github::GitHubError::Unavailable { .. }) if blips < 3 => {
                    blips += 1;
                    github.poll()
                }
                Err(e) => {
                    break Preflight::Fail(format!(
                        "could not read the checks of `{}`: {}",
                        short(sha),
                        e.say(repo, &clock)
                    ));
                }
            };
            tokio::select! {
                _ = token.cancelled() => break Preflight::Cancelled,
                _ = tokio::time::sleep_until(until.min(tokio::time::Instant::now() + wait)) => {}
            }
        };
        if shown.is_some() {
            self.github_note(job.id, None).await;
        }
        result
    }

    /// Sets (or clears) the card's GitHub line and redraws the card.
    pub(crate) async fn github_note(&self, job_id: i64, note: Option<&str>) {
        if let Err(e) = jobs::set_github_note(&self.ctx.store.pool, job_id, note).await {
            tracing::warn!(error = %e, "cannot store the job's GitHub note");
        }
        self.refresh_card(job_id).await;
    }

    /// The job's GitHub deployment, following its state now: created with its first
    /// status, then a status per move. A GitHub refusal never fails the job; the card
    /// says what GitHub refused.
    pub(crate) async fn deployment_moved(&self, job_id: i64) {
        if self.github().is_none() {
            return;
        }
        let _in_order = self.deployment_updates.lock().await;
        let Ok(Some(job)) = jobs::get(&self.ctx.store.pool, job_id).await else {
            return;
        };
        if !matches!(job.kind, JobKind::Deploy | JobKind::Rollback) {
            return;
        }
        let Some((github, repo)) = self.repo_of(job.app.as_deref()) else {
            return;
        };
        let Some(env) = self.ctx.config.env(&job.env) else {
            return;
        };
        if env.github_deployments == Some(false) || job.github.commit_sha.is_none() {
            return;
        }
        let clock = self.ctx.config.clock;
        let links = deployments::Links {
            log_url: self
                .ctx
                .config
                .bot
                .public_url
                .as_deref()
                .map(|u| format!("{}/jobs/{}", u.trim_end_matches('/'), job.id)),
            environment_url: env.environment_url.clone(),
        };
        let result = async {
            let deployment = match job.github.deployment {
                Some(id) => id,
                None => {
                    let id = deployments::create(&github, &repo, &job).await?;
                    if let Err(e) = jobs::set_deployment(&self.ctx.store.pool, job.id, id).await {
                        tracing::warn!(error = %e, "cannot store the GitHub deployment id");
                    }
                    id
                }
            };
            let state = deployments::status_for(job.state);
            let description = match (&job.error, job.state) {
                (Some(error), _) => error.clone(),
                (None, state) => format!(
                    "{} {}",
                    job.kind.as_str(),
                    crate::render::state_words(state)
                ),
            };
            deployments::post(&github, &repo, deployment, state, &description, &links).await?;
            // A rollback that succeeded replaces the deploy it rolled back.
            if job.kind == JobKind::Rollback
                && job.state == JobState::Succeeded
                && let Some(target) = job.rolls_back
                && let Ok(Some(replaced)) = jobs::get(&self.ctx.store.pool, target).await
                && let Some(old) = replaced.github.deployment
            {
                let text = format!("rolled back by #{}", job.id);
                deployments::post(&github, &repo, old, "inactive", &text, &links).await?;
            }
            Ok::<(), crate::github::GitHubError>(())
        }
        .await;
        if let Err(e) = result {
            let note = format!("GitHub deployment not recorded: {}", e.say(&repo, &clock));
            tracing::warn!(job = job.id, "{note}");
            self.github_note(job.id, Some(&note)).await;
        }
    }
}

impl Engine {
    /// A branch head whose checks completed (GitHub's webhook): each env that follows
    /// the branch (`auto_deploy`) gets a deploy of that commit, once, when its required
    /// checks (or all of them) are green and it is still the head. The job passes every
    /// gate a chat deploy does; what stops it is audited.
    pub async fn green_head(
        self: &Arc<Self>,
        head: &crate::github::webhook::GreenCandidate,
    ) -> anyhow::Result<()> {
        let _one_at_a_time = self.auto_deploying.lock().await;
        let config = self.ctx.config.clone();
        for (env_name, env) in &config.environments {
            let Some(auto) = &env.auto_deploy else {
                continue;
            };
            if auto.branch != head.branch {
                continue;
            }
            let app = match &auto.app {
                Some(app) => Some(app.clone()),
                None => config
                    .apps
                    .iter()
                    .find(|(_, a)| {
                        a.repo
                            .as_deref()
                            .is_some_and(|r| r.eq_ignore_ascii_case(&head.repo))
                    })
                    .map(|(name, _)| name.clone()),
            };
            let Some((github, repo)) = self.repo_of(app.as_deref()) else {
                continue;
            };
            if !repo.full.eq_ignore_ascii_case(&head.repo) {
                continue;
            }
            if crate::store::github::deployed_commit(&self.ctx.store.pool, env_name, &head.sha)
                .await?
            {
                continue;
            }
            // A newer push supersedes this one: its own green event deploys it.
            let now_head = refs::resolve(&github, &repo, &head.branch)
                .await
                .map_err(|e| anyhow::anyhow!(e.say(&repo, &head.branch, &self.ctx.config.clock)))?;
            if now_head != head.sha {
                continue;
            }
            let required = env
                .require_checks
                .clone()
                .unwrap_or(RequireChecks::All("all".into()));
            match checks::verdict(&github, &repo, &head.sha, &required).await? {
                Verdict::Green => {}
                Verdict::Pending(_) => continue,
                Verdict::Failed(failed) => {
                    tracing::info!(env = %env_name, sha = %head.sha, "not deploying on green: {}", Verdict::failed_text(&failed));
                    continue;
                }
            }
            if let Err(e) = self.auto_deploy(env_name, env, app, head, &now_head).await {
                let text = match e.downcast_ref::<Refusal>() {
                    Some(refusal) => refusal.render(&self.ctx.config.clock),
                    None => format!("{e:#}"),
                };
                let row = self.ctx.audit_row(
                    &format!("github:{}", head.actor),
                    "github",
                    "auto_deploy.refused",
                    Some(env_name),
                    None,
                    &format!("{} at {}: {text}", head.branch, head.sha),
                );
                crate::store::audit::append_alone(&self.ctx.store.pool, &row).await?;
                tracing::warn!(env = %env_name, "deploy on green did not start: {text}");
            }
        }
        Ok(())
    }

    async fn auto_deploy(
        self: &Arc<Self>,
        env_name: &str,
        env: &EnvConfig,
        app: Option<String>,
        head: &crate::github::webhook::GreenCandidate,
        sha: &str,
    ) -> anyhow::Result<()> {
        let channel = self
            .ctx
            .config
            .announce_channels(env_name)
            .first()
            .cloned()
            .ok_or_else(|| anyhow::anyhow!("`{env_name}` has no announce channel for the card"))?;
        let (platform, channel) = channel
            .split_once(':')
            .map(|(p, c)| (p.to_owned(), c.to_owned()))
            .ok_or_else(|| anyhow::anyhow!("announce channel `{channel}` names no platform"))?;
        let person = crate::chat::Person {
            id: format!("github:{}", head.actor),
            name: format!("{} (GitHub)", head.actor),
        };
        let origin = super::Origin {
            platform,
            channel,
            user: person.clone(),
            reply: None,
            inbox: None,
        };
        // A freeze holds deploys on green as it holds people's; nobody breaks glass here.
        self.freeze_gate(env_name, env, JobKind::Deploy, None)
            .await?;
        let gating = self.incidents.gating(env_name).await?;
        crate::policy::incident_gate(env_name, &head.branch, &gating, None)?;
        let current = jobs::releases(&self.ctx.store.pool, env_name, app.as_deref(), 1).await?;
        let resolved = self
            .resolve_for_request(
                JobKind::Deploy,
                env_name,
                env,
                app.as_deref(),
                &head.branch,
                Some(sha),
                None,
            )
            .await?;
        let spec = super::create::JobSpec {
            kind: JobKind::Deploy,
            env: env_name.to_owned(),
            app,
            git_ref: Some(head.branch.clone()),
            previous_ref: current.first().and_then(|j| j.git_ref.clone()),
            reason: Some(format!(
                "deploy on green: `{}` at `{}` passed its checks",
                head.branch,
                short(sha)
            )),
            approvals_required: env.approvals,
            rolls_back: None,
            restore_of: None,
            hotfix_for: None,
            commit_sha: resolved.commit_sha,
            commit_at: resolved.commit_at,
            change_summary: resolved.change,
            skip_checks: None,
            break_glass: None,
        };
        self.create_job(&origin, spec, &person).await?;
        Ok(())
    }
}
