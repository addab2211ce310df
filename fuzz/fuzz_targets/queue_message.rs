//! What a worker reads off the queue: a claim-check pointer or an envelope's JSON. Any
//! body decodes to one, or to a reason (the message is dead-lettered), never a panic; a
//! pointer that decodes is bounded; an envelope that decodes re-encodes to itself.
#![no_main]

use inlet_core::claim_check::{pointer_of, MAX_BODY_BYTES};
use inlet_core::envelope::Envelope;
use inlet_core::ids::EventKey;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(text) = std::str::from_utf8(data) {
        if let Some(Ok(p)) = pointer_of(text) {
            assert!(p.bytes <= MAX_BODY_BYTES && p.chunks <= p.bytes);
            return;
        }
    }
    if let Ok(envelope) = Envelope::from_json(data) {
        assert!(EventKey::parse(envelope.key.as_str()).is_ok());
        let again = Envelope::from_json(envelope.to_json().as_bytes());
        assert!(again.as_ref().is_ok_and(|e| *e == envelope), "{again:?}");
    }
});
