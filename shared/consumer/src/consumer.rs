//! [`Consumer`]: an Inlet event in, the handler run once per key, the same result out.

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use aws_lambda_events::event::sqs::{BatchItemFailure, SqsBatchResponse, SqsEvent};
use lambda_runtime::Context;
use serde::de::DeserializeOwned;
use serde::Serialize;
use serde_json::Value;
use sha2::{Digest, Sha256};

use crate::event::{detail_of, resolve, InletEvent};
use crate::idempotency::{Attempt, Claim, IdempotencyStore};

/// A handler's error, kept with its source.
type BoxError = Box<dyn std::error::Error + Send + Sync + 'static>;

/// Why an event was not handled. Every variant but [`ConsumerError::PayloadMismatch`] and
/// [`ConsumerError::Malformed`] can succeed on a later delivery.
#[derive(Debug, thiserror::Error)]
pub enum ConsumerError {
    /// Not an Inlet event, or its payload does not fit the type the handler asks for.
    #[error("not an Inlet event: {0}")]
    Malformed(String),
    /// The stored payload of a large event could not be read, or does not match its
    /// reference (size, SHA-256, or another event's record): it was not handed to the handler.
    #[error("large event payload refused: {0}")]
    Payload(String),
    /// Another invocation is handling this key and its time is not up: try again later.
    #[error("{key} is being handled by another invocation (until {until_ms} ms)")]
    InProgress {
        /// The idempotency key.
        key: String,
        /// When that invocation's claim expires, Unix milliseconds.
        until_ms: i64,
    },
    /// This key was handled with a different payload (Powertools' `IdempotencyValidationError`).
    #[error("{key} was handled before with a different payload")]
    PayloadMismatch {
        /// The idempotency key.
        key: String,
    },
    /// The idempotency table could not be read or written.
    #[error("idempotency store: {0}")]
    Store(String),
    /// The handler failed; its claim was given back, so the next delivery runs it again.
    #[error("handler failed: {0}")]
    Handler(#[source] BoxError),
}

/// Picks an event's idempotency key.
pub type KeyFn = Arc<dyn Fn(&InletEvent<Value>) -> String + Send + Sync>;

/// How a [`Consumer`] keeps its records.
#[derive(Clone)]
pub struct Settings {
    /// How long a completed key answers duplicates with its stored result (Powertools'
    /// `expires_after_seconds`, one hour by default).
    pub expires_after: Duration,
    /// Refuse a duplicate whose payload differs from the first's (on by default).
    pub validate_payload: bool,
    /// The idempotency key of an event; `detail.key` by default.
    pub key: KeyFn,
    /// Now, in Unix milliseconds (the system clock unless replaced, e.g. in tests).
    pub clock: Arc<dyn Fn() -> i64 + Send + Sync>,
}

impl Default for Settings {
    fn default() -> Self {
        Self {
            expires_after: Duration::from_secs(3600),
            validate_payload: true,
            key: Arc::new(|e| e.key.clone()),
            clock: Arc::new(system_now_ms),
        }
    }
}

impl std::fmt::Debug for Settings {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Settings")
            .field("expires_after", &self.expires_after)
            .field("validate_payload", &self.validate_payload)
            .finish_non_exhaustive()
    }
}

/// Handles Inlet events idempotently.
#[derive(Debug, Clone)]
pub struct Consumer {
    store: IdempotencyStore,
    s3: Option<aws_sdk_s3::Client>,
    settings: Settings,
}

/// The longest a Lambda invocation runs (15 minutes): the in-progress expiry when the
/// context carries no deadline.
const MAX_INVOCATION_MS: i64 = 15 * 60 * 1000;

impl Consumer {
    /// A consumer keeping its records in `store`, reading large events with `s3` (without
    /// one, a large event is refused with [`ConsumerError::Payload`]).
    pub fn new(store: IdempotencyStore, s3: Option<aws_sdk_s3::Client>) -> Self {
        Self {
            store,
            s3,
            settings: Settings::default(),
        }
    }

    /// The same consumer with other settings.
    pub fn with_settings(mut self, settings: Settings) -> Self {
        self.settings = settings;
        self
    }

    /// A consumer from the Lambda's environment: the table in `INLET_IDEMPOTENCY_TABLE`, the
    /// namespace in `INLET_IDEMPOTENCY_NAMESPACE` or else the function's name, the SDK's
    /// default credentials and region.
    pub async fn from_env() -> Result<Self, ConsumerError> {
        let table = std::env::var("INLET_IDEMPOTENCY_TABLE").map_err(|_| {
            ConsumerError::Store("INLET_IDEMPOTENCY_TABLE is not set: name the table that keeps idempotency records (the stack's StateTableName)".into())
        })?;
        let namespace = std::env::var("INLET_IDEMPOTENCY_NAMESPACE")
            .or_else(|_| std::env::var("AWS_LAMBDA_FUNCTION_NAME"))
            .unwrap_or_else(|_| "consumer".into());
        let sdk = aws_config::load_defaults(aws_config::BehaviorVersion::latest()).await;
        // Emulators (an AWS_ENDPOINT_URL) need path-style addressing.
        let s3 = aws_sdk_s3::Client::from_conf(
            aws_sdk_s3::config::Builder::from(&sdk)
                .force_path_style(sdk.endpoint_url().is_some())
                .build(),
        );
        let store = IdempotencyStore::new(aws_sdk_dynamodb::Client::new(&sdk), table, namespace);
        Ok(Self::new(store, Some(s3)))
    }

    /// Handle one event (an EventBridge event, or its `detail`) with `handler`, at most once
    /// per key while the key's completion record lives. A duplicate gets the first
    /// handling's stored result without the handler running. `deadline_ms` is when this
    /// invocation ends (Unix milliseconds; the Lambda context's `deadline`): until then
    /// another attempt at the same key waits ([`ConsumerError::InProgress`]); after it, a
    /// crashed attempt's claim is taken over.
    pub async fn process<T, R, E, F, Fut>(
        &self,
        message: Value,
        deadline_ms: i64,
        handler: F,
    ) -> Result<R, ConsumerError>
    where
        T: DeserializeOwned,
        R: Serialize + DeserializeOwned,
        E: Into<BoxError>,
        F: FnOnce(InletEvent<T>) -> Fut,
        Fut: Future<Output = Result<R, E>>,
    {
        let record = resolve(self.s3.as_ref(), detail_of(message)?).await?;
        let untyped: InletEvent<Value> =
            serde_json::from_value(record).map_err(|e| ConsumerError::Malformed(e.to_string()))?;
        let key = (self.settings.key)(&untyped);
        if key.is_empty() {
            return Err(ConsumerError::Malformed(
                "the idempotency key is empty".into(),
            ));
        }
        let payload_hash = hex::encode(Sha256::digest(untyped.payload.to_string()));
        let event: InletEvent<T> = typed(untyped)?;

        let now_ms = (self.settings.clock)();
        let expires_at = self.expires_at(now_ms);
        let in_progress_until_ms = if deadline_ms > now_ms {
            deadline_ms
        } else {
            now_ms.saturating_add(MAX_INVOCATION_MS)
        };
        let attempt = Attempt {
            key: &key,
            payload_hash: &payload_hash,
            now_ms,
            in_progress_until_ms,
            expires_at,
            validate_payload: self.settings.validate_payload,
        };
        let token = match self.store.claim(&attempt).await? {
            Claim::Completed { result } => {
                tracing::info!(key, "duplicate: returning the stored result");
                return serde_json::from_str(&result).map_err(|e| {
                    ConsumerError::Store(format!(
                        "{key}: the stored result does not read back: {e}"
                    ))
                });
            }
            Claim::Acquired { token } => token,
        };
        let result = match handler(event).await {
            Ok(result) => result,
            Err(e) => {
                // The handler's error is what the caller needs; a claim that cannot be given
                // back expires at the deadline and is taken over then.
                if let Err(release) = self.store.release(&key, &token).await {
                    tracing::warn!(key, error = %release, "the failed attempt's claim stays until the deadline");
                }
                return Err(ConsumerError::Handler(e.into()));
            }
        };
        let json = serde_json::to_string(&result).map_err(|e| {
            ConsumerError::Store(format!("{key}: the result does not serialize: {e}"))
        })?;
        let expires_at = self.expires_at((self.settings.clock)());
        if !self.store.complete(&key, &token, &json, expires_at).await? {
            tracing::warn!(
                key,
                "another invocation took this key over after this one's time ran out; both ran"
            );
        }
        Ok(result)
    }

    /// Handle an EventBridge event delivered to the Lambda directly (an async invocation:
    /// an error makes Lambda retry it).
    pub async fn handle_eventbridge<T, R, E, F, Fut>(
        &self,
        event: Value,
        context: &Context,
        handler: F,
    ) -> Result<R, ConsumerError>
    where
        T: DeserializeOwned,
        R: Serialize + DeserializeOwned,
        E: Into<BoxError>,
        F: FnOnce(InletEvent<T>) -> Fut,
        Fut: Future<Output = Result<R, E>>,
    {
        self.process(event, deadline_ms(context), handler).await
    }

    /// Handle an SQS batch whose messages are Inlet events (the rule's target is a queue),
    /// one after another, and report the ones that failed as partial batch failures
    /// (enable `ReportBatchItemFailures` on the event source mapping): only they are
    /// retried. A duplicate inside the batch gets the stored result like any other.
    pub async fn handle_sqs<T, R, E, F, Fut>(
        &self,
        event: SqsEvent,
        context: &Context,
        handler: F,
    ) -> SqsBatchResponse
    where
        T: DeserializeOwned,
        R: Serialize + DeserializeOwned,
        E: Into<BoxError>,
        F: Fn(InletEvent<T>) -> Fut,
        Fut: Future<Output = Result<R, E>>,
    {
        let deadline = deadline_ms(context);
        let mut response = SqsBatchResponse::default();
        for record in event.records {
            let id = record.message_id.clone().unwrap_or_default();
            let outcome = match record.body.as_deref().map(serde_json::from_str::<Value>) {
                Some(Ok(message)) => self.process(message, deadline, &handler).await.map(drop),
                Some(Err(e)) => Err(ConsumerError::Malformed(format!(
                    "the body is not JSON: {e}"
                ))),
                None => Err(ConsumerError::Malformed("the message has no body".into())),
            };
            if let Err(e) = outcome {
                tracing::warn!(message_id = id, error = %e, "not handled; SQS will deliver it again");
                let mut failure = BatchItemFailure::default();
                failure.item_identifier = id;
                response.batch_item_failures.push(failure);
            }
        }
        response
    }

    fn expires_at(&self, now_ms: i64) -> i64 {
        let window = i64::try_from(self.settings.expires_after.as_secs()).unwrap_or(i64::MAX);
        (now_ms / 1000).saturating_add(window)
    }
}

/// The payload as the handler's type.
fn typed<T: DeserializeOwned>(e: InletEvent<Value>) -> Result<InletEvent<T>, ConsumerError> {
    let payload = serde_json::from_value(e.payload).map_err(|err| {
        ConsumerError::Malformed(format!("{}: the payload does not fit: {err}", e.key))
    })?;
    Ok(InletEvent {
        key: e.key,
        provider: e.provider,
        event_id: e.event_id,
        event_type: e.event_type,
        source: e.source,
        received_at: e.received_at,
        correlation_id: e.correlation_id,
        entity: e.entity,
        version: e.version,
        payload,
    })
}

fn deadline_ms(context: &Context) -> i64 {
    i64::try_from(context.deadline).unwrap_or(i64::MAX)
}

fn system_now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
}
