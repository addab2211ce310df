//! Replay-proof presets, across the whole catalogue: a captured request replayed later, or
//! with anything its signature does not cover changed, never becomes a second delivery.
//!
//! For every preset a genuine signed request is delivered through `inlet dev`; then the
//! same request is sent again (a) as captured longer ago than the preset's tolerance,
//! (b) with each header the preset reads but does not sign given a fresh value, and once
//! duplicated, (c) with another query string. Each must be refused (401), acknowledged as a
//! duplicate, or refused as a replay by the worker. Only presets whose documented replay
//! protection is "none" (nothing signs the request) may deliver again. The list is the
//! catalogue itself: a preset added later is covered, or this test says why it cannot be.

use std::collections::{BTreeSet, HashMap};
use std::sync::Arc;

use inlet_core::usecase::process::WorkerStores;
use std::time::Duration;

use inlet_core::catalogue::{Field, Preset, ReplayProtection, Settings, Verify, PRESETS};
use inlet_core::metrics::names;
use inlet_core::secret::Secret;
use inlet_core::signature::{sign_request, KeyAlgorithm, Scheme, SignRequest};
use inlet_tests::*;

const PUBLIC_URL: &str = "https://hooks.example.com/webhooks/signed";
const RSA_KEY: &str =
    include_str!("../../../shared/signatures/src/catalogue/testdata/rsa-test-key.pem");

/// The secret in the shape the preset needs (a private key where it verifies with a public
/// one: the config takes a PKCS#8 private key and verifies with its public half).
fn secret_for(p: &Preset) -> String {
    use ed25519_dalek::pkcs8::EncodePrivateKey as _;
    let pem = |doc: ed25519_dalek::pkcs8::SecretDocument| {
        doc.to_pem("PRIVATE KEY", Default::default())
            .unwrap()
            .to_string()
    };
    match &p.verify {
        Verify::Key(row) => match row.algorithm {
            KeyAlgorithm::Ed25519 => pem(ed25519_dalek::SigningKey::from_bytes(&[7; 32])
                .to_pkcs8_der()
                .unwrap()),
            KeyAlgorithm::EcdsaP256 => pem(p256::ecdsa::SigningKey::from_bytes(&[7; 32].into())
                .unwrap()
                .to_pkcs8_der()
                .unwrap()),
            KeyAlgorithm::RsaSha256 => RSA_KEY.to_string(),
        },
        Verify::Basic => "user:replay-pass".into(),
        Verify::Body(inlet_core::signature::BodyScheme::Adyen) => "4a".repeat(32),
        Verify::Builtin(f) if matches!(f(), Scheme::StandardWebhooks | Scheme::Svix) => {
            STANDARD_SECRET.into()
        }
        _ => "replay-test-secret".into(),
    }
}

/// A body each preset accepts as one ordinary event.
fn body_for(p: &Preset) -> Vec<u8> {
    let text = match p.name {
        "twilio" => "MessageSid=SM1&Body=hello+there&From=%2B15550100".to_string(),
        "mollie" => "id=tr_WDqYK6vllg".to_string(),
        "adyen" => r#"{"live":"false","notificationItems":[{"NotificationRequestItem":{"pspReference":"7914073381342284","merchantAccountCode":"Shop","merchantReference":"order-1","amount":{"value":1130,"currency":"EUR"},"eventCode":"AUTHORISATION","success":"true"}}]}"#.to_string(),
        "microsoft-graph" => r#"{"value":[{"subscriptionId":"s1","changeType":"updated","resource":"Users/42"}]}"#.to_string(),
        _ => r#"{"id":"evt_replay_1","type":"invoice.paid","event":"invoice.paid","data":{"id":"in_1","object":{"id":"in_1","object":"invoice"}}}"#.to_string(),
    };
    text.into_bytes()
}

/// Every header a preset's normalization may read (ids, types, entities, versions), with
/// the built-in schemes' own.
fn read_headers(p: &Preset, scheme: &Scheme) -> BTreeSet<String> {
    let c = &p.conventions;
    let mut out: BTreeSet<String> = [
        c.id,
        c.event_type,
        c.entity_type,
        c.entity_id,
        c.version,
        c.id_suffix,
    ]
    .iter()
    .flat_map(|fields| fields.iter())
    .filter_map(|f| match f {
        Field::Header(h) => Some(h.to_ascii_lowercase()),
        _ => None,
    })
    .collect();
    let builtin: &[&str] = match scheme {
        Scheme::Github => &["x-github-delivery", "x-github-event"],
        Scheme::Shopify => &["x-shopify-webhook-id", "x-shopify-topic"],
        Scheme::Gitlab => &["idempotency-key", "x-gitlab-event"],
        Scheme::Twilio { .. } => &["i-twilio-idempotency-token"],
        _ => &[],
    };
    out.extend(builtin.iter().map(|h| h.to_string()));
    out
}

/// Whether the event id is read from header `h` for the test's body (a body id, where the
/// preset reads one first, wins).
fn is_id_header(p: &Preset, scheme: &Scheme, h: &str) -> bool {
    if p.has_conventions() {
        return matches!(p.conventions.id.first(), Some(Field::Header(x)) if x.eq_ignore_ascii_case(h));
    }
    match scheme {
        Scheme::Github => h == "x-github-delivery",
        Scheme::Shopify => h == "x-shopify-webhook-id",
        Scheme::Twilio { .. } => h == "i-twilio-idempotency-token",
        _ => false,
    }
}

fn provider_toml(p: &Preset) -> String {
    let secrets = if matches!(p.verify, Verify::Unsigned) {
        String::new()
    } else {
        format!("{:?}", secret_for(p))
    };
    let mut t = format!(
        "\n[[providers]]\nname = {:?}\nscheme = {:?}\nsecrets = [{secrets}]\n",
        p.name, p.name
    );
    if p.handshake == Some(inlet_core::handshake::Handshake::Meta) {
        t.push_str("verify_token = \"replay-verify\"\n");
    }
    if p.name == "hmac" {
        // The generic family: the defaults, named (HMAC-SHA256, hex, of the body).
        t.push_str("header = \"x-signature\"\n");
    }
    if p.takes_url() {
        t.push_str(&format!("public_url = {PUBLIC_URL:?}\n"));
    }
    if matches!(p.verify, Verify::Token(None)) {
        t.push_str("header = \"x-hook-token\"\n");
    }
    t
}

/// The preset's scheme as the config builds it.
fn scheme_for(p: &Preset) -> Scheme {
    p.scheme(Settings {
        public_url: p.takes_url().then_some(PUBLIC_URL),
        header: matches!(p.verify, Verify::Token(None)).then_some("x-hook-token"),
    })
    .unwrap()
}

/// A request: body and headers.
type Request = (Vec<u8>, Vec<(String, String)>);

fn sign_at(p: &Preset, scheme: &Scheme, at: i64) -> Request {
    let secret = Secret::new(secret_for(p));
    let signed = sign_request(
        scheme,
        &SignRequest {
            body: &body_for(p),
            secret: &secret,
            timestamp: at,
            id: "msg_replay_1",
        },
    )
    .unwrap_or_else(|e| panic!("{}: {e}", p.name));
    let mut headers = signed.headers;
    headers.push(("content-type".into(), content_type(p).into()));
    for h in read_headers(p, scheme) {
        if !headers.iter().any(|(k, _)| k.eq_ignore_ascii_case(&h)) {
            headers.push((h, "genuine-1".into()));
        }
    }
    (signed.body, headers)
}

fn content_type(p: &Preset) -> &'static str {
    match p.name {
        "twilio" | "mollie" => "application/x-www-form-urlencoded",
        _ => "application/json",
    }
}

async fn send(client: &reqwest::Client, url: &str, req: &Request) -> u16 {
    let mut builder = client.post(url).body(req.0.clone());
    for (k, v) in &req.1 {
        builder = builder.header(k.as_str(), v.as_str());
    }
    builder
        .send()
        .await
        .expect("request sent")
        .status()
        .as_u16()
}

/// Presets that sign with the provider's own certificate cannot be signed here; the
/// `certificates` suite verifies them against certificates served by a fake provider host.
const CERTIFICATE_PRESETS: &[&str] = &["aws-sns", "paypal"];

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_preset_delivers_a_replayed_request_twice() {
    let dir = tempfile::tempdir().unwrap();
    let events = dir.path().join("events.jsonl");
    let testable: Vec<&Preset> = PRESETS
        .iter()
        .filter(|p| {
            if matches!(p.verify, Verify::Certificate(_)) {
                assert!(
                    CERTIFICATE_PRESETS.contains(&p.name),
                    "{}: a certificate preset this test does not know; cover it here or in the certificates suite",
                    p.name
                );
                return false;
            }
            true
        })
        .collect();
    let mut cfg = format!("{}{}", fast_worker_toml(5), file_sink_toml(&events));
    for p in &testable {
        cfg.push_str(&provider_toml(p));
    }
    let dev = Dev::start(&cfg, dir.path()).await;
    let client = reqwest::Client::new();
    let mut expected_refusals = 0u64;

    for p in &testable {
        let scheme = scheme_for(p);
        let url = dev.url(&format!("/webhooks/{}", p.name));
        let genuine = sign_at(p, &scheme, now_unix());
        let status = send(&client, &url, &genuine).await;
        assert!(
            (200..300).contains(&status),
            "{}: the genuine request answered {status}",
            p.name
        );
        // Wait for it to be handled, so each replay meets a ledger that knows it.
        let delivered = |events: &std::path::Path| {
            read_jsonl(events)
                .iter()
                .filter(|r| r["provider"] == p.name)
                .count()
        };
        assert!(
            wait_until(Duration::from_secs(10), || delivered(&events) == 1).await,
            "{}: the genuine request was not delivered",
            p.name
        );

        // (a) Captured longer ago than the tolerance (plus a minute), sent now.
        let stale = sign_at(p, &scheme, now_unix() - p.tolerance.secs as i64 - 60);
        let status = send(&client, &url, &stale).await;
        if scheme.has_timestamp() {
            assert_eq!(
                status, 401,
                "{}: a stale signed timestamp was accepted",
                p.name
            );
        }
        // (b) Each header the preset reads but does not sign, changed; then duplicated.
        for h in read_headers(p, &scheme) {
            if scheme.signs_header(&h) {
                continue;
            }
            let mut changed = genuine.clone();
            for (k, v) in changed.1.iter_mut() {
                if k.eq_ignore_ascii_case(&h) {
                    *v = format!("forged-{h}");
                }
            }
            send(&client, &url, &changed).await;
            let mut doubled = genuine.clone();
            doubled.1.push((h.clone(), format!("second-{h}")));
            send(&client, &url, &doubled).await;
            if is_id_header(p, &scheme, &h)
                && matches!(p.replay_protection(), ReplayProtection::BodyHash { .. })
            {
                expected_refusals += 1;
            }
        }
        // (c) Another query string.
        send(&client, &format!("{url}?replayed=1&tenant=2"), &genuine).await;

        let settled = || {
            let s = futures::executor::block_on(dev.store().status()).unwrap();
            s.queue_depth == 0 && s.in_flight == 0
        };
        assert!(
            wait_until(Duration::from_secs(15), settled).await,
            "{}",
            p.name
        );
        let n = delivered(&events);
        if p.replay_protection() == ReplayProtection::None {
            // Documented as unprotected; still at least the genuine one.
            assert!(n >= 1, "{}", p.name);
        } else {
            assert_eq!(
                n,
                1,
                "{}: a replay was delivered ({:?})",
                p.name,
                p.replay_protection()
            );
        }
    }

    // The guard's refusals are in the history, naming the key the body came under, and
    // counted: GitHub (delivery header) and Linear (delivery header) among them.
    use inlet_core::history::{EventFilter, EventState};
    use inlet_core::ports::History as _;
    let page = dev
        .store()
        .events(
            &EventFilter {
                state: Some(EventState::ReplayRefused),
                ..EventFilter::default()
            },
            500,
            None,
            time::OffsetDateTime::now_utc(),
        )
        .await
        .unwrap();
    let refused_providers: BTreeSet<String> = page
        .events
        .iter()
        .map(|r| r.envelope.provider.to_string())
        .collect();
    for must in ["github", "linear", "bitbucket", "woocommerce", "twilio"] {
        assert!(
            refused_providers.contains(must),
            "{must}: {refused_providers:?}"
        );
    }
    let github = page
        .events
        .iter()
        .find(|r| r.envelope.provider.as_str() == "github")
        .unwrap();
    let detail = github.attempts.last().unwrap().detail.clone().unwrap();
    assert!(detail.contains("github:genuine-1"), "{detail}");
    assert!(
        page.events.len() as u64 >= expected_refusals,
        "{} refusals < {expected_refusals}",
        page.events.len()
    );
    assert!(
        wait_until(Duration::from_secs(5), || {
            let s = futures::executor::block_on(dev.store().status()).unwrap();
            s.total(names::REPLAYS_REFUSED) >= page.events.len() as u64
        })
        .await
    );
    let counts: HashMap<String, usize> =
        read_jsonl(&events).iter().fold(HashMap::new(), |mut m, r| {
            *m.entry(r["key"].as_str().unwrap().to_string()).or_default() += 1;
            m
        });
    assert!(counts.values().all(|&n| n == 1), "{counts:?}");
    dev.stop().await;
}

/// The guard on each backend's ledger: a GitHub body under a fresh delivery id is refused
/// and recorded, a genuine redelivery (same id, same body) is a duplicate, one delivery.
async fn the_body_guard_refuses_a_fresh_id_on(stores: WorkerStores) {
    use inlet_core::usecase::process::{Disposition, Done, Processor};
    #[derive(Default)]
    struct Count(std::sync::Mutex<Vec<String>>);
    #[async_trait::async_trait]
    impl inlet_core::ports::Sink for Count {
        fn name(&self) -> &str {
            "count"
        }
        async fn deliver(
            &self,
            r: &inlet_core::envelope::SinkRecord,
        ) -> Result<(), inlet_core::ports::SinkError> {
            self.0.lock().unwrap().push(r.key.clone());
            Ok(())
        }
    }
    let sink = Arc::new(Count::default());
    let history = Arc::clone(&stores.history);
    let config = inlet_tests::worker_config(
        "[history]
max_payload_bytes = 10000
[schema]
enabled = false
",
    );
    let processor = Processor::from_config(
        &config,
        stores,
        vec![sink.clone()],
        Arc::new(inlet_core::metrics::NoMetrics),
        Arc::new(inlet_core::clock::SystemClock),
    );
    let github = |delivery: &str| {
        let body = format!(
            r#"{{"action":"opened","issue":{{"id":7}},"nonce":"{}"}}"#,
            "n-guard"
        );
        inlet_core::normalize::normalize(
            &inlet_core::normalize::Incoming {
                provider: &inlet_core::ids::ProviderName::parse("github").unwrap(),
                scheme: &Scheme::Github,
                headers: &inlet_core::headers::Headers::new()
                    .with("x-github-delivery", delivery)
                    .with("x-github-event", "issues"),
                body: body.as_bytes(),
                received_at: time::OffsetDateTime::now_utc(),
                correlation_id: "c",
                source: inlet_core::envelope::Source::Webhook,
            },
            &inlet_core::normalize::NormalizeRules::default(),
        )
        .unwrap()
    };
    let received = |envs: Vec<inlet_core::envelope::Envelope>| {
        envs.into_iter()
            .enumerate()
            .map(|(i, e)| inlet_core::ports::Received {
                receipt: inlet_core::ports::Receipt(format!("r{i}")),
                receive_count: 1,
                envelope: Ok(e),
            })
            .collect::<Vec<_>>()
    };
    let genuine = github(&inlet_tests::moto::unique("d"));
    assert!(genuine.body_guard);
    let out = processor
        .handle_batch(&received(vec![genuine.clone()]))
        .await;
    assert_eq!(out[0].1, Disposition::Ack(Done::Delivered));
    let forged = github(&inlet_tests::moto::unique("d"));
    let out = processor
        .handle_batch(&received(vec![forged.clone(), genuine.clone()]))
        .await;
    assert!(
        matches!(out[0].1, Disposition::Ack(Done::ReplayRefused { .. })),
        "{:?}",
        out[0].1
    );
    assert_eq!(out[1].1, Disposition::Ack(Done::Duplicate));
    assert_eq!(sink.0.lock().unwrap().clone(), [genuine.key.to_string()]);
    let record = history
        .event(forged.key.as_str(), time::OffsetDateTime::now_utc())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(record.state.as_str(), "replay-refused");
    let detail = record.attempts.last().unwrap().detail.clone().unwrap();
    assert!(detail.contains(genuine.key.as_str()), "{detail}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_the_body_guard_refuses_a_fresh_id() {
    let dir = tempfile::tempdir().unwrap();
    let store = Arc::new(
        inlet_local::Store::open(
            &dir.path().join("inlet.db"),
            Default::default(),
            Arc::new(inlet_core::clock::SystemClock),
        )
        .unwrap(),
    );
    the_body_guard_refuses_a_fresh_id_on(WorkerStores::all(store)).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs the AWS emulator (moto), which scripts/test starts"]
async fn dynamodb_the_body_guard_refuses_a_fresh_id() {
    let moto = inlet_tests::moto::Moto::connect().await;
    let store = Arc::new(inlet_aws::DynamoStore::new(
        moto.dynamodb(),
        moto.table().await,
    ));
    the_body_guard_refuses_a_fresh_id_on(WorkerStores::all(store)).await;
}
