//! inlet-aws: the core's ports on AWS — SQS (work queue and DLQ), DynamoDB (ledger,
//! entity versions, cursors in one table), EventBridge (sink), Secrets Manager (provider
//! secrets). Only this crate knows the SDK; SDK errors become domain errors here, with
//! their source kept.

pub mod claim_check;
pub mod conflicts;
pub mod connections;
pub mod dynamo;
pub mod emf;
pub mod error;
pub mod eventbridge;
pub mod history;
mod item;
pub mod large_events;
pub mod outbox_failures;
pub mod runtime;
pub mod secrets;
pub mod shapes;
pub mod sqs;
pub mod stack_config;
pub mod status;
pub mod xray;

pub use dynamo::DynamoStore;
pub use emf::EmfMetrics;
pub use eventbridge::EventBridgeSink;
pub use sqs::{SqsQueue, SqsQueueConfig};

/// Every AWS call's deadline for one attempt (the SDK retries within its own budget).
pub const ATTEMPT_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(10);

/// The shared SDK configuration: region and credentials from the environment, and
/// `AWS_ENDPOINT_URL` (an emulator) when set.
///
/// Every attempt has a deadline ([`ATTEMPT_TIMEOUT`]), so a call that hangs is retried or
/// fails well inside the function's own deadline. That deadline also covers a stalled
/// body (every request and answer here is a small JSON document or one S3 object), so the
/// SDK's throughput monitor around every body is off: it guards against nothing the deadline
/// does not, and costs CPU per call (docs/benchmarks.md, "Measurements behind code
/// choices").
pub async fn sdk_config() -> aws_config::SdkConfig {
    aws_config::defaults(aws_config::BehaviorVersion::latest())
        .stalled_stream_protection(
            aws_config::stalled_stream_protection::StalledStreamProtectionConfig::disabled(),
        )
        .timeout_config(
            aws_config::timeout::TimeoutConfig::builder()
                .connect_timeout(std::time::Duration::from_millis(3_100))
                .operation_attempt_timeout(ATTEMPT_TIMEOUT)
                .build(),
        )
        .load()
        .await
}

/// Map an SDK error into a retryable store error (a throttle kept apart) that keeps its source and says what the
/// service said: `SQS SendMessage failed: AccessDenied: … (HTTP 403, request id …)`.
pub(crate) fn unavailable<E>(
    context: &'static str,
) -> impl FnOnce(E) -> inlet_core::ports::StoreError
where
    E: std::error::Error + error::Describe + Send + Sync + 'static,
{
    move |e| {
        let message = format!("{context}: {}", e.describe());
        let throttled = e.throttled();
        inlet_core::ports::StoreError::retryable(message, throttled, e)
    }
}
