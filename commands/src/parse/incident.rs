//! `/incident declare|update|resolve|list`.

use super::{Args, subcommand};
use crate::command::{Command, IncidentCommand};
use crate::error::ParseError;
use crate::spec::CommandName;
use crate::text::Cursor;
use crate::values::{IncidentId, Severity};

pub(super) fn incident(cursor: Cursor<'_>) -> Result<Command, ParseError> {
    let (mut args, sub) = subcommand(cursor, CommandName::Incident)?;
    let parsed = match sub {
        "declare" => {
            let word = args.word("SEV (sev1 to sev4)")?;
            let severity =
                Severity::parse(&word).ok_or(ParseError::InvalidSeverity { given: word })?;
            let title = args
                .rest()
                .ok_or_else(|| args.missing("a TITLE saying what is broken"))?;
            IncidentCommand::Declare { severity, title }
        }
        "update" => {
            let id = incident_id(&mut args)?;
            let text = args
                .rest()
                .ok_or_else(|| args.missing("the TEXT of the update"))?;
            IncidentCommand::Update { id, text }
        }
        "resolve" => {
            let id = incident_id(&mut args)?;
            IncidentCommand::Resolve {
                id,
                summary: args.rest(),
            }
        }
        _ => {
            args.end()?;
            IncidentCommand::List
        }
    };
    Ok(Command::Incident(parsed))
}

fn incident_id(args: &mut Args<'_>) -> Result<IncidentId, ParseError> {
    let word = args.word("the incident ID, e.g. INC-3")?;
    IncidentId::parse(&word).ok_or(ParseError::InvalidIncidentId { given: word })
}
