//! Wiring only: read the config and build clients once at cold start, then serve.

use std::sync::{Arc, RwLock};

use inlet_aws::runtime::{load_config_text, stack_queue, ConfigSource, Resources};
use inlet_aws::{sdk_config, EmfMetrics};
use inlet_webhook_fn::{handle, Deps};
use lambda_http::{run, service_fn, Error};

// One thread: a Lambda sandbox runs one invocation at a time on about one vCPU at these
// memory sizes, and a multi-thread scheduler would only add cross-thread wake-ups (CPU time).
#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Error> {
    inlet_aws::xray::init_function_telemetry();
    let resources = Resources::from_env()?;
    let sdk = sdk_config().await;
    let (text, version) = load_config_text(&sdk).await?;
    tracing::info!(config_version = %version, "configuration loaded");
    let source = ConfigSource::new(&sdk, text);
    let config = source.load().await?;
    let deps = Arc::new(Deps {
        config: RwLock::new(Arc::new(config)),
        source,
        queue: stack_queue(&sdk, &resources),
        metrics: EmfMetrics::new(),
        http: inlet_sources::provider_http::HttpProviderClient::new(),
    });
    run(service_fn(move |req| {
        let deps = Arc::clone(&deps);
        async move { Ok::<_, Error>(handle(&deps, req).await) }
    }))
    .await
}
