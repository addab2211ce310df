//! `http::HeaderMap` into [`Headers`], for the axum and lambda_http integrations.

use crate::headers::Headers;

impl From<&http::HeaderMap> for Headers {
    /// Every value of every header, bytes as received.
    fn from(map: &http::HeaderMap) -> Self {
        let mut headers = Headers::new();
        for (name, value) in map {
            headers.insert(name.as_str(), value.as_bytes());
        }
        headers
    }
}
