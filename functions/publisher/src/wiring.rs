//! Cold start: the clients the publisher's [`Deps`] hold for the life of the sandbox.

use inlet_aws::runtime::{stack_queue, Resources};
use inlet_aws::{sdk_config, EmfMetrics};
use lambda_runtime::Error;

use crate::Deps;

impl Deps {
    /// The publisher the stack's environment describes (it reads no config).
    pub async fn from_stack() -> Result<Deps, Error> {
        let resources = Resources::from_env()?;
        let sdk = sdk_config().await;
        Ok(Deps {
            queue: stack_queue(&sdk, &resources),
            db: aws_sdk_dynamodb::Client::new(&sdk),
            table: resources.table.clone(),
            metrics: EmfMetrics::new(),
        })
    }
}
