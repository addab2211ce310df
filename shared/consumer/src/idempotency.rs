//! Idempotency records on DynamoDB, as AWS Lambda Powertools keeps them: one conditional
//! `PutItem` claims a key (or, when it cannot, returns the record that stopped it with
//! `ReturnValuesOnConditionCheckFailure`, so a duplicate costs one write and no read), one
//! `UpdateItem` completes it with the handler's result, and a failed handler's claim is
//! deleted so the retry runs again.
//! (<https://docs.powertools.aws.dev/lambda/python/latest/utilities/idempotency/>, checked
//! 2026-12-07: "in-progress expiry … remaining time in milliseconds", "expires_after_seconds
//! … 3600 by default", "IdempotencyValidationError".)

use std::collections::HashMap;

use aws_sdk_dynamodb::error::SdkError;
use aws_sdk_dynamodb::operation::put_item::PutItemError;
use aws_sdk_dynamodb::types::{AttributeValue, ReturnValuesOnConditionCheckFailure};
use aws_sdk_dynamodb::Client;

use crate::consumer::ConsumerError;

const IN_PROGRESS: &str = "INPROGRESS";
const COMPLETED: &str = "COMPLETED";

type Item = HashMap<String, AttributeValue>;

/// The idempotency records of one consumer: a table (partition key `pk`, a string) and the
/// namespace its keys are kept under.
#[derive(Debug, Clone)]
pub struct IdempotencyStore {
    client: Client,
    table: String,
    namespace: String,
}

/// What claiming a key found.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Claim {
    /// Ours: run the handler, then [`IdempotencyStore::complete`] or
    /// [`IdempotencyStore::release`] with this token.
    Acquired { token: String },
    /// Handled before: the stored result (JSON).
    Completed { result: String },
}

/// One claim's facts.
pub(crate) struct Attempt<'a> {
    pub key: &'a str,
    /// Hex SHA-256 of the payload, compared with a completed record's.
    pub payload_hash: &'a str,
    pub now_ms: i64,
    /// The invocation's deadline: until then the claim keeps others out.
    pub in_progress_until_ms: i64,
    /// When the completion record expires, Unix seconds.
    pub expires_at: i64,
    pub validate_payload: bool,
}

impl IdempotencyStore {
    /// Records in `table` under `namespace` (the function's name, so two consumers of one
    /// event keep separate records).
    pub fn new(client: Client, table: impl Into<String>, namespace: impl Into<String>) -> Self {
        Self {
            client,
            table: table.into(),
            namespace: namespace.into(),
        }
    }

    fn pk(&self, key: &str) -> AttributeValue {
        AttributeValue::S(format!("I#{}#{key}", self.namespace))
    }

    /// Claim `a.key`, or say why not.
    pub(crate) async fn claim(&self, a: &Attempt<'_>) -> Result<Claim, ConsumerError> {
        let token = uuid::Uuid::new_v4().to_string();
        let result = self
            .client
            .put_item()
            .table_name(&self.table)
            .item("pk", self.pk(a.key))
            .item("st", s(IN_PROGRESS))
            .item("ipx", n(a.in_progress_until_ms))
            .item("ex", n(a.expires_at))
            .item("ttl", n(a.expires_at))
            .item("vh", s(a.payload_hash))
            .item("tok", s(&token))
            // Absent, expired, or an in-progress claim whose invocation's time is up (it
            // crashed or timed out): Powertools' condition.
            .condition_expression(
                "attribute_not_exists(pk) OR ex < :now OR (st = :ip AND ipx < :now_ms)",
            )
            .expression_attribute_values(":now", n(a.now_ms / 1000))
            .expression_attribute_values(":now_ms", n(a.now_ms))
            .expression_attribute_values(":ip", s(IN_PROGRESS))
            .return_values_on_condition_check_failure(ReturnValuesOnConditionCheckFailure::AllOld)
            .send()
            .await;
        let old = match result.map_err(SdkError::into_service_error) {
            Ok(_) => return Ok(Claim::Acquired { token }),
            Err(PutItemError::ConditionalCheckFailedException(refused)) => refused.item,
            Err(e) => return Err(store_error("PutItem (claim)", e)),
        };
        let old = match old {
            Some(item) => item,
            // An emulator or an older API that returns no item: read it.
            None => self.get(a.key).await?.ok_or_else(|| {
                ConsumerError::Store(format!(
                    "{}: the claim was refused, then the record was gone; retry",
                    a.key
                ))
            })?,
        };
        if text(&old, "st") == Some(COMPLETED) {
            if a.validate_payload && text(&old, "vh") != Some(a.payload_hash) {
                return Err(ConsumerError::PayloadMismatch {
                    key: a.key.to_string(),
                });
            }
            return Ok(Claim::Completed {
                result: text(&old, "data").unwrap_or("null").to_string(),
            });
        }
        Err(ConsumerError::InProgress {
            key: a.key.to_string(),
            until_ms: number(&old, "ipx").unwrap_or_default(),
        })
    }

    /// Record the handler's result for the completion window. Written only while the claim
    /// is still this attempt's: if another took it over after this one's time ran out, its
    /// record stands (both ran; the later one's result is kept).
    pub(crate) async fn complete(
        &self,
        key: &str,
        token: &str,
        result_json: &str,
        expires_at: i64,
    ) -> Result<bool, ConsumerError> {
        let out = self
            .client
            .update_item()
            .table_name(&self.table)
            .key("pk", self.pk(key))
            .update_expression("SET st = :done, #data = :data, ex = :ex, #ttl = :ex REMOVE ipx")
            .condition_expression("tok = :tok")
            .expression_attribute_names("#data", "data")
            .expression_attribute_names("#ttl", "ttl")
            .expression_attribute_values(":done", s(COMPLETED))
            .expression_attribute_values(":data", s(result_json))
            .expression_attribute_values(":ex", n(expires_at))
            .expression_attribute_values(":tok", s(token))
            .send()
            .await;
        match out {
            Ok(_) => Ok(true),
            Err(SdkError::ServiceError(e)) if e.err().is_conditional_check_failed_exception() => {
                Ok(false)
            }
            Err(e) => Err(store_error("UpdateItem (complete)", e)),
        }
    }

    /// Give a failed attempt's claim back, so the next delivery runs the handler again.
    pub(crate) async fn release(&self, key: &str, token: &str) -> Result<(), ConsumerError> {
        let out = self
            .client
            .delete_item()
            .table_name(&self.table)
            .key("pk", self.pk(key))
            .condition_expression("tok = :tok")
            .expression_attribute_values(":tok", s(token))
            .send()
            .await;
        match out {
            Ok(_) => Ok(()),
            Err(SdkError::ServiceError(e)) if e.err().is_conditional_check_failed_exception() => {
                Ok(())
            }
            Err(e) => Err(store_error("DeleteItem (release)", e)),
        }
    }

    async fn get(&self, key: &str) -> Result<Option<Item>, ConsumerError> {
        let out = self
            .client
            .get_item()
            .table_name(&self.table)
            .key("pk", self.pk(key))
            .consistent_read(true)
            .send()
            .await
            .map_err(|e| store_error("GetItem", e))?;
        Ok(out.item)
    }
}

fn s(v: impl Into<String>) -> AttributeValue {
    AttributeValue::S(v.into())
}

fn n(v: i64) -> AttributeValue {
    AttributeValue::N(v.to_string())
}

fn text<'a>(item: &'a Item, name: &str) -> Option<&'a str> {
    item.get(name)
        .and_then(|v| v.as_s().ok())
        .map(String::as_str)
}

fn number(item: &Item, name: &str) -> Option<i64> {
    item.get(name)
        .and_then(|v| v.as_n().ok())
        .and_then(|v| v.parse().ok())
}

fn store_error(call: &str, e: impl std::error::Error) -> ConsumerError {
    ConsumerError::Store(format!(
        "DynamoDB {call} failed: {}",
        aws_sdk_dynamodb::error::DisplayErrorContext(e)
    ))
}
