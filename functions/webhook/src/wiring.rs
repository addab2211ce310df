//! Cold start: the config (with its secrets), the queue client and the provider HTTP
//! client the webhook's [`Deps`] hold for the life of the sandbox.

use std::sync::{Arc, RwLock};

use inlet_aws::runtime::{stack_queue, ColdStart, ConfigSource};
use inlet_aws::EmfMetrics;
use lambda_http::Error;

use crate::Deps;

impl Deps {
    /// The webhook endpoint the stack's environment and deployed config describe.
    pub async fn from_stack() -> Result<Deps, Error> {
        let ColdStart {
            resources,
            sdk,
            config_text,
        } = ColdStart::read().await?;
        let source = ConfigSource::new(&sdk, config_text);
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
