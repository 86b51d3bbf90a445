//! [`Message`] as Slack Block Kit: the job card with its checklist and buttons, replies,
//! announcements. Pinned by snapshot tests.

use serde_json::{Value, json};

use crate::render::{Announcement, JobCard, Message, plain, state_icon, subject};
use crate::store::approvals::Decision;
use crate::store::jobs::JobState;

/// Button action ids; their `value` is the job number.
pub const APPROVE: &str = "deckhand_approve";
pub const REJECT: &str = "deckhand_reject";
pub const CANCEL: &str = "deckhand_cancel";

/// Slack refuses section texts over 3000 characters.
const MAX_TEXT: usize = 2900;

/// The message body for chat.postMessage / chat.update / chat.postEphemeral: `text` (the
/// notification fallback) and `blocks`.
pub fn content(message: &Message) -> Value {
    let mut blocks = match message {
        Message::Text(text) => vec![section(text)],
        Message::Job(card) => job_card(card),
        Message::Announcement(a) => announcement(a),
        Message::Incident(card) => incident(card),
        Message::Reminder(card) => reminder(card),
    };
    for block in &mut blocks {
        escape_mrkdwn(block);
    }
    // deckhand's own mentions go in after escaping, so they are the only pings.
    if let Message::Reminder(card) = message {
        let mut who = Vec::new();
        if let Some(attention) = &card.attention {
            who.push(format!("<!{attention}>"));
        }
        if let Some(user) = card.owner.as_deref().and_then(|o| o.strip_prefix("slack:")) {
            who.push(format!("<@{user}>"));
        }
        if !who.is_empty() {
            blocks.insert(
                1,
                json!({ "type": "section", "text": { "type": "mrkdwn", "text": who.join(" ") } }),
            );
        }
    }
    if let Message::Announcement(a) = message
        && a.priority == deckhand_commands::Priority::Urgent
        && let Some(who) = &a.attention
    {
        blocks.insert(
            1,
            json!({ "type": "section", "text": { "type": "mrkdwn", "text": format!("<!{who}>") } }),
        );
    }
    json!({ "text": escape(&fallback(message)), "blocks": blocks })
}

/// Slack reads `<!channel>`, `<@U123>` and `&` entities in text; people's text (a lock
/// reason, a title) must never ping a channel, so every `&`, `<`, `>` is escaped.
fn escape(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}

fn escape_mrkdwn(value: &mut Value) {
    match value {
        Value::Object(object) => {
            if object.get("type").and_then(Value::as_str) == Some("mrkdwn")
                && let Some(Value::String(text)) = object.get_mut("text")
            {
                *text = escape(text);
            }
            for child in object.values_mut() {
                escape_mrkdwn(child);
            }
        }
        Value::Array(items) => items.iter_mut().for_each(escape_mrkdwn),
        _ => {}
    }
}

fn fallback(message: &Message) -> String {
    let text = plain(message);
    let first = text.lines().next().unwrap_or_default();
    clip(first, 300)
}

fn clip(text: &str, max: usize) -> String {
    if text.chars().count() <= max {
        return text.to_owned();
    }
    let mut out: String = text.chars().take(max - 1).collect();
    out.push('…');
    out
}

fn section(text: &str) -> Value {
    json!({ "type": "section", "text": { "type": "mrkdwn", "text": clip(text, MAX_TEXT) } })
}

fn job_card(card: &JobCard) -> Vec<Value> {
    let job = &card.job;
    let what = subject(job);
    let mut blocks = vec![json!({
        "type": "header",
        "text": { "type": "plain_text", "text": clip(&format!("{} {} #{} · {}", state_icon(job.state), job.kind.title(), job.id, job.env), 150), "emoji": true }
    })];
    let approved: Vec<&str> = card
        .approvals
        .iter()
        .filter(|a| a.decision == Decision::Approve)
        .map(|a| a.person_name.as_str())
        .collect();
    let mut fields = vec![
        json!({ "type": "mrkdwn", "text": format!("*Environment*\n{}", job.env) }),
        json!({ "type": "mrkdwn", "text": format!("*Ref*\n`{}`", if what.is_empty() { "-".into() } else { what.clone() }) }),
        json!({ "type": "mrkdwn", "text": format!("*Requested by*\n{}", job.requester_name) }),
    ];
    if job.approvals_required > 0 {
        let who = if approved.is_empty() {
            String::new()
        } else {
            format!(" ({})", approved.join(", "))
        };
        fields.push(json!({ "type": "mrkdwn", "text": format!("*Approvals*\n{}/{}{who}", approved.len(), job.approvals_required) }));
    }
    if let Some(previous) = &job.previous_ref {
        fields.push(json!({ "type": "mrkdwn", "text": format!("*Was*\n`{previous}`") }));
    }
    blocks.push(json!({ "type": "section", "fields": fields }));
    if !card.steps.is_empty() {
        let list: Vec<String> = card
            .steps
            .iter()
            .map(|s| crate::render::checklist_line(s, "_"))
            .collect();
        blocks.push(section(&list.join("\n")));
        if let Some(tail) = crate::render::failed_tail(card, 8) {
            blocks.push(section(&format!("```{}```", clip(&tail, MAX_TEXT - 10))));
        }
    }
    let mut context = vec![format!("*{}*", crate::render::state_words(job.state))];
    context.extend(crate::render::card_notes(card));
    blocks.push(json!({
        "type": "context",
        "elements": [{ "type": "mrkdwn", "text": clip(&context.join(" · "), MAX_TEXT) }]
    }));
    let id = job.id.to_string();
    match job.state {
        JobState::AwaitingApproval => blocks.push(json!({
            "type": "actions",
            "block_id": format!("job-{}", job.id),
            "elements": [
                { "type": "button", "action_id": APPROVE, "value": id, "style": "primary", "text": { "type": "plain_text", "text": "Approve" } },
                { "type": "button", "action_id": REJECT, "value": id, "style": "danger", "text": { "type": "plain_text", "text": "Reject" } }
            ]
        })),
        JobState::Queued | JobState::Running => blocks.push(json!({
            "type": "actions",
            "block_id": format!("job-{}", job.id),
            "elements": [
                { "type": "button", "action_id": CANCEL, "value": id, "style": "danger", "text": { "type": "plain_text", "text": "Cancel" } }
            ]
        })),
        _ => {}
    }
    blocks
}

fn reminder(card: &crate::render::ReminderCard) -> Vec<Value> {
    let mut blocks = vec![
        json!({ "type": "header", "text": { "type": "plain_text", "text": clip(&card.title, 150), "emoji": true } }),
        section(&card.lines.join("\n")),
    ];
    let mut context = Vec::new();
    if let Some(owner) = &card.owner
        && !owner.starts_with("slack:")
    {
        context.push(format!("owner: {}", crate::render::mention_name(owner)));
    }
    if let Some(runbook) = &card.runbook {
        context.push(format!("runbook: {runbook}"));
    }
    if card.actionable {
        context.push(
            "react ✅ once it is rotated, or 💤 to snooze a day · never paste the value".to_owned(),
        );
    }
    if !context.is_empty() {
        blocks.push(json!({ "type": "context", "elements": [{ "type": "mrkdwn", "text": context.join(" · ") }] }));
    }
    blocks
}

fn incident(card: &crate::render::IncidentCard) -> Vec<Value> {
    let lines = crate::render::incident_lines(card);
    vec![
        json!({ "type": "header", "text": { "type": "plain_text", "text": clip(&crate::render::incident_title(card), 150), "emoji": true } }),
        section(&lines.join("\n")),
        json!({ "type": "context", "elements": [{ "type": "mrkdwn", "text": format!("`/incident update INC-{id} …` · `/incident resolve INC-{id} …`", id = card.incident.id) }] }),
    ]
}

fn announcement(a: &Announcement) -> Vec<Value> {
    let mut quiet = a.clone();
    quiet.attention = None;
    let plain_text = plain(&Message::Announcement(quiet));
    let header = plain_text
        .lines()
        .next()
        .unwrap_or_default()
        .replace(['*', '`'], "");
    let mut blocks = vec![json!({
        "type": "header",
        "text": { "type": "plain_text", "text": clip(&header, 150), "emoji": true }
    })];
    if !a.message.is_empty() {
        blocks.push(section(&a.message));
    }
    let mut context = vec![
        format!("*{}*", a.kind),
        format!("priority {}", a.priority),
        format!("from {}", a.sender),
    ];
    if !a.references.is_empty() {
        context.push(a.references.join(", "));
    }
    blocks.push(json!({ "type": "context", "elements": [{ "type": "mrkdwn", "text": context.join(" · ") }] }));
    blocks
}
