//! A real HTTP server standing in for a downstream system (the HTTP sink's destination).

use std::collections::VecDeque;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// One request the sink server received.
#[derive(Debug, Clone)]
pub struct SinkHit {
    pub idempotency_key: Option<String>,
    pub body: serde_json::Value,
    pub status: u16,
    /// When it arrived.
    pub at: Instant,
}

/// A real HTTP server standing in for a downstream system: answers with the statuses in
/// `plan` (then 200), and records every request.
#[derive(Clone)]
pub struct SinkServer {
    pub url: String,
    pub hits: Arc<Mutex<Vec<SinkHit>>>,
    pub plan: Arc<Mutex<VecDeque<u16>>>,
    /// Status once the plan is used up.
    pub default_status: Arc<Mutex<u16>>,
    /// How long each answer takes (a slow downstream backs the queue up).
    pub delay: Arc<Mutex<Duration>>,
    /// `Retry-After` sent with a 429 or 503, when set.
    pub retry_after: Arc<Mutex<Option<String>>>,
}

impl SinkServer {
    pub async fn start() -> SinkServer {
        use axum::extract::State;
        use axum::http::{HeaderMap, StatusCode};
        let hits = Arc::new(Mutex::new(Vec::new()));
        let plan = Arc::new(Mutex::new(VecDeque::new()));
        let default_status = Arc::new(Mutex::new(200u16));
        let delay = Arc::new(Mutex::new(Duration::ZERO));
        let retry_after: Arc<Mutex<Option<String>>> = Arc::new(Mutex::new(None));
        let state = (
            hits.clone(),
            plan.clone(),
            default_status.clone(),
            delay.clone(),
            retry_after.clone(),
        );
        type St = (
            Arc<Mutex<Vec<SinkHit>>>,
            Arc<Mutex<VecDeque<u16>>>,
            Arc<Mutex<u16>>,
            Arc<Mutex<Duration>>,
            Arc<Mutex<Option<String>>>,
        );
        let app = axum::Router::new()
            .route(
                "/sink",
                axum::routing::post(
                    |State((hits, plan, default, delay, retry_after)): State<St>,
                     headers: HeaderMap,
                     body: axum::body::Bytes| async move {
                        let pause = *delay.lock().unwrap();
                        tokio::time::sleep(pause).await;
                        let status = plan
                            .lock()
                            .unwrap()
                            .pop_front()
                            .unwrap_or(*default.lock().unwrap());
                        hits.lock().unwrap().push(SinkHit {
                            idempotency_key: headers
                                .get("idempotency-key")
                                .and_then(|v| v.to_str().ok())
                                .map(str::to_string),
                            body: serde_json::from_slice(&body).unwrap_or(serde_json::Value::Null),
                            status,
                            at: Instant::now(),
                        });
                        let mut out = HeaderMap::new();
                        if let (429 | 503, Some(after)) =
                            (status, retry_after.lock().unwrap().clone())
                        {
                            out.insert("retry-after", after.parse().unwrap());
                        }
                        (StatusCode::from_u16(status).unwrap(), out)
                    },
                ),
            )
            .with_state(state);
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        SinkServer {
            url: format!("http://{addr}/sink"),
            hits,
            plan,
            default_status,
            delay,
            retry_after,
        }
    }

    /// Keys of the requests answered 2xx.
    pub fn delivered_keys(&self) -> Vec<String> {
        self.hits
            .lock()
            .unwrap()
            .iter()
            .filter(|h| (200..300).contains(&h.status))
            .filter_map(|h| h.idempotency_key.clone())
            .collect()
    }

    /// Distinct keys of the requests answered 2xx, sorted.
    pub fn distinct_delivered_keys(&self) -> Vec<String> {
        let mut keys = self.delivered_keys();
        keys.sort();
        keys.dedup();
        keys
    }

    pub fn hit_count(&self) -> usize {
        self.hits.lock().unwrap().len()
    }
}
