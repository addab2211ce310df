//! The function's edge: an API Gateway event in, an API Gateway answer out.
//!
//! `lambda_http` reads an event by parsing it whole as a REST (v1) event first and, when
//! that fails, again as an HTTP API (v2) event. Every request from an HTTP API (the
//! template's) was therefore parsed twice: a fifth of the function's own CPU per request in
//! a profile. Here the event's top-level `version` picks the one format to parse: `"2.0"`
//! is the HTTP API's payload format 2.0 (and Lambda function URLs'); REST APIs send no
//! version and HTTP APIs on payload format 1.0 send `"1.0"`, both in the v1 shape. The
//! request itself is still built by `lambda_http`, so headers, query and base64 bodies read
//! exactly as before.

use lambda_http::aws_lambda_events::apigw::{ApiGatewayProxyResponse, ApiGatewayV2httpResponse};
use lambda_http::http::HeaderMap;
use lambda_http::request::{LambdaRequest, RequestOrigin};
use lambda_http::{Body, Context, Request, RequestExt, Response};
use serde::de::Error as _;
use serde::{Deserialize, Deserializer};
use serde_json::value::RawValue;

/// An API Gateway event, in the format its `version` names.
#[derive(Debug)]
pub struct ApiEvent(LambdaRequest);

impl<'de> Deserialize<'de> for ApiEvent {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        #[derive(Deserialize)]
        struct Version<'a> {
            #[serde(borrow, default)]
            version: Option<std::borrow::Cow<'a, str>>,
        }
        let raw = Box::<RawValue>::deserialize(deserializer)?;
        let text = raw.get();
        let version = serde_json::from_str::<Version>(text)
            .map_err(|e| D::Error::custom(format!("not an API Gateway event: {e}")))?;
        let request = if version.version.as_deref() == Some("2.0") {
            serde_json::from_str(text).map(LambdaRequest::ApiGatewayV2)
        } else {
            serde_json::from_str(text).map(LambdaRequest::ApiGatewayV1)
        };
        request.map(ApiEvent).map_err(|e| {
            D::Error::custom(format!(
                "not an API Gateway {} event: {e}",
                if version.version.as_deref() == Some("2.0") {
                    "HTTP API (payload format 2.0)"
                } else {
                    "REST or payload format 1.0"
                }
            ))
        })
    }
}

/// Which answer format the event's sender expects.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    V1,
    V2,
}

impl ApiEvent {
    pub fn format(&self) -> Format {
        match self.0.request_origin() {
            RequestOrigin::ApiGatewayV2 => Format::V2,
            _ => Format::V1,
        }
    }

    /// The HTTP request the event carries, with the invocation's context (its deadline).
    pub fn into_request(self, context: Context) -> Request {
        Request::from(self.0).with_lambda_context(context)
    }
}

/// Read an event's JSON as the function does (tests and tools).
pub fn request_from_json(json: &str) -> Result<Request, serde_json::Error> {
    let event: ApiEvent = serde_json::from_str(json)?;
    Ok(Request::from(event.0))
}

/// What the function answers API Gateway, in the format the event came in.
#[derive(Debug, serde::Serialize)]
#[serde(untagged)]
pub enum Answer {
    V1(ApiGatewayProxyResponse),
    V2(ApiGatewayV2httpResponse),
}

/// The answer in `format`: status, headers (v1 as `multiValueHeaders`, so API Gateway does
/// not merge them twice) and the body, base64 when binary.
pub fn answer(format: Format, response: Response<Body>) -> Answer {
    let (parts, body) = response.into_parts();
    let (is_base64_encoded, body) = match body {
        Body::Empty => (false, None),
        b @ Body::Text(_) => (false, Some(b)),
        b @ Body::Binary(_) => (true, Some(b)),
        _ => (false, None),
    };
    let status_code = i64::from(parts.status.as_u16());
    match format {
        Format::V2 => {
            let mut r = ApiGatewayV2httpResponse::default();
            r.status_code = status_code;
            r.headers = parts.headers;
            r.body = body;
            r.is_base64_encoded = is_base64_encoded;
            Answer::V2(r)
        }
        Format::V1 => {
            let mut r = ApiGatewayProxyResponse::default();
            r.status_code = status_code;
            r.headers = HeaderMap::new();
            r.multi_value_headers = parts.headers;
            r.body = body;
            r.is_base64_encoded = is_base64_encoded;
            Answer::V1(r)
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]
    use super::*;

    const HTTP_API: &str = include_str!("../../../tests/fixtures/events/apigw-http-v2.json");
    const REST: &str = include_str!("../../../tests/fixtures/events/apigw-rest-v1-base64.json");

    fn event(json: &str) -> Result<ApiEvent, serde_json::Error> {
        serde_json::from_str(json)
    }

    fn body_bytes(req: &Request) -> Vec<u8> {
        match req.body() {
            Body::Text(t) => t.as_bytes().to_vec(),
            Body::Binary(b) => b.clone(),
            _ => Vec::new(),
        }
    }

    #[test]
    fn each_format_is_read_by_its_version_into_the_same_request_lambda_http_builds() {
        for (json, format) in [(HTTP_API, Format::V2), (REST, Format::V1)] {
            let e = event(json).unwrap();
            assert_eq!(e.format(), format);
            let ours = e.into_request(Context::default());
            let theirs = lambda_http::request::from_str(json).unwrap();
            assert_eq!(ours.method(), theirs.method());
            assert_eq!(ours.uri(), theirs.uri());
            assert_eq!(ours.headers(), theirs.headers());
            assert_eq!(body_bytes(&ours), body_bytes(&theirs));
        }
        // A base64 body (as REST APIs send binary media) reaches the handler decoded.
        let mut v: serde_json::Value = serde_json::from_str(REST).unwrap();
        v["body"] = "aGVsbG8=".into();
        v["isBase64Encoded"] = true.into();
        let rest = request_from_json(&v.to_string()).unwrap();
        assert_eq!(crate::provider_of(rest.uri().path()), Some("shopify"));
        assert_eq!(body_bytes(&rest), b"hello");
    }

    #[test]
    fn an_http_api_on_payload_format_1_is_read_as_v1() {
        let mut v: serde_json::Value = serde_json::from_str(REST).unwrap();
        v["version"] = "1.0".into();
        let e = event(&v.to_string()).unwrap();
        assert_eq!(e.format(), Format::V1);
        let req = e.into_request(Context::default());
        assert_eq!(crate::provider_of(req.uri().path()), Some("shopify"));
    }

    #[test]
    fn malformed_truncated_and_mislabelled_events_are_refused_with_the_format_named() {
        let truncated = &HTTP_API[..HTTP_API.len() / 2];
        assert!(event(truncated).is_err());
        assert!(event("[1,2]").is_err());
        assert!(event("").is_err());
        // A v1 event claiming payload format 2.0 has no requestContext.http: refused, and
        // the error says which format was expected.
        let mut v: serde_json::Value = serde_json::from_str(REST).unwrap();
        v["version"] = "2.0".into();
        let err = event(&v.to_string()).unwrap_err().to_string();
        assert!(err.contains("HTTP API (payload format 2.0)"), "{err}");
        let mut v: serde_json::Value = serde_json::from_str(HTTP_API).unwrap();
        v["version"] = serde_json::json!({"nested": true});
        assert!(event(&v.to_string()).is_err());
    }

    #[test]
    fn the_answer_has_the_shape_each_format_expects() {
        let reply = || {
            Response::builder()
                .status(202)
                .header("content-type", "application/json")
                .header("x-correlation-id", "c-1")
                .body(Body::Text("{\"ok\":true}".into()))
                .unwrap()
        };
        let v2 = serde_json::to_value(answer(Format::V2, reply())).unwrap();
        assert_eq!(v2["statusCode"], 202);
        assert_eq!(v2["headers"]["x-correlation-id"], "c-1");
        assert_eq!(v2["body"], "{\"ok\":true}");
        assert_eq!(v2["isBase64Encoded"], false);
        let v1 = serde_json::to_value(answer(Format::V1, reply())).unwrap();
        assert_eq!(v1["statusCode"], 202);
        assert_eq!(
            v1["multiValueHeaders"]["x-correlation-id"],
            serde_json::json!(["c-1"])
        );
        assert_eq!(v1["headers"], serde_json::json!({}));
        let binary = Response::builder()
            .status(200)
            .body(Body::Binary(vec![0xff, 0x00]))
            .unwrap();
        let b = serde_json::to_value(answer(Format::V2, binary)).unwrap();
        assert_eq!(
            (b["isBase64Encoded"].clone(), b["body"].clone()),
            (true.into(), "/wA=".into())
        );
    }
}
