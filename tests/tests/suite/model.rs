//! Model-based tests of the queue and ledger contracts: random interleavings of send,
//! receive, ack, retry, dead-letter, redrive, lease expiry, claim, complete, release,
//! lookup and version advances run against a backend and a small in-memory model side by
//! side, and every answer must match the model's. On the embedded store and on
//! SQS/DynamoDB (moto).
//!
//! The queue never holds more than ten messages and every receive asks for ten, so a
//! receive has one right answer (every visible message within `max_receive`, and the ones
//! past it moved to the DLQ) on both backends. SQS visibility runs on real time, so there
//! lease expiry is what SQS does when a visibility timeout passes: the message becomes
//! visible at once (`ChangeMessageVisibility 0`); the embedded store's clock moves instead.

use std::collections::BTreeMap;
use std::time::Duration;

use inlet_core::clock::{Clock, ManualClock};
use inlet_core::ids::EventKey;
use inlet_core::ports::{
    Claim, Completion, DeadLetters, EntityVersions, Ledger, LedgerState, Queue, Receipt,
    RedriveSelector, VersionCheck,
};
use proptest::prelude::*;
use time::OffsetDateTime;

use crate::contract::{envelope, sqlite};

const MAX_RECEIVE: u32 = 3;
const MAX_MESSAGES: usize = 8;
const VT: Duration = Duration::from_secs(600);
const LEASE: Duration = Duration::from_secs(10);
const RETENTION: Duration = Duration::from_secs(60);

#[derive(Debug, Clone)]
enum Op {
    Send,
    Receive,
    Ack(usize),
    Retry(usize),
    DeadLetter(usize),
    ExpireInFlight,
    Redrive,
    Claim { key: u8, hash: u8 },
    Complete { key: u8, superseded: bool },
    Release { key: u8 },
    Lookup { key: u8 },
    Tick { secs: u8 },
    Advance { entity: u8, version: i64 },
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        3 => Just(Op::Send),
        3 => Just(Op::Receive),
        2 => any::<usize>().prop_map(Op::Ack),
        1 => any::<usize>().prop_map(Op::Retry),
        1 => any::<usize>().prop_map(Op::DeadLetter),
        1 => Just(Op::ExpireInFlight),
        1 => Just(Op::Redrive),
        3 => (0..3u8, 0..2u8).prop_map(|(key, hash)| Op::Claim { key, hash }),
        2 => (0..3u8, any::<bool>()).prop_map(|(key, superseded)| Op::Complete { key, superseded }),
        1 => (0..3u8).prop_map(|key| Op::Release { key }),
        2 => (0..3u8).prop_map(|key| Op::Lookup { key }),
        2 => (1..40u8).prop_map(|secs| Op::Tick { secs }),
        2 => (0..2u8, 0..6i64).prop_map(|(entity, version)| Op::Advance { entity, version }),
    ]
}

// ---- the model ----------------------------------------------------------------------------

#[derive(Debug, Clone, Copy, PartialEq)]
enum Where {
    Visible,
    InFlight,
    Dead,
    Gone,
}

#[derive(Debug)]
struct Message {
    key: String,
    count: u32,
    at: Where,
}

#[derive(Debug, Clone, PartialEq)]
enum Entry {
    InProgress { hash: String, until: OffsetDateTime },
    Completed { hash: String, until: OffsetDateTime },
}

#[derive(Default, Debug)]
struct Model {
    messages: Vec<Message>,
    /// Receipts of the messages in flight, by message index.
    receipts: BTreeMap<usize, Receipt>,
    ledger: BTreeMap<u8, Entry>,
    versions: BTreeMap<u8, i64>,
}

impl Model {
    fn in_flight(&self, pick: usize) -> Option<(usize, Receipt)> {
        if self.receipts.is_empty() {
            return None;
        }
        let (i, r) = self.receipts.iter().nth(pick % self.receipts.len())?;
        Some((*i, r.clone()))
    }

    /// The live ledger entry, as the backends read it at `now`.
    fn live(&self, key: u8, now: OffsetDateTime) -> Option<&Entry> {
        self.ledger.get(&key).filter(|e| match e {
            Entry::InProgress { .. } => true,
            Entry::Completed { until, .. } => *until > now,
        })
    }
}

fn key_of(n: u8) -> EventKey {
    EventKey::parse(&format!("acme:k{n}")).unwrap()
}

fn entity_of(n: u8) -> String {
    format!("orders/{n}")
}

// ---- the run ------------------------------------------------------------------------------

struct Backend<'a> {
    queue: &'a dyn Queue,
    dead: &'a dyn DeadLetters,
    ledger: &'a dyn Ledger,
    versions: &'a dyn EntityVersions,
    clock: &'a ManualClock,
    /// Makes every in-flight message visible now (lease expiry).
    expire: &'a (dyn Fn(&[Receipt]) -> futures::future::BoxFuture<'a, ()> + Sync),
}

async fn run(ops: &[Op], b: &Backend<'_>) -> Result<(), TestCaseError> {
    let mut m = Model::default();
    let mut sent = 0;
    for (step, op) in ops.iter().enumerate() {
        let now = b.clock.now();
        match op {
            Op::Send => {
                if sent == MAX_MESSAGES {
                    continue;
                }
                let env = envelope(&format!("m{sent}"), None);
                b.queue.send(&env).await.unwrap();
                m.messages.push(Message {
                    key: env.key.as_str().to_string(),
                    count: 0,
                    at: Where::Visible,
                });
                sent += 1;
            }
            Op::Receive => {
                let got = b.queue.receive(10, VT).await.unwrap();
                let mut returned: Vec<(String, u32)> = got
                    .iter()
                    .map(|r| {
                        let key = r.envelope.as_ref().unwrap().key.as_str().to_string();
                        (key, r.receive_count)
                    })
                    .collect();
                returned.sort();
                let mut expected = Vec::new();
                for (i, msg) in m.messages.iter_mut().enumerate() {
                    if msg.at != Where::Visible {
                        continue;
                    }
                    if msg.count >= MAX_RECEIVE {
                        msg.at = Where::Dead;
                    } else {
                        msg.count += 1;
                        msg.at = Where::InFlight;
                        expected.push((msg.key.clone(), msg.count, i));
                    }
                }
                expected.sort();
                let keys: Vec<(String, u32)> =
                    expected.iter().map(|(k, c, _)| (k.clone(), *c)).collect();
                prop_assert_eq!(&returned, &keys, "step {}: receive", step);
                for r in got {
                    let key = r.envelope.unwrap().key.as_str().to_string();
                    let (_, _, i) = expected.iter().find(|(k, _, _)| *k == key).unwrap();
                    m.receipts.insert(*i, r.receipt);
                }
            }
            Op::Ack(pick) => {
                if let Some((i, receipt)) = m.in_flight(*pick) {
                    b.queue.ack(&receipt).await.unwrap();
                    m.messages[i].at = Where::Gone;
                    m.receipts.remove(&i);
                }
            }
            Op::Retry(pick) => {
                if let Some((i, receipt)) = m.in_flight(*pick) {
                    b.queue
                        .retry_later(&receipt, Duration::ZERO, "model retry")
                        .await
                        .unwrap();
                    m.messages[i].at = Where::Visible;
                    m.receipts.remove(&i);
                }
            }
            Op::DeadLetter(pick) => {
                if let Some((i, receipt)) = m.in_flight(*pick) {
                    b.queue.dead_letter(&receipt, "model dead").await.unwrap();
                    m.messages[i].at = Where::Dead;
                    m.receipts.remove(&i);
                }
            }
            Op::ExpireInFlight => {
                let receipts: Vec<Receipt> = m.receipts.values().cloned().collect();
                (b.expire)(&receipts).await;
                for i in std::mem::take(&mut m.receipts).into_keys() {
                    m.messages[i].at = Where::Visible;
                }
            }
            Op::Redrive => {
                let dead = m.messages.iter().filter(|x| x.at == Where::Dead).count();
                let moved = b.dead.redrive(&RedriveSelector::All).await.unwrap();
                prop_assert_eq!(moved, dead, "step {}: redrive", step);
                for msg in &mut m.messages {
                    if msg.at == Where::Dead {
                        msg.at = Where::Visible;
                        msg.count = 0;
                    }
                }
            }
            Op::Claim { key, hash } => {
                let hash = format!("h{hash}");
                let got = b
                    .ledger
                    .claim(&key_of(*key), &hash, now, LEASE)
                    .await
                    .unwrap();
                let expected = match m.live(*key, now) {
                    Some(Entry::Completed { hash: stored, .. }) => Claim::Duplicate {
                        same_payload: *stored == hash,
                    },
                    Some(Entry::InProgress { until, .. }) if *until > now => Claim::InFlight {
                        lease_until: *until,
                    },
                    // Whether it is the key's first is the store's to tell (false is safe).
                    _ => Claim::Acquired {
                        first: matches!(got, Claim::Acquired { first: true }),
                    },
                };
                prop_assert_eq!(&got, &expected, "step {}: claim k{}", step, key);
                if matches!(got, Claim::Acquired { .. }) {
                    m.ledger.insert(
                        *key,
                        Entry::InProgress {
                            hash,
                            until: now + LEASE,
                        },
                    );
                }
            }
            Op::Complete { key, superseded } => {
                // Only a claimed key is completed (the worker's contract).
                let Some(Entry::InProgress { hash, .. }) = m.live(*key, now).cloned() else {
                    continue;
                };
                let how = if *superseded {
                    Completion::Superseded
                } else {
                    Completion::Delivered
                };
                b.ledger
                    .complete(&key_of(*key), how, now, RETENTION)
                    .await
                    .unwrap();
                m.ledger.insert(
                    *key,
                    Entry::Completed {
                        hash,
                        until: now + RETENTION,
                    },
                );
            }
            Op::Release { key } => {
                b.ledger
                    .release(&key_of(*key), now, RETENTION)
                    .await
                    .unwrap();
                if let Some(Entry::InProgress { .. }) = m.ledger.get(key) {
                    m.ledger.remove(key);
                }
            }
            Op::Lookup { key } => {
                let got = b.ledger.lookup(&key_of(*key), now).await.unwrap();
                let got = got.map(|e| match e.state {
                    LedgerState::InProgress { lease_until } => ("in-progress", lease_until),
                    LedgerState::Completed { expires_at, .. } => ("completed", expires_at),
                });
                let expected = m.live(*key, now).map(|e| match e {
                    Entry::InProgress { until, .. } => ("in-progress", *until),
                    Entry::Completed { until, .. } => ("completed", *until),
                });
                prop_assert_eq!(got, expected, "step {}: lookup k{}", step, key);
            }
            Op::Tick { secs } => b.clock.advance(Duration::from_secs(u64::from(*secs))),
            Op::Advance { entity, version } => {
                let got = b
                    .versions
                    .advance(&entity_of(*entity), *version)
                    .await
                    .unwrap();
                let expected = match m.versions.get(entity) {
                    Some(current) if *current > *version => {
                        VersionCheck::Stale { current: *current }
                    }
                    _ => VersionCheck::Current,
                };
                prop_assert_eq!(&got, &expected, "step {}: advance", step);
                if got == VersionCheck::Current {
                    m.versions.insert(*entity, *version);
                }
            }
        }
    }
    // The dead-letter queue holds exactly the model's dead messages.
    let mut dead: Vec<String> = b
        .dead
        .list(20)
        .await
        .unwrap()
        .into_iter()
        .filter_map(|d| d.key)
        .collect();
    dead.sort();
    let mut expected: Vec<String> = m
        .messages
        .iter()
        .filter(|x| x.at == Where::Dead)
        .map(|x| x.key.clone())
        .collect();
    expected.sort();
    prop_assert_eq!(dead, expected, "dead letters at the end");
    Ok(())
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap()
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 64, ..ProptestConfig::default() })]

    #[test]
    fn sqlite_queue_and_ledger_follow_the_model(ops in proptest::collection::vec(op(), 1..60)) {
        runtime().block_on(async {
            let s = sqlite(MAX_RECEIVE);
            let clock = s.clock.clone();
            let expire = |_: &[Receipt]| -> futures::future::BoxFuture<'_, ()> {
                clock.advance(VT + Duration::from_secs(1));
                Box::pin(async {})
            };
            run(
                &ops,
                &Backend {
                    queue: &s.store,
                    dead: &s.store,
                    ledger: &s.store,
                    versions: &s.store,
                    clock: &s.clock,
                    expire: &expire,
                },
            )
            .await
        })?;
    }
}

proptest! {
    // Each case makes its own queues and table on moto; fewer cases, same model.
    #![proptest_config(ProptestConfig { cases: 16, max_shrink_iters: 64, ..ProptestConfig::default() })]

    #[test]
    #[ignore = "needs the AWS emulator (moto), which scripts/test starts"]
    fn aws_queue_and_ledger_follow_the_model(ops in proptest::collection::vec(op(), 1..60)) {
        runtime().block_on(async {
            let moto = inlet_tests::moto::Moto::connect().await;
            let (q, dlq) = moto.queues(MAX_RECEIVE, false).await;
            let queue = moto.queue(&q, &dlq);
            let store = inlet_aws::DynamoStore::new(moto.dynamodb(), moto.table().await);
            let clock = ManualClock::at_unix(1_800_000_000);
            let expire = |receipts: &[Receipt]| -> futures::future::BoxFuture<'_, ()> {
                let receipts = receipts.to_vec();
                let queue = &queue;
                Box::pin(async move {
                    for r in &receipts {
                        queue.retry_later(r, Duration::ZERO, "visibility timeout").await.unwrap();
                    }
                })
            };
            run(
                &ops,
                &Backend {
                    queue: &queue,
                    dead: &queue,
                    ledger: &store,
                    versions: &store,
                    clock: &clock,
                    expire: &expire,
                },
            )
            .await
        })?;
    }
}
