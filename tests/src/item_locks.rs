//! DynamoDB's per-item write atomicity, which moto lacks.
//!
//! DynamoDB evaluates a write's `ConditionExpression` and applies the write as one atomic
//! step per item: of 32 concurrent `attribute_not_exists(pk)` PutItems on one key, exactly
//! one succeeds
//! (<https://docs.aws.amazon.com/amazondynamodb/latest/developerguide/Expressions.ConditionExpressions.html>,
//! "conditional writes", checked 2026-11-28). moto's threaded server checks the condition
//! and writes in two steps without a lock, so two racing claims can both win — a property
//! of the emulator, not of the code under test. The proxy therefore forwards writes to one
//! item one at a time; writes to different items still run concurrently, as on AWS.

use std::collections::{BTreeSet, HashMap};
use std::sync::{Arc, Mutex};

use serde_json::Value;
use tokio::sync::OwnedMutexGuard;

/// The write operations whose condition checks must see each other.
const WRITES: [&str; 5] = [
    "DynamoDB_20120810.PutItem",
    "DynamoDB_20120810.UpdateItem",
    "DynamoDB_20120810.DeleteItem",
    "DynamoDB_20120810.TransactWriteItems",
    "DynamoDB_20120810.BatchWriteItem",
];

/// One lock per (table, item key) seen so far.
#[derive(Default, Clone)]
pub struct ItemLocks {
    locks: Arc<Mutex<HashMap<String, Arc<tokio::sync::Mutex<()>>>>>,
}

impl ItemLocks {
    /// Holds every item the request writes (in a fixed order, so two transactions over the
    /// same items cannot deadlock) until the guards drop; nothing for other requests.
    pub async fn hold(&self, target: &str, body: &[u8]) -> Vec<OwnedMutexGuard<()>> {
        if !WRITES.contains(&target) {
            return Vec::new();
        }
        let Ok(request) = serde_json::from_slice::<Value>(body) else {
            return Vec::new();
        };
        let mut guards = Vec::new();
        for item in written_items(&request) {
            let lock = self.locks.lock().unwrap().entry(item).or_default().clone();
            guards.push(lock.lock_owned().await);
        }
        guards
    }
}

/// `table/key` of each item a write request touches. The key is the `Key` map where the
/// operation names one; a PutItem names the whole item, so its key is the stack's partition
/// key `pk` (or, for a table without one, the table as a whole).
fn written_items(request: &Value) -> BTreeSet<String> {
    fn item_id(table: &Value, write: &Value) -> Option<String> {
        let table = table.as_str()?;
        let named = write.get("Key").or_else(|| write.get("Item"));
        let key = match (named.and_then(|n| n.get("pk")), write.get("Key")) {
            (Some(pk), _) => pk.to_string(),
            (None, Some(key)) => key.to_string(),
            (None, None) => String::new(),
        };
        Some(format!("{table}/{key}"))
    }
    let mut items = BTreeSet::new();
    if let Some(id) = request
        .get("TableName")
        .and_then(|table| item_id(table, request))
    {
        items.insert(id);
    }
    // TransactWriteItems: [{Put|Update|Delete|ConditionCheck: {TableName, Key|Item}}]
    for action in request
        .get("TransactItems")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(Value::as_object)
    {
        for write in action.values() {
            if let Some(id) = write.get("TableName").and_then(|t| item_id(t, write)) {
                items.insert(id);
            }
        }
    }
    // BatchWriteItem: {RequestItems: {table: [{PutRequest: {Item}} | {DeleteRequest: {Key}}]}}
    for (table, requests) in request
        .get("RequestItems")
        .and_then(Value::as_object)
        .into_iter()
        .flatten()
    {
        for write in requests.as_array().into_iter().flatten() {
            for inner in write.as_object().into_iter().flat_map(|o| o.values()) {
                if let Some(id) = item_id(&Value::String(table.clone()), inner) {
                    items.insert(id);
                }
            }
        }
    }
    items
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn names_every_item_a_write_touches() {
        let put = json!({"TableName": "t", "Item": {"pk": {"S": "a"}, "x": {"N": "1"}}});
        assert_eq!(
            written_items(&put),
            BTreeSet::from([r#"t/{"S":"a"}"#.to_string()])
        );
        let tx = json!({"TransactItems": [
            {"Put": {"TableName": "t", "Item": {"pk": {"S": "b"}}}},
            {"Update": {"TableName": "t", "Key": {"pk": {"S": "a"}}}},
        ]});
        assert_eq!(written_items(&tx).len(), 2);
        let update = json!({"TableName": "t", "Key": {"pk": {"S": "a"}}});
        assert_eq!(
            written_items(&update),
            written_items(&put),
            "one item, one lock"
        );
        let batch = json!({"RequestItems": {"t": [
            {"PutRequest": {"Item": {"pk": {"S": "a"}}}},
            {"DeleteRequest": {"Key": {"pk": {"S": "c"}}}},
        ]}});
        assert_eq!(written_items(&batch).len(), 2);
    }
}
