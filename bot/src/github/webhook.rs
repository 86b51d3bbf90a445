//! `POST /github/webhook`: GitHub's events, the signature checked over the raw (bounded)
//! body before anything is parsed, each delivery handled once. A completed check suite
//! or workflow run on a branch an env follows may deploy its head there.

use std::sync::Arc;

use axum::Router;
use axum::body::Bytes;
use axum::extract::{DefaultBodyLimit, State};
use axum::http::{HeaderMap, StatusCode};
use axum::routing::post;
use hmac::{Hmac, Mac};
use secrecy::{ExposeSecret, SecretString};
use serde::Deserialize;
use sha2::Sha256;

use crate::jobs::Engine;
use crate::store::now_ms;

/// GitHub caps payloads at 25 MB; the events deckhand reads are a few kilobytes.
pub const MAX_BODY: usize = 1024 * 1024;

#[derive(Clone)]
struct Hook {
    engine: Arc<Engine>,
    secret: SecretString,
}

pub fn routes(engine: Arc<Engine>, secret: SecretString) -> Router {
    Router::new()
        .route("/github/webhook", post(receive))
        .layer(DefaultBodyLimit::max(MAX_BODY))
        .with_state(Hook { engine, secret })
}

/// Whether `signature` (`sha256=HEX`) is the HMAC of `body` under `secret`, compared in
/// constant time.
pub fn signed(secret: &[u8], body: &[u8], signature: &str) -> bool {
    let Some(hex_sig) = signature.strip_prefix("sha256=") else {
        return false;
    };
    let Ok(expected) = hex::decode(hex_sig) else {
        return false;
    };
    let Ok(mut mac) = Hmac::<Sha256>::new_from_slice(secret) else {
        return false;
    };
    mac.update(body);
    mac.verify_slice(&expected).is_ok()
}

/// The head of a branch whose checks just completed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GreenCandidate {
    pub repo: String,
    pub branch: String,
    pub sha: String,
    pub actor: String,
}

#[derive(Deserialize)]
struct Event {
    action: Option<String>,
    repository: Option<Repository>,
    sender: Option<Login>,
    check_suite: Option<Head>,
    workflow_run: Option<Head>,
}

#[derive(Deserialize)]
struct Repository {
    full_name: String,
}

#[derive(Deserialize)]
struct Login {
    login: String,
}

#[derive(Deserialize)]
struct Head {
    head_branch: Option<String>,
    head_sha: String,
}

/// The candidate a `check_suite` or `workflow_run` event names once it completed.
pub fn candidate(event: &str, body: &[u8]) -> Result<Option<GreenCandidate>, String> {
    if !matches!(event, "check_suite" | "workflow_run") {
        return Ok(None);
    }
    let parsed: Event = serde_json::from_slice(body)
        .map_err(|e| format!("not a `{event}` event as GitHub documents it: {e}"))?;
    if parsed.action.as_deref() != Some("completed") {
        return Ok(None);
    }
    let head = match event {
        "check_suite" => parsed.check_suite,
        _ => parsed.workflow_run,
    };
    let (Some(head), Some(repository)) = (head, parsed.repository) else {
        return Err(format!("a `{event}` event without its head or repository"));
    };
    let Some(branch) = head.head_branch else {
        return Ok(None);
    };
    Ok(Some(GreenCandidate {
        repo: repository.full_name,
        branch,
        sha: head.head_sha,
        actor: parsed
            .sender
            .map(|s| s.login)
            .unwrap_or_else(|| "github".into()),
    }))
}

async fn receive(
    State(hook): State<Hook>,
    headers: HeaderMap,
    body: Bytes,
) -> (StatusCode, String) {
    let header = |name: &str| headers.get(name).and_then(|v| v.to_str().ok());
    // The signature first: nothing of an unsigned body is read.
    let Some(signature) = header("x-hub-signature-256") else {
        return (
            StatusCode::UNAUTHORIZED,
            "missing X-Hub-Signature-256".into(),
        );
    };
    if !signed(hook.secret.expose_secret().as_bytes(), &body, signature) {
        tracing::warn!("GitHub webhook with a bad signature refused");
        return (StatusCode::UNAUTHORIZED, "bad signature".into());
    }
    let Some(delivery) = header("x-github-delivery").filter(|d| !d.is_empty() && d.len() <= 100)
    else {
        return (StatusCode::BAD_REQUEST, "missing X-GitHub-Delivery".into());
    };
    let event = header("x-github-event").unwrap_or("").to_owned();
    if event == "ping" {
        return (StatusCode::OK, "pong".into());
    }
    let candidate = match candidate(&event, &body) {
        Ok(candidate) => candidate,
        Err(why) => return (StatusCode::BAD_REQUEST, why),
    };
    let pool = &hook.engine.store().pool;
    match crate::store::github::first_delivery(pool, delivery, &event, now_ms()).await {
        Ok(true) => {}
        Ok(false) => return (StatusCode::OK, "already handled".into()),
        Err(e) => {
            tracing::error!(error = %e, "cannot record the GitHub delivery");
            return (StatusCode::SERVICE_UNAVAILABLE, "try again".into());
        }
    }
    let Some(candidate) = candidate else {
        return (StatusCode::OK, format!("`{event}` noted; nothing to do"));
    };
    // GitHub wants an answer within 10 s; asking it about checks can take longer.
    let engine = hook.engine.clone();
    let delivery = delivery.to_owned();
    tokio::spawn(async move {
        if let Err(e) = engine.green_head(&candidate).await {
            tracing::error!(error = %format!("{e:#}"), delivery, "cannot act on the GitHub event");
            // Let GitHub's redelivery try again.
            let _ = crate::store::github::forget_delivery(&engine.store().pool, &delivery).await;
        }
    });
    (StatusCode::ACCEPTED, "accepted".into())
}

#[cfg(test)]
mod tests {
    use super::{candidate, signed};

    #[test]
    fn signatures_are_checked_over_the_raw_body() {
        // GitHub's documented example: secret "It's a Secret to Everybody".
        let body = b"Hello, World!";
        let sig = "sha256=757107ea0eb2509fc211221cce984b8a37570b6d7586c22c46f4379c8b043e17";
        assert!(signed(b"It's a Secret to Everybody", body, sig));
        assert!(!signed(b"another secret", body, sig));
        assert!(!signed(
            b"It's a Secret to Everybody",
            b"Hello, World?",
            sig
        ));
        assert!(!signed(b"It's a Secret to Everybody", body, "sha1=abc"));
    }

    #[test]
    fn only_completed_suites_with_a_branch_are_candidates() {
        let body = br#"{"action":"completed","repository":{"full_name":"acme/web"},"sender":{"login":"octo"},"check_suite":{"head_branch":"main","head_sha":"abc"}}"#;
        let found = candidate("check_suite", body).unwrap().unwrap();
        assert_eq!((found.branch.as_str(), found.sha.as_str()), ("main", "abc"));
        let requested =
            br#"{"action":"requested","check_suite":{"head_branch":"main","head_sha":"abc"}}"#;
        assert_eq!(candidate("check_suite", requested).unwrap(), None);
        assert_eq!(candidate("push", b"{}").unwrap(), None);
        assert!(candidate("workflow_run", b"not json").is_err());
    }
}
