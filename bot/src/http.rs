//! deckhand's HTTP server: health (and, as platforms arrive, their webhooks).

use std::sync::Arc;

use axum::Router;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::IntoResponse;
use axum::routing::get;
use serde_json::json;

use crate::jobs::Engine;

/// `/healthz` and the REST API (on when `api_token` is set).
pub fn router(engine: Arc<Engine>, api_token: Option<secrecy::SecretString>) -> Router {
    Router::new()
        .route("/healthz", get(healthz))
        .with_state(engine.clone())
        .merge(crate::api::routes(engine, api_token))
}

/// `DECKHAND_API_TOKEN`, when set.
pub fn api_token_from_env() -> Option<secrecy::SecretString> {
    std::env::var("DECKHAND_API_TOKEN")
        .ok()
        .filter(|t| !t.trim().is_empty())
        .map(Into::into)
}

/// 200 when the database answers, 503 when it does not.
async fn healthz(State(engine): State<Arc<Engine>>) -> impl IntoResponse {
    let database = engine.store.ping().await;
    let status = if database {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    let body = json!({
        "status": if database { "healthy" } else { "unhealthy" },
        "database": if database { "connected" } else { "unreachable" },
        "dialect": format!("{:?}", engine.store.dialect).to_lowercase(),
        "version": env!("CARGO_PKG_VERSION"),
    });
    (status, axum::Json(body))
}
