//! `inlet providers` and `inlet sources`: the presets a config can name.

use crate::error::Outcome;

pub(crate) fn providers(markdown: bool, json: bool) -> Outcome {
    use inlet_core::catalogue::{self, PRESETS};
    if markdown {
        crate::out!("{}", catalogue::markdown());
        return Ok(());
    }
    if json {
        for p in PRESETS {
            let row = serde_json::json!({
                "scheme": p.name,
                "provider": p.title,
                "verification": p.family(),
                "replay_protection": p.describe_replay(),
                "tolerance_secs": p.tolerance.secs,
                "needs": p.needs(),
                "doc": p.doc,
                "note": p.note,
            });
            crate::out::json(&row);
        }
        return Ok(());
    }
    crate::outln!(
        "{:<18} {:<38} {:<28} {:<22} NEEDS",
        "SCHEME",
        "PROVIDER",
        "VERIFICATION",
        "REPLAY"
    );
    for p in PRESETS {
        crate::outln!(
            "{:<18} {:<38} {:<28} {:<22} {}",
            p.name,
            p.title,
            p.family(),
            replay_label(p),
            p.needs()
        );
    }
    crate::outln!(
        "\n{} presets. Each provider's page and payload conventions: docs/providers.md (`inlet providers --markdown`).",
        PRESETS.len()
    );
    Ok(())
}

pub(crate) fn sources(json: bool) -> Outcome {
    use inlet_core::source_presets::PRESETS;
    for p in PRESETS {
        let feeds: Vec<serde_json::Value> = p
            .feeds
            .iter()
            .map(|f| {
                serde_json::json!({
                    "feed": f.name,
                    "entity": f.entity,
                    "cursor": f.cursor_text(),
                    "deletes": f.deletes_text(),
                    "default": f.default,
                    "read_with": f.with,
                })
            })
            .collect();
        if json {
            let params: Vec<&str> = p.params.iter().map(|(n, _)| *n).collect();
            crate::out::json(&serde_json::json!({
                "kind": p.name,
                "title": p.title,
                "api_base": p.api_base.unwrap_or(p.api_base_hint),
                "params": params,
                "auth": p.auth,
                "budget": p.budget,
                "webhooks": p.webhooks,
                "doc": p.doc,
                "feeds": feeds,
            }));
            continue;
        }
        crate::outln!("{} — {}", p.name, p.title);
        for f in p.feeds {
            let mark = if f.default { "*" } else { " " };
            let with = f
                .with
                .map(|w| format!(" (read with {w})"))
                .unwrap_or_default();
            let line = format!(
                "  {mark} {:<22} {:<20} cursor {:<12} {}{with}",
                f.name,
                f.entity,
                f.cursor_text(),
                f.deletes_text()
            );
            crate::outln!("{}", line.trim_end());
        }
        if !p.params.is_empty() {
            let params: Vec<String> = p
                .params
                .iter()
                .map(|(n, d)| match d {
                    Some(d) => format!("{n} (default {d})"),
                    None => n.to_string(),
                })
                .collect();
            crate::outln!("    params:  {}", params.join(", "));
        }
        crate::outln!("    auth:    {}", p.auth);
        crate::outln!("    budget:  {}", p.budget);
        crate::outln!("    keys:    {}", p.webhooks);
        crate::outln!("    doc:     {}", p.doc);
    }
    if !json {
        crate::outln!(
            "\n{} source presets (* read by default). Besides them: stripe-events, github-deliveries, shopify (REST) and http-json for any JSON API.",
            PRESETS.len()
        );
    }
    Ok(())
}

/// A preset's replay protection in a table cell (`--markdown` and `--json` say it whole).
fn replay_label(p: &inlet_core::catalogue::Preset) -> String {
    use inlet_core::catalogue::ReplayProtection as R;
    match p.replay_protection() {
        R::SignedTimestamp { .. } => format!("timestamp ±{}s + key", p.tolerance.secs),
        R::SignedKey => "signed key".into(),
        R::BodyHash { timestamp: true } => format!("timestamp ±{}s + body", p.tolerance.secs),
        R::BodyHash { timestamp: false } => "body hash".into(),
        R::None => "none (unsigned)".into(),
    }
}
