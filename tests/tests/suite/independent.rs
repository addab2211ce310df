//! Signatures made by independent implementations — the providers' own libraries
//! (standardwebhooks, svix, stripe, slack_sdk, twilio, squareup) and Python's hmac — must verify byte for byte.
//! `scripts/test` regenerates the vectors with fresh secrets and bodies on every run
//! (INLET_INDEPENDENT_VECTORS); alone, the committed fixture is used.

use inlet_core::headers::Headers;
use inlet_core::secret::Secret;
use inlet_core::signature::{verify, Scheme, VerifyError, VerifyRequest};

fn scheme(name: &str, public_url: Option<&str>) -> Scheme {
    let url = || {
        public_url
            .expect("a URL-signing vector names its URL")
            .to_string()
    };
    match name {
        "standard-webhooks" => Scheme::StandardWebhooks,
        "svix" => Scheme::Svix,
        "stripe" => Scheme::Stripe,
        "slack" => Scheme::Slack,
        "github" => Scheme::Github,
        "shopify" => Scheme::Shopify,
        "twilio" => Scheme::Twilio { url: url() },
        "square" => Scheme::Square { url: url() },
        other => panic!("unknown scheme in vectors: {other}"),
    }
}

#[test]
fn signatures_from_independent_libraries_verify() {
    let path = std::env::var("INLET_INDEPENDENT_VECTORS").unwrap_or_else(|_| {
        concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/fixtures/independent_vectors.json"
        )
        .to_string()
    });
    let doc: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
    let cases = doc["cases"].as_array().unwrap();
    assert!(cases.len() >= 24, "vectors for every library");
    let mut libraries = std::collections::BTreeSet::new();
    for case in cases {
        let scheme = scheme(
            case["scheme"].as_str().unwrap(),
            case["public_url"].as_str(),
        );
        let body = case["body"].as_str().unwrap().as_bytes();
        let mut headers = Headers::new();
        for (k, v) in case["headers"].as_object().unwrap() {
            headers.insert(k, v.as_str().unwrap());
        }
        let secrets = vec![
            Secret::new("rotated-out-old-secret"),
            Secret::new(case["secret"].as_str().unwrap()),
        ];
        let req = VerifyRequest {
            body,
            headers: &headers,
            secrets: &secrets,
            now: case["now"].as_i64().unwrap(),
            tolerance_secs: 300,
        };
        let lib = case["library"].as_str().unwrap();
        let verified = verify(&scheme, &req);
        assert!(verified.is_ok(), "{lib}/{}: {verified:?}", scheme.name());
        libraries.insert(lib.to_string());
        // The same signature over a body one byte longer must fail.
        let mut longer = body.to_vec();
        longer.push(b' ');
        let tampered = VerifyRequest {
            body: &longer,
            ..req
        };
        assert_eq!(
            verify(&scheme, &tampered),
            Err(VerifyError::Mismatch),
            "{lib}"
        );
    }
    assert_eq!(libraries.len(), 7, "{libraries:?}");
}
