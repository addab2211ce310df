//! Claim check for events too large for EventBridge: the whole record goes to an S3 object
//! and the published event carries a reference to it (`payload_ref`) instead of the payload.
//!
//! Why S3 and not the stack's DynamoDB table (where large *queue* bodies go): a consumer of
//! the bus needs one `GetObject` on one object it can be granted read access to by prefix,
//! and a lifecycle rule expires the objects with the retention, with no item-size limit and
//! no chunk reassembly. This is the pattern AWS documents for PutEvents entries over 256 KB
//! (<https://docs.aws.amazon.com/eventbridge/latest/userguide/eb-putevent-size.html>).
//!
//! Objects are content-addressed (`{prefix}{sha256}.json`), so a retried delivery writes the
//! same object again instead of leaving a second copy behind.

use aws_sdk_s3::primitives::ByteStream;
use aws_sdk_s3::Client;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use inlet_core::ports::SinkError;

use crate::error::Describe;

/// Where a large event's full record is: what a consumer reads to get it back.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PayloadRef {
    /// `s3://bucket/key`
    pub uri: String,
    pub bucket: String,
    pub key: String,
    /// Size of the stored record (JSON), in bytes.
    pub bytes: usize,
    /// Hex SHA-256 of the stored bytes, so a consumer can check what it read.
    pub sha256: String,
}

#[derive(Clone)]
pub struct LargeEvents {
    client: Client,
    bucket: String,
    prefix: String,
}

/// The S3 client for `sdk`. Emulators (an `AWS_ENDPOINT_URL`) need path-style addressing:
/// `bucket.127.0.0.1` does not resolve.
pub fn s3_client(sdk: &aws_config::SdkConfig) -> Client {
    let config = aws_sdk_s3::config::Builder::from(sdk)
        .force_path_style(sdk.endpoint_url().is_some())
        .build();
    Client::from_conf(config)
}

impl LargeEvents {
    pub fn new(client: Client, bucket: impl Into<String>) -> Self {
        Self {
            client,
            bucket: bucket.into(),
            prefix: "events/".into(),
        }
    }

    pub fn bucket(&self) -> &str {
        &self.bucket
    }

    /// Store `record_json` (the whole record) and return its reference. Idempotent: the
    /// same bytes land on the same key. An S3 failure is transient (the event is retried).
    pub async fn store(&self, record_json: &str) -> Result<PayloadRef, SinkError> {
        let sha256 = hex::encode(Sha256::digest(record_json.as_bytes()));
        let key = format!("{}{sha256}.json", self.prefix);
        self.client
            .put_object()
            .bucket(&self.bucket)
            .key(&key)
            .content_type("application/json")
            .body(ByteStream::from(record_json.as_bytes().to_vec()))
            .send()
            .await
            .map_err(|e| {
                let message = format!("S3 PutObject (large event) failed: {}", e.describe());
                SinkError::Transient {
                    message,
                    source: Some(Box::new(e)),
                }
            })?;
        Ok(PayloadRef {
            uri: format!("s3://{}/{key}", self.bucket),
            bucket: self.bucket.clone(),
            key,
            bytes: record_json.len(),
            sha256,
        })
    }
}
