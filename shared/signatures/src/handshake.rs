//! Handshakes: requests a provider sends to check an endpoint before (or besides) events.
//! They are answered, never enqueued. Where the provider signs the handshake it is answered
//! only after the signature verified; the unsigned ones (a GET challenge, Graph's
//! validation POST) only echo a bounded, printable challenge and touch nothing.
//!
//! - Slack `url_verification` (signed): `{"challenge": …}`.
//! - Zoom `endpoint.url_validation` (signed): `{"plainToken", "encryptedToken"}`, the token's
//!   hex HMAC-SHA256 under the secret that verified the request.
//! - Twitch `webhook_callback_verification` (signed): the challenge as text.
//! - Discord PING (`type` 1, signed): `{"type": 1}`.
//! - Xero intent to receive (signed, no events): 200 with an empty body — a bad signature
//!   already got 401 like any other request.
//! - Meta `hub.challenge` (GET): the challenge, when `hub.verify_token` equals the
//!   provider's configured `verify_token`; 403 otherwise.
//! - Okta one-time verification (GET, `x-okta-verification-challenge`): `{"verification": …}`.
//! - Microsoft Graph (`?validationToken=…`): the token as text.

use serde_json::{json, Value};

use crate::headers::Headers;
use crate::secret::Secret;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
/// A provider's endpoint check, answered instead of processed.
pub enum Handshake {
    /// Slack's signed `url_verification`.
    SlackUrlVerification,
    /// Zoom's signed `endpoint.url_validation`.
    Zoom,
    /// Twitch's signed `webhook_callback_verification`.
    Twitch,
    /// Discord's signed PING.
    Discord,
    /// Xero's signed intent to receive.
    Xero,
    /// Meta's `GET hub.challenge` with the configured verify token.
    Meta,
    /// Okta's one-time `GET` verification.
    Okta,
    /// Microsoft Graph's `validationToken`.
    Graph,
}

impl Handshake {
    /// What is answered, for the provider table.
    pub fn describe(self) -> &'static str {
        match self {
            Handshake::SlackUrlVerification => "url_verification (signed)",
            Handshake::Zoom => "endpoint.url_validation (signed)",
            Handshake::Twitch => "webhook_callback_verification (signed)",
            Handshake::Discord => "PING (signed)",
            Handshake::Xero => "intent to receive (signed; 401 when not)",
            Handshake::Meta => "GET hub.challenge with verify_token",
            Handshake::Okta => "GET one-time verification",
            Handshake::Graph => "validationToken",
        }
    }
}

/// The answer to a handshake.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Answer {
    /// The HTTP status.
    pub status: u16,
    /// The `Content-Type`.
    pub content_type: &'static str,
    /// The body.
    pub body: String,
}

impl Answer {
    fn json(body: Value) -> Self {
        Answer {
            status: 200,
            content_type: "application/json",
            body: body.to_string(),
        }
    }

    fn text(body: String) -> Self {
        Answer {
            status: 200,
            content_type: "text/plain; charset=utf-8",
            body,
        }
    }

    fn refused(status: u16, message: &str) -> Self {
        Answer {
            status,
            content_type: "application/json",
            body: json!({"error": "handshake_refused", "message": message}).to_string(),
        }
    }
}

/// Longest challenge echoed back; providers send tens of characters.
const MAX_CHALLENGE: usize = 1024;

/// A challenge fit to echo: non-empty, bounded, printable ASCII.
fn echoable(s: &str) -> Option<String> {
    (!s.is_empty() && s.len() <= MAX_CHALLENGE && s.bytes().all(|b| b.is_ascii_graphic()))
        .then(|| s.to_string())
}

/// The decoded value of `name` in a query string.
fn query_value(query: &str, name: &str) -> Option<String> {
    query.split('&').find_map(|pair| {
        let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
        let decode = |s: &str| crate::signature::form_component(s.as_bytes());
        (decode(k)? == name).then(|| decode(v)).flatten()
    })
}

/// What an unsigned request (any GET, Graph's validation) gets: an answer when it is the
/// provider's handshake, `None` when it is not one (a GET is then 405, a POST goes on to
/// verification).
pub fn before_verification(
    handshake: Option<Handshake>,
    method: &str,
    query: &str,
    headers: &Headers,
    verify_token: Option<&Secret>,
) -> Option<Answer> {
    match handshake? {
        Handshake::Meta if method == "GET" => {
            let mode = query_value(query, "hub.mode");
            let token = query_value(query, "hub.verify_token").unwrap_or_default();
            let expected = verify_token.map(|t| t.expose()).unwrap_or_default();
            let token_ok = !expected.is_empty()
                && crate::secret::constant_time_eq(token.as_bytes(), expected.as_bytes());
            Some(
                match (
                    mode.as_deref(),
                    token_ok,
                    query_value(query, "hub.challenge"),
                ) {
                    (Some("subscribe"), true, Some(c)) => match echoable(&c) {
                        Some(c) => Answer::text(c),
                        None => {
                            Answer::refused(400, "hub.challenge is not a short printable value")
                        }
                    },
                    _ => Answer::refused(
                        403,
                        "hub.verify_token does not match the configured verify_token",
                    ),
                },
            )
        }
        Handshake::Okta if method == "GET" => {
            let challenge = headers.text("x-okta-verification-challenge")?;
            Some(match echoable(challenge) {
                Some(c) => Answer::json(json!({ "verification": c })),
                None => Answer::refused(
                    400,
                    "the verification challenge is not a short printable value",
                ),
            })
        }
        Handshake::Graph => {
            let token = query_value(query, "validationToken")?;
            // Graph's tokens are opaque text; echo them only if short and printable (space allowed).
            let ok = !token.is_empty()
                && token.len() <= MAX_CHALLENGE
                && token.bytes().all(|b| b == b' ' || b.is_ascii_graphic());
            Some(if ok {
                Answer::text(token)
            } else {
                Answer::refused(400, "validationToken is not a short printable value")
            })
        }
        _ => None,
    }
}

/// What a verified request gets when it is the provider's handshake (answered, not
/// enqueued); `None` for an event.
pub fn after_verification(
    handshake: Option<Handshake>,
    headers: &Headers,
    body: &[u8],
    secret: Option<&Secret>,
) -> Option<Answer> {
    let handshake = handshake?;
    if handshake == Handshake::Twitch {
        if headers.text("twitch-eventsub-message-type")? != "webhook_callback_verification" {
            return None;
        }
        let v: Value = serde_json::from_slice(body).ok()?;
        return Some(
            match v
                .get("challenge")
                .and_then(Value::as_str)
                .and_then(echoable)
            {
                Some(c) => Answer::text(c),
                None => Answer::refused(400, "the challenge is not a short printable value"),
            },
        );
    }
    let v: Value = serde_json::from_slice(body).ok()?;
    match handshake {
        Handshake::SlackUrlVerification => {
            if v.get("type")?.as_str()? != "url_verification" {
                return None;
            }
            Some(Answer::json(
                json!({ "challenge": v.get("challenge")?.as_str()? }),
            ))
        }
        Handshake::Zoom => {
            if v.get("event")?.as_str()? != "endpoint.url_validation" {
                return None;
            }
            let plain = v.pointer("/payload/plainToken")?.as_str()?;
            let Some(plain) = echoable(plain) else {
                return Some(Answer::refused(
                    400,
                    "plainToken is not a short printable value",
                ));
            };
            let secret = secret?.expose();
            let encrypted = crate::signature::hmac_sha256_hex(secret.as_bytes(), plain.as_bytes());
            Some(Answer::json(
                json!({ "plainToken": plain, "encryptedToken": encrypted }),
            ))
        }
        Handshake::Discord => {
            (v.get("type")?.as_u64()? == 1).then(|| Answer::json(json!({ "type": 1 })))
        }
        Handshake::Xero => {
            let empty = v.get("events")?.as_array()?.is_empty();
            empty.then(|| Answer {
                status: 200,
                content_type: "text/plain; charset=utf-8",
                body: String::new(),
            })
        }
        Handshake::Twitch | Handshake::Meta | Handshake::Okta | Handshake::Graph => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn meta_echoes_only_with_the_verify_token() {
        let token = Secret::new("s3cret-token");
        let q = "hub.mode=subscribe&hub.challenge=1158201444&hub.verify_token=s3cret-token";
        let a = before_verification(
            Some(Handshake::Meta),
            "GET",
            q,
            &Headers::new(),
            Some(&token),
        )
        .unwrap();
        assert_eq!((a.status, a.body.as_str()), (200, "1158201444"));
        for q in [
            "hub.mode=subscribe&hub.challenge=1&hub.verify_token=wrong",
            "hub.mode=unsubscribe&hub.challenge=1&hub.verify_token=s3cret-token",
            "hub.challenge=1",
            "",
        ] {
            let a = before_verification(
                Some(Handshake::Meta),
                "GET",
                q,
                &Headers::new(),
                Some(&token),
            )
            .unwrap();
            assert_eq!(a.status, 403, "{q}");
        }
        // No verify_token configured: nothing matches, not even an empty one.
        let q = "hub.mode=subscribe&hub.challenge=1&hub.verify_token=";
        assert_eq!(
            before_verification(Some(Handshake::Meta), "GET", q, &Headers::new(), None)
                .unwrap()
                .status,
            403
        );
        // A hostile challenge is not echoed.
        let q = "hub.mode=subscribe&hub.challenge=%3Cscript%3E%0A&hub.verify_token=s3cret-token";
        assert_eq!(
            before_verification(
                Some(Handshake::Meta),
                "GET",
                q,
                &Headers::new(),
                Some(&token)
            )
            .unwrap()
            .status,
            400
        );
        // A POST is an event, verified as usual.
        assert!(before_verification(
            Some(Handshake::Meta),
            "POST",
            q,
            &Headers::new(),
            Some(&token)
        )
        .is_none());
    }

    #[test]
    fn okta_and_graph_echo_their_challenges() {
        let h = Headers::new().with("x-okta-verification-challenge", "X2X8wVpNeEa0lFhLoNWmwQ");
        let a = before_verification(Some(Handshake::Okta), "GET", "", &h, None).unwrap();
        assert_eq!(a.body, r#"{"verification":"X2X8wVpNeEa0lFhLoNWmwQ"}"#);
        assert!(
            before_verification(Some(Handshake::Okta), "GET", "", &Headers::new(), None).is_none()
        );
        let a = before_verification(
            Some(Handshake::Graph),
            "POST",
            "validationToken=Validation%3A+Testing+client+application+reachability",
            &Headers::new(),
            None,
        )
        .unwrap();
        assert_eq!(
            (a.status, a.content_type),
            (200, "text/plain; charset=utf-8")
        );
        assert_eq!(
            a.body,
            "Validation: Testing client application reachability"
        );
        let long = format!("validationToken={}", "a".repeat(2000));
        assert_eq!(
            before_verification(Some(Handshake::Graph), "POST", &long, &Headers::new(), None)
                .unwrap()
                .status,
            400
        );
        // Other providers have no unsigned handshake.
        assert!(
            before_verification(None, "GET", "validationToken=x", &Headers::new(), None).is_none()
        );
    }

    #[test]
    fn signed_handshakes_are_answered_and_events_are_not() {
        // Zoom's documented example: the HMAC-SHA256 of plainToken under the secret token.
        let secret = Secret::new("ZOOM_WEBHOOK_SECRET_TOKEN");
        let body = br#"{"payload":{"plainToken":"qgg8vlvZRS6UYooatFL8Aw"},"event_ts":1654503849680,"event":"endpoint.url_validation"}"#;
        let a = after_verification(Some(Handshake::Zoom), &Headers::new(), body, Some(&secret))
            .unwrap();
        let v: Value = serde_json::from_str(&a.body).unwrap();
        assert_eq!(v["plainToken"], "qgg8vlvZRS6UYooatFL8Aw");
        assert_eq!(
            v["encryptedToken"].as_str().unwrap(),
            crate::signature::hmac_sha256_hex(
                b"ZOOM_WEBHOOK_SECRET_TOKEN",
                b"qgg8vlvZRS6UYooatFL8Aw"
            )
        );
        let h = Headers::new().with(
            "twitch-eventsub-message-type",
            "webhook_callback_verification",
        );
        let a = after_verification(
            Some(Handshake::Twitch),
            &h,
            br#"{"challenge":"pogchamp-kappa-360noscope-vohiyo"}"#,
            None,
        )
        .unwrap();
        assert_eq!(a.body, "pogchamp-kappa-360noscope-vohiyo");
        let notification = Headers::new().with("twitch-eventsub-message-type", "notification");
        assert!(after_verification(
            Some(Handshake::Twitch),
            &notification,
            br#"{"challenge":"x"}"#,
            None
        )
        .is_none());
        let a = after_verification(
            Some(Handshake::Discord),
            &Headers::new(),
            br#"{"type":1,"id":"1"}"#,
            None,
        )
        .unwrap();
        assert_eq!(a.body, r#"{"type":1}"#);
        assert!(after_verification(
            Some(Handshake::Discord),
            &Headers::new(),
            br#"{"type":2}"#,
            None
        )
        .is_none());
        let itr = br#"{"events":[],"firstEventSequence":0,"lastEventSequence":0,"entropy":"S0m3r4Nd0mt3xt"}"#;
        assert_eq!(
            after_verification(Some(Handshake::Xero), &Headers::new(), itr, None)
                .unwrap()
                .status,
            200
        );
        let event = br#"{"events":[{"resourceId":"x"}]}"#;
        assert!(after_verification(Some(Handshake::Xero), &Headers::new(), event, None).is_none());
        let slack = br#"{"type":"url_verification","challenge":"3eZbrw1aBm2rZgRNFdxV2595E9CY3gmdALWMmHkvFXO7tYXAYM8P"}"#;
        let a = after_verification(
            Some(Handshake::SlackUrlVerification),
            &Headers::new(),
            slack,
            None,
        )
        .unwrap();
        assert_eq!(
            a.body,
            r#"{"challenge":"3eZbrw1aBm2rZgRNFdxV2595E9CY3gmdALWMmHkvFXO7tYXAYM8P"}"#
        );
        assert!(after_verification(None, &Headers::new(), slack, None).is_none());
    }
}
