//! Providers that sign with a private key and publish the public one:
//!
//! - Discord: Ed25519 (hex) over `timestamp + body`, `X-Signature-Ed25519` /
//!   `X-Signature-Timestamp`; the application's public key in hex.
//! - SendGrid: ECDSA P-256 with SHA-256 (base64 DER) over `timestamp + body`,
//!   `X-Twilio-Email-Event-Webhook-Signature` / `-Timestamp`; the verification key as base64
//!   DER (what the SendGrid console shows) or PEM.
//! - Adobe Commerce: RSA PKCS#1 v1.5 with SHA-256 (base64) over the body,
//!   `x-adobe-commerce-webhook-signature`; the public key PEM from the webhooks settings.
//!
//! The configured `secrets` are the public keys (several, for rotation). A PKCS#8 private key
//! (PEM) is accepted too, so a development config can sign with `inlet send` and verify with
//! the same entry; verification only ever uses the public half. Keys are parsed per request
//! (microseconds, beside a verification that costs tens of them) so the scheme stays plain
//! data; `check_secret` parses them at config load, so a bad key fails `inlet check`.

use ed25519_dalek::pkcs8::{DecodePrivateKey as _, DecodePublicKey as _};
use p256::ecdsa::signature::{Signer as _, Verifier as _};

use super::crypto::b64_decode;
use super::generic::{render, Encoding, Part};
use super::{
    check_timestamp, malformed, parse_timestamp, required, SignError, SignRequest, Verified,
    VerifyError, VerifyRequest,
};
use crate::secret::Secret;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
/// A public-key signature algorithm.
pub enum KeyAlgorithm {
    /// Ed25519 (Discord).
    Ed25519,
    /// ECDSA on P-256 with SHA-256, DER-encoded signatures.
    EcdsaP256,
    /// RSASSA-PKCS1-v1_5 with SHA-256.
    RsaSha256,
}

impl KeyAlgorithm {
    /// The algorithm's name, for tables.
    pub fn name(self) -> &'static str {
        match self {
            KeyAlgorithm::Ed25519 => "ed25519",
            KeyAlgorithm::EcdsaP256 => "ecdsa-p256",
            KeyAlgorithm::RsaSha256 => "rsa-sha256",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
/// A public-key scheme: the provider signs with its private key; you verify with its public key.
pub struct KeySpec {
    /// The header carrying the signature.
    pub header: String,
    /// The algorithm.
    pub algorithm: KeyAlgorithm,
    /// How the signature is written.
    pub encoding: Encoding,
    /// The header carrying the signed timestamp, if any.
    pub timestamp_header: Option<String>,
    /// What is signed: literals, `{timestamp}` and `{body}`.
    pub template: Vec<Part>,
}

enum PublicKey {
    Ed25519(ed25519_dalek::VerifyingKey),
    Ecdsa(p256::ecdsa::VerifyingKey),
    Rsa(Box<rsa::pkcs1v15::VerifyingKey<sha2::Sha256>>),
}

enum PrivateKey {
    Ed25519(ed25519_dalek::SigningKey),
    Ecdsa(p256::ecdsa::SigningKey),
    Rsa(Box<rsa::pkcs1v15::SigningKey<sha2::Sha256>>),
}

fn is_private_pem(text: &str) -> bool {
    text.trim_start().starts_with("-----BEGIN PRIVATE KEY-----")
}

/// DER bytes of a PEM block or of bare base64.
fn der(text: &str) -> Option<Vec<u8>> {
    let text = text.trim();
    let body: String = if text.starts_with("-----BEGIN") {
        text.lines()
            .filter(|l| !l.starts_with("-----"))
            .collect::<Vec<_>>()
            .concat()
    } else {
        text.to_string()
    };
    b64_decode(body.trim())
}

fn private_key(alg: KeyAlgorithm, text: &str) -> Result<PrivateKey, String> {
    let bad = |e: &dyn std::fmt::Display| format!("not a PKCS#8 {} private key: {e}", alg.name());
    let text = text.trim();
    Ok(match alg {
        KeyAlgorithm::Ed25519 => PrivateKey::Ed25519(
            ed25519_dalek::SigningKey::from_pkcs8_pem(text).map_err(|e| bad(&e))?,
        ),
        KeyAlgorithm::EcdsaP256 => {
            PrivateKey::Ecdsa(p256::ecdsa::SigningKey::from_pkcs8_pem(text).map_err(|e| bad(&e))?)
        }
        KeyAlgorithm::RsaSha256 => {
            let key = rsa::RsaPrivateKey::from_pkcs8_pem(text).map_err(|e| bad(&e))?;
            PrivateKey::Rsa(Box::new(rsa::pkcs1v15::SigningKey::new(key)))
        }
    })
}

fn public_key(alg: KeyAlgorithm, text: &str) -> Result<PublicKey, String> {
    if is_private_pem(text) {
        return Ok(match private_key(alg, text)? {
            PrivateKey::Ed25519(k) => PublicKey::Ed25519(k.verifying_key()),
            PrivateKey::Ecdsa(k) => PublicKey::Ecdsa(*k.verifying_key()),
            PrivateKey::Rsa(k) => {
                use rsa::signature::Keypair as _;
                PublicKey::Rsa(Box::new(k.verifying_key()))
            }
        });
    }
    let text = text.trim();
    match alg {
        KeyAlgorithm::Ed25519 => {
            let bytes: [u8; 32] = hex::decode(text)
                .ok()
                .and_then(|b| b.try_into().ok())
                .ok_or("an Ed25519 public key is 64 hex characters")?;
            ed25519_dalek::VerifyingKey::from_bytes(&bytes)
                .map(PublicKey::Ed25519)
                .map_err(|_| "not a valid Ed25519 public key".to_string())
        }
        KeyAlgorithm::EcdsaP256 => {
            let der = der(text).ok_or("a P-256 public key is base64 DER or PEM")?;
            p256::ecdsa::VerifyingKey::from_public_key_der(&der)
                .map(PublicKey::Ecdsa)
                .map_err(|e| format!("not a P-256 public key: {e}"))
        }
        KeyAlgorithm::RsaSha256 => {
            let der = der(text).ok_or("an RSA public key is PEM or base64 DER")?;
            let key = rsa::RsaPublicKey::from_public_key_der(&der)
                .map_err(|e| format!("not an RSA public key: {e}"))?;
            Ok(PublicKey::Rsa(Box::new(rsa::pkcs1v15::VerifyingKey::new(
                key,
            ))))
        }
    }
}

/// A configured key must parse (public, or a private key to derive it from).
pub(crate) fn check_key(spec: &KeySpec, secret: &Secret) -> Result<(), String> {
    public_key(spec.algorithm, secret.expose()).map(|_| ())
}

fn matches(key: &PublicKey, message: &[u8], signature: &[u8]) -> bool {
    match key {
        PublicKey::Ed25519(k) => ed25519_dalek::Signature::from_slice(signature)
            .is_ok_and(|s| k.verify_strict(message, &s).is_ok()),
        PublicKey::Ecdsa(k) => p256::ecdsa::Signature::from_der(signature).is_ok_and(|s| {
            // Either S verifies the same message; signers do not all normalise to low S.
            let s = s.normalize_s().unwrap_or(s);
            k.verify(message, &s).is_ok()
        }),
        PublicKey::Rsa(k) => rsa::pkcs1v15::Signature::try_from(signature)
            .is_ok_and(|s| k.verify(message, &s).is_ok()),
    }
}

pub(crate) fn verify(spec: &KeySpec, req: &VerifyRequest<'_>) -> Result<Verified, VerifyError> {
    let signature = required(req.headers, &spec.header)?;
    let signature = spec
        .encoding
        .decode(signature.trim())
        .ok_or_else(|| malformed(&spec.header, "signature does not decode"))?;
    let timestamp = match &spec.timestamp_header {
        Some(name) => {
            let text = required(req.headers, name)?;
            let ts = parse_timestamp(text, name)?;
            check_timestamp(ts, req.now, req.tolerance_secs)?;
            Some((text, ts))
        }
        None => None,
    };
    let message = render(
        &spec.template,
        req.body,
        timestamp.map(|(t, _)| t),
        req.headers,
        None,
    )?;
    let mut usable = false;
    for (index, secret) in req.secrets.iter().enumerate() {
        let Ok(key) = public_key(spec.algorithm, secret.expose()) else {
            continue;
        };
        usable = true;
        if matches(&key, &message, &signature) {
            return Ok(Verified {
                timestamp: timestamp.map(|(_, ts)| ts),
                secret_index: index,
            });
        }
    }
    Err(if usable {
        VerifyError::Mismatch
    } else {
        VerifyError::NoUsableSecret
    })
}

pub(crate) fn sign(
    spec: &KeySpec,
    req: &SignRequest<'_>,
) -> Result<Vec<(String, String)>, SignError> {
    if !is_private_pem(req.secret.expose()) {
        return Err(SignError::UnusableSecret(format!(
            "signing as this provider needs a PKCS#8 {} private key (PEM); the configured key is public",
            spec.algorithm.name()
        )));
    }
    let key =
        private_key(spec.algorithm, req.secret.expose()).map_err(SignError::UnusableSecret)?;
    let ts = req.timestamp.to_string();
    let message = render(
        &spec.template,
        req.body,
        Some(&ts),
        &crate::headers::Headers::new(),
        None,
    )
    .map_err(|e| SignError::Unsupported(e.to_string()))?;
    let signature = match key {
        PrivateKey::Ed25519(k) => {
            use ed25519_dalek::Signer as _;
            k.sign(&message).to_bytes().to_vec()
        }
        PrivateKey::Ecdsa(k) => {
            let s: p256::ecdsa::Signature = k.sign(&message);
            s.to_der().as_bytes().to_vec()
        }
        PrivateKey::Rsa(k) => {
            use rsa::signature::SignatureEncoding as _;
            k.sign(&message).to_vec()
        }
    };
    let mut out = vec![(spec.header.clone(), spec.encoding.encode(&signature))];
    if let Some(name) = &spec.timestamp_header {
        out.push((name.clone(), ts));
    }
    Ok(out)
}
