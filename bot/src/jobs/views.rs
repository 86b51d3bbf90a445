//! Read-only answers: `/status`, `/history`, `/backup list`, and the reads behind the
//! REST API.

use std::fmt::Write as _;

use super::{Engine, Origin};
use crate::policy;
use crate::render::{bytes, duration, state_icon, subject};
use crate::store::jobs::{self, Job, JobState};
use crate::store::locks::EnvLock;
use crate::store::steps::{self, Step};
use crate::store::{locks, now_ms};

impl Engine {
    pub(crate) async fn status(&self, origin: &Origin, only: Option<&str>) -> anyhow::Result<()> {
        let names: Vec<String> = match only {
            Some(name) => {
                policy::known_env(&self.ctx.config, name)?;
                vec![name.to_owned()]
            }
            None => self.ctx.config.environments.keys().cloned().collect(),
        };
        let now = now_ms();
        let active = jobs::in_states(
            &self.ctx.store.pool,
            &[
                JobState::AwaitingApproval,
                JobState::Queued,
                JobState::Running,
            ],
        )
        .await?;
        let mut out = String::new();
        for name in &names {
            let _ = write!(out, "*{name}*");
            match jobs::releases(&self.ctx.store.pool, name, None, 1)
                .await?
                .first()
            {
                Some(job) => {
                    let _ = write!(
                        out,
                        " runs `{}` (#{}, {} ago by {})",
                        subject(job),
                        job.id,
                        duration(now - job.finished_at.unwrap_or(job.created_at)),
                        job.requester_name
                    );
                }
                None => out.push_str(" has no successful deploy yet"),
            }
            match locks::get(&self.ctx.store.pool, name, now).await? {
                Some(lock) if lock.job_id.is_none() => {
                    let _ = write!(
                        out,
                        "\n    🔒 locked by {} for {}{}",
                        lock.holder_name,
                        duration(now - lock.since),
                        lock.reason.map(|r| format!(": {r}")).unwrap_or_default()
                    );
                    if let Some(at) = lock.expires_at {
                        let _ = write!(out, " (until {})", self.clock(at));
                    }
                }
                Some(_) | None => {}
            }
            let freezes = self.freezes_on(name).await?;
            let at = self.now();
            if let Some(window) = freezes.holding() {
                let _ = write!(
                    out,
                    "\n    ❄️ {}",
                    crate::refusal::freeze_text(window, at, &self.ctx.config.clock)
                );
            }
            if let Some(next) = &freezes.next {
                let _ = write!(
                    out,
                    "\n    next freeze: “{}” from {} until {}",
                    next.reason,
                    self.clock(next.from),
                    self.clock(next.until)
                );
            }
            for job in active.iter().filter(|j| &j.env == name) {
                let _ = write!(
                    out,
                    "\n    {} #{} {} `{}` by {} — {}",
                    state_icon(job.state),
                    job.id,
                    job.kind.as_str(),
                    subject(job),
                    job.requester_name,
                    crate::render::state_words(job.state)
                );
            }
            out.push('\n');
        }
        self.ctx.whisper(origin, out.trim_end().to_owned()).await;
        Ok(())
    }

    pub(crate) async fn history(
        &self,
        origin: &Origin,
        env: &str,
        limit: u32,
    ) -> anyhow::Result<()> {
        policy::known_env(&self.ctx.config, env)?;
        let list = jobs::history(&self.ctx.store.pool, env, i64::from(limit)).await?;
        if list.is_empty() {
            self.ctx
                .whisper(origin, format!("`{env}` has no jobs yet."))
                .await;
            return Ok(());
        }
        let mut out = format!("*{env}*, last {} job(s):", list.len());
        for job in list {
            let took = match (job.started_at, job.finished_at) {
                (Some(s), Some(f)) => format!(" · {}", duration(f - s)),
                _ => String::new(),
            };
            let _ = write!(
                out,
                "\n{} #{} {} `{}` by {} · {}{took} · {}",
                state_icon(job.state),
                job.id,
                job.kind.as_str(),
                subject(&job),
                job.requester_name,
                self.clock(job.created_at),
                crate::render::state_words(job.state)
            );
            if let Some(why) = &job.break_glass {
                let _ = write!(out, " · 🔥 break-glass: {why}");
            }
        }
        self.ctx.whisper(origin, out).await;
        Ok(())
    }

    pub(crate) async fn backup_list(&self, origin: &Origin, env: &str) -> anyhow::Result<()> {
        policy::known_env(&self.ctx.config, env)?;
        let list = jobs::backups(&self.ctx.store.pool, env, 20).await?;
        if list.is_empty() {
            self.ctx
                .whisper(
                    origin,
                    format!("`{env}` has no backups yet. `/backup {env}` makes one."),
                )
                .await;
            return Ok(());
        }
        let mut out = format!("*{env}* backups, newest first (restore with `/restore {env} ID`):");
        let mut listed = 0;
        let mut unreachable = Vec::new();
        for job in list {
            let Some(a) = &job.artifact else { continue };
            // Only what this replica could restore (pruned ones are not listed at all): a
            // file gone from here is named below.
            if let Some(why) = super::commands::unreadable(a).await {
                unreachable.push(format!("#{} `{}` {why}", job.id, a.path));
                continue;
            }
            listed += 1;
            let taken_by = match job.kind {
                crate::config::JobKind::Backup => String::new(),
                kind => format!(
                    " · taken by {} #{}{}",
                    kind.as_str(),
                    job.id,
                    job.git_ref
                        .as_deref()
                        .map(|r| format!(" of `{r}`"))
                        .unwrap_or_default()
                ),
            };
            let _ = write!(
                out,
                "\n#{} · {} · {} · sha256 {} · {}{taken_by}",
                job.id,
                self.clock(job.finished_at.unwrap_or(job.created_at)),
                bytes(a.size),
                &a.sha256[..a.sha256.len().min(12)],
                a.path
            );
        }
        if listed == 0 {
            out = format!(
                "`{env}` has no backup this replica can restore. `/backup {env}` makes one."
            );
        }
        if !unreachable.is_empty() {
            let _ = write!(
                out,
                "\n⚠️ {} recorded backup(s) cannot be restored from here: {}",
                unreachable.len(),
                unreachable.join("; ")
            );
        }
        self.ctx.whisper(origin, out).await;
        Ok(())
    }
}

/// What runs in an env now: its current release and whoever holds it.
#[derive(Debug, Clone)]
pub struct EnvView {
    pub name: String,
    pub current: Option<Job>,
    pub lock: Option<EnvLock>,
}

/// Reads for the REST API, so it never touches the database itself.
impl Engine {
    /// The newest jobs, of one env or of all, newest first.
    pub async fn recent_jobs(&self, env: Option<String>, limit: i64) -> anyhow::Result<Vec<Job>> {
        let envs: Vec<String> = match env {
            Some(env) => vec![env],
            None => self.ctx.config.environments.keys().cloned().collect(),
        };
        let mut list = Vec::new();
        for env in envs {
            list.extend(jobs::history(&self.ctx.store.pool, &env, limit).await?);
        }
        list.sort_by_key(|job| std::cmp::Reverse(job.id));
        list.truncate(usize::try_from(limit).unwrap_or(0));
        Ok(list)
    }

    /// A job and its checklist.
    pub async fn job_with_steps(&self, id: i64) -> anyhow::Result<Option<(Job, Vec<Step>)>> {
        let Some(job) = jobs::get(&self.ctx.store.pool, id).await? else {
            return Ok(None);
        };
        let checklist = steps::list(&self.ctx.store.pool, id).await?;
        Ok(Some((job, checklist)))
    }

    /// Every configured env with its current release and lock.
    pub async fn environments(&self) -> anyhow::Result<Vec<EnvView>> {
        let now = now_ms();
        let mut out = Vec::new();
        for name in self.ctx.config.environments.keys() {
            let current = jobs::releases(&self.ctx.store.pool, name, None, 1)
                .await?
                .into_iter()
                .next();
            let lock = locks::get(&self.ctx.store.pool, name, now).await?;
            out.push(EnvView {
                name: name.clone(),
                current,
                lock,
            });
        }
        Ok(out)
    }
}
