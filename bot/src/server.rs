//! `deckhand run` as a value: every configured platform, the HTTP server and the engine,
//! started together and stopped together (the CLI and the end-to-end tests share it).

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use axum::extract::{Request, State};
use axum::http::StatusCode;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

use anyhow::Context as _;
use slack_morphism::prelude::{SlackClientHyperHttpsConnector, SlackClientSocketModeListener};

use crate::chat::Chat;
use crate::config::Config;
use crate::config::DiscordSettings;
use crate::discord::{DiscordPlatform, Gateway};
use crate::jobs::{Engine, Settings};
use crate::leader::{Leadership, Role};
use crate::slack::{Inbound, SlackPlatform, SlackSettings};
use crate::store::Store;

pub struct Options {
    pub settings: Settings,
    /// Where the HTTP server listens (`DECKHAND_LISTEN`).
    pub listen: String,
    pub slack: Option<SlackSettings>,
    pub discord: Option<DiscordSettings>,
    /// `DECKHAND_API_TOKEN`: the REST API's bearer token; the API is off without it.
    pub api_token: Option<secrecy::SecretString>,
    /// `DECKHAND_METRICS_TOKEN`: `/metrics` wants it when set.
    pub metrics_token: Option<secrecy::SecretString>,
    /// Body limit, timeouts and the connection cap of the HTTP server.
    pub edge: crate::edge::Edge,
    /// GitHub, when a token or an App is configured.
    pub github: Option<crate::github::GitHubSettings>,
}

pub struct Server {
    pub engine: Arc<Engine>,
    /// The address the HTTP server got (useful with port 0).
    pub addr: SocketAddr,
    pub slack: Option<Arc<SlackPlatform>>,
    pub discord: Option<Arc<DiscordPlatform>>,
    gateway: Option<LeaderGateway>,
    socket: Option<Arc<SlackClientSocketModeListener<SlackClientHyperHttpsConnector>>>,
    http: tokio::task::JoinHandle<()>,
    stop_http: tokio_util::sync::CancellationToken,
    /// Set at shutdown: new requests get 503 (so Slack retries elsewhere, and a load
    /// balancer's readiness check fails) while running work finishes.
    draining: Arc<AtomicBool>,
}

/// How long a shutdown waits, after the jobs, for the outbox to say what it holds.
const FLUSH: Duration = Duration::from_secs(5);

/// Every route answers 503 once draining starts; `/metrics` still shows what is going on.
async fn refuse_while_draining(
    State(draining): State<Arc<AtomicBool>>,
    request: Request,
    next: Next,
) -> Response {
    if draining.load(Ordering::SeqCst) && request.uri().path() != "/metrics" {
        return (
            StatusCode::SERVICE_UNAVAILABLE,
            [("retry-after", "5")],
            "deckhand is shutting down",
        )
            .into_response();
    }
    next.run(request).await
}

/// Looks up the ids of the Slack channels the config names (`#deploys`) in the
/// background, so every call uses the id; without the `channels:read` scope each name
/// resolves at its first post instead.
fn resolve_slack_names(config: &Config, platform: &Arc<SlackPlatform>) {
    let named = config
        .channels()
        .iter()
        .any(|(_, c)| c.starts_with("slack:#"));
    if !named {
        return;
    }
    let platform = platform.clone();
    tokio::spawn(async move {
        match platform.list_channels().await {
            Ok(seen) => tracing::info!(channels = seen.len(), "resolved Slack channel names"),
            Err(error) => {
                tracing::info!(error = %format!("{error:#}"), "cannot list Slack channels; names resolve at their first post")
            }
        }
    });
}

/// The Discord gateway, connected while this replica leads: one connection per bot, so
/// each reaction arrives once, and a follower that takes over connects within a poll.
struct LeaderGateway {
    stop: tokio_util::sync::CancellationToken,
    task: tokio::task::JoinHandle<()>,
}

impl LeaderGateway {
    /// A replica that leads at start connects before it returns, so a bad token stops
    /// start-up as it always did.
    async fn start(
        inbound: crate::discord::Inbound,
        settings: DiscordSettings,
        leadership: Arc<Leadership>,
    ) -> anyhow::Result<LeaderGateway> {
        let first = if leadership.is_leader() {
            Some(Gateway::start(inbound.clone(), &settings).await?)
        } else {
            tracing::info!("the Discord gateway waits for this replica to lead");
            None
        };
        let stop = tokio_util::sync::CancellationToken::new();
        let task = tokio::spawn(follow_leadership(
            first,
            inbound,
            settings,
            leadership,
            stop.clone(),
        ));
        Ok(LeaderGateway { stop, task })
    }

    async fn stop(self) {
        self.stop.cancel();
        let _ = self.task.await;
    }
}

async fn follow_leadership(
    mut connected: Option<Gateway>,
    inbound: crate::discord::Inbound,
    settings: DiscordSettings,
    leadership: Arc<Leadership>,
    stop: tokio_util::sync::CancellationToken,
) {
    let mut role = leadership.watch();
    loop {
        let leading = *role.borrow_and_update() == Role::Leader;
        match (leading, connected.take()) {
            (true, None) => match Gateway::start(inbound.clone(), &settings).await {
                Ok(gateway) => {
                    tracing::info!("leading: connected the Discord gateway");
                    connected = Some(gateway);
                }
                Err(error) => {
                    tracing::error!(error = %format!("{error:#}"), "cannot connect the Discord gateway; trying again");
                    tokio::select! {
                        _ = tokio::time::sleep(Duration::from_secs(5)) => continue,
                        _ = stop.cancelled() => return,
                    }
                }
            },
            (false, Some(gateway)) => {
                tracing::warn!("no longer leading: closing the Discord gateway");
                gateway.stop().await;
            }
            (_, kept) => connected = kept,
        }
        tokio::select! {
            changed = role.changed() => if changed.is_err() { break },
            _ = stop.cancelled() => break,
        }
    }
    if let Some(gateway) = connected {
        gateway.stop().await;
    }
}

impl Server {
    pub async fn start(config: Config, store: Store, options: Options) -> anyhow::Result<Server> {
        let mut chat = Chat::new();
        let slack = match &options.slack {
            Some(settings) => {
                let platform = SlackPlatform::new(settings)?;
                chat.add(platform.clone());
                resolve_slack_names(&config, &platform);
                Some(platform)
            }
            None => None,
        };
        let discord = options.discord.as_ref().map(|settings| {
            let platform = DiscordPlatform::new(settings);
            chat.add(platform.clone());
            platform
        });
        let engine = Engine::new(Arc::new(config), store, chat, options.settings);
        let mut router = crate::http::router(
            engine.clone(),
            options.api_token.clone(),
            options.metrics_token.clone(),
            engine.sessions().await?,
        );
        if let Some(github) = &options.github {
            engine.set_github(Arc::new(crate::github::GitHub::new(github.clone())));
            if let Some(secret) = &github.webhook_secret {
                router = router.merge(crate::github::webhook::routes(
                    engine.clone(),
                    secret.clone(),
                ));
                tracing::info!("GitHub webhook on /github/webhook");
            }
        }
        let mut socket = None;
        if let (Some(settings), Some(platform)) = (&options.slack, &slack) {
            let inbound = Inbound {
                engine: engine.clone(),
                slack: platform.clone(),
            };
            if let Some(routes) = crate::slack::routes(inbound.clone(), settings) {
                router = router.merge(routes);
                tracing::info!(
                    "Slack HTTP mode on /slack/commands, /slack/events, /slack/interactivity"
                );
            }
            socket = crate::slack::start_socket_mode(inbound, settings).await?;
        }
        // Recovery and leadership first: the gateway runs only on the leader.
        engine.start().await?;
        let mut gateway = None;
        if let (Some(settings), Some(platform)) = (&options.discord, &discord) {
            let inbound = crate::discord::Inbound {
                engine: engine.clone(),
                discord: platform.clone(),
                guild_ids: settings.guild_ids.clone(),
            };
            if let Some(routes) = crate::discord::routes(inbound.clone(), settings) {
                router = router.merge(routes);
                tracing::info!("Discord interactions endpoint on /discord/interactions");
            }
            if settings.gateway {
                gateway = Some(
                    LeaderGateway::start(inbound, settings.clone(), engine.leadership()).await?,
                );
            }
        }
        let draining = Arc::new(AtomicBool::new(false));
        let router = crate::edge::guard(
            router.layer(axum::middleware::from_fn_with_state(
                draining.clone(),
                refuse_while_draining,
            )),
            &options.edge,
        );
        let listener = tokio::net::TcpListener::bind(&options.listen)
            .await
            .with_context(|| format!("cannot listen on DECKHAND_LISTEN={}", options.listen))?;
        let addr = listener.local_addr()?;
        let stop_http = tokio_util::sync::CancellationToken::new();
        let stopped = stop_http.clone();
        let edge = options.edge;
        let http = tokio::spawn(crate::edge::serve(listener, router, edge, stopped));
        tracing::info!(%addr, "deckhand is up");
        Ok(Server {
            engine,
            addr,
            slack,
            discord,
            gateway,
            socket,
            http,
            stop_http,
            draining,
        })
    }

    /// SIGTERM: stop taking events (HTTP 503, sockets closed), let running jobs finish
    /// within `grace` and stop the rest, give the outbox a moment to say what it holds,
    /// then stop the HTTP server.
    pub async fn shut_down(self, grace: Duration) {
        self.drain();
        if let Some(socket) = &self.socket {
            socket.shutdown().await;
        }
        if let Some(gateway) = self.gateway {
            gateway.stop().await;
        }
        self.engine.shut_down(grace).await;
        let flushed = tokio::time::Instant::now() + FLUSH;
        let busy = || {
            self.slack.as_ref().map_or(0, |s| s.outbound_busy())
                + self.discord.as_ref().map_or(0, |d| d.outbound_busy())
                + self.engine.outbox_busy()
        };
        while busy() > 0 && tokio::time::Instant::now() < flushed {
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        if busy() > 0 {
            tracing::warn!(unsent = busy(), "shut down with messages still unsent");
        }
        self.stop_http.cancel();
        let _ = self.http.await;
    }

    /// Starts refusing new requests with 503, as a shutdown does first.
    pub fn drain(&self) {
        self.draining.store(true, Ordering::SeqCst);
    }

    pub async fn stop(self) {
        if let Some(socket) = &self.socket {
            socket.shutdown().await;
        }
        if let Some(gateway) = self.gateway {
            gateway.stop().await;
        }
        self.engine.stop();
        self.stop_http.cancel();
        let _ = self.http.await;
    }
}
