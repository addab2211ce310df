//! Every preset signs and verifies, rejects what it must and states its replay protection.
//! Signatures by the providers' own libraries are in the workspace suite's `independent`
//! test; loading each preset from Inlet's config and its conventions are `inlet-core`'s tests.

use super::*;
use crate::headers::Headers;
use crate::secret::Secret;
use crate::signature::{sign_request, verify, SignRequest, VerifyError, VerifyRequest};
use crate::testing::{b64, secret, settings, RSA_KEYS};

const NOW: i64 = 1_800_000_000;

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
fn the_crate_readme_lists_every_preset() {
    let readme = include_str!("../../README.md");
    // INLET_BLESS=1 rewrites the table after the marker line instead of failing.
    if std::env::var_os("INLET_BLESS").is_some() && !readme.contains(&verification_table()) {
        let marker = "a test keeps it current. -->\n";
        let head = &readme[..readme.find(marker).unwrap() + marker.len()];
        let path = concat!(env!("CARGO_MANIFEST_DIR"), "/README.md");
        std::fs::write(path, format!("{head}\n{}", verification_table())).unwrap();
        return;
    }
    assert!(
        readme.contains(&verification_table()),
        "shared/signatures/README.md is out of date: print verification_table() into it"
    );
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
