//! deckhand's messages, platform-neutral, and their plain-text form (console, logs).
//! Slack Block Kit and Discord embeds render the same [`Message`].

mod card;
mod plain;

use deckhand_commands::{AnnouncementType, Priority};

use crate::store::approvals::Approval;
use crate::store::jobs::Job;
use crate::store::steps::Step;

pub use card::{card_notes, checklist_line, failed_tail, waiting_on};
pub use plain::{
    bytes, duration, incident_lines, incident_title, mention_name, plain, state_icon, state_words,
    step_icon, subject,
};

/// Everything deckhand says.
#[derive(Debug, Clone, PartialEq)]
pub enum Message {
    /// A reply: help, status, a refusal. Light markdown (`code`, *bold*).
    Text(String),
    /// A job's live card: approvals, then the step checklist.
    Job(Box<JobCard>),
    Announcement(Announcement),
    Incident(Box<IncidentCard>),
    Reminder(Box<ReminderCard>),
}

/// A rotation reminder for one secret (✅ on it records the rotation, 💤 snoozes a day),
/// or the weekly digest.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReminderCard {
    /// One line per secret: the digest has many, a reminder one.
    pub lines: Vec<String>,
    pub title: String,
    /// The owner to mention: a person id (`slack:U123`) or a role name.
    pub owner: Option<String>,
    /// `here` / `everyone` for escalated reminders.
    pub attention: Option<String>,
    pub runbook: Option<String>,
    /// Whether ✅ / 💤 work on it (single-secret reminders).
    pub actionable: bool,
}

impl Message {
    pub fn text(text: impl Into<String>) -> Message {
        Message::Text(text.into())
    }
}

/// A job as its card shows it, at one moment.
#[derive(Debug, Clone, PartialEq)]
pub struct JobCard {
    pub job: Job,
    pub steps: Vec<Step>,
    pub approvals: Vec<Approval>,
    /// People or roles who may approve, for the "waiting for" line.
    pub approvers_hint: String,
    /// When the card was drawn (Unix ms), for elapsed times.
    pub now: i64,
    /// The job's web page, when `bot.public_url` is set.
    pub page: Option<String>,
}

/// DESIGN.md's announcement schema.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Announcement {
    pub sender: String,
    pub recipients: Vec<String>,
    #[serde(rename = "type")]
    pub kind: AnnouncementType,
    pub priority: Priority,
    pub subject: String,
    pub message: String,
    #[serde(default)]
    pub references: Vec<String>,
    /// Who an urgent announcement pings (`here`, `everyone`); set by deckhand from the
    /// config, never taken from a request.
    #[serde(skip)]
    pub attention: Option<String>,
}

/// An incident's status card.
#[derive(Debug, Clone, PartialEq)]
pub struct IncidentCard {
    pub incident: crate::store::incidents::Incident,
    /// The newest entries last.
    pub timeline: Vec<crate::store::incidents::TimelineEntry>,
    pub now: i64,
    /// Time zone for the timeline's clock times.
    pub timezone: chrono_tz::Tz,
}

/// `text` with its first letter in upper case ("frozen for …" starting a line).
pub fn capitalised(text: &str) -> String {
    let mut chars = text.chars();
    match chars.next() {
        Some(first) => first.to_uppercase().chain(chars).collect(),
        None => String::new(),
    }
}
