//! Conflict rules on both backends: the `ConflictStore` contract (compare-and-set, the
//! review queue), and the rules at work in the worker — a CRM and a webshop changing one
//! customer — with an operator releasing and discarding held changes.

use std::sync::Arc;
use std::time::Duration;

use serde_json::{json, Value};
use time::OffsetDateTime;

use inlet_core::clock::{Clock, ManualClock, SystemClock};
use inlet_core::conflict::{ConflictRule, Decision, EntityState, RuleKind, Stamp};
use inlet_core::envelope::{Envelope, Source};
use inlet_core::headers::Headers;
use inlet_core::ids::{EventKey, ProviderName};
use inlet_core::metrics::{names, Metrics, NoMetrics};
use inlet_core::normalize::{normalize, Incoming, NormalizeRules};
use inlet_core::ports::History;
use inlet_core::ports::{
    ConflictStore, EntityVersions, Ledger, LedgerState, Queue, Receipt, Received, Review,
    ReviewStatus,
};
use inlet_core::signature::Scheme;
use inlet_core::usecase::process::{settle, Disposition, Done, Processor, WorkerStores};
use inlet_core::usecase::review::{self, ReviewError};

/// An event from `provider` about customer `id`'s record, as a webhook would bring it.
fn change(provider: &str, event: &str, body: Value) -> Envelope {
    let p = ProviderName::parse(provider).unwrap();
    let h = Headers::new().with("webhook-id", event);
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
            entity_pointer: Some("/id".into()),
            entity_type: Some("customer".into()),
            version_pointer: Some("/rev".into()),
            ..NormalizeRules::default()
        },
    )
    .unwrap()
}

fn rules() -> Vec<ConflictRule> {
    vec![
        ConflictRule {
            entity_type: "customer".into(),
            kind: RuleKind::SourcePriority,
            priority: vec!["crm".into(), "shop".into()],
            window: Some(Duration::from_secs(3600)),
            fields: vec!["/email".into()],
        },
        ConflictRule {
            entity_type: "customer".into(),
            kind: RuleKind::ManualReview,
            priority: vec![],
            window: Some(Duration::from_secs(86_400)),
            fields: vec!["/phone".into()],
        },
    ]
}

fn review_of(key: &str, held_at: OffsetDateTime) -> Review {
    let env = change("shop", key, json!({"id": 7, "phone": "+32"}));
    Review {
        key: env.key.to_string(),
        entity: "customer/7".into(),
        rule: RuleKind::ManualReview,
        reason: "field /phone: shop changed it 1 s after crm did (crm:e1)".into(),
        held_at,
        against: Stamp {
            provider: "crm".into(),
            key: "crm:e1".into(),
            version: None,
            at_ms: 0,
            value_sha256: None,
            value: Some(json!("+31")),
        },
        field: Some("/phone".into()),
        envelope: env,
        status: ReviewStatus::Pending,
        resolved_at: None,
    }
}

// ---- the store contract ------------------------------------------------------------------

async fn entity_state_is_compare_and_set(c: &dyn ConflictStore, v: &dyn EntityVersions) {
    assert_eq!(
        c.load_entity("customer/1").await.unwrap(),
        (EntityState::default(), 0)
    );
    let mut state = EntityState::default();
    state.versions.insert("crm".into(), 3);
    assert!(c.save_entity("customer/1", &state, 0).await.unwrap());
    // A second writer that read revision 0 too loses, and changes nothing.
    let mut other = EntityState::default();
    other.versions.insert("shop".into(), 9);
    assert!(!c.save_entity("customer/1", &other, 0).await.unwrap());
    assert_eq!(
        c.load_entity("customer/1").await.unwrap(),
        (state.clone(), 1)
    );
    state.versions.insert("shop".into(), 4);
    assert!(c.save_entity("customer/1", &state, 1).await.unwrap());
    assert!(!c.save_entity("customer/1", &other, 1).await.unwrap());
    assert_eq!(c.load_entity("customer/1").await.unwrap(), (state, 2));

    // An entity the plain version check already knows (before a rule was declared).
    v.advance("customer/2", 5).await.unwrap();
    assert_eq!(c.load_entity("customer/2").await.unwrap().1, 0);
    assert!(c
        .save_entity("customer/2", &EntityState::default(), 0)
        .await
        .unwrap());
}

async fn reviews_are_held_listed_and_closed_once(c: &dyn ConflictStore) {
    let t0 = OffsetDateTime::from_unix_timestamp(1_800_000_000).unwrap();
    let late = review_of("e_late", t0 + Duration::from_secs(60));
    let early = review_of("e_early", t0);
    c.hold(&late).await.unwrap();
    c.hold(&early).await.unwrap();
    c.hold(&early).await.unwrap(); // a redelivered copy: still one review
    let pending = c.pending_reviews(10).await.unwrap();
    let keys: Vec<&str> = pending.iter().map(|r| r.key.as_str()).collect();
    assert_eq!(keys, ["shop:e_early", "shop:e_late"], "oldest first");
    assert_eq!(pending[0], early, "both versions kept as held");
    assert_eq!(c.pending_reviews(1).await.unwrap().len(), 1);

    let closed_at = t0 + Duration::from_secs(120);
    assert!(c
        .close_review("shop:e_early", ReviewStatus::Discarded, closed_at)
        .await
        .unwrap());
    assert!(!c
        .close_review("shop:e_early", ReviewStatus::Released, closed_at)
        .await
        .unwrap());
    // Holding it again (a late redelivery) does not reopen a closed review.
    c.hold(&early).await.unwrap();
    let shown = c.review("shop:e_early").await.unwrap().unwrap();
    assert_eq!(shown.status, ReviewStatus::Discarded);
    assert_eq!(shown.resolved_at, Some(closed_at));
    let keys: Vec<String> = c
        .pending_reviews(10)
        .await
        .unwrap()
        .into_iter()
        .map(|r| r.key)
        .collect();
    assert_eq!(keys, ["shop:e_late"]);
    assert!(c.review("shop:nope").await.unwrap().is_none());
}

/// Writers racing on one entity: every change is applied once, none is lost.
async fn concurrent_settles_lose_no_change(c: Arc<dyn ConflictStore>) {
    let rules = vec![ConflictRule {
        entity_type: "customer".into(),
        kind: RuleKind::LastWriteWins,
        priority: vec![],
        window: None,
        fields: vec![],
    }];
    let tasks: Vec<_> = (0..6)
        .map(|i| {
            let c = Arc::clone(&c);
            let rules = rules.clone();
            tokio::spawn(async move {
                let env = change(&format!("p{i}"), "e", json!({"id": 9, "rev": 100 + i}));
                review::settle(c.as_ref(), &rules, &env, OffsetDateTime::now_utc())
                    .await
                    .unwrap()
            })
        })
        .collect();
    let mut applied = 0;
    for t in tasks {
        // A later arrival with an older version loses by last-write-wins; none errs.
        match t.await.unwrap() {
            Decision::Apply => applied += 1,
            Decision::Supersede { .. } => {}
            other => panic!("{other:?}"),
        }
    }
    // Each applied change is one revision and is still in the state: no write was lost
    // to another that read the same revision.
    let (state, rev) = c.load_entity("customer/9").await.unwrap();
    assert!(applied >= 1);
    assert_eq!(rev, applied);
    assert_eq!(state.versions.len() as u64, applied);
    assert!(
        state.versions.contains_key("p5"),
        "the newest version is applied"
    );
}

// ---- the rules at work -------------------------------------------------------------------

struct Backend {
    queue: Arc<dyn Queue>,
    stores: WorkerStores,
    clock: Arc<dyn Clock>,
    metrics: Arc<dyn Metrics>,
}

#[derive(Default)]
struct Delivered(std::sync::Mutex<Vec<(String, String)>>);

#[async_trait::async_trait]
impl inlet_core::ports::Sink for Delivered {
    fn name(&self) -> &str {
        "delivered"
    }
    async fn deliver(
        &self,
        record: &inlet_core::envelope::SinkRecord,
    ) -> Result<(), inlet_core::ports::SinkError> {
        self.0
            .lock()
            .unwrap()
            .push((record.key.clone(), record.source.as_str().to_string()));
        Ok(())
    }
}

fn received(envs: &[&Envelope]) -> Vec<Received> {
    envs.iter()
        .enumerate()
        .map(|(i, e)| Received {
            receipt: Receipt(format!("r{i}")),
            receive_count: 1,
            envelope: Ok((*e).clone()),
        })
        .collect()
}

/// A disposition's outcome, without the reason it carries.
fn done(d: &Disposition) -> &'static str {
    match d {
        Disposition::Ack(Done::Delivered) => "delivered",
        Disposition::Ack(Done::Duplicate) => "duplicate",
        Disposition::Ack(Done::Superseded { .. }) => "superseded",
        Disposition::Ack(Done::Held { .. }) => "held",
        Disposition::Ack(Done::ReplayRefused { .. }) => "replay refused",
        Disposition::Ack(Done::Stale { .. }) => "stale",
        Disposition::Retry { .. } => "retry",
        Disposition::Defer { .. } => "deferred",
        Disposition::DeadLetter { .. } => "dead letter",
    }
}

/// The reason the history keeps on an event's latest attempt.
async fn reason_of(history: &dyn History, key: &str, clock: &dyn Clock) -> String {
    let record = history.event(key, clock.now()).await.unwrap().unwrap();
    record
        .attempts
        .last()
        .unwrap()
        .detail
        .clone()
        .unwrap_or_default()
}

async fn outcome(ledger: &dyn Ledger, key: &EventKey, clock: &dyn Clock) -> String {
    match ledger.lookup(key, clock.now()).await.unwrap() {
        Some(entry) => match entry.state {
            LedgerState::Completed { outcome, .. } => outcome,
            other => format!("{other:?}"),
        },
        None => "absent".into(),
    }
}

/// A CRM (source of truth for e-mail) and a webshop change customer 42; phone changes by
/// two systems need a person.
async fn crm_and_shop_change_one_customer(b: Backend) {
    let sink = Arc::new(Delivered::default());
    let mut config = inlet_tests::worker_config(
        "[history]
max_payload_bytes = 10000
[schema]
enabled = false
",
    );
    config.conflicts = rules();
    let processor = Processor::from_config(
        &config,
        b.stores.clone(),
        vec![sink.clone()],
        Arc::clone(&b.metrics),
        Arc::clone(&b.clock),
    );
    let crm1 = change(
        "crm",
        "c1",
        json!({"id": 42, "email": "a@crm", "phone": "+31"}),
    );
    let shop_email = change("shop", "s1", json!({"id": 42, "email": "b@shop"}));
    let shop_phone = change("shop", "s2", json!({"id": 42, "phone": "+32"}));
    let shop_name = change(
        "shop",
        "s3",
        json!({"id": 42, "name": "Bo", "email": "a@crm"}),
    );
    assert_eq!(crm1.entity.as_deref(), Some("customer/42"));

    // One batch: the changes of one entity settle in arrival order.
    let batch = received(&[&crm1, &shop_email, &shop_phone, &shop_name, &shop_phone]);
    let dispositions: Vec<Disposition> = processor
        .handle_batch(&batch)
        .await
        .into_iter()
        .map(|(_, d)| d)
        .collect();
    let outcomes: Vec<&str> = dispositions.iter().map(done).collect();
    assert_eq!(
        outcomes,
        ["delivered", "superseded", "held", "delivered", "duplicate"]
    );
    let delivered = |s: &Delivered| -> Vec<String> {
        s.0.lock().unwrap().iter().map(|(k, _)| k.clone()).collect()
    };
    assert_eq!(delivered(&sink), ["crm:c1", "shop:s3"]);
    // Every decision is recorded on the event.
    let l = b.stores.ledger.as_ref();
    let c = b.clock.as_ref();
    assert_eq!(
        outcome(l, &shop_email.key, c).await,
        "superseded by source-priority"
    );
    assert_eq!(
        outcome(l, &shop_phone.key, c).await,
        "held for review (manual-review)"
    );
    assert_eq!(outcome(l, &shop_name.key, c).await, "delivered");
    // ... and in the event's history, in the operator's words: the rule, the scope, who
    // won with which event, and the window.
    assert_eq!(
        reason_of(b.stores.history.as_ref(), "shop:s1", c).await,
        "superseded by source-priority on customer/42: field /email: crm outranks shop and set it 0 s ago (crm:c1, within its 1 h window)"
    );
    let held = reason_of(b.stores.history.as_ref(), "shop:s2", c).await;
    assert!(
        held.starts_with(
            "held for review (manual-review) on customer/42: field /phone: shop changed it"
        ) && held.ends_with("after crm did (crm:c1, within its 24 h window)"),
        "{held}"
    );

    // The review shows both versions.
    let pending = b.stores.conflicts.pending_reviews(10).await.unwrap();
    assert_eq!(pending.len(), 1);
    let r = &pending[0];
    assert_eq!(
        (r.key.as_str(), r.entity.as_str()),
        ("shop:s2", "customer/42")
    );
    assert_eq!(r.against.key, "crm:c1");
    assert_eq!(r.against.value, Some(json!("+31")));
    assert!(
        r.reason.contains("field /phone: shop changed it"),
        "{}",
        r.reason
    );

    // Released: the entity takes the shop's phone and the event is delivered as a replay.
    let released = review::release(
        b.stores.conflicts.as_ref(),
        b.queue.as_ref(),
        &rules(),
        "shop:s2",
        b.clock.now(),
    )
    .await
    .unwrap();
    assert_eq!(released.status, ReviewStatus::Released);
    let mut replayed = Vec::new();
    for _ in 0..20 {
        replayed = b.queue.receive(10, Duration::from_secs(30)).await.unwrap();
        if !replayed.is_empty() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(replayed.len(), 1);
    for (receipt, d) in processor.handle_batch(&replayed).await {
        assert_eq!(d, Disposition::Ack(Done::Delivered));
        settle(b.queue.as_ref(), &receipt, &d).await.unwrap();
    }
    assert_eq!(
        sink.0.lock().unwrap().last().cloned(),
        Some(("shop:s2".to_string(), "replay".to_string()))
    );
    let (state, _) = b.stores.conflicts.load_entity("customer/42").await.unwrap();
    assert_eq!(state.fields["/phone"].provider, "shop");
    assert_eq!(state.fields["/email"].provider, "crm");

    // Now the CRM changes the phone back within the day: held too, and discarded.
    let crm2 = change("crm", "c2", json!({"id": 42, "phone": "+31"}));
    let d = processor.handle_batch(&received(&[&crm2])).await;
    assert_eq!(done(&d[0].1), "held");
    let discarded = review::discard(b.stores.conflicts.as_ref(), "crm:c2", b.clock.now())
        .await
        .unwrap();
    assert_eq!(discarded.status, ReviewStatus::Discarded);
    assert!(matches!(
        review::discard(b.stores.conflicts.as_ref(), "crm:c2", b.clock.now()).await,
        Err(ReviewError::Closed {
            status: ReviewStatus::Discarded,
            ..
        })
    ));
    assert!(matches!(
        review::release(
            b.stores.conflicts.as_ref(),
            b.queue.as_ref(),
            &rules(),
            "crm:nope",
            b.clock.now()
        )
        .await,
        Err(ReviewError::NotFound(_))
    ));
    assert!(b
        .stores
        .conflicts
        .pending_reviews(10)
        .await
        .unwrap()
        .is_empty());
    assert_eq!(delivered(&sink), ["crm:c1", "shop:s3", "shop:s2"]);
    let (state, _) = b.stores.conflicts.load_entity("customer/42").await.unwrap();
    assert_eq!(
        state.fields["/phone"].value,
        Some(json!("+32")),
        "discarding changed nothing"
    );

    // An older version from the same provider is superseded by the version rule, and
    // the history says which version was newer.
    let crm_v5 = change("crm", "c5", json!({"id": 42, "rev": 5, "name": "Bo"}));
    let crm_v3 = change("crm", "c3", json!({"id": 42, "rev": 3, "name": "Al"}));
    let d = processor.handle_batch(&received(&[&crm_v5, &crm_v3])).await;
    let outcomes: Vec<&str> = d.iter().map(|(_, d)| done(d)).collect();
    assert_eq!(outcomes, ["delivered", "superseded"]);
    assert_eq!(
        reason_of(b.stores.history.as_ref(), "crm:c3", b.clock.as_ref()).await,
        "superseded by version: 3 of customer/42 is older than 5, already applied from crm"
    );
}

/// The reasons as an operator reads them: `inlet events show KEY --json`, each rule's.
fn check_reasons_in_events_show(run: impl Fn(&[&str]) -> (i32, String, String)) {
    for (key, starts) in [
        (
            "shop:s1",
            "superseded by source-priority on customer/42: field /email",
        ),
        (
            "shop:s2",
            "held for review (manual-review) on customer/42: field /phone",
        ),
        (
            "crm:c3",
            "superseded by version: 3 of customer/42 is older than 5",
        ),
    ] {
        let (code, out, err) = run(&["events", "show", key, "--json"]);
        assert_eq!(code, 0, "{key}: {err}");
        let shown: Value = serde_json::from_str(out.trim()).unwrap();
        let timeline = shown["timeline"].as_array().unwrap();
        assert!(
            timeline
                .iter()
                .any(|a| a["detail"].as_str().is_some_and(|d| d.starts_with(starts))),
            "{key}: {shown}"
        );
    }
}

// ---- SQLite ------------------------------------------------------------------------------

fn sqlite() -> (tempfile::TempDir, inlet_local::Store, Arc<ManualClock>) {
    let dir = tempfile::tempdir().unwrap();
    let clock = Arc::new(ManualClock::at_unix(1_800_000_000));
    let store = inlet_local::Store::open(
        &dir.path().join("inlet.db"),
        inlet_local::StoreOptions::default(),
        clock.clone(),
    )
    .unwrap();
    (dir, store, clock)
}

#[tokio::test]
async fn sqlite_entity_state_is_compare_and_set() {
    let (_dir, store, _) = sqlite();
    entity_state_is_compare_and_set(&store, &store).await;
}

#[tokio::test]
async fn sqlite_reviews_are_held_listed_and_closed_once() {
    let (_dir, store, _) = sqlite();
    reviews_are_held_listed_and_closed_once(&store).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_concurrent_settles_lose_no_change() {
    let (_dir, store, _) = sqlite();
    concurrent_settles_lose_no_change(Arc::new(store)).await;
}

#[tokio::test]
async fn sqlite_crm_and_shop_change_one_customer() {
    let (dir, store, clock) = sqlite();
    let metrics = Arc::new(inlet_local::LocalMetrics::new());
    let s = Arc::new(store.clone());
    crm_and_shop_change_one_customer(Backend {
        queue: s.clone(),
        stores: WorkerStores::all(s),
        clock,
        metrics: metrics.clone(),
    })
    .await;
    // Every decision is counted, by rule and outcome.
    metrics.flush(&store).await.unwrap();
    let status = store.status().await.unwrap();
    let count = |rule: &str, decision: &str| {
        status
            .counters
            .iter()
            .flatten()
            .filter(|c| {
                c.name == names::CONFLICT_DECISIONS
                    && c.dims.split(',').any(|d| d == format!("rule={rule}"))
                    && c.dims
                        .split(',')
                        .any(|d| d == format!("decision={decision}"))
            })
            .map(|c| c.value)
            .sum::<u64>()
    };
    let data = dir.path().to_str().unwrap().to_string();
    check_reasons_in_events_show(|args| {
        let mut all = args.to_vec();
        all.extend(["--data-dir", &data]);
        let out = std::process::Command::new(env!("CARGO_BIN_EXE_inlet-under-test"))
            .args(&all)
            .output()
            .unwrap();
        (
            out.status.code().unwrap_or(-1),
            String::from_utf8_lossy(&out.stdout).into_owned(),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        )
    });
    assert_eq!(count("source-priority", "superseded"), 1);
    assert_eq!(count("manual-review", "held"), 2);
    // crm:c1, shop:s3 and crm:c5 (the version the stale crm:c3 lost to).
    assert_eq!(count("source-priority", "applied"), 3);
    assert_eq!(count("version", "superseded"), 1);
}

// ---- DynamoDB and SQS on the emulator ----------------------------------------------------

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs the AWS emulator (moto), which scripts/test starts"]
async fn dynamodb_entity_state_is_compare_and_set() {
    let moto = inlet_tests::moto::Moto::connect().await;
    let store = inlet_aws::DynamoStore::new(moto.dynamodb(), moto.table().await);
    entity_state_is_compare_and_set(&store, &store).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs the AWS emulator (moto), which scripts/test starts"]
async fn dynamodb_reviews_are_held_listed_and_closed_once() {
    let moto = inlet_tests::moto::Moto::connect().await;
    let store = inlet_aws::DynamoStore::new(moto.dynamodb(), moto.table().await);
    reviews_are_held_listed_and_closed_once(&store).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs the AWS emulator (moto), which scripts/test starts"]
async fn dynamodb_a_review_larger_than_an_item_is_kept_whole() {
    let moto = inlet_tests::moto::Moto::connect().await;
    let store = inlet_aws::DynamoStore::new(moto.dynamodb(), moto.table().await);
    let mut big = review_of("e_big", OffsetDateTime::now_utc());
    // 600 KB of payload: past DynamoDB's 400 KB item limit once in the review.
    big.envelope.body = vec![b'x'; 600 * 1024];
    store.hold(&big).await.unwrap();
    assert_eq!(store.review("shop:e_big").await.unwrap().unwrap(), big);
    assert_eq!(store.pending_reviews(5).await.unwrap(), vec![big]);
    assert!(store
        .close_review(
            "shop:e_big",
            ReviewStatus::Released,
            OffsetDateTime::now_utc()
        )
        .await
        .unwrap());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
#[ignore = "needs the AWS emulator (moto), which scripts/test starts"]
async fn dynamodb_concurrent_settles_lose_no_change() {
    let moto = inlet_tests::moto::Moto::connect().await;
    let store = inlet_aws::DynamoStore::new(moto.dynamodb(), moto.table().await);
    concurrent_settles_lose_no_change(Arc::new(store)).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs the AWS emulator (moto), which scripts/test starts"]
async fn aws_crm_and_shop_change_one_customer() {
    let moto = inlet_tests::moto::Moto::connect().await;
    let (q, dlq) = moto.queues(5, false).await;
    let table = moto.table().await;
    let store = Arc::new(inlet_aws::DynamoStore::new(moto.dynamodb(), table.clone()));
    crm_and_shop_change_one_customer(Backend {
        queue: Arc::new(moto.queue(&q, &dlq)),
        stores: WorkerStores::all(store),
        clock: Arc::new(SystemClock),
        metrics: Arc::new(NoMetrics),
    })
    .await;
    let env = crate::outbox_aws::stack_env(&q, &dlq, &table);
    check_reasons_in_events_show(|args| crate::outbox_aws::inlet_on_stack(args, &moto, &env));
}

/// `inlet review` against a deployed stack: the operator's view of the same table.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs the AWS emulator (moto), which scripts/test starts"]
async fn review_cli_on_aws_lists_and_discards() {
    let moto = inlet_tests::moto::Moto::connect().await;
    let table = moto.table().await;
    let (q, dlq) = moto.queues(3, false).await;
    let store = inlet_aws::DynamoStore::new(moto.dynamodb(), table.clone());
    store
        .hold(&review_of("e_cli", OffsetDateTime::now_utc()))
        .await
        .unwrap();
    let env = crate::outbox_aws::stack_env(&q, &dlq, &table);
    let run = |args: &[&str]| crate::outbox_aws::inlet_aws(args, &moto, &env);
    let (code, out, err) = run(&["review", "list", "--backend", "aws", "--json"]);
    assert_eq!(code, 0, "{err}");
    let line: Value = serde_json::from_str(out.trim()).unwrap();
    assert_eq!(
        (line["key"].as_str(), line["rule"].as_str()),
        (Some("shop:e_cli"), Some("manual-review"))
    );
    let (code, out, err) = run(&[
        "review",
        "discard",
        "shop:e_cli",
        "shop:e_none",
        "--backend",
        "aws",
    ]);
    assert_eq!(code, 4, "one key matched nothing: {out}{err}");
    assert!(out.contains("shop:e_cli: discarded"), "{out}");
    assert!(err.contains("no such review: shop:e_none"), "{err}");
    let (code, out, _) = run(&["review", "list", "--backend", "aws"]);
    assert_eq!((code, out.trim()), (0, "no changes are held for review"));
}
