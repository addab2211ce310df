//! The Lambda handlers on real event JSON (API Gateway HTTP API v2, REST v1 with a base64
//! body, SQS batches, a scheduled event) against moto-backed adapters.

use std::sync::{Arc, RwLock};
use std::time::Duration;

use aws_lambda_events::sqs::SqsEvent;
use inlet_aws::runtime::ConfigSource;
use inlet_aws::{DynamoStore, EmfMetrics};
use inlet_core::clock::SystemClock;
use inlet_core::ports::{Cursors, DeadLetters, Queue};
use inlet_core::signature::Scheme;
use inlet_core::usecase::process::{Processor, WorkerStores};
use inlet_tests::moto::Moto;
use inlet_tests::*;

fn lambda_config() -> String {
    format!(
        "{}{}\n[[sinks]]\nkind = \"stdout\"\n",
        fast_worker_toml(3),
        providers_toml()
    )
}

async fn webhook_deps(moto: &Moto, q: &str, dlq: &str) -> inlet_webhook_fn::Deps {
    let source = ConfigSource::new(&moto.sdk, lambda_config());
    let config = source.load().await.unwrap();
    inlet_webhook_fn::Deps {
        config: RwLock::new(Arc::new(config)),
        source,
        queue: moto.queue(q, dlq),
        metrics: EmfMetrics::new(),
        http: inlet_sources::provider_http::HttpProviderClient::for_tests(),
    }
}

fn response_json(resp: &lambda_http::Response<lambda_http::Body>) -> serde_json::Value {
    match resp.body() {
        lambda_http::Body::Text(t) => serde_json::from_str(t).unwrap(),
        other => panic!("unexpected body {other:?}"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs the AWS emulator (moto), which scripts/test starts"]
async fn webhook_handles_http_api_v2_and_rest_v1_base64_bodies() {
    let moto = Moto::connect().await;
    let (q, dlq) = moto.queues(3, false).await;
    let deps = webhook_deps(&moto, &q, &dlq).await;

    // HTTP API v2, plain JSON body, signed by Stripe's scheme.
    let body = stripe_event("evt_lambda_1", "invoice.paid", "in_l1", now_unix());
    let mut event = stripe_http_event(&body, STRIPE_SECRET);
    event["headers"]["content-length"] = body.len().to_string().into();
    let req = lambda_http::request::from_str(&event.to_string()).unwrap();
    let resp = inlet_webhook_fn::handle(&deps, req).await;
    assert_eq!(resp.status(), 202);
    assert_eq!(response_json(&resp)["key"], "stripe:evt_lambda_1");

    // REST v1 with a base64-encoded body: verified over the decoded bytes exactly.
    let raw =
        "{\"id\":4242,\"updated_at\":\"2026-11-20T12:00:00Z\",\"note\":\"caf\u{e9} \u{1F680}\"}\n";
    let mut event = event_fixture("apigw-rest-v1-base64.json");
    for (k, v) in signed(
        &Scheme::Shopify,
        SHOPIFY_SECRET,
        raw.as_bytes(),
        now_unix(),
        "",
    ) {
        event["headers"][k.clone()] = v.clone().into();
        event["multiValueHeaders"][k] = serde_json::json!([v]);
    }
    event["headers"]["X-Shopify-Topic"] = "orders/updated".into();
    event["multiValueHeaders"]["X-Shopify-Topic"] = serde_json::json!(["orders/updated"]);
    use base64::Engine as _;
    event["body"] = base64::engine::general_purpose::STANDARD
        .encode(raw.as_bytes())
        .into();
    let req = lambda_http::request::from_str(&event.to_string()).unwrap();
    let resp = inlet_webhook_fn::handle(&deps, req).await;
    assert_eq!(resp.status(), 202, "{:?}", resp.body());
    assert_eq!(
        response_json(&resp)["key"],
        "shopify:orders/4242@1795176000"
    );

    // Both are on the queue, with the key as a message attribute.
    let queue = moto.queue(&q, &dlq);
    let got = queue.receive(10, Duration::from_secs(5)).await.unwrap();
    let mut keys: Vec<String> = got
        .iter()
        .map(|m| m.envelope.as_ref().unwrap().key.to_string())
        .collect();
    keys.sort();
    assert_eq!(
        keys,
        ["shopify:orders/4242@1795176000", "stripe:evt_lambda_1"]
    );
    let shopify = got
        .iter()
        .find(|m| m.envelope.as_ref().unwrap().provider.as_str() == "shopify")
        .unwrap();
    assert_eq!(shopify.envelope.as_ref().unwrap().body, raw.as_bytes());

    // The same errors as inlet dev.
    let mut event = event_fixture("apigw-http-v2.json");
    event["body"] = body.clone().into();
    let resp = inlet_webhook_fn::handle(
        &deps,
        lambda_http::request::from_str(&event.to_string()).unwrap(),
    )
    .await;
    assert_eq!(
        (
            resp.status().as_u16(),
            response_json(&resp)["error"].as_str()
        ),
        (401, Some("missing_header"))
    );
    event["rawPath"] = "/webhooks/nope".into();
    event["requestContext"]["http"]["path"] = "/webhooks/nope".into();
    let resp = inlet_webhook_fn::handle(
        &deps,
        lambda_http::request::from_str(&event.to_string()).unwrap(),
    )
    .await;
    assert_eq!(resp.status(), 404);
}

async fn worker_deps(
    moto: &Moto,
    q: &str,
    dlq: &str,
    sink_url: &str,
) -> (inlet_worker_fn::Deps, String) {
    let table = moto.table().await;
    let store = Arc::new(DynamoStore::new(moto.dynamodb(), table.clone()));
    let config = parse_config(&format!(
        "{}{}{}",
        fast_worker_toml(3),
        providers_toml(),
        http_sink_toml(sink_url)
    ));
    let metrics = Arc::new(EmfMetrics::new());
    (
        inlet_worker_fn::Deps {
            processor: Processor::from_config(
                &config,
                WorkerStores::all(store),
                inlet_sinks::build(&config.sinks).unwrap(),
                metrics.clone(),
                Arc::new(SystemClock),
            ),
            queue: moto.queue(q, dlq),
            metrics,
        },
        table,
    )
}

/// The SQS event the event source mapping would deliver for what is on the queue.
async fn sqs_event(moto: &Moto, q: &str, arn: &str) -> SqsEvent {
    serde_json::from_value(moto.sqs_event(q, arn, 30).await).unwrap()
}

async fn send(moto: &Moto, q: &str, dlq: &str, id: &str, entity: Option<&str>) {
    let queue = moto.queue(q, dlq);
    let body = stripe_event(id, "invoice.paid", entity.unwrap_or(id), now_unix());
    let mut env = stripe_envelope(&body);
    env.version = None;
    queue.send(&env).await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs the AWS emulator (moto), which scripts/test starts"]
async fn worker_reports_partial_batch_failures_dead_letters_poison_and_acks_duplicates() {
    let moto = Moto::connect().await;
    let (q, dlq) = moto.queues(3, false).await;
    let sink = SinkServer::start().await;
    let (deps, _) = worker_deps(&moto, &q, &dlq, &sink.url).await;
    // Four good events; the sink fails transiently for one of them.
    for id in ["evt_w1", "evt_w2", "evt_w3", "evt_w4"] {
        send(&moto, &q, &dlq, id, None).await;
    }
    // A poison message: not an envelope.
    moto.sqs()
        .send_message()
        .queue_url(&q)
        .message_body("{not an envelope")
        .send()
        .await
        .unwrap();
    *sink.default_status.lock().unwrap() = 200;
    sink.plan.lock().unwrap().push_back(503);

    let event = sqs_event(&moto, &q, "arn:aws:sqs:us-east-1:123456789012:inlet").await;
    assert_eq!(event.records.len(), 5);
    let response = inlet_worker_fn::handle(&deps, event, None).await;
    assert_eq!(
        response.batch_item_failures.len(),
        1,
        "only the transient failure is redelivered"
    );
    assert_eq!(sink.delivered_keys().len(), 3);
    let dead = deps.queue.list(10).await.unwrap();
    assert_eq!(dead.len(), 1);
    assert!(dead[0]
        .reason
        .as_deref()
        .unwrap()
        .contains("malformed message"));

    // SQS would delete the successes; do that, then redeliver everything as a duplicate
    // storm would: the delivered ones are acknowledged as duplicates, not re-sent.
    for id in ["evt_w1", "evt_w2", "evt_w3", "evt_w4"] {
        send(&moto, &q, &dlq, id, None).await;
    }
    tokio::time::sleep(Duration::from_millis(1100)).await;
    let event = sqs_event(&moto, &q, "arn:aws:sqs:us-east-1:123456789012:inlet").await;
    let response = inlet_worker_fn::handle(&deps, event, None).await;
    assert!(
        response.batch_item_failures.is_empty(),
        "{:?}",
        response.batch_item_failures
    );
    let mut keys = sink.delivered_keys();
    keys.sort();
    keys.dedup();
    assert_eq!(keys.len(), 4, "each event delivered once: {keys:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs the AWS emulator (moto), which scripts/test starts"]
async fn worker_on_fifo_stops_a_group_at_its_first_failure() {
    let moto = Moto::connect().await;
    let (q, dlq) = moto.queues(3, true).await;
    let sink = SinkServer::start().await;
    let (deps, _) = worker_deps(&moto, &q, &dlq, &sink.url).await;
    // Three events of one entity, one of another.
    for (id, entity) in [
        ("evt_f1", "in_A"),
        ("evt_f2", "in_A"),
        ("evt_f3", "in_A"),
        ("evt_g1", "in_B"),
    ] {
        send(&moto, &q, &dlq, id, Some(entity)).await;
    }
    let event = sqs_event(&moto, &q, "arn:aws:sqs:us-east-1:123456789012:inlet.fifo").await;
    assert_eq!(event.records.len(), 4);
    // The first delivery fails transiently: that is evt_f1 (group in_A) or evt_g1.
    sink.plan.lock().unwrap().push_back(503);
    let first_group_a = event
        .records
        .iter()
        .position(|r| r.body.as_deref().unwrap_or("").contains("evt_f1"))
        .unwrap();
    let response = inlet_worker_fn::handle(&deps, event.clone(), None).await;
    let failed: Vec<&str> = response
        .batch_item_failures
        .iter()
        .map(|f| f.item_identifier.as_str())
        .collect();
    let delivered = sink.delivered_keys();
    if delivered.contains(&"stripe:evt_f1".to_string()) {
        // evt_g1 took the failure: only it is reported, group A went through in order.
        assert_eq!(failed.len(), 1);
        assert_eq!(
            delivered,
            ["stripe:evt_f1", "stripe:evt_f2", "stripe:evt_f3"]
        );
    } else {
        // evt_f1 failed: evt_f2 and evt_f3 are reported unprocessed, in_B went through.
        assert_eq!(failed.len(), 3, "{failed:?}");
        assert!(failed.contains(&event.records[first_group_a].message_id.as_deref().unwrap()));
        assert_eq!(delivered, ["stripe:evt_g1"]);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs the AWS emulator (moto), which scripts/test starts"]
async fn reconciler_runs_sources_with_dynamodb_cursors_on_a_scheduled_event() {
    let moto = Moto::connect().await;
    let (q, dlq) = moto.queues(3, false).await;
    let table = moto.table().await;
    let now = now_unix();
    let events = Arc::new(std::sync::Mutex::new(
        (0..12)
            .map(|i| (format!("evt_r{i:02}"), now - 600 + i))
            .collect::<Vec<_>>(),
    ));
    let api = FakeApi::start(stripe_events_api(events)).await;
    let config = parse_config(&format!(
        "{}{}\n[[sinks]]\nkind = \"stdout\"\n{}",
        fast_worker_toml(3),
        providers_toml(),
        stripe_source_toml(&api.base, "lookback_secs = 3600\npage_size = 5")
    ));
    let store = DynamoStore::new(moto.dynamodb(), table.clone());
    // Three of them were already processed from webhooks.
    for i in [0, 5, 11] {
        let key = inlet_core::ids::EventKey::parse(&format!("stripe:evt_r{i:02}")).unwrap();
        let t = time::OffsetDateTime::now_utc();
        use inlet_core::ports::Ledger;
        store
            .claim(&key, "", t, Duration::from_secs(5))
            .await
            .unwrap();
        store
            .complete(
                &key,
                inlet_core::ports::Completion::Delivered,
                t,
                Duration::from_secs(3600),
            )
            .await
            .unwrap();
    }
    let deps = inlet_reconciler_fn::Deps {
        sources: inlet_sources::build_all(&config).unwrap(),
        connections: config.connections.clone(),
        store,
        queue: moto.queue(&q, &dlq),
        metrics: EmfMetrics::new(),
    };
    let _scheduled = event_fixture("scheduled.json");
    let out = inlet_reconciler_fn::handle(&deps, Duration::from_secs(60)).await;
    let report = &out["reports"][0];
    assert_eq!(
        (report["scanned"].as_u64(), report["recovered"].as_u64()),
        (Some(12), Some(9)),
        "{out}"
    );
    let cursor = deps.store.load("stripe-events").await.unwrap().unwrap();
    assert!(cursor.parse::<i64>().unwrap() >= now);
    let mut n = 0;
    loop {
        let got = deps
            .queue
            .receive(10, Duration::from_secs(30))
            .await
            .unwrap();
        if got.is_empty() {
            break;
        }
        n += got.len();
    }
    assert_eq!(n, 9);
    assert_eq!(
        out["connections"],
        serde_json::json!([]),
        "no connection, no alert"
    );
    // A connection the provider refused is reported on the run (with its metric, which the
    // template's alarm fires on at once) and stays reported while it is broken.
    {
        use inlet_core::connection::{ConnectionStore, TokenPair};
        let now = inlet_core::clock::unix_millis(time::OffsetDateTime::now_utc());
        let pair = TokenPair {
            access_token: inlet_core::secret::Secret::new("acc"),
            access_expires_at_ms: now + 1_800_000,
            refresh_token: Some(inlet_core::secret::Secret::new("ref")),
            obtained_at_ms: now,
        };
        deps.store.seed("exact", &pair).await.unwrap();
        deps.store
            .mark_broken("exact", "invalid_grant", now)
            .await
            .unwrap();
    }
    for _ in 0..2 {
        let out = inlet_reconciler_fn::handle(&deps, Duration::from_secs(60)).await;
        assert_eq!(
            out["connections"],
            serde_json::json!([{"connection": "exact", "state": "broken", "reason": "invalid_grant"}]),
            "{out}"
        );
    }
    // A function with almost no time left stops before fetching.
    let out = inlet_reconciler_fn::handle(&deps, Duration::from_secs(1)).await;
    assert_eq!(out["reports"][0]["stopped"], "deadline");
    assert_eq!(out["reports"][0]["pages"], 0);
    // ...and says so: a run that read nothing is a failure, not a quiet success.
    assert_eq!(out["failures"][0]["source"], "stripe-events", "{out}");
    assert!(
        out["failures"][0]["error"]
            .as_str()
            .unwrap()
            .contains("deadline"),
        "{out}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
#[ignore = "needs the AWS emulator (moto), which scripts/test starts"]
async fn dev_on_the_aws_backend_delivers_from_http_to_eventbridge_to_an_sqs_target() {
    let moto = Moto::connect().await;
    let (q, dlq) = moto.queues(3, false).await;
    let table = moto.table().await;
    let (bus, observer) = moto.bus_with_observer().await;

    let dir = tempfile::tempdir().unwrap();
    let cfg = format!(
        "{}{}\n[[sinks]]\nkind = \"eventbridge\"\n",
        fast_worker_toml(3),
        providers_toml()
    );
    let resources = inlet_aws::runtime::Resources {
        queue_url: q,
        dlq_url: dlq,
        table,
        event_bus: Some(bus),
        ..Default::default()
    };
    let dev = Dev::start_with(&cfg, dir.path(), |o| {
        o.backend = inlet_cli::backend::BackendKind::Aws;
        o.aws = Some((moto.sdk.clone(), resources));
    })
    .await;
    let client = reqwest::Client::new();
    let body = stripe_event("evt_bus_1", "invoice.paid", "in_bus", now_unix());
    assert_eq!(post_stripe(&client, &dev.url(""), &body).await.0, 202);
    // The provider retries: a duplicate, acknowledged, not published again.
    assert_eq!(post_stripe(&client, &dev.url(""), &body).await.0, 202);

    let mut seen = Vec::new();
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    while std::time::Instant::now() < deadline && seen.len() < 2 {
        let got = moto
            .sqs()
            .receive_message()
            .queue_url(&observer)
            .max_number_of_messages(10)
            .wait_time_seconds(1)
            .send()
            .await
            .unwrap();
        for m in got.messages.unwrap_or_default() {
            seen.push(serde_json::from_str::<serde_json::Value>(&m.body.unwrap()).unwrap());
        }
        if !seen.is_empty() {
            // Give a (wrong) second copy time to show up.
            tokio::time::sleep(Duration::from_millis(1500)).await;
            let more = moto
                .sqs()
                .receive_message()
                .queue_url(&observer)
                .max_number_of_messages(10)
                .send()
                .await
                .unwrap();
            for m in more.messages.unwrap_or_default() {
                seen.push(serde_json::from_str::<serde_json::Value>(&m.body.unwrap()).unwrap());
            }
            break;
        }
    }
    dev.stop().await;
    assert_eq!(seen.len(), 1, "{seen:?}");
    let event = &seen[0];
    assert_eq!(event["source"], "inlet.stripe");
    assert_eq!(event["detail-type"], "invoice.paid");
    assert_eq!(event["detail"]["key"], "stripe:evt_bus_1");
    assert_eq!(event["detail"]["payload"]["data"]["object"]["id"], "in_bus");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs the AWS emulator (moto), which scripts/test starts"]
async fn a_rotated_secret_is_picked_up_without_a_redeploy() {
    let moto = Moto::connect().await;
    let (q, dlq) = moto.queues(3, false).await;
    let sm = aws_sdk_secretsmanager::Client::new(&moto.sdk);
    let secret_id = inlet_tests::moto::unique("inlet-secrets");
    sm.create_secret()
        .name(&secret_id)
        .secret_string(r#"{"STRIPE_WEBHOOK_SECRET": "whsec_before_rotation"}"#)
        .send()
        .await
        .unwrap();
    let config = format!(
        "{}\n[[providers]]\nname = \"stripe\"\nscheme = \"stripe\"\nsecrets = [\"env:STRIPE_WEBHOOK_SECRET\"]\n[[sinks]]\nkind = \"stdout\"\n",
        fast_worker_toml(3)
    );
    let source = ConfigSource::with_secret(&moto.sdk, config, Some(secret_id.clone()))
        .min_reload_interval(Duration::ZERO);
    let loaded = source.load().await.unwrap();
    assert_eq!(
        loaded.provider("stripe").unwrap().secrets[0].expose(),
        "whsec_before_rotation"
    );
    let deps = inlet_webhook_fn::Deps {
        config: RwLock::new(Arc::new(loaded)),
        source,
        queue: moto.queue(&q, &dlq),
        metrics: EmfMetrics::new(),
        http: inlet_sources::provider_http::HttpProviderClient::for_tests(),
    };
    // The provider rotates; the operator updates the bundle; the function is still warm.
    sm.put_secret_value()
        .secret_id(&secret_id)
        .secret_string(r#"{"STRIPE_WEBHOOK_SECRET": "whsec_after_rotation"}"#)
        .send()
        .await
        .unwrap();
    let request = |secret: &str, id: &str| {
        let body = stripe_event(id, "invoice.paid", "in_rot", now_unix());
        let event = stripe_http_event(&body, secret);
        lambda_http::request::from_str(&event.to_string()).unwrap()
    };
    let resp = inlet_webhook_fn::handle(&deps, request("whsec_after_rotation", "evt_rot_1")).await;
    assert_eq!(resp.status(), 202, "the new secret verifies after a reload");
    // A forged signature is still refused, after one reload attempt.
    let resp = inlet_webhook_fn::handle(&deps, request("whsec_forged", "evt_rot_2")).await;
    assert_eq!(resp.status(), 401);
}

/// Handshakes through the webhook function on API Gateway's HTTP API v2 events: Meta's GET
/// (the query string as API Gateway passes it), Graph's validation POST, a GET elsewhere.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs the AWS emulator (moto), which scripts/test starts"]
async fn webhook_answers_provider_handshakes_on_http_api_events() {
    let moto = Moto::connect().await;
    let (q, dlq) = moto.queues(3, false).await;
    let text = format!(
        "{}[[providers]]\nname = \"meta\"\nscheme = \"meta\"\nsecrets = [\"app-secret\"]\nverify_token = \"vt-lambda\"\n[[providers]]\nname = \"graph\"\nscheme = \"microsoft-graph\"\nsecrets = [\"client-state\"]\n",
        lambda_config()
    );
    let source = ConfigSource::new(&moto.sdk, text);
    let deps = inlet_webhook_fn::Deps {
        config: RwLock::new(Arc::new(source.load().await.unwrap())),
        source,
        queue: moto.queue(&q, &dlq),
        metrics: EmfMetrics::new(),
        http: inlet_sources::provider_http::HttpProviderClient::for_tests(),
    };
    let request = |method: &str, provider: &str, query: &str| {
        let mut event = event_fixture("apigw-http-v2.json");
        event["routeKey"] = format!("{method} /webhooks/{{provider}}").into();
        event["requestContext"]["routeKey"] = event["routeKey"].clone();
        event["requestContext"]["http"]["method"] = method.into();
        event["rawPath"] = format!("/webhooks/{provider}").into();
        event["requestContext"]["http"]["path"] = event["rawPath"].clone();
        event["pathParameters"]["provider"] = provider.into();
        event["rawQueryString"] = query.into();
        lambda_http::request::from_str(&event.to_string()).unwrap()
    };
    let text_of = |resp: &lambda_http::Response<lambda_http::Body>| match resp.body() {
        lambda_http::Body::Text(t) => t.clone(),
        other => panic!("unexpected body {other:?}"),
    };

    let resp = inlet_webhook_fn::handle(
        &deps,
        request(
            "GET",
            "meta",
            "hub.mode=subscribe&hub.challenge=1158201444&hub.verify_token=vt-lambda",
        ),
    )
    .await;
    assert_eq!(
        (resp.status().as_u16(), text_of(&resp).as_str()),
        (200, "1158201444")
    );
    assert!(resp.headers()["content-type"]
        .to_str()
        .unwrap()
        .starts_with("text/plain"));
    let resp = inlet_webhook_fn::handle(
        &deps,
        request(
            "GET",
            "meta",
            "hub.mode=subscribe&hub.challenge=1&hub.verify_token=wrong",
        ),
    )
    .await;
    assert_eq!(resp.status(), 403);
    let resp = inlet_webhook_fn::handle(
        &deps,
        request("POST", "graph", "validationToken=Validation%3A%20Testing"),
    )
    .await;
    assert_eq!(
        (resp.status().as_u16(), text_of(&resp).as_str()),
        (200, "Validation: Testing")
    );
    let resp = inlet_webhook_fn::handle(&deps, request("GET", "stripe", "")).await;
    assert_eq!(resp.status(), 405);
    // Nothing was enqueued.
    let queue = moto.queue(&q, &dlq);
    assert!(queue
        .receive(10, Duration::from_secs(1))
        .await
        .unwrap()
        .is_empty());
}

/// While Secrets Manager refuses (a revoked permission), a burst of forged requests — each
/// asking for a reload — costs one `GetSecretValue` per reload interval, not one each.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs the AWS emulator (moto), which scripts/test starts"]
async fn a_failing_secrets_manager_is_asked_once_per_interval() {
    use std::sync::atomic::{AtomicUsize, Ordering};
    let calls = Arc::new(AtomicUsize::new(0));
    let counter = calls.clone();
    let rule: inlet_tests::faults::Rule = Arc::new(move |target, _, _| {
        if target == "secretsmanager.GetSecretValue" {
            counter.fetch_add(1, Ordering::SeqCst);
            return inlet_tests::aws_limits::json_error(
                400,
                "secretsmanager",
                "AccessDeniedException",
                "User is not authorized to perform: secretsmanager:GetSecretValue",
            );
        }
        inlet_tests::faults::Action::Forward
    });
    let moto = Moto::connect_with(rule).await;
    let config = format!(
        "{}\n[[providers]]\nname = \"stripe\"\nscheme = \"stripe\"\nsecrets = [\"whsec_x\"]\n[[sinks]]\nkind = \"stdout\"\n",
        fast_worker_toml(3)
    );
    let source = ConfigSource::with_secret(&moto.sdk, config, Some("inlet-secrets".into()))
        .min_reload_interval(Duration::from_secs(60));
    for _ in 0..20 {
        assert!(source.reload_if_due().await.is_none());
    }
    assert_eq!(calls.load(Ordering::SeqCst), 1);
}
