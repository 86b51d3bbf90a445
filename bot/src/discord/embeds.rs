//! [`Message`] as Discord embeds and components: colour by state or announcement type,
//! fields for env, ref, requester and approvals, the checklist in the description, and
//! Approve / Reject / Cancel buttons. Pinned by snapshot tests.

use serde_json::{Value, json};

use crate::render::{Announcement, JobCard, Message, plain, state_icon, subject};
use crate::store::approvals::Decision;
use crate::store::jobs::JobState;
use deckhand_commands::{AnnouncementType, Priority};

/// Button custom ids are `ACTION:JOB`.
pub const APPROVE: &str = "deckhand_approve";
pub const REJECT: &str = "deckhand_reject";
pub const CANCEL: &str = "deckhand_cancel";

/// Discord's limits: description 4096, field value 1024, title 256.
const MAX_DESCRIPTION: usize = 4000;

fn clip(text: &str, max: usize) -> String {
    if text.chars().count() <= max {
        return text.to_owned();
    }
    let mut out: String = text.chars().take(max - 1).collect();
    out.push('…');
    out
}

/// The body of a create or edit message call. Mentions in people's text never ping:
/// `allowed_mentions` is empty unless `mention` names the one user to notify.
pub fn content(message: &Message, mention: Option<&str>) -> Value {
    let (embed, components) = match message {
        Message::Text(text) => (
            json!({ "description": clip(text, MAX_DESCRIPTION), "color": 0x5865F2 }),
            Vec::new(),
        ),
        Message::Job(card) => job_card(card),
        Message::Announcement(a) => (announcement(a), Vec::new()),
        Message::Incident(card) => (incident(card), Vec::new()),
        Message::Reminder(card) => (reminder(card), Vec::new()),
    };
    let mut body = json!({
        "embeds": [embed],
        "components": components,
        "allowed_mentions": { "parse": [] },
    });
    if let Some(user) = mention {
        body["content"] = json!(format!("<@{user}>"));
        body["allowed_mentions"] = json!({ "parse": [], "users": [user] });
    }
    if let Message::Reminder(card) = message {
        let mut who = Vec::new();
        let mut users = Vec::new();
        if let Some(attention) = &card.attention {
            who.push(format!("@{attention}"));
        }
        if let Some(user) = card
            .owner
            .as_deref()
            .and_then(|o| o.strip_prefix("discord:"))
        {
            who.push(format!("<@{user}>"));
            users.push(user.to_owned());
        }
        if !who.is_empty() {
            body["content"] = json!(who.join(" "));
            let parse: Vec<&str> = if card.attention.is_some() {
                vec!["everyone"]
            } else {
                Vec::new()
            };
            body["allowed_mentions"] = json!({ "parse": parse, "users": users });
        }
    }
    if let Message::Announcement(a) = message
        && a.priority == Priority::Urgent
        && let Some(who) = &a.attention
    {
        body["content"] = json!(format!("@{who}"));
        body["allowed_mentions"] = json!({ "parse": ["everyone"] });
    }
    body
}

pub fn state_colour(state: JobState) -> u32 {
    match state {
        JobState::AwaitingApproval => 0xF2C744,
        JobState::Queued => 0x9CA3AF,
        JobState::Running => 0x3B82F6,
        JobState::Succeeded => 0x22C55E,
        JobState::Failed => 0xEF4444,
        JobState::Interrupted => 0xF97316,
        JobState::Cancelled | JobState::Rejected | JobState::Expired => 0x6B7280,
    }
}

fn job_card(card: &JobCard) -> (Value, Vec<Value>) {
    let job = &card.job;
    let what = subject(job);
    let mut description: String = card
        .steps
        .iter()
        .map(|s| crate::render::checklist_line(s, "*") + "\n")
        .collect();
    if let Some(tail) = crate::render::failed_tail(card, 8) {
        description.push_str(&format!("```\n{tail}\n```"));
    }
    let approved: Vec<&str> = card
        .approvals
        .iter()
        .filter(|a| a.decision == Decision::Approve)
        .map(|a| a.person_name.as_str())
        .collect();
    let mut fields = vec![
        json!({ "name": "Environment", "value": job.env, "inline": true }),
        json!({ "name": "Ref", "value": format!("`{}`", if what.is_empty() { "-" } else { &what }), "inline": true }),
        json!({ "name": "Requested by", "value": job.requester_name, "inline": true }),
    ];
    if job.approvals_required > 0 {
        let who = if approved.is_empty() {
            String::new()
        } else {
            format!(" ({})", approved.join(", "))
        };
        fields.push(json!({ "name": "Approvals", "value": format!("{}/{}{who}", approved.len(), job.approvals_required), "inline": true }));
    }
    if let Some(previous) = &job.previous_ref {
        fields.push(json!({ "name": "Was", "value": format!("`{previous}`"), "inline": true }));
    }
    // Footers show no markdown: the backticks the notes carry are dropped.
    let mut footer = vec![crate::render::state_words(job.state).to_owned()];
    footer.extend(
        crate::render::card_notes(card)
            .into_iter()
            .map(|n| n.replace('`', "")),
    );
    let embed = json!({
        "title": clip(&format!("{} {} #{} · {}", state_icon(job.state), job.kind.title(), job.id, job.env), 256),
        "description": clip(description.trim_end(), MAX_DESCRIPTION),
        "color": state_colour(job.state),
        "fields": fields,
        "footer": { "text": clip(&footer.join(" · "), 2000) },
    });
    let button = |id: &str, label: &str, style: u8| json!({ "type": 2, "style": style, "label": label, "custom_id": format!("{id}:{}", job.id) });
    let components = match job.state {
        JobState::AwaitingApproval => vec![
            json!({ "type": 1, "components": [button(APPROVE, "Approve", 3), button(REJECT, "Reject", 4)] }),
        ],
        JobState::Queued | JobState::Running => {
            vec![json!({ "type": 1, "components": [button(CANCEL, "Cancel", 4)] })]
        }
        _ => Vec::new(),
    };
    (embed, components)
}

pub fn announcement_colour(kind: AnnouncementType, priority: Priority) -> u32 {
    if priority == Priority::Urgent {
        return 0xDC2626;
    }
    match kind {
        AnnouncementType::Info => 0x5865F2,
        AnnouncementType::Resolution => 0x22C55E,
        AnnouncementType::Deployment => 0x3B82F6,
        AnnouncementType::Incident => 0xEF4444,
        AnnouncementType::Maintenance => 0xF59E0B,
        AnnouncementType::Reminder => 0xA855F7,
        AnnouncementType::Blocker => 0xB91C1C,
    }
}

fn reminder(card: &crate::render::ReminderCard) -> Value {
    let mut footer = Vec::new();
    if let Some(owner) = &card.owner
        && !owner.starts_with("discord:")
    {
        footer.push(format!("owner: {}", crate::render::mention_name(owner)));
    }
    if card.actionable {
        footer.push(
            "react ✅ once it is rotated, or 💤 to snooze a day · never paste the value".to_owned(),
        );
    }
    let mut embed = json!({
        "title": clip(&card.title, 256),
        "description": clip(&card.lines.join("\n"), MAX_DESCRIPTION),
        "color": if card.attention.is_some() { 0xDC2626 } else { 0xA855F7 },
        "footer": { "text": footer.join(" · ") },
    });
    if let Some(runbook) = &card.runbook {
        embed["url"] = json!(runbook);
    }
    embed
}

fn incident(card: &crate::render::IncidentCard) -> Value {
    json!({
        "title": clip(&crate::render::incident_title(card), 256),
        "description": clip(&crate::render::incident_lines(card).join("\n"), MAX_DESCRIPTION),
        "color": if card.incident.is_open() { 0xEF4444 } else { 0x22C55E },
        "footer": { "text": format!("/incident update INC-{id} … · /incident resolve INC-{id} …", id = card.incident.id) },
    })
}

fn announcement(a: &Announcement) -> Value {
    let mut quiet = a.clone();
    quiet.attention = None;
    let text = plain(&Message::Announcement(quiet));
    let title = text
        .lines()
        .next()
        .unwrap_or_default()
        .replace(['*', '`'], "");
    let mut footer = vec![
        a.kind.to_string(),
        format!("priority {}", a.priority),
        format!("from {}", a.sender),
    ];
    if !a.references.is_empty() {
        footer.push(a.references.join(", "));
    }
    json!({
        "title": clip(&title, 256),
        "description": clip(&a.message, MAX_DESCRIPTION),
        "color": announcement_colour(a.kind, a.priority),
        "footer": { "text": footer.join(" · ") },
    })
}
