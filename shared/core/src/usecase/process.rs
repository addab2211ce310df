//! Process: one queue message → claim → version check → deliver → complete.
//!
//! Delivery is at-least-once; the conditional claim makes it effectively-once. The decision
//! for each message ([`Disposition`]) is separate from carrying it out ([`settle`]), so the
//! local loop acknowledges through its queue while the Lambda worker reports
//! `batchItemFailures` to SQS.

use std::collections::HashSet;
use std::sync::Arc;
use std::time::Duration;

use futures::future::join_all;
use tracing::{debug, error, info, warn, Instrument};

use crate::clock::Clock;
use crate::config::{Config, WorkerConfig};
use crate::conflict::{rules_for, ConflictRule, Decision, RuleKind};
use crate::envelope::{Envelope, Source};
use crate::history::{Attempt, EventState, HistoryEntry};
use crate::metrics::{names, Metrics};
use crate::ports::{
    group_by_entity, Claim, Completion, ConflictStore, EntityVersions, History, Ledger, Queue,
    Receipt, Received, Shapes, Sink, SinkError, StoreError, VersionCheck,
};
use crate::retry::Backoff;
use crate::usecase::drift::SchemaWatch;

#[derive(Debug, Clone, Copy)]
pub struct ProcessSettings {
    pub lease: Duration,
    pub retention: Duration,
    pub backoff: Backoff,
    pub max_receive: u32,
}

impl From<&WorkerConfig> for ProcessSettings {
    fn from(w: &WorkerConfig) -> Self {
        Self {
            lease: w.lease(),
            retention: w.retention(),
            backoff: w.backoff(),
            max_receive: w.max_receive,
        }
    }
}

/// A message that is done.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Done {
    Delivered,
    Duplicate,
    /// A newer version was applied, or a conflict rule decided against it: `reason` says
    /// which rule, on what scope, and what won (the history keeps it).
    Superseded {
        reason: String,
    },
    /// Held for an operator by a conflict rule; `reason` as for `Superseded`.
    Held {
        reason: String,
    },
    /// A replay: the same signed body was handled under another key (`reason` names it).
    ReplayRefused {
        reason: String,
    },
    /// A webhook older than its provider allows (`max_event_age_secs`).
    Stale {
        reason: String,
    },
}

/// What to do with a message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Disposition {
    /// Delete it.
    Ack(Done),
    /// Make it visible again after `delay`.
    Retry { delay: Duration, reason: String },
    /// Move it to the DLQ now.
    DeadLetter { reason: String },
    /// Make it visible again after `delay` without counting this receive as an attempt: a
    /// store or a destination refused for want of capacity (a throttle). The event did not
    /// fail, so a throttling storm must not walk it to the DLQ.
    Defer { delay: Duration, reason: String },
}

/// Conflict rules and the store that keeps their per-entity state and review queue.
pub struct ConflictPolicy {
    pub rules: Vec<ConflictRule>,
    pub store: Arc<dyn ConflictStore>,
}

/// Where the event history goes, and whether it keeps payloads (for replay).
pub struct HistoryPolicy {
    pub store: Arc<dyn History>,
    pub keep_payloads: bool,
    /// Payloads larger than this are not kept (the event is listed, not replayable).
    pub max_payload_bytes: usize,
}

pub struct Processor {
    pub ledger: Arc<dyn Ledger>,
    pub versions: Arc<dyn EntityVersions>,
    /// Entities of a type with conflict rules are settled by them instead of by
    /// `versions` alone. `None`: no rules (versions only).
    pub conflicts: Option<ConflictPolicy>,
    /// Record every attempt in the event history. `None`: no history.
    pub history: Option<HistoryPolicy>,
    pub sinks: Vec<Arc<dyn Sink>>,
    pub metrics: Arc<dyn Metrics>,
    pub clock: Arc<dyn Clock>,
    pub settings: ProcessSettings,
    /// When set, payloads are logged at debug level with these fields redacted. `None`
    /// (the default) never logs a payload: they carry personal data.
    pub payload_log: Option<Vec<String>>,
    /// Check each claimed event's payload for schema drift. `None`: not checked.
    pub schema: Option<Arc<SchemaWatch>>,
}

/// The stores a worker reads and writes: usually one adapter (the embedded store, the
/// stack's DynamoDB table) behind every port — [`WorkerStores::all`].
#[derive(Clone)]
pub struct WorkerStores {
    pub ledger: Arc<dyn Ledger>,
    pub versions: Arc<dyn EntityVersions>,
    /// Conflict-rule state and the review queue (also where pinned shapes hold events).
    pub conflicts: Arc<dyn ConflictStore>,
    pub history: Arc<dyn History>,
    pub shapes: Arc<dyn Shapes>,
}

impl WorkerStores {
    /// One store behind every port.
    pub fn all<S>(store: Arc<S>) -> Self
    where
        S: Ledger + EntityVersions + ConflictStore + History + Shapes + 'static,
    {
        Self {
            ledger: store.clone(),
            versions: store.clone(),
            conflicts: store.clone(),
            history: store.clone(),
            shapes: store,
        }
    }
}

impl Processor {
    /// The worker `config` describes — its settings, conflict rules, event history,
    /// payload logging and schema-drift watch — on `stores`, delivering to `sinks`. The
    /// one wiring the worker function, `inlet dev` and the tests share; a caller changes a
    /// field afterwards only for what the config cannot know (the queue's receive limit).
    pub fn from_config(
        config: &Config,
        stores: WorkerStores,
        sinks: Vec<Arc<dyn Sink>>,
        metrics: Arc<dyn Metrics>,
        clock: Arc<dyn Clock>,
    ) -> Processor {
        let conflicts = (!config.conflicts.is_empty()).then(|| ConflictPolicy {
            rules: config.conflicts.clone(),
            store: Arc::clone(&stores.conflicts),
        });
        let history = config.history.enabled.then(|| HistoryPolicy {
            store: Arc::clone(&stores.history),
            keep_payloads: config.history.keep_payloads,
            max_payload_bytes: config.history.max_payload_bytes,
        });
        // Shapes are checked in memory and written once per `[schema] flush_secs`
        // (`usecase::drift`): no write and no round trip per event.
        let schema = config.schema.enabled.then(|| {
            Arc::new(SchemaWatch::new(
                config.schema.clone(),
                Arc::clone(&stores.shapes),
                Arc::clone(&stores.conflicts),
                Arc::clone(&metrics),
            ))
        });
        Processor {
            ledger: stores.ledger,
            versions: stores.versions,
            conflicts,
            history,
            sinks,
            metrics,
            clock,
            settings: ProcessSettings::from(&config.worker),
            payload_log: config
                .logging
                .log_payloads
                .then(|| config.logging.redact_fields.clone()),
            schema,
        }
    }

    /// Decide what happens to one message. Never fails: store and sink errors become a
    /// retry or a dead letter.
    pub async fn handle(&self, msg: &Received) -> Disposition {
        let env = match &msg.envelope {
            Ok(env) => env,
            Err(reason) => {
                self.metrics
                    .incr(names::DEAD_LETTERED, &[("reason", "malformed_message")], 1);
                warn!(reason = %reason, "poison message");
                return Disposition::DeadLetter {
                    reason: format!("malformed message: {reason}"),
                };
            }
        };
        let span = tracing::info_span!(
            "process",
            key = %env.key,
            provider = %env.provider,
            correlation_id = %env.correlation_id,
            receive_count = msg.receive_count
        );
        let disposition = self
            .handle_envelope(env, msg.receive_count)
            .instrument(span)
            .await;
        self.record_history(&[Attempted {
            env,
            receive_count: msg.receive_count,
            disposition: &disposition,
            first: false,
        }])
        .await;
        self.flush_schema().await;
        disposition
    }

    /// Write what the schema watch found and learned, when it is due (see
    /// [`SchemaWatch::flush_if_due`]).
    async fn flush_schema(&self) {
        if let Some(watch) = &self.schema {
            watch.flush_if_due(self.clock.now()).await;
        }
    }

    /// Check claimed events for schema drift: `Some` disposition for each one held for
    /// review (its provider's shape is pinned), in order; drift on a tracked shape is
    /// recorded and the event goes on.
    async fn check_drift(&self, claimed: &[(&Envelope, u32)]) -> Vec<Option<Disposition>> {
        let Some(watch) = &self.schema else {
            return claimed.iter().map(|_| None).collect();
        };
        let now = self.clock.now();
        let envs: Vec<&Envelope> = claimed.iter().map(|(env, _)| *env).collect();
        let drifts = watch.observe(&envs, now).await;
        join_all(claimed.iter().zip(drifts).map(|(&(env, receive_count), drift)| async move {
            let drift = drift.filter(|d| d.hold)?;
            self.metrics.incr(
                names::CONFLICT_DECISIONS,
                &[("rule", "schema-pin"), ("decision", "held")],
                1,
            );
            Some(match watch.hold(env, &drift, now).await {
                Ok(reason) => {
                    warn!(key = %env.key, reason = %reason, "held for review: its pinned schema changed");
                    self.complete(env, Completion::Held, Done::Held { reason })
                        .await
                }
                Err(e) => {
                    self.release(env).await;
                    self.store_failed(env, receive_count, "schema hold", &e)
                }
            })
        }))
        .await
    }

    /// Add these attempts to the event history (one call). A history that cannot be
    /// written is logged, never a reason to retry a message: the pipeline's guarantees do
    /// not depend on it.
    async fn record_history(&self, handled: &[Attempted<'_>]) {
        let Some(policy) = &self.history else { return };
        let now = self.clock.now();
        let expires_at = now + self.settings.retention;
        // Where the claim counted a duplicate already, the history reads that count.
        let counted = self.ledger.counts_duplicates();
        let entries: Vec<HistoryEntry<'_>> = handled
            .iter()
            .filter_map(|a| {
                let (state, detail) = attempt_of(a.env, a.disposition)?;
                if counted && state == EventState::Duplicate {
                    return None;
                }
                // A delivered event that showed schema drift says so.
                let drift = (state == EventState::Delivered)
                    .then(|| self.schema.as_ref()?.take_note(a.env.key.as_str()))
                    .flatten();
                Some(HistoryEntry {
                    envelope: a.env,
                    attempt: Attempt::new(now, state, a.receive_count, detail.or(drift.as_deref())),
                    keep_payload: policy.keep_payloads
                        && a.env.body.len() <= policy.max_payload_bytes,
                    expires_at,
                    first: a.first,
                })
            })
            .collect();
        if entries.is_empty() {
            return;
        }
        if let Err(e) = policy.store.record(&entries).await {
            self.metrics.incr(names::HISTORY_FAILURES, &[], 1);
            warn!(error = %e, events = entries.len(), "event history not recorded");
        }
    }

    async fn handle_envelope(&self, env: &Envelope, receive_count: u32) -> Disposition {
        if let Err(done) = self.prepare_envelope(env, receive_count).await {
            return done;
        }
        if let Err(failed) = self.deliver(env, receive_count).await {
            return failed;
        }
        self.delivered(env).await
    }

    /// Claim and version-check; `Ok(())` when the event should be delivered now (the
    /// claim is held), else what to do with the message.
    async fn prepare_envelope(
        &self,
        env: &Envelope,
        receive_count: u32,
    ) -> Result<(), Disposition> {
        if env.source == Source::Replay {
            // An operator asked for this event again: deliver it whatever the ledger says.
            return Ok(());
        }
        if let Some(stale) = self.stale(env) {
            return Err(stale);
        }
        if let Some(refused) = self
            .guard_replays(&[(env, receive_count)])
            .await
            .pop()
            .flatten()
        {
            return Err(refused);
        }
        let claim = self
            .ledger
            .claim(
                &env.key,
                &env.payload_sha256,
                self.clock.now(),
                self.settings.lease,
            )
            .await;
        // One message at a time: its history is merged, so whether the claim was the
        // key's first does not matter here.
        self.claimed(env, receive_count, claim)?;
        if let Some(held) = self
            .check_drift(&[(env, receive_count)])
            .await
            .pop()
            .flatten()
        {
            return Err(held);
        }
        if let Some(policy) = self.ruled(env) {
            return self.settle_conflict(policy, env, receive_count).await;
        }
        match (&env.entity, env.version) {
            (Some(entity), Some(version)) => {
                let check = self.versions.advance(entity, version).await;
                self.version_checked(env, receive_count, check).await
            }
            _ => Ok(()),
        }
    }

    /// The conflict policy, when `env`'s entity is of a type with rules.
    fn ruled(&self, env: &Envelope) -> Option<&ConflictPolicy> {
        let policy = self.conflicts.as_ref()?;
        let entity = env.entity.as_deref()?;
        (!rules_for(&policy.rules, entity).is_empty()).then_some(policy)
    }

    /// Settle `env`'s change by the conflict rules: `Ok(())` when it is applied (deliver
    /// it), else the message's disposition. Every decision is counted and recorded on the
    /// ledger entry (which rule superseded or held it).
    async fn settle_conflict(
        &self,
        policy: &ConflictPolicy,
        env: &Envelope,
        receive_count: u32,
    ) -> Result<(), Disposition> {
        let settled =
            super::review::settle(policy.store.as_ref(), &policy.rules, env, self.clock.now())
                .await;
        let decision = match settled {
            Ok(d) => d,
            Err(e) => {
                self.release(env).await;
                return Err(self.store_failed(env, receive_count, "conflict check", &e));
            }
        };
        let entity = env.entity.as_deref().unwrap_or("");
        let first_rule = rules_for(&policy.rules, entity)
            .first()
            .map_or(RuleKind::LastWriteWins, |r| r.kind);
        let (rule, outcome) = match &decision {
            Decision::Apply => (first_rule.as_str(), "applied"),
            Decision::Stale { .. } => ("version", "superseded"),
            Decision::Supersede { rule, .. } => (rule.as_str(), "superseded"),
            Decision::Hold { rule, .. } => (rule.as_str(), "held"),
        };
        self.metrics.incr(
            names::CONFLICT_DECISIONS,
            &[("rule", rule), ("decision", outcome)],
            1,
        );
        match decision {
            Decision::Apply => Ok(()),
            Decision::Stale { current } => {
                self.version_checked(env, receive_count, Ok(VersionCheck::Stale { current }))
                    .await
            }
            Decision::Supersede { rule, reason } => {
                info!(key = %env.key, entity, rule = rule.as_str(), reason = %reason, "superseded by a conflict rule");
                self.metrics
                    .incr(names::SUPERSEDED, &[("provider", env.provider.as_str())], 1);
                let reason = format!("superseded by {} on {entity}: {reason}", rule.as_str());
                Err(self
                    .complete(
                        env,
                        Completion::SupersededBy(rule),
                        Done::Superseded { reason },
                    )
                    .await)
            }
            Decision::Hold { rule, reason, .. } => {
                warn!(key = %env.key, entity, reason = %reason, "held for review");
                let reason = format!("held for review ({}) on {entity}: {reason}", rule.as_str());
                Err(self
                    .complete(env, Completion::Held, Done::Held { reason })
                    .await)
            }
        }
    }

    /// Refuse replays: for each envelope whose key came from an unsigned header
    /// ([`Envelope::body_guard`]), claim its signed body's hash for its key. The first key
    /// to carry a body owns it for the ledger's retention; the same body under another key
    /// is a captured request replayed with a fresh id, acknowledged as
    /// [`Done::ReplayRefused`] and never delivered. A genuine retry (same key, same body)
    /// passes. `None` for each envelope that goes on to its own claim, in order.
    ///
    /// Costs a claim and a completion per guarded event (GitHub, Linear, Bitbucket, …), in
    /// one call each for the batch; envelopes with signed keys pay nothing.
    async fn guard_replays(&self, envs: &[(&Envelope, u32)]) -> Vec<Option<Disposition>> {
        let mut verdicts: Vec<Option<Disposition>> = envs.iter().map(|_| None).collect();
        let guarded: Vec<(usize, &Envelope, crate::ids::EventKey)> = envs
            .iter()
            .enumerate()
            .filter(|(_, (env, _))| env.body_guard && env.source != Source::Replay)
            .filter_map(|(i, (env, _))| Some((i, *env, body_key(env)?)))
            .collect();
        if guarded.is_empty() {
            return verdicts;
        }
        let claims: Vec<(&crate::ids::EventKey, &str)> = guarded
            .iter()
            .map(|(_, env, guard)| (guard, env.key.as_str()))
            .collect();
        let now = self.clock.now();
        let results = self
            .ledger
            .claim_many(&claims, now, self.settings.lease)
            .await;
        let mut to_complete = Vec::new();
        for ((i, env, guard), result) in guarded.iter().zip(results) {
            let receive_count = envs[*i].1;
            verdicts[*i] = match result {
                Ok(Claim::Acquired { .. }) => {
                    to_complete.push((guard, env.key.as_str(), Completion::Delivered));
                    None
                }
                Ok(Claim::Duplicate { same_payload: true }) => None,
                Ok(Claim::Duplicate {
                    same_payload: false,
                }) => Some(self.refuse_replay(env, guard, now).await),
                Ok(Claim::InFlight { .. }) => Some(Disposition::Defer {
                    delay: self.settings.backoff.jittered(receive_count),
                    reason: IN_FLIGHT.into(),
                }),
                Err(e) => Some(self.store_failed(env, receive_count, "replay guard claim", &e)),
            };
        }
        let completed = self
            .ledger
            .complete_many(&to_complete, now, self.settings.retention)
            .await;
        for ((guard, key, _), result) in to_complete.iter().zip(completed) {
            if let Err(e) = result {
                // The guard stays claimed until its lease ends: a replay meanwhile waits
                // (in flight), the event itself goes on.
                warn!(guard = %guard, key = %key, error = %e, "replay guard not completed");
            }
        }
        verdicts
    }

    /// A webhook its provider calls too old: acknowledged and recorded, never delivered,
    /// and not claimed (a reconciliation copy of the change, exempt, may still deliver it).
    fn stale(&self, env: &Envelope) -> Option<Disposition> {
        let reason = env
            .stale
            .as_ref()
            .filter(|_| env.source == Source::Webhook)?;
        self.metrics
            .incr(names::STALE, &[("provider", env.provider.as_str())], 1);
        warn!(key = %env.key, reason = %reason, "stale webhook not delivered");
        Some(Disposition::Ack(Done::Stale {
            reason: reason.clone(),
        }))
    }

    /// A replay: counted, logged, acknowledged with the key the body first came under.
    async fn refuse_replay(
        &self,
        env: &Envelope,
        guard: &crate::ids::EventKey,
        now: time::OffsetDateTime,
    ) -> Disposition {
        let original = match self.ledger.lookup(guard, now).await {
            Ok(Some(entry)) => entry.payload_sha256,
            _ => "another key".to_string(),
        };
        self.metrics.incr(
            names::REPLAYS_REFUSED,
            &[("provider", env.provider.as_str())],
            1,
        );
        warn!(key = %env.key, original = %original, "replay refused: this signed body was handled under another key");
        Disposition::Ack(Done::ReplayRefused {
            reason: format!(
                "replay refused: the same signed body was handled as {original}; this copy's unsigned id differs"
            ),
        })
    }

    /// What a claim's result means: `Ok(first)` when the claim is held (`first`: the
    /// key's first, see [`Claim::Acquired`]).
    fn claimed(
        &self,
        env: &Envelope,
        receive_count: u32,
        claim: Result<Claim, StoreError>,
    ) -> Result<bool, Disposition> {
        let provider = env.provider.as_str();
        let claim = match claim {
            Ok(c) => c,
            Err(e) => return Err(self.store_failed(env, receive_count, "ledger claim", &e)),
        };
        match claim {
            Claim::Duplicate { same_payload } => {
                self.metrics
                    .incr(names::DUPLICATES, &[("provider", provider)], 1);
                if !same_payload {
                    self.metrics
                        .incr(names::PAYLOAD_MISMATCHES, &[("provider", provider)], 1);
                    warn!(key = %env.key, "duplicate key with a different payload hash");
                }
                debug!(key = %env.key, "duplicate acknowledged");
                Err(Disposition::Ack(Done::Duplicate))
            }
            Claim::InFlight { lease_until } => {
                let wait = (lease_until - self.clock.now())
                    .try_into()
                    .unwrap_or(Duration::from_secs(1));
                // Another worker's attempt, not this copy's: waited out without counting.
                Err(Disposition::Defer {
                    delay: wait.max(Duration::from_secs(1)),
                    reason: IN_FLIGHT.into(),
                })
            }
            Claim::Acquired { first } => {
                crate::failpoint::hit("after_claim");
                Ok(first)
            }
        }
    }

    /// What an entity-version check's result means: `Ok(())` when the event is current.
    ///
    /// The entity-version write comes after the claim and before delivery: beside the
    /// completion it would let a stale event reach the sinks before it is known to be
    /// stale, and beside the claim every duplicate would pay a second write. A batch checks
    /// all its entities in one call, so it costs one round trip per batch, not per record.
    /// One TransactWriteItems (claim + version) would save that round trip but bills two
    /// write units per item: 4 instead of 2 per record, about $1.25 more per million
    /// events on demand, against ~$0.01 of Lambda time saved (README, "What it costs").
    async fn version_checked(
        &self,
        env: &Envelope,
        receive_count: u32,
        check: Result<VersionCheck, StoreError>,
    ) -> Result<(), Disposition> {
        match check {
            Ok(VersionCheck::Current) => Ok(()),
            Ok(VersionCheck::Stale { current }) => {
                let entity = env.entity.as_deref().unwrap_or("");
                info!(key = %env.key, entity, version = env.version, current, "superseded by a newer version");
                self.metrics
                    .incr(names::SUPERSEDED, &[("provider", env.provider.as_str())], 1);
                let reason = stale_reason(env, current);
                Err(self
                    .complete(env, Completion::Superseded, Done::Superseded { reason })
                    .await)
            }
            Err(e) => {
                self.release(env).await;
                Err(self.store_failed(env, receive_count, "version check", &e))
            }
        }
    }

    /// Every sink has the event: record it (a replay leaves the ledger alone).
    async fn delivered(&self, env: &Envelope) -> Disposition {
        self.count_delivery(env);
        if env.source == Source::Replay {
            return Disposition::Ack(Done::Delivered);
        }
        self.complete(env, Completion::Delivered, Done::Delivered)
            .await
    }

    /// Metrics and the log line of a delivered event.
    fn count_delivery(&self, env: &Envelope) {
        let provider = env.provider.as_str();
        crate::failpoint::hit("after_deliver");
        let latency = (self.clock.now() - env.received_at).as_seconds_f64() * 1000.0;
        self.metrics.observe_ms(
            names::END_TO_END_MS,
            &[("provider", provider)],
            latency.max(0.0),
        );
        self.metrics.incr(
            names::PROCESSED,
            &[("provider", provider), ("source", env.source.as_str())],
            1,
        );
        info!(
            key = %env.key,
            event_type = env.event_type.as_deref().unwrap_or(""),
            latency_ms = latency as i64,
            "delivered"
        );
    }

    /// Deliver to every sink; on failure the claim is released and the disposition says
    /// what to do with the message.
    async fn deliver(&self, env: &Envelope, receive_count: u32) -> Result<(), Disposition> {
        let record = env.to_record();
        self.log_payload(&record);
        for sink in &self.sinks {
            let started = std::time::Instant::now();
            let result = sink.deliver(&record).await;
            self.metrics.observe_ms(
                names::SINK_MS,
                &[("sink", sink.name())],
                started.elapsed().as_secs_f64() * 1000.0,
            );
            if let Err(e) = result {
                return Err(self.sink_failed(env, receive_count, sink.name(), e).await);
            }
        }
        Ok(())
    }

    /// Only when payload logging is on: the payload, redacted, at debug level.
    fn log_payload(&self, record: &crate::envelope::SinkRecord) {
        if let Some(fields) = &self.payload_log {
            debug!(key = %record.key, payload = %crate::redact::redact(&record.payload, fields), "payload");
        }
    }

    /// A sink refused the event: release the claim and decide (retry or dead-letter).
    async fn sink_failed(
        &self,
        env: &Envelope,
        receive_count: u32,
        sink: &str,
        error: SinkError,
    ) -> Disposition {
        self.release(env).await;
        match error {
            SinkError::Transient { message, .. } => {
                self.retry(env, receive_count, &format!("sink {sink}: {message}"))
            }
            SinkError::Throttled {
                message,
                retry_after,
            } => {
                // The destination's pace, not a failure of the event: waited out exactly
                // (capped), without the backoff that grows with failed attempts.
                self.metrics
                    .incr(names::SINK_THROTTLED, &[("sink", sink)], 1);
                let delay = retry_after.clamp(Duration::from_secs(1), MAX_THROTTLE_DELAY);
                Disposition::Defer {
                    delay,
                    reason: format!(
                        "sink {sink}: {message}; next attempt in {} s",
                        delay.as_secs()
                    ),
                }
            }
            SinkError::Permanent { message, .. } => {
                let provider = env.provider.as_str();
                self.metrics.incr(
                    names::DEAD_LETTERED,
                    &[("provider", provider), ("reason", "permanent")],
                    1,
                );
                error!(sink, reason = %message, "permanent sink failure; dead-lettering");
                Disposition::DeadLetter {
                    reason: format!("sink {sink} refused the event permanently: {message}"),
                }
            }
        }
    }

    /// Deliver prepared (claimed and current) messages together — a sink that batches
    /// (e.g. EventBridge, ten per `PutEvents`) sees them in one call — then complete them.
    /// Returns a disposition per message, in order.
    async fn deliver_prepared(
        &self,
        prepared: &[(&Envelope, u32, bool)],
        early: &[Attempted<'_>],
    ) -> Vec<Disposition> {
        let envs: Vec<&Envelope> = prepared.iter().map(|(env, _, _)| *env).collect();
        let records: Vec<crate::envelope::SinkRecord> =
            envs.iter().map(|e| e.to_record()).collect();
        records.iter().for_each(|r| self.log_payload(r));
        let mut failed: Vec<Option<(String, SinkError)>> =
            (0..records.len()).map(|_| None).collect();
        for sink in &self.sinks {
            let open: Vec<usize> = (0..records.len())
                .filter(|&i| failed[i].is_none())
                .collect();
            if open.is_empty() {
                break;
            }
            let batch: Vec<&crate::envelope::SinkRecord> =
                open.iter().map(|&i| &records[i]).collect();
            let started = std::time::Instant::now();
            let results = sink.deliver_batch(&batch).await;
            self.metrics.observe_ms(
                names::SINK_MS,
                &[("sink", sink.name())],
                started.elapsed().as_secs_f64() * 1000.0,
            );
            for (i, result) in open.into_iter().zip(results) {
                if let Err(e) = result {
                    failed[i] = Some((sink.name().to_string(), e));
                }
            }
        }
        // Failures release their claims concurrently; the deliveries are completed in one
        // call, so a batch pays one round trip for them (one transaction on the embedded
        // store), not one per message.
        let mut out: Vec<Option<Disposition>> = Vec::with_capacity(envs.len());
        let mut to_complete = Vec::new();
        let failures = join_all(prepared.iter().zip(failed).enumerate().map(
            |(i, ((env, receive_count, _), failure))| async move {
                match failure {
                    None => (i, None),
                    Some((sink, e)) => (
                        i,
                        Some(self.sink_failed(env, *receive_count, &sink, e).await),
                    ),
                }
            },
        ))
        .await;
        for (i, failure) in failures {
            if failure.is_none() {
                self.count_delivery(envs[i]);
                if envs[i].source == Source::Replay {
                    out.push(Some(Disposition::Ack(Done::Delivered)));
                    continue;
                }
                to_complete.push(i);
            }
            out.push(failure);
        }
        let keys: Vec<(&crate::ids::EventKey, &str, Completion)> = to_complete
            .iter()
            .map(|&i| {
                let env = envs[i];
                (&env.key, env.payload_sha256.as_str(), Completion::Delivered)
            })
            .collect();
        // The history of the whole batch is written beside the completions, not after
        // them: what reached the sinks is a fact whether or not the completion is recorded.
        let delivered = Disposition::Ack(Done::Delivered);
        let mut handled: Vec<Attempted<'_>> = early.to_vec();
        for (i, &(env, receive_count, first)) in prepared.iter().enumerate() {
            handled.push(Attempted {
                env,
                receive_count,
                disposition: out[i].as_ref().unwrap_or(&delivered),
                first,
            });
        }
        let (mut results, ()) = futures::join!(
            self.ledger
                .complete_many(&keys, self.clock.now(), self.settings.retention),
            self.record_history(&handled)
        );
        // Delivered and not recorded: a throttled completion is written again here, after
        // a pause, rather than by redelivering the event.
        rewrite_throttled(&mut results, |throttled| {
            let again: Vec<_> = throttled.iter().map(|&i| keys[i]).collect();
            async move {
                self.ledger
                    .complete_many(&again, self.clock.now(), self.settings.retention)
                    .await
            }
        })
        .await;
        for (i, result) in to_complete.into_iter().zip(results) {
            out[i] = Some(self.completed(result, Done::Delivered));
        }
        out.into_iter()
            .map(|d| d.unwrap_or_else(Disposition::out_of_time))
            .collect()
    }

    /// Give back the claim of a prepared message that will not be delivered now (the
    /// invocation is out of time), so its next attempt can claim it at once.
    async fn abandon(&self, env: &Envelope) {
        if env.source != Source::Replay {
            self.release(env).await;
        }
    }

    async fn complete(&self, env: &Envelope, how: Completion, done: Done) -> Disposition {
        let write = || {
            self.ledger
                .complete(&env.key, how, self.clock.now(), self.settings.retention)
        };
        let mut result = [write().await];
        // As in `deliver_prepared`: a throttled completion is written again after a pause.
        rewrite_throttled(&mut result, |_| async { vec![write().await] }).await;
        let [result] = result;
        self.completed(result, done)
    }

    /// What a completion's result means for the message.
    fn completed(&self, result: Result<(), StoreError>, done: Done) -> Disposition {
        match result {
            Ok(()) => {
                crate::failpoint::hit("after_complete");
                Disposition::Ack(done)
            }
            // Delivered but not recorded: acknowledging would be fine for this copy, but a
            // redelivery could not be recognized. Retry so the completion gets written; the
            // claim's lease still covers the key, and sinks dedupe on the key.
            Err(e) => Disposition::Retry {
                delay: self.settings.backoff.jittered(1),
                reason: format!("ledger completion failed: {e}"),
            },
        }
    }

    async fn release(&self, env: &Envelope) {
        let released = self
            .ledger
            .release(&env.key, self.clock.now(), self.settings.retention)
            .await;
        if let Err(e) = released {
            // The lease expires on its own; the retry just waits for it.
            warn!(error = %e, "could not release claim");
        }
    }

    /// A store call for `what` failed: a throttle is waited out without counting an
    /// attempt ([`Disposition::Defer`]); anything else is a retry like any other.
    fn store_failed(
        &self,
        env: &Envelope,
        receive_count: u32,
        what: &str,
        error: &StoreError,
    ) -> Disposition {
        if !error.is_throttle() {
            return self.retry(env, receive_count, &format!("{what} failed: {error}"));
        }
        self.metrics.incr(
            names::DEFERRED,
            &[("provider", env.provider.as_str()), ("cause", "store")],
            1,
        );
        // Jittered like a first retry: a throttled partition needs the callers spread out.
        let delay = self.settings.backoff.jittered(1);
        warn!(what, error = %error, delay_ms = delay.as_millis() as u64, "store throttled; deferring");
        Disposition::Defer {
            delay,
            reason: format!("{what} throttled: {error}"),
        }
    }

    fn retry(&self, env: &Envelope, receive_count: u32, reason: &str) -> Disposition {
        let provider = env.provider.as_str();
        if receive_count >= self.settings.max_receive {
            self.metrics.incr(
                names::DEAD_LETTERED,
                &[("provider", provider), ("reason", "retries_exhausted")],
                1,
            );
            error!(reason, "retries exhausted; dead-lettering");
            return Disposition::DeadLetter {
                reason: format!("gave up after {receive_count} attempts: {reason}"),
            };
        }
        self.metrics
            .incr(names::RETRIED, &[("provider", provider)], 1);
        let delay = self.settings.backoff.jittered(receive_count);
        warn!(
            reason,
            delay_ms = delay.as_millis() as u64,
            "transient failure; will retry"
        );
        Disposition::Retry {
            delay,
            reason: reason.to_string(),
        }
    }

    /// Handle a batch; a disposition per message, in order. See
    /// [`handle_batch_until`](Self::handle_batch_until).
    pub async fn handle_batch(&self, batch: &[Received]) -> Vec<(Receipt, Disposition)> {
        let refs: Vec<&Received> = batch.iter().collect();
        let dispositions = self.handle_batch_until(&refs, &|| true).await;
        batch
            .iter()
            .map(|m| m.receipt.clone())
            .zip(dispositions)
            .collect()
    }

    /// Handle a batch in waves, so it costs a constant number of sequential store round
    /// trips (and sink writes), not one per message:
    /// 1. claim the first copy of every key in one call, then version-check the claimed
    ///    ones in one call, in arrival order (an entity's versions apply in order);
    /// 2. deliver everything due in one call per sink (ten per PutEvents on EventBridge, one
    ///    fsync for the file sink), then complete them in one call;
    /// 3. a second copy of a key in the same batch, now that the first is recorded, is
    ///    acknowledged as the duplicate it is.
    ///
    /// `in_time` is asked before each wave; once it says no, what is not yet delivered gets
    /// [`Disposition::out_of_time`] (claims released). A disposition per message, in order.
    pub async fn handle_batch_until(
        &self,
        batch: &[&Received],
        in_time: &(dyn Fn() -> bool + Sync),
    ) -> Vec<Disposition> {
        let mut out: Vec<Option<Disposition>> = (0..batch.len()).map(|_| None).collect();
        if !in_time() {
            return (0..batch.len())
                .map(|_| Disposition::out_of_time())
                .collect();
        }
        let (firsts, later) = first_copies(batch);
        let mut first_claim = vec![false; batch.len()];
        let ready = self
            .prepare_all(batch, firsts, &mut out, &mut first_claim)
            .await;
        let prepared: Vec<(&Envelope, u32, bool)> = ready
            .iter()
            .map(|&(i, env)| (env, batch[i].receive_count, first_claim[i]))
            .collect();
        // Decided while preparing (duplicates, superseded, held, failed checks): recorded in
        // the history with the deliveries. Poison messages have no event to record.
        let early: Vec<Attempted<'_>> = batch
            .iter()
            .zip(out.iter())
            .zip(&first_claim)
            .filter_map(|((m, d), &first)| {
                Some(Attempted {
                    env: m.envelope.as_ref().ok()?,
                    receive_count: m.receive_count,
                    disposition: d.as_ref()?,
                    first,
                })
            })
            .collect();
        let delivered = if in_time() {
            self.deliver_prepared(&prepared, &early).await
        } else {
            self.record_history(&early).await;
            join_all(prepared.iter().map(|(env, _, _)| async move {
                self.abandon(env).await;
                Disposition::out_of_time()
            }))
            .await
        };
        for ((i, _), d) in ready.into_iter().zip(delivered) {
            out[i] = Some(d);
        }
        for i in later {
            out[i] = Some(if in_time() {
                self.handle(batch[i]).await
            } else {
                Disposition::out_of_time()
            });
        }
        self.flush_schema().await;
        out.into_iter()
            .map(|d| d.unwrap_or_else(Disposition::out_of_time))
            .collect()
    }

    /// Settle claimed messages by the conflict rules: distinct entities concurrently, the
    /// changes of one entity one after the other in arrival order.
    async fn settle_all<'a>(
        &self,
        batch: &[&Received],
        to_settle: &[(usize, &'a Envelope)],
    ) -> Vec<(usize, &'a Envelope, Result<(), Disposition>)> {
        let Some(policy) = self.conflicts.as_ref() else {
            return Vec::new();
        };
        let entities: Vec<&str> = to_settle
            .iter()
            .map(|(_, env)| env.entity.as_deref().unwrap_or(""))
            .collect();
        join_all(
            group_by_entity(&entities)
                .into_iter()
                .map(|members| async move {
                    let mut out = Vec::with_capacity(members.len());
                    for m in members {
                        let (i, env) = to_settle[m];
                        let result = self
                            .settle_conflict(policy, env, batch[i].receive_count)
                            .await;
                        out.push((i, env, result));
                    }
                    out
                }),
        )
        .await
        .into_iter()
        .flatten()
        .collect()
    }

    /// Claim every message of `firsts` in one call, then version-check the claimed ones in
    /// one call (arrival order, so an entity's versions apply in order). Returns the
    /// messages to deliver with their index, in order; the others' dispositions go to `out`,
    /// and `first_claim` says whose claim was the key's first (for the history).
    async fn prepare_all<'a>(
        &self,
        batch: &[&'a Received],
        firsts: Vec<usize>,
        out: &mut [Option<Disposition>],
        first_claim: &mut [bool],
    ) -> Vec<(usize, &'a Envelope)> {
        let mut to_claim = Vec::new();
        let mut ready = Vec::new();
        for i in firsts {
            match &batch[i].envelope {
                // Undecodable: dead-lettered with the reason.
                Err(_) => out[i] = Some(self.handle(batch[i]).await),
                // An operator asked for this event again: delivered whatever the ledger says.
                Ok(env) if env.source == Source::Replay => ready.push((i, env)),
                Ok(env) => match self.stale(env) {
                    Some(stale) => out[i] = Some(stale),
                    None => to_claim.push((i, env)),
                },
            }
        }
        let guarded: Vec<(&Envelope, u32)> = to_claim
            .iter()
            .map(|&(i, env)| (env, batch[i].receive_count))
            .collect();
        let verdicts = self.guard_replays(&guarded).await;
        let to_claim: Vec<(usize, &Envelope)> = to_claim
            .into_iter()
            .zip(verdicts)
            .filter_map(|((i, env), verdict)| match verdict {
                Some(d) => {
                    out[i] = Some(d);
                    None
                }
                None => Some((i, env)),
            })
            .collect();
        let keys: Vec<(&crate::ids::EventKey, &str)> = to_claim
            .iter()
            .map(|(_, env)| (&env.key, env.payload_sha256.as_str()))
            .collect();
        let claims = self
            .ledger
            .claim_many(&keys, self.clock.now(), self.settings.lease)
            .await;
        let mut claimed_now = Vec::new();
        for ((i, env), claim) in to_claim.into_iter().zip(claims) {
            match self.claimed(env, batch[i].receive_count, claim) {
                Err(d) => out[i] = Some(d),
                Ok(first) => {
                    first_claim[i] = first;
                    claimed_now.push((i, env));
                }
            }
        }
        let drift_checked: Vec<(&Envelope, u32)> = claimed_now
            .iter()
            .map(|&(i, env)| (env, batch[i].receive_count))
            .collect();
        let verdicts = self.check_drift(&drift_checked).await;
        let mut to_check = Vec::new();
        let mut to_settle = Vec::new();
        for ((i, env), verdict) in claimed_now.into_iter().zip(verdicts) {
            if let Some(d) = verdict {
                out[i] = Some(d);
            } else if self.ruled(env).is_some() {
                to_settle.push((i, env));
            } else if let (Some(entity), Some(version)) = (env.entity.as_deref(), env.version) {
                to_check.push((i, env, entity, version));
            } else {
                ready.push((i, env));
            }
        }
        for (i, env, result) in self.settle_all(batch, &to_settle).await {
            match result {
                Ok(()) => ready.push((i, env)),
                Err(d) => out[i] = Some(d),
            }
        }
        let versions: Vec<(&str, i64)> = to_check
            .iter()
            .map(|&(_, _, entity, version)| (entity, version))
            .collect();
        let checks = self.versions.advance_many(&versions).await;
        let checked = join_all(to_check.into_iter().zip(checks).map(
            |((i, env, _, _), check)| async move {
                let result = self
                    .version_checked(env, batch[i].receive_count, check)
                    .await;
                (i, env, result)
            },
        ))
        .await;
        for (i, env, result) in checked {
            match result {
                Ok(()) => ready.push((i, env)),
                Err(d) => out[i] = Some(d),
            }
        }
        ready.sort_unstable_by_key(|(i, _)| *i);
        ready
    }
}

/// The batch's indices of first copies of each key (and of undecodable messages), and of
/// later copies of a key already in the batch; arrival order kept.
fn first_copies(batch: &[&Received]) -> (Vec<usize>, Vec<usize>) {
    let mut keys = HashSet::new();
    (0..batch.len()).partition(|&i| match &batch[i].envelope {
        Ok(env) => keys.insert(&env.key),
        Err(_) => true,
    })
}

impl Disposition {
    /// A message given back undelivered because the invocation is out of time: visible
    /// again in [`GIVE_BACK_DELAY`].
    pub fn out_of_time() -> Self {
        Disposition::Retry {
            delay: GIVE_BACK_DELAY,
            reason: "the invocation's deadline was near; given back undelivered".into(),
        }
    }
}

/// One message's attempt, for the event history.
#[derive(Clone, Copy)]
struct Attempted<'a> {
    env: &'a Envelope,
    receive_count: u32,
    disposition: &'a Disposition,
    /// Its claim was the key's first ([`Claim::Acquired`]).
    first: bool,
}

/// The retry reason of a copy whose key another worker holds: not an attempt at the
/// event, so not in its history.
const IN_FLIGHT: &str = "in flight on another worker";

/// What a disposition means for the event's history: its state and the detail (the full
/// reason of a retry or dead letter). `None` for what is not an attempt at the event.
fn attempt_of<'a>(env: &'a Envelope, d: &'a Disposition) -> Option<(EventState, Option<&'a str>)> {
    Some(match d {
        Disposition::Ack(Done::Delivered) if env.source == Source::Replay => {
            (EventState::Replayed, env.replayed_by.as_deref())
        }
        Disposition::Ack(Done::Delivered) => (EventState::Delivered, None),
        Disposition::Ack(Done::Duplicate) => (EventState::Duplicate, None),
        Disposition::Ack(Done::Superseded { reason }) => {
            (EventState::Superseded, Some(reason.as_str()))
        }
        Disposition::Ack(Done::Held { reason }) => (EventState::Held, Some(reason.as_str())),
        Disposition::Ack(Done::ReplayRefused { reason }) => {
            (EventState::ReplayRefused, Some(reason.as_str()))
        }
        Disposition::Ack(Done::Stale { reason }) => (EventState::Stale, Some(reason.as_str())),
        Disposition::Retry { reason, .. } | Disposition::Defer { reason, .. }
            if reason == IN_FLIGHT =>
        {
            return None
        }
        Disposition::Retry { reason, .. } | Disposition::Defer { reason, .. } => {
            (EventState::Retrying, Some(reason.as_str()))
        }
        Disposition::DeadLetter { reason } => (EventState::DeadLettered, Some(reason.as_str())),
    })
}

/// The ledger key that holds a guarded envelope's signed body for the key it first came
/// under: `{provider}:#body-sha256:{hash}` (no provider id starts with `#body-sha256:`
/// that it could collide with but by design of the sender holding the secret).
fn body_key(env: &Envelope) -> Option<crate::ids::EventKey> {
    crate::ids::EventKey::new(
        &env.provider,
        &format!("#body-sha256:{}", env.payload_sha256),
    )
    .ok()
}

/// Why a stale version was not delivered, in the history's words.
fn stale_reason(env: &Envelope, current: i64) -> String {
    use crate::normalize::describe_version;
    format!(
        "superseded by version: {} of {} is older than {}, already applied from {}",
        env.version.map_or_else(|| "?".into(), describe_version),
        env.entity.as_deref().unwrap_or("the entity"),
        describe_version(current),
        env.provider
    )
}

/// The longest a destination's `Retry-After` delays an event: 15 minutes (SQS would allow
/// 12 hours; an event is better late by minutes than parked out of sight for hours).
pub const MAX_THROTTLE_DELAY: Duration = Duration::from_secs(900);

/// Pauses before writing a throttled completion again (the SDK has retried it already):
/// about 3 s in all, well inside a worker's margin, after which the event is retried.
const COMPLETION_PAUSES: [Duration; 4] = [
    Duration::from_millis(200),
    Duration::from_millis(400),
    Duration::from_millis(800),
    Duration::from_millis(1_600),
];

/// Write the throttled completions among `results` again after each of
/// [`COMPLETION_PAUSES`]: `again` gets their indices and answers their new results, in order.
async fn rewrite_throttled<F, Fut>(results: &mut [Result<(), StoreError>], mut again: F)
where
    F: FnMut(&[usize]) -> Fut,
    Fut: std::future::Future<Output = Vec<Result<(), StoreError>>>,
{
    for pause in COMPLETION_PAUSES {
        let throttled: Vec<usize> = (0..results.len())
            .filter(|&i| matches!(&results[i], Err(e) if e.is_throttle()))
            .collect();
        if throttled.is_empty() {
            break;
        }
        tokio::time::sleep(pause).await;
        let retried = again(&throttled).await;
        for (&i, result) in throttled.iter().zip(retried) {
            results[i] = result;
        }
    }
}

/// How soon a message given back for lack of time is visible again.
pub const GIVE_BACK_DELAY: Duration = Duration::from_secs(1);

/// Carry out a disposition on a queue.
pub async fn settle(
    queue: &dyn Queue,
    receipt: &Receipt,
    disposition: &Disposition,
) -> Result<(), StoreError> {
    match disposition {
        Disposition::Ack(_) => queue.ack(receipt).await,
        Disposition::Retry { delay, reason } => queue.retry_later(receipt, *delay, reason).await,
        Disposition::DeadLetter { reason } => queue.dead_letter(receipt, reason).await,
        Disposition::Defer { delay, reason } => queue.defer(receipt, *delay, reason).await,
    }
}

/// Receive one batch, handle it and settle every message. Returns how many were received.
pub async fn run_once(
    processor: &Processor,
    queue: &dyn Queue,
    batch_size: usize,
    visibility: Duration,
) -> Result<usize, StoreError> {
    let batch = queue.receive(batch_size, visibility).await?;
    let n = batch.len();
    let decided = processor.handle_batch(&batch).await;
    // Acknowledged in one call (one transaction on the embedded store), the rest at once.
    let (acks, others): (Vec<_>, Vec<_>) = decided
        .iter()
        .partition(|(_, d)| matches!(d, Disposition::Ack(_)));
    let receipts: Vec<&Receipt> = acks.iter().map(|(r, _)| r).collect();
    let (acked, settled) = futures::join!(
        queue.ack_many(&receipts),
        join_all(others.iter().map(|(r, d)| settle(queue, r, d)))
    );
    for result in acked.into_iter().chain(settled) {
        if let Err(e) = result {
            // The message reappears after its visibility timeout; the ledger makes the
            // second pass a duplicate if it was delivered.
            warn!(error = %e, "could not settle message");
        }
    }
    Ok(n)
}
