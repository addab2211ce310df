//! inlet-aws: the core's ports on AWS — SQS (work queue and DLQ), DynamoDB (ledger,
//! entity versions, cursors in one table), EventBridge (sink), Secrets Manager (provider
//! secrets). Only this crate knows the SDK; SDK errors become domain errors here, with
//! their source kept.

pub mod claim_check;
pub mod dynamo;
pub mod emf;
pub mod error;
pub mod eventbridge;
pub mod large_events;
pub mod runtime;
pub mod secrets;
pub mod sqs;
pub mod xray;

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

/// Map an SDK error into a retryable store error that keeps its source and says what the
/// service said: `SQS SendMessage failed: AccessDenied: … (HTTP 403, request id …)`.
pub(crate) fn unavailable<E>(
    context: &'static str,
) -> impl FnOnce(E) -> inlet_core::ports::StoreError
where
    E: std::error::Error + error::Describe + Send + Sync + 'static,
{
    move |e| {
        let message = format!("{context}: {}", e.describe());
        inlet_core::ports::StoreError::unavailable(message, e)
    }
}
