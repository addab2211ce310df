//! Verifying in a `lambda_http` handler (feature `lambda_http`): behind API Gateway or a
//! function URL. Run `cargo run -p inlet-signatures --example lambda --features lambda_http`
//! to see it answer a signed, a forged and a handshake request locally.
//!
//! ```
//! use inlet_signatures::{lambda, Checked, Verifier};
//! use lambda_http::{Body, Error, Request, Response};
//!
//! async fn handler(verifier: &Verifier, req: Request) -> Result<Response<Body>, Error> {
//!     match lambda::check(verifier, &req) {
//!         Ok(Checked::Event(_verified)) => {
//!             // req.body() is the verified raw body: process it, enqueue it, …
//!             Ok(Response::builder().status(202).body(Body::Empty)?)
//!         }
//!         Ok(Checked::Handshake(answer)) => Ok(lambda::response(&answer)),
//!         Err(e) => Ok(lambda::response(&e.answer())),
//!     }
//! }
//! ```

use lambda_http::{Body, Request, Response};

use crate::handshake::Answer;
use crate::headers::Headers;
use crate::signature::VerifyError;
use crate::verifier::{self, Checked, Verifier};

/// Check a `lambda_http` request: its method, raw query string, headers and body, as
/// [`Verifier::check`] does.
pub fn check(verifier: &Verifier, req: &Request) -> Result<Checked, VerifyError> {
    let headers = Headers::from(req.headers());
    verifier.check(&verifier::Request {
        method: req.method().as_str(),
        query: req.uri().query().unwrap_or_default(),
        headers: &headers,
        body: req.body().as_ref(),
    })
}

/// An [`Answer`] (a handshake's, or [`VerifyError::answer`]) as the Lambda's response.
pub fn response(answer: &Answer) -> Response<Body> {
    let mut response = Response::new(Body::Text(answer.body.clone()));
    *response.status_mut() =
        lambda_http::http::StatusCode::from_u16(answer.status).unwrap_or_default();
    let headers = response.headers_mut();
    headers.insert(
        lambda_http::http::header::CONTENT_TYPE,
        lambda_http::http::HeaderValue::from_static(answer.content_type),
    );
    // A handshake echoes a challenge: never let a browser read it as anything else.
    headers.insert(
        lambda_http::http::header::X_CONTENT_TYPE_OPTIONS,
        lambda_http::http::HeaderValue::from_static("nosniff"),
    );
    response
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::signature::{sign, SignRequest};
    use crate::Secret;

    const NOW: i64 = 1_800_000_000;

    #[test]
    fn a_lambda_request_verifies_and_a_forged_one_answers_401() {
        let verifier = Verifier::preset("shopify", Default::default(), ["shop-secret"])
            .unwrap()
            .clock(|| NOW);
        let body = br#"{"id":1}"#;
        let signed = sign(
            verifier.scheme(),
            &SignRequest {
                body,
                secret: &Secret::new("shop-secret"),
                timestamp: NOW,
                id: "",
            },
        )
        .unwrap();
        let build = |body: &[u8]| {
            let mut b = lambda_http::http::Request::post("/webhooks/shopify");
            for (name, value) in &signed {
                b = b.header(name.as_str(), value.as_str());
            }
            b.body(Body::Binary(body.to_vec())).unwrap()
        };
        assert!(matches!(
            check(&verifier, &build(body)),
            Ok(Checked::Event(_))
        ));
        let err = check(&verifier, &build(br#"{"id":2}"#)).unwrap_err();
        let response = response(&err.answer());
        assert_eq!(response.status(), 401);
        assert_eq!(response.headers()["content-type"], "application/json");
    }
}
