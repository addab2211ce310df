//! The documented AWS limits that moto does not enforce, as a [`Rule`] for the fault proxy:
//! a request AWS would refuse is refused here, with the error code AWS answers with, so a
//! test fails where production would. Every helper's emulator (`Moto::connect`) sits
//! behind it, so the whole suite runs under these limits.
//!
//! Limits, each from the service's documentation (checked 2026-11-28):
//! - EventBridge PutEvents: ≤ 10 entries, ≤ 256 KB of entries per request, entry size as in
//!   <https://docs.aws.amazon.com/eventbridge/latest/userguide/eb-putevent-size.html>
//!   (<https://docs.aws.amazon.com/eventbridge/latest/APIReference/API_PutEvents.html>).
//! - SQS: a message (body + attributes) ≤ the queue's `MaximumMessageSize`, 256 KiB by
//!   default (the stack keeps the default); SendMessageBatch ≤ 10 entries and ≤ 256 KiB in
//!   total; DeleteMessageBatch / ChangeMessageVisibilityBatch ≤ 10 entries; ReceiveMessage
//!   `MaxNumberOfMessages` 1–10, `WaitTimeSeconds` ≤ 20; visibility timeouts ≤ 43,200 s
//!   (<https://docs.aws.amazon.com/AWSSimpleQueueService/latest/SQSDeveloperGuide/quotas-messages.html>,
//!   <https://docs.aws.amazon.com/AWSSimpleQueueService/latest/APIReference/API_SendMessageBatch.html>,
//!   <https://docs.aws.amazon.com/AWSSimpleQueueService/latest/APIReference/API_ReceiveMessage.html>).
//! - DynamoDB: an item ≤ 400 KB, names and values counted as
//!   <https://docs.aws.amazon.com/amazondynamodb/latest/developerguide/CapacityUnitCalculations.html>
//!   describes; TransactWriteItems ≤ 100 actions and ≤ 4 MB; BatchWriteItem ≤ 25 requests
//!   (<https://docs.aws.amazon.com/amazondynamodb/latest/developerguide/ServiceQuotas.html>).

use base64::Engine as _;
use serde_json::Value;

use crate::faults::Action;

pub const PUT_EVENTS_MAX_ENTRIES: usize = 10;
pub const PUT_EVENTS_MAX_BYTES: usize = 262_144;
pub const SQS_MAX_MESSAGE_BYTES: usize = 262_144;
pub const SQS_MAX_BATCH_ENTRIES: usize = 10;
pub const SQS_MAX_BATCH_BYTES: usize = 262_144;
pub const SQS_MAX_RECEIVE: i64 = 10;
pub const SQS_MAX_WAIT_SECS: i64 = 20;
pub const SQS_MAX_VISIBILITY_SECS: i64 = 43_200;
pub const DYNAMODB_MAX_ITEM_BYTES: usize = 409_600;
pub const DYNAMODB_MAX_TRANSACT_ACTIONS: usize = 100;
pub const DYNAMODB_MAX_TRANSACT_BYTES: usize = 4 * 1024 * 1024;
pub const DYNAMODB_MAX_BATCH_WRITE: usize = 25;

/// A JSON-protocol error as the service sends it. SQS (JSON protocol, query-compatible)
/// also names the legacy code in `x-amzn-query-error`, which the SDK reads.
pub fn json_error(status: u16, service: &str, code: &str, message: &str) -> Action {
    let type_prefix = match service {
        "sqs" => "com.amazonaws.sqs#",
        "dynamodb" => "com.amazon.coral.validate#",
        _ => "",
    };
    let body = serde_json::json!({"__type": format!("{type_prefix}{code}"), "message": message});
    let mut headers = vec![("x-amzn-requestid".to_string(), format!("inlet-test-{code}"))];
    if service == "sqs" {
        // The legacy (query) codes: some carry the service's prefix, as SQS's model says.
        let prefixed = matches!(
            code,
            "BatchEntryIdsNotDistinct"
                | "BatchRequestTooLong"
                | "EmptyBatchRequest"
                | "InvalidBatchEntryId"
                | "NonExistentQueue"
                | "PurgeQueueInProgress"
                | "QueueDeletedRecently"
                | "TooManyEntriesInBatchRequest"
                | "UnsupportedOperation"
        );
        let query_code = if prefixed {
            format!("AWS.SimpleQueueService.{code}")
        } else {
            code.to_string()
        };
        let fault = if status >= 500 { "Receiver" } else { "Sender" };
        headers.push((
            "x-amzn-query-error".to_string(),
            format!("{query_code};{fault}"),
        ));
    }
    Action::RespondWith {
        status,
        body: body.to_string(),
        headers,
    }
}

/// The refusal AWS would give `target` with `body`, if any.
pub fn check(target: &str, body: &[u8]) -> Option<Action> {
    let (service, operation) = target.split_once('.')?;
    let req: Value = serde_json::from_slice(body).ok()?;
    match (service, operation) {
        ("AWSEvents", "PutEvents") => put_events(&req),
        ("AmazonSQS", op) => sqs(op, &req),
        (s, op) if s.starts_with("DynamoDB_") => dynamodb(op, &req),
        _ => None,
    }
}

/// An entry's size as EventBridge counts it (independent of the sink's own computation).
pub fn put_events_entry_size(entry: &Value) -> usize {
    let text = |k: &str| entry[k].as_str().map_or(0, str::len);
    let time = if entry.get("Time").is_some_and(|t| !t.is_null()) {
        14
    } else {
        0
    };
    let resources: usize = entry["Resources"]
        .as_array()
        .map(|r| r.iter().filter_map(Value::as_str).map(str::len).sum())
        .unwrap_or(0);
    time + text("Source") + text("DetailType") + text("Detail") + resources
}

fn put_events(req: &Value) -> Option<Action> {
    let entries = req["Entries"].as_array()?;
    if entries.is_empty() || entries.len() > PUT_EVENTS_MAX_ENTRIES {
        return Some(json_error(
            400,
            "events",
            "ValidationException",
            &format!(
                "1 validation error detected: Value at 'entries' failed to satisfy constraint: Member must have length less than or equal to {PUT_EVENTS_MAX_ENTRIES} (got {})",
                entries.len()
            ),
        ));
    }
    let total: usize = entries.iter().map(put_events_entry_size).sum();
    if total > PUT_EVENTS_MAX_BYTES {
        return Some(json_error(
            400,
            "events",
            "ValidationException",
            &format!("Total size of the entries in the request is over the limit ({total} > {PUT_EVENTS_MAX_BYTES} bytes)."),
        ));
    }
    None
}

/// Body plus attributes (name, data type and value of each), as SQS counts a message.
pub fn sqs_message_size(body: &Value, attributes: &Value) -> usize {
    let mut size = body.as_str().map_or(0, str::len);
    if let Some(attrs) = attributes.as_object() {
        for (name, a) in attrs {
            size += name.len() + a["DataType"].as_str().map_or(0, str::len);
            size += a["StringValue"].as_str().map_or(0, str::len);
            size += a["BinaryValue"]
                .as_str()
                .and_then(|b| base64::engine::general_purpose::STANDARD.decode(b).ok())
                .map_or(0, |b| b.len());
        }
    }
    size
}

fn sqs_invalid(message: String) -> Option<Action> {
    Some(json_error(400, "sqs", "InvalidParameterValue", &message))
}

/// The refusal of an SQS batch of `n` entries, if it has too many.
fn too_many_entries(n: usize) -> Option<Action> {
    (n > SQS_MAX_BATCH_ENTRIES).then(|| {
        json_error(
            400,
            "sqs",
            "TooManyEntriesInBatchRequest",
            &format!("Maximum number of entries per request are {SQS_MAX_BATCH_ENTRIES}. You have sent {n}."),
        )
    })
}

fn sqs(op: &str, req: &Value) -> Option<Action> {
    let visibility_ok = |v: &Value| {
        v.as_i64()
            .is_none_or(|v| (0..=SQS_MAX_VISIBILITY_SECS).contains(&v))
    };
    match op {
        "SendMessage" => {
            let size = sqs_message_size(&req["MessageBody"], &req["MessageAttributes"]);
            if size <= SQS_MAX_MESSAGE_BYTES {
                return None;
            }
            sqs_invalid(format!(
                "One or more parameters are invalid. Reason: Message must be shorter than {SQS_MAX_MESSAGE_BYTES} bytes (got {size})."
            ))
        }
        "SendMessageBatch" => {
            let entries = req["Entries"].as_array()?;
            if let Some(refusal) = too_many_entries(entries.len()) {
                return Some(refusal);
            }
            let sizes: Vec<usize> = entries
                .iter()
                .map(|e| sqs_message_size(&e["MessageBody"], &e["MessageAttributes"]))
                .collect();
            let total: usize = sizes.iter().sum();
            if sizes.iter().any(|s| *s > SQS_MAX_MESSAGE_BYTES) || total > SQS_MAX_BATCH_BYTES {
                return Some(json_error(
                    400,
                    "sqs",
                    "BatchRequestTooLong",
                    &format!("Batch requests cannot be longer than {SQS_MAX_BATCH_BYTES} bytes. You have sent {total} bytes."),
                ));
            }
            None
        }
        "DeleteMessageBatch" | "ChangeMessageVisibilityBatch" => {
            let entries = req["Entries"].as_array()?;
            too_many_entries(entries.len())
        }
        "ReceiveMessage" => {
            let max = &req["MaxNumberOfMessages"];
            if max
                .as_i64()
                .is_some_and(|n| !(1..=SQS_MAX_RECEIVE).contains(&n))
            {
                return sqs_invalid(format!(
                    "Value {max} for parameter MaxNumberOfMessages is invalid. Reason: Must be between 1 and {SQS_MAX_RECEIVE}, if provided."
                ));
            }
            let wait = &req["WaitTimeSeconds"];
            if wait
                .as_i64()
                .is_some_and(|n| !(0..=SQS_MAX_WAIT_SECS).contains(&n))
            {
                return sqs_invalid(format!(
                    "Value {wait} for parameter WaitTimeSeconds is invalid. Reason: Must be >= 0 and <= {SQS_MAX_WAIT_SECS}, if provided."
                ));
            }
            if visibility_ok(&req["VisibilityTimeout"]) {
                return None;
            }
            sqs_invalid(format!(
                "Value {} for parameter VisibilityTimeout is invalid. Reason: Must be >= 0 and <= {SQS_MAX_VISIBILITY_SECS}, if provided.",
                req["VisibilityTimeout"]
            ))
        }
        "ChangeMessageVisibility" => {
            if visibility_ok(&req["VisibilityTimeout"]) {
                return None;
            }
            sqs_invalid(format!(
                "Value {} for parameter VisibilityTimeout is invalid. Reason: Must be >= 0 and <= {SQS_MAX_VISIBILITY_SECS}.",
                req["VisibilityTimeout"]
            ))
        }
        _ => None,
    }
}

/// A DynamoDB attribute value's size: strings and binaries by their bytes, numbers by
/// significant digits (1 byte per two, plus 1), booleans and null 1 byte, maps and lists
/// 3 bytes plus their elements.
pub fn dynamodb_value_size(v: &Value) -> usize {
    let Some((kind, inner)) = v.as_object().and_then(|o| o.iter().next()) else {
        return 0;
    };
    let number = |n: &str| {
        n.trim_start_matches(['-', '0'])
            .replace('.', "")
            .len()
            .div_ceil(2)
            + 1
    };
    let binary = |b: &str| {
        base64::engine::general_purpose::STANDARD
            .decode(b)
            .map_or(b.len(), |d| d.len())
    };
    match kind.as_str() {
        "S" => inner.as_str().map_or(0, str::len),
        "N" => inner.as_str().map_or(0, number),
        "B" => inner.as_str().map_or(0, binary),
        "BOOL" | "NULL" => 1,
        "SS" => inner.as_array().map_or(0, |a| {
            a.iter().filter_map(Value::as_str).map(str::len).sum()
        }),
        "NS" => inner
            .as_array()
            .map_or(0, |a| a.iter().filter_map(Value::as_str).map(number).sum()),
        "BS" => inner
            .as_array()
            .map_or(0, |a| a.iter().filter_map(Value::as_str).map(binary).sum()),
        "M" => 3 + inner.as_object().map_or(0, item_size),
        "L" => {
            3 + inner
                .as_array()
                .map_or(0, |a| a.iter().map(|e| 1 + dynamodb_value_size(e)).sum())
        }
        _ => 0,
    }
}

/// An item's size: the sum of its attribute names and values.
pub fn item_size(item: &serde_json::Map<String, Value>) -> usize {
    item.iter()
        .map(|(k, v)| k.len() + dynamodb_value_size(v))
        .sum()
}

/// The refusal of an item of `size` bytes, if it is over the limit.
fn too_large_item(size: usize) -> Option<Action> {
    if size <= DYNAMODB_MAX_ITEM_BYTES {
        return None;
    }
    Some(json_error(
        400,
        "dynamodb",
        "ValidationException",
        &format!("Item size has exceeded the maximum allowed size ({size} > {DYNAMODB_MAX_ITEM_BYTES} bytes)"),
    ))
}

fn dynamodb(op: &str, req: &Value) -> Option<Action> {
    match op {
        "PutItem" => {
            let size = item_size(req["Item"].as_object()?);
            too_large_item(size)
        }
        "UpdateItem" => {
            // The resulting item is not known here; what the update writes is a lower bound.
            let size = req["Key"].as_object().map_or(0, item_size)
                + req["ExpressionAttributeValues"]
                    .as_object()
                    .map_or(0, |v| v.values().map(dynamodb_value_size).sum());
            too_large_item(size)
        }
        "TransactWriteItems" => {
            let items = req["TransactItems"].as_array()?;
            if items.len() > DYNAMODB_MAX_TRANSACT_ACTIONS {
                return Some(json_error(
                    400,
                    "dynamodb",
                    "ValidationException",
                    &format!("1 validation error detected: Value at 'transactItems' failed to satisfy constraint: Member must have length less than or equal to {DYNAMODB_MAX_TRANSACT_ACTIONS}"),
                ));
            }
            let sizes: Vec<usize> = items
                .iter()
                .map(|i| i["Put"]["Item"].as_object().map_or(0, item_size))
                .collect();
            if let Some(refusal) = sizes.iter().find_map(|s| too_large_item(*s)) {
                return Some(refusal);
            }
            let total: usize = sizes.iter().sum();
            (total > DYNAMODB_MAX_TRANSACT_BYTES).then(|| {
                json_error(
                    400,
                    "dynamodb",
                    "ValidationException",
                    "Transaction request cannot include more than 4 MB of data",
                )
            })
        }
        "BatchWriteItem" => {
            let n: usize = req["RequestItems"]
                .as_object()?
                .values()
                .filter_map(Value::as_array)
                .map(Vec::len)
                .sum();
            (n > DYNAMODB_MAX_BATCH_WRITE).then(|| {
                json_error(
                    400,
                    "dynamodb",
                    "ValidationException",
                    &format!("Too many items requested for the BatchWriteItem call ({n} > {DYNAMODB_MAX_BATCH_WRITE})"),
                )
            })
        }
        _ => None,
    }
}

/// Injected failures, as each service documents them: every `every`-th call of each
/// operation fails, alternating a throttle (refused before it took effect) with a 5xx
/// (which AWS may send after the write happened: the request is forwarded, then failed).
pub fn chaos_action(target: &str, nth: usize, every: usize) -> Option<Action> {
    if every == 0 || !(nth + 1).is_multiple_of(every) {
        return None;
    }
    let throttle = ((nth + 1) / every) % 2 == 1;
    if throttle {
        return throttle_action(target);
    }
    let service = target.split_once('.').map_or(target, |(s, _)| s);
    let fault = match service {
        "AWSEvents" => json_error(500, "events", "InternalException", "Internal service error"),
        "AmazonSQS" => json_error(
            500,
            "sqs",
            "InternalError",
            "We encountered an internal error. Please try again.",
        ),
        s if s.starts_with("DynamoDB_") => json_error(
            500,
            "dynamodb",
            "InternalServerError",
            "Internal server error",
        ),
        _ => return None,
    };
    Some(Action::ForwardThen(Box::new(fault)))
}

/// The service's answer when it refuses a call for want of capacity, before carrying it
/// out: EventBridge and DynamoDB `ThrottlingException` (DynamoDB's text is the one an
/// on-demand table's index answers with), SQS `RequestThrottled`. `None` for a target of
/// another service.
pub fn throttle_action(target: &str) -> Option<Action> {
    let service = target.split_once('.').map_or(target, |(s, _)| s);
    Some(match service {
        "AWSEvents" => json_error(400, "events", "ThrottlingException", "Rate exceeded"),
        "AmazonSQS" => json_error(400, "sqs", "RequestThrottled", "Request is throttled."),
        s if s.starts_with("DynamoDB_") => json_error(
            400,
            "dynamodb",
            "ThrottlingException",
            "Throughput exceeds the current capacity for one or more global secondary indexes. DynamoDB is automatically scaling your index so please try again shortly.",
        ),
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dynamodb_sizes_follow_the_documented_rules() {
        let item: Value = serde_json::json!({
            "pk": {"S": "L#abc"},          // 2 + 5
            "n": {"N": "12345"},           // 1 + 3 + 1
            "b": {"B": "AAECAw=="},        // 1 + 4
            "ok": {"BOOL": true},          // 2 + 1
        });
        assert_eq!(item_size(item.as_object().unwrap()), 7 + 5 + 5 + 3);
    }

    #[test]
    fn put_events_entries_are_sized_as_aws_documents() {
        let entry = serde_json::json!({"Source": "inlet.stripe", "DetailType": "invoice.paid", "Detail": "{}", "Time": 1});
        assert_eq!(put_events_entry_size(&entry), 14 + 12 + 12 + 2);
    }
}
