//! Helpers for the integration suite: configs, an in-process `inlet dev`, signed requests,
//! a programmable HTTP sink server, and polling.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::VecDeque;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use inlet_cli::dev::{self, DevOptions, Running};
use inlet_core::config::Config;
use inlet_core::secret::Secret;
use inlet_core::signature::{sign, Scheme, SignRequest};

pub mod aws_limits;
pub mod bench;
pub mod item_locks;
pub mod move_tasks;
pub mod partitions;
pub mod preset_fakes;

pub const STRIPE_SECRET: &str = "whsec_test_stripe_secret";
pub const GITHUB_SECRET: &str = "test-github-secret";
pub const SHOPIFY_SECRET: &str = "test-shopify-secret";
pub const SLACK_SECRET: &str = "test-slack-secret";
pub const STANDARD_SECRET: &str = "whsec_dGVzdC1zdGFuZGFyZC13ZWJob29rcy1zZWNyZXQ=";
pub const ERP_SECRET: &str = "test-erp-secret";

/// Providers of every scheme, with test secrets.
pub fn providers_toml() -> String {
    format!(
        r#"
[[providers]]
name = "stripe"
scheme = "stripe"
secrets = ["whsec_retired_secret", "{STRIPE_SECRET}"]

[[providers]]
name = "github"
scheme = "github"
secrets = ["{GITHUB_SECRET}"]

[[providers]]
name = "shopify"
scheme = "shopify"
secrets = ["{SHOPIFY_SECRET}"]

[[providers]]
name = "slack"
scheme = "slack"
secrets = ["{SLACK_SECRET}"]

[[providers]]
name = "acme"
scheme = "standard-webhooks"
secrets = ["{STANDARD_SECRET}"]

[[providers]]
name = "svixco"
scheme = "svix"
secrets = ["{STANDARD_SECRET}"]

[[providers]]
name = "erp"
scheme = "hmac"
secrets = ["{ERP_SECRET}"]
header = "X-Erp-Signature"
prefix = "sha256="
timestamp_header = "X-Erp-Timestamp"
id_pointer = "/event_id"
entity_pointer = "/order/id"
version_pointer = "/order/version"

[[providers]]
name = "tiny"
scheme = "github"
secrets = ["{GITHUB_SECRET}"]
max_body_bytes = 64
"#
    )
}

/// A worker section tuned for tests: fast backoff, short leases.
pub fn fast_worker_toml(max_receive: u32) -> String {
    format!(
        r#"
[worker]
batch_size = 10
visibility_timeout_secs = 2
lease_secs = 1
max_receive = {max_receive}
backoff_base_ms = 20
backoff_max_secs = 1
poll_interval_ms = 20
"#
    )
}

pub fn file_sink_toml(path: &Path) -> String {
    format!(
        "\n[[sinks]]\nkind = \"file\"\npath = {:?}\n",
        path.display().to_string()
    )
}

/// An HTTP sink that fits [`fast_worker_toml`]'s 1 s lease (its slowest delivery must end a
/// quarter of the lease before it does).
pub fn http_sink_toml(url: &str) -> String {
    format!("\n[[sinks]]\nkind = \"http\"\nurl = {url:?}\nattempts = 1\ntimeout_ms = 700\n")
}

pub fn parse_config(text: &str) -> Config {
    Config::from_toml(text, &|_| None).unwrap_or_else(|e| panic!("test config invalid: {e}"))
}

/// An in-process `inlet dev` on 127.0.0.1:0 with its own data directory.
pub struct Dev {
    running: Option<Running>,
    pub addr: SocketAddr,
    pub data_dir: PathBuf,
}

impl Dev {
    pub async fn start(config_text: &str, data_dir: &Path) -> Dev {
        Self::start_with(config_text, data_dir, |_| {}).await
    }

    pub async fn start_with(
        config_text: &str,
        data_dir: &Path,
        tweak: impl FnOnce(&mut DevOptions),
    ) -> Dev {
        let mut opts = DevOptions::new(
            parse_config(config_text),
            "127.0.0.1:0".parse().unwrap(),
            data_dir.to_path_buf(),
        );
        tweak(&mut opts);
        let running = dev::start(opts).await.expect("inlet dev starts");
        Dev {
            addr: running.addr,
            running: Some(running),
            data_dir: data_dir.to_path_buf(),
        }
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }

    pub fn store(&self) -> &inlet_local::Store {
        self.running
            .as_ref()
            .unwrap()
            .store()
            .expect("the local backend")
    }

    pub async fn stop(mut self) {
        if let Some(r) = self.running.take() {
            r.shutdown().await;
        }
    }
}

/// Start the `inlet` binary at `bin` as `inlet dev` on 127.0.0.1:0 with `dir/inlet.toml` and
/// `dir/data`, and `env` set (`None` removes a variable); returns the child and its base
/// URL once it prints where it listens. Its stdout is drained so it never blocks.
pub fn spawn_dev(
    bin: &Path,
    dir: &Path,
    env: &[(&str, Option<&str>)],
) -> (std::process::Child, String) {
    use std::io::BufRead;
    use std::process::{Command, Stdio};
    let mut cmd = Command::new(bin);
    cmd.args(["dev", "--listen", "127.0.0.1:0", "--config"])
        .arg(dir.join("inlet.toml"))
        .arg("--data-dir")
        .arg(dir.join("data"))
        .stdout(Stdio::piped())
        .stderr(Stdio::null());
    for (name, value) in env {
        match value {
            Some(v) => cmd.env(name, v),
            None => cmd.env_remove(name),
        };
    }
    let mut child = cmd.spawn().expect("inlet starts");
    let stdout = child.stdout.take().unwrap();
    let mut lines = std::io::BufReader::new(stdout).lines();
    let base = loop {
        let line = lines
            .next()
            .expect("inlet prints where it listens")
            .unwrap();
        if let Some(rest) = line.strip_prefix("listening on ") {
            break rest.split_whitespace().next().unwrap().to_string();
        }
    };
    std::thread::spawn(move || for _ in lines {});
    (child, base)
}

/// DynamoDB JSON (`{"S": …}`, `{"N": …}`) of a stored item, as a stream record carries it.
pub fn dynamodb_json(
    item: &std::collections::HashMap<String, aws_sdk_dynamodb::types::AttributeValue>,
) -> serde_json::Value {
    serde_json::Value::Object(dynamodb_wire(item))
}

/// An item's attributes in DynamoDB JSON, by name.
fn dynamodb_wire(
    item: &std::collections::HashMap<String, aws_sdk_dynamodb::types::AttributeValue>,
) -> serde_json::Map<String, serde_json::Value> {
    item.iter()
        .map(|(k, v)| (k.clone(), attribute_json(v)))
        .collect()
}

/// One attribute value in DynamoDB JSON.
fn attribute_json(v: &aws_sdk_dynamodb::types::AttributeValue) -> serde_json::Value {
    use aws_sdk_dynamodb::types::AttributeValue as V;
    use base64::Engine as _;
    match v {
        V::S(s) => serde_json::json!({ "S": s }),
        V::N(n) => serde_json::json!({ "N": n }),
        V::Bool(b) => serde_json::json!({ "BOOL": b }),
        V::B(b) => {
            serde_json::json!({ "B": base64::engine::general_purpose::STANDARD.encode(b.as_ref()) })
        }
        V::L(l) => serde_json::json!({ "L": l.iter().map(attribute_json).collect::<Vec<_>>() }),
        V::M(m) => serde_json::json!({ "M": dynamodb_json(m) }),
        other => panic!("unexpected attribute {other:?}"),
    }
}

/// An item's size as DynamoDB bills it ([`aws_limits::item_size`]), and its write units:
/// one per KB of the item, rounded up
/// (<https://docs.aws.amazon.com/amazondynamodb/latest/developerguide/read-write-operations.html>).
pub fn dynamodb_item_size_and_units(
    item: &std::collections::HashMap<String, aws_sdk_dynamodb::types::AttributeValue>,
) -> (usize, usize) {
    let size = aws_limits::item_size(&dynamodb_wire(item));
    (size, size.div_ceil(1024).max(1))
}

/// One stream record in the shape of AWS's documented example event.
pub fn stream_record(name: &str, seq: &str, image: serde_json::Value) -> serde_json::Value {
    serde_json::json!({
        "eventID": format!("evt-{seq}"),
        "eventName": name,
        "eventVersion": "1.1",
        "eventSource": "aws:dynamodb",
        "awsRegion": "us-east-1",
        "dynamodb": {
            "ApproximateCreationDateTime": 1_800_000_000,
            "Keys": { "pk": image["pk"].clone() },
            "NewImage": image,
            "SequenceNumber": seq,
            "SizeBytes": 512,
            "StreamViewType": "NEW_IMAGE"
        },
        "eventSourceARN": "arn:aws:dynamodb:us-east-1:123456789012:table/inlet/stream/2026-11-28T00:00:00.000"
    })
}

/// Headers signing `body` for `scheme` with `secret` at `timestamp`.
pub fn signed(
    scheme: &Scheme,
    secret: &str,
    body: &[u8],
    timestamp: i64,
    id: &str,
) -> Vec<(String, String)> {
    sign(
        scheme,
        &SignRequest {
            body,
            secret: &Secret::new(secret),
            timestamp,
            id,
        },
    )
    .unwrap()
}

pub fn now_unix() -> i64 {
    time::OffsetDateTime::now_utc().unix_timestamp()
}

/// A Stripe event body.
pub fn stripe_event(id: &str, kind: &str, object_id: &str, created: i64) -> String {
    serde_json::json!({
        "id": id, "object": "event", "type": kind, "created": created,
        "data": { "object": { "id": object_id, "object": "invoice", "customer_email": "someone@example.com" } }
    })
    .to_string()
}

/// A Stripe `invoice.paid` event with `lines` invoice lines (~130 bytes each): ~2.2 KB
/// with 14, the size of the issue's measurement.
pub fn stripe_invoice_with_lines(id: &str, object_id: &str, lines: usize) -> String {
    let lines: Vec<serde_json::Value> = (0..lines)
        .map(|l| serde_json::json!({"id": format!("il_{object_id}_{l}"), "amount": 1299 + l, "currency": "eur", "description": "Subscription (Pro plan, monthly)", "period": {"start": 1795000000, "end": 1797600000}}))
        .collect();
    serde_json::json!({
        "id": id, "object": "event", "type": "invoice.paid", "created": now_unix(),
        "data": {"object": {"id": object_id, "object": "invoice", "customer_email": "someone@example.com", "lines": {"data": lines}}}
    })
    .to_string()
}

/// A Stripe event body normalized into the envelope the webhook would queue for it.
pub fn stripe_envelope(body: &str) -> inlet_core::envelope::Envelope {
    let p = inlet_core::ids::ProviderName::parse("stripe").unwrap();
    inlet_core::normalize::normalize(
        &inlet_core::normalize::Incoming {
            provider: &p,
            scheme: &Scheme::Stripe,
            headers: &inlet_core::headers::Headers::new(),
            body: body.as_bytes(),
            received_at: time::OffsetDateTime::now_utc(),
            correlation_id: "c",
            source: inlet_core::envelope::Source::Webhook,
        },
        &Default::default(),
    )
    .unwrap()
}

/// A POST of `body` to `{base}/webhooks/stripe`, signed with the test secret, not yet sent:
/// for callers that must survive a server that dies or read the response's headers.
pub fn stripe_request(client: &reqwest::Client, base: &str, body: &str) -> reqwest::RequestBuilder {
    let mut req = client
        .post(format!("{base}/webhooks/stripe"))
        .body(body.to_string());
    for (k, v) in signed(
        &Scheme::Stripe,
        STRIPE_SECRET,
        body.as_bytes(),
        now_unix(),
        "",
    ) {
        req = req.header(k, v);
    }
    req
}

/// POST a Stripe event signed with the test secret.
pub async fn post_stripe(
    client: &reqwest::Client,
    base: &str,
    body: &str,
) -> (u16, serde_json::Value) {
    let headers = signed(
        &Scheme::Stripe,
        STRIPE_SECRET,
        body.as_bytes(),
        now_unix(),
        "",
    );
    post(
        client,
        &format!("{base}/webhooks/stripe"),
        &headers,
        body.as_bytes().to_vec(),
    )
    .await
}

pub async fn post(
    client: &reqwest::Client,
    url: &str,
    headers: &[(String, String)],
    body: Vec<u8>,
) -> (u16, serde_json::Value) {
    let mut req = client.post(url).body(body);
    for (k, v) in headers {
        req = req.header(k.as_str(), v.as_str());
    }
    let resp = req.send().await.expect("request sent");
    let status = resp.status().as_u16();
    let text = resp.text().await.unwrap_or_default();
    let json =
        serde_json::from_str(&text).unwrap_or_else(|_| panic!("non-JSON reply {status}: {text:?}"));
    (status, json)
}

/// The complete lines of a JSON-lines sink file (a line still being written is skipped).
pub fn read_jsonl(path: &Path) -> Vec<serde_json::Value> {
    let text = std::fs::read_to_string(path).unwrap_or_default();
    let complete = match text.rfind('\n') {
        Some(end) => &text[..end],
        None => "",
    };
    complete
        .lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| serde_json::from_str(l).expect("sink line is JSON"))
        .collect()
}

/// The barrier before asserting that nothing more happened: the embedded store's queue is
/// empty and nothing is in flight, so every accepted event has been handled and settled
/// (within 15 s; whether it got there is returned). A sleep cannot tell "nothing more
/// happened" from "not yet"; this can.
pub async fn settled(store: &inlet_local::Store) -> bool {
    wait_until(Duration::from_secs(15), || {
        futures::executor::block_on(store.status())
            .map(|s| s.queue_depth == 0 && s.in_flight == 0)
            .unwrap_or(false)
    })
    .await
}

/// Poll `check` until it holds or `timeout` passes; returns whether it held.
pub async fn wait_until(timeout: Duration, mut check: impl FnMut() -> bool) -> bool {
    let deadline = Instant::now() + timeout;
    loop {
        if check() {
            return true;
        }
        if Instant::now() >= deadline {
            return false;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

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

/// A real Lambda event from `tests/fixtures/events`.
pub fn event_fixture(name: &str) -> serde_json::Value {
    let path = format!("{}/fixtures/events/{name}", env!("CARGO_MANIFEST_DIR"));
    serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
}

/// An API Gateway HTTP API (v2) event POSTing `body` to `/webhooks/stripe`, signed with
/// `secret` by Stripe's scheme.
pub fn stripe_http_event(body: &str, secret: &str) -> serde_json::Value {
    let mut event = event_fixture("apigw-http-v2.json");
    for (k, v) in signed(
        &inlet_core::signature::Scheme::Stripe,
        secret,
        body.as_bytes(),
        now_unix(),
        "",
    ) {
        event["headers"][k.to_ascii_lowercase()] = v.into();
    }
    event["body"] = body.into();
    event
}

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

/// The AWS emulator (moto) that `scripts/test` starts on a free loopback port.
pub mod moto {
    use aws_sdk_dynamodb::types::{
        AttributeDefinition, BillingMode, GlobalSecondaryIndex, KeySchemaElement, KeyType,
        Projection, ProjectionType, ScalarAttributeType,
    };
    use aws_sdk_sqs::types::QueueAttributeName;

    /// The emulator as the tests see it: behind a strict proxy that enforces AWS's
    /// documented limits and fakes the message-move tasks moto lacks
    /// ([`crate::faults::strict`]). `endpoint` and `sdk` go through the proxy; `upstream`
    /// is moto itself.
    pub struct Moto {
        pub endpoint: String,
        pub upstream: String,
        pub sdk: aws_config::SdkConfig,
    }

    /// An SDK configuration for an emulator at `endpoint`, with test credentials.
    pub async fn sdk_for(endpoint: &str) -> aws_config::SdkConfig {
        aws_config::defaults(aws_config::BehaviorVersion::latest())
            .endpoint_url(endpoint)
            .region(aws_config::Region::new("us-east-1"))
            .credentials_provider(aws_sdk_sqs::config::Credentials::new(
                "testing", "testing", None, None, "moto",
            ))
            .load()
            .await
    }

    /// A name no other test uses.
    pub fn unique(prefix: &str) -> String {
        format!("{prefix}-{:016x}", fastrand_u64())
    }

    fn fastrand_u64() -> u64 {
        use std::hash::{BuildHasher, Hasher};
        let mut h = std::collections::hash_map::RandomState::new().build_hasher();
        h.write_u128(
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .unwrap_or_default()
                .as_nanos(),
        );
        h.finish()
    }

    impl Moto {
        /// Connect to the emulator named by `INLET_TEST_AWS_ENDPOINT`, through a strict
        /// proxy of this test's own.
        pub async fn connect() -> Moto {
            Self::connect_with(crate::faults::forward_all()).await
        }

        /// Like [`connect`](Self::connect), with `rule` deciding first (faults, chaos).
        pub async fn connect_with(rule: crate::faults::Rule) -> Moto {
            let upstream = std::env::var("INLET_TEST_AWS_ENDPOINT")
                .expect("INLET_TEST_AWS_ENDPOINT is not set: run scripts/test, which starts moto on a free port");
            let proxy =
                crate::faults::FaultProxy::start(&upstream, crate::faults::strict(&upstream, rule))
                    .await;
            let sdk = sdk_for(&proxy.endpoint).await;
            Moto {
                endpoint: proxy.endpoint,
                upstream,
                sdk,
            }
        }

        pub fn s3(&self) -> aws_sdk_s3::Client {
            inlet_aws::large_events::s3_client(&self.sdk)
        }

        /// A bucket for events too large for EventBridge.
        pub async fn bucket(&self) -> String {
            let name = unique("inlet-payloads");
            self.s3()
                .create_bucket()
                .bucket(&name)
                .send()
                .await
                .unwrap();
            name
        }

        pub fn sqs(&self) -> aws_sdk_sqs::Client {
            aws_sdk_sqs::Client::new(&self.sdk)
        }

        pub fn dynamodb(&self) -> aws_sdk_dynamodb::Client {
            aws_sdk_dynamodb::Client::new(&self.sdk)
        }

        /// A work queue and its DLQ with a redrive policy of `max_receive`.
        pub async fn queues(&self, max_receive: u32, fifo: bool) -> (String, String) {
            let sqs = self.sqs();
            let suffix = if fifo { ".fifo" } else { "" };
            let base = unique("inlet");
            let mut dlq = sqs.create_queue().queue_name(format!("{base}-dlq{suffix}"));
            if fifo {
                dlq = dlq.attributes(QueueAttributeName::FifoQueue, "true");
            }
            let dlq_url = dlq.send().await.unwrap().queue_url.unwrap();
            let dlq_arn = sqs
                .get_queue_attributes()
                .queue_url(&dlq_url)
                .attribute_names(QueueAttributeName::QueueArn)
                .send()
                .await
                .unwrap()
                .attributes
                .unwrap()[&QueueAttributeName::QueueArn]
                .clone();
            let mut q = sqs
                .create_queue()
                .queue_name(format!("{base}{suffix}"))
                .attributes(
                QueueAttributeName::RedrivePolicy,
                serde_json::json!({"deadLetterTargetArn": dlq_arn, "maxReceiveCount": max_receive})
                    .to_string(),
            );
            if fifo {
                q = q.attributes(QueueAttributeName::FifoQueue, "true");
            }
            let queue_url = q.send().await.unwrap().queue_url.unwrap();
            (queue_url, dlq_url)
        }

        /// The single table the stack creates (partition key `pk`, the sparse `pending`
        /// index), as `template.yaml` declares it.
        pub async fn table(&self) -> String {
            let name = unique("inlet");
            let key = |name: &str, kind: KeyType| {
                KeySchemaElement::builder()
                    .attribute_name(name)
                    .key_type(kind)
                    .build()
                    .unwrap()
            };
            let attribute = |name: &str, kind: ScalarAttributeType| {
                AttributeDefinition::builder()
                    .attribute_name(name)
                    .attribute_type(kind)
                    .build()
                    .unwrap()
            };
            self.dynamodb()
                .create_table()
                .table_name(&name)
                .key_schema(key("pk", KeyType::Hash))
                .attribute_definitions(attribute("pk", ScalarAttributeType::S))
                .attribute_definitions(attribute("pq", ScalarAttributeType::S))
                .attribute_definitions(attribute("pa", ScalarAttributeType::N))
                .attribute_definitions(attribute("ed", ScalarAttributeType::S))
                .attribute_definitions(attribute("rk", ScalarAttributeType::S))
                .global_secondary_indexes(
                    GlobalSecondaryIndex::builder()
                        .index_name(inlet_aws::conflicts::PENDING_INDEX)
                        .key_schema(key("pq", KeyType::Hash))
                        .key_schema(key("pa", KeyType::Range))
                        .projection(
                            Projection::builder()
                                .projection_type(ProjectionType::All)
                                .build(),
                        )
                        .build()
                        .unwrap(),
                )
                .global_secondary_indexes(
                    GlobalSecondaryIndex::builder()
                        .index_name(inlet_aws::history::EVENTS_INDEX)
                        .key_schema(key("ed", KeyType::Hash))
                        .key_schema(key("rk", KeyType::Range))
                        .projection(
                            Projection::builder()
                                .projection_type(ProjectionType::Include)
                                .set_non_key_attributes(Some(
                                    inlet_aws::history::EVENTS_INDEX_ATTRIBUTES
                                        .iter()
                                        .map(|a| a.to_string())
                                        .collect(),
                                ))
                                .build(),
                        )
                        .build()
                        .unwrap(),
                )
                .billing_mode(BillingMode::PayPerRequest)
                .send()
                .await
                .unwrap();
            name
        }

        /// A table of its own whose hash key is the string attribute `key`.
        pub async fn table_keyed(&self, key: &str) -> String {
            let name = unique("inlet");
            self.dynamodb()
                .create_table()
                .table_name(&name)
                .key_schema(
                    KeySchemaElement::builder()
                        .attribute_name(key)
                        .key_type(KeyType::Hash)
                        .build()
                        .unwrap(),
                )
                .attribute_definitions(
                    AttributeDefinition::builder()
                        .attribute_name(key)
                        .attribute_type(ScalarAttributeType::S)
                        .build()
                        .unwrap(),
                )
                .billing_mode(BillingMode::PayPerRequest)
                .send()
                .await
                .unwrap();
            name
        }

        /// The item `pk` of `table` as stored (empty when there is none).
        pub async fn stored_item(
            &self,
            table: &str,
            pk: &str,
        ) -> std::collections::HashMap<String, aws_sdk_dynamodb::types::AttributeValue> {
            self.dynamodb()
                .get_item()
                .table_name(table)
                .key("pk", aws_sdk_dynamodb::types::AttributeValue::S(pk.into()))
                .consistent_read(true)
                .send()
                .await
                .unwrap()
                .item
                .unwrap_or_default()
        }

        /// An event bus of its own.
        pub async fn bus(&self) -> String {
            let bus = unique("bus");
            aws_sdk_eventbridge::Client::new(&self.sdk)
                .create_event_bus()
                .name(&bus)
                .send()
                .await
                .unwrap();
            bus
        }

        /// An event bus and an SQS queue subscribed (by a rule) to everything Inlet
        /// publishes on it: (bus name, observer queue URL).
        pub async fn bus_with_observer(&self) -> (String, String) {
            let events = aws_sdk_eventbridge::Client::new(&self.sdk);
            let bus = self.bus().await;
            let observer = self
                .sqs()
                .create_queue()
                .queue_name(unique("observer"))
                .send()
                .await
                .unwrap()
                .queue_url
                .unwrap();
            let arn = self
                .sqs()
                .get_queue_attributes()
                .queue_url(&observer)
                .attribute_names(QueueAttributeName::QueueArn)
                .send()
                .await
                .unwrap()
                .attributes
                .unwrap()[&QueueAttributeName::QueueArn]
                .clone();
            events
                .put_rule()
                .name("inlet-to-observer")
                .event_bus_name(&bus)
                .event_pattern(serde_json::json!({"source": [{"prefix": "inlet."}]}).to_string())
                .send()
                .await
                .unwrap();
            events
                .put_targets()
                .rule("inlet-to-observer")
                .event_bus_name(&bus)
                .targets(
                    aws_sdk_eventbridge::types::Target::builder()
                        .id("observer")
                        .arn(arn)
                        .build()
                        .unwrap(),
                )
                .send()
                .await
                .unwrap();
            (bus, observer)
        }

        /// Receive up to ten messages (hidden for `visibility` seconds) and shape them as the
        /// SQS event Lambda's event source mapping delivers.
        pub async fn sqs_event(
            &self,
            queue_url: &str,
            arn: &str,
            visibility: i32,
        ) -> serde_json::Value {
            let out = self
                .sqs()
                .receive_message()
                .queue_url(queue_url)
                .max_number_of_messages(10)
                .visibility_timeout(visibility)
                .message_system_attribute_names(aws_sdk_sqs::types::MessageSystemAttributeName::All)
                .send()
                .await
                .unwrap();
            let records: Vec<serde_json::Value> = out
                .messages
                .unwrap_or_default()
                .into_iter()
                .map(|m| {
                    let attrs: serde_json::Map<String, serde_json::Value> = m
                        .attributes
                        .unwrap_or_default()
                        .into_iter()
                        .map(|(k, v)| (k.as_str().to_string(), v.into()))
                        .collect();
                    serde_json::json!({
                        "messageId": m.message_id, "receiptHandle": m.receipt_handle, "body": m.body,
                        "attributes": attrs, "messageAttributes": {}, "md5OfBody": m.md5_of_body,
                        "eventSource": "aws:sqs", "eventSourceARN": arn, "awsRegion": "us-east-1"
                    })
                })
                .collect();
            serde_json::json!({ "Records": records })
        }

        /// The same emulator without the proxy: for what stands in for AWS's own side of
        /// a test (an event source mapping polling the queue, a stream's records, a
        /// consumer), which a fault injected into the system under test must not hit.
        pub async fn direct(&self) -> Moto {
            Moto {
                endpoint: self.upstream.clone(),
                upstream: self.upstream.clone(),
                sdk: sdk_for(&self.upstream).await,
            }
        }

        /// A queue whose large bodies go through a claim check in `table`.
        pub fn queue_with_claim_check(
            &self,
            queue_url: &str,
            dlq_url: &str,
            table: &str,
        ) -> inlet_aws::SqsQueue {
            self.queue(queue_url, dlq_url).with_claim_check(
                inlet_aws::claim_check::ClaimCheck::new(self.dynamodb(), table),
            )
        }

        pub fn queue(&self, queue_url: &str, dlq_url: &str) -> inlet_aws::SqsQueue {
            inlet_aws::SqsQueue::new(
                self.sqs(),
                inlet_aws::SqsQueueConfig {
                    queue_url: queue_url.to_string(),
                    dlq_url: dlq_url.to_string(),
                    wait_secs: 0,
                },
            )
        }
    }
}

/// A real HTTP proxy in front of the AWS emulator that injects faults by operation
/// (`X-Amz-Target`), for what moto cannot do: throttling, partial failures.
pub mod faults {
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
        let tasks =
            crate::move_tasks::MoveTasks::new(upstream, std::time::Duration::from_millis(20));
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
                        a @ (Action::Respond(..) | Action::RespondWith { .. }) => {
                            return respond(a)
                        }
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
}

/// A Lambda Runtime API on loopback (the protocol `lambda_runtime` speaks), so the real
/// function binaries run here as they do in Lambda: poll `next`, post a response.
pub mod runtime_api {
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
                                s.first_poll.lock().unwrap().get_or_insert_with(Instant::now);
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
                                            .header("lambda-runtime-invoked-function-arn", "arn:aws:lambda:us-east-1:123456789012:function:inlet")
                                            .header("lambda-runtime-trace-id", "Root=1-5e6b8b0e-4f2c1c4a3b1b1c2b3c4d5e6f;Sampled=0")
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
                        move |axum::extract::Path(id): axum::extract::Path<String>, body: axum::body::Bytes| {
                            let s = s.clone();
                            async move {
                                let v = serde_json::from_slice(&body).unwrap_or(serde_json::Value::Null);
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
                        move |axum::extract::Path(id): axum::extract::Path<String>, body: axum::body::Bytes| {
                            let s = s.clone();
                            async move {
                                s.responses.lock().unwrap().push((id, Err(String::from_utf8_lossy(&body).into_owned())));
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
                                *s.init_error.lock().unwrap() = Some(String::from_utf8_lossy(&body).into_owned());
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
}

/// The independent signature vectors: regenerated with fresh keys by `scripts/test`
/// (`INLET_INDEPENDENT_VECTORS`), else the committed fixture.
pub fn independent_vectors() -> Vec<serde_json::Value> {
    let path = std::env::var("INLET_INDEPENDENT_VECTORS").unwrap_or_else(|_| {
        concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/fixtures/independent_vectors.json"
        )
        .to_string()
    });
    let doc: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
    doc["cases"].as_array().unwrap().clone()
}
