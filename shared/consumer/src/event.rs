//! The event Inlet publishes, and its payload read back from S3 when it was too large for
//! the bus.

use aws_sdk_s3::Client as S3;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use sha2::{Digest, Sha256};
use time::OffsetDateTime;

use crate::consumer::ConsumerError;

/// The largest stored event read back: Inlet accepts webhooks of up to 1 MiB, and the stored
/// record adds its fields; anything far larger is not one of Inlet's objects.
pub const MAX_PAYLOAD_BYTES: u64 = 16 * 1024 * 1024;

/// One event from Inlet's bus: the `detail` of the EventBridge event, Inlet's sink record.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct InletEvent<T = Value> {
    /// `{provider}:{event id}`: the same for every delivery of one event (retries, the
    /// reconciliation poll finding it again, a replay). The default idempotency key.
    pub key: String,
    /// The provider's name in Inlet's config (`stripe`).
    pub provider: String,
    /// The provider's id of the event.
    pub event_id: String,
    /// The event type (`invoice.paid`), when the provider says one.
    #[serde(rename = "type")]
    pub event_type: Option<String>,
    /// How Inlet learned of it: `webhook`, `reconciliation`, `replay` or `outbox`.
    pub source: String,
    /// When Inlet received it.
    #[serde(with = "time::serde::rfc3339")]
    pub received_at: OffsetDateTime,
    /// Follows the event through Inlet's logs.
    pub correlation_id: String,
    /// The object the event is about, when the provider's conventions say.
    #[serde(default)]
    pub entity: Option<String>,
    /// The object's version, for ordering, when known.
    #[serde(default)]
    pub version: Option<i64>,
    /// The provider's payload.
    pub payload: T,
}

/// Where a large event's whole record is stored (`detail.payload_ref`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PayloadRef {
    /// `s3://bucket/key`.
    pub uri: String,
    /// The bucket (the stack's `LargeEventBucketName`).
    pub bucket: String,
    /// The object's key.
    pub key: String,
    /// The stored record's size in bytes.
    pub bytes: u64,
    /// Hex SHA-256 of the stored bytes.
    pub sha256: String,
}

/// The `detail` an EventBridge event or an SQS message body carries: the EventBridge
/// envelope's `detail` when there is one, else the body itself (a rule with an input path).
pub(crate) fn detail_of(message: Value) -> Result<Value, ConsumerError> {
    match message {
        Value::Object(mut map) => match map.remove("detail") {
            Some(detail @ Value::Object(_)) => Ok(detail),
            Some(_) => Err(ConsumerError::Malformed("detail is not an object".into())),
            None => Ok(Value::Object(map)),
        },
        _ => Err(ConsumerError::Malformed(
            "the event is not a JSON object".into(),
        )),
    }
}

/// The whole record: `detail` itself, or the object its `payload_ref` names, read from S3
/// and checked against the reference's size and hash.
pub(crate) async fn resolve(s3: Option<&S3>, detail: Value) -> Result<Value, ConsumerError> {
    let Some(reference) = detail.get("payload_ref").filter(|r| !r.is_null()) else {
        return Ok(detail);
    };
    let reference: PayloadRef = serde_json::from_value(reference.clone())
        .map_err(|e| ConsumerError::Malformed(format!("payload_ref: {e}")))?;
    let key = detail
        .get("key")
        .and_then(Value::as_str)
        .unwrap_or_default();
    let s3 = s3.ok_or_else(|| {
        ConsumerError::Payload(format!(
            "{key}: the event is stored in S3 ({}) and this consumer has no S3 client",
            reference.uri
        ))
    })?;
    if reference.bytes > MAX_PAYLOAD_BYTES {
        return Err(ConsumerError::Payload(format!(
            "{key}: payload_ref names {} bytes, more than {MAX_PAYLOAD_BYTES}",
            reference.bytes
        )));
    }
    let object = s3
        .get_object()
        .bucket(&reference.bucket)
        .key(&reference.key)
        .send()
        .await
        .map_err(|e| {
            ConsumerError::Payload(format!(
                "{key}: S3 GetObject {} failed: {}",
                reference.uri,
                aws_sdk_s3::error::DisplayErrorContext(e)
            ))
        })?;
    let bytes = object
        .body
        .collect()
        .await
        .map_err(|e| ConsumerError::Payload(format!("{key}: reading {}: {e}", reference.uri)))?
        .into_bytes();
    let digest = hex::encode(Sha256::digest(&bytes));
    if bytes.len() as u64 != reference.bytes || !digest.eq_ignore_ascii_case(&reference.sha256) {
        return Err(ConsumerError::Payload(format!(
            "{key}: {} does not match its reference ({} bytes, sha256 {digest}; the event says {} bytes, {})",
            reference.uri,
            bytes.len(),
            reference.bytes,
            reference.sha256
        )));
    }
    let record: Value = serde_json::from_slice(&bytes).map_err(|e| {
        ConsumerError::Payload(format!("{key}: {} is not JSON: {e}", reference.uri))
    })?;
    if record.get("key").and_then(Value::as_str) != Some(key) {
        return Err(ConsumerError::Payload(format!(
            "{key}: {} holds another event's record",
            reference.uri
        )));
    }
    Ok(record)
}
