//! OAuth 1.0a request signing (RFC 5849 §3), for the APIs that still sign every request
//! instead of sending a bearer token: an Adobe Commerce (Magento) integration gives four
//! credentials — consumer key and secret, access token and token secret — that never expire
//! and must sign each call; its standalone bearer use is "disabled by default due to the
//! security implications of a never-expiring access token"
//! (developer.adobe.com/commerce/webapi/get-started/authentication/gs-authentication-token,
//! read 2026-12-06). Commerce verifies HMAC-SHA256 (its OAuth page,
//! …/gs-authentication-oauth, read 2026-12-06); HMAC-SHA1 is kept for older servers.
//!
//! Only the signature is here: the nonce and the clock are the caller's, so the signing is
//! a pure function a test can pin to the specification's own example.

use hmac::{Hmac, Mac};

use crate::secret::Secret;

/// The four credentials of an integration, and how to sign with them.
#[derive(Debug, Clone)]
pub struct Credentials {
    pub consumer_key: String,
    pub consumer_secret: Secret,
    pub token: Secret,
    pub token_secret: Secret,
    pub method: SignatureMethod,
}

/// The HMAC a signature uses (RFC 5849 §3.4.2; SHA-256 is the same construction).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SignatureMethod {
    HmacSha1,
    HmacSha256,
}

impl SignatureMethod {
    /// The config's spelling (`oauth_signature_method`'s value).
    pub fn parse(name: &str) -> Option<SignatureMethod> {
        match name {
            "HMAC-SHA1" => Some(SignatureMethod::HmacSha1),
            "HMAC-SHA256" => Some(SignatureMethod::HmacSha256),
            _ => None,
        }
    }

    fn as_str(self) -> &'static str {
        match self {
            SignatureMethod::HmacSha1 => "HMAC-SHA1",
            SignatureMethod::HmacSha256 => "HMAC-SHA256",
        }
    }
}

/// RFC 5849 §3.6 (and RFC 3986's unreserved set): every byte but `A-Z a-z 0-9 - . _ ~`,
/// as `%XX` in upper case — also right for a query value of an authorization URL.
pub(crate) fn encode(v: &str) -> String {
    let mut out = String::with_capacity(v.len());
    for b in v.bytes() {
        match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'~' => {
                out.push(b as char)
            }
            _ => out.push_str(&format!("%{b:02X}")),
        }
    }
    out
}

/// Why a request could not be signed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("cannot sign {0}: not an absolute http(s) URL")]
pub struct NotAUrl(String);

/// The `Authorization` header value for `method url` (query parameters are signed; a
/// form body would be too, but Inlet only signs GETs and JSON POSTs, whose bodies are not).
pub fn authorization(
    c: &Credentials,
    method: &str,
    url: &str,
    timestamp: i64,
    nonce: &str,
) -> Result<String, NotAUrl> {
    let parsed = url::Url::parse(url).map_err(|_| NotAUrl(url.chars().take(200).collect()))?;
    if !matches!(parsed.scheme(), "http" | "https") || parsed.host_str().is_none() {
        return Err(NotAUrl(url.chars().take(200).collect()));
    }
    // §3.4.1.2: scheme and host in lower case, the default port left out, no query.
    let host = parsed.host_str().unwrap_or_default().to_ascii_lowercase();
    let base_uri = match parsed.port() {
        Some(port) => format!("{}://{host}:{port}{}", parsed.scheme(), parsed.path()),
        None => format!("{}://{host}{}", parsed.scheme(), parsed.path()),
    };
    let timestamp = timestamp.to_string();
    let oauth = [
        ("oauth_consumer_key", c.consumer_key.as_str()),
        ("oauth_nonce", nonce),
        ("oauth_signature_method", c.method.as_str()),
        ("oauth_timestamp", timestamp.as_str()),
        ("oauth_token", c.token.expose()),
        ("oauth_version", "1.0"),
    ];
    // §3.4.1.3.2: every parameter encoded, sorted by name then value, joined.
    let mut params: Vec<(String, String)> = parsed
        .query_pairs()
        .map(|(k, v)| (encode(&k), encode(&v)))
        .chain(oauth.iter().map(|(k, v)| (encode(k), encode(v))))
        .collect();
    params.sort();
    let normalized = params
        .iter()
        .map(|(k, v)| format!("{k}={v}"))
        .collect::<Vec<_>>()
        .join("&");
    let base_string = format!(
        "{}&{}&{}",
        method.to_ascii_uppercase(),
        encode(&base_uri),
        encode(&normalized)
    );
    let key = format!(
        "{}&{}",
        encode(c.consumer_secret.expose()),
        encode(c.token_secret.expose())
    );
    let signature = sign(c.method, key.as_bytes(), base_string.as_bytes());
    let mut header = String::from("OAuth ");
    for (k, v) in oauth
        .iter()
        .chain([("oauth_signature", signature.as_str())].iter())
    {
        if !header.ends_with(' ') {
            header.push_str(", ");
        }
        header.push_str(&format!("{k}=\"{}\"", encode(v)));
    }
    Ok(header)
}

fn sign(method: SignatureMethod, key: &[u8], text: &[u8]) -> String {
    use base64::Engine as _;
    // HMAC accepts keys of any length, so `new_from_slice` cannot fail here.
    let mac = match method {
        SignatureMethod::HmacSha1 => Hmac::<sha1::Sha1>::new_from_slice(key).map(|mut m| {
            m.update(text);
            m.finalize().into_bytes().to_vec()
        }),
        SignatureMethod::HmacSha256 => Hmac::<sha2::Sha256>::new_from_slice(key).map(|mut m| {
            m.update(text);
            m.finalize().into_bytes().to_vec()
        }),
    }
    .unwrap_or_default();
    base64::engine::general_purpose::STANDARD.encode(mac)
}

/// The parameters of an `OAuth …` header (for servers that check one, like the tests').
pub fn header_params(header: &str) -> Option<Vec<(String, String)>> {
    let rest = header.strip_prefix("OAuth ")?;
    rest.split(',')
        .map(|part| {
            let (k, v) = part.trim().split_once('=')?;
            let v = v.strip_prefix('"')?.strip_suffix('"')?;
            let v = percent_encoding::percent_decode_str(v)
                .decode_utf8()
                .ok()?
                .into_owned();
            Some((k.to_string(), v))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn photos(method: SignatureMethod) -> Credentials {
        Credentials {
            consumer_key: "dpf43f3p2l4k3l03".into(),
            consumer_secret: Secret::new("kd94hf93k423kf44"),
            token: Secret::new("nnch734d00sl2jdk"),
            token_secret: Secret::new("pfkkdhi9sl3r4s00"),
            method,
        }
    }

    fn signature(header: &str) -> String {
        header_params(header)
            .unwrap()
            .into_iter()
            .find(|(k, _)| k == "oauth_signature")
            .unwrap()
            .1
    }

    /// OAuth Core 1.0 Appendix A.5 (oauth.net/core/1.0/#sig_base_example): the photos
    /// request, signed with HMAC-SHA1, gives `tR3+Ty81lMeYAr/Fid0kMTYa/WM=`.
    #[test]
    fn the_specifications_example_signs_to_its_published_signature() {
        let h = authorization(
            &photos(SignatureMethod::HmacSha1),
            "GET",
            "http://photos.example.net/photos?file=vacation.jpg&size=original",
            1_191_242_096,
            "kllo9940pd9333jh",
        )
        .unwrap();
        assert_eq!(signature(&h), "tR3+Ty81lMeYAr/Fid0kMTYa/WM=");
        assert!(h.starts_with("OAuth oauth_consumer_key=\"dpf43f3p2l4k3l03\", "));
        assert!(h.contains("oauth_signature=\"tR3%2BTy81lMeYAr%2FFid0kMTYa%2FWM%3D\""));
    }

    /// Case of scheme and host, the default port and the order of the query do not
    /// change what is signed (§3.4.1.2, §3.4.1.3.2); the path and a value do.
    #[test]
    fn the_base_string_is_normalized_as_the_rfc_says() {
        let c = photos(SignatureMethod::HmacSha256);
        let sig = |url: &str| signature(&authorization(&c, "get", url, 1, "n").unwrap());
        let a = sig("http://photos.example.net/photos?file=vacation.jpg&size=original");
        assert_eq!(
            a,
            sig("HTTP://Photos.Example.NET:80/photos?size=original&file=vacation.jpg")
        );
        assert_ne!(
            a,
            sig("http://photos.example.net/Photos?file=vacation.jpg&size=original")
        );
        assert_ne!(
            a,
            sig("http://photos.example.net/photos?file=vacation.png&size=original")
        );
        // Reserved characters in values are signed encoded, once.
        let b = sig("https://shop.example/rest/V1/orders?searchCriteria[filter_groups][0][filters][0][value]=2026-01-01 00:00:00");
        assert_eq!(b.len(), 44, "a base64 SHA-256");
    }

    #[test]
    fn hostile_urls_are_refused_not_signed() {
        let c = photos(SignatureMethod::HmacSha256);
        for bad in [
            "",
            "not a url",
            "ftp://x/y",
            "data:text/plain,x",
            "/relative/path",
        ] {
            assert!(authorization(&c, "GET", bad, 1, "n").is_err(), "{bad}");
        }
    }
}
