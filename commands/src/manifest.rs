//! The Slack slash commands and Discord application commands, as data derived from the
//! command definitions, and the way back from a Discord invocation to command text.

use serde::Serialize;

use crate::spec::{Arg, ArgKind, CommandName, Form, Place};
use crate::text::{quote_rest, quote_word};

/// The umbrella command for workspaces where `/deploy` is already taken.
pub const UMBRELLA: &str = "deckhand";

/// One entry of a Slack app manifest's `features.slash_commands`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct SlackSlashCommand {
    pub command: String,
    pub description: String,
    pub usage_hint: String,
    pub should_escape: bool,
}

/// Every slash command deckhand registers in Slack, the umbrella `/deckhand` included.
pub fn slack_slash_commands() -> Vec<SlackSlashCommand> {
    let mut commands: Vec<SlackSlashCommand> = CommandName::ALL
        .iter()
        .map(|&name| {
            let spec = name.spec();
            let usage: Vec<&str> = spec.forms.iter().map(|f| f.usage).collect();
            SlackSlashCommand {
                command: name.to_string(),
                description: capitalise(spec.summary),
                usage_hint: usage.join(" | "),
                // Unescaped, so mentions arrive as `<@U123|bob>` and can be resolved.
                should_escape: false,
            }
        })
        .collect();
    commands.push(SlackSlashCommand {
        command: format!("/{UMBRELLA}"),
        description: "Every deckhand command, for workspaces where the short ones are taken"
            .to_owned(),
        usage_hint: "deploy prod | approve 12 | help".to_owned(),
        should_escape: false,
    });
    commands
}

/// A Discord application command (type 1, CHAT_INPUT).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct DiscordCommand {
    pub name: String,
    #[serde(rename = "type")]
    pub kind: u8,
    pub description: String,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub options: Vec<DiscordOption>,
    /// The permission bits a member needs to see the command until a server admin
    /// changes it (Server Settings → Integrations). deckhand's roles decide who may run
    /// what; this keeps the commands from members who cannot even post.
    pub default_member_permissions: Option<String>,
}

/// SEND_MESSAGES (1 << 11), as Discord writes permission sets: a decimal string.
pub const DISCORD_DEFAULT_PERMISSIONS: &str = "2048";

/// A Discord application command option (or sub-command).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct DiscordOption {
    #[serde(rename = "type")]
    pub kind: u8,
    pub name: String,
    pub description: String,
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub required: bool,
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub autocomplete: bool,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub choices: Vec<DiscordChoice>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub options: Vec<DiscordOption>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct DiscordChoice {
    pub name: String,
    pub value: String,
}

/// Discord's option type numbers.
mod option_type {
    pub const SUB_COMMAND: u8 = 1;
    pub const STRING: u8 = 3;
    pub const INTEGER: u8 = 4;
    pub const BOOLEAN: u8 = 5;
}

/// Every Discord application command. A command with several forms becomes a command
/// with sub-commands, because Discord does not mix sub-commands and options.
pub fn discord_commands() -> Vec<DiscordCommand> {
    CommandName::ALL
        .iter()
        .map(|&name| {
            let spec = name.spec();
            let options = match spec.forms {
                [only] if only.words.is_empty() => discord_options(only),
                forms => forms
                    .iter()
                    .map(|form| DiscordOption {
                        kind: option_type::SUB_COMMAND,
                        name: form.discord_name().to_owned(),
                        description: limit(form.summary),
                        required: false,
                        autocomplete: false,
                        choices: Vec::new(),
                        options: discord_options(form),
                    })
                    .collect(),
            };
            DiscordCommand {
                name: spec.name.to_owned(),
                kind: 1,
                description: limit(&capitalise(spec.summary)),
                options,
                default_member_permissions: Some(DISCORD_DEFAULT_PERMISSIONS.to_owned()),
            }
        })
        .collect()
}

fn discord_options(form: &Form) -> Vec<DiscordOption> {
    let mut options: Vec<DiscordOption> = form.args.iter().map(discord_option).collect();
    // Discord requires the required options first; the order of typing is kept otherwise.
    options.sort_by_key(|o| !o.required);
    options
}

fn discord_option(arg: &Arg) -> DiscordOption {
    let kind = match arg.kind {
        ArgKind::Integer => option_type::INTEGER,
        ArgKind::Switch => option_type::BOOLEAN,
        _ => option_type::STRING,
    };
    let choices = match arg.kind {
        ArgKind::Choice(words) => words
            .iter()
            .map(|w| DiscordChoice {
                name: (*w).to_owned(),
                value: (*w).to_owned(),
            })
            .collect(),
        _ => Vec::new(),
    };
    DiscordOption {
        kind,
        name: arg.name.to_owned(),
        description: limit(arg.help),
        required: arg.required,
        autocomplete: matches!(arg.kind, ArgKind::Env | ArgKind::App),
        choices,
        options: Vec::new(),
    }
}

/// A value a person gave to a Discord option.
#[derive(Debug, Clone, PartialEq)]
pub enum OptionValue {
    Text(String),
    Integer(i64),
    Bool(bool),
}

/// Why a Discord invocation could not be turned into text.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum InvocationError {
    #[error("deckhand has no command `/{0}`")]
    UnknownCommand(String),
    #[error("this command has no sub-command `{0}`")]
    UnknownSubcommand(String),
    #[error("this command has no option `{0}`")]
    UnknownOption(String),
}

/// Turns a Discord invocation (command, optional sub-command, options by name) into the
/// text a person would have typed, so that Discord goes through the same parser as
/// everything else.
pub fn discord_invocation_text(
    command: &str,
    subcommand: Option<&str>,
    options: &[(String, OptionValue)],
) -> Result<String, InvocationError> {
    let name = CommandName::parse(command)
        .ok_or_else(|| InvocationError::UnknownCommand(command.to_owned()))?;
    let forms = name.spec().forms;
    let form = match (forms, subcommand) {
        ([only], None) if only.words.is_empty() => only,
        (forms, Some(sub)) => forms
            .iter()
            .find(|f| f.discord_name() == sub)
            .ok_or_else(|| InvocationError::UnknownSubcommand(sub.to_owned()))?,
        (forms, None) => &forms[0],
    };
    if let Some((unknown, _)) = options
        .iter()
        .find(|(option, _)| !form.args.iter().any(|a| a.name == option))
    {
        return Err(InvocationError::UnknownOption(unknown.clone()));
    }
    let mut text = format!("{name}");
    if !form.words.is_empty() {
        text.push(' ');
        text.push_str(form.words);
    }
    for arg in form.args {
        let Some((_, value)) = options.iter().find(|(option, _)| option == arg.name) else {
            continue;
        };
        let value = match value {
            OptionValue::Text(s) => s.clone(),
            OptionValue::Integer(n) => n.to_string(),
            OptionValue::Bool(false) => continue,
            OptionValue::Bool(true) => String::new(),
        };
        let piece = match arg.place {
            Place::Positional => quote_word(&value).into_owned(),
            Place::Flag(flag) if value.is_empty() => flag.to_owned(),
            Place::Flag(flag) => format!("{flag} {}", quote_word(&value)),
            Place::Keyword(word) => format!("{word} {}", quote_word(&value)),
            Place::KeyValue(key) => format!("{key}={}", quote_word(&value)),
            Place::Rest => quote_rest(&value).into_owned(),
        };
        text.push(' ');
        text.push_str(&piece);
    }
    Ok(text)
}

fn capitalise(text: &str) -> String {
    let mut chars = text.chars();
    match chars.next() {
        Some(first) => first.to_uppercase().chain(chars).collect(),
        None => String::new(),
    }
}

/// Discord descriptions are at most 100 characters.
fn limit(text: &str) -> String {
    if text.chars().count() <= 100 {
        return text.to_owned();
    }
    let mut out: String = text.chars().take(99).collect();
    out.push('…');
    out
}
