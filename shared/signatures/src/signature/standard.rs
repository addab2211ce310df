//! Standard Webhooks (and Svix, the same construction under `svix-*` headers).
//!
//! Signed content: `{msg_id}.{timestamp}.{body}`. The signature header holds
//! space-separated `version,base64` entries: `v1` is HMAC-SHA256 keyed with the
//! base64-decoded `whsec_` secret, `v1a` is Ed25519 checked against a `whpk_` public key.

use ed25519_dalek::Signer;

use super::crypto::{b64_decode, b64_encode, ct_eq, hmac};
use super::{
    check_timestamp, malformed, parse_timestamp, required, HmacAlgorithm, SignError, SignRequest,
    Verified, VerifyError, VerifyRequest,
};
use crate::secret::Secret;

pub(crate) struct Names {
    pub id: &'static str,
    pub timestamp: &'static str,
    pub signature: &'static str,
}

pub(crate) const STANDARD: Names = Names {
    id: "webhook-id",
    timestamp: "webhook-timestamp",
    signature: "webhook-signature",
};

pub(crate) const SVIX: Names = Names {
    id: "svix-id",
    timestamp: "svix-timestamp",
    signature: "svix-signature",
};

/// A decoded Standard Webhooks key.
pub(crate) enum Key {
    /// `whsec_…` (or bare base64): HMAC-SHA256 key for `v1`.
    Symmetric(Vec<u8>),
    /// `whpk_…`: Ed25519 public key for `v1a`.
    Public(ed25519_dalek::VerifyingKey),
    /// `whsk_…`: Ed25519 private key, usable for signing `v1a` (and verifying).
    Private(ed25519_dalek::SigningKey),
}

pub(crate) fn parse_key(secret: &Secret) -> Result<Key, String> {
    let s = secret.expose();
    if let Some(b64) = s.strip_prefix("whpk_") {
        let bytes = b64_decode(b64).ok_or("whpk_ key is not valid base64")?;
        let arr: [u8; 32] = bytes
            .as_slice()
            .try_into()
            .map_err(|_| "whpk_ key must decode to 32 bytes")?;
        let key = ed25519_dalek::VerifyingKey::from_bytes(&arr)
            .map_err(|_| "whpk_ key is not a valid Ed25519 public key")?;
        return Ok(Key::Public(key));
    }
    if let Some(b64) = s.strip_prefix("whsk_") {
        let bytes = b64_decode(b64).ok_or("whsk_ key is not valid base64")?;
        // Accept the 32-byte seed or the 64-byte seed||public form.
        let seed: [u8; 32] = bytes
            .get(..32)
            .and_then(|b| b.try_into().ok())
            .filter(|_| bytes.len() == 32 || bytes.len() == 64)
            .ok_or("whsk_ key must decode to 32 or 64 bytes")?;
        return Ok(Key::Private(ed25519_dalek::SigningKey::from_bytes(&seed)));
    }
    let b64 = s.strip_prefix("whsec_").unwrap_or(s);
    let bytes = b64_decode(b64).ok_or("secret is not valid base64 after the whsec_ prefix")?;
    if bytes.is_empty() {
        return Err("secret is empty".to_string());
    }
    Ok(Key::Symmetric(bytes))
}

pub(crate) fn verify(names: &Names, req: &VerifyRequest<'_>) -> Result<Verified, VerifyError> {
    let id = required(req.headers, names.id)?;
    let ts_text = required(req.headers, names.timestamp)?;
    let header = required(req.headers, names.signature)?;
    let ts = parse_timestamp(ts_text, names.timestamp)?;
    check_timestamp(ts, req.now, req.tolerance_secs)?;

    let entries: Vec<(&str, Vec<u8>)> = header
        .split_whitespace()
        .filter_map(|entry| {
            let (version, sig) = entry.split_once(',')?;
            Some((version, b64_decode(sig)?))
        })
        .collect();
    if entries.is_empty() {
        return Err(malformed(
            names.signature,
            "no `version,base64` signature entries",
        ));
    }

    let prefix = format!("{id}.{ts_text}.");
    let mut usable = false;
    for (index, secret) in req.secrets.iter().enumerate() {
        let Ok(key) = parse_key(secret) else { continue };
        usable = true;
        let matched = match &key {
            Key::Symmetric(k) => {
                let expected = hmac(HmacAlgorithm::Sha256, k, &[prefix.as_bytes(), req.body]);
                entries
                    .iter()
                    .any(|(v, sig)| *v == "v1" && ct_eq(sig, &expected))
            }
            Key::Public(pk) => ed25519_matches(pk, &entries, &prefix, req.body),
            Key::Private(sk) => ed25519_matches(&sk.verifying_key(), &entries, &prefix, req.body),
        };
        if matched {
            return Ok(Verified {
                timestamp: Some(ts),
                secret_index: index,
            });
        }
    }
    if usable {
        Err(VerifyError::Mismatch)
    } else {
        Err(VerifyError::NoUsableSecret)
    }
}

fn ed25519_matches(
    pk: &ed25519_dalek::VerifyingKey,
    entries: &[(&str, Vec<u8>)],
    prefix: &str,
    body: &[u8],
) -> bool {
    let mut message = Vec::with_capacity(prefix.len() + body.len());
    message.extend_from_slice(prefix.as_bytes());
    message.extend_from_slice(body);
    entries.iter().any(|(v, sig)| {
        *v == "v1a"
            && ed25519_dalek::Signature::from_slice(sig)
                .is_ok_and(|s| pk.verify_strict(&message, &s).is_ok())
    })
}

pub(crate) fn sign(
    names: &Names,
    req: &SignRequest<'_>,
) -> Result<Vec<(String, String)>, SignError> {
    // The id travels in a header, where HTTP drops surrounding whitespace and forbids
    // control characters: an id the receiver cannot read back byte for byte cannot be signed.
    if req.id.trim() != req.id || req.id.chars().any(char::is_control) {
        return Err(SignError::Unsupported(format!(
            "message id {:?} cannot be sent in a header (surrounding spaces or control characters)",
            req.id
        )));
    }
    let prefix = format!("{}.{}.", req.id, req.timestamp);
    let signature = match parse_key(req.secret).map_err(SignError::UnusableSecret)? {
        Key::Symmetric(k) => {
            let mac = hmac(HmacAlgorithm::Sha256, &k, &[prefix.as_bytes(), req.body]);
            format!("v1,{}", b64_encode(&mac))
        }
        Key::Private(sk) => {
            let mut message = prefix.into_bytes();
            message.extend_from_slice(req.body);
            format!("v1a,{}", b64_encode(&sk.sign(&message).to_bytes()))
        }
        Key::Public(_) => {
            return Err(SignError::UnusableSecret(
                "a whpk_ public key can only verify; signing needs the whsk_ private key".into(),
            ))
        }
    };
    Ok(vec![
        (names.id.to_string(), req.id.to_string()),
        (names.timestamp.to_string(), req.timestamp.to_string()),
        (names.signature.to_string(), signature),
    ])
}
