//! The port contract: what every backend must do identically. Each check takes the ports
//! and a way to move time forward; `sqlite` runs them on the embedded store (the AWS
//! adapters run the same functions on the emulator).

use std::sync::Arc;
use std::time::Duration;

use inlet_core::clock::{Clock, ManualClock};
use inlet_core::envelope::{Envelope, Source};
use inlet_core::headers::Headers;
use inlet_core::ids::{EventKey, ProviderName};
use inlet_core::normalize::{normalize, Incoming, NormalizeRules};
use inlet_core::ports::{
    Claim, Completion, Cursors, DeadLetters, EntityVersions, Ledger, LedgerState, Queue,
    RedriveSelector, VersionCheck,
};
use inlet_core::signature::Scheme;
use inlet_local::{Store, StoreOptions};

/// How long a backend's timeouts are in a test: the embedded store runs on a manual
/// clock; SQS (moto) on real time, so its waits are short.
#[derive(Clone, Copy)]
struct Timing {
    vt: Duration,
    delay: Duration,
}

const SQLITE: Timing = Timing {
    vt: Duration::from_secs(30),
    delay: Duration::from_secs(5),
};
const SQS: Timing = Timing {
    vt: Duration::from_secs(2),
    delay: Duration::from_secs(1),
};
const VT: Duration = SQLITE.vt;

pub(crate) fn envelope(id: &str, entity: Option<&str>) -> Envelope {
    let p = ProviderName::parse("acme").unwrap();
    let h = Headers::new().with("webhook-id", id);
    let body = format!("{{\"n\":\"{id}\"}}");
    let mut e = normalize(
        &Incoming {
            provider: &p,
            scheme: &Scheme::StandardWebhooks,
            headers: &h,
            body: body.as_bytes(),
            received_at: time::OffsetDateTime::now_utc(),
            correlation_id: "c",
            source: Source::Webhook,
        },
        &NormalizeRules::default(),
    )
    .unwrap();
    e.entity = entity.map(str::to_string);
    e
}

pub(crate) struct Sqlite {
    _dir: tempfile::TempDir,
    path: std::path::PathBuf,
    pub(crate) clock: Arc<ManualClock>,
    pub(crate) store: Store,
}

pub(crate) fn sqlite(max_receive: u32) -> Sqlite {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("inlet.db");
    let clock = Arc::new(ManualClock::at_unix(1_800_000_000));
    let store = Store::open(
        &path,
        StoreOptions {
            max_receive,
            ..StoreOptions::default()
        },
        clock.clone(),
    )
    .unwrap();
    Sqlite {
        _dir: dir,
        path,
        clock,
        store,
    }
}

// ---- queue ----------------------------------------------------------------------------

async fn queue_visibility_ack_and_receive_count(
    q: &dyn Queue,
    t: Timing,
    advance: &dyn Fn(Duration),
) {
    let vt = t.vt;
    q.send(&envelope("m1", None)).await.unwrap();
    let got = q.receive(10, vt).await.unwrap();
    assert_eq!(got.len(), 1);
    assert_eq!(got[0].receive_count, 1);
    assert_eq!(got[0].envelope.as_ref().unwrap().key.as_str(), "acme:m1");
    // Hidden while in flight.
    assert!(q.receive(10, vt).await.unwrap().is_empty());
    advance(vt + Duration::from_secs(1));
    let again = q.receive(10, vt).await.unwrap();
    assert_eq!(again.len(), 1);
    assert_eq!(again[0].receive_count, 2);
    q.ack(&again[0].receipt).await.unwrap();
    q.ack(&again[0].receipt).await.unwrap(); // idempotent
    advance(vt * 2);
    assert!(q.receive(10, vt).await.unwrap().is_empty());
}

/// `exact`: the backend keeps the last error and exact receive count on a redriven
/// message (the embedded store does; SQS cannot annotate a message).
async fn queue_retry_later_and_max_receive_to_dlq(
    q: &dyn Queue,
    dlq: &dyn DeadLetters,
    t: Timing,
    exact: bool,
    advance: &dyn Fn(Duration),
) {
    let vt = t.vt;
    q.send(&envelope("r1", None)).await.unwrap();
    for attempt in 1..=3 {
        let got = q.receive(10, vt).await.unwrap();
        assert_eq!(got.len(), 1, "attempt {attempt}");
        q.retry_later(&got[0].receipt, t.delay, &format!("sink down #{attempt}"))
            .await
            .unwrap();
        assert!(q.receive(10, vt).await.unwrap().is_empty(), "delayed");
        advance(t.delay + Duration::from_secs(1));
    }
    // max_receive = 3: the fourth receive moves it to the DLQ with the last error.
    assert!(q.receive(10, vt).await.unwrap().is_empty());
    let dead = dlq.list(10).await.unwrap();
    assert_eq!(dead.len(), 1);
    assert_eq!(dead[0].key.as_deref(), Some("acme:r1"));
    if exact {
        assert_eq!(dead[0].reason.as_deref(), Some("sink down #3"));
        assert_eq!(dead[0].receive_count, 3);
    }
    // Redrive: back with a fresh receive count.
    assert_eq!(
        dlq.redrive(&RedriveSelector::Key("acme:nope".into()))
            .await
            .unwrap(),
        0
    );
    assert_eq!(
        dlq.redrive(&RedriveSelector::Key("acme:r1".into()))
            .await
            .unwrap(),
        1
    );
    let got = q.receive(10, vt).await.unwrap();
    assert_eq!(got.len(), 1);
    assert_eq!(got[0].receive_count, 1);
    q.ack(&got[0].receipt).await.unwrap();
    assert!(dlq.list(10).await.unwrap().is_empty());
}

async fn queue_explicit_dead_letter_and_redrive_all(
    q: &dyn Queue,
    dlq: &dyn DeadLetters,
    t: Timing,
) {
    let vt = t.vt;
    for id in ["d1", "d2"] {
        q.send(&envelope(id, None)).await.unwrap();
    }
    for m in q.receive(10, vt).await.unwrap() {
        q.dead_letter(&m.receipt, "sink answered 400")
            .await
            .unwrap();
    }
    let dead = dlq.list(10).await.unwrap();
    assert_eq!(dead.len(), 2);
    assert!(dead
        .iter()
        .all(|d| d.reason.as_deref() == Some("sink answered 400")));
    assert_eq!(dlq.redrive(&RedriveSelector::All).await.unwrap(), 2);
    assert_eq!(q.receive(10, vt).await.unwrap().len(), 2);
}

async fn queue_orders_one_entity_at_a_time(q: &dyn Queue, advance: &dyn Fn(Duration)) {
    q.send(&envelope("e1", Some("orders/1"))).await.unwrap();
    q.send(&envelope("e2", Some("orders/1"))).await.unwrap();
    q.send(&envelope("x1", Some("orders/2"))).await.unwrap();
    q.send(&envelope("n1", None)).await.unwrap();
    let first = q.receive(10, VT).await.unwrap();
    let keys: Vec<_> = first
        .iter()
        .map(|m| m.envelope.as_ref().unwrap().key.to_string())
        .collect();
    assert_eq!(
        keys,
        ["acme:e1", "acme:x1", "acme:n1"],
        "one per entity, oldest first"
    );
    // e2 waits while e1 is in flight, even after e1 is retried later.
    q.retry_later(&first[0].receipt, Duration::from_secs(1), "later")
        .await
        .unwrap();
    for m in &first[1..] {
        q.ack(&m.receipt).await.unwrap();
    }
    assert!(q.receive(10, VT).await.unwrap().is_empty());
    advance(Duration::from_secs(2));
    let next = q.receive(10, VT).await.unwrap();
    assert_eq!(next.len(), 1);
    assert_eq!(next[0].envelope.as_ref().unwrap().key.as_str(), "acme:e1");
    q.ack(&next[0].receipt).await.unwrap();
    let last = q.receive(10, VT).await.unwrap();
    assert_eq!(last[0].envelope.as_ref().unwrap().key.as_str(), "acme:e2");
}

// ---- ledger ---------------------------------------------------------------------------

async fn ledger_claim_lease_complete_duplicate(
    l: &dyn Ledger,
    clock: &dyn Clock,
    advance: &dyn Fn(Duration),
) {
    let key = EventKey::parse("acme:k1").unwrap();
    let lease = Duration::from_secs(10);
    assert!(matches!(
        l.claim(&key, "h1", clock.now(), lease).await.unwrap(),
        Claim::Acquired { .. }
    ));
    assert!(matches!(
        l.claim(&key, "h1", clock.now(), lease).await.unwrap(),
        Claim::InFlight { .. }
    ));
    assert!(matches!(
        l.lookup(&key, clock.now()).await.unwrap().unwrap().state,
        LedgerState::InProgress { .. }
    ));
    // The lease expires: a crashed worker's claim can be taken over.
    advance(Duration::from_secs(11));
    assert!(matches!(
        l.claim(&key, "h1", clock.now(), lease).await.unwrap(),
        Claim::Acquired { .. }
    ));
    l.complete(
        &key,
        Completion::Delivered,
        clock.now(),
        Duration::from_secs(3600),
    )
    .await
    .unwrap();
    assert_eq!(
        l.claim(&key, "h1", clock.now(), lease).await.unwrap(),
        Claim::Duplicate { same_payload: true }
    );
    assert_eq!(
        l.claim(&key, "h2", clock.now(), lease).await.unwrap(),
        Claim::Duplicate {
            same_payload: false
        }
    );
    // Release never removes a completed entry.
    l.release(&key, clock.now(), Duration::from_secs(3600))
        .await
        .unwrap();
    assert!(matches!(
        l.claim(&key, "h1", clock.now(), lease).await.unwrap(),
        Claim::Duplicate { .. }
    ));
    // Retention passes: the key reads as new.
    advance(Duration::from_secs(3601));
    assert!(l.lookup(&key, clock.now()).await.unwrap().is_none());
    assert!(matches!(
        l.claim(&key, "h1", clock.now(), lease).await.unwrap(),
        Claim::Acquired { .. }
    ));
    // Release lets a retry claim at once.
    l.release(&key, clock.now(), Duration::from_secs(3600))
        .await
        .unwrap();
    assert!(matches!(
        l.claim(&key, "h1", clock.now(), lease).await.unwrap(),
        Claim::Acquired { .. }
    ));
}

async fn ledger_concurrent_claims_have_one_winner(l: Arc<dyn Ledger>, clock: Arc<dyn Clock>) {
    let key = EventKey::parse("acme:race").unwrap();
    let mut tasks = Vec::new();
    for _ in 0..32 {
        let (l, clock, key) = (l.clone(), clock.clone(), key.clone());
        tasks.push(tokio::spawn(async move {
            l.claim(&key, "h", clock.now(), Duration::from_secs(10))
                .await
                .unwrap()
        }));
    }
    let mut acquired = 0;
    for t in tasks {
        if matches!(t.await.unwrap(), Claim::Acquired { .. }) {
            acquired += 1;
        }
    }
    assert_eq!(acquired, 1);
}

async fn versions_only_advance(v: &dyn EntityVersions) {
    assert_eq!(
        v.advance("orders/1", 5).await.unwrap(),
        VersionCheck::Current
    );
    assert_eq!(
        v.advance("orders/1", 3).await.unwrap(),
        VersionCheck::Stale { current: 5 }
    );
    assert_eq!(
        v.advance("orders/1", 5).await.unwrap(),
        VersionCheck::Current,
        "the same version again is not stale"
    );
    assert_eq!(
        v.advance("orders/1", 9).await.unwrap(),
        VersionCheck::Current
    );
    assert_eq!(
        v.advance("orders/1", 5).await.unwrap(),
        VersionCheck::Stale { current: 9 }
    );
    assert_eq!(
        v.advance("orders/2", 1).await.unwrap(),
        VersionCheck::Current
    );
}

/// The batch forms: versions of one entity apply in order, claims answer per key.
async fn batched_claims_and_versions(l: &dyn Ledger, v: &dyn EntityVersions, clock: &dyn Clock) {
    let checks = v
        .advance_many(&[
            ("orders/1", 5),
            ("orders/1", 3),
            ("orders/2", 1),
            ("orders/1", 7),
        ])
        .await;
    let checks: Vec<VersionCheck> = checks.into_iter().map(Result::unwrap).collect();
    assert_eq!(
        checks,
        [
            VersionCheck::Current,
            VersionCheck::Stale { current: 5 },
            VersionCheck::Current,
            VersionCheck::Current,
        ]
    );
    assert_eq!(
        v.advance("orders/1", 6).await.unwrap(),
        VersionCheck::Stale { current: 7 }
    );

    let (done, new) = (
        EventKey::parse("acme:batch-done").unwrap(),
        EventKey::parse("acme:batch-new").unwrap(),
    );
    let lease = Duration::from_secs(10);
    assert!(matches!(
        l.claim(&done, "h", clock.now(), lease).await.unwrap(),
        Claim::Acquired { .. }
    ));
    l.complete(
        &done,
        Completion::Delivered,
        clock.now(),
        Duration::from_secs(60),
    )
    .await
    .unwrap();
    let claims: Vec<Claim> = l
        .claim_many(&[(&done, "h"), (&new, "h")], clock.now(), lease)
        .await
        .into_iter()
        .map(Result::unwrap)
        .collect();
    assert!(
        matches!(
            claims.as_slice(),
            [
                Claim::Duplicate { same_payload: true },
                Claim::Acquired { .. }
            ]
        ),
        "{claims:?}"
    );
}

async fn cursors_round_trip(c: &dyn Cursors) {
    assert_eq!(c.load("stripe-events").await.unwrap(), None);
    c.save("stripe-events", "evt_100").await.unwrap();
    c.save("stripe-events", "evt_200").await.unwrap();
    assert_eq!(
        c.load("stripe-events").await.unwrap().as_deref(),
        Some("evt_200")
    );
    assert_eq!(c.load("other").await.unwrap(), None);
}

// ---- the embedded store -----------------------------------------------------------------

#[tokio::test]
async fn sqlite_queue_visibility_ack_and_receive_count() {
    let s = sqlite(5);
    queue_visibility_ack_and_receive_count(&s.store, SQLITE, &|d| s.clock.advance(d)).await;
}

#[tokio::test]
async fn sqlite_queue_retry_later_and_max_receive_to_dlq() {
    let s = sqlite(3);
    queue_retry_later_and_max_receive_to_dlq(&s.store, &s.store, SQLITE, true, &|d| {
        s.clock.advance(d)
    })
    .await;
}

#[tokio::test]
async fn sqlite_queue_explicit_dead_letter_and_redrive_all() {
    let s = sqlite(5);
    queue_explicit_dead_letter_and_redrive_all(&s.store, &s.store, SQLITE).await;
}

#[tokio::test]
async fn sqlite_queue_orders_one_entity_at_a_time() {
    let s = sqlite(5);
    queue_orders_one_entity_at_a_time(&s.store, &|d| s.clock.advance(d)).await;
}

#[tokio::test]
async fn sqlite_ledger_claim_lease_complete_duplicate() {
    let s = sqlite(5);
    ledger_claim_lease_complete_duplicate(&s.store, s.clock.as_ref(), &|d| s.clock.advance(d))
        .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn sqlite_ledger_concurrent_claims_have_one_winner() {
    let s = sqlite(5);
    ledger_concurrent_claims_have_one_winner(Arc::new(s.store.clone()), s.clock.clone()).await;
}

#[tokio::test]
async fn sqlite_versions_only_advance() {
    let s = sqlite(5);
    versions_only_advance(&s.store).await;
}

#[tokio::test]
async fn sqlite_batched_claims_and_versions() {
    let s = sqlite(5);
    batched_claims_and_versions(&s.store, &s.store, s.clock.as_ref()).await;
}

#[tokio::test]
async fn sqlite_cursors_round_trip_and_survive_reopen() {
    let s = sqlite(5);
    cursors_round_trip(&s.store).await;
    s.store.send(&envelope("durable", None)).await.unwrap();
    let path = s.path.clone();
    drop(s.store);
    let reopened = Store::open(&path, StoreOptions::default(), s.clock.clone()).unwrap();
    assert_eq!(
        reopened.load("stripe-events").await.unwrap().as_deref(),
        Some("evt_200")
    );
    let got = reopened.receive(10, VT).await.unwrap();
    assert_eq!(
        got[0].envelope.as_ref().unwrap().key.as_str(),
        "acme:durable"
    );
}

#[tokio::test]
async fn sqlite_a_stale_receipt_does_not_delete_a_redelivered_message() {
    let s = sqlite(5);
    s.store.send(&envelope("stale", None)).await.unwrap();
    let first = s.store.receive(10, VT).await.unwrap();
    s.clock.advance(VT + Duration::from_secs(1));
    let second = s.store.receive(10, VT).await.unwrap();
    assert_eq!(second.len(), 1);
    s.store.ack(&first[0].receipt).await.unwrap();
    s.clock.advance(VT + Duration::from_secs(1));
    assert_eq!(
        s.store.receive(10, VT).await.unwrap().len(),
        1,
        "still there"
    );
}

#[tokio::test]
async fn sqlite_message_without_its_body_is_received_as_undecodable_not_skipped() {
    let s = sqlite(5);
    s.store
        .send(&envelope("b1", Some("acme:order-9")))
        .await
        .unwrap();
    s.store
        .send(&envelope("b2", Some("acme:order-9")))
        .await
        .unwrap();
    s.store
        .run(|c| {
            c.execute_batch("DELETE FROM message_bodies WHERE id = (SELECT min(id) FROM messages)")
                .map_err(|e| inlet_core::ports::StoreError::Invalid(e.to_string()))
        })
        .await
        .unwrap();
    let got = s.store.receive(10, VT).await.unwrap();
    assert_eq!(got.len(), 1, "one per entity at a time");
    let reason = got[0].envelope.as_ref().unwrap_err();
    assert!(reason.contains("body is missing"), "{reason}");
    // Dead-lettered, the entity's next message is free to go.
    s.store.dead_letter(&got[0].receipt, reason).await.unwrap();
    let next = s.store.receive(10, VT).await.unwrap();
    assert_eq!(next[0].envelope.as_ref().unwrap().key.as_str(), "acme:b2");
}

#[tokio::test]
async fn sqlite_poison_message_is_returned_as_undecodable() {
    let s = sqlite(5);
    s.store
        .run(|c| {
            c.execute_batch(
                "INSERT INTO messages (queue, key, enqueued_at, visible_at) VALUES ('work', NULL, 0, 0);
                 INSERT INTO message_bodies (id, body) VALUES (last_insert_rowid(), x'00ff7b');",
            )
            .map_err(|e| inlet_core::ports::StoreError::Invalid(e.to_string()))
        })
        .await
        .unwrap();
    let got = s.store.receive(10, VT).await.unwrap();
    assert_eq!(got.len(), 1);
    assert!(got[0].envelope.is_err());
}

#[tokio::test]
async fn sqlite_ttl_purge_removes_only_expired_completions() {
    let s = sqlite(5);
    let old = EventKey::parse("acme:old").unwrap();
    let fresh = EventKey::parse("acme:fresh").unwrap();
    let now = s.clock.now();
    s.store
        .claim(&old, "h", now, Duration::from_secs(5))
        .await
        .unwrap();
    s.store
        .complete(&old, Completion::Delivered, now, Duration::from_secs(10))
        .await
        .unwrap();
    s.store
        .claim(&fresh, "h", now, Duration::from_secs(5))
        .await
        .unwrap();
    s.store
        .complete(
            &fresh,
            Completion::Delivered,
            now,
            Duration::from_secs(1000),
        )
        .await
        .unwrap();
    s.clock.advance(Duration::from_secs(11));
    assert_eq!(s.store.purge_expired().await.unwrap(), 1);
    assert!(s
        .store
        .lookup(&fresh, s.clock.now())
        .await
        .unwrap()
        .is_some());
}

// ---- AWS on the emulator ------------------------------------------------------------------

fn sleep(d: Duration) {
    std::thread::sleep(d);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs the AWS emulator (moto), which scripts/test starts"]
async fn sqs_queue_visibility_ack_and_receive_count() {
    let moto = inlet_tests::moto::Moto::connect().await;
    let (q, dlq) = moto.queues(5, false).await;
    queue_visibility_ack_and_receive_count(&moto.queue(&q, &dlq), SQS, &sleep).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs the AWS emulator (moto), which scripts/test starts"]
async fn sqs_queue_retry_later_and_max_receive_to_dlq() {
    let moto = inlet_tests::moto::Moto::connect().await;
    let (q, dlq) = moto.queues(3, false).await;
    let queue = moto.queue(&q, &dlq);
    queue_retry_later_and_max_receive_to_dlq(&queue, &queue, SQS, false, &sleep).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs the AWS emulator (moto), which scripts/test starts"]
async fn sqs_queue_explicit_dead_letter_and_redrive_all() {
    let moto = inlet_tests::moto::Moto::connect().await;
    let (q, dlq) = moto.queues(5, false).await;
    let queue = moto.queue(&q, &dlq);
    queue_explicit_dead_letter_and_redrive_all(&queue, &queue, SQS).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs the AWS emulator (moto), which scripts/test starts"]
async fn dynamodb_ledger_claim_lease_complete_duplicate() {
    let moto = inlet_tests::moto::Moto::connect().await;
    let store = inlet_aws::DynamoStore::new(moto.dynamodb(), moto.table().await);
    let clock = ManualClock::at_unix(1_800_000_000);
    ledger_claim_lease_complete_duplicate(&store, &clock, &|d| clock.advance(d)).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
#[ignore = "needs the AWS emulator (moto), which scripts/test starts"]
async fn dynamodb_ledger_concurrent_claims_have_one_winner() {
    let moto = inlet_tests::moto::Moto::connect().await;
    let store = inlet_aws::DynamoStore::new(moto.dynamodb(), moto.table().await);
    ledger_concurrent_claims_have_one_winner(
        Arc::new(store),
        Arc::new(ManualClock::at_unix(1_800_000_000)),
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs the AWS emulator (moto), which scripts/test starts"]
async fn dynamodb_versions_only_advance() {
    let moto = inlet_tests::moto::Moto::connect().await;
    let store = inlet_aws::DynamoStore::new(moto.dynamodb(), moto.table().await);
    versions_only_advance(&store).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs the AWS emulator (moto), which scripts/test starts"]
async fn dynamodb_batched_claims_and_versions() {
    let moto = inlet_tests::moto::Moto::connect().await;
    let store = inlet_aws::DynamoStore::new(moto.dynamodb(), moto.table().await);
    batched_claims_and_versions(&store, &store, &inlet_core::clock::SystemClock).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs the AWS emulator (moto), which scripts/test starts"]
async fn dynamodb_cursors_round_trip() {
    let moto = inlet_tests::moto::Moto::connect().await;
    let store = inlet_aws::DynamoStore::new(moto.dynamodb(), moto.table().await);
    cursors_round_trip(&store).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs the AWS emulator (moto), which scripts/test starts"]
async fn sqs_bodies_larger_than_a_message_go_through_the_claim_check() {
    let moto = inlet_tests::moto::Moto::connect().await;
    let (q, dlq) = moto.queues(3, false).await;
    let table = moto.table().await;
    let queue = moto.queue_with_claim_check(&q, &dlq, &table);
    let mut big = envelope("big", None);
    // 3 MB of payload: base64 in the envelope makes it ~4 MB, fifteen times SQS's limit.
    big.body = (0..3_000_000u32)
        .map(|i| b"abcdefghij"[(i % 10) as usize])
        .collect();
    queue.send(&big).await.unwrap();
    let got = queue.receive(10, SQS.vt).await.unwrap();
    assert_eq!(got.len(), 1);
    assert_eq!(got[0].envelope.as_ref().unwrap(), &big);
    // Dead-lettering moves the pointer, and a redrive brings the whole body back.
    queue.dead_letter(&got[0].receipt, "test").await.unwrap();
    assert_eq!(queue.redrive(&RedriveSelector::All).await.unwrap(), 1);
    let again = queue.receive(10, SQS.vt).await.unwrap();
    assert_eq!(again[0].envelope.as_ref().unwrap().body.len(), 3_000_000);
    // Without a claim check the same send is refused with a clear error, not truncated.
    let err = moto.queue(&q, &dlq).send(&big).await.unwrap_err();
    assert!(err.to_string().contains("exceeds SQS"), "{err}");
}

/// The first layout's `messages` (user_version 0), as Inlet wrote it before bodies moved
/// to their own table: a database from then must open with nothing lost.
const FIRST_LAYOUT: &str = r#"
CREATE TABLE messages (
    id INTEGER PRIMARY KEY AUTOINCREMENT, queue TEXT NOT NULL, key TEXT, group_id TEXT,
    body BLOB NOT NULL, enqueued_at INTEGER NOT NULL, visible_at INTEGER NOT NULL,
    receive_count INTEGER NOT NULL DEFAULT 0, receipt TEXT UNIQUE, last_error TEXT, dead_at INTEGER
);
CREATE INDEX messages_visible ON messages(queue, visible_at);
CREATE INDEX messages_group ON messages(queue, group_id, id);
CREATE INDEX messages_order ON messages(queue, id);
CREATE INDEX messages_key ON messages(queue, key);
"#;
/// The first layout's event history, which databases older than the history lack.
const FIRST_LAYOUT_EVENTS: &str = r#"
CREATE TABLE events (
    key TEXT PRIMARY KEY, provider TEXT NOT NULL, event_type TEXT, entity TEXT, state TEXT NOT NULL,
    received_at INTEGER NOT NULL, expires_at INTEGER NOT NULL, record TEXT NOT NULL
) WITHOUT ROWID;
CREATE INDEX events_newest ON events(received_at, key);
CREATE INDEX events_expiry ON events(expires_at);
"#;

#[tokio::test]
async fn sqlite_database_in_the_first_layout_opens_with_nothing_lost() {
    use inlet_core::history::{Attempt, EventRecord, EventState, HistoryEntry};
    use inlet_core::ports::History;
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("inlet.db");
    let clock = Arc::new(ManualClock::at_unix(1_800_000_000));
    let now_ms = 1_800_000_000_000i64;
    let (waiting, in_flight, handled, dead) = (
        envelope("w1", Some("acme:order-1")),
        envelope("f1", Some("acme:order-2")),
        envelope("d1", None),
        envelope("x1", None),
    );
    let record = EventRecord::merge(
        None,
        &HistoryEntry {
            envelope: &handled,
            attempt: Attempt::new(clock.now(), EventState::Delivered, 1, None),
            keep_payload: true,
            expires_at: clock.now() + Duration::from_secs(86_400),
            first: false,
        },
    );
    {
        let c = rusqlite::Connection::open(&path).unwrap();
        c.execute_batch(FIRST_LAYOUT).unwrap();
        c.execute_batch(FIRST_LAYOUT_EVENTS).unwrap();
        let insert = "INSERT INTO messages (queue, key, group_id, body, enqueued_at, visible_at, receive_count, receipt, last_error, dead_at)
                      VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)";
        let row = |queue: &str,
                   e: &Envelope,
                   visible: i64,
                   count: i64,
                   receipt: Option<&str>,
                   error: Option<&str>,
                   dead: Option<i64>| {
            c.execute(
                insert,
                rusqlite::params![
                    queue,
                    e.key.as_str(),
                    e.entity,
                    e.to_json().into_bytes(),
                    now_ms,
                    visible,
                    count,
                    receipt,
                    error,
                    dead
                ],
            )
            .unwrap();
        };
        row("done", &handled, now_ms, 1, None, None, Some(now_ms));
        row("work", &waiting, now_ms, 0, None, None, None);
        row(
            "work",
            &in_flight,
            now_ms + 30_000,
            1,
            Some("an-old-receipt"),
            None,
            None,
        );
        row(
            "dlq",
            &dead,
            now_ms,
            5,
            None,
            Some("sink http: 500"),
            Some(now_ms),
        );
        c.execute(
            "INSERT INTO events (key, provider, event_type, entity, state, received_at, expires_at, record)
             VALUES (?1, 'acme', NULL, NULL, 'delivered', ?2, ?3, ?4)",
            rusqlite::params![handled.key.as_str(), now_ms, now_ms + 86_400_000, serde_json::to_string(&record).unwrap()],
        )
        .unwrap();
    }

    // Opened twice: the second open finds the current layout and changes nothing.
    for _ in 0..2 {
        drop(Store::open(&path, StoreOptions::default(), clock.clone()).unwrap());
    }
    let store = Store::open(&path, StoreOptions::default(), clock.clone()).unwrap();

    let got = store.receive(10, VT).await.unwrap();
    assert_eq!(got.len(), 1, "only the waiting message is visible");
    assert_eq!(got[0].envelope.as_ref().unwrap(), &waiting);
    store.ack(&got[0].receipt).await.unwrap();
    // The in-flight message's lease still holds; after it, it comes back whole.
    clock.advance(Duration::from_secs(31));
    let got = store.receive(10, VT).await.unwrap();
    assert_eq!(got.len(), 1);
    assert_eq!(got[0].receive_count, 2);
    assert_eq!(got[0].envelope.as_ref().unwrap(), &in_flight);
    store.ack(&got[0].receipt).await.unwrap();
    assert!(store.receive(10, VT).await.unwrap().is_empty());

    let dlq = DeadLetters::list(&store, 10).await.unwrap();
    assert_eq!(dlq.len(), 1);
    assert_eq!(dlq[0].key.as_deref(), Some("acme:x1"));
    assert_eq!(dlq[0].reason.as_deref(), Some("sink http: 500"));

    let shown = store.event("acme:d1", clock.now()).await.unwrap().unwrap();
    assert_eq!(shown.state, EventState::Delivered);
    assert_eq!(shown.envelope, handled);
    // The handled message's body came along: it can be replayed.
    assert_eq!(store.replay("acme:d1").await.unwrap(), 1);
    let replayed = store.receive(10, VT).await.unwrap();
    assert_eq!(
        replayed[0].envelope.as_ref().unwrap().source,
        Source::Replay
    );
}

#[tokio::test]
async fn sqlite_database_older_than_the_event_history_opens_with_its_queue() {
    use inlet_core::history::{Attempt, EventState, HistoryEntry};
    use inlet_core::ports::History;
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("inlet.db");
    let clock = Arc::new(ManualClock::at_unix(1_800_000_000));
    let waiting = envelope("w1", None);
    {
        let c = rusqlite::Connection::open(&path).unwrap();
        c.execute_batch(FIRST_LAYOUT).unwrap();
        c.execute(
            "INSERT INTO messages (queue, key, body, enqueued_at, visible_at) VALUES ('work', ?1, ?2, 0, 0)",
            rusqlite::params![waiting.key.as_str(), waiting.to_json().into_bytes()],
        )
        .unwrap();
    }
    let store = Store::open(&path, StoreOptions::default(), clock.clone()).unwrap();
    let got = store.receive(10, VT).await.unwrap();
    assert_eq!(got.len(), 1);
    assert_eq!(got[0].envelope.as_ref().unwrap(), &waiting);
    // The history it never had is there now.
    store
        .record(&[HistoryEntry {
            envelope: &waiting,
            attempt: Attempt::new(clock.now(), EventState::Delivered, 1, None),
            keep_payload: false,
            expires_at: clock.now() + Duration::from_secs(60),
            first: false,
        }])
        .await
        .unwrap();
    let shown = store.event("acme:w1", clock.now()).await.unwrap().unwrap();
    assert_eq!(shown.state, EventState::Delivered);
}

#[tokio::test]
async fn sqlite_database_from_a_newer_inlet_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("inlet.db");
    rusqlite::Connection::open(&path)
        .unwrap()
        .pragma_update(None, "user_version", 99)
        .unwrap();
    let clock = Arc::new(ManualClock::at_unix(1_800_000_000));
    let err = Store::open(&path, StoreOptions::default(), clock)
        .err()
        .unwrap()
        .to_string();
    assert!(err.contains("newer Inlet"), "{err}");
}

#[tokio::test]
async fn sqlite_wal_is_checkpointed_into_the_database_while_the_store_is_open() {
    // The writer leaves checkpoints to the checkpoint thread (it checkpoints itself only
    // past ~40 MB of WAL): a few MB of messages reach the database file itself while the
    // store stays open, instead of living in an ever longer WAL.
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("inlet.db");
    let store = Store::open(
        &path,
        StoreOptions::default(),
        Arc::new(inlet_core::clock::SystemClock),
    )
    .unwrap();
    let db_bytes = || std::fs::metadata(&path).map(|m| m.len()).unwrap_or(0);
    const TOTAL: u64 = 2 << 20;
    assert!(db_bytes() < TOTAL);
    for i in 0..TOTAL / 4096 {
        let mut e = envelope(&format!("big{i}"), None);
        e.body = vec![b'x'; 4096];
        store.send(&e).await.unwrap();
    }
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    while db_bytes() < TOTAL && std::time::Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert!(
        db_bytes() >= TOTAL,
        "the database file holds {} bytes after {TOTAL} bytes of messages: the WAL was not checkpointed",
        db_bytes()
    );
    assert_eq!(store.receive(10, VT).await.unwrap().len(), 10);
}
