//! `inlet status`: queue numbers, counters, timings and the last reconcile run.

use crate::args::DataDirArg;
use crate::backend::open_ports;
use crate::error::{CliError, Outcome, Tally};
use crate::out::inert;

pub(crate) async fn run(place: &DataDirArg, json: bool) -> Outcome {
    let ports = open_ports(place, true).await?;
    // A broken connection is the one thing status must not print quietly: said on
    // stderr, and the exit status is 1 whatever the rest shows.
    let broken: Vec<(String, String)> = match ports.connections.list().await {
        Ok(list) => list
            .into_iter()
            .filter_map(|(name, c)| Some((name, c.broken?)))
            .collect(),
        Err(e) => {
            crate::errln!("inlet: connections: {e}");
            Vec::new()
        }
    };
    let mut tally = Tally::default();
    for (name, reason) in &broken {
        tally.fail(CliError::failed(format!(
            "connection {} is BROKEN: {} — re-authorize it (`inlet connections`)",
            inert(name),
            inert(reason)
        )));
    }
    status_of(&ports, json).await?;
    tally.outcome()
}

async fn status_of(ports: &crate::backend::Ports, json: bool) -> Outcome {
    let s = ports.status.report().await.map_err(CliError::failed)?;
    if json {
        crate::out::json_pretty(&s);
        return Ok(());
    }
    if let Some(elsewhere) = ports.status.kept_elsewhere() {
        crate::outln!(
            "queue      waiting {}  in flight {}  dead-lettered {}",
            s.queue_depth,
            s.in_flight,
            s.dlq_depth
        );
        crate::outln!("counters   in {elsewhere}");
        if let Some((aws, object)) = ports
            .aws
            .as_ref()
            .and_then(|a| a.config.as_ref().map(|o| (a, o)))
        {
            let s3 = inlet_aws::large_events::s3_client(&aws.sdk);
            match inlet_aws::stack_config::current_version(&s3, object).await {
                Ok(v) => crate::outln!(
                    "config     {} version {} (each function logs the config_version it started with)",
                    object.uri(),
                    v.as_deref().unwrap_or("(unversioned)")
                ),
                Err(e) => crate::outln!("config     {}: {}", object.uri(), inert(&e.to_string())),
            }
        }
        return Ok(());
    }
    use inlet_core::metrics::names as m;
    crate::outln!(
        "queue      waiting {}  in flight {}  dead-lettered {}  oldest {} ms",
        s.queue_depth,
        s.in_flight,
        s.dlq_depth,
        s.oldest_message_age_ms.unwrap_or(0)
    );
    crate::outln!(
        "ingress    received {}  enqueued {}  signature failures {}  rejected {}",
        s.total(m::RECEIVED),
        s.total(m::ENQUEUED),
        s.total(m::SIGNATURE_FAILURES),
        s.total(m::REJECTED)
    );
    crate::outln!(
        "processing processed {}  duplicates {}  replays refused {}  superseded {}  retried {}  failed (dead-lettered) {}",
        s.total(m::PROCESSED),
        s.total(m::DUPLICATES),
        s.total(m::REPLAYS_REFUSED),
        s.total(m::SUPERSEDED),
        s.total(m::RETRIED),
        s.total(m::DEAD_LETTERED)
    );
    let e2e: Vec<_> = s
        .timings
        .iter()
        .flatten()
        .filter(|t| t.name == m::END_TO_END_MS)
        .collect();
    let count: u64 = e2e.iter().map(|t| t.count).sum();
    if count > 0 {
        let mean = e2e.iter().map(|t| t.mean_ms * t.count as f64).sum::<f64>() / count as f64;
        let max = e2e.iter().map(|t| t.max_ms).fold(0.0, f64::max);
        crate::outln!(
            "latency    end-to-end mean {mean:.1} ms  max {max:.1} ms over {count} event(s)"
        );
    }
    match &s.last_reconcile {
        Some(r) => crate::outln!(
            "reconcile  last run {} source {}  scanned {}  recovered {}  recovery rate {}",
            crate::out::rfc3339(r.at),
            r.source,
            r.report["scanned"],
            r.report["recovered"],
            r.report["recovery_rate"]
        ),
        None => crate::outln!("reconcile  no run yet"),
    }
    Ok(())
}
