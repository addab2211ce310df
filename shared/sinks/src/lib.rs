//! inlet-sinks: the sinks that need no cloud SDK — a JSON-lines file, standard output, and
//! HTTP POST. Used by `inlet dev` and by the worker Lambda (HTTP, stdout); kept out of
//! `inlet-local` so the Lambda does not carry SQLite.

use std::io::Write;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;
use inlet_core::config::{SinkConfig, MAX_WAIT_IN_DELIVERY};
use inlet_core::connection::{ConnectionConfig, ConnectionStore};
use inlet_core::envelope::SinkRecord;
use inlet_core::ports::{Sink, SinkError};
use inlet_core::retry::{Failure, Next, RetryPolicy};
use inlet_core::usecase::reconcile::SourceError;
use inlet_sources::connection::{ConnectionAuth, HttpTokenEndpoint};

/// Build the configured sinks (an HTTP sink with a connection needs [`build_with`]).
pub fn build(configs: &[SinkConfig]) -> Result<Vec<Arc<dyn Sink>>, SinkError> {
    build_with(configs, &[], None)
}

/// Build the configured sinks; an HTTP sink's named connection is one of `connections`,
/// its tokens and budgets kept in `store`.
pub fn build_with(
    configs: &[SinkConfig],
    connections: &[ConnectionConfig],
    store: Option<&Arc<dyn ConnectionStore>>,
) -> Result<Vec<Arc<dyn Sink>>, SinkError> {
    configs
        .iter()
        .map(|c| -> Result<Arc<dyn Sink>, SinkError> {
            Ok(match c {
                SinkConfig::File { path } => Arc::new(FileSink::open(PathBuf::from(path))?),
                SinkConfig::Stdout {} => Arc::new(StdoutSink),
                SinkConfig::Eventbridge { .. } => {
                    return Err(SinkError::permanent(
                        "the eventbridge sink runs on the AWS backend (the worker function); remove it for inlet dev",
                    ))
                }
                SinkConfig::Http {
                    url,
                    headers,
                    timeout_ms,
                    attempts,
                    rate_per_minute,
                    connection,
                    max_in_flight,
                } => Arc::new(
                    HttpSink::new(
                        url,
                        headers.clone().into_iter().collect(),
                        Duration::from_millis(*timeout_ms),
                        *attempts,
                    )?
                    .with_rate(rate_per_minute.map(|n| f64::from(n) / 60.0))
                    .with_max_in_flight(*max_in_flight)
                    .with_connection(match connection {
                        None => None,
                        Some(name) => Some(connection_auth(
                            name,
                            connections,
                            store,
                            Duration::from_millis(*timeout_ms),
                        )?),
                    }),
                ),
            })
        })
        .collect()
}

/// The access an HTTP sink's connection `name` gives it.
fn connection_auth(
    name: &str,
    connections: &[ConnectionConfig],
    store: Option<&Arc<dyn ConnectionStore>>,
    timeout: Duration,
) -> Result<Arc<ConnectionAuth>, SinkError> {
    let config = connections
        .iter()
        .find(|c| c.name == name)
        .ok_or_else(|| SinkError::permanent(format!("connection {name} is not configured")))?;
    let store = store.ok_or_else(|| {
        SinkError::permanent(format!(
            "connection {name}: no connection store to keep its tokens in"
        ))
    })?;
    let endpoint = HttpTokenEndpoint::new(timeout)
        .map_err(|e| SinkError::permanent(format!("connection {name}: {e}")))?;
    Ok(Arc::new(ConnectionAuth {
        config: config.clone(),
        store: Arc::clone(store),
        endpoint: Arc::new(endpoint),
    }))
}

/// A connection's failure as a delivery's: a broken connection or a store that failed is
/// transient (the event waits and, past its receives, is parked in the DLQ for a redrive
/// once the connection is repaired); a URL that cannot be signed is permanent.
fn from_connection(e: SourceError) -> SinkError {
    match e {
        SourceError::BadResponse(m) => SinkError::permanent(m),
        other => SinkError::transient(other.to_string()),
    }
}

fn line(record: &SinkRecord) -> Result<Vec<u8>, SinkError> {
    let mut bytes = serde_json::to_vec(record)
        .map_err(|e| SinkError::permanent(format!("cannot serialize record: {e}")))?;
    bytes.push(b'\n');
    Ok(bytes)
}

/// Appends one JSON object per line and fsyncs it before reporting success, so "delivered"
/// survives a crash.
pub struct FileSink {
    path: PathBuf,
    file: Arc<Mutex<std::fs::File>>,
}

impl FileSink {
    pub fn open(path: PathBuf) -> Result<Self, SinkError> {
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir).map_err(|e| {
                SinkError::permanent(format!("cannot create {}: {e}", dir.display()))
            })?;
        }
        let file = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&path)
            .map_err(|e| SinkError::permanent(format!("cannot open {}: {e}", path.display())))?;
        Ok(Self {
            path,
            file: Arc::new(Mutex::new(file)),
        })
    }

    /// Append `bytes` and fsync them before answering, so "delivered" survives a crash.
    async fn append_and_sync(&self, bytes: Vec<u8>) -> Result<(), SinkError> {
        let file = Arc::clone(&self.file);
        let path = self.path.display().to_string();
        tokio::task::spawn_blocking(move || {
            let mut f = file
                .lock()
                .map_err(|_| SinkError::transient("file sink lock poisoned"))?;
            f.write_all(&bytes)
                .and_then(|()| f.sync_data())
                .map_err(|e| SinkError::Transient {
                    message: format!("cannot write {path}: {e}"),
                    source: Some(Box::new(e)),
                })
        })
        .await
        .map_err(|e| SinkError::transient(format!("file sink task failed: {e}")))?
    }
}

#[async_trait]
impl Sink for FileSink {
    fn name(&self) -> &str {
        "file"
    }

    async fn deliver(&self, record: &SinkRecord) -> Result<(), SinkError> {
        let bytes = line(record)?;
        self.append_and_sync(bytes).await
    }

    /// Every record's line in one write and one fsync: a batch costs one disk flush, not
    /// one per record. A record that cannot be serialized fails alone; the others are
    /// written. A failed write or fsync fails every record of the write (the file may hold
    /// some of them; redelivery makes them duplicates, which consumers dedupe on `key`).
    async fn deliver_batch(&self, records: &[&SinkRecord]) -> Vec<Result<(), SinkError>> {
        let lines: Vec<Result<Vec<u8>, SinkError>> = records.iter().map(|r| line(r)).collect();
        let bytes: Vec<u8> = lines.iter().flatten().flatten().copied().collect();
        let written = if bytes.is_empty() {
            Ok(())
        } else {
            self.append_and_sync(bytes).await
        };
        let failure = match &written {
            Ok(()) => None,
            Err(
                SinkError::Transient { message, .. }
                | SinkError::Permanent { message, .. }
                | SinkError::Throttled { message, .. },
            ) => Some(message.clone()),
        };
        lines
            .into_iter()
            .map(|l| match (l, &failure) {
                (Err(e), _) => Err(e),
                (Ok(_), None) => Ok(()),
                (Ok(_), Some(message)) => Err(SinkError::transient(message.clone())),
            })
            .collect()
    }
}

/// One JSON object per line on standard output.
pub struct StdoutSink;

#[async_trait]
impl Sink for StdoutSink {
    fn name(&self) -> &str {
        "stdout"
    }

    async fn deliver(&self, record: &SinkRecord) -> Result<(), SinkError> {
        let bytes = line(record)?;
        let mut out = std::io::stdout().lock();
        out.write_all(&bytes)
            .and_then(|()| out.flush())
            .map_err(|e| SinkError::transient(format!("stdout: {e}")))
    }
}

/// POSTs each record as JSON, with `Idempotency-Key: <key>` so the receiver can dedupe a
/// redelivery. Transient failures (connect errors, timeouts, 408, 429, 5xx) are retried a
/// few times with backoff before the queue's own backoff takes over; other 4xx responses
/// are permanent.
pub struct HttpSink {
    client: reqwest::Client,
    url: String,
    headers: Vec<(String, String)>,
    retry: RetryPolicy,
    /// The sink's own pace: a token bucket of one second's deliveries, when set.
    rate: Option<tokio::sync::Mutex<Bucket>>,
    /// Credentials and budgets from a named connection, when set.
    connection: Option<Arc<ConnectionAuth>>,
    /// At most this many deliveries in flight from this process, when set.
    in_flight: Option<(tokio::sync::Semaphore, u32)>,
}

/// How one POST ended.
enum Posted {
    Delivered,
    /// 401 through a connection: its token may be stale (refresh once, then broken).
    Unauthorized(SinkError),
    Failed(SinkError),
}

/// A token bucket: `per_sec` tokens a second, holding at most one second's worth.
struct Bucket {
    per_sec: f64,
    tokens: f64,
    at: std::time::Instant,
}

impl Bucket {
    /// Take a token, or say how long until one is there.
    fn take(&mut self) -> Result<(), Duration> {
        let now = std::time::Instant::now();
        self.tokens = (self.tokens + now.duration_since(self.at).as_secs_f64() * self.per_sec)
            .min(self.per_sec.max(1.0));
        self.at = now;
        if self.tokens >= 1.0 {
            self.tokens -= 1.0;
            Ok(())
        } else {
            Err(Duration::from_secs_f64((1.0 - self.tokens) / self.per_sec))
        }
    }
}

/// The wait a `Retry-After` header asks for.
fn retry_after(h: &reqwest::header::HeaderMap) -> Option<Duration> {
    let value = h.get("retry-after")?.to_str().ok()?;
    inlet_core::retry::retry_after(value, time::OffsetDateTime::now_utc())
}

impl HttpSink {
    pub fn new(
        url: &str,
        headers: Vec<(String, String)>,
        timeout: Duration,
        attempts: u32,
    ) -> Result<Self, SinkError> {
        let client = reqwest::Client::builder()
            .timeout(timeout)
            .connect_timeout(timeout.min(Duration::from_secs(5)))
            .user_agent(concat!("inlet/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|e| SinkError::permanent(format!("cannot build HTTP client: {e}")))?;
        Ok(Self {
            client,
            url: url.to_string(),
            headers,
            retry: inlet_core::config::http_sink_retry(attempts),
            rate: None,
            connection: None,
            in_flight: None,
        })
    }

    /// Keep at most `n` deliveries in flight from this process (a destination that allows
    /// N concurrent requests, like Xero's 5 per tenant: N ÷ the worker's concurrency).
    pub fn with_max_in_flight(mut self, n: Option<u32>) -> Self {
        self.in_flight = n
            .filter(|n| *n > 0)
            .map(|n| (tokio::sync::Semaphore::new(n as usize), n));
        self
    }

    /// Deliver through a named connection: every POST takes a call from its budgets (a
    /// spent window or a paused endpoint is a throttle: the event waits in the queue) and
    /// carries its credentials.
    pub fn with_connection(mut self, connection: Option<Arc<ConnectionAuth>>) -> Self {
        self.connection = connection;
        self
    }

    /// Deliver at most `per_sec` a second (this process's share of the destination).
    pub fn with_rate(mut self, per_sec: Option<f64>) -> Self {
        self.rate = per_sec.filter(|r| *r > 0.0).map(|per_sec| {
            tokio::sync::Mutex::new(Bucket {
                per_sec,
                tokens: per_sec.max(1.0),
                at: std::time::Instant::now(),
            })
        });
        self
    }

    /// Wait for the sink's pace: a short wait is taken here, a long one is a throttle.
    async fn paced(&self) -> Result<(), SinkError> {
        let Some(bucket) = &self.rate else {
            return Ok(());
        };
        loop {
            let wait = match bucket.lock().await.take() {
                Ok(()) => return Ok(()),
                Err(wait) => wait,
            };
            if wait > MAX_WAIT_IN_DELIVERY {
                return Err(SinkError::Throttled {
                    message: format!("POST {}: the sink's rate is spent", self.url),
                    retry_after: wait,
                });
            }
            tokio::time::sleep(wait).await;
        }
    }

    async fn attempt(&self, record: &SinkRecord, body: &[u8]) -> Posted {
        match self.post(record, body).await {
            Ok(p) => p,
            Err(e) => Posted::Failed(e),
        }
    }

    async fn post(&self, record: &SinkRecord, body: &[u8]) -> Result<Posted, SinkError> {
        let mut req = self
            .client
            .post(&self.url)
            .header("content-type", "application/json")
            .header("idempotency-key", &record.key)
            .header("x-correlation-id", &record.correlation_id)
            .body(body.to_vec());
        for (k, v) in &self.headers {
            req = req.header(k, v);
        }
        if let Some(c) = &self.connection {
            if let Some(held) = c.admit("POST", &self.url).await.map_err(from_connection)? {
                return Err(SinkError::Throttled {
                    message: held.describe(&c.config, "POST", &self.url),
                    retry_after: held.wait(),
                });
            }
            req = c
                .credentials(req, "POST", &self.url, None)
                .await
                .map_err(from_connection)?;
        }
        let resp = req.send().await.map_err(|e| SinkError::Transient {
            message: format!(
                "POST {}: {}",
                self.url,
                if e.is_timeout() {
                    "timed out"
                } else {
                    "request failed"
                }
            ),
            source: Some(Box::new(e)),
        })?;
        let status = resp.status();
        let code = status.as_u16();
        if let Some(c) = &self.connection {
            c.observe("POST", &self.url, code, resp.headers()).await;
        }
        if status.is_success() {
            return Ok(Posted::Delivered);
        }
        let message = format!("POST {} answered {code}", self.url);
        if code == 401 && self.connection.is_some() {
            return Ok(Posted::Unauthorized(SinkError::transient(message)));
        }
        if code == 429 || code == 503 {
            if let Some(wait) = retry_after(resp.headers()) {
                return Err(SinkError::Throttled {
                    message: format!("{message} with Retry-After {} s", wait.as_secs()),
                    retry_after: wait,
                });
            }
        }
        Err(if code == 408 || code == 429 || status.is_server_error() {
            SinkError::transient(message)
        } else {
            SinkError::permanent(message)
        })
    }
}

#[async_trait]
impl Sink for HttpSink {
    fn name(&self) -> &str {
        "http"
    }

    async fn deliver(&self, record: &SinkRecord) -> Result<(), SinkError> {
        let body = serde_json::to_vec(record)
            .map_err(|e| SinkError::permanent(format!("cannot serialize record: {e}")))?;
        // Held for the whole delivery, retries included; a long wait gives the event back.
        let _slot = match &self.in_flight {
            None => None,
            Some((slots, n)) => {
                match tokio::time::timeout(MAX_WAIT_IN_DELIVERY, slots.acquire()).await {
                    Ok(Ok(permit)) => Some(permit),
                    _ => {
                        return Err(SinkError::Throttled {
                            message: format!("POST {}: {n} deliveries already in flight", self.url),
                            retry_after: MAX_WAIT_IN_DELIVERY,
                        })
                    }
                }
            }
        };
        let mut attempt = 1;
        let mut refreshed = false;
        loop {
            self.paced().await?;
            let outcome = match self.attempt(record, &body).await {
                Posted::Delivered => Ok(()),
                Posted::Failed(e) => Err(e),
                Posted::Unauthorized(e) => match &self.connection {
                    // The stored token is no good: expire it and try once more at once.
                    Some(c) if !refreshed => {
                        refreshed = true;
                        c.expire_access().await.map_err(from_connection)?;
                        continue;
                    }
                    Some(c) => Err(from_connection(c.refused(&e.to_string()).await)),
                    None => Err(e),
                },
            };
            let failure = match &outcome {
                Err(SinkError::Throttled { retry_after, .. }) => {
                    Failure::Throttled(Some(*retry_after))
                }
                Err(SinkError::Transient { .. }) => Failure::Transient,
                _ => return outcome,
            };
            match self.retry.next(attempt, failure, None) {
                Next::Wait(pause) => {
                    tokio::time::sleep(pause).await;
                    attempt += 1;
                }
                Next::GiveUp(_) => return outcome,
            }
        }
    }
}
