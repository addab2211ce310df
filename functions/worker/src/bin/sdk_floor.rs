//! The AWS SDK's own CPU floor for the worker's call pattern, measured beside the worker by
//! `scripts/bench` (not deployed): per batch of ten new records, ten claim `UpdateItem`s at
//! once, ten `UpdateItem` (entity versions) at once, one PutEvents of ten ~2 KB entries,
//! then one `BatchWriteItem` of ten completions beside one of the ten history records
//! carrying the ~2 KB payload — the same SDK settings and runtime as the worker, and nothing else:
//! no Lambda runtime, no envelopes, no logs, no metrics.
//!
//! Usage: sdk-floor TABLE BUS BATCHES (AWS settings from the environment). Prints
//! `{"batches":…,"records":…,"cpu_ms_per_record":…}`.

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

async fn batch(
    db: &aws_sdk_dynamodb::Client,
    events: &aws_sdk_eventbridge::Client,
    table: &str,
    bus: &str,
    prefix: &str,
) -> Result<(), Box<dyn std::error::Error>> {
    use aws_sdk_dynamodb::types::AttributeValue as V;
    let keys: Vec<String> = (0..10).map(|i| format!("F#{prefix}-{i}")).collect();
    let detail = format!("{{\"payload\":\"{}\"}}", "x".repeat(2000));
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
    let completions = keys
        .iter()
        .map(|k| {
            let put = aws_sdk_dynamodb::types::PutRequest::builder()
                .item("pk", V::S(k.clone()))
                .item("st", V::S("COMPLETED".into()))
                .build()?;
            Ok(aws_sdk_dynamodb::types::WriteRequest::builder()
                .put_request(put)
                .build())
        })
        .collect::<Result<Vec<_>, aws_sdk_dynamodb::error::BuildError>>()?;
    let payload = aws_sdk_dynamodb::primitives::Blob::new(detail.clone().into_bytes());
    let history = keys
        .iter()
        .map(|k| {
            let put = aws_sdk_dynamodb::types::PutRequest::builder()
                .item("pk", V::S(format!("E{k}")))
                .item("st", V::S("delivered".into()))
                .item("pl", V::B(payload.clone()))
                .item("n", V::N("1".into()))
                .build()?;
            Ok(aws_sdk_dynamodb::types::WriteRequest::builder()
                .put_request(put)
                .build())
        })
        .collect::<Result<Vec<_>, aws_sdk_dynamodb::error::BuildError>>()?;
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
    let [_, table, bus, batches] = args.as_slice() else {
        return Err("usage: sdk-floor TABLE BUS BATCHES".into());
    };
    let batches: usize = batches.parse()?;
    let sdk = inlet_aws::sdk_config().await;
    let db = aws_sdk_dynamodb::Client::new(&sdk);
    let events = aws_sdk_eventbridge::Client::new(&sdk);
    let run = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)?
        .as_nanos();
    batch(&db, &events, table, bus, &format!("{run}-warm")).await?; // warm the connections
    let before = cpu_ns();
    for n in 0..batches {
        batch(&db, &events, table, bus, &format!("{run}-{n}")).await?;
    }
    let records = batches * 10;
    println!(
        "{{\"batches\":{batches},\"records\":{records},\"cpu_ms_per_record\":{:.4}}}",
        (cpu_ns() - before) as f64 / 1e6 / records as f64
    );
    Ok(())
}
