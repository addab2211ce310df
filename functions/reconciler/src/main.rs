//! The reconciler Lambda: build [`Deps`] once at cold start, then one run per schedule.

use std::sync::Arc;

use inlet_aws::runtime::time_left;
use inlet_reconciler_fn::{handle, Deps};
use lambda_runtime::{run, service_fn, Error, LambdaEvent};

// One thread: a Lambda sandbox runs one invocation at a time on about one vCPU at these
// memory sizes, and a multi-thread scheduler would only add cross-thread wake-ups (CPU time).
#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Error> {
    inlet_aws::xray::init_function_telemetry();
    let deps = Arc::new(Deps::from_stack().await?);
    run(service_fn(move |event: LambdaEvent<serde_json::Value>| {
        let deps = Arc::clone(&deps);
        let left = time_left(event.context.deadline);
        async move { Ok::<_, Error>(handle(&deps, left).await) }
    }))
    .await
}
