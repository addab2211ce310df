//! The envelope: one normalized event as it travels through the queue, and the record a
//! sink receives.

use serde::{Deserialize, Serialize};
use time::OffsetDateTime;

use crate::ids::{EventKey, ProviderName};

/// How an event entered the pipeline.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Source {
    Webhook,
    Reconciliation,
    Replay,
    /// Staged by the application in its own transaction (`inlet-outbox`).
    Outbox,
}

impl Source {
    pub fn as_str(self) -> &'static str {
        match self {
            Source::Webhook => "webhook",
            Source::Reconciliation => "reconciliation",
            Source::Replay => "replay",
            Source::Outbox => "outbox",
        }
    }
}

/// One event, normalized. Serialized as the queue message body (schema version `v`).
///
/// `Debug` leaves the body out: payloads carry personal data and must not reach logs.
#[derive(Clone, PartialEq, Serialize, Deserialize)]
pub struct Envelope {
    pub v: u8,
    pub key: EventKey,
    pub provider: ProviderName,
    pub event_id: String,
    #[serde(rename = "type", default, skip_serializing_if = "Option::is_none")]
    pub event_type: Option<String>,
    pub source: Source,
    #[serde(with = "time::serde::rfc3339")]
    pub received_at: OffsetDateTime,
    pub correlation_id: String,
    /// The entity this event changes (`orders/123`), for ordering.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub entity: Option<String>,
    /// The entity's version or `updated_at` (as Unix nanoseconds), for stale detection.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub version: Option<i64>,
    /// SHA-256 (hex) of the raw body: the same key with another hash is flagged.
    pub payload_sha256: String,
    /// The key's id came from a header the signature does not cover, while the body is
    /// signed: the worker claims the body's hash beside the key, so the same signed body
    /// under another id (a captured request replayed with a fresh delivery id) is refused.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub body_guard: bool,
    /// Set when a webhook arrived older than its provider's `max_event_age_secs`: why it
    /// is acknowledged and recorded instead of delivered.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stale: Option<String>,
    /// Who asked for a replay (`source = replay`): the history says so.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub replayed_by: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub content_type: Option<String>,
    /// The raw body, exactly as received.
    #[serde(with = "body_base64")]
    pub body: Vec<u8>,
}

impl Envelope {
    pub const SCHEMA_VERSION: u8 = 1;

    /// The record sinks receive.
    pub fn to_record(&self) -> SinkRecord {
        SinkRecord {
            key: self.key.to_string(),
            provider: self.provider.to_string(),
            event_id: self.event_id.clone(),
            event_type: self.event_type.clone(),
            source: self.source,
            received_at: self.received_at,
            correlation_id: self.correlation_id.clone(),
            entity: self.entity.clone(),
            version: self.version,
            payload: payload_value(&self.body),
        }
    }

    pub fn to_json(&self) -> String {
        // Serializing this struct cannot fail: every field is a plain value.
        serde_json::to_string(self).unwrap_or_default()
    }

    pub fn from_json(s: &[u8]) -> Result<Self, serde_json::Error> {
        let env: Envelope = serde_json::from_slice(s)?;
        if env.v != Self::SCHEMA_VERSION {
            return Err(serde::de::Error::custom(format!(
                "unsupported envelope version {}",
                env.v
            )));
        }
        Ok(env)
    }
}

impl Envelope {
    /// A queue message's body as an envelope, or why it is not one, in words an operator
    /// can act on. The outbox publisher parks an item that can never become an event in the
    /// DLQ as its raw DynamoDB image; redriven, it would only fail to decode again, so the
    /// reason says so and names the fix.
    pub fn decode(body: &[u8]) -> Result<Self, String> {
        Self::from_json(body).map_err(|e| match parked_outbox_item(body) {
            Some(pk) => {
                let id = pk.trim_start_matches("O#");
                format!(
                    "outbox item {pk} cannot be published (redriving its dead letter cannot change that): fix the item in the table, then `inlet outbox redrive --id {id} --backend aws`, or `inlet outbox discard --id {id} --backend aws`"
                )
            }
            None => e.to_string(),
        })
    }
}

/// The partition key of a raw outbox item image (`{"pk":{"S":"O#…"},…}`), if `body` is one.
fn parked_outbox_item(body: &[u8]) -> Option<String> {
    let image: serde_json::Value = serde_json::from_slice(body).ok()?;
    let pk = image.pointer("/pk/S")?.as_str()?;
    pk.starts_with("O#").then(|| pk.chars().take(200).collect())
}

impl std::fmt::Debug for Envelope {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Envelope")
            .field("key", &self.key)
            .field("event_type", &self.event_type)
            .field("source", &self.source)
            .field("entity", &self.entity)
            .field("version", &self.version)
            .field("correlation_id", &self.correlation_id)
            .field("body_len", &self.body.len())
            .finish_non_exhaustive()
    }
}

/// The provider's JSON body as parsed; raw text when it is not JSON.
pub fn payload_value(body: &[u8]) -> serde_json::Value {
    serde_json::from_slice(body)
        .unwrap_or_else(|_| serde_json::Value::String(String::from_utf8_lossy(body).into_owned()))
}

/// What a sink receives: one JSON object per event.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SinkRecord {
    pub key: String,
    pub provider: String,
    pub event_id: String,
    #[serde(rename = "type")]
    pub event_type: Option<String>,
    pub source: Source,
    #[serde(with = "time::serde::rfc3339")]
    pub received_at: OffsetDateTime,
    pub correlation_id: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub entity: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub version: Option<i64>,
    pub payload: serde_json::Value,
}

mod body_base64 {
    use base64::Engine as _;
    use serde::{Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(bytes: &[u8], s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&base64::engine::general_purpose::STANDARD.encode(bytes))
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<u8>, D::Error> {
        let s = String::deserialize(d)?;
        base64::engine::general_purpose::STANDARD
            .decode(s)
            .map_err(serde::de::Error::custom)
    }
}
