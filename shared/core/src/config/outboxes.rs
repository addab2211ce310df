//! `[[outboxes]]`: the application outbox tables `inlet dev` drains.

use super::*;

/// The outboxes, each checked; an outbox's name must not be a provider's or another
/// outbox's (`names`, which it joins).
pub(super) fn build(
    raw: &[RawOutbox],
    names: &mut std::collections::HashSet<String>,
    push: &mut impl FnMut(String, String),
) -> Vec<OutboxConfig> {
    let mut outboxes = Vec::new();
    for (i, o) in raw.iter().enumerate() {
        let at = |field: &str| format!("outboxes[{i}].{field}");
        let name = match ProviderName::parse(&o.name) {
            Ok(n) => Some(n),
            Err(e) => {
                push(at("name"), format!("{:?} {e}", o.name));
                None
            }
        };
        // The name prefixes the idempotency keys: shared with a provider (or another
        // outbox), two different events could share a key and one would be dropped.
        if !names.insert(o.name.clone()) {
            push(
                at("name"),
                format!("{:?} is already a provider's or an outbox's name", o.name),
            );
        }
        if o.sqlite.is_empty() {
            push(
                at("sqlite"),
                "must name the application's database file".into(),
            );
        }
        if o.batch_size == 0 || o.batch_size > 1000 {
            push(at("batch_size"), "must be between 1 and 1000".into());
        }
        if o.max_attempts == 0 {
            push(at("max_attempts"), "must be at least 1".into());
        }
        if o.poll_interval_ms == 0 {
            push(at("poll_interval_ms"), "must be at least 1".into());
        }
        if let Some(name) = name {
            outboxes.push(OutboxConfig {
                name,
                sqlite: o.sqlite.clone(),
                poll_interval_ms: o.poll_interval_ms,
                batch_size: o.batch_size,
                max_attempts: o.max_attempts,
            });
        }
    }
    outboxes
}
