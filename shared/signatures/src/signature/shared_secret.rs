//! Providers that send a shared secret instead of signing: a token in a header (GitLab's
//! `X-Gitlab-Token`) or HTTP basic auth (Pipedrive, Postmark). They authenticate the
//! sender, not the body — a weaker guarantee than a signature, but what those providers
//! offer; use HTTPS end to end with them.
//!
//! Compared in constant time over SHA-256 digests, so neither the contents nor the length
//! of a configured secret leak through timing. Several secrets may be active (rotation).

use super::crypto::{b64_decode, b64_encode};
use super::{malformed, required, SignError, SignRequest, Verified, VerifyError, VerifyRequest};
use crate::secret::constant_time_eq;

/// GitLab's token header.
pub(crate) const GITLAB_TOKEN: &str = "x-gitlab-token";

/// The index of the secret equal to `presented`, if any.
fn matching_secret(presented: &[u8], req: &VerifyRequest<'_>) -> Result<Verified, VerifyError> {
    // Every secret is compared (no early exit), so timing does not tell which one matched.
    let mut matched = None;
    for (index, secret) in req.secrets.iter().enumerate() {
        if constant_time_eq(presented, secret.expose().as_bytes()) && matched.is_none() {
            matched = Some(index);
        }
    }
    matched
        .map(|secret_index| Verified {
            timestamp: None,
            secret_index,
        })
        .ok_or(VerifyError::Mismatch)
}

/// A token header equal to one of the secrets.
pub(crate) fn verify_token(header: &str, req: &VerifyRequest<'_>) -> Result<Verified, VerifyError> {
    let token = required(req.headers, header)?;
    matching_secret(token.as_bytes(), req)
}

pub(crate) fn sign_token(header: &str, req: &SignRequest<'_>) -> Vec<(String, String)> {
    vec![(header.to_string(), req.secret.expose().to_string())]
}

/// `Authorization: Basic base64(user:password)` equal to one of the `user:password` secrets.
pub(crate) fn verify_basic(req: &VerifyRequest<'_>) -> Result<Verified, VerifyError> {
    const HEADER: &str = "authorization";
    let value = required(req.headers, HEADER)?;
    let (scheme, credentials) = value
        .split_once(' ')
        .ok_or_else(|| malformed(HEADER, "expected \"Basic <base64>\""))?;
    if !scheme.eq_ignore_ascii_case("basic") {
        return Err(malformed(HEADER, "not Basic authentication"));
    }
    let decoded = b64_decode(credentials.trim())
        .ok_or_else(|| malformed(HEADER, "credentials are not base64"))?;
    matching_secret(&decoded, req)
}

pub(crate) fn sign_basic(req: &SignRequest<'_>) -> Result<Vec<(String, String)>, SignError> {
    check_basic_secret(req.secret.expose()).map_err(SignError::UnusableSecret)?;
    Ok(vec![(
        "Authorization".to_string(),
        format!("Basic {}", b64_encode(req.secret.expose().as_bytes())),
    )])
}

/// A basic-auth secret is `user:password` (RFC 7617: the user id has no colon).
pub(crate) fn check_basic_secret(secret: &str) -> Result<(), String> {
    match secret.split_once(':') {
        Some((user, _)) if !user.is_empty() => Ok(()),
        _ => Err("a basic-auth secret is \"user:password\"".into()),
    }
}
