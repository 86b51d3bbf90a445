//! The `deckhand` command line: run, console, check, migrate, manifest.

use std::io::IsTerminal as _;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;

use anyhow::Context as _;
use clap::{Parser, Subcommand, ValueEnum};
use tokio::io::AsyncBufReadExt as _;

use crate::chat::Chat;
use crate::chat::console::{self, Console};
use crate::config::Config;
use crate::jobs::{Engine, Settings};
use crate::store::{Store, redact_url};

#[derive(Debug, Parser)]
#[command(
    name = "deckhand",
    version,
    about = "Chat-ops for teams that ship: deploys, approvals, rollbacks and backups from Slack, Discord and the terminal"
)]
pub struct Cli {
    /// The config file. Without it, ./deckhand.toml, or the built-in demo when that is absent.
    #[arg(long, global = true, env = "DECKHAND_CONFIG")]
    pub config: Option<PathBuf>,
    /// sqlite://FILE (default, created if missing) or postgres://...
    #[arg(
        long,
        global = true,
        env = "DATABASE_URL",
        default_value = "sqlite://deckhand.db",
        hide_env_values = true
    )]
    pub database_url: String,
    #[command(subcommand)]
    pub command: Cmd,
}

#[derive(Debug, Subcommand)]
pub enum Cmd {
    /// Start the bot: every configured platform and the HTTP server. With no platform
    /// configured and a terminal on stdin, the console.
    Run,
    /// Chat with deckhand in the terminal; also reads a piped script.
    Console,
    /// Validate the config and what it needs; exits 1 with every problem listed.
    Check {
        /// Also ask Slack and Discord: do the tokens work, and can the bot see, post to
        /// and hear reactions in every configured channel?
        #[arg(long)]
        online: bool,
    },
    /// Apply database migrations.
    Migrate,
    /// Print the Slack app manifest or the Discord application commands.
    Manifest {
        #[arg(value_enum)]
        platform: ManifestPlatform,
    },
    /// Tracked secrets (names and rotation dates, never values).
    #[command(subcommand)]
    Secrets(SecretsCmd),
    /// Print a one-time sign-in link to the web page for PERSON (an account such as
    /// `slack:U01ALICE`, or a name from `[people]`), for operators with shell access.
    LoginLink { person: String },
    /// The hash-chained audit log: check it, or copy it out.
    #[command(subcommand)]
    Audit(AuditCmd),
}

#[derive(Debug, Subcommand)]
pub enum AuditCmd {
    /// Walk the chain: exit 0 with the row count and head hash, or 1 naming the first
    /// row that was changed, removed or reordered.
    Verify {
        /// Check an exported file instead of the database (`.csv` is read as CSV,
        /// anything else as JSON lines).
        #[arg(long)]
        file: Option<PathBuf>,
        /// A head hash posted earlier (a checkpoint) that must still be in the chain.
        #[arg(long)]
        expect: Option<String>,
    },
    /// Write the log with its hashes to stdout, so a copy kept elsewhere can be
    /// checked later with `deckhand audit verify --file`.
    Export {
        /// Only rows from this date (`2026-12-01`, midnight in `bot.timezone`) or RFC 3339 time.
        #[arg(long)]
        since: Option<String>,
        #[arg(long, value_enum, default_value = "jsonl")]
        format: crate::audit::Format,
    },
}

#[derive(Debug, Subcommand)]
pub enum SecretsCmd {
    /// Register the variable names of a `.env.example` as tracked secrets (idempotent;
    /// values are never read into storage).
    Import {
        /// The `.env.example` (or any `NAME=value` file).
        file: PathBuf,
        #[arg(long)]
        env: String,
        /// Rotation interval, e.g. `90d`.
        #[arg(long)]
        every: String,
        /// Who rotates them: `slack:U123`, `discord:123`, `console:alice` or a role name.
        #[arg(long)]
        owner: String,
    },
}

#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum ManifestPlatform {
    Slack,
    Discord,
}

/// Runs the CLI; errors are printed for people (no backtrace) and become exit code 1.
pub async fn main(cli: Cli) -> ExitCode {
    match run(cli).await {
        Ok(code) => code,
        Err(error) => {
            eprintln!("deckhand: {error:#}");
            ExitCode::FAILURE
        }
    }
}

fn load_config(cli: &Cli) -> Result<Config, ExitCode> {
    let (path, explicit) = match &cli.config {
        Some(path) => (path.clone(), true),
        None => (PathBuf::from("deckhand.toml"), false),
    };
    Config::load(&path, explicit).map_err(|errors| {
        eprintln!("deckhand: the config has {} problem(s):", errors.0.len());
        for error in &errors.0 {
            eprintln!("  {error}");
        }
        ExitCode::FAILURE
    })
}

async fn run(cli: Cli) -> anyhow::Result<ExitCode> {
    match cli.command {
        Cmd::Manifest { platform } => {
            let text = match platform {
                ManifestPlatform::Slack => {
                    serde_json::to_string_pretty(&crate::manifest::slack_app_manifest())?
                }
                ManifestPlatform::Discord => {
                    serde_json::to_string_pretty(&deckhand_commands::manifest::discord_commands())?
                }
            };
            println!("{text}");
            Ok(ExitCode::SUCCESS)
        }
        Cmd::Secrets(SecretsCmd::Import {
            ref file,
            ref env,
            ref every,
            ref owner,
        }) => import_secrets(&cli, file, env, every, owner).await,
        Cmd::Check { online } => check(&cli, online).await,
        Cmd::Audit(ref command) => audit_command(&cli, command).await,
        Cmd::LoginLink { ref person } => login_link(&cli, person).await,
        Cmd::Migrate => {
            Store::connect(&cli.database_url).await?;
            println!("migrations applied to {}", redact_url(&cli.database_url));
            Ok(ExitCode::SUCCESS)
        }
        Cmd::Console => {
            let config = match load_config(&cli) {
                Ok(config) => config,
                Err(code) => return Ok(code),
            };
            console_session(config, &cli.database_url, None).await
        }
        Cmd::Run => {
            let config = match load_config(&cli) {
                Ok(config) => config,
                Err(code) => return Ok(code),
            };
            let runtime = crate::config::Runtime::from_env()?;
            // No chat platform configured: with a terminal, the console (and the HTTP
            // server beside it).
            if runtime.slack.is_none()
                && runtime.discord.is_none()
                && std::io::stdin().is_terminal()
            {
                return console_session(config, &cli.database_url, Some(runtime)).await;
            }
            serve(config, &cli.database_url, runtime).await
        }
    }
}

/// `deckhand login-link PERSON`: the link `/login` would whisper.
async fn login_link(cli: &Cli, person: &str) -> anyhow::Result<ExitCode> {
    let config = match load_config(cli) {
        Ok(config) => config,
        Err(code) => return Ok(code),
    };
    let Some(public_url) = config.bot.public_url.clone() else {
        anyhow::bail!(
            "the web page has no address: set `bot.public_url` in {}",
            config.source
        );
    };
    // A `[people]` name signs in as their first account; an account as itself.
    let (account, name) = match config.people.get(person) {
        Some(entry) => match entry.accounts().next() {
            Some(account) => (account, person.to_owned()),
            None => anyhow::bail!("`[people.{person}]` lists no account"),
        },
        None if person.contains(':') => (
            person.to_owned(),
            person
                .split_once(':')
                .map(|(_, id)| id.to_owned())
                .unwrap_or_default(),
        ),
        None => anyhow::bail!(
            "`{person}` is neither an account (`slack:U01ALICE`, `console:alice`) nor a name in `[people]`"
        ),
    };
    if !(config.holds_a_role(&account) || config.is_admin(&account)) {
        anyhow::bail!("`{account}` holds no role in [roles]: the page is for the team only");
    }
    let store = Store::connect(&cli.database_url).await?;
    let operator = std::env::var("USER").unwrap_or_else(|_| "operator".into());
    let audit = crate::store::audit::AuditEntry {
        at: crate::store::now_ms(),
        actor: format!("cli:{operator}"),
        platform: "cli".into(),
        action: "web.link".into(),
        env: None,
        job_id: None,
        detail: format!("sign-in link printed for {account}"),
        mark: None,
    };
    let link = crate::web::session::new_link(&store, &public_url, &account, &name, &audit).await?;
    println!("{link}");
    eprintln!("valid once, for 10 minutes, as {name} ({account})");
    Ok(ExitCode::SUCCESS)
}

/// `deckhand audit verify` and `deckhand audit export`.
async fn audit_command(cli: &Cli, command: &AuditCmd) -> anyhow::Result<ExitCode> {
    let outcome = match command {
        AuditCmd::Verify {
            file: Some(path),
            expect,
        } => {
            let file = std::fs::File::open(path)
                .with_context(|| format!("cannot read {}", path.display()))?;
            crate::audit::verify_file(
                std::io::BufReader::new(file),
                crate::audit::format_of(path),
                expect.clone(),
            )
        }
        AuditCmd::Verify { file: None, expect } => {
            let store = Store::connect(&cli.database_url).await?;
            crate::audit::verify(&store, expect.clone()).await?
        }
        AuditCmd::Export { since, format } => {
            let tz = match load_config(cli) {
                Ok(config) => config.clock.tz,
                Err(code) => return Ok(code),
            };
            let since = since
                .as_deref()
                .map(|s| crate::audit::since(s, tz))
                .transpose()?;
            let store = Store::connect(&cli.database_url).await?;
            let stdout = std::io::stdout();
            let mut out = std::io::BufWriter::new(stdout.lock());
            let rows = crate::audit::export(&store, since, *format, &mut out).await?;
            drop(out);
            eprintln!("exported {rows} audit row(s)");
            return Ok(ExitCode::SUCCESS);
        }
    };
    match outcome {
        Ok(verified) => {
            println!(
                "audit chain OK: {} row(s), head {} (row {})",
                verified.rows, verified.head, verified.last_id
            );
            Ok(ExitCode::SUCCESS)
        }
        Err(broken) => {
            println!("audit chain BROKEN: {broken}");
            Ok(ExitCode::FAILURE)
        }
    }
}

/// `deckhand secrets import FILE --env ENV --every D --owner WHO`.
async fn import_secrets(
    cli: &Cli,
    file: &std::path::Path,
    env: &str,
    every: &str,
    owner: &str,
) -> anyhow::Result<ExitCode> {
    let config = match load_config(cli) {
        Ok(config) => config,
        Err(code) => return Ok(code),
    };
    let Some(every) = deckhand_commands::HumanDuration::parse(every) else {
        anyhow::bail!("--every `{every}` is not a duration; write it like `90d` or `30d`");
    };
    if config.env(env).is_none() {
        let names: Vec<&str> = config.environments.keys().map(String::as_str).collect();
        anyhow::bail!(
            "--env `{env}` is not a configured environment ({})",
            names.join(", ")
        );
    }
    if !(owner.contains(':') || config.roles.contains_key(owner)) {
        anyhow::bail!(
            "--owner `{owner}` is neither a person (`slack:U123`, `console:alice`) nor a role in [roles]"
        );
    }
    let text =
        std::fs::read_to_string(file).with_context(|| format!("cannot read {}", file.display()))?;
    let store = Store::connect(&cli.database_url).await?;
    let engine = Engine::new(Arc::new(config), store, Chat::new(), Settings::default());
    let (added, known) = engine
        .secrets()
        .import(&text, env, every.as_secs() as i64, owner)
        .await?;
    println!(
        "registered {} new secret(s) in {env}: {}",
        added.len(),
        if added.is_empty() {
            "-".into()
        } else {
            added.join(", ")
        }
    );
    println!("{} already tracked", known.len());
    Ok(ExitCode::SUCCESS)
}

/// `deckhand check`: the config, the platform settings and the database.
async fn check(cli: &Cli, online: bool) -> anyhow::Result<ExitCode> {
    let config = match load_config(cli) {
        Ok(config) => config,
        Err(code) => return Ok(code),
    };
    let runtime = crate::config::Runtime::from_env()?;
    let (slack, discord) = (&runtime.slack, &runtime.discord);
    let store = Store::open(&cli.database_url).await?;
    let envs: Vec<&str> = config.environments.keys().map(String::as_str).collect();
    println!(
        "config OK: {} ({} environment(s): {}; {} app(s))",
        config.source,
        envs.len(),
        envs.join(", "),
        config.apps.len()
    );
    match slack {
        Some(s) => println!(
            "slack OK: {}{}",
            if s.app_token.is_some() {
                "Socket Mode"
            } else {
                ""
            },
            match (s.app_token.is_some(), s.signing_secret.is_some()) {
                (true, true) => " and HTTP mode",
                (false, true) => "HTTP mode",
                _ => "",
            }
        ),
        None => println!("slack: not configured (set SLACK_BOT_TOKEN to connect it)"),
    }
    match discord {
        Some(d) => println!(
            "discord OK: gateway{}; commands in guild{} {}",
            if d.public_key.is_some() {
                " and HTTP interactions"
            } else {
                ""
            },
            if d.guild_ids.len() == 1 { "" } else { "s" },
            d.guild_ids
                .iter()
                .map(u64::to_string)
                .collect::<Vec<_>>()
                .join(", ")
        ),
        None => println!("discord: not configured (set DISCORD_TOKEN to connect it)"),
    }
    match &runtime.github {
        Some(g) => println!(
            "github OK: {} at {}{}",
            match &g.credentials {
                crate::github::Credentials::Token(_) => "token".to_owned(),
                crate::github::Credentials::App { app_id, .. } => format!("App {app_id}"),
            },
            g.api_url,
            if g.webhook_secret.is_some() {
                "; webhook on /github/webhook"
            } else {
                ""
            }
        ),
        None => println!(
            "github: not configured (set GITHUB_TOKEN, or GITHUB_APP_ID and GITHUB_APP_PRIVATE_KEY)"
        ),
    }
    println!(
        "database OK: {} ({})",
        redact_url(&cli.database_url),
        if store.ping().await {
            "reachable"
        } else {
            "unreachable"
        }
    );
    if !online {
        return Ok(ExitCode::SUCCESS);
    }
    let mut findings = crate::doctor::check_online(&config, slack.as_ref(), discord.as_ref()).await;
    if let Some(github) = &runtime.github {
        findings.extend(crate::doctor::github_findings(&config, github).await);
    }
    let problems = findings.iter().filter(|f| !f.ok).count();
    for finding in &findings {
        println!(
            "{} {}",
            if finding.ok { "ok  " } else { "FAIL" },
            finding.line
        );
    }
    if problems > 0 {
        eprintln!("{problems} problem(s) found online");
        return Ok(ExitCode::FAILURE);
    }
    Ok(ExitCode::SUCCESS)
}

/// Every configured platform, the HTTP server and the engine, until SIGINT or SIGTERM.
async fn serve(
    config: Config,
    database_url: &str,
    runtime: crate::config::Runtime,
) -> anyhow::Result<ExitCode> {
    // Held until this process exits: a second `deckhand run` on this SQLite file stops here.
    let _alone = crate::store::run_lock::RunLock::take(database_url)?;
    let store = Store::connect(database_url).await?;
    let options = crate::server::Options {
        settings: Settings::default(),
        listen: runtime.listen,
        slack: runtime.slack,
        discord: runtime.discord,
        api_token: runtime.api_token,
        metrics_token: runtime.metrics_token,
        edge: crate::edge::Edge::default(),
        github: runtime.github,
    };
    let grace = shutdown_grace(&config);
    let server = crate::server::Server::start(config, store, options).await?;
    shutdown_signal().await;
    tracing::info!(grace_s = grace.as_secs(), "shutting down");
    server.shut_down(grace).await;
    Ok(ExitCode::SUCCESS)
}

/// Binds `DECKHAND_LISTEN` (default 127.0.0.1:8080).
async fn listen(address: &str) -> anyhow::Result<tokio::net::TcpListener> {
    let listener = tokio::net::TcpListener::bind(address)
        .await
        .with_context(|| format!("cannot listen on DECKHAND_LISTEN={address}"))?;
    tracing::info!(listen = %listener.local_addr()?, "HTTP server up");
    Ok(listener)
}

fn shutdown_grace(config: &Config) -> std::time::Duration {
    config
        .bot
        .shutdown_grace
        .map(|g| g.as_std())
        .unwrap_or(crate::config::DEFAULT_SHUTDOWN_GRACE)
}

async fn shutdown_signal() {
    let terminate = async {
        if let Ok(mut signal) =
            tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
        {
            signal.recv().await;
        }
    };
    tokio::select! {
        _ = tokio::signal::ctrl_c() => {}
        _ = terminate => {}
    }
}

/// Reads lines from stdin as chat messages until end of input, then waits for the jobs
/// that are queued or running (jobs awaiting approval stay pending) and exits 0. With
/// `http`, the HTTP server runs beside it (`deckhand run` at a terminal).
async fn console_session(
    config: Config,
    database_url: &str,
    http: Option<crate::config::Runtime>,
) -> anyhow::Result<ExitCode> {
    let store = Store::connect(database_url).await?;
    let first_id = crate::store::messages::next_console_number(&store.pool).await?;
    let console = Console::new(Box::new(std::io::stdout()), None).starting_at(first_id);
    let mut chat = Chat::new();
    chat.add(Arc::new(console));
    let engine = Engine::new(Arc::new(config), store, chat, Settings::default());
    // The console deploys through GitHub the way chat does.
    let github = crate::github::GitHubSettings::from_env(&|name| {
        std::env::var(name).ok().filter(|v| !v.trim().is_empty())
    })
    .map_err(|e| anyhow::anyhow!(e))?;
    if let Some(github) = github {
        engine.set_github(Arc::new(crate::github::GitHub::new(github)));
    }
    if let Some(runtime) = http {
        let listener = listen(&runtime.listen).await?;
        let edge = crate::edge::Edge::default();
        let router = crate::edge::guard(
            crate::http::router(
                engine.clone(),
                runtime.api_token,
                runtime.metrics_token,
                engine.sessions().await?,
            ),
            &edge,
        );
        // Lives as long as the console; the process exit ends it.
        let forever = tokio_util::sync::CancellationToken::new();
        tokio::spawn(crate::edge::serve(listener, router, edge, forever));
    }
    engine.start().await?;
    let user = console::default_user();
    let interactive = std::io::stdin().is_terminal();
    if interactive {
        eprintln!(
            "deckhand console ({}). You are `{user}`; `@bob TEXT` speaks as bob, `@bob react ✅ m3` reacts. Try /help. Ctrl-D quits.",
            engine.config().source
        );
    }
    let grace = shutdown_grace(engine.config());
    let mut lines = tokio::io::BufReader::new(tokio::io::stdin()).lines();
    let signalled = shutdown_signal();
    tokio::pin!(signalled);
    loop {
        tokio::select! {
            line = lines.next_line() => match line.context("cannot read stdin")? {
                Some(line) => {
                    if let Some(event) = console::line_to_event(&line, &user) {
                        engine.handle(event).await;
                    }
                }
                None => break,
            },
            _ = &mut signalled => {
                engine.shut_down(grace).await;
                return Ok(ExitCode::SUCCESS);
            }
        }
    }
    // End of input: the queued and running jobs finish, unless a signal says stop.
    tokio::select! {
        _ = engine.wait_idle() => engine.stop(),
        _ = &mut signalled => {
            engine.shut_down(grace).await;
        }
    }
    Ok(ExitCode::SUCCESS)
}
