//! TOML text to a [`Config`], listing every unknown key and type error at once, each
//! with its key and line: serde stops at the first, so each bad value found is taken
//! out of the parsed document (whose values keep their places in the text) and the rest
//! is read again.

use toml::Spanned;
use toml::de::{DeArray, DeTable, DeValue};

use super::Config;
use super::validate::ConfigError;

/// A config with more problems than this is not worth listing further.
const MOST_PROBLEMS: usize = 50;

/// What reading found: the config as far as it could be read, and what could not be.
pub(super) struct Read {
    /// The config without the values set aside; `None` when nothing could be read.
    pub config: Option<Config>,
    pub errors: Vec<ConfigError>,
    /// Keys set aside, so validation does not report what follows from their absence.
    pub set_aside: Vec<String>,
    /// The line of every key in the file, for problems found after reading.
    pub lines: std::collections::BTreeMap<String, usize>,
}

impl Read {
    /// The line `key` (or the nearest key holding it) is written on.
    pub fn line_of(&self, key: &str) -> Option<usize> {
        let mut key = key;
        loop {
            if let Some(line) = self.lines.get(key) {
                return Some(*line);
            }
            key = &key[..key.rfind(['.', '['])?];
        }
    }
}

pub(super) fn read(text: &str, file: &str) -> Read {
    let error = |key: String, reason: String| ConfigError {
        file: file.to_owned(),
        key,
        reason,
    };
    let original = match DeTable::parse(text) {
        Ok(table) => table,
        Err(e) => {
            return Read {
                config: None,
                errors: vec![error(String::new(), located(text, &e))],
                set_aside: Vec::new(),
                lines: Default::default(),
            };
        }
    };
    let mut lines = Default::default();
    record_lines(
        &LineIndex::of(text),
        original.get_ref(),
        String::new(),
        &mut lines,
    );
    let mut working = original.clone();
    let mut errors = Vec::new();
    let mut set_aside: Vec<String> = Vec::new();
    // Array elements taken out so far: (the array's path, the element's index), as in
    // the file.
    let mut removed: Vec<(Vec<Step>, usize)> = Vec::new();
    while errors.len() < MOST_PROBLEMS {
        let deserializer = toml::de::Deserializer::from(working.clone());
        let e = match serde_path_to_error::deserialize::<_, Config>(deserializer) {
            Ok(config) => {
                return Read {
                    config: Some(config),
                    errors,
                    set_aside,
                    lines,
                };
            }
            Err(e) => e,
        };
        let path: Vec<Step> = e.path().iter().map(Step::from).collect();
        // The key as the file writes it: serde's path, with array indices counted as in
        // the file rather than in what is left of it.
        let original_path = to_original(&path, &removed);
        let key = dotted(&original_path);
        // A complaint about what holds a value already set aside (a missing field, a
        // step left with nothing to do) follows from that value: not a new problem.
        let follows = set_aside
            .iter()
            .any(|k| k != &key && related(k, &key) && k.len() > key.len());
        if !follows {
            errors.push(error(key.clone(), located(text, e.inner())));
            set_aside.push(key);
        }
        if let Some((Step::Index(i), array)) = original_path.split_last() {
            removed.push((array.to_vec(), *i));
        }
        if path.is_empty() || !remove(working.get_mut(), &path) {
            break;
        }
    }
    Read {
        config: None,
        errors,
        set_aside,
        lines,
    }
}

fn line_at(text: &str, offset: usize) -> usize {
    text[..offset.min(text.len())].matches('\n').count() + 1
}

/// Where each line starts, so a key's line is a binary search: counting newlines from
/// the top for every key made a config of 18,000 envs take minutes to read.
struct LineIndex(Vec<usize>);

impl LineIndex {
    fn of(text: &str) -> LineIndex {
        LineIndex(text.match_indices('\n').map(|(at, _)| at).collect())
    }

    fn line(&self, offset: usize) -> usize {
        self.0.partition_point(|&newline| newline < offset) + 1
    }
}

fn record_lines(
    text: &LineIndex,
    table: &DeTable<'_>,
    prefix: String,
    lines: &mut std::collections::BTreeMap<String, usize>,
) {
    for (key, value) in table.iter() {
        let here = if prefix.is_empty() {
            key.get_ref().to_string()
        } else {
            format!("{prefix}.{}", key.get_ref())
        };
        lines.insert(here.clone(), text.line(key.span().start));
        record_value_lines(text, value, here, lines);
    }
}

fn record_value_lines(
    text: &LineIndex,
    value: &Spanned<DeValue<'_>>,
    here: String,
    lines: &mut std::collections::BTreeMap<String, usize>,
) {
    match value.get_ref() {
        DeValue::Table(table) => record_lines(text, table, here, lines),
        DeValue::Array(array) => {
            for (i, item) in array.iter().enumerate() {
                let indexed = format!("{here}[{i}]");
                lines.insert(indexed.clone(), text.line(item.span().start));
                record_value_lines(text, item, indexed, lines);
            }
        }
        _ => {}
    }
}

/// One step of serde's path into the document.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Step {
    Key(String),
    Index(usize),
}

impl From<&serde_path_to_error::Segment> for Step {
    fn from(segment: &serde_path_to_error::Segment) -> Step {
        match segment {
            serde_path_to_error::Segment::Seq { index } => Step::Index(*index),
            serde_path_to_error::Segment::Map { key } => Step::Key(key.clone()),
            serde_path_to_error::Segment::Enum { variant } => Step::Key(variant.clone()),
            serde_path_to_error::Segment::Unknown => Step::Key("?".into()),
        }
    }
}

fn dotted(path: &[Step]) -> String {
    let mut out = String::new();
    for step in path {
        match step {
            Step::Key(key) if out.is_empty() => out.push_str(key),
            Step::Key(key) => {
                out.push('.');
                out.push_str(key);
            }
            Step::Index(i) => out.push_str(&format!("[{i}]")),
        }
    }
    out
}

/// A path into what is left of the document, as a path into the file.
fn to_original(path: &[Step], removed: &[(Vec<Step>, usize)]) -> Vec<Step> {
    let mut out: Vec<Step> = Vec::with_capacity(path.len());
    for step in path {
        match step {
            Step::Index(i) => {
                let mut gone: Vec<usize> = removed
                    .iter()
                    .filter(|(array, _)| *array == out)
                    .map(|(_, j)| *j)
                    .collect();
                gone.sort_unstable();
                let mut index = *i;
                for j in gone {
                    if j <= index {
                        index += 1;
                    }
                }
                out.push(Step::Index(index));
            }
            key => out.push(key.clone()),
        }
    }
    out
}

/// Takes the value at `path` out of the document. `false` when there is none.
fn remove(table: &mut DeTable<'_>, path: &[Step]) -> bool {
    let Some((Step::Key(first), rest)) = path.split_first() else {
        return false;
    };
    let Some(key) = table.keys().find(|k| k.get_ref() == first).cloned() else {
        return false;
    };
    if rest.is_empty() {
        return table.remove(&key).is_some();
    }
    match table.get_mut(&key).map(Spanned::get_mut) {
        Some(value) => remove_in(value, rest),
        None => false,
    }
}

fn remove_in(value: &mut DeValue<'_>, path: &[Step]) -> bool {
    match (value, path.first()) {
        (DeValue::Table(table), Some(Step::Key(_))) => remove(table, path),
        (DeValue::Array(array), Some(Step::Index(i))) => {
            let i = *i;
            if i >= array.len() {
                return false;
            }
            if path.len() == 1 {
                let kept: DeArray<'_> = array
                    .iter()
                    .enumerate()
                    .filter(|(j, _)| *j != i)
                    .map(|(_, v)| v.clone())
                    .collect();
                *array = kept;
                return true;
            }
            // DerefMut gives the slice, so the item is reached through it.
            let items: &mut [Spanned<DeValue<'_>>] = array;
            remove_in(items[i].get_mut(), &path[1..])
        }
        _ => false,
    }
}

/// The error's message with the line it points at.
pub(super) fn located(text: &str, error: &toml::de::Error) -> String {
    let message = error.message().trim().to_owned();
    match error.span() {
        Some(span) => format!("{message} (line {})", line_at(text, span.start)),
        None => message,
    }
}

/// Whether two keys are the same place or one holds the other.
pub(super) fn related(a: &str, b: &str) -> bool {
    let inside = |outer: &str, inner: &str| {
        inner == outer
            || inner
                .strip_prefix(outer)
                .is_some_and(|rest| rest.starts_with('.') || rest.starts_with('['))
    };
    inside(a, b) || inside(b, a)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_are_related_by_containment_not_by_prefix() {
        assert!(related(
            "environments.prod",
            "environments.prod.deploy[0].run"
        ));
        assert!(related("environments.prod.deploy[0]", "environments.prod"));
        assert!(!related("environments.prod", "environments.production"));
    }

    #[test]
    fn the_line_index_agrees_with_counting_newlines() {
        let text = "a = 1\n\n[b]\nc = 2\n";
        let index = LineIndex::of(text);
        for offset in 0..=text.len() {
            assert_eq!(index.line(offset), line_at(text, offset), "offset {offset}");
        }
    }
}
