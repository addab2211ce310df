//! Identifier newtypes that can only hold valid values.

use serde::{Deserialize, Serialize};
use std::fmt;

/// Why an identifier was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum IdError {
    #[error("must not be empty")]
    Empty,
    #[error("is {len} bytes, the limit is {max}")]
    TooLong { len: usize, max: usize },
    #[error("contains {0:?}; allowed are a-z, 0-9, '-' and '_'")]
    BadChar(char),
    #[error("contains a control character")]
    Control,
}

/// A provider's configured name: the `{provider}` in `POST /webhooks/{provider}` and the
/// prefix of every idempotency key. Lowercase ASCII letters, digits, `-`, `_`; ≤ 64 bytes.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct ProviderName(String);

impl ProviderName {
    pub const MAX_LEN: usize = 64;

    pub fn parse(s: &str) -> Result<Self, IdError> {
        if s.is_empty() {
            return Err(IdError::Empty);
        }
        if s.len() > Self::MAX_LEN {
            return Err(IdError::TooLong {
                len: s.len(),
                max: Self::MAX_LEN,
            });
        }
        if let Some(c) = s
            .chars()
            .find(|c| !(c.is_ascii_lowercase() || c.is_ascii_digit() || *c == '-' || *c == '_'))
        {
            return Err(IdError::BadChar(c));
        }
        Ok(Self(s.to_string()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl TryFrom<String> for ProviderName {
    type Error = IdError;
    fn try_from(s: String) -> Result<Self, Self::Error> {
        Self::parse(&s)
    }
}

impl From<ProviderName> for String {
    fn from(p: ProviderName) -> String {
        p.0
    }
}

impl fmt::Display for ProviderName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// The idempotency key `provider:event_id`, stable across redeliveries of one event.
/// ≤ 512 bytes (DynamoDB and SQS attribute friendly), no control characters.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct EventKey(String);

impl EventKey {
    pub const MAX_LEN: usize = 512;

    pub fn new(provider: &ProviderName, event_id: &str) -> Result<Self, IdError> {
        Self::parse(&format!("{provider}:{event_id}"))
    }

    pub fn parse(s: &str) -> Result<Self, IdError> {
        let Some((provider, id)) = s.split_once(':') else {
            return Err(IdError::Empty);
        };
        ProviderName::parse(provider)?;
        if id.is_empty() {
            return Err(IdError::Empty);
        }
        if s.len() > Self::MAX_LEN {
            return Err(IdError::TooLong {
                len: s.len(),
                max: Self::MAX_LEN,
            });
        }
        if s.chars().any(char::is_control) {
            return Err(IdError::Control);
        }
        Ok(Self(s.to_string()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl TryFrom<String> for EventKey {
    type Error = IdError;
    fn try_from(s: String) -> Result<Self, Self::Error> {
        Self::parse(&s)
    }
}

impl From<EventKey> for String {
    fn from(k: EventKey) -> String {
        k.0
    }
}

impl fmt::Display for EventKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn provider_names_are_restricted() {
        assert!(ProviderName::parse("stripe").is_ok());
        assert!(ProviderName::parse("my_erp-2").is_ok());
        assert_eq!(ProviderName::parse(""), Err(IdError::Empty));
        assert_eq!(ProviderName::parse("Stripe"), Err(IdError::BadChar('S')));
        assert_eq!(ProviderName::parse("../x"), Err(IdError::BadChar('.')));
        assert!(ProviderName::parse(&"a".repeat(65)).is_err());
    }

    #[test]
    fn event_keys_carry_the_provider() {
        let p = ProviderName::parse("stripe").unwrap();
        let k = EventKey::new(&p, "evt_1").unwrap();
        assert_eq!(k.as_str(), "stripe:evt_1");
        assert!(EventKey::new(&p, "").is_err());
        assert!(EventKey::new(&p, "a\nb").is_err());
        assert!(EventKey::new(&p, &"x".repeat(600)).is_err());
        assert!(EventKey::parse("nocolon").is_err());
    }
}
