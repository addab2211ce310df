//! Cold start: the config, clients and sinks the worker's [`Deps`] hold for the life of
//! the sandbox, built once from the stack's environment.

use std::sync::Arc;

use inlet_aws::runtime::{stack_queue, stack_store, ColdStart, ConfigSource, Resources};
use inlet_aws::EmfMetrics;
use inlet_core::clock::SystemClock;
use inlet_core::config::{Config, SinkConfig};
use inlet_core::connection::ConnectionStore;
use inlet_core::ports::Sink;
use inlet_core::usecase::process::{Processor, WorkerStores};
use lambda_runtime::Error;

use crate::Deps;

impl Deps {
    /// The worker the stack's environment and deployed config describe.
    pub async fn from_stack() -> Result<Deps, Error> {
        let ColdStart {
            resources,
            sdk,
            config_text,
        } = ColdStart::read().await?;
        // The worker verifies no signature and polls no API: it reads no secret (and so
        // makes no Secrets Manager call at cold start) unless an HTTP sink delivers through
        // a connection, whose credentials are in the secret bundle.
        let config = match Config::from_toml_without_secrets(&config_text)? {
            c if c.sinks.iter().any(uses_connection) => {
                ConfigSource::new(&sdk, config_text).load().await?
            }
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
        // The queue's redrive policy decides when SQS gives up; the worker must agree.
        processor.settings.max_receive = resources
            .max_receive
            .unwrap_or(processor.settings.max_receive);
        Ok(Deps {
            processor,
            queue: stack_queue(&sdk, &resources),
            metrics,
        })
    }
}

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
