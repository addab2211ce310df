//! Reconciliation cursors on the embedded store.

use async_trait::async_trait;
use rusqlite::{params, OptionalExtension};

use inlet_core::ports::{Cursors, StoreError};

use crate::store::{exec, one, sql_err, Store};

#[async_trait]
impl Cursors for Store {
    async fn load(&self, source: &str) -> Result<Option<String>, StoreError> {
        let source = source.to_string();
        self.run(move |c| {
            one(
                c,
                "SELECT cursor FROM cursors WHERE source = ?1",
                params![source],
                |r| r.get(0),
            )
            .optional()
            .map_err(sql_err("cursor load"))
        })
        .await
    }

    async fn save(&self, source: &str, cursor: &str) -> Result<(), StoreError> {
        let source = source.to_string();
        let cursor = cursor.to_string();
        let now = self.now_ms();
        self.run(move |c| {
            exec(c,
                "INSERT INTO cursors (source, cursor, updated_at) VALUES (?1, ?2, ?3)
                 ON CONFLICT (source) DO UPDATE SET cursor = excluded.cursor, updated_at = excluded.updated_at",
                params![source, cursor, now],
            )
            .map_err(sql_err("cursor save"))?;
            Ok(())
        })
        .await
    }
}
