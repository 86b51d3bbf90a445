//! Secret rotation: the registry (config, chat, `.env.example` import), `/secrets`, and
//! reminders on a cron schedule with escalation tiers, sent once per fire time.

pub mod due;

use std::str::FromStr as _;
use std::sync::Arc;

use deckhand_commands::{Person as Named, SecretsCommand};

use crate::chat::Origin;
use crate::ctx::Ctx;
use crate::refusal::Refusal;
use crate::render::{Message, ReminderCard, mention_name};
use crate::store::messages::Subject;
use crate::store::now_ms;
use crate::store::secrets::{self, NewSecret, Secret};
use due::{DAY_MS, Status, Tier, Tiers};

/// The kinds of scheduled run, each with its own fire times.
const REMINDERS: &str = "reminders";
const DIGEST: &str = "digest";
const DEFAULT_DIGEST: &str = "0 0 9 * * Mon";

/// The secret registry and its reminders.
pub struct Secrets {
    ctx: Arc<Ctx>,
}

impl Secrets {
    pub fn new(ctx: Arc<Ctx>) -> Secrets {
        Secrets { ctx }
    }

    pub(crate) fn tiers(&self) -> Tiers {
        let mut tiers = Tiers::default();
        if let Some(r) = &self.ctx.config.reminders {
            if let Some(days) = r.warn_days {
                tiers.warn_days = i64::from(days);
            }
            if let Some(days) = r.escalate_after_days {
                tiers.escalate_after_days = i64::from(days);
            }
        }
        tiers
    }

    fn date(&self, ms: i64) -> String {
        self.ctx.config.clock.date(ms)
    }

    /// Registers the config's `[[secrets]]` and brings known ones up to date.
    pub async fn sync_config(&self) -> anyhow::Result<()> {
        for secret in &self.ctx.config.secrets {
            let new = NewSecret {
                name: secret.name.clone(),
                env: secret.env.clone(),
                owner: secret.owner.clone(),
                every_secs: secret.every.map(|e| e.as_secs() as i64),
                last_rotated_at: secret
                    .last_rotated
                    .and_then(|d| d.and_hms_opt(0, 0, 0))
                    .map(|t| t.and_utc().timestamp_millis()),
                runbook: secret.runbook.clone(),
                provider_note: secret.provider_note.clone(),
                source: "config".into(),
            };
            if !secrets::insert(&self.ctx.store.pool, &new, now_ms()).await? {
                secrets::sync_from_config(&self.ctx.store.pool, &new).await?;
            }
        }
        Ok(())
    }

    /// One line about a secret, for lists and reminders.
    fn secret_line(&self, secret: &Secret, status: &Status) -> String {
        let mut line = format!(
            "`{}` · {} · owner {}",
            secret.name,
            secret.env,
            mention_name(&secret.owner)
        );
        match secret.last_rotated_at {
            Some(at) => line.push_str(&format!(" · rotated {}", self.date(at))),
            None => line.push_str(" · never rotated"),
        }
        if let Some(by) = &secret.last_rotated_by {
            line.push_str(&format!(" by {by}"));
        }
        match (status.due_at, status.days_left) {
            (Some(due), Some(days)) if days >= 0 => {
                line.push_str(&format!(" · due {} ({days} days left)", self.date(due)))
            }
            (Some(due), Some(days)) => line.push_str(&format!(
                " · due {} (**{} days overdue**)",
                self.date(due),
                -days
            )),
            _ => line.push_str(" · no rotation interval"),
        }
        line
    }

    pub async fn command(&self, origin: &Origin, command: SecretsCommand) -> anyhow::Result<()> {
        match command {
            SecretsCommand::List { env } => self.list(origin, env).await,
            SecretsCommand::Due => self.due_soon(origin).await,
            SecretsCommand::Rotated { name, env } => self.rotated(origin, name, env).await,
            SecretsCommand::Add {
                name,
                env,
                every,
                owner,
                runbook,
            } => {
                let new = NewSecret {
                    owner: self.owner_ref(origin, &owner),
                    name,
                    env,
                    every_secs: Some(every.as_secs() as i64),
                    last_rotated_at: None,
                    runbook,
                    provider_note: None,
                    source: "chat".into(),
                };
                self.add(origin, new, every).await
            }
        }
    }

    /// `/secrets list [ENV]`.
    async fn list(&self, origin: &Origin, env: Option<String>) -> anyhow::Result<()> {
        let (now, tiers) = (now_ms(), self.tiers());
        let all = secrets::all(&self.ctx.store.pool).await?;
        let lines: Vec<String> = all
            .iter()
            .filter(|s| env.as_ref().is_none_or(|e| &s.env == e))
            .map(|s| self.secret_line(s, &due::status(s, now, &tiers)))
            .collect();
        let text = if lines.is_empty() {
            "No secrets are tracked yet. Add one with `/secrets add NAME ENV every=90d owner=@someone`.".to_owned()
        } else {
            format!("*Tracked secrets*\n{}", lines.join("\n"))
        };
        self.ctx.whisper(origin, text).await;
        Ok(())
    }

    /// `/secrets due`.
    async fn due_soon(&self, origin: &Origin) -> anyhow::Result<()> {
        let (now, tiers) = (now_ms(), self.tiers());
        let all = secrets::all(&self.ctx.store.pool).await?;
        let due = due::plan(&all, now, &tiers);
        let text = if due.is_empty() {
            format!("Nothing is due in the next {} days. 🎉", tiers.warn_days)
        } else {
            let lines: Vec<String> = due.iter().map(|(s, st)| self.secret_line(s, st)).collect();
            format!("*Due or overdue*\n{}", lines.join("\n"))
        };
        self.ctx.whisper(origin, text).await;
        Ok(())
    }

    /// `/secrets rotated NAME [ENV]`.
    async fn rotated(
        &self,
        origin: &Origin,
        name: String,
        env: Option<String>,
    ) -> anyhow::Result<()> {
        let found = secrets::by_name(&self.ctx.store.pool, &name).await?;
        let matching: Vec<&Secret> = found
            .iter()
            .filter(|s| env.as_ref().is_none_or(|e| &s.env == e))
            .collect();
        match matching.as_slice() {
            [] => Err(Refusal::NoSuchSecret { name, env }.into()),
            [secret] => {
                crate::policy::may_record_rotation(&self.ctx.config, secret, &origin.user.id)?;
                self.record_rotation(origin, secret).await
            }
            several => {
                let envs = several.iter().map(|s| s.env.clone()).collect();
                Err(Refusal::AmbiguousSecret { name, envs }.into())
            }
        }
    }

    /// `/secrets add NAME ENV every=… owner=…`.
    async fn add(
        &self,
        origin: &Origin,
        new: NewSecret,
        every: deckhand_commands::HumanDuration,
    ) -> anyhow::Result<()> {
        let env_config = crate::policy::known_env(&self.ctx.config, &new.env)?;
        crate::policy::may_add_secret(&self.ctx.config, &new.env, env_config, &origin.user.id)?;
        let NewSecret {
            name, env, owner, ..
        } = &new;
        let detail = format!("{name} every {every} owner {owner}");
        let audit = self.ctx.audit_row(
            &origin.user.id,
            &origin.platform,
            "secret.added",
            Some(env),
            None,
            &detail,
        );
        let mut tx = self.ctx.store.pool.begin().await?;
        if !secrets::insert(&mut *tx, &new, now_ms()).await? {
            tx.rollback().await?;
            return Err(Refusal::SecretAlreadyTracked {
                name: new.name,
                env: new.env,
            }
            .into());
        }
        crate::store::audit::append(&mut tx, &audit).await?;
        tx.commit().await?;
        let owner = mention_name(owner);
        let text = format!(
            "🔑 Tracking `{name}` in `{env}`: rotate every {every}, owner {owner}. I'll remind before it is due."
        );
        self.ctx.say(origin, text).await;
        Ok(())
    }

    /// `@alice` in Slack means `slack:alice`'s mention id; a role name stays a role.
    fn owner_ref(&self, origin: &Origin, owner: &Named) -> String {
        match owner {
            Named::Mention(id) => format!("{}:{id}", origin.platform),
            Named::Name(name) if self.ctx.config.roles.contains_key(name) || name.contains(':') => {
                name.clone()
            }
            Named::Name(name) => format!("{}:{name}", origin.platform),
        }
    }

    async fn record_rotation(&self, origin: &Origin, secret: &Secret) -> anyhow::Result<()> {
        let audit = self.ctx.audit_row(
            &origin.user.id,
            &origin.platform,
            "secret.rotated",
            Some(&secret.env),
            None,
            &secret.name,
        );
        let mut tx = self.ctx.store.pool.begin().await?;
        secrets::rotated(&mut *tx, secret.id, &origin.user.name, now_ms()).await?;
        crate::store::audit::append(&mut tx, &audit).await?;
        tx.commit().await?;
        let updated = secrets::get(&self.ctx.store.pool, secret.id)
            .await?
            .unwrap_or_else(|| secret.clone());
        let status = due::status(&updated, now_ms(), &self.tiers());
        let next = status
            .due_at
            .map(|d| format!(" Next rotation due {}.", self.date(d)))
            .unwrap_or_default();
        self.ctx
            .say(
                origin,
                format!(
                    "✅ `{}` ({}) rotated by {}.{next}",
                    secret.name, secret.env, origin.user.name
                ),
            )
            .await;
        Ok(())
    }

    /// ✅ from the owner (or an admin) on a reminder records the rotation; 💤 snoozes a day.
    pub async fn reaction(
        &self,
        origin: &Origin,
        secret_id: i64,
        emoji: &str,
    ) -> anyhow::Result<()> {
        let Some(secret) = secrets::get(&self.ctx.store.pool, secret_id).await? else {
            return Ok(());
        };
        let rotated = crate::chat::verdict(emoji) == Some(crate::chat::Verdict::Approve);
        let snooze = crate::chat::is_snooze(emoji);
        if !rotated && !snooze {
            return Ok(());
        }
        crate::policy::may_answer_reminder(&self.ctx.config, &secret, &origin.user.id)?;
        if rotated {
            return self.record_rotation(origin, &secret).await;
        }
        let audit = self.ctx.audit_row(
            &origin.user.id,
            &origin.platform,
            "secret.snoozed",
            Some(&secret.env),
            None,
            &secret.name,
        );
        let mut tx = self.ctx.store.pool.begin().await?;
        secrets::snooze(&mut *tx, secret.id, now_ms() + DAY_MS).await?;
        crate::store::audit::append(&mut tx, &audit).await?;
        tx.commit().await?;
        self.ctx
            .whisper(origin, format!("💤 `{}` snoozed for a day.", secret.name))
            .await;
        Ok(())
    }

    /// The reminder run and the digest, each at most once per fire time. After downtime
    /// across several fire times only the latest is sent: one catch-up, not one each.
    pub async fn remind(&self, now: i64) -> anyhow::Result<()> {
        let Some(config) = &self.ctx.config.reminders else {
            return Ok(());
        };
        let tz = self.ctx.config.clock.tz;
        for (kind, expression) in [
            (REMINDERS, Some(&config.schedule)),
            (DIGEST, config.digest.as_ref()),
        ] {
            let schedule = match expression {
                Some(cron) => cron.0.clone(),
                None => cron::Schedule::from_str(DEFAULT_DIGEST)?,
            };
            let since = match secrets::last_run(&self.ctx.store.pool, kind).await? {
                Some(last) => last,
                None => {
                    // First start: tracking begins now; earlier fire times are not owed.
                    secrets::record_run(&self.ctx.store.pool, kind, now, now).await?;
                    continue;
                }
            };
            let Some(fire) = due::latest_fire(&schedule, tz, since, now) else {
                continue;
            };
            if !secrets::record_run(&self.ctx.store.pool, kind, fire, now).await? {
                continue; // another replica (or an earlier tick) sent it
            }
            match kind {
                REMINDERS => self.send_reminders(now).await?,
                _ => self.send_digest(now).await?,
            }
        }
        Ok(())
    }

    async fn send_reminders(&self, now: i64) -> anyhow::Result<()> {
        let Some(config) = &self.ctx.config.reminders else {
            return Ok(());
        };
        let all = secrets::all(&self.ctx.store.pool).await?;
        for (secret, status) in due::plan(&all, now, &self.tiers()) {
            let (title, channel, attention) = match status.tier {
                Tier::Soon => (
                    format!(
                        "🔑 {} ({}) is due for rotation in {} days",
                        secret.name,
                        secret.env,
                        status.days_left.unwrap_or(0)
                    ),
                    config.channel.clone(),
                    None,
                ),
                Tier::Due => (
                    format!("⏰ {} ({}) is due for rotation", secret.name, secret.env),
                    config.channel.clone(),
                    None,
                ),
                _ => (
                    format!(
                        "🚨 {} ({}) is {} days overdue for rotation",
                        secret.name,
                        secret.env,
                        -status.days_left.unwrap_or(0)
                    ),
                    config
                        .escalation_channel
                        .clone()
                        .unwrap_or_else(|| config.channel.clone()),
                    self.ctx.config.attention().map(str::to_owned),
                ),
            };
            let mut lines = vec![self.secret_line(secret, &status)];
            if let Some(note) = &secret.provider_note {
                lines.push(format!("where: {note}"));
            }
            let card = Message::Reminder(Box::new(ReminderCard {
                lines,
                title,
                owner: Some(secret.owner.clone()),
                attention,
                runbook: secret.runbook.clone(),
                actionable: true,
            }));
            self.ctx
                .post_subject(&channel, &card, Subject::Secret(secret.id))
                .await?;
        }
        Ok(())
    }

    async fn send_digest(&self, now: i64) -> anyhow::Result<()> {
        let Some(config) = &self.ctx.config.reminders else {
            return Ok(());
        };
        let all = secrets::all(&self.ctx.store.pool).await?;
        let tiers = self.tiers();
        let listed = due::digest(&all, now, &tiers);
        let lines: Vec<String> = if listed.is_empty() {
            vec![format!(
                "Nothing is due in the next {} days, and every secret has an interval.",
                tiers.digest_days
            )]
        } else {
            listed
                .iter()
                .map(|(s, st)| self.secret_line(s, st))
                .collect()
        };
        let card = Message::Reminder(Box::new(ReminderCard {
            lines,
            title: format!("🗓️ Secrets due in the next {} days", tiers.digest_days),
            owner: None,
            attention: None,
            runbook: None,
            actionable: false,
        }));
        self.ctx.chat.post_to(&config.channel, &card).await;
        Ok(())
    }

    /// `deckhand secrets import`: registers the names of a `.env.example` not yet known.
    /// Returns (added, already known).
    pub async fn import(
        &self,
        text: &str,
        env: &str,
        every_secs: i64,
        owner: &str,
    ) -> anyhow::Result<(Vec<String>, Vec<String>)> {
        let (mut added, mut known) = (Vec::new(), Vec::new());
        // Every name and the audit row that lists them: all or nothing.
        let mut tx = self.ctx.store.pool.begin().await?;
        for name in due::env_example_names(text) {
            let new = NewSecret {
                name: name.clone(),
                env: env.to_owned(),
                owner: owner.to_owned(),
                every_secs: Some(every_secs),
                last_rotated_at: None,
                runbook: None,
                provider_note: None,
                source: "import".into(),
            };
            if secrets::insert(&mut *tx, &new, now_ms()).await? {
                added.push(name);
            } else {
                known.push(name);
            }
        }
        let audit = self.ctx.audit_row(
            "cli",
            "cli",
            "secret.imported",
            Some(env),
            None,
            &added.join(", "),
        );
        crate::store::audit::append(&mut tx, &audit).await?;
        tx.commit().await?;
        Ok((added, known))
    }
}
