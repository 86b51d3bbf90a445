//! Read-only answers: `/status`, `/history`, `/backup list`.

use std::fmt::Write as _;

use super::{Engine, Origin};
use crate::render::{bytes, duration, state_icon, subject};
use crate::store::jobs::{self, JobState};
use crate::store::{locks, now_ms};

impl Engine {
    pub(super) async fn status(&self, origin: &Origin, only: Option<&str>) -> anyhow::Result<()> {
        let names: Vec<String> = match only {
            Some(name) => {
                if self.known_env(origin, name).await.is_none() {
                    return Ok(());
                }
                vec![name.to_owned()]
            }
            None => self.config.environments.keys().cloned().collect(),
        };
        let now = now_ms();
        let active = jobs::in_states(
            &self.store.pool,
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
            match jobs::releases(&self.store.pool, name, None, 1)
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
            match locks::get(&self.store.pool, name, now).await? {
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
        self.whisper(origin, out.trim_end().to_owned()).await;
        Ok(())
    }

    pub(super) async fn history(
        &self,
        origin: &Origin,
        env: &str,
        limit: u32,
    ) -> anyhow::Result<()> {
        if self.known_env(origin, env).await.is_none() {
            return Ok(());
        }
        let list = jobs::history(&self.store.pool, env, i64::from(limit)).await?;
        if list.is_empty() {
            self.whisper(origin, format!("`{env}` has no jobs yet."))
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
        }
        self.whisper(origin, out).await;
        Ok(())
    }

    pub(super) async fn backup_list(&self, origin: &Origin, env: &str) -> anyhow::Result<()> {
        if self.known_env(origin, env).await.is_none() {
            return Ok(());
        }
        let list = jobs::backups(&self.store.pool, env, 20).await?;
        if list.is_empty() {
            self.whisper(
                origin,
                format!("`{env}` has no backups yet. `/backup {env}` makes one."),
            )
            .await;
            return Ok(());
        }
        let mut out = format!("*{env}* backups, newest first (restore with `/restore {env} ID`):");
        for job in list {
            if let Some(a) = &job.artifact {
                let _ = write!(
                    out,
                    "\n#{} · {} · {} · sha256 {} · {}",
                    job.id,
                    self.clock(job.finished_at.unwrap_or(job.created_at)),
                    bytes(a.size),
                    &a.sha256[..a.sha256.len().min(12)],
                    a.path
                );
            }
        }
        self.whisper(origin, out).await;
        Ok(())
    }
}
