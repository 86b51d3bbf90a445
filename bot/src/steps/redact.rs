//! Secret values out of everything stored or posted.

/// Replaces the value of every secret the config knows of.
#[derive(Debug, Clone, Default)]
pub struct Redactor {
    /// (value, name), longest value first so a secret containing another goes whole.
    secrets: Vec<(String, String)>,
}

/// Values shorter than this are not redacted: `1` or `on` would shred every line.
const MIN_SECRET_LEN: usize = 4;

impl Redactor {
    /// From env var names, reading their values from the process environment.
    pub fn from_env(names: &[String]) -> Redactor {
        Redactor::new(
            names
                .iter()
                .filter_map(|name| std::env::var(name).ok().map(|value| (name.clone(), value))),
        )
    }

    pub fn new(pairs: impl IntoIterator<Item = (String, String)>) -> Redactor {
        let mut secrets = Vec::new();
        for (name, value) in pairs {
            // A multi-line secret (a PEM key) is also redacted line by line.
            for part in std::iter::once(value.as_str()).chain(value.lines()) {
                let part = part.trim();
                if part.len() >= MIN_SECRET_LEN {
                    secrets.push((part.to_owned(), name.clone()));
                }
            }
        }
        secrets.sort_by(|a, b| b.0.len().cmp(&a.0.len()).then(a.0.cmp(&b.0)));
        secrets.dedup_by(|a, b| a.0 == b.0);
        Redactor { secrets }
    }

    pub fn redact(&self, text: &str) -> String {
        let mut out = text.to_owned();
        for (value, name) in &self.secrets {
            if out.contains(value.as_str()) {
                out = out.replace(value.as_str(), &format!("[redacted {name}]"));
            }
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_occurrence_of_every_secret_is_replaced() {
        let r = Redactor::new([
            ("TOKEN".to_owned(), "s3cr3t-token".to_owned()),
            ("DB".to_owned(), "postgres://u:pw-long@h/db".to_owned()),
        ]);
        assert_eq!(
            r.redact("a s3cr3t-token b s3cr3t-token; url postgres://u:pw-long@h/db"),
            "a [redacted TOKEN] b [redacted TOKEN]; url [redacted DB]"
        );
    }

    #[test]
    fn tiny_values_are_left_alone() {
        let r = Redactor::new([("FLAG".to_owned(), "1".to_owned())]);
        assert_eq!(r.redact("1 2 3"), "1 2 3");
    }

    #[test]
    fn multi_line_secrets_are_redacted_per_line() {
        let r = Redactor::new([(
            "KEY".to_owned(),
            "-----BEGIN-----\nAAAABBBBCCCC\n-----END-----".to_owned(),
        )]);
        assert_eq!(
            r.redact("key line: AAAABBBBCCCC"),
            "key line: [redacted KEY]"
        );
    }
}
