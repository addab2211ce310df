//! The three built function binaries run as Lambda runs them — polling a Runtime API
//! (here on loopback) — against moto, each invoked with a real event.

use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::Duration;

use inlet_tests::faults::{Action, FaultProxy};
use inlet_tests::moto::Moto;
use inlet_tests::runtime_api::{binary, RuntimeApi};
use inlet_tests::*;

struct Function(Child);

impl Drop for Function {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// The IAM actions the template grants `resource` (e.g. `WorkerFunction`): every
/// `service:Action` named in its block, which ends at the next resource.
fn granted(template: &str, resource: &str) -> Vec<String> {
    let header = format!("  {resource}:");
    template
        .lines()
        .skip_while(|l| *l != header)
        .skip(1)
        .take_while(|l| l.is_empty() || l.starts_with("   ") || l.trim_start().starts_with('#'))
        .flat_map(|l| l.split(|c: char| !(c.is_ascii_alphanumeric() || c == ':')))
        .filter(|w| {
            [
                "dynamodb:",
                "sqs:",
                "events:",
                "secretsmanager:",
                "s3:",
                "kms:",
            ]
            .iter()
            .any(|p| w.starts_with(p))
        })
        .map(str::to_string)
        .collect()
}

/// The IAM action of an AWS JSON-protocol call as the proxy saw it (`x-amz-target`).
fn action_of(target: &str) -> Option<String> {
    let (service, op) = target.split_once('.')?;
    let prefix = match service {
        s if s.starts_with("DynamoDB_") => "dynamodb",
        "AmazonSQS" => "sqs",
        "AWSEvents" => "events",
        "secretsmanager" => "secretsmanager",
        _ => return None,
    };
    Some(format!("{prefix}:{op}"))
}

/// A proxy in front of moto that forwards everything and records each call's target.
async fn recording_proxy(moto: &Moto) -> FaultProxy {
    FaultProxy::start(&moto.endpoint, Arc::new(|_, _, _| Action::Forward)).await
}

fn spawn(
    name: &str,
    api: &RuntimeApi,
    endpoint: &str,
    resources: &[(&str, &str)],
    config: &str,
) -> Function {
    let mut cmd = Command::new(binary(name));
    cmd.envs(api.lambda_env(name))
        .env("INLET_CONFIG", config)
        .env("AWS_ENDPOINT_URL", endpoint)
        .env("AWS_ACCESS_KEY_ID", "testing")
        .env("AWS_SECRET_ACCESS_KEY", "testing")
        .env("AWS_REGION", "us-east-1")
        .env("AWS_EC2_METADATA_DISABLED", "true")
        .env("RUST_LOG", "warn")
        .stdout(Stdio::null())
        .stderr(Stdio::null());
    for (k, v) in resources {
        cmd.env(k, v);
    }
    Function(cmd.spawn().expect("function binary starts"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs the AWS emulator (moto), which scripts/test starts"]
async fn the_four_binaries_serve_real_events_through_the_runtime_api() {
    let moto = Moto::connect().await;
    let (q, dlq) = moto.queues(3, false).await;
    let table = moto.table().await;
    let resources = crate::outbox_aws::stack_env(&q, &dlq, &table);
    let config = format!(
        "{}{}\n[[sinks]]\nkind = \"stdout\"\n",
        fast_worker_toml(3),
        providers_toml()
    );

    // webhook: an HTTP API v2 event → 202 and a message on the queue.
    // Each function talks to moto through a proxy of its own, which records its calls,
    // so each can be held to the IAM policy the template gives it (moto checks none).
    let webhook_calls = recording_proxy(&moto).await;
    let api = RuntimeApi::start().await;
    let _webhook = spawn(
        "webhook",
        &api,
        &webhook_calls.endpoint,
        &resources,
        &config,
    );
    for (i, id) in ["evt_smoke", "evt_smoke_2"].iter().enumerate() {
        let body = stripe_event(id, "invoice.paid", "in_smoke", now_unix());
        let request = format!("req-1-{i}");
        api.invoke(&request, stripe_http_event(&body, STRIPE_SECRET));
        let resp = api
            .response(&request, Duration::from_secs(30))
            .await
            .expect("webhook answered")
            .unwrap();
        assert_eq!(resp["statusCode"], 202, "{resp}");
        assert!(resp["body"].as_str().unwrap().contains(id));
    }

    // worker: the SQS event the event source mapping would deliver.
    let event = moto
        .sqs_event(&q, "arn:aws:sqs:us-east-1:123456789012:inlet-work", 30)
        .await;
    assert_eq!(event["Records"].as_array().unwrap().len(), 2);
    let worker_calls = recording_proxy(&moto).await;
    let api = RuntimeApi::start().await;
    let _worker = spawn("worker", &api, &worker_calls.endpoint, &resources, &config);
    api.invoke("req-2", event);
    let resp = api
        .response("req-2", Duration::from_secs(30))
        .await
        .expect("worker answered")
        .unwrap();
    assert_eq!(resp["batchItemFailures"], serde_json::json!([]), "{resp}");
    use inlet_core::ports::Ledger;
    let store = inlet_aws::DynamoStore::new(moto.dynamodb(), table.clone());
    let entry = store
        .lookup(
            &inlet_core::ids::EventKey::parse("stripe:evt_smoke").unwrap(),
            time::OffsetDateTime::now_utc(),
        )
        .await
        .unwrap();
    assert!(matches!(
        entry.map(|e| e.state),
        Some(inlet_core::ports::LedgerState::Completed { .. })
    ));

    // reconciler: a scheduled event → one run over a Stripe feed.
    let events = Arc::new(std::sync::Mutex::new(vec![
        ("evt_smoke".to_string(), now_unix() - 300),
        ("evt_missed".to_string(), now_unix() - 200),
    ]));
    let feed = FakeApi::start(stripe_events_api(events)).await;
    let config = format!(
        "{config}{}",
        stripe_source_toml(&feed.base, "lookback_secs = 3600")
    );
    let reconciler_calls = recording_proxy(&moto).await;
    let api = RuntimeApi::start().await;
    let _reconciler = spawn(
        "reconciler",
        &api,
        &reconciler_calls.endpoint,
        &resources,
        &config,
    );
    api.invoke("req-3", event_fixture("scheduled.json"));
    let resp = api
        .response("req-3", Duration::from_secs(30))
        .await
        .expect("reconciler answered")
        .unwrap();
    let report = &resp["reports"][0];
    assert_eq!(
        (report["scanned"].as_u64(), report["recovered"].as_u64()),
        (Some(2), Some(1)),
        "{resp}"
    );

    // publisher: the state table's stream record of an outbox item staged in a transaction.
    let staged =
        inlet_outbox::OutboxEvent::new("order", "ord_smoke", "order.paid", serde_json::json!({}));
    moto.dynamodb()
        .transact_write_items()
        .transact_items(inlet_outbox::dynamodb::stage(&table, "shop", &staged).unwrap())
        .send()
        .await
        .unwrap();
    let item = inlet_outbox::dynamodb::get(&moto.dynamodb(), &table, &staged.id)
        .await
        .unwrap()
        .unwrap();
    let publisher_calls = recording_proxy(&moto).await;
    let api = RuntimeApi::start().await;
    let _publisher = spawn(
        "publisher",
        &api,
        &publisher_calls.endpoint,
        &resources,
        &config,
    );
    api.invoke(
        "req-4",
        serde_json::json!({ "Records": [stream_record("INSERT", "1", dynamodb_json(&item))] }),
    );
    let resp = api
        .response("req-4", Duration::from_secs(30))
        .await
        .expect("publisher answered")
        .unwrap();
    assert_eq!(resp["batchItemFailures"], serde_json::json!([]), "{resp}");
    let item = inlet_outbox::dynamodb::get(&moto.dynamodb(), &table, &staged.id)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(item["status"].as_s().unwrap(), "published");

    // Every call each function made is one its role in the template allows.
    let template =
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../template.yaml")).unwrap();
    for (resource, proxy) in [
        ("WebhookFunction", &webhook_calls),
        ("WorkerFunction", &worker_calls),
        ("ReconcilerFunction", &reconciler_calls),
        ("PublisherFunction", &publisher_calls),
    ] {
        let allowed = granted(&template, resource);
        assert!(!allowed.is_empty(), "{resource} has a policy");
        let made: Vec<String> = proxy
            .seen
            .lock()
            .unwrap()
            .keys()
            .filter_map(|t| action_of(t))
            .collect();
        assert!(!made.is_empty(), "{resource} made AWS calls");
        for action in made {
            assert!(
                allowed.contains(&action),
                "{resource} calls {action}, which template.yaml does not grant it ({allowed:?})"
            );
        }
    }
}
