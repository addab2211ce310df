//! The generic source reconciles changes, not only events: an ERP's "what changed since"
//! list read as records (`items = "records"`, key `{id}@{version}`), with an integer
//! row-version cursor, next-link paging to the same host only, a tenant header, a crash
//! mid-run, page-number paging with an `If-Modified-Since` cursor and equal times across a
//! page boundary — on the embedded store and on DynamoDB + SQS (moto).
//!
//! The fake ERP is shaped after Exact Online's sync API (a `Timestamp` Int64 row version,
//! `$filter=Timestamp gt N`, at most 1,000 rows a page, an OData `__next` link; docs
//! "Sync APIs" on start.exactonline.nl, read 2026-12-06) and Xero's accounting API
//! (`If-Modified-Since`, `xero-tenant-id`, `page=N` of 100; developer.xero.com "Requests and
//! responses", read 2026-12-06), scaled down to pages of 2.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use inlet_core::clock::{Clock, SystemClock};
use inlet_core::config::Config;
use inlet_core::ids::ProviderName;
use inlet_core::metrics::NoMetrics;
use inlet_core::ports::{Completion, Cursors, Ledger, Queue};
use inlet_core::usecase::reconcile::{Reconcile, ReconcileReport, ReconcileSettings};
use inlet_tests::*;
use serde_json::json;

/// Invoices by id: (row version, amount).
type Erp = Arc<Mutex<BTreeMap<String, (i64, i64)>>>;

/// An Exact-like sync endpoint: rows with `Timestamp > after`, oldest first, two a page,
/// an OData `__next` link while more remain; refuses a request without the tenant header.
/// While `fail_next_pages` is 1, every `__next` page answers 500 (the run dies mid-way).
fn sync_api(erp: Erp, fail_next_pages: Arc<AtomicUsize>) -> Responder {
    Arc::new(move |r: &Recorded| {
        if r.headers.get("x-tenant").map(String::as_str) != Some("tenant-7") {
            return json_answer(403, json!({"error": "unknown tenant"}));
        }
        let after: i64 = r
            .query
            .get("after")
            .and_then(|v| v.parse().ok())
            .unwrap_or(-1);
        let skip: usize = r
            .query
            .get("skip")
            .and_then(|v| v.parse().ok())
            .unwrap_or(0);
        if skip > 0 && fail_next_pages.load(Ordering::SeqCst) == 1 {
            return json_answer(500, json!({"error": "try again"}));
        }
        let mut rows: Vec<(String, i64, i64)> = erp
            .lock()
            .unwrap()
            .iter()
            .filter(|(_, (v, _))| *v > after)
            .map(|(id, (v, a))| (id.clone(), *v, *a))
            .collect();
        rows.sort_by_key(|r| r.1);
        let page: Vec<_> = rows
            .iter()
            .skip(skip)
            .take(2)
            .map(|(id, v, a)| json!({"ID": id, "Timestamp": v.to_string(), "Amount": a}))
            .collect();
        let mut d = json!({ "results": page });
        if skip + 2 < rows.len() {
            let host = &r.headers["host"];
            d["__next"] = json!(format!(
                "http://{host}/sync?after={after}&skip={}",
                skip + 2
            ));
        }
        json_answer(200, json!({ "d": d }))
    })
}

fn config(api: &str) -> Config {
    parse_config(&format!(
        r#"
[[providers]]
name = "exact"
scheme = "token"
header = "x-exact-token"
secrets = ["s"]
id_pointer = "/ID"
key_version_pointer = "/Timestamp"

[[sinks]]
kind = "stdout"

[[sources]]
name = "invoices"
provider = "exact"
kind = "http-json"
api_base = {api:?}
url = "{{api_base}}/sync?after={{cursor}}"
items = "records"
cursor = "row-version"
first_cursor = "0"
version_pointer = "/Timestamp"
items_pointer = "/d/results"
id_pointer = "/ID"
next_link_pointer = "/d/__next"
headers = {{ x-tenant = "tenant-7" }}
page_size = 2
settle_secs = 0
max_attempts = 2
"#
    ))
}

struct Ports {
    ledger: Arc<dyn Ledger>,
    queue: Arc<dyn Queue>,
    cursors: Arc<dyn Cursors>,
}

async fn run(
    feed: &dyn inlet_core::usecase::reconcile::ChangeSource,
    cfg: &Config,
    p: &Ports,
) -> ReconcileReport {
    let s = ReconcileSettings::for_source(cfg.source("invoices").unwrap(), false, None);
    Reconcile {
        source: feed,
        ledger: p.ledger.as_ref(),
        queue: p.queue.as_ref(),
        cursors: p.cursors.as_ref(),
        metrics: &NoMetrics,
        clock: &SystemClock,
    }
    .run(&s)
    .await
    .unwrap()
}

/// The embedded store as the three ports a run needs, in a directory of its own.
fn sqlite_ports() -> (tempfile::TempDir, Ports) {
    let dir = tempfile::tempdir().unwrap();
    let store = Arc::new(
        inlet_local::Store::open(
            &dir.path().join("inlet.db"),
            Default::default(),
            Arc::new(SystemClock),
        )
        .unwrap(),
    );
    let ports = Ports {
        ledger: store.clone(),
        queue: store.clone(),
        cursors: store,
    };
    (dir, ports)
}

/// Take everything queued and record it as delivered (what the worker does).
async fn deliver_all(p: &Ports) -> Vec<String> {
    let mut keys = Vec::new();
    for _ in 0..20 {
        let got = p.queue.receive(10, Duration::from_secs(30)).await.unwrap();
        if got.is_empty() && !keys.is_empty() {
            break;
        }
        for m in got {
            let env = m.envelope.unwrap();
            let now = SystemClock.now();
            p.ledger
                .claim(&env.key, &env.payload_sha256, now, Duration::from_secs(30))
                .await
                .unwrap();
            p.ledger
                .complete(
                    &env.key,
                    Completion::Delivered,
                    now,
                    Duration::from_secs(3600),
                )
                .await
                .unwrap();
            p.queue.ack(&m.receipt).await.unwrap();
            keys.push(env.key.to_string());
        }
        if keys.is_empty() {
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
    keys.sort();
    keys
}

async fn five_updates_are_delivered_once_each(p: Ports) {
    let erp: Erp = Arc::new(Mutex::new(
        (1..=5)
            .map(|i| (format!("inv-{i}"), (10 + i, 100 * i)))
            .collect(),
    ));
    let fail = Arc::new(AtomicUsize::new(0));
    let api = FakeApi::start(sync_api(erp.clone(), fail.clone())).await;
    let cfg = config(&api.base);
    let built = inlet_sources::build(cfg.source("invoices").unwrap()).unwrap();
    let feed = built.feeds[0].as_ref();

    // First sync: every record once, three pages by next link.
    let report = run(feed, &cfg, &p).await;
    assert_eq!(
        (report.recovered, report.pages, report.error.as_deref()),
        (5, 3, None),
        "{report:?}"
    );
    assert_eq!(
        deliver_all(&p).await,
        [
            "exact:inv-1@11",
            "exact:inv-2@12",
            "exact:inv-3@13",
            "exact:inv-4@14",
            "exact:inv-5@15"
        ]
    );
    assert_eq!(
        p.cursors.load("invoices").await.unwrap().as_deref(),
        Some("15")
    );

    // Five invoices change in the ERP: the next run delivers each new version — the
    // second page fails once (a crash mid-run): the run stops with its continuation saved.
    for (i, inv) in erp.lock().unwrap().values_mut().enumerate() {
        *inv = (20 + i as i64, inv.1 + 1);
    }
    fail.store(1, Ordering::SeqCst);
    let report = run(feed, &cfg, &p).await;
    fail.store(0, Ordering::SeqCst);
    assert!(report.error.is_some(), "{report:?}");
    assert_eq!(report.recovered, 2);
    let saved = p.cursors.load("invoices").await.unwrap().unwrap();
    assert!(
        saved.contains("skip=2"),
        "the continuation points at the failed page: {saved}"
    );
    // The next run resumes at that page and ends at the newest version.
    let report = run(feed, &cfg, &p).await;
    assert_eq!(
        (report.recovered, report.error.as_deref()),
        (3, None),
        "{report:?}"
    );
    assert_eq!(
        deliver_all(&p).await,
        [
            "exact:inv-1@20",
            "exact:inv-2@21",
            "exact:inv-3@22",
            "exact:inv-4@23",
            "exact:inv-5@24"
        ]
    );
    assert_eq!(
        p.cursors.load("invoices").await.unwrap().as_deref(),
        Some("24")
    );

    // Nothing changed: nothing read, nothing delivered.
    let report = run(feed, &cfg, &p).await;
    assert_eq!((report.scanned, report.recovered), (0, 0), "{report:?}");

    // Read twice at the same version (a cursor moved back by hand): duplicates, not news.
    p.cursors.save("invoices", "0").await.unwrap();
    let report = run(feed, &cfg, &p).await;
    assert_eq!(
        (report.scanned, report.already_handled, report.recovered),
        (5, 5, 0),
        "{report:?}"
    );

    // The webhook for a change names the same key, so whichever comes second is a duplicate.
    let webhook = inlet_core::normalize::normalize(
        &inlet_core::normalize::Incoming {
            provider: &ProviderName::parse("exact").unwrap(),
            scheme: &cfg.provider("exact").unwrap().scheme,
            headers: &inlet_core::headers::Headers::new().with("content-type", "application/json"),
            body: br#"{"ID":"inv-3","Timestamp":"22","Amount":301}"#,
            received_at: time::OffsetDateTime::now_utc(),
            correlation_id: "c",
            source: inlet_core::envelope::Source::Webhook,
        },
        &cfg.provider("exact").unwrap().rules,
    )
    .unwrap();
    assert_eq!(webhook.key.to_string(), "exact:inv-3@22");
    assert!(p
        .ledger
        .lookup(&webhook.key, SystemClock.now())
        .await
        .unwrap()
        .is_some());
    // Every request carried the tenant header; no link left the API's host.
    assert!(api
        .requests
        .lock()
        .unwrap()
        .iter()
        .all(|r| r.headers.contains_key("x-tenant")));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_five_updates_to_delivered_records_are_delivered_once_each() {
    let (_dir, p) = sqlite_ports();
    five_updates_are_delivered_once_each(p).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs the AWS emulator (moto), which scripts/test starts"]
async fn dynamodb_five_updates_to_delivered_records_are_delivered_once_each() {
    let moto = inlet_tests::moto::Moto::connect().await;
    let (q, dlq) = moto.queues(5, false).await;
    let store = Arc::new(inlet_aws::DynamoStore::new(
        moto.dynamodb(),
        moto.table().await,
    ));
    five_updates_are_delivered_once_each(Ports {
        ledger: store.clone(),
        queue: Arc::new(moto.queue(&q, &dlq)),
        cursors: store,
    })
    .await;
}

/// A next link to another host is not followed: the source's credentials and tenant header
/// stay with the API they were configured for. The page naming it is refused whole, so the
/// cursor never holds a foreign link and a fixed API is read again from where it stood.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_next_link_to_another_host_is_not_followed() {
    let api = FakeApi::start(Arc::new(|r: &Recorded| {
        let after = r.query.get("after").cloned().unwrap_or_default();
        json_answer(
            200,
            json!({"d": {"results": [{"ID": "inv-1", "Timestamp": "3"}, {"ID": "inv-2", "Timestamp": "4"}],
                         "__next": format!("http://127.0.0.2:9/sync?after={after}&skip=2")}}),
        )
    }))
    .await;
    let cfg = config(&api.base);
    let built = inlet_sources::build(cfg.source("invoices").unwrap()).unwrap();
    let (_dir, p) = sqlite_ports();
    let report = run(built.feeds[0].as_ref(), &cfg, &p).await;
    let error = report.error.clone().unwrap_or_default();
    assert!(
        error.contains("leaves") && error.contains("not followed"),
        "{report:?}"
    );
    assert_eq!(
        report.recovered, 0,
        "nothing from the refused page is enqueued"
    );
    assert_eq!(p.cursors.load("invoices").await.unwrap(), None);
    assert_eq!(api.requests.lock().unwrap().len(), 1);
}

/// Xero-shaped: the cursor travels as `If-Modified-Since` (an HTTP date), pages by
/// `page=N`, a tenant header; two invoices changed in the same second sit on both sides of
/// a page boundary and both are delivered.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn page_numbers_and_an_if_modified_since_cursor() {
    let api = FakeApi::start(Arc::new(|r: &Recorded| {
        let Some(since) = r.headers.get("if-modified-since") else {
            return json_answer(400, json!({"Message": "If-Modified-Since expected"}));
        };
        assert!(since.ends_with(" GMT"), "{since}");
        let page: usize = r
            .query
            .get("page")
            .and_then(|p| p.parse().ok())
            .unwrap_or(0);
        let all = [
            ("a", "2026-11-01T10:00:00Z"),
            ("b", "2026-11-01T10:00:05Z"),
            ("c", "2026-11-01T10:00:05Z"),
            ("d", "2026-11-01T10:00:09Z"),
        ];
        let rows: Vec<_> = all
            .iter()
            .skip((page.max(1) - 1) * 2)
            .take(2)
            .map(|(id, at)| json!({"InvoiceID": id, "UpdatedDateUTC": at}))
            .collect();
        json_answer(200, json!({ "Invoices": rows }))
    }))
    .await;
    let cfg = parse_config(&format!(
        r#"
[[providers]]
name = "xero"
scheme = "xero"
secrets = ["s"]

[[sinks]]
kind = "stdout"

[[sources]]
name = "invoices"
provider = "xero"
kind = "http-json"
api_base = {:?}
url = "{{api_base}}/Invoices?page={{page}}"
cursor_header = "If-Modified-Since"
items = "records"
items_pointer = "/Invoices"
id_pointer = "/InvoiceID"
updated_at_pointer = "/UpdatedDateUTC"
headers = {{ xero-tenant-id = "tenant-7" }}
page_size = 2
settle_secs = 0
lookback_secs = 2592000000
"#,
        api.base
    ));
    let built = inlet_sources::build(cfg.source("invoices").unwrap()).unwrap();
    let (_dir, p) = sqlite_ports();
    let report = run(built.feeds[0].as_ref(), &cfg, &p).await;
    assert_eq!(
        (report.recovered, report.pages, report.error.as_deref()),
        (4, 3, None),
        "{report:?}"
    );
    assert_eq!(
        deliver_all(&p).await,
        [
            "xero:a@2026-11-01T10:00:00Z",
            "xero:b@2026-11-01T10:00:05Z",
            "xero:c@2026-11-01T10:00:05Z",
            "xero:d@2026-11-01T10:00:09Z"
        ]
    );
    assert_eq!(
        p.cursors.load("invoices").await.unwrap().as_deref(),
        Some("2026-11-01T10:00:09Z")
    );
    let requests = api.requests.lock().unwrap();
    let pages: Vec<_> = requests.iter().map(|r| r.query["page"].clone()).collect();
    assert_eq!(pages, ["1", "2", "3"]);
    assert!(requests
        .iter()
        .all(|r| r.headers["xero-tenant-id"] == "tenant-7"));
}
