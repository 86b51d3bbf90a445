//! Chat text cleanup and the tokenizer: quotes, flags, and what chat clients do to text.

use std::borrow::Cow;

use crate::error::ParseError;

/// Undo what chat clients do to typed text: smart quotes become ASCII quotes, exotic
/// spaces become plain spaces, invisible characters disappear.
pub(crate) fn normalize(input: &str) -> Cow<'_, str> {
    if input.is_ascii() {
        return Cow::Borrowed(input.trim());
    }
    let mut out = String::with_capacity(input.len());
    for c in input.chars() {
        match c {
            '\u{201C}' | '\u{201D}' | '\u{201E}' | '\u{201F}' | '\u{00AB}' | '\u{00BB}' => {
                out.push('"')
            }
            '\u{2018}' | '\u{2019}' | '\u{201A}' | '\u{201B}' => out.push('\''),
            '\u{00A0}'
            | '\u{1680}'
            | '\u{2000}'..='\u{200A}'
            | '\u{202F}'
            | '\u{205F}'
            | '\u{3000}' => out.push(' '),
            '\u{200B}'..='\u{200D}' | '\u{2060}' | '\u{FEFF}' => {}
            c => out.push(c),
        }
    }
    Cow::Owned(out.trim().to_owned())
}

fn is_quote(c: char) -> bool {
    c == '"' || c == '\''
}

/// A dash that phones and macOS put where someone typed `--`.
fn is_typographic_dash(c: char) -> bool {
    c == '\u{2014}' || c == '\u{2013}'
}

/// One word of a command.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Token<'a> {
    pub text: Cow<'a, str>,
    /// Quoted words are always values: never a flag, a keyword or `key=value`.
    pub quoted: bool,
}

impl Token<'_> {
    /// `Some(("reason", Some("x")))` for `--reason=x`, `Some(("dry-run", None))` for `--dry-run`.
    pub fn as_flag(&self) -> Option<(&str, Option<&str>)> {
        if self.quoted {
            return None;
        }
        let name = self.text.strip_prefix("--")?;
        if name.is_empty() {
            return None;
        }
        Some(match name.split_once('=') {
            Some((name, value)) => (name, Some(value)),
            None => (name, None),
        })
    }

    /// A single dash word such as `-n`: not a flag we know, but clearly meant as one.
    pub fn looks_like_short_flag(&self) -> bool {
        !self.quoted && self.text.len() > 1 && self.text.starts_with('-')
    }

    /// `Some(("every", "90d"))` for `every=90d`.
    pub fn as_key_value(&self) -> Option<(&str, &str)> {
        if self.quoted {
            return None;
        }
        let (key, value) = self.text.split_once('=')?;
        (!key.is_empty() && key.chars().all(|c| c.is_ascii_alphanumeric() || c == '_'))
            .then_some((key, value))
    }

    /// Whether this is the unquoted keyword `word` (case-insensitive).
    pub fn is_keyword(&self, word: &str) -> bool {
        !self.quoted && self.text.eq_ignore_ascii_case(word)
    }
}

/// Reads a command left to right, a word at a time, so that free text at the end
/// (`/reject 12 can't ship this`) is taken as written rather than tokenized.
#[derive(Debug, Clone)]
pub(crate) struct Cursor<'a> {
    line: &'a str,
    pos: usize,
}

impl<'a> Cursor<'a> {
    pub fn new(line: &'a str) -> Self {
        Cursor { line, pos: 0 }
    }

    fn skip_whitespace(&mut self) {
        let rest = &self.line[self.pos..];
        self.pos += rest.len() - rest.trim_start().len();
    }

    pub fn at_end(&mut self) -> bool {
        self.skip_whitespace();
        self.pos >= self.line.len()
    }

    /// The next word without consuming it.
    pub fn peek(&self) -> Result<Option<Token<'a>>, ParseError> {
        self.clone().next()
    }

    /// The next word, or `None` at the end of the line.
    pub fn next(&mut self) -> Result<Option<Token<'a>>, ParseError> {
        if self.at_end() {
            return Ok(None);
        }
        let start = self.pos;
        let first = self.line[start..].chars().next().unwrap_or(' ');
        if is_quote(first) {
            let (value, end) = self.quoted(start)?;
            self.pos = end;
            return Ok(Some(Token {
                text: Cow::Owned(value),
                quoted: true,
            }));
        }
        // An unquoted word runs to the next space. A quote right after `=` opens a
        // quoted value (`--reason="hot fix"`); any other quote inside a word is literal,
        // so `don't` stays one word.
        let mut owned: Option<String> = None;
        let mut end = start;
        let mut prev = ' ';
        while let Some(c) = self.line[end..].chars().next() {
            if c.is_whitespace() {
                break;
            }
            if is_quote(c) && prev == '=' {
                let (value, after) = self.quoted(end)?;
                owned
                    .get_or_insert_with(|| self.line[start..end].to_owned())
                    .push_str(&value);
                end = after;
            } else {
                if let Some(text) = owned.as_mut() {
                    text.push(c);
                }
                end += c.len_utf8();
            }
            prev = c;
        }
        self.pos = end;
        let mut text = match owned {
            Some(text) => Cow::Owned(text),
            None => Cow::Borrowed(&self.line[start..end]),
        };
        if let Some(rest) = text.strip_prefix(is_typographic_dash)
            && rest.starts_with(|c: char| c.is_alphanumeric())
        {
            text = Cow::Owned(format!("--{rest}"));
        }
        Ok(Some(Token {
            text,
            quoted: false,
        }))
    }

    /// Reads a quoted string starting at byte `start`; returns its value and the byte
    /// just past the closing quote. Backslash escapes the quote and itself.
    fn quoted(&self, start: usize) -> Result<(String, usize), ParseError> {
        let mut chars = self.line[start..].char_indices();
        let (_, quote) = chars.next().unwrap_or((0, '"'));
        let mut value = String::new();
        while let Some((offset, c)) = chars.next() {
            if c == '\\' {
                match chars.clone().next() {
                    Some((_, next)) if next == quote || next == '\\' => {
                        value.push(next);
                        chars.next();
                        continue;
                    }
                    _ => {}
                }
            }
            // A single quote closes only before a space or the end, so the apostrophe
            // in a smart-quoted ‘it’s fine’ stays part of the text.
            let closes = c == quote
                && (quote == '"'
                    || chars
                        .clone()
                        .next()
                        .is_none_or(|(_, next)| next.is_whitespace()));
            if closes {
                return Ok((value, start + offset + c.len_utf8()));
            }
            value.push(c);
        }
        Err(ParseError::UnclosedQuote {
            line: self.line.to_owned(),
            column: self.line[..start].chars().count(),
            quote,
        })
    }

    /// The rest of the line as free text, or `None` when nothing is left. A rest that is
    /// exactly one quoted string is unquoted; anything else is kept as typed.
    pub fn rest(&mut self) -> Option<String> {
        if self.at_end() {
            return None;
        }
        let raw = &self.line[self.pos..];
        self.pos = self.line.len();
        if raw.starts_with(is_quote) {
            let mut inner = Cursor::new(raw);
            if let Ok(Some(token)) = inner.next()
                && inner.at_end()
            {
                return Some(token.text.into_owned());
            }
        }
        Some(raw.trim_end().to_owned())
    }
}

/// Writes `value` so that the cursor reads it back as one word with the same text:
/// bare when that is safe, double-quoted with escapes otherwise.
pub(crate) fn quote_word(value: &str) -> Cow<'_, str> {
    const RESERVED: &[&str] = &[
        "to", "list", "due", "rotated", "add", "declare", "update", "resolve", "deckhand",
    ];
    let plain = !value.is_empty()
        && !value.starts_with(|c: char| is_quote(c) || c == '-' || is_typographic_dash(c))
        && !value.contains(|c: char| c.is_whitespace() || c == '=')
        && !RESERVED.iter().any(|r| value.eq_ignore_ascii_case(r));
    if plain {
        Cow::Borrowed(value)
    } else {
        Cow::Owned(quoted(value))
    }
}

/// Writes free text (the end of a command) so that `Cursor::rest` reads it back unchanged.
pub(crate) fn quote_rest(value: &str) -> Cow<'_, str> {
    let plain = !value.is_empty()
        && value.trim() == value
        && !value.starts_with(|c: char| is_quote(c) || c == '-' || is_typographic_dash(c));
    if plain {
        Cow::Borrowed(value)
    } else {
        Cow::Owned(quoted(value))
    }
}

fn quoted(value: &str) -> String {
    let mut out = String::with_capacity(value.len() + 2);
    out.push('"');
    for c in value.chars() {
        if c == '"' || c == '\\' {
            out.push('\\');
        }
        out.push(c);
    }
    out.push('"');
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn words(line: &str) -> Vec<String> {
        let mut cursor = Cursor::new(line);
        let mut out = Vec::new();
        while let Some(token) = cursor.next().unwrap() {
            out.push(token.text.into_owned());
        }
        out
    }

    #[test]
    fn smart_quotes_and_odd_spaces_are_made_plain() {
        assert_eq!(
            normalize("\u{a0}/deploy\u{a0}prod \u{201C}hot fix\u{201D}\u{200B} "),
            "/deploy prod \"hot fix\""
        );
    }

    #[test]
    fn quoted_words_keep_their_spaces() {
        assert_eq!(words(r#"a "b c" 'd e'"#), ["a", "b c", "d e"]);
    }

    #[test]
    fn apostrophes_inside_a_word_are_literal() {
        assert_eq!(words("don't stop"), ["don't", "stop"]);
    }

    #[test]
    fn flag_with_quoted_value_after_equals_is_one_word() {
        assert_eq!(words(r#"--reason="hot fix" x"#), ["--reason=hot fix", "x"]);
    }

    #[test]
    fn em_dash_before_a_word_is_a_double_dash() {
        assert_eq!(words("\u{2014}dry-run"), ["--dry-run"]);
    }

    #[test]
    fn backslash_escapes_quotes_inside_quotes() {
        assert_eq!(words(r#""say \"hi\" \\ now""#), [r#"say "hi" \ now"#]);
    }

    #[test]
    fn unclosed_quote_reports_its_column() {
        let mut cursor = Cursor::new(r#"a "b c"#);
        cursor.next().unwrap();
        assert!(matches!(
            cursor.next(),
            Err(ParseError::UnclosedQuote {
                column: 2,
                quote: '"',
                ..
            })
        ));
    }

    #[test]
    fn rest_unwraps_a_single_quoted_string_only() {
        assert_eq!(Cursor::new(r#""a b""#).rest().unwrap(), "a b");
        assert_eq!(Cursor::new(r#""a" b"#).rest().unwrap(), r#""a" b"#);
        assert_eq!(Cursor::new("can't  ship").rest().unwrap(), "can't  ship");
    }

    #[test]
    fn quote_word_round_trips() {
        for value in [
            "plain",
            "two words",
            "",
            "--flag",
            "to",
            "a=b",
            "\"q",
            "x\\y",
        ] {
            let written = quote_word(value);
            let mut cursor = Cursor::new(&written);
            assert_eq!(cursor.next().unwrap().unwrap().text, value, "{written}");
            assert!(cursor.at_end());
        }
    }
}
