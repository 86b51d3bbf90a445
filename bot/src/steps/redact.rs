//! Secret values out of everything stored or posted.

/// Replaces the value of every secret the config knows of.
#[derive(Debug, Clone, Default)]
pub struct Redactor {
    /// (value, name), longest value first so a secret containing another goes whole.
    secrets: Vec<(String, String)>,
}

/// Values shorter than this are not redacted: `1` or `on` would shred every line.
const MIN_SECRET_LEN: usize = 4;

/// Base64 runs shorter than this are not redacted: a few characters of base64 turn up
/// in any long line by chance.
const MIN_BASE64_LEN: usize = 8;

/// The ways a secret turns up in output besides as typed: base64 (standard and
/// URL-safe, as a whole value and inside a longer blob such as a Basic auth header or a
/// JSON web token), percent-encoded (in a URL or a form body) and hex (in a dump).
fn encoded_forms(secret: &str) -> Vec<String> {
    use base64::Engine as _;
    use base64::engine::general_purpose::{STANDARD, STANDARD_NO_PAD, URL_SAFE, URL_SAFE_NO_PAD};
    use percent_encoding::{AsciiSet, NON_ALPHANUMERIC, utf8_percent_encode};

    /// What a URL component may leave unescaped (RFC 3986 unreserved).
    const COMPONENT: &AsciiSet = &NON_ALPHANUMERIC
        .remove(b'-')
        .remove(b'.')
        .remove(b'_')
        .remove(b'~');

    let bytes = secret.as_bytes();
    let mut forms = vec![secret.to_owned()];
    for engine in [&STANDARD, &URL_SAFE, &STANDARD_NO_PAD, &URL_SAFE_NO_PAD] {
        forms.push(engine.encode(bytes));
    }
    // Inside a longer blob the secret starts at any of three byte alignments. At each,
    // the characters that encode only the secret's own whole 3-byte groups are the same
    // whatever surrounds it; those are what is redacted.
    for skip in 0..3.min(bytes.len()) {
        let whole = (bytes.len() - skip) / 3 * 3;
        let inner = &bytes[skip..skip + whole];
        for engine in [&STANDARD_NO_PAD, &URL_SAFE_NO_PAD] {
            let encoded = engine.encode(inner);
            if encoded.len() >= MIN_BASE64_LEN {
                forms.push(encoded);
            }
        }
    }
    forms.push(utf8_percent_encode(secret, NON_ALPHANUMERIC).to_string());
    forms.push(utf8_percent_encode(secret, COMPONENT).to_string());
    // `+` for a space, as HTML forms send it.
    forms.push(
        utf8_percent_encode(secret, COMPONENT)
            .to_string()
            .replace("%20", "+"),
    );
    forms.push(hex::encode(bytes));
    forms.push(hex::encode_upper(bytes));
    forms.sort();
    forms.dedup();
    forms
}

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
                if part.len() < MIN_SECRET_LEN {
                    continue;
                }
                for form in encoded_forms(part) {
                    if form.len() >= MIN_SECRET_LEN {
                        secrets.push((form, name.clone()));
                    }
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
    fn encoded_forms_are_redacted() {
        use base64::Engine as _;
        use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
        let secret = "pa$$w0rd/with+odd?chars~ok";
        let r = Redactor::new([("DB_PASSWORD".to_owned(), secret.to_owned())]);
        let forms = [
            STANDARD.encode(secret),
            URL_SAFE_NO_PAD.encode(secret),
            percent_encoding::utf8_percent_encode(secret, percent_encoding::NON_ALPHANUMERIC)
                .to_string(),
            hex::encode(secret),
            hex::encode_upper(secret),
        ];
        for form in forms {
            let line = format!("got {form} back");
            let redacted = r.redact(&line);
            assert_eq!(redacted, "got [redacted DB_PASSWORD] back", "{form}");
        }
        // Inside a Basic auth header the password is base64 at some alignment with the
        // user name before it; whatever the alignment, no more than two bytes' worth of
        // characters at each edge survive.
        for user in ["a", "ab", "abc", "deploy"] {
            let header = STANDARD.encode(format!("{user}:{secret}"));
            let redacted = r.redact(&format!("Authorization: Basic {header}"));
            assert!(
                redacted.contains("[redacted DB_PASSWORD]"),
                "{user}: {redacted}"
            );
            let left = redacted
                .trim_start_matches("Authorization: Basic ")
                .replace("[redacted DB_PASSWORD]", "");
            assert!(left.len() <= user.len() * 4 / 3 + 8, "{user}: {redacted}");
        }
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
