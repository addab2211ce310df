//! Ingest: verify the raw request, normalize it, and enqueue it durably. The caller
//! answers 202 only on `Ok`: an event is accepted only once it is safe.

use time::OffsetDateTime;
use tracing::{info, warn};

use crate::config::{Config, FetchById, ProviderConfig};
use crate::envelope::Source;
use crate::handshake::{self, Answer};
use crate::headers::Headers;
use crate::ids::EventKey;
use crate::metrics::{names, Metrics};
use crate::normalize::{normalize, Incoming, NormalizeError};
use crate::ports::ProviderHttp;
use crate::ports::{Queue, StoreError};
use crate::signature::{self, verify, CertScheme, Scheme, VerifyError, VerifyRequest};

/// One webhook request as received.
#[derive(Debug, Clone, Copy)]
pub struct WebhookRequest<'a> {
    pub provider: &'a str,
    /// `POST` for events; `GET` only reaches a provider's handshake.
    pub method: &'a str,
    /// The raw query string (without `?`): some handshakes carry their challenge there.
    pub query: &'a str,
    pub headers: &'a Headers,
    pub body: &'a [u8],
    pub received_at: OffsetDateTime,
    pub correlation_id: &'a str,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Accepted {
    /// Durably enqueued under this key.
    Enqueued { key: EventKey },
    /// A provider's endpoint check: answered, nothing enqueued.
    Handshake(Answer),
}

#[derive(Debug, thiserror::Error)]
pub enum IngestError {
    #[error("no provider named {0:?} is configured")]
    UnknownProvider(String),
    #[error("use POST")]
    MethodNotAllowed,
    #[error("body is {size} bytes; the limit is {limit}")]
    PayloadTooLarge { size: usize, limit: usize },
    #[error("content type {0:?} is not accepted; send JSON, form or text")]
    UnsupportedMediaType(String),
    #[error("signature rejected: {0}")]
    Unauthorized(#[from] VerifyError),
    #[error("payload rejected: {0}")]
    BadPayload(#[from] NormalizeError),
    #[error("could not enqueue; retry later")]
    Unavailable(#[source] StoreError),
}

/// The provider config for `name`, or the 404 error. Servers call this before reading a
/// body so an unknown path costs nothing, and to learn the body limit.
pub fn provider<'c>(config: &'c Config, name: &str) -> Result<&'c ProviderConfig, IngestError> {
    config
        .provider(name)
        .ok_or_else(|| IngestError::UnknownProvider(name.chars().take(64).collect()))
}

fn media_type_accepted(content_type: &str) -> bool {
    let ct = content_type.to_ascii_lowercase();
    let essence = ct.split(';').next().unwrap_or_default().trim();
    essence.is_empty()
        || essence.contains("json")
        || essence == "application/x-www-form-urlencoded"
        || essence == "application/octet-stream"
        || essence.starts_with("text/")
}

/// Verify, normalize and enqueue one webhook.
pub async fn ingest(
    config: &Config,
    queue: &dyn Queue,
    metrics: &dyn Metrics,
    http: &dyn ProviderHttp,
    req: &WebhookRequest<'_>,
) -> Result<Accepted, IngestError> {
    let provider = provider(config, req.provider)?;
    let pname = provider.name.as_str();
    metrics.incr(names::RECEIVED, &[("provider", pname)], 1);
    let reject = |reason: &str| {
        metrics.incr(
            names::REJECTED,
            &[("provider", pname), ("reason", reason)],
            1,
        )
    };

    // Unsigned handshakes (a GET challenge, Graph's validation) are answered before any
    // signature check; every other GET is refused.
    if let Some(answer) = handshake::before_verification(
        provider.handshake,
        req.method,
        req.query,
        req.headers,
        provider.verify_token.as_ref(),
    ) {
        info!(
            provider = pname,
            correlation_id = req.correlation_id,
            status = answer.status,
            "handshake answered"
        );
        return Ok(Accepted::Handshake(answer));
    }
    if req.method != "POST" {
        return Err(IngestError::MethodNotAllowed);
    }
    if req.body.len() > provider.max_body_bytes {
        reject("too_large");
        return Err(IngestError::PayloadTooLarge {
            size: req.body.len(),
            limit: provider.max_body_bytes,
        });
    }
    if let Some(ct) = req.headers.text("content-type") {
        if !media_type_accepted(ct) {
            reject("media_type");
            return Err(IngestError::UnsupportedMediaType(
                ct.chars().take(100).collect(),
            ));
        }
    }

    // A span of its own, so a trace (X-Ray on AWS) shows what the check cost; at debug
    // level, so logs at info do not pay for it.
    let vreq = VerifyRequest {
        body: req.body,
        headers: req.headers,
        secrets: &provider.secrets,
        now: req.received_at.unix_timestamp(),
        tolerance_secs: provider.tolerance_secs,
    };
    let verified = match signature::certificate_url(&provider.scheme, &vreq) {
        None => tracing::debug_span!("verify_signature", provider = pname)
            .in_scope(|| verify(&provider.scheme, &vreq)),
        Some(Err(e)) => Err(e),
        // The provider's certificate, from its own host (checked above); cached by the adapter.
        Some(Ok(url)) => match http.certificate(&url).await {
            Ok(pem) => signature::verify_with_certificate(&provider.scheme, &vreq, &pem),
            Err(message) => {
                metrics.incr(names::ENQUEUE_FAILURES, &[("provider", pname)], 1);
                warn!(provider = pname, correlation_id = req.correlation_id, %message, "signing certificate unavailable");
                return Err(IngestError::Unavailable(StoreError::Unavailable {
                    message: format!("the signing certificate is unavailable: {message}"),
                    source: None,
                }));
            }
        },
    };
    let verified = match verified {
        Ok(v) => v,
        Err(e) => {
            metrics.incr(
                names::SIGNATURE_FAILURES,
                &[("provider", pname), ("reason", e.reason())],
                1,
            );
            warn!(
                provider = pname,
                correlation_id = req.correlation_id,
                reason = e.reason(),
                "signature rejected"
            );
            return Err(e.into());
        }
    };

    if provider.scheme == Scheme::Certificate(CertScheme::Sns) {
        if let Some((kind, url)) = signature::sns_control(req.body) {
            return sns_control(provider, http, &kind, url, req.correlation_id).await;
        }
    }
    let secret = provider.secrets.get(verified.secret_index);
    if let Some(answer) =
        handshake::after_verification(provider.handshake, req.headers, req.body, secret)
    {
        info!(
            provider = pname,
            correlation_id = req.correlation_id,
            "handshake answered"
        );
        return Ok(Accepted::Handshake(answer));
    }

    // An id-only notification (Mollie) becomes the provider's object, fetched from its API.
    let fetched = match &provider.fetch {
        Some(fetch) => Some(fetch_object(provider, fetch, http, req).await?),
        None => None,
    };
    let (body, headers) = match &fetched {
        Some((body, headers)) => (body.as_slice(), headers),
        None => (req.body, req.headers),
    };
    let envelope = normalize(
        &Incoming {
            provider: &provider.name,
            scheme: &provider.scheme,
            headers,
            body,
            received_at: req.received_at,
            correlation_id: req.correlation_id,
            source: Source::Webhook,
        },
        &provider.rules,
    )
    .inspect_err(|_| reject("bad_payload"))?;

    if let Err(e) = queue.send(&envelope).await {
        metrics.incr(names::ENQUEUE_FAILURES, &[("provider", pname)], 1);
        warn!(provider = pname, key = %envelope.key, correlation_id = req.correlation_id, error = %e, "enqueue failed");
        return Err(IngestError::Unavailable(e));
    }
    crate::failpoint::hit("after_enqueue");
    metrics.incr(names::ENQUEUED, &[("provider", pname)], 1);
    info!(
        provider = pname,
        key = %envelope.key,
        event_type = envelope.event_type.as_deref().unwrap_or(""),
        correlation_id = req.correlation_id,
        "accepted"
    );
    Ok(Accepted::Enqueued { key: envelope.key })
}

/// A verified SNS control message: a subscription is confirmed only when the provider's
/// config says so; nothing is enqueued either way.
async fn sns_control(
    provider: &ProviderConfig,
    http: &dyn ProviderHttp,
    kind: &str,
    subscribe_url: Option<String>,
    correlation_id: &str,
) -> Result<Accepted, IngestError> {
    let pname = provider.name.as_str();
    let answer = |status: &str, message: &str| {
        Ok(Accepted::Handshake(Answer {
            status: 200,
            content_type: "application/json",
            body: serde_json::json!({ "status": status, "message": message }).to_string(),
        }))
    };
    match (kind, subscribe_url) {
        ("SubscriptionConfirmation", Some(url)) if provider.confirm_subscription => {
            if let Err(message) = http.visit(&url).await {
                warn!(provider = pname, correlation_id, %message, "SNS subscription not confirmed");
                return Err(IngestError::Unavailable(StoreError::Unavailable {
                    message: format!("could not confirm the subscription: {message}"),
                    source: None,
                }));
            }
            info!(
                provider = pname,
                correlation_id, "SNS subscription confirmed"
            );
            answer("confirmed", "subscription confirmed")
        }
        ("SubscriptionConfirmation", _) => {
            warn!(
                provider = pname,
                correlation_id,
                "SNS subscription confirmation received; confirm_subscription is off"
            );
            answer(
                "not_confirmed",
                "confirm_subscription is off: confirm the subscription in the SNS console",
            )
        }
        _ => answer("ignored", "an SNS control message; nothing enqueued"),
    }
}

/// The object an id-only notification names, from the provider's API, with the headers it
/// is normalized under (JSON). The id is the request's only input to the URL, so it must be
/// a plain token; a provider without that object refuses the notification (a forged id).
async fn fetch_object(
    provider: &ProviderConfig,
    fetch: &FetchById,
    http: &dyn ProviderHttp,
    req: &WebhookRequest<'_>,
) -> Result<(Vec<u8>, Headers), IngestError> {
    use crate::catalogue::{Conventions, Field};
    let pname = provider.name.as_str();
    let id = Conventions::read(&[Field::Form("id")], req.headers, None, req.body)
        .map(|f| f.text())
        .filter(|id| {
            id.len() <= 64
                && id
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
        })
        .ok_or_else(|| {
            IngestError::BadPayload(NormalizeError::MissingField(
                "the notification has no usable id (id=…)".into(),
            ))
        })?;
    let url = fetch.url.replace("{id}", &id);
    match http.fetch_object(&url, fetch.token.as_ref()).await {
        Ok(Some(body)) => {
            let mut headers = req.headers.clone();
            headers.set("content-type", "application/json");
            Ok((body, headers))
        }
        Ok(None) => {
            warn!(provider = pname, correlation_id = req.correlation_id, %id, "the provider has no such object");
            Err(IngestError::Unauthorized(VerifyError::MalformedBody(
                "the provider has no object with this id",
            )))
        }
        Err(message) => {
            warn!(provider = pname, correlation_id = req.correlation_id, %message, "fetching the object failed");
            Err(IngestError::Unavailable(StoreError::Unavailable {
                message: format!("could not fetch the object from the provider: {message}"),
                source: None,
            }))
        }
    }
}
