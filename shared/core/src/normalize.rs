//! Normalization: verified request → one [`Envelope`] with a key that is stable across
//! redeliveries of the same event (and that the reconciliation path reproduces).
//!
//! Event id, per scheme: Standard Webhooks/Svix the `webhook-id`/`svix-id` header, Stripe
//! the body's `id`, GitHub `X-GitHub-Delivery`, Shopify `{resource}/{id}@{updated_at}` from
//! the topic and body (else `X-Shopify-Webhook-Id`), Slack the body's `event_id`. A
//! configured `id_pointer` overrides these; failing all, the SHA-256 of the body.

use serde_json::Value;
use sha2::{Digest, Sha256};
use time::OffsetDateTime;

use crate::catalogue::{Conventions, Found, RecordKey};
use crate::envelope::{Envelope, Source};
use crate::headers::Headers;
use crate::ids::{EventKey, ProviderName};
use crate::signature::Scheme;

/// Per-provider overrides, as JSON pointers (RFC 6901) into the body.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct NormalizeRules {
    pub id_pointer: Option<String>,
    pub type_pointer: Option<String>,
    pub entity_pointer: Option<String>,
    /// Prefixes the id found at `entity_pointer`: `customer` makes `42` the entity
    /// `customer/42`, so two providers' events about one record name the same entity (and
    /// conflict rules, declared per entity type, apply to it).
    pub entity_type: Option<String>,
    pub version_pointer: Option<String>,
    /// Records, not events: the key is `{id}@{version}`, the version the text at this
    /// pointer (an updated-at time, a row version) exactly as the body has it. A webhook
    /// provider and an `items = "records"` source that name the same pointers key one
    /// change alike, so whichever copy comes second is a duplicate.
    pub key_version_pointer: Option<String>,
    /// A webhook whose own creation time (at `event_time_pointer`) is older than this when
    /// it arrives is stale: acknowledged and recorded, not delivered. Reconciliation and
    /// replays are exempt — they are old on purpose.
    pub max_event_age: Option<std::time::Duration>,
    pub event_time_pointer: Option<String>,
    /// The provider preset's conventions, where the preset has them (otherwise the
    /// scheme's own rules below apply).
    pub conventions: Option<Conventions>,
}

impl NormalizeRules {
    fn any(&self) -> bool {
        self.id_pointer.is_some()
            || self.key_version_pointer.is_some()
            || self.type_pointer.is_some()
            || self.entity_pointer.is_some()
            || self.version_pointer.is_some()
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum NormalizeError {
    #[error("body is not valid JSON: {0}")]
    MalformedJson(String),
    #[error("{0}")]
    MissingField(String),
    #[error("event id is unusable: {0}")]
    BadEventId(String),
}

/// Everything `normalize` needs besides the rules.
#[derive(Debug, Clone, Copy)]
pub struct Incoming<'a> {
    pub provider: &'a ProviderName,
    pub scheme: &'a Scheme,
    pub headers: &'a Headers,
    pub body: &'a [u8],
    pub received_at: OffsetDateTime,
    pub correlation_id: &'a str,
    pub source: Source,
}

pub fn sha256_hex(bytes: &[u8]) -> String {
    hex::encode(Sha256::digest(bytes))
}

/// Build the envelope. Fails only where the body must be JSON and is not, or where a
/// required field is missing (a 400 for the sender).
pub fn normalize(input: &Incoming<'_>, rules: &NormalizeRules) -> Result<Envelope, NormalizeError> {
    let content_type = input.headers.text("content-type").map(str::to_string);
    let declared_json = content_type
        .as_deref()
        .is_some_and(|ct| ct.to_ascii_lowercase().contains("json"));
    let needs_json = matches!(input.scheme, Scheme::Stripe) || rules.any() || declared_json;
    let json: Option<Value> = match serde_json::from_slice::<Value>(input.body) {
        Ok(v) => Some(v),
        Err(e) if needs_json => return Err(NormalizeError::MalformedJson(e.to_string())),
        Err(_) => None,
    };
    let facts = match &rules.conventions {
        Some(c) => conventions_facts(c, input, json.as_ref()),
        None => scheme_facts(input.scheme, input.headers, json.as_ref())?,
    };

    let body_guard = rules.id_pointer.is_none()
        && facts.event_id.is_some()
        && input.scheme.signs_body()
        && facts
            .id_header
            .is_some_and(|h| !input.scheme.signs_header(h));
    let pointer = |p: &Option<String>| -> Option<String> {
        p.as_deref()
            .and_then(|p| json.as_ref()?.pointer(p))
            .and_then(scalar_text)
    };
    let event_id = match &rules.id_pointer {
        Some(p) => Some(pointer(&rules.id_pointer).ok_or_else(|| {
            NormalizeError::MissingField(format!("no event id at JSON pointer {p}"))
        })?),
        None => facts.event_id,
    }
    .unwrap_or_else(|| format!("sha256-{}", sha256_hex(input.body)));
    let event_id = match &rules.key_version_pointer {
        Some(p) => {
            let version = pointer(&rules.key_version_pointer).ok_or_else(|| {
                NormalizeError::MissingField(format!("no record version at JSON pointer {p}"))
            })?;
            format!("{event_id}@{version}")
        }
        None => event_id,
    };
    let key = EventKey::new(input.provider, &event_id)
        .map_err(|e| NormalizeError::BadEventId(e.to_string()))?;

    let event_type = pointer(&rules.type_pointer).or(facts.event_type);
    let entity = pointer(&rules.entity_pointer)
        .map(|id| match &rules.entity_type {
            Some(t) => format!("{t}/{id}"),
            None => id,
        })
        .or(facts.entity);
    let version = rules
        .version_pointer
        .as_deref()
        .and_then(|p| json.as_ref()?.pointer(p))
        .and_then(parse_version)
        .or(facts.version);

    Ok(Envelope {
        v: Envelope::SCHEMA_VERSION,
        key,
        provider: input.provider.clone(),
        event_id,
        event_type,
        source: input.source,
        received_at: input.received_at,
        correlation_id: input.correlation_id.to_string(),
        entity,
        version,
        payload_sha256: sha256_hex(input.body),
        body_guard,
        stale: stale_reason(input, rules, json.as_ref()),
        replayed_by: None,
        content_type,
        body: input.body.to_vec(),
    })
}

/// Why a webhook is too old to act on, when it is (see [`NormalizeRules::max_event_age`]).
fn stale_reason(
    input: &Incoming<'_>,
    rules: &NormalizeRules,
    json: Option<&Value>,
) -> Option<String> {
    let max = rules.max_event_age?;
    if input.source != Source::Webhook {
        return None;
    }
    let pointer = rules.event_time_pointer.as_deref()?;
    let at = json?.pointer(pointer).and_then(parse_version)?;
    // `parse_version` reads RFC 3339 as Unix nanoseconds; plain numbers are Unix seconds
    // or milliseconds, told apart by size.
    let at_ns = match at {
        n if n >= 100_000_000_000_000_000 => i128::from(n),
        n if n >= 100_000_000_000 => i128::from(n) * 1_000_000,
        n => i128::from(n) * 1_000_000_000,
    };
    let age_ns = input.received_at.unix_timestamp_nanos() - at_ns;
    let age = std::time::Duration::from_nanos(u64::try_from(age_ns).ok()?);
    (age > max).then(|| {
        format!(
            "stale: the event is {} s old (its {pointer} says so) and max_event_age_secs is {}; not delivered",
            age.as_secs(),
            max.as_secs()
        )
    })
}

/// What a scheme's conventions say about an event.
#[derive(Debug, Default)]
struct Facts {
    event_id: Option<String>,
    /// The header the event id was read from, where it was one (and the id is not
    /// derived further, as an id per arrival is).
    id_header: Option<&'static str>,
    event_type: Option<String>,
    entity: Option<String>,
    version: Option<i64>,
}

/// What a preset's conventions find in the request.
fn conventions_facts(c: &Conventions, input: &Incoming<'_>, json: Option<&Value>) -> Facts {
    let read = |fields| Conventions::read(fields, input.headers, json, input.body);
    let text = |fields| read(fields).map(|f: Found| f.text());
    let entity_id = text(c.entity_id);
    let id = Conventions::read_field(c.id, input.headers, json, input.body);
    let mut id_header = match id {
        Some((crate::catalogue::Field::Header(h), _)) => Some(h),
        _ => None,
    };
    let mut event_id = id.map(|(_, found)| found.text());
    let state: Vec<String> = c
        .id_suffix
        .iter()
        .filter_map(|f| text(std::slice::from_ref(f)))
        .collect();
    if !state.is_empty() || c.per_delivery {
        id_header = None;
    }
    if !state.is_empty() {
        let base = event_id.unwrap_or_else(|| format!("sha256-{}", sha256_hex(input.body)));
        event_id = Some(format!("{base}@{}", state.join(":")));
    } else if c.per_delivery {
        // The provider sends the same id for every change: each arrival is its own event.
        let at = input.received_at.unix_timestamp_nanos() / 1_000_000;
        let base = event_id.unwrap_or_else(|| format!("sha256-{}", sha256_hex(input.body)));
        event_id = Some(format!("{base}@{at}"));
    }
    let entity = entity_id.map(|id| match text(c.entity_type) {
        Some(t) => format!("{t}/{id}"),
        None => id,
    });
    let mut version = read(c.version).and_then(|f| parse_version(&f.into_json()));
    if let (Some(record), Some(entity)) = (&c.record, &entity) {
        if let Some(change) = record_change(record, entity, input, json) {
            event_id = Some(change.key);
            // The entity's type or the deletion may be read from a header the signature
            // leaves out (WooCommerce's resource and event): the signed body's hash is then
            // claimed beside the key, as for a key from such a header.
            id_header = c
                .entity_type
                .iter()
                .chain(record.deleted.iter().map(|(field, _)| field))
                .find_map(|f| match f {
                    crate::catalogue::Field::Header(h) => Some(*h),
                    _ => None,
                });
            version = change.version.or(version);
        }
    }
    Facts {
        event_id,
        id_header,
        event_type: text(c.event_type),
        entity,
        version,
    }
}

/// A record-carrying webhook's key (`RecordKey`): `{entity}@{Unix seconds}` with the
/// update time as its version, or `{entity}@deleted`; `None` when the body has neither.
fn record_change(
    record: &RecordKey,
    entity: &str,
    input: &Incoming<'_>,
    json: Option<&Value>,
) -> Option<RecordChange> {
    let deleted = record.deleted.iter().any(|(field, value)| {
        Conventions::read(std::slice::from_ref(field), input.headers, json, input.body)
            .is_some_and(|found| found.text() == *value)
    });
    if deleted {
        return Some(RecordChange {
            key: format!("{entity}@deleted"),
            version: None,
        });
    }
    let at = Conventions::read(record.updated, input.headers, json, input.body)
        .and_then(|found| crate::times::parse_time(&found.into_json()))?;
    Some(RecordChange {
        key: format!("{entity}@{}", at.unix_timestamp()),
        version: i64::try_from(at.unix_timestamp_nanos()).ok(),
    })
}

struct RecordChange {
    key: String,
    version: Option<i64>,
}

fn scheme_facts(
    scheme: &Scheme,
    headers: &Headers,
    json: Option<&Value>,
) -> Result<Facts, NormalizeError> {
    let field = |p: &str| json.and_then(|j| j.pointer(p)).and_then(scalar_text);
    let header = |h: &str| {
        headers
            .text(h)
            .filter(|v| !v.is_empty())
            .map(str::to_string)
    };
    Ok(match scheme {
        Scheme::StandardWebhooks | Scheme::Svix => {
            let id_header = if matches!(scheme, Scheme::Svix) {
                "svix-id"
            } else {
                "webhook-id"
            };
            Facts {
                event_id: header(id_header),
                id_header: Some(id_header),
                event_type: field("/type"),
                ..Facts::default()
            }
        }
        Scheme::Stripe => {
            let id = field("/id").ok_or_else(|| {
                NormalizeError::MissingField("Stripe event has no string \"id\"".into())
            })?;
            let object = json.and_then(|j| j.pointer("/data/object"));
            let entity = object.and_then(|o| {
                let id = o.get("id").and_then(scalar_text)?;
                let kind = o
                    .get("object")
                    .and_then(scalar_text)
                    .unwrap_or_else(|| "object".into());
                Some(format!("{kind}/{id}"))
            });
            Facts {
                event_id: Some(id),
                id_header: None,
                event_type: field("/type"),
                entity,
                version: json.and_then(|j| j.get("created")).and_then(parse_version),
            }
        }
        Scheme::Github => Facts {
            event_id: header("x-github-delivery"),
            id_header: Some("x-github-delivery"),
            event_type: with_action(header("x-github-event"), field("/action")),
            ..Facts::default()
        },
        Scheme::Shopify => {
            let topic = header("x-shopify-topic");
            let resource = topic
                .as_deref()
                .and_then(|t| t.split('/').next())
                .map(str::to_string);
            let change = shopify_change_key(resource.as_deref(), json);
            Facts {
                id_header: change.is_none().then_some("x-shopify-webhook-id"),
                event_id: change
                    .as_ref()
                    .map(|c| c.key.clone())
                    .or_else(|| header("x-shopify-webhook-id")),
                event_type: topic,
                entity: change.as_ref().map(|c| c.entity.clone()),
                version: change.map(|c| c.version),
            }
        }
        Scheme::Slack => Facts {
            event_id: field("/event_id"),
            event_type: field("/event/type").or_else(|| field("/type")),
            ..Facts::default()
        },
        // GitLab 17.4+ sends `Idempotency-Key`, the same on every retry of one event;
        // before that the body (identical on a retry) is the key.
        Scheme::Gitlab => Facts {
            event_id: header("idempotency-key"),
            id_header: Some("idempotency-key"),
            event_type: with_action(field("/object_kind"), field("/object_attributes/action"))
                .or_else(|| header("x-gitlab-event")),
            ..Facts::default()
        },
        // Twilio posts a form; it sends the same idempotency token on every retry.
        Scheme::Twilio { .. } => Facts {
            event_id: header("i-twilio-idempotency-token"),
            id_header: Some("i-twilio-idempotency-token"),
            ..Facts::default()
        },
        Scheme::Square { .. } => Facts {
            event_id: field("/event_id"),
            event_type: field("/type"),
            entity: field("/data/type")
                .zip(field("/data/id"))
                .map(|(t, id)| format!("{t}/{id}")),
            ..Facts::default()
        },
        Scheme::Hmac(_)
        | Scheme::BasicAuth
        | Scheme::Token { .. }
        | Scheme::PublicKey(_)
        | Scheme::Body(_)
        | Scheme::Certificate(_)
        | Scheme::Unsigned => Facts {
            event_type: field("/type"),
            ..Facts::default()
        },
    })
}

/// An event kind and the action within it, as `kind.action` (`issues.opened`); the kind
/// alone without an action; nothing without a kind.
fn with_action(kind: Option<String>, action: Option<String>) -> Option<String> {
    match (kind, action) {
        (Some(k), Some(a)) => Some(format!("{k}.{a}")),
        (k, _) => k,
    }
}

/// A Shopify change: `orders/123@1700000000` — the same key the reconciliation source
/// builds from the REST API, so a webhook and a poll of the same change converge.
pub struct ShopifyChange {
    pub key: String,
    pub entity: String,
    pub version: i64,
}

pub fn shopify_change_key(resource: Option<&str>, json: Option<&Value>) -> Option<ShopifyChange> {
    let resource = resource.filter(|r| !r.is_empty())?;
    let json = json?;
    let id = json.get("id").and_then(scalar_text)?;
    let updated = json.get("updated_at").and_then(Value::as_str)?;
    let at = OffsetDateTime::parse(updated, &time::format_description::well_known::Rfc3339).ok()?;
    let entity = format!("{resource}/{id}");
    Some(ShopifyChange {
        key: format!("{entity}@{}", at.unix_timestamp()),
        entity,
        version: i64::try_from(at.unix_timestamp_nanos()).ok()?,
    })
}

/// A JSON scalar as text (strings as-is, numbers and booleans printed); `None` for an
/// empty string, `null`, an array or an object.
pub fn scalar_text(v: &Value) -> Option<String> {
    match v {
        Value::String(s) if !s.is_empty() => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        Value::Bool(b) => Some(b.to_string()),
        _ => None,
    }
}

/// A version: an integer as-is, or an RFC 3339 timestamp as Unix nanoseconds.
/// A version as an operator reads it: a timestamp [`parse_version`] turned into Unix
/// nanoseconds is shown as RFC 3339 again; a counter or row version as the number.
pub fn describe_version(version: i64) -> String {
    // Nanoseconds since 1973 or later; no counter in practice reaches 10^17.
    const NANOS_FLOOR: i64 = 100_000_000_000_000_000;
    if version >= NANOS_FLOOR {
        if let Ok(t) = OffsetDateTime::from_unix_timestamp_nanos(i128::from(version)) {
            if let Ok(text) = t.format(&time::format_description::well_known::Rfc3339) {
                return text;
            }
        }
    }
    version.to_string()
}

pub fn parse_version(v: &Value) -> Option<i64> {
    match v {
        Value::Number(n) => n.as_i64(),
        Value::String(s) => s.parse::<i64>().ok().or_else(|| {
            OffsetDateTime::parse(s, &time::format_description::well_known::Rfc3339)
                .ok()
                .and_then(|t| i64::try_from(t.unix_timestamp_nanos()).ok())
        }),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn incoming<'a>(
        p: &'a ProviderName,
        s: &'a Scheme,
        h: &'a Headers,
        body: &'a [u8],
    ) -> Incoming<'a> {
        Incoming {
            provider: p,
            scheme: s,
            headers: h,
            body,
            received_at: OffsetDateTime::UNIX_EPOCH,
            correlation_id: "c1",
            source: Source::Webhook,
        }
    }

    #[test]
    fn stripe_key_type_entity_and_version_come_from_the_body() {
        let p = ProviderName::parse("stripe").unwrap();
        let body = br#"{"id":"evt_1","type":"invoice.paid","created":1700000000,"data":{"object":{"id":"in_9","object":"invoice"}}}"#;
        let h = Headers::new();
        let e = normalize(
            &incoming(&p, &Scheme::Stripe, &h, body),
            &NormalizeRules::default(),
        )
        .unwrap();
        assert_eq!(e.key.as_str(), "stripe:evt_1");
        assert_eq!(e.event_type.as_deref(), Some("invoice.paid"));
        assert_eq!(e.entity.as_deref(), Some("invoice/in_9"));
        assert_eq!(e.version, Some(1_700_000_000));
        assert!(matches!(
            normalize(
                &incoming(&p, &Scheme::Stripe, &h, b"{\"type\":\"x\"}"),
                &NormalizeRules::default()
            ),
            Err(NormalizeError::MissingField(_))
        ));
        assert!(matches!(
            normalize(
                &incoming(&p, &Scheme::Stripe, &h, b"{trunc"),
                &NormalizeRules::default()
            ),
            Err(NormalizeError::MalformedJson(_))
        ));
    }

    #[test]
    fn github_uses_the_delivery_header_and_action() {
        let p = ProviderName::parse("gh").unwrap();
        let h = Headers::new()
            .with("X-GitHub-Delivery", "72d3162e-cc78-11e3-81ab-4c9367dc0958")
            .with("X-GitHub-Event", "issues");
        let e = normalize(
            &incoming(&p, &Scheme::Github, &h, br#"{"action":"opened"}"#),
            &NormalizeRules::default(),
        )
        .unwrap();
        assert_eq!(e.key.as_str(), "gh:72d3162e-cc78-11e3-81ab-4c9367dc0958");
        assert_eq!(e.event_type.as_deref(), Some("issues.opened"));
    }

    #[test]
    fn twilio_and_square_keys_are_the_ones_they_resend() {
        let p = ProviderName::parse("sms").unwrap();
        let twilio = Scheme::Twilio {
            url: "https://h/t".into(),
        };
        let h = Headers::new()
            .with("i-twilio-idempotency-token", "idem-42")
            .with("content-type", "application/x-www-form-urlencoded");
        let e = normalize(
            &incoming(&p, &twilio, &h, b"MessageSid=SM1&Body=hi"),
            &NormalizeRules::default(),
        )
        .unwrap();
        assert_eq!(e.key.as_str(), "sms:idem-42");

        let p = ProviderName::parse("sq").unwrap();
        let square = Scheme::Square {
            url: "https://h/s".into(),
        };
        let body =
            br#"{"event_id":"ev-1","type":"payment.updated","data":{"type":"payment","id":"p9"}}"#;
        let e = normalize(
            &incoming(&p, &square, &Headers::new(), body),
            &NormalizeRules::default(),
        )
        .unwrap();
        assert_eq!(e.key.as_str(), "sq:ev-1");
        assert_eq!(e.event_type.as_deref(), Some("payment.updated"));
        assert_eq!(e.entity.as_deref(), Some("payment/p9"));
    }

    #[test]
    fn shopify_key_is_entity_at_updated_at() {
        let p = ProviderName::parse("shop").unwrap();
        let h = Headers::new()
            .with("X-Shopify-Topic", "orders/updated")
            .with("X-Shopify-Webhook-Id", "b54557e4");
        let body = br#"{"id":820982911946154508,"updated_at":"2026-01-02T03:04:05-05:00"}"#;
        let e = normalize(
            &incoming(&p, &Scheme::Shopify, &h, body),
            &NormalizeRules::default(),
        )
        .unwrap();
        assert_eq!(e.key.as_str(), "shop:orders/820982911946154508@1767341045");
        assert_eq!(e.entity.as_deref(), Some("orders/820982911946154508"));
        assert_eq!(e.version, Some(1_767_341_045_000_000_000));
        // Without id/updated_at the webhook id is the fallback.
        let e = normalize(
            &incoming(&p, &Scheme::Shopify, &h, b"{}"),
            &NormalizeRules::default(),
        )
        .unwrap();
        assert_eq!(e.key.as_str(), "shop:b54557e4");
    }

    #[test]
    fn fallbacks_pointer_then_body_hash() {
        let p = ProviderName::parse("erp").unwrap();
        let spec = crate::signature::HmacSpec::github();
        let scheme = Scheme::Hmac(spec);
        let h = Headers::new();
        let rules = NormalizeRules {
            id_pointer: Some("/meta/uuid".into()),
            entity_pointer: Some("/order/id".into()),
            version_pointer: Some("/order/updated_at".into()),
            ..NormalizeRules::default()
        };
        let body =
            br#"{"meta":{"uuid":"u-1"},"order":{"id":7,"updated_at":"2026-01-01T00:00:00Z"}}"#;
        let e = normalize(&incoming(&p, &scheme, &h, body), &rules).unwrap();
        let typed = NormalizeRules {
            entity_type: Some("order".into()),
            ..rules.clone()
        };
        let t = normalize(&incoming(&p, &scheme, &h, body), &typed).unwrap();
        assert_eq!(t.entity.as_deref(), Some("order/7"));
        assert_eq!(e.key.as_str(), "erp:u-1");
        assert_eq!(e.entity.as_deref(), Some("7"));
        assert!(e.version.is_some());
        assert!(matches!(
            normalize(&incoming(&p, &scheme, &h, b"{}"), &rules),
            Err(NormalizeError::MissingField(_))
        ));
        // No id anywhere: the body hash, stable for the same bytes.
        let a = normalize(
            &incoming(&p, &scheme, &h, b"plain text"),
            &NormalizeRules::default(),
        )
        .unwrap();
        let b = normalize(
            &incoming(&p, &scheme, &h, b"plain text"),
            &NormalizeRules::default(),
        )
        .unwrap();
        assert_eq!(a.key, b.key);
        assert!(a.key.as_str().starts_with("erp:sha256-"));
    }

    #[test]
    fn declared_json_must_parse_and_deep_json_is_refused() {
        let p = ProviderName::parse("sw").unwrap();
        let h = Headers::new()
            .with("content-type", "application/json")
            .with("webhook-id", "m1");
        let deep = "[".repeat(10_000) + &"]".repeat(10_000);
        assert!(matches!(
            normalize(
                &incoming(&p, &Scheme::StandardWebhooks, &h, deep.as_bytes()),
                &NormalizeRules::default()
            ),
            Err(NormalizeError::MalformedJson(_))
        ));
        assert!(matches!(
            normalize(
                &incoming(&p, &Scheme::StandardWebhooks, &h, &[0xff, 0xfe]),
                &NormalizeRules::default()
            ),
            Err(NormalizeError::MalformedJson(_))
        ));
    }

    #[test]
    fn envelope_round_trips_and_debug_hides_the_body() {
        let p = ProviderName::parse("sw").unwrap();
        let h = Headers::new().with("webhook-id", "m1");
        let e = normalize(
            &incoming(&p, &Scheme::StandardWebhooks, &h, br#"{"email":"a@b.c"}"#),
            &NormalizeRules::default(),
        )
        .unwrap();
        let back = Envelope::from_json(e.to_json().as_bytes()).unwrap();
        assert_eq!(back, e);
        assert!(!format!("{e:?}").contains("a@b.c"));
        assert_eq!(e.to_record().payload["email"], "a@b.c");
        assert!(Envelope::from_json(b"{\"v\":9}").is_err());
    }

    mod properties {
        use proptest::prelude::*;

        use super::*;

        /// Arbitrary JSON, nested a few levels, with the field names the presets read.
        fn json() -> impl Strategy<Value = Value> {
            let leaf = prop_oneof![
                Just(Value::Null),
                any::<bool>().prop_map(Value::Bool),
                any::<i64>().prop_map(Value::from),
                any::<f64>().prop_map(Value::from),
                "\\PC{0,24}".prop_map(Value::from),
                "20[0-9]{2}-[01][0-9]-[0-3][0-9]T[0-2][0-9]:[0-5][0-9]:[0-5][0-9](\\.[0-9]{1,9})?(Z|[+-][0-2][0-9]:[0-5][0-9])"
                    .prop_map(Value::from),
            ];
            leaf.prop_recursive(4, 48, 6, |inner| {
                prop_oneof![
                    proptest::collection::vec(inner.clone(), 0..4).prop_map(Value::Array),
                    proptest::collection::btree_map(
                        prop_oneof![
                            Just("id".to_string()),
                            Just("type".to_string()),
                            Just("created".to_string()),
                            Just("updated_at".to_string()),
                            Just("data".to_string()),
                            Just("object".to_string()),
                            "[a-z~/]{1,6}",
                        ],
                        inner,
                        0..5
                    )
                    .prop_map(|m| Value::Object(m.into_iter().collect())),
                ]
            })
        }

        fn pointer() -> impl Strategy<Value = Option<String>> {
            proptest::option::of(prop_oneof![
                Just("/id".to_string()),
                Just("/data/object/id".to_string()),
                Just("/updated_at".to_string()),
                Just("".to_string()),
                "(/[a-z0-9~]{0,4}){0,4}",
            ])
        }

        fn scheme() -> impl Strategy<Value = Scheme> {
            prop_oneof![
                Just(Scheme::StandardWebhooks),
                Just(Scheme::Svix),
                Just(Scheme::Stripe),
                Just(Scheme::Github),
                Just(Scheme::Shopify),
                Just(Scheme::Slack),
            ]
        }

        proptest! {
            #![proptest_config(ProptestConfig { cases: 512, ..ProptestConfig::default() })]

            /// Never panics, decides the same way twice, and what it builds survives the
            /// queue: the envelope's JSON decodes to the same envelope.
            #[test]
            fn normalize_is_total_and_deterministic(
                body in prop_oneof![
                    json().prop_map(|v| serde_json::to_vec(&v).unwrap()),
                    proptest::collection::vec(any::<u8>(), 0..64),
                ],
                scheme in scheme(),
                id in pointer(),
                kind in pointer(),
                entity in pointer(),
                version in pointer(),
                webhook_id in proptest::option::of("\\PC{0,12}"),
                topic in proptest::option::of("[a-z/_]{0,16}"),
            ) {
                let p = ProviderName::parse("prop").unwrap();
                let mut h = Headers::new();
                for (name, value) in [
                    ("webhook-id", &webhook_id),
                    ("svix-id", &webhook_id),
                    ("x-github-delivery", &webhook_id),
                    ("x-shopify-webhook-id", &webhook_id),
                    ("x-shopify-topic", &topic),
                    ("x-github-event", &topic),
                ] {
                    if let Some(v) = value {
                        h.insert(name, v.clone());
                    }
                }
                let rules = NormalizeRules {
                    id_pointer: id,
                    type_pointer: kind,
                    entity_pointer: entity,
                    version_pointer: version,
                    key_version_pointer: None,
                    max_event_age: None,
                    event_time_pointer: None,
                    entity_type: None,
                    conventions: None,
                };
                let input = incoming(&p, &scheme, &h, &body);
                let first = normalize(&input, &rules);
                prop_assert_eq!(&first, &normalize(&input, &rules));
                if let Ok(e) = first {
                    prop_assert!(EventKey::parse(e.key.as_str()).is_ok());
                    prop_assert_eq!(&e.payload_sha256, &sha256_hex(&body));
                    let back = Envelope::from_json(e.to_json().as_bytes()).unwrap();
                    prop_assert_eq!(back, e);
                }
            }
        }
    }
}
