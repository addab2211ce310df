//! The configurable HMAC scheme, and the presets built from it (GitHub, Shopify, Slack).
//!
//! A spec names the signature header, the algorithm, the encoding, an optional prefix
//! (`sha256=`, `v0=`), an optional timestamp (its own header, or a `t=` pair inside the
//! signature header) in seconds, milliseconds or RFC 3339, and the signed-content template
//! (`{body}`, `{timestamp}`, `{header:Name}`, `{url}` placeholders). Several signatures in
//! the header may be separated by commas or spaces (or be several `v1=` pairs). Most of the
//! provider catalogue is rows of this spec (`crate::catalogue`).

use super::crypto::{b64_decode, b64_encode, ct_eq, hex_decode, hmac};
use super::{
    check_timestamp, malformed, parse_timestamp, required, SignError, SignRequest, Verified,
    VerifyError, VerifyRequest,
};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
/// The hash of an HMAC.
pub enum HmacAlgorithm {
    /// SHA-1 (older providers).
    Sha1,
    /// SHA-256.
    Sha256,
    /// SHA-512.
    Sha512,
}

impl HmacAlgorithm {
    /// `sha1`, `sha256` or `sha512`.
    pub fn parse(s: &str) -> Option<Self> {
        match s.to_ascii_lowercase().as_str() {
            "sha1" => Some(Self::Sha1),
            "sha256" => Some(Self::Sha256),
            "sha512" => Some(Self::Sha512),
            _ => None,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
/// How a signature is written.
pub enum Encoding {
    /// Lowercase or uppercase hex.
    Hex,
    /// Standard base64.
    Base64,
}

impl Encoding {
    /// `hex` or `base64`.
    pub fn parse(s: &str) -> Option<Self> {
        match s.to_ascii_lowercase().as_str() {
            "hex" => Some(Self::Hex),
            "base64" => Some(Self::Base64),
            _ => None,
        }
    }

    pub(crate) fn decode(self, s: &str) -> Option<Vec<u8>> {
        match self {
            Encoding::Hex => hex_decode(s),
            Encoding::Base64 => b64_decode(s),
        }
    }

    pub(crate) fn encode(self, bytes: &[u8]) -> String {
        match self {
            Encoding::Hex => hex::encode(bytes),
            Encoding::Base64 => b64_encode(bytes),
        }
    }
}

/// How a signed timestamp is written.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum TimestampFormat {
    /// Decimal Unix seconds (Stripe, Slack, Standard Webhooks, …).
    #[default]
    Seconds,
    /// Decimal Unix milliseconds (HubSpot v3).
    Millis,
    /// RFC 3339 text (Zendesk, Twitch), signed exactly as sent.
    Rfc3339,
}

impl TimestampFormat {
    /// `seconds`, `milliseconds` or `rfc3339`.
    pub fn parse(s: &str) -> Option<Self> {
        match s.to_ascii_lowercase().as_str() {
            "seconds" => Some(Self::Seconds),
            "milliseconds" => Some(Self::Millis),
            "rfc3339" => Some(Self::Rfc3339),
            _ => None,
        }
    }

    /// Unix seconds from the header text.
    fn read(self, text: &str, header: &str) -> Result<i64, VerifyError> {
        match self {
            Self::Seconds => parse_timestamp(text, header),
            Self::Millis => parse_timestamp(text, header).map(|ms| ms.div_euclid(1000)),
            Self::Rfc3339 => {
                use time::format_description::well_known::Rfc3339;
                if text.len() > 64 {
                    return Err(malformed(header, "timestamp is not RFC 3339"));
                }
                time::OffsetDateTime::parse(text, &Rfc3339)
                    .map(|t| t.unix_timestamp())
                    .map_err(|_| malformed(header, "timestamp is not RFC 3339"))
            }
        }
    }

    /// The text a sender puts in the header for `unix` seconds.
    fn write(self, unix: i64) -> String {
        match self {
            Self::Seconds => unix.to_string(),
            Self::Millis => unix.saturating_mul(1000).to_string(),
            Self::Rfc3339 => {
                use time::format_description::well_known::Rfc3339;
                time::OffsetDateTime::from_unix_timestamp(unix)
                    .ok()
                    .and_then(|t| t.format(&Rfc3339).ok())
                    .unwrap_or_default()
            }
        }
    }
}

/// A signature header made of `key=value` pairs (`t=1492774577,v1=5257a8…`,
/// `ts=1671552777;h1=eb4d…`): the signatures are the `signature_key` values, the timestamp
/// the `timestamp_key` one.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Pairs {
    /// The key of the timestamp pair (`t`).
    pub timestamp_key: String,
    /// The key of the signature pair (`v1`); several may be present.
    pub signature_key: String,
    /// What a signer puts between pairs (`,` or `;`); a verifier accepts either.
    pub separator: char,
}

/// One piece of the signed-content template.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Part {
    /// Text signed as is.
    Literal(String),
    /// The raw body.
    Body,
    /// The signed timestamp as it was sent.
    Timestamp,
    /// A header's value.
    Header(String),
    /// The public URL the provider calls, from configuration (never the request's Host).
    Url,
}

#[derive(Debug, Clone, PartialEq, Eq)]
/// A configurable HMAC scheme: for providers without a preset.
pub struct HmacSpec {
    /// The header carrying the signature.
    pub header: String,
    /// The HMAC's hash.
    pub algorithm: HmacAlgorithm,
    /// How the signature is written.
    pub encoding: Encoding,
    /// Text before the signature (`sha256=`); stripped before comparing.
    pub prefix: String,
    /// The header carrying the signed timestamp, if any.
    pub timestamp_header: Option<String>,
    /// How that timestamp is written.
    pub timestamp_format: TimestampFormat,
    /// The header is `key=value` pairs; the timestamp is one of them.
    pub pairs: Option<Pairs>,
    /// What is signed; build it with [`HmacSpec::parse_template`].
    pub template: Vec<Part>,
    /// What `{url}` renders: the provider's `public_url`.
    pub url: Option<String>,
    /// A timestamp the provider signs inside the body (Linear's `webhookTimestamp`), checked
    /// against the tolerance once the signature matches. Missing is refused.
    pub body_timestamp: Option<BodyTimestamp>,
}

/// A signed timestamp carried in the JSON body: a top-level member and its format.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BodyTimestamp {
    /// The top-level member's name (`webhookTimestamp`).
    pub member: String,
    /// How it is written.
    pub format: TimestampFormat,
}

impl BodyTimestamp {
    /// Unix seconds from the body, once its signature is known to be good: the body is
    /// parsed only then. Missing, or not a number or text in the format, is refused.
    fn read(&self, body: &[u8]) -> Result<i64, VerifyError> {
        let missing = || VerifyError::MissingTimestamp(format!("body member {:?}", self.member));
        let json: serde_json::Value = serde_json::from_slice(body).map_err(|_| {
            VerifyError::MalformedBody(
                "the body is not JSON, so its signed timestamp cannot be read",
            )
        })?;
        let text = match json.get(&self.member) {
            Some(serde_json::Value::Number(n)) => n.to_string(),
            Some(serde_json::Value::String(s)) => s.clone(),
            _ => return Err(missing()),
        };
        self.format.read(&text, &self.member)
    }

    /// `body` with the member set to `unix` (for `inlet send` and tests): a JSON object's
    /// member replaced or added; any other body is left alone.
    pub(crate) fn stamp(&self, body: &[u8], unix: i64) -> Vec<u8> {
        let Ok(serde_json::Value::Object(mut map)) = serde_json::from_slice(body) else {
            return body.to_vec();
        };
        let value = match self.format {
            TimestampFormat::Seconds => serde_json::Value::from(unix),
            TimestampFormat::Millis => serde_json::Value::from(unix.saturating_mul(1000)),
            TimestampFormat::Rfc3339 => serde_json::Value::from(self.format.write(unix)),
        };
        map.insert(self.member.clone(), value);
        serde_json::to_vec(&map).unwrap_or_else(|_| body.to_vec())
    }
}

impl Default for HmacSpec {
    /// HMAC-SHA256, hex, of the body alone, in `x-signature`: each preset changes what differs.
    fn default() -> Self {
        Self {
            header: "x-signature".into(),
            algorithm: HmacAlgorithm::Sha256,
            encoding: Encoding::Hex,
            prefix: String::new(),
            timestamp_header: None,
            timestamp_format: TimestampFormat::Seconds,
            pairs: None,
            template: vec![Part::Body],
            url: None,
            body_timestamp: None,
        }
    }
}

impl HmacSpec {
    /// GitHub: `X-Hub-Signature-256: sha256=<hex HMAC-SHA256 of the body>`.
    pub fn github() -> Self {
        Self {
            header: "x-hub-signature-256".into(),
            algorithm: HmacAlgorithm::Sha256,
            encoding: Encoding::Hex,
            prefix: "sha256=".into(),
            ..Self::default()
        }
    }

    /// Shopify: `X-Shopify-Hmac-Sha256: <base64 HMAC-SHA256 of the body>`.
    pub fn shopify() -> Self {
        Self {
            header: "x-shopify-hmac-sha256".into(),
            algorithm: HmacAlgorithm::Sha256,
            encoding: Encoding::Base64,
            ..Self::default()
        }
    }

    /// Slack: `X-Slack-Signature: v0=<hex HMAC-SHA256 of "v0:{ts}:{body}">`.
    pub fn slack() -> Self {
        Self {
            header: "x-slack-signature".into(),
            algorithm: HmacAlgorithm::Sha256,
            encoding: Encoding::Hex,
            prefix: "v0=".into(),
            timestamp_header: Some("x-slack-request-timestamp".into()),
            template: vec![
                Part::Literal("v0:".into()),
                Part::Timestamp,
                Part::Literal(":".into()),
                Part::Body,
            ],
            ..Self::default()
        }
    }

    /// Whether the spec signs a timestamp (and so has a tolerance).
    pub fn has_timestamp(&self) -> bool {
        self.timestamp_header.is_some() || self.pairs.is_some() || self.body_timestamp.is_some()
    }

    /// Parse a template such as `{timestamp}.{body}`. Unknown placeholders are an error, so
    /// a typo is caught by `inlet check`.
    pub fn parse_template(template: &str) -> Result<Vec<Part>, String> {
        let mut parts = Vec::new();
        let mut rest = template;
        while let Some(open) = rest.find('{') {
            if open > 0 {
                parts.push(Part::Literal(rest[..open].to_string()));
            }
            let after = &rest[open + 1..];
            let close = after
                .find('}')
                .ok_or_else(|| format!("unclosed '{{' in template {template:?}"))?;
            let name = &after[..close];
            parts.push(match name {
                "body" => Part::Body,
                "timestamp" => Part::Timestamp,
                "url" => Part::Url,
                _ => match name.strip_prefix("header:") {
                    Some(h) if !h.is_empty() => Part::Header(h.to_ascii_lowercase()),
                    _ => {
                        return Err(format!(
                            "unknown placeholder {{{name}}}; use {{body}}, {{timestamp}}, {{url}} or {{header:Name}}"
                        ))
                    }
                },
            });
            rest = &after[close + 1..];
        }
        if !rest.is_empty() {
            parts.push(Part::Literal(rest.to_string()));
        }
        if !parts.contains(&Part::Body) {
            return Err("the template must include {body}".to_string());
        }
        Ok(parts)
    }

    fn render(
        &self,
        body: &[u8],
        ts: Option<&str>,
        headers: &crate::headers::Headers,
    ) -> Result<Vec<u8>, VerifyError> {
        render(&self.template, body, ts, headers, self.url.as_deref())
    }

    pub(crate) fn decode(&self, s: &str) -> Option<Vec<u8>> {
        self.encoding.decode(s)
    }

    pub(crate) fn encode(&self, bytes: &[u8]) -> String {
        self.encoding.encode(bytes)
    }
}

/// The signatures in the header and the timestamp's text, wherever the spec carries it.
fn read_header<'h>(
    spec: &HmacSpec,
    req: &'h VerifyRequest<'_>,
) -> Result<(Vec<&'h str>, Option<&'h str>), VerifyError> {
    let header = required(req.headers, &spec.header)?;
    if let Some(pairs) = &spec.pairs {
        let mut signatures = Vec::new();
        let mut timestamp = None;
        for (key, value) in header
            .split([',', ';'])
            .filter_map(|item| item.trim().split_once('='))
        {
            if key == pairs.signature_key {
                signatures.push(value);
            } else if key == pairs.timestamp_key {
                timestamp = Some(value);
            }
        }
        let timestamp = timestamp.ok_or_else(|| malformed(&spec.header, "no timestamp pair"))?;
        return Ok((signatures, Some(timestamp)));
    }
    let signatures = header
        .split([',', ' '])
        // Tokens are trimmed, so the prefix is too: whitespace at its ends cannot survive a
        // header anyway (found by the verify fuzz target with a prefix of newlines).
        .filter_map(|token| token.trim().strip_prefix(spec.prefix.trim()))
        .collect();
    let timestamp = match &spec.timestamp_header {
        Some(name) => Some(required(req.headers, name)?),
        None => None,
    };
    Ok((signatures, timestamp))
}

/// The signed content: the template's parts in order.
pub(crate) fn render(
    template: &[Part],
    body: &[u8],
    ts: Option<&str>,
    headers: &crate::headers::Headers,
    url: Option<&str>,
) -> Result<Vec<u8>, VerifyError> {
    let mut out = Vec::with_capacity(body.len() + 64);
    for part in template {
        match part {
            Part::Literal(s) => out.extend_from_slice(s.as_bytes()),
            Part::Body => out.extend_from_slice(body),
            Part::Timestamp => out.extend_from_slice(ts.unwrap_or_default().as_bytes()),
            Part::Header(h) => out.extend_from_slice(required(headers, h)?.as_bytes()),
            Part::Url => out.extend_from_slice(url.unwrap_or_default().as_bytes()),
        }
    }
    Ok(out)
}

pub(crate) fn verify(spec: &HmacSpec, req: &VerifyRequest<'_>) -> Result<Verified, VerifyError> {
    let (tokens, timestamp_text) = read_header(spec, req)?;
    let timestamp = match timestamp_text {
        Some(text) => {
            let name = spec.timestamp_header.as_deref().unwrap_or(&spec.header);
            let ts = spec.timestamp_format.read(text, name)?;
            check_timestamp(ts, req.now, req.tolerance_secs)?;
            Some(ts)
        }
        None => None,
    };
    let signatures: Vec<Vec<u8>> = tokens.iter().filter_map(|sig| spec.decode(sig)).collect();
    if signatures.is_empty() {
        let reason = if spec.prefix.is_empty() {
            "no decodable signature"
        } else {
            "no signature with the expected prefix"
        };
        return Err(malformed(&spec.header, reason));
    }
    let content = spec.render(req.body, timestamp_text, req.headers)?;
    let secret_index = req
        .secrets
        .iter()
        .position(|secret| {
            let expected = hmac(spec.algorithm, secret.expose().as_bytes(), &[&content]);
            signatures.iter().any(|s| ct_eq(s, &expected))
        })
        .ok_or(VerifyError::Mismatch)?;
    // A timestamp inside the body is read only once the body is known to be the
    // provider's: nothing unverified is parsed.
    let timestamp = match &spec.body_timestamp {
        Some(member) => {
            let ts = member.read(req.body)?;
            check_timestamp(ts, req.now, req.tolerance_secs)?;
            Some(ts)
        }
        None => timestamp,
    };
    Ok(Verified {
        timestamp,
        secret_index,
    })
}

pub(crate) fn sign(
    spec: &HmacSpec,
    req: &SignRequest<'_>,
) -> Result<Vec<(String, String)>, SignError> {
    let ts = spec.timestamp_format.write(req.timestamp);
    let mut headers = crate::headers::Headers::new();
    let mut out = Vec::new();
    if let Some(name) = &spec.timestamp_header {
        headers.insert(name, ts.clone());
        out.push((name.clone(), ts.clone()));
    }
    // A header the template names (a message id, as Twitch's) carries the request's id.
    for part in &spec.template {
        if let Part::Header(name) = part {
            if headers.get_str(name).ok().flatten().is_none() {
                headers.insert(name, req.id.to_string());
                out.push((name.clone(), req.id.to_string()));
            }
        }
    }
    let content = spec
        .render(req.body, Some(&ts), &headers)
        .map_err(|e| SignError::Unsupported(e.to_string()))?;
    let mac = spec.encode(&hmac(
        spec.algorithm,
        req.secret.expose().as_bytes(),
        &[&content],
    ));
    let value = match &spec.pairs {
        Some(p) => format!(
            "{}={ts}{}{}={}{mac}",
            p.timestamp_key, p.separator, p.signature_key, spec.prefix
        ),
        None => format!("{}{mac}", spec.prefix),
    };
    out.insert(0, (spec.header.clone(), value));
    Ok(out)
}
