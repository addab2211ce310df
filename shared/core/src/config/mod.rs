//! Configuration: the TOML that `inlet dev`, `inlet check` and the Lambda functions share.
//!
//! Loading is two steps: TOML → raw structs (unknown keys and wrong types are errors with
//! their line, one per section: see `read`), then
//! validation into [`Config`], which collects every problem with its key path
//! (`providers[1].secrets[0]: environment variable X is not set`) so one `inlet check` run
//! shows them all.

mod conflicts;
mod outboxes;
mod providers;
mod read;
mod sinks;

use std::collections::BTreeMap;
use std::fmt;
use std::time::Duration;

use serde::Deserialize;

use crate::catalogue::{self, Conventions, Settings};
use crate::conflict::{ConflictRule, RuleKind};
use crate::handshake::Handshake;
use crate::ids::ProviderName;
use crate::normalize::NormalizeRules;
use crate::secret::{self, Secret};
use crate::signature::{CertScheme, Encoding, HmacAlgorithm, HmacSpec, Scheme, TimestampFormat};

pub const DEFAULT_MAX_BODY_BYTES: usize = 1024 * 1024;
pub use crate::signature::DEFAULT_TOLERANCE_SECS;

/// One problem in a config, with where it is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigIssue {
    pub path: String,
    pub message: String,
}

impl fmt::Display for ConfigIssue {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.path.is_empty() {
            f.write_str(&self.message)
        } else {
            write!(f, "{}: {}", self.path, self.message)
        }
    }
}

/// Every problem found in a config.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub struct ConfigError {
    pub issues: Vec<ConfigIssue>,
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let n = self.issues.len();
        writeln!(
            f,
            "{n} problem{} in the configuration:",
            if n == 1 { "" } else { "s" }
        )?;
        for issue in &self.issues {
            writeln!(f, "  - {issue}")?;
        }
        Ok(())
    }
}

#[derive(Debug, Clone)]
pub struct Config {
    pub server: ServerConfig,
    pub worker: WorkerConfig,
    pub logging: LoggingConfig,
    pub history: HistoryConfig,
    /// Schema-drift detection (`[schema]`, see [`crate::shape`]).
    pub schema: crate::shape::SchemaConfig,
    pub providers: Vec<ProviderConfig>,
    pub sinks: Vec<SinkConfig>,
    pub sources: Vec<crate::source_config::SourceConfig>,
    /// OAuth2 refresh-token connections and their call budgets (`crate::connection`).
    pub connections: Vec<crate::connection::ConnectionConfig>,
    /// Transactional outboxes `inlet dev` drains into the pipeline (`inlet-outbox`).
    pub outboxes: Vec<OutboxConfig>,
    /// Conflict rules per entity type (`[[conflicts]]`); entities of other types keep
    /// "an older version never overwrites a newer one".
    pub conflicts: Vec<ConflictRule>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawConflict {
    entity_type: String,
    rule: String,
    #[serde(default)]
    priority: Vec<String>,
    window_secs: Option<u64>,
    #[serde(default)]
    fields: Vec<String>,
}

/// An application's outbox table to drain: each staged event is enqueued under the key
/// `{name}:{idempotency_key}`, so the worker delivers it to the sinks exactly once.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OutboxConfig {
    /// The key prefix and the record's `provider`; distinct from every provider's name.
    pub name: ProviderName,
    /// The application's SQLite database holding the `inlet_outbox` table.
    pub sqlite: String,
    pub poll_interval_ms: u64,
    /// Events read per poll.
    pub batch_size: usize,
    /// Failed publishes before an event is marked `failed` (and left for an operator).
    pub max_attempts: u32,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawOutbox {
    name: String,
    sqlite: String,
    #[serde(default = "default_outbox_poll_ms")]
    poll_interval_ms: u64,
    #[serde(default = "default_outbox_batch")]
    batch_size: usize,
    #[serde(default = "default_outbox_attempts")]
    max_attempts: u32,
}

fn default_outbox_poll_ms() -> u64 {
    200
}
fn default_outbox_batch() -> usize {
    100
}
fn default_outbox_attempts() -> u32 {
    10
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ServerConfig {
    /// Default request body limit, in bytes (a provider may set its own).
    pub max_body_bytes: usize,
}

impl Default for ServerConfig {
    fn default() -> Self {
        Self {
            max_body_bytes: DEFAULT_MAX_BODY_BYTES,
        }
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct WorkerConfig {
    /// Messages the local worker takes per receive (1–100; on AWS the event source
    /// mapping's `BatchSize` decides). Unset, [`Config::from_toml`] makes it
    /// [`LOCAL_SINKS_BATCH`] when every sink writes locally (file, stdout), whose cost is
    /// per batch (one write, one fsync), and [`HTTP_SINK_BATCH`] when an HTTP sink sends a
    /// batch's records to a receiver at once.
    pub batch_size: Option<usize>,
    pub visibility_timeout_secs: u64,
    /// The in-progress lease; shorter than the visibility timeout so a crashed worker's
    /// claim expires before its message reappears.
    pub lease_secs: u64,
    /// Receives before the queue moves a message to the DLQ.
    pub max_receive: u32,
    /// How long completed keys are remembered (duplicate window).
    pub retention_secs: u64,
    pub backoff_base_ms: u64,
    pub backoff_max_secs: u64,
    /// Idle poll interval of the local worker loop.
    pub poll_interval_ms: u64,
}

impl Default for WorkerConfig {
    fn default() -> Self {
        Self {
            batch_size: None,
            visibility_timeout_secs: 30,
            lease_secs: 25,
            max_receive: 5,
            retention_secs: 7 * 24 * 3600,
            backoff_base_ms: 1000,
            backoff_max_secs: 300,
            poll_interval_ms: 250,
        }
    }
}

/// The default batch when every sink writes locally: a batch costs the store's
/// transactions and the file sink's fsync once, whatever its size (docs/benchmarks.md).
pub const LOCAL_SINKS_BATCH: usize = 100;
/// The default batch with an HTTP sink: its records go to the receiver at once, and four
/// local workers × 100 requests would swamp a small one.
pub const HTTP_SINK_BATCH: usize = 10;

impl WorkerConfig {
    /// Messages per receive: as configured, else as [`Config::from_toml`] resolved it, else
    /// [`HTTP_SINK_BATCH`].
    pub fn batch_size(&self) -> usize {
        self.batch_size.unwrap_or(HTTP_SINK_BATCH)
    }

    pub fn visibility(&self) -> Duration {
        Duration::from_secs(self.visibility_timeout_secs)
    }
    pub fn lease(&self) -> Duration {
        Duration::from_secs(self.lease_secs)
    }
    pub fn retention(&self) -> Duration {
        Duration::from_secs(self.retention_secs)
    }
    pub fn backoff(&self) -> crate::retry::Backoff {
        crate::retry::Backoff {
            base: Duration::from_millis(self.backoff_base_ms),
            max: Duration::from_secs(self.backoff_max_secs),
        }
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct LoggingConfig {
    /// Log payloads at debug level (after redaction). Off by default.
    pub log_payloads: bool,
    /// Field names redacted wherever a payload is logged.
    pub redact_fields: Vec<String>,
}

impl Default for LoggingConfig {
    fn default() -> Self {
        Self {
            log_payloads: false,
            redact_fields: crate::redact::DEFAULT_FIELDS
                .iter()
                .map(|s| s.to_string())
                .collect(),
        }
    }
}

/// `[history]`: the event history `inlet events` reads (kept `worker.retention_secs`).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct HistoryConfig {
    /// Record every attempt of every event. On by default.
    pub enabled: bool,
    /// Keep payloads with the history, so `inlet events replay` can send an event again.
    pub keep_payloads: bool,
    /// Larger payloads are not kept (the event is listed, not replayable from history).
    pub max_payload_bytes: usize,
}

/// The most a kept payload may be: API Gateway's 10 MB request limit, the largest
/// webhook the stack accepts (on AWS, payloads over 200 KB are kept in chunks beside the
/// record).
pub const MAX_HISTORY_PAYLOAD_BYTES: usize = 10 * 1024 * 1024;

impl Default for HistoryConfig {
    fn default() -> Self {
        Self {
            enabled: true,
            keep_payloads: true,
            max_payload_bytes: 1024 * 1024,
        }
    }
}

#[derive(Debug, Clone)]
pub struct ProviderConfig {
    pub name: ProviderName,
    /// The catalogue preset the provider names (`paddle`), or `hmac`.
    pub preset: &'static str,
    pub scheme: Scheme,
    pub secrets: Vec<Secret>,
    pub tolerance_secs: u64,
    pub max_body_bytes: usize,
    pub rules: NormalizeRules,
    /// The endpoint check the provider's preset answers (Zoom, Meta, Twitch, …).
    pub handshake: Option<Handshake>,
    /// Meta's subscription check compares this to `hub.verify_token`.
    pub verify_token: Option<Secret>,
    /// AWS SNS: visit a verified SubscriptionConfirmation's SubscribeURL.
    pub confirm_subscription: bool,
    /// Presets that send only an id (Mollie): the webhook fetches the object from the
    /// provider's API and enqueues that, so what is delivered comes from the provider.
    pub fetch: Option<FetchById>,
}

/// Where an id-only notification's object is fetched from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FetchById {
    /// `https://api.mollie.com/v2/payments/{id}`: `{id}` is the notification's id.
    pub url: String,
    /// Sent as a bearer token.
    pub token: Option<Secret>,
}

#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(tag = "kind", rename_all = "lowercase", deny_unknown_fields)]
pub enum SinkConfig {
    /// Append one JSON object per line, fsync'd per record.
    File { path: String },
    /// One JSON object per line on standard output.
    Stdout {},
    /// POST each record as JSON with an `Idempotency-Key` header.
    Http {
        url: String,
        #[serde(default)]
        headers: BTreeMap<String, String>,
        #[serde(default = "default_http_timeout")]
        timeout_ms: u64,
        /// Attempts within one delivery before the queue's backoff takes over.
        #[serde(default = "default_http_attempts")]
        attempts: u32,
        /// Deliveries a minute this process sends the destination at most; events over
        /// it wait in the queue (delayed, not failed).
        #[serde(default)]
        rate_per_minute: Option<u32>,
        /// A `[[connections]]` name: each delivery takes a call from its budgets and
        /// carries its credentials (bearer token, session cookies or OAuth 1.0a signature).
        #[serde(default)]
        connection: Option<String>,
        /// Deliveries this process has in flight to the destination at most; one over it
        /// waits (a second at most, then back to the queue: delayed, not failed).
        #[serde(default)]
        max_in_flight: Option<u32>,
    },
    /// Publish to an EventBridge bus (AWS backend): `source = inlet.<provider>`,
    /// `detail-type` = the event type. `bus` defaults to the stack's bus (`INLET_EVENT_BUS`).
    Eventbridge {
        #[serde(default)]
        bus: Option<String>,
        /// The S3 bucket for events over EventBridge's 256 KB entry limit (published with
        /// a `payload_ref` to the object); defaults to the stack's `INLET_PAYLOAD_BUCKET`.
        #[serde(default)]
        payload_bucket: Option<String>,
    },
}

fn default_http_timeout() -> u64 {
    10_000
}
/// Two attempts of 10 s and the pause between them fit in the default 25 s lease with room
/// to spare (see [`SinkConfig::http_worst_case`]); the queue's backoff retries after that.
fn default_http_attempts() -> u32 {
    2
}

/// Waits this short are taken inside an HTTP sink's delivery; longer ones give the event
/// back to the queue (a delivery must end well inside its claim's lease).
pub const MAX_WAIT_IN_DELIVERY: Duration = Duration::from_secs(1);

/// An HTTP sink's retries within one delivery: `attempts` tries, 200 ms doubling to at most
/// 6.4 s between them (with equal jitter), and a `Retry-After` honoured in place up to a
/// second; a longer one gives the event back to the queue (a delivery must end well inside
/// its claim's lease).
pub fn http_sink_retry(attempts: u32) -> crate::retry::RetryPolicy {
    crate::retry::RetryPolicy {
        attempts: attempts.max(1),
        backoff: crate::retry::Backoff {
            base: Duration::from_millis(200),
            max: Duration::from_millis(6400),
        },
        max_wait: MAX_WAIT_IN_DELIVERY,
    }
}

/// Time kept between the slowest delivery a sink can take and the end of a claim's `lease`,
/// for the claim and version waves before it and the completion after it: round trips,
/// not seconds, so 2 s, or a quarter of a shorter lease.
pub fn lease_headroom(lease: Duration) -> Duration {
    Duration::from_secs(2).min(lease / 4)
}

impl SinkConfig {
    /// The longest one record's delivery can take: every attempt timing out, with the
    /// pauses between. `None` for sinks without their own retries or timeouts.
    pub fn http_worst_case(&self) -> Option<Duration> {
        let SinkConfig::Http {
            timeout_ms,
            attempts,
            ..
        } = self
        else {
            return None;
        };
        let tries = (*attempts).max(1);
        let pauses = http_sink_retry(tries).worst_case_pauses();
        Some(Duration::from_millis(*timeout_ms).saturating_mul(tries) + pauses)
    }
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawConfig {
    #[serde(default)]
    server: ServerConfig,
    #[serde(default)]
    worker: WorkerConfig,
    #[serde(default)]
    logging: LoggingConfig,
    #[serde(default)]
    history: HistoryConfig,
    #[serde(default)]
    schema: crate::shape::SchemaConfig,
    #[serde(default)]
    providers: Vec<RawProvider>,
    #[serde(default)]
    sinks: Vec<SinkConfig>,
    #[serde(default)]
    sources: Vec<crate::source_config::RawSource>,
    #[serde(default)]
    connections: Vec<crate::connection::RawConnection>,
    #[serde(default)]
    outboxes: Vec<RawOutbox>,
    #[serde(default)]
    conflicts: Vec<RawConflict>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawProvider {
    name: String,
    scheme: String,
    #[serde(default)]
    secrets: Vec<String>,
    tolerance_secs: Option<u64>,
    max_body_bytes: Option<usize>,
    id_pointer: Option<String>,
    type_pointer: Option<String>,
    entity_pointer: Option<String>,
    entity_type: Option<String>,
    version_pointer: Option<String>,
    /// Records, not events: the key is `{id}@{text at this pointer}` (see `NormalizeRules`).
    key_version_pointer: Option<String>,
    /// A webhook older than this (by its own time at `event_time_pointer`) is stale.
    max_event_age_secs: Option<u64>,
    event_time_pointer: Option<String>,
    /// URL-signing schemes (twilio, square, hubspot, `{url}` in signed_content): the URL
    /// the provider calls.
    public_url: Option<String>,
    /// The signature header (hmac) or the token's header (token presets).
    // The generic `hmac` scheme.
    header: Option<String>,
    algorithm: Option<String>,
    encoding: Option<String>,
    prefix: Option<String>,
    timestamp_header: Option<String>,
    timestamp_format: Option<String>,
    signed_content: Option<String>,
    /// Meta's `hub.verify_token` (a secret reference, like `secrets`).
    verify_token: Option<String>,
    /// AWS SNS: confirm subscriptions (visit the SubscribeURL of a verified confirmation).
    confirm_subscription: Option<bool>,
    /// Id-only presets (Mollie): the API URL of the object, with `{id}`.
    fetch_url: Option<String>,
    /// A secret reference: the API key sent as a bearer token with `fetch_url`.
    fetch_token: Option<String>,
}

/// Resolves the `NAME` of an `env:NAME` secret reference.
type SecretLookup<'a> = dyn Fn(&str) -> Option<String> + 'a;

impl Config {
    /// Parse and validate. `env` resolves `env:NAME` secret references.
    pub fn from_toml(
        text: &str,
        env: &dyn Fn(&str) -> Option<String>,
    ) -> Result<Config, ConfigError> {
        Self::parse(text, Some(env))
    }

    /// Parse and validate everything but the secrets, for a process that verifies no
    /// signature and polls no API (the worker): providers keep no secrets, and sources —
    /// which need their credentials — are left out. No secret store has to be read.
    pub fn from_toml_without_secrets(text: &str) -> Result<Config, ConfigError> {
        Self::parse(text, None)
    }

    /// Every check `inlet check` makes with the secrets unread (they live in a deployed
    /// stack's secret bundle, not on the workstation pushing the file): the whole file
    /// without secrets, then the sources and connections with stand-in values for their
    /// `env:` references — their shape is what can be checked here, not their value.
    pub fn check_without_secrets(text: &str) -> Result<(), ConfigError> {
        let mut issues = match Self::from_toml_without_secrets(text) {
            Ok(_) => Vec::new(),
            Err(e) => e.issues,
        };
        let parsed = issues.iter().all(|i| !i.path.is_empty());
        if parsed {
            if let Err(e) = Self::from_toml(text, &|_| Some("inlet-check-stand-in".into())) {
                issues.extend(e.issues.into_iter().filter(|i| {
                    i.path.starts_with("sources[") || i.path.starts_with("connections[")
                }));
            }
        }
        issues.dedup_by(|a, b| a.path == b.path && a.message == b.message);
        if issues.is_empty() {
            Ok(())
        } else {
            Err(ConfigError { issues })
        }
    }

    fn parse(text: &str, env: Option<&SecretLookup<'_>>) -> Result<Config, ConfigError> {
        let raw: RawConfig = read::read(text).map_err(|issues| ConfigError { issues })?;
        let mut issues = Vec::new();
        let mut push = |path: String, message: String| issues.push(ConfigIssue { path, message });
        check_limits(&raw, &mut push);
        // Provider and outbox names prefix idempotency keys: one set keeps them apart.
        let mut names = std::collections::HashSet::new();
        let providers = providers::build(&raw, env, &mut names, &mut push);
        sinks::check(&raw.sinks, raw.worker.lease_secs, &mut push);
        let (connections, connection_names) = connections(&raw, env, &mut push);
        if env.is_some() {
            sinks::check_connections(&raw.sinks, &connection_names, &mut push);
        }
        let sources = sources(&raw, &providers, &connection_names, env, &mut push);
        let outboxes = outboxes::build(&raw.outboxes, &mut names, &mut push);
        let conflicts = conflicts::build(&raw.conflicts, &names, &mut push);
        check_schema(&raw.schema, &names, &sources, &mut push);
        if !issues.is_empty() {
            return Err(ConfigError { issues });
        }
        let mut worker = raw.worker;
        let all_local = raw
            .sinks
            .iter()
            .all(|s| matches!(s, SinkConfig::File { .. } | SinkConfig::Stdout {}));
        worker.batch_size.get_or_insert(if all_local {
            LOCAL_SINKS_BATCH
        } else {
            HTTP_SINK_BATCH
        });
        Ok(Config {
            server: raw.server,
            worker,
            logging: raw.logging,
            history: raw.history,
            schema: raw.schema,
            providers,
            sinks: raw.sinks,
            sources,
            connections,
            outboxes,
            conflicts,
        })
    }

    pub fn provider(&self, name: &str) -> Option<&ProviderConfig> {
        self.providers.iter().find(|p| p.name.as_str() == name)
    }

    pub fn connection(&self, name: &str) -> Option<&crate::connection::ConnectionConfig> {
        self.connections.iter().find(|c| c.name == name)
    }

    pub fn source(&self, name: &str) -> Option<&crate::source_config::SourceConfig> {
        self.sources.iter().find(|s| s.name == name)
    }
}

/// `[worker]`, `[history]` and `[server]`: the numbers that must be in range.
fn check_limits(raw: &RawConfig, push: &mut impl FnMut(String, String)) {
    let w = &raw.worker;
    if w.batch_size.is_some_and(|b| b == 0 || b > 100) {
        push(
            "worker.batch_size".into(),
            "must be between 1 and 100".into(),
        );
    }
    if w.visibility_timeout_secs == 0 {
        push(
            "worker.visibility_timeout_secs".into(),
            "must be at least 1".into(),
        );
    }
    if w.lease_secs == 0 || w.lease_secs >= w.visibility_timeout_secs {
        push(
            "worker.lease_secs".into(),
            format!(
                "must be at least 1 and shorter than worker.visibility_timeout_secs ({})",
                w.visibility_timeout_secs
            ),
        );
    }
    if w.max_receive == 0 {
        push("worker.max_receive".into(), "must be at least 1".into());
    }
    if w.backoff_base_ms == 0 {
        push("worker.backoff_base_ms".into(), "must be at least 1".into());
    }
    if raw.history.max_payload_bytes > MAX_HISTORY_PAYLOAD_BYTES {
        push(
            "history.max_payload_bytes".into(),
            format!("must be at most {MAX_HISTORY_PAYLOAD_BYTES} (API Gateway's request limit)"),
        );
    }
    if raw.server.max_body_bytes == 0 {
        push("server.max_body_bytes".into(), "must be at least 1".into());
    }
}

/// `[[connections]]`, read only with credentials (without a resolver they are left out),
/// and the names configured (which sinks and sources refer to).
fn connections(
    raw: &RawConfig,
    env: Option<&SecretLookup<'_>>,
    push: &mut impl FnMut(String, String),
) -> (
    Vec<crate::connection::ConnectionConfig>,
    std::collections::HashSet<String>,
) {
    let mut connections = Vec::new();
    let mut connection_names = std::collections::HashSet::new();
    let Some(env) = env else {
        return (connections, connection_names);
    };
    for (i, raw_connection) in raw.connections.iter().enumerate() {
        if !connection_names.insert(raw_connection.name.clone()) {
            push(
                format!("connections[{i}].name"),
                format!("{:?} is configured twice", raw_connection.name),
            );
        }
        match crate::connection::ConnectionConfig::build(raw_connection, env) {
            Ok(c) => connections.push(c),
            Err(errs) => {
                for (field, msg) in errs {
                    push(format!("connections[{i}].{field}"), msg);
                }
            }
        }
    }
    (connections, connection_names)
}

/// `[[sources]]`, read only with credentials (without a resolver they are left out).
fn sources(
    raw: &RawConfig,
    providers: &[ProviderConfig],
    connection_names: &std::collections::HashSet<String>,
    env: Option<&SecretLookup<'_>>,
    push: &mut impl FnMut(String, String),
) -> Vec<crate::source_config::SourceConfig> {
    let mut sources = Vec::new();
    let Some(env) = env else {
        return sources;
    };
    let mut source_names = std::collections::HashSet::new();
    for (i, raw_source) in raw.sources.iter().enumerate() {
        if !source_names.insert(raw_source.name.clone()) {
            push(
                format!("sources[{i}].name"),
                format!("{:?} is configured twice", raw_source.name),
            );
        }
        if let Some(c) = &raw_source.connection {
            if !connection_names.contains(c) {
                push(
                    format!("sources[{i}].connection"),
                    format!("{c:?} is not a configured [[connections]] name"),
                );
            }
        }
        match crate::source_config::SourceConfig::build(raw_source, providers, env) {
            Ok(s) => sources.push(s),
            Err(errs) => {
                for (field, msg) in errs {
                    push(format!("sources[{i}].{field}"), msg);
                }
            }
        }
    }
    sources
}

/// `[schema]`: its settings, and pins that name a provider, a source or an outbox.
fn check_schema(
    schema: &crate::shape::SchemaConfig,
    names: &std::collections::HashSet<String>,
    sources: &[crate::source_config::SourceConfig],
    push: &mut impl FnMut(String, String),
) {
    for (field, problem) in schema.problems() {
        push(format!("schema.{field}"), problem);
    }
    for (i, pinned) in schema.pin.iter().enumerate() {
        let known = names.contains(pinned) || sources.iter().any(|s| s.provider.as_str() == pinned);
        if !known {
            push(
                format!("schema.pin[{i}]"),
                format!("{pinned:?} is not a provider's, a source's or an outbox's name"),
            );
        }
    }
}

/// An entity type is the part of an entity before its first `/`: a plain word.
pub(super) fn check_entity_type(t: &str) -> Result<(), String> {
    if t.is_empty() || t.len() > 64 || t.contains('/') || t.chars().any(char::is_whitespace) {
        return Err(format!(
            "{t:?} is not an entity type (1 to 64 characters, no '/' or spaces)"
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(name: &str) -> Option<String> {
        (name == "STRIPE_SECRET").then(|| "whsec_x".to_string())
    }

    #[test]
    fn a_full_config_loads() {
        let cfg = Config::from_toml(
            r#"
            [worker]
            max_receive = 3
            [[providers]]
            name = "stripe"
            scheme = "stripe"
            secrets = ["env:STRIPE_SECRET", "whsec_old"]
            [[providers]]
            name = "erp"
            scheme = "hmac"
            secrets = ["erp-secret"]
            header = "X-Erp-Signature"
            algorithm = "sha512"
            encoding = "base64"
            timestamp_header = "X-Erp-Time"
            id_pointer = "/uuid"
            [[sinks]]
            kind = "file"
            path = "out.jsonl"
            [[sinks]]
            kind = "http"
            url = "http://127.0.0.1:9/x"
            "#,
            &env,
        )
        .unwrap();
        assert_eq!(cfg.worker.max_receive, 3);
        assert_eq!(cfg.providers.len(), 2);
        assert_eq!(
            cfg.provider("stripe").unwrap().secrets[0].expose(),
            "whsec_x"
        );
        assert_eq!(cfg.provider("stripe").unwrap().tolerance_secs, 300);
        assert!(matches!(
            cfg.provider("erp").unwrap().scheme,
            Scheme::Hmac(_)
        ));
        assert!(!format!("{cfg:?}").contains("whsec_x"));
    }

    #[test]
    fn outboxes_are_checked_and_their_names_stay_apart_from_providers() {
        let base = "[[providers]]\nname = \"stripe\"\nscheme = \"stripe\"\nsecrets = [\"s\"]\n[[sinks]]\nkind = \"stdout\"\n";
        let cfg = Config::from_toml(
            &format!("{base}[[outboxes]]\nname = \"shop\"\nsqlite = \"app.db\"\n"),
            &env,
        )
        .unwrap();
        assert_eq!(cfg.outboxes[0].name.as_str(), "shop");
        assert_eq!(
            (cfg.outboxes[0].batch_size, cfg.outboxes[0].max_attempts),
            (100, 10)
        );
        let err = Config::from_toml(
            &format!(
                "{base}[[outboxes]]\nname = \"stripe\"\nsqlite = \"\"\nbatch_size = 0\nmax_attempts = 0\n[[outboxes]]\nname = \"Shop!\"\nsqlite = \"a.db\"\n"
            ),
            &env,
        )
        .unwrap_err()
        .to_string();
        for needle in [
            "outboxes[0].name: \"stripe\" is already a provider's or an outbox's name",
            "outboxes[0].sqlite: must name",
            "outboxes[0].batch_size",
            "outboxes[0].max_attempts",
            "outboxes[1].name",
        ] {
            assert!(err.contains(needle), "{needle} in {err}");
        }
        // An unknown key is a typo, not ignored.
        let err = Config::from_toml(
            &format!("{base}[[outboxes]]\nname = \"shop\"\nsqlite = \"a.db\"\npoll_ms = 5\n"),
            &env,
        )
        .unwrap_err();
        assert!(err.to_string().contains("poll_ms"), "{err}");
    }

    #[test]
    fn an_hmac_prefix_with_spaces_or_control_characters_is_refused() {
        for prefix in ["sha256= ", "\n\n", "v1\t"] {
            let text = format!("[[providers]]\nname = \"p\"\nscheme = \"hmac\"\nsecrets = [\"s\"]\nheader = \"X-Sig\"\nprefix = {prefix:?}\n[[sinks]]\nkind = \"stdout\"\n");
            let err = Config::from_toml(&text, &env).unwrap_err().to_string();
            assert!(err.contains("providers[0].prefix"), "{prefix:?}: {err}");
        }
    }

    #[test]
    fn url_signing_schemes_need_their_public_url_and_no_other_takes_one() {
        let p = |scheme: &str, url: Option<&str>| {
            let url = url.map_or(String::new(), |u| format!("public_url = {u:?}\n"));
            format!("[[providers]]\nname = \"p\"\nscheme = \"{scheme}\"\nsecrets = [\"s\"]\n{url}[[sinks]]\nkind = \"stdout\"\n")
        };
        let cfg = Config::from_toml(
            &p("twilio", Some("https://hooks.example.com/webhooks/p")),
            &env,
        )
        .unwrap();
        assert_eq!(
            cfg.providers[0].scheme,
            Scheme::Twilio {
                url: "https://hooks.example.com/webhooks/p".into()
            }
        );
        for (text, needle) in [
            (
                p("square", None),
                "providers[0].public_url: scheme \"square\" signs the URL it calls",
            ),
            (
                p("twilio", Some("hooks.example.com/p")),
                "is not an http(s) URL",
            ),
            (p("twilio", Some("https://h/p q")), "is not an http(s) URL"),
            (
                p("stripe", Some("https://h/p")),
                "does not sign the URL; only URL-signing presets take one",
            ),
        ] {
            let err = Config::from_toml(&text, &env).unwrap_err().to_string();
            assert!(err.contains(needle), "{needle} in {err}");
        }
    }

    #[test]
    fn conflict_rules_load_and_every_mistake_is_named() {
        let base = "[[providers]]\nname = \"crm\"\nscheme = \"stripe\"\nsecrets = [\"s\"]\nentity_pointer = \"/id\"\nentity_type = \"customer\"\n[[providers]]\nname = \"shop\"\nscheme = \"stripe\"\nsecrets = [\"s\"]\n[[sinks]]\nkind = \"stdout\"\n";
        let cfg = Config::from_toml(
            &format!(
                "{base}[[conflicts]]\nentity_type = \"customer\"\nrule = \"source-priority\"\npriority = [\"crm\", \"shop\"]\nwindow_secs = 3600\n[[conflicts]]\nentity_type = \"customer\"\nrule = \"manual-review\"\nfields = [\"/phone\"]\n"
            ),
            &env,
        )
        .unwrap();
        assert_eq!(
            cfg.providers[0].rules.entity_type.as_deref(),
            Some("customer")
        );
        assert_eq!(cfg.conflicts.len(), 2);
        assert_eq!(cfg.conflicts[0].kind, RuleKind::SourcePriority);
        assert_eq!(cfg.conflicts[0].window, Some(Duration::from_secs(3600)));
        assert_eq!(cfg.conflicts[1].fields, vec!["/phone".to_string()]);
        // The worker parses without secrets and must see the same rules.
        let text =
            format!("{base}[[conflicts]]\nentity_type = \"invoice\"\nrule = \"last-write-wins\"\n");
        assert_eq!(
            Config::from_toml_without_secrets(&text).unwrap().conflicts[0].kind,
            RuleKind::LastWriteWins
        );

        let err = Config::from_toml(
            &format!(
                "{base}[[conflicts]]\nentity_type = \"a/b\"\nrule = \"newest\"\n\
                 [[conflicts]]\nentity_type = \"customer\"\nrule = \"source-priority\"\n\
                 [[conflicts]]\nentity_type = \"order\"\nrule = \"source-priority\"\npriority = [\"crm\", \"erp\", \"crm\"]\nwindow_secs = 0\n\
                 [[conflicts]]\nentity_type = \"order\"\nrule = \"manual-review\"\npriority = [\"crm\"]\nfields = [\"phone\"]\n\
                 [[conflicts]]\nentity_type = \"invoice\"\nrule = \"last-write-wins\"\nwindow_secs = 5\n\
                 [[conflicts]]\nentity_type = \"item\"\nrule = \"manual-review\"\nfields = [\"/a\"]\n\
                 [[conflicts]]\nentity_type = \"item\"\nrule = \"manual-review\"\nfields = [\"/b\", \"/a\"]\n"
            ),
            &env,
        )
        .unwrap_err()
        .to_string();
        for needle in [
            "conflicts[0].entity_type: \"a/b\" is not an entity type",
            "conflicts[0].rule: \"newest\" is not a rule",
            "conflicts[1].priority: source-priority needs the providers in order",
            "conflicts[2].priority[1]: \"erp\" is not a configured provider or outbox",
            "conflicts[2].priority[2]: \"crm\" is listed twice",
            "conflicts[2].window_secs: must be at least 1",
            "conflicts[3].priority: only source-priority takes a priority",
            "conflicts[3].fields[0]: \"phone\" is not a JSON pointer",
            "conflicts[4].window_secs: last-write-wins compares versions",
            "conflicts[6].entity_type: \"item\" already has a manual-review rule for one of these fields",
        ] {
            assert!(err.contains(needle), "{needle} in {err}");
        }
        let err = Config::from_toml(&base.replace("entity_pointer = \"/id\"\n", ""), &env)
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("providers[0].entity_type: prefixes the id at entity_pointer"),
            "{err}"
        );
    }

    #[test]
    fn every_problem_is_reported_with_its_path() {
        let err = Config::from_toml(
            r#"
            [worker]
            lease_secs = 60
            [[providers]]
            name = "Bad Name"
            scheme = "stripe"
            secrets = ["env:MISSING"]
            [[providers]]
            name = "x"
            scheme = "nope"
            secrets = []
            [[providers]]
            name = "y"
            scheme = "github"
            secrets = ["s"]
            header = "x"
            [[providers]]
            name = "sw"
            scheme = "standard-webhooks"
            secrets = ["whsec_***"]
            id_pointer = "id"
            [[sinks]]
            kind = "http"
            url = "ftp://x"
            "#,
            &env,
        )
        .unwrap_err();
        let text = err.to_string();
        for needle in [
            "worker.lease_secs",
            "providers[0].name",
            "providers[0].secrets[0]: environment variable MISSING is not set",
            "providers[1].scheme: unknown scheme \"nope\"",
            "providers[1].secrets: at least one secret",
            "providers[2].header: only applies to scheme = \"hmac\"",
            "providers[3].secrets[0]: not usable by scheme standard-webhooks",
            "providers[3].id_pointer",
            "sinks[0].url",
        ] {
            assert!(text.contains(needle), "missing {needle:?} in:\n{text}");
        }
    }

    #[test]
    fn the_batch_size_defaults_by_the_sinks() {
        let provider = "[[providers]]\nname = \"stripe\"\nscheme = \"stripe\"\nsecrets = [\"s\"]\n";
        let file = "[[sinks]]\nkind = \"file\"\npath = \"e.jsonl\"\n[[sinks]]\nkind = \"stdout\"\n";
        let http = "[[sinks]]\nkind = \"http\"\nurl = \"https://erp.example/events\"\n";
        let batch = |text: &str| {
            Config::from_toml(text, &env)
                .map(|c| c.worker.batch_size())
                .map_err(|e| e.to_string())
        };
        assert_eq!(batch(&format!("{provider}{file}")), Ok(LOCAL_SINKS_BATCH));
        assert_eq!(
            batch(&format!("{provider}{file}{http}")),
            Ok(HTTP_SINK_BATCH)
        );
        let set =
            |n: &str, sinks: &str| batch(&format!("[worker]\nbatch_size = {n}\n{provider}{sinks}"));
        assert_eq!(set("25", file), Ok(25));
        assert_eq!(set("100", http), Ok(100));
        for bad in ["0", "101"] {
            let err = set(bad, file).unwrap_err();
            assert!(
                err.contains("worker.batch_size: must be between 1 and 100"),
                "{err}"
            );
        }
    }

    #[test]
    fn an_http_sink_slower_than_the_lease_is_refused() {
        let base = "[[providers]]\nname = \"stripe\"\nscheme = \"stripe\"\nsecrets = [\"s\"]\n[[sinks]]\nkind = \"http\"\nurl = \"https://erp.example/events\"\n";
        // The defaults fit: two 10 s attempts and a 0.2 s pause, within 25 s less 2 s.
        let ok = Config::from_toml(base, &env).unwrap();
        assert_eq!(
            ok.sinks[0].http_worst_case(),
            Some(Duration::from_millis(20_200))
        );
        // Three 10 s attempts cannot finish inside a 25 s lease.
        let err = Config::from_toml(&format!("{base}attempts = 3\n"), &env)
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("sinks[0]: 3 attempts of timeout_ms = 10000 can take 30.6 s")
                && err.contains("outlasts worker.lease_secs = 25"),
            "{err}"
        );
        // A longer lease (still below the visibility timeout), or a shorter timeout, fits.
        let longer = format!(
            "[worker]\nlease_secs = 40\nvisibility_timeout_secs = 60\n{base}attempts = 3\n"
        );
        assert!(Config::from_toml(&longer, &env).is_ok());
        let quicker = format!("{base}attempts = 3\ntimeout_ms = 5000\n");
        assert!(Config::from_toml(&quicker, &env).is_ok());
        // Other sinks have no retries of their own to bound.
        assert_eq!(SinkConfig::Stdout {}.http_worst_case(), None);
    }

    #[test]
    fn sources_are_validated_with_their_paths() {
        let base = "[[providers]]\nname = \"stripe\"\nscheme = \"stripe\"\nsecrets = [\"s\"]\n[[sinks]]\nkind = \"stdout\"\n";
        let ok = Config::from_toml(
            &format!("{base}[[sources]]\nname = \"stripe-events\"\nprovider = \"stripe\"\nkind = \"stripe-events\"\napi_key = \"env:STRIPE_SECRET\"\n"),
            &env,
        )
        .unwrap();
        let src = ok.source("stripe-events").unwrap();
        assert_eq!(src.api_base, "https://api.stripe.com");
        assert_eq!(
            (
                src.interval.as_secs(),
                src.settle.as_secs(),
                src.lookback.as_secs()
            ),
            (900, 60, 86_400)
        );
        assert!(!format!("{src:?}").contains("whsec_x"));

        let err = Config::from_toml(
            &format!(
                "{base}[[sources]]\nname = \"A\"\nprovider = \"nope\"\nkind = \"stripe-events\"\n\
                 [[sources]]\nname = \"gh\"\nprovider = \"stripe\"\nkind = \"github-deliveries\"\napi_key = \"t\"\nowner = \"o\"\n\
                 [[sources]]\nname = \"j\"\nprovider = \"stripe\"\nkind = \"http-json\"\napi_base = \"ftp://x\"\nurl = \"{{api_base}}/x\"\nauth = \"oauth2\"\napi_key = \"k\"\n\
                 [[sources]]\nname = \"k\"\nprovider = \"stripe\"\nkind = \"carrier-pigeon\"\n"
            ),
            &env,
        )
        .unwrap_err()
        .to_string();
        for needle in [
            "sources[0].name",
            "sources[0].provider: \"nope\" is not a configured provider",
            "sources[0].api_key: is required",
            "sources[1].hook_id",
            "sources[2].api_base",
            "sources[2].url: never sends the cursor",
            "sources[2].updated_at_pointer",
            "sources[2].token_url",
            "sources[3].kind: unknown kind",
        ] {
            assert!(err.contains(needle), "missing {needle:?} in:\n{err}");
        }
    }

    /// `[schema]` settings that cannot work are refused by key path; the default tracks.
    #[test]
    fn schema_settings_are_checked() {
        let base = "[[providers]]\nname = \"shop\"\nscheme = \"standard-webhooks\"\nsecrets = [\"whsec_c2VjcmV0\"]\n[[sinks]]\nkind = \"stdout\"\n";
        let cfg = Config::from_toml(base, &env).unwrap();
        assert!(cfg.schema.enabled && cfg.schema.pin.is_empty());
        assert_eq!((cfg.schema.learn_events, cfg.schema.flush_secs), (20, 60));
        let cfg = Config::from_toml(&format!("{base}[schema]\npin = [\"shop\"]\n"), &env).unwrap();
        assert!(cfg.schema.pinned("shop"));
        for (body, needle) in [
            (
                "learn_events = 0",
                "schema.learn_events: must be at least 1",
            ),
            (
                "flush_secs = 0",
                "schema.flush_secs: must be between 1 and 3600",
            ),
            (
                "flush_secs = 86400",
                "schema.flush_secs: must be between 1 and 3600",
            ),
            (
                "pin = [\"shopp\"]",
                "schema.pin[0]: \"shopp\" is not a provider's",
            ),
            ("pinned = [\"shop\"]", "pinned"),
            ("learn_events = -1", "learn_events"),
        ] {
            let err = Config::from_toml(&format!("{base}[schema]\n{body}\n"), &env)
                .unwrap_err()
                .to_string();
            assert!(err.contains(needle), "missing {needle:?} in:\n{err}");
        }
    }

    /// An http-json source that cannot work fails `inlet check`, each problem by key path.
    #[test]
    fn http_json_sources_that_cannot_work_are_refused() {
        let base = "[[providers]]\nname = \"erp\"\nscheme = \"token\"\nheader = \"x-t\"\nsecrets = [\"s\"]\n[[sinks]]\nkind = \"stdout\"\n";
        let source = |body: &str| {
            format!("[[sources]]\nname = \"f\"\nprovider = \"erp\"\nkind = \"http-json\"\napi_base = \"https://erp.example\"\n{body}")
        };
        let cases: &[(&str, &str)] = &[
            // An option the chosen auth ignores.
            ("url = \"{api_base}/c?s={cursor}\"\nupdated_at_pointer = \"/u\"\nauth = \"bearer\"\napi_key = \"k\"\napi_key_header = \"X-Key\"\n", "sources[0].api_key_header: does not apply to auth = \"bearer\""),
            ("url = \"{api_base}/c?s={cursor}\"\nupdated_at_pointer = \"/u\"\napi_key = \"k\"\n", "sources[0].api_key: does not apply to auth = \"none\""),
            ("url = \"{api_base}/c?s={cursor}\"\nupdated_at_pointer = \"/u\"\nauth = \"bearer\"\napi_key = \"k\"\nusername = \"u\"\n", "sources[0].username: does not apply"),
            // A cursor with no first value.
            ("url = \"{api_base}/c?s={cursor}\"\ncursor = \"token\"\nnext_cursor_pointer = \"/n\"\n", "sources[0].first_cursor: is required"),
            ("url = \"{api_base}/c?s={cursor}\"\ncursor = \"row-version\"\nversion_pointer = \"/Timestamp\"\n", "sources[0].first_cursor: is required"),
            ("url = \"{api_base}/c?s={cursor}\"\ncursor = \"row-version\"\nversion_pointer = \"/Timestamp\"\nfirst_cursor = \"yesterday\"\n", "sources[0].first_cursor: \"yesterday\" is not an integer"),
            // A {cursor} the URL never uses, or sent twice.
            ("url = \"{api_base}/c\"\nupdated_at_pointer = \"/u\"\n", "sources[0].url: never sends the cursor"),
            ("url = \"{api_base}/c?s={cursor}\"\nupdated_at_pointer = \"/u\"\ncursor_header = \"If-Modified-Since\"\n", "sources[0].cursor_header: the URL already carries {cursor}"),
            ("url = \"{api_base}/c\"\ncursor = \"token\"\nfirst_cursor = \"0\"\nnext_cursor_pointer = \"/n\"\ncursor_header = \"If-Modified-Since\"\n", "sources[0].cursor_header: carries a timestamp cursor"),
            // Pointers that do not fit the cursor kind.
            ("url = \"{api_base}/c?s={cursor}\"\nupdated_at_pointer = \"/u\"\nnext_cursor_pointer = \"/n\"\n", "sources[0].next_cursor_pointer: only applies to cursor = \"token\""),
            ("url = \"{api_base}/c?s={cursor}\"\ncursor = \"row-version\"\nfirst_cursor = \"0\"\n", "sources[0].version_pointer: is required with cursor = \"row-version\""),
            ("url = \"{api_base}/c?s={cursor}\"\nitems = \"records\"\ncursor = \"token\"\nfirst_cursor = \"0\"\nnext_cursor_pointer = \"/n\"\n", "sources[0].version_pointer: is required with items = \"records\""),
            ("url = \"{api_base}/c?s={cursor}&p={page}\"\nupdated_at_pointer = \"/u\"\nnext_link_pointer = \"/next\"\n", "sources[0].next_link_pointer: page by next links or by {page}"),
            ("url = \"{api_base}/c?s={cursor}\"\ncursor = \"token\"\nfirst_cursor = \"0\"\nnext_cursor_pointer = \"/n\"\nnext_link_pointer = \"/next\"\n", "sources[0].cursor: a token cursor pages by itself"),
            ("url = \"{api_base}/c?s={cursor}\"\nupdated_at_pointer = \"/u\"\nheaders = { \"Bad Header\" = \"x\" }\n", "sources[0].headers.Bad Header: \"Bad Header\" is not an HTTP header name"),
            ("url = \"{api_base}/c?s={cursor}\"\nupdated_at_pointer = \"/u\"\nheaders = { Authorization = \"x\" }\n", "sources[0].headers.Authorization: is set by Inlet"),
            ("url = \"{api_base}/c?s={cursor}\"\nupdated_at_pointer = \"/u\"\nheaders = { xero-tenant-id = \"env:NOPE_NOT_SET\" }\n", "sources[0].headers.xero-tenant-id:"),
            ("url = \"{api_base}/c?s={cursor}\"\nupdated_at_pointer = \"/u\"\nitems = \"rows\"\n", "sources[0].items: \"rows\" is not one of events, records"),
            // The abilities the presets brought, misused.
            ("url = \"{api_base}/c?s={cursor}\"\nupdated_at_pointer = \"/u\"\ncursor_format = \"unix\"\n", "sources[0].cursor_format: \"unix\" is not one of rfc3339, epoch-ms, sql, naive"),
            ("url = \"{api_base}/c?s={cursor}\"\ncursor = \"token\"\nfirst_cursor = \"0\"\nnext_cursor_pointer = \"/n\"\ncursor_format = \"sql\"\n", "sources[0].cursor_format: applies to cursor = \"timestamp\" only"),
            ("url = \"{api_base}/c?s={cursor}\"\nupdated_at_pointer = \"/u\"\nentity = \"invoice\"\ndeleted_pointer = \"/status\"\n", "sources[0].deleted_pointer: deleted_pointer and deleted_value go together"),
            ("url = \"{api_base}/c?s={cursor}\"\nupdated_at_pointer = \"/u\"\ndeleted_pointer = \"/status\"\ndeleted_value = \"gone\"\n", "sources[0].entity: is required with deleted_pointer"),
            ("url = \"{api_base}/c?s={cursor}\"\nupdated_at_pointer = \"/u\"\nentity = \"Invoice Lines\"\n", "sources[0].entity: \"Invoice Lines\" must be lowercase"),
            ("url = \"{api_base}/c?s={cursor}\"\nupdated_at_pointer = \"/u\"\nerror_pointer = \"errors\"\n", "sources[0].error_pointer: \"errors\" is not a JSON pointer"),
            ("url = \"{api_base}/search\"\nupdated_at_pointer = \"/u\"\nbody = \"{\\\"q\\\": 1}\"\n", "sources[0].url: never sends the cursor"),
            ("url = \"{api_base}/c?s={cursor}\"\nupdated_at_pointer = \"/u\"\nkey_set_every_secs = 60\n", "sources[0].key_set_every_secs: applies to source presets with a key-set feed"),
        ];
        for (body, needle) in cases {
            let err = Config::from_toml(&format!("{base}{}", source(body)), &env)
                .unwrap_err()
                .to_string();
            assert!(err.contains(needle), "missing {needle:?} in:\n{err}");
        }
        // And the shapes that can work load: records by row version, a tenant header
        // (a secret, redacted in Debug), a header cursor, next links, page numbers.
        for body in [
            "url = \"{api_base}/sync?after={cursor}\"\nitems = \"records\"\ncursor = \"row-version\"\nversion_pointer = \"/Timestamp\"\nfirst_cursor = \"1\"\nnext_link_pointer = \"/d/__next\"\n",
            "url = \"{api_base}/Invoices\"\nupdated_at_pointer = \"/UpdatedDateUTC\"\ncursor_header = \"If-Modified-Since\"\nurl_page = 1\n",
            "url = \"{api_base}/Invoices?page={page}\"\nitems = \"records\"\nupdated_at_pointer = \"/UpdatedDateUTC\"\ncursor_header = \"If-Modified-Since\"\nheaders = { xero-tenant-id = \"tenant-secret-1\" }\n",
            // A search API: the cursor travels in the POST body, in the API's time format.
            "url = \"{api_base}/search\"\nbody = \"{\\\"since\\\": {cursor}}\"\ncursor_format = \"epoch-ms\"\nupdated_at_pointer = \"/u\"\nentity = \"ticket\"\ndeleted_pointer = \"/state\"\ndeleted_value = \"deleted\"\nerror_pointer = \"/errors\"\n",
        ] {
            let text = format!("{base}{}", source(body));
            match Config::from_toml(&text, &env) {
                Ok(cfg) => assert!(!format!("{:?}", cfg.source("f")).contains("tenant-secret-1")),
                // `url_page` is not a setting: unknown keys are refused by name.
                Err(e) => assert!(e.to_string().contains("url_page"), "{e}"),
            }
        }
    }

    #[test]
    fn syntax_errors_and_unknown_keys_name_the_line() {
        let err = Config::from_toml("[[providers]\nname=", &env).unwrap_err();
        assert!(err.to_string().contains("line 1"), "{err}");
        let err =
            Config::from_toml("[[sinks]]\nkind = \"stdout\"\ncolour = 1\n", &env).unwrap_err();
        assert!(err.to_string().contains("colour"), "{err}");
        let err = Config::from_toml("[server]\nmax_body_bytes = \"big\"\n", &env).unwrap_err();
        assert!(err.to_string().contains("max_body_bytes"), "{err}");
        let err = Config::from_toml("\u{0}\u{1}garbage", &env).unwrap_err();
        assert!(!err.issues.is_empty());
    }
}
