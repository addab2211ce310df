//! Cold start: the config, the built sources and the clients the reconciler's [`Deps`]
//! hold for the life of the sandbox.

use std::sync::Arc;

use inlet_aws::runtime::{stack_queue, stack_store, ColdStart, ConfigSource};
use inlet_aws::EmfMetrics;
use inlet_core::connection::ConnectionStore;
use lambda_runtime::Error;

use crate::Deps;

impl Deps {
    /// The reconciler the stack's environment and deployed config describe.
    pub async fn from_stack() -> Result<Deps, Error> {
        let ColdStart {
            resources,
            sdk,
            config_text,
        } = ColdStart::read().await?;
        let config = ConfigSource::new(&sdk, config_text).load().await?;
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
