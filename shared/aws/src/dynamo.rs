//! The ledger, entity versions and cursors on one DynamoDB table (partition key `pk`).
//!
//! Items: `L#{key}` ledger entries, `V#{entity}` versions (and conflict-rule state, see
//! [`crate::conflicts`]), `R#{key}` held reviews, `C#{source}` cursors. A claim is one
//! `UpdateItem` returning the old entry (`ReturnValues` consume no read capacity,
//! <https://docs.aws.amazon.com/amazondynamodb/latest/APIReference/API_UpdateItem.html>),
//! which also counts the copy, so a duplicate costs one write, no read and nothing more
//! for the history; version advances are conditional writes with
//! `ReturnValuesOnConditionCheckFailure = ALL_OLD`. `ttl` (epoch seconds) lets DynamoDB's
//! TTL expire old entries; reads treat an expired entry as absent, because TTL deletion
//! can lag by days.

use std::time::Duration;

use async_trait::async_trait;
use aws_sdk_dynamodb::error::SdkError;
use aws_sdk_dynamodb::operation::put_item::PutItemError;
use aws_sdk_dynamodb::operation::update_item::UpdateItemError;
use aws_sdk_dynamodb::types::{AttributeValue, ReturnValuesOnConditionCheckFailure};
use aws_sdk_dynamodb::Client;
use time::OffsetDateTime;

use inlet_core::clock::{from_unix_millis, unix_millis};
use inlet_core::ids::EventKey;
use inlet_core::ports::{
    Claim, Completion, Cursors, EntityVersions, Ledger, LedgerEntry, LedgerState, StoreError,
    VersionCheck,
};

use crate::item::{n, number, s, text, Item};
use crate::unavailable;

const IN_PROGRESS: &str = "IN_PROGRESS";
/// Requests in one `BatchWriteItem` at most
/// (<https://docs.aws.amazon.com/amazondynamodb/latest/APIReference/API_BatchWriteItem.html>).
pub(crate) const BATCH_WRITE_MAX: usize = 25;
/// Further batch calls (`BatchWriteItem`, `BatchGetItem`) for what DynamoDB left
/// unprocessed (throttling), with exponential backoff as their pages ask; what is still
/// left is an error for its keys.
pub(crate) const UNPROCESSED_RETRIES: u32 = 3;

/// The wait before the `attempt`th call (from 1) for unprocessed items or keys.
pub(crate) async fn back_off_unprocessed(attempt: u32) {
    tokio::time::sleep(Duration::from_millis(25 << attempt)).await;
}
const COMPLETED: &str = "COMPLETED";
/// A claim given back ([`Ledger::release`]): claimable at once, like no entry, but it says
/// an attempt was made, so the next claim is not the key's first (its history exists).
const RELEASED: &str = "RELEASED";
/// Abandoned IN_PROGRESS claims are swept by TTL after this long.
const CLAIM_TTL: Duration = Duration::from_secs(86_400);

pub struct DynamoStore {
    client: Client,
    table: String,
    /// Partitions per day of the history index (see [`crate::history::SHARDS`]).
    history_shards: u16,
}

fn ms(d: Duration) -> i64 {
    i64::try_from(d.as_millis()).unwrap_or(i64::MAX)
}

impl DynamoStore {
    pub fn new(client: Client, table: impl Into<String>) -> Self {
        Self {
            client,
            table: table.into(),
            history_shards: crate::history::SHARDS,
        }
    }

    /// Spread each day's history index over `shards` partitions (the stack's
    /// `HistoryShards`; clamped to 1..=[`crate::history::MAX_SHARDS`]).
    pub fn with_history_shards(mut self, shards: u16) -> Self {
        self.history_shards = shards.clamp(1, crate::history::MAX_SHARDS);
        self
    }

    pub fn history_shards(&self) -> u16 {
        self.history_shards
    }

    pub fn client(&self) -> &Client {
        &self.client
    }

    pub fn table(&self) -> &str {
        &self.table
    }

    async fn get(&self, pk: String) -> Result<Option<Item>, StoreError> {
        let out = self
            .client
            .get_item()
            .table_name(&self.table)
            .key("pk", AttributeValue::S(pk))
            .consistent_read(true)
            .send()
            .await
            .map_err(unavailable("DynamoDB GetItem failed"))?;
        Ok(out.item)
    }

    /// A COMPLETED ledger entry, whole: what `complete` leaves after a claim.
    fn completed_item(
        key: &EventKey,
        payload_sha256: &str,
        outcome: Completion,
        expires: i64,
    ) -> Item {
        Item::from([
            ("pk".to_string(), s(format!("L#{key}"))),
            ("st".to_string(), s(COMPLETED)),
            ("ph".to_string(), s(payload_sha256)),
            ("ex".to_string(), n(expires)),
            ("ttl".to_string(), n(expires / 1000)),
            ("oc".to_string(), s(outcome.as_str())),
            ("seen".to_string(), n(0)),
        ])
    }

    /// Put whole items (`what` they are, for errors) in one `BatchWriteItem` (at most
    /// [`BATCH_WRITE_MAX`], distinct keys), retrying what DynamoDB leaves unprocessed.
    /// Returns the `pk`s not written with the reason.
    pub(crate) async fn put_items(
        &self,
        items: Vec<Item>,
        what: &str,
    ) -> Vec<(String, StoreError)> {
        use aws_sdk_dynamodb::types::{PutRequest, WriteRequest};
        let pks: Vec<String> = items
            .iter()
            .map(|i| text(i, "pk").unwrap_or_default())
            .collect();
        let built: Result<Vec<WriteRequest>, _> = items
            .into_iter()
            .map(|item| {
                let put = PutRequest::builder().set_item(Some(item)).build()?;
                Ok::<_, aws_sdk_dynamodb::error::BuildError>(
                    WriteRequest::builder().put_request(put).build(),
                )
            })
            .collect();
        let mut pending = match built {
            Ok(requests) => requests,
            Err(e) => {
                let message = format!("DynamoDB BatchWriteItem ({what}) not built: {e}");
                return pks
                    .into_iter()
                    .map(|pk| (pk, StoreError::Invalid(message.clone())))
                    .collect();
            }
        };
        let pk_of = |w: &WriteRequest| {
            w.put_request()
                .and_then(|p| p.item().get("pk"))
                .and_then(|v| v.as_s().ok())
                .cloned()
                .unwrap_or_default()
        };
        for attempt in 0..=UNPROCESSED_RETRIES {
            if attempt > 0 {
                back_off_unprocessed(attempt).await;
            }
            let sent = self
                .client
                .batch_write_item()
                .request_items(&self.table, pending.clone())
                .send()
                .await;
            match sent {
                Ok(out) => {
                    pending = out
                        .unprocessed_items
                        .and_then(|mut left| left.remove(&self.table))
                        .unwrap_or_default();
                    if pending.is_empty() {
                        return Vec::new();
                    }
                }
                Err(e) => {
                    // One failure for every key still pending, each with the service's words
                    // (a throttle stays a throttle: the worker waits it out uncounted).
                    let message = format!(
                        "DynamoDB BatchWriteItem ({what}) failed: {}",
                        crate::error::describe(&e)
                    );
                    let throttled = crate::error::Describe::throttled(&e);
                    return pending
                        .iter()
                        .map(|w| {
                            let error =
                                StoreError::retryable(message.clone(), throttled, message.clone());
                            (pk_of(w), error)
                        })
                        .collect();
                }
            }
        }
        pending
            .iter()
            .map(|w| {
                let message = format!(
                    "DynamoDB BatchWriteItem ({what}) left the item unprocessed after {UNPROCESSED_RETRIES} retries (throughput exceeded)"
                );
                // DynamoDB leaves items unprocessed for want of throughput only.
                (
                    pk_of(w),
                    StoreError::Throttled {
                        message,
                        source: None,
                    },
                )
            })
            .collect()
    }

    /// Copies of a completed event the ledger counted (see `counts_duplicates`).
    pub(crate) fn duplicates_seen(entry: &Item) -> u32 {
        if text(entry, "st").as_deref() != Some(COMPLETED) {
            return 0;
        }
        u32::try_from(number(entry, "seen").unwrap_or(0)).unwrap_or(u32::MAX)
    }

    fn claim_outcome(old: &Item, payload_sha256: &str, now: i64) -> Option<Claim> {
        let state = text(old, "st")?;
        if state == COMPLETED && number(old, "ex").is_some_and(|ex| ex > now) {
            let stored = text(old, "ph").unwrap_or_default();
            let same_payload =
                stored == payload_sha256 || stored.is_empty() || payload_sha256.is_empty();
            return Some(Claim::Duplicate { same_payload });
        }
        if state == IN_PROGRESS {
            let lu = number(old, "lu").unwrap_or(0);
            if lu > now {
                return Some(Claim::InFlight {
                    lease_until: from_unix_millis(lu),
                });
            }
        }
        None
    }
}

#[async_trait]
impl Ledger for DynamoStore {
    async fn claim(
        &self,
        key: &EventKey,
        payload_sha256: &str,
        now: OffsetDateTime,
        lease: Duration,
    ) -> Result<Claim, StoreError> {
        let now_ms = unix_millis(now);
        let lease_until = now_ms.saturating_add(ms(lease));
        let ttl = (now_ms + ms(CLAIM_TTL)) / 1000;
        // One unconditional write that claims an absent entry and changes nothing else of
        // an existing one but its copy count: a duplicate is this one write and no read,
        // and is counted for the history by it. The old entry says what happened.
        let counted = self
            .client
            .update_item()
            .table_name(&self.table)
            .key("pk", s(format!("L#{key}")))
            .update_expression("SET st = if_not_exists(st, :ip), ph = if_not_exists(ph, :ph), lu = if_not_exists(lu, :lu), #ttl = if_not_exists(#ttl, :ttl) ADD seen :one")
            .expression_attribute_names("#ttl", "ttl")
            .expression_attribute_values(":ip", s(IN_PROGRESS))
            .expression_attribute_values(":ph", s(payload_sha256))
            .expression_attribute_values(":lu", n(lease_until))
            .expression_attribute_values(":ttl", n(ttl))
            .expression_attribute_values(":one", n(1))
            .return_values(aws_sdk_dynamodb::types::ReturnValue::AllOld)
            .send()
            .await
            .map_err(unavailable("DynamoDB UpdateItem (claim) failed"))?;
        let Some(old) = counted.attributes.filter(|a| !a.is_empty()) else {
            return Ok(Claim::Acquired { first: true });
        };
        if let Some(outcome) = Self::claim_outcome(&old, payload_sha256, now_ms) {
            return Ok(outcome);
        }
        // Released, an expired lease or retention: take the entry over (a retry, a crashed
        // worker, or a key seen again after its retention), conditionally, as another
        // worker may too. A released mark's longer life is kept (see `release`).
        let ttl = ttl.max(number(&old, "ttl").unwrap_or(0));
        let result = self
            .client
            .put_item()
            .table_name(&self.table)
            .item("pk", s(format!("L#{key}")))
            .item("st", s(IN_PROGRESS))
            .item("ph", s(payload_sha256))
            .item("lu", n(lease_until))
            .item("ttl", n(ttl))
            .condition_expression(
                "st = :rel OR (st = :ip AND lu <= :now) OR (st = :done AND ex <= :now)",
            )
            .expression_attribute_values(":rel", s(RELEASED))
            .expression_attribute_values(":ip", s(IN_PROGRESS))
            .expression_attribute_values(":done", s(COMPLETED))
            .expression_attribute_values(":now", n(now_ms))
            .return_values_on_condition_check_failure(ReturnValuesOnConditionCheckFailure::AllOld)
            .send()
            .await;
        match result {
            Ok(_) => Ok(Claim::Acquired { first: false }),
            Err(SdkError::ServiceError(e))
                if matches!(e.err(), PutItemError::ConditionalCheckFailedException(_)) =>
            {
                let old = match e.into_err() {
                    PutItemError::ConditionalCheckFailedException(c) => c.item,
                    _ => None,
                };
                // Emulators without ReturnValuesOnConditionCheckFailure: one read instead.
                let old = match old {
                    Some(item) => Some(item),
                    None => self.get(format!("L#{key}")).await?,
                };
                Ok(old
                    .and_then(|item| Self::claim_outcome(&item, payload_sha256, now_ms))
                    // The entry changed between the writes: someone else holds it.
                    .unwrap_or(Claim::InFlight {
                        lease_until: from_unix_millis(lease_until),
                    }))
            }
            Err(e) => Err(unavailable("DynamoDB PutItem (claim) failed")(e)),
        }
    }

    async fn complete(
        &self,
        key: &EventKey,
        outcome: Completion,
        now: OffsetDateTime,
        retention: Duration,
    ) -> Result<(), StoreError> {
        let expires = unix_millis(now).saturating_add(ms(retention));
        self.client
            .update_item()
            .table_name(&self.table)
            .key("pk", s(format!("L#{key}")))
            .update_expression("SET st = :done, ex = :ex, #ttl = :ttl, oc = :oc, ph = if_not_exists(ph, :empty), seen = :zero REMOVE lu")
            .expression_attribute_values(":zero", n(0))
            .expression_attribute_names("#ttl", "ttl")
            .expression_attribute_values(":done", s(COMPLETED))
            .expression_attribute_values(":ex", n(expires))
            .expression_attribute_values(":ttl", n(expires / 1000))
            .expression_attribute_values(":oc", s(outcome.as_str()))
            .expression_attribute_values(":empty", s(""))
            .send()
            .await
            .map_err(unavailable("DynamoDB UpdateItem (complete) failed"))?;
        Ok(())
    }

    /// One `BatchWriteItem` per 25 completions instead of an `UpdateItem` each: a
    /// completion is the whole entry (the claim's payload hash, the outcome, the expiry),
    /// so it can be a plain put, and the lease holder is the only writer of a claimed
    /// key. Same write units (one per small item), one call and one round trip.
    async fn complete_many(
        &self,
        completions: &[(&EventKey, &str, Completion)],
        now: OffsetDateTime,
        retention: Duration,
    ) -> Vec<Result<(), StoreError>> {
        let mut keys = std::collections::HashSet::new();
        let distinct = completions.iter().all(|(k, _, _)| keys.insert(k.as_str()));
        if completions.len() < 2 || !distinct {
            // One item, or a key twice (a batch write refuses that): one call each.
            return futures::future::join_all(
                completions
                    .iter()
                    .map(|(key, _, how)| self.complete(key, *how, now, retention)),
            )
            .await;
        }
        let expires = unix_millis(now).saturating_add(ms(retention));
        let chunks = completions.chunks(BATCH_WRITE_MAX).map(|chunk| {
            self.put_items(
                chunk
                    .iter()
                    .map(|(key, hash, how)| Self::completed_item(key, hash, *how, expires))
                    .collect(),
                "complete",
            )
        });
        let mut failed: std::collections::HashMap<String, StoreError> =
            futures::future::join_all(chunks)
                .await
                .into_iter()
                .flatten()
                .collect();
        completions
            .iter()
            .map(|(key, _, _)| match failed.remove(&format!("L#{key}")) {
                Some(e) => Err(e),
                None => Ok(()),
            })
            .collect()
    }

    /// The claim's `ADD seen` counts every copy; a completion resets it, so on a
    /// COMPLETED entry `seen` is the duplicates since ([`DynamoStore::duplicates_seen`]).
    fn counts_duplicates(&self) -> bool {
        true
    }

    /// Not a delete: the entry becomes a [`RELEASED`] mark, claimable at once, that lives
    /// as long as the history of the attempt that released it, so no later claim is taken
    /// for the key's first and writes its history whole over that attempt.
    async fn release(
        &self,
        key: &EventKey,
        now: OffsetDateTime,
        retention: Duration,
    ) -> Result<(), StoreError> {
        let ttl = unix_millis(now).saturating_add(ms(retention)) / 1000;
        let result = self
            .client
            .update_item()
            .table_name(&self.table)
            .key("pk", s(format!("L#{key}")))
            .update_expression("SET st = :rel, #ttl = :ttl REMOVE lu")
            .condition_expression("st = :ip")
            .expression_attribute_names("#ttl", "ttl")
            .expression_attribute_values(":rel", s(RELEASED))
            .expression_attribute_values(":ttl", n(ttl))
            .expression_attribute_values(":ip", s(IN_PROGRESS))
            .send()
            .await;
        match result {
            Ok(_) => Ok(()),
            Err(SdkError::ServiceError(e)) if e.err().is_conditional_check_failed_exception() => {
                Ok(())
            }
            Err(e) => Err(unavailable("DynamoDB UpdateItem (release) failed")(e)),
        }
    }

    async fn lookup(
        &self,
        key: &EventKey,
        now: OffsetDateTime,
    ) -> Result<Option<LedgerEntry>, StoreError> {
        let Some(item) = self.get(format!("L#{key}")).await? else {
            return Ok(None);
        };
        let now = unix_millis(now);
        let state = match text(&item, "st").as_deref() {
            // Given back: no attempt is under way or done.
            Some(RELEASED) => return Ok(None),
            Some(COMPLETED) => {
                let ex = number(&item, "ex").unwrap_or(0);
                if ex <= now {
                    return Ok(None);
                }
                LedgerState::Completed {
                    outcome: text(&item, "oc").unwrap_or_default(),
                    expires_at: from_unix_millis(ex),
                }
            }
            _ => LedgerState::InProgress {
                lease_until: from_unix_millis(number(&item, "lu").unwrap_or(0)),
            },
        };
        Ok(Some(LedgerEntry {
            key: key.to_string(),
            payload_sha256: text(&item, "ph").unwrap_or_default(),
            state,
        }))
    }
}

#[async_trait]
impl EntityVersions for DynamoStore {
    async fn advance(&self, entity: &str, version: i64) -> Result<VersionCheck, StoreError> {
        let result = self
            .client
            .update_item()
            .table_name(&self.table)
            .key("pk", s(format!("V#{entity}")))
            .update_expression("SET ver = :v")
            .condition_expression("attribute_not_exists(pk) OR ver <= :v")
            .expression_attribute_values(":v", n(version))
            .return_values_on_condition_check_failure(ReturnValuesOnConditionCheckFailure::AllOld)
            .send()
            .await;
        match result {
            Ok(_) => Ok(VersionCheck::Current),
            Err(SdkError::ServiceError(e))
                if matches!(e.err(), UpdateItemError::ConditionalCheckFailedException(_)) =>
            {
                let old = match e.into_err() {
                    UpdateItemError::ConditionalCheckFailedException(c) => c.item,
                    _ => None,
                };
                let old = match old {
                    Some(item) => Some(item),
                    None => self.get(format!("V#{entity}")).await?,
                };
                let current = old
                    .as_ref()
                    .and_then(|i| number(i, "ver"))
                    .unwrap_or(version);
                Ok(VersionCheck::Stale { current })
            }
            Err(e) => Err(unavailable("DynamoDB UpdateItem (version) failed")(e)),
        }
    }
}

#[async_trait]
impl Cursors for DynamoStore {
    async fn load(&self, source: &str) -> Result<Option<String>, StoreError> {
        Ok(self
            .get(format!("C#{source}"))
            .await?
            .and_then(|i| text(&i, "cur")))
    }

    async fn save(&self, source: &str, cursor: &str) -> Result<(), StoreError> {
        self.client
            .put_item()
            .table_name(&self.table)
            .item("pk", s(format!("C#{source}")))
            .item("cur", s(cursor))
            .item("at", n(unix_millis(OffsetDateTime::now_utc())))
            .send()
            .await
            .map_err(unavailable("DynamoDB PutItem (cursor) failed"))?;
        Ok(())
    }
}
