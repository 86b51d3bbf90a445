//! `/secrets list|due|rotated|add`: rotation bookkeeping, never values.

use super::{Args, subcommand};
use crate::command::{Command, SecretsCommand};
use crate::error::ParseError;
use crate::spec::CommandName;
use crate::text::Cursor;
use crate::values::{HumanDuration, Person, is_secret_name};

/// Rotating a secret more often than daily, or less often than every 5 years, is a typo.
const ROTATION_RANGE: std::ops::RangeInclusive<HumanDuration> =
    HumanDuration::days(1)..=HumanDuration::days(5 * 365);

pub(super) fn secrets(cursor: Cursor<'_>) -> Result<Command, ParseError> {
    let (mut args, sub) = subcommand(cursor, CommandName::Secrets)?;
    let parsed = match sub {
        "list" => {
            let env = args.optional_word()?;
            args.end()?;
            SecretsCommand::List { env }
        }
        "due" => {
            args.end()?;
            SecretsCommand::Due
        }
        "rotated" => {
            let name = secret_name(&mut args)?;
            let env = args.optional_word()?;
            args.end()?;
            SecretsCommand::Rotated { name, env }
        }
        _ => add(&mut args)?,
    };
    Ok(Command::Secrets(parsed))
}

fn secret_name(args: &mut Args<'_>) -> Result<String, ParseError> {
    let name = args.word("the secret's NAME, e.g. STRIPE_SECRET_KEY")?;
    if is_secret_name(&name) {
        Ok(name)
    } else {
        Err(ParseError::InvalidSecretName { given: name })
    }
}

/// `add NAME ENV every=90d owner=@someone [runbook=URL]`; the `key=value` parts may come
/// in any order.
fn add(args: &mut Args<'_>) -> Result<SecretsCommand, ParseError> {
    let mut words = Vec::new();
    let (mut every, mut owner, mut runbook) = (None, None, None);
    while let Some(token) = args.next()? {
        let Some((key, value)) = token.as_key_value() else {
            if token.as_flag().is_some() {
                return Err(args.unexpected(&token));
            }
            words.push(token);
            continue;
        };
        match key.to_ascii_lowercase().as_str() {
            "every" => {
                let parsed =
                    HumanDuration::parse_within(value, "a rotation period", ROTATION_RANGE)?;
                args.once(&mut every, "every", parsed)?;
            }
            "owner" => {
                let parsed = Person::parse(value).ok_or_else(|| ParseError::InvalidPerson {
                    given: value.to_owned(),
                })?;
                args.once(&mut owner, "owner", parsed)?;
            }
            "runbook" if !value.is_empty() => {
                args.once(&mut runbook, "runbook", value.to_owned())?
            }
            _ => return Err(args.unexpected(&token)),
        }
    }
    let mut words = words.into_iter();
    let name = words
        .next()
        .ok_or_else(|| args.missing("the secret's NAME, e.g. STRIPE_SECRET_KEY"))?
        .text
        .into_owned();
    if !is_secret_name(&name) {
        return Err(ParseError::InvalidSecretName { given: name });
    }
    let env = words
        .next()
        .ok_or_else(|| args.missing("ENV (where the secret is used)"))?
        .text
        .into_owned();
    if let Some(extra) = words.next() {
        return Err(args.unexpected(&extra));
    }
    Ok(SecretsCommand::Add {
        name,
        env,
        every: every.ok_or_else(|| args.missing("`every=DURATION`, e.g. `every=90d`"))?,
        owner: owner.ok_or_else(|| args.missing("`owner=@someone`"))?,
        runbook,
    })
}
