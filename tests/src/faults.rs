//! A real HTTP proxy in front of the AWS emulator that injects faults by operation
//! (`X-Amz-Target`), for what moto cannot do: throttling, partial failures.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

/// Changes the emulator's JSON answer.
pub type AnswerFn = Box<dyn FnOnce(serde_json::Value) -> serde_json::Value + Send>;

/// What the proxy does with one request.
pub enum Action {
    Forward,
    /// Answer without forwarding (an AWS JSON content type).
    Respond(u16, String),
    /// Answer without forwarding, with extra headers.
    RespondWith {
        status: u16,
        body: String,
        headers: Vec<(String, String)>,
    },
    /// Forward a changed body, then change the emulator's JSON answer.
    Rewrite {
        body: Vec<u8>,
        answer: AnswerFn,
    },
    /// Forward, then answer with this (a `Respond*`) instead: a failure whose request
    /// took effect.
    ForwardThen(Box<Action>),
    /// Wait, then do the action: a round trip to a region further away.
    Delay(std::time::Duration, Box<Action>),
}

/// Decides per request: (operation, how many times it was seen before, body).
pub type Rule = Arc<dyn Fn(&str, usize, &[u8]) -> Action + Send + Sync>;

/// Every request goes to the emulator.
pub fn forward_all() -> Rule {
    Arc::new(|_, _, _| Action::Forward)
}

/// `inner` first; what it forwards meets AWS's documented limits
/// ([`crate::aws_limits`]) and the message-move task fake ([`crate::move_tasks`]).
pub fn strict(upstream: &str, inner: Rule) -> Rule {
    let tasks = crate::move_tasks::MoveTasks::new(upstream, std::time::Duration::from_millis(20));
    Arc::new(move |target, nth, body| match inner(target, nth, body) {
        Action::Forward => tasks
            .answer(target, body)
            .or_else(|| crate::aws_limits::check(target, body))
            .unwrap_or(Action::Forward),
        other => other,
    })
}

/// Every `every`-th call of each operation fails as the service documents
/// ([`crate::aws_limits::chaos_action`]); the rest go to `inner`.
pub fn chaos(every: usize, inner: Rule) -> Rule {
    Arc::new(move |target, nth, body| {
        crate::aws_limits::chaos_action(target, nth, every)
            .unwrap_or_else(|| inner(target, nth, body))
    })
}

/// A throttling storm to switch on: while it lasts, about `percent` % of all calls
/// (picked at random, every service alike) are refused with the service's throttle
/// ([`crate::aws_limits::throttle_action`]); the rest, and everything outside it, go
/// to `inner`.
pub struct Storm {
    until: Arc<Mutex<Option<std::time::Instant>>>,
    throttled: Arc<std::sync::atomic::AtomicUsize>,
}

impl Storm {
    pub fn new(percent: u64, inner: Rule) -> (Storm, Rule) {
        use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
        let until: Arc<Mutex<Option<std::time::Instant>>> = Arc::new(Mutex::new(None));
        let state = Arc::new(AtomicU64::new(0x9e37_79b9_7f4a_7c15));
        let throttled = Arc::new(AtomicUsize::new(0));
        let (window, count) = (until.clone(), throttled.clone());
        let rule: Rule = Arc::new(move |target, nth, body| {
            let raging = window
                .lock()
                .ok()
                .and_then(|u| *u)
                .is_some_and(|u| std::time::Instant::now() < u);
            if raging {
                // xorshift: uniform enough to throttle ~percent of calls.
                let mut x = state.load(Ordering::Relaxed);
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                state.store(x, Ordering::Relaxed);
                if x % 100 < percent {
                    if let Some(action) = crate::aws_limits::throttle_action(target) {
                        count.fetch_add(1, Ordering::Relaxed);
                        return action;
                    }
                }
            }
            inner(target, nth, body)
        });
        (Storm { until, throttled }, rule)
    }

    /// Rage for `window` from now.
    pub fn start(&self, window: std::time::Duration) {
        if let Ok(mut u) = self.until.lock() {
            *u = Some(std::time::Instant::now() + window);
        }
    }

    pub fn raging(&self) -> bool {
        self.until
            .lock()
            .ok()
            .and_then(|u| *u)
            .is_some_and(|u| std::time::Instant::now() < u)
    }

    /// Calls refused so far.
    pub fn throttled(&self) -> usize {
        self.throttled.load(std::sync::atomic::Ordering::Relaxed)
    }
}

/// A response for a `Respond*` action (anything else: 500).
fn respond(action: Action) -> axum::response::Response {
    let (status, text, headers) = match action {
        Action::Respond(status, text) => (status, text, Vec::new()),
        Action::RespondWith {
            status,
            body,
            headers,
        } => (status, body, headers),
        _ => (500, "the fault proxy cannot answer this".into(), Vec::new()),
    };
    let mut resp = axum::response::Response::new(axum::body::Body::from(text));
    *resp.status_mut() = axum::http::StatusCode::from_u16(status).unwrap();
    resp.headers_mut().insert(
        "content-type",
        "application/x-amz-json-1.0".parse().unwrap(),
    );
    for (k, v) in headers {
        resp.headers_mut().insert(
            axum::http::HeaderName::from_bytes(k.as_bytes()).unwrap(),
            v.parse().unwrap(),
        );
    }
    resp
}

pub struct FaultProxy {
    pub endpoint: String,
    pub seen: Arc<Mutex<HashMap<String, usize>>>,
}

impl FaultProxy {
    pub async fn start(upstream: &str, rule: Rule) -> FaultProxy {
        let seen: Arc<Mutex<HashMap<String, usize>>> = Arc::new(Mutex::new(HashMap::new()));
        let counter = seen.clone();
        let upstream = upstream.to_string();
        let client = reqwest::Client::new();
        let item_locks = crate::item_locks::ItemLocks::default();
        let app = axum::Router::new().fallback(move |req: axum::extract::Request| {
            let (rule, counter, upstream, client, item_locks) = (
                rule.clone(),
                counter.clone(),
                upstream.clone(),
                client.clone(),
                item_locks.clone(),
            );
            async move {
                let (parts, body) = req.into_parts();
                let body = axum::body::to_bytes(body, 64 << 20)
                    .await
                    .unwrap_or_default()
                    .to_vec();
                let target = parts
                    .headers
                    .get("x-amz-target")
                    .and_then(|v| v.to_str().ok())
                    .unwrap_or("")
                    .to_string();
                let nth = {
                    let mut c = counter.lock().unwrap();
                    let n = c.entry(target.clone()).or_insert(0);
                    *n += 1;
                    *n - 1
                };
                let mut replace = None;
                let mut action = rule(&target, nth, &body);
                while let Action::Delay(wait, then) = action {
                    tokio::time::sleep(wait).await;
                    action = *then;
                }
                let (body, answer): (Vec<u8>, Option<AnswerFn>) = match action {
                    a @ (Action::Respond(..) | Action::RespondWith { .. }) => return respond(a),
                    Action::Forward => (body, None),
                    Action::Rewrite { body, answer } => (body, Some(answer)),
                    Action::ForwardThen(a) => {
                        replace = Some(*a);
                        (body, None)
                    }
                    Action::Delay(..) => unreachable!("delays are taken above"),
                };
                let url = format!(
                    "{upstream}{}",
                    parts
                        .uri
                        .path_and_query()
                        .map(|p| p.as_str())
                        .unwrap_or("/")
                );
                // Held until the emulator has answered: see `item_locks`.
                let _writing = item_locks.hold(&target, &body).await;
                let mut fwd = client.request(parts.method.clone(), url).body(body);
                for (k, v) in &parts.headers {
                    if k != "host" && k != "content-length" {
                        fwd = fwd.header(k, v);
                    }
                }
                let up = fwd.send().await.unwrap();
                if let Some(a) = replace {
                    let _ = up.bytes().await;
                    return respond(a);
                }
                let status = up.status();
                let headers = up.headers().clone();
                let mut bytes = up.bytes().await.unwrap().to_vec();
                if let Some(f) = answer {
                    let v: serde_json::Value = serde_json::from_slice(&bytes).unwrap();
                    bytes = serde_json::to_vec(&f(v)).unwrap();
                }
                let mut resp = axum::response::Response::new(axum::body::Body::from(bytes));
                *resp.status_mut() = status;
                // Hop-by-hop headers stay here: moto's server closes every connection
                // (`Connection: close`), AWS keeps them alive — and a client that had to
                // reconnect for every call would be measured, and tested, for nothing.
                const HOP_BY_HOP: [&str; 4] = [
                    "content-length",
                    "transfer-encoding",
                    "connection",
                    "keep-alive",
                ];
                for (k, v) in &headers {
                    if !HOP_BY_HOP.contains(&k.as_str()) {
                        resp.headers_mut().insert(k.clone(), v.clone());
                    }
                }
                resp
            }
        });
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        FaultProxy {
            endpoint: format!("http://{addr}"),
            seen,
        }
    }

    pub fn count(&self, target: &str) -> usize {
        self.seen.lock().unwrap().get(target).copied().unwrap_or(0)
    }
}
