//! Spotting credentials pasted into chat, so deckhand can refuse them without storing or
//! repeating them.

/// Prefixes of well-known credential formats, with what to call them.
const PREFIXES: &[(&str, &str)] = &[
    ("sk_live_", "a Stripe live secret key"),
    ("sk_test_", "a Stripe test secret key"),
    ("rk_live_", "a Stripe restricted key"),
    ("xoxb-", "a Slack bot token"),
    ("xoxp-", "a Slack user token"),
    ("xoxa-", "a Slack token"),
    ("xapp-", "a Slack app token"),
    ("ghp_", "a GitHub personal access token"),
    ("gho_", "a GitHub OAuth token"),
    ("ghs_", "a GitHub app token"),
    ("github_pat_", "a GitHub fine-grained token"),
    ("glpat-", "a GitLab token"),
    ("AKIA", "an AWS access key id"),
    ("ASIA", "an AWS temporary access key id"),
    ("AIza", "a Google API key"),
    ("-----BEGIN", "a private key"),
    ("npm_", "an npm token"),
    ("SG.", "a SendGrid key"),
];

/// What a word looks like, if it looks like a credential: a known prefix, or a long,
/// high-entropy token. Plain words, refs, git shas and UUIDs do not.
pub fn looks_like_credential(word: &str) -> Option<&'static str> {
    let word = word.trim_matches(|c: char| matches!(c, '"' | '\'' | '`' | '<' | '>' | ',' | ';'));
    let word = word.split_once('=').map(|(_, v)| v).unwrap_or(word);
    for (prefix, what) in PREFIXES {
        if word.starts_with(prefix) && word.len() >= prefix.len() + 8 {
            return Some(what);
        }
    }
    (word.len() >= 32 && high_entropy(word)).then_some("a long random token")
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
    if !word
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'+' | b'/' | b'_' | b'-' | b'=' | b'.'))
    {
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

/// `text` with every word that looks like a credential replaced by `[credential]`: what
/// may be stored of a line before it is parsed (and refused).
pub fn without_credentials(text: &str) -> String {
    if !text
        .split_whitespace()
        .any(|w| looks_like_credential(w).is_some())
    {
        return text.to_owned();
    }
    text.split_whitespace()
        .map(|w| match looks_like_credential(w) {
            Some(_) => "[credential]",
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
        assert_eq!(
            looks_like_credential("sk_live_51HxyzABCdef123"),
            Some("a Stripe live secret key")
        );
        assert_eq!(
            looks_like_credential("xoxb-1234-5678-abcdef"),
            Some("a Slack bot token")
        );
        assert_eq!(
            looks_like_credential("ghp_abcdefghijklmnop"),
            Some("a GitHub personal access token")
        );
        assert_eq!(
            looks_like_credential("AKIAIOSFODNN7EXAMPLE"),
            Some("an AWS access key id")
        );
        assert_eq!(
            looks_like_credential("value=sk_live_51HxyzABCdef123"),
            Some("a Stripe live secret key")
        );
    }

    #[test]
    fn random_tokens_are_credentials() {
        assert!(looks_like_credential("Zq8Lw2Xr9Tb4Nc7Vm1Kp5Hs3Jd6Fg0Yt").is_some());
    }

    #[test]
    fn names_refs_and_hashes_are_not() {
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
        ] {
            assert_eq!(looks_like_credential(word), None, "{word}");
        }
    }
}
