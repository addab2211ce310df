//! Every preset signs and verifies, rejects what it must, loads from config with what it
//! needs, and finds its provider's facts. Signatures by the providers' own libraries are in
//! the suite's `independent` test; these check our side of every row.

use super::*;
use crate::config::Config;
use crate::headers::Headers;
use crate::ids::ProviderName;
use crate::normalize::{normalize, Incoming, NormalizeRules};
use crate::secret::Secret;
use crate::signature::{sign_request, verify, SignRequest, VerifyError, VerifyRequest};

const NOW: i64 = 1_800_000_000;

fn b64(bytes: &[u8]) -> String {
    use base64::Engine as _;
    base64::engine::general_purpose::STANDARD.encode(bytes)
}
const URL: &str = "https://hooks.example.com/webhooks/p?tenant=1";
/// Test-only RSA keys (generated for these tests; they sign nothing real).
const RSA_KEYS: [&str; 2] = [
    include_str!("testdata/rsa-test-key.pem"),
    include_str!("testdata/rsa-test-key-2.pem"),
];

fn settings(p: &Preset) -> Settings<'static> {
    Settings {
        public_url: p.takes_url().then_some(URL),
        header: matches!(p.verify, Verify::Token(None)).then_some("x-hook-token"),
    }
}

/// Secret number `n` in the shape the preset needs.
fn secret(p: &Preset, n: u8) -> Secret {
    use ed25519_dalek::pkcs8::EncodePrivateKey as _;
    let pem = |der: Result<ed25519_dalek::pkcs8::SecretDocument, _>| {
        let der: ed25519_dalek::pkcs8::SecretDocument = der.unwrap();
        Secret::new(
            der.to_pem("PRIVATE KEY", Default::default())
                .unwrap()
                .to_string(),
        )
    };
    match &p.verify {
        Verify::Key(row) => match row.algorithm {
            KeyAlgorithm::Ed25519 => {
                pem(ed25519_dalek::SigningKey::from_bytes(&[n; 32]).to_pkcs8_der())
            }
            KeyAlgorithm::EcdsaP256 => pem(p256::ecdsa::SigningKey::from_bytes(&[n; 32].into())
                .unwrap()
                .to_pkcs8_der()),
            KeyAlgorithm::RsaSha256 => Secret::new(RSA_KEYS[usize::from(n % 2)]),
        },
        Verify::Basic => Secret::new(format!("user:pass-{n}")),
        Verify::Body(BodyScheme::Adyen) => Secret::new(format!("{n:02x}").repeat(32)),
        Verify::Builtin(f) if matches!(f(), Scheme::StandardWebhooks | Scheme::Svix) => {
            Secret::new(format!("whsec_{}", b64(&[n; 24])))
        }
        _ => Secret::new(format!("secret-{n}")),
    }
}

fn body(p: &Preset) -> Vec<u8> {
    let text = match p.name {
        "twilio" => "MessageSid=SM1&Body=hello+there&From=%2B15550100".to_string(),
        "mollie" => "id=tr_WDqYK6vllg".to_string(),
        "adyen" => r#"{"live":"false","notificationItems":[{"NotificationRequestItem":{"pspReference":"7914073381342284","merchantAccountCode":"Shop","merchantReference":"order-1","amount":{"value":1130,"currency":"EUR"},"eventCode":"AUTHORISATION","success":"true"}},{"NotificationRequestItem":{"pspReference":"8814073381342285","originalReference":"7914073381342284","merchantAccountCode":"Shop","merchantReference":"order-1","amount":{"value":1130,"currency":"EUR"},"eventCode":"CAPTURE","success":"true"}}]}"#.to_string(),
        "microsoft-graph" => r#"{"value":[{"subscriptionId":"s1","changeType":"updated","resource":"Users/42"},{"subscriptionId":"s1","changeType":"created","resource":"Users/43"}]}"#.to_string(),
        _ => r#"{"id":"evt_1","type":"invoice.paid","data":{"object":{"id":"in_1","object":"invoice"}},"note":"Zoë — 東京"}"#.to_string(),
    };
    text.into_bytes()
}

fn signed(p: &Preset, scheme: &Scheme, n: u8) -> (Vec<u8>, Headers) {
    let s = secret(p, n);
    let out = sign_request(
        scheme,
        &SignRequest {
            body: &body(p),
            secret: &s,
            timestamp: NOW,
            id: "msg_2c4e6a",
        },
    )
    .unwrap_or_else(|e| panic!("{}: {e}", p.name));
    let mut h = Headers::new();
    for (k, v) in &out.headers {
        h.insert(k, v.as_str());
    }
    (out.body, h)
}

fn check(
    scheme: &Scheme,
    body: &[u8],
    h: &Headers,
    secrets: &[Secret],
    now: i64,
) -> Result<usize, VerifyError> {
    verify(
        scheme,
        &VerifyRequest {
            body,
            headers: h,
            secrets,
            now,
            tolerance_secs: 300,
        },
    )
    .map(|v| v.secret_index)
}

#[test]
fn every_preset_signs_verifies_rotates_and_rejects() {
    assert!(PRESETS.len() >= 45, "{} presets", PRESETS.len());
    for p in PRESETS {
        let scheme = p
            .scheme(settings(p))
            .unwrap_or_else(|e| panic!("{}: {e:?}", p.name));
        if let Scheme::Certificate(_) = scheme {
            // Signed with the provider's certificate key: the suite's `certificates` and
            // `independent` tests verify real signatures; `inlet send` says why it cannot.
            let s = secret(p, 1);
            let req = SignRequest {
                body: b"{}",
                secret: &s,
                timestamp: NOW,
                id: "m",
            };
            let err = sign_request(&scheme, &req).unwrap_err();
            assert!(err.to_string().contains("certificate"), "{err}");
            continue;
        }
        let (body, h) = signed(p, &scheme, 1);
        let rotation = [secret(p, 2), secret(p, 1)];
        if scheme == Scheme::Unsigned {
            assert_eq!(check(&scheme, &body, &h, &[], NOW), Ok(0));
            continue;
        }
        assert_eq!(
            check(&scheme, &body, &h, &rotation, NOW),
            Ok(1),
            "{}",
            p.name
        );
        // A wrong secret alone.
        assert!(
            matches!(
                check(&scheme, &body, &h, &[secret(p, 2)], NOW),
                Err(VerifyError::Mismatch)
            ),
            "{}",
            p.name
        );
        if scheme.signs_body() {
            // One byte changed inside the body.
            let mut tampered = body.clone();
            let at = tampered.iter().rposition(|&b| b.is_ascii_digit()).unwrap();
            tampered[at] = if tampered[at] == b'9' {
                b'8'
            } else {
                tampered[at] + 1
            };
            assert!(
                matches!(
                    check(&scheme, &tampered, &h, &rotation, NOW),
                    Err(VerifyError::Mismatch)
                ),
                "{}: tampered body",
                p.name
            );
        }
        if scheme.has_timestamp() {
            assert!(
                matches!(
                    check(&scheme, &body, &h, &rotation, NOW + 301),
                    Err(VerifyError::TimestampTooOld { .. })
                ),
                "{}: stale",
                p.name
            );
            assert!(
                matches!(
                    check(&scheme, &body, &h, &rotation, NOW - 301),
                    Err(VerifyError::TimestampInFuture { .. })
                ),
                "{}: future",
                p.name
            );
        }
        // No headers at all: a reason, not a pass (or a panic).
        let bare = check(&scheme, &body, &Headers::new(), &rotation, NOW);
        if !matches!(scheme, Scheme::Body(_)) {
            assert!(
                matches!(bare, Err(VerifyError::MissingHeader(_))),
                "{}: {bare:?}",
                p.name
            );
        }
    }
}

#[test]
fn public_keys_verify_and_only_private_keys_sign() {
    for name in ["discord", "sendgrid", "adobe-commerce"] {
        let p = preset(name).unwrap();
        let scheme = p.scheme(settings(p)).unwrap();
        let (body, h) = signed(p, &scheme, 1);
        let Scheme::PublicKey(spec) = &scheme else {
            unreachable!()
        };
        let public = match spec.algorithm {
            KeyAlgorithm::Ed25519 => hex::encode(
                ed25519_dalek::SigningKey::from_bytes(&[1; 32])
                    .verifying_key()
                    .to_bytes(),
            ),
            KeyAlgorithm::EcdsaP256 => {
                use p256::pkcs8::EncodePublicKey as _;
                let key = p256::ecdsa::SigningKey::from_bytes(&[1; 32].into()).unwrap();
                b64(key.verifying_key().to_public_key_der().unwrap().as_bytes())
            }
            KeyAlgorithm::RsaSha256 => {
                use rsa::pkcs8::{DecodePrivateKey as _, EncodePublicKey as _};
                let key = rsa::RsaPrivateKey::from_pkcs8_pem(RSA_KEYS[1]).unwrap();
                key.to_public_key()
                    .to_public_key_pem(Default::default())
                    .unwrap()
            }
        };
        let public = Secret::new(public);
        assert!(scheme.check_secret(&public).is_ok(), "{name}");
        assert_eq!(
            check(&scheme, &body, &h, std::slice::from_ref(&public), NOW),
            Ok(0),
            "{name}"
        );
        let err = sign_request(
            &scheme,
            &SignRequest {
                body: &body,
                secret: &public,
                timestamp: NOW,
                id: "m",
            },
        )
        .unwrap_err();
        assert!(err.to_string().contains("private key"), "{name}: {err}");
        // Garbage keys are refused at config load and never verify.
        let junk = Secret::new("not a key");
        assert!(scheme.check_secret(&junk).is_err(), "{name}");
        assert_eq!(
            check(&scheme, &body, &h, &[junk], NOW),
            Err(VerifyError::NoUsableSecret)
        );
    }
}

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

#[test]
fn the_providers_document_is_the_catalogue() {
    let doc = include_str!("../../../../docs/providers.md");
    assert!(
        doc.contains(&markdown()),
        "docs/providers.md is out of date: regenerate it with `inlet providers --markdown`"
    );
}

#[test]
fn githubs_published_example_verifies_under_every_preset_of_its_construction() {
    // docs.github.com, "Validating webhook deliveries" → "Testing the webhook payload
    // validation": secret "It's a Secret to Everybody", payload "Hello, World!".
    let signature = "sha256=757107ea0eb2509fc211221cce984b8a37570b6d7586c22c46f4379c8b043e17";
    let secrets = [Secret::new("It's a Secret to Everybody")];
    for (name, header) in [
        ("github", "X-Hub-Signature-256"),
        ("meta", "X-Hub-Signature-256"),
        ("bitbucket", "X-Hub-Signature"),
        ("jira", "X-Hub-Signature"),
    ] {
        let scheme = preset(name).unwrap().scheme(Settings::default()).unwrap();
        let h = Headers::new().with(header, signature);
        assert_eq!(
            check(&scheme, b"Hello, World!", &h, &secrets, NOW),
            Ok(0),
            "{name}"
        );
        assert_eq!(
            check(&scheme, b"Hello, World?", &h, &secrets, NOW),
            Err(VerifyError::Mismatch),
            "{name}"
        );
    }
}

/// Linear signs `webhookTimestamp` (Unix ms) inside the body; its SDK
/// (`LinearWebhookClient.verify`) refuses one more than 60 s from now, and none at all.
#[test]
fn linear_checks_its_signed_body_timestamp() {
    use hmac::Mac as _;
    let p = preset("linear").unwrap();
    assert_eq!(p.tolerance.secs, 60);
    let scheme = p.scheme(settings(p)).unwrap();
    let secret = Secret::new("lin_wh_secret");
    // Signed as Linear does: hex HMAC-SHA256 of the raw body in Linear-Signature.
    let linear = |body: &str| {
        let mut mac = hmac::Hmac::<sha2::Sha256>::new_from_slice(b"lin_wh_secret").unwrap();
        mac.update(body.as_bytes());
        let mut h = Headers::new();
        h.insert("linear-signature", hex::encode(mac.finalize().into_bytes()));
        h.insert("linear-delivery", "d7c1f3b2-0000-4000-8000-000000000001");
        h
    };
    let at = |ms: i64| {
        format!(
            r#"{{"action":"create","type":"Issue","data":{{"id":"i1"}},"webhookTimestamp":{ms},"webhookId":"w1"}}"#
        )
    };
    let run = |body: &str, tolerance_secs| {
        verify(
            &scheme,
            &VerifyRequest {
                body: body.as_bytes(),
                headers: &linear(body),
                secrets: std::slice::from_ref(&secret),
                now: NOW,
                tolerance_secs,
            },
        )
    };
    let ms = NOW * 1000;
    assert_eq!(run(&at(ms + 250), 60).map(|v| v.timestamp), Ok(Some(NOW)));
    assert_eq!(run(&at(ms - 59_000), 60).map(|v| v.secret_index), Ok(0));
    // Five minutes old, a day old, ahead of now: refused with the reason.
    for (stale, reason) in [
        (ms - 300_000, "timestamp_too_old"),
        (ms - 86_400_000, "timestamp_too_old"),
        (ms + 61_000, "timestamp_in_future"),
    ] {
        let err = run(&at(stale), 60).unwrap_err();
        assert_eq!(err.reason(), reason, "{err}");
    }
    // tolerance_secs overrides the preset's: a wider window accepts the five-minute one.
    assert!(run(&at(ms - 300_000), 600).is_ok());
    // Missing, or not a time: refused.
    let missing = r#"{"action":"create","type":"Issue","data":{"id":"i1"}}"#;
    assert_eq!(run(missing, 60).unwrap_err().reason(), "missing_timestamp");
    let text = r#"{"webhookTimestamp":"yesterday"}"#;
    assert!(run(text, 60).is_err());
    // A wrong signature is a mismatch before the body is read at all.
    let mut h = Headers::new();
    h.insert("linear-signature", "00".repeat(32));
    let err = verify(
        &scheme,
        &VerifyRequest {
            body: at(ms).as_bytes(),
            headers: &h,
            secrets: std::slice::from_ref(&secret),
            now: NOW,
            tolerance_secs: 60,
        },
    )
    .unwrap_err();
    assert_eq!(err, VerifyError::Mismatch);
    // `inlet send` stamps the timestamp into the body it signs.
    let signed = sign_request(
        &scheme,
        &SignRequest {
            body: missing.as_bytes(),
            secret: &secret,
            timestamp: NOW,
            id: "d",
        },
    )
    .unwrap();
    let stamped: serde_json::Value = serde_json::from_slice(&signed.body).unwrap();
    assert_eq!(stamped["webhookTimestamp"], serde_json::json!(ms));
}

/// Every preset says what protects it against replay, and the words match the scheme.
#[test]
fn every_preset_states_its_replay_protection() {
    for p in PRESETS {
        let scheme = p.scheme(settings(p)).unwrap();
        let protection = p.replay_protection();
        match protection {
            ReplayProtection::None => assert!(!scheme.signs_body(), "{}", p.name),
            ReplayProtection::SignedTimestamp { .. }
            | ReplayProtection::BodyHash { timestamp: true } => {
                assert!(scheme.has_timestamp(), "{}", p.name)
            }
            ReplayProtection::SignedKey | ReplayProtection::BodyHash { timestamp: false } => {
                assert!(!scheme.has_timestamp(), "{}", p.name)
            }
        }
        assert!(!p.describe_replay().is_empty());
    }
    let of = |name| preset(name).unwrap().replay_protection();
    assert_eq!(
        of("github"),
        ReplayProtection::BodyHash { timestamp: false }
    );
    assert_eq!(of("linear"), ReplayProtection::BodyHash { timestamp: true });
    assert_eq!(
        of("stripe"),
        ReplayProtection::SignedTimestamp { signed_key: true }
    );
    assert_eq!(
        of("standard-webhooks"),
        ReplayProtection::SignedTimestamp { signed_key: true }
    );
    // Twitch signs its message id header: the key is signed.
    assert_eq!(
        of("twitch"),
        ReplayProtection::SignedTimestamp { signed_key: true }
    );
    assert_eq!(of("square"), ReplayProtection::SignedKey);
    assert_eq!(of("gitlab"), ReplayProtection::None);
    assert_eq!(of("pipedrive"), ReplayProtection::None);
    assert_eq!(preset("paddle").unwrap().tolerance.secs, 5);
    assert_eq!(preset("twitch").unwrap().tolerance.secs, 600);
}
