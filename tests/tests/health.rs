//! `GET /healthz`: 200 with the database connected, 503 when it is not.

use std::sync::Arc;

use deckhand::chat::Chat;
use deckhand::config::{Config, DEMO, DEMO_SOURCE};
use deckhand::jobs::{Engine, Settings};

#[tokio::test]
async fn healthz_reports_the_database() {
    let (store, _) = deckhand::testing::sqlite().await;
    let config = Config::parse(DEMO, DEMO_SOURCE).unwrap();
    let engine = Engine::new(
        Arc::new(config),
        store.clone(),
        Chat::new(),
        Settings::default(),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/healthz", listener.local_addr().unwrap());
    tokio::spawn(async move {
        axum::serve(listener, deckhand::http::router(engine, None))
            .await
            .unwrap()
    });

    let response = reqwest::get(&url).await.unwrap();
    assert_eq!(response.status(), 200);
    let body: serde_json::Value = response.json().await.unwrap();
    assert_eq!(body["status"], "healthy");
    assert_eq!(body["database"], "connected");

    store.pool.close().await;
    let response = reqwest::get(&url).await.unwrap();
    assert_eq!(response.status(), 503);
    let body: serde_json::Value = response.json().await.unwrap();
    assert_eq!(body["database"], "unreachable");
}
