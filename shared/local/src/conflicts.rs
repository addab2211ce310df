//! Conflict-rule state and the review queue on the embedded store (see
//! [`ConflictStore`]): `entity_state` rows with a revision for the compare-and-set, and
//! `reviews` rows holding each review as JSON.

use async_trait::async_trait;
use rusqlite::{params, OptionalExtension};
use time::OffsetDateTime;

use inlet_core::clock::unix_millis;
use inlet_core::conflict::EntityState;
use inlet_core::ports::{ConflictStore, Review, ReviewStatus, StoreError};

use crate::store::{exec, one, sql_err, Store};

pub(crate) fn decode<T: serde::de::DeserializeOwned>(
    what: &str,
    text: &str,
) -> Result<T, StoreError> {
    serde_json::from_str(text)
        .map_err(|e| StoreError::Invalid(format!("stored {what} does not decode: {e}")))
}

pub(crate) fn encode<T: serde::Serialize>(value: &T) -> Result<String, StoreError> {
    serde_json::to_string(value).map_err(|e| StoreError::Invalid(e.to_string()))
}

#[async_trait]
impl ConflictStore for Store {
    async fn load_entity(&self, entity: &str) -> Result<(EntityState, u64), StoreError> {
        let entity = entity.to_string();
        let row: Option<(i64, String)> = self
            .run(move |c| {
                one(
                    c,
                    "SELECT rev, state FROM entity_state WHERE entity = ?1",
                    params![entity],
                    |r| Ok((r.get(0)?, r.get(1)?)),
                )
                .optional()
                .map_err(sql_err("entity state"))
            })
            .await?;
        match row {
            None => Ok((EntityState::default(), 0)),
            Some((rev, state)) => Ok((decode("entity state", &state)?, rev.max(0) as u64)),
        }
    }

    async fn save_entity(
        &self,
        entity: &str,
        state: &EntityState,
        expected: u64,
    ) -> Result<bool, StoreError> {
        let entity = entity.to_string();
        let text = encode(state)?;
        let max_version = state.max_version();
        let expected =
            i64::try_from(expected).map_err(|_| StoreError::Invalid("revision overflow".into()))?;
        let now = self.now_ms();
        self.run(move |c| {
            let changed = if expected == 0 {
                exec(
                    c,
                    "INSERT INTO entity_state (entity, rev, state, updated_at) VALUES (?1, 1, ?2, ?3)
                     ON CONFLICT (entity) DO NOTHING",
                    params![entity, text, now],
                )
            } else {
                exec(
                    c,
                    "UPDATE entity_state SET rev = rev + 1, state = ?2, updated_at = ?3
                     WHERE entity = ?1 AND rev = ?4",
                    params![entity, text, now, expected],
                )
            }
            .map_err(sql_err("entity state"))?;
            // The plain version check resumes from here should the rule be removed.
            if let (1, Some(v)) = (changed, max_version) {
                exec(
                    c,
                    "INSERT INTO entity_versions (entity, version, updated_at) VALUES (?1, ?2, ?3)
                     ON CONFLICT (entity) DO UPDATE SET version = max(version, excluded.version), updated_at = excluded.updated_at",
                    params![entity, v, now],
                )
                .map_err(sql_err("version"))?;
            }
            Ok(changed == 1)
        })
        .await
    }

    async fn hold(&self, review: &Review) -> Result<(), StoreError> {
        let key = review.key.clone();
        let held_at = unix_millis(review.held_at);
        let text = encode(review)?;
        self.run(move |c| {
            // A redelivered copy of a held event replaces a pending review, never a closed one.
            exec(
                c,
                "INSERT INTO reviews (key, status, held_at, resolved_at, review) VALUES (?1, 'pending', ?2, NULL, ?3)
                 ON CONFLICT (key) DO UPDATE SET review = excluded.review WHERE status = 'pending'",
                params![key, held_at, text],
            )
            .map_err(sql_err("hold"))?;
            Ok(())
        })
        .await
    }

    async fn pending_reviews(&self, limit: usize) -> Result<Vec<Review>, StoreError> {
        let limit = i64::try_from(limit).unwrap_or(i64::MAX);
        let rows: Vec<String> = self
            .run(move |c| {
                let mut stmt = c
                    .prepare_cached(
                        "SELECT review FROM reviews WHERE status = 'pending' ORDER BY held_at, key LIMIT ?1",
                    )
                    .map_err(sql_err("reviews"))?;
                let rows = stmt
                    .query_map(params![limit], |r| r.get(0))
                    .map_err(sql_err("reviews"))?
                    .collect::<Result<Vec<String>, _>>()
                    .map_err(sql_err("reviews"));
                rows
            })
            .await?;
        rows.iter().map(|text| decode("review", text)).collect()
    }

    async fn review(&self, key: &str) -> Result<Option<Review>, StoreError> {
        let key = key.to_string();
        let row: Option<(String, String, Option<i64>)> = self
            .run(move |c| {
                one(
                    c,
                    "SELECT review, status, resolved_at FROM reviews WHERE key = ?1",
                    params![key],
                    |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
                )
                .optional()
                .map_err(sql_err("review"))
            })
            .await?;
        let Some((text, status, resolved_at)) = row else {
            return Ok(None);
        };
        let mut review: Review = decode("review", &text)?;
        review.status = ReviewStatus::parse(&status)
            .ok_or_else(|| StoreError::Invalid(format!("stored review status {status:?}")))?;
        review.resolved_at = resolved_at.map(inlet_core::clock::from_unix_millis);
        Ok(Some(review))
    }

    async fn close_review(
        &self,
        key: &str,
        status: ReviewStatus,
        at: OffsetDateTime,
    ) -> Result<bool, StoreError> {
        let key = key.to_string();
        let at = unix_millis(at);
        self.run(move |c| {
            let n = exec(
                c,
                "UPDATE reviews SET status = ?2, resolved_at = ?3 WHERE key = ?1 AND status = 'pending'",
                params![key, status.as_str(), at],
            )
            .map_err(sql_err("close review"))?;
            Ok(n == 1)
        })
        .await
    }
}
