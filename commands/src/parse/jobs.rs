//! The job and environment commands: rollback, backup, restore, status, history, lock.

use super::Args;
use super::deploy::parse_ref;
use crate::command::{Command, RollbackTarget};
use crate::error::ParseError;
use crate::spec::CommandName;
use crate::text::Cursor;
use crate::values::HumanDuration;

/// Most jobs an answer lists, so it stays chat-sized.
pub const MAX_HISTORY: u32 = 100;

pub(super) fn rollback(mut args: Args<'_>) -> Result<Command, ParseError> {
    let env = args.word("ENV (the environment to roll back)")?;
    let mut app = None;
    let mut to = None;
    while let Some(token) = args.next()? {
        if token.is_keyword("to") && to.is_none() {
            let value = args
                .optional_word()?
                .ok_or_else(|| args.missing("a ref or job number after `to`"))?;
            to = Some(rollback_target(&args, &value)?);
        } else if app.is_none() && to.is_none() && token.as_flag().is_none() {
            app = Some(token.text.into_owned());
        } else {
            return Err(args.unexpected(&token));
        }
    }
    Ok(Command::Rollback { env, app, to })
}

/// Digits (with or without `#`) name a job; anything else is a ref.
fn rollback_target(args: &Args<'_>, value: &str) -> Result<RollbackTarget, ParseError> {
    let digits = value.strip_prefix('#').unwrap_or(value);
    if value.starts_with('#') || (!digits.is_empty() && digits.bytes().all(|b| b.is_ascii_digit()))
    {
        return args
            .job_number(value, "job number")
            .map(RollbackTarget::Job);
    }
    parse_ref(value).map(RollbackTarget::Ref)
}

pub(super) fn backup(cursor: Cursor<'_>) -> Result<Command, ParseError> {
    let forms = CommandName::Backup.spec().forms;
    // `/backup list prod` lists; `/backup prod` backs up.
    if cursor.peek()?.is_some_and(|t| t.is_keyword("list")) {
        let mut args = Args::new(cursor, CommandName::Backup, &forms[1]);
        args.next()?;
        let env = args.word("ENV (whose backups to list)")?;
        args.end()?;
        return Ok(Command::BackupList { env });
    }
    let mut args = Args::new(cursor, CommandName::Backup, &forms[0]);
    let env = args.word("ENV (the environment to back up)")?;
    let database = args.optional_word()?;
    args.end()?;
    Ok(Command::Backup { env, database })
}

pub(super) fn restore(mut args: Args<'_>) -> Result<Command, ParseError> {
    let env = args.word("ENV (the environment to restore into)")?;
    let id =
        args.word("BACKUP_ID (the number of the backup job; `/backup list ENV` shows them)")?;
    let backup = args.job_number(&id, "backup id")?;
    args.end()?;
    Ok(Command::Restore { env, backup })
}

pub(super) fn status(mut args: Args<'_>) -> Result<Command, ParseError> {
    let env = args.optional_word()?;
    args.end()?;
    Ok(Command::Status { env })
}

pub(super) fn history(mut args: Args<'_>) -> Result<Command, ParseError> {
    let env = args.word("ENV (whose history to show)")?;
    let limit = match args.optional_word()? {
        None => None,
        Some(word) => Some(
            word.parse::<u32>()
                .ok()
                .filter(|n| {
                    (1..=MAX_HISTORY).contains(n) && word.bytes().all(|b| b.is_ascii_digit())
                })
                .ok_or(ParseError::InvalidNumber {
                    command: CommandName::History,
                    argument: "LIMIT",
                    given: word,
                    expected: "a number from 1 to 100",
                })?,
        ),
    };
    args.end()?;
    Ok(Command::History { env, limit })
}

/// A lock lasts from a minute to 30 days; longer is `/lock` without `--for`.
const LOCK_RANGE: std::ops::RangeInclusive<HumanDuration> =
    HumanDuration::minutes(1)..=HumanDuration::days(30);

pub(super) fn lock(mut args: Args<'_>) -> Result<Command, ParseError> {
    let env = args.word("ENV (the environment to lock)")?;
    let mut duration = None;
    // `--for` comes before the reason; everything after is the reason, as typed.
    while let Some(token) = args.peek()? {
        let Some((flag, inline)) = token.as_flag() else {
            break;
        };
        args.next()?;
        if !flag.eq_ignore_ascii_case("for") {
            return Err(args.unknown_flag(&token.text));
        }
        let value = args.flag_value("for", inline, "how long, e.g. `2h`")?;
        let parsed = HumanDuration::parse_within(&value, "a lock", LOCK_RANGE)?;
        args.once(&mut duration, "--for", parsed)?;
    }
    Ok(Command::Lock {
        env,
        duration,
        reason: args.rest(),
    })
}
