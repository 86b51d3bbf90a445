//! deckhand's HTTP server: health (and, as platforms arrive, their webhooks).

use std::sync::Arc;

use axum::Router;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::IntoResponse;
use axum::routing::get;
use serde_json::json;

use crate::jobs::Engine;

pub fn router(engine: Arc<Engine>) -> Router {
    Router::new()
        .route("/healthz", get(healthz))
        .with_state(engine)
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
