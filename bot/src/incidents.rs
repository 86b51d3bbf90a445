//! Incidents: declared, updated and resolved from chat; a status card on every incident
//! channel, edited as things change; reminders to the commander; and the gate that holds
//! production deploys while a serious incident is open.

use deckhand_commands::{AnnouncementType, IncidentCommand, IncidentId, Priority, Severity};

use std::sync::Arc;

use crate::announce::Announcements;
use crate::chat::Origin;
use crate::ctx::Ctx;
use crate::refusal::{GatingIncident, Refusal};
use crate::render::{Announcement, IncidentCard, Message, duration};
use crate::store::incidents::{self, Incident, NewIncident, TimelineEntry};
use crate::store::messages::Subject;
use crate::store::now_ms;

/// Open incidents shown by `/incident list`.
const LIST_LIMIT: usize = 20;

/// Incidents, their status cards, commander reminders and the deploy gate.
pub struct Incidents {
    ctx: Arc<Ctx>,
    announcements: Arc<Announcements>,
}

impl Incidents {
    pub fn new(ctx: Arc<Ctx>, announcements: Arc<Announcements>) -> Incidents {
        Incidents { ctx, announcements }
    }

    pub async fn command(&self, origin: &Origin, command: IncidentCommand) -> anyhow::Result<()> {
        match command {
            IncidentCommand::Declare { severity, title } => {
                self.declare(origin, severity, &title).await
            }
            IncidentCommand::Update { id, text } => self.incident_update(origin, id, &text).await,
            IncidentCommand::Resolve { id, summary } => {
                self.incident_resolve(origin, id, summary.as_deref()).await
            }
            IncidentCommand::List => self.incident_list(origin).await,
        }
    }

    /// Where incident cards go: `incidents.channels`, else the announce channels, else
    /// the channel it was declared in.
    fn incident_channels(&self, incident: &Incident) -> Vec<String> {
        let configured = self
            .ctx
            .config
            .incidents
            .as_ref()
            .map(|i| i.channels.clone())
            .unwrap_or_default();
        if !configured.is_empty() {
            return configured;
        }
        if !self.ctx.config.bot.announce.is_empty() {
            return self.ctx.config.bot.announce.clone();
        }
        vec![format!("{}:{}", incident.platform, incident.channel)]
    }

    async fn incident_card(&self, incident: Incident) -> anyhow::Result<Message> {
        let timeline = incidents::timeline(&self.ctx.store.pool, incident.id).await?;
        Ok(Message::Incident(Box::new(IncidentCard {
            incident,
            timeline,
            now: now_ms(),
            timezone: self.ctx.config.clock.tz,
        })))
    }

    /// Edits every status card of an incident.
    pub async fn refresh_incident(&self, id: i64) -> anyhow::Result<()> {
        if self.ctx.redraw(Subject::Incident(id)).await {
            return Ok(());
        }
        if let Some(card) = self.card_of(id).await? {
            self.ctx.edit_now(Subject::Incident(id), &card).await?;
        }
        Ok(())
    }

    /// The incident's status card as of now; `None` when there is no such incident.
    pub async fn card_of(&self, id: i64) -> anyhow::Result<Option<Message>> {
        match incidents::get(&self.ctx.store.pool, id).await? {
            Some(incident) => Ok(Some(self.incident_card(incident).await?)),
            None => Ok(None),
        }
    }

    async fn timeline(&self, id: i64, actor: &str, kind: &str, text: &str) -> anyhow::Result<()> {
        timeline_in(&self.ctx.store.pool, id, actor, kind, text).await
    }

    async fn declare(
        &self,
        origin: &Origin,
        severity: Severity,
        title: &str,
    ) -> anyhow::Result<()> {
        crate::policy::may_declare(&self.ctx.config, &origin.user.id)?;
        let now = now_ms();
        // The incident, its first timeline entry and its audit row: all or nothing.
        let mut tx = self.ctx.store.pool.begin().await?;
        let id = incidents::insert(
            &mut *tx,
            &NewIncident {
                severity: severity.as_str(),
                title,
                commander: &origin.user.id,
                commander_name: &origin.user.name,
                platform: &origin.platform,
                channel: &origin.channel,
            },
            now,
        )
        .await?;
        timeline_in(
            &mut *tx,
            id,
            &origin.user.name,
            "declared",
            &format!(
                "declared {severity} by {}, who is commander",
                origin.user.name
            ),
        )
        .await?;
        let audit = self.ctx.audit_row(
            &origin.user.id,
            &origin.platform,
            "incident.declared",
            None,
            None,
            &format!("INC-{id} {severity} {title}"),
        );
        crate::store::audit::append(&mut tx, &audit).await?;
        tx.commit().await?;
        let incident = incidents::get(&self.ctx.store.pool, id)
            .await?
            .ok_or_else(|| anyhow::anyhow!("INC-{id} vanished"))?;
        let card = self.incident_card(incident.clone()).await?;
        let mut posted_here = false;
        for channel in self.incident_channels(&incident) {
            let subject = Subject::Incident(id);
            if let Some(p) = self.ctx.post_subject(&channel, &card, subject).await? {
                posted_here |= p.platform == origin.platform && p.channel == origin.channel;
            }
        }
        if !posted_here {
            self.ctx.say(origin, format!("🚨 INC-{id} declared ({severity}): {title}. {} is commander; update it with `/incident update INC-{id} …`.", origin.user.name)).await;
        }
        Ok(())
    }

    async fn open_incident(&self, id: IncidentId) -> anyhow::Result<Incident> {
        match incidents::get(&self.ctx.store.pool, id.0 as i64).await? {
            Some(incident) if incident.is_open() => Ok(incident),
            Some(_) => Err(Refusal::IncidentResolved { id }.into()),
            None => Err(Refusal::NoSuchIncident { id }.into()),
        }
    }

    async fn incident_update(
        &self,
        origin: &Origin,
        id: IncidentId,
        text: &str,
    ) -> anyhow::Result<()> {
        let incident = self.open_incident(id).await?;
        crate::policy::may_respond(&self.ctx.config, &incident, &origin.user.id)?;
        let audit = self.ctx.audit_row(
            &origin.user.id,
            &origin.platform,
            "incident.updated",
            None,
            None,
            &format!("{id}: {text}"),
        );
        let mut tx = self.ctx.store.pool.begin().await?;
        timeline_in(&mut *tx, incident.id, &origin.user.name, "update", text).await?;
        incidents::touch(&mut *tx, incident.id, now_ms()).await?;
        crate::store::audit::append(&mut tx, &audit).await?;
        tx.commit().await?;
        self.refresh_incident(incident.id).await
    }

    async fn incident_resolve(
        &self,
        origin: &Origin,
        id: IncidentId,
        summary: Option<&str>,
    ) -> anyhow::Result<()> {
        let incident = self.open_incident(id).await?;
        crate::policy::may_respond(&self.ctx.config, &incident, &origin.user.id)?;
        let now = now_ms();
        let lasted = duration(now - incident.declared_at);
        let audit = self.ctx.audit_row(
            &origin.user.id,
            &origin.platform,
            "incident.resolved",
            None,
            None,
            &format!("{id} after {lasted}"),
        );
        let mut tx = self.ctx.store.pool.begin().await?;
        if !incidents::resolve(&mut *tx, incident.id, summary, now).await? {
            tx.rollback().await?;
            return Ok(());
        }
        timeline_in(
            &mut *tx,
            incident.id,
            &origin.user.name,
            "resolved",
            &format!("resolved by {} after {lasted}", origin.user.name),
        )
        .await?;
        crate::store::audit::append(&mut tx, &audit).await?;
        tx.commit().await?;
        self.refresh_incident(incident.id).await?;
        let mut message = format!("Resolved by {} after {lasted}.", origin.user.name);
        if let Some(summary) = summary {
            message.push_str(&format!(" {summary}"));
        }
        let announcement = Announcement {
            sender: origin.user.name.clone(),
            recipients: self.incident_channels(&incident),
            kind: AnnouncementType::Resolution,
            priority: Priority::Normal,
            subject: format!("{id} resolved: {}", incident.title),
            message,
            references: vec![id.to_string()],
            attention: None,
        };
        self.announcements
            .announce(
                announcement,
                None,
                None,
                &crate::announce::Actor::person(origin),
            )
            .await?;
        Ok(())
    }

    async fn incident_list(&self, origin: &Origin) -> anyhow::Result<()> {
        let open = incidents::open(&self.ctx.store.pool).await?;
        if open.is_empty() {
            self.ctx.whisper(origin, "No open incidents. 🎉").await;
            return Ok(());
        }
        let now = now_ms();
        let lines: Vec<String> = open
            .iter()
            .take(LIST_LIMIT)
            .map(|i| {
                format!(
                    "🚨 INC-{} · {} · {} — commander {}, open for {}",
                    i.id,
                    i.severity,
                    i.title,
                    i.commander_name,
                    duration(now - i.declared_at)
                )
            })
            .collect();
        self.ctx.whisper(origin, lines.join("\n")).await;
        Ok(())
    }

    /// Reminds commanders whose incident has had no update for its severity's interval.
    /// An update snoozes it; a reminder is sent once per interval, even across replicas.
    pub async fn remind(&self, now: i64) -> anyhow::Result<()> {
        let Some(config) = &self.ctx.config.incidents else {
            return Ok(());
        };
        for incident in incidents::open(&self.ctx.store.pool).await? {
            let Some(every) =
                Severity::parse(&incident.severity).and_then(|s| config.update_every.get(&s))
            else {
                continue;
            };
            let interval = every.as_secs() as i64 * 1000;
            let last = incident
                .last_update_at
                .max(incident.last_reminded_at.unwrap_or(0));
            if now - last < interval {
                continue;
            }
            if !incidents::reminded(
                &self.ctx.store.pool,
                incident.id,
                incident.last_reminded_at,
                now,
            )
            .await?
            {
                continue;
            }
            let silent = duration(now - incident.last_update_at);
            self.timeline(
                incident.id,
                "deckhand",
                "reminder",
                &format!(
                    "reminded {} after {silent} without an update",
                    incident.commander_name
                ),
            )
            .await?;
            let text = format!(
                "⏰ INC-{} ({}: {}) has had no update for {silent}. {}, please post one: `/incident update INC-{} …`",
                incident.id,
                incident.severity,
                incident.title,
                incident.commander_name,
                incident.id
            );
            self.ctx
                .chat
                .post(&incident.platform, &incident.channel, &Message::text(text))
                .await;
        }
        Ok(())
    }

    /// Open incidents that hold deploys to `env`, if the env is gated.
    pub async fn gating(&self, env: &str) -> anyhow::Result<Vec<GatingIncident>> {
        self.gating_in(&self.ctx.store.pool, env).await
    }

    /// [`Self::gating`], read in the caller's transaction (the claim's).
    pub async fn gating_in<'c>(
        &self,
        db: impl sqlx::Executor<'c, Database = sqlx::Any>,
        env: &str,
    ) -> anyhow::Result<Vec<GatingIncident>> {
        let Some(config) = &self.ctx.config.incidents else {
            return Ok(Vec::new());
        };
        let gated = self
            .ctx
            .config
            .env(env)
            .and_then(|e| e.incident_gate)
            .unwrap_or_else(|| crate::config::Config::is_production(env));
        if !gated {
            return Ok(Vec::new());
        }
        Ok(incidents::open(db)
            .await?
            .into_iter()
            .filter(|i| Severity::parse(&i.severity).is_some_and(|s| config.gate.contains(&s)))
            .map(|i| GatingIncident {
                id: i.id,
                severity: i.severity,
                title: i.title,
            })
            .collect())
    }

    /// Adds a line to every open incident's timeline (a job that ran meanwhile).
    pub async fn note_on_open(&self, actor: &str, kind: &str, text: &str) {
        let result: anyhow::Result<()> = async {
            for incident in incidents::open(&self.ctx.store.pool).await? {
                self.timeline(incident.id, actor, kind, text).await?;
                self.refresh_incident(incident.id).await?;
            }
            Ok(())
        }
        .await;
        if let Err(e) = result {
            tracing::error!(error = %format!("{e:#}"), "could not add to the incident timelines");
        }
    }
}

/// Appends to an incident's timeline, inside the caller's transaction when it has one
/// (a hotfix job and its note commit together); the caller redraws the incident's card.
pub(crate) async fn timeline_in<'c>(
    db: impl sqlx::Executor<'c, Database = sqlx::Any>,
    id: i64,
    actor: &str,
    kind: &str,
    text: &str,
) -> anyhow::Result<()> {
    let entry = TimelineEntry {
        at: now_ms(),
        actor: actor.to_owned(),
        kind: kind.to_owned(),
        text: text.to_owned(),
    };
    incidents::append(db, id, &entry).await?;
    Ok(())
}
