//! `inlet reconcile`: one source's feeds polled now, from its cursor or `--since`.

use crate::args::DataDirArg;
use crate::backend::open_ports;
use crate::config_file::load_config;
use crate::error::{CliError, Outcome, Tally};
use crate::out::inert;
use inlet_core::clock::SystemClock;
use std::path::Path;

pub(crate) async fn run(
    explicit: Option<&Path>,
    place: &DataDirArg,
    source: &str,
    since: Option<&str>,
    dry_run: bool,
    json: bool,
) -> Outcome {
    let (_, config) = load_config(explicit)?;
    let Some(source_config) = config.source(source) else {
        let known: Vec<&str> = config.sources.iter().map(|s| s.name.as_str()).collect();
        return Err(CliError::not_found(format!(
            "no source named {source:?} in the config; configured: {}",
            known.join(", ")
        )));
    };
    let backfill = match since.map(|s| (s, crate::reconcile::parse_since(s))) {
        None => None,
        Some((_, Some(t))) => Some(t),
        Some((text, None)) => {
            return Err(CliError::usage(format!(
                "--since {text:?} is neither RFC 3339 (2026-11-01T00:00:00Z) nor Unix seconds"
            )));
        }
    };
    let ports = open_ports(place, false).await?;
    let built = inlet_sources::connection_for(&config, source_config, &ports.connections)
        .and_then(|c| inlet_sources::build_with(source_config, c))
        .map_err(CliError::failed)?;
    let metrics = inlet_local::LocalMetrics::new();
    let mut tally = Tally::default();
    for feed in &built.feeds {
        let settings = inlet_core::usecase::reconcile::ReconcileSettings::for_source(
            source_config,
            dry_run,
            backfill,
        );
        match crate::reconcile::run_feed(feed.as_ref(), &ports, &metrics, &SystemClock, &settings)
            .await
        {
            Ok(report) => {
                if json {
                    crate::out::json(&report);
                } else {
                    crate::outln!(
                        "{}: scanned {}  already handled {}  recovered {}{}  recovery rate {:.2}%  pages {}  {} ms  cursor {} -> {}",
                        report.source,
                        report.scanned,
                        report.already_handled,
                        report.recovered,
                        if dry_run { " (dry run: nothing enqueued)" } else { "" },
                        report.recovery_rate * 100.0,
                        report.pages,
                        report.duration_ms,
                        inert(report.cursor_before.as_deref().unwrap_or("-")),
                        inert(report.cursor_after.as_deref().unwrap_or("-")),
                    );
                    if let Some(why) = &report.stopped {
                        crate::outln!("  stopped early: {}", inert(why));
                    }
                }
                if let Some(e) = &report.error {
                    tally.fail(CliError::failed(format!(
                        "{}: {}",
                        report.source,
                        inert(&e.to_string())
                    )));
                }
            }
            Err(e) => {
                tally.fail(CliError::failed(format!("{}: {e}", feed.name())));
            }
        }
    }
    if let Some(Err(e)) = match &ports.local {
        Some(store) => Some(metrics.flush(store).await),
        None => None,
    } {
        crate::errln!("inlet: could not record metrics: {e}");
    }
    crate::errln!("{} request(s) to the provider", built.fetcher.requests());
    tally.outcome()
}
