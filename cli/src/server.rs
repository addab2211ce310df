//! The webhook HTTP endpoint of `inlet dev`: `POST /webhooks/{provider}` and `GET /health`.
//! It maps HTTP to the core's ingest use case and back; the replies come from
//! `inlet_core::reply`, the same ones the Lambda function gives.

use std::sync::Arc;
use std::time::Duration;

use axum::body::Body;
use axum::extract::rejection::PathRejection;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::Router;
use futures::StreamExt;
use tracing::Instrument;

use inlet_core::clock::Clock;
use inlet_core::config::Config;
use inlet_core::headers::Headers;
use inlet_core::metrics::{names, Metrics};
use inlet_core::ports::Queue;
use inlet_core::reply::{self, ingest_reply, Reply};
use inlet_core::usecase::ingest::{self, Accepted, WebhookRequest};

/// How long a client may take to send its body.
const BODY_READ_TIMEOUT: Duration = Duration::from_secs(30);
/// Limits on connections, against clients that hold them open (slowloris).
#[derive(Debug, Clone, Copy)]
pub struct ServeLimits {
    /// How long a client may take to send a request's headers (a slowloris holds a
    /// connection open by never finishing them). Providers send them in one packet.
    pub header_read_timeout: Duration,
    /// Connections served at once. Past it the server stops accepting (new connections
    /// wait in the kernel's backlog) until one closes, so a flood of idle connections
    /// cannot take every file descriptor; the header timeout frees the idle ones.
    pub max_connections: usize,
}

impl Default for ServeLimits {
    fn default() -> Self {
        Self {
            header_read_timeout: Duration::from_secs(10),
            max_connections: 1024,
        }
    }
}
/// How long a shutdown waits for requests in flight.
const SHUTDOWN_GRACE: Duration = Duration::from_secs(5);

/// Resolves once `shutdown` turns true (or its sender is gone).
async fn stopped(shutdown: &mut tokio::sync::watch::Receiver<bool>) {
    let _ = shutdown.wait_for(|stop| *stop).await;
}

/// Serve `router` on `listener` until `shutdown` turns true, within `limits`.
pub async fn serve(
    listener: tokio::net::TcpListener,
    router: Router,
    mut shutdown: tokio::sync::watch::Receiver<bool>,
    limits: ServeLimits,
) {
    use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
    use hyper_util::server::conn::auto::Builder;
    use hyper_util::server::graceful::GracefulShutdown;
    use hyper_util::service::TowerToHyperService;

    let permits = Arc::new(tokio::sync::Semaphore::new(limits.max_connections));
    let graceful = GracefulShutdown::new();
    let mut builder = Builder::new(TokioExecutor::new());
    builder
        .http1()
        .timer(TokioTimer::new())
        .header_read_timeout(limits.header_read_timeout);
    let builder = builder.http1_only();
    loop {
        let permit = tokio::select! {
            p = permits.clone().acquire_owned() => match p {
                Ok(p) => p,
                Err(_) => break,
            },
            () = stopped(&mut shutdown) => break,
        };
        let stream = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok((stream, _)) => stream,
                Err(e) => {
                    // Out of file descriptors and the like: wait, do not spin.
                    tracing::warn!(error = %e, "accept failed");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
            () = stopped(&mut shutdown) => break,
        };
        let _ = stream.set_nodelay(true);
        let service = TowerToHyperService::new(router.clone());
        let conn = builder.serve_connection(TokioIo::new(stream), service);
        let conn = graceful.watch(conn.into_owned());
        tokio::spawn(async move {
            let _ = conn.await;
            drop(permit);
        });
    }
    drop(listener);
    let _ = tokio::time::timeout(SHUTDOWN_GRACE, graceful.shutdown()).await;
}

pub struct App {
    pub config: Arc<Config>,
    pub queue: Arc<dyn Queue>,
    pub metrics: Arc<dyn Metrics>,
    pub clock: Arc<dyn Clock>,
    /// Certificates and confirmations for providers that need them (AWS SNS, PayPal).
    pub http: Arc<dyn inlet_core::ports::ProviderHttp>,
    /// Woken after each accepted event so the worker picks it up at once.
    pub wake: Arc<tokio::sync::Notify>,
}

pub fn router(app: Arc<App>) -> Router {
    Router::new()
        .route(
            "/webhooks/{provider}",
            // GET reaches only a provider's handshake (Meta, Okta); ingest refuses the rest.
            post(webhook)
                .get(webhook)
                .fallback(|| async { respond(Reply::method_not_allowed(), None) }),
        )
        .route(
            "/health",
            get(|| async { respond(Reply::health(), None) })
                .fallback(|| async { respond(Reply::method_not_allowed(), None) }),
        )
        .fallback(|| async { respond(Reply::not_found(), None) })
        .with_state(app)
}

fn respond(reply: Reply, correlation_id: Option<&str>) -> Response {
    let status = StatusCode::from_u16(reply.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    let headers = reply.headers(correlation_id);
    let mut resp = (status, reply.body).into_response();
    for (name, value) in headers {
        if let Ok(v) = HeaderValue::from_str(&value) {
            resp.headers_mut().insert(name, v);
        }
    }
    resp
}

enum ReadError {
    TooLarge,
    Broken,
}

/// Read the body, refusing it as soon as it passes `limit` bytes.
async fn read_capped(body: Body, limit: usize) -> Result<Vec<u8>, ReadError> {
    let mut stream = body.into_data_stream();
    let mut out = Vec::new();
    while let Some(chunk) = stream.next().await {
        let chunk = chunk.map_err(|_| ReadError::Broken)?;
        if out.len() + chunk.len() > limit {
            return Err(ReadError::TooLarge);
        }
        out.extend_from_slice(&chunk);
    }
    Ok(out)
}

async fn webhook(
    State(app): State<Arc<App>>,
    path: Result<Path<String>, PathRejection>,
    method: axum::http::Method,
    uri: axum::http::Uri,
    headers: HeaderMap,
    body: Body,
) -> Response {
    let received_at = app.clock.now();
    let mut core_headers = Headers::new();
    for (name, value) in &headers {
        core_headers.insert(name.as_str(), value.as_bytes());
    }
    let cid = reply::correlation_id(&core_headers);
    let Ok(Path(provider)) = path else {
        return respond(Reply::not_found(), Some(&cid));
    };
    let span = tracing::info_span!("webhook", provider = %provider.chars().take(64).collect::<String>(), correlation_id = %cid);
    async move {
        let limit = match ingest::provider(&app.config, &provider) {
            Ok(p) => p.max_body_bytes,
            Err(e) => return respond(ingest_reply(&Err(e)), Some(&cid)),
        };
        let declared = headers
            .get("content-length")
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.parse::<u64>().ok());
        let too_large = |app: &App| {
            app.metrics.incr(
                names::REJECTED,
                &[("provider", &provider), ("reason", "too_large")],
                1,
            );
            respond(reply::too_large(limit), Some(&cid))
        };
        if declared.is_some_and(|n| n > limit as u64) {
            return too_large(&app);
        }
        let bytes = match tokio::time::timeout(BODY_READ_TIMEOUT, read_capped(body, limit)).await {
            Ok(Ok(b)) => b,
            Ok(Err(ReadError::TooLarge)) => return too_large(&app),
            Ok(Err(ReadError::Broken)) | Err(_) => {
                return respond(
                    Reply::error(
                        400,
                        "bad_request",
                        "the request body could not be read completely",
                    ),
                    Some(&cid),
                )
            }
        };
        let result = ingest::ingest(
            &app.config,
            app.queue.as_ref(),
            app.metrics.as_ref(),
            app.http.as_ref(),
            &WebhookRequest {
                provider: &provider,
                method: method.as_str(),
                query: uri.query().unwrap_or_default(),
                headers: &core_headers,
                body: &bytes,
                received_at,
                correlation_id: &cid,
            },
        )
        .await;
        if matches!(result, Ok(Accepted::Enqueued { .. })) {
            app.wake.notify_one();
        }
        respond(ingest_reply(&result), Some(&cid))
    }
    .instrument(span)
    .await
}
