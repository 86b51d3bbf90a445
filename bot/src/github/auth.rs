//! Who deckhand is to GitHub: a token, or a GitHub App whose installation tokens are
//! fetched per repo and refreshed before they expire.

use std::collections::HashMap;
use std::sync::Arc;

use secrecy::{ExposeSecret, SecretString};

/// `GITHUB_TOKEN`, or `GITHUB_APP_ID` + `GITHUB_APP_PRIVATE_KEY`.
#[derive(Clone)]
pub enum Credentials {
    Token(SecretString),
    App {
        app_id: String,
        key: Arc<jsonwebtoken::EncodingKey>,
    },
}

impl std::fmt::Debug for Credentials {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Credentials::Token(_) => f.write_str("Credentials::Token(..)"),
            Credentials::App { app_id, .. } => write!(f, "Credentials::App({app_id})"),
        }
    }
}

impl Credentials {
    /// An App from its id and its private key: the PEM itself (newlines may be written
    /// `\n`, as env files do) or the path of the `.pem` file GitHub gave.
    pub fn app(app_id: &str, key: &str) -> Result<Credentials, String> {
        if app_id.is_empty() || !app_id.chars().all(|c| c.is_ascii_digit()) {
            return Err(format!(
                "GITHUB_APP_ID `{app_id}` is not an App id; it is the number on the App's settings page"
            ));
        }
        let pem = if key.trim_start().starts_with("-----BEGIN") {
            key.replace("\\n", "\n")
        } else {
            std::fs::read_to_string(key.trim()).map_err(|e| {
                format!("GITHUB_APP_PRIVATE_KEY is neither a PEM key nor a readable file ({e})")
            })?
        };
        let key = jsonwebtoken::EncodingKey::from_rsa_pem(pem.as_bytes()).map_err(|e| {
            format!("GITHUB_APP_PRIVATE_KEY is not the App's RSA private key in PEM form ({e})")
        })?;
        Ok(Credentials::App {
            app_id: app_id.to_owned(),
            key: Arc::new(key),
        })
    }
}

/// An installation token and when GitHub said it expires (Unix seconds).
#[derive(Clone)]
pub(super) struct Installation {
    pub token: SecretString,
    pub expires_at: i64,
}

/// Installation tokens by repo, so each is fetched once per hour, not per call.
#[derive(Default)]
pub(super) struct Tokens {
    by_repo: std::sync::Mutex<HashMap<String, Installation>>,
}

/// An installation token is replaced this long before GitHub's expiry, so a call that
/// starts with it never meets an expired one.
const REFRESH_BEFORE_SECS: i64 = 300;

impl Tokens {
    pub fn fresh(&self, repo: &str, now: i64) -> Option<SecretString> {
        let cached = self.by_repo.lock().ok()?.get(repo).cloned()?;
        (cached.expires_at - REFRESH_BEFORE_SECS > now).then_some(cached.token)
    }

    pub fn keep(&self, repo: &str, installation: Installation) {
        if let Ok(mut by_repo) = self.by_repo.lock() {
            by_repo.insert(repo.to_owned(), installation);
        }
    }

    pub fn forget(&self, repo: &str) {
        if let Ok(mut by_repo) = self.by_repo.lock() {
            by_repo.remove(repo);
        }
    }
}

/// The App's own short-lived JWT (RS256, 9 minutes; `iat` 60 s back for clock drift),
/// which GitHub takes only to hand out installation tokens.
pub(super) fn app_jwt(
    app_id: &str,
    key: &jsonwebtoken::EncodingKey,
    now: i64,
) -> Result<String, String> {
    #[derive(serde::Serialize)]
    struct Claims<'a> {
        iat: i64,
        exp: i64,
        iss: &'a str,
    }
    let claims = Claims {
        iat: now - 60,
        exp: now + 9 * 60,
        iss: app_id,
    };
    jsonwebtoken::encode(
        &jsonwebtoken::Header::new(jsonwebtoken::Algorithm::RS256),
        &claims,
        key,
    )
    .map_err(|e| format!("cannot sign the GitHub App token: {e}"))
}

/// The bearer a token-authenticated request carries.
pub(super) fn bearer(token: &SecretString) -> String {
    format!("Bearer {}", token.expose_secret())
}

#[cfg(test)]
mod tests {
    use super::{Installation, REFRESH_BEFORE_SECS, Tokens};

    #[test]
    fn an_installation_token_is_replaced_before_it_expires() {
        let tokens = Tokens::default();
        let now = 1_000_000;
        tokens.keep(
            "acme/web",
            Installation {
                token: "ghs_a".to_owned().into(),
                expires_at: now + 3600,
            },
        );
        assert!(tokens.fresh("acme/web", now).is_some());
        assert!(
            tokens.fresh("acme/api", now).is_none(),
            "tokens are per repo"
        );
        // Within five minutes of its expiry it is no longer handed out.
        assert!(
            tokens
                .fresh("acme/web", now + 3600 - REFRESH_BEFORE_SECS + 1)
                .is_none()
        );
        tokens.forget("acme/web");
        assert!(tokens.fresh("acme/web", now).is_none());
    }
}
