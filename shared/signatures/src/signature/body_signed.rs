//! Providers that carry the signature (or the shared secret) inside the JSON body:
//!
//! - Mailgun: `signature: {timestamp, token, signature}` — hex HMAC-SHA256 of
//!   `timestamp + token` under the webhook signing key. It covers the token, not the event
//!   data: keep HTTPS end to end, and the timestamp is checked like any other.
//! - Adyen: every `notificationItems[].NotificationRequestItem` carries
//!   `additionalData.hmacSignature` — base64 HMAC-SHA256, under the hex-decoded HMAC key, of
//!   `pspReference:originalReference:merchantAccountCode:merchantReference:value:currency:eventCode:success`.
//!   Every item must verify under one key.
//! - Microsoft Graph: every notification in `value[]` carries the `clientState` the
//!   subscription was created with; it must equal a configured secret (constant time).
//! - Exact Online: the body is `{"Content":…,"HashCode":"…"}`; the hash is the upper-case
//!   hex HMAC-SHA256 of the Content JSON *exactly as sent* under the webhook secret (the
//!   construction of picqer/exact-php-client's `Authenticatable`, the client Exact lists).
//!
//! The body is parsed once with serde_json's limits (the webhook already capped its size).

use serde_json::Value;
use sha2::{Digest, Sha256};

use super::crypto::{b64_decode, b64_encode, ct_eq, hex_decode, hmac};
use super::generic::HmacAlgorithm;
use super::{
    check_timestamp, parse_timestamp, SignError, SignRequest, Verified, VerifyError, VerifyRequest,
};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
/// Schemes whose signature, or shared secret, travels inside the body.
pub enum BodyScheme {
    /// Mailgun: `signature.{timestamp, token, signature}` in the JSON body, HMAC-SHA256.
    Mailgun,
    /// Adyen: each notification item's `additionalData.hmacSignature` over its fields, with a hex key.
    Adyen,
    /// Microsoft Graph: each notification's `clientState` equals the subscription's.
    GraphClientState,
    /// Exact Online: `HashCode` over the body's `Content`, HMAC-SHA256.
    ExactOnline,
}

impl BodyScheme {
    /// The scheme's name, for messages.
    pub fn name(self) -> &'static str {
        match self {
            BodyScheme::Mailgun => "mailgun",
            BodyScheme::Adyen => "adyen",
            BodyScheme::GraphClientState => "microsoft-graph",
            BodyScheme::ExactOnline => "exact-online",
        }
    }
}

fn json(body: &[u8]) -> Result<Value, VerifyError> {
    serde_json::from_slice(body).map_err(|_| VerifyError::MalformedBody("not JSON"))
}

/// A scalar as the provider writes it into a signed string: text as is, numbers and
/// booleans as JSON prints them, absent or null as nothing.
fn text(v: Option<&Value>) -> Result<String, VerifyError> {
    match v {
        None | Some(Value::Null) => Ok(String::new()),
        Some(Value::String(s)) => Ok(s.clone()),
        Some(Value::Number(n)) => Ok(n.to_string()),
        Some(Value::Bool(b)) => Ok(b.to_string()),
        Some(_) => Err(VerifyError::MalformedBody("a signed field is not a scalar")),
    }
}

pub(crate) fn verify(scheme: BodyScheme, req: &VerifyRequest<'_>) -> Result<Verified, VerifyError> {
    match scheme {
        // Exact signs the Content's bytes as sent: read raw, never parsed and re-printed.
        BodyScheme::ExactOnline => verify_exact(req),
        BodyScheme::Mailgun => verify_mailgun(&json(req.body)?, req),
        BodyScheme::Adyen => verify_adyen(&json(req.body)?, req),
        BodyScheme::GraphClientState => verify_client_state(&json(req.body)?, req),
    }
}

const EXACT_HEAD: &[u8] = b"{\"Content\":";
const EXACT_HASH: &[u8] = b",\"HashCode\":\"";

/// Exact Online's raw Content text and the hash after it.
fn exact_parts(body: &[u8]) -> Result<(&[u8], &[u8]), VerifyError> {
    const SHAPE: VerifyError = VerifyError::MalformedBody("not {\"Content\":…,\"HashCode\":\"…\"}");
    let rest = body.strip_prefix(EXACT_HEAD).ok_or(SHAPE)?;
    let rest = rest.strip_suffix(b"\"}").ok_or(SHAPE)?;
    let at = rest
        .windows(EXACT_HASH.len())
        .rposition(|w| w == EXACT_HASH)
        .ok_or(SHAPE)?;
    Ok((&rest[..at], &rest[at + EXACT_HASH.len()..]))
}

fn verify_exact(req: &VerifyRequest<'_>) -> Result<Verified, VerifyError> {
    let (content, hash) = exact_parts(req.body)?;
    let given = std::str::from_utf8(hash)
        .ok()
        .and_then(hex_decode)
        .ok_or(VerifyError::MalformedBody("HashCode is not hex"))?;
    for (index, secret) in req.secrets.iter().enumerate() {
        if ct_eq(
            &hmac(
                HmacAlgorithm::Sha256,
                secret.expose().as_bytes(),
                &[content],
            ),
            &given,
        ) {
            return Ok(Verified {
                timestamp: None,
                secret_index: index,
            });
        }
    }
    Err(VerifyError::Mismatch)
}

fn verify_mailgun(body: &Value, req: &VerifyRequest<'_>) -> Result<Verified, VerifyError> {
    let field = |name: &str| match body.pointer(&format!("/signature/{name}")) {
        Some(Value::String(s)) if !s.is_empty() => Ok(s.as_str()),
        _ => Err(VerifyError::MalformedBody(
            "no signature.timestamp/token/signature strings",
        )),
    };
    let (timestamp, token, signature) = (field("timestamp")?, field("token")?, field("signature")?);
    let ts = parse_timestamp(timestamp, "signature.timestamp")?;
    check_timestamp(ts, req.now, req.tolerance_secs)?;
    let given = hex_decode(signature).ok_or(VerifyError::MalformedBody("signature is not hex"))?;
    for (index, secret) in req.secrets.iter().enumerate() {
        let mac = hmac(
            HmacAlgorithm::Sha256,
            secret.expose().as_bytes(),
            &[timestamp.as_bytes(), token.as_bytes()],
        );
        if ct_eq(&mac, &given) {
            return Ok(Verified {
                timestamp: Some(ts),
                secret_index: index,
            });
        }
    }
    Err(VerifyError::Mismatch)
}

const ADYEN_FIELDS: [&str; 8] = [
    "/pspReference",
    "/originalReference",
    "/merchantAccountCode",
    "/merchantReference",
    "/amount/value",
    "/amount/currency",
    "/eventCode",
    "/success",
];

fn adyen_items(body: &Value) -> Result<Vec<&Value>, VerifyError> {
    let items: Vec<&Value> = body
        .get("notificationItems")
        .and_then(Value::as_array)
        .map(|a| {
            a.iter()
                .filter_map(|i| i.get("NotificationRequestItem"))
                .collect()
        })
        .unwrap_or_default();
    if items.is_empty() {
        return Err(VerifyError::MalformedBody(
            "no notificationItems[].NotificationRequestItem",
        ));
    }
    Ok(items)
}

fn adyen_signed_string(item: &Value) -> Result<String, VerifyError> {
    let parts = ADYEN_FIELDS
        .iter()
        .map(|p| text(item.pointer(p)))
        .collect::<Result<Vec<_>, _>>()?;
    Ok(parts.join(":"))
}

fn verify_adyen(body: &Value, req: &VerifyRequest<'_>) -> Result<Verified, VerifyError> {
    let items = adyen_items(body)?;
    let mut signed = Vec::with_capacity(items.len());
    for item in items {
        let given = match item.pointer("/additionalData/hmacSignature") {
            Some(Value::String(s)) => {
                b64_decode(s).ok_or(VerifyError::MalformedBody("hmacSignature is not base64"))?
            }
            _ => {
                return Err(VerifyError::MalformedBody(
                    "an item has no additionalData.hmacSignature",
                ))
            }
        };
        signed.push((adyen_signed_string(item)?, given));
    }
    let mut usable = false;
    for (index, secret) in req.secrets.iter().enumerate() {
        // Adyen shows the HMAC key as hex; the bytes are the key.
        let Some(key) = hex_decode(secret.expose().trim()) else {
            continue;
        };
        usable = true;
        if signed.iter().all(|(content, given)| {
            ct_eq(
                &hmac(HmacAlgorithm::Sha256, &key, &[content.as_bytes()]),
                given,
            )
        }) {
            return Ok(Verified {
                timestamp: None,
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

fn verify_client_state(body: &Value, req: &VerifyRequest<'_>) -> Result<Verified, VerifyError> {
    let states: Vec<&str> = body
        .get("value")
        .and_then(Value::as_array)
        .map(|a| {
            a.iter()
                .map(|n| n.get("clientState").and_then(Value::as_str).unwrap_or(""))
                .collect()
        })
        .unwrap_or_default();
    if states.is_empty() {
        return Err(VerifyError::MalformedBody("no value[] notifications"));
    }
    for (index, secret) in req.secrets.iter().enumerate() {
        let expected = secret.expose().as_bytes();
        if states
            .iter()
            .all(|s| crate::secret::constant_time_eq(s.as_bytes(), expected))
        {
            return Ok(Verified {
                timestamp: None,
                secret_index: index,
            });
        }
    }
    Err(VerifyError::Mismatch)
}

/// Sign a body for `inlet send` and tests: the signature goes into the body, so the body
/// is rewritten (and, but for Exact Online's raw Content, must be JSON of the provider's shape).
pub(crate) fn sign(scheme: BodyScheme, req: &SignRequest<'_>) -> Result<SignedBody, SignError> {
    match scheme {
        BodyScheme::ExactOnline => Ok(sign_exact(req)),
        BodyScheme::Mailgun => rewrite_json(req, sign_mailgun),
        BodyScheme::Adyen => rewrite_json(req, sign_adyen),
        BodyScheme::GraphClientState => rewrite_json(req, sign_client_state),
    }
}

/// The body given is the Content; the hash covers its bytes as they are.
fn sign_exact(req: &SignRequest<'_>) -> SignedBody {
    let mac = hmac(
        HmacAlgorithm::Sha256,
        req.secret.expose().as_bytes(),
        &[req.body],
    );
    let mut out = EXACT_HEAD.to_vec();
    out.extend_from_slice(req.body);
    out.extend_from_slice(EXACT_HASH);
    out.extend_from_slice(hex::encode_upper(mac).as_bytes());
    out.extend_from_slice(b"\"}");
    SignedBody(out)
}

/// Parse the body, let `put` write the signature into it, print it again.
fn rewrite_json(
    req: &SignRequest<'_>,
    put: fn(&mut Value, &SignRequest<'_>) -> Result<(), SignError>,
) -> Result<SignedBody, SignError> {
    let mut body: Value = serde_json::from_slice(req.body).map_err(|_| {
        SignError::Unsupported("the body must be JSON to carry the signature".into())
    })?;
    put(&mut body, req)?;
    Ok(SignedBody(serde_json::to_vec(&body).unwrap_or_default()))
}

fn sign_mailgun(body: &mut Value, req: &SignRequest<'_>) -> Result<(), SignError> {
    let secret = req.secret.expose();
    let ts = req.timestamp.to_string();
    let token = hex::encode(Sha256::digest(format!("{}{}", req.id, ts).as_bytes()));
    let mac = hmac(
        HmacAlgorithm::Sha256,
        secret.as_bytes(),
        &[ts.as_bytes(), token.as_bytes()],
    );
    let Some(obj) = body.as_object_mut() else {
        return Err(SignError::Unsupported(
            "a Mailgun body is a JSON object".into(),
        ));
    };
    obj.insert(
        "signature".into(),
        serde_json::json!({"timestamp": ts, "token": token, "signature": hex::encode(mac)}),
    );
    Ok(())
}

fn sign_adyen(body: &mut Value, req: &SignRequest<'_>) -> Result<(), SignError> {
    let secret = req.secret.expose();
    let key = hex_decode(secret.trim())
        .ok_or_else(|| SignError::UnusableSecret("an Adyen HMAC key is hex".into()))?;
    let items = body
        .get_mut("notificationItems")
        .and_then(Value::as_array_mut)
        .ok_or_else(|| SignError::Unsupported("an Adyen body has notificationItems".into()))?;
    for item in items
        .iter_mut()
        .filter_map(|i| i.get_mut("NotificationRequestItem"))
    {
        let content =
            adyen_signed_string(item).map_err(|e| SignError::Unsupported(e.to_string()))?;
        let mac = b64_encode(&hmac(HmacAlgorithm::Sha256, &key, &[content.as_bytes()]));
        if let Some(obj) = item.as_object_mut() {
            let extra = obj
                .entry("additionalData")
                .or_insert_with(|| serde_json::json!({}));
            if let Some(extra) = extra.as_object_mut() {
                extra.insert("hmacSignature".into(), Value::String(mac));
            }
        }
    }
    Ok(())
}

fn sign_client_state(body: &mut Value, req: &SignRequest<'_>) -> Result<(), SignError> {
    let secret = req.secret.expose();
    let items = body
        .get_mut("value")
        .and_then(Value::as_array_mut)
        .ok_or_else(|| SignError::Unsupported("a Graph body has value[]".into()))?;
    for item in items.iter_mut().filter_map(Value::as_object_mut) {
        item.insert("clientState".into(), Value::String(secret.to_string()));
    }
    Ok(())
}

/// A body rewritten to carry its signature.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SignedBody(pub Vec<u8>);
