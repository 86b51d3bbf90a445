//! Runs queued jobs: claims one with a lease, runs its steps in order with the card
//! edited after each, then ends it: lock freed (or handed to an automatic rollback),
//! outcome announced.

use std::sync::Arc;
use std::time::Duration;

use tokio::time::Instant;
use tokio_util::sync::CancellationToken;
use tracing::Instrument as _;

use super::create::JobSpec;
use super::{Engine, deckhand_person};
use crate::config::JobKind;
use crate::refusal::Refusal;
use crate::render::{Message, duration, subject};
use crate::steps::{self, DEFAULT_STEP_TIMEOUT, StepContext};
use crate::store::jobs::{self, Job, JobState};
use crate::store::steps::{self as step_rows, StepState};
use crate::store::{locks, now_ms};

impl Engine {
    /// The claim loop: one slot per concurrent job; sleeps until woken or polled.
    pub(crate) async fn run_queue(self: Arc<Self>) {
        loop {
            if self.shutdown.is_cancelled() {
                return;
            }
            let Ok(slot) = self.slots.clone().acquire_owned().await else {
                return;
            };
            let now = now_ms();
            let lease_until = now + self.settings.lease.as_millis() as i64;
            match self.claim(lease_until, now).await {
                Ok(Some(job)) => {
                    let engine = self.clone();
                    let span = tracing::info_span!("job", job.id = job.id, env = %job.env, kind = job.kind.as_str());
                    tokio::spawn(
                        async move {
                            engine.run_job(job).await;
                            drop(slot);
                        }
                        .instrument(span),
                    );
                    continue;
                }
                Ok(None) => drop(slot),
                Err(e) => {
                    drop(slot);
                    tracing::error!(error = %e, "cannot claim a job");
                }
            }
            tokio::select! {
                _ = self.wake.notified() => {}
                _ = tokio::time::sleep(self.settings.poll) => {}
                _ = self.shutdown.cancelled() => return,
            }
        }
    }

    /// Claims the next queued job and writes its `job.running` audit row in one
    /// transaction: a job never runs without its record. The claim is the last door:
    /// the job's binding is recomputed (a changed pipeline voids its approvals) and its
    /// gates are checked again (a gate that closed after approval holds it).
    async fn claim(&self, lease_until: i64, now: i64) -> anyhow::Result<Option<Job>> {
        let mut tx = self.ctx.store.pool.begin().await?;
        let claimed = jobs::claim_next(
            &mut *tx,
            self.ctx.store.dialect,
            &self.instance,
            lease_until,
            now,
        )
        .await?;
        let Some(job) = claimed else {
            tx.commit().await?;
            return Ok(None);
        };
        let bound = super::binding::now_for(&self.ctx.config, &job);
        if job.approvals_required > 0 && bound != job.params_hash {
            // Not claimed after all: back to approval, in a transaction of its own.
            tx.rollback().await?;
            self.void_approvals(&job, &bound, now).await?;
            return Ok(None);
        }
        if let Err(error) = self.gates(&job, &mut tx).await {
            // A gate that cannot be read fails the claim: the job stays queued.
            let gate = error.downcast::<Refusal>()?;
            self.hold(tx, &job, &gate, now).await?;
            return Ok(None);
        }
        if job.held.is_some() {
            jobs::unhold(&mut *tx, job.id).await?;
        }
        let audit = self.ctx.audit_row(
            &self.instance,
            "deckhand",
            "job.running",
            Some(&job.env),
            Some(job.id),
            "",
        );
        crate::store::audit::append(&mut tx, &audit).await?;
        tx.commit().await?;
        Ok(Some(Job { held: None, ..job }))
    }

    /// Puts a just-claimed job back in the queue, held by `gate`, in the claim's
    /// transaction: audited and its card redrawn the first time, looked at again after
    /// a poll, and expired once the hold outlasts the env's approval window.
    async fn hold(
        &self,
        mut tx: sqlx::Transaction<'_, sqlx::Any>,
        job: &Job,
        gate: &Refusal,
        now: i64,
    ) -> anyhow::Result<()> {
        let reason = hold_reason(gate, &self.ctx.config.clock);
        let first = job.held.as_ref().is_none_or(|h| h.reason != reason);
        let recheck = now + self.settings.poll.as_millis() as i64;
        jobs::hold(&mut *tx, job.id, &reason, now, recheck).await?;
        if first {
            let audit = self.ctx.audit_row(
                "deckhand",
                "deckhand",
                "job.held",
                Some(&job.env),
                Some(job.id),
                &reason,
            );
            crate::store::audit::append(&mut tx, &audit).await?;
        }
        tx.commit().await?;
        let since = job.held.as_ref().and_then(|h| h.since).unwrap_or(now);
        let ttl = self.ctx.config.approval_ttl(&job.env).as_millis() as i64;
        if now - since <= ttl {
            if first {
                self.refresh_card(job.id).await;
            }
            return Ok(());
        }
        // The gate outlived the approval: what was approved is stale news.
        let error = format!(
            "expired: held longer than its approval window ({}) — {}; ask for it again once the gate opens",
            duration(ttl),
            reason.trim_start_matches("held: ")
        );
        let audit = self.ctx.audit_row(
            "deckhand",
            "deckhand",
            "job.expired",
            Some(&job.env),
            Some(job.id),
            &error,
        );
        let held = Job {
            state: JobState::Queued,
            ..job.clone()
        };
        self.end(
            &held,
            &[JobState::Queued],
            JobState::Expired,
            Some(&error),
            &audit,
        )
        .await?;
        Ok(())
    }

    /// The variables a job's steps see. The only way user values reach a step.
    fn job_vars(&self, job: &Job, backup: Option<&jobs::Artifact>) -> Vec<(String, String)> {
        let mut vars = vec![
            ("DECKHAND_JOB_ID".to_owned(), job.id.to_string()),
            ("DECKHAND_JOB_KIND".to_owned(), job.kind.as_str().to_owned()),
            ("DECKHAND_ENV".to_owned(), job.env.clone()),
            (
                "DECKHAND_APP".to_owned(),
                job.app.clone().unwrap_or_default(),
            ),
            (
                "DECKHAND_REF".to_owned(),
                job.git_ref.clone().unwrap_or_default(),
            ),
            (
                "DECKHAND_PREVIOUS_REF".to_owned(),
                job.previous_ref.clone().unwrap_or_default(),
            ),
            ("DECKHAND_REQUESTER".to_owned(), job.requester.clone()),
        ];
        if let Some(sha) = &job.github.commit_sha {
            vars.push(("DECKHAND_COMMIT".to_owned(), sha.clone()));
        }
        if let Some(target) = job.rolls_back {
            vars.push(("DECKHAND_ROLLS_BACK".to_owned(), target.to_string()));
        }
        if let Some(artifact) = backup {
            vars.push(("DECKHAND_BACKUP_PATH".to_owned(), artifact.path.clone()));
            vars.push(("DECKHAND_BACKUP_SHA256".to_owned(), artifact.sha256.clone()));
        }
        vars
    }

    async fn run_job(self: Arc<Self>, job: Job) {
        let token = CancellationToken::new();
        if let Ok(mut running) = self.running.lock() {
            running.insert(job.id, token.clone());
        }
        let fenced = Arc::new(std::sync::atomic::AtomicBool::new(false));
        let heartbeat = tokio::spawn(
            self.clone()
                .heartbeat(job.id, token.clone(), fenced.clone()),
        );
        // GitHub's door (a moved branch, pending checks) is outside the claim's
        // transaction: it asks GitHub, and may wait for checks for many minutes.
        let preflight = self.github_preflight(&job, &token).await;
        let ending = match preflight {
            super::github::Preflight::Voided => {
                heartbeat.abort();
                if let Ok(mut running) = self.running.lock() {
                    running.remove(&job.id);
                }
                return;
            }
            super::github::Preflight::Fail(error) => {
                Ending::Failed(self.ctx.redactor().redact(&error))
            }
            super::github::Preflight::Cancelled => Ending::Cancelled,
            super::github::Preflight::Go => {
                self.job_started(&job).await;
                self.deployment_moved(job.id).await;
                match self.run_steps(&job, &token, &fenced).await {
                    Ok(ending) => ending,
                    Err(e) => Ending::Failed(
                        self.ctx
                            .redactor()
                            .redact(&format!("deckhand could not run the job: {e:#}")),
                    ),
                }
            }
        };
        heartbeat.abort();
        if fenced.load(std::sync::atomic::Ordering::SeqCst) {
            tracing::error!(
                job = job.id,
                "fenced: the job's end is left to the holder of its lease"
            );
            if let Ok(mut running) = self.running.lock() {
                running.remove(&job.id);
            }
            return;
        }
        let ending = match ending {
            Ending::Cancelled if self.is_stopping() => Ending::Stopped,
            other => other,
        };
        if let Err(e) = self.end_job(&job, ending).await {
            tracing::error!(error = %format!("{e:#}"), "cannot end the job cleanly");
        }
        if let Ok(mut running) = self.running.lock() {
            running.remove(&job.id);
        }
    }

    /// Keeps the lease alive and picks up cancels made by other replicas.
    /// Keeps the job's lease alive. The lease is a fence: when it cannot be renewed
    /// before it runs out (the database locked or gone, or another process took the
    /// job), the step is stopped and this runner writes nothing more for the job; the
    /// holder of the job, or the sweeper once the lease has lapsed, records its end.
    async fn heartbeat(
        self: Arc<Self>,
        job_id: i64,
        token: CancellationToken,
        fenced: Arc<std::sync::atomic::AtomicBool>,
    ) {
        let lease = self.settings.lease.as_millis() as i64;
        let mut held_until = now_ms() + lease;
        let fence = |why: &str| {
            tracing::error!(
                job = job_id,
                "{why}; stopping the step and writing nothing more"
            );
            fenced.store(true, std::sync::atomic::Ordering::SeqCst);
            token.cancel();
        };
        loop {
            tokio::time::sleep(self.settings.heartbeat).await;
            let until = now_ms() + lease;
            // A renewal that cannot finish before the lease lapses is as good as failed.
            let left = Duration::from_millis((held_until - now_ms()).max(0) as u64);
            let renewed = tokio::time::timeout(
                left,
                jobs::heartbeat(&self.ctx.store.pool, job_id, &self.instance, until),
            )
            .await;
            match renewed {
                Ok(Ok(Some(cancel))) => {
                    held_until = until;
                    if cancel {
                        token.cancel();
                    }
                }
                Ok(Ok(None)) => return fence("lost the job's lease to another process"),
                Ok(Err(e)) if now_ms() < held_until => {
                    tracing::warn!(job = job_id, error = %e, "heartbeat failed; will retry");
                }
                Ok(Err(_)) | Err(_) => return fence("could not renew the job's lease in time"),
            }
        }
    }

    async fn run_steps(
        self: &Arc<Self>,
        job: &Job,
        token: &CancellationToken,
        fenced: &std::sync::atomic::AtomicBool,
    ) -> anyhow::Result<Ending> {
        let Some(env) = self.ctx.config.env(&job.env) else {
            return Ok(Ending::Failed(format!(
                "environment `{}` is no longer configured",
                job.env
            )));
        };
        let backup = match job.restore_of {
            Some(id) => jobs::get(&self.ctx.store.pool, id)
                .await?
                .and_then(|b| b.artifact),
            None => None,
        };
        let vars = self.job_vars(job, backup.as_ref());
        let job_deadline = Instant::now() + env.job_timeout();
        let repo = self.repo_of(job.app.as_deref());
        // A step's sub-lines (a workflow run's jobs) redraw the card as they change.
        let progress = Arc::new(tokio::sync::Notify::new());
        let redraws = {
            let progress = progress.clone();
            let engine = self.clone();
            let job_id = job.id;
            tokio::spawn(async move {
                loop {
                    progress.notified().await;
                    engine.refresh_card(job_id).await;
                }
            })
        };
        let _redraws = AbortOnDrop(redraws);
        // The card is edited when a step starts (showing the one before it done) and
        // when the job ends: each change of the checklist once.
        for (idx, step) in env.pipeline(job.kind).iter().enumerate() {
            if token.is_cancelled() {
                return Ok(Ending::Cancelled);
            }
            let idx = idx as i64;
            step_rows::start(&self.ctx.store.pool, job.id, idx, now_ms()).await?;
            self.refresh_card(job.id).await;
            let timeout = step
                .timeout
                .map(|t| t.as_std())
                .unwrap_or(DEFAULT_STEP_TIMEOUT);
            let ctx = StepContext {
                vars: vars.clone(),
                redactor: self.ctx.redactor(),
                cancel: token.clone(),
                deadline: (Instant::now() + timeout).min(job_deadline),
                http: &self.http,
                job_id: job.id,
                env: &job.env,
                restore_from: backup.as_ref(),
                grace: self.settings.grace,
                store: &self.ctx.store,
                step_idx: idx,
                github: repo.as_ref().map(|(github, _)| github.as_ref()),
                repo: repo.as_ref().map(|(_, repo)| repo.clone()),
                progress: progress.clone(),
                clock: self.ctx.config.clock,
            };
            let outcome = steps::execute(step, &ctx).await;
            // Fenced while the step ran: it was stopped, and its end is not ours to write.
            if fenced.load(std::sync::atomic::Ordering::SeqCst) {
                return Ok(Ending::Cancelled);
            }
            if let Some(artifact) = &outcome.artifact {
                jobs::set_artifact(&self.ctx.store.pool, job.id, artifact).await?;
            }
            let state = match (outcome.ok(), step.continue_on_error && !outcome.cancelled) {
                (true, _) => StepState::Succeeded,
                (false, true) => StepState::FailedIgnored,
                (false, false) => StepState::Failed,
            };
            step_rows::finish(
                &self.ctx.store.pool,
                job.id,
                idx,
                state,
                &outcome.tail.text(),
                outcome.error.as_deref(),
                now_ms(),
            )
            .await?;
            if outcome.cancelled {
                return Ok(Ending::Cancelled);
            }
            if state == StepState::Failed {
                if Instant::now() >= job_deadline {
                    return Ok(Ending::Failed(format!(
                        "the job's timeout of {} was reached during step `{}`",
                        duration(env.job_timeout().as_millis() as i64),
                        step.name
                    )));
                }
                let error = outcome.error.unwrap_or_default();
                return Ok(Ending::Failed(format!(
                    "step `{}` failed: {error}",
                    step.name
                )));
            }
        }
        Ok(Ending::Succeeded)
    }

    async fn end_job(self: &Arc<Self>, job: &Job, ending: Ending) -> anyhow::Result<()> {
        let (state, error) = match &ending {
            Ending::Succeeded => (JobState::Succeeded, None),
            Ending::Failed(e) => (JobState::Failed, Some(e.as_str())),
            Ending::Cancelled => (JobState::Cancelled, Some("cancelled")),
            Ending::Stopped => (
                JobState::Interrupted,
                Some("interrupted: deckhand was stopped while the job ran; its step was stopped"),
            ),
        };
        let rollback = state == JobState::Failed
            && job.kind == JobKind::Deploy
            && self
                .ctx
                .config
                .env(&job.env)
                .is_some_and(|e| e.rollback_on_failure);
        // A failed deploy ends and its rollback is queued holding the env, in one
        // transaction: there is no moment at which a crash leaves the lock on an ended job.
        let plan = match rollback {
            true => self.rollback_plan(job).await?,
            false => None,
        };
        let audit = self.ctx.audit_row(
            &self.instance,
            "deckhand",
            &format!("job.{}", state.as_str()),
            Some(&job.env),
            Some(job.id),
            error.unwrap_or(""),
        );
        let successor = match &plan {
            Some((spec, _)) => match self.fail_into(job, error, spec, &audit).await {
                Ok(id) => id,
                Err(e) => {
                    tracing::error!(error = %format!("{e:#}"), "the automatic rollback could not be queued");
                    self.end_held(job, state, error, &audit).await?;
                    None
                }
            },
            None => {
                self.end_held(job, state, error, &audit).await?;
                None
            }
        };
        let ended = jobs::get(&self.ctx.store.pool, job.id)
            .await?
            .unwrap_or_else(|| job.clone());
        self.refresh_card(job.id).await;
        self.incidents
            .note_on_open(
                &ended.requester_name,
                "job",
                &format!(
                    "{} #{} of `{}` to {} {}",
                    ended.kind.as_str(),
                    ended.id,
                    subject(&ended),
                    ended.env,
                    ended.state.as_str()
                ),
            )
            .await;
        // The failure is announced before its rollback starts, so the story reads in order.
        if let Err(e) = self.announce_outcome(&ended).await {
            tracing::error!(error = %format!("{e:#}"), "could not announce the job's outcome");
        }
        if rollback {
            self.tell_rollback(&ended, plan.as_ref().map(|(_, good)| good), successor)
                .await?;
        }
        Ok(())
    }

    /// The rollback of a failed deploy: to the env's last good deploy, if it has one.
    async fn rollback_plan(&self, failed: &Job) -> anyhow::Result<Option<(JobSpec, Job)>> {
        let releases =
            jobs::releases(&self.ctx.store.pool, &failed.env, failed.app.as_deref(), 1).await?;
        let Some(good) = releases.into_iter().next().filter(|j| j.git_ref.is_some()) else {
            return Ok(None);
        };
        let spec = JobSpec {
            kind: JobKind::Rollback,
            env: failed.env.clone(),
            app: failed.app.clone(),
            git_ref: good.git_ref.clone(),
            previous_ref: failed.git_ref.clone(),
            reason: Some(format!("automatic rollback after #{} failed", failed.id)),
            approvals_required: 0,
            rolls_back: Some(failed.id),
            restore_of: None,
            hotfix_for: None,
            commit_sha: good.github.commit_sha.clone(),
            commit_at: None,
            change_summary: None,
            skip_checks: None,
            break_glass: None,
        };
        Ok(Some((spec, good)))
    }

    /// Tells the channel what became of a failed deploy's rollback, and starts it.
    async fn tell_rollback(
        &self,
        failed: &Job,
        good: Option<&Job>,
        successor: Option<i64>,
    ) -> anyhow::Result<()> {
        let text = match (good, successor) {
            (None, _) => format!(
                "#{} failed and `{}` has no earlier successful deploy to roll back to. Check it by hand.",
                failed.id, failed.env
            ),
            (Some(good), Some(id)) => format!(
                "↩️ #{} failed; rolling `{}` back to `{}` (the last good deploy, #{}) as job #{id}.",
                failed.id,
                failed.env,
                good.git_ref.as_deref().unwrap_or_default(),
                good.id
            ),
            (Some(_), None) => format!(
                "#{} failed and its automatic rollback could not start; `{}` is unlocked. Roll back by hand with `/rollback {}`.",
                failed.id, failed.env, failed.env
            ),
        };
        self.ctx
            .chat
            .post(&failed.platform, &failed.channel, &Message::text(text))
            .await;
        if let Some(id) = successor {
            // The failed deploy ended inside the rollback's transaction.
            self.deployment_moved(failed.id).await;
            if let Some(job) = jobs::get(&self.ctx.store.pool, id).await? {
                self.post_card(&job).await?;
            }
            self.deployment_moved(id).await;
            self.wake.notify_one();
        }
        Ok(())
    }

    /// Fails a running deploy and queues `spec` (its rollback) holding the env's lock, in
    /// one transaction. `None` when the job was no longer running.
    async fn fail_into(
        &self,
        from: &Job,
        error: Option<&str>,
        spec: &JobSpec,
        audit: &crate::store::audit::AuditEntry,
    ) -> anyhow::Result<Option<i64>> {
        let mut tx = self.ctx.store.pool.begin().await?;
        let now = now_ms();
        if !jobs::transition_held(
            &mut *tx,
            from.id,
            &self.instance,
            JobState::Failed,
            error,
            now,
        )
        .await?
        {
            tx.rollback().await?;
            return Ok(None);
        }
        step_rows::skip_rest(&mut *tx, from.id).await?;
        crate::store::audit::append(&mut tx, audit).await?;
        let id = self.queue_successor(&mut tx, from, spec, now).await?;
        tx.commit().await?;
        Ok(Some(id))
    }

    /// Creates a queued follow-up job that takes over `from`'s env lock, in `tx`.
    async fn queue_successor(
        &self,
        tx: &mut sqlx::Transaction<'static, sqlx::Any>,
        from: &Job,
        spec: &JobSpec,
        now: i64,
    ) -> anyhow::Result<i64> {
        let env = self
            .ctx
            .config
            .env(&spec.env)
            .ok_or_else(|| anyhow::anyhow!("env {} is not configured", spec.env))?;
        let names = env.step_names(spec.kind);
        let me = deckhand_person();
        let new = jobs::NewJob {
            kind: spec.kind,
            env: spec.env.clone(),
            app: spec.app.clone(),
            git_ref: spec.git_ref.clone(),
            previous_ref: spec.previous_ref.clone(),
            requester: me.id.clone(),
            requester_name: me.name.clone(),
            platform: from.platform.clone(),
            channel: from.channel.clone(),
            state: JobState::Queued,
            reason: spec.reason.clone(),
            params_hash: String::new(),
            approvals_required: 0,
            approval_expires_at: None,
            rolls_back: spec.rolls_back,
            restore_of: None,
            hotfix_for: None,
            commit_sha: spec.commit_sha.clone(),
            commit_at: None,
            change_summary: spec.change_summary.clone(),
            skip_checks: None,
            break_glass: None,
        };
        let id = jobs::insert(&mut **tx, &new, now).await?;
        crate::store::steps::create(tx, id, &names).await?;
        if !locks::transfer(&mut **tx, &spec.env, from.id, id, now).await? {
            anyhow::bail!("#{} no longer held {}'s lock", from.id, spec.env);
        }
        crate::store::audit::append(
            tx,
            &crate::store::audit::AuditEntry {
                at: now,
                actor: me.id,
                platform: "deckhand".into(),
                action: "job.queued".into(),
                env: Some(spec.env.clone()),
                job_id: Some(id),
                detail: format!(
                    "automatic rollback of #{} to {}",
                    from.id,
                    spec.git_ref.as_deref().unwrap_or("-")
                ),
                mark: None,
            },
        )
        .await?;
        Ok(id)
    }
}

/// How a run ended.
enum Ending {
    Succeeded,
    Failed(String),
    Cancelled,
    /// Stopped by a shutdown (SIGTERM) after its grace.
    Stopped,
}

/// What a held job's card says: which gate holds it and when it will run.
fn hold_reason(gate: &Refusal, clock: &crate::clock::Clock) -> String {
    match gate {
        Refusal::IncidentGate { incidents, .. } => format!(
            "held: {} is open; it runs once resolved",
            crate::refusal::gating_names(incidents)
        ),
        // Stable wording (no "ends in"), so a hold is audited once, not at every poll.
        Refusal::Frozen { env, window, .. } => format!(
            "held: `{env}` is frozen for “{}” until {}; it runs once the freeze ends",
            window.reason,
            clock.time(window.until)
        ),
        other => format!("held: {}", other.render(clock)),
    }
}

/// Aborts a helper task when the work it serves ends, however it ends.
struct AbortOnDrop(tokio::task::JoinHandle<()>);

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        self.0.abort();
    }
}
