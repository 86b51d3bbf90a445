//! Why a command could not be understood, and the short chat answer that says so.

use std::fmt::{self, Write as _};

use crate::spec::CommandName;
use crate::values::RefProblem;

/// Everything a helpful one-message answer needs. Render it with [`ParseError::render`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ParseError {
    Empty,
    UnknownCommand {
        given: String,
        suggestion: Option<CommandName>,
    },
    UnknownSubcommand {
        command: CommandName,
        given: String,
        suggestion: Option<&'static str>,
    },
    MissingArgument {
        command: CommandName,
        /// The usage line of the form that was being parsed.
        usage: &'static str,
        argument: &'static str,
    },
    UnexpectedArgument {
        command: CommandName,
        usage: &'static str,
        given: String,
        suggestion: Option<String>,
    },
    UnknownFlag {
        command: CommandName,
        usage: &'static str,
        given: String,
        suggestion: Option<String>,
    },
    DuplicateArgument {
        command: CommandName,
        name: String,
    },
    FlagNeedsValue {
        command: CommandName,
        flag: String,
        what: &'static str,
    },
    UnclosedQuote {
        /// The cleaned-up line, to point into.
        line: String,
        /// Character (not byte) index of the opening quote.
        column: usize,
        quote: char,
    },
    InvalidRef {
        given: String,
        problem: RefProblem,
    },
    InvalidDuration {
        given: String,
    },
    /// A duration outside what `what` allows.
    DurationOutOfRange {
        given: String,
        what: &'static str,
        least: crate::HumanDuration,
        most: crate::HumanDuration,
    },
    InvalidSeverity {
        given: String,
    },
    InvalidAnnouncementType {
        given: String,
        suggestion: Option<&'static str>,
    },
    InvalidPriority {
        given: String,
        suggestion: Option<&'static str>,
    },
    InvalidNumber {
        command: CommandName,
        argument: &'static str,
        given: String,
        expected: &'static str,
    },
    InvalidIncidentId {
        given: String,
    },
    InvalidSecretName {
        given: String,
    },
    InvalidPerson {
        given: String,
    },
    InvalidName {
        what: &'static str,
        given: String,
    },
    /// A reason too thin for what it lets through (`--break-glass`).
    ReasonTooShort {
        command: CommandName,
        flag: &'static str,
        least_words: usize,
    },
    /// Something in the text looks like a credential. The value itself is not kept.
    Credential {
        what: &'static str,
    },
}

impl ParseError {
    /// The chat answer: what was wrong and what would be right, in a few lines.
    pub fn render(&self) -> String {
        let mut out = String::new();
        // Writing to a String cannot fail.
        let _ = self.write(&mut out);
        out
    }

    fn write(&self, out: &mut String) -> fmt::Result {
        match self {
            ParseError::Empty => {
                write!(
                    out,
                    "I didn't get a command. Try `/help` to see what I can do."
                )
            }
            ParseError::UnknownCommand { given, suggestion } => {
                write!(out, "I don't know the command `/{}`.", clip(given))?;
                if let Some(name) = suggestion {
                    write!(out, " Did you mean `{name}`?")?;
                }
                write!(out, " Try `/help` for the list.")
            }
            ParseError::UnknownSubcommand {
                command,
                given,
                suggestion,
            } => {
                write!(out, "`{command}` has no `{}`.", clip(given))?;
                if let Some(word) = suggestion {
                    write!(out, " Did you mean `{command} {word}`?")?;
                }
                write_usages(out, *command)
            }
            ParseError::MissingArgument {
                command,
                usage,
                argument,
            } => {
                write!(out, "`{command}` needs {argument}.")?;
                write_usage(out, *command, usage)
            }
            ParseError::UnexpectedArgument {
                command,
                usage,
                given,
                suggestion,
            } => {
                write!(out, "`{command}` doesn't take `{}`.", clip(given))?;
                if let Some(s) = suggestion {
                    write!(out, " Did you mean `{s}`?")?;
                }
                write_usage(out, *command, usage)
            }
            ParseError::UnknownFlag {
                command,
                usage,
                given,
                suggestion,
            } => {
                write!(out, "`{command}` has no option `{}`.", clip(given))?;
                if let Some(s) = suggestion {
                    write!(out, " Did you mean `{s}`?")?;
                }
                write_usage(out, *command, usage)
            }
            ParseError::DuplicateArgument { command, name } => write!(
                out,
                "`{}` is given twice to `{command}`; give it once.",
                clip(name)
            ),
            ParseError::FlagNeedsValue {
                command,
                flag,
                what,
            } => write!(
                out,
                "`{flag}` needs a value ({what}), e.g. `{command} ... {flag} \"...\"`."
            ),
            ParseError::UnclosedQuote {
                line,
                column,
                quote,
            } => {
                // Point at the quote inside a window of the line short enough for chat.
                let chars: Vec<char> = line.chars().collect();
                let from = column.saturating_sub(20);
                let to = (column + 30).min(chars.len());
                let window: String = chars[from..to].iter().collect();
                let lead = if from > 0 { "…" } else { "" };
                let tail = if to < chars.len() { "…" } else { "" };
                let pad = lead.chars().count() + (column - from);
                write!(
                    out,
                    "There's an unclosed `{quote}` at character {}:\n```\n{lead}{window}{tail}\n{}^\n```\nClose it with another `{quote}`, or remove it.",
                    column + 1,
                    " ".repeat(pad)
                )
            }
            ParseError::InvalidRef { given, problem } => {
                write!(
                    out,
                    "`{}` can't be a ref: {}",
                    clip(given),
                    problem.explain()
                )?;
                if let RefProblem::BadCharacter(c) = problem {
                    write!(out, " (`{}`)", c.escape_debug())?;
                }
                write!(
                    out,
                    ". A ref is a branch, tag, sha or version like `main`, `v1.4.2` or `a1b2c3d`."
                )
            }
            ParseError::InvalidDuration { given } => write!(
                out,
                "`{}` is not a duration. Write it like `30m`, `2h`, `90d` or `1h30m`.",
                clip(given)
            ),
            ParseError::DurationOutOfRange {
                given,
                what,
                least,
                most,
            } => write!(
                out,
                "`{}` is out of range for {what}: give between `{least}` and `{most}`.",
                clip(given)
            ),
            ParseError::InvalidSeverity { given } => write!(
                out,
                "`{}` is not a severity. Use `sev1` (worst), `sev2`, `sev3` or `sev4`.",
                clip(given)
            ),
            ParseError::InvalidAnnouncementType { given, suggestion } => {
                write!(out, "`{}` is not an announcement type.", clip(given))?;
                if let Some(s) = suggestion {
                    write!(out, " Did you mean `{s}`?")?;
                }
                write!(
                    out,
                    " Types: {}.",
                    code_list(crate::values::AnnouncementType::WORDS)
                )
            }
            ParseError::InvalidPriority { given, suggestion } => {
                write!(out, "`{}` is not a priority.", clip(given))?;
                if let Some(s) = suggestion {
                    write!(out, " Did you mean `{s}`?")?;
                }
                write!(
                    out,
                    " Use {} (quote the subject if it is one word).",
                    code_list(crate::values::Priority::WORDS)
                )
            }
            ParseError::InvalidNumber {
                command,
                argument,
                given,
                expected,
            } => {
                write!(
                    out,
                    "`{}` is not a valid {argument}: expected {expected}.",
                    clip(given)
                )?;
                write_usages(out, *command)
            }
            ParseError::InvalidIncidentId { given } => write!(
                out,
                "`{}` is not an incident id. Incidents are written like `INC-3`; `/incident list` shows the open ones.",
                clip(given)
            ),
            ParseError::InvalidSecretName { given } => write!(
                out,
                "`{}` is not a secret name. Use the variable's name, like `STRIPE_SECRET_KEY` (letters, digits and `_`), never its value.",
                clip(given)
            ),
            ParseError::InvalidPerson { given } => write!(
                out,
                "`{}` is not a person. Mention them (`@alice`) or name a role (`approvers`).",
                clip(given)
            ),
            ParseError::ReasonTooShort {
                command,
                flag,
                least_words,
            } => write!(
                out,
                "`{flag}` needs a reason of at least {least_words} words: it goes to the audit channel and the card, so say what is broken and why it cannot wait, e.g. `{command} ... {flag} checkout is down for everyone`."
            ),
            ParseError::Credential { what } => write!(
                out,
                "🔐 That message contains what looks like {what}. I didn't store it or repeat it. Treat it as leaked: rotate it now and delete your message. deckhand tracks secrets by name only, e.g. `/secrets rotated STRIPE_SECRET_KEY prod`."
            ),
            ParseError::InvalidName { what, given } => write!(
                out,
                "`{}` can't be an {what} name: names are lower-case letters, digits, `-` and `_`, starting with a letter or digit (like `prod` or `eu-west-1`). `/status` lists what is configured.",
                clip(given)
            ),
        }
    }
}

impl fmt::Display for ParseError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.render())
    }
}

impl std::error::Error for ParseError {}

fn write_usage(out: &mut String, command: CommandName, usage: &str) -> fmt::Result {
    write!(out, "\nUsage: `{command} {usage}`")
}

fn write_usages(out: &mut String, command: CommandName) -> fmt::Result {
    for form in command.spec().forms {
        write_usage(out, command, form.usage)?;
    }
    Ok(())
}

fn code_list(words: &[&str]) -> String {
    words
        .iter()
        .map(|w| format!("`{w}`"))
        .collect::<Vec<_>>()
        .join(", ")
}

/// Keeps an echoed word chat-sized and free of backticks that would break the code span.
fn clip(text: &str) -> String {
    const MAX: usize = 40;
    let mut out: String = text
        .chars()
        .take(MAX)
        .map(|c| if c == '`' { '\'' } else { c })
        .collect();
    if text.chars().count() > MAX {
        out.push('…');
    }
    out
}
