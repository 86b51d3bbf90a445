//! The job and environment commands: rollback, backup, restore, status, history, lock.

use super::Args;
use super::deploy::parse_ref;
use crate::command::{Command, FreezeCommand, RollbackTarget};
use crate::error::ParseError;
use crate::spec::CommandName;
use crate::text::Cursor;
use crate::values::HumanDuration;

/// Most jobs an answer lists, so it stays chat-sized.
pub const MAX_HISTORY: u32 = 100;

pub(super) fn rollback(mut args: Args<'_>) -> Result<Command, ParseError> {
    let mut env = None;
    let mut app = None;
    let mut to = None;
    let mut dry_run = None;
    let mut break_glass = None;
    while let Some(token) = args.next()? {
        if args.dry_run_flag(&token, &mut dry_run)? {
            continue;
        }
        if let Some((flag, inline)) = token.as_flag()
            && flag.eq_ignore_ascii_case("break-glass")
        {
            let reason = args.break_glass(inline)?;
            args.once(&mut break_glass, "--break-glass", reason)?;
            continue;
        }
        if env.is_none() && token.as_flag().is_none() {
            env = Some(token.text.into_owned());
        } else if token.is_keyword("to") && to.is_none() {
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
    let env = env.ok_or_else(|| args.missing("ENV (the environment to roll back)"))?;
    Ok(Command::Rollback {
        env,
        app,
        to,
        dry_run: dry_run.unwrap_or(false),
        break_glass,
    })
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
    let mut dry_run = None;
    let words = words_and_dry_run(&mut args, 2, &mut dry_run)?;
    let mut words = words.into_iter();
    let env = words
        .next()
        .ok_or_else(|| args.missing("ENV (the environment to back up)"))?;
    Ok(Command::Backup {
        env,
        database: words.next(),
        dry_run: dry_run.unwrap_or(false),
    })
}

pub(super) fn restore(mut args: Args<'_>) -> Result<Command, ParseError> {
    let mut dry_run = None;
    let mut break_glass = None;
    let mut words = Vec::new();
    while let Some(token) = args.next()? {
        if args.dry_run_flag(&token, &mut dry_run)? {
            continue;
        }
        match token.as_flag() {
            Some((flag, inline)) if flag.eq_ignore_ascii_case("break-glass") => {
                let reason = args.break_glass(inline)?;
                args.once(&mut break_glass, "--break-glass", reason)?;
            }
            Some(_) => return Err(args.unknown_flag(&token.text)),
            None if words.len() < 2 => words.push(token.text.into_owned()),
            None => return Err(args.unexpected(&token)),
        }
    }
    let mut words = words.into_iter();
    let env = words
        .next()
        .ok_or_else(|| args.missing("ENV (the environment to restore into)"))?;
    let id = words.next().ok_or_else(|| {
        args.missing("BACKUP_ID (the number of the backup job; `/backup list ENV` shows them)")
    })?;
    let backup = args.job_number(&id, "backup id")?;
    Ok(Command::Restore {
        env,
        backup,
        dry_run: dry_run.unwrap_or(false),
        break_glass,
    })
}

/// `/cancel N [--dry-run]`.
pub(super) fn cancel(mut args: Args<'_>) -> Result<Command, ParseError> {
    let mut dry_run = None;
    let words = words_and_dry_run(&mut args, 1, &mut dry_run)?;
    let word = words
        .into_iter()
        .next()
        .ok_or_else(|| args.missing("a job number N"))?;
    Ok(Command::Cancel {
        job: args.job_number(&word, "job number")?,
        dry_run: dry_run.unwrap_or(false),
    })
}

/// `/unlock ENV [--dry-run]`, `/unfreeze ENV [--dry-run]`.
pub(super) fn env_and_dry_run(
    mut args: Args<'_>,
    missing: &'static str,
) -> Result<(String, bool), ParseError> {
    let mut dry_run = None;
    let words = words_and_dry_run(&mut args, 1, &mut dry_run)?;
    let env = words
        .into_iter()
        .next()
        .ok_or_else(|| args.missing(missing))?;
    Ok((env, dry_run.unwrap_or(false)))
}

/// Up to `most` plain words, with `--dry-run` allowed anywhere among them.
fn words_and_dry_run(
    args: &mut Args<'_>,
    most: usize,
    dry_run: &mut Option<bool>,
) -> Result<Vec<String>, ParseError> {
    let mut words = Vec::new();
    while let Some(token) = args.next()? {
        if args.dry_run_flag(&token, dry_run)? {
            continue;
        }
        if token.as_flag().is_some() || token.looks_like_short_flag() {
            return Err(args.unknown_flag(&token.text));
        }
        if words.len() == most {
            return Err(args.unexpected(&token));
        }
        words.push(token.text.into_owned());
    }
    Ok(words)
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
    let mut dry_run = None;
    // `--for` comes before the reason; everything after is the reason, as typed.
    while let Some(token) = args.peek()? {
        let Some((flag, inline)) = token.as_flag() else {
            break;
        };
        args.next()?;
        if args.dry_run_flag(&token, &mut dry_run)? {
            continue;
        }
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
        dry_run: dry_run.unwrap_or(false),
    })
}

/// A freeze from chat lasts from a minute to 90 days; longer belongs in deckhand.toml.
const FREEZE_RANGE: std::ops::RangeInclusive<HumanDuration> =
    HumanDuration::minutes(1)..=HumanDuration::days(90);

/// `/freeze ENV DURATION [--dry-run] REASON...`, `/freeze list`.
pub(super) fn freeze(cursor: Cursor<'_>) -> Result<Command, ParseError> {
    let forms = CommandName::Freeze.spec().forms;
    if cursor.peek()?.is_some_and(|t| t.is_keyword("list")) {
        let mut args = Args::new(cursor, CommandName::Freeze, &forms[1]);
        args.next()?;
        args.end()?;
        return Ok(Command::Freeze(FreezeCommand::List));
    }
    let mut args = Args::new(cursor, CommandName::Freeze, &forms[0]);
    let env = args.word("ENV (the environment to freeze)")?;
    let length = args.word("DURATION (how long, e.g. `2h` or `3d`)")?;
    let duration = HumanDuration::parse_within(&length, "a freeze", FREEZE_RANGE)?;
    let mut dry_run = None;
    while let Some(token) = args.peek()? {
        if token.as_flag().is_none() {
            break;
        }
        args.next()?;
        if !args.dry_run_flag(&token, &mut dry_run)? {
            return Err(args.unknown_flag(&token.text));
        }
    }
    let reason = args
        .rest()
        .ok_or_else(|| args.missing("REASON (why, shown to anyone who tries to deploy)"))?;
    Ok(Command::Freeze(FreezeCommand::Set {
        env,
        duration,
        reason,
        dry_run: dry_run.unwrap_or(false),
    }))
}
