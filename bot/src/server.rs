//! `deckhand run` as a value: every configured platform, the HTTP server and the engine,
//! started together and stopped together (the CLI and the end-to-end tests share it).

use std::net::SocketAddr;
use std::sync::Arc;

use anyhow::Context as _;
use slack_morphism::prelude::{SlackClientHyperHttpsConnector, SlackClientSocketModeListener};

use crate::chat::Chat;
use crate::config::Config;
use crate::discord::{DiscordPlatform, DiscordSettings, Gateway};
use crate::jobs::{Engine, Settings};
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
}

pub struct Server {
    pub engine: Arc<Engine>,
    /// The address the HTTP server got (useful with port 0).
    pub addr: SocketAddr,
    pub slack: Option<Arc<SlackPlatform>>,
    pub discord: Option<Arc<DiscordPlatform>>,
    gateway: Option<Gateway>,
    socket: Option<Arc<SlackClientSocketModeListener<SlackClientHyperHttpsConnector>>>,
    http: tokio::task::JoinHandle<()>,
    stop_http: tokio_util::sync::CancellationToken,
}

impl Server {
    pub async fn start(config: Config, store: Store, options: Options) -> anyhow::Result<Server> {
        let mut chat = Chat::new();
        let slack = match &options.slack {
            Some(settings) => {
                let platform = SlackPlatform::new(settings)?;
                chat.add(platform.clone());
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
        let mut router = crate::http::router(engine.clone(), options.api_token.clone());
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
        let mut gateway = None;
        if let (Some(settings), Some(platform)) = (&options.discord, &discord) {
            let inbound = crate::discord::Inbound {
                engine: engine.clone(),
                discord: platform.clone(),
                guild_id: settings.guild_id,
            };
            if let Some(routes) = crate::discord::routes(inbound.clone(), settings) {
                router = router.merge(routes);
                tracing::info!("Discord interactions endpoint on /discord/interactions");
            }
            if settings.gateway {
                gateway = Some(Gateway::start(inbound, settings).await?);
            }
        }
        let listener = tokio::net::TcpListener::bind(&options.listen)
            .await
            .with_context(|| format!("cannot listen on DECKHAND_LISTEN={}", options.listen))?;
        let addr = listener.local_addr()?;
        engine.start().await?;
        let stop_http = tokio_util::sync::CancellationToken::new();
        let stopped = stop_http.clone();
        let http = tokio::spawn(async move {
            let served = axum::serve(listener, router)
                .with_graceful_shutdown(async move { stopped.cancelled().await })
                .await;
            if let Err(e) = served {
                tracing::error!(error = %e, "the HTTP server stopped");
            }
        });
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
        })
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
