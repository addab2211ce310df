//! The claim-check pointer a queue message carries instead of a body too large for the
//! queue: its codec and its checks. Pure, so the fuzzer reaches it; the storage of the
//! chunks is the adapter's (`inlet_aws::claim_check`).
//!
//! A pointer is read from a queue, which anyone with `SendMessage` rights (or a corrupted
//! message) can fill, so every field is checked before it sizes a buffer or a loop.

use serde::{Deserialize, Serialize};

/// Bytes per stored chunk. DynamoDB's item limit is 400 KB, attribute names and values
/// included (<https://docs.aws.amazon.com/amazondynamodb/latest/developerguide/ServiceQuotas.html#limits-items>,
/// checked 2026-11-28); a 350 KiB chunk leaves room for `pk`, `ttl` and the names.
pub const CHUNK_BYTES: usize = 350 * 1024;

/// The largest body a pointer may name: API Gateway's 10 MB payload limit
/// (<https://docs.aws.amazon.com/apigateway/latest/developerguide/limits.html>, checked
/// 2026-11-28) as an envelope, whose JSON escaping can at most sextuple it (`\u0000`),
/// rounded up.
pub const MAX_BODY_BYTES: usize = 64 * 1024 * 1024;

/// A pointer message is small; anything longer is a body, not a pointer.
const MAX_POINTER_MESSAGE: usize = 4096;

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Pointer {
    pub id: String,
    pub chunks: usize,
    pub bytes: usize,
    pub sha256: String,
}

#[derive(Serialize, Deserialize)]
struct Message {
    inlet_claim_check: Pointer,
}

impl Pointer {
    /// The pointer for `bytes` of body with hex SHA-256 `sha256`.
    pub fn for_body(sha256: String, bytes: usize) -> Self {
        Self {
            id: format!("{}-{bytes}", sha256.get(..32).unwrap_or(&sha256)),
            chunks: bytes.div_ceil(CHUNK_BYTES),
            bytes,
            sha256,
        }
    }

    /// The queue message that carries this pointer.
    pub fn to_message(&self) -> String {
        serde_json::json!({ "inlet_claim_check": self }).to_string()
    }

    /// Whether the fields agree with each other and stay within the limits.
    fn check(&self) -> Result<(), String> {
        let hex64 = self.sha256.len() == 64 && self.sha256.bytes().all(|b| b.is_ascii_hexdigit());
        if !hex64 {
            return Err("claim check sha256 is not 64 hex digits".into());
        }
        if self.bytes == 0 || self.bytes > MAX_BODY_BYTES {
            return Err(format!(
                "claim check names {} bytes; 1 to {MAX_BODY_BYTES} allowed",
                self.bytes
            ));
        }
        if self.chunks != self.bytes.div_ceil(CHUNK_BYTES) {
            return Err(format!(
                "claim check has {} chunks for {} bytes",
                self.chunks, self.bytes
            ));
        }
        let id_ok = self.id.len() <= 128
            && !self.id.is_empty()
            && self
                .id
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-');
        if !id_ok {
            return Err("claim check id is not [A-Za-z0-9-]{1,128}".into());
        }
        Ok(())
    }
}

/// The pointer in a queue message body: `None` when the body is not a pointer (an
/// envelope), `Some(Err(reason))` when it is one that cannot be trusted.
pub fn pointer_of(body: &str) -> Option<Result<Pointer, String>> {
    if body.len() > MAX_POINTER_MESSAGE || !body.contains("inlet_claim_check") {
        return None;
    }
    let message = serde_json::from_str::<Message>(body).ok()?;
    let pointer = message.inlet_claim_check;
    Some(pointer.check().map(|()| pointer))
}

#[cfg(test)]
mod tests {
    use super::*;

    const SHA: &str = "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";

    #[test]
    fn round_trips_a_pointer() {
        let p = Pointer::for_body(SHA.into(), 700 * 1024 + 1);
        assert_eq!(p.chunks, 3);
        assert_eq!(pointer_of(&p.to_message()), Some(Ok(p)));
    }

    #[test]
    fn an_envelope_is_not_a_pointer() {
        assert_eq!(pointer_of(r#"{"key":"stripe:evt_1"}"#), None);
        // Mentions the word but is not the shape.
        assert_eq!(pointer_of(r#"{"note":"inlet_claim_check"}"#), None);
    }

    // A hostile pointer must not size a buffer (`Vec::with_capacity(usize::MAX)` aborts)
    // nor a loop of reads.
    #[test]
    fn rejects_pointers_that_would_size_buffers_or_loops() {
        let msg = |chunks: &str, bytes: &str, sha: &str, id: &str| {
            format!(
                r#"{{"inlet_claim_check":{{"id":"{id}","chunks":{chunks},"bytes":{bytes},"sha256":"{sha}"}}}}"#
            )
        };
        let huge = usize::MAX.to_string();
        for (body, why) in [
            (msg("1", &huge, SHA, "a-1"), "bytes"),
            (msg(&huge, "10", SHA, "a-1"), "chunks"),
            (msg("1", "0", SHA, "a-1"), "bytes"),
            (msg("2", "10", SHA, "a-1"), "chunks"),
            (msg("1", "10", "zz", "a-1"), "sha256"),
            (msg("1", "10", SHA, "../../etc"), "id"),
        ] {
            let err = pointer_of(&body).expect("a pointer").expect_err(why);
            assert!(err.contains(why), "{why}: {err}");
        }
    }
}
