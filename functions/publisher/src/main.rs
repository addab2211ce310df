//! The outbox publisher Lambda: build [`Deps`] once at cold start, then one stream batch
//! per invocation.

use std::sync::Arc;

use aws_lambda_events::event::dynamodb::Event;
use inlet_publisher_fn::{handle, Deps};
use lambda_runtime::{run, service_fn, Error, LambdaEvent};

// One thread, as in the other functions: one invocation at a time on about one vCPU.
#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Error> {
    inlet_aws::xray::init_function_telemetry();
    let deps = Arc::new(Deps::from_stack().await?);
    run(service_fn(move |event: LambdaEvent<Event>| {
        let deps = Arc::clone(&deps);
        async move { Ok::<_, Error>(handle(&deps, event.payload).await) }
    }))
    .await
}
