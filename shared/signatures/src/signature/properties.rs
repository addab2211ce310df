//! Properties of every scheme over random secrets, bodies and timestamps (proptest,
//! bounded so the suite stays fast): what we sign verifies; any single-bit change to the
//! body, the signed timestamp or the signature is rejected.

use proptest::prelude::*;

use super::*;

const NOW: i64 = 1_800_000_000;
const TOLERANCE: u64 = 300;

fn schemes() -> Vec<Scheme> {
    let custom = HmacSpec {
        header: "x-erp-signature".into(),
        algorithm: HmacAlgorithm::Sha512,
        encoding: Encoding::Base64,
        prefix: "v9=".into(),
        timestamp_header: Some("x-erp-timestamp".into()),
        template: HmacSpec::parse_template("{timestamp}|{body}").unwrap(),
        ..HmacSpec::default()
    };
    let sha1 = HmacSpec {
        header: "x-sig".into(),
        algorithm: HmacAlgorithm::Sha1,
        encoding: Encoding::Hex,
        prefix: String::new(),
        ..HmacSpec::default()
    };
    let mut schemes = vec![
        Scheme::StandardWebhooks,
        Scheme::Svix,
        Scheme::Stripe,
        Scheme::Github,
        Scheme::Shopify,
        Scheme::Slack,
        Scheme::Hmac(custom),
        Scheme::Hmac(sha1),
        Scheme::Gitlab,
        Scheme::BasicAuth,
        Scheme::Twilio {
            url: "https://hooks.example.com/webhooks/twilio?tenant=7".into(),
        },
        Scheme::Square {
            url: "https://hooks.example.com/webhooks/square".into(),
        },
    ];
    // Every catalogue preset built from the HMAC spec or sending a token. A preset that
    // signs a timestamp inside its (JSON) body is left to its own test: these properties
    // sign arbitrary bytes.
    use crate::catalogue::{Settings, Verify, PRESETS};
    for p in PRESETS {
        let body_stamped = matches!(p.verify, Verify::Hmac(row) if row.body_timestamp.is_some());
        if matches!(p.verify, Verify::Hmac(_) | Verify::Token(_)) && !body_stamped {
            let settings = Settings {
                public_url: p
                    .takes_url()
                    .then_some("https://hooks.example.com/webhooks/hubspot?portal=1"),
                header: matches!(p.verify, Verify::Token(None)).then_some("x-hook-token"),
            };
            schemes.push(p.scheme(settings).unwrap());
        }
    }
    schemes
}

/// Shared-secret schemes authenticate the sender, not the body (see `shared_secret`).
fn signs_body(scheme: &Scheme) -> bool {
    !matches!(
        scheme,
        Scheme::Gitlab | Scheme::BasicAuth | Scheme::Token { .. }
    )
}

fn secret_for(scheme: &Scheme, key: &[u8]) -> Secret {
    match scheme {
        Scheme::StandardWebhooks | Scheme::Svix => {
            Secret::new(format!("whsec_{}", crypto::b64_encode(key)))
        }
        Scheme::BasicAuth => Secret::new(format!("user-{}:pass", hex::encode(key))),
        _ => Secret::new(format!("secret-{}", hex::encode(key))),
    }
}

/// Sign, then hand back the headers as a receiver sees them.
fn signed(scheme: &Scheme, secret: &Secret, body: &[u8], ts: i64) -> Headers {
    let pairs = sign(
        scheme,
        &SignRequest {
            body,
            secret,
            timestamp: ts,
            id: "msg_prop",
        },
    )
    .unwrap();
    let mut h = Headers::new();
    for (name, value) in pairs {
        h.insert(&name, value);
    }
    h
}

fn check(
    scheme: &Scheme,
    secret: &Secret,
    body: &[u8],
    headers: &Headers,
) -> Result<Verified, VerifyError> {
    let secrets = [secret.clone()];
    verify(
        scheme,
        &VerifyRequest {
            body,
            headers,
            secrets: &secrets,
            now: NOW,
            tolerance_secs: TOLERANCE,
        },
    )
}

/// The header carrying the signature, for each scheme.
fn signature_header(scheme: &Scheme) -> &str {
    match scheme {
        Scheme::StandardWebhooks => "webhook-signature",
        Scheme::Svix => "svix-signature",
        Scheme::Stripe => "stripe-signature",
        Scheme::Github => "x-hub-signature-256",
        Scheme::Shopify => "x-shopify-hmac-sha256",
        Scheme::Slack => "x-slack-signature",
        Scheme::Gitlab => "x-gitlab-token",
        Scheme::BasicAuth => "authorization",
        Scheme::Twilio { .. } => "x-twilio-signature",
        Scheme::Square { .. } => "x-square-hmacsha256-signature",
        Scheme::Hmac(spec) => &spec.header,
        Scheme::Token { header } => header,
        Scheme::PublicKey(spec) => &spec.header,
        Scheme::Body(_) | Scheme::Certificate(_) | Scheme::Unsigned => "",
    }
}

fn hex_encoded(scheme: &Scheme) -> bool {
    match scheme {
        Scheme::Stripe | Scheme::Github | Scheme::Slack => true,
        Scheme::Hmac(spec) => spec.encoding == Encoding::Hex,
        Scheme::PublicKey(spec) => spec.encoding == Encoding::Hex,
        Scheme::Token { .. } | Scheme::Body(_) | Scheme::Certificate(_) | Scheme::Unsigned => false,
        Scheme::StandardWebhooks
        | Scheme::Svix
        | Scheme::Shopify
        | Scheme::Gitlab
        | Scheme::BasicAuth
        | Scheme::Twilio { .. }
        | Scheme::Square { .. } => false,
    }
}

/// The header carrying the signed timestamp, where it is its own header.
fn timestamp_header(scheme: &Scheme) -> Option<&str> {
    match scheme {
        Scheme::StandardWebhooks => Some("webhook-timestamp"),
        Scheme::Svix => Some("svix-timestamp"),
        Scheme::Slack => Some("x-slack-request-timestamp"),
        Scheme::Hmac(spec) => spec.timestamp_header.as_deref(),
        Scheme::PublicKey(spec) => spec.timestamp_header.as_deref(),
        Scheme::Token { .. } | Scheme::Body(_) | Scheme::Certificate(_) | Scheme::Unsigned => None,
        // Stripe's timestamp is inside its signature header (`t=`), covered by the
        // signature-header flips.
        Scheme::Stripe
        | Scheme::Github
        | Scheme::Shopify
        | Scheme::Gitlab
        | Scheme::BasicAuth
        | Scheme::Twilio { .. }
        | Scheme::Square { .. } => None,
    }
}

fn with_header(headers: &Headers, name: &str, value: Vec<u8>) -> Headers {
    let mut out = Headers::new();
    for (n, v) in headers.iter() {
        if n.eq_ignore_ascii_case(name) {
            out.insert(n, value.clone());
        } else {
            out.insert(n, v.to_vec());
        }
    }
    out
}

/// The body a scheme signs, made from arbitrary bytes: Twilio signs form parameters, so
/// its body is a form (the bytes hex-encoded in a value; no percent-escapes, whose hex
/// digits' case is not significant).
fn body_for(scheme: &Scheme, raw: &[u8]) -> Vec<u8> {
    match scheme {
        Scheme::Twilio { .. } => format!("Body={}&From=15550100", hex::encode(raw)).into_bytes(),
        _ => raw.to_vec(),
    }
}

fn flip(bytes: &[u8], bit: usize) -> Vec<u8> {
    let mut out = bytes.to_vec();
    out[bit / 8 % bytes.len()] ^= 1 << (bit % 8);
    out
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

    #[test]
    fn what_we_sign_verifies(
        key in proptest::collection::vec(any::<u8>(), 1..64),
        body in proptest::collection::vec(any::<u8>(), 0..512),
        skew in -(TOLERANCE as i64)..=(TOLERANCE as i64),
    ) {
        for scheme in schemes() {
            let body = body_for(&scheme, &body);
            let secret = secret_for(&scheme, &key);
            let headers = signed(&scheme, &secret, &body, NOW + skew);
            let ok = check(&scheme, &secret, &body, &headers);
            prop_assert!(ok.is_ok(), "{scheme:?}: {ok:?}");
            if scheme.has_timestamp() {
                prop_assert_eq!(ok.unwrap().timestamp, Some(NOW + skew));
            }
        }
    }

    #[test]
    fn a_single_flipped_bit_is_rejected(
        key in proptest::collection::vec(any::<u8>(), 1..64),
        body in proptest::collection::vec(any::<u8>(), 1..512),
        bit in any::<usize>(),
    ) {
        for scheme in schemes() {
            let body = body_for(&scheme, &body);
            let secret = secret_for(&scheme, &key);
            let headers = signed(&scheme, &secret, &body, NOW);
            // The body.
            if signs_body(&scheme) {
                let tampered = flip(&body, bit);
                prop_assert!(check(&scheme, &secret, &tampered, &headers).is_err(), "{scheme:?} body");
            }
            // The signature header, wherever the bit lands (prefix, encoding, MAC, `t=`).
            // A hex digit whose case flips is the same signature (hex is case-insensitive,
            // and some senders use upper case): that one flip may verify.
            let name = signature_header(&scheme);
            let value = headers.get_bytes(name).unwrap();
            let flipped = flip(value, bit);
            // Likewise `Basic` in any case is the same authentication scheme (RFC 7617).
            let case_only = flipped.eq_ignore_ascii_case(value);
            let same = case_only
                && (hex_encoded(&scheme)
                    || (scheme == Scheme::BasicAuth && bit / 8 % value.len() < "Basic".len()));
            if !same {
                let h = with_header(&headers, name, flipped);
                prop_assert!(check(&scheme, &secret, &body, &h).is_err(), "{scheme:?} signature");
            }
            // The timestamp header.
            if let Some(ts) = timestamp_header(&scheme) {
                let value = headers.get_bytes(ts).unwrap();
                let h = with_header(&headers, ts, flip(value, bit));
                prop_assert!(check(&scheme, &secret, &body, &h).is_err(), "{scheme:?} timestamp");
            }
        }
    }

    #[test]
    fn another_secret_or_a_stale_timestamp_is_rejected(
        key in proptest::collection::vec(any::<u8>(), 1..64),
        other in proptest::collection::vec(any::<u8>(), 1..64),
        body in proptest::collection::vec(any::<u8>(), 0..256),
        beyond in (TOLERANCE as i64 + 1)..100_000i64,
        future in any::<bool>(),
    ) {
        prop_assume!(key != other);
        for scheme in schemes() {
            let body = body_for(&scheme, &body);
            let secret = secret_for(&scheme, &key);
            let headers = signed(&scheme, &secret, &body, NOW);
            let wrong = secret_for(&scheme, &other);
            prop_assert_eq!(check(&scheme, &wrong, &body, &headers), Err(VerifyError::Mismatch));
            if scheme.has_timestamp() {
                let ts = if future { NOW + beyond } else { NOW - beyond };
                let headers = signed(&scheme, &secret, &body, ts);
                let err = check(&scheme, &secret, &body, &headers).unwrap_err();
                prop_assert!(
                    matches!(err, VerifyError::TimestampTooOld { .. } | VerifyError::TimestampInFuture { .. }),
                    "{scheme:?}: {err:?}"
                );
            }
        }
    }
}
