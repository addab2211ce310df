//! `inlet dev`: the whole pipeline in one process, until Ctrl-C.

use crate::args::DataDirArg;
use crate::backend::BackendKind;
use crate::config_file;
use crate::config_file::load_config;
use crate::dev;
use crate::dev::DevOptions;
use crate::error::{CliError, Outcome};
use std::path::Path;

pub(crate) async fn run(
    explicit: Option<&Path>,
    listen: std::net::SocketAddr,
    place: &DataDirArg,
) -> Outcome {
    let data_dir = place.data_dir.as_path();
    let (path, config) = load_config(explicit)?;
    let providers: Vec<String> = config
        .providers
        .iter()
        .map(|p| p.name.to_string())
        .collect();
    let mut options = DevOptions::new(config, listen, data_dir.to_path_buf());
    options.backend = place.backend;
    let running = dev::start(options).await.map_err(CliError::Failed)?;
    let addr = running.addr;
    let store = match place.backend {
        BackendKind::Local => dev::db_path(data_dir).display().to_string(),
        BackendKind::Aws => "AWS (SQS + DynamoDB)".to_string(),
    };
    crate::outln!("inlet dev: config {}, store {store}", path.display());
    crate::outln!("listening on http://{addr}  (POST /webhooks/{{provider}}, GET /health)");
    match &running.console_token {
        None => crate::outln!("console:   http://{addr}/console"),
        Some(token) => crate::outln!("console:   http://{addr}/console?token={token}  (bound beyond loopback: the token is required)"),
    }
    if !providers.is_empty() {
        crate::outln!("providers: {}", providers.join(", "));
    }
    if path
        .file_name()
        .is_some_and(|f| f == config_file::EXAMPLE_FILE)
        && providers.iter().any(|p| p == "stripe")
    {
        crate::outln!("send a first event:  inlet send stripe --body examples/stripe-invoice-paid.json --url http://{addr}/webhooks/stripe");
        crate::outln!("then look:           inlet status   (and .inlet/events.jsonl)");
    }
    dev::shutdown_signal().await;
    crate::outln!("inlet dev: shutting down (accepted events are safe in the store)");
    running.shutdown().await;
    Ok(())
}
