//! A Lambda Runtime API on loopback (the protocol `lambda_runtime` speaks), so the real
//! function binaries run here as they do in Lambda: poll `next`, post a response.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// (request id, the function's response or error)
pub type Outcome = (String, Result<serde_json::Value, String>);

#[derive(Clone, Default)]
pub struct RuntimeApi {
    pub addr: String,
    pub first_poll: Arc<Mutex<Option<Instant>>>,
    pending: Arc<Mutex<VecDeque<(String, serde_json::Value)>>>,
    pub responses: Arc<Mutex<Vec<Outcome>>>,
    pub init_error: Arc<Mutex<Option<String>>>,
}

impl RuntimeApi {
    pub async fn start() -> RuntimeApi {
        let api = RuntimeApi::default();
        let state = api.clone();
        let app = axum::Router::new()
            .route(
                "/2018-06-01/runtime/invocation/next",
                axum::routing::get({
                    let s = state.clone();
                    move || {
                        let s = s.clone();
                        async move {
                            s.first_poll
                                .lock()
                                .unwrap()
                                .get_or_insert_with(Instant::now);
                            loop {
                                let next = s.pending.lock().unwrap().pop_front();
                                if let Some((id, event)) = next {
                                    let deadline = std::time::SystemTime::now()
                                        .duration_since(std::time::UNIX_EPOCH)
                                        .unwrap()
                                        .as_millis()
                                        + 30_000;
                                    // Lambda sends the content type; awslambdaric's
                                    // native client crashes without it.
                                    return axum::response::Response::builder()
                                        .header("content-type", "application/json")
                                        .header("lambda-runtime-aws-request-id", id)
                                        .header("lambda-runtime-deadline-ms", deadline.to_string())
                                        .header(
                                            "lambda-runtime-invoked-function-arn",
                                            "arn:aws:lambda:us-east-1:123456789012:function:inlet",
                                        )
                                        .header(
                                            "lambda-runtime-trace-id",
                                            "Root=1-5e6b8b0e-4f2c1c4a3b1b1c2b3c4d5e6f;Sampled=0",
                                        )
                                        .body(axum::body::Body::from(event.to_string()))
                                        .unwrap();
                                }
                                tokio::time::sleep(Duration::from_millis(5)).await;
                            }
                        }
                    }
                }),
            )
            .route(
                "/2018-06-01/runtime/invocation/{id}/response",
                axum::routing::post({
                    let s = state.clone();
                    move |axum::extract::Path(id): axum::extract::Path<String>,
                          body: axum::body::Bytes| {
                        let s = s.clone();
                        async move {
                            let v =
                                serde_json::from_slice(&body).unwrap_or(serde_json::Value::Null);
                            s.responses.lock().unwrap().push((id, Ok(v)));
                            axum::http::StatusCode::ACCEPTED
                        }
                    }
                }),
            )
            .route(
                "/2018-06-01/runtime/invocation/{id}/error",
                axum::routing::post({
                    let s = state.clone();
                    move |axum::extract::Path(id): axum::extract::Path<String>,
                          body: axum::body::Bytes| {
                        let s = s.clone();
                        async move {
                            s.responses
                                .lock()
                                .unwrap()
                                .push((id, Err(String::from_utf8_lossy(&body).into_owned())));
                            axum::http::StatusCode::ACCEPTED
                        }
                    }
                }),
            )
            .route(
                "/2018-06-01/runtime/init/error",
                axum::routing::post({
                    let s = state.clone();
                    move |body: axum::body::Bytes| {
                        let s = s.clone();
                        async move {
                            *s.init_error.lock().unwrap() =
                                Some(String::from_utf8_lossy(&body).into_owned());
                            axum::http::StatusCode::ACCEPTED
                        }
                    }
                }),
            );
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap().to_string();
        tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        RuntimeApi { addr, ..api }
    }

    pub fn invoke(&self, id: &str, event: serde_json::Value) {
        self.pending
            .lock()
            .unwrap()
            .push_back((id.to_string(), event));
    }

    /// Wait for the response to invocation `id`.
    pub async fn response(
        &self,
        id: &str,
        timeout: Duration,
    ) -> Option<Result<serde_json::Value, String>> {
        let deadline = Instant::now() + timeout;
        while Instant::now() < deadline {
            if let Some((_, r)) = self.responses.lock().unwrap().iter().find(|(i, _)| i == id) {
                return Some(r.clone());
            }
            if let Some(e) = self.init_error.lock().unwrap().clone() {
                return Some(Err(format!("init error: {e}")));
            }
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        None
    }

    /// The environment Lambda gives a function, pointed at this API.
    pub fn lambda_env(&self, function: &str) -> Vec<(String, String)> {
        [
            ("AWS_LAMBDA_RUNTIME_API", self.addr.as_str()),
            ("AWS_LAMBDA_FUNCTION_NAME", function),
            ("AWS_LAMBDA_FUNCTION_VERSION", "$LATEST"),
            ("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "256"),
            ("AWS_LAMBDA_LOG_GROUP_NAME", "/aws/lambda/inlet"),
            (
                "AWS_LAMBDA_LOG_STREAM_NAME",
                "2026/11/23/[$LATEST]0123456789abcdef",
            ),
        ]
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
    }
}

/// A workspace binary next to the test executable (target/<profile>/NAME).
pub fn binary(name: &str) -> std::path::PathBuf {
    let exe = std::env::current_exe().unwrap();
    let profile_dir = exe.parent().and_then(|d| d.parent()).unwrap();
    let path = profile_dir.join(name);
    assert!(
        path.is_file(),
        "{} is not built: run `cargo build --workspace` (scripts/test does)",
        path.display()
    );
    path
}
