//! Providers that sign with a published certificate (AWS SNS, PayPal), through the ingest
//! use case: the certificate is fetched through `ProviderHttp` only from the provider's
//! own hosts, a fetch failure is a 503 (the provider retries), the topic or webhook id must
//! be the configured one, and SNS control messages are answered, never enqueued. The
//! certificates and signatures come from the independent vectors (python-cryptography and
//! PayPal's SDK); the HTTP client is also checked against a real local server.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;
use inlet_core::clock::ManualClock;
use inlet_core::config::Config;
use inlet_core::headers::Headers;
use inlet_core::ports::{ProviderHttp, Queue};
use inlet_core::usecase::ingest::{ingest, Accepted, IngestError, WebhookRequest};
use inlet_local::{LocalMetrics, Store, StoreOptions};
use inlet_sources::provider_http::HttpProviderClient;

/// Serves the vectors' certificates; records every URL asked for.
#[derive(Default)]
struct FakeProviderHttp {
    certificates: HashMap<String, String>,
    fetched: Mutex<Vec<String>>,
    visited: Mutex<Vec<String>>,
    down: bool,
}

#[async_trait]
impl ProviderHttp for FakeProviderHttp {
    async fn certificate(&self, url: &str) -> Result<Vec<u8>, String> {
        self.fetched.lock().unwrap().push(url.to_string());
        if self.down {
            return Err("connection refused".into());
        }
        self.certificates
            .get(url)
            .map(|c| c.as_bytes().to_vec())
            .ok_or_else(|| "HTTP 404".to_string())
    }
    async fn visit(&self, url: &str) -> Result<(), String> {
        self.visited.lock().unwrap().push(url.to_string());
        Ok(())
    }
    async fn fetch_object(
        &self,
        url: &str,
        _: Option<&inlet_core::secret::Secret>,
    ) -> Result<Option<Vec<u8>>, String> {
        Err(format!("no objects here: {url}"))
    }
}

fn vectors(scheme: &str) -> Vec<serde_json::Value> {
    inlet_tests::independent_vectors()
        .into_iter()
        .filter(|c| c["scheme"] == scheme)
        .collect()
}

/// A provider host serving the case's certificate at the URL the case names.
fn serving(case: &serde_json::Value) -> FakeProviderHttp {
    FakeProviderHttp {
        certificates: HashMap::from([(
            cert_url(case),
            case["certificate"].as_str().unwrap().to_string(),
        )]),
        ..Default::default()
    }
}

fn cert_url(case: &serde_json::Value) -> String {
    match case["scheme"].as_str().unwrap() {
        "aws-sns" => {
            let body: serde_json::Value =
                serde_json::from_str(case["body"].as_str().unwrap()).unwrap();
            body["SigningCertURL"].as_str().unwrap().to_string()
        }
        _ => case["headers"]["PAYPAL-CERT-URL"]
            .as_str()
            .unwrap()
            .to_string(),
    }
}

struct Setup {
    _dir: tempfile::TempDir,
    store: Store,
    config: Config,
}

fn setup(now: i64, providers: &str) -> Setup {
    let dir = tempfile::tempdir().unwrap();
    let clock = Arc::new(ManualClock::at_unix(now));
    let store = Store::open(&dir.path().join("inlet.db"), StoreOptions::default(), clock).unwrap();
    let config = Config::from_toml(
        &format!("{providers}[[sinks]]\nkind = \"stdout\"\n"),
        &|_| None,
    )
    .unwrap();
    Setup {
        _dir: dir,
        store,
        config,
    }
}

async fn send(
    s: &Setup,
    http: &dyn ProviderHttp,
    provider: &str,
    case: &serde_json::Value,
    body: &str,
) -> Result<Accepted, IngestError> {
    let mut headers = Headers::new();
    for (k, v) in case["headers"].as_object().unwrap() {
        headers.insert(k, v.as_str().unwrap());
    }
    ingest(
        &s.config,
        &s.store,
        &LocalMetrics::new(),
        http,
        &WebhookRequest {
            provider,
            method: "POST",
            query: "",
            headers: &headers,
            body: body.as_bytes(),
            received_at: time::OffsetDateTime::from_unix_timestamp(case["now"].as_i64().unwrap())
                .unwrap(),
            correlation_id: "c",
        },
    )
    .await
}

#[tokio::test]
async fn sns_notifications_verify_with_the_fetched_certificate_and_only_for_our_topics() {
    let cases: Vec<_> = vectors("aws-sns")
        .into_iter()
        .filter(|c| c["headers"]["x-amz-sns-message-type"] == "Notification")
        .collect();
    assert!(cases.len() >= 3);
    for case in cases {
        let topic = case["secret"].as_str().unwrap();
        let body = case["body"].as_str().unwrap();
        let s = setup(
            case["now"].as_i64().unwrap(),
            &format!("[[providers]]\nname = \"sns\"\nscheme = \"aws-sns\"\nsecrets = [\"arn:aws:sns:us-east-1:123456789012:other\", {topic:?}]\n"),
        );
        let http = serving(&case);
        let accepted = send(&s, &http, "sns", &case, body).await.unwrap();
        assert!(
            matches!(accepted, Accepted::Enqueued { .. }),
            "{accepted:?}"
        );
        assert_eq!(http.fetched.lock().unwrap().as_slice(), [cert_url(&case)]);
        let got = s.store.receive(10, Duration::from_secs(30)).await.unwrap();
        assert_eq!(got.len(), 1);
        let envelope = got[0].envelope.as_ref().unwrap();
        let message_id =
            serde_json::from_str::<serde_json::Value>(body).unwrap()["MessageId"].clone();
        assert_eq!(envelope.event_id, message_id.as_str().unwrap());
        assert_eq!(envelope.entity.as_deref(), Some(topic));

        // Signed by SNS, but for a topic that is not ours: refused.
        let other = setup(
            case["now"].as_i64().unwrap(),
            "[[providers]]\nname = \"sns\"\nscheme = \"aws-sns\"\nsecrets = [\"arn:aws:sns:us-east-1:999999999999:theirs\"]\n",
        );
        let err = send(&other, &http, "sns", &case, body).await.unwrap_err();
        assert!(matches!(err, IngestError::Unauthorized(_)), "{err:?}");

        // A certificate URL off SNS's hosts is refused before anything is fetched.
        let forged = body.replace(
            "https://sns.us-east-1.amazonaws.com/",
            "https://sns.us-east-1.amazonaws.com.evil.io/",
        );
        let before = http.fetched.lock().unwrap().len();
        let err = send(&s, &http, "sns", &case, &forged).await.unwrap_err();
        assert!(matches!(err, IngestError::Unauthorized(_)), "{err:?}");
        assert_eq!(http.fetched.lock().unwrap().len(), before);

        // What the host serves is not a usable certificate, or the certificate has expired:
        // refused, never a panic.
        for pem in [
            "garbage",
            "-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n",
        ] {
            let junk = FakeProviderHttp {
                certificates: HashMap::from([(cert_url(&case), pem.to_string())]),
                ..Default::default()
            };
            let err = send(&s, &junk, "sns", &case, body).await.unwrap_err();
            assert!(matches!(err, IngestError::Unauthorized(_)), "{err:?}");
        }
        let mut years_later = case.clone();
        years_later["now"] = (case["now"].as_i64().unwrap() + 2 * 365 * 86_400).into();
        let err = send(&s, &http, "sns", &years_later, body)
            .await
            .unwrap_err();
        assert!(err.to_string().contains("not valid now"), "{err}");

        // The provider's host unreachable: 503, so SNS retries; nothing enqueued.
        let down = FakeProviderHttp {
            down: true,
            ..Default::default()
        };
        let err = send(&s, &down, "sns", &case, body).await.unwrap_err();
        assert!(matches!(err, IngestError::Unavailable(_)), "{err:?}");
        assert!(s
            .store
            .receive(10, Duration::from_secs(30))
            .await
            .unwrap()
            .is_empty());
    }
}

#[tokio::test]
async fn paypal_verifies_with_its_certificate_and_webhook_id() {
    for case in vectors("paypal") {
        let webhook_id = case["secret"].as_str().unwrap();
        let body = case["body"].as_str().unwrap();
        let http = serving(&case);
        let s = setup(
            case["now"].as_i64().unwrap(),
            &format!("[[providers]]\nname = \"paypal\"\nscheme = \"paypal\"\nsecrets = [\"OLD-WEBHOOK\", {webhook_id:?}]\n"),
        );
        assert!(matches!(
            send(&s, &http, "paypal", &case, body).await,
            Ok(Accepted::Enqueued { .. })
        ));
        // Another webhook's id, a changed body: refused.
        let other = setup(case["now"].as_i64().unwrap(), "[[providers]]\nname = \"paypal\"\nscheme = \"paypal\"\nsecrets = [\"8PT597110X687430LKGECATA\"]\n");
        assert!(matches!(
            send(&other, &http, "paypal", &case, body).await,
            Err(IngestError::Unauthorized(_))
        ));
        assert!(matches!(
            send(&s, &http, "paypal", &case, &format!("{body} ")).await,
            Err(IngestError::Unauthorized(_))
        ));
        // A stale transmission: refused like any other old signature.
        let mut stale = case.clone();
        stale["now"] = (case["now"].as_i64().unwrap() + 3600).into();
        assert!(matches!(
            send(&s, &http, "paypal", &stale, body).await,
            Err(IngestError::Unauthorized(_))
        ));
    }
}

#[tokio::test]
async fn sns_subscription_confirmation_is_visited_only_when_enabled() {
    let case = vectors("aws-sns")
        .into_iter()
        .find(|c| c["headers"]["x-amz-sns-message-type"] == "SubscriptionConfirmation")
        .expect("a confirmation vector");
    let body = case["body"].as_str().unwrap();
    let subscribe_url = serde_json::from_str::<serde_json::Value>(body).unwrap()["SubscribeURL"]
        .as_str()
        .unwrap()
        .to_string();
    let topic = case["secret"].as_str().unwrap();
    for confirm in [true, false] {
        let http = serving(&case);
        let s = setup(
            case["now"].as_i64().unwrap(),
            &format!("[[providers]]\nname = \"sns\"\nscheme = \"aws-sns\"\nsecrets = [{topic:?}]\nconfirm_subscription = {confirm}\n"),
        );
        let Accepted::Handshake(answer) = send(&s, &http, "sns", &case, body).await.unwrap() else {
            panic!("a confirmation is answered, not enqueued");
        };
        assert_eq!(answer.status, 200);
        let visited = http.visited.lock().unwrap().clone();
        if confirm {
            assert_eq!(visited, std::slice::from_ref(&subscribe_url));
            assert!(answer.body.contains("\"confirmed\""), "{}", answer.body);
        } else {
            assert!(visited.is_empty());
            assert!(answer.body.contains("not_confirmed"), "{}", answer.body);
        }
        assert!(s
            .store
            .receive(10, Duration::from_secs(30))
            .await
            .unwrap()
            .is_empty());
        // Re-signed as nothing: a changed token is refused and nothing is visited.
        let forged = body.replace("Token=", "Token=0");
        let http = FakeProviderHttp {
            certificates: http.certificates.clone(),
            ..Default::default()
        };
        assert!(matches!(
            send(&s, &http, "sns", &case, &forged).await,
            Err(IngestError::Unauthorized(_))
        ));
        assert!(http.visited.lock().unwrap().is_empty());
    }
}

#[tokio::test]
async fn the_http_client_caches_certificates_and_refuses_what_it_must() {
    use axum::routing::get;
    let hits = Arc::new(Mutex::new(0u32));
    let counter = Arc::clone(&hits);
    let app = axum::Router::new()
        .route(
            "/cert.pem",
            get(move || {
                *counter.lock().unwrap() += 1;
                async { "-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n" }
            }),
        )
        .route("/big", get(|| async { "x".repeat(200_000) }))
        .route(
            "/missing",
            get(|| async { (axum::http::StatusCode::NOT_FOUND, "no") }),
        );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await });

    let client = HttpProviderClient::for_tests();
    let url = format!("{base}/cert.pem");
    let first = client.certificate(&url).await.unwrap();
    let second = client.certificate(&url).await.unwrap();
    assert_eq!(first, second);
    assert_eq!(
        *hits.lock().unwrap(),
        1,
        "the second fetch came from the cache"
    );
    let err = client
        .certificate(&format!("{base}/big"))
        .await
        .unwrap_err();
    assert!(err.contains("larger than"), "{err}");
    let err = client
        .certificate(&format!("{base}/missing"))
        .await
        .unwrap_err();
    assert!(err.contains("HTTP 404"), "{err}");
    // The production client speaks https only.
    let err = HttpProviderClient::new()
        .certificate(&url)
        .await
        .unwrap_err();
    assert!(err.contains("non-https"), "{err}");
}
