//! The provider catalogue: what `scheme = "…"` can name in a provider's config.
//!
//! A preset is data: how the provider proves a request is theirs (a family from
//! `crate::signature` and its parameters), what the config must add (a public URL, a header
//! name), and where its payload keeps the event id, type, entity and version (the
//! conventions `normalize` applies when the config sets no pointer of its own). A new
//! HMAC-family provider is one row in `rows.rs`; `inlet providers` and `docs/providers.md`
//! are printed from the same rows.

mod conventions;
mod rows;

pub use conventions::{Conventions, Field, Found};
pub use rows::PRESETS;

use crate::handshake::Handshake;
use crate::signature::{
    BodyScheme, CertScheme, Encoding, HmacAlgorithm, HmacSpec, KeyAlgorithm, KeySpec, Pairs,
    Scheme, TimestampFormat,
};

/// One provider preset.
#[derive(Debug)]
pub struct Preset {
    /// What `scheme = "…"` names.
    pub name: &'static str,
    /// The provider, as people call it.
    pub title: &'static str,
    pub verify: Verify,
    /// Where the payload keeps the event's facts.
    pub conventions: Conventions,
    /// The provider's own page on verifying its webhooks.
    pub doc: &'static str,
    /// What a user must know beyond the table (a weaker guarantee, a response the provider
    /// expects), or empty.
    pub note: &'static str,
    /// The endpoint check the provider sends before events, answered by the webhook.
    pub handshake: Option<Handshake>,
}

/// How a preset's requests are verified.
#[derive(Debug)]
pub enum Verify {
    /// A scheme with its own module and normalization (Stripe, GitHub, Svix, …).
    Builtin(fn() -> Scheme),
    /// A scheme that signs the URL the provider calls (Twilio, Square).
    UrlSigned(fn(String) -> Scheme),
    Hmac(HmacRow),
    Key(KeyRow),
    /// A shared token in a header: the provider's fixed one, or one the user names (`header`).
    Token(Option<&'static str>),
    Basic,
    Body(BodyScheme),
    Certificate(CertScheme),
    Unsigned,
}

/// An HMAC-family preset, as constants.
#[derive(Debug, Clone, Copy)]
pub struct HmacRow {
    pub header: &'static str,
    pub algorithm: HmacAlgorithm,
    pub encoding: Encoding,
    pub prefix: &'static str,
    pub timestamp_header: Option<&'static str>,
    pub timestamp_format: TimestampFormat,
    /// `(timestamp key, signature key, separator)` when the header is `k=v` pairs.
    pub pairs: Option<(&'static str, &'static str, char)>,
    /// `{body}`, `{timestamp}`, `{url}`, `{header:Name}` and literals.
    pub template: &'static str,
}

impl HmacRow {
    /// Hex HMAC-SHA256 of the body in `header`; the other builders change what differs.
    pub const fn sha256_hex(header: &'static str) -> Self {
        Self {
            header,
            algorithm: HmacAlgorithm::Sha256,
            encoding: Encoding::Hex,
            prefix: "",
            timestamp_header: None,
            timestamp_format: TimestampFormat::Seconds,
            pairs: None,
            template: "{body}",
        }
    }

    pub const fn base64(self) -> Self {
        Self {
            encoding: Encoding::Base64,
            ..self
        }
    }

    pub const fn sha1(self) -> Self {
        Self {
            algorithm: HmacAlgorithm::Sha1,
            ..self
        }
    }

    pub const fn prefix(self, prefix: &'static str) -> Self {
        Self { prefix, ..self }
    }

    pub const fn timestamp(self, header: &'static str, format: TimestampFormat) -> Self {
        Self {
            timestamp_header: Some(header),
            timestamp_format: format,
            ..self
        }
    }

    pub const fn pairs(self, timestamp: &'static str, signature: &'static str, sep: char) -> Self {
        Self {
            pairs: Some((timestamp, signature, sep)),
            ..self
        }
    }

    pub const fn signs(self, template: &'static str) -> Self {
        Self { template, ..self }
    }

    fn needs_url(&self) -> bool {
        self.template.contains("{url}")
    }
}

/// A public-key preset, as constants.
#[derive(Debug, Clone, Copy)]
pub struct KeyRow {
    pub header: &'static str,
    pub algorithm: KeyAlgorithm,
    pub encoding: Encoding,
    pub timestamp_header: Option<&'static str>,
    pub template: &'static str,
}

/// What a provider's config adds to the preset.
#[derive(Debug, Default, Clone, Copy)]
pub struct Settings<'a> {
    pub public_url: Option<&'a str>,
    /// The token header, for token presets whose header the user names.
    pub header: Option<&'a str>,
}

/// A setting the preset needs, or one it does not take: `(setting, message)`.
pub type SettingError = (&'static str, String);

impl Preset {
    /// The family, as `inlet providers` shows it.
    pub fn family(&self) -> String {
        match &self.verify {
            Verify::Builtin(f) => f().name().to_string(),
            Verify::UrlSigned(_) => "hmac over URL + body".into(),
            Verify::Hmac(row) => {
                let alg = match row.algorithm {
                    HmacAlgorithm::Sha1 => "hmac-sha1",
                    HmacAlgorithm::Sha256 => "hmac-sha256",
                    HmacAlgorithm::Sha512 => "hmac-sha512",
                };
                if row.needs_url() {
                    format!("{alg} over URL + body")
                } else {
                    alg.to_string()
                }
            }
            Verify::Key(row) => row.algorithm.name().to_string(),
            Verify::Token(_) => "shared token".into(),
            Verify::Basic => "basic auth".into(),
            Verify::Body(_) => "signature in the body".into(),
            Verify::Certificate(_) => "rsa with the provider's X.509 certificate".into(),
            Verify::Unsigned => "unsigned (fetch by id)".into(),
        }
    }

    /// What the config needs besides the name, in words.
    pub fn needs(&self) -> &'static str {
        match &self.verify {
            Verify::Builtin(_) | Verify::Hmac(_) if !self.takes_url() => "secrets: the signing secret",
            Verify::Builtin(_) | Verify::Hmac(_) | Verify::UrlSigned(_) => {
                "secrets: the signing secret; public_url: the URL as entered at the provider"
            }
            Verify::Key(_) => "secrets: the provider's public key (a PKCS#8 private key also signs for `inlet send`)",
            Verify::Token(Some(_)) => "secrets: the token",
            Verify::Token(None) => "secrets: the token; header: the header it travels in",
            Verify::Basic => "secrets: \"user:password\"",
            Verify::Body(BodyScheme::Adyen) => "secrets: the HMAC key (hex)",
            Verify::Body(BodyScheme::GraphClientState) => "secrets: the subscription's clientState",
            Verify::Body(BodyScheme::Mailgun) => "secrets: the webhook signing key",
            Verify::Body(BodyScheme::ExactOnline) => "secrets: the app's webhook secret",
            Verify::Certificate(CertScheme::Sns) => "secrets: the topic ARN(s) to accept; confirm_subscription = true to confirm subscriptions",
            Verify::Certificate(CertScheme::Paypal) => "secrets: the webhook id (from the app's webhook settings)",
            Verify::Unsigned => "fetch_url and fetch_token to fetch the object by its id (else the consumer fetches)",
        }
    }

    /// Whether the preset signs the URL it calls (and so needs `public_url`).
    pub fn takes_url(&self) -> bool {
        match &self.verify {
            Verify::UrlSigned(_) => true,
            Verify::Hmac(row) => row.needs_url(),
            _ => false,
        }
    }

    /// Whether `header` names the token header.
    pub fn takes_header(&self) -> bool {
        matches!(self.verify, Verify::Token(_))
    }

    /// Whether normalization follows this preset's conventions (otherwise the scheme's own).
    pub fn has_conventions(&self) -> bool {
        !matches!(self.verify, Verify::Builtin(_) | Verify::UrlSigned(_))
    }

    /// The scheme for this preset with the provider's settings.
    pub fn scheme(&self, settings: Settings<'_>) -> Result<Scheme, SettingError> {
        if settings.public_url.is_some() && !self.takes_url() {
            return Err((
                "public_url",
                format!(
                    "{:?} does not sign the URL; only URL-signing presets take one",
                    self.name
                ),
            ));
        }
        if settings.header.is_some() && !self.takes_header() {
            return Err((
                "header",
                format!(
                    "only applies to scheme = \"hmac\" or a token preset, not {:?}",
                    self.name
                ),
            ));
        }
        let url = || {
            settings.public_url.map(str::to_string).ok_or((
                "public_url",
                format!(
                    "scheme {:?} signs the URL it calls: set public_url to it, exactly as entered in the provider's dashboard",
                    self.name
                ),
            ))
        };
        Ok(match &self.verify {
            Verify::Builtin(f) => f(),
            Verify::UrlSigned(f) => f(url()?),
            Verify::Hmac(row) => {
                let template = HmacSpec::parse_template(row.template).map_err(|e| ("scheme", e))?;
                Scheme::Hmac(HmacSpec {
                    header: row.header.to_ascii_lowercase(),
                    algorithm: row.algorithm,
                    encoding: row.encoding,
                    prefix: row.prefix.to_string(),
                    timestamp_header: row.timestamp_header.map(str::to_ascii_lowercase),
                    timestamp_format: row.timestamp_format,
                    pairs: row.pairs.map(|(t, s, separator)| Pairs {
                        timestamp_key: t.into(),
                        signature_key: s.into(),
                        separator,
                    }),
                    template,
                    url: if row.needs_url() { Some(url()?) } else { None },
                })
            }
            Verify::Key(row) => Scheme::PublicKey(KeySpec {
                header: row.header.to_ascii_lowercase(),
                algorithm: row.algorithm,
                encoding: row.encoding,
                timestamp_header: row.timestamp_header.map(str::to_ascii_lowercase),
                template: HmacSpec::parse_template(row.template).map_err(|e| ("scheme", e))?,
            }),
            Verify::Token(fixed) => {
                let missing = format!(
                    "{:?} sends a token in a header you choose at the provider: name it here",
                    self.name
                );
                let header = settings
                    .header
                    .or(*fixed)
                    .filter(|h| !h.is_empty())
                    .ok_or(("header", missing))?;
                let ok = header.len() <= 128
                    && header
                        .bytes()
                        .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
                if !ok {
                    return Err(("header", format!("{header:?} is not an HTTP header name")));
                }
                Scheme::Token {
                    header: header.to_ascii_lowercase(),
                }
            }
            Verify::Basic => Scheme::BasicAuth,
            Verify::Body(b) => Scheme::Body(*b),
            Verify::Certificate(c) => Scheme::Certificate(*c),
            Verify::Unsigned => Scheme::Unsigned,
        })
    }
}

/// The preset named `name`.
pub fn preset(name: &str) -> Option<&'static Preset> {
    PRESETS.iter().find(|p| p.name == name)
}

/// The catalogue as a Markdown table (`docs/providers.md`, `inlet providers --markdown`).
pub fn markdown() -> String {
    let mut out = String::from(
        "| scheme | provider | verification | needs | event id | type | entity | version | notes |\n|---|---|---|---|---|---|---|---|---|\n",
    );
    for p in PRESETS {
        let c = &p.conventions;
        let facts = if p.has_conventions() {
            [
                c.describe_id(),
                Conventions::describe(c.event_type),
                c.describe_entity(),
                Conventions::describe(c.version),
            ]
        } else {
            [
                "(scheme's own)".into(),
                "(scheme's own)".into(),
                "(scheme's own)".into(),
                "(scheme's own)".into(),
            ]
        };
        let mut note = p.note.replace('|', "\\|");
        if let Some(h) = p.handshake {
            let answered = format!("Handshake answered: {}.", h.describe());
            note = if note.is_empty() {
                answered
            } else {
                format!("{note} {answered}")
            };
        }
        out.push_str(&format!(
            "| `{}` | [{}]({}) | {} | {} | {} | {} | {} | {} | {} |\n",
            p.name,
            p.title,
            p.doc,
            p.family(),
            p.needs(),
            facts[0],
            facts[1],
            facts[2],
            facts[3],
            note
        ));
    }
    out
}

#[cfg(test)]
mod tests;
