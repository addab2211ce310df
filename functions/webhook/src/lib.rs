//! The webhook function: an API Gateway request (HTTP API v2 or REST v1, base64 bodies
//! decoded to the exact bytes sent) → the core's ingest use case → SQS. Answers exactly
//! like `inlet dev` (the replies come from `inlet_core::reply`).

use std::sync::{Arc, RwLock};
use std::time::Duration;

use inlet_aws::runtime::ConfigSource;
use inlet_aws::{EmfMetrics, SqsQueue};
use inlet_core::config::Config;
use inlet_core::headers::Headers;
use inlet_core::ports::StoreError;
use inlet_core::reply::{self, ingest_reply, Reply};
use inlet_core::signature::VerifyError;
use inlet_core::usecase::ingest::{self, IngestError, WebhookRequest};
use lambda_http::{Body, Request, RequestExt, Response};

mod wiring;

/// Time kept back from the invocation's deadline to answer. A request that has not been
/// queued by then gets a 503 with `Retry-After` (the provider retries) rather than a Lambda
/// timeout, which API Gateway turns into a bare 5xx.
pub const DEADLINE_MARGIN: Duration = Duration::from_millis(500);

pub struct Deps {
    pub config: RwLock<Arc<Config>>,
    pub source: ConfigSource,
    pub queue: SqsQueue,
    pub metrics: EmfMetrics,
    /// Certificates and confirmations for providers that need them (AWS SNS, PayPal).
    pub http: inlet_sources::provider_http::HttpProviderClient,
}

/// `{provider}` from `…/webhooks/{provider}` (REST APIs may prefix a stage).
pub fn provider_of(path: &str) -> Option<&str> {
    let rest = &path[path.find("/webhooks/")? + "/webhooks/".len()..];
    let name = rest.split('/').next()?;
    (!name.is_empty() && !rest[name.len()..].trim_matches('/').contains('/')).then_some(name)
}

fn respond(r: Reply, correlation_id: &str) -> Response<Body> {
    let mut builder = Response::builder().status(r.status);
    for (name, value) in r.headers(Some(correlation_id)) {
        builder = builder.header(name, value);
    }
    builder
        .body(Body::Text(r.body))
        .unwrap_or_else(|_| Response::new(Body::Empty))
}

fn current(deps: &Deps) -> Arc<Config> {
    match deps.config.read() {
        Ok(c) => Arc::clone(&c),
        Err(poisoned) => Arc::clone(&poisoned.into_inner()),
    }
}

/// Handle one request. Never fails: every outcome is an HTTP answer.
pub async fn handle(deps: &Deps, req: Request) -> Response<Body> {
    let received_at = time::OffsetDateTime::now_utc();
    let mut headers = Headers::new();
    for (name, value) in req.headers() {
        headers.insert(name.as_str(), value.as_bytes());
    }
    let cid = reply::correlation_id(&headers);
    // GET reaches only a provider's handshake (Meta, Okta); ingest refuses the rest.
    if req.method() != "POST" && req.method() != "GET" {
        return respond(Reply::method_not_allowed(), &cid);
    }
    let Some(provider) = provider_of(req.uri().path()).map(str::to_string) else {
        return respond(Reply::not_found(), &cid);
    };
    let body: &[u8] = match req.body() {
        Body::Empty => &[],
        Body::Text(t) => t.as_bytes(),
        Body::Binary(b) => b,
        _ => &[],
    };
    let request = WebhookRequest {
        provider: &provider,
        method: req.method().as_str(),
        query: req.uri().query().unwrap_or_default(),
        headers: &headers,
        body,
        received_at,
        correlation_id: &cid,
    };
    let time_left = req
        .lambda_context_ref()
        .map(|c| inlet_aws::runtime::time_left(c.deadline).saturating_sub(DEADLINE_MARGIN));
    let result = match time_left {
        Some(left) => tokio::time::timeout(left, verify_and_enqueue(deps, &request))
            .await
            .unwrap_or_else(|_| {
                Err(IngestError::Unavailable(StoreError::Unavailable {
                    message: "the invocation's deadline came before the queue answered".into(),
                    source: None,
                }))
            }),
        None => verify_and_enqueue(deps, &request).await,
    };
    deps.metrics.flush();
    respond(ingest_reply(&result), &cid)
}

async fn verify_and_enqueue(
    deps: &Deps,
    request: &WebhookRequest<'_>,
) -> Result<ingest::Accepted, IngestError> {
    let config = current(deps);
    let mut result = ingest::ingest(&config, &deps.queue, &deps.metrics, &deps.http, request).await;
    // A signature that matches no secret may be signed with a rotated one: reload the
    // secrets (rate-limited) and try once more before rejecting.
    if matches!(
        result,
        Err(IngestError::Unauthorized(
            VerifyError::Mismatch | VerifyError::NoUsableSecret
        ))
    ) {
        if let Some(fresh) = deps.source.reload_if_due().await {
            let fresh = Arc::new(fresh);
            if let Ok(mut c) = deps.config.write() {
                *c = Arc::clone(&fresh);
            }
            result = ingest::ingest(&fresh, &deps.queue, &deps.metrics, &deps.http, request).await;
        }
    }
    result
}
