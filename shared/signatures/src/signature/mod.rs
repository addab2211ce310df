//! Signature verification: pure functions over (raw body bytes, headers, secrets, now).
//!
//! Every scheme verifies the exact bytes the provider sent, before anything is parsed,
//! compares in constant time, accepts any of several active secrets (rotation), and checks
//! the timestamp in both directions where the scheme signs one. Signing lives here too, for
//! `inlet send` and tests; verification never calls it.

mod body_signed;
mod certificate;
mod crypto;
mod generic;
mod public_key;
mod shared_secret;
mod standard;
mod stripe;
mod url_signed;

pub use body_signed::BodyScheme;
pub use certificate::{sns_control, CertScheme};
pub use generic::{BodyTimestamp, Encoding, HmacAlgorithm, HmacSpec, Pairs, Part, TimestampFormat};
pub use public_key::{KeyAlgorithm, KeySpec};
pub(crate) use url_signed::form_component;

use crate::headers::Headers;
use crate::secret::Secret;

/// A supported signature scheme (the `scheme` of a provider in the config).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Scheme {
    /// Standard Webhooks: `webhook-id`, `webhook-timestamp`, `webhook-signature`.
    StandardWebhooks,
    /// Svix: the Standard Webhooks construction with `svix-*` headers.
    Svix,
    /// Stripe: `Stripe-Signature` `t=…,v1=…`, HMAC-SHA256 over `{t}.{body}`.
    Stripe,
    /// GitHub: `X-Hub-Signature-256`, `sha256=` hex HMAC of the body.
    Github,
    /// Shopify: `X-Shopify-Hmac-Sha256`, base64 HMAC-SHA256 of the body.
    Shopify,
    /// Slack: `X-Slack-Signature` `v0=` over `v0:{timestamp}:{body}`.
    Slack,
    /// GitLab: the shared token in `X-Gitlab-Token` (GitLab does not sign).
    Gitlab,
    /// HTTP basic auth with a `user:password` secret (Pipedrive, Postmark, …).
    BasicAuth,
    /// Twilio: the public URL and the sorted form parameters, HMAC-SHA1.
    Twilio {
        /// The URL exactly as entered in Twilio's console.
        url: String,
    },
    /// Square: the notification URL and the body, HMAC-SHA256.
    Square {
        /// The notification URL exactly as entered in Square's dashboard.
        url: String,
    },
    /// A configurable HMAC scheme for providers without a preset, and the rows of the
    /// catalogue that are one.
    Hmac(HmacSpec),
    /// A shared token in a header the provider lets you name (Okta, Dynamics 365, …).
    Token {
        /// The header's name.
        header: String,
    },
    /// A signature made with a private key, checked with the configured public key.
    PublicKey(KeySpec),
    /// The signature, or the shared secret, travels inside the JSON body.
    Body(BodyScheme),
    /// A signature checked with the X.509 certificate the request names, fetched from the
    /// provider's own host (AWS SNS, PayPal): see [`certificate_url`].
    Certificate(CertScheme),
    /// The provider does not sign: it sends an id to fetch (Mollie). Nothing in the request
    /// is trusted but the id, and the consumer fetches the object from the provider's API.
    Unsigned,
}

impl Scheme {
    /// Every scheme name [`Scheme::name`] gives.
    pub const NAMES: &'static [&'static str] = &[
        "standard-webhooks",
        "svix",
        "stripe",
        "github",
        "shopify",
        "slack",
        "gitlab",
        "basic-auth",
        "twilio",
        "square",
        "hmac",
        "token",
    ];

    /// The scheme's name, for messages and tables.
    pub fn name(&self) -> &'static str {
        match self {
            Scheme::StandardWebhooks => "standard-webhooks",
            Scheme::Svix => "svix",
            Scheme::Stripe => "stripe",
            Scheme::Github => "github",
            Scheme::Shopify => "shopify",
            Scheme::Slack => "slack",
            Scheme::Gitlab => "gitlab",
            Scheme::BasicAuth => "basic-auth",
            Scheme::Twilio { .. } => "twilio",
            Scheme::Square { .. } => "square",
            Scheme::Hmac(_) => "hmac",
            Scheme::Token { .. } => "token",
            Scheme::PublicKey(spec) => spec.algorithm.name(),
            Scheme::Body(b) => b.name(),
            Scheme::Certificate(c) => c.name(),
            Scheme::Unsigned => "unsigned",
        }
    }

    /// Whether the scheme signs a timestamp (and so has a tolerance).
    pub fn has_timestamp(&self) -> bool {
        match self {
            Scheme::StandardWebhooks | Scheme::Svix | Scheme::Stripe | Scheme::Slack => true,
            Scheme::Github
            | Scheme::Shopify
            | Scheme::Gitlab
            | Scheme::BasicAuth
            | Scheme::Twilio { .. }
            | Scheme::Square { .. }
            | Scheme::Token { .. }
            | Scheme::Unsigned => false,
            Scheme::Hmac(spec) => spec.has_timestamp(),
            Scheme::PublicKey(spec) => spec.timestamp_header.is_some(),
            Scheme::Body(b) => matches!(b, BodyScheme::Mailgun),
            Scheme::Certificate(c) => *c == CertScheme::Paypal,
        }
    }

    /// Whether the signature covers the body, so that the body's hash identifies a signed
    /// request (Adyen: the fields its key comes from; PayPal: the body's CRC32; SNS: the
    /// message fields). `false` where nothing signs the body: a shared token, basic auth,
    /// an id to fetch, Mailgun's timestamp + token, Graph's clientState.
    pub fn signs_body(&self) -> bool {
        match self {
            Scheme::Gitlab
            | Scheme::BasicAuth
            | Scheme::Token { .. }
            | Scheme::Unsigned
            | Scheme::Body(BodyScheme::Mailgun | BodyScheme::GraphClientState) => false,
            Scheme::StandardWebhooks
            | Scheme::Svix
            | Scheme::Stripe
            | Scheme::Github
            | Scheme::Shopify
            | Scheme::Slack
            | Scheme::Twilio { .. }
            | Scheme::Square { .. }
            | Scheme::Hmac(_)
            | Scheme::PublicKey(_)
            | Scheme::Body(BodyScheme::Adyen | BodyScheme::ExactOnline)
            | Scheme::Certificate(_) => true,
        }
    }

    /// Whether the signature covers header `name` (lowercase): an id read from a header it
    /// does not cover can be changed by whoever replays a captured request.
    pub fn signs_header(&self, name: &str) -> bool {
        let in_template = |template: &[Part]| {
            template
                .iter()
                .any(|p| matches!(p, Part::Header(h) if h.eq_ignore_ascii_case(name)))
        };
        match self {
            Scheme::StandardWebhooks => matches!(name, "webhook-id" | "webhook-timestamp"),
            Scheme::Svix => matches!(name, "svix-id" | "svix-timestamp"),
            Scheme::Hmac(spec) => {
                in_template(&spec.template)
                    || spec
                        .timestamp_header
                        .as_deref()
                        .is_some_and(|h| h.eq_ignore_ascii_case(name))
            }
            Scheme::PublicKey(spec) => in_template(&spec.template),
            _ => false,
        }
    }

    /// Check that a configured secret has the shape this scheme needs (at config load, so
    /// a typo fails `inlet check` instead of every request).
    pub fn check_secret(&self, secret: &Secret) -> Result<(), String> {
        match self {
            Scheme::StandardWebhooks | Scheme::Svix => standard::parse_key(secret).map(|_| ()),
            Scheme::BasicAuth => shared_secret::check_basic_secret(secret.expose()),
            Scheme::PublicKey(spec) => public_key::check_key(spec, secret),
            Scheme::Body(BodyScheme::Adyen) => hex::decode(secret.expose().trim())
                .map(|_| ())
                .map_err(|_| "an Adyen HMAC key is hex, as the Customer Area shows it".into()),
            _ => Ok(()),
        }
    }
}

/// How far a signed timestamp may be from now unless a preset or caller says otherwise:
/// 300 s, what Stripe's, Svix's, Slack's and Standard Webhooks' libraries enforce.
pub const DEFAULT_TOLERANCE_SECS: u64 = 300;

/// The inputs of one verification.
#[derive(Debug, Clone, Copy)]
pub struct VerifyRequest<'a> {
    /// The raw body bytes exactly as received.
    pub body: &'a [u8],
    /// The request's headers.
    pub headers: &'a Headers,
    /// Every active secret; a match with any of them verifies.
    pub secrets: &'a [Secret],
    /// Now, in Unix seconds.
    pub now: i64,
    /// Allowed distance between the signed timestamp and `now`, both directions.
    pub tolerance_secs: u64,
}

/// A successful verification.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Verified {
    /// The signed timestamp, where the scheme has one.
    pub timestamp: Option<i64>,
    /// Which configured secret matched (useful to see when an old secret can be retired).
    pub secret_index: usize,
}

/// Why a request did not verify. The messages are safe to return to the caller: they never
/// contain a secret or an expected signature.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum VerifyError {
    #[error("missing header {0}")]
    /// A header the scheme needs is absent.
    MissingHeader(String),
    #[error("malformed header {header}: {reason}")]
    /// A header is present but not in the scheme's shape.
    MalformedHeader {
        /// The header, lowercase.
        header: String,
        /// What is wrong with it.
        reason: &'static str,
    },
    /// The scheme signs a timestamp and the request carries none (Linear's SDK: "Missing
    /// webhook timestamp").
    #[error("missing signed timestamp ({0})")]
    MissingTimestamp(String),
    #[error("timestamp is {age_secs}s old; the tolerance is {tolerance_secs}s")]
    /// The signed timestamp is older than the tolerance allows.
    TimestampTooOld {
        /// How old it is.
        age_secs: i64,
        /// The tolerance.
        tolerance_secs: u64,
    },
    #[error("timestamp is {ahead_secs}s in the future; the tolerance is {tolerance_secs}s")]
    /// The signed timestamp is further ahead than the tolerance allows.
    TimestampInFuture {
        /// How far ahead it is.
        ahead_secs: i64,
        /// The tolerance.
        tolerance_secs: u64,
    },
    /// The scheme signs what the body decodes to (Twilio's form parameters), and it does
    /// not decode: two different bodies must not read as one signed content.
    #[error("body cannot be verified: {0}")]
    MalformedBody(&'static str),
    #[error("no signature matches an active secret")]
    /// No signature matches an active secret.
    Mismatch,
    #[error("no configured secret can verify this scheme")]
    /// No configured secret has the shape this scheme needs.
    NoUsableSecret,
    /// A certificate scheme reached `verify` without its certificate (a caller's bug).
    #[error("this scheme verifies with the provider's certificate")]
    CertificateRequired,
}

impl VerifyError {
    /// A short, stable reason for metrics and the error body.
    pub fn reason(&self) -> &'static str {
        match self {
            VerifyError::MissingHeader(_) => "missing_header",
            VerifyError::MalformedHeader { .. } => "malformed_header",
            VerifyError::MissingTimestamp(_) => "missing_timestamp",
            VerifyError::TimestampTooOld { .. } => "timestamp_too_old",
            VerifyError::TimestampInFuture { .. } => "timestamp_in_future",
            VerifyError::MalformedBody(_) => "malformed_body",
            VerifyError::Mismatch => "signature_mismatch",
            VerifyError::NoUsableSecret => "no_usable_secret",
            VerifyError::CertificateRequired => "certificate_required",
        }
    }

    /// The `401` to send back: JSON with [`VerifyError::reason`] and the message (neither
    /// holds a secret or an expected signature).
    pub fn answer(&self) -> crate::handshake::Answer {
        crate::handshake::Answer {
            status: 401,
            content_type: "application/json",
            body: serde_json::json!({ "error": self.reason(), "message": self.to_string() })
                .to_string(),
        }
    }
}

/// Verify a request under `scheme`.
pub fn verify(scheme: &Scheme, req: &VerifyRequest<'_>) -> Result<Verified, VerifyError> {
    match scheme {
        Scheme::StandardWebhooks => standard::verify(&standard::STANDARD, req),
        Scheme::Svix => standard::verify(&standard::SVIX, req),
        Scheme::Stripe => stripe::verify(req),
        Scheme::Github => generic::verify(&HmacSpec::github(), req),
        Scheme::Shopify => generic::verify(&HmacSpec::shopify(), req),
        Scheme::Slack => generic::verify(&HmacSpec::slack(), req),
        Scheme::Gitlab => shared_secret::verify_token(shared_secret::GITLAB_TOKEN, req),
        Scheme::BasicAuth => shared_secret::verify_basic(req),
        Scheme::Twilio { url } => url_signed::verify_twilio(url, req),
        Scheme::Square { url } => url_signed::verify_square(url, req),
        Scheme::Hmac(spec) => generic::verify(spec, req),
        Scheme::Token { header } => shared_secret::verify_token(header, req),
        Scheme::PublicKey(spec) => public_key::verify(spec, req),
        Scheme::Body(b) => body_signed::verify(*b, req),
        Scheme::Certificate(_) => Err(VerifyError::CertificateRequired),
        Scheme::Unsigned => Ok(Verified {
            timestamp: None,
            secret_index: 0,
        }),
    }
}

/// For schemes verified with a provider's certificate: the certificate's URL, read from the
/// request and checked against the provider's hosts (fetch it, then call
/// [`verify_with_certificate`]). `None` for every other scheme.
pub fn certificate_url(
    scheme: &Scheme,
    req: &VerifyRequest<'_>,
) -> Option<Result<String, VerifyError>> {
    match scheme {
        Scheme::Certificate(c) => Some(certificate::certificate_url(*c, req)),
        _ => None,
    }
}

/// Verify a certificate scheme's request with the certificate (PEM) from its URL.
pub fn verify_with_certificate(
    scheme: &Scheme,
    req: &VerifyRequest<'_>,
    certificate_pem: &[u8],
) -> Result<Verified, VerifyError> {
    match scheme {
        Scheme::Certificate(c) => certificate::verify(*c, req, certificate_pem),
        other => verify(other, req),
    }
}

/// What to sign, for `inlet send` and tests.
#[derive(Debug, Clone, Copy)]
pub struct SignRequest<'a> {
    /// The body to sign.
    pub body: &'a [u8],
    /// The secret (or private key) to sign with.
    pub secret: &'a Secret,
    /// The timestamp to sign, Unix seconds, for schemes that sign one.
    pub timestamp: i64,
    /// The message id, for schemes that sign one (Standard Webhooks, Svix).
    pub id: &'a str,
}

/// Why a payload could not be signed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SignError {
    #[error("{0}")]
    /// The secret cannot sign under this scheme (a public key, a malformed key).
    UnusableSecret(String),
    #[error("{0}")]
    /// The scheme is not signed by a secret held here.
    Unsupported(String),
}

/// A request signed for sending: the body (rewritten where the scheme signs inside it) and
/// the headers to send with it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SignedRequest {
    /// The body to send.
    pub body: Vec<u8>,
    /// The headers to send with it.
    pub headers: Vec<(String, String)>,
}

/// Sign `req` under `scheme`, whatever the scheme signs: for `inlet send` and tests.
pub fn sign_request(scheme: &Scheme, req: &SignRequest<'_>) -> Result<SignedRequest, SignError> {
    match scheme {
        Scheme::Body(b) => Ok(SignedRequest {
            body: body_signed::sign(*b, req)?.0,
            headers: Vec::new(),
        }),
        // The timestamp travels in the body: stamp it, then sign the stamped body.
        Scheme::Hmac(HmacSpec {
            body_timestamp: Some(member),
            ..
        }) => {
            let body = member.stamp(req.body, req.timestamp);
            let headers = sign(
                scheme,
                &SignRequest {
                    body: &body,
                    ..*req
                },
            )?;
            Ok(SignedRequest { body, headers })
        }
        _ => Ok(SignedRequest {
            body: req.body.to_vec(),
            headers: sign(scheme, req)?,
        }),
    }
}

/// Sign `req` under `scheme`; returns the headers to send with the body. Schemes that sign
/// inside the body need [`sign_request`].
pub fn sign(scheme: &Scheme, req: &SignRequest<'_>) -> Result<Vec<(String, String)>, SignError> {
    match scheme {
        Scheme::StandardWebhooks => standard::sign(&standard::STANDARD, req),
        Scheme::Svix => standard::sign(&standard::SVIX, req),
        Scheme::Stripe => Ok(stripe::sign(req)),
        Scheme::Github => generic::sign(&HmacSpec::github(), req),
        Scheme::Shopify => generic::sign(&HmacSpec::shopify(), req),
        Scheme::Slack => generic::sign(&HmacSpec::slack(), req),
        Scheme::Gitlab => Ok(shared_secret::sign_token("X-Gitlab-Token", req)),
        Scheme::BasicAuth => shared_secret::sign_basic(req),
        Scheme::Twilio { url } => url_signed::sign_twilio(url, req),
        Scheme::Square { url } => url_signed::sign_square(url, req),
        Scheme::Hmac(spec) => generic::sign(spec, req),
        Scheme::Token { header } => Ok(shared_secret::sign_token(header, req)),
        Scheme::PublicKey(spec) => public_key::sign(spec, req),
        Scheme::Body(b) => Err(SignError::Unsupported(format!(
            "{} signs inside the body; use sign_request",
            b.name()
        ))),
        Scheme::Certificate(c) => Err(SignError::Unsupported(format!(
            "{} signs with its own certificate's private key; send a test event from the provider",
            c.name()
        ))),
        Scheme::Unsigned => Ok(Vec::new()),
    }
}

/// Hex HMAC-SHA256 (Zoom's endpoint validation answer).
pub(crate) fn hmac_sha256_hex(key: &[u8], message: &[u8]) -> String {
    hex::encode(crypto::hmac(HmacAlgorithm::Sha256, key, &[message]))
}

/// Check a signed timestamp against `now` in both directions.
pub(crate) fn check_timestamp(ts: i64, now: i64, tolerance_secs: u64) -> Result<(), VerifyError> {
    let tolerance = i64::try_from(tolerance_secs).unwrap_or(i64::MAX);
    let age = now.saturating_sub(ts);
    if age > tolerance {
        return Err(VerifyError::TimestampTooOld {
            age_secs: age,
            tolerance_secs,
        });
    }
    if -age > tolerance {
        return Err(VerifyError::TimestampInFuture {
            ahead_secs: -age,
            tolerance_secs,
        });
    }
    Ok(())
}

/// Read a required header as text.
pub(crate) fn required<'h>(headers: &'h Headers, name: &str) -> Result<&'h str, VerifyError> {
    match headers.get_str(name) {
        Ok(Some(v)) if !v.is_empty() => Ok(v),
        Ok(_) => Err(VerifyError::MissingHeader(name.to_ascii_lowercase())),
        Err(_) => Err(malformed(name, "not valid UTF-8")),
    }
}

pub(crate) fn malformed(header: &str, reason: &'static str) -> VerifyError {
    VerifyError::MalformedHeader {
        header: header.to_ascii_lowercase(),
        reason,
    }
}

/// Parse a decimal Unix timestamp header.
pub(crate) fn parse_timestamp(value: &str, header: &str) -> Result<i64, VerifyError> {
    const REASON: &str = "timestamp is not a decimal Unix time";
    if value.is_empty() || value.len() > 18 || !value.bytes().all(|b| b.is_ascii_digit()) {
        return Err(malformed(header, REASON));
    }
    value.parse().map_err(|_| malformed(header, REASON))
}

#[cfg(test)]
mod properties;
#[cfg(test)]
mod tests;
