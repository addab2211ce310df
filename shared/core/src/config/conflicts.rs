//! `[[conflicts]]`: the conflict rules per entity type.

use super::*;

/// `[[conflicts]]`, checked against the configured provider and outbox names (`known`).
pub(super) fn build(
    raw: &[RawConflict],
    known: &std::collections::HashSet<String>,
    push: &mut impl FnMut(String, String),
) -> Vec<ConflictRule> {
    let mut rules: Vec<ConflictRule> = Vec::new();
    for (i, c) in raw.iter().enumerate() {
        let at = |field: &str| format!("conflicts[{i}].{field}");
        let mut ok = true;
        let mut bad = |field: &str, message: String| {
            ok = false;
            push(at(field), message);
        };
        if let Err(e) = check_entity_type(&c.entity_type) {
            bad("entity_type", e);
        }
        let kind = RuleKind::parse(&c.rule);
        match kind {
            None => bad(
                "rule",
                format!(
                    "{:?} is not a rule: last-write-wins, source-priority or manual-review",
                    c.rule
                ),
            ),
            Some(RuleKind::SourcePriority) if c.priority.is_empty() => bad(
                "priority",
                "source-priority needs the providers in order, highest first".into(),
            ),
            Some(RuleKind::SourcePriority) => {}
            Some(_) if !c.priority.is_empty() => bad(
                "priority",
                format!("only source-priority takes a priority, not {}", c.rule),
            ),
            Some(_) => {}
        }
        for (j, p) in c.priority.iter().enumerate() {
            if !known.contains(p) {
                bad(
                    &format!("priority[{j}]"),
                    format!("{p:?} is not a configured provider or outbox"),
                );
            } else if c.priority[..j].contains(p) {
                bad(&format!("priority[{j}]"), format!("{p:?} is listed twice"));
            }
        }
        if c.window_secs == Some(0) {
            bad(
                "window_secs",
                "must be at least 1 (leave it out for no time limit)".into(),
            );
        }
        if kind == Some(RuleKind::LastWriteWins) && c.window_secs.is_some() {
            bad(
                "window_secs",
                "last-write-wins compares versions; a window means nothing to it".into(),
            );
        }
        for (j, f) in c.fields.iter().enumerate() {
            if !f.starts_with('/') {
                bad(
                    &format!("fields[{j}]"),
                    format!("{f:?} is not a JSON pointer (it must start with '/')"),
                );
            }
        }
        let whole = c.fields.is_empty();
        // One rule for the whole entity and one per field, so no two rules judge one change
        // of one field.
        if let Some(clash) = rules.iter().find(|r| {
            r.entity_type == c.entity_type
                && if whole {
                    r.fields.is_empty()
                } else {
                    r.fields.iter().any(|f| c.fields.contains(f))
                }
        }) {
            let what = if whole {
                "the whole entity"
            } else {
                "one of these fields"
            };
            bad(
                "entity_type",
                format!(
                    "{:?} already has a {} rule for {what}",
                    c.entity_type,
                    clash.kind.as_str()
                ),
            );
        }
        if let (true, Some(kind)) = (ok, kind) {
            rules.push(ConflictRule {
                entity_type: c.entity_type.clone(),
                kind,
                priority: c.priority.clone(),
                window: c.window_secs.map(std::time::Duration::from_secs),
                fields: c.fields.clone(),
            });
        }
    }
    rules
}
