//! A real HTTP server standing in for a provider's API, and the Stripe events API on it.

use std::sync::{Arc, Mutex};

use crate::stripe_event;

/// One request a [`FakeApi`] received.
#[derive(Debug, Clone)]
pub struct Recorded {
    pub method: String,
    pub path: String,
    pub query: std::collections::HashMap<String, String>,
    pub headers: std::collections::HashMap<String, String>,
    pub body: String,
}

/// What a [`FakeApi`] answers: status, headers, body.
pub type Answer = (u16, Vec<(String, String)>, String);
pub type Responder = Arc<dyn Fn(&Recorded) -> Answer + Send + Sync>;

/// A real HTTP server on loopback standing in for a provider's API; `responder` decides
/// each answer from the request, and every request is recorded.
#[derive(Clone)]
pub struct FakeApi {
    pub base: String,
    pub requests: Arc<Mutex<Vec<Recorded>>>,
}

impl FakeApi {
    pub async fn start(responder: Responder) -> FakeApi {
        let requests = Arc::new(Mutex::new(Vec::new()));
        let recorded = requests.clone();
        let app = axum::Router::new().fallback(move |req: axum::extract::Request| {
            let (responder, recorded) = (responder.clone(), recorded.clone());
            async move {
                let (parts, body) = req.into_parts();
                let body = axum::body::to_bytes(body, 1 << 20)
                    .await
                    .unwrap_or_default();
                let r = Recorded {
                    method: parts.method.to_string(),
                    path: parts.uri.path().to_string(),
                    query: url::form_urlencoded::parse(parts.uri.query().unwrap_or("").as_bytes())
                        .into_owned()
                        .collect(),
                    headers: parts
                        .headers
                        .iter()
                        .map(|(k, v)| {
                            (k.as_str().to_string(), v.to_str().unwrap_or("").to_string())
                        })
                        .collect(),
                    body: String::from_utf8_lossy(&body).into_owned(),
                };
                let (status, headers, body) = responder(&r);
                recorded.lock().unwrap().push(r);
                let mut resp = axum::response::Response::new(axum::body::Body::from(body));
                *resp.status_mut() = axum::http::StatusCode::from_u16(status).unwrap();
                // Appended: a login answers two `Set-Cookie` headers.
                for (k, v) in headers {
                    resp.headers_mut().append(
                        axum::http::HeaderName::from_bytes(k.as_bytes()).unwrap(),
                        axum::http::HeaderValue::from_str(&v).unwrap(),
                    );
                }
                resp
            }
        });
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        FakeApi {
            base: format!("http://{addr}"),
            requests,
        }
    }

    pub fn count(&self, path_prefix: &str) -> usize {
        self.requests
            .lock()
            .unwrap()
            .iter()
            .filter(|r| r.path.starts_with(path_prefix))
            .count()
    }
}

pub fn json_answer(status: u16, body: serde_json::Value) -> Answer {
    (
        status,
        vec![("content-type".into(), "application/json".into())],
        body.to_string(),
    )
}

/// A fake Stripe `/v1/events` over `events` (each `(id, created)`), honoring `limit`,
/// `created[gte]`, `created[lte]` and `starting_after`, newest first, like Stripe.
pub fn stripe_events_api(events: Arc<Mutex<Vec<(String, i64)>>>) -> Responder {
    Arc::new(move |r: &Recorded| {
        if r.path != "/v1/events" {
            return json_answer(
                404,
                serde_json::json!({"error": {"message": "no such route"}}),
            );
        }
        if r.headers.get("authorization").map(String::as_str) != Some("Bearer sk_test_inlet") {
            return json_answer(
                401,
                serde_json::json!({"error": {"message": "Invalid API Key"}}),
            );
        }
        let q = |k: &str| r.query.get(k).cloned();
        let limit: usize = q("limit").and_then(|l| l.parse().ok()).unwrap_or(10);
        let gte: i64 = q("created[gte]")
            .and_then(|v| v.parse().ok())
            .unwrap_or(i64::MIN);
        let lte: i64 = q("created[lte]")
            .and_then(|v| v.parse().ok())
            .unwrap_or(i64::MAX);
        let mut list: Vec<(String, i64)> = events
            .lock()
            .unwrap()
            .iter()
            .filter(|(_, c)| *c >= gte && *c <= lte)
            .cloned()
            .collect();
        list.sort_by(|a, b| b.1.cmp(&a.1).then(b.0.cmp(&a.0)));
        if let Some(after) = q("starting_after") {
            if let Some(pos) = list.iter().position(|(id, _)| *id == after) {
                list.drain(..=pos);
            }
        }
        let has_more = list.len() > limit;
        list.truncate(limit);
        let data: Vec<serde_json::Value> = list
            .iter()
            .map(|(id, created)| {
                serde_json::from_str(&stripe_event(
                    id,
                    "invoice.paid",
                    &format!("in_{id}"),
                    *created,
                ))
                .unwrap()
            })
            .collect();
        json_answer(
            200,
            serde_json::json!({"object": "list", "url": "/v1/events", "has_more": has_more, "data": data}),
        )
    })
}

pub fn stripe_source_toml(api_base: &str, extra: &str) -> String {
    format!(
        "\n[[sources]]\nname = \"stripe-events\"\nprovider = \"stripe\"\nkind = \"stripe-events\"\napi_base = {api_base:?}\napi_key = \"sk_test_inlet\"\nsettle_secs = 0\n{extra}\n"
    )
}
