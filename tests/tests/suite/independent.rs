//! Signatures made by independent implementations — the providers' own libraries
//! (standardwebhooks, svix, stripe, slack_sdk, twilio, squareup, discord-interactions,
//! sendgrid, hubspot-api-client, paddle-python-sdk, Adyen, paypalrestsdk), python-cryptography
//! (SNS, Adobe Commerce), and
//! Python's hmac over each provider's documented construction — must verify byte for byte.
//! `scripts/test` regenerates the vectors with fresh secrets and bodies on every run
//! (INLET_INDEPENDENT_VECTORS); alone, the committed fixture is used.

use inlet_signatures::catalogue::{self, Settings};
use inlet_signatures::headers::Headers;
use inlet_signatures::secret::Secret;
use inlet_signatures::signature::{
    certificate_url, verify, verify_with_certificate, BodyScheme, Scheme, VerifyError,
    VerifyRequest,
};

/// The scheme a vector names, built as a config naming that preset builds it.
fn scheme(name: &str, public_url: Option<&str>) -> Scheme {
    let preset = catalogue::preset(name).unwrap_or_else(|| panic!("unknown preset {name}"));
    preset
        .scheme(Settings {
            public_url,
            header: None,
        })
        .unwrap_or_else(|e| panic!("{name}: {e:?}"))
}

/// The body changed where its signature covers it: one byte more for schemes that sign the
/// bytes; a signed field changed for those that sign fields inside the body.
fn tamper(scheme: &Scheme, body: &[u8]) -> Vec<u8> {
    let text = String::from_utf8(body.to_vec()).unwrap();
    match scheme {
        Scheme::Body(BodyScheme::Adyen) => text.replacen("AUTHORISATION", "CANCELLATION", 1),
        Scheme::Body(BodyScheme::ExactOnline) => text.replacen("Accounts", "Accountz", 1),
        // SNS signs its fields, not the bytes: change the message.
        Scheme::Certificate(_) if text.contains("\"TopicArn\"") => {
            text.replacen("order", "orden", 1)
        }
        Scheme::Body(_) => {
            let at = text.find("\"token\": \"").unwrap() + 10;
            let flipped = if &text[at..=at] == "0" { "1" } else { "0" };
            format!("{}{flipped}{}", &text[..at], &text[at + 1..])
        }
        _ => text + " ",
    }
    .into_bytes()
}

#[test]
#[ignore = "needs the providers' own signing libraries' vectors, which scripts/test generates"]
fn signatures_from_independent_libraries_verify() {
    let cases = &inlet_tests::independent_vectors();
    assert!(cases.len() >= 120, "vectors for every library");
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
        // Certificate schemes: the URL the request names passes the host check, and the
        // certificate served there (here, the one in the vector) verifies.
        let certificate = case["certificate"].as_str().map(str::as_bytes);
        let check = |req: &VerifyRequest<'_>| match certificate {
            Some(pem) => {
                certificate_url(&scheme, req)
                    .expect("a certificate scheme")
                    .expect("an allowed URL");
                verify_with_certificate(&scheme, req, pem)
            }
            None => verify(&scheme, req),
        };
        let verified = check(&req);
        assert!(verified.is_ok(), "{lib}/{}: {verified:?}", scheme.name());
        libraries.insert(lib.to_string());
        // The same signature over a changed body must fail.
        let changed = tamper(&scheme, body);
        let tampered = VerifyRequest {
            body: &changed,
            ..req
        };
        assert_eq!(check(&tampered), Err(VerifyError::Mismatch), "{lib}");
    }
    // The providers' own libraries, python-cryptography and Python's hmac.
    assert_eq!(libraries.len(), 14, "{libraries:?}");
    let presets: std::collections::BTreeSet<&str> = cases
        .iter()
        .map(|c| c["scheme"].as_str().unwrap())
        .collect();
    assert!(presets.len() >= 30, "{presets:?}");
}
