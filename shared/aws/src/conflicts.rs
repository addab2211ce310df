//! Conflict-rule state and the review queue on the stack's table (see [`ConflictStore`]).
//!
//! - `V#{entity}` (the entity's version item) gains `cs`, the state as JSON, and `rev`, its
//!   revision: a save is one `UpdateItem` conditioned on the revision it read.
//! - `R#{key}` is a held change: `st` (status), the review as JSON in `rv` — or, past
//!   [`INLINE_MAX`], in claim-check chunks kept until the review is closed (`rp`). While
//!   pending it carries `pq = "review#{n}"` (one of [`REVIEWS`]' partitions, by key: a rule
//!   holding every event of a burst must not meet one partition's write ceiling) and `pa`
//!   (held at, ms), the keys of the table's sparse [`PENDING_INDEX`], so listing pending
//!   reviews is a `Query` per partition over them alone, merged oldest first, not a `Scan`
//!   of the table. Closing removes `pq` and sets a TTL.

use async_trait::async_trait;
use aws_sdk_dynamodb::error::SdkError;
use aws_sdk_dynamodb::operation::put_item::PutItemError;
use aws_sdk_dynamodb::operation::update_item::UpdateItemError;
use time::OffsetDateTime;

use inlet_core::clock::{from_unix_millis, unix_millis};
use inlet_core::conflict::EntityState;
use inlet_core::ports::{ConflictStore, Review, ReviewStatus, StoreError};
use inlet_core::spread::Spread;

use crate::claim_check::{pointer_of, ClaimCheck};
use crate::item::{n, number, s, text, Item};
use crate::{unavailable, DynamoStore};

/// The table's sparse global secondary index over what waits on someone: partition key
/// `pq` (`review`, or `outbox` for staged outbox events not yet published), sort key `pa`
/// (since when, Unix ms). Items leave it when `pq` is removed.
pub const PENDING_INDEX: &str = "pending";
/// Pending reviews' index partitions: `review#0` … by key, and `review` (held before the
/// spread; read, never written). Sixteen hold 16,000 holds a second.
pub const REVIEWS: Spread = Spread::new("review", 16).with_legacy();
/// Reviews larger than this (as JSON) go to claim-check chunks: a DynamoDB item is at
/// most 400 KB, attribute names and the other attributes included.
pub const INLINE_MAX: usize = 350 * 1024;
/// Closed reviews are kept this long.
const CLOSED_KEEP_SECS: i64 = 30 * 86_400;
const PENDING: &str = "pending";

pub(crate) fn conditional_failed<E, R>(e: &SdkError<E, R>, is_ccf: impl Fn(&E) -> bool) -> bool {
    matches!(e, SdkError::ServiceError(se) if is_ccf(se.err()))
}

impl DynamoStore {
    /// Up to `limit` pending reviews of one index partition, oldest first.
    async fn pending_reviews_in(
        &self,
        partition: String,
        limit: usize,
    ) -> Result<Vec<Review>, StoreError> {
        let mut reviews = Vec::new();
        let mut start: Option<Item> = None;
        while reviews.len() < limit {
            let page = i32::try_from(limit - reviews.len())
                .unwrap_or(i32::MAX)
                .min(100);
            let out = self
                .client()
                .query()
                .table_name(self.table())
                .index_name(PENDING_INDEX)
                .key_condition_expression("pq = :review")
                .expression_attribute_values(":review", s(&partition))
                .scan_index_forward(true)
                .limit(page)
                .set_exclusive_start_key(start.take())
                .send()
                .await
                .map_err(unavailable("DynamoDB Query (pending reviews) failed"))?;
            for item in out.items.unwrap_or_default() {
                reviews.push(self.review_of(&item).await?);
            }
            match out.last_evaluated_key {
                Some(key) if !key.is_empty() => start = Some(key),
                _ => break,
            }
        }
        reviews.truncate(limit);
        Ok(reviews)
    }

    fn claim_check(&self) -> ClaimCheck {
        ClaimCheck::new(self.client().clone(), self.table())
    }

    pub(crate) async fn get_item(&self, pk: String) -> Result<Option<Item>, StoreError> {
        let out = self
            .client()
            .get_item()
            .table_name(self.table())
            .key("pk", s(pk))
            .consistent_read(true)
            .send()
            .await
            .map_err(unavailable("DynamoDB GetItem (conflicts) failed"))?;
        Ok(out.item)
    }

    /// The review an `R#` item holds, with its status and close time from the item.
    async fn review_of(&self, item: &Item) -> Result<Review, StoreError> {
        let json = match (text(item, "rv"), text(item, "rp")) {
            (Some(json), _) => json,
            (None, Some(pointer)) => {
                let p = pointer_of(&pointer)
                    .unwrap_or_else(|| Err("not a claim-check pointer".into()))
                    .map_err(|e| StoreError::Invalid(format!("review pointer: {e}")))?;
                self.claim_check().load(&p).await?
            }
            (None, None) => return Err(StoreError::Invalid("review item has no review".into())),
        };
        let mut review: Review = serde_json::from_str(&json)
            .map_err(|e| StoreError::Invalid(format!("stored review does not decode: {e}")))?;
        let status = text(item, "st").unwrap_or_default();
        review.status = ReviewStatus::parse(&status)
            .ok_or_else(|| StoreError::Invalid(format!("stored review status {status:?}")))?;
        review.resolved_at = number(item, "ra").map(from_unix_millis);
        Ok(review)
    }
}

#[async_trait]
impl ConflictStore for DynamoStore {
    async fn load_entity(&self, entity: &str) -> Result<(EntityState, u64), StoreError> {
        let Some(item) = self.get_item(format!("V#{entity}")).await? else {
            return Ok((EntityState::default(), 0));
        };
        let rev = number(&item, "rev").unwrap_or(0).max(0) as u64;
        let state = match text(&item, "cs") {
            Some(json) => serde_json::from_str(&json).map_err(|e| {
                StoreError::Invalid(format!("stored entity state does not decode: {e}"))
            })?,
            None => EntityState::default(),
        };
        Ok((state, rev))
    }

    async fn save_entity(
        &self,
        entity: &str,
        state: &EntityState,
        expected: u64,
    ) -> Result<bool, StoreError> {
        let json = serde_json::to_string(state).map_err(|e| StoreError::Invalid(e.to_string()))?;
        let expected =
            i64::try_from(expected).map_err(|_| StoreError::Invalid("revision overflow".into()))?;
        let mut update = self
            .client()
            .update_item()
            .table_name(self.table())
            .key("pk", s(format!("V#{entity}")))
            .update_expression("SET cs = :cs, rev = :next")
            .expression_attribute_values(":cs", s(json))
            .expression_attribute_values(":next", n(expected + 1));
        // An item written by the plain version check alone has no revision yet.
        update = if expected == 0 {
            update.condition_expression("attribute_not_exists(rev)")
        } else {
            update
                .condition_expression("rev = :rev")
                .expression_attribute_values(":rev", n(expected))
        };
        match update.send().await {
            Ok(_) => Ok(true),
            Err(e)
                if conditional_failed(&e, |e| {
                    matches!(e, UpdateItemError::ConditionalCheckFailedException(_))
                }) =>
            {
                Ok(false)
            }
            Err(e) => Err(unavailable("DynamoDB UpdateItem (entity state) failed")(e)),
        }
    }

    async fn hold(&self, review: &Review) -> Result<(), StoreError> {
        let json = serde_json::to_string(review).map_err(|e| StoreError::Invalid(e.to_string()))?;
        let mut put = self
            .client()
            .put_item()
            .table_name(self.table())
            .item("pk", s(format!("R#{}", review.key)))
            .item("st", s(PENDING))
            .item("pq", s(REVIEWS.partition_of(&review.key)))
            .item("pa", n(unix_millis(review.held_at)))
            // A redelivered copy replaces a pending review, never a closed one.
            .condition_expression("attribute_not_exists(pk) OR st = :pending")
            .expression_attribute_values(":pending", s(PENDING));
        put = if json.len() <= INLINE_MAX {
            put.item("rv", s(json))
        } else {
            put.item("rp", s(self.claim_check().store_until(&json, None).await?))
        };
        match put.send().await {
            Ok(_) => Ok(()),
            Err(e)
                if conditional_failed(&e, |e| {
                    matches!(e, PutItemError::ConditionalCheckFailedException(_))
                }) =>
            {
                Ok(())
            }
            Err(e) => Err(unavailable("DynamoDB PutItem (review) failed")(e)),
        }
    }

    async fn pending_reviews(&self, limit: usize) -> Result<Vec<Review>, StoreError> {
        let partitions = futures::future::join_all(
            REVIEWS
                .partitions()
                .into_iter()
                .map(|partition| self.pending_reviews_in(partition, limit)),
        )
        .await;
        let mut reviews = Vec::new();
        for found in partitions {
            reviews.extend(found?);
        }
        reviews.sort_by_key(|r: &Review| r.held_at);
        reviews.truncate(limit);
        Ok(reviews)
    }

    async fn review(&self, key: &str) -> Result<Option<Review>, StoreError> {
        match self.get_item(format!("R#{key}")).await? {
            Some(item) => Ok(Some(self.review_of(&item).await?)),
            None => Ok(None),
        }
    }

    async fn close_review(
        &self,
        key: &str,
        status: ReviewStatus,
        at: OffsetDateTime,
    ) -> Result<bool, StoreError> {
        let ttl = at.unix_timestamp() + CLOSED_KEEP_SECS;
        let result = self
            .client()
            .update_item()
            .table_name(self.table())
            .key("pk", s(format!("R#{key}")))
            .update_expression("SET st = :st, ra = :ra, #ttl = :ttl REMOVE pq")
            .condition_expression("st = :pending")
            .expression_attribute_names("#ttl", "ttl")
            .expression_attribute_values(":st", s(status.as_str()))
            .expression_attribute_values(":ra", n(unix_millis(at)))
            .expression_attribute_values(":ttl", n(ttl))
            .expression_attribute_values(":pending", s(PENDING))
            .return_values(aws_sdk_dynamodb::types::ReturnValue::AllNew)
            .send()
            .await;
        match result {
            Ok(out) => {
                // Chunks of a large review expire with it.
                if let Some(p) = out
                    .attributes
                    .as_ref()
                    .and_then(|i| text(i, "rp"))
                    .and_then(|rp| pointer_of(&rp))
                    .and_then(Result::ok)
                {
                    self.claim_check().expire(&p, ttl).await?;
                }
                Ok(true)
            }
            Err(e)
                if conditional_failed(&e, |e| {
                    matches!(e, UpdateItemError::ConditionalCheckFailedException(_))
                }) =>
            {
                Ok(false)
            }
            Err(e) => Err(unavailable("DynamoDB UpdateItem (close review) failed")(e)),
        }
    }
}
