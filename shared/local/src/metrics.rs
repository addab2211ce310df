//! Metrics for `inlet dev`: aggregated in memory, flushed to the store once a second (and
//! at shutdown) so a counter increment never costs a disk write. A crash loses at most the
//! last second of counts, never an event.

use std::collections::HashMap;
use std::sync::Mutex;

use inlet_core::metrics::{Dim, Metrics};
use inlet_core::ports::StoreError;

use crate::store::Store;

type Key = (String, String);

#[derive(Default)]
struct Pending {
    counters: HashMap<Key, u64>,
    timings: HashMap<Key, (u64, f64, f64)>,
}

#[derive(Default)]
pub struct LocalMetrics {
    pending: Mutex<Pending>,
}

fn dims_text(dims: &[Dim<'_>]) -> String {
    let mut parts: Vec<String> = dims.iter().map(|(k, v)| format!("{k}={v}")).collect();
    parts.sort();
    parts.join(",")
}

impl LocalMetrics {
    pub fn new() -> Self {
        Self::default()
    }

    /// Write what has accumulated to the store.
    pub async fn flush(&self, store: &Store) -> Result<(), StoreError> {
        let taken = match self.pending.lock() {
            Ok(mut p) => std::mem::take(&mut *p),
            Err(_) => return Ok(()),
        };
        if taken.counters.is_empty() && taken.timings.is_empty() {
            return Ok(());
        }
        let counters = taken
            .counters
            .into_iter()
            .map(|((n, d), v)| (n, d, v))
            .collect();
        let timings = taken
            .timings
            .into_iter()
            .map(|((n, d), (count, sum, max))| (n, d, count, sum, max))
            .collect();
        store.add_metrics(counters, timings).await
    }
}

impl Metrics for LocalMetrics {
    fn incr(&self, name: &'static str, dims: &[Dim<'_>], by: u64) {
        if let Ok(mut p) = self.pending.lock() {
            *p.counters
                .entry((name.to_string(), dims_text(dims)))
                .or_default() += by;
        }
    }

    fn observe_ms(&self, name: &'static str, dims: &[Dim<'_>], ms: f64) {
        if let Ok(mut p) = self.pending.lock() {
            let e = p
                .timings
                .entry((name.to_string(), dims_text(dims)))
                .or_insert((0, 0.0, 0.0));
            e.0 += 1;
            e.1 += ms;
            e.2 = e.2.max(ms);
        }
    }
}
