//! Connections and call budgets on the embedded store (see [`ConnectionStore`]): a row per
//! connection with its generation for the compare-and-set, and a row per budget window.
//! Every change is one statement in the store's single writer, so each is atomic across
//! the tasks of `inlet dev` (and the processes sharing the file). The tokens sit in the
//! database file, as readable as `.inlet/` is: keep that directory private.

use async_trait::async_trait;
use rusqlite::{params, OptionalExtension};

use inlet_core::connection::{ConnectionStore, Spend, StoredConnection, TokenPair, Window};
use inlet_core::ports::StoreError;
use inlet_core::secret::Secret;

use crate::store::{exec, sql_err, Store};

const COLUMNS: &str = "name, generation, access, access_exp, refresh, obtained, lease_until, broken, last_refresh, last_failure";

fn row(r: &rusqlite::Row<'_>) -> rusqlite::Result<(String, StoredConnection)> {
    let refresh: Option<String> = r.get(4)?;
    Ok((
        r.get(0)?,
        StoredConnection {
            pair: Some(TokenPair {
                access_token: Secret::new(r.get::<_, String>(2)?),
                access_expires_at_ms: r.get(3)?,
                refresh_token: refresh.map(Secret::new),
                obtained_at_ms: r.get(5)?,
            }),
            generation: u64::try_from(r.get::<_, i64>(1)?).unwrap_or(0),
            refresh_lease_until_ms: r.get(6)?,
            broken: r.get(7)?,
            last_refresh_ms: r.get(8)?,
            last_failure: r.get(9)?,
        },
    ))
}

/// A pair as its columns: access token, its expiry, refresh token, when obtained.
fn pair_columns(pair: &TokenPair) -> (String, i64, Option<String>, i64) {
    (
        pair.access_token.expose().to_string(),
        pair.access_expires_at_ms,
        pair.refresh_token.as_ref().map(|r| r.expose().to_string()),
        pair.obtained_at_ms,
    )
}

#[async_trait]
impl ConnectionStore for Store {
    async fn load(&self, name: &str) -> Result<Option<StoredConnection>, StoreError> {
        let name = name.to_string();
        self.run(move |c| {
            c.prepare_cached(&format!(
                "SELECT {COLUMNS} FROM connections WHERE name = ?1"
            ))
            .and_then(|mut s| s.query_row(params![name], row).optional())
            .map(|r| r.map(|(_, s)| s))
            .map_err(sql_err("connection load"))
        })
        .await
    }

    async fn seed(&self, name: &str, pair: &TokenPair) -> Result<(), StoreError> {
        let name = name.to_string();
        let (access, exp, refresh, obtained) = pair_columns(pair);
        self.run(move |c| {
            exec(
                c,
                "INSERT INTO connections (name, generation, access, access_exp, refresh, obtained)
                 VALUES (?1, 0, ?2, ?3, ?4, ?5) ON CONFLICT (name) DO NOTHING",
                params![name, access, exp, refresh, obtained],
            )
            .map(|_| ())
            .map_err(sql_err("connection seed"))
        })
        .await
    }

    async fn try_lease(
        &self,
        name: &str,
        generation: u64,
        now_ms: i64,
        until_ms: i64,
    ) -> Result<bool, StoreError> {
        let name = name.to_string();
        let generation = i64::try_from(generation).unwrap_or(i64::MAX);
        self.run(move |c| {
            exec(
                c,
                "UPDATE connections SET lease_until = ?4
                 WHERE name = ?1 AND generation = ?2 AND broken IS NULL
                   AND (lease_until IS NULL OR lease_until <= ?3)",
                params![name, generation, now_ms, until_ms],
            )
            .map(|n| n == 1)
            .map_err(sql_err("connection lease"))
        })
        .await
    }

    async fn store_pair(
        &self,
        name: &str,
        generation: u64,
        pair: &TokenPair,
        now_ms: i64,
    ) -> Result<bool, StoreError> {
        let name = name.to_string();
        let (access, exp, refresh, obtained) = pair_columns(pair);
        let generation = i64::try_from(generation).unwrap_or(i64::MAX);
        self.run(move |c| {
            exec(
                c,
                "UPDATE connections SET generation = generation + 1, access = ?3, access_exp = ?4,
                     refresh = ?5, obtained = ?6, last_refresh = ?7, lease_until = NULL, broken = NULL
                 WHERE name = ?1 AND generation = ?2",
                params![name, generation, access, exp, refresh, obtained, now_ms],
            )
            .map(|n| n == 1)
            .map_err(sql_err("connection pair"))
        })
        .await
    }

    async fn mark_broken(&self, name: &str, reason: &str, _now_ms: i64) -> Result<(), StoreError> {
        let (name, reason) = (
            name.to_string(),
            reason.chars().take(1_000).collect::<String>(),
        );
        self.run(move |c| {
            exec(
                c,
                // An upsert: an OAuth1 connection has no stored pair before its first
                // refusal (DynamoDB's UpdateItem creates the item the same way).
                "INSERT INTO connections (name, generation, access, access_exp, obtained, broken, last_failure)
                 VALUES (?1, 0, '', 0, 0, ?2, ?2)
                 ON CONFLICT (name) DO UPDATE SET broken = ?2, last_failure = ?2, lease_until = NULL",
                params![name, reason],
            )
            .map(|_| ())
            .map_err(sql_err("connection broken"))
        })
        .await
    }

    async fn list(&self) -> Result<Vec<(String, StoredConnection)>, StoreError> {
        self.run(move |c| {
            c.prepare_cached(&format!("SELECT {COLUMNS} FROM connections ORDER BY name"))
                .and_then(|mut s| s.query_map([], row)?.collect::<rusqlite::Result<Vec<_>>>())
                .map_err(sql_err("connections"))
        })
        .await
    }

    async fn exhaust(&self, name: &str, window: Window, now_ms: i64) -> Result<(), StoreError> {
        let start = window.start_of(now_ms);
        let name = name.to_string();
        self.run(move |c| {
            exec(
                c,
                "INSERT INTO budgets (name, window, start, used) VALUES (?1, ?2, ?3, ?4)
                 ON CONFLICT (name, window, start) DO UPDATE SET used = excluded.used",
                params![name, window.as_str(), start, i64::from(u32::MAX)],
            )
            .map(|_| ())
            .map_err(sql_err("budget exhaust"))
        })
        .await
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
        let name = name.to_string();
        let granted = self
            .run(move |c| {
                // Windows before the previous one are of no further use.
                exec(
                    c,
                    "DELETE FROM budgets WHERE name = ?1 AND window = ?2 AND start < ?3",
                    params![name, window.as_str(), start - window.millis()],
                )
                .map_err(sql_err("budget cleanup"))?;
                exec(
                    c,
                    "INSERT INTO budgets (name, window, start, used) VALUES (?1, ?2, ?3, 1)
                     ON CONFLICT (name, window, start) DO UPDATE SET used = used + 1
                     WHERE budgets.used < ?4",
                    params![name, window.as_str(), start, i64::from(limit)],
                )
                .map(|n| n == 1)
                .map_err(sql_err("budget"))
            })
            .await?;
        Ok(if granted {
            Spend::Granted
        } else {
            Spend::Exhausted { window, until_ms }
        })
    }
}
