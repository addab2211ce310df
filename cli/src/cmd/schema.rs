//! `inlet schema`: the payload shapes Inlet has learned and the drift it found — list the
//! findings, show what a provider's events look like, accept a change (it becomes part of
//! the shape: a pinned provider's later events carrying it are delivered; the ones held
//! meanwhile wait in `inlet review`).

use serde_json::json;
use time::OffsetDateTime;

use inlet_core::shape::{kind, Finding};

use crate::args::DataDirArg;
use crate::backend::open_ports;
use crate::error::{CliError, Outcome, Tally};
use crate::out::{inert, rfc3339, type_label};

/// A finding as operators see it (the console shows the same fields).
pub fn finding_json(f: &Finding) -> serde_json::Value {
    json!({
        "id": f.id,
        "status": f.status.as_str(),
        "provider": f.provider,
        "type": f.event_type,
        "kind": f.kind.as_str(),
        "path": f.path,
        "old": f.old.map(kind::describe),
        "new": f.new.map(kind::describe),
        "change": f.change().describe(),
        "first_seen": rfc3339(f.first_seen),
        "example_key": f.example_key,
        "accepted_at": f.accepted_at.map(rfc3339),
    })
}

pub async fn list(place: &DataDirArg, all: bool, limit: usize, json: bool) -> Outcome {
    let ports = open_ports(place, true).await?;
    let findings = ports
        .shapes
        .findings(all, limit)
        .await
        .map_err(CliError::failed)?;
    if json {
        findings
            .iter()
            .for_each(|f| crate::out::json(&finding_json(f)));
    } else if findings.is_empty() {
        crate::outln!("no schema drift found");
    } else {
        for f in &findings {
            crate::outln!(
                "{}  {}  {} {}  {}  {}  (first: {})",
                f.id,
                f.status.as_str(),
                inert(&f.provider),
                inert(type_label(&f.event_type)),
                rfc3339(f.first_seen),
                inert(&f.change().describe()),
                inert(&f.example_key)
            );
        }
    }
    Ok(())
}

/// What was learned of `provider`'s event types (one, with `event_type`), with their
/// findings. Exit code 4 when nothing was learned.
pub async fn show(
    place: &DataDirArg,
    provider: &str,
    event_type: Option<&str>,
    json: bool,
) -> Outcome {
    let ports = open_ports(place, true).await?;
    let (shapes, findings) = match futures::join!(
        ports.shapes.load_shapes(),
        ports.shapes.findings(true, 10_000)
    ) {
        (Ok(s), Ok(f)) => (s, f),
        (Err(e), _) | (_, Err(e)) => {
            return Err(CliError::failed(e));
        }
    };
    let mut shapes: Vec<_> = shapes
        .into_iter()
        .filter(|s| s.provider == provider && event_type.is_none_or(|t| s.event_type == t))
        .collect();
    if shapes.is_empty() {
        return Err(CliError::not_found(format!(
            "nothing learned of {}{}",
            inert(provider),
            event_type
                .map(|t| format!(" {}", inert(t)))
                .unwrap_or_default()
        )));
    }
    shapes.sort_by(|a, b| a.event_type.cmp(&b.event_type));
    let views: Vec<serde_json::Value> = shapes
        .iter()
        .map(|s| {
            let paths: Vec<serde_json::Value> = s
                .shape
                .paths
                .iter()
                .map(|(path, seen)| {
                    json!({
                        "path": path,
                        "types": kind::describe(seen.kinds),
                        "seen": seen.count,
                        "optional": seen.optional,
                    })
                })
                .collect();
            let drift: Vec<serde_json::Value> = findings
                .iter()
                .filter(|f| f.provider == s.provider && f.event_type == s.event_type)
                .map(finding_json)
                .collect();
            json!({
                "provider": s.provider,
                "type": s.event_type,
                "events": s.shape.events,
                "paths": paths,
                "findings": drift,
            })
        })
        .collect();
    if json {
        views.iter().for_each(crate::out::json);
        return Ok(());
    }
    for (shape, view) in shapes.iter().zip(&views) {
        crate::outln!(
            "{} {}: learned from {} events",
            inert(&shape.provider),
            inert(type_label(&shape.event_type)),
            shape.shape.events
        );
        for (path, seen) in &shape.shape.paths {
            crate::outln!(
                "  {}  {}  {}/{}{}",
                inert(path),
                kind::describe(seen.kinds),
                seen.count,
                shape.shape.events,
                if seen.optional { "  (optional)" } else { "" }
            );
        }
        for f in view["findings"].as_array().into_iter().flatten() {
            crate::outln!(
                "  drift {} ({}): {}",
                f["id"].as_str().unwrap_or(""),
                f["status"].as_str().unwrap_or(""),
                inert(f["change"].as_str().unwrap_or(""))
            );
        }
    }
    Ok(())
}

/// Accept findings: each change becomes part of its shape. Exit code 4 when one is unknown.
pub async fn accept(place: &DataDirArg, ids: &[String]) -> Outcome {
    let ports = open_ports(place, true).await?;
    let mut tally = Tally::default();
    for id in ids {
        match ports
            .shapes
            .accept_finding(id, OffsetDateTime::now_utc())
            .await
        {
            Ok(Some(f)) => crate::outln!(
                "{}: accepted; {} {} now expects: {}",
                inert(&f.id),
                inert(&f.provider),
                inert(type_label(&f.event_type)),
                inert(&f.change().describe())
            ),
            Ok(None) => {
                tally.fail(CliError::not_found(format!(
                    "no such finding: {}",
                    inert(id)
                )));
            }
            Err(e) => {
                tally.fail(CliError::failed(e));
            }
        }
    }
    tally.outcome()
}
