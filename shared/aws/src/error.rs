//! AWS errors in the service's own words. The SDK's `Display` for a service error is just
//! "service error", so a missing bus, an access denial and a throttle all read alike in a
//! dead-letter reason or a log line. [`describe`] gives `Code: message (HTTP status,
//! request id …)` for an answer from the service, and the whole cause chain for a failure
//! to reach it (timeouts, DNS, connection refused).

use aws_sdk_sqs::config::http::HttpResponse;
use aws_sdk_sqs::error::{DisplayErrorContext, ProvideErrorMetadata, SdkError};
use aws_sdk_sqs::operation::RequestId;

/// What went wrong, as the service said it. Never includes the request, so no payload or
/// secret can leak through it.
pub fn describe<E>(e: &SdkError<E, HttpResponse>) -> String
where
    E: ProvideErrorMetadata + std::error::Error + 'static,
{
    match e {
        SdkError::ServiceError(service) => {
            let err = service.err();
            let status = service.raw().status().as_u16();
            coded(err.code(), err.message(), status, e.request_id())
        }
        SdkError::ResponseError(response) => {
            let status = response.raw().status().as_u16();
            format!(
                "unreadable answer (HTTP {status}{}): {}",
                request_id_suffix(e.request_id()),
                DisplayErrorContext(e)
            )
        }
        // Timeouts, connection and construction failures: the chain says which.
        _ => DisplayErrorContext(e).to_string(),
    }
}

/// The message of a coded service error: `Code: message (HTTP 400, request id …)`.
pub fn coded(
    code: Option<&str>,
    message: Option<&str>,
    status: u16,
    request_id: Option<&str>,
) -> String {
    let code = code.unwrap_or("UnknownError");
    let message = message.unwrap_or("(no message)");
    format!(
        "{code}: {message} (HTTP {status}{})",
        request_id_suffix(request_id)
    )
}

fn request_id_suffix(id: Option<&str>) -> String {
    id.map(|id| format!(", request id {id}"))
        .unwrap_or_default()
}

/// Errors that can describe themselves in the service's words.
pub trait Describe {
    fn describe(&self) -> String;
    /// The service refused for want of capacity (see [`is_throttling_code`]).
    fn throttled(&self) -> bool {
        false
    }
}

impl<E> Describe for SdkError<E, HttpResponse>
where
    E: ProvideErrorMetadata + std::error::Error + 'static,
{
    fn describe(&self) -> String {
        describe(self)
    }

    fn throttled(&self) -> bool {
        match self {
            SdkError::ServiceError(service) => is_throttling_code(service.err().code()),
            _ => false,
        }
    }
}

/// The error codes with which AWS services refuse a request for want of capacity, before
/// carrying it out: DynamoDB (`ProvisionedThroughputExceededException`, also for an
/// on-demand table's partition or index, and `ThrottlingException`), SQS
/// (`RequestThrottled`, `ThrottlingException`), EventBridge (`ThrottlingException`), S3
/// (`SlowDown`), and the general `Throttling`/`TooManyRequestsException`
/// (docs.aws.amazon.com/amazondynamodb/latest/developerguide/Programming.Errors.html,
/// …/eventbridge/latest/APIReference/CommonErrors.html, read 2026-12-06).
pub fn is_throttling_code(code: Option<&str>) -> bool {
    matches!(
        code,
        Some(
            "ProvisionedThroughputExceededException"
                | "ThrottlingException"
                | "Throttling"
                | "ThrottledException"
                | "RequestThrottled"
                | "RequestThrottledException"
                | "RequestLimitExceeded"
                | "TooManyRequestsException"
                | "SlowDown"
        )
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_coded_error_names_code_message_status_and_request_id() {
        assert_eq!(
            coded(
                Some("ResourceNotFoundException"),
                Some("Event bus nope does not exist."),
                400,
                Some("8f2c")
            ),
            "ResourceNotFoundException: Event bus nope does not exist. (HTTP 400, request id 8f2c)"
        );
        assert_eq!(
            coded(None, None, 500, None),
            "UnknownError: (no message) (HTTP 500)"
        );
    }
}
