//! A whole webhook request through the ingest use case, as the Lambda function and
//! `inlet dev` both run it, against the example configuration: provider lookup, size and
//! media-type checks, signature verification (the harness signs half of its inputs with
//! the provider's secret, so the fuzzer gets past the MAC), the Slack handshake,
//! normalization, and the enqueue. Properties: every outcome is one of the documented
//! answers with a JSON body that never carries a secret; a 202 queued exactly one envelope,
//! under the key it answered with, that decodes back to itself.
#![no_main]

use std::sync::{Mutex, OnceLock};

use arbitrary::Arbitrary;
use inlet_core::config::Config;
use inlet_core::envelope::Envelope;
use inlet_core::headers::Headers;
use inlet_core::metrics::NoMetrics;
use inlet_core::ports::{ProviderHttp, Queue, Receipt, Received, StoreError};
use inlet_core::reply::ingest_reply;
use inlet_core::signature::{sign, SignRequest};
use inlet_core::usecase::ingest::{ingest, Accepted, WebhookRequest};
use libfuzzer_sys::fuzz_target;

const EXAMPLE: &str = include_str!("../../inlet.example.toml");
const NOW: i64 = 1_800_000_000;

fn config() -> &'static Config {
    static CONFIG: OnceLock<Config> = OnceLock::new();
    CONFIG.get_or_init(|| Config::from_toml(EXAMPLE, &|_| None).expect("the example config loads"))
}

/// The harness's queue: keeps what it is sent.
#[derive(Default)]
struct Kept(Mutex<Vec<Envelope>>);

#[async_trait::async_trait]
impl Queue for Kept {
    async fn send(&self, envelope: &Envelope) -> Result<(), StoreError> {
        self.0.lock().unwrap().push(envelope.clone());
        Ok(())
    }
    async fn receive(&self, _: usize, _: std::time::Duration) -> Result<Vec<Received>, StoreError> {
        Ok(Vec::new())
    }
    async fn ack(&self, _: &Receipt) -> Result<(), StoreError> {
        Ok(())
    }
    async fn retry_later(
        &self,
        _: &Receipt,
        _: std::time::Duration,
        _: &str,
    ) -> Result<(), StoreError> {
        Ok(())
    }
    async fn dead_letter(&self, _: &Receipt, _: &str) -> Result<(), StoreError> {
        Ok(())
    }
}

#[derive(Arbitrary, Debug)]
struct Input<'a> {
    provider: u8,
    /// Used instead of a configured name when `provider` picks past the list.
    other_provider: &'a str,
    headers: Vec<(&'a str, &'a [u8])>,
    body: &'a [u8],
    sign: bool,
    skew: i16,
    id: &'a str,
    get: bool,
    query: &'a str,
}

/// No network in the harness: every fetch fails (a certificate provider answers 503).
struct Offline;

#[async_trait::async_trait]
impl ProviderHttp for Offline {
    async fn certificate(&self, url: &str) -> Result<Vec<u8>, String> {
        Err(format!("offline: {url}"))
    }
    async fn visit(&self, url: &str) -> Result<(), String> {
        Err(format!("offline: {url}"))
    }
    async fn fetch_object(
        &self,
        url: &str,
        _: Option<&inlet_core::secret::Secret>,
    ) -> Result<Option<Vec<u8>>, String> {
        Err(format!("offline: {url}"))
    }
}

fuzz_target!(|input: Input<'_>| {
    let config = config();
    let names: Vec<&str> = config.providers.iter().map(|p| p.name.as_str()).collect();
    let provider = names
        .get(usize::from(input.provider))
        .copied()
        .unwrap_or(input.other_provider);
    let mut headers = Headers::new();
    for (name, value) in &input.headers {
        headers.insert(name, *value);
    }
    if let (true, Some(p)) = (input.sign, config.provider(provider)) {
        if let Some(secret) = p.secrets.first() {
            let req = SignRequest {
                body: input.body,
                secret,
                timestamp: NOW + i64::from(input.skew),
                id: input.id,
            };
            if let Ok(pairs) = sign(&p.scheme, &req) {
                for (name, value) in pairs {
                    headers.insert(&name, value);
                }
            }
        }
    }
    let queue = Kept::default();
    let request = WebhookRequest {
        provider,
        method: if input.get { "GET" } else { "POST" },
        query: input.query,
        headers: &headers,
        body: input.body,
        received_at: time::OffsetDateTime::from_unix_timestamp(NOW).unwrap(),
        correlation_id: "fuzz",
    };
    let result = futures::executor::block_on(ingest(config, &queue, &NoMetrics, &Offline, &request));
    let reply = ingest_reply(&result);
    assert!(
        [200, 202, 400, 401, 404, 405, 413, 415].contains(&reply.status),
        "undocumented status {}: {result:?}",
        reply.status
    );
    let body: serde_json::Value = serde_json::from_str(&reply.body).expect("a JSON body");
    // A reply may echo what the sender sent (an unknown provider's name, a JSON error);
    // a secret the sender did not send must never appear in it.
    let sent = |needle: &str| {
        let n = needle.as_bytes();
        let within = |hay: &[u8]| hay.windows(n.len()).any(|w| w == n);
        within(input.body)
            || within(provider.as_bytes())
            || within(input.id.as_bytes())
            || input
                .headers
                .iter()
                .any(|(k, v)| within(k.as_bytes()) || within(v))
    };
    for p in &config.providers {
        for s in &p.secrets {
            assert!(
                sent(s.expose()) || !reply.body.contains(s.expose()),
                "a secret in the reply"
            );
        }
    }
    let kept = queue.0.into_inner().unwrap();
    match result {
        Ok(Accepted::Enqueued { key }) => {
            assert_eq!(kept.len(), 1);
            assert_eq!(kept[0].key, key);
            assert_eq!(body["key"].as_str(), Some(key.as_str()));
            let back = Envelope::from_json(kept[0].to_json().as_bytes()).unwrap();
            assert!(back == kept[0]);
        }
        _ => assert!(kept.is_empty(), "queued without a 202"),
    }
});
