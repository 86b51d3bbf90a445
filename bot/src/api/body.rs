//! The announcement body of `POST /api/v1/announcements`, checked field by field so a
//! 422 names every problem at once.

use deckhand_commands::{AnnouncementType, Priority};
use serde_json::{Map, Value};

use crate::render::Announcement;

/// (field, what is wrong with it).
pub type FieldErrors = Vec<(String, String)>;

const KNOWN: [&str; 8] = [
    "sender",
    "recipients",
    "type",
    "priority",
    "subject",
    "message",
    "references",
    "scheduled_for",
];

/// At most this many references per announcement.
const MAX_REFERENCES: usize = 50;

/// The body as an announcement and its `scheduled_for` time, or every problem in it.
pub fn validate(body: &Value) -> Result<(Announcement, Option<i64>), FieldErrors> {
    let Some(object) = body.as_object() else {
        return Err(vec![("body".into(), "must be a JSON object".into())]);
    };
    let mut fields = Fields {
        object,
        errors: Vec::new(),
    };
    fields.unknown_keys();
    let announcement = Announcement {
        sender: fields.text("sender", 100, true),
        subject: fields.text("subject", 150, true),
        message: fields.text("message", 3000, false),
        kind: fields.kind(),
        priority: fields.priority(),
        recipients: fields.recipients(),
        references: fields.references(),
        attention: None,
    };
    let scheduled_for = fields.scheduled_for();
    if !fields.errors.is_empty() {
        return Err(fields.errors);
    }
    Ok((announcement, scheduled_for))
}

/// The body's fields, and the problems found so far.
struct Fields<'a> {
    object: &'a Map<String, Value>,
    errors: FieldErrors,
}

impl Fields<'_> {
    fn wrong(&mut self, field: &str, why: impl Into<String>) {
        self.errors.push((field.into(), why.into()));
    }

    fn unknown_keys(&mut self) {
        let object = self.object;
        for key in object.keys().filter(|k| !KNOWN.contains(&k.as_str())) {
            self.wrong(
                key,
                format!("unknown field; expected one of {}", KNOWN.join(", ")),
            );
        }
    }

    /// A string of at most `max` characters; empty (or absent) only if not `required`.
    fn text(&mut self, name: &str, max: usize, required: bool) -> String {
        match self.object.get(name) {
            Some(Value::String(s)) if s.trim().is_empty() && required => {
                self.wrong(name, "must not be empty")
            }
            Some(Value::String(s)) if s.chars().count() > max => {
                self.wrong(name, format!("is longer than {max} characters"))
            }
            Some(Value::String(s)) => match deckhand_commands::credential_in(s) {
                // Named, never quoted: the 422 must not repeat the key either.
                Some(what) => self.wrong(name, credential_refusal(what)),
                None => return s.clone(),
            },
            None if !required => {}
            None => self.wrong(name, "is required"),
            Some(_) => self.wrong(name, "must be a string"),
        }
        String::new()
    }

    fn kind(&mut self) -> AnnouncementType {
        let words = AnnouncementType::WORDS.join(", ");
        match self.object.get("type").and_then(Value::as_str) {
            Some(t) => AnnouncementType::parse(t).unwrap_or_else(|| {
                self.wrong("type", format!("must be one of {words}"));
                AnnouncementType::Info
            }),
            None => {
                self.wrong("type", format!("is required: one of {words}"));
                AnnouncementType::Info
            }
        }
    }

    fn priority(&mut self) -> Priority {
        match self.object.get("priority") {
            None => Priority::Normal,
            Some(Value::String(p)) => Priority::parse(p).unwrap_or_else(|| {
                let words = Priority::WORDS.join(", ");
                self.wrong("priority", format!("must be one of {words}"));
                Priority::Normal
            }),
            Some(_) => {
                self.wrong("priority", "must be a string");
                Priority::Normal
            }
        }
    }

    /// `all` (the default) or channels on platforms deckhand knows.
    fn recipients(&mut self) -> Vec<String> {
        let list = match self.object.get("recipients") {
            None => return vec!["all".into()],
            Some(Value::Array(list)) if !list.is_empty() => list,
            Some(_) => {
                self.wrong("recipients", "must be a non-empty array");
                return Vec::new();
            }
        };
        let mut recipients = Vec::new();
        for r in list {
            match r.as_str().filter(|r| is_recipient(r)) {
                Some(r) => recipients.push(r.to_owned()),
                None => self.wrong(
                    "recipients",
                    format!(
                        "`{r}` is not `all` or a channel like `slack:#deploys` or `discord:123`"
                    ),
                ),
            }
        }
        recipients
    }

    fn references(&mut self) -> Vec<String> {
        match self.object.get("references") {
            None => Vec::new(),
            Some(Value::Array(list))
                if list.iter().all(Value::is_string) && list.len() <= MAX_REFERENCES =>
            {
                let references: Vec<String> = list
                    .iter()
                    .filter_map(|r| r.as_str().map(str::to_owned))
                    .collect();
                if let Some(what) = references
                    .iter()
                    .find_map(|r| deckhand_commands::credential_in(r))
                {
                    self.wrong("references", credential_refusal(what));
                }
                references
            }
            Some(_) => {
                let why = format!("must be an array of at most {MAX_REFERENCES} strings");
                self.wrong("references", why);
                Vec::new()
            }
        }
    }

    /// Unix ms of an RFC 3339 time, if one is given.
    fn scheduled_for(&mut self) -> Option<i64> {
        match self.object.get("scheduled_for") {
            None | Some(Value::Null) => None,
            Some(Value::String(at)) => match chrono::DateTime::parse_from_rfc3339(at) {
                Ok(at) => Some(at.timestamp_millis()),
                Err(_) => {
                    let why = "must be an RFC 3339 time like 2026-12-01T02:00:00Z";
                    self.wrong("scheduled_for", why);
                    None
                }
            },
            Some(_) => {
                self.wrong("scheduled_for", "must be a string");
                None
            }
        }
    }
}

/// The field problem for a pasted credential: what it looks like, and what to do.
fn credential_refusal(what: &str) -> String {
    format!(
        "contains what looks like {what}; deckhand does not post or store credentials. Treat it as leaked: rotate it, and send the announcement without it"
    )
}

fn is_recipient(r: &str) -> bool {
    r == "all"
        || crate::chat::split_channel(r)
            .is_some_and(|(p, _)| ["slack", "discord", "console"].contains(&p))
}
