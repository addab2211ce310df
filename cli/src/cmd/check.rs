//! `inlet check`: load a config, report every problem, or list what it configures.

use crate::config_file::load_config;
use crate::error::Outcome;
use inlet_core::config::SinkConfig;
use std::path::Path;

pub(crate) fn run(explicit: Option<&Path>) -> Outcome {
    let (path, config) = load_config(explicit)?;
    crate::outln!("{}: ok", path.display());
    for p in &config.providers {
        crate::outln!(
            "  provider {:<16} scheme {:<18} {} secret(s)  POST /webhooks/{}",
            p.name.as_str(),
            p.preset,
            p.secrets.len(),
            p.name
        );
    }
    for s in &config.sinks {
        match s {
            SinkConfig::File { path } => crate::outln!("  sink file   {path}"),
            SinkConfig::Stdout {} => crate::outln!("  sink stdout"),
            SinkConfig::Http { url, .. } => crate::outln!("  sink http   {url}"),
            SinkConfig::Eventbridge {
                bus,
                payload_bucket,
            } => crate::outln!(
                "  sink eventbridge {} (large events: {})",
                bus.as_deref().unwrap_or("(the stack's bus)"),
                payload_bucket
                    .as_deref()
                    .unwrap_or("the stack's payload bucket")
            ),
        }
    }
    for o in &config.outboxes {
        crate::outln!(
            "  outbox {:<18} sqlite {}  (keys {}:<idempotency key>)",
            o.name.as_str(),
            o.sqlite,
            o.name
        );
    }
    for c in &config.conflicts {
        let scope = if c.fields.is_empty() {
            "whole entity".to_string()
        } else {
            c.fields.join(", ")
        };
        let window = c
            .window
            .map_or(String::new(), |w| format!("  within {}s", w.as_secs()));
        let priority = if c.priority.is_empty() {
            String::new()
        } else {
            format!("  {}", c.priority.join(" > "))
        };
        crate::outln!(
            "  conflict {:<16} {:<16} {scope}{priority}{window}",
            c.entity_type,
            c.kind.as_str()
        );
    }
    for src in &config.sources {
        crate::outln!(
            "  source {:<18} kind {:<18} provider {:<10} every {}s  {}",
            src.name,
            src.kind.name(),
            src.provider,
            src.interval.as_secs(),
            src.api_base
        );
        if let inlet_core::source_config::SourceKind::Preset { feeds, .. } = &src.kind {
            let names: Vec<&str> = feeds.iter().map(|f| f.name.as_str()).collect();
            crate::outln!("         feeds {}", names.join(", "));
        }
    }
    Ok(())
}
