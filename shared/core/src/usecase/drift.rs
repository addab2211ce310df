//! Schema drift at work: the worker's in-memory view of every provider's payload shapes
//! (see [`crate::shape`]), checked against each claimed event and written in the
//! background of the batches.
//!
//! Cost: checking an event is CPU only (its JSON read once more); nothing is written per
//! event. A worker writes what it learned once per [`SchemaConfig::flush_secs`] per event
//! type it saw (one read and one conditional write each, concurrently, at the end of a
//! batch), and a new finding at the end of the batch that found it (one call). A store that
//! fails keeps what was learned for the next flush; drift detection never fails an event.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};

use futures::future::join_all;
use time::OffsetDateTime;
use tracing::warn;

use crate::conflict::{RuleKind, Stamp};
use crate::envelope::{Envelope, Source};
use crate::metrics::{names, Metrics};
use crate::ports::{ConflictStore, Review, ReviewStatus, Shapes, StoreError};
use crate::shape::{shape_of_body, Change, Finding, SchemaConfig, Shape};

/// What the watch made of one event that drifted.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Drift {
    pub changes: Vec<Change>,
    /// Its provider's shape is pinned: hold it for review instead of delivering it.
    pub hold: bool,
}

impl Drift {
    /// `schema drift: new path tax (number); …` — the event history's words.
    pub fn describe(&self) -> String {
        let changes: Vec<String> = self.changes.iter().map(Change::describe).collect();
        format!("schema drift: {}", changes.join("; "))
    }
}

type TypeKey = (String, String);

/// Event types a worker tracks at most, and the longest type it tracks: a sender that
/// invents types (signed, but careless or hostile) cannot grow the watch without limit.
const MAX_TYPES: usize = 500;
const MAX_TYPE_CHARS: usize = 200;
/// How long a drift note waits for its event's history write: longer than any batch (a
/// Lambda invocation lasts at most 15 minutes).
const NOTE_KEEP: time::Duration = time::Duration::minutes(15);

/// One event type as this worker knows it.
#[derive(Default)]
struct Tracked {
    /// The stored shape as last read, plus what this worker learned since.
    current: Shape,
    /// What this worker learned since its last write.
    learned: Shape,
}

#[derive(Default)]
struct State {
    types: HashMap<TypeKey, Tracked>,
    /// Findings to write (each once per worker: the store keeps them once in all).
    pending: Vec<Finding>,
    /// Finding ids this worker has met, so one is queued once.
    met: std::collections::HashSet<String>,
    /// Drift to mention in a delivered event's history, by key, with when it was noted.
    notes: HashMap<String, (OffsetDateTime, String)>,
    last_flush: Option<OffsetDateTime>,
}

/// The worker's schema-drift detector (one per process, shared by its batches).
pub struct SchemaWatch {
    config: SchemaConfig,
    store: Arc<dyn Shapes>,
    reviews: Arc<dyn ConflictStore>,
    metrics: Arc<dyn Metrics>,
    loaded: AtomicBool,
    state: Mutex<State>,
}

impl SchemaWatch {
    /// `store` keeps the shapes and findings; `reviews` holds events that break a pinned
    /// shape (the queue conflict rules' manual reviews use).
    pub fn new(
        config: SchemaConfig,
        store: Arc<dyn Shapes>,
        reviews: Arc<dyn ConflictStore>,
        metrics: Arc<dyn Metrics>,
    ) -> Self {
        Self {
            config,
            store,
            reviews,
            metrics,
            loaded: AtomicBool::new(false),
            state: Mutex::new(State::default()),
        }
    }

    fn state(&self) -> MutexGuard<'_, State> {
        // A panic while holding the lock leaves plain data behind; keep using it.
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Check claimed events against their shapes and learn from them; the drift of each,
    /// in order. Replays are old on purpose and not looked at; neither are bodies that
    /// are not JSON.
    pub async fn observe(&self, envs: &[&Envelope], now: OffsetDateTime) -> Vec<Option<Drift>> {
        if !self.loaded.load(Ordering::Acquire) {
            self.load().await;
        }
        let mut state = self.state();
        envs.iter()
            .map(|env| self.observe_one(&mut state, env, now))
            .collect()
    }

    fn observe_one(&self, state: &mut State, env: &Envelope, now: OffsetDateTime) -> Option<Drift> {
        if env.source == Source::Replay {
            return None;
        }
        let event = shape_of_body(&env.body)?;
        let provider = env.provider.as_str();
        let event_type = env.event_type.as_deref().unwrap_or("");
        let type_key = (provider.to_string(), event_type.to_string());
        if event_type.chars().count() > MAX_TYPE_CHARS
            || (state.types.len() >= MAX_TYPES && !state.types.contains_key(&type_key))
        {
            return None;
        }
        let tracked = state.types.entry(type_key).or_default();
        let changes = tracked.current.changes(&event, self.config.learn_events);
        let hold = !changes.is_empty() && self.config.pinned(provider);
        // A pinned shape changes only when an operator accepts a finding.
        if !hold {
            tracked.current.absorb(&event);
            tracked.learned.absorb(&event);
        }
        if changes.is_empty() {
            return None;
        }
        for change in &changes {
            let finding = Finding::new(provider, event_type, change, env.key.as_str(), now);
            if state.met.insert(finding.id.clone()) {
                state.pending.push(finding);
            }
        }
        let drift = Drift { changes, hold };
        if !hold {
            state
                .notes
                .insert(env.key.to_string(), (now, drift.describe()));
        }
        Some(drift)
    }

    /// Read every stored shape (once per process; again after a failure).
    async fn load(&self) {
        match self.store.load_shapes().await {
            Ok(shapes) => {
                let mut state = self.state();
                for stored in shapes {
                    let tracked = state
                        .types
                        .entry((stored.provider, stored.event_type))
                        .or_default();
                    let mut current = stored.shape;
                    current.merge(&tracked.learned);
                    tracked.current = current;
                }
                self.loaded.store(true, Ordering::Release);
            }
            Err(e) => {
                warn!(error = %e, "schema shapes not loaded; checking against what this worker learns")
            }
        }
    }

    /// The drift to mention in a delivered event's history (taken: said once).
    pub fn take_note(&self, key: &str) -> Option<String> {
        self.state().notes.remove(key).map(|(_, note)| note)
    }

    /// Write new findings, and — once per `flush_secs` — what was learned, reading back
    /// what other workers learned and what operators accepted. Failures are logged and
    /// kept for the next flush.
    pub async fn flush_if_due(&self, now: OffsetDateTime) {
        let (findings, learned) = {
            let mut state = self.state();
            let period = time::Duration::seconds(self.config.flush_secs as i64);
            let shapes_due = state.last_flush.is_none_or(|at| now - at >= period);
            if state.pending.is_empty() && !shapes_due {
                return;
            }
            let findings = std::mem::take(&mut state.pending);
            let learned: Vec<(TypeKey, Shape)> = if shapes_due {
                state.last_flush = Some(now);
                state
                    .types
                    .iter_mut()
                    .map(|(key, t)| (key.clone(), std::mem::take(&mut t.learned)))
                    .collect()
            } else {
                Vec::new()
            };
            // A note not taken within NOTE_KEEP belongs to an event that was not delivered.
            // Younger ones stay: batches of other workers sharing this watch (`inlet dev`
            // runs four) may be between their check and their history write.
            state.notes.retain(|_, (at, _)| now - *at < NOTE_KEEP);
            (findings, learned)
        };
        self.write_findings(findings).await;
        let merged = join_all(learned.iter().map(|((provider, event_type), shape)| {
            self.store.merge_shape(provider, event_type, shape)
        }))
        .await;
        let mut state = self.state();
        for ((key, shape), result) in learned.into_iter().zip(merged) {
            if let Err(e) = &result {
                warn!(error = %e, provider = %key.0, event_type = %key.1, "schema shape not written; kept for the next flush");
            }
            let tracked = state.types.entry(key).or_default();
            match result {
                Ok(mut stored) => {
                    stored.merge(&tracked.learned);
                    tracked.current = stored;
                }
                Err(_) => tracked.learned.merge(&shape),
            }
        }
    }

    async fn write_findings(&self, findings: Vec<Finding>) {
        if findings.is_empty() {
            return;
        }
        match self.store.add_findings(&findings).await {
            Ok(new) => {
                for (finding, new) in findings.iter().zip(new) {
                    if !new {
                        continue;
                    }
                    self.metrics.incr(
                        names::SCHEMA_DRIFT,
                        &[
                            ("provider", &finding.provider),
                            ("kind", finding.kind.as_str()),
                        ],
                        1,
                    );
                    warn!(
                        provider = %finding.provider,
                        event_type = %finding.event_type,
                        finding = %finding.id,
                        example_key = %finding.example_key,
                        "{}",
                        finding.change().describe()
                    );
                }
            }
            Err(e) => {
                warn!(error = %e, findings = findings.len(), "schema drift findings not written; kept for the next flush");
                let mut state = self.state();
                state.pending.extend(findings);
            }
        }
    }

    /// Put an event that breaks its pinned shape in the review queue.
    pub async fn hold(
        &self,
        env: &Envelope,
        drift: &Drift,
        now: OffsetDateTime,
    ) -> Result<String, StoreError> {
        let reason = drift.describe();
        let event_type = env.event_type.as_deref().unwrap_or("");
        let changes: Vec<String> = drift.changes.iter().map(Change::describe).collect();
        self.reviews
            .hold(&Review {
                key: env.key.to_string(),
                entity: env.entity.clone().unwrap_or_default(),
                rule: RuleKind::ManualReview,
                reason: format!(
                    "{reason} (the shape of {} {event_type} is pinned)",
                    env.provider
                ),
                held_at: now,
                against: Stamp {
                    provider: env.provider.to_string(),
                    key: format!("schema:{}/{event_type}", env.provider),
                    version: None,
                    at_ms: crate::clock::unix_millis(now),
                    value_sha256: None,
                    value: Some(serde_json::json!(changes)),
                },
                field: None,
                envelope: env.clone(),
                status: ReviewStatus::Pending,
                resolved_at: None,
            })
            .await?;
        Ok(format!(
            "held for review (pinned schema) on {}: {reason}",
            env.entity.as_deref().unwrap_or(env.provider.as_str())
        ))
    }
}
