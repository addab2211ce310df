//! `inlet outbox`: the outboxes' state, and `redrive` for what failed — locally the
//! configured SQLite outboxes, on AWS the stack's outbox items (`inlet_outbox::dynamodb`)
//! and the `OutboxFailures` queue of stream batches the publisher gave up on.

use crate::out::inert;
use std::path::Path;

use serde_json::json;
use time::OffsetDateTime;

use inlet_core::clock::unix_millis;
use inlet_core::usecase::operate;

use crate::args::DataDirArg;
use crate::backend::open_ports;
use crate::backend::{AwsHandles, BackendKind};
use crate::config_file::load_config;
use crate::error::{CliError, Outcome, Tally};

pub async fn status(explicit: Option<&Path>, place: &DataDirArg, json: bool) -> Outcome {
    match place.backend {
        BackendKind::Local => local_status(explicit, json),
        BackendKind::Aws => aws_status(place, json).await,
    }
}

pub async fn redrive(explicit: Option<&Path>, place: &DataDirArg, older_than_secs: u64) -> Outcome {
    match place.backend {
        BackendKind::Local => local_redrive(explicit),
        BackendKind::Aws => aws_redrive(place, older_than_secs).await,
    }
}

/// What `redrive --id` and `discard --id` do with one failed event.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ById {
    Redrive,
    Discard,
}

/// Redrive or discard failed events by id: every configured outbox locally, the stack's
/// table on AWS. Exit 4 when an id matched no failed event.
pub async fn by_id(
    explicit: Option<&Path>,
    place: &DataDirArg,
    ids: &[String],
    what: ById,
) -> Outcome {
    let now_ms = unix_millis(OffsetDateTime::now_utc());
    let mut tally = Tally::default();
    let mut report = |id: &str, result: Result<Option<String>, String>| match result {
        Ok(Some(done)) => crate::outln!("{}: {done}", inert(id)),
        Ok(None) => tally.fail(CliError::not_found(format!(
            "no failed outbox event {}",
            inert(id)
        ))),
        Err(e) => tally.fail(CliError::failed(format!(
            "outbox event {}: {}",
            inert(id),
            inert(&e)
        ))),
    };
    match place.backend {
        BackendKind::Local => {
            let (_, config) = load_config(explicit)?;
            for id in ids {
                let mut result = Ok(None);
                for o in &config.outboxes {
                    let done =
                        inlet_outbox::sqlite::Drain::open(Path::new(&o.sqlite)).and_then(|d| {
                            match what {
                                ById::Redrive => d.retry_failed_id(id, now_ms),
                                ById::Discard => d.discard_failed(id),
                            }
                        });
                    match done {
                        Ok(true) => {
                            result = Ok(Some(match what {
                                ById::Redrive => format!("outbox {}: pending again", o.name),
                                ById::Discard => format!("outbox {}: discarded", o.name),
                            }));
                            break;
                        }
                        Ok(false) => {}
                        Err(e) => result = Err(e.to_string()),
                    }
                }
                report(id, result);
            }
        }
        BackendKind::Aws => {
            let (ports, h, db) = aws_table(place).await?;
            let table = &h.resources.table;
            for id in ids {
                let result = match what {
                    ById::Redrive => inlet_outbox::dynamodb::redrive_failed(
                        &db,
                        table,
                        ports.queue.as_ref(),
                        id,
                        now_ms,
                    )
                    .await
                    .map(|key| Some(format!("published as {key}"))),
                    ById::Discard => inlet_outbox::dynamodb::discard_failed(&db, table, id)
                        .await
                        .map(|()| Some("discarded".to_string())),
                };
                let result = match result {
                    Err(inlet_outbox::OutboxError::Invalid(m)) if m.starts_with("no ") => Ok(None),
                    other => other.map_err(|e| e.to_string()),
                };
                report(id, result);
            }
        }
    }
    tally.outcome()
}

/// `--backend aws` was asked for but the ports came without the stack's handles.
fn not_on_aws() -> CliError {
    CliError::failed("the AWS backend did not open the stack's resources")
}

/// The failed events listed per outbox.
const FAILED_SHOWN: usize = 20;

fn local_status(explicit: Option<&Path>, json: bool) -> Outcome {
    let (_, config) = load_config(explicit)?;
    if config.outboxes.is_empty() && !json {
        crate::outln!("no [[outboxes]] in the configuration");
    }
    let mut tally = Tally::default();
    for o in &config.outboxes {
        let read = inlet_outbox::sqlite::Drain::open(Path::new(&o.sqlite))
            .and_then(|d| Ok((d.counts()?, d.failed(FAILED_SHOWN)?)));
        let (counts, failed) = match read {
            Ok(r) => r,
            Err(e) => {
                tally.fail(CliError::failed(format!(
                    "outbox {} ({}): {e}",
                    o.name, o.sqlite
                )));
                continue;
            }
        };
        if json {
            let failed: Vec<_> = failed
                .iter()
                .map(|r| {
                    serde_json::json!({
                        "id": r.event.id,
                        "idempotency_key": r.event.idempotency_key,
                        "event_type": r.event.event_type,
                        "attempts": r.attempts,
                        "last_error": r.last_error,
                    })
                })
                .collect();
            crate::out::json(&serde_json::json!({
                "outbox": o.name.as_str(),
                "sqlite": o.sqlite,
                "pending": counts.pending,
                "published": counts.published,
                "failed": counts.failed,
                "failed_events": failed,
            }));
        } else {
            crate::outln!(
                "outbox {}  pending {}  published {}  failed {}  ({})",
                o.name,
                counts.pending,
                counts.published,
                counts.failed,
                o.sqlite
            );
            for r in &failed {
                crate::outln!(
                    "  failed {}  {}  attempts={}  {}",
                    inert(&r.event.idempotency_key),
                    inert(&r.event.event_type),
                    r.attempts,
                    inert(r.last_error.as_deref().unwrap_or(""))
                );
            }
        }
    }
    tally.outcome()
}

fn local_redrive(explicit: Option<&Path>) -> Outcome {
    let (_, config) = load_config(explicit)?;
    if config.outboxes.is_empty() {
        return Err(CliError::not_found("no [[outboxes]] in the configuration"));
    }
    let now_ms = unix_millis(OffsetDateTime::now_utc());
    let mut tally = Tally::default();
    for o in &config.outboxes {
        match inlet_outbox::sqlite::Drain::open(Path::new(&o.sqlite))
            .and_then(|d| d.retry_failed(now_ms))
        {
            Ok(n) => crate::outln!("outbox {}: {n} failed event(s) pending again", o.name),
            Err(e) => tally.fail(CliError::failed(format!(
                "outbox {} ({}): {e}",
                o.name, o.sqlite
            ))),
        }
    }
    tally.outcome()
}

/// Items staged longer ago than this and still pending are shown as stuck.
const STUCK_AFTER_MS: i64 = 5 * 60 * 1000;

async fn aws_status(place: &DataDirArg, json: bool) -> Outcome {
    let (ports, h, db) = aws_table(place).await?;
    let table = &h.resources.table;
    let now_ms = unix_millis(OffsetDateTime::now_utc());
    let read = async {
        let (pending, oldest) = inlet_outbox::dynamodb::pending_count(&db, table).await?;
        let stuck =
            inlet_outbox::dynamodb::pending(&db, table, now_ms - STUCK_AFTER_MS, FAILED_SHOWN)
                .await?;
        let failed = inlet_outbox::dynamodb::failed(&db, table, FAILED_SHOWN).await?;
        Ok::<_, inlet_outbox::OutboxError>((pending, oldest, stuck, failed))
    };
    let (pending, oldest, stuck, failed) = read.await.map_err(CliError::failed)?;
    let batches = match &ports.outbox_failures {
        Some(failures) => operate::outbox_failures(failures.as_ref())
            .await
            .map_err(CliError::failed)?,
        None => Vec::new(),
    };
    let failed_batches = batches.len();
    let oldest_age_s = oldest.map(|ms| (now_ms - ms).max(0) / 1000);
    if json {
        let stuck: Vec<_> = stuck
            .iter()
            .map(|i| json!({"outbox": i.outbox, "id": i.id, "idempotency_key": i.idempotency_key, "event_type": i.event_type, "created_at_ms": i.created_at}))
            .collect();
        let failed: Vec<_> = failed
            .iter()
            .map(|f| json!({"pk": f.pk, "id": f.id(), "outbox": f.outbox, "idempotency_key": f.idempotency_key, "reason": f.reason, "failed_at_ms": f.failed_at_ms}))
            .collect();
        crate::out::json(&json!({
            "table": table,
            "pending": pending,
            "oldest_pending_age_s": oldest_age_s,
            "stuck_events": stuck,
            "failed_events": failed,
            "failed_stream_batches": failed_batches,
            "failed_batches": batches,
        }));
    } else {
        crate::outln!(
            "outbox items in {table}: pending {pending}{}  failed stream batches {failed_batches}",
            oldest_age_s.map_or(String::new(), |s| format!(" (oldest {s} s)"))
        );
        for i in &stuck {
            crate::outln!(
                "  stuck {}:{}  {}  staged {} ms",
                inert(&i.outbox),
                inert(&i.idempotency_key),
                inert(&i.event_type),
                i.created_at
            );
        }
        if failed_batches > 0 || !stuck.is_empty() {
            crate::outln!("  `inlet outbox redrive --backend aws` publishes them");
        }
        for b in &batches {
            crate::outln!(
                "  failed batch  shard {}  sequence {}..{}  records {}  arrived {}..{}  (redrive publishes its items once they are {} s old)",
                inert(b.shard.as_deref().unwrap_or("?")),
                inert(b.first_sequence.as_deref().unwrap_or("?")),
                inert(b.last_sequence.as_deref().unwrap_or("?")),
                b.size.map_or("?".into(), |n| n.to_string()),
                inert(b.first_arrival.as_deref().unwrap_or("?")),
                inert(b.last_arrival.as_deref().unwrap_or("?")),
                STUCK_AFTER_MS / 1000
            );
        }
        for f in &failed {
            crate::outln!(
                "  failed {}:{}  {}  (fix it, then `inlet outbox redrive --id {} --backend aws`, or discard it)",
                inert(f.outbox.as_deref().unwrap_or("?")),
                inert(f.idempotency_key.as_deref().unwrap_or(f.id())),
                inert(&f.reason),
                inert(f.id())
            );
        }
    }
    Ok(())
}

/// The most items one redrive publishes (run it again for more).
const REDRIVE_MAX: usize = 10_000;

/// The AWS ports, the stack's handles and a client for its table.
async fn aws_table(
    place: &DataDirArg,
) -> Result<(crate::backend::Ports, AwsHandles, aws_sdk_dynamodb::Client), CliError> {
    let ports = open_ports(place, true).await?;
    let h = ports.aws.clone().ok_or_else(not_on_aws)?;
    let db = aws_sdk_dynamodb::Client::new(&h.sdk);
    Ok((ports, h, db))
}

async fn aws_redrive(place: &DataDirArg, older_than_secs: u64) -> Outcome {
    let (ports, h, db) = aws_table(place).await?;
    let table = &h.resources.table;
    let now = OffsetDateTime::now_utc();
    // Past any representable age, the cutoff is the epoch: no item or failure record is
    // older, so nothing is left out and nothing newer is cleared.
    let cutoff = i64::try_from(older_than_secs)
        .ok()
        .and_then(|secs| now.checked_sub(time::Duration::seconds(secs)))
        .unwrap_or(OffsetDateTime::UNIX_EPOCH);
    let cutoff_ms = unix_millis(cutoff);
    let items = inlet_outbox::dynamodb::pending(&db, table, cutoff_ms, REDRIVE_MAX)
        .await
        .map_err(CliError::failed)?;
    let mut published = 0usize;
    let mut tally = Tally::default();
    for item in items {
        let id = item.id.clone();
        match inlet_outbox::dynamodb::republish(
            &db,
            table,
            ports.queue.as_ref(),
            item,
            unix_millis(now),
        )
        .await
        {
            Ok(_) => published += 1,
            Err(e) => tally.fail(CliError::failed(format!("outbox item {id}: {e}"))),
        }
    }
    crate::outln!(
        "published {published} outbox event(s) staged before the cutoff; {} failed",
        tally.failed()
    );
    // The failure records stay until every item they may name is published.
    tally.outcome()?;
    let Some(failures) = &ports.outbox_failures else {
        return Ok(());
    };
    let cleared = operate::clear_outbox_failures(failures.as_ref(), cutoff)
        .await
        .map_err(CliError::failed)?;
    crate::outln!(
        "cleared {} failed stream batch record(s); kept {} newer than the cutoff",
        cleared.deleted,
        cleared.kept
    );
    Ok(())
}
