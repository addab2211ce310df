//! The webhook Lambda: build [`Deps`] once at cold start, then serve requests.

use std::sync::Arc;

use inlet_webhook_fn::{handle, Deps};
use lambda_http::{run, service_fn, Error};

// One thread: a Lambda sandbox runs one invocation at a time on about one vCPU at these
// memory sizes, and a multi-thread scheduler would only add cross-thread wake-ups (CPU time).
#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Error> {
    inlet_aws::xray::init_function_telemetry();
    let deps = Arc::new(Deps::from_stack().await?);
    run(service_fn(move |req| {
        let deps = Arc::clone(&deps);
        async move { Ok::<_, Error>(handle(&deps, req).await) }
    }))
    .await
}
