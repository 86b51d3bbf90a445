//! Who is looking at the page: one-time sign-in links asked for in chat (`/login`) or
//! printed by `deckhand login-link`, and the signed session cookie a link sets.

use base64::Engine as _;
use hmac::{Hmac, Mac as _};
use sha2::{Digest as _, Sha256};

use crate::store::{Store, now_ms, web};

/// The session cookie's name.
pub const COOKIE: &str = "deckhand_session";

/// How long a sign-in link works (once).
pub const LINK_TTL_MS: i64 = 10 * 60_000;

/// `bot.session_ttl` when not set.
pub const DEFAULT_SESSION_TTL: std::time::Duration = std::time::Duration::from_secs(12 * 3600);

/// A signed-in person.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Viewer {
    /// Their account (`slack:U01ALICE`), as roles name it.
    pub account: String,
    pub name: String,
    /// When the session ends (ms).
    pub until: i64,
}

/// Signs and reads session cookies with a key every replica shares (kept in the store).
pub struct Sessions {
    key: Vec<u8>,
    ttl_ms: i64,
    /// Cookies go out `Secure` when the page is served over https.
    secure: bool,
}

/// 32 random bytes, hex: a sign-in token or a fresh key.
pub fn random_hex() -> anyhow::Result<String> {
    let mut bytes = [0u8; 32];
    getrandom::fill(&mut bytes).map_err(|e| anyhow::anyhow!("no randomness: {e}"))?;
    Ok(hex::encode(bytes))
}

fn hash(token: &str) -> String {
    hex::encode(Sha256::digest(token.as_bytes()))
}

impl Sessions {
    /// The sessions of this store: its signing key (made on first use), `ttl`, and
    /// whether `public_url` is https.
    pub async fn load(
        store: &Store,
        ttl: std::time::Duration,
        public_url: Option<&str>,
    ) -> anyhow::Result<Sessions> {
        let key = web::key(&store.pool, "session", &random_hex()?, now_ms()).await?;
        Ok(Sessions {
            key: hex::decode(key)?,
            ttl_ms: ttl.as_millis() as i64,
            secure: public_url.is_some_and(|u| u.starts_with("https://")),
        })
    }

    fn mac(&self, payload: &[u8]) -> Hmac<Sha256> {
        let mut mac = Hmac::<Sha256>::new_from_slice(&self.key).expect("HMAC takes any key");
        mac.update(payload);
        mac
    }

    /// The `Set-Cookie` value for `viewer`'s new session.
    pub fn set_cookie(&self, account: &str, name: &str, now: i64) -> String {
        let until = now + self.ttl_ms;
        let payload = serde_json::json!([account, name, until]).to_string();
        let b64 = base64::engine::general_purpose::URL_SAFE_NO_PAD;
        let signature = self.mac(payload.as_bytes()).finalize().into_bytes();
        format!(
            "{COOKIE}={}.{}; Path=/; HttpOnly; SameSite=Lax; Max-Age={}{}",
            b64.encode(payload),
            b64.encode(signature),
            self.ttl_ms / 1000,
            if self.secure { "; Secure" } else { "" }
        )
    }

    /// The person a request's cookie names, if it is signed by us and not expired.
    pub fn viewer(&self, headers: &axum::http::HeaderMap, now: i64) -> Option<Viewer> {
        let b64 = base64::engine::general_purpose::URL_SAFE_NO_PAD;
        let value = headers
            .get_all(axum::http::header::COOKIE)
            .iter()
            .filter_map(|v| v.to_str().ok())
            .flat_map(|v| v.split(';'))
            .find_map(|pair| pair.trim().strip_prefix(&format!("{COOKIE}=")))?;
        let (payload, signature) = value.split_once('.')?;
        let payload = b64.decode(payload).ok()?;
        let signature = b64.decode(signature).ok()?;
        // Constant time: the MAC crate compares the tags.
        self.mac(&payload).verify_slice(&signature).ok()?;
        let (account, name, until): (String, String, i64) =
            serde_json::from_slice(&payload).ok()?;
        (until > now).then_some(Viewer {
            account,
            name,
            until,
        })
    }
}

/// A one-time sign-in link for `account`, valid for ten minutes: the token is stored
/// only as its hash, in one transaction with `audit` (who asked for it, and how).
pub async fn new_link(
    store: &Store,
    public_url: &str,
    account: &str,
    name: &str,
    audit: &crate::store::audit::AuditEntry,
) -> anyhow::Result<String> {
    let token = random_hex()?;
    let now = now_ms();
    let mut tx = store.pool.begin().await?;
    web::add_login(
        &mut *tx,
        &hash(&token),
        account,
        name,
        now,
        now + LINK_TTL_MS,
    )
    .await?;
    crate::store::audit::append(&mut tx, audit).await?;
    tx.commit().await?;
    // Links older than a day are of no use to anyone.
    web::forget_logins(&store.pool, now - 86_400_000).await?;
    Ok(format!(
        "{}/login/{token}",
        public_url.trim_end_matches('/')
    ))
}

/// Uses a sign-in token: whose it was, once, within its ten minutes.
pub async fn use_link(store: &Store, token: &str) -> anyhow::Result<Option<(String, String)>> {
    if token.len() != 64 || !token.bytes().all(|b| b.is_ascii_hexdigit()) {
        return Ok(None);
    }
    Ok(web::use_login(&store.pool, &hash(token), now_ms()).await?)
}
