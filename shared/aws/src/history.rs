//! The event history on the stack's table (see [`History`]).
//!
//! One item per event, `E#{key}`: the envelope's metadata as JSON (`env`), the payload
//! when kept (`plz`, raw DEFLATE, or `pl` as it came when that is no larger; past
//! [`INLINE_PAYLOAD_MAX`] in claim-check chunks that expire with the record, pointed to by
//! `plp`), the state (`st`), the attempts (`att`, a list appended to),
//! counters (`n` attempts, `dup` duplicates), `ex`/`ttl` for expiry. The key's first
//! attempt (its claim says so, [`inlet_core::ports::Claim::Acquired`]) writes the record
//! whole, with the batch's other first attempts in one `BatchWriteItem`; any later attempt
//! is one `UpdateItem` that needs no read (`if_not_exists` for what the first attempt set,
//! `list_append` for the timeline). Either way a batch's history is one wave beside the
//! ledger's completions — no extra sequential round trip — and a batch of new events costs
//! one call for it, not one per event.
//!
//! Listing newest first goes through the sparse index [`EVENTS_INDEX`]: partition
//! `ed = "{day}#{shard}"` (the UTC day received, and one of the store's history shards —
//! [`SHARDS`] unless the stack's `HistoryShards` parameter says more — by key, so one
//! busy day is spread over several partitions — a partition takes at most 1,000 write
//! units per second,
//! <https://docs.aws.amazon.com/amazondynamodb/latest/developerguide/bp-partition-key-design.html>),
//! sort key `rk = "{received_at_ms:013}#{key}"`. It projects what a list shows (`env`, `st`,
//! counters, `kept`), not the attempts or the payload, so a history write costs the index
//! one small write.
pub const EVENTS_INDEX_ATTRIBUTES: [&str; 10] = [
    "env", "st", "up", "dup", "n", "ex", "kept", "prov", "et", "ent",
];

use std::collections::HashMap;

use async_trait::async_trait;
use aws_sdk_dynamodb::primitives::Blob;
use aws_sdk_dynamodb::types::AttributeValue;
use time::OffsetDateTime;

use inlet_core::clock::{from_unix_millis, unix_millis};
use inlet_core::envelope::Envelope;
use inlet_core::history::{
    Attempt, EventFilter, EventPage, EventRecord, EventState, HistoryEntry, MAX_ATTEMPTS_KEPT,
};
use inlet_core::ports::{History, StoreError};

use crate::item::{n, number, s, text, Item};
use crate::{unavailable, DynamoStore};

/// The index over history items (template: `events`).
pub const EVENTS_INDEX: &str = "events";
/// Payloads kept inline in the item up to this; larger ones go to claim-check chunks (a
/// DynamoDB item is at most 400 KB, names and the other attributes included).
pub const INLINE_PAYLOAD_MAX: usize = 200 * 1024;
/// Index partitions per day, by default. A partition of a global secondary index absorbs
/// about 1,000 write units a second, and a throttled index throttles the base table's writes
/// (docs.aws.amazon.com/amazondynamodb/latest/developerguide/bp-partition-key-design.html
/// and …/GSI.html#GSI.ThroughputConsiderations, read 2026-12-06). One new event writes one
/// small index item (under 1 KB projected: one write unit), so 16 shards hold 16,000 new
/// events a second with the writes spread by key hash — past the 10,000 a second the
/// capacity model (docs/capacity.md) plans for. The stack's `HistoryShards` parameter
/// (`INLET_HISTORY_SHARDS`) raises it. Readers query every shard of a day at once; a day
/// written with fewer shards is read whole (its items sit in the lower shards), so the
/// count may be raised at any time; lowered, the days written before list partly.
pub const SHARDS: u16 = 16;
/// Attempts appended to one item at most; past this an attempt updates the state and the
/// count only (the item stays well under DynamoDB's 400 KB).
const MAX_ATTEMPTS_STORED: i64 = 100;
/// How far back a listing without `since` looks.
const DEFAULT_LOOKBACK_DAYS: i64 = 8;
const DAY_MS: i64 = 86_400_000;

/// The UTC day (`2026-11-28`) of a time in Unix ms.
fn day_of(ms: i64) -> String {
    let d = from_unix_millis(ms).date();
    format!("{:04}-{:02}-{:02}", d.year(), u8::from(d.month()), d.day())
}

use inlet_core::spread::shard_of;
/// The most history shards a stack may have.
pub use inlet_core::spread::MAX_SHARDS;

fn sort_key(received_ms: i64, key: &str) -> String {
    format!("{received_ms:013}#{key}")
}

fn bad_item(what: &str) -> StoreError {
    StoreError::Invalid(format!("history item: {what}"))
}

/// The attribute of an inline payload stored as it came.
const RAW_PAYLOAD: &str = "pl";
/// The attribute of an inline payload stored as raw DEFLATE (RFC 1951).
const COMPRESSED_PAYLOAD: &str = "plz";

/// How an inline payload is stored: raw DEFLATE when that is smaller, else as it came.
/// A write bills one unit per KB of the whole item, and again on every later attempt
/// (an `UpdateItem` bills the larger of the item before and after,
/// <https://docs.aws.amazon.com/amazondynamodb/latest/developerguide/read-write-operations.html>);
/// webhook JSON shrinks several times (the bench's 2.2 KB invoice to 0.3 KB), so its
/// record is one unit instead of three, for ~5 µs of CPU.
fn packed_payload(body: &[u8]) -> (&'static str, Vec<u8>) {
    thread_local! {
        // A compressor's tables are ~300 KB: building them per payload would cost far more
        // than compressing it, so one per thread is reset and reused (the measurement is
        // in docs/benchmarks.md, "Measurements behind code choices").
        static COMPRESSOR: std::cell::RefCell<flate2::Compress> =
            std::cell::RefCell::new(flate2::Compress::new(flate2::Compression::fast(), false));
    }
    COMPRESSOR.with(|compressor| {
        let mut compressor = compressor.borrow_mut();
        compressor.reset();
        // Room for the body's length only: a stream that does not end within it is no
        // smaller, and the payload is kept as it came.
        let mut packed = Vec::with_capacity(body.len());
        match compressor.compress_vec(body, &mut packed, flate2::FlushCompress::Finish) {
            Ok(flate2::Status::StreamEnd) if packed.len() < body.len() => {
                (COMPRESSED_PAYLOAD, packed)
            }
            _ => (RAW_PAYLOAD, body.to_vec()),
        }
    })
}

/// The inline payload of a history item, if it has one. A compressed payload that does
/// not inflate, or inflates past [`INLINE_PAYLOAD_MAX`] (no inline payload was ever that
/// large, so the item is not ours as written), is an error, not a truncated body.
fn stored_payload(item: &Item) -> Result<Option<Vec<u8>>, StoreError> {
    use std::io::Read as _;
    if let Some(raw) = item.get(RAW_PAYLOAD).and_then(|v| v.as_b().ok()) {
        return Ok(Some(raw.as_ref().to_vec()));
    }
    let Some(packed) = item.get(COMPRESSED_PAYLOAD).and_then(|v| v.as_b().ok()) else {
        return Ok(None);
    };
    let mut body = Vec::with_capacity(packed.as_ref().len().saturating_mul(4));
    flate2::read::DeflateDecoder::new(packed.as_ref())
        .take(INLINE_PAYLOAD_MAX as u64 + 1)
        .read_to_end(&mut body)
        .map_err(|e| bad_item(&format!("the payload does not inflate: {e}")))?;
    if body.len() > INLINE_PAYLOAD_MAX {
        return Err(bad_item(&format!(
            "the payload inflates past {INLINE_PAYLOAD_MAX} bytes"
        )));
    }
    Ok(Some(body))
}

/// The record an item holds. Listing reads the index, which has no attempts or payload.
fn record_of(item: &Item) -> Result<EventRecord, StoreError> {
    let mut envelope: Envelope =
        serde_json::from_str(&text(item, "env").ok_or_else(|| bad_item("no env"))?)
            .map_err(|e| bad_item(&format!("env does not decode: {e}")))?;
    let payload = stored_payload(item)?;
    let kept_inline = payload.is_some();
    envelope.body = payload.unwrap_or_default();
    let mut attempts: Vec<Attempt> = match item.get("att").and_then(|v| v.as_l().ok()) {
        Some(list) => list
            .iter()
            .filter_map(|a| a.as_s().ok())
            .map(|a| {
                serde_json::from_str(a)
                    .map_err(|e| bad_item(&format!("attempt does not decode: {e}")))
            })
            .collect::<Result<_, _>>()?,
        None => Vec::new(),
    };
    attempts.sort_by_key(|a| a.at);
    let excess = attempts.len().saturating_sub(MAX_ATTEMPTS_KEPT);
    attempts.drain(..excess);
    Ok(EventRecord {
        envelope,
        payload_kept: kept_inline || item.get("kept").and_then(|v| v.as_bool().ok()) == Some(&true),
        state: text(item, "st")
            .as_deref()
            .and_then(EventState::parse)
            .ok_or_else(|| bad_item("no state"))?,
        updated_at: from_unix_millis(number(item, "up").unwrap_or(0)),
        duplicates: u32::try_from(number(item, "dup").unwrap_or(0)).unwrap_or(u32::MAX),
        attempt_count: u32::try_from(number(item, "n").unwrap_or(0)).unwrap_or(u32::MAX),
        attempts,
        expires_at: from_unix_millis(number(item, "ex").unwrap_or(0)),
    })
}

/// The `FilterExpression` for `filter` and its values (empty when it filters nothing but
/// time, which the key condition covers).
fn filter_expression(filter: &EventFilter) -> (String, Item) {
    let mut conditions = Vec::new();
    let mut values = Item::new();
    let mut add = |cond: &str, name: &str, value: AttributeValue| {
        conditions.push(cond.to_string());
        values.insert(name.to_string(), value);
    };
    if let Some(p) = &filter.provider {
        add("prov = :fp", ":fp", s(p.clone()));
    }
    if let Some(t) = &filter.event_type {
        add("et = :ft", ":ft", s(t.clone()));
    }
    if let Some(st) = filter.state {
        add("st = :fs", ":fs", s(st.as_str()));
    }
    if let Some(e) = &filter.entity {
        add("ent = :fe", ":fe", s(e.clone()));
    }
    if let Some(k) = &filter.key_contains {
        add("contains(rk, :fk)", ":fk", s(k.clone()));
    }
    (conditions.join(" AND "), values)
}

/// How an attempt writes an attribute of its event's record.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Write {
    /// Kept from the record's first write (`if_not_exists`).
    Once,
    /// Set by every attempt.
    Every,
}

/// The counter an attempt adds one to: `dup` for a copy, `n` for an attempt at the event,
/// none for a mark in the timeline (queued, redriven).
fn counter_of(state: EventState) -> Option<&'static str> {
    match state {
        EventState::Duplicate => Some("dup"),
        EventState::Redriven | EventState::Queued => None,
        _ => Some("n"),
    }
}

/// An attempt as its timeline stores it.
fn attempt_json(entry: &HistoryEntry<'_>) -> Result<String, StoreError> {
    serde_json::to_string(&entry.attempt).map_err(|e| StoreError::Invalid(e.to_string()))
}

/// Keys in one `BatchGetItem` at most
/// (<https://docs.aws.amazon.com/amazondynamodb/latest/APIReference/API_BatchGetItem.html>).
const BATCH_GET_MAX: usize = 100;

impl DynamoStore {
    /// The duplicates the ledger counted for each of `keys` (distinct), by key: the
    /// worker writes nothing to the history for a duplicate, its claim counts it
    /// (`Ledger::counts_duplicates`). Keys without a ledger entry are absent.
    async fn ledger_duplicates(&self, keys: &[&str]) -> Result<HashMap<String, u32>, StoreError> {
        use aws_sdk_dynamodb::types::KeysAndAttributes;
        let mut counts = HashMap::new();
        for chunk in keys.chunks(BATCH_GET_MAX) {
            let wanted = chunk
                .iter()
                .map(|k| HashMap::from([("pk".to_string(), s(format!("L#{k}")))]))
                .collect();
            let mut pending = Some(
                KeysAndAttributes::builder()
                    .set_keys(Some(wanted))
                    .projection_expression("pk, st, seen")
                    .consistent_read(true)
                    .build()
                    .map_err(|e| StoreError::Invalid(e.to_string()))?,
            );
            // What DynamoDB leaves unprocessed is asked for again, with backoff, a few
            // times; a count still missing then is an error, not a zero.
            for attempt in 0..=crate::dynamo::UNPROCESSED_RETRIES {
                let Some(request) = pending.take() else { break };
                if attempt > 0 {
                    crate::dynamo::back_off_unprocessed(attempt).await;
                }
                let out = self
                    .client()
                    .batch_get_item()
                    .request_items(self.table(), request)
                    .send()
                    .await
                    .map_err(unavailable("DynamoDB BatchGetItem (duplicates) failed"))?;
                for entry in out
                    .responses
                    .and_then(|mut r| r.remove(self.table()))
                    .unwrap_or_default()
                {
                    if let Some(key) =
                        text(&entry, "pk").and_then(|pk| pk.strip_prefix("L#").map(str::to_string))
                    {
                        counts.insert(key, DynamoStore::duplicates_seen(&entry));
                    }
                }
                pending = out
                    .unprocessed_keys
                    .and_then(|mut u| u.remove(self.table()))
                    .filter(|k| !k.keys().is_empty());
            }
            if pending.is_some() {
                return Err(StoreError::Unavailable {
                    message: format!(
                        "DynamoDB BatchGetItem (duplicates) left keys unprocessed after {} retries (throughput exceeded)",
                        crate::dynamo::UNPROCESSED_RETRIES
                    ),
                    source: None,
                });
            }
        }
        Ok(counts)
    }

    /// What an attempt writes besides its timeline entry and its counter: each attribute
    /// with how ([`Write`]). One list for both ways of writing, so a record written whole
    /// is the record merging into nothing would make.
    async fn attempt_fields(
        &self,
        entry: &HistoryEntry<'_>,
    ) -> Result<Vec<(&'static str, AttributeValue, Write)>, StoreError> {
        use Write::{Every, Once};
        let env = entry.envelope;
        let key = env.key.as_str();
        let received = unix_millis(env.received_at);
        let mut meta = env.clone();
        meta.body = Vec::new();
        let ex = unix_millis(entry.expires_at);
        let mut fields = vec![
            ("env", s(meta.to_json()), Once),
            (
                "ed",
                s(format!(
                    "{}#{}",
                    day_of(received),
                    shard_of(key, self.history_shards())
                )),
                Once,
            ),
            ("rk", s(sort_key(received, key)), Once),
            ("prov", s(env.provider.as_str()), Once),
            ("up", n(unix_millis(entry.attempt.at)), Every),
            ("ex", n(ex), Once),
            ("ttl", n(ex / 1000), Every),
        ];
        if let Some(t) = &env.event_type {
            fields.push(("et", s(t.clone()), Once));
        }
        if let Some(e) = &env.entity {
            fields.push(("ent", s(e.clone()), Once));
        }
        if entry.keep_payload {
            if env.body.len() <= INLINE_PAYLOAD_MAX {
                let (name, stored) = packed_payload(&env.body);
                fields.push((name, AttributeValue::B(Blob::new(stored)), Once));
            } else {
                // Content-addressed chunks, shared with the queue's claim check of the same
                // body: never given a shorter life than the queue's copy needs.
                use base64::Engine as _;
                let text = base64::engine::general_purpose::STANDARD.encode(&env.body);
                let ttl = (ex / 1000)
                    .max(OffsetDateTime::now_utc().unix_timestamp() + crate::claim_check::TTL_SECS);
                let pointer =
                    crate::claim_check::ClaimCheck::new(self.client().clone(), self.table())
                        .store_until(&text, Some(ttl))
                        .await?;
                fields.push(("plp", s(pointer), Once));
            }
            fields.push(("kept", AttributeValue::Bool(true), Every));
        }
        // A copy counts and a mark sits in the timeline; the state stays what the event's
        // own attempts made it (a record created by a duplicate alone says so).
        let state = s(entry.attempt.state.as_str());
        fields.push(match counter_of(entry.attempt.state) {
            Some("n") => ("st", state, Every),
            _ => ("st", state, Once),
        });
        Ok(fields)
    }

    /// The record of an event with no record yet, whole: what merging `entry` into
    /// nothing writes.
    async fn first_item(&self, entry: &HistoryEntry<'_>) -> Result<Item, StoreError> {
        let mut item: Item = self
            .attempt_fields(entry)
            .await?
            .into_iter()
            .map(|(name, value, _)| (name.to_string(), value))
            .collect();
        item.insert("pk".into(), s(format!("E#{}", entry.envelope.key)));
        if let Some(counter) = counter_of(entry.attempt.state) {
            item.insert(counter.into(), n(1));
        }
        if entry.attempt.state != EventState::Duplicate {
            item.insert(
                "att".into(),
                AttributeValue::L(vec![s(attempt_json(entry)?)]),
            );
        }
        Ok(item)
    }

    /// Merge one attempt into its event's record: one `UpdateItem`, no read.
    async fn record_one(&self, entry: &HistoryEntry<'_>) -> Result<(), StoreError> {
        let key = entry.envelope.key.as_str();
        let mut set = Vec::new();
        let mut values = Item::new();
        for (name, value, how) in self.attempt_fields(entry).await? {
            let path = if name == "ttl" { "#ttl" } else { name };
            set.push(match how {
                Write::Once => format!("{path} = if_not_exists({path}, :{name})"),
                Write::Every => format!("{path} = :{name}"),
            });
            values.insert(format!(":{name}"), value);
        }
        let add = match counter_of(entry.attempt.state) {
            Some(counter) => {
                values.insert(":one".into(), n(1));
                format!(" ADD {counter} :one")
            }
            None => String::new(),
        };
        let base = format!("SET {}", set.join(", "));
        let update = |expression: String, condition: Option<&str>, values: Item| {
            let mut u = self
                .client()
                .update_item()
                .table_name(self.table())
                .key("pk", s(format!("E#{key}")))
                .update_expression(expression)
                .expression_attribute_names("#ttl", "ttl")
                .set_expression_attribute_values(Some(values));
            if let Some(c) = condition {
                u = u.condition_expression(c);
            }
            u.send()
        };
        if entry.attempt.state == EventState::Duplicate {
            update(format!("{base}{add}"), None, values)
                .await
                .map_err(unavailable("DynamoDB UpdateItem (history) failed"))?;
            return Ok(());
        }
        let mut with_attempt = values.clone();
        with_attempt.insert(
            ":att".into(),
            AttributeValue::L(vec![s(attempt_json(entry)?)]),
        );
        with_attempt.insert(":none".into(), AttributeValue::L(Vec::new()));
        with_attempt.insert(":max".into(), n(MAX_ATTEMPTS_STORED));
        let appended = update(
            format!("{base}, att = list_append(if_not_exists(att, :none), :att){add}"),
            Some("attribute_not_exists(att) OR size(att) < :max"),
            with_attempt,
        )
        .await;
        match appended {
            Ok(_) => Ok(()),
            Err(e)
                if e.as_service_error()
                    .is_some_and(|se| se.is_conditional_check_failed_exception()) =>
            {
                // The timeline is full: the state and the count still move.
                update(format!("{base}{add}"), None, values)
                    .await
                    .map_err(unavailable("DynamoDB UpdateItem (history) failed"))?;
                Ok(())
            }
            Err(e) => Err(unavailable("DynamoDB UpdateItem (history) failed")(e)),
        }
    }

    /// Up to `want` index items of one day's shards matching `filter`, newest first,
    /// with sort keys in `lo..=hi`.
    async fn day_page(
        &self,
        day: &str,
        lo: &str,
        hi: &str,
        filter: &EventFilter,
        want: usize,
    ) -> Result<Vec<Item>, StoreError> {
        let shards = futures::future::join_all(
            (0..self.history_shards())
                .map(|shard| self.shard_page(day, shard, lo, hi, filter, want)),
        )
        .await;
        let mut found: Vec<Item> = Vec::new();
        for items in shards {
            found.extend(items?);
        }
        found.sort_by_key(|i| std::cmp::Reverse(text(i, "rk")));
        found.truncate(want);
        Ok(found)
    }

    /// Up to `want` index items of one shard of one day (see [`Self::day_page`]).
    async fn shard_page(
        &self,
        day: &str,
        shard: u16,
        lo: &str,
        hi: &str,
        filter: &EventFilter,
        want: usize,
    ) -> Result<Vec<Item>, StoreError> {
        let mut found: Vec<Item> = Vec::new();
        {
            let mut start = None;
            let mut from_shard = 0;
            loop {
                let mut q = self
                    .client()
                    .query()
                    .table_name(self.table())
                    .index_name(EVENTS_INDEX)
                    .key_condition_expression("ed = :ed AND rk BETWEEN :lo AND :hi")
                    .expression_attribute_values(":ed", s(format!("{day}#{shard}")))
                    .expression_attribute_values(":lo", s(lo))
                    .expression_attribute_values(":hi", s(hi))
                    .scan_index_forward(false)
                    .set_exclusive_start_key(start.take());
                let (conditions, values) = filter_expression(filter);
                if !conditions.is_empty() {
                    q = q
                        .filter_expression(conditions)
                        .set_expression_attribute_values(Some({
                            let mut all: Item = values;
                            all.insert(":ed".into(), s(format!("{day}#{shard}")));
                            all.insert(":lo".into(), s(lo));
                            all.insert(":hi".into(), s(hi));
                            all
                        }));
                }
                let out = q
                    .send()
                    .await
                    .map_err(unavailable("DynamoDB Query (event history) failed"))?;
                for item in out.items.unwrap_or_default() {
                    found.push(item);
                    from_shard += 1;
                }
                match out.last_evaluated_key {
                    Some(k) if !k.is_empty() && from_shard < want => start = Some(k),
                    _ => break,
                }
            }
        }
        Ok(found)
    }
}

#[async_trait]
impl History for DynamoStore {
    /// A key's first attempt is written whole, with the batch's other first attempts, in
    /// one `BatchWriteItem` per 25 (one call, not one each; a put is one unit per KB like
    /// the update it replaces); any other attempt is merged into its record by
    /// [`DynamoStore::record_one`], distinct keys concurrently, two attempts of one key in
    /// order. Both at once.
    async fn record(&self, entries: &[HistoryEntry<'_>]) -> Result<(), StoreError> {
        let keys: Vec<&str> = entries.iter().map(|e| e.envelope.key.as_str()).collect();
        // Each key's attempts, in order. A key's first attempt alone in the batch is
        // written whole (a batch write takes a key once); any other group is merged.
        let (whole, merged): (Vec<Vec<usize>>, Vec<Vec<usize>>) =
            inlet_core::ports::group_by_entity(&keys)
                .into_iter()
                .partition(|members| members.len() == 1 && entries[members[0]].first);
        let whole: Vec<usize> = whole.into_iter().flatten().collect();
        // One batch write per 25 records, each built for its chunk (no copy of the items).
        let write_whole =
            futures::future::join_all(whole.chunks(crate::dynamo::BATCH_WRITE_MAX).map(
                |chunk| async move {
                    let mut items = Vec::with_capacity(chunk.len());
                    for &i in chunk {
                        items.push(self.first_item(&entries[i]).await?);
                    }
                    match self.put_items(items, "history").await.into_iter().next() {
                        Some((_, e)) => Err(e),
                        None => Ok(()),
                    }
                },
            ));
        let merge = futures::future::join_all(merged.into_iter().map(|members| async move {
            for i in members {
                self.record_one(&entries[i]).await?;
            }
            Ok::<_, StoreError>(())
        }));
        let (whole, merged) = futures::join!(write_whole, merge);
        whole.into_iter().chain(merged).collect()
    }

    async fn event(
        &self,
        key: &str,
        now: OffsetDateTime,
    ) -> Result<Option<EventRecord>, StoreError> {
        let out = self
            .client()
            .get_item()
            .table_name(self.table())
            .key("pk", s(format!("E#{key}")))
            .consistent_read(true)
            .send()
            .await
            .map_err(unavailable("DynamoDB GetItem (event history) failed"))?;
        let Some(item) = out.item else {
            return Ok(None);
        };
        let mut record = record_of(&item)?;
        if record.expires_at <= now {
            return Ok(None);
        }
        let counted = self.ledger_duplicates(&[key]).await?;
        record.duplicates = record
            .duplicates
            .saturating_add(counted.get(key).copied().unwrap_or(0));
        if let Some(p) = text(&item, "plp") {
            let pointer = crate::claim_check::pointer_of(&p)
                .unwrap_or_else(|| Err("not a claim-check pointer".into()))
                .map_err(|e| bad_item(&format!("payload pointer: {e}")))?;
            let encoded = crate::claim_check::ClaimCheck::new(self.client().clone(), self.table())
                .load(&pointer)
                .await?;
            use base64::Engine as _;
            record.envelope.body = base64::engine::general_purpose::STANDARD
                .decode(encoded)
                .map_err(|e| bad_item(&format!("payload chunks do not decode: {e}")))?;
        }
        Ok(Some(record))
    }

    async fn events(
        &self,
        filter: &EventFilter,
        limit: usize,
        after: Option<&str>,
        now: OffsetDateTime,
    ) -> Result<EventPage, StoreError> {
        let now_ms = unix_millis(now);
        let since = filter
            .since
            .map_or(now_ms - DEFAULT_LOOKBACK_DAYS * DAY_MS, unix_millis);
        let until = filter.until.map_or(now_ms + DAY_MS, unix_millis);
        // The cursor is the sort key of the last event shown.
        let cursor = after.map(str::to_string);
        let top = match &cursor {
            Some(c) => c
                .split_once('#')
                .and_then(|(ms, _)| ms.parse::<i64>().ok())
                .ok_or_else(|| {
                    StoreError::Invalid(format!(
                        "{c:?} is not a page cursor from `inlet events list`"
                    ))
                })?,
            None => until,
        };
        let want = limit.saturating_add(1);
        let mut found: Vec<Item> = Vec::new();
        let mut day_start = top - top.rem_euclid(DAY_MS);
        while day_start + DAY_MS > since && found.len() < want {
            let day = day_of(day_start);
            let lo = sort_key(since.max(day_start), "");
            let cursor_day = cursor.is_some() && day_start <= top && top < day_start + DAY_MS;
            let hi = match &cursor {
                Some(c) if cursor_day => c.clone(),
                _ => sort_key(until.min(day_start + DAY_MS) - 1, "\u{10FFFF}"),
            };
            // The range is inclusive: on the cursor's day the last event shown comes back
            // too and is dropped below, so ask for one more.
            let page = self
                .day_page(
                    &day,
                    &lo,
                    &hi,
                    filter,
                    want - found.len() + usize::from(cursor_day),
                )
                .await?;
            found.extend(page.into_iter().filter(|i| {
                cursor
                    .as_deref()
                    .is_none_or(|c| text(i, "rk").as_deref() != Some(c))
                    && number(i, "ex").is_some_and(|ex| ex > now_ms)
            }));
            day_start -= DAY_MS;
        }
        let mut events = found.iter().map(record_of).collect::<Result<Vec<_>, _>>()?;
        let next = if events.len() > limit {
            events.truncate(limit);
            found.get(limit - 1).and_then(|i| text(i, "rk"))
        } else {
            None
        };
        let keys: Vec<&str> = events.iter().map(|e| e.envelope.key.as_str()).collect();
        let counted = self.ledger_duplicates(&keys).await?;
        // The index projects no attempts or payload; say so rather than show none.
        for e in &mut events {
            e.attempts.clear();
            e.duplicates = e
                .duplicates
                .saturating_add(counted.get(e.envelope.key.as_str()).copied().unwrap_or(0));
        }
        Ok(EventPage { events, next })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn item_with(name: &str, bytes: Vec<u8>) -> Item {
        HashMap::from([(name.to_string(), AttributeValue::B(Blob::new(bytes)))])
    }

    #[test]
    fn json_is_stored_compressed_and_reads_back_byte_for_byte() {
        let body = serde_json::json!({
            "id": "evt_1", "type": "invoice.paid",
            "data": {"object": {"lines": (0..20).map(|i| serde_json::json!({
                "id": format!("il_{i}"), "amount": 1299 + i, "currency": "eur",
                "description": "Subscription (Pro plan, monthly)"
            })).collect::<Vec<_>>()}}
        })
        .to_string()
        .into_bytes();
        let (name, stored) = packed_payload(&body);
        assert_eq!(name, COMPRESSED_PAYLOAD);
        assert!(
            stored.len() * 3 < body.len(),
            "{} of {}",
            stored.len(),
            body.len()
        );
        assert_eq!(
            stored_payload(&item_with(name, stored)).unwrap(),
            Some(body)
        );
    }

    #[test]
    fn a_payload_that_does_not_shrink_is_stored_as_it_came() {
        let mut rng = fastrand::Rng::with_seed(7);
        let body: Vec<u8> = (0..4096).map(|_| rng.u8(..)).collect();
        let (name, stored) = packed_payload(&body);
        assert_eq!((name, &stored), (RAW_PAYLOAD, &body));
        assert_eq!(
            stored_payload(&item_with(name, stored)).unwrap(),
            Some(body)
        );
        // And the empty body.
        assert_eq!(packed_payload(b""), (RAW_PAYLOAD, Vec::new()));
    }

    #[test]
    fn records_written_before_compression_still_read() {
        let item = item_with(RAW_PAYLOAD, b"{\"id\":\"evt_old\"}".to_vec());
        assert_eq!(
            stored_payload(&item).unwrap().as_deref(),
            Some(&b"{\"id\":\"evt_old\"}"[..])
        );
        assert_eq!(stored_payload(&Item::new()).unwrap(), None);
    }

    #[test]
    fn a_damaged_or_oversized_compressed_payload_is_an_error_not_a_short_body() {
        let (_, mut stored) = packed_payload(&vec![b'a'; 10_000]);
        // Truncated: the stream ends before its last block.
        stored.truncate(stored.len() / 2);
        let err = stored_payload(&item_with(COMPRESSED_PAYLOAD, stored)).unwrap_err();
        assert!(err.to_string().contains("does not inflate"), "{err}");
        // Not DEFLATE at all (block type 3 is reserved).
        let err = stored_payload(&item_with(COMPRESSED_PAYLOAD, vec![0xff; 64])).unwrap_err();
        assert!(err.to_string().contains("does not inflate"), "{err}");
        // A few KB that inflate to more than any inline payload: refused, not read whole.
        let (_, bomb) = packed_payload(&vec![0u8; INLINE_PAYLOAD_MAX * 4]);
        assert!(bomb.len() < 4096);
        let err = stored_payload(&item_with(COMPRESSED_PAYLOAD, bomb)).unwrap_err();
        assert!(err.to_string().contains("inflates past"), "{err}");
    }
}
