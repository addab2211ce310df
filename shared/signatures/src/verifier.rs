//! [`Verifier`]: a scheme, its secrets, a tolerance and a clock, checking whole requests
//! (handshakes included) — the one object most callers need.

use std::fmt;
use std::sync::Arc;

use crate::catalogue::{self, Settings};
use crate::handshake::{self, Answer, Handshake};
use crate::headers::Headers;
use crate::secret::Secret;
use crate::signature::{
    self, Scheme, Verified, VerifyError, VerifyRequest, DEFAULT_TOLERANCE_SECS,
};

/// The current time in Unix seconds. Replace it in tests with [`Verifier::clock`].
pub type Clock = Arc<dyn Fn() -> i64 + Send + Sync>;

/// Why a [`Verifier`] could not be built. Never contains a secret.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SetupError {
    /// No preset has this name (see [`PRESETS`](crate::PRESETS)).
    #[error("no preset is named {0:?}")]
    UnknownPreset(String),
    /// The preset needs a setting it was not given, or was given one it does not take.
    #[error("{setting}: {message}")]
    Setting {
        /// `public_url` or `header`.
        setting: &'static str,
        /// What is wrong, in words.
        message: String,
    },
    /// A secret does not have the shape the scheme needs (a Standard Webhooks secret that is
    /// not `whsec_` base64, a public key that is not PEM, …).
    #[error("secret {index}: {message}")]
    Secret {
        /// The secret's position in the list given.
        index: usize,
        /// What is wrong, in words (never the secret).
        message: String,
    },
    /// A scheme that signs needs at least one secret.
    #[error("no secrets: this scheme needs at least one")]
    NoSecrets,
}

/// The raw parts of a request, exactly as received.
#[derive(Debug, Clone, Copy)]
pub struct Request<'a> {
    /// `GET`, `POST`, …
    pub method: &'a str,
    /// The query string without `?`, still percent-encoded (empty when there is none).
    pub query: &'a str,
    /// The headers.
    pub headers: &'a Headers,
    /// The body bytes, unparsed: a signature is over these bytes.
    pub body: &'a [u8],
}

/// What a request turned out to be.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Checked {
    /// The provider checking the endpoint (a challenge, a ping): send this answer back and
    /// do not process the request as an event.
    Handshake(Answer),
    /// A verified event.
    Event(Verified),
}

/// Verifies requests under one scheme with one or more active secrets.
///
/// Several secrets verify during a rotation: a request signed with any of them passes, and
/// [`Verified::secret_index`] says which one matched, so you can see when the old one is no
/// longer used.
///
/// ```
/// use inlet_signatures::{sign, Headers, Secret, SignRequest, Verifier};
///
/// let verifier = Verifier::preset("github", Default::default(), ["old-secret", "new-secret"])?;
/// # let body = br#"{"zen":"Design for failure."}"#;
/// # let signed = sign(verifier.scheme(), &SignRequest {
/// #     body, secret: &Secret::new("new-secret"), timestamp: 0, id: "" })?;
/// # let mut headers = Headers::new();
/// # for (name, value) in signed { headers.insert(&name, value); }
/// let verified = verifier.verify(&headers, body)?;
/// assert_eq!(verified.secret_index, 1);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Clone)]
pub struct Verifier {
    scheme: Scheme,
    secrets: Vec<Secret>,
    tolerance_secs: u64,
    clock: Clock,
    handshake: Option<Handshake>,
    verify_token: Option<Secret>,
}

impl fmt::Debug for Verifier {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Verifier")
            .field("scheme", &self.scheme.name())
            .field("secrets", &self.secrets.len())
            .field("tolerance_secs", &self.tolerance_secs)
            .field("handshake", &self.handshake)
            .finish_non_exhaustive()
    }
}

impl Verifier {
    /// A verifier for `scheme` (a preset's, or one you built, such as a
    /// [`HmacSpec`](crate::HmacSpec)) with the given secrets, the default tolerance of 300 s
    /// and the system clock. Each secret is checked for the shape the scheme needs.
    pub fn new<S: Into<String>>(
        scheme: Scheme,
        secrets: impl IntoIterator<Item = S>,
    ) -> Result<Self, SetupError> {
        let secrets: Vec<Secret> = secrets.into_iter().map(|s| Secret::new(s)).collect();
        if secrets.is_empty() && scheme != Scheme::Unsigned {
            return Err(SetupError::NoSecrets);
        }
        for (index, secret) in secrets.iter().enumerate() {
            scheme
                .check_secret(secret)
                .map_err(|message| SetupError::Secret { index, message })?;
        }
        Ok(Self {
            scheme,
            secrets,
            tolerance_secs: DEFAULT_TOLERANCE_SECS,
            clock: Arc::new(system_now),
            handshake: None,
            verify_token: None,
        })
    }

    /// A verifier for the preset named `name` (see [`PRESETS`](crate::PRESETS)): its scheme,
    /// its timestamp tolerance and its handshake. `settings` carries what some presets need
    /// (the public URL for URL-signing ones, the header for token ones).
    pub fn preset<S: Into<String>>(
        name: &str,
        settings: Settings<'_>,
        secrets: impl IntoIterator<Item = S>,
    ) -> Result<Self, SetupError> {
        let preset =
            catalogue::preset(name).ok_or_else(|| SetupError::UnknownPreset(name.to_string()))?;
        let scheme = preset
            .scheme(settings)
            .map_err(|(setting, message)| SetupError::Setting { setting, message })?;
        let mut verifier = Self::new(scheme, secrets)?;
        verifier.tolerance_secs = preset.tolerance.secs;
        verifier.handshake = preset.handshake;
        Ok(verifier)
    }

    /// How far a signed timestamp may be from now, in both directions.
    pub fn tolerance_secs(mut self, secs: u64) -> Self {
        self.tolerance_secs = secs;
        self
    }

    /// Where "now" comes from (Unix seconds); the system clock unless set.
    pub fn clock(mut self, clock: impl Fn() -> i64 + Send + Sync + 'static) -> Self {
        self.clock = Arc::new(clock);
        self
    }

    /// The token Meta's `hub.challenge` handshake must present (`hub.verify_token`).
    pub fn verify_token(mut self, token: impl Into<String>) -> Self {
        self.verify_token = Some(Secret::new(token));
        self
    }

    /// The scheme requests are verified under.
    pub fn scheme(&self) -> &Scheme {
        &self.scheme
    }

    /// Verify a request's signature at the clock's now. Handshakes are not answered here:
    /// use [`Verifier::check`] for an endpoint a provider also checks.
    ///
    /// Certificate schemes (Amazon SNS, PayPal) return
    /// [`VerifyError::CertificateRequired`]: fetch the certificate from
    /// [`Verifier::certificate_url`] and call [`Verifier::verify_with_certificate`].
    pub fn verify(&self, headers: &Headers, body: &[u8]) -> Result<Verified, VerifyError> {
        signature::verify(&self.scheme, &self.request(headers, body))
    }

    /// For a certificate scheme, the URL of the certificate that signed this request,
    /// checked to be on the provider's own host; `None` for every other scheme.
    pub fn certificate_url(
        &self,
        headers: &Headers,
        body: &[u8],
    ) -> Option<Result<String, VerifyError>> {
        signature::certificate_url(&self.scheme, &self.request(headers, body))
    }

    /// Verify with the certificate (PEM) fetched from [`Verifier::certificate_url`].
    pub fn verify_with_certificate(
        &self,
        headers: &Headers,
        body: &[u8],
        certificate_pem: &[u8],
    ) -> Result<Verified, VerifyError> {
        signature::verify_with_certificate(
            &self.scheme,
            &self.request(headers, body),
            certificate_pem,
        )
    }

    /// Check a whole request: the provider's unsigned handshake (a GET challenge) is
    /// answered before any signature check; otherwise the signature is verified, and a
    /// signed handshake (Slack's `url_verification`, Zoom's validation, …) is answered.
    /// Anything else that verified is an event.
    pub fn check(&self, req: &Request<'_>) -> Result<Checked, VerifyError> {
        if let Some(answer) = handshake::before_verification(
            self.handshake,
            req.method,
            req.query,
            req.headers,
            self.verify_token.as_ref(),
        ) {
            return Ok(Checked::Handshake(answer));
        }
        let verified = self.verify(req.headers, req.body)?;
        let secret = self.secrets.get(verified.secret_index);
        Ok(
            match handshake::after_verification(self.handshake, req.headers, req.body, secret) {
                Some(answer) => Checked::Handshake(answer),
                None => Checked::Event(verified),
            },
        )
    }

    fn request<'a>(&'a self, headers: &'a Headers, body: &'a [u8]) -> VerifyRequest<'a> {
        VerifyRequest {
            body,
            headers,
            secrets: &self.secrets,
            now: (self.clock)(),
            tolerance_secs: self.tolerance_secs,
        }
    }
}

fn system_now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::signature::{sign, SignRequest};

    const NOW: i64 = 1_800_000_000;

    fn signed(scheme: &Scheme, secret: &str, body: &[u8], at: i64) -> Headers {
        let mut headers = Headers::new();
        let pairs = sign(
            scheme,
            &SignRequest {
                body,
                secret: &Secret::new(secret),
                timestamp: at,
                id: "msg_1",
            },
        )
        .unwrap();
        for (name, value) in pairs {
            headers.insert(&name, value);
        }
        headers
    }

    #[test]
    fn a_preset_verifies_with_any_active_secret_under_its_clock() {
        let v = Verifier::preset("stripe", Settings::default(), ["whsec_old", "whsec_new"])
            .unwrap()
            .clock(|| NOW);
        let body = br#"{"id":"evt_1"}"#;
        let h = signed(v.scheme(), "whsec_new", body, NOW - 10);
        assert_eq!(v.verify(&h, body).unwrap().secret_index, 1);
        assert_eq!(v.verify(&h, b"{}"), Err(VerifyError::Mismatch));
        let late = v.clone().clock(|| NOW + 400);
        assert!(matches!(
            late.verify(&h, body),
            Err(VerifyError::TimestampTooOld { .. })
        ));
        let wider = late.tolerance_secs(600);
        assert!(wider.verify(&h, body).is_ok());
    }

    #[test]
    fn setup_refuses_unknown_presets_missing_settings_and_misshapen_secrets() {
        let err = |r: Result<Verifier, SetupError>| r.unwrap_err();
        assert_eq!(
            err(Verifier::preset("nope", Settings::default(), ["s"])),
            SetupError::UnknownPreset("nope".into())
        );
        assert!(matches!(
            err(Verifier::preset("twilio", Settings::default(), ["s"])),
            SetupError::Setting {
                setting: "public_url",
                ..
            }
        ));
        assert!(matches!(
            err(Verifier::preset(
                "standard-webhooks",
                Settings::default(),
                ["not base64!"]
            )),
            SetupError::Secret { index: 0, .. }
        ));
        assert_eq!(
            err(Verifier::preset(
                "github",
                Settings::default(),
                Vec::<String>::new()
            )),
            SetupError::NoSecrets
        );
        // The error never carries the secret.
        let e = err(Verifier::preset(
            "basic-auth",
            Settings::default(),
            ["no-colon-secret"],
        ));
        assert!(!e.to_string().contains("no-colon-secret"), "{e}");
    }

    #[test]
    fn check_answers_handshakes_and_passes_events() {
        let v = Verifier::preset("slack", Settings::default(), ["slack-secret"])
            .unwrap()
            .clock(|| NOW);
        let body = br#"{"type":"url_verification","challenge":"abc123"}"#;
        let h = signed(v.scheme(), "slack-secret", body, NOW);
        let req = Request {
            method: "POST",
            query: "",
            headers: &h,
            body,
        };
        match v.check(&req).unwrap() {
            Checked::Handshake(a) => assert_eq!(a.body, r#"{"challenge":"abc123"}"#),
            other => panic!("{other:?}"),
        }
        // Unsigned, the same challenge is refused: Slack signs its handshake.
        let unsigned = Request {
            headers: &Headers::new(),
            ..req
        };
        assert!(v.check(&unsigned).is_err());
        let event = br#"{"type":"event_callback"}"#;
        let h = signed(v.scheme(), "slack-secret", event, NOW);
        let req = Request {
            method: "POST",
            query: "",
            headers: &h,
            body: event,
        };
        assert!(matches!(v.check(&req), Ok(Checked::Event(_))));

        let meta = Verifier::preset("meta", Settings::default(), ["app-secret"])
            .unwrap()
            .verify_token("vt-1");
        let no_headers = Headers::new();
        let get = |query| Request {
            method: "GET",
            query,
            headers: &no_headers,
            body: b"",
        };
        let ok = meta
            .check(&get(
                "hub.mode=subscribe&hub.verify_token=vt-1&hub.challenge=42",
            ))
            .unwrap();
        assert!(
            matches!(ok, Checked::Handshake(Answer { status: 200, ref body, .. }) if body == "42")
        );
        let bad = meta
            .check(&get(
                "hub.mode=subscribe&hub.verify_token=vt-2&hub.challenge=42",
            ))
            .unwrap();
        assert!(matches!(
            bad,
            Checked::Handshake(Answer { status: 403, .. })
        ));
    }
}
