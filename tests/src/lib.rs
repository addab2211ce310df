//! Helpers for the integration suite: configs, an in-process `inlet dev`, signed requests,
//! a programmable HTTP sink server, and polling.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
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

/// A sink record as the worker hands it to a sink: `{provider}:{id}`, received now, from a
/// webhook, with no entity or version.
pub fn sink_record(
    provider: &str,
    event_type: &str,
    id: &str,
    payload: serde_json::Value,
) -> inlet_core::envelope::SinkRecord {
    inlet_core::envelope::SinkRecord {
        key: format!("{provider}:{id}"),
        provider: provider.into(),
        event_id: id.into(),
        event_type: Some(event_type.into()),
        source: inlet_core::envelope::Source::Webhook,
        received_at: time::OffsetDateTime::now_utc(),
        correlation_id: "c".into(),
        entity: None,
        version: None,
        payload,
    }
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

pub mod sink_server;
pub use sink_server::{SinkHit, SinkServer};

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

pub mod fake_api;
pub use fake_api::*;

pub mod moto;

pub mod faults;

pub mod runtime_api;

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

/// GET `url` and its body as text.
pub async fn get_text(client: &reqwest::Client, url: impl reqwest::IntoUrl) -> String {
    client.get(url).send().await.unwrap().text().await.unwrap()
}

/// POST a form, as a console page's button does.
pub async fn post_form(
    client: &reqwest::Client,
    url: impl reqwest::IntoUrl,
    body: impl Into<reqwest::Body>,
) -> reqwest::Response {
    client
        .post(url)
        .header("content-type", "application/x-www-form-urlencoded")
        .body(body)
        .send()
        .await
        .unwrap()
}

/// The CSRF token a console page's forms carry.
pub fn csrf_token(page: &str) -> String {
    page.split("name=\"csrf\" value=\"")
        .nth(1)
        .and_then(|rest| rest.split('"').next())
        .unwrap()
        .to_string()
}

/// A worker configuration written for a test: the defaults plus `toml` (a `[history]`
/// limit, `[schema] enabled = false`), for `Processor::from_config` — the wiring the
/// worker function and `inlet dev` use. The config names a stdout sink because one is
/// required; the test passes its own sinks to the processor. Panics on a config the test
/// itself got wrong.
pub fn worker_config(toml: &str) -> inlet_core::config::Config {
    let text = format!("{toml}\n[[sinks]]\nkind = \"stdout\"\n");
    match inlet_core::config::Config::from_toml_without_secrets(&text) {
        Ok(config) => config,
        Err(e) => panic!("the test's worker config: {e}"),
    }
}
