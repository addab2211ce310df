//! Wiring only: config, clients and sinks once at cold start, then serve batches.

use std::sync::Arc;

use aws_lambda_events::sqs::SqsEvent;
use inlet_aws::runtime::{config_text, stack_queue, ConfigSource, Resources};
use inlet_aws::{sdk_config, DynamoStore, EmfMetrics, EventBridgeSink};
use inlet_core::clock::SystemClock;
use inlet_core::config::SinkConfig;
use inlet_core::ports::Sink;
use inlet_core::usecase::process::{ProcessSettings, Processor};
use inlet_worker_fn::{handle, Deps};
use lambda_runtime::{run, service_fn, Error, LambdaEvent};

/// The configured sinks; EventBridge ones publish to their bus or the stack's.
fn build_sinks(
    configs: &[SinkConfig],
    sdk: &aws_config::SdkConfig,
    stack_bus: Option<&str>,
) -> Result<Vec<Arc<dyn Sink>>, Error> {
    let mut sinks: Vec<Arc<dyn Sink>> = Vec::new();
    for c in configs {
        match c {
            SinkConfig::File { path } => {
                return Err(format!(
                    "a file sink ({path}) cannot run in Lambda; use eventbridge, http or stdout"
                )
                .into())
            }
            SinkConfig::Eventbridge { bus } => {
                let bus = bus
                    .as_deref()
                    .or(stack_bus)
                    .ok_or("the eventbridge sink needs a bus (or INLET_EVENT_BUS)")?;
                sinks.push(Arc::new(EventBridgeSink::new(
                    aws_sdk_eventbridge::Client::new(sdk),
                    bus,
                )));
            }
            other => sinks.extend(inlet_sinks::build(std::slice::from_ref(other))?),
        }
    }
    Ok(sinks)
}

#[tokio::main]
async fn main() -> Result<(), Error> {
    tracing_subscriber::fmt()
        .json()
        .with_env_filter(tracing_subscriber::EnvFilter::from_default_env())
        .without_time()
        .init();
    let resources = Resources::from_env()?;
    let sdk = sdk_config().await;
    let config = ConfigSource::new(&sdk, config_text()?).load().await?;
    let sinks = build_sinks(&config.sinks, &sdk, resources.event_bus.as_deref())?;
    let store = Arc::new(DynamoStore::new(
        aws_sdk_dynamodb::Client::new(&sdk),
        resources.table.clone(),
    ));
    let metrics = Arc::new(EmfMetrics::new());
    let deps = Arc::new(Deps {
        processor: Processor {
            ledger: store.clone(),
            versions: store,
            sinks,
            metrics: metrics.clone(),
            clock: Arc::new(SystemClock),
            settings: ProcessSettings::from(&config.worker),
            payload_log: config
                .logging
                .log_payloads
                .then(|| config.logging.redact_fields.clone()),
        },
        queue: stack_queue(&sdk, &resources),
        metrics,
    });
    run(service_fn(move |event: LambdaEvent<SqsEvent>| {
        let deps = Arc::clone(&deps);
        async move { Ok::<_, Error>(handle(&deps, event.payload).await) }
    }))
    .await
}
