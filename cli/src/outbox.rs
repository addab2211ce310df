//! `inlet outbox`: the outboxes' state, and `redrive` for what failed — locally the
//! configured SQLite outboxes, on AWS the stack's outbox items (`inlet_outbox::dynamodb`)
//! and the `OutboxFailures` queue of stream batches the publisher gave up on.

use crate::out::inert;
use std::path::Path;

use serde_json::json;
use time::OffsetDateTime;

use inlet_core::clock::unix_millis;

use crate::backend::{AwsHandles, BackendKind};
use crate::commands::{load_config, open_ports};
use crate::{exit, DataDirArg};

pub async fn status(explicit: Option<&Path>, place: &DataDirArg, json: bool) -> u8 {
    match place.backend {
        BackendKind::Local => local_status(explicit, json),
        BackendKind::Aws => aws_status(place, json).await,
    }
}

pub async fn redrive(explicit: Option<&Path>, place: &DataDirArg, older_than_secs: u64) -> u8 {
    match place.backend {
        BackendKind::Local => local_redrive(explicit),
        BackendKind::Aws => aws_redrive(place, older_than_secs).await,
    }
}

/// What `redrive --id` and `discard --id` do with one failed event.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ById {
    Redrive,
    Discard,
}

/// Redrive or discard failed events by id: every configured outbox locally, the stack's
/// table on AWS. Exit 4 when an id matched no failed event.
pub async fn by_id(explicit: Option<&Path>, place: &DataDirArg, ids: &[String], what: ById) -> u8 {
    let now_ms = unix_millis(OffsetDateTime::now_utc());
    let mut code = exit::OK;
    let mut report = |id: &str, result: Result<Option<String>, String>| match result {
        Ok(Some(done)) => crate::outln!("{}: {done}", inert(id)),
        Ok(None) => {
            crate::errln!("inlet: no failed outbox event {}", inert(id));
            if code == exit::OK {
                code = exit::NOT_FOUND;
            }
        }
        Err(e) => {
            crate::errln!("inlet: outbox event {}: {}", inert(id), inert(&e));
            code = exit::FAILURE;
        }
    };
    match place.backend {
        BackendKind::Local => {
            let (_, config) = match load_config(explicit) {
                Ok(c) => c,
                Err(code) => return code,
            };
            for id in ids {
                let mut result = Ok(None);
                for o in &config.outboxes {
                    let done =
                        inlet_outbox::sqlite::Drain::open(Path::new(&o.sqlite)).and_then(|d| {
                            match what {
                                ById::Redrive => d.retry_failed_id(id, now_ms),
                                ById::Discard => d.discard_failed(id),
                            }
                        });
                    match done {
                        Ok(true) => {
                            result = Ok(Some(match what {
                                ById::Redrive => format!("outbox {}: pending again", o.name),
                                ById::Discard => format!("outbox {}: discarded", o.name),
                            }));
                            break;
                        }
                        Ok(false) => {}
                        Err(e) => result = Err(e.to_string()),
                    }
                }
                report(id, result);
            }
        }
        BackendKind::Aws => {
            let (ports, h, db) = match aws_table(place).await {
                Ok(t) => t,
                Err(c) => return c,
            };
            let table = &h.resources.table;
            for id in ids {
                let result = match what {
                    ById::Redrive => inlet_outbox::dynamodb::redrive_failed(
                        &db,
                        table,
                        ports.queue.as_ref(),
                        id,
                        now_ms,
                    )
                    .await
                    .map(|key| Some(format!("published as {key}"))),
                    ById::Discard => inlet_outbox::dynamodb::discard_failed(&db, table, id)
                        .await
                        .map(|()| Some("discarded".to_string())),
                };
                let result = match result {
                    Err(inlet_outbox::OutboxError::Invalid(m)) if m.starts_with("no ") => Ok(None),
                    other => other.map_err(|e| e.to_string()),
                };
                report(id, result);
            }
        }
    }
    code
}

/// The failed events listed per outbox.
const FAILED_SHOWN: usize = 20;

fn local_status(explicit: Option<&Path>, json: bool) -> u8 {
    let (_, config) = match load_config(explicit) {
        Ok(c) => c,
        Err(code) => return code,
    };
    if config.outboxes.is_empty() && !json {
        crate::outln!("no [[outboxes]] in the configuration");
    }
    let mut code = exit::OK;
    for o in &config.outboxes {
        let read = inlet_outbox::sqlite::Drain::open(Path::new(&o.sqlite))
            .and_then(|d| Ok((d.counts()?, d.failed(FAILED_SHOWN)?)));
        let (counts, failed) = match read {
            Ok(r) => r,
            Err(e) => {
                crate::errln!("inlet: outbox {} ({}): {e}", o.name, o.sqlite);
                code = exit::FAILURE;
                continue;
            }
        };
        if json {
            let failed: Vec<_> = failed
                .iter()
                .map(|r| {
                    serde_json::json!({
                        "id": r.event.id,
                        "idempotency_key": r.event.idempotency_key,
                        "event_type": r.event.event_type,
                        "attempts": r.attempts,
                        "last_error": r.last_error,
                    })
                })
                .collect();
            crate::out::json(&serde_json::json!({
                "outbox": o.name.as_str(),
                "sqlite": o.sqlite,
                "pending": counts.pending,
                "published": counts.published,
                "failed": counts.failed,
                "failed_events": failed,
            }));
        } else {
            crate::outln!(
                "outbox {}  pending {}  published {}  failed {}  ({})",
                o.name,
                counts.pending,
                counts.published,
                counts.failed,
                o.sqlite
            );
            for r in &failed {
                crate::outln!(
                    "  failed {}  {}  attempts={}  {}",
                    inert(&r.event.idempotency_key),
                    inert(&r.event.event_type),
                    r.attempts,
                    inert(r.last_error.as_deref().unwrap_or(""))
                );
            }
        }
    }
    code
}

fn local_redrive(explicit: Option<&Path>) -> u8 {
    let (_, config) = match load_config(explicit) {
        Ok(c) => c,
        Err(code) => return code,
    };
    if config.outboxes.is_empty() {
        crate::errln!("inlet: no [[outboxes]] in the configuration");
        return exit::NOT_FOUND;
    }
    let now_ms = unix_millis(OffsetDateTime::now_utc());
    let mut code = exit::OK;
    for o in &config.outboxes {
        match inlet_outbox::sqlite::Drain::open(Path::new(&o.sqlite))
            .and_then(|d| d.retry_failed(now_ms))
        {
            Ok(n) => crate::outln!("outbox {}: {n} failed event(s) pending again", o.name),
            Err(e) => {
                crate::errln!("inlet: outbox {} ({}): {e}", o.name, o.sqlite);
                code = exit::FAILURE;
            }
        }
    }
    code
}

/// Items staged longer ago than this and still pending are shown as stuck.
const STUCK_AFTER_MS: i64 = 5 * 60 * 1000;

async fn aws_handles(place: &DataDirArg) -> Result<AwsHandles, u8> {
    let ports = open_ports(place, true).await?;
    ports.aws.ok_or(exit::FAILURE)
}

async fn aws_status(place: &DataDirArg, json: bool) -> u8 {
    let h = match aws_handles(place).await {
        Ok(h) => h,
        Err(c) => return c,
    };
    let db = aws_sdk_dynamodb::Client::new(&h.sdk);
    let table = &h.resources.table;
    let now_ms = unix_millis(OffsetDateTime::now_utc());
    let read = async {
        let (pending, oldest) = inlet_outbox::dynamodb::pending_count(&db, table).await?;
        let stuck =
            inlet_outbox::dynamodb::pending(&db, table, now_ms - STUCK_AFTER_MS, FAILED_SHOWN)
                .await?;
        let failed = inlet_outbox::dynamodb::failed(&db, table, FAILED_SHOWN).await?;
        Ok::<_, inlet_outbox::OutboxError>((pending, oldest, stuck, failed))
    };
    let (pending, oldest, stuck, failed) = match read.await {
        Ok(r) => r,
        Err(e) => {
            crate::errln!("inlet: {e}");
            return exit::FAILURE;
        }
    };
    let batches = match failure_batches(&h).await {
        Ok(b) => b,
        Err(e) => {
            crate::errln!("inlet: {e:#}");
            return exit::FAILURE;
        }
    };
    let failed_batches = batches.len();
    let oldest_age_s = oldest.map(|ms| (now_ms - ms).max(0) / 1000);
    if json {
        let stuck: Vec<_> = stuck
            .iter()
            .map(|i| json!({"outbox": i.outbox, "id": i.id, "idempotency_key": i.idempotency_key, "event_type": i.event_type, "created_at_ms": i.created_at}))
            .collect();
        let failed: Vec<_> = failed
            .iter()
            .map(|f| json!({"pk": f.pk, "id": f.id(), "outbox": f.outbox, "idempotency_key": f.idempotency_key, "reason": f.reason, "failed_at_ms": f.failed_at_ms}))
            .collect();
        let batches: Vec<_> = batches.iter().map(FailedBatch::to_json).collect();
        crate::out::json(&json!({
            "table": table,
            "pending": pending,
            "oldest_pending_age_s": oldest_age_s,
            "stuck_events": stuck,
            "failed_events": failed,
            "failed_stream_batches": failed_batches,
            "failed_batches": batches,
        }));
    } else {
        crate::outln!(
            "outbox items in {table}: pending {pending}{}  failed stream batches {failed_batches}",
            oldest_age_s.map_or(String::new(), |s| format!(" (oldest {s} s)"))
        );
        for i in &stuck {
            crate::outln!(
                "  stuck {}:{}  {}  staged {} ms",
                inert(&i.outbox),
                inert(&i.idempotency_key),
                inert(&i.event_type),
                i.created_at
            );
        }
        if failed_batches > 0 || !stuck.is_empty() {
            crate::outln!("  `inlet outbox redrive --backend aws` publishes them");
        }
        for b in &batches {
            crate::outln!(
                "  failed batch  shard {}  sequence {}..{}  records {}  arrived {}..{}  (redrive publishes its items once they are {} s old)",
                inert(b.shard.as_deref().unwrap_or("?")),
                inert(b.first_sequence.as_deref().unwrap_or("?")),
                inert(b.last_sequence.as_deref().unwrap_or("?")),
                b.size.map_or("?".into(), |n| n.to_string()),
                inert(b.first_arrival.as_deref().unwrap_or("?")),
                inert(b.last_arrival.as_deref().unwrap_or("?")),
                STUCK_AFTER_MS / 1000
            );
        }
        for f in &failed {
            crate::outln!(
                "  failed {}:{}  {}  (fix it, then `inlet outbox redrive --id {} --backend aws`, or discard it)",
                inert(f.outbox.as_deref().unwrap_or("?")),
                inert(f.idempotency_key.as_deref().unwrap_or(f.id())),
                inert(&f.reason),
                inert(f.id())
            );
        }
    }
    exit::OK
}

/// The most items one redrive publishes (run it again for more).
const REDRIVE_MAX: usize = 10_000;

/// The AWS ports, the stack's handles and a client for its table.
async fn aws_table(
    place: &DataDirArg,
) -> Result<(crate::backend::Ports, AwsHandles, aws_sdk_dynamodb::Client), u8> {
    let ports = open_ports(place, true).await?;
    let h = ports.aws.clone().ok_or(exit::FAILURE)?;
    let db = aws_sdk_dynamodb::Client::new(&h.sdk);
    Ok((ports, h, db))
}

async fn aws_redrive(place: &DataDirArg, older_than_secs: u64) -> u8 {
    let (ports, h, db) = match aws_table(place).await {
        Ok(t) => t,
        Err(c) => return c,
    };
    let table = &h.resources.table;
    let now = OffsetDateTime::now_utc();
    let cutoff_ms =
        unix_millis(now) - i64::try_from(older_than_secs.saturating_mul(1000)).unwrap_or(i64::MAX);
    let items = match inlet_outbox::dynamodb::pending(&db, table, cutoff_ms, REDRIVE_MAX).await {
        Ok(i) => i,
        Err(e) => {
            crate::errln!("inlet: {e}");
            return exit::FAILURE;
        }
    };
    let (mut published, mut failed) = (0usize, 0usize);
    for item in items {
        let id = item.id.clone();
        match inlet_outbox::dynamodb::republish(
            &db,
            table,
            ports.queue.as_ref(),
            item,
            unix_millis(now),
        )
        .await
        {
            Ok(_) => published += 1,
            Err(e) => {
                failed += 1;
                crate::errln!("inlet: outbox item {id}: {e}");
            }
        }
    }
    crate::outln!(
        "published {published} outbox event(s) staged before the cutoff; {failed} failed"
    );
    if failed > 0 {
        // The failure records stay until every item they may name is published.
        return exit::FAILURE;
    }
    match clear_failures(&h, cutoff_ms).await {
        Ok((cleared, kept)) => {
            crate::outln!("cleared {cleared} failed stream batch record(s); kept {kept} newer than the cutoff");
            exit::OK
        }
        Err(e) => {
            crate::errln!("inlet: {e:#}");
            exit::FAILURE
        }
    }
}

/// One message of the OutboxFailures queue: the on-failure record of a stream batch.
struct FailureMessage {
    receipt: String,
    /// `DDBStreamBatchInfo.approximateArrivalOfLastRecord`, Unix ms, when it parses.
    last_record_ms: Option<i64>,
}

/// How many stream batches the publisher gave up on (messages in OutboxFailures).
pub async fn failed_batches(h: &AwsHandles) -> anyhow::Result<u64> {
    let Some(url) = &h.resources.outbox_failures_url else {
        return Ok(0);
    };
    let sqs = aws_sdk_sqs::Client::new(&h.sdk);
    let (visible, in_flight) = inlet_aws::status::queue_numbers(&sqs, url)
        .await
        .map_err(|e| anyhow::anyhow!("OutboxFailures: {e}"))?;
    Ok(visible + in_flight)
}

/// One stream batch the publisher gave up on, from its on-failure record
/// (`DDBStreamBatchInfo`): which shard, which sequence range, when its records arrived.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FailedBatch {
    pub shard: Option<String>,
    pub first_sequence: Option<String>,
    pub last_sequence: Option<String>,
    pub size: Option<u64>,
    pub first_arrival: Option<String>,
    pub last_arrival: Option<String>,
}

impl FailedBatch {
    fn parse(body: &str) -> FailedBatch {
        let v: serde_json::Value = serde_json::from_str(body).unwrap_or_default();
        let info = |k: &str| {
            v.pointer(&format!("/DDBStreamBatchInfo/{k}"))
                .and_then(|x| x.as_str())
                .map(|x| x.chars().take(200).collect::<String>())
        };
        FailedBatch {
            shard: info("shardId"),
            first_sequence: info("startSequenceNumber"),
            last_sequence: info("endSequenceNumber"),
            size: v
                .pointer("/DDBStreamBatchInfo/batchSize")
                .and_then(|x| x.as_u64()),
            first_arrival: info("approximateArrivalOfFirstRecord"),
            last_arrival: info("approximateArrivalOfLastRecord"),
        }
    }

    fn to_json(&self) -> serde_json::Value {
        json!({
            "shard": self.shard,
            "start_sequence": self.first_sequence,
            "end_sequence": self.last_sequence,
            "batch_size": self.size,
            "first_record_at": self.first_arrival,
            "last_record_at": self.last_arrival,
        })
    }
}

/// The most failed batches one listing reads.
const BATCHES_SHOWN: usize = 100;

/// The failed stream batches, read without consuming them: every message is received once
/// (by id, so a message seen again is not counted twice), then made visible again.
pub async fn failure_batches(h: &AwsHandles) -> anyhow::Result<Vec<FailedBatch>> {
    let Some(url) = &h.resources.outbox_failures_url else {
        return Ok(Vec::new());
    };
    let sqs = aws_sdk_sqs::Client::new(&h.sdk);
    let received = receive_failures(h).await?;
    let batches = received
        .iter()
        .map(|m| FailedBatch::parse(&m.body))
        .collect();
    for m in received {
        // Visible again at once: listing is not handling. A failure here only delays the
        // message's next listing by the 30 s it is hidden.
        let _ = sqs
            .change_message_visibility()
            .queue_url(url)
            .receipt_handle(m.receipt)
            .visibility_timeout(0)
            .send()
            .await;
    }
    Ok(batches)
}

/// One received OutboxFailures message.
struct Received {
    receipt: String,
    body: String,
}

/// The OutboxFailures queue's messages (at most [`BATCHES_SHOWN`]), each once by message
/// id and hidden for 30 s by the receive. A short poll samples some of SQS's servers, so
/// one empty answer is not the end: reading stops after two in a row.
async fn receive_failures(h: &AwsHandles) -> anyhow::Result<Vec<Received>> {
    let Some(url) = &h.resources.outbox_failures_url else {
        return Ok(Vec::new());
    };
    let sqs = aws_sdk_sqs::Client::new(&h.sdk);
    let mut seen = std::collections::HashSet::new();
    let mut out = Vec::new();
    let mut empty_polls = 0;
    while out.len() < BATCHES_SHOWN && empty_polls < 2 {
        let got = sqs
            .receive_message()
            .queue_url(url)
            .max_number_of_messages(10)
            .visibility_timeout(30)
            .wait_time_seconds(0)
            .send()
            .await
            .map_err(|e| {
                anyhow::anyhow!(
                    "SQS ReceiveMessage (OutboxFailures): {}",
                    inlet_aws::error::describe(&e)
                )
            })?;
        let messages = got.messages.unwrap_or_default();
        empty_polls = if messages.is_empty() {
            empty_polls + 1
        } else {
            0
        };
        for m in messages {
            if seen.insert(m.message_id.clone().unwrap_or_default()) {
                out.push(Received {
                    receipt: m.receipt_handle.unwrap_or_default(),
                    body: m.body.unwrap_or_default(),
                });
            }
        }
    }
    Ok(out)
}

/// The OutboxFailures queue's messages, each hidden for 30 s by the receive.
async fn failure_messages(h: &AwsHandles) -> anyhow::Result<Vec<FailureMessage>> {
    Ok(receive_failures(h)
        .await?
        .into_iter()
        .map(|m| {
            let last_record_ms = FailedBatch::parse(&m.body)
                .last_arrival
                .and_then(|t| {
                    OffsetDateTime::parse(&t, &time::format_description::well_known::Rfc3339).ok()
                })
                .map(unix_millis);
            FailureMessage {
                receipt: m.receipt,
                last_record_ms,
            }
        })
        .collect())
}

/// Delete the failure records of batches whose last record arrived before `cutoff_ms`
/// (their items are published now); others are made visible again at once. Returns
/// (deleted, kept).
async fn clear_failures(h: &AwsHandles, cutoff_ms: i64) -> anyhow::Result<(usize, usize)> {
    let Some(url) = &h.resources.outbox_failures_url else {
        return Ok((0, 0));
    };
    let sqs = aws_sdk_sqs::Client::new(&h.sdk);
    let (mut deleted, mut kept) = (0, 0);
    for m in failure_messages(h).await? {
        if m.last_record_ms.is_some_and(|t| t <= cutoff_ms) {
            sqs.delete_message()
                .queue_url(url)
                .receipt_handle(&m.receipt)
                .send()
                .await
                .map_err(|e| {
                    anyhow::anyhow!(
                        "SQS DeleteMessage (OutboxFailures): {}",
                        inlet_aws::error::describe(&e)
                    )
                })?;
            deleted += 1;
        } else {
            sqs.change_message_visibility()
                .queue_url(url)
                .receipt_handle(&m.receipt)
                .visibility_timeout(0)
                .send()
                .await
                .map_err(|e| {
                    anyhow::anyhow!(
                        "SQS ChangeMessageVisibility (OutboxFailures): {}",
                        inlet_aws::error::describe(&e)
                    )
                })?;
            kept += 1;
        }
    }
    Ok((deleted, kept))
}
