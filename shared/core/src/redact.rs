//! Redaction of personal data before anything reaches a log line.

use serde_json::Value;

/// Field names redacted by default wherever a payload is logged.
pub const DEFAULT_FIELDS: &[&str] = &[
    "email",
    "phone",
    "name",
    "first_name",
    "last_name",
    "address",
    "address1",
    "address2",
    "card",
    "iban",
    "ssn",
    "tax_id",
    "ip",
    "password",
    "token",
    "secret",
    "birthdate",
];

/// A value found at JSON `pointer`, redacted: whole when any token of the pointer is a
/// redacted name (`/customer/phone` with `phone`), else field by field.
pub fn redact_at(pointer: &str, value: &Value, fields: &[String]) -> Value {
    let named = pointer
        .split('/')
        .any(|token| fields.iter().any(|f| f.eq_ignore_ascii_case(token)));
    if named {
        Value::String("[redacted]".into())
    } else {
        redact(value, fields)
    }
}

/// Replace the value of every object field whose name matches `fields`
/// (case-insensitive, at any depth) with `"[redacted]"`.
pub fn redact(value: &Value, fields: &[String]) -> Value {
    match value {
        Value::Object(map) => Value::Object(
            map.iter()
                .map(|(k, v)| {
                    let hidden = fields.iter().any(|f| f.eq_ignore_ascii_case(k));
                    let v = if hidden {
                        Value::String("[redacted]".into())
                    } else {
                        redact(v, fields)
                    };
                    (k.clone(), v)
                })
                .collect(),
        ),
        Value::Array(items) => Value::Array(items.iter().map(|v| redact(v, fields)).collect()),
        other => other.clone(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn a_value_at_a_pointer_is_redacted_by_any_of_its_names() {
        let fields = vec!["phone".to_string(), "email".to_string()];
        assert_eq!(
            redact_at("/customer/Phone", &json!("+31"), &fields),
            json!("[redacted]")
        );
        assert_eq!(redact_at("/notes", &json!("hi"), &fields), json!("hi"));
        assert_eq!(
            redact_at("/contact", &json!({"email": "a@b", "id": 1}), &fields),
            json!({"email": "[redacted]", "id": 1})
        );
    }

    #[test]
    fn redacts_at_any_depth() {
        let v =
            serde_json::json!({"id": 1, "customer": {"Email": "a@b.c", "tags": [{"phone": "1"}]}});
        let r = redact(&v, &["email".into(), "phone".into()]);
        assert_eq!(r["customer"]["Email"], "[redacted]");
        assert_eq!(r["customer"]["tags"][0]["phone"], "[redacted]");
        assert_eq!(r["id"], 1);
    }
}
