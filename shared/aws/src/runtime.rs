//! What every Lambda function reads once at cold start: the config (the same TOML as
//! `inlet dev`), the secret bundle its `env:` references resolve from, and the resource
//! names. Fails fast with a message naming the missing setting.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use inlet_core::config::Config;
use tokio::sync::Mutex;

use crate::secrets::load_bundle;

#[derive(Debug, thiserror::Error)]
pub enum RuntimeError {
    #[error("environment variable {0} is not set")]
    MissingEnv(&'static str),
    #[error("environment variable {name} must be {expected}, not {value:?}")]
    BadEnv {
        name: &'static str,
        expected: String,
        value: String,
    },
    #[error("cannot read the config file {path}: {source}")]
    ConfigFile {
        path: String,
        #[source]
        source: std::io::Error,
    },
    #[error("cannot read the configuration {uri}: {message}")]
    ConfigObject { uri: String, message: String },
    #[error("{0}")]
    Config(#[from] inlet_core::config::ConfigError),
    #[error(transparent)]
    Secrets(#[from] inlet_core::ports::StoreError),
}

/// Resource names and stack settings from the environment (set by the SAM template; the
/// `docs/aws-reference.md` lists them).
#[derive(Debug, Clone, Default)]
pub struct Resources {
    pub queue_url: String,
    pub dlq_url: String,
    pub table: String,
    pub event_bus: Option<String>,
    /// `INLET_PAYLOAD_BUCKET`: where events too large for EventBridge are stored.
    pub payload_bucket: Option<String>,
    /// `INLET_MAX_RECEIVE`: the work queue's redrive `maxReceiveCount`, which the worker
    /// uses instead of `worker.max_receive` so the two cannot disagree.
    pub max_receive: Option<u32>,
    /// `INLET_OUTBOX_FAILURES_URL`: the queue naming the outbox stream batches the
    /// publisher gave up on (operators' tools only).
    pub outbox_failures_url: Option<String>,
    /// `INLET_HISTORY_SHARDS`: partitions per day of the history index (the stack's
    /// `HistoryShards`; see [`crate::history::SHARDS`]).
    pub history_shards: Option<u16>,
}

fn env_optional(name: &str) -> Option<String> {
    std::env::var(name).ok().filter(|v| !v.trim().is_empty())
}

pub fn env_required(name: &'static str) -> Result<String, RuntimeError> {
    std::env::var(name)
        .ok()
        .filter(|v| !v.is_empty())
        .ok_or(RuntimeError::MissingEnv(name))
}

impl Resources {
    pub fn from_env() -> Result<Resources, RuntimeError> {
        Ok(Resources {
            queue_url: env_required("INLET_QUEUE_URL")?,
            dlq_url: env_required("INLET_DLQ_URL")?,
            table: env_required("INLET_TABLE")?,
            event_bus: env_optional("INLET_EVENT_BUS"),
            payload_bucket: env_optional("INLET_PAYLOAD_BUCKET"),
            outbox_failures_url: env_optional("INLET_OUTBOX_FAILURES_URL"),
            max_receive: env_number("INLET_MAX_RECEIVE", 1, 1000)?,
            history_shards: env_number("INLET_HISTORY_SHARDS", 1, crate::history::MAX_SHARDS)?,
        })
    }
}

/// An optional whole-number variable within `min..=max`; present but out of range or not a
/// number is an error naming it (a typo must not silently fall back to a default).
fn env_number<N>(name: &'static str, min: N, max: N) -> Result<Option<N>, RuntimeError>
where
    N: std::str::FromStr + PartialOrd + std::fmt::Display + Copy,
{
    let Some(v) = env_optional(name) else {
        return Ok(None);
    };
    match v.trim().parse::<N>() {
        Ok(n) if n >= min && n <= max => Ok(Some(n)),
        _ => Err(RuntimeError::BadEnv {
            name,
            expected: format!("a whole number from {min} to {max}"),
            value: v,
        }),
    }
}

/// The config text: `INLET_CONFIG` (inline TOML) or the file at `INLET_CONFIG_FILE`
/// (default `inlet.toml` in the working directory, i.e. bundled with the function).
pub fn config_text() -> Result<String, RuntimeError> {
    if let Ok(inline) = std::env::var("INLET_CONFIG") {
        if !inline.trim().is_empty() {
            return Ok(inline);
        }
    }
    let path = std::env::var("INLET_CONFIG_FILE").unwrap_or_else(|_| "inlet.toml".into());
    std::fs::read_to_string(&path).map_err(|source| RuntimeError::ConfigFile { path, source })
}

/// What a function reads first at cold start: the stack's resource names, the SDK's
/// configuration and the deployed config's text (its version logged, so an operator can
/// tell which one runs).
pub struct ColdStart {
    pub resources: Resources,
    pub sdk: aws_config::SdkConfig,
    pub config_text: String,
}

impl ColdStart {
    pub async fn read() -> Result<ColdStart, RuntimeError> {
        let resources = Resources::from_env()?;
        let sdk = crate::sdk_config().await;
        let (config_text, version) = load_config_text(&sdk).await?;
        tracing::info!(config_version = %version, "configuration loaded");
        Ok(ColdStart {
            resources,
            sdk,
            config_text,
        })
    }
}

/// The config text and what version it is, as a function reads it at cold start:
/// `INLET_CONFIG` (inline TOML; small configs, tests), else the object `INLET_CONFIG_S3`
/// (`s3://bucket/key`, the stack's carrier: see [`crate::stack_config`]), else the file of
/// [`config_text`]. The version (the object's version id) is what `inlet config push`
/// printed; functions log it at init so an operator can tell which one runs.
pub async fn load_config_text(
    sdk: &aws_config::SdkConfig,
) -> Result<(String, String), RuntimeError> {
    if let Ok(inline) = std::env::var("INLET_CONFIG") {
        if !inline.trim().is_empty() {
            return Ok((inline, "inline (INLET_CONFIG)".into()));
        }
    }
    if let Some(uri) = env_optional("INLET_CONFIG_S3") {
        let object =
            crate::stack_config::ConfigObject::parse(&uri).ok_or(RuntimeError::BadEnv {
                name: "INLET_CONFIG_S3",
                expected: "s3://bucket/key".into(),
                value: uri.clone(),
            })?;
        let s3 = crate::large_events::s3_client(sdk);
        let (text, version) = crate::stack_config::read(&s3, &object).await.map_err(|e| {
            RuntimeError::ConfigObject {
                uri: uri.clone(),
                message: format!("{e} — push one with `inlet config push --stack NAME`"),
            }
        })?;
        return Ok((text, version.unwrap_or_else(|| "unversioned".into())));
    }
    Ok((config_text()?, "file".into()))
}

/// Loads the config with secrets from Secrets Manager (`INLET_SECRETS_ID`, a JSON object),
/// and reloads it when a signature fails — so a rotated secret needs no redeploy — at most
/// once per `min_interval`.
pub struct ConfigSource {
    client: Option<aws_sdk_secretsmanager::Client>,
    secret_id: Option<String>,
    text: String,
    last_reload: Mutex<Option<Instant>>,
    min_interval: Duration,
}

impl ConfigSource {
    pub fn new(sdk: &aws_config::SdkConfig, text: String) -> Self {
        let secret_id = std::env::var("INLET_SECRETS_ID")
            .ok()
            .filter(|v| !v.is_empty());
        Self::with_secret(sdk, text, secret_id)
    }

    /// Secrets from `secret_id` (none: only the process environment).
    pub fn with_secret(
        sdk: &aws_config::SdkConfig,
        text: String,
        secret_id: Option<String>,
    ) -> Self {
        Self {
            client: secret_id
                .as_ref()
                .map(|_| aws_sdk_secretsmanager::Client::new(sdk)),
            secret_id,
            text,
            last_reload: Mutex::new(None),
            min_interval: Duration::from_secs(30),
        }
    }

    /// Read the secrets and build the config.
    pub async fn load(&self) -> Result<Config, RuntimeError> {
        let bundle: HashMap<String, String> = match (&self.client, &self.secret_id) {
            (Some(c), Some(id)) => load_bundle(c, id).await?,
            _ => HashMap::new(),
        };
        *self.last_reload.lock().await = Some(Instant::now());
        Ok(Config::from_toml(&self.text, &|name| {
            bundle
                .get(name)
                .cloned()
                .or_else(|| std::env::var(name).ok())
        })?)
    }

    /// How long after a load another reload may happen.
    pub fn min_reload_interval(mut self, d: Duration) -> Self {
        self.min_interval = d;
        self
    }

    /// Reload if secrets come from Secrets Manager and the last attempt is old enough.
    ///
    /// The attempt is stamped before it is made, whatever its outcome: while Secrets
    /// Manager fails (throttled, down, a revoked permission), a burst of forged requests —
    /// each of which asks for a reload — costs one `GetSecretValue` per interval, not one
    /// each, and the failure is logged once per interval instead of dropped.
    pub async fn reload_if_due(&self) -> Option<Config> {
        self.secret_id.as_ref()?;
        {
            let mut last = self.last_reload.lock().await;
            if last.is_some_and(|t| t.elapsed() < self.min_interval) {
                return None;
            }
            *last = Some(Instant::now());
        }
        match self.load().await {
            Ok(config) => Some(config),
            Err(e) => {
                tracing::warn!(error = %e, "secrets reload failed; the loaded configuration stays");
                None
            }
        }
    }
}

/// What is left of an invocation whose deadline is `deadline_ms` (Unix epoch milliseconds,
/// as the Lambda Runtime API gives it); zero when it has passed.
pub fn time_left(deadline_ms: u64) -> Duration {
    let deadline = std::time::UNIX_EPOCH + Duration::from_millis(deadline_ms);
    deadline
        .duration_since(std::time::SystemTime::now())
        .unwrap_or_default()
}

/// The stack's work queue (with its DLQ and the claim check in the table), as every
/// function uses it.
/// The stack's table as the functions use it (ledger, versions, history, connections),
/// with the stack's history shard count.
pub fn stack_store(sdk: &aws_config::SdkConfig, resources: &Resources) -> crate::DynamoStore {
    let store =
        crate::DynamoStore::new(aws_sdk_dynamodb::Client::new(sdk), resources.table.clone());
    match resources.history_shards {
        Some(n) => store.with_history_shards(n),
        None => store,
    }
}

pub fn stack_queue(sdk: &aws_config::SdkConfig, resources: &Resources) -> crate::SqsQueue {
    crate::SqsQueue::new(
        aws_sdk_sqs::Client::new(sdk),
        crate::SqsQueueConfig {
            queue_url: resources.queue_url.clone(),
            dlq_url: resources.dlq_url.clone(),
            wait_secs: 0,
        },
    )
    .with_claim_check(crate::claim_check::ClaimCheck::new(
        aws_sdk_dynamodb::Client::new(sdk),
        resources.table.clone(),
    ))
}
