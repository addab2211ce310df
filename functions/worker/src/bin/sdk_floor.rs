//! The AWS SDK's own CPU floor for the functions' call patterns, measured beside them by
//! `scripts/bench` (not deployed) — the same SDK settings and runtime as the functions, and
//! nothing else: no Lambda runtime, no envelopes, no logs, no metrics.
//! - new records, per batch of ten: ten claim `UpdateItem`s at once, ten `UpdateItem`s
//!   (entity versions) at once, one PutEvents of ten ~2 KB entries, then one
//!   `BatchWriteItem` of ten completions beside one of the ten history records carrying the
//!   ~2 KB payload;
//! - duplicates: the ten claims again, at once (what a duplicate costs the worker);
//! - webhook requests: one `SendMessage` of a ~2.5 KB body each, one after another.
//!
//! Usage: sdk-floor TABLE BUS QUEUE_URL BATCHES (AWS settings from the environment). Prints
//! `{"batches":…,"new_ms":…,"duplicate_ms":…,"webhook_ms":…}`: CPU per record or request.

use std::collections::HashMap;

use futures::future::join_all;

/// CPU time of this process, all threads, in nanoseconds.
fn cpu_ns() -> u64 {
    std::fs::read_dir("/proc/self/task")
        .map(|tasks| {
            tasks
                .filter_map(Result::ok)
                .filter_map(|t| std::fs::read_to_string(t.path().join("schedstat")).ok())
                .filter_map(|s| s.split_whitespace().next()?.parse::<u64>().ok())
                .sum()
        })
        .unwrap_or(0)
}

/// The keys of batch `prefix`.
fn keys_of(prefix: &str) -> Vec<String> {
    (0..10).map(|i| format!("F#{prefix}-{i}")).collect()
}

/// The worker's claim wave: one `UpdateItem` per key, at once, returning the old entry.
async fn claims(
    db: &aws_sdk_dynamodb::Client,
    table: &str,
    keys: &[String],
) -> Result<(), Box<dyn std::error::Error>> {
    use aws_sdk_dynamodb::types::AttributeValue as V;
    for r in join_all(keys.iter().map(|k| {
        db.update_item()
            .table_name(table)
            .key("pk", V::S(k.clone()))
            .update_expression("SET st = if_not_exists(st, :ip) ADD seen :one")
            .expression_attribute_values(":ip", V::S("IN_PROGRESS".into()))
            .expression_attribute_values(":one", V::N("1".into()))
            .return_values(aws_sdk_dynamodb::types::ReturnValue::AllOld)
            .send()
    }))
    .await
    {
        r?;
    }
    Ok(())
}

/// Whole items as the write requests of one `BatchWriteItem`.
fn put_requests(
    items: impl Iterator<Item = HashMap<String, aws_sdk_dynamodb::types::AttributeValue>>,
) -> Result<Vec<aws_sdk_dynamodb::types::WriteRequest>, aws_sdk_dynamodb::error::BuildError> {
    use aws_sdk_dynamodb::types::{PutRequest, WriteRequest};
    items
        .map(|item| {
            let put = PutRequest::builder().set_item(Some(item)).build()?;
            Ok(WriteRequest::builder().put_request(put).build())
        })
        .collect()
}

async fn batch(
    db: &aws_sdk_dynamodb::Client,
    events: &aws_sdk_eventbridge::Client,
    table: &str,
    bus: &str,
    prefix: &str,
) -> Result<(), Box<dyn std::error::Error>> {
    use aws_sdk_dynamodb::types::AttributeValue as V;
    let keys = keys_of(prefix);
    let detail = format!("{{\"payload\":\"{}\"}}", "x".repeat(2000));
    claims(db, table, &keys).await?;
    for r in join_all(keys.iter().map(|k| {
        db.update_item()
            .table_name(table)
            .key("pk", V::S(format!("V{k}")))
            .update_expression("SET ver = :v")
            .expression_attribute_values(":v", V::N("1".into()))
            .send()
    }))
    .await
    {
        r?;
    }
    let entries = keys
        .iter()
        .map(|_| {
            aws_sdk_eventbridge::types::PutEventsRequestEntry::builder()
                .event_bus_name(bus)
                .source("inlet.floor")
                .detail_type("floor")
                .detail(detail.clone())
                .build()
        })
        .collect();
    events
        .put_events()
        .set_entries(Some(entries))
        .send()
        .await?;
    let completions = put_requests(keys.iter().map(|k| {
        HashMap::from([
            ("pk".to_string(), V::S(k.clone())),
            ("st".to_string(), V::S("COMPLETED".into())),
        ])
    }))?;
    let payload = aws_sdk_dynamodb::primitives::Blob::new(detail.clone().into_bytes());
    let history = put_requests(keys.iter().map(|k| {
        HashMap::from([
            ("pk".to_string(), V::S(format!("E{k}"))),
            ("st".to_string(), V::S("delivered".into())),
            ("pl".to_string(), V::B(payload.clone())),
            ("n".to_string(), V::N("1".into())),
        ])
    }))?;
    let (completed, history) = futures::join!(
        db.batch_write_item()
            .request_items(table, completions)
            .send(),
        db.batch_write_item().request_items(table, history).send()
    );
    completed?;
    history?;
    Ok(())
}

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().collect();
    let [_, table, bus, queue, batches] = args.as_slice() else {
        return Err("usage: sdk-floor TABLE BUS QUEUE_URL BATCHES".into());
    };
    let batches: usize = batches.parse()?;
    let sdk = inlet_aws::sdk_config().await;
    let db = aws_sdk_dynamodb::Client::new(&sdk);
    let events = aws_sdk_eventbridge::Client::new(&sdk);
    let sqs = aws_sdk_sqs::Client::new(&sdk);
    let run = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)?
        .as_nanos();
    // Warm the connections of every client first.
    batch(&db, &events, table, bus, &format!("{run}-warm")).await?;
    let body = format!("{{\"body\":\"{}\"}}", "x".repeat(2500));
    let send = || {
        sqs.send_message()
            .queue_url(queue)
            .message_body(&body)
            .send()
    };
    send().await?;
    let records = (batches * 10) as f64;
    let per_record = |since: u64| (cpu_ns() - since) as f64 / 1e6 / records;

    let before = cpu_ns();
    for n in 0..batches {
        batch(&db, &events, table, bus, &format!("{run}-{n}")).await?;
    }
    let new_ms = per_record(before);
    let before = cpu_ns();
    for n in 0..batches {
        claims(&db, table, &keys_of(&format!("{run}-{n}"))).await?;
    }
    let duplicate_ms = per_record(before);
    let before = cpu_ns();
    for _ in 0..batches * 10 {
        send().await?;
    }
    let webhook_ms = per_record(before);
    println!(
        "{{\"batches\":{batches},\"new_ms\":{new_ms:.4},\"duplicate_ms\":{duplicate_ms:.4},\"webhook_ms\":{webhook_ms:.4}}}"
    );
    Ok(())
}
