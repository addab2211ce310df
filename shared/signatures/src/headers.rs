//! A minimal, case-insensitive header map over raw bytes.
//!
//! Values stay bytes because providers (and attackers) can send non-UTF-8 headers; a scheme
//! decides what to do with them. Core keeps its own type so the Lambda event mapping and
//! the local HTTP server both feed it without core depending on an HTTP stack.

#[derive(Clone, Default)]
/// Request headers: case-insensitive names, values as the bytes received.
pub struct Headers {
    entries: Vec<(String, Vec<u8>)>,
}

/// A header that exists but is not valid UTF-8.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("header {0} is not valid UTF-8")]
pub struct NonUtf8Header(pub String);

impl Headers {
    /// An empty map.
    pub fn new() -> Self {
        Self::default()
    }

    /// Append a header; names are compared case-insensitively.
    pub fn insert(&mut self, name: &str, value: impl Into<Vec<u8>>) {
        self.entries.push((name.to_ascii_lowercase(), value.into()));
    }

    /// Replace every value of `name` with one.
    pub fn set(&mut self, name: &str, value: impl Into<Vec<u8>>) {
        let name = name.to_ascii_lowercase();
        self.entries.retain(|(n, _)| *n != name);
        self.entries.push((name, value.into()));
    }

    /// [`Headers::insert`], for building a map in one expression.
    pub fn with(mut self, name: &str, value: impl Into<Vec<u8>>) -> Self {
        self.insert(name, value);
        self
    }

    /// The first value of `name`, as bytes.
    pub fn get_bytes(&self, name: &str) -> Option<&[u8]> {
        self.entries
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_slice())
    }

    /// The first value of `name` as text; `Err` if it is present but not UTF-8.
    pub fn get_str(&self, name: &str) -> Result<Option<&str>, NonUtf8Header> {
        match self.get_bytes(name) {
            None => Ok(None),
            Some(v) => std::str::from_utf8(v)
                .map(|s| Some(s.trim()))
                .map_err(|_| NonUtf8Header(name.to_ascii_lowercase())),
        }
    }

    /// Like [`get_str`](Self::get_str), but a non-UTF-8 value reads as absent.
    pub fn text(&self, name: &str) -> Option<&str> {
        self.get_str(name).ok().flatten()
    }

    /// Every header, in the order added, names lowercase.
    pub fn iter(&self) -> impl Iterator<Item = (&str, &[u8])> {
        self.entries.iter().map(|(n, v)| (n.as_str(), v.as_slice()))
    }

    /// How many values there are.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// Whether there are none.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }
}

impl std::fmt::Debug for Headers {
    // Header values can carry signatures and tokens: print names only.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_list()
            .entries(self.entries.iter().map(|(n, _)| n))
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lookup_is_case_insensitive_and_non_utf8_is_reported() {
        let h = Headers::new()
            .with("Stripe-Signature", "t=1")
            .with("X-Bad", vec![0xff, 0xfe]);
        assert_eq!(h.get_str("stripe-signature"), Ok(Some("t=1")));
        assert_eq!(h.get_str("x-bad"), Err(NonUtf8Header("x-bad".to_string())));
        assert_eq!(h.text("x-bad"), None);
        assert!(!format!("{h:?}").contains("t=1"));
    }
}
