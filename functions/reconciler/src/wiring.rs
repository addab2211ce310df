//! Cold start: the config, the built sources and the clients the reconciler's [`Deps`]
//! hold for the life of the sandbox.

use std::sync::Arc;

use inlet_aws::runtime::{load_config_text, stack_queue, stack_store, ConfigSource, Resources};
use inlet_aws::{sdk_config, EmfMetrics};
use inlet_core::connection::ConnectionStore;
use lambda_runtime::Error;

use crate::Deps;

impl Deps {
    /// The reconciler the stack's environment and deployed config describe.
    pub async fn from_stack() -> Result<Deps, Error> {
        let resources = Resources::from_env()?;
        let sdk = sdk_config().await;
        let (text, version) = load_config_text(&sdk).await?;
        tracing::info!(config_version = %version, "configuration loaded");
        let config = ConfigSource::new(&sdk, text).load().await?;
        let connections: Arc<dyn ConnectionStore> = Arc::new(stack_store(&sdk, &resources));
        Ok(Deps {
            sources: inlet_sources::build_all_with(&config, &connections)?,
            connections: config.connections.clone(),
            store: stack_store(&sdk, &resources),
            queue: stack_queue(&sdk, &resources),
            metrics: EmfMetrics::new(),
        })
    }
}
