//! Wiring only: config, clients and sinks once at cold start, then serve batches.

use std::sync::Arc;

use aws_lambda_events::sqs::SqsEvent;
use inlet_aws::runtime::{
    load_config_text, stack_queue, stack_store, time_left, ConfigSource, Resources,
};
use inlet_aws::{sdk_config, EmfMetrics};
use inlet_core::clock::SystemClock;
use inlet_core::config::{Config, SinkConfig};
use inlet_core::connection::ConnectionStore;
use inlet_core::ports::Sink;
use inlet_core::usecase::process::{Processor, WorkerStores};
use inlet_worker_fn::{handle, Deps};
use lambda_runtime::{run, service_fn, Error, LambdaEvent};

/// The configured sinks; a file sink cannot live in a Lambda.
fn build_sinks(
    config: &Config,
    sdk: &aws_config::SdkConfig,
    stack: &Resources,
) -> Result<Vec<Arc<dyn Sink>>, Error> {
    let configs = &config.sinks;
    if let Some(SinkConfig::File { path }) = configs
        .iter()
        .find(|c| matches!(c, SinkConfig::File { .. }))
    {
        return Err(format!(
            "a file sink ({path}) cannot run in Lambda; use eventbridge, http or stdout"
        )
        .into());
    }
    let connections: Arc<dyn ConnectionStore> = Arc::new(stack_store(sdk, stack));
    Ok(inlet_aws::eventbridge::build_sinks(
        configs,
        sdk,
        stack,
        &config.connections,
        Some(&connections),
    )?)
}

fn uses_connection(sink: &SinkConfig) -> bool {
    matches!(
        sink,
        SinkConfig::Http {
            connection: Some(_),
            ..
        }
    )
}

// One thread: a Lambda sandbox runs one invocation at a time on about one vCPU at these
// memory sizes, and a multi-thread scheduler would only add cross-thread wake-ups (CPU time).
#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Error> {
    inlet_aws::xray::init_function_telemetry();
    let resources = Resources::from_env()?;
    let sdk = sdk_config().await;
    // The worker verifies no signature and polls no API: it reads no secret (and so makes
    // no Secrets Manager call at cold start) unless an HTTP sink delivers through a
    // connection, whose credentials are in the secret bundle.
    let (text, version) = load_config_text(&sdk).await?;
    tracing::info!(config_version = %version, "configuration loaded");
    let config = match Config::from_toml_without_secrets(&text)? {
        c if c.sinks.iter().any(uses_connection) => ConfigSource::new(&sdk, text).load().await?,
        c => c,
    };
    let sinks = build_sinks(&config, &sdk, &resources)?;
    let store = Arc::new(stack_store(&sdk, &resources));
    let metrics = Arc::new(EmfMetrics::new());
    let mut processor = Processor::from_config(
        &config,
        WorkerStores::all(store),
        sinks,
        metrics.clone(),
        Arc::new(SystemClock),
    );
    // The queue's redrive policy decides when SQS gives up; the worker must agree with it.
    processor.settings.max_receive = resources
        .max_receive
        .unwrap_or(processor.settings.max_receive);
    let deps = Arc::new(Deps {
        processor,
        queue: stack_queue(&sdk, &resources),
        metrics,
    });
    run(service_fn(move |event: LambdaEvent<SqsEvent>| {
        let deps = Arc::clone(&deps);
        let left = time_left(event.context.deadline);
        async move { Ok::<_, Error>(handle(&deps, event.payload, Some(left)).await) }
    }))
    .await
}
