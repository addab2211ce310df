//! Learned payload shapes and schema-drift findings on the stack's table (see [`Shapes`]).
//!
//! - `SH#{provider}#{event type}` holds a shape: `sh` (JSON, at most `inlet_core::shape::MAX_PATHS` paths,
//!   ~70 KB at worst, under the 400 KB item limit), `rev` (its revision: a merge is a
//!   consistent `GetItem` and a `PutItem` conditioned on the revision read, read again on a
//!   race), and `pq = "shape"` on the table's sparse `pending` index, so a worker's cold
//!   start reads every shape with one `Query`.
//! - `DF#{id}` is a finding: `fd` (JSON), `st` (status); `pq = "drift"` while open,
//!   `"drift-accepted"` once accepted, `pa` = first seen (ms), so listing is a `Query`, newest
//!   first. It is written with `attribute_not_exists(pk)`: the first worker to meet a change
//!   records it, the others learn it is known.
//!
//! Cost per worker: one `Query` at cold start, then per event type it saw, one `GetItem` and
//! one `PutItem` each `[schema] flush_secs` (default 60 s), and one `PutItem` per new finding.

use async_trait::async_trait;
use aws_sdk_dynamodb::operation::put_item::PutItemError;
use aws_sdk_dynamodb::operation::update_item::UpdateItemError;
use time::OffsetDateTime;

use inlet_core::clock::unix_millis;
use inlet_core::ports::{Shapes, StoreError, StoredShape};
use inlet_core::shape::{Finding, FindingStatus, Shape};

use crate::conflicts::{conditional_failed, PENDING_INDEX};
use crate::item::{n, number, s, text, Item};
use crate::{unavailable, DynamoStore};

const SHAPES: &str = "shape";
const OPEN: &str = "drift";
const ACCEPTED: &str = "drift-accepted";
/// Compare-and-set attempts on one shape before the merge is left for the next flush.
const MAX_RACES: usize = 8;

fn decode<T: serde::de::DeserializeOwned>(
    what: &str,
    text: Option<String>,
) -> Result<T, StoreError> {
    let text = text.ok_or_else(|| StoreError::Invalid(format!("stored {what} has no body")))?;
    serde_json::from_str(&text)
        .map_err(|e| StoreError::Invalid(format!("stored {what} does not decode: {e}")))
}

fn encode<T: serde::Serialize>(value: &T) -> Result<String, StoreError> {
    serde_json::to_string(value).map_err(|e| StoreError::Invalid(e.to_string()))
}

fn shape_key(provider: &str, event_type: &str) -> String {
    format!("SH#{provider}#{event_type}")
}

impl DynamoStore {
    /// Every item of one `pending`-index partition, in `pa` order (newest first when
    /// `newest_first`), up to `limit`.
    async fn partition(
        &self,
        partition: &str,
        newest_first: bool,
        limit: usize,
    ) -> Result<Vec<Item>, StoreError> {
        let mut items = Vec::new();
        let mut start: Option<Item> = None;
        while items.len() < limit {
            let out = self
                .client()
                .query()
                .table_name(self.table())
                .index_name(PENDING_INDEX)
                .key_condition_expression("pq = :pq")
                .expression_attribute_values(":pq", s(partition))
                .scan_index_forward(!newest_first)
                .set_exclusive_start_key(start.take())
                .send()
                .await
                .map_err(unavailable("DynamoDB Query (schema) failed"))?;
            items.extend(out.items.unwrap_or_default());
            match out.last_evaluated_key {
                Some(key) if !key.is_empty() => start = Some(key),
                _ => break,
            }
        }
        items.truncate(limit);
        Ok(items)
    }

    /// Read a shape, change it with `step`, write it back unless another worker wrote it
    /// first (then read and change it again).
    async fn change_shape(
        &self,
        provider: &str,
        event_type: &str,
        step: impl Fn(&mut Shape),
    ) -> Result<Shape, StoreError> {
        let pk = shape_key(provider, event_type);
        for _ in 0..MAX_RACES {
            let item = self.get_item(pk.clone()).await?;
            let (mut shape, rev) = match &item {
                Some(item) => (
                    decode::<Shape>("shape", text(item, "sh"))?,
                    number(item, "rev").unwrap_or(0),
                ),
                None => (Shape::default(), 0),
            };
            step(&mut shape);
            let put = self
                .client()
                .put_item()
                .table_name(self.table())
                .item("pk", s(pk.clone()))
                .item("pv", s(provider))
                .item("et", s(event_type))
                .item("sh", s(encode(&shape)?))
                .item("rev", n(rev + 1))
                .item("pq", s(SHAPES))
                .item("pa", n(0));
            let put = if item.is_some() {
                put.condition_expression("rev = :rev")
                    .expression_attribute_values(":rev", n(rev))
            } else {
                put.condition_expression("attribute_not_exists(pk)")
            };
            match put.send().await {
                Ok(_) => return Ok(shape),
                Err(e)
                    if conditional_failed(&e, |e| {
                        matches!(e, PutItemError::ConditionalCheckFailedException(_))
                    }) => {}
                Err(e) => return Err(unavailable("DynamoDB PutItem (shape) failed")(e)),
            }
        }
        Err(StoreError::Unavailable {
            message: format!(
                "the shape of {provider} {event_type} changed under {MAX_RACES} attempts in a row"
            ),
            source: None,
        })
    }
}

#[async_trait]
impl Shapes for DynamoStore {
    async fn load_shapes(&self) -> Result<Vec<StoredShape>, StoreError> {
        self.partition(SHAPES, false, usize::MAX)
            .await?
            .iter()
            .map(|item| {
                Ok(StoredShape {
                    provider: text(item, "pv").unwrap_or_default(),
                    event_type: text(item, "et").unwrap_or_default(),
                    shape: decode("shape", text(item, "sh"))?,
                })
            })
            .collect()
    }

    async fn merge_shape(
        &self,
        provider: &str,
        event_type: &str,
        learned: &Shape,
    ) -> Result<Shape, StoreError> {
        if *learned == Shape::default() {
            let item = self.get_item(shape_key(provider, event_type)).await?;
            return match item {
                Some(item) => decode("shape", text(&item, "sh")),
                None => Ok(Shape::default()),
            };
        }
        self.change_shape(provider, event_type, |shape| shape.merge(learned))
            .await
    }

    async fn add_findings(&self, findings: &[Finding]) -> Result<Vec<bool>, StoreError> {
        let puts = findings.iter().map(|f| async move {
            let put = self
                .client()
                .put_item()
                .table_name(self.table())
                .item("pk", s(format!("DF#{}", f.id)))
                .item("fd", s(encode(f)?))
                .item("st", s(FindingStatus::Open.as_str()))
                .item("pq", s(OPEN))
                .item("pa", n(unix_millis(f.first_seen)))
                .condition_expression("attribute_not_exists(pk)");
            match put.send().await {
                Ok(_) => Ok(true),
                Err(e)
                    if conditional_failed(&e, |e| {
                        matches!(e, PutItemError::ConditionalCheckFailedException(_))
                    }) =>
                {
                    Ok(false)
                }
                Err(e) => Err(unavailable("DynamoDB PutItem (drift finding) failed")(e)),
            }
        });
        futures::future::join_all(puts).await.into_iter().collect()
    }

    async fn findings(
        &self,
        include_accepted: bool,
        limit: usize,
    ) -> Result<Vec<Finding>, StoreError> {
        let mut items = self.partition(OPEN, true, limit).await?;
        if include_accepted {
            items.extend(self.partition(ACCEPTED, true, limit).await?);
        }
        let mut findings = items
            .into_iter()
            .map(|item| decode::<Finding>("finding", text(&item, "fd")))
            .collect::<Result<Vec<_>, _>>()?;
        findings.sort_by(|a, b| b.first_seen.cmp(&a.first_seen).then(a.id.cmp(&b.id)));
        findings.truncate(limit);
        Ok(findings)
    }

    async fn accept_finding(
        &self,
        id: &str,
        at: OffsetDateTime,
    ) -> Result<Option<Finding>, StoreError> {
        let Some(item) = self.get_item(format!("DF#{id}")).await? else {
            return Ok(None);
        };
        let mut finding: Finding = decode("finding", text(&item, "fd"))?;
        if finding.status == FindingStatus::Accepted {
            return Ok(Some(finding));
        }
        // The shape first: accepting is idempotent there, so a failure between the two
        // writes leaves the finding open to be accepted again.
        self.change_shape(&finding.provider, &finding.event_type, |shape| {
            shape.accept(&finding)
        })
        .await?;
        finding.status = FindingStatus::Accepted;
        finding.accepted_at = Some(at);
        let result = self
            .client()
            .update_item()
            .table_name(self.table())
            .key("pk", s(format!("DF#{id}")))
            .update_expression("SET st = :accepted, fd = :fd, pq = :pq")
            .condition_expression("st = :open")
            .expression_attribute_values(":accepted", s(FindingStatus::Accepted.as_str()))
            .expression_attribute_values(":open", s(FindingStatus::Open.as_str()))
            .expression_attribute_values(":fd", s(encode(&finding)?))
            .expression_attribute_values(":pq", s(ACCEPTED))
            .send()
            .await;
        match result {
            Ok(_) => Ok(Some(finding)),
            // Another operator accepted it first: theirs stands.
            Err(e)
                if conditional_failed(&e, |e| {
                    matches!(e, UpdateItemError::ConditionalCheckFailedException(_))
                }) =>
            {
                let item = self.get_item(format!("DF#{id}")).await?;
                item.map(|i| decode("finding", text(&i, "fd"))).transpose()
            }
            Err(e) => Err(unavailable("DynamoDB UpdateItem (accept finding) failed")(
                e,
            )),
        }
    }
}
