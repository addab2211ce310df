//! Claim check for bodies larger than an SQS message: the envelope is stored in DynamoDB
//! chunks (`B#{id}#{n}`, expiring with the DLQ's retention) and the queue carries a small
//! pointer. Webhooks up to API Gateway's 10 MB request limit therefore queue like any other.

use aws_sdk_dynamodb::primitives::Blob;
use aws_sdk_dynamodb::types::AttributeValue;
use aws_sdk_dynamodb::Client;
use sha2::{Digest, Sha256};

use inlet_core::claim_check::CHUNK_BYTES;
pub use inlet_core::claim_check::{pointer_of, Pointer};
use inlet_core::ports::StoreError;

use crate::unavailable;

/// Bodies above this go through the claim check: [`crate::sqs::MAX_MESSAGE_BYTES`] (256
/// KiB) counts the message attributes too (key, provider, correlation id, a dead-letter
/// reason of up to 1,000 characters), so 56 KiB stay free for them.
pub const THRESHOLD: usize = 200 * 1024;
/// Chunks outlive the DLQ's 14-day retention.
pub const TTL_SECS: i64 = 15 * 86_400;

#[derive(Clone)]
pub struct ClaimCheck {
    client: Client,
    table: String,
}

impl ClaimCheck {
    pub fn new(client: Client, table: impl Into<String>) -> Self {
        Self {
            client,
            table: table.into(),
        }
    }

    /// Store `body`; returns the pointer message to enqueue instead.
    pub async fn store(&self, body: &str) -> Result<String, StoreError> {
        let ttl = time::OffsetDateTime::now_utc().unix_timestamp() + TTL_SECS;
        self.store_until(body, Some(ttl)).await
    }

    /// Store `body` until `ttl` (epoch seconds; `None`: until [`expire`](Self::expire)
    /// gives it one). Returns the pointer message.
    pub async fn store_until(&self, body: &str, ttl: Option<i64>) -> Result<String, StoreError> {
        let bytes = body.as_bytes();
        let pointer = Pointer::for_body(hex::encode(Sha256::digest(bytes)), bytes.len());
        for (n, chunk) in bytes.chunks(CHUNK_BYTES).enumerate() {
            let mut put = self
                .client
                .put_item()
                .table_name(&self.table)
                .item("pk", AttributeValue::S(format!("B#{}#{n}", pointer.id)))
                .item("b", AttributeValue::B(Blob::new(chunk.to_vec())));
            if let Some(ttl) = ttl {
                put = put.item("ttl", AttributeValue::N(ttl.to_string()));
            }
            put.send()
                .await
                .map_err(unavailable("DynamoDB PutItem (claim check) failed"))?;
        }
        Ok(pointer.to_message())
    }

    /// Let a body stored without a TTL expire at `ttl` (epoch seconds).
    pub async fn expire(&self, p: &Pointer, ttl: i64) -> Result<(), StoreError> {
        for n in 0..p.chunks {
            self.client
                .update_item()
                .table_name(&self.table)
                .key("pk", AttributeValue::S(format!("B#{}#{n}", p.id)))
                .update_expression("SET #t = :t")
                .condition_expression("attribute_exists(pk)")
                .expression_attribute_names("#t", "ttl")
                .expression_attribute_values(":t", AttributeValue::N(ttl.to_string()))
                .send()
                .await
                .map_err(unavailable(
                    "DynamoDB UpdateItem (claim check expiry) failed",
                ))?;
        }
        Ok(())
    }

    /// Reassemble a stored body, checking its length and hash. `p` comes from
    /// [`pointer_of`], which bounds its size and chunk count.
    pub async fn load(&self, p: &Pointer) -> Result<String, StoreError> {
        let mut body = Vec::with_capacity(p.bytes);
        for n in 0..p.chunks {
            let out = self
                .client
                .get_item()
                .table_name(&self.table)
                .key("pk", AttributeValue::S(format!("B#{}#{n}", p.id)))
                .consistent_read(true)
                .send()
                .await
                .map_err(unavailable("DynamoDB GetItem (claim check) failed"))?;
            let chunk = out
                .item
                .and_then(|mut i| i.remove("b"))
                .and_then(|b| b.as_b().ok().map(|b| b.as_ref().to_vec()))
                .ok_or_else(|| {
                    StoreError::Invalid(format!("claim check {} chunk {n} is missing", p.id))
                })?;
            body.extend_from_slice(&chunk);
        }
        if body.len() != p.bytes || hex::encode(Sha256::digest(&body)) != p.sha256 {
            return Err(StoreError::Invalid(format!(
                "claim check {} does not match its hash",
                p.id
            )));
        }
        String::from_utf8(body)
            .map_err(|_| StoreError::Invalid(format!("claim check {} is not UTF-8", p.id)))
    }
}
