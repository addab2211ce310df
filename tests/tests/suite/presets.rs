//! The source presets against fakes written from each provider's API documentation (the
//! page is cited on each fake; all read 2026-12-06). For every preset, one driver checks
//! what a user depends on: a change made while Inlet was down is recovered exactly once; a
//! run that reads nothing new enqueues nothing; a deletion is delivered once, as
//! `{entity}.deleted`; a run that dies mid-way re-reads from its saved cursor and
//! duplicates nothing downstream; equal update times across a page boundary lose nothing.
//!
//! The fakes share one model (records with an update time, a version and a deleted flag)
//! and differ in what the documentation says: the request's shape, the cursor's form, the
//! page, the link, where a deletion shows.

use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use inlet_core::clock::{Clock, SystemClock};
use inlet_core::config::Config;
use inlet_core::envelope::Envelope;
use inlet_core::metrics::NoMetrics;
use inlet_core::ports::{Completion, Cursors, Ledger, Queue};
use inlet_core::usecase::reconcile::{Reconcile, ReconcileReport, ReconcileSettings};
use inlet_tests::preset_fakes::*;
use inlet_tests::*;
use serde_json::json;
use time::OffsetDateTime;

/// What the driver needs from one preset's test.
struct Case {
    kind: &'static str,
    provider: &'static str,
    /// Extra `[[sources]]` lines (params, feeds, auth).
    extra: String,
    page_size: u32,
    /// The key a live record's change gets, and a deletion's (`None`: no deletions).
    key: fn(&Rec) -> String,
    deleted_key: Option<fn(&Rec) -> String>,
    /// Changes in the crash step: enough for more than one page.
    crash_changes: u32,
    records: u32,
    /// Records sharing each update time (so equal times straddle page boundaries).
    group: u32,
}

type Fake = fn(Shared, Allow) -> Responder;

struct Ports {
    ledger: Arc<dyn Ledger>,
    queue: Arc<dyn Queue>,
    cursors: Arc<dyn Cursors>,
    _dir: tempfile::TempDir,
}

fn sqlite_ports() -> Ports {
    let dir = tempfile::tempdir().unwrap();
    let store = Arc::new(
        inlet_local::Store::open(
            &dir.path().join("inlet.db"),
            Default::default(),
            Arc::new(SystemClock),
        )
        .unwrap(),
    );
    Ports {
        ledger: store.clone(),
        queue: store.clone(),
        cursors: store,
        _dir: dir,
    }
}

fn case_config(case: &Case, base: &str) -> Config {
    parse_config(&format!(
        r#"
[[providers]]
name = "{provider}"
scheme = "token"
header = "x-token"
secrets = ["s"]

[[sinks]]
kind = "stdout"

[[sources]]
name = "src"
provider = "{provider}"
kind = "{kind}"
api_base = "{base}"
page_size = {page_size}
settle_secs = 0
lookback_secs = 14400
max_attempts = 1
max_pages = 500
{extra}
"#,
        provider = case.provider,
        kind = case.kind,
        page_size = case.page_size,
        extra = case.extra,
    ))
}

/// Run every feed of the source once; the reports, summed.
async fn run_all(cfg: &Config, p: &Ports) -> (u64, u64, Vec<String>) {
    let source = cfg.source("src").unwrap();
    let built = inlet_sources::build(source).unwrap();
    let (mut recovered, mut scanned, mut errors) = (0, 0, Vec::new());
    for feed in &built.feeds {
        let s = ReconcileSettings::for_source(source, false, None);
        let report: ReconcileReport = Reconcile {
            source: feed.as_ref(),
            ledger: p.ledger.as_ref(),
            queue: p.queue.as_ref(),
            cursors: p.cursors.as_ref(),
            metrics: &NoMetrics,
            clock: &SystemClock,
        }
        .run(&s)
        .await
        .unwrap();
        recovered += report.recovered as u64;
        scanned += report.scanned as u64;
        errors.extend(report.error);
    }
    (recovered, scanned, errors)
}

/// Take everything queued and deliver it as the worker does (a key already completed is
/// a duplicate, dropped); what was delivered — keys, sorted, and their event types.
async fn deliver_all(p: &Ports) -> Vec<(String, String)> {
    let mut out = Vec::new();
    loop {
        let got = p.queue.receive(10, Duration::from_secs(30)).await.unwrap();
        if got.is_empty() {
            break;
        }
        for m in got {
            let env = m.envelope.unwrap();
            let now = SystemClock.now();
            let claim = p
                .ledger
                .claim(&env.key, &env.payload_sha256, now, Duration::from_secs(30))
                .await
                .unwrap();
            p.queue.ack(&m.receipt).await.unwrap();
            // A copy re-read after a crash is a duplicate the worker drops, as it does.
            if !matches!(claim, inlet_core::ports::Claim::Acquired { .. }) {
                continue;
            }
            p.ledger
                .complete(
                    &env.key,
                    Completion::Delivered,
                    now,
                    Duration::from_secs(3600),
                )
                .await
                .unwrap();
            out.push((env.key.to_string(), env.event_type.unwrap_or_default()));
        }
    }
    out.sort();
    out
}

fn keys(got: &[(String, String)]) -> Vec<String> {
    got.iter().map(|(k, _)| k.clone()).collect()
}

fn sorted(mut v: Vec<String>) -> Vec<String> {
    v.sort();
    v
}

/// The checks every preset passes, against `fake` over `case.records` records.
async fn exercise(case: Case, fake: Fake) {
    let db = Db::new(case.records, case.group);
    let allow: Allow = Arc::new(AtomicI64::new(-1));
    let api = FakeApi::start(fake(db.clone(), allow.clone())).await;
    exercise_with(case, db, allow, &api.base).await;
}

async fn exercise_with(case: Case, db: Shared, allow: Allow, base: &str) {
    let cfg = case_config(&case, base);
    let p = sqlite_ports();

    // 1. Everything changed while Inlet was down is recovered, once.
    let (recovered, _, errors) = run_all(&cfg, &p).await;
    assert!(errors.is_empty(), "{}: {errors:?}", case.kind);
    let live: Vec<String> = db.lock().unwrap().recs.iter().map(case.key).collect();
    let got = deliver_all(&p).await;
    assert_eq!(keys(&got), sorted(live.clone()), "{}", case.kind);
    assert_eq!(recovered, u64::from(case.records), "{}", case.kind);

    // 2. Nothing changed: nothing enqueued.
    let (recovered, _, errors) = run_all(&cfg, &p).await;
    assert_eq!(
        (recovered, errors.len()),
        (0, 0),
        "{}: {errors:?}",
        case.kind
    );

    // 3. Two updates and (where the API tells) a deletion: each delivered once.
    {
        let mut d = db.lock().unwrap();
        d.change(1, false);
        d.change(2, false);
        if case.deleted_key.is_some() {
            d.change(3, true);
        }
    }
    let (_, _, errors) = run_all(&cfg, &p).await;
    assert!(errors.is_empty(), "{}: {errors:?}", case.kind);
    let got = deliver_all(&p).await;
    let d = db.lock().unwrap().recs.clone();
    let mut want = vec![(case.key)(&d[0]), (case.key)(&d[1])];
    if let Some(deleted) = case.deleted_key {
        want.push(deleted(&d[2]));
        let deletion = got
            .iter()
            .find(|(k, _)| *k == deleted(&d[2]))
            .unwrap_or_else(|| panic!("{}: no deletion in {got:?}", case.kind));
        assert!(deletion.1.ends_with(".deleted"), "{deletion:?}");
    }
    assert_eq!(keys(&got), sorted(want), "{}", case.kind);
    let (recovered, _, _) = run_all(&cfg, &p).await;
    assert_eq!(
        recovered, 0,
        "{}: the deletion is not delivered twice",
        case.kind
    );

    // 4. A run dies after its first request; the next one re-reads from the saved cursor
    // and nothing is enqueued twice.
    let first_changed = 4;
    {
        let mut d = db.lock().unwrap();
        for id in first_changed..first_changed + case.crash_changes {
            d.change(id, false);
        }
    }
    allow.store(1, Ordering::SeqCst);
    let (_, _, errors) = run_all(&cfg, &p).await;
    assert!(
        !errors.is_empty(),
        "{}: the run must fail mid-way",
        case.kind
    );
    allow.store(-1, Ordering::SeqCst);
    let (_, _, errors) = run_all(&cfg, &p).await;
    assert!(errors.is_empty(), "{}: {errors:?}", case.kind);
    let got = deliver_all(&p).await;
    let d = db.lock().unwrap().recs.clone();
    let want: Vec<String> = d
        .iter()
        .filter(|r| r.id >= first_changed && r.id < first_changed + case.crash_changes)
        .map(case.key)
        .collect();
    assert_eq!(keys(&got), sorted(want), "{}: once each", case.kind);
}

// ---- Exact Online ----------------------------------------------------------------------

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn exact_online_sync_and_deleted_feeds() {
    exercise(
        Case {
            kind: "exact-online",
            provider: "exact",
            extra: "params = { division = \"4242\" }\nauth = \"bearer\"\napi_key = \"test-token\""
                .into(),
            page_size: 100,
            key: |r| format!("exact:account/acc-{}@{}", r.id, r.version),
            deleted_key: Some(|r| format!("exact:account/acc-{}@deleted", r.id)),
            crash_changes: 5,
            records: 8,
            group: 1,
        },
        exact_api,
    )
    .await;
}

// ---- Xero -------------------------------------------------------------------------------

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn xero_invoices_re_anchor_past_pages_of_a_hundred() {
    exercise(Case {
            kind: "xero",
            provider: "xero",
            extra: "params = { tenant_id = \"7c1c-tenant\" }\nauth = \"bearer\"\napi_key = \"test-token\"".into(),
            page_size: 100,
            key: |r| format!("xero:invoice/inv-{}@{}", r.id, r.secs()),
            deleted_key: Some(|r| format!("xero:invoice/inv-{}@deleted", r.id)),
            crash_changes: 120,
            records: 130,
        group: 3,
    }, xero_api)
    .await;
}

// ---- Pipedrive --------------------------------------------------------------------------

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pipedrive_deals_and_deleted_deals() {
    exercise(
        Case {
            kind: "pipedrive",
            provider: "pipedrive",
            extra: "auth = \"bearer\"\napi_key = \"test-token\"".into(),
            page_size: 5,
            key: |r| format!("pipedrive:deal/{}@{}", r.id, r.secs()),
            deleted_key: Some(|r| format!("pipedrive:deal/{}@deleted", r.id)),
            crash_changes: 8,
            records: 12,
            group: 2,
        },
        pipedrive_api,
    )
    .await;
}

// ---- HubSpot ----------------------------------------------------------------------------

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hubspot_search_re_anchors_and_loses_nothing_at_equal_times() {
    exercise(
        Case {
            kind: "hubspot",
            provider: "hubspot",
            extra: "auth = \"bearer\"\napi_key = \"test-token\"".into(),
            page_size: 5,
            key: |r| format!("hubspot:contact/{}@{}", r.id, r.secs()),
            deleted_key: None,
            crash_changes: 8,
            records: 14,
            group: 2,
        },
        hubspot_api,
    )
    .await;
}

// ---- Adobe Commerce ---------------------------------------------------------------------

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn adobe_commerce_orders_by_search_criteria() {
    exercise(
        Case {
            kind: "adobe-commerce",
            provider: "magento",
            extra: "auth = \"bearer\"\napi_key = \"test-token\"".into(),
            page_size: 5,
            key: |r| format!("magento:order/{}@{}", r.id, r.secs()),
            deleted_key: None,
            crash_changes: 7,
            records: 11,
            group: 2,
        },
        adobe_api,
    )
    .await;
}

/// Adobe Commerce announces no deletions: opted in, the id list is compared each run
/// (`key_set_every_secs = 0`) and an order gone from it is `order.deleted`, once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn adobe_commerce_deletions_by_comparing_id_lists() {
    exercise(
        Case {
            kind: "adobe-commerce",
            provider: "magento",
            extra: "auth = \"bearer\"\napi_key = \"test-token\"\nfeeds = [\"orders\", \"orders-vanished\"]\nkey_set_every_secs = 0".into(),
            page_size: 5,
            key: |r| format!("magento:order/{}@{}", r.id, r.secs()),
            deleted_key: Some(|r| format!("magento:order/{}@deleted", r.id)),
            crash_changes: 7,
            // A multiple of the page: the page past the end repeats the last one.
            records: 10,
            group: 2,
        },
        adobe_api,
    )
    .await;
}

/// An id list longer than `max_pages` calls is not compared (a half list would read as
/// mass deletion): the run says so, keeps the old list, enqueues nothing; with room, the
/// next run compares. Until `key_set_every_secs` has passed, a run makes no call at all.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_id_list_is_compared_whole_or_not_at_all() {
    let db = Db::new(12, 1);
    let allow: Allow = Arc::new(AtomicI64::new(-1));
    let api = FakeApi::start(adobe_api(db.clone(), allow)).await;
    let config = |max_pages: u32, every: u32| {
        parse_config(&format!(
            "[[providers]]\nname = \"magento\"\nscheme = \"token\"\nheader = \"x-token\"\nsecrets = [\"s\"]\n[[sinks]]\nkind = \"stdout\"\n[[sources]]\nname = \"src\"\nprovider = \"magento\"\nkind = \"adobe-commerce\"\napi_base = \"{}\"\nauth = \"bearer\"\napi_key = \"test-token\"\npage_size = 5\nmax_pages = {max_pages}\nfeeds = [\"orders-vanished\"]\nkey_set_every_secs = {every}\n",
            api.base
        ))
    };
    let p = sqlite_ports();
    let (recovered, _, errors) = run_all(&config(3, 0), &p).await;
    assert_eq!(
        (recovered, errors.len()),
        (0, 0),
        "the first list is kept: {errors:?}"
    );
    db.lock().unwrap().change(4, true);
    for id in 13..=20 {
        let mut d = db.lock().unwrap();
        d.seq += 1;
        let (at_ms, version) = (d.clock_ms, d.seq);
        d.recs.push(Rec {
            id,
            at_ms,
            version,
            deleted: false,
        });
    }
    // 19 live orders need 4 pages of 5.
    let (recovered, _, errors) = run_all(&config(3, 0), &p).await;
    assert_eq!(recovered, 0);
    assert!(
        errors
            .iter()
            .any(|e| e.contains("did not end within max_pages = 3 calls; nothing compared")),
        "{errors:?}"
    );
    assert!(deliver_all(&p).await.is_empty());
    let (recovered, _, errors) = run_all(&config(10, 0), &p).await;
    assert!(errors.is_empty(), "{errors:?}");
    assert_eq!(recovered, 1);
    assert_eq!(keys(&deliver_all(&p).await), ["magento:order/4@deleted"]);
    // Compared a moment ago: a day's interval makes no call.
    db.lock().unwrap().change(5, true);
    let calls = api.requests.lock().unwrap().len();
    let (recovered, _, errors) = run_all(&config(10, 86_400), &p).await;
    assert_eq!((recovered, errors.len()), (0, 0));
    assert_eq!(api.requests.lock().unwrap().len(), calls);
}

// ---- Dynamics 365 / Dataverse -------------------------------------------------------------

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dynamics_365_delta_links_with_deletions() {
    exercise(
        Case {
            kind: "dynamics-365",
            provider: "dynamics",
            extra: "auth = \"bearer\"\napi_key = \"test-token\"".into(),
            page_size: 4,
            key: |r| format!("dynamics:account/a-{}@{}", r.id, r.version),
            deleted_key: Some(|r| format!("dynamics:account/a-{}@deleted", r.id)),
            crash_changes: 6,
            records: 9,
            group: 1,
        },
        dataverse_api,
    )
    .await;
}

// ---- SAP Business One -------------------------------------------------------------------

/// SAP Business One announces no deletions either: its id list pages by `nextLink`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sap_business_one_deletions_by_comparing_id_lists() {
    exercise(
        Case {
            kind: "sap-business-one",
            provider: "sap",
            extra: "auth = \"bearer\"\napi_key = \"test-token\"\nfeeds = [\"orders\", \"orders-vanished\"]\nkey_set_every_secs = 0".into(),
            page_size: 3,
            key: |r| format!("sap:order/{}@{}", r.id, r.secs()),
            deleted_key: Some(|r| format!("sap:order/{}@deleted", r.id)),
            crash_changes: 7,
            records: 10,
            group: 2,
        },
        sap_api,
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sap_business_one_orders_by_update_date_and_time() {
    exercise(
        Case {
            kind: "sap-business-one",
            provider: "sap",
            extra: "auth = \"bearer\"\napi_key = \"test-token\"".into(),
            page_size: 3,
            key: |r| format!("sap:order/{}@{}", r.id, r.secs()),
            deleted_key: None,
            crash_changes: 7,
            records: 10,
            group: 2,
        },
        sap_api,
    )
    .await;
}

// ---- QuickBooks Online ------------------------------------------------------------------

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn quickbooks_change_data_capture_past_a_thousand() {
    exercise(Case {
            kind: "quickbooks",
            provider: "quickbooks",
            extra: "params = { realm_id = \"9130-realm\" }\nauth = \"bearer\"\napi_key = \"test-token\"".into(),
            page_size: 100,
            key: |r| format!("quickbooks:invoice/{}@{}", r.id, r.version),
            deleted_key: Some(|r| format!("quickbooks:invoice/{}@deleted", r.id)),
            crash_changes: 1003,
            records: 1010,
        group: 4,
    }, quickbooks_api)
    .await;
}

// ---- WooCommerce ------------------------------------------------------------------------

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn woocommerce_orders_and_trashed_orders() {
    exercise(
        Case {
            kind: "woocommerce",
            provider: "woocommerce",
            extra: "auth = \"basic\"\nusername = \"ck_key\"\napi_key = \"cs_secret\"".into(),
            page_size: 5,
            key: |r| format!("woocommerce:order/{}@{}", r.id, r.secs()),
            deleted_key: Some(|r| format!("woocommerce:order/{}@deleted", r.id)),
            crash_changes: 8,
            records: 12,
            group: 2,
        },
        woo_api,
    )
    .await;
}

// ---- Webhooks that carry the record ----------------------------------------------------

/// A webhook through the preset's normalization (signature checks are `webhook_http`'s).
fn webhook(cfg: &Config, headers: &[(&str, &str)], body: &serde_json::Value) -> Envelope {
    let provider = cfg.provider("hooks").unwrap();
    let mut h = inlet_core::headers::Headers::new().with("content-type", "application/json");
    for (k, v) in headers {
        h = h.with(k, *v);
    }
    let body = body.to_string();
    inlet_core::normalize::normalize(
        &inlet_core::normalize::Incoming {
            provider: &provider.name,
            scheme: &provider.scheme,
            headers: &h,
            body: body.as_bytes(),
            received_at: OffsetDateTime::now_utc(),
            correlation_id: "c",
            source: inlet_core::envelope::Source::Webhook,
        },
        &provider.rules,
    )
    .unwrap()
}

/// A record's webhook: its headers and body.
type HookFor = fn(&Rec) -> (Vec<(&'static str, &'static str)>, serde_json::Value);

/// The preset's webhook and its source, one provider name: a change delivered by one is a
/// duplicate when the other brings it — either order — and so is a deletion.
async fn webhook_and_poll_converge(
    kind: &str,
    scheme_lines: &str,
    source_lines: &str,
    fake: Fake,
    update: HookFor,
    delete: HookFor,
) {
    let db = Db::new(4, 1);
    let allow: Allow = Arc::new(AtomicI64::new(-1));
    let api = FakeApi::start(fake(db.clone(), allow)).await;
    let cfg = parse_config(&format!(
        r#"
[[providers]]
name = "hooks"
{scheme_lines}

[[sinks]]
kind = "stdout"

[[sources]]
name = "src"
provider = "hooks"
kind = "{kind}"
api_base = "{base}"
page_size = 2
settle_secs = 0
lookback_secs = 14400
max_attempts = 1
{source_lines}
"#,
        base = api.base
    ));
    let p = sqlite_ports();

    // The poll first; the late webhook of the same change is a duplicate.
    run_all(&cfg, &p).await;
    assert_eq!(deliver_all(&p).await.len(), 4, "{kind}");
    let rec = db.lock().unwrap().recs[0].clone();
    let (headers, body) = update(&rec);
    let late = webhook(&cfg, &headers, &body);
    // WooCommerce names the resource in a header its signature leaves out: the signed
    // body's hash is claimed beside the key, so the body under another resource is refused.
    assert_eq!(late.body_guard, kind == "woocommerce", "{kind}");
    p.queue.send(&late).await.unwrap();
    assert_eq!(
        deliver_all(&p).await,
        vec![],
        "{kind}: {} was polled",
        late.key
    );

    // The webhook first (an update, then a deletion); the poll that follows brings nothing new.
    db.lock().unwrap().change(2, false);
    db.lock().unwrap().change(3, true);
    let recs = db.lock().unwrap().recs.clone();
    for (headers, body) in [update(&recs[1]), delete(&recs[2])] {
        p.queue.send(&webhook(&cfg, &headers, &body)).await.unwrap();
    }
    let got = deliver_all(&p).await;
    assert_eq!(got.len(), 2, "{kind}: {got:?}");
    assert!(
        got[0].0.ends_with(&format!("/2@{}", recs[1].secs())),
        "{got:?}"
    );
    assert!(got[1].0.ends_with("/3@deleted"), "{got:?}");
    let (recovered, scanned, errors) = run_all(&cfg, &p).await;
    assert!(errors.is_empty(), "{kind}: {errors:?}");
    assert!(
        scanned >= 2,
        "{kind}: the poll read both changes ({scanned})"
    );
    assert_eq!(recovered, 0, "{kind}: and knew both from the webhooks");
    assert_eq!(deliver_all(&p).await, vec![], "{kind}: nothing to deliver");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn woocommerce_webhooks_and_the_poll_key_a_change_alike() {
    // Webhook payloads from https://woocommerce.github.io/woocommerce-rest-api-docs/#webhooks
    // (read 2026-12-06): the resource as the REST API returns it; a deletion `{"id": …}`.
    webhook_and_poll_converge(
        "woocommerce",
        "scheme = \"woocommerce\"\nsecrets = [\"wc-secret\"]",
        "auth = \"basic\"\nusername = \"ck_key\"\napi_key = \"cs_secret\"",
        woo_api,
        |r| {
            let fmt = time::macros::format_description!("[year]-[month]-[day]T[hour]:[minute]:[second]");
            (
                vec![("x-wc-webhook-topic", "order.updated"), ("x-wc-webhook-resource", "order"), ("x-wc-webhook-event", "updated"), ("x-wc-webhook-delivery-id", "d-1")],
                json!({"id": r.id, "status": "processing", "date_modified_gmt": r.at().format(&fmt).unwrap()}),
            )
        },
        |r| {
            (
                vec![("x-wc-webhook-topic", "order.deleted"), ("x-wc-webhook-resource", "order"), ("x-wc-webhook-event", "deleted"), ("x-wc-webhook-delivery-id", "d-2")],
                json!({"id": r.id}),
            )
        },
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pipedrive_webhooks_and_the_poll_key_a_change_alike() {
    // Webhooks v2 (https://pipedrive.readme.io/docs/guide-for-webhooks-v2, read 2026-12-06):
    // `meta.entity`, `meta.entity_id`, `meta.action`; the record in `data`, `null` on delete.
    webhook_and_poll_converge(
        "pipedrive",
        "scheme = \"pipedrive\"\nsecrets = [\"inlet:pass\"]",
        "auth = \"bearer\"\napi_key = \"test-token\"",
        pipedrive_api,
        |r| {
            (
                vec![],
                json!({"meta": {"action": "change", "entity": "deal", "entity_id": r.id.to_string(), "version": "2.0"},
                       "data": {"id": r.id, "update_time": rfc3339(r.at())}, "previous": {}}),
            )
        },
        |r| {
            (
                vec![],
                json!({"meta": {"action": "delete", "entity": "deal", "entity_id": r.id.to_string(), "version": "2.0"},
                       "data": null, "previous": {"id": r.id}}),
            )
        },
    )
    .await;
}

#[test]
fn pipedrive_v1_webhooks_key_by_the_current_update_time() {
    // Webhooks v1 (https://pipedrive.readme.io/docs/guide-for-webhooks): `meta.object`,
    // `meta.id`, the record in `current` with an SQL-style UTC time; deletions `deleted`.
    let cfg = parse_config(
        "[[providers]]\nname = \"hooks\"\nscheme = \"pipedrive\"\nsecrets = [\"inlet:pass\"]\n[[sinks]]\nkind = \"stdout\"\n",
    );
    let updated = json!({"v": 1, "meta": {"v": 1, "action": "updated", "object": "deal", "id": 7, "timestamp": 1705329100},
                         "current": {"id": 7, "update_time": "2024-01-15 14:30:00"}, "previous": {}});
    let env = webhook(&cfg, &[], &updated);
    assert_eq!(env.key.to_string(), "hooks:deal/7@1705329000");
    assert_eq!(env.entity.as_deref(), Some("deal/7"));
    assert_eq!(env.version, Some(1_705_329_000_000_000_000));
    let deleted = json!({"v": 1, "meta": {"v": 1, "action": "deleted", "object": "deal", "id": 7}, "current": null, "previous": {"id": 7}});
    assert_eq!(
        webhook(&cfg, &[], &deleted).key.to_string(),
        "hooks:deal/7@deleted"
    );
    // No record time (a body that is not a change): the key falls back to the body's hash.
    let other =
        json!({"meta": {"action": "updated", "object": "deal", "id": 7}, "current": {"id": 7}});
    assert!(webhook(&cfg, &[], &other)
        .key
        .to_string()
        .starts_with("hooks:sha256-"));
    let garbled = json!({"meta": {"action": "updated", "object": "deal", "id": 7}, "current": {"id": 7, "update_time": "not a time"}});
    assert!(webhook(&cfg, &[], &garbled)
        .key
        .to_string()
        .starts_with("hooks:sha256-"));
}

// ---- Shopify GraphQL --------------------------------------------------------------------

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shopify_graphql_orders_converge_with_the_webhook_and_wait_out_throttling() {
    let db = Db::new(11, 2);
    let allow: Allow = Arc::new(AtomicI64::new(-1));
    let throttled = Arc::new(AtomicI64::new(1));
    let api = FakeApi::start(shopify_graphql_api(
        db.clone(),
        allow.clone(),
        throttled.clone(),
    ))
    .await;
    exercise_with(
        Case {
            kind: "shopify-graphql",
            provider: "shopify",
            extra: "auth = \"api-key\"\napi_key_header = \"X-Shopify-Access-Token\"\napi_key = \"shpat_test\"".into(),
            page_size: 5,
            key: |r| format!("shopify:orders/{}@{}", r.id, r.secs()),
            deleted_key: None,
            crash_changes: 7,
            records: 11,
            group: 2,
        },
        db.clone(),
        allow,
        &api.base,
    )
    .await;
    assert!(
        throttled.load(Ordering::SeqCst) < 0,
        "the throttled query was retried"
    );

    // A Shopify webhook for the same change names the same key (`{resource}/{id}@{updated_at}`).
    let cfg = parse_config(&format!(
        "{}\n[[sinks]]\nkind = \"stdout\"\n",
        providers_toml()
    ));
    let p = cfg.provider("shopify").unwrap();
    let rec = db.lock().unwrap().recs[0].clone();
    let body = json!({"id": rec.id, "updated_at": rfc3339(rec.at())}).to_string();
    let env = inlet_core::normalize::normalize(
        &inlet_core::normalize::Incoming {
            provider: &p.name,
            scheme: &p.scheme,
            headers: &inlet_core::headers::Headers::new().with("x-shopify-topic", "orders/updated"),
            body: body.as_bytes(),
            received_at: OffsetDateTime::now_utc(),
            correlation_id: "c",
            source: inlet_core::envelope::Source::Webhook,
        },
        &p.rules,
    )
    .unwrap();
    assert_eq!(
        env.key.to_string(),
        format!("shopify:orders/{}@{}", rec.id, rec.secs())
    );
}

// ---- Bad input --------------------------------------------------------------------------

/// A page the API should not have sent: a clear report on the run, the cursor left where
/// it stood, nothing enqueued.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_pages_are_reported_and_move_nothing() {
    let host_row = |t: i64| json!({"ID": "a-1", "Timestamp": t});
    let cases: Vec<(&str, &str, Answer, &str)> = vec![
        (
            "exact-online",
            "params = { division = \"1\" }",
            (
                200,
                vec![],
                r#"{"d": {"results": [{"ID": "a", "Timesta"#.into(),
            ),
            "not valid JSON",
        ),
        (
            "exact-online",
            "params = { division = \"1\" }",
            (200, vec![], "<html>Service Unavailable</html>".into()),
            "not valid JSON",
        ),
        (
            "exact-online",
            "params = { division = \"1\" }",
            json_answer(200, json!({"d": {"next": []}})),
            "no array at \"/d/results\"",
        ),
        (
            "exact-online",
            "params = { division = \"1\" }",
            json_answer(200, json!({"d": {"results": [{"ID": "a-1"}]}})),
            "no integer row version at /Timestamp",
        ),
        (
            "exact-online",
            "params = { division = \"1\" }",
            json_answer(200, json!({"d": {"results": [host_row(10)]}})),
            "went backwards",
        ),
        (
            "exact-online",
            "params = { division = \"1\" }",
            json_answer(
                200,
                json!({"d": {"results": [host_row(60)], "__next": "https://attacker.example/api/v1/1/sync/CRM/Accounts?$skiptoken=2"}}),
            ),
            "leaves",
        ),
        (
            "shopify-graphql",
            "",
            json_answer(
                200,
                json!({"errors": [{"message": "Field 'orderz' doesn't exist on type 'QueryRoot'"}]}),
            ),
            "answered 200 with an error at /errors",
        ),
        (
            "dynamics-365",
            "",
            json_answer(200, json!({"value": []})),
            "no delta link at /@odata.deltaLink",
        ),
        (
            "dynamics-365",
            "",
            json_answer(
                200,
                json!({"value": [], "@odata.deltaLink": "https://elsewhere.example/api/data/v9.2/accounts?$deltatoken=9"}),
            ),
            "leaves",
        ),
        (
            "xero",
            "params = { tenant_id = \"t\" }",
            json_answer(
                200,
                json!({"Invoices": [{"InvoiceID": "i-1", "UpdatedDateUTC": "/Date(soon)/"}]}),
            ),
            "unparseable /UpdatedDateUTC",
        ),
        (
            "hubspot",
            "",
            (
                200,
                vec![],
                format!("{{\"results\": [\"{}\"]}}", "x".repeat(33 << 20)),
            ),
            "larger than",
        ),
    ];
    for (kind, params, answer, said) in cases {
        let api = FakeApi::start(Arc::new(move |_: &Recorded| answer.clone())).await;
        let case = Case {
            kind,
            provider: "p",
            extra: format!("{params}\nauth = \"bearer\"\napi_key = \"test-token\""),
            page_size: 5,
            key: |_| String::new(),
            deleted_key: None,
            crash_changes: 0,
            records: 0,
            group: 1,
        };
        let cfg = case_config(&case, &api.base);
        let p = sqlite_ports();
        let feeds: Vec<String> = inlet_sources::build(cfg.source("src").unwrap())
            .unwrap()
            .feeds
            .iter()
            .map(|f| f.name().to_string())
            .collect();
        for f in &feeds {
            // Where a row-version feed stood: 50.
            if kind == "exact-online" {
                p.cursors.save(f, "50").await.unwrap();
            }
        }
        let before: Vec<Option<String>> = {
            let mut v = Vec::new();
            for f in &feeds {
                v.push(p.cursors.load(f).await.unwrap());
            }
            v
        };
        let (recovered, _, errors) = run_all(&cfg, &p).await;
        let joined = errors.join(" | ");
        assert!(joined.contains(said), "{kind}: {said:?} in {joined}");
        assert_eq!(recovered, 0, "{kind}: {said}");
        for (f, was) in feeds.iter().zip(before) {
            assert_eq!(p.cursors.load(f).await.unwrap(), was, "{kind}: {said}");
        }
        assert!(
            p.queue
                .receive(10, Duration::from_secs(1))
                .await
                .unwrap()
                .is_empty(),
            "{kind}: {said}"
        );
    }
}
