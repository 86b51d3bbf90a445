//! Text to [`Command`]: the prelude (mentions, slash, umbrella), then one parser per family.

mod announce;
mod deploy;
mod incident;
mod jobs;
pub(crate) use jobs::MAX_HISTORY;
mod secrets;

use crate::command::Command;
use crate::credential::credential_in;
use crate::error::ParseError;
use crate::spec::{CommandName, Form, Place};
use crate::text::{Cursor, Token, normalize};
use crate::values::JobNumber;

/// The fewest words a `--break-glass` reason may have.
pub const BREAK_GLASS_WORDS: usize = 3;

/// Parses one chat message addressed to deckhand: `/deploy prod`, `/deckhand deploy prod`,
/// `@deckhand deploy prod`, or `deploy prod`.
///
/// Credentials are refused before anything can echo them: in the values a command
/// would keep (so a command and its canonical text get the same verdict, however they
/// were quoted), and in the raw words of a line that does not parse (its error may
/// quote them).
pub fn parse(text: &str) -> Result<Command, ParseError> {
    let line = normalize(text);
    let mut command = match parse_line(&line) {
        Ok(command) => command,
        Err(error) => {
            return Err(match credential_in(&line) {
                Some(what) => ParseError::Credential { what },
                None => error,
            });
        }
    };
    let credential = |command: &Command| {
        command
            .texts()
            .into_iter()
            .find_map(credential_in)
            .map(|what| ParseError::Credential { what })
    };
    if let Some(refused) = credential(&command) {
        return Err(refused);
    }
    for (what, name) in command.names_mut() {
        *name = crate::values::name(what, name)?;
    }
    // Folding case can make a key out of a name (`SK_LIVE_…`): check what is kept.
    match credential(&command) {
        Some(refused) => Err(refused),
        None => Ok(command),
    }
}

fn parse_line(line: &str) -> Result<Command, ParseError> {
    let mut cursor = Cursor::new(line);
    let Some(name) = command_name(&mut cursor)? else {
        return Ok(Command::Help { topic: None });
    };
    let forms = name.spec().forms;
    let args = |cursor| Args::new(cursor, name, &forms[0]);
    match name {
        CommandName::Deploy => deploy::deploy(args(cursor)),
        CommandName::Rollback => jobs::rollback(args(cursor)),
        CommandName::Backup => jobs::backup(cursor),
        CommandName::Restore => jobs::restore(args(cursor)),
        CommandName::Status => jobs::status(args(cursor)),
        CommandName::History => jobs::history(args(cursor)),
        CommandName::Cancel => jobs::cancel(args(cursor)),
        CommandName::Approve => job_only(args(cursor)).map(|job| Command::Approve { job }),
        CommandName::Reject => {
            let mut args = args(cursor);
            let job = args.job()?;
            Ok(Command::Reject {
                job,
                reason: args.rest(),
            })
        }
        CommandName::Lock => jobs::lock(args(cursor)),
        CommandName::Unlock => {
            let (env, dry_run) =
                jobs::env_and_dry_run(args(cursor), "ENV (the environment to unlock)")?;
            Ok(Command::Unlock { env, dry_run })
        }
        CommandName::Freeze => jobs::freeze(cursor),
        CommandName::Unfreeze => {
            let (env, dry_run) =
                jobs::env_and_dry_run(args(cursor), "ENV (the environment to unfreeze)")?;
            Ok(Command::Unfreeze { env, dry_run })
        }
        CommandName::Incident => incident::incident(cursor),
        CommandName::Announce => announce::announce(args(cursor)),
        CommandName::Secrets => secrets::secrets(cursor),
        CommandName::Login => {
            args(cursor).end()?;
            Ok(Command::Login)
        }
        CommandName::Help => help(args(cursor)),
    }
}

/// The command word, past a leading mention of the bot and the `/deckhand` umbrella;
/// `None` for a bare `/deckhand` (which means help).
fn command_name(cursor: &mut Cursor) -> Result<Option<CommandName>, ParseError> {
    let mut word = cursor.next()?;
    // A leading mention of the bot (`<@U0BOT>` from Slack, `<@123>` from Discord, or a
    // typed `@deckhand`) only says who is being talked to.
    if let Some(token) = &word
        && !token.quoted
        && (is_mention(&token.text) || token.text.eq_ignore_ascii_case("@deckhand"))
    {
        word = cursor.next()?;
    }
    // The umbrella command: `/deckhand deploy prod` means `/deploy prod`.
    if let Some(token) = &word
        && !token.quoted
        && token
            .text
            .trim_start_matches('/')
            .eq_ignore_ascii_case("deckhand")
    {
        word = cursor.next()?;
        if word.is_none() {
            return Ok(None);
        }
    }
    let Some(word) = word else {
        return Err(ParseError::Empty);
    };
    known_command(&word.text).map(Some)
}

/// A command name (with or without its `/`), or what was probably meant.
fn known_command(word: &str) -> Result<CommandName, ParseError> {
    let given = word.strip_prefix('/').unwrap_or(word);
    CommandName::parse(given).ok_or_else(|| ParseError::UnknownCommand {
        given: given.to_owned(),
        suggestion: did_you_mean(given, CommandName::ALL.iter().map(|n| n.as_str()))
            .and_then(CommandName::parse),
    })
}

/// `/approve #N`: a job and nothing else.
fn job_only(mut args: Args) -> Result<JobNumber, ParseError> {
    let job = args.job()?;
    args.end()?;
    Ok(job)
}

fn help(mut args: Args) -> Result<Command, ParseError> {
    let topic = match args.optional_word()? {
        None => None,
        Some(word) => Some(known_command(&word)?),
    };
    args.end()?;
    Ok(Command::Help { topic })
}

fn is_mention(word: &str) -> bool {
    word.starts_with("<@") && word.ends_with('>')
}

/// The arguments of one form of one command, read left to right, with errors that know
/// which usage line to show.
pub(crate) struct Args<'a> {
    cursor: Cursor<'a>,
    command: CommandName,
    form: &'static Form,
}

impl<'a> Args<'a> {
    pub fn new(cursor: Cursor<'a>, command: CommandName, form: &'static Form) -> Self {
        Args {
            cursor,
            command,
            form,
        }
    }

    pub fn next(&mut self) -> Result<Option<Token<'a>>, ParseError> {
        self.cursor.next()
    }

    pub fn peek(&self) -> Result<Option<Token<'a>>, ParseError> {
        self.cursor.peek()
    }

    pub fn missing(&self, argument: &'static str) -> ParseError {
        ParseError::MissingArgument {
            command: self.command,
            usage: self.form.usage,
            argument,
        }
    }

    /// A word that has no place here. Suggests the flag or keyword it looks like
    /// (`dry-run` -> `--dry-run`).
    pub fn unexpected(&self, token: &Token<'_>) -> ParseError {
        if token.as_flag().is_some() || token.looks_like_short_flag() {
            return self.unknown_flag(&token.text);
        }
        // What the word may have meant: a flag, a keyword or a `key=` of this form.
        let known: Vec<(&str, String)> = self
            .form
            .args
            .iter()
            .filter_map(|arg| match arg.place {
                Place::Flag(flag) => Some((flag.trim_start_matches('-'), flag.to_owned())),
                Place::Keyword(word) => Some((word, word.to_owned())),
                Place::KeyValue(key) => Some((key, format!("{key}="))),
                _ => None,
            })
            .collect();
        let bare = token.text.trim_start_matches('-');
        let bare = bare.split('=').next().unwrap_or(bare);
        let suggestion = did_you_mean(bare, known.iter().map(|(name, _)| *name))
            .and_then(|found| known.iter().find(|(name, _)| *name == found))
            .map(|(_, shown)| shown.clone());
        ParseError::UnexpectedArgument {
            command: self.command,
            usage: self.form.usage,
            given: token.text.clone().into_owned(),
            suggestion,
        }
    }

    pub fn unknown_flag(&self, given: &str) -> ParseError {
        let flags = self.form.args.iter().filter_map(|arg| match arg.place {
            Place::Flag(flag) => Some(flag),
            _ => None,
        });
        let name = given.split('=').next().unwrap_or(given);
        ParseError::UnknownFlag {
            command: self.command,
            usage: self.form.usage,
            given: name.to_owned(),
            suggestion: did_you_mean(name, flags).map(str::to_owned),
        }
    }

    /// A required plain word (an env name, say).
    pub fn word(&mut self, argument: &'static str) -> Result<String, ParseError> {
        self.optional_word()?.ok_or_else(|| self.missing(argument))
    }

    /// An optional plain word; a flag here is an error, not a value.
    pub fn optional_word(&mut self) -> Result<Option<String>, ParseError> {
        match self.next()? {
            None => Ok(None),
            Some(token) if token.as_flag().is_some() => Err(self.unknown_flag(&token.text)),
            Some(token) => Ok(Some(token.text.into_owned())),
        }
    }

    pub fn job(&mut self) -> Result<JobNumber, ParseError> {
        let word = self.word("a job number N")?;
        self.job_number(&word, "job number")
    }

    pub fn job_number(&self, word: &str, argument: &'static str) -> Result<JobNumber, ParseError> {
        JobNumber::parse(word).ok_or_else(|| ParseError::InvalidNumber {
            command: self.command,
            argument,
            given: word.to_owned(),
            expected: "a number like `12` or `#12`",
        })
    }

    /// Fails on anything left over.
    pub fn end(&mut self) -> Result<(), ParseError> {
        match self.next()? {
            None => Ok(()),
            Some(token) => Err(self.unexpected(&token)),
        }
    }

    /// Free text to the end of the line.
    pub fn rest(&mut self) -> Option<String> {
        self.cursor.rest()
    }

    /// The value of `--flag VALUE` or `--flag=VALUE`.
    pub fn flag_value(
        &mut self,
        flag: &str,
        inline: Option<&str>,
        what: &'static str,
    ) -> Result<String, ParseError> {
        let value = match inline {
            Some(value) => Some(value.to_owned()),
            None => self
                .next()?
                .filter(|t| t.as_flag().is_none())
                .map(|t| t.text.into_owned()),
        };
        value
            .filter(|v| !v.trim().is_empty())
            .ok_or_else(|| ParseError::FlagNeedsValue {
                command: self.command,
                flag: format!("--{flag}"),
                what,
            })
    }

    /// The value of a flag that takes words (`--break-glass checkout is down`): the
    /// inline or quoted value, then every word up to the next flag or the end.
    pub fn flag_words(
        &mut self,
        flag: &str,
        inline: Option<&str>,
        what: &'static str,
    ) -> Result<String, ParseError> {
        let mut words: Vec<String> = inline.map(str::to_owned).into_iter().collect();
        while let Some(token) = self.peek()? {
            if token.as_flag().is_some() {
                break;
            }
            self.next()?;
            words.push(token.text.into_owned());
        }
        let value = words.join(" ");
        if value.trim().is_empty() {
            return Err(ParseError::FlagNeedsValue {
                command: self.command,
                flag: format!("--{flag}"),
                what,
            });
        }
        Ok(value)
    }

    /// `--break-glass REASON...`: a reason of a few words at least, because it is what
    /// the audit channel reads when the rules were bypassed.
    pub fn break_glass(&mut self, inline: Option<&str>) -> Result<String, ParseError> {
        let reason = self.flag_words("break-glass", inline, "why the freeze must be broken")?;
        if reason.split_whitespace().count() < BREAK_GLASS_WORDS {
            return Err(ParseError::ReasonTooShort {
                command: self.command,
                flag: "--break-glass",
                least_words: BREAK_GLASS_WORDS,
            });
        }
        Ok(reason)
    }

    /// A `--dry-run` switch at this token, if it is one (given once).
    pub fn dry_run_flag(
        &self,
        token: &Token<'_>,
        slot: &mut Option<bool>,
    ) -> Result<bool, ParseError> {
        match token.as_flag() {
            Some((flag, None)) if flag.eq_ignore_ascii_case("dry-run") => {
                self.once(slot, "--dry-run", true)?;
                Ok(true)
            }
            _ => Ok(false),
        }
    }

    /// Sets an option that may be given once.
    pub fn once<T>(&self, slot: &mut Option<T>, name: &str, value: T) -> Result<(), ParseError> {
        if slot.is_some() {
            return Err(ParseError::DuplicateArgument {
                command: self.command,
                name: name.to_owned(),
            });
        }
        *slot = Some(value);
        Ok(())
    }
}

/// Reads the sub-command word of a family with several forms (`/incident declare ...`).
pub(crate) fn subcommand<'a>(
    mut cursor: Cursor<'a>,
    command: CommandName,
) -> Result<(Args<'a>, &'static str), ParseError> {
    let forms = command.spec().forms;
    let words = || forms.iter().map(|f| f.words).filter(|w| !w.is_empty());
    let Some(token) = cursor.next()? else {
        return Err(ParseError::MissingArgument {
            command,
            usage: forms[0].usage,
            argument: "a sub-command",
        });
    };
    match forms
        .iter()
        .find(|f| !f.words.is_empty() && token.is_keyword(f.words))
    {
        Some(form) => Ok((Args::new(cursor, command, form), form.words)),
        None => Err(ParseError::UnknownSubcommand {
            command,
            suggestion: did_you_mean(&token.text, words()),
            given: token.text.into_owned(),
        }),
    }
}

/// The nearest candidate by edit distance, if it is near enough to be a typo; or the one
/// candidate that the input starts.
pub fn did_you_mean<'c>(
    given: &str,
    candidates: impl Iterator<Item = &'c str> + Clone,
) -> Option<&'c str> {
    let given = given.to_lowercase();
    if given.is_empty() {
        return None;
    }
    let limit = match given.chars().count() {
        0..=3 => 1,
        4..=7 => 2,
        _ => 3,
    };
    let best = candidates
        .clone()
        .map(|c| (strsim::damerau_levenshtein(&given, &c.to_lowercase()), c))
        .filter(|&(distance, _)| distance <= limit)
        .min_by_key(|&(distance, _)| distance)
        .map(|(_, c)| c);
    best.or_else(|| {
        let mut prefixed = candidates.filter(|c| given.len() >= 3 && c.starts_with(&given));
        match (prefixed.next(), prefixed.next()) {
            (Some(only), None) => Some(only),
            _ => None,
        }
    })
}
