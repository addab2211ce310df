//! Wiring only: config, sources and clients once at cold start, then one run per schedule.

use std::sync::Arc;

use inlet_aws::claim_check::ClaimCheck;
use inlet_aws::runtime::{config_text, ConfigSource, Resources};
use inlet_aws::{sdk_config, DynamoStore, EmfMetrics, SqsQueue, SqsQueueConfig};
use inlet_reconciler_fn::{handle, Deps};
use lambda_runtime::{run, service_fn, Error, LambdaEvent};

#[tokio::main]
async fn main() -> Result<(), Error> {
    tracing_subscriber::fmt()
        .json()
        .with_env_filter(tracing_subscriber::EnvFilter::from_default_env())
        .without_time()
        .init();
    let resources = Resources::from_env()?;
    let sdk = sdk_config().await;
    let config = ConfigSource::new(&sdk, config_text()?).load().await?;
    let deps = Arc::new(Deps {
        sources: inlet_sources::build_all(&config)?,
        store: DynamoStore::new(aws_sdk_dynamodb::Client::new(&sdk), resources.table.clone()),
        queue: SqsQueue::new(
            aws_sdk_sqs::Client::new(&sdk),
            SqsQueueConfig {
                queue_url: resources.queue_url,
                dlq_url: resources.dlq_url,
                wait_secs: 0,
            },
        )
        .with_claim_check(ClaimCheck::new(
            aws_sdk_dynamodb::Client::new(&sdk),
            resources.table.clone(),
        )),
        metrics: EmfMetrics::new(),
    });
    run(service_fn(move |event: LambdaEvent<serde_json::Value>| {
        let deps = Arc::clone(&deps);
        async move {
            let now = std::time::SystemTime::now();
            let deadline =
                std::time::UNIX_EPOCH + std::time::Duration::from_millis(event.context.deadline);
            let left = deadline.duration_since(now).unwrap_or_default();
            Ok::<_, Error>(handle(&deps, left).await)
        }
    }))
    .await
}
