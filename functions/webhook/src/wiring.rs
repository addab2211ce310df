//! Cold start: the config (with its secrets), the queue client and the provider HTTP
//! client the webhook's [`Deps`] hold for the life of the sandbox.

use std::sync::{Arc, RwLock};

use inlet_aws::runtime::{load_config_text, stack_queue, ConfigSource, Resources};
use inlet_aws::{sdk_config, EmfMetrics};
use lambda_http::Error;

use crate::Deps;

impl Deps {
    /// The webhook endpoint the stack's environment and deployed config describe.
    pub async fn from_stack() -> Result<Deps, Error> {
        let resources = Resources::from_env()?;
        let sdk = sdk_config().await;
        let (text, version) = load_config_text(&sdk).await?;
        tracing::info!(config_version = %version, "configuration loaded");
        let source = ConfigSource::new(&sdk, text);
        let config = source.load().await?;
        Ok(Deps {
            config: RwLock::new(Arc::new(config)),
            source,
            queue: stack_queue(&sdk, &resources),
            metrics: EmfMetrics::new(),
            http: inlet_sources::provider_http::HttpProviderClient::new(),
        })
    }
}
