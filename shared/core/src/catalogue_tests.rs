//! Every preset loads from Inlet's config with what it needs and names a missing setting,
//! and normalization finds each provider's facts where its conventions say.

use crate::catalogue::{preset, Verify, PRESETS};
use crate::config::Config;
use crate::headers::Headers;
use crate::ids::ProviderName;
use crate::normalize::{normalize, Incoming, NormalizeRules};
use inlet_signatures::testing::{secret, settings, URL};

const NOW: i64 = 1_800_000_000;

#[test]
fn every_preset_loads_from_config_and_names_a_missing_setting() {
    for p in PRESETS {
        let mut extra = String::new();
        if p.takes_url() {
            extra.push_str(&format!("public_url = {URL:?}\n"));
        }
        if p.handshake == Some(crate::handshake::Handshake::Meta) {
            extra.push_str("verify_token = \"vt-1\"\n");
        }
        if p.name == "hmac" {
            extra.push_str("header = \"X-Sig\"\n");
        } else if matches!(p.verify, Verify::Token(None)) {
            extra.push_str("header = \"X-Hook-Token\"\n");
        }
        let secrets = if matches!(p.verify, Verify::Unsigned) {
            String::new()
        } else {
            format!("secrets = [{:?}]\n", secret(p, 1).expose())
        };
        let text = format!(
            "[[providers]]\nname = \"p\"\nscheme = \"{}\"\n{secrets}{extra}[[sinks]]\nkind = \"stdout\"\n",
            p.name
        );
        let cfg = Config::from_toml(&text, &|_| None).unwrap_or_else(|e| panic!("{}: {e}", p.name));
        assert_eq!(
            cfg.providers[0].rules.conventions.is_some(),
            p.has_conventions(),
            "{}",
            p.name
        );
        // Without the setting it needs, the error names it.
        if p.takes_url() || matches!(p.verify, Verify::Token(None)) {
            let bare = format!(
                "[[providers]]\nname = \"p\"\nscheme = \"{}\"\n{secrets}{}[[sinks]]\nkind = \"stdout\"\n",
                p.name,
                if p.name == "hmac" { "header = \"X-Sig\"\n" } else { "" }
            );
            if p.name != "hmac" {
                let err = Config::from_toml(&bare, &|_| None).unwrap_err().to_string();
                let setting = if p.takes_url() {
                    "public_url"
                } else {
                    "header"
                };
                assert!(
                    err.contains(&format!("providers[0].{setting}")),
                    "{}: {err}",
                    p.name
                );
            }
        }
    }
    // Meta's GET check needs the verify token; no other preset takes one.
    let meta = "[[providers]]\nname = \"p\"\nscheme = \"meta\"\nsecrets = [\"s\"]\n[[sinks]]\nkind = \"stdout\"\n";
    let err = Config::from_toml(meta, &|_| None).unwrap_err().to_string();
    assert!(
        err.contains("providers[0].verify_token: Meta checks the endpoint"),
        "{err}"
    );
    let cfg = Config::from_toml(
        &meta.replace("[[sinks]]", "verify_token = \"env:VT\"\n[[sinks]]"),
        &|n| (n == "VT").then(|| "tok".to_string()),
    )
    .unwrap();
    assert_eq!(
        cfg.providers[0].verify_token.as_ref().map(|s| s.expose()),
        Some("tok")
    );
    // The worker reads no secret, the verify token included.
    assert!(Config::from_toml_without_secrets(meta).is_ok());
    let err = Config::from_toml(
        &meta
            .replace("meta", "stripe")
            .replace("[[sinks]]", "verify_token = \"x\"\n[[sinks]]"),
        &|_| None,
    )
    .unwrap_err()
    .to_string();
    assert!(err.contains("only Meta's subscription check"), "{err}");
    // A setting a preset does not take is an error, not ignored.
    let err = Config::from_toml(
        "[[providers]]\nname = \"p\"\nscheme = \"paddle\"\nsecrets = [\"s\"]\npublic_url = \"https://h/x\"\nalgorithm = \"sha1\"\n[[sinks]]\nkind = \"stdout\"\n",
        &|_| None,
    )
    .unwrap_err()
    .to_string();
    assert!(err.contains("providers[0].algorithm"), "{err}");
    let err = Config::from_toml(
        "[[providers]]\nname = \"p\"\nscheme = \"mollie\"\nsecrets = [\"s\"]\n[[sinks]]\nkind = \"stdout\"\n",
        &|_| None,
    )
    .unwrap_err()
    .to_string();
    assert!(
        err.contains("does not sign, so it takes no secret"),
        "{err}"
    );
    let err = Config::from_toml(
        "[[providers]]\nname = \"p\"\nscheme = \"bigcommerce\"\nsecrets = [\"s\"]\nheader = \"X Bad\"\n[[sinks]]\nkind = \"stdout\"\n",
        &|_| None,
    )
    .unwrap_err()
    .to_string();
    assert!(err.contains("is not an HTTP header name"), "{err}");
}

fn envelope(name: &str, headers: &[(&str, &str)], body: &str) -> crate::envelope::Envelope {
    let p = preset(name).unwrap();
    let provider = ProviderName::parse(name).unwrap();
    let scheme = p.scheme(settings(p)).unwrap();
    let mut h = Headers::new();
    for (k, v) in headers {
        h.insert(k, *v);
    }
    let rules = NormalizeRules {
        conventions: Some(p.conventions),
        ..NormalizeRules::default()
    };
    normalize(
        &Incoming {
            provider: &provider,
            scheme: &scheme,
            headers: &h,
            body: body.as_bytes(),
            received_at: time::OffsetDateTime::from_unix_timestamp(NOW).unwrap(),
            correlation_id: "c",
            source: crate::envelope::Source::Webhook,
        },
        &rules,
    )
    .unwrap()
}

#[test]
fn conventions_find_each_providers_facts() {
    let e = envelope(
        "paddle",
        &[],
        r#"{"event_id":"evt_01h","event_type":"transaction.paid","occurred_at":"2024-04-12T10:18:49.621022Z","data":{"id":"txn_01h"}}"#,
    );
    assert_eq!(e.event_id, "evt_01h");
    assert_eq!(e.event_type.as_deref(), Some("transaction.paid"));
    assert_eq!(e.entity.as_deref(), Some("txn_01h"));
    assert!(e.version.is_some());

    let e = envelope(
        "woocommerce",
        &[
            ("X-WC-Webhook-Delivery-ID", "d-9"),
            ("X-WC-Webhook-Topic", "order.updated"),
            ("X-WC-Webhook-Resource", "order"),
        ],
        r#"{"id":77,"status":"processing"}"#,
    );
    assert_eq!(
        (
            e.event_id.as_str(),
            e.event_type.as_deref(),
            e.entity.as_deref()
        ),
        ("d-9", Some("order.updated"), Some("order/77"))
    );
    // The record with its modification time (GMT, no offset): keyed as the woocommerce
    // source keys it, the body guard kept (the resource header is not signed).
    let e = envelope(
        "woocommerce",
        &[
            ("X-WC-Webhook-Delivery-ID", "d-10"),
            ("X-WC-Webhook-Topic", "order.updated"),
            ("X-WC-Webhook-Resource", "order"),
            ("X-WC-Webhook-Event", "updated"),
        ],
        r#"{"id":77,"status":"processing","date_modified_gmt":"2024-01-15T14:30:00"}"#,
    );
    assert_eq!(
        (e.event_id.as_str(), e.version, e.body_guard),
        ("order/77@1705329000", Some(1_705_329_000_000_000_000), true)
    );
    let e = envelope(
        "woocommerce",
        &[
            ("X-WC-Webhook-Delivery-ID", "d-11"),
            ("X-WC-Webhook-Resource", "order"),
            ("X-WC-Webhook-Event", "deleted"),
        ],
        r#"{"id":77}"#,
    );
    assert_eq!(
        (e.event_id.as_str(), e.body_guard),
        ("order/77@deleted", true)
    );

    let e = envelope(
        "hubspot",
        &[],
        r#"[{"eventId":100,"subscriptionType":"contact.propertyChange","objectId":123,"occurredAt":1700000000000}]"#,
    );
    assert_eq!(
        (e.event_id.as_str(), e.entity.as_deref(), e.version),
        ("100", Some("123"), Some(1_700_000_000_000))
    );

    let e = envelope(
        "sendgrid",
        &[],
        r#"[{"email":"a@b.c","event":"delivered","sg_event_id":"sg-1","sg_message_id":"m-1"}]"#,
    );
    assert_eq!(
        (
            e.event_id.as_str(),
            e.event_type.as_deref(),
            e.entity.as_deref()
        ),
        ("sg-1", Some("delivered"), Some("message/m-1"))
    );

    // Twitch: the id header (the same on a retry) and the subscription type.
    let e = envelope(
        "twitch",
        &[("Twitch-Eventsub-Message-Id", "befa7b53")],
        r#"{"subscription":{"type":"channel.follow"},"event":{}}"#,
    );
    assert_eq!(
        (e.event_id.as_str(), e.event_type.as_deref()),
        ("befa7b53", Some("channel.follow"))
    );

    // No id anywhere: the body's hash, the same for a retried identical body.
    let e = envelope(
        "xero",
        &[],
        r#"{"events":[{"resourceId":"inv-1","eventCategory":"INVOICE","eventType":"UPDATE"}]}"#,
    );
    assert!(e.event_id.starts_with("sha256-"));
    assert_eq!(e.entity.as_deref(), Some("INVOICE/inv-1"));

    // Mollie: every notification is news (the same id for every status change).
    let a = envelope("mollie", &[], "id=tr_WDqYK6vllg");
    assert_eq!(a.entity.as_deref(), Some("tr_WDqYK6vllg"));
    assert_eq!(a.event_id, format!("tr_WDqYK6vllg@{}", NOW * 1000));
}
