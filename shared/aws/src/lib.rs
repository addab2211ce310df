//! inlet-aws: the core's ports on AWS — SQS (work queue and DLQ), DynamoDB (ledger,
//! entity versions, cursors in one table), EventBridge (sink), Secrets Manager (provider
//! secrets). Only this crate knows the SDK; SDK errors become domain errors here, with
//! their source kept.

pub mod claim_check;
pub mod dynamo;
pub mod emf;
pub mod eventbridge;
pub mod runtime;
pub mod secrets;
pub mod sqs;

pub use dynamo::DynamoStore;
pub use emf::EmfMetrics;
pub use eventbridge::EventBridgeSink;
pub use sqs::{SqsQueue, SqsQueueConfig};

/// The shared SDK configuration: region and credentials from the environment, and
/// `AWS_ENDPOINT_URL` (an emulator) when set.
pub async fn sdk_config() -> aws_config::SdkConfig {
    aws_config::defaults(aws_config::BehaviorVersion::latest())
        .load()
        .await
}

/// Map any SDK error into a retryable store error that keeps its source.
pub(crate) fn unavailable<E>(
    context: &'static str,
) -> impl FnOnce(E) -> inlet_core::ports::StoreError
where
    E: std::error::Error + Send + Sync + 'static,
{
    move |e| inlet_core::ports::StoreError::unavailable(context, e)
}
