//! An axum extractor that verifies a webhook before your handler runs (feature `axum`).
//!
//! Put an `Arc<Verifier>` in the router's state (or make it [`FromRef`] of your state) and
//! take [`VerifiedWebhook`] as the handler's last argument. A request that does not verify
//! is answered `401` with a JSON reason and never reaches the handler; a provider's
//! handshake (a challenge, a ping) is answered as the provider expects, also without the
//! handler. Run `cargo run -p inlet-signatures --example axum --features axum` for a
//! complete service.
//!
//! ```
//! use std::sync::Arc;
//! use axum::{routing::post, Router};
//! use inlet_signatures::{axum::VerifiedWebhook, Verifier};
//!
//! async fn paid(hook: VerifiedWebhook) -> &'static str {
//!     // hook.body is the verified raw body; parse it as you like.
//!     "ok"
//! }
//!
//! let verifier = Verifier::preset("stripe", Default::default(), ["whsec_…"])?;
//! let app: Router = Router::new()
//!     .route("/webhooks/stripe", post(paid))
//!     .with_state(Arc::new(verifier));
//! # Ok::<(), inlet_signatures::SetupError>(())
//! ```

use std::sync::Arc;

use axum::extract::rejection::BytesRejection;
use axum::extract::{FromRef, FromRequest, Request};
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use bytes::Bytes;

use crate::handshake::Answer;
use crate::headers::Headers;
use crate::signature::{Verified, VerifyError};
use crate::verifier::{self, Checked, Verifier};

/// A request whose signature verified: what the handler receives.
#[derive(Debug, Clone)]
pub struct VerifiedWebhook {
    /// The signed timestamp and which secret matched.
    pub verified: Verified,
    /// The request's headers.
    pub headers: Headers,
    /// The raw body, exactly as signed.
    pub body: Bytes,
}

/// Why the extractor answered instead of the handler.
#[derive(Debug)]
pub enum WebhookRejection {
    /// The provider's handshake, answered as it expects.
    Handshake(Answer),
    /// The signature did not verify: `401`.
    Invalid(VerifyError),
    /// The body could not be read (too large for the router's body limit, cut off).
    Body(BytesRejection),
}

impl IntoResponse for WebhookRejection {
    fn into_response(self) -> Response {
        let answer = match self {
            WebhookRejection::Handshake(answer) => answer,
            WebhookRejection::Invalid(e) => e.answer(),
            WebhookRejection::Body(e) => return e.into_response(),
        };
        (
            StatusCode::from_u16(answer.status).unwrap_or(StatusCode::BAD_REQUEST),
            [
                (header::CONTENT_TYPE, answer.content_type),
                // A handshake echoes a challenge: never let a browser read it as anything else.
                (header::X_CONTENT_TYPE_OPTIONS, "nosniff"),
            ],
            answer.body,
        )
            .into_response()
    }
}

impl<S> FromRequest<S> for VerifiedWebhook
where
    S: Send + Sync,
    Arc<Verifier>: FromRef<S>,
{
    type Rejection = WebhookRejection;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        let verifier = Arc::<Verifier>::from_ref(state);
        let method = req.method().as_str().to_string();
        let query = req.uri().query().unwrap_or_default().to_string();
        let headers = Headers::from(req.headers());
        let body = Bytes::from_request(req, state)
            .await
            .map_err(WebhookRejection::Body)?;
        let checked = verifier.check(&verifier::Request {
            method: &method,
            query: &query,
            headers: &headers,
            body: &body,
        });
        match checked {
            Ok(Checked::Event(verified)) => Ok(VerifiedWebhook {
                verified,
                headers,
                body,
            }),
            Ok(Checked::Handshake(answer)) => Err(WebhookRejection::Handshake(answer)),
            Err(e) => Err(WebhookRejection::Invalid(e)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::signature::{sign, SignRequest};
    use crate::Secret;
    use axum::body::Body;

    const NOW: i64 = 1_800_000_000;

    fn state() -> Arc<Verifier> {
        Arc::new(
            Verifier::preset("github", Default::default(), ["gh-secret"])
                .unwrap()
                .clock(|| NOW),
        )
    }

    fn request(body: &'static [u8], sign_with: Option<&str>) -> Request {
        let mut builder = axum::http::Request::post("/hooks");
        if let Some(secret) = sign_with {
            let signed = sign(
                state().scheme(),
                &SignRequest {
                    body,
                    secret: &Secret::new(secret),
                    timestamp: NOW,
                    id: "",
                },
            )
            .unwrap();
            for (name, value) in signed {
                builder = builder.header(name, value);
            }
        }
        builder.body(Body::from(body)).unwrap()
    }

    #[tokio::test]
    async fn a_signed_request_reaches_the_handler_with_its_raw_body() {
        let hook =
            VerifiedWebhook::from_request(request(b"{\"a\":1}", Some("gh-secret")), &state())
                .await
                .unwrap();
        assert_eq!(&hook.body[..], b"{\"a\":1}");
        assert_eq!(hook.verified.secret_index, 0);
    }

    #[tokio::test]
    async fn a_forged_or_unsigned_request_is_401_with_a_reason() {
        for req in [request(b"{}", Some("wrong-secret")), request(b"{}", None)] {
            let rejection = VerifiedWebhook::from_request(req, &state())
                .await
                .unwrap_err();
            let response = rejection.into_response();
            assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
            let body = axum::body::to_bytes(response.into_body(), 4096)
                .await
                .unwrap();
            let v: serde_json::Value = serde_json::from_slice(&body).unwrap();
            assert!(v["error"].is_string(), "{v}");
            assert!(!String::from_utf8_lossy(&body).contains("gh-secret"));
        }
    }
}
