//! deckhand's command language: chat text to typed commands, friendly errors, help and
//! the platform command manifests. Pure: no I/O, no async.
//!
//! ```
//! use deckhand_commands::{parse, Command};
//! let Command::Deploy(deploy) = parse("/deploy prod v1.4.2 --dry-run").unwrap() else {
//!     unreachable!()
//! };
//! assert_eq!(deploy.target.env, "prod");
//! assert!(deploy.dry_run);
//! ```

mod command;
mod credential;
mod error;
mod help;
pub mod manifest;
mod parse;
mod render;
mod spec;
mod text;
mod values;

pub use command::{
    Command, Deploy, FreezeCommand, IncidentCommand, RollbackTarget, SecretsCommand, Target,
};
pub use credential::{credential_in, looks_like_credential, without_credentials};
pub use error::ParseError;
pub use help::{help, help_for};
pub use parse::{did_you_mean, parse};
pub use spec::{Arg, ArgKind, CommandName, Form, Place, Spec};
pub use values::{
    AnnouncementType, GitRef, HumanDuration, IncidentId, JobNumber, Person, Priority, RefProblem,
    Severity, is_name, is_secret_name,
};

/// The most jobs `/history` lists.
pub const MAX_HISTORY: u32 = parse::MAX_HISTORY;
