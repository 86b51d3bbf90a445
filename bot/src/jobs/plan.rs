//! `--dry-run` for the commands that create jobs: what would run, who must approve, and
//! every gate as it stands right now. Nothing is created, locked or posted but the
//! answer, which rides in the acknowledgement where the platform allows.

use std::fmt::Write as _;

use deckhand_commands::IncidentId;

use super::{Engine, Origin};
use crate::config::{EnvConfig, JobKind, StepAction};
use crate::policy;
use crate::refusal::{Act, Refusal, freeze_text, lock_holder_text};
use crate::store::locks;

/// What a job command would ask for.
pub(crate) struct JobAsk<'a> {
    pub kind: JobKind,
    pub act: Act,
    pub env_name: &'a str,
    pub env: &'a EnvConfig,
    /// The ref or subject it would run, as the card names it (`web@v1.4.2`).
    pub what: String,
    /// The commit and change lines, with GitHub.
    pub commit: Option<String>,
    pub change: Option<String>,
    /// The CI gate's line, with GitHub and required checks.
    pub checks: Option<String>,
    /// What the env runs now, for deploys and rollbacks.
    pub previous: Option<String>,
    pub approvals: u32,
    pub break_glass: Option<&'a str>,
    pub hotfix: Option<IncidentId>,
    /// Facts of this kind of job (`rolls back #12`, `restores backup #7`).
    pub notes: Vec<String>,
}

/// The kind of a step, as the config writes it.
fn step_kind(action: &StepAction) -> &'static str {
    match action {
        StepAction::Run(_) => "run",
        StepAction::Http(_) => "http",
        StepAction::Health(_) => "health",
        StepAction::Backup(_) => "backup",
        StepAction::Restore(_) => "restore",
        StepAction::GitHub(_) => "github",
    }
}

impl Engine {
    /// Answers a job command's `--dry-run` with its plan.
    pub(crate) async fn answer_plan(&self, origin: &Origin, ask: JobAsk<'_>) -> anyhow::Result<()> {
        let text = self.job_plan(origin, &ask).await?;
        self.ctx.whisper(origin, text).await;
        Ok(())
    }

    async fn job_plan(&self, origin: &Origin, ask: &JobAsk<'_>) -> anyhow::Result<String> {
        let config = &self.ctx.config;
        let clock = config.clock;
        let commit = ask
            .commit
            .as_deref()
            .map(|sha| format!(" ({})", crate::github::short(sha)))
            .unwrap_or_default();
        let (env, what) = (ask.env_name, &ask.what);
        let mut text = match ask.kind {
            JobKind::Deploy => format!("*Dry run*: deploy `{what}`{commit} to `{env}`"),
            JobKind::Rollback => format!("*Dry run*: roll `{env}` back to `{what}`{commit}"),
            JobKind::Backup => format!("*Dry run*: back up `{env}`{what}"),
            JobKind::Restore => format!("*Dry run*: restore `{env}` from {what}"),
        };
        if let Some(previous) = &ask.previous {
            let _ = write!(text, " (now `{previous}`)");
        }
        text.push(':');
        for note in &ask.notes {
            let _ = write!(text, "\n{note}");
        }
        if let Some(change) = &ask.change {
            for line in change.lines() {
                let _ = write!(text, "\n{line}");
            }
        }
        for (i, step) in ask.env.pipeline(ask.kind).iter().enumerate() {
            let _ = write!(
                text,
                "\n{}. {} ({})",
                i + 1,
                step.name,
                step_kind(&step.action)
            );
        }
        // Who must approve, and that it is never the requester.
        let approvers = if ask.env.approvers.is_empty() {
            "admins".to_owned()
        } else {
            ask.env
                .approvers
                .iter()
                .map(|a| format!("`{a}`"))
                .collect::<Vec<_>>()
                .join(", ")
        };
        let approval = match ask.approvals {
            0 => "No approval needed.".to_owned(),
            n => format!(
                "Needs {n} approval{} from {approvers}; not yours, as the requester.",
                if n == 1 { "" } else { "s" }
            ),
        };
        let _ = write!(text, "\n{approval}");
        // Every gate, as it stands now.
        let mut gates: Vec<String> = Vec::new();
        gates.push(
            match policy::may_deploy(config, ask.env_name, ask.env, &origin.user.id, ask.act) {
                Ok(()) => format!("✅ You may {} `{}`.", ask.act.words(), ask.env_name),
                Err(refusal) => format!("⛔ {}", refusal.render(&clock)),
            },
        );
        let now = crate::store::now_ms();
        gates.push(
            match locks::get(&self.ctx.store.pool, ask.env_name, now).await? {
                Some(lock) => {
                    let job = self.holding_job(&lock).await;
                    format!("⛔ {}", lock_holder_text(&lock, job, now, &clock))
                }
                None => format!("✅ `{}` is not locked.", ask.env_name),
            },
        );
        if super::freeze::frozen_kind(ask.env, ask.kind) {
            let freezes = self.freezes_on(ask.env_name).await?;
            let at = self.now();
            gates.push(match (freezes.holding(), ask.break_glass) {
                (Some(window), Some(reason)) => format!(
                    "🔥 {} — `--break-glass` passes it, loudly: {reason}",
                    crate::render::capitalised(&freeze_text(window, at, &clock))
                ),
                (Some(window), None) => format!(
                    "⛔ {}. `--break-glass REASON…` would pass it.",
                    crate::render::capitalised(&freeze_text(window, at, &clock))
                ),
                (None, Some(_)) => {
                    format!(
                        "⛔ {}",
                        Refusal::NothingToBreak {
                            env: ask.env_name.to_owned()
                        }
                        .render(&clock)
                    )
                }
                (None, None) => match &freezes.next {
                    Some(next) => format!(
                        "✅ No freeze holds `{}` (next: “{}” from {}).",
                        ask.env_name,
                        next.reason,
                        clock.time(next.from)
                    ),
                    None => format!("✅ No freeze holds `{}`.", ask.env_name),
                },
            });
        }
        if ask.kind == JobKind::Deploy {
            let gating = self.incidents.gating(ask.env_name).await?;
            let git_ref = ask.what.rsplit('@').next().unwrap_or(&ask.what);
            gates.push(
                match policy::incident_gate(ask.env_name, git_ref, &gating, ask.hotfix) {
                    Ok(Some(id)) => format!(
                        "✅ INC-{id} gates `{}`; `--hotfix INC-{id}` passes it.",
                        ask.env_name
                    ),
                    Ok(None) => format!("✅ No open incident gates `{}`.", ask.env_name),
                    Err(refusal) => format!("⛔ {}", refusal.render(&clock)),
                },
            );
        }
        if let Some(checks) = &ask.checks {
            gates.push(checks.clone());
        }
        for gate in &gates {
            let _ = write!(text, "\n{gate}");
        }
        let verdict = if gates.iter().any(|g| g.starts_with('⛔')) {
            "It would be refused now (⛔ above)."
        } else if ask.approvals > 0 {
            "It would wait for approval, then run."
        } else if gates.iter().any(|g| g.starts_with('⏳')) {
            "It would wait for its checks, then run."
        } else {
            "It would start now."
        };
        let _ = write!(text, "\n{verdict} Nothing was run, locked or posted.");
        Ok(text)
    }
}
