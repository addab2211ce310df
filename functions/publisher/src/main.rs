//! Wiring only: clients once at cold start, then one stream batch per invocation.

use std::sync::Arc;

use aws_lambda_events::event::dynamodb::Event;
use inlet_aws::runtime::{stack_queue, Resources};
use inlet_aws::{sdk_config, EmfMetrics};
use inlet_publisher_fn::{handle, Deps};
use lambda_runtime::{run, service_fn, Error, LambdaEvent};

// One thread, as in the other functions: one invocation at a time on about one vCPU.
#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Error> {
    inlet_aws::xray::init_function_telemetry();
    let resources = Resources::from_env()?;
    let sdk = sdk_config().await;
    let deps = Arc::new(Deps {
        queue: stack_queue(&sdk, &resources),
        db: aws_sdk_dynamodb::Client::new(&sdk),
        table: resources.table.clone(),
        metrics: EmfMetrics::new(),
    });
    run(service_fn(move |event: LambdaEvent<Event>| {
        let deps = Arc::clone(&deps);
        async move { Ok::<_, Error>(handle(&deps, event.payload).await) }
    }))
    .await
}
