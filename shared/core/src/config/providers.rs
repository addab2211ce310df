//! `[[providers]]`: each provider's name, scheme (a preset or the generic `hmac`), secrets,
//! normalization pointers and limits.

use std::time::Duration;

use super::*;

/// The providers, each checked; `names` gains every provider's name (a name configured
/// twice is a problem).
pub(super) fn build(
    raw: &RawConfig,
    env: Option<&SecretLookup<'_>>,
    names: &mut std::collections::HashSet<String>,
    push: &mut impl FnMut(String, String),
) -> Vec<ProviderConfig> {
    let mut providers = Vec::new();
    for (i, p) in raw.providers.iter().enumerate() {
        let at = |field: &str| format!("providers[{i}].{field}");
        let name = match ProviderName::parse(&p.name) {
            Ok(n) => Some(n),
            Err(e) => {
                push(at("name"), format!("{:?} {e}", p.name));
                None
            }
        };
        if !names.insert(p.name.clone()) {
            push(at("name"), format!("{:?} is configured twice", p.name));
        }
        let (preset, scheme, conventions, handshake) = match build_scheme(p) {
            Ok((n, s, c, h)) => (n, Some(s), c, h),
            Err((field, msg)) => {
                push(at(field), msg);
                ("", None, None, None)
            }
        };
        let mut verify_token = None;
        match (&p.verify_token, handshake == Some(Handshake::Meta), env) {
            (Some(_), false, _) => push(
                at("verify_token"),
                "only Meta's subscription check (meta, whatsapp) takes one".into(),
            ),
            (None, true, Some(_)) => push(
                at("verify_token"),
                "Meta checks the endpoint with a GET carrying the verify token you enter in the app dashboard: set it here".into(),
            ),
            (Some(spec), true, Some(env)) => match secret::resolve(spec, env) {
                Ok(s) if !s.expose().is_empty() => verify_token = Some(s),
                Ok(_) => push(at("verify_token"), "must not be empty".into()),
                Err(e) => push(at("verify_token"), e.to_string()),
            },
            _ => {}
        }
        if p.confirm_subscription.is_some()
            && !matches!(scheme, Some(Scheme::Certificate(CertScheme::Sns)))
        {
            push(
                at("confirm_subscription"),
                format!("only applies to scheme = \"aws-sns\", not {:?}", p.scheme),
            );
        }
        let unsigned = matches!(scheme, Some(Scheme::Unsigned));
        let fetch = match (&p.fetch_url, unsigned) {
            (None, _) => {
                if p.fetch_token.is_some() {
                    push(at("fetch_token"), "goes with fetch_url".into());
                }
                None
            }
            (Some(_), false) => {
                push(
                    at("fetch_url"),
                    "only presets that send just an id (mollie) fetch their object".into(),
                );
                None
            }
            (Some(url), true) => match check_fetch_url(url) {
                Err(e) => {
                    push(at("fetch_url"), e);
                    None
                }
                Ok(()) => {
                    let token = match (&p.fetch_token, env) {
                        (Some(spec), Some(env)) => match secret::resolve(spec, env) {
                            Ok(s) => Some(s),
                            Err(e) => {
                                push(at("fetch_token"), e.to_string());
                                None
                            }
                        },
                        _ => None,
                    };
                    Some(FetchById {
                        url: url.clone(),
                        token,
                    })
                }
            },
        };
        if unsigned && !p.secrets.is_empty() {
            push(
                at("secrets"),
                format!("{:?} does not sign, so it takes no secret", p.scheme),
            );
        }
        if p.secrets.is_empty() && !unsigned {
            push(at("secrets"), "at least one secret is required".into());
        }
        let mut secrets = Vec::new();
        // Without a resolver the secrets stay unread (see `from_toml_without_secrets`).
        for (j, spec) in p.secrets.iter().enumerate() {
            let Some(env) = env else { break };
            match secret::resolve(spec, env) {
                Ok(s) => {
                    if let Some(scheme) = &scheme {
                        if let Err(e) = scheme.check_secret(&s) {
                            push(
                                at(&format!("secrets[{j}]")),
                                format!("not usable by scheme {}: {e}", scheme.name()),
                            );
                        }
                    }
                    secrets.push(s);
                }
                Err(e) => push(at(&format!("secrets[{j}]")), e.to_string()),
            }
        }
        for (field, ptr) in [
            ("id_pointer", &p.id_pointer),
            ("type_pointer", &p.type_pointer),
            ("entity_pointer", &p.entity_pointer),
            ("version_pointer", &p.version_pointer),
            ("key_version_pointer", &p.key_version_pointer),
            ("event_time_pointer", &p.event_time_pointer),
        ] {
            if let Some(ptr) = ptr {
                if !ptr.starts_with('/') {
                    push(
                        at(field),
                        format!("{ptr:?} is not a JSON pointer (it must start with '/')"),
                    );
                }
            }
        }
        match (p.max_event_age_secs, &p.event_time_pointer) {
            (Some(0), _) => push(at("max_event_age_secs"), "must be at least 1".into()),
            (Some(_), None) => push(
                at("event_time_pointer"),
                "is required with max_event_age_secs: the JSON pointer to the event's own creation time".into(),
            ),
            (None, Some(_)) => push(
                at("event_time_pointer"),
                "applies only with max_event_age_secs".into(),
            ),
            _ => {}
        }
        if let Some(t) = &p.entity_type {
            if p.entity_pointer.is_none() {
                push(
                    at("entity_type"),
                    "prefixes the id at entity_pointer, which is not set".into(),
                );
            }
            if let Err(e) = check_entity_type(t) {
                push(at("entity_type"), e);
            }
        }
        let max_body_bytes = p.max_body_bytes.unwrap_or(raw.server.max_body_bytes);
        if max_body_bytes == 0 {
            push(at("max_body_bytes"), "must be at least 1".into());
        }
        if let (Some(name), Some(scheme)) = (name, scheme) {
            providers.push(ProviderConfig {
                name,
                preset,
                scheme,
                secrets,
                tolerance_secs: p
                    .tolerance_secs
                    .or(catalogue::preset(preset).map(|x| x.tolerance.secs))
                    .unwrap_or(DEFAULT_TOLERANCE_SECS),
                max_body_bytes,
                rules: NormalizeRules {
                    id_pointer: p.id_pointer.clone(),
                    type_pointer: p.type_pointer.clone(),
                    entity_pointer: p.entity_pointer.clone(),
                    entity_type: p.entity_type.clone(),
                    version_pointer: p.version_pointer.clone(),
                    key_version_pointer: p.key_version_pointer.clone(),
                    max_event_age: p.max_event_age_secs.map(Duration::from_secs),
                    event_time_pointer: p.event_time_pointer.clone(),
                    conventions,
                },
                handshake,
                verify_token,
                confirm_subscription: p.confirm_subscription.unwrap_or(false),
                fetch,
            });
        }
    }
    providers
}

type SettingError = (&'static str, String);

/// What a provider's `scheme` builds: the generic `hmac` from its settings, or a preset
/// from the catalogue with its conventions and handshake.
type Built = (&'static str, Scheme, Option<Conventions>, Option<Handshake>);

/// The scheme a provider names — the generic `hmac` built from its settings, or a preset
/// from the catalogue — and the preset's conventions and handshake where it has them.
fn build_scheme(p: &RawProvider) -> Result<Built, SettingError> {
    let public_url = p.public_url.as_deref().map(check_public_url).transpose()?;
    if p.scheme == "hmac" {
        return generic_hmac(p, public_url).map(|s| ("hmac", s, None, None));
    }
    let preset = catalogue::preset(&p.scheme).ok_or_else(|| {
        let names: Vec<&str> = catalogue::PRESETS.iter().map(|p| p.name).collect();
        (
            "scheme",
            format!(
                "unknown scheme {:?}; `inlet providers` lists them: {}",
                p.scheme,
                names.join(", ")
            ),
        )
    })?;
    let hmac_only = [
        ("algorithm", p.algorithm.is_some()),
        ("encoding", p.encoding.is_some()),
        ("prefix", p.prefix.is_some()),
        ("timestamp_header", p.timestamp_header.is_some()),
        ("timestamp_format", p.timestamp_format.is_some()),
        ("signed_content", p.signed_content.is_some()),
    ];
    if let Some((field, _)) = hmac_only.iter().find(|(_, set)| *set) {
        return Err((
            field,
            format!("only applies to scheme = \"hmac\", not {:?}", p.scheme),
        ));
    }
    let scheme = preset.scheme(Settings {
        public_url: public_url.as_deref(),
        header: p.header.as_deref(),
    })?;
    Ok((
        preset.name,
        scheme,
        preset.has_conventions().then_some(preset.conventions),
        preset.handshake,
    ))
}

fn generic_hmac(p: &RawProvider, public_url: Option<String>) -> Result<Scheme, SettingError> {
    let header = p.header.clone().filter(|h| !h.is_empty()).ok_or((
        "header",
        "the hmac scheme needs the signature header's name".to_string(),
    ))?;
    let algorithm = match &p.algorithm {
        None => HmacAlgorithm::Sha256,
        Some(a) => HmacAlgorithm::parse(a).ok_or((
            "algorithm",
            format!("{a:?} is not one of sha1, sha256, sha512"),
        ))?,
    };
    let encoding = match &p.encoding {
        None => Encoding::Hex,
        Some(e) => {
            Encoding::parse(e).ok_or(("encoding", format!("{e:?} is not one of hex, base64")))?
        }
    };
    let timestamp_format = match &p.timestamp_format {
        None => TimestampFormat::Seconds,
        Some(f) => TimestampFormat::parse(f).ok_or((
            "timestamp_format",
            format!("{f:?} is not one of seconds, milliseconds, rfc3339"),
        ))?,
    };
    let default_template = if p.timestamp_header.is_some() {
        "{timestamp}.{body}"
    } else {
        "{body}"
    };
    let template =
        HmacSpec::parse_template(p.signed_content.as_deref().unwrap_or(default_template))
            .map_err(|e| ("signed_content", e))?;
    if p.timestamp_header.is_none() && template.contains(&crate::signature::Part::Timestamp) {
        return Err((
            "signed_content",
            "uses {timestamp} but no timestamp_header is set".into(),
        ));
    }
    let signs_url = template.contains(&crate::signature::Part::Url);
    match (signs_url, &public_url) {
        (true, None) => {
            return Err((
                "public_url",
                "signed_content uses {url}: set public_url to the URL as entered at the provider"
                    .into(),
            ))
        }
        (false, Some(_)) => {
            return Err((
                "public_url",
                "only URL-signing schemes take one (or {url} in signed_content)".into(),
            ))
        }
        _ => {}
    }
    let prefix = p.prefix.clone().unwrap_or_default();
    if prefix.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return Err((
            "prefix",
            format!("{prefix:?} has spaces or control characters; a header's signatures are split on them"),
        ));
    }
    Ok(Scheme::Hmac(HmacSpec {
        header: header.to_ascii_lowercase(),
        algorithm,
        encoding,
        prefix,
        timestamp_header: p.timestamp_header.as_ref().map(|h| h.to_ascii_lowercase()),
        timestamp_format,
        pairs: None,
        template,
        url: public_url,
        body_timestamp: None,
    }))
}

/// A fetch URL: https (plain http only to this machine, for development), with `{id}` once,
/// in the path.
fn check_fetch_url(url: &str) -> Result<(), String> {
    let local = [
        "http://127.0.0.1:",
        "http://127.0.0.1/",
        "http://localhost:",
        "http://localhost/",
    ];
    let scheme_ok = url.starts_with("https://") || local.iter().any(|p| url.starts_with(p));
    let shape_ok = url.matches("{id}").count() == 1
        && !url.contains('?')
        && url.len() <= 2048
        && !url.chars().any(|c| c.is_whitespace() || c.is_control());
    if scheme_ok && shape_ok {
        Ok(())
    } else {
        Err(format!(
            "{url:?} is not an https URL with {{id}} once in its path (e.g. https://api.mollie.com/v2/payments/{{id}})"
        ))
    }
}

/// The URL a provider calls, exactly as entered in its dashboard: what URL-signing schemes
/// sign. From configuration, never from a request's `Host`.
fn check_public_url(url: &str) -> Result<String, SettingError> {
    let ok = (url.starts_with("https://") || url.starts_with("http://"))
        && url.len() <= 2048
        && !url.chars().any(|c| c.is_whitespace() || c.is_control());
    if !ok {
        return Err(("public_url", format!("{url:?} is not an http(s) URL")));
    }
    Ok(url.to_string())
}
