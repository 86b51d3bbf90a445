//! The REST API for CI and scripts: announcements (POST, PUT by idempotency key) and job
//! history. Bearer `DECKHAND_API_TOKEN`, compared in constant time; bodies are size-capped,
//! validated field by field (422 lists every bad field), and rate-limited per client
//! address before the token is even looked at, then per token.

use std::num::NonZeroU32;
use std::sync::Arc;

use axum::extract::{DefaultBodyLimit, Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post, put};
use axum::{Json, Router};
use secrecy::{ExposeSecret, SecretString};
use serde_json::{Value, json};
use sha2::Digest as _;
use subtle::ConstantTimeEq;

use crate::announce::Outcome;
use crate::chat::Posted;
use crate::jobs::Engine;
use crate::store::jobs;

/// Announcement bodies are small; anything bigger is a mistake or an attack.
pub const MAX_BODY: usize = 64 * 1024;

/// Requests per minute from one client address, counted before authentication, so a
/// token guesser is slowed as much as a flood.
const PER_ADDRESS_PER_MINUTE: u32 = 120;
/// Requests per minute with the right token (CI fleets share one token).
const PER_TOKEN_PER_MINUTE: u32 = 600;

#[derive(Clone)]
struct Api {
    engine: Arc<Engine>,
    token: Option<Arc<SecretString>>,
    limiter: Arc<governor::DefaultDirectRateLimiter>,
}

pub fn routes(engine: Arc<Engine>, token: Option<SecretString>) -> Router {
    let per_token = NonZeroU32::new(PER_TOKEN_PER_MINUTE).unwrap_or(NonZeroU32::MIN);
    let api = Api {
        engine,
        token: token.map(Arc::new),
        limiter: Arc::new(governor::RateLimiter::direct(governor::Quota::per_minute(
            per_token,
        ))),
    };
    let per_address = NonZeroU32::new(PER_ADDRESS_PER_MINUTE).unwrap_or(NonZeroU32::MIN);
    let by_address: Arc<governor::DefaultKeyedRateLimiter<std::net::IpAddr>> = Arc::new(
        governor::RateLimiter::keyed(governor::Quota::per_minute(per_address)),
    );
    Router::new()
        .route("/api/v1/announcements", post(create))
        .route("/api/v1/announcements/{key}", put(update))
        .route("/api/v1/jobs", get(list_jobs))
        .route("/api/v1/jobs/{id}", get(job))
        .route("/api/v1/environments", get(environments))
        .route("/api/v1/metrics/dora", get(dora))
        .layer(DefaultBodyLimit::max(MAX_BODY))
        .layer(axum::middleware::from_fn_with_state(
            by_address,
            limit_by_address,
        ))
        .with_state(api)
}

/// 429 for a client address over its rate, whatever it sends.
async fn limit_by_address(
    State(limiter): State<Arc<governor::DefaultKeyedRateLimiter<std::net::IpAddr>>>,
    request: axum::extract::Request,
    next: axum::middleware::Next,
) -> Response {
    let peer = request
        .extensions()
        .get::<axum::extract::ConnectInfo<std::net::SocketAddr>>()
        .map(|info| info.0.ip());
    if let Some(peer) = peer
        && limiter.check_key(&peer).is_err()
    {
        return too_many();
    }
    // Forget quiet addresses now and then, so the table stays small under a scan; not
    // on every request (it walks the whole table) but once per 1024.
    static SEEN: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
    if SEEN
        .fetch_add(1, std::sync::atomic::Ordering::Relaxed)
        .is_multiple_of(1024)
    {
        limiter.retain_recent();
    }
    next.run(request).await
}

/// The bearer token a request carries (`""` when none).
pub(crate) fn bearer(headers: &HeaderMap) -> &str {
    headers
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .unwrap_or("")
}

/// Whether `given` is the secret, compared in constant time: both sides are hashed
/// first, so the time does not depend on the length either.
pub(crate) fn same_secret(given: &str, secret: &SecretString) -> bool {
    let digest = |text: &[u8]| sha2::Sha256::digest(text);
    bool::from(digest(given.as_bytes()).ct_eq(&digest(secret.expose_secret().as_bytes())))
}

fn too_many() -> Response {
    (
        StatusCode::TOO_MANY_REQUESTS,
        [("retry-after", "1")],
        Json(json!({ "error": "too many requests; slow down" })),
    )
        .into_response()
}

fn problem(status: StatusCode, message: &str) -> Response {
    (status, Json(json!({ "error": message }))).into_response()
}

impl Api {
    /// Checks the bearer token and the rate limit.
    fn admit(&self, headers: &HeaderMap) -> Result<(), Box<Response>> {
        let Some(expected) = &self.token else {
            return Err(Box::new(problem(
                StatusCode::UNAUTHORIZED,
                "the API is off: set DECKHAND_API_TOKEN to turn it on",
            )));
        };
        if !same_secret(bearer(headers), expected) {
            return Err(Box::new(problem(
                StatusCode::UNAUTHORIZED,
                "missing or wrong bearer token",
            )));
        }
        if self.limiter.check().is_err() {
            return Err(Box::new(too_many()));
        }
        Ok(())
    }
}

mod body;

use body::{FieldErrors, validate};

/// 422 with every bad field named.
fn unprocessable(errors: FieldErrors) -> Response {
    let fields: Vec<Value> = errors
        .iter()
        .map(|(field, message)| json!({ "field": field, "message": message }))
        .collect();
    (
        StatusCode::UNPROCESSABLE_ENTITY,
        Json(json!({ "error": "invalid announcement", "fields": fields })),
    )
        .into_response()
}

fn refs(messages: &[Posted]) -> Vec<Value> {
    messages
        .iter()
        .map(
            |m| json!({ "platform": m.platform, "channel": m.channel, "message_id": m.message_id }),
        )
        .collect()
}

fn parse_body(bytes: &[u8]) -> Result<Value, Box<Response>> {
    serde_json::from_slice(bytes).map_err(|e| {
        Box::new(unprocessable(vec![(
            "body".into(),
            format!("is not JSON: {e}"),
        )]))
    })
}

async fn create(State(api): State<Api>, headers: HeaderMap, body: axum::body::Bytes) -> Response {
    if let Err(refused) = api.admit(&headers) {
        return *refused;
    }
    let body = match parse_body(&body) {
        Ok(body) => body,
        Err(response) => return *response,
    };
    let (announcement, scheduled_for) = match validate(&body) {
        Ok(valid) => valid,
        Err(errors) => return unprocessable(errors),
    };
    let key = headers
        .get("idempotency-key")
        .and_then(|v| v.to_str().ok())
        .filter(|k| !k.is_empty() && k.len() <= 200);
    match api.engine.announcements().announce(announcement, key, scheduled_for, &crate::announce::Actor::api()).await {
        Ok(Outcome::Posted { id, messages }) => (StatusCode::CREATED, Json(json!({ "id": id, "status": "posted", "messages": refs(&messages) }))).into_response(),
        Ok(Outcome::Duplicate { id, messages }) => (StatusCode::OK, Json(json!({ "id": id, "status": "duplicate", "messages": refs(&messages) }))).into_response(),
        Ok(Outcome::Scheduled { id, at }) => (
            StatusCode::ACCEPTED,
            Json(json!({ "id": id, "status": "scheduled", "scheduled_for": chrono::DateTime::from_timestamp_millis(at).map(|t| t.to_rfc3339()), "messages": [] })),
        )
            .into_response(),
        Err(error) => {
            tracing::error!(error = %format!("{error:#}"), "announcement failed");
            problem(StatusCode::INTERNAL_SERVER_ERROR, "the announcement could not be stored; see deckhand's log")
        }
    }
}

async fn update(
    State(api): State<Api>,
    Path(key): Path<String>,
    headers: HeaderMap,
    body: axum::body::Bytes,
) -> Response {
    if let Err(refused) = api.admit(&headers) {
        return *refused;
    }
    let body = match parse_body(&body) {
        Ok(body) => body,
        Err(response) => return *response,
    };
    let (announcement, _) = match validate(&body) {
        Ok(valid) => valid,
        Err(errors) => return unprocessable(errors),
    };
    match api
        .engine
        .announcements()
        .update_announcement(&key, announcement, &crate::announce::Actor::api())
        .await
    {
        Ok(Some((id, messages))) => {
            Json(json!({ "id": id, "status": "updated", "messages": refs(&messages) }))
                .into_response()
        }
        Ok(None) => problem(
            StatusCode::NOT_FOUND,
            "no announcement was posted with that Idempotency-Key",
        ),
        Err(error) => {
            tracing::error!(error = %format!("{error:#}"), "announcement update failed");
            problem(
                StatusCode::INTERNAL_SERVER_ERROR,
                "the update failed; see deckhand's log",
            )
        }
    }
}

fn job_json(job: &jobs::Job) -> Value {
    json!({
        "id": job.id, "kind": job.kind.as_str(), "env": job.env, "app": job.app, "ref": job.git_ref,
        "previous_ref": job.previous_ref, "requester": job.requester, "state": job.state.as_str(),
        "created_at": job.created_at, "started_at": job.started_at, "finished_at": job.finished_at,
        "error": job.error, "rolls_back": job.rolls_back, "restore_of": job.restore_of,
        "artifact": job.artifact.as_ref().map(|a| json!({ "path": a.path, "size": a.size, "sha256": a.sha256 })),
        "break_glass": job.break_glass, "commit": job.github.commit_sha,
        "skip_checks": job.github.skip_checks,
    })
}

#[derive(serde::Deserialize)]
struct JobQuery {
    env: Option<String>,
    limit: Option<i64>,
}

async fn list_jobs(
    State(api): State<Api>,
    headers: HeaderMap,
    Query(query): Query<JobQuery>,
) -> Response {
    if let Err(refused) = api.admit(&headers) {
        return *refused;
    }
    let limit = query.limit.unwrap_or(50).clamp(1, 500);
    match api.engine.recent_jobs(query.env, limit).await {
        Ok(list) => {
            Json(json!({ "jobs": list.iter().map(job_json).collect::<Vec<_>>() })).into_response()
        }
        Err(e) => problem(StatusCode::SERVICE_UNAVAILABLE, &format!("database: {e:#}")),
    }
}

async fn job(State(api): State<Api>, headers: HeaderMap, Path(id): Path<i64>) -> Response {
    if let Err(refused) = api.admit(&headers) {
        return *refused;
    }
    match api.engine.job_with_steps(id).await {
        Ok(Some((job, checklist))) => {
            let mut body = job_json(&job);
            body["steps"] = json!(checklist.iter().map(|s| json!({
                "name": s.name, "state": s.state.as_str(), "started_at": s.started_at,
                "finished_at": s.finished_at, "error": s.error, "output_tail": s.output_tail,
            })).collect::<Vec<_>>());
            Json(body).into_response()
        }
        Ok(None) => problem(StatusCode::NOT_FOUND, "no such job"),
        Err(e) => problem(StatusCode::SERVICE_UNAVAILABLE, &format!("database: {e}")),
    }
}

async fn environments(State(api): State<Api>, headers: HeaderMap) -> Response {
    if let Err(refused) = api.admit(&headers) {
        return *refused;
    }
    let envs = match api.engine.environments().await {
        Ok(envs) => envs,
        Err(e) => return problem(StatusCode::SERVICE_UNAVAILABLE, &format!("database: {e:#}")),
    };
    let out: Vec<Value> = envs
        .into_iter()
        .map(|env| json!({
            "name": env.name,
            "current": env.current.as_ref().map(job_json),
            "lock": env.lock.map(|l| json!({ "holder": l.holder, "job_id": l.job_id, "reason": l.reason, "since": l.since, "expires_at": l.expires_at })),
        }))
        .collect();
    Json(json!({ "environments": out })).into_response()
}

#[derive(serde::Deserialize)]
struct DoraQuery {
    days: Option<i64>,
}

/// `GET /api/v1/metrics/dora?days=7|30|90`: the page's four measures, per env and overall.
async fn dora(
    State(api): State<Api>,
    headers: HeaderMap,
    Query(query): Query<DoraQuery>,
) -> Response {
    if let Err(refused) = api.admit(&headers) {
        return *refused;
    }
    let days = crate::web::window_days(query.days);
    match crate::web::dora_reports(&api.engine, days).await {
        Ok((overall, per_env)) => {
            Json(json!({ "days": days, "overall": overall, "environments": per_env }))
                .into_response()
        }
        Err(e) => problem(StatusCode::SERVICE_UNAVAILABLE, &format!("database: {e:#}")),
    }
}
