//! The throughput simulation of docs/capacity.md: the worker (claims, completions, the
//! event history) and the outbox (staging, publishing) driven at increasing rates against
//! the emulator behind per-partition write-unit accounting (`inlet_tests::partitions`),
//! printing per step the rate reached, the write units per event in each key space and the
//! refusals — before (history 4 shards a day, outbox one constant partition) and after
//! (16 and 32). Prints numbers, asserts nothing.
//!
//! Scaled down: this machine (2 cores, moto in Python) sustains a few hundred events a
//! second, so a partition takes 1,000 / SCALE write units a second here. A layout whose
//! first refusal comes at R events/s here meets AWS's partition ceiling at R × SCALE.
//! Run by `scripts/bench` (needs moto: `infra/with-moto .venv cargo bench -p inlet-tests
//! --bench capacity`).

use std::sync::Arc;
use std::time::{Duration, Instant};

use async_trait::async_trait;
use futures::future::join_all;

use inlet_aws::DynamoStore;
use inlet_core::clock::SystemClock;
use inlet_core::envelope::SinkRecord;
use inlet_core::metrics::NoMetrics;
use inlet_core::ports::{Receipt, Received, Sink, SinkError};
use inlet_core::usecase::process::{Disposition, Processor, WorkerStores};
use inlet_outbox::{dynamodb as outbox, OutboxEvent};
use inlet_tests::faults::forward_all;
use inlet_tests::moto::Moto;
use inlet_tests::partitions::{Ledger, Partitions};
use inlet_tests::{now_unix, stripe_envelope, stripe_event};

/// A partition takes 1,000 write units a second on AWS and 1,000 / SCALE here. Scaled as
/// far as the model stays true: one event's own items (its ledger entry takes a claim and a
/// completion, a staged outbox item a transactional put and an update: 2–3 units within a
/// second) must still fit a partition, or the simulation would throttle what AWS never
/// does — so at most 200 (5 units) for the worker and 250 (4) for the outbox. The
/// shared partitions (history shards, pending partitions) then meet their ceilings at
/// rates this machine reaches for the "before" layouts; the "after" ones lie above it.
const WORKER_SCALE: f64 = 200.0;
const WORKER_RATES: [usize; 5] = [5, 10, 20, 40, 80];
const OUTBOX_SCALE: f64 = 250.0;
const OUTBOX_RATES: [usize; 5] = [1, 2, 4, 8, 16];
const STEP: Duration = Duration::from_secs(10);

struct Discard;

#[async_trait]
impl Sink for Discard {
    fn name(&self) -> &str {
        "discard"
    }
    async fn deliver(&self, _: &SinkRecord) -> Result<(), SinkError> {
        Ok(())
    }
}

#[tokio::main(flavor = "multi_thread", worker_threads = 4)]
async fn main() {
    if std::env::var("INLET_TEST_AWS_ENDPOINT").is_err() {
        eprintln!("capacity: needs the emulator; run it through scripts/bench");
        return;
    }
    let mut summary = Vec::new();
    let partitions = Partitions::new(1_000.0 / WORKER_SCALE);
    let moto = Moto::connect_with(partitions.rule(forward_all())).await;
    println!(
        "\n## Capacity simulation\n\nThe worker: a partition takes {:.1} write units/s here (AWS 1,000: scale {WORKER_SCALE}).\n",
        1_000.0 / WORKER_SCALE
    );
    for (label, shards) in [
        ("before: 4 history shards", 4u16),
        ("after: 16 history shards", 16),
    ] {
        println!("### worker with history, {label}\n");
        header();
        let table = moto.table().await;
        let store = Arc::new(DynamoStore::new(moto.dynamodb(), &table).with_history_shards(shards));
        let processor = worker(store);
        let mut first = None;
        for (step, rate) in WORKER_RATES.iter().enumerate() {
            partitions.reset();
            let (done, deferred, took) = drive_worker(&processor, *rate, step).await;
            let ledger = partitions.ledger();
            row(*rate, done, deferred, took, &ledger);
            if first.is_none() && ledger.throttled.values().sum::<usize>() > 0 {
                first = Some((*rate, spaces(&ledger)));
            }
        }
        summary.push((
            format!("worker, {label}"),
            WORKER_SCALE,
            &WORKER_RATES[..],
            first,
        ));
        println!();
    }
    let partitions = Partitions::new(1_000.0 / OUTBOX_SCALE);
    let moto = Moto::connect_with(partitions.rule(forward_all())).await;
    println!(
        "The outbox: a partition takes {:.1} write units/s here (scale {OUTBOX_SCALE}).\n",
        1_000.0 / OUTBOX_SCALE
    );
    for (label, shards) in [
        ("before: one partition", 1u16),
        ("after: 32 partitions", 32),
    ] {
        println!("### outbox staging and publishing, {label}\n");
        header();
        let table = moto.table().await;
        let mut first = None;
        for rate in OUTBOX_RATES {
            partitions.reset();
            let (done, refused, took) = drive_outbox(&moto, &table, shards, rate).await;
            let ledger = partitions.ledger();
            row(rate, done, refused, took, &ledger);
            if first.is_none() && ledger.throttled.values().sum::<usize>() > 0 {
                first = Some((rate, spaces(&ledger)));
            }
        }
        summary.push((
            format!("outbox, {label}"),
            OUTBOX_SCALE,
            &OUTBOX_RATES[..],
            first,
        ));
        println!();
    }
    // At AWS's own ceiling: a budget item is one hot key by design (an API's budget is far
    // below 1,000 calls a second), so it is not scaled down.
    budgets(&Partitions::new(1_000.0)).await;
    println!("### First refusal\n\n| layout | here (events/s offered) | on AWS (× scale) | key space |\n|---|---|---|---|");
    for (label, scale, rates, first) in summary {
        let top = rates[rates.len() - 1];
        match first {
            Some((rate, spaces)) => {
                println!(
                    "| {label} | {rate} | {:.0} | {spaces} |",
                    rate as f64 * scale
                )
            }
            None => println!(
                "| {label} | none up to {top} | above {:.0} | — |",
                top as f64 * scale
            ),
        }
    }
}

/// What a connection's call budget costs per call: one conditional `ADD` per window on
/// AWS (here: write units per call as the accounting counts them, and the time per call
/// against moto), one SQLite transaction locally.
async fn budgets(partitions: &Partitions) {
    use inlet_core::connection::{spend_budget, ConnectionStore};
    let text = "[[providers]]\nname = \"erp\"\nscheme = \"token\"\nheader = \"x-t\"\nsecrets = [\"s\"]\n[[sinks]]\nkind = \"stdout\"\n\
        [[connections]]\nname = \"xero\"\nkind = \"oauth2-refresh\"\ntoken_url = \"https://identity.xero.com/connect/token\"\nclient_id = \"c\"\nclient_secret = \"s\"\nper_minute = 1000000\nper_day = 1000000\n";
    let Ok(config) = inlet_core::config::Config::from_toml(text, &|_| None) else {
        eprintln!("capacity: the budget config does not parse");
        return;
    };
    let Some(cfg) = config.connections.first().cloned() else {
        return;
    };
    const CALLS: u32 = 300;
    println!("### A connection's call budget (per minute and per day), per call\n");
    println!("| store | time per call | write units per call |\n|---|---|---|");
    let dir = tempfile::tempdir().ok();
    let local = dir.as_ref().and_then(|d| {
        inlet_local::Store::open(
            &d.path().join("inlet.db"),
            Default::default(),
            Arc::new(SystemClock),
        )
        .ok()
    });
    let moto_store = {
        let moto = Moto::connect_with(partitions.rule(forward_all())).await;
        DynamoStore::new(moto.dynamodb(), moto.table().await)
    };
    let stores: Vec<(&str, Option<&dyn ConnectionStore>)> = vec![
        (
            "SQLite (inlet dev)",
            local.as_ref().map(|s| s as &dyn ConnectionStore),
        ),
        ("DynamoDB (moto)", Some(&moto_store as &dyn ConnectionStore)),
    ];
    for (label, store) in stores {
        let Some(store) = store else { continue };
        partitions.reset();
        let started = Instant::now();
        for _ in 0..CALLS {
            let now = inlet_core::clock::unix_millis(time::OffsetDateTime::now_utc());
            if spend_budget(&cfg, store, now).await.is_err() {
                eprintln!("capacity: a budget call failed");
                return;
            }
        }
        let per_call = started.elapsed() / CALLS;
        let units = partitions
            .ledger()
            .units
            .get("table Q#")
            .copied()
            .unwrap_or(0.0);
        println!(
            "| {label} | {:.2} ms | {} |",
            per_call.as_secs_f64() * 1000.0,
            if label.starts_with("DynamoDB") {
                format!(
                    "{:.2} (`Q#` items: one per window)",
                    units / f64::from(CALLS)
                )
            } else {
                "— (one transaction)".to_string()
            }
        );
    }
    println!();
}

fn worker(store: Arc<DynamoStore>) -> Processor {
    let config = inlet_tests::worker_config(
        "[history]
max_payload_bytes = 65536
[schema]
enabled = false
",
    );
    Processor::from_config(
        &config,
        WorkerStores::all(store),
        vec![Arc::new(Discard)],
        Arc::new(NoMetrics),
        Arc::new(SystemClock),
    )
}

/// `rate` new events a second for [`STEP`], in batches of ten every tenth of a second.
/// Returns (delivered, deferred, how long it took: longer than [`STEP`] when the emulator
/// could not keep up).
async fn drive_worker(processor: &Processor, rate: usize, step: usize) -> (usize, usize, Duration) {
    let ticks = (STEP.as_millis() / 100) as usize;
    let (mut done, mut deferred) = (0, 0);
    let started = Instant::now();
    for tick in 0..ticks {
        let batch: Vec<Received> = (0..due_in_tick(rate, tick))
            .map(|i| {
                let id = format!("evt_cap_{step}_{tick}_{i}");
                let body = stripe_event(&id, "invoice.paid", &format!("in_{id}"), now_unix());
                Received {
                    receipt: Receipt(id),
                    receive_count: 1,
                    envelope: Ok(stripe_envelope(&body)),
                }
            })
            .collect();
        let outcomes = join_all(batch.chunks(10).map(|c| processor.handle_batch(c))).await;
        for (_, d) in outcomes.into_iter().flatten() {
            match d {
                Disposition::Ack(_) => done += 1,
                _ => deferred += 1,
            }
        }
        let due = started + Duration::from_millis(100 * (tick as u64 + 1));
        tokio::time::sleep_until(due.into()).await;
    }
    (done, deferred, started.elapsed())
}

/// `rate` outbox events a second for [`STEP`]: each staged (a transaction), then marked
/// published. Returns (published, refused at staging or publishing, how long it took).
async fn drive_outbox(
    moto: &Moto,
    table: &str,
    shards: u16,
    rate: usize,
) -> (usize, usize, Duration) {
    let db = moto.dynamodb();
    let ticks = (STEP.as_millis() / 100) as usize;
    let (mut done, mut refused) = (0, 0);
    let started = Instant::now();
    for tick in 0..ticks {
        let results = join_all((0..due_in_tick(rate, tick)).map(|i| {
            let db = db.clone();
            async move {
                let event = OutboxEvent::new(
                    "order",
                    format!("ord_{tick}_{i}"),
                    "order.paid",
                    serde_json::json!({"total": 1200}),
                );
                let item = outbox::stage_in(table, "shop", &event, shards).ok()?;
                db.transact_write_items()
                    .transact_items(item)
                    .send()
                    .await
                    .ok()?;
                outbox::mark_published(&db, table, &event.id, 0).await.ok()
            }
        }))
        .await;
        for r in results {
            if r.is_some() {
                done += 1;
            } else {
                refused += 1;
            }
        }
        let due = started + Duration::from_millis(100 * (tick as u64 + 1));
        tokio::time::sleep_until(due.into()).await;
    }
    (done, refused, started.elapsed())
}

/// Events due in the `tick`th tenth of a second at `rate` a second, spread evenly (a rate
/// under ten sends one every few ticks).
fn due_in_tick(rate: usize, tick: usize) -> usize {
    (rate * (tick + 1)) / 10 - (rate * tick) / 10
}

fn header() {
    println!("| offered/s | reached/s | deferred or refused | write units per event, by key space | refusals, by key space |");
    println!("|---|---|---|---|---|");
}

/// A step's line; the rate reached is over the time the step really took.
fn row(rate: usize, done: usize, other: usize, took: Duration, ledger: &Ledger) {
    let secs = took.as_secs_f64();
    let events = (done + other).max(1) as f64;
    let mut units: Vec<String> = ledger
        .units
        .iter()
        .map(|(space, u)| format!("{space} {:.2}", u / events))
        .collect();
    units.sort();
    println!(
        "| {rate} | {:.0} | {other} | {} | {} |",
        done as f64 / secs,
        units.join(", "),
        spaces(ledger)
    );
}

fn spaces(ledger: &Ledger) -> String {
    let mut out: Vec<String> = ledger
        .throttled
        .iter()
        .map(|(space, n)| {
            let hot = ledger
                .hottest
                .get(space)
                .map(|(p, _)| format!(" (hottest {p})"))
                .unwrap_or_default();
            format!("{space}: {n}{hot}")
        })
        .collect();
    out.sort();
    if out.is_empty() {
        "—".into()
    } else {
        out.join(", ")
    }
}
