//! Learned payload shapes and schema-drift findings on the embedded store (see
//! [`Shapes`]): a `shapes` row per provider event type (the shape as JSON, merged inside the
//! writer's transaction) and a `drift_findings` row per finding (inserted once by id).

use async_trait::async_trait;
use rusqlite::{params, OptionalExtension};
use time::OffsetDateTime;

use inlet_core::clock::unix_millis;
use inlet_core::ports::{Shapes, StoreError, StoredShape};
use inlet_core::shape::{Finding, FindingStatus, Shape};

use crate::conflicts::{decode, encode};
use crate::store::{exec, one, sql_err, Store};

/// Read a shape (empty when none is stored), let `step` change it, and write it back when
/// `step` says it changed; inside the writer's transaction, so no other merge interleaves.
fn change_shape(
    c: &rusqlite::Connection,
    provider: &str,
    event_type: &str,
    now_ms: i64,
    step: impl FnOnce(&mut Shape) -> bool,
) -> Result<Shape, StoreError> {
    let stored: Option<String> = one(
        c,
        "SELECT shape FROM shapes WHERE provider = ?1 AND event_type = ?2",
        params![provider, event_type],
        |r| r.get(0),
    )
    .optional()
    .map_err(sql_err("shape"))?;
    let mut shape: Shape = match stored {
        Some(text) => decode("shape", &text)?,
        None => Shape::default(),
    };
    if step(&mut shape) {
        exec(
            c,
            "INSERT INTO shapes (provider, event_type, shape, updated_at) VALUES (?1, ?2, ?3, ?4)
             ON CONFLICT (provider, event_type) DO UPDATE SET shape = excluded.shape, updated_at = excluded.updated_at",
            params![provider, event_type, encode(&shape)?, now_ms],
        )
        .map_err(sql_err("shape"))?;
    }
    Ok(shape)
}

#[async_trait]
impl Shapes for Store {
    async fn load_shapes(&self) -> Result<Vec<StoredShape>, StoreError> {
        let rows: Vec<(String, String, String)> = self
            .run(|c| {
                let mut stmt = c
                    .prepare_cached("SELECT provider, event_type, shape FROM shapes")
                    .map_err(sql_err("shapes"))?;
                let rows = stmt
                    .query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))
                    .map_err(sql_err("shapes"))?
                    .collect::<Result<Vec<_>, _>>()
                    .map_err(sql_err("shapes"));
                rows
            })
            .await?;
        rows.into_iter()
            .map(|(provider, event_type, text)| {
                Ok(StoredShape {
                    provider,
                    event_type,
                    shape: decode("shape", &text)?,
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
        let (provider, event_type, learned) = (
            provider.to_string(),
            event_type.to_string(),
            learned.clone(),
        );
        let now = self.now_ms();
        self.run(move |c| {
            change_shape(c, &provider, &event_type, now, |shape| {
                if learned == Shape::default() {
                    return false;
                }
                shape.merge(&learned);
                true
            })
        })
        .await
    }

    async fn add_findings(&self, findings: &[Finding]) -> Result<Vec<bool>, StoreError> {
        let rows = findings
            .iter()
            .map(|f| Ok((f.id.clone(), unix_millis(f.first_seen), encode(f)?)))
            .collect::<Result<Vec<_>, StoreError>>()?;
        self.run(move |c| {
            rows.iter()
                .map(|(id, first_seen, text)| {
                    exec(
                        c,
                        "INSERT INTO drift_findings (id, status, first_seen, finding) VALUES (?1, 'open', ?2, ?3)
                         ON CONFLICT (id) DO NOTHING",
                        params![id, first_seen, text],
                    )
                    .map(|n| n == 1)
                    .map_err(sql_err("finding"))
                })
                .collect()
        })
        .await
    }

    async fn findings(
        &self,
        include_accepted: bool,
        limit: usize,
    ) -> Result<Vec<Finding>, StoreError> {
        let limit = i64::try_from(limit).unwrap_or(i64::MAX);
        let rows: Vec<String> = self
            .run(move |c| {
                let mut stmt = c
                    .prepare_cached(
                        "SELECT finding FROM drift_findings WHERE status = 'open' OR ?1
                         ORDER BY first_seen DESC, id LIMIT ?2",
                    )
                    .map_err(sql_err("findings"))?;
                let rows = stmt
                    .query_map(params![include_accepted, limit], |r| r.get(0))
                    .map_err(sql_err("findings"))?
                    .collect::<Result<Vec<String>, _>>()
                    .map_err(sql_err("findings"));
                rows
            })
            .await?;
        rows.iter().map(|text| decode("finding", text)).collect()
    }

    async fn accept_finding(
        &self,
        id: &str,
        at: OffsetDateTime,
    ) -> Result<Option<Finding>, StoreError> {
        let id = id.to_string();
        let now = unix_millis(at);
        self.run(move |c| {
            let stored: Option<String> = one(
                c,
                "SELECT finding FROM drift_findings WHERE id = ?1",
                params![id],
                |r| r.get(0),
            )
            .optional()
            .map_err(sql_err("finding"))?;
            let Some(text) = stored else { return Ok(None) };
            let mut finding: Finding = decode("finding", &text)?;
            if finding.status == FindingStatus::Accepted {
                return Ok(Some(finding));
            }
            finding.status = FindingStatus::Accepted;
            finding.accepted_at = Some(at);
            exec(
                c,
                "UPDATE drift_findings SET status = 'accepted', finding = ?2 WHERE id = ?1",
                params![id, encode(&finding)?],
            )
            .map_err(sql_err("finding"))?;
            // The shape takes the change in, so the next such event is not drift.
            change_shape(c, &finding.provider, &finding.event_type, now, |shape| {
                shape.accept(&finding);
                true
            })?;
            Ok(Some(finding))
        })
        .await
    }
}
