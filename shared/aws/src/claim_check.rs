//! Claim check for bodies larger than an SQS message: the envelope is stored in DynamoDB
//! chunks (`B#{id}#{n}`, expiring with the DLQ's retention) and the queue carries a small
//! pointer. Webhooks up to API Gateway's 10 MB request limit therefore queue like any other.

use aws_sdk_dynamodb::primitives::Blob;
use aws_sdk_dynamodb::types::AttributeValue;
use aws_sdk_dynamodb::Client;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use inlet_core::ports::StoreError;

use crate::unavailable;

/// Bodies above this go through the claim check: [`crate::sqs::MAX_MESSAGE_BYTES`] (256
/// KiB) counts the message attributes too (key, provider, correlation id, a dead-letter
/// reason of up to 1,000 characters), so 56 KiB stay free for them.
pub const THRESHOLD: usize = 200 * 1024;
/// DynamoDB's item limit is 400 KB, attribute names and values included
/// (<https://docs.aws.amazon.com/amazondynamodb/latest/developerguide/ServiceQuotas.html#limits-items>,
/// checked 2026-11-28); a 350 KiB chunk leaves room for `pk`, `ttl` and the names.
const CHUNK: usize = 350 * 1024;
/// Chunks outlive the DLQ's 14-day retention.
const TTL_SECS: i64 = 15 * 86_400;

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Pointer {
    pub id: String,
    pub chunks: usize,
    pub bytes: usize,
    pub sha256: String,
}

#[derive(Serialize, Deserialize)]
struct Message {
    inlet_claim_check: Pointer,
}

/// The pointer in a queue message body, if it is one.
pub fn pointer_of(body: &str) -> Option<Pointer> {
    if body.len() > 4096 || !body.contains("inlet_claim_check") {
        return None;
    }
    serde_json::from_str::<Message>(body)
        .ok()
        .map(|m| m.inlet_claim_check)
}

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
        let sha256 = hex::encode(Sha256::digest(body.as_bytes()));
        let id = format!("{}-{}", &sha256[..32], body.len());
        let bytes = body.as_bytes();
        let chunks = bytes.len().div_ceil(CHUNK);
        let ttl = time::OffsetDateTime::now_utc().unix_timestamp() + TTL_SECS;
        for (n, chunk) in bytes.chunks(CHUNK).enumerate() {
            self.client
                .put_item()
                .table_name(&self.table)
                .item("pk", AttributeValue::S(format!("B#{id}#{n}")))
                .item("b", AttributeValue::B(Blob::new(chunk.to_vec())))
                .item("ttl", AttributeValue::N(ttl.to_string()))
                .send()
                .await
                .map_err(unavailable("DynamoDB PutItem (claim check) failed"))?;
        }
        let pointer = Pointer {
            id,
            chunks,
            bytes: bytes.len(),
            sha256,
        };
        serde_json::to_string(&Message {
            inlet_claim_check: pointer,
        })
        .map_err(|e| StoreError::Invalid(e.to_string()))
    }

    /// Reassemble a stored body, checking its length and hash.
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
