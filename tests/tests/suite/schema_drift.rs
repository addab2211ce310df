//! Schema drift on both backends: a provider adds a field, drops one and turns a number
//! into a string — each found once (not once per event, not once per worker), counted,
//! written in the first event's history and listed by `inlet schema`; a pinned provider's
//! drifting events are held for review until an operator accepts the change.

use std::sync::Arc;
use std::time::Duration;

use serde_json::{json, Value};
use time::OffsetDateTime;

use inlet_core::clock::{Clock, ManualClock};
use inlet_core::envelope::{Envelope, Source};
use inlet_core::headers::Headers;
use inlet_core::ids::ProviderName;
use inlet_core::metrics::{Metrics, NoMetrics};
use inlet_core::normalize::{normalize, Incoming, NormalizeRules};
use inlet_core::ports::{
    ConflictStore, EntityVersions, History, Ledger, Queue, Receipt, Received, Shapes,
};
use inlet_core::shape::{DriftKind, FindingStatus, SchemaConfig};
use inlet_core::signature::Scheme;
use inlet_core::usecase::drift::SchemaWatch;
use inlet_core::usecase::process::{Disposition, Done, Processor, WorkerStores};
use inlet_core::usecase::review;

#[derive(Clone)]
struct Backend {
    queue: Arc<dyn Queue>,
    history: Arc<dyn History>,
    ledger: Arc<dyn Ledger>,
    versions: Arc<dyn EntityVersions>,
    conflicts: Arc<dyn ConflictStore>,
    shapes: Arc<dyn Shapes>,
    clock: Arc<ManualClock>,
    metrics: Arc<dyn Metrics>,
}

#[derive(Default)]
struct Delivered(std::sync::Mutex<Vec<String>>);

#[async_trait::async_trait]
impl inlet_core::ports::Sink for Delivered {
    fn name(&self) -> &str {
        "delivered"
    }
    async fn deliver(
        &self,
        record: &inlet_core::envelope::SinkRecord,
    ) -> Result<(), inlet_core::ports::SinkError> {
        self.0.lock().unwrap().push(record.key.clone());
        Ok(())
    }
}

/// A webhook from `provider` with id `id` and type `charge.succeeded`.
fn event(provider: &str, id: &str, body: Value) -> Envelope {
    let p = ProviderName::parse(provider).unwrap();
    let h = Headers::new().with("webhook-id", id);
    let body = body.to_string();
    normalize(
        &Incoming {
            provider: &p,
            scheme: &Scheme::StandardWebhooks,
            headers: &h,
            body: body.as_bytes(),
            received_at: OffsetDateTime::now_utc(),
            correlation_id: "c",
            source: Source::Webhook,
        },
        &NormalizeRules {
            type_pointer: Some("/type".into()),
            ..NormalizeRules::default()
        },
    )
    .unwrap()
}

fn charge(provider: &str, id: &str, fields: Value) -> Envelope {
    let mut body = json!({"type": "charge.succeeded", "id": id});
    for (k, v) in fields.as_object().unwrap() {
        body[k] = v.clone();
    }
    event(provider, id, body)
}

fn received(envs: &[Envelope]) -> Vec<Received> {
    envs.iter()
        .enumerate()
        .map(|(i, e)| Received {
            receipt: Receipt(format!("r{i}")),
            receive_count: 1,
            envelope: Ok(e.clone()),
        })
        .collect()
}

fn watch(b: &Backend, pin: &[&str]) -> Arc<SchemaWatch> {
    Arc::new(SchemaWatch::new(
        SchemaConfig {
            enabled: true,
            learn_events: 3,
            flush_secs: 60,
            pin: pin.iter().map(|p| p.to_string()).collect(),
        },
        Arc::clone(&b.shapes),
        Arc::clone(&b.conflicts),
        Arc::clone(&b.metrics),
    ))
}

fn processor(b: &Backend, watch: Arc<SchemaWatch>, sink: Arc<Delivered>) -> Processor {
    let config = inlet_tests::worker_config(
        "[history]
max_payload_bytes = 10000
",
    );
    let stores = WorkerStores {
        ledger: Arc::clone(&b.ledger),
        versions: Arc::clone(&b.versions),
        conflicts: Arc::clone(&b.conflicts),
        history: Arc::clone(&b.history),
        shapes: Arc::clone(&b.shapes),
    };
    let mut processor = Processor::from_config(
        &config,
        stores,
        vec![sink],
        Arc::clone(&b.metrics),
        b.clock.clone(),
    );
    // The test drives the watch itself (its flushes and its clock).
    processor.schema = Some(watch);
    processor
}

async fn outcomes(p: &Processor, envs: &[Envelope]) -> Vec<&'static str> {
    p.handle_batch(&received(envs))
        .await
        .into_iter()
        .map(|(_, d)| match d {
            Disposition::Ack(Done::Delivered) => "delivered",
            Disposition::Ack(Done::Held { .. }) => "held",
            Disposition::Ack(Done::Duplicate) => "duplicate",
            other => panic!("unexpected {other:?}"),
        })
        .collect()
}

async fn detail(b: &Backend, key: &str) -> Option<String> {
    let record = b.history.event(key, b.clock.now()).await.unwrap().unwrap();
    record.attempts.last().unwrap().detail.clone()
}

/// Ten events in three batches: three to learn from, four adding `tax` and turning
/// `amount` into a string, three without `currency`. Three findings, once each.
async fn each_change_is_found_once(b: Backend) {
    let sink = Arc::new(Delivered::default());
    let p = processor(&b, watch(&b, &[]), sink.clone());
    let usual = json!({"amount": 500, "currency": "eur", "refunded": null});
    let learn: Vec<Envelope> = (1..=3)
        .map(|i| charge("shop", &format!("a{i}"), usual.clone()))
        .collect();
    assert_eq!(outcomes(&p, &learn).await, ["delivered"; 3]);
    let changed = json!({"amount": "500", "currency": "eur", "refunded": "2026-12-01", "tax": 21});
    let drifted: Vec<Envelope> = (1..=4)
        .map(|i| charge("shop", &format!("b{i}"), changed.clone()))
        .collect();
    assert_eq!(outcomes(&p, &drifted[..2]).await, ["delivered"; 2]);
    assert_eq!(outcomes(&p, &drifted[2..]).await, ["delivered"; 2]);
    let dropped: Vec<Envelope> = (1..=3)
        .map(|i| {
            charge(
                "shop",
                &format!("c{i}"),
                json!({"amount": "7", "tax": 1, "refunded": null}),
            )
        })
        .collect();
    assert_eq!(outcomes(&p, &dropped).await, ["delivered"; 3]);
    assert_eq!(
        sink.0.lock().unwrap().len(),
        10,
        "drift never blocks delivery"
    );

    let findings = b.shapes.findings(false, 100).await.unwrap();
    let mut seen: Vec<(DriftKind, &str, &str)> = findings
        .iter()
        .map(|f| (f.kind, f.path.as_str(), f.example_key.as_str()))
        .collect();
    seen.sort();
    assert_eq!(
        seen,
        [
            (DriftKind::Added, "tax", "shop:b1"),
            (DriftKind::Missing, "currency", "shop:c1"),
            (DriftKind::Retyped, "amount", "shop:b1"),
        ],
        "null → string (refunded) is not drift"
    );
    assert!(findings.iter().all(|f| f.event_type == "charge.succeeded"));
    // The first event that showed a change says so in its history; the next do not.
    assert_eq!(
        detail(&b, "shop:b1").await.as_deref(),
        Some("schema drift: path amount is string (was number); new path tax (number)")
    );
    assert_eq!(detail(&b, "shop:b2").await, None);
    assert_eq!(
        detail(&b, "shop:c1").await.as_deref(),
        Some("schema drift: path currency (string) missing, though every event so far had it")
    );

    // Another worker starts: it reads the shape the first one wrote after its first batch
    // (three events), so `d4` is drift to it too — the same findings, known, not new.
    let other = processor(&b, watch(&b, &[]), Arc::new(Delivered::default()));
    let fresh: Vec<Envelope> = (1..=3)
        .map(|i| charge("shop", &format!("d{i}"), usual.clone()))
        .chain([charge("shop", "d4", changed.clone())])
        .collect();
    assert_eq!(outcomes(&other, &fresh).await, ["delivered"; 4]);
    assert_eq!(b.shapes.findings(true, 100).await.unwrap().len(), 3);
    // A minute on, its next batch writes what it learned beside what was stored.
    b.clock.advance(Duration::from_secs(61));
    assert_eq!(
        outcomes(&other, &[charge("shop", "d5", usual.clone())]).await,
        ["delivered"]
    );
    let shapes = b.shapes.load_shapes().await.unwrap();
    let shop = shapes.iter().find(|s| s.provider == "shop").unwrap();
    assert_eq!(shop.shape.events, 3 + 5);
    assert_eq!(shop.shape.paths["tax"].count, 1);
    assert_eq!(shop.shape.paths["amount"].count, 8);
}

/// A pinned provider: drifting events are held (each one), the finding is recorded once;
/// once accepted, the next such event is delivered, and a held one can be released.
async fn a_pinned_shape_holds_until_accepted(b: Backend) {
    let sink = Arc::new(Delivered::default());
    let p = processor(&b, watch(&b, &["crm"]), sink.clone());
    let learn: Vec<Envelope> = (1..=3)
        .map(|i| charge("crm", &format!("p{i}"), json!({"name": "Bo"})))
        .collect();
    assert_eq!(outcomes(&p, &learn).await, ["delivered"; 3]);
    let extra = |id: &str| charge("crm", id, json!({"name": "Bo", "vip": true}));
    assert_eq!(outcomes(&p, &[extra("q1"), extra("q2")]).await, ["held"; 2]);
    let pending = b.conflicts.pending_reviews(10).await.unwrap();
    let keys: Vec<&str> = pending.iter().map(|r| r.key.as_str()).collect();
    assert_eq!(keys, ["crm:q1", "crm:q2"]);
    assert!(
        pending[0].reason.contains("new path vip (boolean)")
            && pending[0].reason.contains("pinned"),
        "{}",
        pending[0].reason
    );
    assert!(detail(&b, "crm:q1")
        .await
        .unwrap()
        .starts_with("held for review (pinned schema)"));
    let findings = b.shapes.findings(false, 10).await.unwrap();
    assert_eq!(findings.len(), 1, "{findings:?}");
    let accepted = b
        .shapes
        .accept_finding(&findings[0].id, b.clock.now())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(accepted.status, FindingStatus::Accepted);
    assert!(b.shapes.findings(false, 10).await.unwrap().is_empty());
    assert_eq!(b.shapes.findings(true, 10).await.unwrap().len(), 1);
    // The worker reads the accepted shape at its next flush.
    b.clock.advance(Duration::from_secs(61));
    assert_eq!(
        outcomes(&p, &[extra("q3")]).await,
        ["held"],
        "read at the end of this batch"
    );
    assert_eq!(outcomes(&p, &[extra("q4")]).await, ["delivered"]);
    // A held event is released as a replay (no conflict rules needed for it).
    let released = review::release(
        b.conflicts.as_ref(),
        b.queue.as_ref(),
        &[],
        "crm:q1",
        b.clock.now(),
    )
    .await
    .unwrap();
    assert_eq!(released.key, "crm:q1");
    assert_eq!(b.conflicts.pending_reviews(10).await.unwrap().len(), 2);
}

// ---- SQLite ------------------------------------------------------------------------------

fn sqlite() -> (tempfile::TempDir, Backend, inlet_local::Store) {
    let dir = tempfile::tempdir().unwrap();
    let clock = Arc::new(ManualClock::at_unix(
        OffsetDateTime::now_utc().unix_timestamp(),
    ));
    let store = inlet_local::Store::open(
        &dir.path().join("inlet.db"),
        inlet_local::StoreOptions::default(),
        clock.clone(),
    )
    .unwrap();
    let s = Arc::new(store.clone());
    let backend = Backend {
        queue: s.clone(),
        history: s.clone(),
        ledger: s.clone(),
        versions: s.clone(),
        conflicts: s.clone(),
        shapes: s,
        clock,
        metrics: Arc::new(inlet_local::LocalMetrics::new()),
    };
    (dir, backend, store)
}

fn inlet(args: &[&str]) -> (i32, String, String) {
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_inlet-under-test"))
        .args(args)
        .output()
        .unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// `inlet schema` on what a backend found: list, show, accept (twice: idempotent), and
/// the exit codes for unknown ids and providers.
fn check_schema_cli(run: impl Fn(&[&str]) -> (i32, String, String)) {
    let (code, out, err) = run(&["schema", "list", "--json"]);
    assert_eq!(code, 0, "{err}");
    let lines: Vec<Value> = out
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(lines.len(), 3, "{out}");
    let added = lines.iter().find(|l| l["kind"] == "added").unwrap();
    assert_eq!(
        (
            added["path"].as_str(),
            added["new"].as_str(),
            added["example_key"].as_str()
        ),
        (Some("tax"), Some("number"), Some("shop:b1"))
    );
    let id = added["id"].as_str().unwrap().to_string();
    let (code, out, _) = run(&["schema", "list"]);
    assert_eq!(code, 0);
    assert!(
        out.contains("new path tax (number)") && out.contains("(first: shop:b1)"),
        "{out}"
    );
    let (code, out, err) = run(&["schema", "show", "shop"]);
    assert_eq!(code, 0, "{err}");
    assert!(
        out.starts_with("shop charge.succeeded: learned from"),
        "{out}"
    );
    assert!(out.contains("  amount  number|string  "), "{out}");
    assert!(out.contains(&format!("drift {id} (open)")), "{out}");
    let (code, _, err) = run(&["schema", "show", "nobody"]);
    assert_eq!(code, 4, "{err}");
    let (code, out, err) = run(&["schema", "accept", &id, "000000000000"]);
    assert_eq!(code, 4, "{out}{err}");
    assert!(out.contains(&format!("{id}: accepted")), "{out}");
    assert!(err.contains("no such finding: 000000000000"), "{err}");
    let (code, out, _) = run(&["schema", "accept", &id]);
    assert_eq!(code, 0, "accepting again changes nothing: {out}");
    let (_, out, _) = run(&["schema", "list", "--json"]);
    assert_eq!(out.lines().count(), 2, "{out}");
    let (_, out, _) = run(&["schema", "list", "--all", "--json"]);
    assert_eq!(out.lines().count(), 3, "{out}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_each_change_is_found_once_and_listed() {
    let (dir, b, store) = sqlite();
    let metrics = Arc::new(inlet_local::LocalMetrics::new());
    let b = Backend {
        metrics: metrics.clone(),
        ..b
    };
    each_change_is_found_once(b).await;
    // Counted once per finding, by provider and kind.
    metrics.flush(&store).await.unwrap();
    let status = store.status().await.unwrap();
    let drift: u64 = status
        .counters
        .iter()
        .flatten()
        .filter(|c| c.name == inlet_core::metrics::names::SCHEMA_DRIFT)
        .map(|c| c.value)
        .sum();
    assert_eq!(drift, 3);
    let data = dir.path().to_str().unwrap().to_string();
    check_schema_cli(|args| {
        let mut all = args.to_vec();
        all.extend(["--data-dir", &data]);
        inlet(&all)
    });
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_a_pinned_shape_holds_until_accepted() {
    let (_dir, b, _store) = sqlite();
    a_pinned_shape_holds_until_accepted(b).await;
}

// ---- DynamoDB on the emulator ------------------------------------------------------------

async fn dynamodb(moto: &inlet_tests::moto::Moto) -> (Backend, String, String, String) {
    let (q, dlq) = moto.queues(3, false).await;
    let table = moto.table().await;
    let store = Arc::new(inlet_aws::DynamoStore::new(moto.dynamodb(), table.clone()));
    let backend = Backend {
        queue: Arc::new(moto.queue(&q, &dlq)),
        history: store.clone(),
        ledger: store.clone(),
        versions: store.clone(),
        conflicts: store.clone(),
        shapes: store,
        clock: Arc::new(ManualClock::at_unix(
            OffsetDateTime::now_utc().unix_timestamp(),
        )),
        metrics: Arc::new(NoMetrics),
    };
    (backend, q, dlq, table)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs the AWS emulator (moto), which scripts/test starts"]
async fn dynamodb_each_change_is_found_once_and_listed() {
    let moto = inlet_tests::moto::Moto::connect().await;
    let (b, q, dlq, table) = dynamodb(&moto).await;
    each_change_is_found_once(b).await;
    let env = crate::outbox_aws::stack_env(&q, &dlq, &table);
    check_schema_cli(|args| crate::outbox_aws::inlet_on_stack(args, &moto, &env));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs the AWS emulator (moto), which scripts/test starts"]
async fn dynamodb_a_pinned_shape_holds_until_accepted() {
    let moto = inlet_tests::moto::Moto::connect().await;
    let (b, _, _, _) = dynamodb(&moto).await;
    a_pinned_shape_holds_until_accepted(b).await;
}

/// Workers merging shapes at once lose nothing (the conditional write's race).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs the AWS emulator (moto), which scripts/test starts"]
async fn dynamodb_concurrent_merges_add_up() {
    let moto = inlet_tests::moto::Moto::connect().await;
    let (b, _, _, _) = dynamodb(&moto).await;
    let mut one = inlet_core::shape::Shape::default();
    one.absorb(&inlet_core::shape::shape_of(&json!({"a": 1})));
    let merges = (0..8).map(|_| b.shapes.merge_shape("shop", "t", &one));
    for result in futures::future::join_all(merges).await {
        result.unwrap();
    }
    let all = b.shapes.load_shapes().await.unwrap();
    assert_eq!(all.len(), 1);
    assert_eq!(all[0].shape.events, 8);
    assert_eq!(all[0].shape.paths["a"].count, 8);
}

/// `inlet dev` runs four workers on one watch: another worker's flush between this batch's
/// check and its history write must not lose the drift note; a note never taken (its event
/// was not delivered) goes after a quarter of an hour.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_drift_note_survives_another_workers_flush() {
    let (_dir, b, _store) = sqlite();
    let watch = watch(&b, &[]);
    let usual: Vec<Envelope> = (1..=3)
        .map(|i| charge("shop", &format!("n{i}"), json!({"amount": 1})))
        .collect();
    watch
        .observe(&usual.iter().collect::<Vec<_>>(), b.clock.now())
        .await;
    let taken = charge("shop", "n4", json!({"amount": 1, "tax": 2}));
    let lost = charge("shop", "n5", json!({"amount": 1, "fee": 2}));
    let drifts = watch.observe(&[&taken, &lost], b.clock.now()).await;
    assert!(drifts.iter().all(Option::is_some));
    b.clock.advance(Duration::from_secs(61));
    watch.flush_if_due(b.clock.now()).await;
    assert_eq!(
        watch.take_note("shop:n4").as_deref(),
        Some("schema drift: new path tax (number)")
    );
    assert_eq!(watch.take_note("shop:n4"), None, "said once");
    b.clock.advance(Duration::from_secs(15 * 60));
    watch.flush_if_due(b.clock.now()).await;
    assert_eq!(watch.take_note("shop:n5"), None);
}
