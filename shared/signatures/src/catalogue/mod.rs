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

pub use conventions::{Conventions, Field, Found, RecordKey};
pub use rows::PRESETS;

use crate::handshake::Handshake;
use crate::signature::{
    BodyScheme, BodyTimestamp, CertScheme, Encoding, HmacAlgorithm, HmacSpec, KeyAlgorithm,
    KeySpec, Pairs, Scheme, TimestampFormat,
};

/// One provider preset.
#[derive(Debug)]
pub struct Preset {
    /// What `scheme = "…"` names.
    pub name: &'static str,
    /// The provider, as people call it.
    pub title: &'static str,
    /// How requests are verified.
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
    /// How far a signed timestamp may be from now, unless the provider's `tolerance_secs`
    /// says otherwise (only read where the scheme signs one).
    pub tolerance: Tolerance,
}

/// A preset's default timestamp tolerance, and where the number comes from.
#[derive(Debug, Clone, Copy)]
pub struct Tolerance {
    /// Seconds in both directions.
    pub secs: u64,
    /// The provider's SDK or documentation that sets it; empty for Inlet's default (300 s,
    /// what Stripe's, Svix's, Slack's and Standard Webhooks' libraries enforce).
    pub source: &'static str,
}

impl Tolerance {
    /// 300 s: Inlet's default, where the provider sets none.
    pub const DEFAULT: Tolerance = Tolerance {
        secs: crate::signature::DEFAULT_TOLERANCE_SECS,
        source: "",
    };

    /// The tolerance the provider's own SDK or documentation enforces.
    pub const fn sdk(secs: u64, source: &'static str) -> Tolerance {
        Tolerance { secs, source }
    }
}

/// What keeps a captured request from becoming a second event (`inlet providers`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ReplayProtection {
    /// A signed timestamp, refused outside the tolerance; within it the key is signed too.
    SignedTimestamp {
        /// Whether the event's key comes from signed material.
        signed_key: bool,
    },
    /// No timestamp, but the key comes from signed material: a replay is a duplicate for as
    /// long as the ledger keeps the key.
    SignedKey,
    /// The key comes from an unsigned header: the signed body's hash is claimed beside it,
    /// so the same body under another id is refused as a replay (for the ledger's retention).
    BodyHash {
        /// Whether a signed timestamp also bounds the replay.
        timestamp: bool,
    },
    /// Nothing signs the request (a shared token, basic auth, an id to fetch): whoever holds
    /// a captured request can send it again, changed. Use HTTPS end to end.
    None,
}

/// How a preset's requests are verified.
#[derive(Debug)]
pub enum Verify {
    /// A scheme with its own module and normalization (Stripe, GitHub, Svix, …).
    Builtin(fn() -> Scheme),
    /// A scheme that signs the URL the provider calls (Twilio, Square).
    UrlSigned(fn(String) -> Scheme),
    /// An HMAC-family preset given by constants.
    Hmac(HmacRow),
    /// A public-key preset given by constants.
    Key(KeyRow),
    /// A shared token in a header: the provider's fixed one, or one the user names (`header`).
    Token(Option<&'static str>),
    /// HTTP basic auth with a `user:password` secret.
    Basic,
    /// The signature, or the shared secret, travels inside the body.
    Body(BodyScheme),
    /// Signed with the provider's X.509 certificate, fetched from its own host.
    Certificate(CertScheme),
    /// Nothing to verify: the provider sends an id to fetch.
    Unsigned,
}

/// An HMAC-family preset, as constants.
#[derive(Debug, Clone, Copy)]
pub struct HmacRow {
    /// The header carrying the signature.
    pub header: &'static str,
    /// The HMAC's hash.
    pub algorithm: HmacAlgorithm,
    /// How the signature is written.
    pub encoding: Encoding,
    /// Text before the signature in the header (`sha256=`).
    pub prefix: &'static str,
    /// The header carrying the signed timestamp, if any.
    pub timestamp_header: Option<&'static str>,
    /// How that timestamp is written.
    pub timestamp_format: TimestampFormat,
    /// `(timestamp key, signature key, separator)` when the header is `k=v` pairs.
    pub pairs: Option<(&'static str, &'static str, char)>,
    /// `{body}`, `{timestamp}`, `{url}`, `{header:Name}` and literals.
    pub template: &'static str,
    /// A signed timestamp inside the JSON body: `(top-level member, format)`.
    pub body_timestamp: Option<(&'static str, TimestampFormat)>,
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
            body_timestamp: None,
        }
    }

    /// The signed timestamp is `member` of the JSON body.
    pub const fn body_timestamp(self, member: &'static str, format: TimestampFormat) -> Self {
        Self {
            body_timestamp: Some((member, format)),
            ..self
        }
    }

    /// The signature is base64, not hex.
    pub const fn base64(self) -> Self {
        Self {
            encoding: Encoding::Base64,
            ..self
        }
    }

    /// HMAC-SHA1 instead of SHA-256.
    pub const fn sha1(self) -> Self {
        Self {
            algorithm: HmacAlgorithm::Sha1,
            ..self
        }
    }

    /// Text before the signature in the header.
    pub const fn prefix(self, prefix: &'static str) -> Self {
        Self { prefix, ..self }
    }

    /// A signed timestamp in `header`.
    pub const fn timestamp(self, header: &'static str, format: TimestampFormat) -> Self {
        Self {
            timestamp_header: Some(header),
            timestamp_format: format,
            ..self
        }
    }

    /// The header is `k=v` pairs: the timestamp's key, the signature's key and the separator.
    pub const fn pairs(self, timestamp: &'static str, signature: &'static str, sep: char) -> Self {
        Self {
            pairs: Some((timestamp, signature, sep)),
            ..self
        }
    }

    /// What is signed, as a template (`{timestamp}.{body}`).
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
    /// The header carrying the signature.
    pub header: &'static str,
    /// The signature algorithm.
    pub algorithm: KeyAlgorithm,
    /// How the signature is written.
    pub encoding: Encoding,
    /// The header carrying the signed timestamp, if any.
    pub timestamp_header: Option<&'static str>,
    /// What is signed, as a template.
    pub template: &'static str,
}

/// What a provider's config adds to the preset.
#[derive(Debug, Default, Clone, Copy)]
pub struct Settings<'a> {
    /// The URL as entered at the provider, for presets that sign the URL they call.
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

    /// What keeps a captured request from becoming a second event: read off the scheme
    /// (what it signs) and where the key's id comes from — the same facts normalization
    /// and the worker act on.
    pub fn replay_protection(&self) -> ReplayProtection {
        let settings = Settings {
            public_url: self
                .takes_url()
                .then_some("https://inlet.invalid/webhooks/x"),
            header: self.takes_header().then_some("x-inlet-token"),
        };
        let Ok(scheme) = self.scheme(settings) else {
            return ReplayProtection::None;
        };
        if !scheme.signs_body() {
            return ReplayProtection::None;
        }
        let id_header = if self.has_conventions() {
            let c = &self.conventions;
            let per_arrival = c.per_delivery || !c.id_suffix.is_empty();
            c.id.iter().find_map(|f| match f {
                Field::Header(h) if !per_arrival => Some(*h),
                _ => None,
            })
        } else {
            builtin_id_header(&scheme)
        };
        let unsigned_id = id_header.is_some_and(|h| !scheme.signs_header(h));
        match (scheme.has_timestamp(), unsigned_id) {
            (timestamp, true) => ReplayProtection::BodyHash { timestamp },
            (true, false) => ReplayProtection::SignedTimestamp { signed_key: true },
            (false, false) => ReplayProtection::SignedKey,
        }
    }

    /// [`Preset::replay_protection`] in words, with the tolerance where one applies.
    pub fn describe_replay(&self) -> String {
        let tolerance = || {
            let t = self.tolerance;
            if t.source.is_empty() {
                format!("±{} s", t.secs)
            } else {
                format!("±{} s, as {}", t.secs, t.source)
            }
        };
        match self.replay_protection() {
            ReplayProtection::SignedTimestamp { .. } => {
                format!("signed timestamp ({}); signed key", tolerance())
            }
            ReplayProtection::SignedKey => {
                "signed key: a replay is a duplicate for the ledger's retention".into()
            }
            ReplayProtection::BodyHash { timestamp: true } => format!(
                "signed timestamp ({}); key from an unsigned header, so the signed body's hash is claimed beside it (replay refused for the ledger's retention)",
                tolerance()
            ),
            ReplayProtection::BodyHash { timestamp: false } => {
                "key from an unsigned header: the signed body's hash is claimed beside it (replay refused for the ledger's retention)".into()
            }
            ReplayProtection::None => {
                "none: nothing signs the request, so a captured one can be resent, changed".into()
            }
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
                    body_timestamp: row.body_timestamp.map(|(member, format)| BodyTimestamp {
                        member: member.to_string(),
                        format,
                    }),
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

/// Where a built-in scheme reads its event id from a header (its own normalization).
fn builtin_id_header(scheme: &Scheme) -> Option<&'static str> {
    match scheme {
        Scheme::StandardWebhooks => Some("webhook-id"),
        Scheme::Svix => Some("svix-id"),
        Scheme::Github => Some("x-github-delivery"),
        // The key is {resource}/{id}@{updated_at} from the body; the header only without it.
        Scheme::Shopify => None,
        Scheme::Gitlab => Some("idempotency-key"),
        Scheme::Twilio { .. } => Some("i-twilio-idempotency-token"),
        _ => None,
    }
}

/// The preset named `name`.
pub fn preset(name: &str) -> Option<&'static Preset> {
    PRESETS.iter().find(|p| p.name == name)
}

/// The presets as a Markdown table of what verifying each needs: the crate's README.
pub fn verification_table() -> String {
    let mut out = String::from(
        "| preset | provider | verification | timestamp tolerance | needs | handshake |\n|---|---|---|---|---|---|\n",
    );
    for p in PRESETS {
        let tolerance = match p.replay_protection() {
            ReplayProtection::SignedTimestamp { .. }
            | ReplayProtection::BodyHash { timestamp: true } => {
                format!("±{} s", p.tolerance.secs)
            }
            _ => "—".into(),
        };
        out.push_str(&format!(
            "| `{}` | [{}]({}) | {} | {} | {} | {} |\n",
            p.name,
            p.title,
            p.doc,
            p.family(),
            tolerance,
            p.needs().replace('|', "\\|"),
            p.handshake.map_or("—", Handshake::describe),
        ));
    }
    out
}

/// The catalogue as a Markdown table (`docs/providers.md`, `inlet providers --markdown`).
pub fn markdown() -> String {
    let mut out = String::from(
        "| scheme | provider | verification | replay protection | needs | event id | type | entity | version | notes |\n|---|---|---|---|---|---|---|---|---|---|\n",
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
            "| `{}` | [{}]({}) | {} | {} | {} | {} | {} | {} | {} | {} |\n",
            p.name,
            p.title,
            p.doc,
            p.family(),
            p.describe_replay(),
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
