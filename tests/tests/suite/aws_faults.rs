//! Faults moto cannot produce, injected by a proxy in front of it: DynamoDB throttling and
//! partial EventBridge `PutEvents` failures.

use std::sync::Arc;
use std::time::Duration;

use inlet_core::ids::EventKey;
use inlet_core::ports::{Claim, Ledger};
use inlet_tests::faults::{Action, FaultProxy};
use inlet_tests::moto::Moto;

const THROTTLED: &str = r#"{"__type":"com.amazonaws.dynamodb.v20120810#ProvisionedThroughputExceededException","message":"The level of configured provisioned throughput for the table was exceeded."}"#;

async fn sdk_via(proxy: &FaultProxy) -> aws_config::SdkConfig {
    inlet_tests::moto::sdk_for(&proxy.endpoint).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs the AWS emulator (moto), which scripts/test starts"]
async fn dynamodb_throttling_is_retried_then_surfaces_as_a_retryable_error() {
    let moto = Moto::connect().await;
    let table = moto.table().await;
    // The first two claims are throttled; the SDK's retry absorbs them.
    let proxy = FaultProxy::start(
        &moto.endpoint,
        Arc::new(|target, nth, _| match (target, nth) {
            ("DynamoDB_20120810.UpdateItem", 0 | 1) => Action::Respond(400, THROTTLED.into()),
            _ => Action::Forward,
        }),
    )
    .await;
    let store = inlet_aws::DynamoStore::new(
        aws_sdk_dynamodb::Client::new(&sdk_via(&proxy).await),
        table.clone(),
    );
    let key = EventKey::parse("stripe:evt_throttle").unwrap();
    let now = time::OffsetDateTime::now_utc();
    assert_eq!(
        store
            .claim(&key, "h", now, Duration::from_secs(5))
            .await
            .unwrap(),
        Claim::Acquired { first: true }
    );
    assert_eq!(proxy.count("DynamoDB_20120810.UpdateItem"), 3);

    // Throttled for good: a throttle, which the worker waits out without counting an
    // attempt (see process::Disposition::Defer).
    let proxy = FaultProxy::start(
        &moto.endpoint,
        Arc::new(|target, _, _| match target {
            "DynamoDB_20120810.UpdateItem" => Action::Respond(400, THROTTLED.into()),
            _ => Action::Forward,
        }),
    )
    .await;
    let store =
        inlet_aws::DynamoStore::new(aws_sdk_dynamodb::Client::new(&sdk_via(&proxy).await), table);
    let key = EventKey::parse("stripe:evt_throttle_2").unwrap();
    let err = store
        .claim(&key, "h", now, Duration::from_secs(5))
        .await
        .unwrap_err();
    assert!(
        matches!(err, inlet_core::ports::StoreError::Throttled { .. }) && err.is_throttle(),
        "{err:?}"
    );
    assert!(
        std::error::Error::source(&err).is_some(),
        "the SDK error is kept as the source"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs the AWS emulator (moto), which scripts/test starts"]
async fn eventbridge_partial_failures_retry_only_the_failed_entries() {
    let moto = Moto::connect().await;
    let (bus, observer) = moto.bus_with_observer().await;
    let sizes = Arc::new(std::sync::Mutex::new(Vec::new()));
    let seen_sizes = sizes.clone();
    // First PutEvents: entry 1 of 3 fails (it is not forwarded); later calls pass through.
    let proxy = FaultProxy::start(
        &moto.endpoint,
        Arc::new(move |target, nth, body| {
            if target != "AWSEvents.PutEvents" {
                return Action::Forward;
            }
            let mut req: serde_json::Value = serde_json::from_slice(body).unwrap();
            seen_sizes.lock().unwrap().push(req["Entries"].as_array().unwrap().len());
            if nth > 0 {
                return Action::Forward;
            }
            req["Entries"].as_array_mut().unwrap().remove(1);
            Action::Rewrite {
                body: serde_json::to_vec(&req).unwrap(),
                answer: Box::new(|mut v| {
                    let entries = v["Entries"].as_array_mut().unwrap();
                    entries.insert(1, serde_json::json!({"ErrorCode": "InternalFailure", "ErrorMessage": "injected"}));
                    v["FailedEntryCount"] = 1.into();
                    v
                }),
            }
        }),
    )
    .await;
    let sink = inlet_aws::EventBridgeSink::new(
        aws_sdk_eventbridge::Client::new(&sdk_via(&proxy).await),
        bus,
    );
    let records: Vec<inlet_core::envelope::SinkRecord> = (0..3)
        .map(|i| {
            inlet_tests::sink_record(
                "stripe",
                "invoice.paid",
                &format!("evt_pe{i}"),
                serde_json::json!({"n": i}),
            )
        })
        .collect();
    let refs: Vec<&inlet_core::envelope::SinkRecord> = records.iter().collect();
    let results = inlet_core::ports::Sink::deliver_batch(&sink, &refs).await;
    assert!(results.iter().all(Result::is_ok), "{results:?}");
    assert_eq!(
        *sizes.lock().unwrap(),
        [3, 1],
        "the retry carried only the failed entry"
    );

    let mut keys = Vec::new();
    for _ in 0..5 {
        let got = moto
            .sqs()
            .receive_message()
            .queue_url(&observer)
            .max_number_of_messages(10)
            .send()
            .await
            .unwrap();
        for m in got.messages.unwrap_or_default() {
            let v: serde_json::Value = serde_json::from_str(&m.body.unwrap()).unwrap();
            keys.push(v["detail"]["key"].as_str().unwrap().to_string());
        }
        if keys.len() >= 3 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    keys.sort();
    assert_eq!(keys, ["stripe:evt_pe0", "stripe:evt_pe1", "stripe:evt_pe2"]);
}

/// A `BatchWriteItem` rule for the proxy: the first `keep_first_call` requests of the first
/// call reach moto (`keep_later` of each later call), the rest come back as
/// `UnprocessedItems` (what DynamoDB answers when throttled); `calls` records each call's
/// request count.
fn leave_unprocessed(
    keep_first_call: usize,
    keep_later: usize,
    calls: Arc<std::sync::Mutex<Vec<usize>>>,
) -> inlet_tests::faults::Rule {
    Arc::new(move |target, nth, body| {
        if target != "DynamoDB_20120810.BatchWriteItem" {
            return Action::Forward;
        }
        let mut req: serde_json::Value = serde_json::from_slice(body).unwrap();
        let (table, requests) = {
            let items = req["RequestItems"].as_object().unwrap();
            let (t, r) = items.iter().next().unwrap();
            (t.clone(), r.as_array().unwrap().clone())
        };
        calls.lock().unwrap().push(requests.len());
        let keep = if nth == 0 {
            keep_first_call
        } else {
            keep_later
        };
        let left: Vec<serde_json::Value> = requests.iter().skip(keep).cloned().collect();
        req["RequestItems"][&table] = requests[..keep.min(requests.len())].to_vec().into();
        Action::Rewrite {
            body: serde_json::to_vec(&req).unwrap(),
            answer: Box::new(move |mut v| {
                if !left.is_empty() {
                    v["UnprocessedItems"] = serde_json::json!({ table: left });
                }
                v
            }),
        }
    })
}

/// Claim `keys` (each must be acquired) and return them as delivered completions.
async fn claimed<'a>(
    store: &inlet_aws::DynamoStore,
    keys: &'a [EventKey],
    now: time::OffsetDateTime,
) -> Vec<(&'a EventKey, &'static str, inlet_core::ports::Completion)> {
    for k in keys {
        let claim = store.claim(k, "h", now, Duration::from_secs(30)).await;
        assert_eq!(claim.unwrap(), Claim::Acquired { first: true });
    }
    keys.iter()
        .map(|k| (k, "h", inlet_core::ports::Completion::Delivered))
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs the AWS emulator (moto), which scripts/test starts"]
async fn batched_completions_retry_unprocessed_items_and_fail_only_what_is_left() {
    use inlet_core::ports::{LedgerState, StoreError};
    let moto = Moto::connect().await;
    let table = moto.table().await;
    let now = time::OffsetDateTime::now_utc();
    let lease = Duration::from_secs(30);
    let retention = Duration::from_secs(3600);
    let keys: Vec<EventKey> = (0..3)
        .map(|i| EventKey::parse(&format!("stripe:evt_bw{i}")).unwrap())
        .collect();

    // The first call leaves two of three unprocessed; the retry carries only those two.
    let calls = Arc::new(std::sync::Mutex::new(Vec::new()));
    let proxy = FaultProxy::start(
        &moto.endpoint,
        leave_unprocessed(1, usize::MAX, calls.clone()),
    )
    .await;
    let store = inlet_aws::DynamoStore::new(
        aws_sdk_dynamodb::Client::new(&sdk_via(&proxy).await),
        table.clone(),
    );
    let done = claimed(&store, &keys, now).await;
    let claims = proxy.count("DynamoDB_20120810.UpdateItem");
    let results = store.complete_many(&done, now, retention).await;
    assert!(results.iter().all(Result::is_ok), "{results:?}");
    assert_eq!(
        *calls.lock().unwrap(),
        [3, 2],
        "one call, then the unprocessed two"
    );
    assert_eq!(
        proxy.count("DynamoDB_20120810.UpdateItem"),
        claims,
        "no per-key writes"
    );
    for k in &keys {
        let entry = store.lookup(k, now).await.unwrap().unwrap();
        assert!(
            matches!(entry.state, LedgerState::Completed { ref outcome, .. } if outcome == "delivered")
        );
        // The put kept the claim's payload hash: a copy with another payload is told apart.
        assert_eq!(
            store.claim(k, "other", now, lease).await.unwrap(),
            Claim::Duplicate {
                same_payload: false
            }
        );
    }

    // Throttled for good: what is still unprocessed after the retries fails, only that.
    let calls = Arc::new(std::sync::Mutex::new(Vec::new()));
    let proxy = FaultProxy::start(&moto.endpoint, leave_unprocessed(2, 0, calls.clone())).await;
    let store =
        inlet_aws::DynamoStore::new(aws_sdk_dynamodb::Client::new(&sdk_via(&proxy).await), table);
    let keys: Vec<EventKey> = (0..3)
        .map(|i| EventKey::parse(&format!("stripe:evt_bw_left{i}")).unwrap())
        .collect();
    let done = claimed(&store, &keys, now).await;
    let results = store.complete_many(&done, now, retention).await;
    assert!(results[0].is_ok() && results[1].is_ok(), "{results:?}");
    assert!(
        matches!(&results[2], Err(StoreError::Throttled { message, .. }) if message.contains("unprocessed")),
        "{results:?}"
    );
    assert_eq!(calls.lock().unwrap().len(), 4, "one call and three retries");
    assert!(matches!(
        store.lookup(&keys[2], now).await.unwrap().unwrap().state,
        LedgerState::InProgress { .. }
    ));
}
