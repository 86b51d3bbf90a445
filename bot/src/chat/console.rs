//! The terminal as a chat platform: one line is one message; bot messages print with an
//! id, edits print again under the same id. Also the core's test harness.

use std::io::Write;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};

use async_trait::async_trait;
use tokio::sync::mpsc;

use super::{Event, Person, Platform};
use crate::render::{self, Message};

/// The one channel of the terminal.
pub const CHANNEL: &str = "console";

/// A line the console printed, for tests to read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Printed {
    pub id: String,
    /// Where it went: `console`, or a channel ref such as `slack:#deploys`.
    pub channel: String,
    /// Set for a whisper: who it was for.
    pub to: Option<String>,
    pub edited: bool,
    pub text: String,
}

pub struct Console {
    out: Mutex<Box<dyn Write + Send>>,
    next_id: AtomicU64,
    transcript: Option<mpsc::UnboundedSender<Printed>>,
}

impl Console {
    /// Prints to `out`; every printed message also goes to `transcript` when given.
    pub fn new(
        out: Box<dyn Write + Send>,
        transcript: Option<mpsc::UnboundedSender<Printed>>,
    ) -> Console {
        Console {
            out: Mutex::new(out),
            next_id: AtomicU64::new(1),
            transcript,
        }
    }

    /// Continues the numbering of an earlier session, so `m7` always means one message.
    pub fn starting_at(self, first: u64) -> Console {
        self.next_id.store(first.max(1), Ordering::Relaxed);
        self
    }

    fn print(&self, printed: Printed) {
        let mut label = String::from("deckhand");
        if printed.channel != CHANNEL {
            label.push_str(&format!(" → {}", printed.channel));
        }
        if let Some(to) = &printed.to {
            label.push_str(&format!(" (to {to})"));
        }
        let mut lines = printed.text.lines();
        let first = lines.next().unwrap_or_default();
        let mut block = format!("[{}] {label}: {first}\n", printed.id);
        let indent = " ".repeat(printed.id.len() + 3);
        for line in lines {
            block.push_str(&indent);
            block.push_str(line);
            block.push('\n');
        }
        if let Ok(mut out) = self.out.lock() {
            // A closed terminal must not stop jobs; the transcript still records.
            let _ = out.write_all(block.as_bytes());
            let _ = out.flush();
        }
        if let Some(transcript) = &self.transcript {
            let _ = transcript.send(printed);
        }
    }

    fn new_id(&self) -> String {
        format!("m{}", self.next_id.fetch_add(1, Ordering::Relaxed))
    }
}

#[async_trait]
impl Platform for Console {
    fn name(&self) -> &'static str {
        "console"
    }

    async fn post(&self, channel: &str, message: &Message) -> anyhow::Result<(String, String)> {
        let id = self.new_id();
        self.print(Printed {
            id: id.clone(),
            channel: channel.to_owned(),
            to: None,
            edited: false,
            text: render::plain(message),
        });
        Ok((channel.to_owned(), id))
    }

    async fn edit(&self, channel: &str, message_id: &str, message: &Message) -> anyhow::Result<()> {
        self.print(Printed {
            id: message_id.to_owned(),
            channel: channel.to_owned(),
            to: None,
            edited: true,
            text: render::plain(message),
        });
        Ok(())
    }

    async fn whisper(
        &self,
        channel: &str,
        user: &Person,
        _reply: Option<&str>,
        message: &Message,
    ) -> anyhow::Result<()> {
        let id = self.new_id();
        self.print(Printed {
            id,
            channel: channel.to_owned(),
            to: Some(user.name.clone()),
            edited: false,
            text: render::plain(message),
        });
        Ok(())
    }
}

/// The default console user: `$USER`, else `console`.
pub fn default_user() -> String {
    std::env::var("USER")
        .ok()
        .filter(|u| !u.is_empty() && u.chars().all(|c| c.is_alphanumeric() || "._-".contains(c)))
        .unwrap_or_else(|| "console".to_owned())
}

/// One console line to an event: `/deploy prod` (default user), `@bob /approve 3`,
/// `@bob react ✅ m7`. `None` for blank lines and `#` comments.
pub fn line_to_event(line: &str, default_user: &str) -> Option<Event> {
    let line = line.trim();
    if line.is_empty() || line.starts_with('#') {
        return None;
    }
    let (user, rest) = match line.strip_prefix('@') {
        Some(after) => {
            let (name, rest) = after.split_once(char::is_whitespace).unwrap_or((after, ""));
            (name.to_owned(), rest.trim())
        }
        None => (default_user.to_owned(), line),
    };
    let person = Person {
        id: format!("console:{user}"),
        name: user,
    };
    let mut words = rest.split_whitespace();
    if let (Some(verb @ ("react" | "unreact")), Some(emoji), Some(message_id), None) =
        (words.next(), words.next(), words.next(), words.next())
    {
        return Some(Event::Reaction {
            platform: "console".into(),
            channel: CHANNEL.into(),
            message_id: message_id.to_owned(),
            user: person,
            emoji: emoji.to_owned(),
            added: verb == "react",
            event_id: None,
        });
    }
    Some(Event::Command {
        platform: "console".into(),
        channel: CHANNEL.into(),
        user: person,
        text: rest.to_owned(),
        event_id: None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines_become_events() {
        assert!(matches!(
            line_to_event("/deploy prod", "alice"),
            Some(Event::Command { ref user, ref text, .. }) if user.id == "console:alice" && text == "/deploy prod"
        ));
        assert!(matches!(
            line_to_event("@bob /approve 3", "alice"),
            Some(Event::Command { ref user, ref text, .. }) if user.id == "console:bob" && text == "/approve 3"
        ));
        assert!(matches!(
            line_to_event("@bob react ✅ m7", "alice"),
            Some(Event::Reaction { ref user, ref emoji, ref message_id, added: true, .. })
                if user.name == "bob" && emoji == "✅" && message_id == "m7"
        ));
        assert!(matches!(
            line_to_event("@bob unreact :white_check_mark: m7", "alice"),
            Some(Event::Reaction { added: false, .. })
        ));
        assert_eq!(line_to_event("   ", "alice"), None);
        assert_eq!(line_to_event("# a comment", "alice"), None);
    }
}
