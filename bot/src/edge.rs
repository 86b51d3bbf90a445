//! The HTTP edge: every connection has a header-read deadline and every request a body
//! limit (before anything reads the body, signature checks included) and an overall
//! deadline; connections are capped. Hostile or broken clients cost a bounded amount.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::extract::ConnectInfo;
use axum::http::StatusCode;
use hyper_util::rt::{TokioIo, TokioTimer};
use tokio::net::TcpListener;
use tokio::sync::Semaphore;
use tokio_util::sync::CancellationToken;
use tower::ServiceExt as _;

/// The edge's bounds.
#[derive(Debug, Clone, Copy)]
pub struct Edge {
    /// The largest request body read, on every route: Slack's and Discord's payloads and
    /// the API's announcements are all far smaller. Larger: 413.
    pub body_limit: usize,
    /// How long a connection may take to send a request's headers (slowloris): closed.
    pub header_timeout: Duration,
    /// How long a request may take, body and answer included: 408.
    pub request_timeout: Duration,
    /// Connections served at once; more wait in the listen backlog.
    pub max_connections: usize,
}

impl Default for Edge {
    fn default() -> Self {
        Edge {
            body_limit: 256 * 1024,
            header_timeout: Duration::from_secs(10),
            // Slack waits 3 s for an acknowledgement; nothing deckhand serves needs 30.
            request_timeout: Duration::from_secs(30),
            max_connections: 512,
        }
    }
}

/// How long a shutdown waits for open connections to finish their requests.
const CLOSE_GRACE: Duration = Duration::from_secs(5);

/// The body limit and the request deadline, around every route of `router`.
pub fn guard(router: Router, edge: &Edge) -> Router {
    router
        .layer(tower_http::timeout::TimeoutLayer::with_status_code(
            StatusCode::REQUEST_TIMEOUT,
            edge.request_timeout,
        ))
        .layer(tower_http::limit::RequestBodyLimitLayer::new(
            edge.body_limit,
        ))
}

/// Serves `router` on `listener` until `stop`, then lets open requests finish for a
/// few seconds. Each request carries its peer address (`ConnectInfo`).
pub async fn serve(listener: TcpListener, router: Router, edge: Edge, stop: CancellationToken) {
    let graceful = hyper_util::server::graceful::GracefulShutdown::new();
    let slots = Arc::new(Semaphore::new(edge.max_connections));
    loop {
        let slot = tokio::select! {
            slot = slots.clone().acquire_owned() => slot,
            _ = stop.cancelled() => break,
        };
        let Ok(slot) = slot else { break };
        let (stream, peer) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(accepted) => accepted,
                Err(error) => {
                    // Out of file descriptors, most likely: breathe rather than spin.
                    tracing::warn!(%error, "cannot accept a connection");
                    tokio::time::sleep(Duration::from_millis(100)).await;
                    continue;
                }
            },
            _ = stop.cancelled() => break,
        };
        let connection = hyper::server::conn::http1::Builder::new()
            .timer(TokioTimer::new())
            .header_read_timeout(edge.header_timeout)
            .serve_connection(TokioIo::new(stream), service(router.clone(), peer));
        let connection = graceful.watch(connection);
        tokio::spawn(async move {
            if let Err(error) = connection.await {
                tracing::debug!(%peer, %error, "connection ended");
            }
            drop(slot);
        });
    }
    if tokio::time::timeout(CLOSE_GRACE, graceful.shutdown())
        .await
        .is_err()
    {
        tracing::warn!("closed connections that were still busy at shutdown");
    }
}

/// The router as a hyper service, with the peer's address on every request.
fn service(
    router: Router,
    peer: SocketAddr,
) -> impl hyper::service::Service<
    hyper::Request<hyper::body::Incoming>,
    Response = axum::response::Response,
    Error = std::convert::Infallible,
    Future = impl Send,
> + Clone {
    hyper::service::service_fn(move |mut request: hyper::Request<hyper::body::Incoming>| {
        request.extensions_mut().insert(ConnectInfo(peer));
        router.clone().oneshot(request.map(axum::body::Body::new))
    })
}
