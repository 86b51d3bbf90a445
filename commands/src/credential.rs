//! Spotting credentials pasted into chat or sent to the API, so deckhand can refuse them
//! without storing or repeating them.

/// Prefixes of well-known credential formats, with what to call them. Longer prefixes
/// of one family come first so the more exact name wins.
const PREFIXES: &[(&str, &str)] = &[
    ("sk_live_", "a Stripe live secret key"),
    ("sk_test_", "a Stripe test secret key"),
    ("rk_live_", "a Stripe restricted key"),
    ("rk_test_", "a Stripe restricted key"),
    ("whsec_", "a Stripe webhook secret"),
    ("xoxe.xoxp-", "a Slack refresh token"),
    ("xoxe.xoxb-", "a Slack refresh token"),
    ("xoxe-", "a Slack refresh token"),
    ("xoxb-", "a Slack bot token"),
    ("xoxp-", "a Slack user token"),
    ("xoxa-", "a Slack token"),
    ("xoxr-", "a Slack token"),
    ("xoxs-", "a Slack token"),
    ("xapp-", "a Slack app token"),
    ("ghp_", "a GitHub personal access token"),
    ("gho_", "a GitHub OAuth token"),
    ("ghu_", "a GitHub user token"),
    ("ghs_", "a GitHub app token"),
    ("ghr_", "a GitHub refresh token"),
    ("github_pat_", "a GitHub fine-grained token"),
    ("glpat-", "a GitLab token"),
    ("AKIA", "an AWS access key id"),
    ("ASIA", "an AWS temporary access key id"),
    ("AIza", "a Google API key"),
    ("sk-proj-", "an OpenAI key"),
    ("sk-ant-", "an Anthropic key"),
    ("-----BEGIN", "a private key"),
    ("npm_", "an npm token"),
    ("pypi-", "a PyPI token"),
    ("SG.", "a SendGrid key"),
];

/// What replaces a credential in stored text.
const REMOVED: &str = "[credential]";

/// Key names whose value is a secret when written `NAME=value` or `NAME:value`.
const SECRET_KEYS: &[&str] = &[
    "password",
    "passwd",
    "pwd",
    "pass",
    "secret",
    "token",
    "apikey",
    "api_key",
    "api-key",
    "access_key",
    "secret_key",
    "private_key",
    "client_secret",
    "auth",
];

/// What a word looks like, if it looks like a credential: a known prefix anywhere a
/// token could start (`(sk_live_…)`, `key:ghp_…`), a URL with a password in it, a
/// `password=…` pair, 64 or more hex digits, or a long high-entropy token. Plain words,
/// refs, git shas, UUIDs and image digests do not.
pub fn looks_like_credential(word: &str) -> Option<&'static str> {
    // deckhand's own mark where it removed one: a stored line that held a credential
    // must stay refused when it is read back, never become a command that runs.
    if word.contains(REMOVED) {
        return Some("a credential");
    }
    if url_password(word) {
        return Some("a URL with a password in it");
    }
    if secret_pair(word) {
        return Some("a password");
    }
    // An image digest (`sha256:…`) is 64 hex digits on purpose.
    let digest = word.contains("sha256:") || word.contains("sha512:");
    for fragment in fragments(word) {
        // `name=value` and base64 padding both use `=`: check the fragment whole and,
        // for a pair, its value.
        let value = fragment
            .split_once('=')
            .map(|(_, v)| v)
            .filter(|v| !v.is_empty());
        for candidate in std::iter::once(fragment).chain(value) {
            for (prefix, what) in PREFIXES {
                if candidate.starts_with(prefix) && candidate.len() >= prefix.len() + 8 {
                    return Some(what);
                }
            }
            if !digest && long_hex(candidate) {
                return Some("a hex-encoded key");
            }
            if candidate.len() >= 32 && high_entropy(candidate) {
                return Some("a long random token");
            }
        }
    }
    None
}

/// The first thing in `text` that looks like a credential, word by word.
pub fn credential_in(text: &str) -> Option<&'static str> {
    text.split_whitespace().find_map(looks_like_credential)
}

/// The runs of a word that could be a token: split at anything a token does not hold
/// (brackets, quotes, `:`, `@`, `,`…), so a key inside `(…)` or after `key:` is seen.
fn fragments(word: &str) -> impl Iterator<Item = &str> {
    word.split(|c: char| {
        !(c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '+' | '/' | '=' | '.'))
    })
    .filter(|f| !f.is_empty())
}

/// `scheme://user:password@host`, with a real password (not empty, not `***`).
fn url_password(word: &str) -> bool {
    let Some((_, rest)) = word.split_once("://") else {
        return false;
    };
    let authority = rest.split(['/', '?', '#']).next().unwrap_or_default();
    let Some((userinfo, _host)) = authority.rsplit_once('@') else {
        return false;
    };
    userinfo
        .split_once(':')
        .is_some_and(|(_, password)| !is_placeholder(password))
}

/// `password=hunter2`, `api_key:abc123`, `"token": "…"` squeezed into one word.
fn secret_pair(word: &str) -> bool {
    let word = word.trim_matches(|c: char| !c.is_ascii_alphanumeric() && c != '_' && c != '-');
    let Some(at) = word.find(['=', ':']) else {
        return false;
    };
    let key = word[..at].trim_matches(|c: char| matches!(c, '"' | '\'' | '-'));
    let value = word[at + 1..].trim_matches(|c: char| matches!(c, '"' | '\'' | '='));
    let key = key.to_ascii_lowercase();
    let named = SECRET_KEYS
        .iter()
        .any(|k| key == *k || key.ends_with(&format!("_{k}")) || key.ends_with(&format!("-{k}")));
    named && value.len() >= 4 && !is_placeholder(value) && !value.starts_with("//")
}

/// What people write where a secret would go without writing one: `***`, `<token>`,
/// `$TOKEN`, `${TOKEN}`, `xxxx`, `...`.
fn is_placeholder(value: &str) -> bool {
    value.is_empty()
        || value.starts_with('$')
        || value.starts_with('<')
        || value.starts_with('{')
        || value
            .chars()
            .all(|c| matches!(c, '*' | 'x' | 'X' | '.' | '•' | '…'))
}

/// 64 or more hex digits: a SHA-256-sized key. Git shas (40) are fine.
/// A run of one repeated digit is padding, not a key: ask for most of the 16 digits.
fn long_hex(word: &str) -> bool {
    if word.len() < 64 || !word.bytes().all(|b| b.is_ascii_hexdigit()) {
        return false;
    }
    let mut seen = [false; 16];
    for b in word.bytes() {
        seen[(b as char).to_digit(16).unwrap_or(0) as usize] = true;
    }
    seen.iter().filter(|s| **s).count() >= 10
}

/// Mixed letters of both cases and digits, and close to random: a key, not a name.
fn high_entropy(word: &str) -> bool {
    let classes = [
        word.bytes().any(|b| b.is_ascii_lowercase()),
        word.bytes().any(|b| b.is_ascii_uppercase()),
        word.bytes().any(|b| b.is_ascii_digit()),
    ];
    if classes.iter().filter(|c| **c).count() < 3 {
        return false;
    }
    let mut counts = [0u32; 256];
    for b in word.bytes() {
        counts[b as usize] += 1;
    }
    let len = word.len() as f64;
    let entropy: f64 = counts
        .iter()
        .filter(|&&n| n > 0)
        .map(|&n| {
            let p = f64::from(n) / len;
            -p * p.log2()
        })
        .sum();
    entropy >= 4.0
}

/// `text` as it may be stored: unchanged when it is a command deckhand accepts (whose
/// values were checked), otherwise with every word that looks like a credential
/// replaced by `[credential]`. Deciding by the parse keeps what is stored and what was
/// run the same command.
pub fn without_credentials(text: &str) -> String {
    if crate::parse(text).is_ok() {
        return text.to_owned();
    }
    // The parser sees the text with invisible characters removed; so must this, or a
    // zero-width space inside a key would hide it here and not there.
    let text = crate::text::normalize(text);
    if credential_in(&text).is_none() {
        return text.into_owned();
    }
    text.split_whitespace()
        .map(|w| match looks_like_credential(w) {
            Some(_) => REMOVED,
            None => w,
        })
        .collect::<Vec<_>>()
        .join(" ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn known_prefixes_are_credentials() {
        for (word, what) in [
            ("sk_live_51HxyzABCdef123", "a Stripe live secret key"),
            ("xoxb-1234-5678-abcdef", "a Slack bot token"),
            ("ghp_abcdefghijklmnop", "a GitHub personal access token"),
            ("AKIAIOSFODNN7EXAMPLE", "an AWS access key id"),
            ("value=sk_live_51HxyzABCdef123", "a Stripe live secret key"),
            ("xoxe.xoxp-1-Mi0yLTEyMzQ1", "a Slack refresh token"),
            ("xoxe-1-My0xLTEyMzQ1Njc4", "a Slack refresh token"),
        ] {
            assert_eq!(looks_like_credential(word), Some(what), "{word}");
        }
    }

    #[test]
    fn keys_inside_punctuation_are_credentials() {
        for word in [
            "(sk_live_51HxyzABCdef123)",
            "key:ghp_abcdefghijklmnop",
            "[AKIAIOSFODNN7EXAMPLE]",
            "\"ghp_abcdefghijklmnop\",",
            "token=\"xoxb-1234-5678-abcdef\"",
        ] {
            assert!(looks_like_credential(word).is_some(), "{word}");
        }
    }

    #[test]
    fn passwords_in_urls_and_pairs_are_credentials() {
        assert_eq!(
            looks_like_credential("postgres://app:pass@db.internal/app"),
            Some("a URL with a password in it")
        );
        assert_eq!(
            looks_like_credential("https://u:hunter22@example.com"),
            Some("a URL with a password in it")
        );
        for word in [
            "password=hunter2",
            "DB_PASSWORD=correcthorse",
            "api_key:abc123xyz",
        ] {
            assert_eq!(looks_like_credential(word), Some("a password"), "{word}");
        }
    }

    #[test]
    fn long_hex_keys_are_credentials() {
        let key = "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08";
        assert_eq!(looks_like_credential(key), Some("a hex-encoded key"));
    }

    #[test]
    fn random_tokens_are_credentials() {
        assert!(looks_like_credential("Zq8Lw2Xr9Tb4Nc7Vm1Kp5Hs3Jd6Fg0Yt").is_some());
        // Base64 padding does not hide a token.
        assert!(looks_like_credential("Zq8Lw2Xr9Tb4Nc7Vm1Kp5Hs3Jd6Fg0Yt==").is_some());
    }

    #[test]
    fn names_refs_hashes_and_placeholders_are_not() {
        for word in [
            "STRIPE_SECRET_KEY",
            "prod",
            "v1.4.2",
            "feature/login-page",
            "a94a8fe5ccb19ba61c4c0873d391e987982fbbd3",
            "123e4567-e89b-12d3-a456-426614174000",
            "sk_live_",
            "AKIA",
            "https://wiki.example.com/rotate-stripe",
            "postgres://app@db.internal/app",
            "postgres://app:***@db.internal/app",
            "password=$DB_PASSWORD",
            "password=<yours>",
            "token=xxxx",
            "ghcr.io/acme/web@sha256:9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08",
            "time:14:03",
        ] {
            assert_eq!(looks_like_credential(word), None, "{word}");
        }
    }

    #[test]
    fn stored_text_keeps_accepted_commands_whole() {
        // What is stored of a refused line is refused again when read back.
        let stored = without_credentials("/lock prod --reason sk_live_51HxyzABCdef123");
        assert_eq!(stored, "/lock prod --reason [credential]");
        assert!(crate::parse(&stored).is_err());
        assert_eq!(
            without_credentials("/lock prod sk_live_\u{200B}51HxyzABCdef123"),
            "/lock prod [credential]"
        );
        assert_eq!(
            without_credentials("/deploy prod v1.2"),
            "/deploy prod v1.2"
        );
        assert_eq!(
            without_credentials("/deploy prod sk_live_51HxyzABCdef123"),
            "/deploy prod [credential]"
        );
    }
}
