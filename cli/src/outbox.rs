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
        Ok::<_, inlet_outbox::OutboxError>((pending, oldest, stuck))
    };
    let (pending, oldest, stuck) = match read.await {
        Ok(r) => r,
        Err(e) => {
            crate::errln!("inlet: {e}");
            return exit::FAILURE;
        }
    };
    let failed_batches = match failed_batches(&h).await {
        Ok(n) => n,
        Err(e) => {
            crate::errln!("inlet: {e:#}");
            return exit::FAILURE;
        }
    };
    let oldest_age_s = oldest.map(|ms| (now_ms - ms).max(0) / 1000);
    if json {
        let stuck: Vec<_> = stuck
            .iter()
            .map(|i| json!({"outbox": i.outbox, "id": i.id, "idempotency_key": i.idempotency_key, "event_type": i.event_type, "created_at_ms": i.created_at}))
            .collect();
        crate::out::json(&json!({
            "table": table,
            "pending": pending,
            "oldest_pending_age_s": oldest_age_s,
            "stuck_events": stuck,
            "failed_stream_batches": failed_batches,
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
    }
    exit::OK
}

/// The most items one redrive publishes (run it again for more).
const REDRIVE_MAX: usize = 10_000;

async fn aws_redrive(place: &DataDirArg, older_than_secs: u64) -> u8 {
    let ports = match open_ports(place, true).await {
        Ok(p) => p,
        Err(c) => return c,
    };
    let Some(h) = ports.aws.clone() else {
        return exit::FAILURE;
    };
    let db = aws_sdk_dynamodb::Client::new(&h.sdk);
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
    use aws_sdk_sqs::types::QueueAttributeName as A;
    let Some(url) = &h.resources.outbox_failures_url else {
        return Ok(0);
    };
    let out = aws_sdk_sqs::Client::new(&h.sdk)
        .get_queue_attributes()
        .queue_url(url)
        .attribute_names(A::ApproximateNumberOfMessages)
        .attribute_names(A::ApproximateNumberOfMessagesNotVisible)
        .send()
        .await
        .map_err(|e| {
            anyhow::anyhow!(
                "SQS GetQueueAttributes (OutboxFailures): {}",
                inlet_aws::error::describe(&e)
            )
        })?;
    let attrs = out.attributes.unwrap_or_default();
    let n = |a: A| {
        attrs
            .get(&a)
            .and_then(|v| v.parse::<u64>().ok())
            .unwrap_or(0)
    };
    Ok(n(A::ApproximateNumberOfMessages) + n(A::ApproximateNumberOfMessagesNotVisible))
}

/// The OutboxFailures queue's messages, each hidden for 30 s by the receive.
async fn failure_messages(h: &AwsHandles) -> anyhow::Result<Vec<FailureMessage>> {
    let Some(url) = &h.resources.outbox_failures_url else {
        return Ok(Vec::new());
    };
    let sqs = aws_sdk_sqs::Client::new(&h.sdk);
    let mut out = Vec::new();
    loop {
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
        if messages.is_empty() {
            return Ok(out);
        }
        for m in messages {
            let last_record_ms = m
                .body
                .as_deref()
                .and_then(|b| serde_json::from_str::<serde_json::Value>(b).ok())
                .and_then(|v| {
                    v.pointer("/DDBStreamBatchInfo/approximateArrivalOfLastRecord")
                        .and_then(|t| t.as_str())
                        .map(str::to_string)
                })
                .and_then(|t| {
                    OffsetDateTime::parse(&t, &time::format_description::well_known::Rfc3339).ok()
                })
                .map(unix_millis);
            out.push(FailureMessage {
                receipt: m.receipt_handle.unwrap_or_default(),
                last_record_ms,
            });
        }
    }
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
