//! The `inlet` command: `dev` (the whole pipeline in one process on the embedded store),
//! `send`, `check`, `dlq`, `review`, `status`, … Library so the integration tests can start
//! the same server in-process.
//!
//! Layout: [`args`] is the command line as clap parses it; `cmd` has one module per
//! command; [`error`] maps a failed command to its exit status; the rest is shared by the
//! commands and the console (`backend`, `config_file`, `out`, `dev`, `server`).

pub mod args;
pub mod backend;
mod cmd;
pub mod config_file;
pub mod console;
pub mod dev;
pub mod error;
pub mod out;
pub mod reconcile;
pub mod server;

use std::process::ExitCode;

use clap::Parser as _;

use crate::args::{Cli, LogFormat};

/// Exit codes scripts can rely on.
pub mod exit {
    /// Success.
    pub const OK: u8 = 0;
    /// The operation failed (network, store, a non-2xx answer to `send`).
    pub const FAILURE: u8 = 1;
    /// Bad command-line usage (clap's own code).
    pub const USAGE: u8 = 2;
    /// The configuration is missing or invalid.
    pub const CONFIG: u8 = 3;
    /// Nothing matched (e.g. `dlq redrive --key` for a key not in the DLQ).
    pub const NOT_FOUND: u8 = 4;
}

pub fn init_logging(format: LogFormat) {
    use tracing_subscriber::EnvFilter;
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info"));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_ansi(log_colours())
        .with_writer(std::io::stderr);
    let _ = match format {
        LogFormat::Text => builder.try_init(),
        LogFormat::Json => builder.json().flatten_event(true).try_init(),
    };
}

/// Colour in the text log only where a person reads it: stderr is a terminal and
/// `NO_COLOR` is unset (<https://no-color.org>), or `CLICOLOR_FORCE` asks for it. A log
/// redirected to a file or a pipe (`inlet dev 2> log`) gets no escape codes.
fn log_colours() -> bool {
    use std::io::IsTerminal as _;
    let set = |name| std::env::var_os(name).is_some_and(|v| !v.is_empty() && v != "0");
    if set("CLICOLOR_FORCE") {
        return true;
    }
    std::io::stderr().is_terminal() && !set("NO_COLOR")
}

/// Parse the process arguments and run.
pub fn main_from_env() -> ExitCode {
    let cli = Cli::parse();
    init_logging(cli.log_format);
    let outcome = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime.block_on(cmd::run(cli.command)),
        Err(e) => Err(error::CliError::failed(format!(
            "cannot start the async runtime: {e}"
        ))),
    };
    ExitCode::from(error::exit_status(outcome))
}
