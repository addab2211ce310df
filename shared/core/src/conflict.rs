//! Conflict rules: when two systems change the same entity (a CRM rep and a webshop
//! customer editing one phone number), which change wins.
//!
//! A rule is declared per entity type (the part of an entity before its first `/`:
//! `customer` in `customer/42`) and applies to the whole entity or to listed fields (JSON
//! pointers). Each entity keeps a small [`EntityState`]: the newest version seen per
//! provider, who changed the entity last, and who set each ruled field last. [`decide`] is
//! pure: the stores load the state, decide, and write it back with a compare-and-set
//! (see `usecase::review`).
//!
//! Within one provider only the version decides (an older version never overwrites a
//! newer one). Across providers the rule decides:
//! - `last-write-wins`: the higher version wins (use a timestamp version pointer, e.g.
//!   `updated_at`, so versions of two systems compare); without versions, the later arrival.
//! - `source-priority`: a provider lower in `priority` never overwrites what a higher one
//!   set within `window` (for ever without a window); providers not listed rank last.
//! - `manual-review`: a change by another provider within `window` is held for an operator
//!   with both versions, and released or discarded by them.

use std::collections::BTreeMap;
use std::time::Duration;

use serde::{Deserialize, Serialize};
use serde_json::Value;
use time::OffsetDateTime;

use crate::clock::unix_millis;
use crate::envelope::Envelope;
use crate::normalize::sha256_hex;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum RuleKind {
    LastWriteWins,
    SourcePriority,
    ManualReview,
}

impl RuleKind {
    pub fn as_str(self) -> &'static str {
        match self {
            RuleKind::LastWriteWins => "last-write-wins",
            RuleKind::SourcePriority => "source-priority",
            RuleKind::ManualReview => "manual-review",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        [
            RuleKind::LastWriteWins,
            RuleKind::SourcePriority,
            RuleKind::ManualReview,
        ]
        .into_iter()
        .find(|k| k.as_str() == s)
    }
}

/// One `[[conflicts]]` entry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConflictRule {
    pub entity_type: String,
    pub kind: RuleKind,
    /// `source-priority`: provider names, highest first.
    pub priority: Vec<String>,
    /// How long a change is protected (`source-priority`) or how close two providers'
    /// changes must be to need a review (`manual-review`). `None`: for ever.
    pub window: Option<Duration>,
    /// JSON pointers; empty means the rule is about the whole entity.
    pub fields: Vec<String>,
}

impl ConflictRule {
    /// Rank in `priority` (0 is highest); providers not listed rank after every listed one.
    fn rank(&self, provider: &str) -> usize {
        self.priority
            .iter()
            .position(|p| p == provider)
            .unwrap_or(self.priority.len())
    }
}

/// The entity type of an entity: the part before the first `/` (the whole entity when it
/// has none).
pub fn entity_type(entity: &str) -> &str {
    entity.split_once('/').map_or(entity, |(t, _)| t)
}

/// The rules for `entity`, in declaration order.
pub fn rules_for<'a>(rules: &'a [ConflictRule], entity: &str) -> Vec<&'a ConflictRule> {
    let t = entity_type(entity);
    rules.iter().filter(|r| r.entity_type == t).collect()
}

/// Field values longer than this (as JSON) are kept as a hash only.
const MAX_KEPT_VALUE: usize = 256;

/// Who changed an entity (or one field of it) last, and when.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Stamp {
    pub provider: String,
    pub key: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub version: Option<i64>,
    pub at_ms: i64,
    /// A field's value: its SHA-256 (to tell a change), and the value itself when small
    /// (to show an operator both versions).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub value_sha256: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub value: Option<Value>,
}

/// What the conflict rules remember about one entity.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct EntityState {
    /// The newest version applied, per provider.
    #[serde(default)]
    pub versions: BTreeMap<String, i64>,
    /// The last applied change.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last: Option<Stamp>,
    /// The last applied change of each ruled field.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub fields: BTreeMap<String, Stamp>,
}

impl EntityState {
    /// The newest version of any provider (kept beside the state for the plain version
    /// check, should the rule be removed).
    pub fn max_version(&self) -> Option<i64> {
        self.versions.values().copied().max()
    }
}

/// One event's change to an entity, as the rules see it.
#[derive(Debug, Clone, PartialEq)]
pub struct Change {
    pub provider: String,
    pub key: String,
    pub version: Option<i64>,
    pub at: OffsetDateTime,
    /// The ruled fields the event carries, with their values.
    pub fields: BTreeMap<String, Value>,
}

impl Change {
    /// The change `env` makes, reading the fields `rules` name from its JSON body (a body
    /// that is not JSON carries no field). `at` is when it is decided.
    pub fn of(env: &Envelope, rules: &[&ConflictRule], at: OffsetDateTime) -> Change {
        let body: Option<Value> = serde_json::from_slice(&env.body).ok();
        let fields = rules
            .iter()
            .flat_map(|r| r.fields.iter())
            .filter_map(|f| {
                let v = body.as_ref()?.pointer(f)?;
                Some((f.clone(), v.clone()))
            })
            .collect();
        Change {
            provider: env.provider.as_str().to_string(),
            key: env.key.as_str().to_string(),
            version: env.version,
            at,
            fields,
        }
    }

    fn stamp(&self, value: Option<&Value>) -> Stamp {
        let text = value.map(|v| v.to_string());
        Stamp {
            provider: self.provider.clone(),
            key: self.key.clone(),
            version: self.version,
            at_ms: unix_millis(self.at),
            value_sha256: text.as_deref().map(|t| sha256_hex(t.as_bytes())),
            value: value
                .filter(|_| text.as_ref().is_some_and(|t| t.len() <= MAX_KEPT_VALUE))
                .cloned(),
        }
    }

    /// Does this change set `field` to something other than `recorded`?
    fn changes_field(&self, field: &str, recorded: Option<&Stamp>) -> bool {
        let Some(value) = self.fields.get(field) else {
            return false;
        };
        let hash = sha256_hex(value.to_string().as_bytes());
        recorded.is_none_or(|s| s.value_sha256.as_deref() != Some(hash.as_str()))
    }
}

/// What the rules decided about a change.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Decision {
    /// Applied: the state now records it; deliver the event.
    Apply,
    /// The same provider already applied a newer version.
    Stale { current: i64 },
    /// Another provider's change wins by `rule`; the event is not delivered.
    Supersede { rule: RuleKind, reason: String },
    /// Held for an operator by `rule`; `against` is the change it conflicts with, on
    /// `field` (`None`: the whole entity).
    Hold {
        rule: RuleKind,
        reason: String,
        against: Box<Stamp>,
        field: Option<String>,
    },
}

/// Decide `change` against `state` by `rules` (the entity type's rules). Pure.
///
/// A superseding rule beats a holding one: a change that loses outright needs no review.
pub fn decide(rules: &[&ConflictRule], state: &EntityState, change: &Change) -> Decision {
    if let (Some(version), Some(&current)) = (change.version, state.versions.get(&change.provider))
    {
        if version < current {
            return Decision::Stale { current };
        }
    }
    let mut hold = None;
    for rule in rules {
        for (field, recorded) in scopes(rule, state, change) {
            let scope = field
                .as_deref()
                .map_or("entity".to_string(), |f| format!("field {f}"));
            let Some(other) = recorded.filter(|s| s.provider != change.provider) else {
                continue;
            };
            match judge(rule, other, change) {
                Verdict::Lose(reason) => {
                    return Decision::Supersede {
                        rule: rule.kind,
                        reason: format!("{scope}: {reason}"),
                    }
                }
                Verdict::Review(reason) if hold.is_none() => {
                    hold = Some(Decision::Hold {
                        rule: rule.kind,
                        reason: format!("{scope}: {reason}"),
                        against: Box::new(other.clone()),
                        field: field.clone(),
                    })
                }
                _ => {}
            }
        }
    }
    hold.unwrap_or(Decision::Apply)
}

/// The parts of the entity `rule` covers that `change` touches, each with who set it last:
/// the whole entity (`None`), or each listed field the change sets to a new value.
fn scopes<'a>(
    rule: &ConflictRule,
    state: &'a EntityState,
    change: &Change,
) -> Vec<(Option<String>, Option<&'a Stamp>)> {
    if rule.fields.is_empty() {
        return vec![(None, state.last.as_ref())];
    }
    rule.fields
        .iter()
        .filter(|f| change.changes_field(f, state.fields.get(*f)))
        .map(|f| (Some(f.clone()), state.fields.get(f)))
        .collect()
}

enum Verdict {
    Win,
    Lose(String),
    Review(String),
}

/// One rule on one scope that another provider (`other`) changed last.
fn judge(rule: &ConflictRule, other: &Stamp, change: &Change) -> Verdict {
    let age_ms = unix_millis(change.at).saturating_sub(other.at_ms).max(0);
    let within = rule
        .window
        .is_none_or(|w| u128::from(age_ms.unsigned_abs()) < w.as_millis());
    let ago = humanize_ms(age_ms);
    let window = rule.window.map_or(String::new(), |w| {
        format!(", within its {} window", as_configured(w))
    });
    match rule.kind {
        RuleKind::LastWriteWins => match (change.version, other.version) {
            (Some(mine), Some(theirs)) if mine < theirs => Verdict::Lose(format!(
                "version {mine} is older than {theirs} set by {} ({})",
                other.provider, other.key
            )),
            _ => Verdict::Win,
        },
        RuleKind::SourcePriority => {
            if within && rule.rank(&change.provider) > rule.rank(&other.provider) {
                Verdict::Lose(format!(
                    "{} outranks {} and set it {ago} ago ({}{window})",
                    other.provider, change.provider, other.key
                ))
            } else {
                Verdict::Win
            }
        }
        RuleKind::ManualReview => {
            if within {
                Verdict::Review(format!(
                    "{} changed it {ago} after {} did ({}{window})",
                    change.provider, other.provider, other.key
                ))
            } else {
                Verdict::Win
            }
        }
    }
}

/// A configured window as people write it: `1 h`, `90 min`, `45 s`.
fn as_configured(window: Duration) -> String {
    match window.as_secs() {
        s if s >= 3600 && s % 3600 == 0 => format!("{} h", s / 3600),
        s if s >= 60 && s % 60 == 0 => format!("{} min", s / 60),
        s => format!("{s} s"),
    }
}

fn humanize_ms(ms: i64) -> String {
    let s = ms / 1000;
    match s {
        0..=119 => format!("{s} s"),
        120..=7199 => format!("{} min", s / 60),
        _ => format!("{} h", s / 3600),
    }
}

/// Record an applied change in the state.
pub fn apply(state: &mut EntityState, rules: &[&ConflictRule], change: &Change) {
    if let Some(v) = change.version {
        let entry = state.versions.entry(change.provider.clone()).or_insert(v);
        *entry = (*entry).max(v);
    }
    state.last = Some(change.stamp(None));
    // A field is stamped by whoever changed its value, not by whoever repeated it.
    for field in rules.iter().flat_map(|r| r.fields.iter()) {
        if let Some(value) = change.fields.get(field) {
            if change.changes_field(field, state.fields.get(field)) {
                state
                    .fields
                    .insert(field.clone(), change.stamp(Some(value)));
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn rule(
        kind: RuleKind,
        priority: &[&str],
        window: Option<u64>,
        fields: &[&str],
    ) -> ConflictRule {
        ConflictRule {
            entity_type: "customer".into(),
            kind,
            priority: priority.iter().map(|s| s.to_string()).collect(),
            window: window.map(Duration::from_secs),
            fields: fields.iter().map(|s| s.to_string()).collect(),
        }
    }

    fn change(provider: &str, n: u32, version: Option<i64>, at_s: i64, fields: Value) -> Change {
        Change {
            provider: provider.into(),
            key: format!("{provider}:evt_{n}"),
            version,
            at: OffsetDateTime::from_unix_timestamp(1_800_000_000 + at_s).unwrap(),
            fields: fields
                .as_object()
                .unwrap()
                .iter()
                .map(|(k, v)| (k.clone(), v.clone()))
                .collect(),
        }
    }

    /// Decide and, when applied, record — what the stores do.
    fn run(rules: &[&ConflictRule], state: &mut EntityState, c: &Change) -> Decision {
        let d = decide(rules, state, c);
        if d == Decision::Apply {
            apply(state, rules, c);
        }
        d
    }

    #[test]
    fn entity_type_is_the_part_before_the_first_slash() {
        assert_eq!(entity_type("customer/42"), "customer");
        assert_eq!(entity_type("orders/1/lines"), "orders");
        assert_eq!(entity_type("42"), "42");
    }

    #[test]
    fn one_provider_never_goes_back_a_version_whatever_the_rule() {
        for kind in [
            RuleKind::LastWriteWins,
            RuleKind::SourcePriority,
            RuleKind::ManualReview,
        ] {
            let r = rule(kind, &["crm"], None, &[]);
            let mut s = EntityState::default();
            assert_eq!(
                run(&[&r], &mut s, &change("crm", 1, Some(5), 0, json!({}))),
                Decision::Apply
            );
            assert_eq!(
                run(&[&r], &mut s, &change("crm", 2, Some(4), 1, json!({}))),
                Decision::Stale { current: 5 }
            );
        }
    }

    #[test]
    fn last_write_wins_compares_versions_across_providers() {
        let r = rule(RuleKind::LastWriteWins, &[], None, &[]);
        let mut s = EntityState::default();
        assert_eq!(
            run(&[&r], &mut s, &change("crm", 1, Some(100), 0, json!({}))),
            Decision::Apply
        );
        let d = run(&[&r], &mut s, &change("shop", 1, Some(90), 1, json!({})));
        assert!(
            matches!(
                d,
                Decision::Supersede {
                    rule: RuleKind::LastWriteWins,
                    ..
                }
            ),
            "{d:?}"
        );
        assert_eq!(
            run(&[&r], &mut s, &change("shop", 2, Some(110), 2, json!({}))),
            Decision::Apply
        );
        assert_eq!(s.last.as_ref().unwrap().provider, "shop");
    }

    #[test]
    fn a_lower_source_cannot_overwrite_a_higher_one_within_the_window() {
        let r = rule(RuleKind::SourcePriority, &["crm", "shop"], Some(3600), &[]);
        let mut s = EntityState::default();
        assert_eq!(
            run(&[&r], &mut s, &change("crm", 1, None, 0, json!({}))),
            Decision::Apply
        );
        let d = run(&[&r], &mut s, &change("shop", 1, None, 600, json!({})));
        match d {
            Decision::Supersede { rule, reason } => {
                assert_eq!(rule, RuleKind::SourcePriority);
                assert!(
                    reason.contains("crm outranks shop and set it 10 min ago (crm:evt_1, within its 1 h window)"),
                    "{reason}"
                );
            }
            other => panic!("{other:?}"),
        }
        // The higher source may always overwrite; the lower one again once the window passed.
        assert_eq!(
            run(&[&r], &mut s, &change("crm", 2, None, 700, json!({}))),
            Decision::Apply
        );
        assert_eq!(
            run(
                &[&r],
                &mut s,
                &change("shop", 2, None, 700 + 3600, json!({}))
            ),
            Decision::Apply
        );
        // An unlisted provider ranks below every listed one.
        let d = run(
            &[&r],
            &mut s,
            &change("erp", 1, None, 700 + 3601, json!({})),
        );
        assert!(matches!(d, Decision::Supersede { .. }), "{d:?}");
    }

    #[test]
    fn field_priority_protects_only_the_listed_fields() {
        let r = rule(
            RuleKind::SourcePriority,
            &["crm", "shop"],
            None,
            &["/phone"],
        );
        let mut s = EntityState::default();
        let crm = change("crm", 1, None, 0, json!({"/phone": "+3110"}));
        assert_eq!(run(&[&r], &mut s, &crm), Decision::Apply);
        // The shop changes the address only, or sends the same phone: not a conflict.
        assert_eq!(
            run(&[&r], &mut s, &change("shop", 1, None, 1, json!({}))),
            Decision::Apply
        );
        assert_eq!(
            run(
                &[&r],
                &mut s,
                &change("shop", 2, None, 2, json!({"/phone": "+3110"}))
            ),
            Decision::Apply
        );
        let d = run(
            &[&r],
            &mut s,
            &change("shop", 3, None, 3, json!({"/phone": "+3299"})),
        );
        assert!(
            matches!(d, Decision::Supersede { ref reason, .. } if reason.starts_with("field /phone:")),
            "{d:?}"
        );
        assert_eq!(s.fields["/phone"].value, Some(json!("+3110")));
    }

    #[test]
    fn manual_review_holds_a_change_against_the_one_it_conflicts_with() {
        let r = rule(RuleKind::ManualReview, &[], Some(86_400), &["/phone"]);
        let mut s = EntityState::default();
        assert_eq!(
            run(
                &[&r],
                &mut s,
                &change("crm", 1, None, 0, json!({"/phone": "+3110"}))
            ),
            Decision::Apply
        );
        let before = s.clone();
        let d = run(
            &[&r],
            &mut s,
            &change("shop", 1, None, 90, json!({"/phone": "+3299"})),
        );
        match d {
            Decision::Hold {
                rule,
                reason,
                against,
                field,
            } => {
                assert_eq!(rule, RuleKind::ManualReview);
                assert_eq!(field.as_deref(), Some("/phone"));
                assert!(
                    reason.contains("shop changed it 90 s after crm did"),
                    "{reason}"
                );
                assert_eq!(against.key, "crm:evt_1");
                assert_eq!(against.value, Some(json!("+3110")));
            }
            other => panic!("{other:?}"),
        }
        assert_eq!(s, before, "a held change records nothing");
        // The same provider changing again is no conflict.
        assert_eq!(
            run(
                &[&r],
                &mut s,
                &change("crm", 2, None, 100, json!({"/phone": "+3111"}))
            ),
            Decision::Apply
        );
    }

    #[test]
    fn superseding_beats_holding_and_large_values_are_kept_as_a_hash() {
        let review = rule(RuleKind::ManualReview, &[], None, &["/notes"]);
        let priority = rule(RuleKind::SourcePriority, &["crm"], None, &["/phone"]);
        let rules = [&review, &priority];
        let mut s = EntityState::default();
        let long = "x".repeat(1000);
        let c = change("crm", 1, None, 0, json!({"/phone": "1", "/notes": long}));
        assert_eq!(run(&rules, &mut s, &c), Decision::Apply);
        assert!(s.fields["/notes"].value.is_none());
        assert!(s.fields["/notes"].value_sha256.is_some());
        let d = run(
            &rules,
            &mut s,
            &change("shop", 1, None, 1, json!({"/phone": "2", "/notes": "y"})),
        );
        assert!(
            matches!(
                d,
                Decision::Supersede {
                    rule: RuleKind::SourcePriority,
                    ..
                }
            ),
            "{d:?}"
        );
    }

    #[test]
    fn a_change_reads_only_the_ruled_fields_and_tolerates_any_body() {
        let r = rule(RuleKind::ManualReview, &[], None, &["/phone", "/missing"]);
        let provider = crate::ids::ProviderName::parse("crm").unwrap();
        let mut env = Envelope {
            v: Envelope::SCHEMA_VERSION,
            key: crate::ids::EventKey::new(&provider, "evt_1").unwrap(),
            provider,
            event_id: "evt_1".into(),
            event_type: None,
            source: crate::envelope::Source::Webhook,
            received_at: OffsetDateTime::UNIX_EPOCH,
            correlation_id: "c".into(),
            entity: Some("customer/1".into()),
            version: Some(3),
            payload_sha256: String::new(),
            body_guard: false,
            stale: None,
            replayed_by: None,
            content_type: None,
            body: br#"{"phone":"+31","email":"a@b"}"#.to_vec(),
        };
        let c = Change::of(&env, &[&r], OffsetDateTime::UNIX_EPOCH);
        assert_eq!(c.fields.len(), 1);
        assert_eq!(c.fields["/phone"], json!("+31"));
        env.body = b"not json".to_vec();
        assert!(Change::of(&env, &[&r], OffsetDateTime::UNIX_EPOCH)
            .fields
            .is_empty());
    }
}
