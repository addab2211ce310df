//! Normalization over arbitrary bodies, headers and JSON pointers: never panics, is
//! deterministic, and what it builds survives the queue (the envelope's JSON decodes to
//! the same envelope, its key parses).
#![no_main]

use arbitrary::Arbitrary;
use inlet_core::envelope::{Envelope, Source};
use inlet_core::headers::Headers;
use inlet_core::ids::{EventKey, ProviderName};
use inlet_core::normalize::{normalize, Incoming, NormalizeRules};
use inlet_core::signature::Scheme;
use libfuzzer_sys::fuzz_target;

#[derive(Arbitrary, Debug)]
struct Input<'a> {
    scheme: u8,
    /// Which catalogue preset's conventions apply, if any.
    preset: Option<u8>,
    headers: Vec<(&'a str, &'a [u8])>,
    id_pointer: Option<String>,
    type_pointer: Option<String>,
    entity_pointer: Option<String>,
    version_pointer: Option<String>,
    body: &'a [u8],
}

fuzz_target!(|input: Input<'_>| {
    let Ok(provider) = ProviderName::parse("fuzz") else {
        return;
    };
    let scheme = match input.scheme % 6 {
        0 => Scheme::StandardWebhooks,
        1 => Scheme::Svix,
        2 => Scheme::Stripe,
        3 => Scheme::Github,
        4 => Scheme::Shopify,
        _ => Scheme::Slack,
    };
    let mut headers = Headers::new();
    for (name, value) in &input.headers {
        headers.insert(name, *value);
    }
    let rules = NormalizeRules {
        id_pointer: input.id_pointer,
        type_pointer: input.type_pointer,
        entity_pointer: input.entity_pointer,
        version_pointer: input.version_pointer,
        entity_type: None,
        conventions: input.preset.map(|i| {
            let presets = inlet_core::catalogue::PRESETS;
            presets[usize::from(i) % presets.len()].conventions
        }),
    };
    let incoming = Incoming {
        provider: &provider,
        scheme: &scheme,
        headers: &headers,
        body: input.body,
        received_at: time::OffsetDateTime::UNIX_EPOCH,
        correlation_id: "fuzz",
        source: Source::Webhook,
    };
    let first = normalize(&incoming, &rules);
    let second = normalize(&incoming, &rules);
    assert_eq!(first, second, "normalize is not deterministic");
    if let Ok(envelope) = first {
        assert!(EventKey::parse(envelope.key.as_str()).is_ok());
        let decoded = Envelope::from_json(envelope.to_json().as_bytes());
        assert!(
            decoded.as_ref().is_ok_and(|d| *d == envelope),
            "{decoded:?}"
        );
    }
});
