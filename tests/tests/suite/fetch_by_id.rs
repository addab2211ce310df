//! Mollie sends only an id and does not sign: with `fetch_url` the webhook fetches the
//! object from the provider's API (a real HTTP server here, the real client) and enqueues
//! that, keyed by the object's state — a repeated notification of one state is the same
//! key, a new state a new one; a forged id the provider does not know is refused; the id
//! is the only request input to the URL and must be a plain token.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::extract::Path;
use axum::http::{HeaderMap, StatusCode};
use axum::routing::get;
use inlet_core::clock::ManualClock;
use inlet_core::config::Config;
use inlet_core::headers::Headers;
use inlet_core::ports::Queue;
use inlet_core::usecase::ingest::{ingest, Accepted, IngestError, WebhookRequest};
use inlet_local::{LocalMetrics, Store, StoreOptions};
use inlet_sources::provider_http::HttpProviderClient;

/// A Mollie-like API: payments by id, their status settable by the test.
#[derive(Clone, Default)]
struct Api {
    status: Arc<Mutex<String>>,
    calls: Arc<Mutex<Vec<String>>>,
}

async fn serve(api: Api) -> String {
    let app = axum::Router::new().route(
        "/v2/payments/{id}",
        get(move |Path(id): Path<String>, headers: HeaderMap| {
            let api = api.clone();
            async move {
                api.calls.lock().unwrap().push(id.clone());
                if headers.get("authorization").and_then(|v| v.to_str().ok())
                    != Some("Bearer test_mollie_key")
                {
                    return (StatusCode::UNAUTHORIZED, "{}".to_string());
                }
                match id.as_str() {
                    "tr_down" => (StatusCode::INTERNAL_SERVER_ERROR, "{}".to_string()),
                    "tr_WDqYK6vllg" => {
                        let status = api.status.lock().unwrap().clone();
                        let body = serde_json::json!({
                            "resource": "payment", "id": id, "status": status,
                            "amount": {"value": "10.00", "currency": "EUR"},
                            "amountRefunded": {"value": "0.00", "currency": "EUR"},
                        });
                        (StatusCode::OK, body.to_string())
                    }
                    _ => (StatusCode::NOT_FOUND, "{\"status\":404}".to_string()),
                }
            }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await });
    base
}

#[tokio::test]
async fn mollie_notifications_become_the_fetched_payment() {
    let api = Api::default();
    *api.status.lock().unwrap() = "open".into();
    let base = serve(api.clone()).await;
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(
        &dir.path().join("inlet.db"),
        StoreOptions::default(),
        Arc::new(ManualClock::at_unix(1_800_000_000)),
    )
    .unwrap();
    let config = Config::from_toml(
        &format!("[[providers]]\nname = \"mollie\"\nscheme = \"mollie\"\nfetch_url = \"{base}/v2/payments/{{id}}\"\nfetch_token = \"env:MOLLIE_API_KEY\"\n[[sinks]]\nkind = \"stdout\"\n"),
        &|n| (n == "MOLLIE_API_KEY").then(|| "test_mollie_key".to_string()),
    )
    .unwrap();
    let http = HttpProviderClient::for_tests();
    let headers = Headers::new().with("content-type", "application/x-www-form-urlencoded");
    let send = |body: &'static str| {
        let (config, store, http, headers) = (&config, &store, &http, &headers);
        async move {
            ingest(
                config,
                store,
                &LocalMetrics::new(),
                http,
                &WebhookRequest {
                    provider: "mollie",
                    method: "POST",
                    query: "",
                    headers,
                    body: body.as_bytes(),
                    received_at: time::OffsetDateTime::now_utc(),
                    correlation_id: "c",
                },
            )
            .await
        }
    };
    let key = |r: Result<Accepted, IngestError>| match r {
        Ok(Accepted::Enqueued { key }) => key.to_string(),
        other => panic!("{other:?}"),
    };

    let open = key(send("id=tr_WDqYK6vllg").await);
    assert_eq!(open, "mollie:tr_WDqYK6vllg@open:0.00");
    // Mollie repeats the notification: the same state, the same key (a duplicate downstream).
    assert_eq!(key(send("id=tr_WDqYK6vllg").await), open);
    *api.status.lock().unwrap() = "paid".into();
    assert_eq!(
        key(send("id=tr_WDqYK6vllg").await),
        "mollie:tr_WDqYK6vllg@paid:0.00"
    );

    // A forged id the provider does not know: refused, nothing queued.
    assert!(matches!(
        send("id=tr_forged").await,
        Err(IngestError::Unauthorized(_))
    ));
    // The provider's API failing: 503, so Mollie retries.
    assert!(matches!(
        send("id=tr_down").await,
        Err(IngestError::Unavailable(_))
    ));
    // Hostile ids never reach the URL.
    let calls_before = api.calls.lock().unwrap().len();
    for hostile in ["id=..%2F..%2Fadmin", "id=tr_1%3Fx%3D1", "", "id=", "x=tr_1"] {
        assert!(
            matches!(send(hostile).await, Err(IngestError::BadPayload(_))),
            "{hostile}"
        );
    }
    let long: &'static str = Box::leak(format!("id=tr_{}", "a".repeat(100)).into_boxed_str());
    assert!(matches!(send(long).await, Err(IngestError::BadPayload(_))));
    assert_eq!(api.calls.lock().unwrap().len(), calls_before);

    // What was queued: the three notifications, each the payment from the API as JSON with
    // its entity and status — and nothing for the refused ones.
    let mut queued = Vec::new();
    loop {
        let got = store.receive(10, Duration::from_secs(30)).await.unwrap();
        if got.is_empty() {
            break;
        }
        for m in got {
            queued.push(m.envelope.unwrap());
            store.ack(&m.receipt).await.unwrap();
        }
    }
    let states: Vec<String> = queued
        .iter()
        .map(|e| {
            serde_json::from_slice::<serde_json::Value>(&e.body).unwrap()["status"]
                .as_str()
                .unwrap()
                .to_string()
        })
        .collect();
    assert_eq!(states, ["open", "open", "paid"]);
    for e in &queued {
        assert_eq!(e.entity.as_deref(), Some("payment/tr_WDqYK6vllg"));
        assert_eq!(e.content_type.as_deref(), Some("application/json"));
    }
    assert_eq!(queued[2].event_type.as_deref(), Some("paid"));
}

#[test]
fn fetch_settings_are_checked() {
    let bad = |extra: &str, scheme: &str| {
        Config::from_toml(
            &format!("[[providers]]\nname = \"p\"\nscheme = \"{scheme}\"\n{extra}[[sinks]]\nkind = \"stdout\"\n"),
            &|_| None,
        )
        .unwrap_err()
        .to_string()
    };
    let err = bad(
        "secrets = [\"s\"]\nfetch_url = \"https://api.example.com/{id}\"\n",
        "stripe",
    );
    assert!(err.contains("only presets that send just an id"), "{err}");
    for url in [
        "http://api.mollie.com/v2/payments/{id}",
        "https://api.mollie.com/v2/payments",
        "https://api.mollie.com/{id}/{id}",
        "https://api.mollie.com/v2/payments/{id}?x=1",
    ] {
        let err = bad(&format!("fetch_url = {url:?}\n"), "mollie");
        assert!(err.contains("providers[0].fetch_url"), "{url}: {err}");
    }
    let err = bad("fetch_token = \"k\"\n", "mollie");
    assert!(err.contains("fetch_token: goes with fetch_url"), "{err}");
}
