//! Ingest: verify the raw request, normalize it, and enqueue it durably. The caller
//! answers 202 only on `Ok`: an event is accepted only once it is safe.

use time::OffsetDateTime;
use tracing::{info, warn};

use crate::config::{Config, ProviderConfig};
use crate::envelope::Source;
use crate::headers::Headers;
use crate::ids::EventKey;
use crate::metrics::{names, Metrics};
use crate::normalize::{normalize, Incoming, NormalizeError};
use crate::ports::{Queue, StoreError};
use crate::signature::{verify, Scheme, VerifyError, VerifyRequest};

/// One webhook request as received.
#[derive(Debug, Clone, Copy)]
pub struct WebhookRequest<'a> {
    pub provider: &'a str,
    pub headers: &'a Headers,
    pub body: &'a [u8],
    pub received_at: OffsetDateTime,
    pub correlation_id: &'a str,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Accepted {
    /// Durably enqueued under this key.
    Enqueued { key: EventKey },
    /// A verified Slack `url_verification` handshake: answer with the challenge, enqueue nothing.
    Challenge(String),
}

#[derive(Debug, thiserror::Error)]
pub enum IngestError {
    #[error("no provider named {0:?} is configured")]
    UnknownProvider(String),
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
    let verified = tracing::debug_span!("verify_signature", provider = pname).in_scope(|| {
        verify(
            &provider.scheme,
            &VerifyRequest {
                body: req.body,
                headers: req.headers,
                secrets: &provider.secrets,
                now: req.received_at.unix_timestamp(),
                tolerance_secs: provider.tolerance_secs,
            },
        )
    });
    if let Err(e) = verified {
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

    if let Some(challenge) = slack_challenge(&provider.scheme, req.body) {
        return Ok(Accepted::Challenge(challenge));
    }

    let envelope = normalize(
        &Incoming {
            provider: &provider.name,
            scheme: &provider.scheme,
            headers: req.headers,
            body: req.body,
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

fn slack_challenge(scheme: &Scheme, body: &[u8]) -> Option<String> {
    if !matches!(scheme, Scheme::Slack) {
        return None;
    }
    let v: serde_json::Value = serde_json::from_slice(body).ok()?;
    if v.get("type")?.as_str()? != "url_verification" {
        return None;
    }
    Some(v.get("challenge")?.as_str()?.to_string())
}
