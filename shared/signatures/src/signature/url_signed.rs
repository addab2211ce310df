//! Providers that sign the URL they called, not only the body: the public URL comes from
//! configuration (`public_url`, exactly as entered in the provider's dashboard), never from
//! a client-sent `Host`.
//!
//! - Twilio: HMAC-SHA1 (base64) of the URL followed by every form parameter, sorted by
//!   name then value, as `name` + `value`; header `X-Twilio-Signature`. Twilio's own
//!   validator also accepts the URL with or without the scheme's default port, so this does.
//! - Square: HMAC-SHA256 (base64) of the notification URL followed by the body; header
//!   `x-square-hmacsha256-signature`.

use super::crypto::{b64_decode, b64_encode, ct_eq, hmac};
use super::generic::HmacAlgorithm;
use super::{malformed, required, SignError, SignRequest, Verified, VerifyError, VerifyRequest};

pub const TWILIO_HEADER: &str = "X-Twilio-Signature";
pub const SQUARE_HEADER: &str = "x-square-hmacsha256-signature";

/// One form component (`+` is a space), percent-decoded, strictly UTF-8: a lossy decode
/// would read different bytes as the same text, and the signature covers only the text.
pub(crate) fn form_component(raw: &[u8]) -> Option<String> {
    let spaced: Vec<u8> = raw
        .iter()
        .map(|&b| if b == b'+' { b' ' } else { b })
        .collect();
    percent_encoding::percent_decode(&spaced)
        .decode_utf8()
        .ok()
        .map(|s| s.into_owned())
}

/// What Twilio signs after the URL: each form parameter sorted (name, then value),
/// duplicates once, as `name` + `value`. `None` when the body is not a UTF-8 form.
fn twilio_params(body: &[u8]) -> Option<Vec<u8>> {
    let mut params: Vec<(String, String)> = Vec::new();
    for pair in body.split(|&b| b == b'&').filter(|p| !p.is_empty()) {
        let (name, value) = match pair.iter().position(|&b| b == b'=') {
            Some(i) => (&pair[..i], &pair[i + 1..]),
            None => (pair, &pair[pair.len()..]),
        };
        params.push((form_component(name)?, form_component(value)?));
    }
    params.sort();
    params.dedup();
    let mut s = Vec::with_capacity(body.len());
    for (k, v) in params {
        s.extend_from_slice(k.as_bytes());
        s.extend_from_slice(v.as_bytes());
    }
    Some(s)
}

/// `url` with and without its scheme's default port (`https://h/x` ↔ `https://h:443/x`).
fn with_and_without_port(url: &str) -> Vec<String> {
    let mut out = vec![url.to_string()];
    let Some((scheme, rest)) = url.split_once("://") else {
        return out;
    };
    let default = match scheme {
        "https" => "443",
        "http" => "80",
        _ => return out,
    };
    let (authority, path) = rest.split_at(rest.find('/').unwrap_or(rest.len()));
    let other = match authority.rsplit_once(':') {
        Some((host, port)) if port == default => format!("{scheme}://{host}{path}"),
        Some(_) => return out,
        None => format!("{scheme}://{authority}:{default}{path}"),
    };
    out.push(other);
    out
}

/// The signature over `url + rest` for any of the URL's forms, under any secret. The URL as
/// configured is tried under every secret first: the other form is the rarer case.
fn check(
    header: &str,
    signature: &str,
    urls: &[String],
    rest: &[u8],
    req: &VerifyRequest<'_>,
    alg: HmacAlgorithm,
) -> Result<Verified, VerifyError> {
    let given = b64_decode(signature.trim()).ok_or_else(|| malformed(header, "not base64"))?;
    for url in urls {
        for (index, secret) in req.secrets.iter().enumerate() {
            let mac = hmac(alg, secret.expose().as_bytes(), &[url.as_bytes(), rest]);
            if ct_eq(&given, &mac) {
                return Ok(Verified {
                    timestamp: None,
                    secret_index: index,
                });
            }
        }
    }
    Err(VerifyError::Mismatch)
}

pub(crate) fn verify_twilio(url: &str, req: &VerifyRequest<'_>) -> Result<Verified, VerifyError> {
    let signature = required(req.headers, TWILIO_HEADER)?;
    let params = twilio_params(req.body).ok_or(VerifyError::MalformedBody(
        "not a UTF-8 form (Twilio signs its parameters)",
    ))?;
    check(
        TWILIO_HEADER,
        signature,
        &with_and_without_port(url),
        &params,
        req,
        HmacAlgorithm::Sha1,
    )
}

pub(crate) fn sign_twilio(
    url: &str,
    req: &SignRequest<'_>,
) -> Result<Vec<(String, String)>, SignError> {
    let params = twilio_params(req.body).ok_or_else(|| {
        SignError::Unsupported(
            "Twilio signs form parameters: the body must be a UTF-8 form (a=1&b=2)".into(),
        )
    })?;
    let mac = hmac(
        HmacAlgorithm::Sha1,
        req.secret.expose().as_bytes(),
        &[url.as_bytes(), &params],
    );
    Ok(vec![(TWILIO_HEADER.to_string(), b64_encode(&mac))])
}

pub(crate) fn verify_square(url: &str, req: &VerifyRequest<'_>) -> Result<Verified, VerifyError> {
    let signature = required(req.headers, SQUARE_HEADER)?;
    check(
        SQUARE_HEADER,
        signature,
        &[url.to_string()],
        req.body,
        req,
        HmacAlgorithm::Sha256,
    )
}

pub(crate) fn sign_square(
    url: &str,
    req: &SignRequest<'_>,
) -> Result<Vec<(String, String)>, SignError> {
    let mac = hmac(
        HmacAlgorithm::Sha256,
        req.secret.expose().as_bytes(),
        &[url.as_bytes(), req.body],
    );
    Ok(vec![(SQUARE_HEADER.to_string(), b64_encode(&mac))])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_default_port_is_tried_both_ways() {
        assert_eq!(
            with_and_without_port("https://example.com/webhooks/twilio?x=1"),
            [
                "https://example.com/webhooks/twilio?x=1",
                "https://example.com:443/webhooks/twilio?x=1"
            ]
        );
        assert!(twilio_params(b"a=%FF").is_none(), "not UTF-8");
        assert!(twilio_params(b"a=\xff").is_none(), "not UTF-8");
        assert_eq!(
            with_and_without_port("https://example.com:443/w"),
            ["https://example.com:443/w", "https://example.com/w"]
        );
        assert_eq!(
            with_and_without_port("https://example.com:8443/w"),
            ["https://example.com:8443/w"]
        );
    }

    #[test]
    fn twilio_signs_the_url_and_the_sorted_form_parameters() {
        // The shape of Twilio's documented example; the MACs themselves are checked against
        // Twilio's own RequestValidator (infra/independent_vectors.py).
        let url = "https://example.com/myapp.php?foo=1&bar=2";
        let body = b"CallSid=CA1234567890ABCDE&Caller=%2B12349013030&Digits=1234&From=%2B12349013030&To=%2B18005551212";
        let content = url.to_string() + &String::from_utf8(twilio_params(body).unwrap()).unwrap();
        assert_eq!(
            content,
            "https://example.com/myapp.php?foo=1&bar=2CallSidCA1234567890ABCDECaller+12349013030Digits1234From+12349013030To+18005551212"
        );
    }
}
