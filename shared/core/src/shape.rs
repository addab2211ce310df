//! Payload shapes and schema drift: what Inlet learns about each provider's events, and
//! what it reports when an event no longer looks like that.
//!
//! A payload's *shape* is its JSON paths with their types: `data.object.amount` (number),
//! `line_items[].sku` (string). Per provider and event type Inlet keeps the paths it has
//! seen, the types each had and how many events carried each ([`Shape`]). Once a shape has
//! learned from [`SchemaConfig::learn_events`] events, an event that brings a new path,
//! lacks a path every event so far carried, or gives a path a new type is *drift*: a
//! [`Finding`], recorded once (its id is the provider, type, kind and path), not once per
//! event. A tracked shape takes the change in (the next such event is not drift again); a
//! *pinned* one does not, and every event breaking it is held for review until an
//! operator accepts the finding ([`Shape::accept`]).
//!
//! What does not count: `null` beside another type (an optional value that is sometimes
//! absent), children of a container this event does not have or has empty (an empty
//! `line_items` says nothing about `line_items[].sku`), object keys that are ids (all
//! digits, or 24+ characters: maps keyed by record id would otherwise be a "new path" per
//! record). Shapes are bounded ([`MAX_PATHS`], [`MAX_DEPTH`]) so a hostile payload cannot
//! grow one without limit.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use serde_json::Value;
use sha2::{Digest, Sha256};
use time::OffsetDateTime;

/// Paths a shape keeps at most; paths past it are neither learned nor reported.
pub const MAX_PATHS: usize = 1_000;
/// Nesting read at most; deeper values are not looked into.
pub const MAX_DEPTH: usize = 16;
/// Object keys that stand for an id rather than a field name become `*`.
const ID_KEY_CHARS: usize = 24;

/// `[schema]`: schema-drift detection.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct SchemaConfig {
    /// Track payload shapes and report drift. On by default.
    pub enabled: bool,
    /// Events a provider's event type is learned from before drift is reported.
    pub learn_events: u64,
    /// How often a worker writes what it learned (counts) and reads what others learned;
    /// a new finding is written at the end of the batch that found it.
    pub flush_secs: u64,
    /// Providers whose shape is pinned: events breaking it are held for review.
    pub pin: Vec<String>,
}

impl Default for SchemaConfig {
    fn default() -> Self {
        Self {
            enabled: true,
            learn_events: 20,
            flush_secs: 60,
            pin: Vec::new(),
        }
    }
}

impl SchemaConfig {
    /// What is wrong with these settings, by key.
    pub fn problems(&self) -> Vec<(&'static str, String)> {
        let mut out = Vec::new();
        if self.learn_events == 0 {
            out.push(("learn_events", "must be at least 1".to_string()));
        }
        if !(1..=3_600).contains(&self.flush_secs) {
            out.push((
                "flush_secs",
                "must be between 1 and 3600 (a worker writes what it learned at most this late)"
                    .to_string(),
            ));
        }
        out
    }

    pub fn pinned(&self, provider: &str) -> bool {
        self.pin.iter().any(|p| p == provider)
    }
}

/// JSON types as bits, so a path's types are one small number.
pub mod kind {
    pub const NULL: u8 = 1;
    pub const BOOL: u8 = 2;
    pub const NUMBER: u8 = 4;
    pub const STRING: u8 = 8;
    pub const ARRAY: u8 = 16;
    pub const OBJECT: u8 = 32;
    /// Containers: their children are read.
    pub const CONTAINER: u8 = ARRAY | OBJECT;

    pub fn of(value: &serde_json::Value) -> u8 {
        match value {
            serde_json::Value::Null => NULL,
            serde_json::Value::Bool(_) => BOOL,
            serde_json::Value::Number(_) => NUMBER,
            serde_json::Value::String(_) => STRING,
            serde_json::Value::Array(_) => ARRAY,
            serde_json::Value::Object(_) => OBJECT,
        }
    }

    /// `"number"`, `"string|null"`, …
    pub fn describe(bits: u8) -> String {
        let names = [
            (BOOL, "boolean"),
            (NUMBER, "number"),
            (STRING, "string"),
            (ARRAY, "array"),
            (OBJECT, "object"),
            (NULL, "null"),
        ];
        let found: Vec<&str> = names
            .iter()
            .filter(|(bit, _)| bits & bit != 0)
            .map(|(_, name)| *name)
            .collect();
        if found.is_empty() {
            "nothing".to_string()
        } else {
            found.join("|")
        }
    }
}

/// One event's paths and the types each had (an array's elements may differ).
pub type EventShape = BTreeMap<String, u8>;

/// The paths of a JSON payload, or `None` when it is not JSON (a form body, a large
/// event's reference).
pub fn shape_of_body(body: &[u8]) -> Option<EventShape> {
    let value: Value = serde_json::from_slice(body).ok()?;
    Some(shape_of(&value))
}

/// The paths of `value`: the root is `""` (not listed), an object's field `a.b`, an
/// array's elements `a[]`.
pub fn shape_of(value: &Value) -> EventShape {
    let mut out = EventShape::new();
    let mut path = String::new();
    walk(value, &mut path, 0, &mut out);
    out
}

/// Adds `value`'s children under `path` (a buffer grown and cut back as the walk goes, so
/// a path is allocated only when it is new to this event).
fn walk(value: &Value, path: &mut String, depth: usize, out: &mut EventShape) {
    if depth >= MAX_DEPTH || out.len() >= MAX_PATHS {
        return;
    }
    let len = path.len();
    match value {
        Value::Object(fields) => {
            for (key, child) in fields {
                if len > 0 {
                    path.push('.');
                }
                push_field_name(path, key);
                note(out, path, child);
                walk(child, path, depth + 1, out);
                path.truncate(len);
            }
        }
        Value::Array(items) => {
            path.push_str("[]");
            for item in items {
                note(out, path, item);
                walk(item, path, depth + 1, out);
            }
            path.truncate(len);
        }
        _ => {}
    }
}

fn note(out: &mut EventShape, path: &str, value: &Value) {
    if let Some(bits) = out.get_mut(path) {
        *bits |= kind::of(value);
    } else if out.len() < MAX_PATHS {
        out.insert(path.to_string(), kind::of(value));
    }
}

/// A key as a path segment: ids become `*`; `.`, `[`, `]` and `\` are escaped.
fn push_field_name(path: &mut String, key: &str) {
    let looks_like_id = (!key.is_empty() && key.bytes().all(|b| b.is_ascii_digit()))
        || key.chars().count() >= ID_KEY_CHARS;
    if looks_like_id {
        path.push('*');
        return;
    }
    for c in key.chars() {
        if matches!(c, '.' | '[' | ']' | '\\') {
            path.push('\\');
        }
        path.push(c);
    }
}

/// The path `path` sits in (`""` at the top).
fn parent(path: &str) -> &str {
    if let Some(inner) = path.strip_suffix("[]") {
        return inner;
    }
    let bytes = path.as_bytes();
    let mut i = path.len();
    while i > 0 {
        i -= 1;
        if bytes[i] == b'.' && !escaped(bytes, i) {
            return &path[..i];
        }
    }
    ""
}

/// Whether the byte at `i` follows an odd number of backslashes.
fn escaped(bytes: &[u8], i: usize) -> bool {
    bytes[..i].iter().rev().take_while(|&&b| b == b'\\').count() % 2 == 1
}

/// What a shape knows of one path.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct PathSeen {
    /// The types seen ([`kind`] bits).
    pub kinds: u8,
    /// Events that carried it.
    pub count: u64,
    /// An operator accepted its absence: a missing value is not drift.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub optional: bool,
}

/// What Inlet has learned of one provider's event type.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Shape {
    /// Events learned from.
    pub events: u64,
    pub paths: BTreeMap<String, PathSeen>,
}

/// How an event differs from its shape.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum DriftKind {
    /// A path no event had.
    Added,
    /// A path every event had, absent.
    Missing,
    /// A path with a type it never had (`null` aside).
    Retyped,
}

impl DriftKind {
    pub fn as_str(self) -> &'static str {
        match self {
            DriftKind::Added => "added",
            DriftKind::Missing => "missing",
            DriftKind::Retyped => "retyped",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        [DriftKind::Added, DriftKind::Missing, DriftKind::Retyped]
            .into_iter()
            .find(|k| k.as_str() == s)
    }
}

/// One difference between an event and its shape.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Change {
    pub kind: DriftKind,
    pub path: String,
    /// The types the shape knew (`None` for a new path).
    pub old: Option<u8>,
    /// The types the event has (`None` for a missing path).
    pub new: Option<u8>,
}

impl Change {
    /// `new path data.object.tax (number)`, in an operator's words.
    pub fn describe(&self) -> String {
        let types = |bits: Option<u8>| bits.map(kind::describe).unwrap_or_default();
        match self.kind {
            DriftKind::Added => format!("new path {} ({})", self.path, types(self.new)),
            DriftKind::Missing => format!(
                "path {} ({}) missing, though every event so far had it",
                self.path,
                types(self.old)
            ),
            DriftKind::Retyped => format!(
                "path {} is {} (was {})",
                self.path,
                types(self.new),
                types(self.old)
            ),
        }
    }
}

impl Shape {
    /// Whether it has learned enough to report drift.
    pub fn learned(&self, learn_events: u64) -> bool {
        self.events >= learn_events
    }

    /// How `event` differs from this shape (empty while it is still learning).
    pub fn changes(&self, event: &EventShape, learn_events: u64) -> Vec<Change> {
        if !self.learned(learn_events) {
            return Vec::new();
        }
        let mut out = Vec::new();
        for (path, &bits) in event {
            match self.paths.get(path) {
                None if self.paths.len() < MAX_PATHS => out.push(Change {
                    kind: DriftKind::Added,
                    path: path.clone(),
                    old: None,
                    new: Some(bits),
                }),
                None => {}
                Some(seen) => {
                    let new_types = bits & !kind::NULL & !seen.kinds;
                    if new_types != 0 && seen.kinds & !kind::NULL != 0 {
                        out.push(Change {
                            kind: DriftKind::Retyped,
                            path: path.clone(),
                            old: Some(seen.kinds),
                            new: Some(bits),
                        });
                    }
                }
            }
        }
        for (path, seen) in &self.paths {
            let always = seen.count >= self.events && !seen.optional;
            if !always || event.contains_key(path) || path.ends_with("[]") {
                continue;
            }
            // Only where the event has the container, with something in it.
            let container = parent(path);
            let has_container = container.is_empty()
                || event
                    .get(container)
                    .is_some_and(|&b| b & kind::CONTAINER != 0);
            let array_elements_present =
                !container.ends_with("[]") || event.contains_key(container);
            if has_container && array_elements_present {
                out.push(Change {
                    kind: DriftKind::Missing,
                    path: path.clone(),
                    old: Some(seen.kinds),
                    new: None,
                });
            }
        }
        out
    }

    /// Learn from one event.
    pub fn absorb(&mut self, event: &EventShape) {
        self.events += 1;
        for (path, &bits) in event {
            if let Some(seen) = self.paths.get_mut(path) {
                seen.kinds |= bits;
                seen.count += 1;
            } else if self.paths.len() < MAX_PATHS {
                self.paths.insert(
                    path.clone(),
                    PathSeen {
                        kinds: bits,
                        count: 1,
                        optional: false,
                    },
                );
            }
        }
    }

    /// Add what another worker (or this one, since the last write) learned.
    pub fn merge(&mut self, other: &Shape) {
        self.events += other.events;
        for (path, theirs) in &other.paths {
            if let Some(seen) = self.paths.get_mut(path) {
                seen.kinds |= theirs.kinds;
                seen.count += theirs.count;
                seen.optional |= theirs.optional;
            } else if self.paths.len() < MAX_PATHS {
                self.paths.insert(path.clone(), *theirs);
            }
        }
    }

    /// Take an accepted finding in: the new path or type becomes part of the shape, a
    /// missing path becomes optional.
    pub fn accept(&mut self, finding: &Finding) {
        let seen = self.paths.entry(finding.path.clone()).or_default();
        match finding.kind {
            DriftKind::Added | DriftKind::Retyped => {
                seen.kinds |= finding.new.unwrap_or(0);
                seen.count = seen.count.max(1);
            }
            DriftKind::Missing => seen.optional = true,
        }
    }
}

/// Whether a finding still waits for an operator.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum FindingStatus {
    Open,
    Accepted,
}

impl FindingStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            FindingStatus::Open => "open",
            FindingStatus::Accepted => "accepted",
        }
    }
}

/// A drift finding: the first event that showed a change, kept once per change.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Finding {
    /// 12 hex characters of SHA-256 over provider, type, kind and path: every worker
    /// that meets the change names it alike, so it is recorded once.
    pub id: String,
    pub provider: String,
    /// The event type (`""` for events without one).
    pub event_type: String,
    pub kind: DriftKind,
    pub path: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub old: Option<u8>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub new: Option<u8>,
    #[serde(with = "time::serde::rfc3339")]
    pub first_seen: OffsetDateTime,
    /// The key of the first event that showed it.
    pub example_key: String,
    pub status: FindingStatus,
    #[serde(default, with = "time::serde::rfc3339::option")]
    pub accepted_at: Option<OffsetDateTime>,
}

impl Finding {
    pub fn new(
        provider: &str,
        event_type: &str,
        change: &Change,
        key: &str,
        at: OffsetDateTime,
    ) -> Self {
        Finding {
            id: finding_id(provider, event_type, change.kind, &change.path),
            provider: provider.to_string(),
            event_type: event_type.to_string(),
            kind: change.kind,
            path: change.path.clone(),
            old: change.old,
            new: change.new,
            first_seen: at,
            example_key: key.to_string(),
            status: FindingStatus::Open,
            accepted_at: None,
        }
    }

    pub fn change(&self) -> Change {
        Change {
            kind: self.kind,
            path: self.path.clone(),
            old: self.old,
            new: self.new,
        }
    }
}

/// A finding's id (see [`Finding::id`]).
pub fn finding_id(provider: &str, event_type: &str, kind: DriftKind, path: &str) -> String {
    let mut hash = Sha256::new();
    for part in [provider, event_type, kind.as_str(), path] {
        hash.update(part.as_bytes());
        hash.update([0]);
    }
    hex::encode(&hash.finalize()[..6])
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn learned(events: &[Value]) -> Shape {
        let mut shape = Shape::default();
        for e in events {
            shape.absorb(&shape_of(e));
        }
        shape
    }

    #[test]
    fn paths_name_fields_array_elements_and_escape_what_would_be_ambiguous() {
        let shape = shape_of(&json!({
            "a": {"b.c": 1, "n": null},
            "items": [{"sku": "x"}, {"sku": 3}],
            "by_id": {"12345": {"v": true}},
            "empty": []
        }));
        assert_eq!(shape.get("a"), Some(&kind::OBJECT));
        assert_eq!(shape.get("a.b\\.c"), Some(&kind::NUMBER));
        assert_eq!(shape.get("a.n"), Some(&kind::NULL));
        assert_eq!(
            shape.get("items[].sku"),
            Some(&(kind::STRING | kind::NUMBER))
        );
        assert_eq!(shape.get("by_id.*.v"), Some(&kind::BOOL));
        assert_eq!(shape.get("empty"), Some(&kind::ARRAY));
        assert!(!shape.contains_key("empty[]"));
        assert_eq!(parent("a.b\\.c"), "a");
        assert_eq!(parent("items[].sku"), "items[]");
        assert_eq!(parent("items[]"), "items");
        assert_eq!(parent("top"), "");
    }

    #[test]
    fn nothing_is_drift_while_learning_and_each_change_is_named() {
        let base = json!({"id": 1, "amount": 5, "tags": ["a"], "note": null});
        let mut shape = learned(&[base.clone(), base.clone()]);
        let drifted = json!({"id": 1, "amount": "5", "tags": ["a"], "note": "x", "tax": 1});
        assert!(
            shape.changes(&shape_of(&drifted), 3).is_empty(),
            "still learning"
        );
        shape.absorb(&shape_of(&base));
        let changes = shape.changes(&shape_of(&drifted), 3);
        let described: Vec<String> = changes.iter().map(Change::describe).collect();
        assert_eq!(
            described,
            vec![
                "path amount is string (was number)".to_string(),
                "new path tax (number)".to_string(),
            ],
            "null → string is not drift"
        );
        let dropped = json!({"amount": 5, "tags": ["a"], "note": null});
        let changes = shape.changes(&shape_of(&dropped), 3);
        assert_eq!(changes.len(), 1);
        assert_eq!(changes[0].kind, DriftKind::Missing);
        assert_eq!(changes[0].path, "id");
    }

    #[test]
    fn children_of_absent_null_or_empty_containers_are_not_missing() {
        let full = json!({"ship": {"city": "x"}, "items": [{"sku": "a"}]});
        let shape = learned(&[full.clone(), full.clone(), full]);
        for event in [
            json!({"ship": null, "items": []}),
            json!({"items": [{"sku": "a"}], "ship": {"city": "y"}}),
        ] {
            let missing: Vec<Change> = shape
                .changes(&shape_of(&event), 1)
                .into_iter()
                .filter(|c| c.kind == DriftKind::Missing)
                .collect();
            assert!(missing.is_empty(), "{event}: {missing:?}");
        }
        let missing = shape.changes(&shape_of(&json!({"ship": {}, "items": [{}]})), 1);
        let paths: Vec<&str> = missing.iter().map(|c| c.path.as_str()).collect();
        assert_eq!(paths, vec!["items[].sku", "ship.city"]);
    }

    #[test]
    fn absorbing_a_change_makes_it_part_of_the_shape_and_accepting_does_too() {
        let base = json!({"id": 1});
        let mut shape = learned(&[base.clone(), base]);
        let added = shape_of(&json!({"id": 1, "tax": 2}));
        assert_eq!(shape.changes(&added, 1).len(), 1);
        shape.absorb(&added);
        assert!(shape.changes(&added, 1).is_empty());
        // A missing path is reported while every event had it, not after.
        let dropped = shape_of(&json!({"tax": 2}));
        assert_eq!(shape.changes(&dropped, 1).len(), 1);
        let change = shape.changes(&dropped, 1).remove(0);
        let finding = Finding::new("p", "t", &change, "p:1", OffsetDateTime::UNIX_EPOCH);
        let mut pinned = shape.clone();
        pinned.accept(&finding);
        assert!(pinned.changes(&dropped, 1).is_empty());
        shape.absorb(&dropped);
        assert!(shape.changes(&dropped, 1).is_empty());
    }

    #[test]
    fn hostile_payloads_are_bounded() {
        let mut wide = serde_json::Map::new();
        for i in 0..5_000 {
            wide.insert(format!("field_{i}"), json!(i));
        }
        assert_eq!(shape_of(&Value::Object(wide)).len(), MAX_PATHS);
        let mut deep = json!(1);
        for _ in 0..1_000 {
            deep = json!({ "d": deep });
        }
        assert_eq!(shape_of(&deep).len(), MAX_DEPTH);
        assert!(shape_of_body(b"not json").is_none());
        assert!(shape_of_body(b"{\"truncated\": ").is_none());
    }

    #[test]
    fn finding_ids_are_stable_and_distinct() {
        let a = finding_id("stripe", "charge.succeeded", DriftKind::Added, "x");
        assert_eq!(
            a,
            finding_id("stripe", "charge.succeeded", DriftKind::Added, "x")
        );
        assert_eq!(a.len(), 12);
        assert_ne!(
            a,
            finding_id("stripe", "charge.succeeded", DriftKind::Missing, "x")
        );
        assert_ne!(
            a,
            finding_id("stripe", "charge.succeede", DriftKind::Added, "dx")
        );
    }
}
