//! The `deckhand` binary.

use std::process::ExitCode;

use clap::Parser as _;
use deckhand::cli::Cli;

fn main() -> ExitCode {
    let cli = Cli::parse();
    init_logging();
    let runtime = match tokio::runtime::Runtime::new() {
        Ok(runtime) => runtime,
        Err(e) => {
            eprintln!("deckhand: cannot start the async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    let code = runtime.block_on(deckhand::cli::main(cli));
    // A console stopped by a signal may still have a read of stdin pending on a blocking
    // thread, which nothing can cancel; everything that matters is recorded by now.
    runtime.shutdown_timeout(std::time::Duration::from_secs(1));
    code
}

/// Logs go to stderr: JSON with `DECKHAND_LOG_FORMAT=json`, readable otherwise. Only
/// warnings by default (`RUST_LOG` says otherwise), so the console's transcript stays
/// readable.
fn init_logging() {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn"));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    if std::env::var("DECKHAND_LOG_FORMAT").as_deref() == Ok("json") {
        builder.json().init();
    } else {
        builder.init();
    }
}
