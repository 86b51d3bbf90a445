//! `GET /healthz`: 200 with the database connected, 503 when it is not; `/metrics`
//! behind its token when one is set.

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
    let sessions = engine.sessions().await.unwrap();
    tokio::spawn(async move {
        axum::serve(
            listener,
            deckhand::http::router(engine, None, None, sessions),
        )
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

#[tokio::test]
async fn metrics_want_their_token_when_one_is_set() {
    let (store, _) = deckhand::testing::sqlite().await;
    let config = Config::parse(DEMO, DEMO_SOURCE).unwrap();
    let engine = Engine::new(Arc::new(config), store, Chat::new(), Settings::default());
    let token = "metrics-token-0123456789abcdef0123";
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/metrics", listener.local_addr().unwrap());
    let sessions = engine.sessions().await.unwrap();
    let router = deckhand::http::router(engine, None, Some(token.to_owned().into()), sessions);
    tokio::spawn(async move { axum::serve(listener, router).await.unwrap() });
    let client = reqwest::Client::new();
    let anonymous = client.get(&url).send().await.unwrap();
    assert_eq!(anonymous.status(), 401);
    let wrong = client.get(&url).bearer_auth("nope").send().await.unwrap();
    assert_eq!(wrong.status(), 401);
    let scraped = client.get(&url).bearer_auth(token).send().await.unwrap();
    assert_eq!(scraped.status(), 200);
    assert!(
        scraped
            .text()
            .await
            .unwrap()
            .contains("deckhand_commands_total")
    );
}
