//! The console is safe by construction: every field it shows, filled with markup, quotes
//! that would close an attribute and `javascript:` URLs, comes out as text on every page.

use std::sync::Arc;
use std::time::Duration;

use inlet_core::clock::SystemClock;
use inlet_core::history::{Attempt, EventState, HistoryEntry};
use inlet_core::ports::{Review, ReviewStatus};
use inlet_core::shape::{DriftKind, Finding, FindingStatus};
use inlet_local::StoreOptions;
use inlet_tests::*;
use time::OffsetDateTime;

/// Closes a double- or single-quoted attribute, opens a script and an image with a
/// handler, and ends in a `javascript:` URL.
const HOSTILE: &str =
    r#""'><script>alert(1)</script><img src=x onerror=alert(2)><a href="javascript:alert(3)">"#;
/// How HOSTILE reads once escaped: proof the field was shown.
const SHOWN: &str = "&lt;script&gt;alert(1)&lt;/script&gt;";

/// What must never appear in a page built from HOSTILE.
fn assert_inert(page: &str, what: &str) {
    // Escaped, `<` never opens a tag; an attribute never starts with `javascript:`.
    for live in [
        "<script>alert",
        "<img",
        "<a href=\"javascript:",
        "=\"javascript:",
        "='javascript:",
        "=javascript:",
    ] {
        assert!(!page.contains(live), "{what}: {live:?} is live in\n{page}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_field_the_console_shows_is_inert() {
    let dir = tempfile::tempdir().unwrap();
    let mut config = parse_config(&format!(
        "{}{}\n[[sinks]]\nkind = \"stdout\"\n\n[[sources]]\nname = \"feed\"\nprovider = \"stripe\"\nkind = \"http-json\"\napi_base = \"http://127.0.0.1:9\"\nurl = \"{{api_base}}/changes?cursor={{cursor}}\"\ncursor = \"token\"\nfirst_cursor = \"0\"\nitems_pointer = \"/items\"\nid_pointer = \"/id\"\nnext_cursor_pointer = \"/next\"\n",
        fast_worker_toml(1),
        providers_toml(),
    ));
    // Names are validated when a config is read; the pages must not depend on it.
    config.sources[0].name = HOSTILE.into();
    let ports = inlet_cli::backend::local(
        dir.path(),
        StoreOptions {
            max_receive: 1,
            ..StoreOptions::default()
        },
        Arc::new(SystemClock),
    )
    .unwrap();
    let store = ports.local.clone().unwrap();
    let now = OffsetDateTime::now_utc();

    // An event whose key, type, entity, ids and payload are all hostile.
    let mut event = stripe_envelope(&stripe_event("evt_1", HOSTILE, "in_1", now_unix()));
    event.key = inlet_core::ids::EventKey::parse(&format!("stripe:{HOSTILE}")).unwrap();
    event.entity = Some(HOSTILE.into());
    event.event_id = HOSTILE.into();
    event.correlation_id = HOSTILE.into();
    let key = event.key.to_string();
    ports
        .history
        .record(&[HistoryEntry {
            envelope: &event,
            attempt: Attempt::new(now, EventState::Retrying, 1, Some(HOSTILE)),
            keep_payload: true,
            expires_at: now + time::Duration::days(1),
            first: true,
        }])
        .await
        .unwrap();
    // The same event dead-lettered with a hostile reason.
    ports.queue.send(&event).await.unwrap();
    let got = ports
        .queue
        .receive(1, Duration::from_secs(30))
        .await
        .unwrap();
    ports
        .queue
        .dead_letter(&got[0].receipt, HOSTILE)
        .await
        .unwrap();
    // A held change with a hostile reason, field and applied value.
    ports
        .conflicts
        .hold(&Review {
            key: key.clone(),
            entity: HOSTILE.into(),
            rule: inlet_core::conflict::RuleKind::ManualReview,
            reason: HOSTILE.into(),
            held_at: now,
            against: inlet_core::conflict::Stamp {
                provider: HOSTILE.into(),
                key: HOSTILE.into(),
                version: None,
                at_ms: 0,
                value_sha256: None,
                value: Some(serde_json::json!(HOSTILE)),
            },
            field: Some(HOSTILE.into()),
            envelope: event.clone(),
            status: ReviewStatus::Pending,
            resolved_at: None,
        })
        .await
        .unwrap();
    // A source (hostile name) with a hostile cursor, a run and recovery counters.
    ports.cursors.save(HOSTILE, HOSTILE).await.unwrap();
    store
        .record_reconcile(HOSTILE, &serde_json::json!({"scanned": 4, "recovered": 1}))
        .await
        .unwrap();
    store
        .add_metrics(
            vec![
                ("reconcile_scanned".into(), format!("source={HOSTILE}"), 4),
                ("recovered".into(), format!("source={HOSTILE}"), 1),
            ],
            vec![],
        )
        .await
        .unwrap();
    // A drift finding on a hostile path, first seen in the hostile event.
    ports
        .shapes
        .add_findings(&[Finding {
            id: "f1".into(),
            provider: "stripe".into(),
            event_type: HOSTILE.into(),
            kind: DriftKind::Added,
            path: HOSTILE.into(),
            old: None,
            new: Some(1),
            first_seen: now,
            example_key: key.clone(),
            status: FindingStatus::Open,
            accepted_at: None,
        }])
        .await
        .unwrap();
    // A broken connection: hostile name and reason.
    ports
        .connections
        .mark_broken(HOSTILE, HOSTILE, 0)
        .await
        .unwrap();

    let console = Arc::new(inlet_cli::console::Console::new(
        ports.clone(),
        Some(&config),
        None,
    ));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    let server = tokio::spawn(async move {
        axum::serve(listener, inlet_cli::console::router(console))
            .await
            .unwrap()
    });
    let client = reqwest::Client::new();
    // A space in a path is %20 (a `+` there is a plus sign).
    let event_path = format!(
        "/console/events/{}",
        url::form_urlencoded::byte_serialize(key.as_bytes())
            .collect::<String>()
            .replace('+', "%20")
    );
    // Each page, and the hostile fields it must show.
    let pages = [
        ("/console".to_string(), 4),
        ("/console/events".to_string(), 1),
        (
            format!(
                "/console/events?key={}",
                url::form_urlencoded::byte_serialize(HOSTILE.as_bytes()).collect::<String>()
            ),
            2,
        ),
        (event_path.clone(), 6),
        ("/console/dlq".to_string(), 2),
        ("/console/reviews".to_string(), 5),
        ("/console/schema".to_string(), 3),
        ("/console/sources".to_string(), 3),
    ];
    let mut csrf = String::new();
    for (path, at_least) in &pages {
        let page = get_text(&client, format!("{base}{path}")).await;
        assert_inert(&page, path);
        let shown = page.matches(SHOWN).count();
        assert!(
            shown >= *at_least,
            "{path}: the hostile text is shown {shown} time(s), expected {at_least}:\n{page}"
        );
        if page.contains("name=\"csrf\"") {
            csrf = csrf_token(&page);
        }
    }
    // The redrive confirmation echoes the selected keys back into hidden fields.
    let form: String = url::form_urlencoded::Serializer::new(String::new())
        .append_pair("csrf", &csrf)
        .append_pair("key", &key)
        .finish();
    let page = post_form(&client, format!("{base}/console/dlq/redrive"), form)
        .await
        .text()
        .await
        .unwrap();
    assert_inert(&page, "redrive confirmation");
    assert!(page.matches(SHOWN).count() >= 2, "{page}");
    // An error page quoting a hostile event key.
    let page = get_text(&client, format!("{base}{event_path}x")).await;
    assert_inert(&page, "not found");
    assert!(page.contains(SHOWN), "{page}");
    server.abort();
}
