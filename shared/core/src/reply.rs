//! HTTP replies for the webhook endpoint, shared by `inlet dev`'s server and the Lambda
//! function so both answer byte-for-byte the same.

use serde_json::json;

use crate::headers::Headers;
use crate::usecase::ingest::{Accepted, IngestError};

const JSON: &str = "application/json";

/// Seconds a provider is asked to wait before retrying when the store is unavailable.
pub const RETRY_AFTER_SECS: u32 = 5;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reply {
    pub status: u16,
    /// A JSON document, except a handshake's answer (text where the provider wants text).
    pub body: String,
    pub content_type: &'static str,
    pub retry_after: Option<u32>,
}

impl Reply {
    pub fn error(status: u16, code: &str, message: &str) -> Self {
        Reply {
            status,
            body: json!({ "error": code, "message": message }).to_string(),
            content_type: JSON,
            retry_after: None,
        }
    }

    pub fn not_found() -> Self {
        Reply::error(
            404,
            "not_found",
            "no such route; webhooks go to POST /webhooks/{provider}",
        )
    }

    pub fn method_not_allowed() -> Self {
        Reply::error(405, "method_not_allowed", "use POST")
    }

    /// The response headers: JSON, `Retry-After` when set, and the correlation id when
    /// the request had one.
    pub fn headers(&self, correlation_id: Option<&str>) -> Vec<(&'static str, String)> {
        let mut h = vec![
            ("content-type", self.content_type.to_string()),
            // A handshake echoes a challenge: never let a browser read it as anything else.
            ("x-content-type-options", "nosniff".to_string()),
        ];
        if let Some(secs) = self.retry_after {
            h.push(("retry-after", secs.to_string()));
        }
        if let Some(id) = correlation_id {
            h.push(("x-correlation-id", id.to_string()));
        }
        h
    }

    pub fn health() -> Self {
        Reply {
            status: 200,
            body: json!({ "status": "ok" }).to_string(),
            content_type: JSON,
            retry_after: None,
        }
    }
}

/// The reply for an ingest outcome.
pub fn ingest_reply(result: &Result<Accepted, IngestError>) -> Reply {
    match result {
        Ok(Accepted::Enqueued { key }) => Reply {
            status: 202,
            body: json!({ "status": "accepted", "key": key.as_str() }).to_string(),
            content_type: JSON,
            retry_after: None,
        },
        Ok(Accepted::Handshake(a)) => Reply {
            status: a.status,
            body: a.body.clone(),
            content_type: a.content_type,
            retry_after: None,
        },
        Err(e) => {
            let (status, code) = match e {
                IngestError::UnknownProvider(_) => (404, "unknown_provider"),
                IngestError::MethodNotAllowed => (405, "method_not_allowed"),
                IngestError::PayloadTooLarge { .. } => (413, "payload_too_large"),
                IngestError::UnsupportedMediaType(_) => (415, "unsupported_media_type"),
                IngestError::Unauthorized(v) => (401, v.reason()),
                IngestError::BadPayload(_) => (400, "bad_payload"),
                IngestError::Unavailable(_) => (503, "unavailable"),
            };
            let mut reply = Reply::error(status, code, &e.to_string());
            if matches!(e, IngestError::Unavailable(_)) {
                reply.retry_after = Some(RETRY_AFTER_SECS);
            }
            reply
        }
    }
}

/// The 413 for a body refused before it was read (by `Content-Length` or a capped read).
pub fn too_large(limit: usize) -> Reply {
    Reply::error(
        413,
        "payload_too_large",
        &format!("body exceeds the limit of {limit} bytes"),
    )
}

/// The caller's correlation id (`X-Correlation-Id`, else `X-Request-Id`) if it sent a sane
/// one — printable ASCII, at most 128 bytes — else a new one.
pub fn correlation_id(headers: &Headers) -> String {
    ["x-correlation-id", "x-request-id"]
        .iter()
        .filter_map(|h| headers.text(h))
        .find(|v| !v.is_empty() && v.len() <= 128 && v.bytes().all(|b| b.is_ascii_graphic()))
        .map(str::to_string)
        .unwrap_or_else(|| uuid::Uuid::new_v4().to_string())
}
