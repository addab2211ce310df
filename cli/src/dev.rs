//! `inlet dev`: the webhook endpoint, the worker loop, the reconciliation scheduler and
//! housekeeping in one process — on the embedded store, or (`--backend aws`) on SQS and
//! DynamoDB. Shutdown stops accepting, lets in-flight requests and the current batch
//! finish, and flushes metrics; every 202'd event is already durable, so nothing is lost.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context as _;
use tokio::sync::{watch, Notify};
use tokio::task::JoinHandle;
use tracing::{info, warn};

use inlet_core::clock::{Clock, SystemClock};
use inlet_core::config::Config;
use inlet_core::metrics::Metrics;
use inlet_core::ports::{Queue, Sink};
use inlet_core::usecase::process::{run_once, Processor};
use inlet_local::{LocalMetrics, Store, StoreOptions};

use crate::backend::{BackendKind, Ports};
use crate::server::{router, App};

pub struct DevOptions {
    pub config: Config,
    pub listen: SocketAddr,
    pub data_dir: PathBuf,
    pub backend: BackendKind,
    /// For the AWS backend: an SDK configuration and resources to use instead of the
    /// environment's.
    pub aws: Option<(aws_config::SdkConfig, inlet_aws::runtime::Resources)>,
    pub clock: Arc<dyn Clock>,
    pub busy_timeout: Duration,
}

impl DevOptions {
    pub fn new(config: Config, listen: SocketAddr, data_dir: PathBuf) -> Self {
        Self {
            config,
            listen,
            data_dir,
            backend: BackendKind::Local,
            aws: None,
            clock: Arc::new(SystemClock),
            busy_timeout: StoreOptions::default().busy_timeout,
        }
    }
}

/// A running `inlet dev`.
pub struct Running {
    pub addr: SocketAddr,
    /// The console's access token, when the server is bound beyond loopback.
    pub console_token: Option<String>,
    pub ports: Ports,
    shutdown: watch::Sender<bool>,
    tasks: Vec<JoinHandle<()>>,
}

impl Running {
    /// The embedded store (local backend).
    pub fn store(&self) -> Option<&Store> {
        self.ports.local.as_ref()
    }

    /// Stop gracefully and wait until every task has finished.
    pub async fn shutdown(self) {
        let _ = self.shutdown.send(true);
        for t in self.tasks {
            let _ = t.await;
        }
    }
}

pub use crate::backend::db_path;

/// Sinks for this backend: EventBridge ones need AWS.
fn build_sinks(config: &Config, ports: &Ports) -> anyhow::Result<Vec<Arc<dyn Sink>>> {
    let sinks = match &ports.aws {
        Some(aws) => inlet_aws::eventbridge::build_sinks(
            &config.sinks,
            &aws.sdk,
            &aws.resources,
            &config.connections,
            Some(&ports.connections),
        ),
        None => {
            inlet_sinks::build_with(&config.sinks, &config.connections, Some(&ports.connections))
        }
    };
    sinks.context("cannot set up the sinks")
}

/// Open the backend, bind the listener and start every loop.
pub async fn start(opts: DevOptions) -> anyhow::Result<Running> {
    let config = Arc::new(opts.config);
    let ports = match opts.backend {
        BackendKind::Local => crate::backend::local(
            &opts.data_dir,
            StoreOptions {
                max_receive: config.worker.max_receive,
                busy_timeout: opts.busy_timeout,
                ..StoreOptions::default()
            },
            Arc::clone(&opts.clock),
        )?,
        // Short long-polls keep shutdown prompt.
        BackendKind::Aws => match opts.aws {
            Some((sdk, resources)) => crate::backend::aws_with(sdk, resources, 1)?,
            None => crate::backend::aws(1).await?,
        },
    };
    let sinks = build_sinks(&config, &ports)?;
    let local_metrics = Arc::new(LocalMetrics::new());
    let metrics: Arc<dyn Metrics> = local_metrics.clone();
    let wake = Arc::new(Notify::new());
    let (shutdown_tx, shutdown_rx) = watch::channel(false);

    let listener = tokio::net::TcpListener::bind(opts.listen)
        .await
        .with_context(|| format!("cannot listen on {}", opts.listen))?;
    let addr = listener.local_addr()?;

    let app = Arc::new(App {
        config: Arc::clone(&config),
        queue: Arc::clone(&ports.queue),
        metrics: Arc::clone(&metrics),
        clock: Arc::clone(&opts.clock),
        http: Arc::new(inlet_sources::provider_http::HttpProviderClient::new()),
        wake: Arc::clone(&wake),
    });
    // The console beside the webhooks: open on loopback, behind a printed token elsewhere.
    let console_token = (!addr.ip().is_loopback()).then(crate::console::random_token);
    let console = Arc::new(crate::console::Console::new(
        ports.clone(),
        Some(&config),
        console_token.clone(),
    ));
    let server = tokio::spawn(crate::server::serve(
        listener,
        router(app).merge(crate::console::router(console)),
        shutdown_rx.clone(),
        crate::server::ServeLimits::default(),
    ));

    let processor = Processor::from_config(
        &config,
        ports.worker_stores(),
        sinks,
        Arc::clone(&metrics),
        Arc::clone(&opts.clock),
    );
    let mut tasks = vec![server];
    for built in inlet_sources::build_all_with(&config, &ports.connections)
        .context("cannot set up the reconciliation sources")?
    {
        tasks.push(tokio::spawn(crate::reconcile::schedule(
            built,
            ports.clone(),
            Arc::clone(&metrics),
            Arc::clone(&opts.clock),
            Arc::clone(&wake),
            shutdown_rx.clone(),
        )));
    }
    for outbox in &config.outboxes {
        let drain = inlet_outbox::sqlite::Drain::open(std::path::Path::new(&outbox.sqlite))
            .with_context(|| format!("cannot open outbox {} ({})", outbox.name, outbox.sqlite))?;
        tasks.push(tokio::spawn(outbox_loop(
            outbox.clone(),
            config.worker.retention(),
            drain,
            Arc::clone(&ports.queue),
            Arc::clone(&opts.clock),
            Arc::clone(&wake),
            shutdown_rx.clone(),
        )));
    }
    let processor = Arc::new(processor);
    let workers = if ports.local.is_some() {
        LOCAL_WORKERS
    } else {
        1
    };
    for _ in 0..workers {
        tasks.push(tokio::spawn(worker_loop(
            Arc::clone(&processor),
            Arc::clone(&ports.queue),
            Arc::clone(&config),
            Arc::clone(&wake),
            shutdown_rx.clone(),
        )));
    }
    if let Some(store) = &ports.local {
        tasks.push(tokio::spawn(housekeeping_loop(
            store.clone(),
            local_metrics,
            shutdown_rx,
        )));
    }

    Ok(Running {
        addr,
        console_token,
        ports,
        shutdown: shutdown_tx,
        tasks,
    })
}

/// Batches in flight at once on the embedded store. The store commits in groups, so the
/// claims (or completions) of several batches share one transaction and one fsync, and one
/// batch's sink write overlaps the next one's claims. Entity order holds: the local queue
/// hands out one message per entity at a time. On SQS (`--backend aws`) one loop keeps it.
const LOCAL_WORKERS: usize = 4;

async fn worker_loop(
    processor: Arc<Processor>,
    queue: Arc<dyn Queue>,
    config: Arc<Config>,
    wake: Arc<Notify>,
    mut shutdown: watch::Receiver<bool>,
) {
    let w = &config.worker;
    let idle = Duration::from_millis(w.poll_interval_ms);
    loop {
        if *shutdown.borrow() {
            break;
        }
        // A batch in progress always runs to the end: cancelling it halfway would only
        // leave work for the visibility timeout to return.
        match run_once(
            processor.as_ref(),
            queue.as_ref(),
            w.batch_size(),
            w.visibility(),
        )
        .await
        {
            Ok(n) if n > 0 => continue,
            Ok(_) => {}
            Err(e) => warn!(error = %e, "receive failed"),
        }
        tokio::select! {
            _ = wake.notified() => {}
            _ = tokio::time::sleep(idle) => {}
            _ = shutdown.changed() => {}
        }
    }
}

/// How often published outbox rows past the retention are deleted.
const OUTBOX_PURGE_EVERY: Duration = Duration::from_secs(60);

/// Drain an application's outbox into the queue: whatever is due, every poll interval
/// (at once again while full batches keep coming). Published rows are kept as long as the
/// ledger remembers their keys (`worker.retention_secs`), then deleted, so the table does
/// not grow without end and a key can be staged again once Inlet would accept it again.
async fn outbox_loop(
    outbox: inlet_core::config::OutboxConfig,
    retention: Duration,
    mut drain: inlet_outbox::sqlite::Drain,
    queue: Arc<dyn Queue>,
    clock: Arc<dyn Clock>,
    wake: Arc<Notify>,
    mut shutdown: watch::Receiver<bool>,
) {
    let idle = Duration::from_millis(outbox.poll_interval_ms);
    let retention_ms = i64::try_from(retention.as_millis()).unwrap_or(i64::MAX);
    let mut last_purge: Option<std::time::Instant> = None;
    loop {
        if *shutdown.borrow() {
            break;
        }
        let now_ms = inlet_core::clock::unix_millis(clock.now());
        if last_purge.is_none_or(|t| t.elapsed() >= OUTBOX_PURGE_EVERY) {
            last_purge = Some(std::time::Instant::now());
            match drain.purge_published(now_ms.saturating_sub(retention_ms)) {
                Ok(0) => {}
                Ok(purged) => {
                    info!(outbox = %outbox.name, purged, "published outbox rows past the retention deleted")
                }
                Err(e) => warn!(outbox = %outbox.name, error = %e, "outbox purge failed"),
            }
        }
        match inlet_outbox::publish_due(
            &mut drain,
            &outbox.name,
            queue.as_ref(),
            now_ms,
            outbox.batch_size,
            outbox.max_attempts,
        )
        .await
        {
            Ok(report) => {
                if report.published > 0 {
                    info!(outbox = %outbox.name, published = report.published, "outbox events enqueued");
                    wake.notify_one();
                }
                if report.failed > 0 {
                    warn!(outbox = %outbox.name, failed = report.failed, "outbox events not enqueued; retried later");
                }
                if report.published == outbox.batch_size {
                    continue;
                }
            }
            Err(e) => warn!(outbox = %outbox.name, error = %e, "outbox drain failed"),
        }
        tokio::select! {
            _ = tokio::time::sleep(idle) => {}
            _ = shutdown.changed() => {}
        }
    }
}

async fn housekeeping_loop(
    store: Store,
    metrics: Arc<LocalMetrics>,
    mut shutdown: watch::Receiver<bool>,
) {
    let mut tick = tokio::time::interval(Duration::from_secs(1));
    let mut n: u64 = 0;
    loop {
        tokio::select! {
            _ = tick.tick() => {}
            _ = shutdown.changed() => {
                if let Err(e) = metrics.flush(&store).await {
                    warn!(error = %e, "metrics flush failed");
                }
                break;
            }
        }
        if let Err(e) = metrics.flush(&store).await {
            warn!(error = %e, "metrics flush failed");
        }
        n += 1;
        // The console charts the queue's depth and oldest message per minute.
        if n.is_multiple_of(10) {
            if let Err(e) = store.sample_queue().await {
                warn!(error = %e, "queue sample failed");
            }
        }
        if n.is_multiple_of(60) {
            match store.purge_expired().await {
                Ok(purged) if purged > 0 => info!(purged, "expired ledger entries removed"),
                Ok(_) => {}
                Err(e) => warn!(error = %e, "ledger purge failed"),
            }
        }
    }
}

/// Wait for Ctrl-C or SIGTERM.
pub async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        _ = ctrl_c => {}
        _ = term => {}
    }
}
