//! `/announce TYPE [PRIORITY] "SUBJECT" MESSAGE...`.

use super::{Args, did_you_mean};
use crate::command::Command;
use crate::error::ParseError;
use crate::values::{AnnouncementType, Priority};

pub(super) fn announce(mut args: Args<'_>) -> Result<Command, ParseError> {
    let word = args.word("a TYPE (info, deployment, maintenance, ...)")?;
    let kind =
        AnnouncementType::parse(&word).ok_or_else(|| ParseError::InvalidAnnouncementType {
            suggestion: did_you_mean(&word, AnnouncementType::WORDS.iter().copied()),
            given: word,
        })?;
    let mut priority = Priority::Normal;
    if let Some(token) = args.peek()?
        && !token.quoted
    {
        if let Some(given) = Priority::parse(&token.text) {
            args.next()?;
            priority = given;
        } else if token.text.len() >= 4
            && let Some(near) = did_you_mean(&token.text, Priority::WORDS.iter().copied())
        {
            // `hgih` is a typo of a priority, not a one-word subject; a subject that
            // happens to look like one can be quoted.
            return Err(ParseError::InvalidPriority {
                given: token.text.into_owned(),
                suggestion: Some(near),
            });
        }
    }
    let subject = args
        .next()?
        .map(|t| t.text.into_owned())
        .filter(|s| !s.trim().is_empty())
        .ok_or_else(|| args.missing("a \"SUBJECT\" (quote it when it has spaces)"))?;
    let message = args
        .rest()
        .ok_or_else(|| args.missing("a MESSAGE after the subject"))?;
    Ok(Command::Announce {
        kind,
        priority,
        subject,
        message,
    })
}
