//! Providers that sign with a key whose X.509 certificate they publish at a URL named in the
//! request: AWS SNS and PayPal. The URL is checked against the provider's host pattern
//! (https only, no port, no user info) *before* anything is fetched; fetching and caching
//! are the caller's (`ports::ProviderHttp`), so this stays pure and tests run offline.
//!
//! - AWS SNS: `SigningCertURL` on `sns.<region>.amazonaws.com` (or `.com.cn`); the string
//!   to sign is `Name\nValue\n` for the message type's fields in AWS's order;
//!   `SignatureVersion` 1 is RSA-SHA1, 2 RSA-SHA256. The configured secrets are the topic
//!   ARNs accepted: anyone can subscribe an endpoint to a topic of their own.
//! - PayPal: `PAYPAL-CERT-URL` on `api(-m)(.sandbox).paypal.com`; RSA-SHA256 over
//!   `transmission_id|transmission_time|webhook_id|crc32(body)`; the secrets are the
//!   webhook ids.
//!
//! What authenticates the certificate is the HTTPS fetch from the provider's own host (as
//! the providers' SDKs do); the certificate's validity period is checked at `now`.

use serde_json::Value;
use sha2::Sha256;
use x509_cert::der::DecodePem as _;

use super::crypto::b64_decode;
use super::{check_timestamp, malformed, required, Verified, VerifyError, VerifyRequest};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
/// Schemes verified with the provider's X.509 certificate.
pub enum CertScheme {
    /// Amazon SNS: the message signed with the certificate at `SigningCertURL` on an `sns.*.amazonaws.com` host.
    Sns,
    /// PayPal: the transmission signed with the certificate at `paypal-cert-url` on a PayPal host.
    Paypal,
}

impl CertScheme {
    /// The scheme's name, for messages.
    pub fn name(self) -> &'static str {
        match self {
            CertScheme::Sns => "aws-sns",
            CertScheme::Paypal => "paypal",
        }
    }

    /// Whether `host` is one the provider serves its certificates from.
    fn allows(self, host: &str) -> bool {
        let labels: Vec<&str> = host.split('.').collect();
        match self {
            // sns.<region>.amazonaws.com, sns.<region>.amazonaws.com.cn
            CertScheme::Sns => {
                let region_ok = |r: &str| {
                    r.len() >= 3
                        && r.bytes()
                            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
                };
                matches!(labels.as_slice(), ["sns", r, "amazonaws", "com"] if region_ok(r))
                    || matches!(labels.as_slice(), ["sns", r, "amazonaws", "com", "cn"] if region_ok(r))
            }
            CertScheme::Paypal => matches!(
                host,
                "api.paypal.com"
                    | "api-m.paypal.com"
                    | "api.sandbox.paypal.com"
                    | "api-m.sandbox.paypal.com"
            ),
        }
    }
}

/// `url` if it is an https URL on the provider's certificate hosts.
pub(crate) fn allowed_url(scheme: CertScheme, url: &str) -> Option<String> {
    let rest = url.strip_prefix("https://")?;
    let host = &rest[..rest.find('/')?];
    let ok = url.len() <= 1024
        && url.bytes().all(|b| b.is_ascii_graphic())
        && !host.contains(['@', ':'])
        && scheme.allows(host);
    ok.then(|| url.to_string())
}

fn json(body: &[u8]) -> Result<Value, VerifyError> {
    serde_json::from_slice(body).map_err(|_| VerifyError::MalformedBody("an SNS message is JSON"))
}

fn field<'v>(v: &'v Value, name: &'static str) -> Result<&'v str, VerifyError> {
    v.get(name)
        .and_then(Value::as_str)
        .ok_or(VerifyError::MalformedBody(
            "an SNS message field is missing",
        ))
}

/// The certificate URL the request names, checked against the provider's hosts.
pub(crate) fn certificate_url(
    scheme: CertScheme,
    req: &VerifyRequest<'_>,
) -> Result<String, VerifyError> {
    match scheme {
        CertScheme::Sns => {
            let v = json(req.body)?;
            allowed_url(scheme, field(&v, "SigningCertURL")?).ok_or(VerifyError::MalformedBody(
                "SigningCertURL is not an https URL on sns.<region>.amazonaws.com",
            ))
        }
        CertScheme::Paypal => {
            const HEADER: &str = "paypal-cert-url";
            allowed_url(scheme, required(req.headers, HEADER)?)
                .ok_or_else(|| malformed(HEADER, "not an https URL on api.paypal.com"))
        }
    }
}

/// SNS's string to sign for the message's type.
fn sns_string_to_sign(v: &Value) -> Result<String, VerifyError> {
    let kind = field(v, "Type")?;
    let names: &[&str] = match kind {
        "Notification" => &[
            "Message",
            "MessageId",
            "Subject",
            "Timestamp",
            "TopicArn",
            "Type",
        ],
        "SubscriptionConfirmation" | "UnsubscribeConfirmation" => &[
            "Message",
            "MessageId",
            "SubscribeURL",
            "Timestamp",
            "Token",
            "TopicArn",
            "Type",
        ],
        _ => return Err(VerifyError::MalformedBody("unknown SNS message Type")),
    };
    let mut out = String::new();
    for name in names {
        match v.get(*name).and_then(Value::as_str) {
            Some(value) => {
                out.push_str(name);
                out.push('\n');
                out.push_str(value);
                out.push('\n');
            }
            // Only a notification's Subject is optional.
            None if *name == "Subject" => {}
            None => {
                return Err(VerifyError::MalformedBody(
                    "an SNS message field is missing",
                ))
            }
        }
    }
    Ok(out)
}

enum Digest {
    Sha1,
    Sha256,
}

/// The certificate's RSA key, if the certificate is valid at `now` (and, where the
/// provider's SDK checks it, issued to the provider's name).
fn certificate_key(
    scheme: CertScheme,
    pem: &[u8],
    now: i64,
) -> Result<rsa::RsaPublicKey, VerifyError> {
    use rsa::pkcs8::DecodePublicKey as _;
    use x509_cert::der::Encode as _;
    const UNUSABLE: VerifyError = VerifyError::MalformedBody("the signing certificate is unusable");
    let cert = x509_cert::Certificate::from_pem(pem).map_err(|_| UNUSABLE)?;
    let validity = &cert.tbs_certificate.validity;
    let secs = |t: &x509_cert::time::Time| {
        i64::try_from(t.to_unix_duration().as_secs()).unwrap_or(i64::MAX)
    };
    if now < secs(&validity.not_before) || now > secs(&validity.not_after) {
        return Err(VerifyError::MalformedBody(
            "the signing certificate is not valid now",
        ));
    }
    // PayPal's SDK accepts only certificates issued to a *.paypal.com name.
    if scheme == CertScheme::Paypal {
        let subject = cert.tbs_certificate.subject.to_string();
        let paypal = subject.split(',').any(|part| {
            part.trim()
                .strip_prefix("CN=")
                .is_some_and(|cn| cn.to_ascii_lowercase().ends_with(".paypal.com"))
        });
        if !paypal {
            return Err(VerifyError::MalformedBody(
                "the signing certificate is not issued to paypal.com",
            ));
        }
    }
    let spki = cert
        .tbs_certificate
        .subject_public_key_info
        .to_der()
        .map_err(|_| UNUSABLE)?;
    rsa::RsaPublicKey::from_public_key_der(&spki).map_err(|_| UNUSABLE)
}

fn rsa_verifies(key: rsa::RsaPublicKey, digest: Digest, message: &[u8], signature: &[u8]) -> bool {
    use rsa::signature::Verifier as _;
    let Ok(sig) = rsa::pkcs1v15::Signature::try_from(signature) else {
        return false;
    };
    match digest {
        Digest::Sha1 => rsa::pkcs1v15::VerifyingKey::<sha1::Sha1>::new(key)
            .verify(message, &sig)
            .is_ok(),
        Digest::Sha256 => rsa::pkcs1v15::VerifyingKey::<Sha256>::new(key)
            .verify(message, &sig)
            .is_ok(),
    }
}

/// Verify with the certificate fetched from [`certificate_url`].
pub(crate) fn verify(
    scheme: CertScheme,
    req: &VerifyRequest<'_>,
    certificate_pem: &[u8],
) -> Result<Verified, VerifyError> {
    match scheme {
        CertScheme::Sns => {
            let v = json(req.body)?;
            let digest = match v.get("SignatureVersion").and_then(Value::as_str) {
                Some("1") => Digest::Sha1,
                Some("2") => Digest::Sha256,
                _ => return Err(VerifyError::MalformedBody("SignatureVersion is not 1 or 2")),
            };
            let signature = b64_decode(field(&v, "Signature")?)
                .ok_or(VerifyError::MalformedBody("Signature is not base64"))?;
            let message = sns_string_to_sign(&v)?;
            let key = certificate_key(scheme, certificate_pem, req.now)?;
            if !rsa_verifies(key, digest, message.as_bytes(), &signature) {
                return Err(VerifyError::Mismatch);
            }
            // Signed by SNS — but for whose topic? Only the configured ones.
            let topic = field(&v, "TopicArn")?;
            req.secrets
                .iter()
                .position(|s| s.expose() == topic)
                .map(|secret_index| Verified {
                    timestamp: None,
                    secret_index,
                })
                .ok_or(VerifyError::Mismatch)
        }
        CertScheme::Paypal => {
            let id = required(req.headers, "paypal-transmission-id")?;
            let time_text = required(req.headers, "paypal-transmission-time")?;
            let algo = required(req.headers, "paypal-auth-algo")?;
            if algo != "SHA256withRSA" {
                return Err(malformed(
                    "paypal-auth-algo",
                    "only SHA256withRSA is accepted",
                ));
            }
            let ts = time::OffsetDateTime::parse(
                time_text,
                &time::format_description::well_known::Rfc3339,
            )
            .map_err(|_| malformed("paypal-transmission-time", "not RFC 3339"))?
            .unix_timestamp();
            check_timestamp(ts, req.now, req.tolerance_secs)?;
            let signature = b64_decode(required(req.headers, "paypal-transmission-sig")?)
                .ok_or_else(|| malformed("paypal-transmission-sig", "not base64"))?;
            let crc = crc32fast::hash(req.body);
            let key = certificate_key(scheme, certificate_pem, req.now)?;
            for (index, webhook_id) in req.secrets.iter().enumerate() {
                let message = format!("{id}|{time_text}|{}|{crc}", webhook_id.expose());
                if rsa_verifies(key.clone(), Digest::Sha256, message.as_bytes(), &signature) {
                    return Ok(Verified {
                        timestamp: Some(ts),
                        secret_index: index,
                    });
                }
            }
            Err(VerifyError::Mismatch)
        }
    }
}

/// An SNS control message (`SubscriptionConfirmation`, `UnsubscribeConfirmation`): its type
/// and the URL that confirms it, checked against SNS's hosts.
pub fn sns_control(body: &[u8]) -> Option<(String, Option<String>)> {
    let v: Value = serde_json::from_slice(body).ok()?;
    let kind = v.get("Type")?.as_str()?;
    if kind == "Notification" {
        return None;
    }
    let url = v
        .get("SubscribeURL")
        .and_then(Value::as_str)
        .and_then(|u| allowed_url(CertScheme::Sns, u));
    Some((kind.to_string(), url))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_the_providers_own_hosts_serve_certificates() {
        for ok in [
            "https://sns.us-east-1.amazonaws.com/SimpleNotificationService-9c6465fa7f48f5cacd23014631ec1136.pem",
            "https://sns.cn-north-1.amazonaws.com.cn/x.pem",
        ] {
            assert!(allowed_url(CertScheme::Sns, ok).is_some(), "{ok}");
        }
        for bad in [
            "http://sns.us-east-1.amazonaws.com/x.pem",
            "https://sns.us-east-1.amazonaws.com.evil.com/x.pem",
            "https://evil.com/sns.us-east-1.amazonaws.com/x.pem",
            "https://sns.us-east-1.amazonaws.com@evil.com/x.pem",
            "https://sns.us-east-1.amazonaws.com:8443/x.pem",
            "https://s3.us-east-1.amazonaws.com/x.pem",
            "https://sns.x.amazonaws.com/x.pem",
            "https://sns.us-east-1.amazonaws.com",
            "https://sns.us-east-1.amazonaws.com/x y.pem",
        ] {
            assert!(allowed_url(CertScheme::Sns, bad).is_none(), "{bad}");
        }
        assert!(allowed_url(
            CertScheme::Paypal,
            "https://api.paypal.com/v1/notifications/certs/CERT-360caa42"
        )
        .is_some());
        assert!(allowed_url(
            CertScheme::Paypal,
            "https://api.sandbox.paypal.com/v1/notifications/certs/x"
        )
        .is_some());
        assert!(allowed_url(CertScheme::Paypal, "https://paypal.com.evil.io/certs/x").is_none());
        assert!(allowed_url(CertScheme::Paypal, "https://evil.paypal.com/certs/x").is_none());
    }

    #[test]
    fn sns_signs_each_types_fields_in_order() {
        let v: Value = serde_json::from_str(
            r#"{"Type":"Notification","MessageId":"m","TopicArn":"arn:t","Message":"hi","Timestamp":"2026-01-01T00:00:00.000Z","SignatureVersion":"1"}"#,
        )
        .unwrap();
        assert_eq!(
            sns_string_to_sign(&v).unwrap(),
            "Message\nhi\nMessageId\nm\nTimestamp\n2026-01-01T00:00:00.000Z\nTopicArn\narn:t\nType\nNotification\n"
        );
        let v: Value = serde_json::from_str(r#"{"Type":"SubscriptionConfirmation","MessageId":"m","TopicArn":"arn:t","Message":"hi","Timestamp":"t","Token":"tok","SubscribeURL":"https://u"}"#).unwrap();
        assert_eq!(
            sns_string_to_sign(&v).unwrap(),
            "Message\nhi\nMessageId\nm\nSubscribeURL\nhttps://u\nTimestamp\nt\nToken\ntok\nTopicArn\narn:t\nType\nSubscriptionConfirmation\n"
        );
        let v: Value =
            serde_json::from_str(r#"{"Type":"SubscriptionConfirmation","MessageId":"m"}"#).unwrap();
        assert!(sns_string_to_sign(&v).is_err());
    }
}
