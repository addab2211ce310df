//! `inlet dlq list` and `inlet dlq redrive`.

use crate::args::DataDirArg;
use crate::backend::open_ports;
use crate::error::{CliError, Outcome};
use crate::out::inert;
use inlet_core::ports::RedriveSelector;

pub(crate) async fn list(place: &DataDirArg, limit: usize, json: bool) -> Outcome {
    let ports = open_ports(place, true).await?;
    match ports.dead_letters.list(limit).await {
        Ok(items) => {
            if json {
                for d in &items {
                    let line = serde_json::json!({
                        "key": d.key,
                        "reason": d.reason,
                        "receive_count": d.receive_count,
                        "dead_at": crate::out::rfc3339(d.dead_at),
                    });
                    crate::out::json(&line);
                }
            } else if items.is_empty() {
                crate::outln!("the dead-letter queue is empty");
            } else {
                for d in &items {
                    crate::outln!(
                        "{}  receives={}  {}",
                        inert(d.key.as_deref().unwrap_or("<undecodable>")),
                        d.receive_count,
                        inert(d.reason.as_deref().unwrap_or(""))
                    );
                }
            }
            // The outbox publisher's failures are stream batches, not messages: named
            // here so an operator looking at the DLQ does not miss them.
            if let Some(failures) = &ports.outbox_failures {
                match failures.count().await {
                    Ok(0) => {}
                    Ok(n) => crate::errln!(
                        "note: the outbox publisher gave up on {n} stream batch(es); `inlet outbox --backend aws` shows the events, `inlet outbox redrive --backend aws` publishes them"
                    ),
                    Err(e) => crate::errln!("inlet: OutboxFailures: {e}"),
                }
            }
            Ok(())
        }
        Err(e) => Err(CliError::failed(e)),
    }
}

pub(crate) async fn redrive(place: &DataDirArg, key: Option<String>, all: bool) -> Outcome {
    let ports = open_ports(place, true).await?;
    let which = match (key, all) {
        (Some(k), _) => RedriveSelector::Key(k),
        (None, true) => RedriveSelector::All,
        (None, false) => {
            return Err(CliError::usage("say which: --key KEY or --all"));
        }
    };
    let moved = inlet_core::usecase::operate::redrive(
        ports.dead_letters.as_ref(),
        ports.history.as_ref(),
        std::slice::from_ref(&which),
        time::OffsetDateTime::now_utc(),
    )
    .await;
    match moved {
        Ok(0) if matches!(which, RedriveSelector::Key(_)) => {
            Err(CliError::not_found("no dead letter with that key"))
        }
        Ok(n) => {
            crate::outln!("redriven {n} message(s) to the work queue");
            Ok(())
        }
        Err(e) => Err(CliError::failed(e)),
    }
}
