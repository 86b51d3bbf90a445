//! deckhand's HTTP routes: `/healthz`, `/metrics`, the REST API and the web page (the
//! Slack and Discord endpoints are merged in by `server`).

use std::sync::Arc;

use axum::Router;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::IntoResponse;
use axum::routing::get;
use serde_json::json;

use crate::jobs::Engine;

/// `/healthz`, `/metrics` (behind `metrics_token` when set) and the REST API (on when
/// `api_token` is set).
pub fn router(
    engine: Arc<Engine>,
    api_token: Option<secrecy::SecretString>,
    metrics_token: Option<secrecy::SecretString>,
    sessions: Arc<crate::web::session::Sessions>,
) -> Router {
    Router::new()
        .route("/healthz", get(healthz))
        .route(
            "/metrics",
            get(metrics).layer(axum::middleware::from_fn_with_state(
                metrics_token.map(Arc::new),
                metrics_auth,
            )),
        )
        .with_state(engine.clone())
        .merge(crate::api::routes(engine.clone(), api_token))
        .merge(crate::web::routes(engine, sessions))
        .layer(axum::middleware::map_response(crate::web::security_headers))
}

/// 401 for `/metrics` without the right bearer token, when one is configured.
async fn metrics_auth(
    State(token): State<Option<Arc<secrecy::SecretString>>>,
    request: axum::extract::Request,
    next: axum::middleware::Next,
) -> axum::response::Response {
    if let Some(token) = token
        && !crate::api::same_secret(crate::api::bearer(request.headers()), &token)
    {
        return (
            StatusCode::UNAUTHORIZED,
            [("www-authenticate", "Bearer")],
            "/metrics wants DECKHAND_METRICS_TOKEN as a bearer token",
        )
            .into_response();
    }
    next.run(request).await
}

/// 200 when the database answers, 503 when it does not.
async fn healthz(State(engine): State<Arc<Engine>>) -> impl IntoResponse {
    let database = engine.store().ping().await;
    let status = if database {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    let body = json!({
        "status": if database { "healthy" } else { "unhealthy" },
        "database": if database { "connected" } else { "unreachable" },
        "dialect": format!("{:?}", engine.store().dialect).to_lowercase(),
        // The leader runs the Discord gateway, the scheduler and the sweeper's reaping.
        "role": engine.leadership().role().as_str(),
        "version": env!("CARGO_PKG_VERSION"),
    });
    (status, axum::Json(body))
}

/// Prometheus text (`metrics.rs`): commands, jobs by state, step durations, outbound
/// calls and rate-limit waits.
async fn metrics(State(engine): State<Arc<Engine>>) -> axum::response::Response {
    match engine.metrics_text().await {
        Ok(text) => (
            [(
                axum::http::header::CONTENT_TYPE,
                "application/openmetrics-text; version=1.0.0; charset=utf-8",
            )],
            text,
        )
            .into_response(),
        Err(e) => {
            tracing::error!(error = %format!("{e:#}"), "cannot read metrics from the store");
            StatusCode::SERVICE_UNAVAILABLE.into_response()
        }
    }
}
