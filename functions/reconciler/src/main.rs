//! Wiring only: config, sources and clients once at cold start, then one run per schedule.

use std::sync::Arc;

use inlet_aws::runtime::{load_config_text, stack_queue, stack_store, ConfigSource, Resources};
use inlet_aws::{sdk_config, EmfMetrics};
use inlet_reconciler_fn::{handle, Deps};
use lambda_runtime::{run, service_fn, Error, LambdaEvent};

// One thread: a Lambda sandbox runs one invocation at a time on about one vCPU at these
// memory sizes, and a multi-thread scheduler would only add cross-thread wake-ups (CPU time).
#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Error> {
    inlet_aws::xray::init_function_telemetry();
    let resources = Resources::from_env()?;
    let sdk = sdk_config().await;
    let (text, version) = load_config_text(&sdk).await?;
    tracing::info!(config_version = %version, "configuration loaded");
    let config = ConfigSource::new(&sdk, text).load().await?;
    let connections: Arc<dyn inlet_core::connection::ConnectionStore> =
        Arc::new(stack_store(&sdk, &resources));
    let deps = Arc::new(Deps {
        sources: inlet_sources::build_all_with(&config, &connections)?,
        connections: config.connections.clone(),
        store: stack_store(&sdk, &resources),
        queue: stack_queue(&sdk, &resources),
        metrics: EmfMetrics::new(),
    });
    run(service_fn(move |event: LambdaEvent<serde_json::Value>| {
        let deps = Arc::clone(&deps);
        async move {
            let left = inlet_aws::runtime::time_left(event.context.deadline);
            Ok::<_, Error>(handle(&deps, left).await)
        }
    }))
    .await
}
