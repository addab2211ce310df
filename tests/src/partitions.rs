//! DynamoDB's per-partition write ceiling, which moto does not enforce, as a [`Rule`] for
//! the fault proxy: every write is charged to the partition key it lands on — in the table
//! and in each global secondary index whose key the item carries or loses — and a request
//! that would take any partition past its write units for the current second is refused
//! with the error DynamoDB answers with, before it acts.
//!
//! As AWS documents it (read 2026-12-06):
//! - a partition key value takes at most 1,000 write units a second, an index's as the
//!   table's (docs.aws.amazon.com/amazondynamodb/latest/developerguide/
//!   bp-partition-key-design.html);
//! - a write unit is one write of up to 1 KB; a transactional write costs two
//!   (…/CapacityUnitCalculations.html, …/transaction-apis.html#transaction-capacity-handling);
//! - an index is written when an item gains, changes or loses its index key (a change is a
//!   delete and a put: two writes), and a throttled index throttles the write to the
//!   table (…/GSI.html#GSI.ThroughputConsiderations), answered as
//!   `ProvisionedThroughputExceededException` for a key range of an on-demand table
//!   (…/TroubleshootingThrottling.html).
//!
//! A partition's units are counted over windows of [`WINDOW_SECS`] (its budget is that many
//! seconds' worth): DynamoDB keeps up to 300 s of a partition's unused capacity for bursts
//! (…/burst-adaptive-capacity.html), and at the small counts of a scaled-down run a
//! one-second window would refuse on the chance clumping of a few events.
//!
//! Scaled down: `units_per_second` is the ceiling this machine can reach (1,000 divided by
//! the scale the caller reports). Item sizes of updates are what the request names (the key
//! and the values), at least the size last written: close to what AWS counts for the small
//! items Inlet writes, and never more.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Instant;

use serde_json::{Map, Value};

use crate::aws_limits::{dynamodb_value_size, item_size, json_error};
use crate::faults::{Action, Rule};

/// Write units consumed and refusals, by key space: `table L#` (the table, by the partition
/// key's prefix up to `#`) or `index events` (an index, by name).
#[derive(Debug, Clone, Default)]
pub struct Ledger {
    pub units: HashMap<String, f64>,
    pub throttled: HashMap<String, usize>,
    /// The busiest partition of each key space in any one second: (partition, units).
    pub hottest: HashMap<String, (String, f64)>,
}

/// Seconds per accounting window.
pub const WINDOW_SECS: u64 = 5;

/// The accounting, shared with the caller who reads [`Partitions::ledger`].
#[derive(Clone)]
pub struct Partitions {
    units_per_second: f64,
    state: Arc<Mutex<State>>,
}

#[derive(Default)]
struct State {
    /// Per table: the hash key's name, and each index's name and hash key's name. Learnt
    /// from the `CreateTable` requests that pass.
    tables: HashMap<String, (String, Vec<(String, String)>)>,
    /// What each item looks like to the accounting: its last size and index partitions.
    items: HashMap<(String, String), Known>,
    /// (key space, partition) → (window, units used in it).
    used: HashMap<(String, String), (u64, f64)>,
    ledger: Ledger,
}

#[derive(Default, Clone)]
struct Known {
    size: usize,
    /// index name → partition key value.
    indexes: HashMap<String, String>,
}

/// One charge: a key space, a partition in it, units.
type Charge = (String, String, f64);

impl Partitions {
    pub fn new(units_per_second: f64) -> Self {
        Self {
            units_per_second,
            state: Arc::new(Mutex::new(State::default())),
        }
    }

    /// What has been charged and refused so far.
    pub fn ledger(&self) -> Ledger {
        self.state
            .lock()
            .map(|s| s.ledger.clone())
            .unwrap_or_default()
    }

    /// Forget what was charged and refused (between the steps of a benchmark).
    pub fn reset(&self) {
        if let Ok(mut s) = self.state.lock() {
            s.ledger = Ledger::default();
            s.used.clear();
        }
    }

    /// The accounting in front of `inner` (which sees only what the accounting lets pass).
    pub fn rule(&self, inner: Rule) -> Rule {
        let me = self.clone();
        let started = Instant::now();
        Arc::new(move |target, nth, body| {
            let Some(op) = target.strip_prefix("DynamoDB_20120810.") else {
                return inner(target, nth, body);
            };
            let Ok(req) = serde_json::from_slice::<Value>(body) else {
                return inner(target, nth, body);
            };
            let second = started.elapsed().as_secs() / WINDOW_SECS;
            match me.admit(op, &req, second) {
                Some(refusal) => refusal,
                None => inner(target, nth, body),
            }
        })
    }

    /// Charge the request's writes, or refuse it (charging nothing) if one partition would
    /// go over its units for this second.
    fn admit(&self, op: &str, req: &Value, second: u64) -> Option<Action> {
        let mut state = self.state.lock().ok()?;
        if op == "CreateTable" {
            state.learn(req);
            return None;
        }
        let writes = writes_of(op, req);
        if writes.is_empty() {
            return None;
        }
        let mut charges: Vec<Charge> = Vec::new();
        let mut after: Vec<((String, String), Known)> = Vec::new();
        for w in &writes {
            let (c, known) = state.charges(w);
            charges.extend(c);
            after.push(((w.table.clone(), w.pk.clone()), known));
        }
        // Several writes of one request to one partition add up.
        let mut wanted: HashMap<(String, String), f64> = HashMap::new();
        for (space, partition, units) in &charges {
            *wanted
                .entry((space.clone(), partition.clone()))
                .or_default() += units;
        }
        let over: Vec<String> = wanted
            .iter()
            .filter(|(k, units)| {
                let used = match state.used.get(*k) {
                    Some((s, u)) if *s == second => *u,
                    _ => 0.0,
                };
                used + **units > self.units_per_second * WINDOW_SECS as f64
            })
            .map(|((space, _), _)| space.clone())
            .collect();
        if !over.is_empty() {
            let index = over.iter().any(|s| s.starts_with("index "));
            for space in over {
                *state.ledger.throttled.entry(space).or_default() += 1;
            }
            return Some(json_error(
                400,
                "dynamodb",
                "ProvisionedThroughputExceededException",
                if index {
                    "Throughput exceeds the current capacity for one or more global secondary indexes (IndexWriteKeyRangeThroughputExceeded)."
                } else {
                    "Throughput exceeds the current capacity of your table (TableWriteKeyRangeThroughputExceeded)."
                },
            ));
        }
        for ((space, partition), units) in wanted {
            let entry = state
                .used
                .entry((space.clone(), partition.clone()))
                .or_insert((second, 0.0));
            if entry.0 != second {
                *entry = (second, 0.0);
            }
            entry.1 += units;
            let now = entry.1;
            *state.ledger.units.entry(space.clone()).or_default() += units;
            let hottest = state
                .ledger
                .hottest
                .entry(space)
                .or_insert((partition.clone(), 0.0));
            if now > hottest.1 {
                *hottest = (partition, now);
            }
        }
        for (key, known) in after {
            state.items.insert(key, known);
        }
        None
    }
}

/// One write a request makes.
struct Write {
    table: String,
    pk: String,
    /// Transactional writes cost twice.
    transactional: bool,
    /// The item's size after the write (0: deleted), at least what the request names.
    size: usize,
    /// Index key attributes the write sets (name → value) or removes (name → None); `all`
    /// when the write replaces the whole item (a put: unnamed index keys are gone).
    sets: HashMap<String, Option<String>>,
    whole: bool,
}

impl State {
    fn learn(&mut self, req: &Value) {
        let hash = |schema: &Value| {
            schema
                .as_array()
                .and_then(|a| a.iter().find(|k| k["KeyType"] == "HASH"))
                .and_then(|k| k["AttributeName"].as_str())
                .map(str::to_string)
        };
        let (Some(name), Some(pk)) = (req["TableName"].as_str(), hash(&req["KeySchema"])) else {
            return;
        };
        let indexes = req["GlobalSecondaryIndexes"]
            .as_array()
            .map(|a| {
                a.iter()
                    .filter_map(|i| {
                        Some((i["IndexName"].as_str()?.to_string(), hash(&i["KeySchema"])?))
                    })
                    .collect()
            })
            .unwrap_or_default();
        self.tables.insert(name.to_string(), (pk, indexes));
    }

    /// The charges of one write, and what the item looks like after it.
    fn charges(&self, w: &Write) -> (Vec<Charge>, Known) {
        let before = self
            .items
            .get(&(w.table.clone(), w.pk.clone()))
            .cloned()
            .unwrap_or_default();
        let size = if w.size == 0 {
            0
        } else if w.whole {
            w.size
        } else {
            w.size.max(before.size)
        };
        let units_of = |bytes: usize| (bytes.max(1) as f64 / 1024.0).ceil();
        let factor = if w.transactional { 2.0 } else { 1.0 };
        let mut charges = vec![(
            format!("table {}", prefix(&w.pk)),
            w.pk.clone(),
            units_of(size.max(before.size)) * factor,
        )];
        let mut after = Known {
            size,
            indexes: HashMap::new(),
        };
        let indexes = self
            .tables
            .get(&w.table)
            .map(|(_, i)| i.clone())
            .unwrap_or_default();
        for (index, attr) in indexes {
            let old = before.indexes.get(&index).cloned();
            let new = match w.sets.get(&attr) {
                Some(v) => v.clone(),
                None if w.whole || size == 0 => None,
                None => old.clone(),
            };
            let space = format!("index {index}");
            let units = units_of(size.max(before.size));
            match (&old, &new) {
                (Some(o), Some(n)) if o == n => charges.push((space, n.clone(), units)),
                (Some(o), Some(n)) => {
                    charges.push((space.clone(), o.clone(), units));
                    charges.push((space, n.clone(), units));
                }
                (Some(o), None) => charges.push((space, o.clone(), units)),
                (None, Some(n)) => charges.push((space, n.clone(), units)),
                (None, None) => {}
            }
            if let Some(n) = new {
                after.indexes.insert(index, n);
            }
        }
        (charges, after)
    }
}

/// `L#stripe:evt_1` → `L#`; a key with no `#` is its own space.
fn prefix(pk: &str) -> String {
    match pk.find('#') {
        Some(i) => pk[..=i].to_string(),
        None => "(no prefix)".to_string(),
    }
}

fn string_of(v: &Value) -> Option<String> {
    v.get("S")
        .and_then(Value::as_str)
        .or_else(|| v.get("N").and_then(Value::as_str))
        .map(str::to_string)
}

/// The writes of a request, with the partition key named `pk` (the stack's table; a table
/// keyed otherwise is charged under its first key attribute's value).
fn writes_of(op: &str, req: &Value) -> Vec<Write> {
    let put = |table: &str, item: &Value, transactional: bool| -> Option<Write> {
        let item = item.as_object()?;
        Some(Write {
            table: table.to_string(),
            pk: key_of(item)?,
            transactional,
            size: item_size(item),
            sets: item
                .iter()
                .map(|(k, v)| (k.clone(), string_of(v)))
                .collect(),
            whole: true,
        })
    };
    let update = |u: &Value, transactional: bool| -> Option<Write> {
        let key = u["Key"].as_object()?;
        let values = u["ExpressionAttributeValues"].as_object();
        let names = u["ExpressionAttributeNames"].as_object();
        let size = item_size(key)
            + values.map_or(0, |v| v.values().map(dynamodb_value_size).sum::<usize>());
        Some(Write {
            table: u["TableName"].as_str()?.to_string(),
            pk: key_of(key)?,
            transactional,
            size,
            sets: updated_attributes(u["UpdateExpression"].as_str().unwrap_or(""), names, values),
            whole: false,
        })
    };
    let delete = |d: &Value, transactional: bool| -> Option<Write> {
        Some(Write {
            table: d["TableName"].as_str()?.to_string(),
            pk: key_of(d["Key"].as_object()?)?,
            transactional,
            size: 0,
            sets: HashMap::new(),
            whole: true,
        })
    };
    let table = req["TableName"].as_str().unwrap_or_default();
    match op {
        "PutItem" => put(table, &req["Item"], false).into_iter().collect(),
        "UpdateItem" => update(req, false).into_iter().collect(),
        "DeleteItem" => delete(req, false).into_iter().collect(),
        "BatchWriteItem" => req["RequestItems"]
            .as_object()
            .map(|tables| {
                tables
                    .iter()
                    .flat_map(|(t, reqs)| {
                        reqs.as_array().into_iter().flatten().filter_map(move |r| {
                            if let Some(p) = r.get("PutRequest") {
                                put(t, &p["Item"], false)
                            } else {
                                let mut d = r.get("DeleteRequest")?.clone();
                                d["TableName"] = Value::String(t.clone());
                                delete(&d, false)
                            }
                        })
                    })
                    .collect()
            })
            .unwrap_or_default(),
        "TransactWriteItems" => req["TransactItems"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|t| {
                if let Some(p) = t.get("Put") {
                    put(p["TableName"].as_str()?, &p["Item"], true)
                } else if let Some(u) = t.get("Update") {
                    update(u, true)
                } else {
                    delete(t.get("Delete")?, true)
                }
            })
            .collect(),
        _ => Vec::new(),
    }
}

/// The value of an item's partition key: `pk` if it has one, else its first attribute's.
fn key_of(key: &Map<String, Value>) -> Option<String> {
    key.get("pk")
        .or_else(|| key.values().next())
        .and_then(string_of)
}

/// What an update expression does to each attribute it names at the top level:
/// `SET a = :v` (or `if_not_exists(a, :v)`) → `Some(value)`, `REMOVE a` → `None`. Other
/// forms (`a = a + :n`, `list_append`) leave the attribute's value unknown and are not
/// reported: they never touch the index keys Inlet uses.
fn updated_attributes(
    expression: &str,
    names: Option<&Map<String, Value>>,
    values: Option<&Map<String, Value>>,
) -> HashMap<String, Option<String>> {
    let name = |n: &str| -> String {
        let n = n.trim();
        names
            .and_then(|m| m.get(n))
            .and_then(Value::as_str)
            .unwrap_or(n)
            .to_string()
    };
    let mut out = HashMap::new();
    for (clause, body) in split_clauses(expression) {
        for part in split_top_level(body) {
            match clause {
                "SET" => {
                    let Some((lhs, rhs)) = part.split_once('=') else {
                        continue;
                    };
                    let rhs = rhs.trim();
                    let placeholder = if let Some(inner) = rhs.strip_prefix("if_not_exists(") {
                        inner
                            .trim_end_matches(')')
                            .rsplit(',')
                            .next()
                            .unwrap_or("")
                            .trim()
                    } else {
                        rhs
                    };
                    if placeholder.starts_with(':') && !placeholder.contains(' ') {
                        let value = values.and_then(|v| v.get(placeholder)).and_then(string_of);
                        out.insert(name(lhs), value);
                    }
                }
                "REMOVE" => {
                    out.insert(name(part), None);
                }
                _ => {}
            }
        }
    }
    out
}

/// `SET a = :a, b = :b REMOVE c` → [("SET", "a = :a, b = :b"), ("REMOVE", "c")].
fn split_clauses(expression: &str) -> Vec<(&str, &str)> {
    let keywords = ["SET", "REMOVE", "ADD", "DELETE"];
    let mut marks: Vec<(usize, &str)> = Vec::new();
    for (i, _) in expression.char_indices() {
        for k in keywords {
            let rest = &expression[i..];
            let before_ok = i == 0 || expression[..i].ends_with(' ');
            if before_ok && rest.starts_with(k) && rest[k.len()..].starts_with(' ') {
                marks.push((i, k));
            }
        }
    }
    marks
        .iter()
        .enumerate()
        .map(|(n, &(at, k))| {
            let end = marks.get(n + 1).map_or(expression.len(), |m| m.0);
            (k, expression[at + k.len()..end].trim())
        })
        .collect()
}

/// Split on commas outside parentheses.
fn split_top_level(s: &str) -> Vec<&str> {
    let (mut depth, mut start, mut out) = (0i32, 0usize, Vec::new());
    for (i, c) in s.char_indices() {
        match c {
            '(' => depth += 1,
            ')' => depth -= 1,
            ',' if depth == 0 => {
                out.push(s[start..i].trim());
                start = i + 1;
            }
            _ => {}
        }
    }
    if !s[start..].trim().is_empty() {
        out.push(s[start..].trim());
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn with_table() -> Partitions {
        let p = Partitions::new(10.0);
        p.admit(
            "CreateTable",
            &json!({"TableName": "t", "KeySchema": [{"AttributeName": "pk", "KeyType": "HASH"}],
                    "GlobalSecondaryIndexes": [{"IndexName": "pending",
                        "KeySchema": [{"AttributeName": "pq", "KeyType": "HASH"}, {"AttributeName": "pa", "KeyType": "RANGE"}]}]}),
            0,
        );
        p
    }

    fn staged(id: usize, pq: &str) -> Value {
        json!({"TableName": "t", "Item": {"pk": {"S": format!("O#{id}")}, "pq": {"S": pq}, "pa": {"N": "1"}}})
    }

    #[test]
    fn one_index_partition_takes_its_units_per_window_and_no_more() {
        let p = with_table();
        let budget = 10 * WINDOW_SECS as usize;
        for id in 0..budget {
            assert!(
                p.admit("PutItem", &staged(id, "outbox"), 0).is_none(),
                "{id}"
            );
        }
        assert!(
            p.admit("PutItem", &staged(budget, "outbox"), 0).is_some(),
            "one more"
        );
        let other = p.admit("PutItem", &staged(budget + 1, "outbox#1"), 0);
        assert!(other.is_none(), "another partition");
        let next = p.admit("PutItem", &staged(budget + 2, "outbox"), 1);
        assert!(next.is_none(), "the next window");
        let ledger = p.ledger();
        assert_eq!(ledger.throttled.get("index pending"), Some(&1));
        let written = budget as f64 + 2.0;
        assert_eq!(ledger.units.get("index pending"), Some(&written));
        assert_eq!(ledger.units.get("table O#"), Some(&written));
    }

    #[test]
    fn removing_an_index_key_charges_the_partition_it_leaves() {
        let p = with_table();
        assert!(p.admit("PutItem", &staged(1, "outbox#3"), 0).is_none());
        let publish = json!({"TableName": "t", "Key": {"pk": {"S": "O#1"}},
            "UpdateExpression": "SET #st = :published REMOVE pq, pa",
            "ExpressionAttributeNames": {"#st": "status"},
            "ExpressionAttributeValues": {":published": {"S": "published"}}});
        assert!(p.admit("UpdateItem", &publish, 0).is_none());
        assert_eq!(p.ledger().units.get("index pending"), Some(&2.0));
        // Gone from the index: a later update does not touch it.
        assert!(p.admit("UpdateItem", &publish, 0).is_none());
        assert_eq!(p.ledger().units.get("index pending"), Some(&2.0));
    }

    #[test]
    fn transactions_cost_twice_and_sizes_round_up_per_kilobyte() {
        let p = with_table();
        let big = json!({"TransactItems": [{"Put": {"TableName": "t",
            "Item": {"pk": {"S": "O#9"}, "payload": {"S": "x".repeat(1500)}}}}]});
        assert!(p.admit("TransactWriteItems", &big, 0).is_none());
        assert_eq!(p.ledger().units.get("table O#"), Some(&4.0));
        assert_eq!(
            p.ledger().units.get("index pending"),
            None,
            "no index key: not indexed"
        );
    }

    #[test]
    fn update_expressions_are_read_for_the_keys_they_set_and_remove() {
        let values = json!({":e": {"S": "2026-12-06#3"}, ":n": {"N": "1"}});
        let names = json!({"#ttl": "ttl"});
        let got = updated_attributes(
            "SET ed = if_not_exists(ed, :e), #ttl = :n, att = list_append(if_not_exists(att, :none), :a) ADD n :n REMOVE pq",
            names.as_object(),
            values.as_object(),
        );
        assert_eq!(got.get("ed"), Some(&Some("2026-12-06#3".to_string())));
        assert_eq!(got.get("ttl"), Some(&Some("1".to_string())));
        assert_eq!(got.get("pq"), Some(&None));
        assert!(!got.contains_key("att") && !got.contains_key("n"));
    }
}
