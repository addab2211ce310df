//! `inlet send`: sign a payload with a provider's configured secret and POST it.

use crate::config_file::load_config;
use crate::error::{CliError, Outcome};
use inlet_core::secret::Secret;
use inlet_core::signature::Scheme;
use inlet_core::signature::{sign_request, SignRequest, SignedRequest};
use std::io::Read as _;
use std::path::Path;

/// Read the body to send: a file, or standard input for '-'.
fn read_body(path: &Path) -> std::io::Result<Vec<u8>> {
    if path == Path::new("-") {
        let mut buf = Vec::new();
        std::io::stdin().read_to_end(&mut buf)?;
        Ok(buf)
    } else {
        std::fs::read(path)
    }
}

/// For schemes whose event type lives in a JSON body, set `type`.
fn with_type(scheme: &Scheme, body: Vec<u8>, event_type: Option<&str>) -> Vec<u8> {
    let Some(t) = event_type else { return body };
    if matches!(scheme, Scheme::Github | Scheme::Shopify | Scheme::Slack) {
        return body;
    }
    match serde_json::from_slice::<serde_json::Value>(&body) {
        Ok(serde_json::Value::Object(mut map)) => {
            map.insert("type".into(), serde_json::Value::String(t.to_string()));
            serde_json::to_vec(&map).unwrap_or(body)
        }
        _ => body,
    }
}

pub(crate) struct SendOptions {
    pub(crate) url: Option<String>,
    pub(crate) event_type: Option<String>,
    pub(crate) id: Option<String>,
    pub(crate) print: bool,
    pub(crate) write_body: Option<std::path::PathBuf>,
}

pub(crate) async fn run(
    explicit: Option<&Path>,
    provider: &str,
    body_path: &Path,
    opts: SendOptions,
) -> Outcome {
    let SendOptions {
        url,
        event_type,
        id,
        print,
        write_body,
    } = opts;
    let (_, config) = load_config(explicit)?;
    let Some(p) = config.provider(provider) else {
        let known: Vec<&str> = config.providers.iter().map(|p| p.name.as_str()).collect();
        return Err(CliError::config(format!(
            "no provider named {provider:?} in the config; configured: {}",
            known.join(", ")
        )));
    };
    let body = match read_body(body_path) {
        Ok(b) => with_type(&p.scheme, b, event_type.as_deref()),
        Err(e) => {
            return Err(CliError::failed(format!(
                "cannot read {}: {e}",
                body_path.display()
            )));
        }
    };
    let unsigned = Secret::new("");
    let secret = match p.secrets.first() {
        Some(s) => s,
        None if p.scheme == Scheme::Unsigned => &unsigned,
        None => {
            return Err(CliError::config(format!(
                "provider {provider} has no secret to sign with"
            )));
        }
    };
    let id = id.unwrap_or_else(|| format!("msg_{}", uuid::Uuid::new_v4().simple()));
    let now = time::OffsetDateTime::now_utc().unix_timestamp();
    // Schemes that sign inside the body rewrite it.
    let SignedRequest {
        body,
        headers: signed,
    } = match sign_request(
        &p.scheme,
        &SignRequest {
            body: &body,
            secret,
            timestamp: now,
            id: &id,
        },
    ) {
        Ok(s) => s,
        Err(e) => {
            return Err(CliError::config(format!("cannot sign for {provider}: {e}")));
        }
    };
    if let Some(path) = &write_body {
        if let Err(e) = std::fs::write(path, &body) {
            return Err(CliError::failed(format!(
                "cannot write {}: {e}",
                path.display()
            )));
        }
    }
    let url = url.unwrap_or_else(|| format!("http://127.0.0.1:3000/webhooks/{provider}"));
    let content_type = if matches!(p.scheme, Scheme::Twilio { .. } | Scheme::Unsigned) {
        "application/x-www-form-urlencoded"
    } else if serde_json::from_slice::<serde_json::Value>(&body).is_ok() {
        "application/json"
    } else {
        "text/plain"
    };
    let mut headers = vec![("content-type".to_string(), content_type.to_string())];
    headers.extend(signed);
    headers.extend(scheme_headers(&p.scheme, &id, event_type.as_deref()));
    if print {
        let map: serde_json::Map<String, serde_json::Value> = headers
            .into_iter()
            .map(|(k, v)| (k, serde_json::Value::String(v)))
            .collect();
        crate::out::json(&serde_json::Value::Object(map));
        return Ok(());
    }
    let mut req = reqwest::Client::new().post(&url);
    for (k, v) in headers {
        req = req.header(k, v);
    }
    match req.body(body).send().await {
        Ok(resp) => {
            let status = resp.status();
            let text = resp.text().await.unwrap_or_default();
            crate::outln!("{} {}", status.as_u16(), text);
            if status.is_success() {
                Ok(())
            } else {
                Err(CliError::failed(format!("{url} answered {status}")))
            }
        }
        Err(e) => Err(CliError::failed(format!(
            "POST {url} failed: {e} (is `inlet dev` running?)"
        ))),
    }
}

/// Headers a provider sends besides the signature.
fn scheme_headers(scheme: &Scheme, id: &str, event_type: Option<&str>) -> Vec<(String, String)> {
    match scheme {
        Scheme::Github => vec![
            ("X-GitHub-Delivery".into(), id.to_string()),
            (
                "X-GitHub-Event".into(),
                event_type.unwrap_or("ping").to_string(),
            ),
        ],
        Scheme::Shopify => vec![
            ("X-Shopify-Webhook-Id".into(), id.to_string()),
            (
                "X-Shopify-Topic".into(),
                event_type.unwrap_or("orders/create").to_string(),
            ),
        ],
        Scheme::Twilio { .. } => vec![("I-Twilio-Idempotency-Token".into(), id.to_string())],
        _ => Vec::new(),
    }
}
