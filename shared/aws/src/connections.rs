//! Connections and call budgets in the state table.
//!
//! A connection is one item, `pk = K#{name}`: the token pair (`acc` access token, `acc_exp`
//! its expiry, `refresh_tok` refresh token, `obt` when issued), the compare-and-set's generation
//! `gen_n`, the refresh lease `lease_ms`, and `broken_reason`/`last_fail`/`last_ref` for
//! operators. The table is encrypted
//! at rest with the stack's KMS key (`SSESpecification` in `template.yaml`), so the tokens
//! are too, and only the functions' roles read the table. Items carry `pq = "connection"`
//! so `inlet connections` lists them with one Query of the sparse `pending` index.
//!
//! A budget window is one item, `pk = Q#{name}#{window}#{start}`, its count `cnt` raised by
//! a conditional `ADD` (`used < limit`): one write per call per window, shared by every
//! invocation, and kept for two windows by the table's TTL.

use async_trait::async_trait;
use aws_sdk_dynamodb::types::AttributeValue;
use inlet_core::connection::{ConnectionStore, Spend, StoredConnection, TokenPair, Window};
use inlet_core::ports::StoreError;
use inlet_core::secret::Secret;

use crate::dynamo::DynamoStore;
use crate::item::{n, number, s, text, Item};
use crate::unavailable;

const LIST_PARTITION: &str = "connection";

fn pk(name: &str) -> String {
    format!("K#{name}")
}

fn is_condition_failure<E: aws_sdk_dynamodb::error::ProvideErrorMetadata>(
    e: &aws_sdk_dynamodb::error::SdkError<E, aws_sdk_dynamodb::config::http::HttpResponse>,
) -> bool {
    e.as_service_error()
        .and_then(|e| e.code())
        .is_some_and(|c| c == "ConditionalCheckFailedException")
}

fn stored(item: &Item) -> StoredConnection {
    let pair = text(item, "refresh_tok").map(|rt| TokenPair {
        access_token: Secret::new(text(item, "acc").unwrap_or_default()),
        access_expires_at_ms: number(item, "acc_exp").unwrap_or(0),
        refresh_token: (!rt.is_empty()).then(|| Secret::new(rt)),
        obtained_at_ms: number(item, "obt").unwrap_or(0),
    });
    StoredConnection {
        pair,
        generation: number(item, "gen_n")
            .and_then(|g| u64::try_from(g).ok())
            .unwrap_or(0),
        refresh_lease_until_ms: number(item, "lease_ms"),
        broken: text(item, "broken_reason"),
        last_refresh_ms: number(item, "last_ref"),
        last_failure: text(item, "last_fail"),
    }
}

fn pair_values(pair: &TokenPair) -> [(&'static str, AttributeValue); 4] {
    [
        (":at", s(pair.access_token.expose())),
        (":ate", n(pair.access_expires_at_ms)),
        (
            ":rt",
            s(pair
                .refresh_token
                .as_ref()
                .map(|r| r.expose().to_string())
                .unwrap_or_default()),
        ),
        (":ob", n(pair.obtained_at_ms)),
    ]
}

#[async_trait]
impl ConnectionStore for DynamoStore {
    async fn load(&self, name: &str) -> Result<Option<StoredConnection>, StoreError> {
        let out = self
            .client()
            .get_item()
            .table_name(self.table())
            .key("pk", s(pk(name)))
            .consistent_read(true)
            .send()
            .await
            .map_err(unavailable("DynamoDB GetItem (connection) failed"))?;
        Ok(out.item.as_ref().map(stored))
    }

    async fn seed(&self, name: &str, pair: &TokenPair) -> Result<(), StoreError> {
        let mut req = self
            .client()
            .update_item()
            .table_name(self.table())
            .key("pk", s(pk(name)))
            .update_expression(
                "SET acc = :at, acc_exp = :ate, refresh_tok = :rt, obt = :ob, gen_n = :zero, pq = :pq, pa = :zero",
            )
            .condition_expression("attribute_not_exists(pk)")
            .expression_attribute_values(":zero", n(0))
            .expression_attribute_values(":pq", s(LIST_PARTITION));
        for (k, v) in pair_values(pair) {
            req = req.expression_attribute_values(k, v);
        }
        match req.send().await {
            Ok(_) => Ok(()),
            Err(e) if is_condition_failure(&e) => Ok(()),
            Err(e) => Err(unavailable("DynamoDB UpdateItem (connection seed) failed")(
                e,
            )),
        }
    }

    async fn try_lease(
        &self,
        name: &str,
        generation: u64,
        now_ms: i64,
        until_ms: i64,
    ) -> Result<bool, StoreError> {
        let out = self
            .client()
            .update_item()
            .table_name(self.table())
            .key("pk", s(pk(name)))
            .update_expression("SET lease_ms = :until")
            .condition_expression(
                "gen_n = :gen AND (attribute_not_exists(lease_ms) OR lease_ms <= :now) AND attribute_not_exists(broken_reason)",
            )
            .expression_attribute_values(":gen", n(i64::try_from(generation).unwrap_or(i64::MAX)))
            .expression_attribute_values(":now", n(now_ms))
            .expression_attribute_values(":until", n(until_ms))
            .send()
            .await;
        match out {
            Ok(_) => Ok(true),
            Err(e) if is_condition_failure(&e) => Ok(false),
            Err(e) => Err(unavailable("DynamoDB UpdateItem (connection lease) failed")(e)),
        }
    }

    async fn store_pair(
        &self,
        name: &str,
        generation: u64,
        pair: &TokenPair,
        now_ms: i64,
    ) -> Result<bool, StoreError> {
        let mut req = self
            .client()
            .update_item()
            .table_name(self.table())
            .key("pk", s(pk(name)))
            .update_expression(
                "SET acc = :at, acc_exp = :ate, refresh_tok = :rt, obt = :ob, gen_n = :next, last_ref = :now REMOVE lease_ms, broken_reason",
            )
            .condition_expression("gen_n = :gen")
            .expression_attribute_values(":gen", n(i64::try_from(generation).unwrap_or(i64::MAX)))
            .expression_attribute_values(
                ":next",
                n(i64::try_from(generation.saturating_add(1)).unwrap_or(i64::MAX)),
            )
            .expression_attribute_values(":now", n(now_ms));
        for (k, v) in pair_values(pair) {
            req = req.expression_attribute_values(k, v);
        }
        match req.send().await {
            Ok(_) => Ok(true),
            Err(e) if is_condition_failure(&e) => Ok(false),
            Err(e) => Err(unavailable("DynamoDB UpdateItem (connection pair) failed")(
                e,
            )),
        }
    }

    async fn mark_broken(&self, name: &str, reason: &str, now_ms: i64) -> Result<(), StoreError> {
        let reason: String = reason.chars().take(1_000).collect();
        self.client()
            .update_item()
            .table_name(self.table())
            .key("pk", s(pk(name)))
            // An upsert, as on SQLite: a connection with nothing stored yet (OAuth1) gets
            // generation 0, so `inlet connect`'s compare-and-set can clear the mark.
            .update_expression("SET broken_reason = :r, last_fail = :r, last_fail_at = :now, pq = :pq, pa = :zero, gen_n = if_not_exists(gen_n, :zero) REMOVE lease_ms")
            .expression_attribute_values(":r", s(reason))
            .expression_attribute_values(":now", n(now_ms))
            .expression_attribute_values(":pq", s(LIST_PARTITION))
            .expression_attribute_values(":zero", n(0))
            .send()
            .await
            .map_err(unavailable("DynamoDB UpdateItem (connection broken) failed"))?;
        Ok(())
    }

    async fn list(&self) -> Result<Vec<(String, StoredConnection)>, StoreError> {
        let mut out = Vec::new();
        let mut start = None;
        loop {
            let page = self
                .client()
                .query()
                .table_name(self.table())
                .index_name("pending")
                .key_condition_expression("pq = :pq")
                .expression_attribute_values(":pq", s(LIST_PARTITION))
                .set_exclusive_start_key(start.take())
                .send()
                .await
                .map_err(unavailable("DynamoDB Query (connections) failed"))?;
            for item in page.items.unwrap_or_default() {
                if let Some(name) =
                    text(&item, "pk").and_then(|p| p.strip_prefix("K#").map(str::to_string))
                {
                    out.push((name, stored(&item)));
                }
            }
            match page.last_evaluated_key {
                Some(k) if !k.is_empty() => start = Some(k),
                _ => break,
            }
        }
        out.sort_by(|a, b| a.0.cmp(&b.0));
        Ok(out)
    }

    async fn exhaust(&self, name: &str, window: Window, now_ms: i64) -> Result<(), StoreError> {
        let start = window.start_of(now_ms);
        let until_ms = start + window.millis();
        self.client()
            .update_item()
            .table_name(self.table())
            .key("pk", s(format!("Q#{name}#{}#{start}", window.as_str())))
            .update_expression("SET cnt = :full, #ttl = if_not_exists(#ttl, :ttl)")
            .expression_attribute_names("#ttl", "ttl")
            .expression_attribute_values(":full", n(i64::from(u32::MAX)))
            .expression_attribute_values(":ttl", n((until_ms + window.millis()) / 1000))
            .send()
            .await
            .map_err(unavailable("DynamoDB UpdateItem (budget exhaust) failed"))?;
        Ok(())
    }

    async fn spend(
        &self,
        name: &str,
        window: Window,
        limit: u32,
        now_ms: i64,
    ) -> Result<Spend, StoreError> {
        let start = window.start_of(now_ms);
        let until_ms = start + window.millis();
        let out = self
            .client()
            .update_item()
            .table_name(self.table())
            .key("pk", s(format!("Q#{name}#{}#{start}", window.as_str())))
            .update_expression("ADD cnt :one SET #ttl = if_not_exists(#ttl, :ttl)")
            .condition_expression("attribute_not_exists(cnt) OR cnt < :limit")
            .expression_attribute_names("#ttl", "ttl")
            .expression_attribute_values(":one", n(1))
            .expression_attribute_values(":limit", n(i64::from(limit)))
            // Kept a window past its end, then the table's TTL removes it.
            .expression_attribute_values(":ttl", n((until_ms + window.millis()) / 1000))
            .send()
            .await;
        match out {
            Ok(_) => Ok(Spend::Granted),
            Err(e) if is_condition_failure(&e) => Ok(Spend::Exhausted { window, until_ms }),
            Err(e) => Err(unavailable("DynamoDB UpdateItem (budget) failed")(e)),
        }
    }
}
