//! Where a provider's payload keeps an event's facts. Each fact is the first of its fields
//! that is present; none present leaves it to the fallbacks (`normalize`: the body's hash
//! for the id).

use serde_json::Value;

use crate::headers::Headers;

/// Where one fact is read from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Field {
    /// A header's value.
    Header(&'static str),
    /// A JSON pointer into the body.
    Pointer(&'static str),
    /// A parameter of a form-encoded body.
    Form(&'static str),
    /// A constant (an entity type the provider implies, `payment`).
    Const(&'static str),
}

/// A provider's conventions.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Conventions {
    /// The id the provider repeats on every retry of one event.
    pub id: &'static [Field],
    /// The event's type (`invoice.paid`).
    pub event_type: &'static [Field],
    /// The type of the object the event is about (`order`).
    pub entity_type: &'static [Field],
    /// The id of the object the event is about.
    pub entity_id: &'static [Field],
    /// The object's version or update time, for ordering.
    pub version: &'static [Field],
    /// Facts of the object's state that make the key: `{id}@{all present, joined by ':'}`
    /// (a fetched Mollie payment: status and amounts refunded and charged back), so a
    /// repeated notification of one state is a duplicate and a new state is news.
    pub id_suffix: &'static [Field],
    /// Without those facts every delivery is news (the provider sends only an id to fetch,
    /// the same for every change): the key is the id and the time it arrived.
    pub per_delivery: bool,
    /// The webhook carries the changed record: key it as the reconciliation source does.
    pub record: Option<RecordKey>,
}

/// Records, not events: a webhook that carries the changed object keys it
/// `{entity}/{id}@{update time as Unix seconds}`, and a deletion `{entity}/{id}@deleted` —
/// the keys the provider's source preset gives the same change, so whichever of the
/// webhook and the poll comes second is a duplicate. Without the entity or a readable time
/// the preset's `id` keys the event as before.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RecordKey {
    /// The record's update time (any form `inlet_core::times` reads).
    pub updated: &'static [Field],
    /// A field and the value that says the record was deleted.
    pub deleted: &'static [(Field, &'static str)],
}

impl Conventions {
    /// No conventions: every fact is left to the fallbacks.
    pub const NONE: Conventions = Conventions {
        id: &[],
        event_type: &[],
        entity_type: &[],
        entity_id: &[],
        version: &[],
        id_suffix: &[],
        per_delivery: false,
        record: None,
    };

    /// The first present field among `fields`, as text (and as the JSON value, for versions).
    pub fn read(
        fields: &[Field],
        headers: &Headers,
        json: Option<&Value>,
        body: &[u8],
    ) -> Option<Found> {
        Self::read_field(fields, headers, json, body).map(|(_, found)| found)
    }

    /// [`Conventions::read`], with the field that matched.
    pub fn read_field(
        fields: &[Field],
        headers: &Headers,
        json: Option<&Value>,
        body: &[u8],
    ) -> Option<(Field, Found)> {
        fields.iter().find_map(|f| {
            let found = match f {
                Field::Header(h) => headers
                    .text(h)
                    .filter(|v| !v.is_empty())
                    .map(|v| Found::Text(v.to_string())),
                Field::Pointer(p) => json.and_then(|j| j.pointer(p)).and_then(|v| match v {
                    Value::String(s) if s.is_empty() => None,
                    Value::String(_) | Value::Number(_) | Value::Bool(_) => {
                        Some(Found::Json(v.clone()))
                    }
                    _ => None,
                }),
                Field::Form(name) => form_value(body, name).map(Found::Text),
                Field::Const(c) => Some(Found::Text((*c).to_string())),
            };
            found.map(|found| (*f, found))
        })
    }

    pub(crate) fn describe(fields: &[Field]) -> String {
        if fields.is_empty() {
            return "—".into();
        }
        fields
            .iter()
            .map(|f| match f {
                Field::Header(h) => format!("header `{h}`"),
                Field::Pointer(p) => format!("`{p}`"),
                Field::Form(n) => format!("form `{n}`"),
                Field::Const(c) => format!("\"{c}\""),
            })
            .collect::<Vec<_>>()
            .join(" or ")
    }

    pub(crate) fn describe_id(&self) -> String {
        if let Some(r) = &self.record {
            return format!(
                "entity @ {} as Unix seconds (@deleted when {}), else {}",
                Self::describe(r.updated),
                r.deleted
                    .iter()
                    .map(|(f, v)| format!("{} is \"{v}\"", Self::describe(std::slice::from_ref(f))))
                    .collect::<Vec<_>>()
                    .join(" or "),
                Self::describe(self.id)
            );
        }
        if !self.id_suffix.is_empty() && !self.per_delivery {
            return format!(
                "{} @ {}",
                Self::describe(self.id),
                Self::describe(self.id_suffix)
            );
        }
        if !self.id_suffix.is_empty() {
            return format!(
                "{} @ {} (fetched), else @ arrival",
                Self::describe(self.id),
                Self::describe(self.id_suffix)
            );
        }
        match (self.id.is_empty(), self.per_delivery) {
            (_, true) => format!(
                "{} @ arrival (every delivery is news)",
                Self::describe(self.id)
            ),
            (true, false) => "body hash".into(),
            (false, false) => format!("{}, else body hash", Self::describe(self.id)),
        }
    }

    pub(crate) fn describe_entity(&self) -> String {
        match (self.entity_type.is_empty(), self.entity_id.is_empty()) {
            (_, true) => "—".into(),
            (true, false) => Self::describe(self.entity_id),
            (false, false) => format!(
                "{} / {}",
                Self::describe(self.entity_type),
                Self::describe(self.entity_id)
            ),
        }
    }
}

/// A value read by [`Conventions::read`].
#[derive(Debug, Clone, PartialEq)]
pub enum Found {
    /// Text from a header, a form or a constant.
    Text(String),
    /// A JSON value from the body.
    Json(Value),
}

impl Found {
    /// As text: a JSON string unquoted, any other value as JSON.
    pub fn text(&self) -> String {
        match self {
            Found::Text(s) => s.clone(),
            Found::Json(Value::String(s)) => s.clone(),
            Found::Json(v) => v.to_string(),
        }
    }

    /// As JSON: text found in a header or a form is a string.
    pub fn into_json(self) -> Value {
        match self {
            Found::Text(s) => Value::String(s),
            Found::Json(v) => v,
        }
    }
}

/// The value of `name` in a form-encoded body, strictly UTF-8.
fn form_value(body: &[u8], name: &str) -> Option<String> {
    body.split(|&b| b == b'&').find_map(|pair| {
        let (k, v) = match pair.iter().position(|&b| b == b'=') {
            Some(i) => (&pair[..i], &pair[i + 1..]),
            None => (pair, &pair[pair.len()..]),
        };
        (crate::signature::form_component(k)? == name)
            .then(|| crate::signature::form_component(v))
            .flatten()
            .filter(|v| !v.is_empty())
    })
}
