//! The work queue and its dead-letter queue on the embedded store: SQS's semantics (a
//! visibility timeout, a receive count, a DLQ after `max_receive`) in the `messages` table,
//! one message per entity in flight when ordering by entity.

use std::time::Duration;

use async_trait::async_trait;
use rusqlite::{params, Connection, OptionalExtension};

use inlet_core::clock::from_unix_millis;
use inlet_core::envelope::Envelope;
use inlet_core::ports::{
    DeadLetter, DeadLetters, Queue, Receipt, Received, RedriveSelector, StoreError,
};

use crate::store::{each, exec, one, one_result, sql_err, Store};

impl Store {
    /// Make a received message visible again after `delay` with `reason` as its last error,
    /// giving back `give_back` receives (1: a deferral, which is not an attempt).
    async fn reschedule(
        &self,
        receipt: &Receipt,
        delay: Duration,
        reason: &str,
        give_back: u32,
    ) -> Result<(), StoreError> {
        let (id, receipt) = (receipt_id(&receipt.0), receipt.0.clone());
        let reason = truncate(reason);
        let at = self.now_ms().saturating_add(delay.as_millis() as i64);
        self.run(move |c| {
            exec(
                c,
                "UPDATE messages SET visible_at = ?3, last_error = ?4,
                        receive_count = max(receive_count - ?5, 0)
                 WHERE id = ?1 AND receipt = ?2 AND queue = 'work'",
                params![id, receipt, at, reason, give_back],
            )
            .map_err(sql_err("retry"))?;
            Ok(())
        })
        .await
    }

    /// Enqueue the last handled message with `key` again, with `source = replay` (the
    /// worker delivers a replay even though the ledger knows the key). Returns how many
    /// were enqueued: 0 when no handled message with that key is kept.
    pub async fn replay(&self, key: &str) -> Result<usize, StoreError> {
        let key = key.to_string();
        let now = self.now_ms();
        self.run(move |c| {
            let row: Option<(Vec<u8>, Option<String>)> = one(
                c,
                "SELECT b.body, m.group_id FROM messages m JOIN message_bodies b ON b.id = m.id
                     WHERE m.key = ?1 AND m.queue = 'done' ORDER BY m.id DESC LIMIT 1",
                params![key],
                |r| Ok((r.get(0)?, r.get(1)?)),
            )
            .optional()
            .map_err(sql_err("replay"))?;
            let Some((body, group)) = row else {
                return Ok(0);
            };
            let mut env = Envelope::from_json(&body)
                .map_err(|e| StoreError::Invalid(format!("kept message does not decode: {e}")))?;
            env.source = inlet_core::envelope::Source::Replay;
            enqueue_in(c, &key, group.as_deref(), &env.to_json().into_bytes(), now)
                .map_err(sql_err("replay"))?;
            Ok(1)
        })
        .await
    }
}

/// The next visible messages in arrival order, each the oldest of its entity; the limit
/// is appended as a number. A bound `LIMIT ?` would make SQLite re-prepare the statement
/// on every receive (it plans with the limit's value), a tenth of the writer thread's time.
/// `+visible_at` keeps SQLite on `work_order` (walk in arrival order, stop after the
/// limit) instead of sorting every visible message on each receive. A left join: a
/// message whose body is missing is still received, and dead-lettered as undecodable,
/// rather than skipped for ever with its entity's later messages behind it.
const RECEIVE_SQL: &str = "SELECT m.id, b.body, m.receive_count
     FROM messages m LEFT JOIN message_bodies b ON b.id = m.id
     WHERE m.queue = 'work' AND +m.visible_at <= ?1
       AND (m.group_id IS NULL OR NOT EXISTS (
            SELECT 1 FROM messages p
            WHERE p.queue = 'work' AND p.group_id = m.group_id AND p.id < m.id))
     ORDER BY m.id LIMIT ";

/// Append a message to the work queue: its state row, then its body under the same id.
fn enqueue_in(
    c: &Connection,
    key: &str,
    group: Option<&str>,
    body: &[u8],
    now: i64,
) -> rusqlite::Result<()> {
    exec(
        c,
        "INSERT INTO messages (queue, key, group_id, enqueued_at, visible_at) VALUES ('work', ?1, ?2, ?3, ?3)",
        params![key, group, now],
    )?;
    exec(
        c,
        "INSERT INTO message_bodies (id, body) VALUES (?1, ?2)",
        params![c.last_insert_rowid(), body],
    )?;
    Ok(())
}

/// A receipt names its message, `<id>.<random>`: settling finds the row by its id (no
/// index of random strings to keep), and the random part tells this receive from the
/// message's earlier ones.
fn new_receipt(id: i64) -> String {
    format!("{id}.{}", uuid::Uuid::new_v4().simple())
}

/// The message a receipt names; `None` (matching no row) for one this store never gave.
fn receipt_id(receipt: &str) -> Option<i64> {
    receipt.split_once('.')?.0.parse().ok()
}

#[async_trait]
impl Queue for Store {
    async fn send(&self, envelope: &Envelope) -> Result<(), StoreError> {
        let body = envelope.to_json().into_bytes();
        let key = envelope.key.to_string();
        let group = if self.options.order_by_entity {
            envelope.entity.clone()
        } else {
            None
        };
        let now = self.now_ms();
        self.run(move |c| {
            enqueue_in(c, &key, group.as_deref(), &body, now).map_err(sql_err("enqueue"))?;
            Ok(())
        })
        .await
    }

    async fn receive(&self, max: usize, visibility: Duration) -> Result<Vec<Received>, StoreError> {
        let now = self.now_ms();
        let visible_at = now.saturating_add(visibility.as_millis() as i64);
        let max_receive = self.options.max_receive;
        let received: Vec<(String, u32, Option<Vec<u8>>)> = self.run(move |c| {
            let mut stmt = c
                .prepare_cached(&format!("{RECEIVE_SQL}{max}"))
                .map_err(sql_err("receive"))?;
            let rows: Vec<(i64, Option<Vec<u8>>, u32)> = stmt
                .query_map(params![now], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))
                .map_err(sql_err("receive"))?
                .collect::<Result<_, _>>()
                .map_err(sql_err("receive"))?;
            let mut out = Vec::with_capacity(rows.len());
            for (id, body, count) in rows {
                let count = count.saturating_add(1);
                if count > max_receive {
                    exec(c,
                        "UPDATE messages SET queue = 'dlq', dead_at = ?2, receipt = NULL, receive_count = ?3,
                            last_error = coalesce(last_error, 'exceeded the maximum receive count')
                         WHERE id = ?1",
                        params![id, now, count - 1],
                    )
                    .map_err(sql_err("dead-letter"))?;
                    continue;
                }
                let receipt = new_receipt(id);
                exec(c,
                    "UPDATE messages SET receive_count = ?2, visible_at = ?3, receipt = ?4 WHERE id = ?1",
                    params![id, count, visible_at, receipt],
                )
                .map_err(sql_err("receive"))?;
                out.push((receipt, count, body));
            }
            Ok(out)
        })
        .await?;
        // Decoded here, not on the writer thread every other caller waits for.
        Ok(received
            .into_iter()
            .map(|(receipt, receive_count, body)| Received {
                receipt: Receipt(receipt),
                receive_count,
                envelope: match body {
                    Some(body) => Envelope::decode(&body),
                    None => Err("the message's body is missing from the store".into()),
                },
            })
            .collect())
    }

    async fn ack(&self, receipt: &Receipt) -> Result<(), StoreError> {
        one_result(self.ack_many(&[receipt]).await)
    }

    /// One job for the whole batch: one trip to the writer thread, one savepoint.
    async fn ack_many(&self, receipts: &[&Receipt]) -> Vec<Result<(), StoreError>> {
        let ids: Vec<(Option<i64>, String)> = receipts
            .iter()
            .map(|r| (receipt_id(&r.0), r.0.clone()))
            .collect();
        let n = ids.len();
        let now = self.now_ms();
        let done = self
            .run(move |c| {
                for (id, receipt) in &ids {
                    // Handled messages are kept (queue 'done') for `inlet replay` until
                    // the retention sweep removes them.
                    exec(
                        c,
                        "UPDATE messages SET queue = 'done', dead_at = ?3, receipt = NULL
                         WHERE id = ?1 AND receipt = ?2 AND queue = 'work'",
                        params![id, receipt, now],
                    )
                    .map_err(sql_err("ack"))?;
                }
                Ok(vec![(); ids.len()])
            })
            .await;
        each(done, n)
    }

    async fn retry_later(
        &self,
        receipt: &Receipt,
        delay: Duration,
        reason: &str,
    ) -> Result<(), StoreError> {
        self.reschedule(receipt, delay, reason, 0).await
    }

    /// As `retry_later`, and the receive is given back: the count goes down by one.
    async fn defer(
        &self,
        receipt: &Receipt,
        delay: Duration,
        reason: &str,
    ) -> Result<(), StoreError> {
        self.reschedule(receipt, delay, reason, 1).await
    }

    async fn dead_letter(&self, receipt: &Receipt, reason: &str) -> Result<(), StoreError> {
        let (id, receipt) = (receipt_id(&receipt.0), receipt.0.clone());
        let reason = truncate(reason);
        let now = self.now_ms();
        self.run(move |c| {
            exec(
                c,
                "UPDATE messages SET queue = 'dlq', dead_at = ?3, last_error = ?4, receipt = NULL
                 WHERE id = ?1 AND receipt = ?2 AND queue = 'work'",
                params![id, receipt, now, reason],
            )
            .map_err(sql_err("dead-letter"))?;
            Ok(())
        })
        .await
    }
}

fn truncate(reason: &str) -> String {
    reason.chars().take(2000).collect()
}

#[async_trait]
impl DeadLetters for Store {
    async fn list(&self, limit: usize) -> Result<Vec<DeadLetter>, StoreError> {
        self.run(move |c| {
            let mut stmt = c
                .prepare("SELECT key, last_error, receive_count, dead_at FROM messages WHERE queue = 'dlq' ORDER BY id LIMIT ?1")
                .map_err(sql_err("dlq list"))?;
            let rows = stmt
                .query_map(params![limit as i64], |r| {
                    Ok(DeadLetter {
                        key: r.get(0)?,
                        reason: r.get(1)?,
                        receive_count: r.get(2)?,
                        dead_at: from_unix_millis(r.get::<_, Option<i64>>(3)?.unwrap_or(0)),
                    })
                })
                .map_err(sql_err("dlq list"))?;
            rows.collect::<Result<_, _>>().map_err(sql_err("dlq list"))
        })
        .await
    }

    async fn redrive(&self, which: &RedriveSelector) -> Result<usize, StoreError> {
        let key = match which {
            RedriveSelector::All => None,
            RedriveSelector::Key(k) => Some(k.clone()),
        };
        let now = self.now_ms();
        self.run(move |c| {
            exec(c,
                "UPDATE messages SET queue = 'work', receive_count = 0, visible_at = ?1, receipt = NULL, dead_at = NULL
                 WHERE queue = 'dlq' AND (?2 IS NULL OR key = ?2)",
                params![now, key],
            )
            .map_err(sql_err("redrive"))
        })
        .await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A receive costs the batch, not the queue: no sort over every visible message.
    #[test]
    fn receive_walks_the_queue_in_order_without_sorting_it() {
        let conn = Connection::open_in_memory().unwrap();
        conn.execute_batch(crate::schema::SCHEMA).unwrap();
        let plan: Vec<String> = conn
            .prepare(&format!("EXPLAIN QUERY PLAN {RECEIVE_SQL}10"))
            .unwrap()
            .query_map(params![0], |r| r.get::<_, String>(3))
            .unwrap()
            .collect::<Result<_, _>>()
            .unwrap();
        assert!(
            plan.iter().any(|step| step.contains("work_order")),
            "{plan:?}"
        );
        assert!(
            !plan.iter().any(|step| step.contains("TEMP B-TREE")),
            "{plan:?}"
        );
    }
}
