//! The webhook endpoint over real HTTP: every scheme accepted, every documented error, and
//! hostile input that must get a 4xx and leave the server up.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::Duration;

use inlet_core::signature::{HmacSpec, Scheme};
use inlet_tests::*;

fn config(events: &std::path::Path) -> String {
    format!(
        "{}{}{}",
        fast_worker_toml(5),
        providers_toml(),
        file_sink_toml(events)
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_scheme_is_accepted_and_delivered_with_the_documented_record() {
    let dir = tempfile::tempdir().unwrap();
    let events = dir.path().join("events.jsonl");
    let dev = Dev::start(&config(&events), dir.path()).await;
    let client = reqwest::Client::new();
    let now = now_unix();

    let stripe_body = stripe_event("evt_s1", "invoice.paid", "in_1", now);
    let (status, reply) = post_stripe(&client, &dev.url(""), &stripe_body).await;
    assert_eq!(
        (status, reply["status"].as_str(), reply["key"].as_str()),
        (202, Some("accepted"), Some("stripe:evt_s1"))
    );

    let gh_body = br#"{"action":"opened","issue":{"number":1}}"#.to_vec();
    let mut h = signed(&Scheme::Github, GITHUB_SECRET, &gh_body, now, "");
    h.push(("X-GitHub-Delivery".into(), "d-1".into()));
    h.push(("X-GitHub-Event".into(), "issues".into()));
    let (status, reply) = post(&client, &dev.url("/webhooks/github"), &h, gh_body).await;
    assert_eq!((status, reply["key"].as_str()), (202, Some("github:d-1")));

    let shop_body =
        br#"{"id":42,"updated_at":"2026-11-20T12:00:00Z","email":"x@example.com"}"#.to_vec();
    let mut h = signed(&Scheme::Shopify, SHOPIFY_SECRET, &shop_body, now, "");
    h.push(("X-Shopify-Topic".into(), "orders/updated".into()));
    let (status, reply) = post(&client, &dev.url("/webhooks/shopify"), &h, shop_body).await;
    assert_eq!(
        (status, reply["key"].as_str()),
        (202, Some("shopify:orders/42@1795176000"))
    );

    let slack_body =
        br#"{"type":"event_callback","event_id":"Ev123","event":{"type":"app_mention"}}"#.to_vec();
    let h = signed(&Scheme::Slack, SLACK_SECRET, &slack_body, now, "");
    let (status, reply) = post(&client, &dev.url("/webhooks/slack"), &h, slack_body).await;
    assert_eq!((status, reply["key"].as_str()), (202, Some("slack:Ev123")));

    let sw_body = br#"{"type":"user.created","data":{"id":"u1"}}"#.to_vec();
    let h = signed(
        &Scheme::StandardWebhooks,
        STANDARD_SECRET,
        &sw_body,
        now,
        "msg_1",
    );
    let (status, reply) = post(&client, &dev.url("/webhooks/acme"), &h, sw_body.clone()).await;
    assert_eq!((status, reply["key"].as_str()), (202, Some("acme:msg_1")));
    let h = signed(&Scheme::Svix, STANDARD_SECRET, &sw_body, now, "msg_2");
    let (status, reply) = post(&client, &dev.url("/webhooks/svixco"), &h, sw_body).await;
    assert_eq!((status, reply["key"].as_str()), (202, Some("svixco:msg_2")));

    let erp_body = br#"{"event_id":"E-1","order":{"id":"SO-1","version":3}}"#.to_vec();
    let spec = HmacSpec {
        header: "x-erp-signature".into(),
        prefix: "sha256=".into(),
        timestamp_header: Some("x-erp-timestamp".into()),
        template: HmacSpec::parse_template("{timestamp}.{body}").unwrap(),
        ..HmacSpec::github()
    };
    let h = signed(&Scheme::Hmac(spec), ERP_SECRET, &erp_body, now, "");
    let (status, reply) = post(&client, &dev.url("/webhooks/erp"), &h, erp_body).await;
    assert_eq!((status, reply["key"].as_str()), (202, Some("erp:E-1")));

    assert!(
        wait_until(Duration::from_secs(10), || read_jsonl(&events).len() == 7).await,
        "{:?}",
        read_jsonl(&events)
    );
    let records = read_jsonl(&events);
    let stripe = records
        .iter()
        .find(|r| r["key"] == "stripe:evt_s1")
        .unwrap();
    for field in [
        "key",
        "provider",
        "event_id",
        "type",
        "source",
        "received_at",
        "correlation_id",
        "payload",
    ] {
        assert!(
            stripe.get(field).is_some(),
            "record lacks {field}: {stripe}"
        );
    }
    assert_eq!(stripe["type"], "invoice.paid");
    assert_eq!(stripe["source"], "webhook");
    assert_eq!(stripe["entity"], "invoice/in_1");
    assert_eq!(stripe["payload"]["data"]["object"]["id"], "in_1");
    let erp = records.iter().find(|r| r["key"] == "erp:E-1").unwrap();
    assert_eq!(
        (erp["entity"].as_str(), erp["version"].as_i64()),
        (Some("SO-1"), Some(3))
    );
    assert_eq!(
        records.iter().find(|r| r["key"] == "github:d-1").unwrap()["type"],
        "issues.opened"
    );
    dev.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn correlation_id_travels_from_the_request_to_the_sink() {
    let dir = tempfile::tempdir().unwrap();
    let events = dir.path().join("events.jsonl");
    let dev = Dev::start(&config(&events), dir.path()).await;
    let body = stripe_event("evt_corr", "invoice.paid", "in_c", now_unix());
    let mut h = signed(
        &Scheme::Stripe,
        STRIPE_SECRET,
        body.as_bytes(),
        now_unix(),
        "",
    );
    h.push(("X-Request-Id".into(), "req-abc-123".into()));
    let resp = reqwest::Client::new()
        .post(dev.url("/webhooks/stripe"))
        .headers(
            (&h.iter()
                .cloned()
                .collect::<std::collections::HashMap<_, _>>())
                .try_into()
                .unwrap(),
        )
        .body(body)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.headers()["x-correlation-id"], "req-abc-123");
    assert!(wait_until(Duration::from_secs(10), || read_jsonl(&events).len() == 1).await);
    assert_eq!(read_jsonl(&events)[0]["correlation_id"], "req-abc-123");
    dev.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn documented_errors_are_json_with_the_right_status() {
    let dir = tempfile::tempdir().unwrap();
    let events = dir.path().join("events.jsonl");
    let dev = Dev::start(&config(&events), dir.path()).await;
    let client = reqwest::Client::new();
    let now = now_unix();
    let body = stripe_event("evt_e", "x", "in_e", now);
    let good = signed(&Scheme::Stripe, STRIPE_SECRET, body.as_bytes(), now, "");

    type Case<'a> = (&'a str, Vec<(String, String)>, Vec<u8>, u16, &'a str);
    let cases: Vec<Case> = vec![
        (
            "/webhooks/nope",
            good.clone(),
            body.clone().into_bytes(),
            404,
            "unknown_provider",
        ),
        (
            "/webhooks/stripe",
            vec![],
            body.clone().into_bytes(),
            401,
            "missing_header",
        ),
        (
            "/webhooks/stripe",
            signed(&Scheme::Stripe, "whsec_wrong", body.as_bytes(), now, ""),
            body.clone().into_bytes(),
            401,
            "signature_mismatch",
        ),
        (
            "/webhooks/stripe",
            signed(
                &Scheme::Stripe,
                STRIPE_SECRET,
                body.as_bytes(),
                now - 3600,
                "",
            ),
            body.clone().into_bytes(),
            401,
            "timestamp_too_old",
        ),
        (
            "/webhooks/stripe",
            signed(
                &Scheme::Stripe,
                STRIPE_SECRET,
                body.as_bytes(),
                now + 3600,
                "",
            ),
            body.clone().into_bytes(),
            401,
            "timestamp_in_future",
        ),
        (
            "/webhooks/stripe",
            good.clone(),
            format!("{body} ").into_bytes(),
            401,
            "signature_mismatch",
        ),
        (
            "/webhooks/stripe",
            signed(&Scheme::Stripe, STRIPE_SECRET, b"{\"id\":", now, ""),
            b"{\"id\":".to_vec(),
            400,
            "bad_payload",
        ),
        (
            "/webhooks/stripe",
            signed(&Scheme::Stripe, STRIPE_SECRET, b"{\"type\":\"x\"}", now, ""),
            b"{\"type\":\"x\"}".to_vec(),
            400,
            "bad_payload",
        ),
        (
            "/webhooks/tiny",
            signed(&Scheme::Github, GITHUB_SECRET, &[b'x'; 65], now, ""),
            vec![b'x'; 65],
            413,
            "payload_too_large",
        ),
        ("/nowhere", vec![], vec![], 404, "not_found"),
    ];
    for (path, headers, body, status, code) in cases {
        let (got, reply) = post(&client, &dev.url(path), &headers, body).await;
        assert_eq!(
            (got, reply["error"].as_str()),
            (status, Some(code)),
            "{path}: {reply}"
        );
        assert!(reply["message"].is_string());
        assert!(!reply.to_string().contains(STRIPE_SECRET));
    }
    // The stale-timestamp reason names the numbers.
    let stale = signed(
        &Scheme::Stripe,
        STRIPE_SECRET,
        body.as_bytes(),
        now - 3600,
        "",
    );
    let (_, reply) = post(
        &client,
        &dev.url("/webhooks/stripe"),
        &stale,
        body.clone().into_bytes(),
    )
    .await;
    assert!(
        reply["message"]
            .as_str()
            .unwrap()
            .contains("tolerance is 300s"),
        "{reply}"
    );

    // 415 for a media type no provider sends.
    let mut h = good.clone();
    h.push((
        "content-type".into(),
        "multipart/form-data; boundary=x".into(),
    ));
    let (status, reply) = post(
        &client,
        &dev.url("/webhooks/stripe"),
        &h,
        body.clone().into_bytes(),
    )
    .await;
    assert_eq!(
        (status, reply["error"].as_str()),
        (415, Some("unsupported_media_type"))
    );

    // 405 for the wrong method; health answers.
    let resp = client
        .get(dev.url("/webhooks/stripe"))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status().as_u16(), 405);
    assert_eq!(
        resp.json::<serde_json::Value>().await.unwrap()["error"],
        "method_not_allowed"
    );
    let resp = client.get(dev.url("/health")).send().await.unwrap();
    assert_eq!(resp.status().as_u16(), 200);

    // Nothing of the above was enqueued (nor handled: the queue is settled and empty).
    assert!(settled(dev.store()).await);
    assert!(read_jsonl(&events).is_empty());
    dev.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn oversized_bodies_are_refused_with_or_without_content_length() {
    let dir = tempfile::tempdir().unwrap();
    let events = dir.path().join("events.jsonl");
    let dev = Dev::start(&config(&events), dir.path()).await;
    let addr = dev.addr;
    // The server answers 413 as soon as it knows, without reading the rest; the client may
    // then fail to write its remaining bytes, so send raw and read whatever answer came.
    let big = vec![b'a'; 2 * 1024 * 1024];
    let mut with_length = format!(
        "POST /webhooks/stripe HTTP/1.1\r\nHost: x\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
        big.len()
    )
    .into_bytes();
    with_length.extend_from_slice(&big);
    let mut chunked = b"POST /webhooks/stripe HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n".to_vec();
    for _ in 0..40 {
        chunked.extend_from_slice(format!("{:x}\r\n", 64 * 1024).as_bytes());
        chunked.extend_from_slice(&[b'b'; 64 * 1024]);
        chunked.extend_from_slice(b"\r\n");
    }
    chunked.extend_from_slice(b"0\r\n\r\n");
    for (name, bytes) in [("content-length", with_length), ("chunked", chunked)] {
        let reply = tokio::task::spawn_blocking(move || {
            let mut s = TcpStream::connect(addr).unwrap();
            s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
            for piece in bytes.chunks(16 * 1024) {
                if s.write_all(piece).is_err() {
                    break;
                }
            }
            let mut out = Vec::new();
            let _ = s.read_to_end(&mut out);
            String::from_utf8_lossy(&out).into_owned()
        })
        .await
        .unwrap();
        assert!(reply.starts_with("HTTP/1.1 413"), "{name}: {reply:?}");
        assert!(reply.contains("payload_too_large"), "{name}: {reply:?}");
    }
    let client = reqwest::Client::new();
    assert_eq!(
        client
            .get(dev.url("/health"))
            .send()
            .await
            .unwrap()
            .status()
            .as_u16(),
        200
    );
    assert!(read_jsonl(&events).is_empty());
    dev.stop().await;
}

/// Raw bytes on a socket: what a broken or hostile client sends.
fn raw_request(addr: std::net::SocketAddr, bytes: &[u8], half_close: bool) -> String {
    let mut s = TcpStream::connect(addr).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    s.write_all(bytes).unwrap();
    if half_close {
        let _ = s.shutdown(std::net::Shutdown::Write);
    }
    let mut out = Vec::new();
    let _ = s.read_to_end(&mut out);
    String::from_utf8_lossy(&out).into_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hostile_input_gets_a_4xx_and_the_server_stays_up() {
    let dir = tempfile::tempdir().unwrap();
    let events = dir.path().join("events.jsonl");
    let dev = Dev::start(&config(&events), dir.path()).await;
    let addr = dev.addr;
    let now = now_unix();

    let cases: Vec<(&str, Vec<u8>, bool, &str)> = vec![
        // Non-UTF-8 signature header.
        ("non-utf8 header", [b"POST /webhooks/stripe HTTP/1.1\r\nHost: x\r\nStripe-Signature: t=1,v1=\xff\xfe\r\nContent-Length: 2\r\nConnection: close\r\n\r\n{}".as_slice()].concat(), false, " 401 "),
        // Garbage signature header.
        ("garbage header", b"POST /webhooks/github HTTP/1.1\r\nHost: x\r\nX-Hub-Signature-256: sha256=;;;===zz\r\nContent-Length: 2\r\nConnection: close\r\n\r\n{}".to_vec(), false, " 401 "),
        // Control characters in a header: refused by the HTTP parser itself.
        ("control chars", b"POST /webhooks/github HTTP/1.1\r\nHost: x\r\nX-Hub-Signature-256: \x01\x02\r\nContent-Length: 2\r\nConnection: close\r\n\r\n{}".to_vec(), false, " 400 "),
        // Truncated body: Content-Length promises more than arrives.
        ("truncated body", b"POST /webhooks/stripe HTTP/1.1\r\nHost: x\r\nContent-Length: 1000\r\nConnection: close\r\n\r\n{\"id\":\"evt".to_vec(), true, " 400 "),
        // Percent-encoded junk in the provider path.
        ("bad path", b"POST /webhooks/%ff%fe HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\nConnection: close\r\n\r\n".to_vec(), false, " 404 "),
        // Path traversal attempt.
        ("traversal", b"POST /webhooks/..%2f..%2fetc HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\nConnection: close\r\n\r\n".to_vec(), false, " 404 "),
        // Absurd Content-Length.
        ("huge length", b"POST /webhooks/stripe HTTP/1.1\r\nHost: x\r\nContent-Length: 99999999999\r\nConnection: close\r\n\r\n".to_vec(), true, " 413 "),
        // Not HTTP at all.
        ("not http", b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03garbage\r\n\r\n".to_vec(), true, ""),
    ];
    for (name, bytes, half_close, expect) in cases {
        let reply = tokio::task::spawn_blocking(move || raw_request(addr, &bytes, half_close))
            .await
            .unwrap();
        assert!(reply.contains(expect), "{name}: {reply:?}");
        if expect.contains('4') && name != "control chars" {
            assert!(
                reply.contains("\"error\""),
                "{name}: JSON error body expected: {reply:?}"
            );
        }
    }

    // Signed but hostile bodies: deep JSON, invalid UTF-8 declared as JSON, binary.
    let client = reqwest::Client::new();
    let deep = format!(
        "{{\"id\":\"evt_deep\",\"x\":{}{}}}",
        "[".repeat(100_000),
        "]".repeat(100_000)
    );
    for (body, expected) in [
        (deep.into_bytes(), 400u16),
        (vec![0xff, 0xfe, 0xfd], 400u16),
    ] {
        let h = signed(&Scheme::Stripe, STRIPE_SECRET, &body, now, "");
        let (status, _) = post(&client, &dev.url("/webhooks/stripe"), &h, body).await;
        assert_eq!(status, expected);
    }
    // A GitHub body of arbitrary binary is accepted as raw (GitHub does not require JSON
    // unless the content type says so) and keyed by its delivery id.
    let bin: Vec<u8> = (0..=255u8).collect();
    let mut h = signed(&Scheme::Github, GITHUB_SECRET, &bin, now, "");
    h.push(("X-GitHub-Delivery".into(), "bin-1".into()));
    h.push(("content-type".into(), "application/octet-stream".into()));
    let (status, _) = post(&client, &dev.url("/webhooks/github"), &h, bin).await;
    assert_eq!(status, 202);

    assert_eq!(
        client
            .get(dev.url("/health"))
            .send()
            .await
            .unwrap()
            .status()
            .as_u16(),
        200
    );
    dev.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn slack_url_verification_is_answered_after_verification() {
    let dir = tempfile::tempdir().unwrap();
    let events = dir.path().join("events.jsonl");
    let dev = Dev::start(&config(&events), dir.path()).await;
    let body = br#"{"token":"t","challenge":"3eZbrw1aBm2rZgRNFdxV2595E9CY3gmdALWMmHkvFXO7tYXAYM8P","type":"url_verification"}"#.to_vec();
    let h = signed(&Scheme::Slack, SLACK_SECRET, &body, now_unix(), "");
    let (status, reply) = post(
        &reqwest::Client::new(),
        &dev.url("/webhooks/slack"),
        &h,
        body.clone(),
    )
    .await;
    assert_eq!(status, 200);
    assert_eq!(
        reply["challenge"],
        "3eZbrw1aBm2rZgRNFdxV2595E9CY3gmdALWMmHkvFXO7tYXAYM8P"
    );
    // Unsigned, it is a 401 like anything else.
    let (status, _) = post(
        &reqwest::Client::new(),
        &dev.url("/webhooks/slack"),
        &[],
        body,
    )
    .await;
    assert_eq!(status, 401);
    dev.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn store_that_cannot_take_the_write_answers_503_with_retry_after() {
    let dir = tempfile::tempdir().unwrap();
    let events = dir.path().join("events.jsonl");
    let dev = Dev::start_with(&config(&events), dir.path(), |o| {
        o.busy_timeout = Duration::from_millis(100)
    })
    .await;
    // Another process holds SQLite's write lock.
    let blocker = rusqlite::Connection::open(dir.path().join("inlet.db")).unwrap();
    blocker.execute_batch("BEGIN EXCLUSIVE").unwrap();
    let body = stripe_event("evt_busy", "invoice.paid", "in_b", now_unix());
    let client = reqwest::Client::new();
    let h = signed(
        &Scheme::Stripe,
        STRIPE_SECRET,
        body.as_bytes(),
        now_unix(),
        "",
    );
    let resp = client
        .post(dev.url("/webhooks/stripe"))
        .headers(
            (&h.iter()
                .cloned()
                .collect::<std::collections::HashMap<_, _>>())
                .try_into()
                .unwrap(),
        )
        .body(body.clone())
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status().as_u16(), 503);
    assert_eq!(resp.headers()["retry-after"], "5");
    assert_eq!(
        resp.json::<serde_json::Value>().await.unwrap()["error"],
        "unavailable"
    );
    blocker.execute_batch("ROLLBACK").unwrap();
    // The provider's retry goes through and is delivered once.
    let (status, _) = post_stripe(&client, &dev.url(""), &body).await;
    assert_eq!(status, 202);
    assert!(wait_until(Duration::from_secs(10), || read_jsonl(&events).len() == 1).await);
    dev.stop().await;
}

/// A served router that answers `GET /` with 200, under `limits`.
async fn limited_server(
    limits: inlet_cli::server::ServeLimits,
) -> (std::net::SocketAddr, tokio::sync::watch::Sender<bool>) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let (stop, stopped) = tokio::sync::watch::channel(false);
    let router = axum::Router::new().route("/", axum::routing::get(|| async { "ok" }));
    tokio::spawn(inlet_cli::server::serve(listener, router, stopped, limits));
    (addr, stop)
}

/// Whether the server has closed `s` (EOF or reset) within `wait`.
fn closed_within(s: &mut TcpStream, wait: Duration) -> bool {
    s.set_read_timeout(Some(wait)).unwrap();
    let mut buf = [0u8; 256];
    loop {
        match s.read(&mut buf) {
            Ok(0) => return true,
            Ok(_) => continue, // an error reply before the close
            Err(e)
                if e.kind() == std::io::ErrorKind::WouldBlock
                    || e.kind() == std::io::ErrorKind::TimedOut =>
            {
                return false
            }
            Err(_) => return true,
        }
    }
}

// Found by the chaos suite's slowloris scenario: the server had no header read timeout,
// so a connection that never finished its headers was held for ever.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_connection_that_never_finishes_its_headers_is_closed() {
    let (addr, _stop) = limited_server(inlet_cli::server::ServeLimits {
        header_read_timeout: Duration::from_millis(300),
        ..Default::default()
    })
    .await;
    let mut slow = TcpStream::connect(addr).unwrap();
    slow.write_all(b"POST /webhooks/stripe HTTP/1.1\r\nHost: x\r\nX-Slow: a")
        .unwrap();
    let closed =
        tokio::task::spawn_blocking(move || closed_within(&mut slow, Duration::from_secs(3)))
            .await
            .unwrap();
    assert!(closed, "the slow connection is still open");
    // A well-behaved client is still served.
    let reply = raw_request(
        addr,
        b"GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
        false,
    );
    assert!(reply.starts_with("HTTP/1.1 200"), "{reply}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn connections_past_the_limit_wait_until_one_closes() {
    let (addr, _stop) = limited_server(inlet_cli::server::ServeLimits {
        header_read_timeout: Duration::from_millis(800),
        max_connections: 2,
    })
    .await;
    // Two idle connections take both slots.
    let idle: Vec<TcpStream> = (0..2).map(|_| TcpStream::connect(addr).unwrap()).collect();
    tokio::time::sleep(Duration::from_millis(100)).await;
    let started = std::time::Instant::now();
    let reply = tokio::task::spawn_blocking(move || {
        raw_request(
            addr,
            b"GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
            false,
        )
    })
    .await
    .unwrap();
    let waited = started.elapsed();
    assert!(reply.starts_with("HTTP/1.1 200"), "{reply}");
    // Served only once the header timeout freed a slot.
    assert!(
        waited >= Duration::from_millis(500),
        "served after {waited:?}"
    );
    drop(idle);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shared_secret_providers_gitlab_and_basic_auth() {
    let dir = tempfile::tempdir().unwrap();
    let events = dir.path().join("events.jsonl");
    let cfg = format!(
        "{}\n[[providers]]\nname = \"gitlab\"\nscheme = \"gitlab\"\nsecrets = [\"glt-old\", \"glt-current\"]\n\
         [[providers]]\nname = \"pipedrive\"\nscheme = \"basic-auth\"\nsecrets = [\"inlet:s3cret pass\"]\nid_pointer = \"/meta/id\"\n",
        config(&events)
    );
    let dev = Dev::start(&cfg, dir.path()).await;
    let client = reqwest::Client::new();
    let body = br#"{"object_kind":"merge_request","object_attributes":{"action":"open","iid":7}}"#
        .to_vec();
    let headers = |token: &str| {
        vec![
            ("X-Gitlab-Token".to_string(), token.to_string()),
            (
                "X-Gitlab-Event".to_string(),
                "Merge Request Hook".to_string(),
            ),
            ("Idempotency-Key".to_string(), "7f1c2c1e-idem".to_string()),
            ("Content-Type".to_string(), "application/json".to_string()),
        ]
    };
    let url = dev.url("/webhooks/gitlab");
    let (status, reply) = post(&client, &url, &headers("glt-current"), body.clone()).await;
    assert_eq!(
        (status, reply["key"].as_str()),
        (202, Some("gitlab:7f1c2c1e-idem"))
    );
    // A retry of the same event is the same key (a duplicate downstream).
    let (status, _) = post(&client, &url, &headers("glt-old"), body.clone()).await;
    assert_eq!(status, 202);
    let (status, reply) = post(&client, &url, &headers("glt-wrong"), body.clone()).await;
    assert_eq!(
        (status, reply["error"].as_str()),
        (401, Some("signature_mismatch"))
    );
    let (status, reply) = post(&client, &url, &[], body).await;
    assert_eq!(
        (status, reply["error"].as_str()),
        (401, Some("missing_header"))
    );

    let pd = br#"{"meta":{"id":"pd-42"},"current":{"id":1}}"#.to_vec();
    let auth = |user_pass: &str| {
        use base64::Engine as _;
        vec![(
            "Authorization".to_string(),
            format!(
                "Basic {}",
                base64::engine::general_purpose::STANDARD.encode(user_pass)
            ),
        )]
    };
    let url = dev.url("/webhooks/pipedrive");
    let (status, reply) = post(&client, &url, &auth("inlet:s3cret pass"), pd.clone()).await;
    assert_eq!(
        (status, reply["key"].as_str()),
        (202, Some("pipedrive:pd-42"))
    );
    let (status, reply) = post(&client, &url, &auth("inlet:wrong"), pd).await;
    assert_eq!(
        (status, reply["error"].as_str()),
        (401, Some("signature_mismatch"))
    );

    assert!(
        wait_until(Duration::from_secs(10), || read_jsonl(&events).len() == 2).await,
        "two events, the GitLab retry deduplicated"
    );
    let records = read_jsonl(&events);
    let gitlab = records.iter().find(|r| r["provider"] == "gitlab").unwrap();
    assert_eq!(gitlab["type"], "merge_request.open");
    // The secret never reaches a record.
    assert!(!std::fs::read_to_string(&events)
        .unwrap()
        .contains("glt-current"));
    dev.stop().await;
}

/// The provider presets' endpoint checks, through `inlet dev`'s HTTP server: each answered
/// as its provider expects, the signed ones only when signed, and none of them enqueued.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn provider_handshakes_are_answered_and_never_enqueued() {
    use inlet_core::catalogue::{self, Settings};
    use inlet_core::secret::Secret;
    use inlet_core::signature::{sign_request, SignRequest};

    let dir = tempfile::tempdir().unwrap();
    let events = dir.path().join("events.jsonl");
    let discord_key = include_str!("../../fixtures/ed25519-test-key.pem");
    let cfg = format!(
        r#"
[[providers]]
name = "zoom"
scheme = "zoom"
secrets = ["zoom-secret-token"]
[[providers]]
name = "twitch"
scheme = "twitch"
secrets = ["twitch-secret"]
[[providers]]
name = "discord"
scheme = "discord"
secrets = ['''{discord_key}''']
[[providers]]
name = "xero"
scheme = "xero"
secrets = ["xero-key"]
[[providers]]
name = "meta"
scheme = "meta"
secrets = ["app-secret"]
verify_token = "meta-verify-token"
[[providers]]
name = "okta"
scheme = "okta"
secrets = ["okta-auth"]
[[providers]]
name = "graph"
scheme = "microsoft-graph"
secrets = ["client-state"]
[[providers]]
name = "stripe"
scheme = "stripe"
secrets = ["{STRIPE_SECRET}"]
[[sinks]]
kind = "file"
path = "{}"
"#,
        events.display()
    );
    let dev = Dev::start(&cfg, dir.path()).await;
    let client = reqwest::Client::new();
    let now = now_unix();
    let sign = |preset: &str, secret: &str, body: &str, id: &str| {
        let scheme = catalogue::preset(preset)
            .unwrap()
            .scheme(Settings::default())
            .unwrap();
        sign_request(
            &scheme,
            &SignRequest {
                body: body.as_bytes(),
                secret: &Secret::new(secret),
                timestamp: now,
                id,
            },
        )
        .unwrap()
        .headers
    };
    let send = |method: reqwest::Method, path: &str, headers: Vec<(String, String)>, body: &str| {
        let mut req = client.request(method, dev.url(path)).body(body.to_string());
        for (k, v) in headers {
            req = req.header(k, v);
        }
        async move {
            let resp = req.send().await.unwrap();
            let status = resp.status().as_u16();
            let ct = resp
                .headers()
                .get("content-type")
                .and_then(|v| v.to_str().ok())
                .unwrap_or_default()
                .to_string();
            (status, ct, resp.text().await.unwrap())
        }
    };
    use reqwest::Method;

    // Zoom: the plain token and its HMAC under the secret token.
    let body = r#"{"payload":{"plainToken":"qgg8vlvZRS6UYooatFL8Aw"},"event_ts":1654503849680,"event":"endpoint.url_validation"}"#;
    let (status, _, text) = send(
        Method::POST,
        "/webhooks/zoom",
        sign("zoom", "zoom-secret-token", body, ""),
        body,
    )
    .await;
    assert_eq!(status, 200, "{text}");
    let v: serde_json::Value = serde_json::from_str(&text).unwrap();
    let expected = {
        use sha2::Digest as _;
        // HMAC-SHA256 by hand (RFC 2104), independent of the code under test.
        let key = b"zoom-secret-token";
        let mut k = [0u8; 64];
        k[..key.len()].copy_from_slice(key);
        let inner: Vec<u8> = k
            .iter()
            .map(|b| b ^ 0x36)
            .chain(*b"qgg8vlvZRS6UYooatFL8Aw")
            .collect();
        let inner = sha2::Sha256::digest(&inner);
        let outer: Vec<u8> = k.iter().map(|b| b ^ 0x5c).chain(inner).collect();
        hex::encode(sha2::Sha256::digest(&outer))
    };
    assert_eq!(v["encryptedToken"], expected);
    // Unsigned, Zoom's check is a 401 like anything else.
    let (status, _, _) = send(Method::POST, "/webhooks/zoom", vec![], body).await;
    assert_eq!(status, 401);

    // Twitch: the challenge as text, only for the verification message type.
    let body = r#"{"challenge":"pogchamp-kappa-360noscope-vohiyo","subscription":{"type":"channel.follow"}}"#;
    let mut h = sign(
        "twitch",
        "twitch-secret",
        body,
        "e76c6bd4-55c9-4987-8304-da1588d8988b",
    );
    h.push((
        "Twitch-Eventsub-Message-Type".into(),
        "webhook_callback_verification".into(),
    ));
    let (status, ct, text) = send(Method::POST, "/webhooks/twitch", h, body).await;
    assert_eq!(
        (status, text.as_str()),
        (200, "pogchamp-kappa-360noscope-vohiyo")
    );
    assert!(ct.starts_with("text/plain"), "{ct}");

    // Discord: PING → PONG.
    let body = r#"{"type":1,"id":"1","application_id":"2"}"#;
    let (status, _, text) = send(
        Method::POST,
        "/webhooks/discord",
        sign("discord", discord_key, body, ""),
        body,
    )
    .await;
    assert_eq!((status, text.as_str()), (200, r#"{"type":1}"#));

    // Xero intent to receive: 200 when signed, 401 when not.
    let body =
        r#"{"events":[],"firstEventSequence":0,"lastEventSequence":0,"entropy":"S0m3r4Nd0mt3xt"}"#;
    let (status, _, text) = send(
        Method::POST,
        "/webhooks/xero",
        sign("xero", "xero-key", body, ""),
        body,
    )
    .await;
    assert_eq!((status, text.as_str()), (200, ""));
    let bad = vec![("x-xero-signature".to_string(), "AAAA".to_string())];
    let (status, _, _) = send(Method::POST, "/webhooks/xero", bad, body).await;
    assert_eq!(status, 401);

    // Meta: GET with the verify token echoes the challenge; a wrong token gets 403.
    let q = "/webhooks/meta?hub.mode=subscribe&hub.challenge=1158201444&hub.verify_token=meta-verify-token";
    let (status, _, text) = send(Method::GET, q, vec![], "").await;
    assert_eq!((status, text.as_str()), (200, "1158201444"));
    let (status, _, _) = send(
        Method::GET,
        &q.replace("meta-verify-token", "guess"),
        vec![],
        "",
    )
    .await;
    assert_eq!(status, 403);

    // Okta: the one-time verification GET.
    let h = vec![(
        "x-okta-verification-challenge".to_string(),
        "X2X8wVpNeEa0lFhLoNWmwQ".to_string(),
    )];
    let (status, _, text) = send(Method::GET, "/webhooks/okta", h, "").await;
    assert_eq!(
        (status, text.as_str()),
        (200, r#"{"verification":"X2X8wVpNeEa0lFhLoNWmwQ"}"#)
    );

    // Microsoft Graph: the validation token, decoded, as text.
    let (status, ct, text) = send(
        Method::POST,
        "/webhooks/graph?validationToken=Validation%3A%20Testing%20client%20application%20reachability",
        vec![],
        "",
    )
    .await;
    assert_eq!(
        (status, text.as_str()),
        (200, "Validation: Testing client application reachability")
    );
    assert!(ct.starts_with("text/plain"), "{ct}");

    // A GET to a provider without a GET handshake is refused.
    let (status, _, _) = send(Method::GET, "/webhooks/stripe", vec![], "").await;
    assert_eq!(status, 405);

    // Nothing above was an event: the one real event is the only line in the sink.
    let body = stripe_event("evt_after_handshakes", "invoice.paid", "in_h", now);
    let (status, _) = post_stripe(&client, &dev.url(""), &body).await;
    assert_eq!(status, 202);
    assert!(wait_until(Duration::from_secs(10), || !read_jsonl(&events).is_empty()).await);
    assert!(settled(dev.store()).await);
    let lines = read_jsonl(&events);
    assert_eq!(lines.len(), 1, "{lines:?}");
    assert_eq!(lines[0]["event_id"], "evt_after_handshakes");
    dev.stop().await;
}
