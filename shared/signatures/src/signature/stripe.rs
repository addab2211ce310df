//! Stripe: `Stripe-Signature: t=<unix>,v1=<hex>[,v1=<hex>…][,v0=…]`.
//!
//! Signed content `{t}.{body}`, HMAC-SHA256 keyed with the endpoint secret exactly as
//! Stripe shows it (the `whsec_` prefix included). Several `v1` entries appear while Stripe
//! rolls a secret; any match verifies. `v0` (test-mode legacy) is ignored.

use super::crypto::{ct_eq, hex_decode, hmac};
use super::{
    check_timestamp, malformed, parse_timestamp, required, HmacAlgorithm, SignRequest, Verified,
    VerifyError, VerifyRequest,
};

const HEADER: &str = "stripe-signature";

pub(crate) fn verify(req: &VerifyRequest<'_>) -> Result<Verified, VerifyError> {
    let header = required(req.headers, HEADER)?;
    let mut timestamp = None;
    let mut signatures = Vec::new();
    for item in header.split(',') {
        let Some((k, v)) = item.trim().split_once('=') else {
            continue;
        };
        match k {
            "t" => timestamp = Some(v),
            "v1" => signatures.extend(hex_decode(v)),
            _ => {}
        }
    }
    let ts_text = timestamp.ok_or_else(|| malformed(HEADER, "no t= timestamp"))?;
    let ts = parse_timestamp(ts_text, HEADER)?;
    if signatures.is_empty() {
        return Err(malformed(HEADER, "no v1= signature"));
    }
    check_timestamp(ts, req.now, req.tolerance_secs)?;
    let signed_prefix = format!("{ts_text}.");
    for (index, secret) in req.secrets.iter().enumerate() {
        let expected = hmac(
            HmacAlgorithm::Sha256,
            secret.expose().as_bytes(),
            &[signed_prefix.as_bytes(), req.body],
        );
        if signatures.iter().any(|s| ct_eq(s, &expected)) {
            return Ok(Verified {
                timestamp: Some(ts),
                secret_index: index,
            });
        }
    }
    Err(VerifyError::Mismatch)
}

pub(crate) fn sign(req: &SignRequest<'_>) -> Vec<(String, String)> {
    let prefix = format!("{}.", req.timestamp);
    let mac = hmac(
        HmacAlgorithm::Sha256,
        req.secret.expose().as_bytes(),
        &[prefix.as_bytes(), req.body],
    );
    vec![(
        "Stripe-Signature".to_string(),
        format!("t={},v1={}", req.timestamp, hex::encode(mac)),
    )]
}
