//! `/deploy`: the plain, app-first and hubot (`APP/REF to ENV`) forms, and their flags.

use super::Args;
use crate::command::{Command, Deploy, Target};
use crate::error::ParseError;
use crate::values::{GitRef, IncidentId};

pub(super) fn deploy(mut args: Args<'_>) -> Result<Command, ParseError> {
    let mut words = Vec::new();
    let mut dry_run = None;
    let mut reason = None;
    let mut hotfix = None;
    let mut break_glass = None;
    let mut skip_checks = None;
    // Flags may come anywhere: people add `--dry-run` wherever they remember it.
    while let Some(token) = args.next()? {
        let Some((flag, inline)) = token.as_flag() else {
            if token.looks_like_short_flag() {
                return Err(args.unknown_flag(&token.text));
            }
            words.push(token);
            continue;
        };
        match flag.to_ascii_lowercase().as_str() {
            "dry-run" if inline.is_none() => args.once(&mut dry_run, "--dry-run", true)?,
            "reason" => {
                let value = args.flag_value("reason", inline, "why you are deploying")?;
                args.once(&mut reason, "--reason", value)?;
            }
            "hotfix" => {
                let value = args.flag_value("hotfix", inline, "the incident, e.g. INC-3")?;
                let id = IncidentId::parse(&value)
                    .ok_or(ParseError::InvalidIncidentId { given: value })?;
                args.once(&mut hotfix, "--hotfix", id)?;
            }
            "break-glass" => {
                let value = args.break_glass(inline)?;
                args.once(&mut break_glass, "--break-glass", value)?;
            }
            "skip-checks" => {
                let value = args.flag_words(
                    "skip-checks",
                    inline,
                    "why it must go out without its checks",
                )?;
                args.once(&mut skip_checks, "--skip-checks", value)?;
            }
            _ => return Err(args.unknown_flag(&token.text)),
        }
    }

    let text = |i: usize| words[i].text.as_ref();
    let target = match words.len() {
        0 => return Err(args.missing("ENV (the environment to deploy to)")),
        // `/deploy to prod` is what people type after reading the hubot form.
        2 if words[0].is_keyword("to") => target(None, text(1), None)?,
        3 if words[1].is_keyword("to") => {
            // Hubot form: `APP/REF to ENV` or `APP to ENV`.
            match text(0).split_once('/') {
                Some((app, git_ref)) => target(Some(app), text(2), Some(git_ref))?,
                None => target(Some(text(0)), text(2), None)?,
            }
        }
        1 => target(None, text(0), None)?,
        2 => target(None, text(0), Some(text(1)))?,
        3 => target(Some(text(0)), text(1), Some(text(2)))?,
        _ => return Err(args.unexpected(&words[3])),
    };
    Ok(Command::Deploy(Deploy {
        target,
        dry_run: dry_run.unwrap_or(false),
        reason,
        hotfix,
        break_glass,
        skip_checks,
    }))
}

fn target(app: Option<&str>, env: &str, git_ref: Option<&str>) -> Result<Target, ParseError> {
    // `APP/REF` splits at the first slash, so an app name can never hold one.
    if let Some(app) = app.filter(|a| a.is_empty() || a.contains('/')) {
        return Err(ParseError::InvalidName {
            what: "app",
            given: app.to_owned(),
        });
    }
    Ok(Target {
        app: app.map(str::to_owned),
        env: env.to_owned(),
        git_ref: git_ref.map(parse_ref).transpose()?,
    })
}

pub(super) fn parse_ref(value: &str) -> Result<GitRef, ParseError> {
    GitRef::new(value).map_err(|problem| ParseError::InvalidRef {
        given: value.to_owned(),
        problem,
    })
}
