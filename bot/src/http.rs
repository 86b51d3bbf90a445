//! deckhand's HTTP routes: `/healthz`, `/metrics`, and the REST API (the Slack and
//! Discord endpoints are merged in by `server`).

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
        .route("/metrics", get(metrics))
        .with_state(engine.clone())
        .merge(crate::api::routes(engine, api_token))
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
        "version": env!("CARGO_PKG_VERSION"),
    });
    (status, axum::Json(body))
}

/// Prometheus text: commands, jobs by state, step durations, outbound calls, rate-limit
/// waits.
async fn metrics(State(engine): State<Arc<Engine>>) -> impl IntoResponse {
    use std::fmt::Write as _;
    let mut out = String::new();
    let commands = engine.commands_received();
    let _ = writeln!(
        out,
        "# HELP deckhand_commands_total Commands received from every platform.\n# TYPE deckhand_commands_total counter\ndeckhand_commands_total {commands}"
    );
    let _ = writeln!(
        out,
        "# HELP deckhand_jobs Jobs by state.\n# TYPE deckhand_jobs gauge"
    );
    let counts = engine.jobs_by_state().await.unwrap_or_default();
    for state in crate::store::jobs::JobState::ALL {
        let n = counts
            .iter()
            .find(|(s, _)| s == state.as_str())
            .map(|(_, n)| *n)
            .unwrap_or(0);
        let _ = writeln!(out, "deckhand_jobs{{state=\"{}\"}} {n}", state.as_str());
    }
    let (steps, seconds) = engine.step_totals().await.unwrap_or((0, 0.0));
    let _ = writeln!(
        out,
        "# HELP deckhand_step_duration_seconds Time spent in finished steps.\n# TYPE deckhand_step_duration_seconds summary\ndeckhand_step_duration_seconds_sum {seconds}\ndeckhand_step_duration_seconds_count {steps}"
    );
    let _ = writeln!(
        out,
        "# HELP deckhand_outbound_calls_total Calls to chat platforms' APIs.\n# TYPE deckhand_outbound_calls_total counter"
    );
    let stats = engine.chat().stats();
    for (platform, calls, _) in &stats {
        let _ = writeln!(
            out,
            "deckhand_outbound_calls_total{{platform=\"{platform}\"}} {calls}"
        );
    }
    let _ = writeln!(
        out,
        "# HELP deckhand_rate_limit_waits_total 429s honoured by waiting.\n# TYPE deckhand_rate_limit_waits_total counter"
    );
    for (platform, _, waits) in &stats {
        let _ = writeln!(
            out,
            "deckhand_rate_limit_waits_total{{platform=\"{platform}\"}} {waits}"
        );
    }
    (
        [(
            axum::http::header::CONTENT_TYPE,
            "text/plain; version=0.0.4",
        )],
        out,
    )
}
