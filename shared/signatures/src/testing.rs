//! Example settings and secrets for every preset, in the shape each needs: for tests of
//! code built on this crate (`features = ["testing"]`). The keys are generated for tests and
//! sign nothing real.
// Fixed example keys: the conversions below cannot fail on them, and a test should stop if they do.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use crate::catalogue::{Preset, Settings, Verify};
use crate::secret::Secret;
use crate::signature::{BodyScheme, KeyAlgorithm, Scheme};

pub(crate) fn b64(bytes: &[u8]) -> String {
    use base64::Engine as _;
    base64::engine::general_purpose::STANDARD.encode(bytes)
}
/// The URL the examples sign, for presets that sign the URL they call.
pub const URL: &str = "https://hooks.example.com/webhooks/p?tenant=1";
/// Test-only RSA keys (generated for these tests; they sign nothing real).
pub(crate) const RSA_KEYS: [&str; 2] = [
    include_str!("catalogue/testdata/rsa-test-key.pem"),
    include_str!("catalogue/testdata/rsa-test-key-2.pem"),
];

/// The settings a preset needs, filled with examples: [`URL`] and the header `x-hook-token`.
pub fn settings(p: &Preset) -> Settings<'static> {
    Settings {
        public_url: p.takes_url().then_some(URL),
        header: matches!(p.verify, Verify::Token(None)).then_some("x-hook-token"),
    }
}

/// Example secret number `n` in the shape the preset needs (an HMAC secret, `user:password`,
/// a hex key, a PKCS#8 private key for public-key presets).
pub fn secret(p: &Preset, n: u8) -> Secret {
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
