//! The configurable HMAC scheme, and the presets built from it (GitHub, Shopify, Slack).
//!
//! A spec names the signature header, the algorithm, the encoding, an optional prefix
//! (`sha256=`, `v0=`), an optional timestamp header, and the signed-content template
//! (`{body}`, `{timestamp}`, `{header:Name}` placeholders). Several signatures in the
//! header may be separated by commas or spaces.

use super::crypto::{b64_decode, b64_encode, ct_eq, hex_decode, hmac};
use super::{
    check_timestamp, malformed, parse_timestamp, required, SignError, SignRequest, Verified,
    VerifyError, VerifyRequest,
};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HmacAlgorithm {
    Sha1,
    Sha256,
    Sha512,
}

impl HmacAlgorithm {
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
pub enum Encoding {
    Hex,
    Base64,
}

impl Encoding {
    pub fn parse(s: &str) -> Option<Self> {
        match s.to_ascii_lowercase().as_str() {
            "hex" => Some(Self::Hex),
            "base64" => Some(Self::Base64),
            _ => None,
        }
    }
}

/// One piece of the signed-content template.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Part {
    Literal(String),
    Body,
    Timestamp,
    Header(String),
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HmacSpec {
    pub header: String,
    pub algorithm: HmacAlgorithm,
    pub encoding: Encoding,
    pub prefix: String,
    pub timestamp_header: Option<String>,
    pub template: Vec<Part>,
}

impl HmacSpec {
    /// GitHub: `X-Hub-Signature-256: sha256=<hex HMAC-SHA256 of the body>`.
    pub fn github() -> Self {
        Self {
            header: "x-hub-signature-256".into(),
            algorithm: HmacAlgorithm::Sha256,
            encoding: Encoding::Hex,
            prefix: "sha256=".into(),
            timestamp_header: None,
            template: vec![Part::Body],
        }
    }

    /// Shopify: `X-Shopify-Hmac-Sha256: <base64 HMAC-SHA256 of the body>`.
    pub fn shopify() -> Self {
        Self {
            header: "x-shopify-hmac-sha256".into(),
            algorithm: HmacAlgorithm::Sha256,
            encoding: Encoding::Base64,
            prefix: String::new(),
            timestamp_header: None,
            template: vec![Part::Body],
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
        }
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
                _ => match name.strip_prefix("header:") {
                    Some(h) if !h.is_empty() => Part::Header(h.to_ascii_lowercase()),
                    _ => {
                        return Err(format!(
                            "unknown placeholder {{{name}}}; use {{body}}, {{timestamp}} or {{header:Name}}"
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
        let mut out = Vec::with_capacity(body.len() + 64);
        for part in &self.template {
            match part {
                Part::Literal(s) => out.extend_from_slice(s.as_bytes()),
                Part::Body => out.extend_from_slice(body),
                Part::Timestamp => out.extend_from_slice(ts.unwrap_or_default().as_bytes()),
                Part::Header(h) => out.extend_from_slice(required(headers, h)?.as_bytes()),
            }
        }
        Ok(out)
    }

    fn decode(&self, s: &str) -> Option<Vec<u8>> {
        match self.encoding {
            Encoding::Hex => hex_decode(s),
            Encoding::Base64 => b64_decode(s),
        }
    }

    fn encode(&self, bytes: &[u8]) -> String {
        match self.encoding {
            Encoding::Hex => hex::encode(bytes),
            Encoding::Base64 => b64_encode(bytes),
        }
    }
}

pub(crate) fn verify(spec: &HmacSpec, req: &VerifyRequest<'_>) -> Result<Verified, VerifyError> {
    let header = required(req.headers, &spec.header)?;
    let timestamp = match &spec.timestamp_header {
        Some(name) => {
            let text = required(req.headers, name)?;
            let ts = parse_timestamp(text, name)?;
            check_timestamp(ts, req.now, req.tolerance_secs)?;
            Some((text, ts))
        }
        None => None,
    };
    let signatures: Vec<Vec<u8>> = header
        .split([',', ' '])
        .filter_map(|token| token.trim().strip_prefix(spec.prefix.as_str()))
        .filter_map(|sig| spec.decode(sig))
        .collect();
    if signatures.is_empty() {
        let reason = if spec.prefix.is_empty() {
            "no decodable signature"
        } else {
            "no signature with the expected prefix"
        };
        return Err(malformed(&spec.header, reason));
    }
    let content = spec.render(req.body, timestamp.map(|(t, _)| t), req.headers)?;
    for (index, secret) in req.secrets.iter().enumerate() {
        let expected = hmac(spec.algorithm, secret.expose().as_bytes(), &[&content]);
        if signatures.iter().any(|s| ct_eq(s, &expected)) {
            return Ok(Verified {
                timestamp: timestamp.map(|(_, ts)| ts),
                secret_index: index,
            });
        }
    }
    Err(VerifyError::Mismatch)
}

pub(crate) fn sign(
    spec: &HmacSpec,
    req: &SignRequest<'_>,
) -> Result<Vec<(String, String)>, SignError> {
    let ts = req.timestamp.to_string();
    let mut headers = crate::headers::Headers::new();
    if let Some(name) = &spec.timestamp_header {
        headers.insert(name, ts.clone());
    }
    // Header placeholders other than the timestamp are the sender's to supply.
    let content = spec.render(req.body, Some(&ts), &headers).map_err(|_| {
        SignError::Unsupported(
            "the signed-content template names a header only the sender knows".into(),
        )
    })?;
    let mac = hmac(spec.algorithm, req.secret.expose().as_bytes(), &[&content]);
    let mut out = vec![(
        spec.header.clone(),
        format!("{}{}", spec.prefix, spec.encode(&mac)),
    )];
    if let Some(name) = &spec.timestamp_header {
        out.push((name.clone(), ts));
    }
    Ok(out)
}
