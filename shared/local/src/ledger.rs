//! The idempotency ledger and entity versions on the embedded store: conditional writes
//! inside the writer's transaction, as DynamoDB's are on AWS.

use std::time::Duration;

use async_trait::async_trait;
use rusqlite::{params, Connection, OptionalExtension};
use time::OffsetDateTime;

use inlet_core::clock::{from_unix_millis, unix_millis};
use inlet_core::ids::EventKey;
use inlet_core::ports::{
    Claim, Completion, EntityVersions, Ledger, LedgerEntry, LedgerState, StoreError, VersionCheck,
};

use crate::store::{each, exec, one, one_result, sql_err, Store};

/// Claim `key` in the writer's transaction (see [`Ledger::claim`]).
fn claim_in(
    c: &Connection,
    key: &str,
    hash: &str,
    now: i64,
    lease_until: i64,
) -> Result<Claim, StoreError> {
    let row: Option<(String, String, Option<i64>, Option<i64>)> = one(
        c,
        "SELECT state, payload_sha256, lease_until, expires_at FROM ledger WHERE key = ?1",
        params![key],
        |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?)),
    )
    .optional()
    .map_err(sql_err("claim"))?;
    match row {
        Some((state, stored, _, Some(expires))) if state == "COMPLETED" && expires > now => {
            let same_payload = stored == hash || stored.is_empty() || hash.is_empty();
            return Ok(Claim::Duplicate { same_payload });
        }
        Some((state, _, Some(until), _)) if state == "IN_PROGRESS" && until > now => {
            return Ok(Claim::InFlight {
                lease_until: from_unix_millis(until),
            });
        }
        _ => {}
    }
    exec(
        c,
        "INSERT INTO ledger (key, state, payload_sha256, lease_until, expires_at, outcome, updated_at)
         VALUES (?1, 'IN_PROGRESS', ?2, ?3, NULL, NULL, ?4)
         ON CONFLICT (key) DO UPDATE SET state = 'IN_PROGRESS', payload_sha256 = excluded.payload_sha256,
            lease_until = excluded.lease_until, expires_at = NULL, outcome = NULL, updated_at = excluded.updated_at",
        params![key, hash, lease_until, now],
    )
    .map_err(sql_err("claim"))?;
    // The embedded history merges an attempt in the writer's transaction: it never needs
    // to know.
    Ok(Claim::Acquired { first: false })
}

/// Advance `entity` to `version` in the writer's transaction (see
/// [`EntityVersions::advance`]).
fn advance_in(
    c: &Connection,
    entity: &str,
    version: i64,
    now: i64,
) -> Result<VersionCheck, StoreError> {
    let current: Option<i64> = one(
        c,
        "SELECT version FROM entity_versions WHERE entity = ?1",
        params![entity],
        |r| r.get(0),
    )
    .optional()
    .map_err(sql_err("version"))?;
    if let Some(current) = current.filter(|cur| *cur > version) {
        return Ok(VersionCheck::Stale { current });
    }
    exec(
        c,
        "INSERT INTO entity_versions (entity, version, updated_at) VALUES (?1, ?2, ?3)
         ON CONFLICT (entity) DO UPDATE SET version = max(version, excluded.version), updated_at = excluded.updated_at",
        params![entity, version, now],
    )
    .map_err(sql_err("version"))?;
    Ok(VersionCheck::Current)
}

#[async_trait]
impl Ledger for Store {
    async fn claim(
        &self,
        key: &EventKey,
        payload_sha256: &str,
        now: OffsetDateTime,
        lease: Duration,
    ) -> Result<Claim, StoreError> {
        one_result(self.claim_many(&[(key, payload_sha256)], now, lease).await)
    }

    /// One job for the whole batch, each key claimed in order.
    async fn claim_many(
        &self,
        claims: &[(&EventKey, &str)],
        now: OffsetDateTime,
        lease: Duration,
    ) -> Vec<Result<Claim, StoreError>> {
        let rows: Vec<(String, String)> = claims
            .iter()
            .map(|(key, hash)| (key.to_string(), hash.to_string()))
            .collect();
        let n = rows.len();
        let now = unix_millis(now);
        let lease_until = now.saturating_add(lease.as_millis() as i64);
        let done = self
            .run(move |c| {
                rows.iter()
                    .map(|(key, hash)| claim_in(c, key, hash, now, lease_until))
                    .collect()
            })
            .await;
        each(done, n)
    }

    async fn complete(
        &self,
        key: &EventKey,
        outcome: Completion,
        now: OffsetDateTime,
        retention: Duration,
    ) -> Result<(), StoreError> {
        one_result(
            self.complete_many(&[(key, "", outcome)], now, retention)
                .await,
        )
    }

    /// One job for the whole batch: one trip to the writer thread, one savepoint.
    async fn complete_many(
        &self,
        completions: &[(&EventKey, &str, Completion)],
        now: OffsetDateTime,
        retention: Duration,
    ) -> Vec<Result<(), StoreError>> {
        // The row is updated in place, so the payload hash its claim recorded stays.
        let rows: Vec<(String, &'static str)> = completions
            .iter()
            .map(|(key, _, outcome)| (key.to_string(), outcome.as_str()))
            .collect();
        let n = rows.len();
        let now = unix_millis(now);
        let expires = now.saturating_add(retention.as_millis() as i64);
        let done = self
            .run(move |c| {
                for (key, outcome) in &rows {
                    exec(
                        c,
                        "INSERT INTO ledger (key, state, payload_sha256, lease_until, expires_at, outcome, updated_at)
                         VALUES (?1, 'COMPLETED', '', NULL, ?2, ?3, ?4)
                         ON CONFLICT (key) DO UPDATE SET state = 'COMPLETED', lease_until = NULL,
                            expires_at = excluded.expires_at, outcome = excluded.outcome, updated_at = excluded.updated_at",
                        params![key, expires, outcome, now],
                    )
                    .map_err(sql_err("complete"))?;
                }
                Ok(vec![(); rows.len()])
            })
            .await;
        each(done, n)
    }

    async fn release(
        &self,
        key: &EventKey,
        _now: OffsetDateTime,
        _retention: Duration,
    ) -> Result<(), StoreError> {
        let key = key.to_string();
        self.run(move |c| {
            exec(
                c,
                "DELETE FROM ledger WHERE key = ?1 AND state = 'IN_PROGRESS'",
                params![key],
            )
            .map_err(sql_err("release"))?;
            Ok(())
        })
        .await
    }

    async fn lookup(
        &self,
        key: &EventKey,
        now: OffsetDateTime,
    ) -> Result<Option<LedgerEntry>, StoreError> {
        let key = key.to_string();
        let now = unix_millis(now);
        self.run(move |c| {
            let row: Option<(String, String, Option<i64>, Option<i64>, Option<String>)> = one(c,
                    "SELECT state, payload_sha256, lease_until, expires_at, outcome FROM ledger WHERE key = ?1",
                    params![key],
                    |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?, r.get(4)?)),
                )
                .optional()
                .map_err(sql_err("lookup"))?;
            Ok(row.and_then(|(state, hash, lease, expires, outcome)| {
                let state = if state == "COMPLETED" {
                    let expires = expires.unwrap_or(0);
                    if expires <= now {
                        return None;
                    }
                    LedgerState::Completed {
                        outcome: outcome.unwrap_or_default(),
                        expires_at: from_unix_millis(expires),
                    }
                } else {
                    LedgerState::InProgress { lease_until: from_unix_millis(lease.unwrap_or(0)) }
                };
                Some(LedgerEntry { key: key.clone(), payload_sha256: hash, state })
            }))
        })
        .await
    }
}

#[async_trait]
impl EntityVersions for Store {
    async fn advance(&self, entity: &str, version: i64) -> Result<VersionCheck, StoreError> {
        one_result(self.advance_many(&[(entity, version)]).await)
    }

    /// One job for the whole batch, in order (two versions of one entity: the second sees
    /// the first).
    async fn advance_many(
        &self,
        versions: &[(&str, i64)],
    ) -> Vec<Result<VersionCheck, StoreError>> {
        let rows: Vec<(String, i64)> = versions
            .iter()
            .map(|(entity, version)| (entity.to_string(), *version))
            .collect();
        let n = rows.len();
        let now = self.now_ms();
        let done = self
            .run(move |c| {
                rows.iter()
                    .map(|(entity, version)| advance_in(c, entity, *version, now))
                    .collect()
            })
            .await;
        each(done, n)
    }
}
