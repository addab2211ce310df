//! The `inlet` command as scripts use it: exit codes, `check` messages, `send`, `dlq`,
//! `status`.

use std::process::Command;
use std::time::Duration;

use inlet_tests::*;

const BIN: &str = env!("CARGO_BIN_EXE_inlet-under-test");

fn inlet(args: &[&str], dir: &std::path::Path) -> (i32, String, String) {
    let out = Command::new(BIN)
        .args(args)
        .current_dir(dir)
        .env_remove("INLET_FAILPOINT")
        .output()
        .unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn check_accepts_the_example_and_explains_a_broken_config() {
    let repo = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .unwrap();
    let (code, out, _) = inlet(&["check"], repo);
    assert_eq!(code, 0, "{out}");
    assert!(out.contains("inlet.example.toml: ok"));

    let dir = tempfile::tempdir().unwrap();
    let bad = dir.path().join("bad.toml");
    std::fs::write(&bad, "[[providers]]\nname = \"stripe\"\nscheme = \"strpe\"\nsecrets = [\"env:INLET_TEST_UNSET_VAR\"]\n").unwrap();
    let (code, _, err) = inlet(&["check", "--config", bad.to_str().unwrap()], dir.path());
    assert_eq!(code, 3);
    assert!(
        err.contains("providers[0].scheme: unknown scheme \"strpe\""),
        "{err}"
    );
    assert!(
        err.contains(
            "providers[0].secrets[0]: environment variable INLET_TEST_UNSET_VAR is not set"
        ),
        "{err}"
    );
    assert!(err.contains("sinks: at least one sink"), "{err}");

    for hostile in [
        &b"\xff\xfe\x00garbage"[..],
        b"[[providers]\n",
        b"",
        &[b'['; 100_000][..],
    ] {
        std::fs::write(&bad, hostile).unwrap();
        let (code, _, err) = inlet(&["check", "--config", bad.to_str().unwrap()], dir.path());
        assert_eq!(code, 3, "{err}");
        assert!(!err.contains("panicked"), "{err}");
    }
    let (code, _, err) = inlet(
        &["check", "--config", "/nonexistent/inlet.toml"],
        dir.path(),
    );
    assert_eq!(code, 3);
    assert!(err.contains("cannot read"), "{err}");
    // No config anywhere: a hint, not a crash.
    let (code, _, err) = inlet(&["check"], dir.path());
    assert_eq!(code, 3);
    assert!(err.contains("no config file"), "{err}");
}

#[test]
fn outbox_shows_counts_and_why_events_failed() {
    let dir = tempfile::tempdir().unwrap();
    let app = dir.path().join("app.db");
    let conn = rusqlite::Connection::open(&app).unwrap();
    inlet_outbox::sqlite::install(&conn).unwrap();
    let (ok, bad) = (
        inlet_outbox::OutboxEvent::new("order", "o1", "order.paid", serde_json::json!({})),
        inlet_outbox::OutboxEvent::new("order", "o2", "order.paid", serde_json::json!({})),
    );
    inlet_outbox::sqlite::stage(&conn, &ok).unwrap();
    inlet_outbox::sqlite::stage(&conn, &bad).unwrap();
    let mut drain = inlet_outbox::sqlite::Drain::open(&app).unwrap();
    drain.mark_published(&[ok.id.as_str()], 1).unwrap();
    drain
        .mark_failed(&bad.id, "store unavailable: disk full", 2, 1)
        .unwrap();
    let cfg = dir.path().join("inlet.toml");
    let config = |path: &str| {
        format!(
            "{}\n[[sinks]]\nkind = \"stdout\"\n[[outboxes]]\nname = \"shop\"\nsqlite = {path:?}\n",
            providers_toml()
        )
    };
    std::fs::write(&cfg, config(app.to_str().unwrap())).unwrap();
    let (code, out, err) = inlet(
        &["outbox", "--config", cfg.to_str().unwrap(), "--json"],
        dir.path(),
    );
    assert_eq!(code, 0, "{err}");
    let status: serde_json::Value = serde_json::from_str(out.trim()).unwrap();
    assert_eq!(
        (
            status["pending"].as_u64(),
            status["published"].as_u64(),
            status["failed"].as_u64()
        ),
        (Some(0), Some(1), Some(1))
    );
    assert_eq!(
        status["failed_events"][0]["last_error"],
        "store unavailable: disk full"
    );
    let (code, out, _) = inlet(&["outbox", "--config", cfg.to_str().unwrap()], dir.path());
    assert_eq!(code, 0);
    assert!(
        out.contains("outbox shop  pending 0  published 1  failed 1"),
        "{out}"
    );
    // An operator gives the failed event another round: pending again, attempts from zero.
    let (code, out, err) = inlet(
        &["outbox", "redrive", "--config", cfg.to_str().unwrap()],
        dir.path(),
    );
    assert_eq!(code, 0, "{err}");
    assert!(
        out.contains("outbox shop: 1 failed event(s) pending again"),
        "{out}"
    );
    let again = drain.get(&bad.id).unwrap().unwrap();
    assert_eq!(
        (again.status, again.attempts),
        (inlet_outbox::Status::Pending, 0)
    );
    let (_, out, _) = inlet(&["outbox", "--config", cfg.to_str().unwrap()], dir.path());
    assert!(
        out.contains("outbox shop  pending 1  published 1  failed 0"),
        "{out}"
    );
    // By id: a failed event pending again, or discarded for good; an id that names no
    // failed event exits 4.
    let c = cfg.to_str().unwrap();
    drain
        .mark_failed(&bad.id, "payload is not JSON", 3, 1)
        .unwrap();
    let (code, out, err) = inlet(
        &["outbox", "redrive", "--config", c, "--id", &bad.id],
        dir.path(),
    );
    assert_eq!(code, 0, "{err}");
    assert!(out.contains("outbox shop: pending again"), "{out}");
    assert_eq!(
        drain.get(&bad.id).unwrap().unwrap().status,
        inlet_outbox::Status::Pending
    );
    drain
        .mark_failed(&bad.id, "payload is not JSON", 4, 1)
        .unwrap();
    let (code, out, err) = inlet(
        &["outbox", "discard", "--config", c, "--id", &bad.id],
        dir.path(),
    );
    assert_eq!(code, 0, "{err}");
    assert!(out.contains("outbox shop: discarded"), "{out}");
    assert!(drain.get(&bad.id).unwrap().is_none());
    let (code, _, err) = inlet(
        &["outbox", "discard", "--config", c, "--id", &ok.id],
        dir.path(),
    );
    assert_eq!(code, 4, "a published event is not discarded: {err}");
    assert!(drain.get(&ok.id).unwrap().is_some());
    // A database that cannot be opened: said, exit 1.
    std::fs::write(&cfg, config("/nonexistent/dir/app.db")).unwrap();
    let (code, _, err) = inlet(&["outbox", "--config", cfg.to_str().unwrap()], dir.path());
    assert_eq!(code, 1);
    assert!(
        err.contains("outbox shop (/nonexistent/dir/app.db)"),
        "{err}"
    );
}

#[test]
fn usage_errors_exit_2() {
    let dir = tempfile::tempdir().unwrap();
    assert_eq!(inlet(&["frobnicate"], dir.path()).0, 2);
    assert_eq!(inlet(&["dlq", "redrive"], dir.path()).0, 2);
    assert_eq!(
        inlet(&["dlq", "redrive", "--key", "k", "--all"], dir.path()).0,
        2
    );
    assert_eq!(
        inlet(&["dev", "--listen", "not-an-address"], dir.path()).0,
        2
    );
    let (code, out, _) = inlet(&["--help"], dir.path());
    assert_eq!(code, 0);
    assert!(out.contains("Exit codes"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn send_status_and_dlq_against_a_running_dev() {
    let sink = SinkServer::start().await;
    *sink.default_status.lock().unwrap() = 400;
    let dir = tempfile::tempdir().unwrap();
    let cfg_path = dir.path().join("inlet.toml");
    std::fs::write(
        &cfg_path,
        format!(
            "{}{}{}",
            fast_worker_toml(5),
            providers_toml(),
            http_sink_toml(&sink.url)
        ),
    )
    .unwrap();
    let data = dir.path().join("data");
    let dev = Dev::start(&std::fs::read_to_string(&cfg_path).unwrap(), &data).await;
    let body = dir.path().join("event.json");
    std::fs::write(
        &body,
        stripe_event("evt_cli", "invoice.paid", "in_cli", now_unix()),
    )
    .unwrap();
    let cfg = cfg_path.to_str().unwrap();
    let data_s = data.to_str().unwrap();
    let url = dev.url("/webhooks/stripe");

    let d = dir.path().to_path_buf();
    let (code, out, err) = tokio::task::spawn_blocking({
        let (d, url, cfg, body) = (d.clone(), url.clone(), cfg.to_string(), body.clone());
        move || {
            inlet(
                &[
                    "send",
                    "stripe",
                    "--body",
                    body.to_str().unwrap(),
                    "--url",
                    &url,
                    "--config",
                    &cfg,
                ],
                &d,
            )
        }
    })
    .await
    .unwrap();
    assert_eq!(code, 0, "{out}{err}");
    assert!(
        out.starts_with("202 ") && out.contains("stripe:evt_cli"),
        "{out}"
    );

    // The sink refuses (400): the event lands in the DLQ, visible to the CLI.
    let store = dev.store().clone();
    use inlet_core::ports::DeadLetters;
    assert!(
        wait_until(Duration::from_secs(10), || futures::executor::block_on(
            store.list(10)
        )
        .unwrap()
        .len()
            == 1)
        .await
    );
    let (code, out, _) = inlet(&["dlq", "list", "--data-dir", data_s, "--json"], &d);
    assert_eq!(code, 0);
    let line: serde_json::Value = serde_json::from_str(out.lines().next().unwrap()).unwrap();
    assert_eq!(line["key"], "stripe:evt_cli");
    assert!(line["reason"].as_str().unwrap().contains("400"));

    let (code, _, err) = inlet(
        &[
            "dlq",
            "redrive",
            "--key",
            "stripe:nope",
            "--data-dir",
            data_s,
        ],
        &d,
    );
    assert_eq!(code, 4, "{err}");
    *sink.default_status.lock().unwrap() = 200;
    let (code, out, _) = inlet(
        &[
            "dlq",
            "redrive",
            "--key",
            "stripe:evt_cli",
            "--data-dir",
            data_s,
        ],
        &d,
    );
    assert_eq!(code, 0);
    assert!(out.contains("redriven 1"));
    assert!(
        wait_until(Duration::from_secs(10), || sink.delivered_keys()
            == ["stripe:evt_cli"])
        .await
    );
    // The history tells the story: dead-lettered with the sink's words, redriven by an
    // operator, then delivered.
    let timeline = || {
        let (_, out, _) = inlet(
            &[
                "events",
                "show",
                "stripe:evt_cli",
                "--json",
                "--data-dir",
                data_s,
                "--config",
                cfg,
            ],
            &d,
        );
        serde_json::from_str::<serde_json::Value>(&out).unwrap_or_default()
    };
    assert!(
        wait_until(Duration::from_secs(10), || timeline()["state"]
            == "delivered")
        .await,
        "{}",
        timeline()
    );
    let shown = timeline();
    let states: Vec<&str> = shown["timeline"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a["state"].as_str().unwrap())
        .collect();
    assert_eq!(
        states,
        ["dead-lettered", "redriven", "delivered"],
        "{shown}"
    );
    assert!(
        shown["timeline"][0]["detail"]
            .as_str()
            .unwrap()
            .contains("400"),
        "{shown}"
    );
    dev.stop().await;

    let (code, out, _) = inlet(&["status", "--data-dir", data_s, "--json"], &d);
    assert_eq!(code, 0);
    let status: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(status["dlq_depth"], 0);
    assert_eq!(status["queue_depth"], 0);
    let (code, out, _) = inlet(&["status", "--data-dir", data_s], &d);
    assert_eq!(code, 0);
    assert!(
        out.contains("processed 1") && out.contains("dead-lettered) 1"),
        "{out}"
    );

    // A wrong provider name or a missing body file: clear errors, scripted exit codes.
    let (code, _, err) = inlet(
        &[
            "send",
            "strype",
            "--body",
            body.to_str().unwrap(),
            "--config",
            cfg,
        ],
        &d,
    );
    assert_eq!(code, 3);
    assert!(err.contains("no provider named \"strype\""), "{err}");
    let (code, _, err) = inlet(
        &[
            "send",
            "stripe",
            "--body",
            "/nonexistent.json",
            "--config",
            cfg,
        ],
        &d,
    );
    assert_eq!(code, 1);
    assert!(err.contains("cannot read"), "{err}");
    let (code, _, _) = inlet(&["status", "--data-dir", "/nonexistent/dir"], &d);
    assert_eq!(code, 1);
}

/// Run `inlet dev` as a process with `config`, send one Stripe event carrying personal data,
/// stop it, and return everything it logged.
async fn logs_of_one_event(config: &str, extra_env: &[(&str, &str)]) -> String {
    use std::io::BufRead;
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("inlet.toml"), config).unwrap();
    let log = dir.path().join("stderr.log");
    let mut cmd = Command::new(BIN);
    cmd.args([
        "dev",
        "--listen",
        "127.0.0.1:0",
        "--config",
        "inlet.toml",
        "--data-dir",
        "data",
    ])
    .current_dir(dir.path())
    .env_remove("INLET_FAILPOINT")
    .stdout(std::process::Stdio::piped())
    .stderr(std::fs::File::create(&log).unwrap());
    for (k, v) in extra_env {
        cmd.env(k, v);
    }
    let mut child = cmd.spawn().unwrap();
    let mut lines = std::io::BufReader::new(child.stdout.take().unwrap()).lines();
    let base = loop {
        let line = lines.next().unwrap().unwrap();
        if let Some(rest) = line.strip_prefix("listening on ") {
            break rest.split_whitespace().next().unwrap().to_string();
        }
    };
    std::thread::spawn(move || for _ in lines {});
    let body = r#"{"id":"evt_pii","type":"customer.updated","data":{"object":{"id":"cus_1","object":"customer","email":"jane.doe@example.com","name":"Jane Doe"}}}"#;
    let client = reqwest::Client::new();
    assert_eq!(post_stripe(&client, &base, body).await.0, 202);
    let events = dir.path().join("events.jsonl");
    assert!(wait_until(Duration::from_secs(10), || read_jsonl(&events).len() == 1).await);
    // SIGTERM: a graceful stop.
    let _ = Command::new("kill")
        .arg("-TERM")
        .arg(child.id().to_string())
        .status();
    let status = child.wait().unwrap();
    assert!(status.success(), "graceful shutdown exits 0");
    std::fs::read_to_string(&log).unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn personal_data_never_reaches_the_logs_and_redaction_applies_when_payloads_are_logged() {
    let base_cfg = |logging: &str| {
        format!(
            "{}{logging}{}{}",
            fast_worker_toml(5),
            providers_toml(),
            file_sink_toml(std::path::Path::new("events.jsonl"))
        )
    };
    let logs = logs_of_one_event(
        &base_cfg(""),
        &[("RUST_LOG", "debug"), ("INLET_LOG_FORMAT", "json")],
    )
    .await;
    assert!(logs.contains("stripe:evt_pii"), "logs carry the key");
    assert!(
        !logs.contains("jane.doe@example.com") && !logs.contains("Jane Doe"),
        "{logs}"
    );
    assert!(!logs.contains(STRIPE_SECRET));
    // JSON logs: every line parses and carries the correlation id through to delivery.
    let lines: Vec<serde_json::Value> = logs
        .lines()
        .filter_map(|l| serde_json::from_str(l).ok())
        .collect();
    assert!(lines.iter().any(|l| l["message"] == "delivered"), "{logs}");

    let logs = logs_of_one_event(
        &base_cfg("\n[logging]\nlog_payloads = true\n"),
        &[("RUST_LOG", "debug")],
    )
    .await;
    assert!(logs.contains("[redacted]"), "{logs}");
    assert!(logs.contains("cus_1"), "non-personal fields stay");
    assert!(
        !logs.contains("jane.doe@example.com") && !logs.contains("Jane Doe"),
        "{logs}"
    );
}

/// Conflict rules end to end: two providers' webhooks about one customer through `inlet
/// dev`, the held change seen, shown (redacted), released and delivered as a replay.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn review_lists_shows_and_releases_a_held_change() {
    let dir = tempfile::tempdir().unwrap();
    let out_path = dir.path().join("out.jsonl");
    let cfg_path = dir.path().join("inlet.toml");
    let provider = |name: &str| {
        format!(
            "[[providers]]\nname = \"{name}\"\nscheme = \"standard-webhooks\"\nsecrets = [\"{STANDARD_SECRET}\"]\nentity_pointer = \"/id\"\nentity_type = \"customer\"\n"
        )
    };
    let config = format!(
        "{}{}{}{}[[conflicts]]\nentity_type = \"customer\"\nrule = \"manual-review\"\nfields = [\"/phone\"]\nwindow_secs = 3600\n",
        fast_worker_toml(5),
        provider("crm"),
        provider("shop"),
        file_sink_toml(&out_path)
    );
    std::fs::write(&cfg_path, &config).unwrap();
    let data = dir.path().join("data");
    let dev = Dev::start(&config, &data).await;
    let d = dir.path().to_path_buf();
    let cfg = cfg_path.to_str().unwrap().to_string();
    let data_s = data.to_str().unwrap().to_string();

    let send = |provider: &'static str, id: &'static str, body: serde_json::Value| {
        let (d, cfg, url) = (
            d.clone(),
            cfg.clone(),
            dev.url(&format!("/webhooks/{provider}")),
        );
        async move {
            let path = d.join(format!("{id}.json"));
            std::fs::write(&path, body.to_string()).unwrap();
            let (code, out, err) = tokio::task::spawn_blocking(move || {
                inlet(
                    &[
                        "send",
                        provider,
                        "--body",
                        path.to_str().unwrap(),
                        "--url",
                        &url,
                        "--id",
                        id,
                        "--config",
                        &cfg,
                    ],
                    &d,
                )
            })
            .await
            .unwrap();
            assert_eq!(code, 0, "{out}{err}");
        }
    };
    send("crm", "c1", serde_json::json!({"id": 42, "phone": "+31"})).await;
    assert!(wait_until(Duration::from_secs(10), || read_jsonl(&out_path).len() == 1).await);
    send(
        "shop",
        "s1",
        serde_json::json!({"id": 42, "phone": "+32", "email": "bo@example.com"}),
    )
    .await;

    use inlet_core::ports::ConflictStore;
    let store = dev.store().clone();
    assert!(
        wait_until(Duration::from_secs(10), || futures::executor::block_on(
            store.pending_reviews(10)
        )
        .unwrap()
        .len()
            == 1)
        .await
    );
    let (code, out, _) = inlet(&["review", "list", "--data-dir", &data_s, "--json"], &d);
    assert_eq!(code, 0);
    let line: serde_json::Value = serde_json::from_str(out.lines().next().unwrap()).unwrap();
    assert_eq!(line["key"], "shop:s1");
    assert_eq!(line["entity"], "customer/42");
    assert_eq!(line["current"]["key"], "crm:c1");
    assert!(line["held"].get("payload").is_none(), "{line}");
    assert!(line["current"].get("value").is_none(), "{line}");

    let (code, out, err) = inlet(
        &[
            "review",
            "show",
            "shop:s1",
            "--json",
            "--data-dir",
            &data_s,
            "--config",
            &cfg,
        ],
        &d,
    );
    assert_eq!(code, 0, "{err}");
    let shown: serde_json::Value = serde_json::from_str(&out).unwrap();
    // Both versions, personal data redacted (phone and email are in the default list).
    assert_eq!(shown["field"], "/phone");
    assert_eq!(shown["current"]["provider"], "crm");
    assert_eq!(shown["current"]["value"], "[redacted]");
    assert_eq!(shown["held"]["payload"]["phone"], "[redacted]");
    assert_eq!(shown["held"]["payload"]["email"], "[redacted]");
    assert_eq!(shown["held"]["payload"]["id"], 42);
    assert!(
        !out.contains("+31") && !out.contains("+32") && !out.contains("bo@"),
        "{out}"
    );

    let (code, out, err) = inlet(
        &[
            "review",
            "release",
            "shop:s1",
            "--data-dir",
            &data_s,
            "--config",
            &cfg,
        ],
        &d,
    );
    assert_eq!(code, 0, "{out}{err}");
    assert!(out.contains("shop:s1: released"), "{out}");
    assert!(wait_until(Duration::from_secs(10), || read_jsonl(&out_path).len() == 2).await);
    let last = read_jsonl(&out_path).pop().unwrap();
    assert_eq!(
        (last["key"].as_str(), last["source"].as_str()),
        (Some("shop:s1"), Some("replay"))
    );

    // Twice is an error that says why; an unknown key is "nothing matched" (4).
    let (code, _, err) = inlet(
        &[
            "review",
            "release",
            "shop:s1",
            "--data-dir",
            &data_s,
            "--config",
            &cfg,
        ],
        &d,
    );
    assert_eq!(code, 1);
    assert!(err.contains("review shop:s1 is already released"), "{err}");
    let (code, _, err) = inlet(
        &["review", "discard", "shop:nope", "--data-dir", &data_s],
        &d,
    );
    assert_eq!(code, 4);
    assert!(err.contains("no such review: shop:nope"), "{err}");
    let (code, _, _) = inlet(
        &[
            "review",
            "show",
            "shop:nope",
            "--data-dir",
            &data_s,
            "--config",
            &cfg,
        ],
        &d,
    );
    assert_eq!(code, 4);
    let (code, out, _) = inlet(&["review", "list", "--data-dir", &data_s], &d);
    assert_eq!((code, out.trim()), (0, "no changes are held for review"));
    dev.stop().await;
}

/// "What happened to event X?" against a running `inlet dev`: list and search, show the
/// timeline and the redacted payload, replay by key and by filter, and the errors an
/// operator gets for what cannot be done.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn events_list_show_and_replay_against_a_running_dev() {
    let dir = tempfile::tempdir().unwrap();
    let out_path = dir.path().join("out.jsonl");
    let config = format!(
        "{}{}{}[history]\nmax_payload_bytes = 600\n[logging]\nredact_fields = [\"customer_email\"]\n",
        fast_worker_toml(5),
        providers_toml(),
        file_sink_toml(&out_path)
    );
    let cfg_path = dir.path().join("inlet.toml");
    std::fs::write(&cfg_path, &config).unwrap();
    let data = dir.path().join("data");
    let dev = Dev::start(&config, &data).await;
    let client = reqwest::Client::new();
    let base = dev.url("");
    let base = base.trim_end_matches('/');
    let paid = stripe_event("evt_ev1", "invoice.paid", "in_ev1", now_unix());
    let mut big: serde_json::Value = serde_json::from_str(&stripe_event(
        "evt_ev2",
        "customer.updated",
        "cus_ev2",
        now_unix(),
    ))
    .unwrap();
    big["data"]["object"]["notes"] = serde_json::json!("x".repeat(1_000));
    for body in [paid.clone(), big.to_string(), paid.clone()] {
        let (status, _) = post_stripe(&client, base, &body).await;
        assert_eq!(status, 202);
    }
    assert!(wait_until(Duration::from_secs(10), || read_jsonl(&out_path).len() == 2).await);
    let d = dir.path().to_path_buf();
    let data_s = data.to_str().unwrap().to_string();
    let cfg = cfg_path.to_str().unwrap().to_string();
    let run = |args: &[&str]| {
        let mut all: Vec<&str> = args.to_vec();
        all.extend(["--data-dir", &data_s]);
        inlet(&all, &d)
    };

    // The duplicate is counted once the worker saw it.
    assert!(
        wait_until(Duration::from_secs(10), || {
            let (_, out, _) = run(&["events", "list", "--json", "--key", "evt_ev1"]);
            out.contains("\"duplicates\":1")
        })
        .await
    );
    let (code, out, err) = run(&["events", "list", "--json"]);
    assert_eq!(code, 0, "{err}");
    let lines: Vec<serde_json::Value> = out
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let keys: Vec<&str> = lines.iter().map(|l| l["key"].as_str().unwrap()).collect();
    assert_eq!(keys, ["stripe:evt_ev2", "stripe:evt_ev1"], "newest first");
    assert_eq!(lines[1]["state"], "delivered");
    assert_eq!(lines[1]["payload_kept"], true);
    assert_eq!(
        lines[0]["payload_kept"], false,
        "over [history] max_payload_bytes"
    );
    let (_, out, _) = run(&["events", "list", "--json", "--type", "customer.updated"]);
    assert_eq!(out.lines().count(), 1);
    let (_, out, _) = run(&["events", "list", "--json", "--limit", "1"]);
    let next: serde_json::Value = serde_json::from_str(out.lines().last().unwrap()).unwrap();
    let cursor = next["next"]
        .as_str()
        .expect("a cursor for the next page")
        .to_string();
    let (_, out, _) = run(&[
        "events", "list", "--json", "--limit", "1", "--after", &cursor,
    ]);
    assert!(
        out.contains("stripe:evt_ev1") && !out.contains("stripe:evt_ev2"),
        "{out}"
    );

    // Filters that do not parse say which part.
    let (code, _, err) = run(&["events", "list", "--since", "yesterday"]);
    assert_eq!(code, 2);
    assert!(
        err.contains("--since \"yesterday\" is neither RFC 3339"),
        "{err}"
    );
    let (code, _, err) = run(&["events", "list", "--state", "lost"]);
    assert_eq!(code, 2);
    assert!(
        err.contains("--state \"lost\" is not a state: delivered"),
        "{err}"
    );

    let (code, out, err) = run(&[
        "events",
        "show",
        "stripe:evt_ev1",
        "--json",
        "--config",
        &cfg,
    ]);
    assert_eq!(code, 0, "{err}");
    let shown: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(shown["timeline"][0]["state"], "delivered");
    assert_eq!(shown["duplicates"], 1);
    assert_eq!(
        shown["payload"]["data"]["object"]["customer_email"],
        "[redacted]"
    );
    assert_eq!(shown["payload"]["id"], "evt_ev1");
    let (code, _, err) = run(&["events", "show", "stripe:evt_nope", "--config", &cfg]);
    assert_eq!(code, 4);
    assert!(err.contains("no such event: stripe:evt_nope"), "{err}");

    // Replay by key: delivered again with source = replay, and the history says so.
    let (code, out, err) = run(&["events", "replay", "stripe:evt_ev1"]);
    assert_eq!(code, 0, "{err}");
    assert!(out.contains("stripe:evt_ev1: enqueued for replay"), "{out}");
    assert!(wait_until(Duration::from_secs(10), || read_jsonl(&out_path).len() == 3).await);
    let last = read_jsonl(&out_path).pop().unwrap();
    assert_eq!(
        (last["key"].as_str(), last["source"].as_str()),
        (Some("stripe:evt_ev1"), Some("replay"))
    );
    assert!(
        wait_until(Duration::from_secs(10), || {
            let (_, out, _) = run(&["events", "list", "--json", "--state", "replayed"]);
            out.contains("stripe:evt_ev1")
        })
        .await
    );
    // `inlet replay KEY` is the same thing.
    let (code, _, err) = run(&["replay", "stripe:evt_ev1"]);
    assert_eq!(code, 0, "{err}");
    assert!(wait_until(Duration::from_secs(10), || read_jsonl(&out_path).len() == 4).await);

    // A payload that was not kept cannot be sent again: said, nothing changes.
    let (code, _, err) = run(&["events", "replay", "--type", "customer.updated"]);
    assert_eq!(code, 1);
    assert!(
        err.contains("stripe:evt_ev2: its payload was not kept"),
        "{err}"
    );
    let (code, _, err) = run(&["events", "replay", "stripe:evt_nope"]);
    assert_eq!(code, 4, "{err}");
    let (code, _, err) = run(&["events", "replay"]);
    assert_eq!(code, 2);
    assert!(err.contains("say which events"), "{err}");
    assert!(settled(dev.store()).await);
    assert_eq!(read_jsonl(&out_path).len(), 4, "nothing more was delivered");
    dev.stop().await;
}

/// The console's safety rails over plain HTTP: actions need the page's CSRF token, what
/// a provider sent is escaped, framing is forbidden, bad input gets a clear answer.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_console_escapes_what_it_shows_and_refuses_forged_actions() {
    let dir = tempfile::tempdir().unwrap();
    let out_path = dir.path().join("out.jsonl");
    let config = format!(
        "{}{}{}",
        fast_worker_toml(5),
        providers_toml(),
        file_sink_toml(&out_path)
    );
    let dev = Dev::start(&config, &dir.path().join("data")).await;
    let client = reqwest::Client::new();
    let base = dev.url("");
    let base = base.trim_end_matches('/');
    // An event type chosen by whoever holds the provider's secret: markup, not code.
    let hostile = stripe_event("evt_x", "<script>alert(1)</script>", "in_x", now_unix());
    assert_eq!(post_stripe(&client, base, &hostile).await.0, 202);
    assert!(wait_until(Duration::from_secs(10), || read_jsonl(&out_path).len() == 1).await);
    let page = client
        .get(format!("{base}/console/events"))
        .send()
        .await
        .unwrap();
    assert_eq!(page.status(), 200);
    let headers = page.headers().clone();
    assert_eq!(headers["x-frame-options"], "DENY");
    assert!(headers["content-security-policy"]
        .to_str()
        .unwrap()
        .contains("frame-ancestors 'none'"));
    let html = page.text().await.unwrap();
    assert!(
        html.contains("&lt;script&gt;alert(1)&lt;/script&gt;"),
        "{html}"
    );
    assert!(!html.contains("<script>alert(1)"), "{html}");

    // A forged replay (no token, a wrong token, not a form): refused, nothing sent.
    let replay = format!("{base}/console/events/stripe%3Aevt_x/replay");
    for (content_type, body) in [
        ("application/x-www-form-urlencoded", ""),
        ("application/x-www-form-urlencoded", "csrf=guess"),
        ("application/json", "{\"csrf\":\"guess\"}"),
    ] {
        let r = client
            .post(&replay)
            .header("content-type", content_type)
            .body(body)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 403, "{content_type} {body}");
    }
    // With the token from the page: accepted, and the event is delivered again.
    let event_page = get_text(&client, format!("{base}/console/events/stripe%3Aevt_x")).await;
    let token = csrf_token(&event_page);
    let r = post_form(&client, &replay, format!("csrf={token}")).await;
    assert!(r.status().is_success(), "{}", r.status());
    assert!(wait_until(Duration::from_secs(10), || read_jsonl(&out_path).len() == 2).await);
    assert!(settled(dev.store()).await);
    assert_eq!(
        read_jsonl(&out_path).len(),
        2,
        "forged requests sent nothing"
    );

    let r = client
        .get(format!("{base}/console/events/stripe%3Aevt_nope"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 404);
    let r = client
        .get(format!("{base}/console/events?since=soon"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 400);
    assert!(r
        .text()
        .await
        .unwrap()
        .contains("--since &quot;soon&quot; is neither RFC 3339"));
    dev.stop().await;
}

/// Schema drift through `inlet dev`: Stripe adds a field (its name is markup); the
/// finding is listed by `inlet schema`, shown escaped on the console's schema page and
/// accepted there with the page's CSRF token (a forged accept changes nothing).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn schema_drift_is_listed_shown_escaped_and_accepted() {
    let dir = tempfile::tempdir().unwrap();
    let out_path = dir.path().join("out.jsonl");
    let data = dir.path().join("data");
    let config = format!(
        "{}{}{}\n[schema]\nlearn_events = 2\nflush_secs = 1\n",
        fast_worker_toml(5),
        providers_toml(),
        file_sink_toml(&out_path)
    );
    let dev = Dev::start(&config, &data).await;
    let client = reqwest::Client::new();
    let base = dev.url("");
    let base = base.trim_end_matches('/').to_string();
    for i in 0..2 {
        let body = stripe_event(&format!("evt_s{i}"), "invoice.paid", "in_1", now_unix());
        assert_eq!(post_stripe(&client, &base, &body).await.0, 202);
        assert!(
            wait_until(Duration::from_secs(10), || read_jsonl(&out_path).len()
                == i + 1)
            .await
        );
    }
    let mut drifted: serde_json::Value =
        serde_json::from_str(&stripe_event("evt_s2", "invoice.paid", "in_1", now_unix())).unwrap();
    drifted["data"]["object"]["<b onmouseover=x>"] = serde_json::json!(1);
    assert_eq!(
        post_stripe(&client, &base, &drifted.to_string()).await.0,
        202
    );
    assert!(wait_until(Duration::from_secs(10), || read_jsonl(&out_path).len() == 3).await);
    let d = data.to_str().unwrap().to_string();
    let list = |args: &[&str]| {
        let mut all = vec!["schema", "list", "--json", "--data-dir", &d];
        all.extend(args);
        inlet(&all, dir.path()).1
    };
    assert!(wait_until(Duration::from_secs(10), || !list(&[]).is_empty()).await);
    let finding: serde_json::Value = serde_json::from_str(list(&[]).trim()).unwrap();
    assert_eq!(finding["path"], "data.object.<b onmouseover=x>");
    assert_eq!(
        (finding["kind"].as_str(), finding["example_key"].as_str()),
        (Some("added"), Some("stripe:evt_s2"))
    );
    // The first event that showed it says so in its history.
    let (code, shown, err) = inlet(
        &[
            "events",
            "show",
            "stripe:evt_s2",
            "--json",
            "--data-dir",
            &d,
        ],
        dir.path(),
    );
    assert_eq!(code, 0, "{err}");
    let shown: serde_json::Value = serde_json::from_str(&shown).unwrap();
    assert_eq!(
        shown["timeline"][0]["detail"],
        "schema drift: new path data.object.<b onmouseover=x> (number)"
    );
    let page = client
        .get(format!("{base}/console/schema"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        page.contains("new path data.object.&lt;b onmouseover=x&gt; (number)"),
        "{page}"
    );
    assert!(!page.contains("<b onmouseover"), "{page}");
    let id = finding["id"].as_str().unwrap();
    let accept = format!("{base}/console/schema/{id}/accept");
    let forged = post_form(&client, &accept, "csrf=guess").await;
    assert_eq!(forged.status(), 403);
    assert!(!list(&[]).is_empty(), "a forged accept changes nothing");
    let token = csrf_token(&page);
    let r = post_form(&client, &accept, format!("csrf={token}")).await;
    assert!(r.status().is_success(), "{}", r.status());
    assert!(r.text().await.unwrap().contains("accepted; new path"));
    assert!(list(&[]).is_empty());
    assert_eq!(list(&["--all"]).lines().count(), 1);
    let r = post_form(
        &client,
        format!("{base}/console/schema/nope/accept"),
        format!("csrf={token}"),
    )
    .await;
    assert_eq!(r.status(), 404);
    dev.stop().await;
}

/// A URL-signing provider end to end: `inlet send twilio` signs a form for the configured
/// public URL, `inlet dev` verifies it against that URL (not the Host it was sent to) and
/// delivers it under Twilio's idempotency token; a tampered parameter is refused.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_twilio_form_is_verified_against_the_configured_url_and_delivered() {
    let dir = tempfile::tempdir().unwrap();
    let out_path = dir.path().join("out.jsonl");
    let config = format!(
        "{}[[providers]]\nname = \"sms\"\nscheme = \"twilio\"\nsecrets = [\"twilio-token\"]\npublic_url = \"https://hooks.example.com/webhooks/sms\"\n{}",
        fast_worker_toml(5),
        file_sink_toml(&out_path)
    );
    let cfg_path = dir.path().join("inlet.toml");
    std::fs::write(&cfg_path, &config).unwrap();
    let dev = Dev::start(&config, &dir.path().join("data")).await;
    let body = dir.path().join("sms.form");
    std::fs::write(
        &body,
        "MessageSid=SM1&Body=Zo%C3%AB+%F0%9F%9A%80&From=%2B15550100",
    )
    .unwrap();
    let url = dev.url("/webhooks/sms");
    let d = dir.path().to_path_buf();
    let cfg = cfg_path.to_str().unwrap().to_string();
    let (code, out, err) = {
        let (d, url, cfg, body) = (d.clone(), url.clone(), cfg.clone(), body.clone());
        tokio::task::spawn_blocking(move || {
            inlet(
                &[
                    "send",
                    "sms",
                    "--body",
                    body.to_str().unwrap(),
                    "--url",
                    &url,
                    "--id",
                    "idem-7",
                    "--config",
                    &cfg,
                ],
                &d,
            )
        })
        .await
        .unwrap()
    };
    assert_eq!(code, 0, "{out}{err}");
    assert!(
        out.starts_with("202 ") && out.contains("sms:idem-7"),
        "{out}"
    );
    assert!(wait_until(Duration::from_secs(10), || read_jsonl(&out_path).len() == 1).await);
    let record = read_jsonl(&out_path).pop().unwrap();
    assert_eq!(record["key"], "sms:idem-7");

    // The same signature over a changed parameter: 401.
    let (_, printed, _) = inlet(
        &[
            "send",
            "sms",
            "--body",
            body.to_str().unwrap(),
            "--print",
            "--config",
            &cfg,
        ],
        &d,
    );
    let headers: serde_json::Value = serde_json::from_str(&printed).unwrap();
    let client = reqwest::Client::new();
    let mut req = client
        .post(&url)
        .body("MessageSid=SM1&Body=changed&From=%2B15550100");
    for (k, v) in headers.as_object().unwrap() {
        req = req.header(k.as_str(), v.as_str().unwrap());
    }
    let r = req.send().await.unwrap();
    assert_eq!(r.status(), 401);
    dev.stop().await;
}

#[test]
fn providers_lists_the_catalogue_and_check_names_a_missing_setting() {
    let dir = tempfile::tempdir().unwrap();
    let (code, out, _) = inlet(&["providers"], dir.path());
    assert_eq!(code, 0);
    for name in [
        "stripe",
        "hubspot",
        "discord",
        "aws-sns",
        "exact-online",
        "mollie",
    ] {
        assert!(out.lines().any(|l| l.starts_with(name)), "{name} in {out}");
    }
    let (code, out, _) = inlet(&["providers", "--json"], dir.path());
    assert_eq!(code, 0);
    let rows: Vec<serde_json::Value> = out
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(rows.len(), inlet_core::catalogue::PRESETS.len());
    assert!(rows
        .iter()
        .all(|r| r["doc"].as_str().unwrap().starts_with("https://")));
    let (code, out, _) = inlet(&["providers", "--markdown"], dir.path());
    assert_eq!(code, 0);
    assert_eq!(out, inlet_core::catalogue::markdown());

    // A preset's missing setting, by name, and a bad argument.
    let cfg = dir.path().join("inlet.toml");
    std::fs::write(
        &cfg,
        "[[providers]]\nname = \"hs\"\nscheme = \"hubspot\"\nsecrets = [\"s\"]\n[[providers]]\nname = \"bc\"\nscheme = \"bigcommerce\"\nsecrets = [\"t\"]\n[[sinks]]\nkind = \"stdout\"\n",
    )
    .unwrap();
    let (code, _, err) = inlet(&["check", "--config", cfg.to_str().unwrap()], dir.path());
    assert_eq!(code, 3);
    assert!(
        err.contains("providers[0].public_url: scheme \"hubspot\" signs the URL it calls"),
        "{err}"
    );
    assert!(
        err.contains("providers[1].header: \"bigcommerce\" sends a token in a header you choose"),
        "{err}"
    );
    let (code, _, _) = inlet(&["providers", "--markdown", "--json"], dir.path());
    assert_eq!(code, 2);
}

#[test]
fn sources_lists_the_presets_and_check_names_what_a_preset_source_lacks() {
    let dir = tempfile::tempdir().unwrap();
    let (code, out, _) = inlet(&["sources"], dir.path());
    assert_eq!(code, 0);
    for kind in [
        "exact-online",
        "xero",
        "pipedrive",
        "hubspot",
        "adobe-commerce",
        "dynamics-365",
        "sap-business-one",
        "quickbooks",
        "woocommerce",
        "shopify-graphql",
    ] {
        assert!(out.lines().any(|l| l.starts_with(kind)), "{kind} in {out}");
    }
    assert!(
        out.contains("deleted-records feed (read with accounts)"),
        "{out}"
    );
    let (code, out, _) = inlet(&["sources", "--json"], dir.path());
    assert_eq!(code, 0);
    let rows: Vec<serde_json::Value> = out
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(rows.len(), inlet_core::source_presets::PRESETS.len());
    let dataverse = rows.iter().find(|r| r["kind"] == "dynamics-365").unwrap();
    assert_eq!(dataverse["feeds"][0]["cursor"], "delta-link");
    let adobe = rows.iter().find(|r| r["kind"] == "adobe-commerce").unwrap();
    let vanished = adobe["feeds"]
        .as_array()
        .unwrap()
        .iter()
        .find(|f| f["feed"] == "orders-vanished")
        .unwrap();
    assert_eq!(vanished["cursor"], "id list");

    // A preset source that names an unknown feed, lacks its param, sets what the preset
    // sets and has no credentials: each said, by field.
    let cfg = dir.path().join("inlet.toml");
    let base = "[[providers]]\nname = \"exact\"\nscheme = \"token\"\nheader = \"x-t\"\nsecrets = [\"s\"]\n[[sinks]]\nkind = \"stdout\"\n[[sources]]\nname = \"books\"\nprovider = \"exact\"\nkind = \"exact-online\"\n";
    std::fs::write(
        &cfg,
        format!("{base}feeds = [\"accounts\", \"ledgers\"]\nurl = \"https://x\"\nparams = {{ divison = \"1\" }}\nkey_set_every_secs = 60\n"),
    )
    .unwrap();
    let (code, _, err) = inlet(&["check", "--config", cfg.to_str().unwrap()], dir.path());
    assert_eq!(code, 3);
    for said in [
        "sources[0].feeds: exact-online has no feed \"ledgers\"",
        "sources[0].url: does not apply to kind = \"exact-online\"",
        "sources[0].params.divison: exact-online takes no param \"divison\" (it takes: division)",
        "sources[0].params.division: is required for exact-online",
        "sources[0].auth: exact-online needs credentials",
        "sources[0].key_set_every_secs: applies only with a key-set feed",
    ] {
        assert!(err.contains(said), "{said} in {err}");
    }
    // Right, it checks and lists the feeds with their deleted-records companions.
    std::fs::write(
        &cfg,
        format!("{base}feeds = [\"accounts\", \"items\"]\nparams = {{ division = \"4242\" }}\nauth = \"bearer\"\napi_key = \"t\"\n"),
    )
    .unwrap();
    let (code, out, err) = inlet(&["check", "--config", cfg.to_str().unwrap()], dir.path());
    assert_eq!(code, 0, "{err}");
    assert!(
        out.contains("feeds accounts, accounts-deleted, items, items-deleted"),
        "{out}"
    );
}

/// A provider's text never reaches an operator's terminal raw: an event whose id, type and
/// entity carry ANSI CSI and OSC sequences, C0 and C1 controls, a bidirectional override and
/// 100 KB is listed with every one of them made visible and the long one cut, while the
/// JSON output keeps the exact values.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn operator_output_is_inert() {
    use inlet_core::signature::{HmacSpec, Scheme};
    let dir = tempfile::tempdir().unwrap();
    let out_path = dir.path().join("out.jsonl");
    let config = format!(
        "{}{}\n[[providers]]\nname = \"evil\"\nscheme = \"hmac\"\nsecrets = [\"evil-secret\"]\nheader = \"x-evil-signature\"\nid_pointer = \"/id\"\ntype_pointer = \"/type\"\nentity_pointer = \"/entity\"\n",
        fast_worker_toml(5),
        file_sink_toml(&out_path)
    );
    let data = dir.path().join("data");
    let dev = Dev::start(&config, &data).await;
    let active = "\u{1b}[2J\u{1b}[31mRED\u{7}\u{1b}]0;pwned\u{7}\u{1b}]8;;https://evil.example/\u{1b}\\link\u{9b}1m\u{0}\r\n\u{202e}gnp.exe";
    let long = "L".repeat(100_000);
    let event_type = format!("order{active}{long}");
    let entity = format!("cust{active}");
    // Keys refuse control characters (they travel in SQS attributes): the id carries the
    // bidirectional override and a long run instead.
    let id = format!("evt\u{202e}{}", "k".repeat(400));
    let body = serde_json::json!({ "id": id, "type": event_type, "entity": entity }).to_string();
    let spec = HmacSpec {
        header: "x-evil-signature".into(),
        ..HmacSpec::default()
    };
    let headers = signed(
        &Scheme::Hmac(spec),
        "evil-secret",
        body.as_bytes(),
        now_unix(),
        "",
    );
    let (status, reply) = post(
        &reqwest::Client::new(),
        &dev.url("/webhooks/evil"),
        &headers,
        body.into_bytes(),
    )
    .await;
    assert_eq!(status, 202, "{reply}");
    assert!(wait_until(Duration::from_secs(10), || read_jsonl(&out_path).len() == 1).await);
    let d = dir.path().to_path_buf();
    let data_s = data.to_str().unwrap().to_string();
    let run = |args: &[&str]| {
        let mut all: Vec<&str> = args.to_vec();
        all.extend(["--data-dir", &data_s]);
        inlet(&all, &d)
    };
    let raw = |text: &str| {
        text.chars()
            .filter(|c| *c != '\n' && inlet_cli::out::is_active(*c))
            .collect::<Vec<char>>()
    };
    assert!(
        wait_until(Duration::from_secs(10), || {
            run(&["events", "list"]).1.contains("delivered")
        })
        .await
    );
    for args in [
        &["events", "list"][..],
        &["events", "list", "--state", "delivered"],
        &["dlq", "list"],
        &["status"],
        &["review", "list"],
    ] {
        let (code, out, err) = run(args);
        assert_eq!(code, 0, "{args:?}: {err}");
        assert_eq!(
            raw(&out),
            Vec::<char>::new(),
            "{args:?} printed raw: {out:?}"
        );
        assert_eq!(raw(&err), Vec::<char>::new(), "{args:?} stderr raw");
        assert!(out.len() < 20_000, "{args:?}: {} bytes", out.len());
    }
    let (_, listed, _) = run(&["events", "list"]);
    assert!(listed.contains("\\u{1b}[2J"), "{listed}");
    assert!(listed.contains("\\u{202e}"), "{listed}");
    assert!(
        listed.contains("chars]"),
        "the 100 KB type is cut: {listed}"
    );
    assert_eq!(
        listed.lines().count(),
        1,
        "a value's line break cannot forge a row"
    );

    // Machine output keeps the exact values, decodable, with nothing raw for a terminal.
    let (code, json_out, err) = run(&["events", "list", "--json"]);
    assert_eq!(code, 0, "{err}");
    assert_eq!(raw(&json_out), Vec::<char>::new());
    let row: serde_json::Value = serde_json::from_str(json_out.lines().next().unwrap()).unwrap();
    assert_eq!(row["type"].as_str().unwrap(), event_type);
    assert_eq!(row["key"].as_str().unwrap(), format!("evil:{id}"));
    dev.stop().await;
}

/// A reader that stops early (`inlet providers --json | head -1`) ends the command quietly:
/// status 0, no panic. The pipe's read end is closed as soon as the child starts, so its
/// first write meets a closed pipe whatever the pipe's buffer holds.
#[test]
fn a_closed_pipe_ends_output_quietly() {
    let dir = tempfile::tempdir().unwrap();
    for args in [
        &["providers", "--json"][..],
        &["providers"],
        &["providers", "--markdown"],
    ] {
        let mut child = Command::new(BIN)
            .args(args)
            .current_dir(dir.path())
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        drop(child.stdout.take());
        let out = child.wait_with_output().unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(!stderr.contains("panicked"), "{args:?}: {stderr}");
        assert_eq!(out.status.code(), Some(0), "{args:?}: {stderr}");
    }
}

/// The overview puts what stops a sync first: a red banner for a broken connection (its
/// provider's words escaped, what to do), a notice for a refresh token in its last idle
/// week, nothing for a healthy one.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_console_overview_flags_broken_and_expiring_connections() {
    use inlet_core::connection::{ConnectionStore, TokenPair};
    let dir = tempfile::tempdir().unwrap();
    let config = format!(
        "{}{}{}[[connections]]\nname = \"xero\"\nkind = \"oauth2-refresh\"\ntoken_url = \"https://identity.xero.com/connect/token\"\nclient_id = \"c\"\nclient_secret = \"s\"\nrefresh_token_idle_days = 60\n",
        fast_worker_toml(5),
        providers_toml(),
        file_sink_toml(&dir.path().join("out.jsonl"))
    );
    let dev = Dev::start(&config, &dir.path().join("data")).await;
    let now = inlet_core::clock::unix_millis(time::OffsetDateTime::now_utc());
    let pair = |obtained: i64| TokenPair {
        access_token: inlet_core::secret::Secret::new("acc"),
        access_expires_at_ms: obtained + 1_800_000,
        refresh_token: Some(inlet_core::secret::Secret::new("ref")),
        obtained_at_ms: obtained,
    };
    let store: &dyn ConnectionStore = dev.store();
    let overview = || async {
        reqwest::get(dev.url("/console"))
            .await
            .unwrap()
            .text()
            .await
            .unwrap()
    };
    store.seed("healthy", &pair(now)).await.unwrap();
    let html = overview().await;
    assert!(!html.contains("connection-broken") && !html.contains("connection-expiring"));

    store.seed("exact", &pair(now)).await.unwrap();
    store
        .mark_broken("exact", "invalid_grant: <script>alert(1)</script>", now)
        .await
        .unwrap();
    // 55 days old less an hour: 5 days and an hour left, said as 5.
    store
        .seed("xero", &pair(now - 55 * 86_400_000 + 3_600_000))
        .await
        .unwrap();
    let html = overview().await;
    assert!(html.contains("id=\"connection-broken\""), "{html}");
    assert!(html.contains("Connection exact is broken"), "{html}");
    assert!(
        html.contains("invalid_grant: &lt;script&gt;alert(1)&lt;/script&gt;"),
        "{html}"
    );
    assert!(!html.contains("<script>alert(1)"), "{html}");
    assert!(html.contains("inlet connect exact"), "{html}");
    assert!(
        html.contains("Connection xero: its refresh token dies unused in 5 day(s)"),
        "{html}"
    );
    assert!(!html.contains("Connection healthy"), "{html}");
    dev.stop().await;
}
