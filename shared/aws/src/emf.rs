//! Metrics as CloudWatch Embedded Metric Format: counters and timings accumulate during an
//! invocation and [`EmfMetrics::flush`] prints one JSON line per dimension set to stdout,
//! which Lambda ships to CloudWatch Logs and CloudWatch turns into metrics.

use std::collections::BTreeMap;
use std::sync::Mutex;

use inlet_core::metrics::{Dim, Metrics};

pub const NAMESPACE: &str = "Inlet";

/// Values one metric may carry in one document: "an array of up to 100 values" (the
/// Embedded Metric Format specification, docs.aws.amazon.com/AmazonCloudWatch/latest/
/// monitoring/CloudWatch_Embedded_Metric_Format_Specification.html, read 2026-12-06).
/// CloudWatch rejects the whole document past it, so a busier invocation's timings are
/// split across documents (CloudWatch aggregates one metric across documents).
pub const MAX_VALUES_PER_METRIC: usize = 100;

type Dims = Vec<(String, String)>;

#[derive(Default)]
struct Pending {
    counters: BTreeMap<Dims, BTreeMap<String, f64>>,
    timings: BTreeMap<Dims, BTreeMap<String, Vec<f64>>>,
}

#[derive(Default)]
pub struct EmfMetrics {
    pending: Mutex<Pending>,
}

fn dims(d: &[Dim<'_>]) -> Dims {
    let mut v: Dims = d
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    v.sort();
    v
}

impl EmfMetrics {
    pub fn new() -> Self {
        Self::default()
    }

    /// The EMF documents for what accumulated, emptying it.
    pub fn take_documents(&self) -> Vec<serde_json::Value> {
        let Ok(mut p) = self.pending.lock() else {
            return Vec::new();
        };
        let taken = std::mem::take(&mut *p);
        let now = time::OffsetDateTime::now_utc().unix_timestamp_nanos() / 1_000_000;
        let mut docs = Vec::new();
        // Timing values past a document's first hundred, as further documents.
        let mut overflow: Vec<(Dims, String, Vec<f64>)> = Vec::new();
        let mut sets: BTreeMap<Dims, serde_json::Map<String, serde_json::Value>> = BTreeMap::new();
        let mut defs: BTreeMap<Dims, Vec<serde_json::Value>> = BTreeMap::new();
        for (d, counters) in taken.counters {
            for (name, value) in counters {
                sets.entry(d.clone())
                    .or_default()
                    .insert(name.clone(), value.into());
                defs.entry(d.clone())
                    .or_default()
                    .push(serde_json::json!({"Name": name, "Unit": "Count"}));
            }
        }
        for (d, timings) in taken.timings {
            for (name, values) in timings {
                let mut chunks = values.chunks(MAX_VALUES_PER_METRIC);
                let first = chunks.next().unwrap_or_default().to_vec();
                for rest in chunks {
                    overflow.push((d.clone(), name.clone(), rest.to_vec()));
                }
                sets.entry(d.clone())
                    .or_default()
                    .insert(name.clone(), first.into());
                defs.entry(d.clone())
                    .or_default()
                    .push(serde_json::json!({"Name": name, "Unit": "Milliseconds"}));
            }
        }
        for (d, mut fields) in sets {
            let names: Vec<&String> = d.iter().map(|(k, _)| k).collect();
            fields.insert(
                "_aws".into(),
                serde_json::json!({
                    "Timestamp": now as i64,
                    // Each metric also goes out without dimensions: the stack's alarms watch totals.
                    "CloudWatchMetrics": [{"Namespace": NAMESPACE, "Dimensions": [names, []], "Metrics": defs.remove(&d).unwrap_or_default()}]
                }),
            );
            for (k, v) in &d {
                fields.insert(k.clone(), v.clone().into());
            }
            docs.push(serde_json::Value::Object(fields));
        }
        for (d, name, values) in overflow {
            let names: Vec<&String> = d.iter().map(|(k, _)| k).collect();
            let mut fields = serde_json::Map::new();
            fields.insert(
                "_aws".into(),
                serde_json::json!({
                    "Timestamp": now as i64,
                    "CloudWatchMetrics": [{"Namespace": NAMESPACE, "Dimensions": [names, []], "Metrics": [{"Name": name, "Unit": "Milliseconds"}]}]
                }),
            );
            for (k, v) in &d {
                fields.insert(k.clone(), v.clone().into());
            }
            fields.insert(name, values.into());
            docs.push(serde_json::Value::Object(fields));
        }
        docs
    }

    /// Print the accumulated metrics (call at the end of each invocation).
    pub fn flush(&self) {
        let docs = self.take_documents();
        if docs.is_empty() {
            return;
        }
        // One write for the invocation's documents, not one per line.
        let mut out = String::new();
        for doc in docs {
            out.push_str(&doc.to_string());
            out.push('\n');
        }
        use std::io::Write as _;
        let _ = std::io::stdout().lock().write_all(out.as_bytes());
    }
}

impl Metrics for EmfMetrics {
    fn incr(&self, name: &'static str, d: &[Dim<'_>], by: u64) {
        if let Ok(mut p) = self.pending.lock() {
            *p.counters
                .entry(dims(d))
                .or_default()
                .entry(name.to_string())
                .or_default() += by as f64;
        }
    }

    fn observe_ms(&self, name: &'static str, d: &[Dim<'_>], ms: f64) {
        if let Ok(mut p) = self.pending.lock() {
            p.timings
                .entry(dims(d))
                .or_default()
                .entry(name.to_string())
                .or_default()
                .push(ms);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A busy invocation's 250 timings of one metric go out in three documents of at most
    /// 100 values each, all of them kept.
    #[test]
    fn no_document_carries_more_than_100_values_of_a_metric() {
        let m = EmfMetrics::new();
        for i in 0..250 {
            m.observe_ms("end_to_end_ms", &[("provider", "stripe")], f64::from(i));
        }
        m.incr("received", &[("provider", "stripe")], 250);
        let docs = m.take_documents();
        assert_eq!(docs.len(), 3);
        let mut all = Vec::new();
        for d in &docs {
            let values = d["end_to_end_ms"].as_array().unwrap();
            assert!(values.len() <= MAX_VALUES_PER_METRIC, "{}", values.len());
            all.extend(values.iter().map(|v| v.as_f64().unwrap()));
            assert_eq!(d["provider"], "stripe");
            let defs = &d["_aws"]["CloudWatchMetrics"][0]["Metrics"];
            assert!(defs
                .as_array()
                .unwrap()
                .iter()
                .any(|m| m["Name"] == "end_to_end_ms"));
        }
        assert_eq!(all, (0..250).map(f64::from).collect::<Vec<_>>());
        assert_eq!(
            docs.iter().filter(|d| d.get("received").is_some()).count(),
            1
        );
    }

    #[test]
    fn documents_follow_the_embedded_metric_format() {
        let m = EmfMetrics::new();
        m.incr("received", &[("provider", "stripe")], 2);
        m.incr("enqueued", &[("provider", "stripe")], 1);
        m.observe_ms("end_to_end_ms", &[("provider", "stripe")], 12.5);
        let docs = m.take_documents();
        assert_eq!(docs.len(), 1);
        let d = &docs[0];
        assert_eq!(d["provider"], "stripe");
        assert_eq!(d["received"], 2.0);
        assert_eq!(d["end_to_end_ms"][0], 12.5);
        let cw = &d["_aws"]["CloudWatchMetrics"][0];
        assert_eq!(cw["Namespace"], "Inlet");
        assert_eq!(cw["Dimensions"][0][0], "provider");
        assert_eq!(cw["Dimensions"][1], serde_json::json!([]));
        assert_eq!(cw["Metrics"].as_array().unwrap().len(), 3);
        assert!(m.take_documents().is_empty());
    }
}
