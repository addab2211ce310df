//! The two homes of the pipeline, behind the same ports: the embedded SQLite store, or AWS
//! (SQS, DynamoDB, EventBridge — real, or an emulator through `AWS_ENDPOINT_URL`).

use std::path::Path;
use std::sync::Arc;

use anyhow::Context as _;
use clap::ValueEnum;
use inlet_aws::runtime::Resources;
use inlet_core::clock::Clock;
use inlet_core::ports::{
    ConflictStore, Cursors, DeadLetters, EntityVersions, History, Ledger, Queue, Shapes,
};
use inlet_core::status::PipelineStatus;
use inlet_local::{Store, StoreOptions};

use crate::args::DataDirArg;
use crate::error::CliError;

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum, Default)]
pub enum BackendKind {
    /// The embedded SQLite store in --data-dir.
    #[default]
    Local,
    /// SQS + DynamoDB named by INLET_QUEUE_URL, INLET_DLQ_URL, INLET_TABLE (the stack's outputs).
    Aws,
}

/// The ports one backend provides.
#[derive(Clone)]
pub struct Ports {
    pub queue: Arc<dyn Queue>,
    pub dead_letters: Arc<dyn DeadLetters>,
    pub ledger: Arc<dyn Ledger>,
    pub versions: Arc<dyn EntityVersions>,
    /// Conflict-rule state and the review queue.
    pub conflicts: Arc<dyn ConflictStore>,
    /// The event history (`inlet events`).
    pub history: Arc<dyn History>,
    pub cursors: Arc<dyn Cursors>,
    /// Learned payload shapes and schema-drift findings (`inlet schema`).
    pub shapes: Arc<dyn Shapes>,
    /// Connections' tokens and call budgets (`inlet connections`, sources with a connection).
    pub connections: Arc<dyn inlet_core::connection::ConnectionStore>,
    /// Queue numbers, counters, activity and reconciliation runs (`inlet status`, the
    /// console's overview).
    pub status: Arc<dyn PipelineStatus>,
    /// The outbox publisher's failure records (`inlet outbox`), where a backend keeps
    /// them: the stack's OutboxFailures queue; none locally (no stream to fail).
    pub outbox_failures: Option<Arc<dyn inlet_core::outbox_failures::OutboxFailures>>,
    /// The embedded store itself, when local (what runs only there: `inlet dev`'s workers,
    /// replaying a kept message).
    pub local: Option<Store>,
    /// The stack, when on AWS (its configuration object, the outbox's queues).
    pub aws: Option<AwsHandles>,
}

#[derive(Clone)]
pub struct AwsHandles {
    pub sdk: aws_config::SdkConfig,
    pub resources: Resources,
    /// The stack's configuration object, when known (from the stack, or INLET_CONFIG_S3).
    pub config: Option<inlet_aws::stack_config::ConfigObject>,
}

impl Ports {
    /// The stores a worker writes to (`Processor::from_config`).
    pub fn worker_stores(&self) -> inlet_core::usecase::process::WorkerStores {
        inlet_core::usecase::process::WorkerStores {
            ledger: Arc::clone(&self.ledger),
            versions: Arc::clone(&self.versions),
            conflicts: Arc::clone(&self.conflicts),
            history: Arc::clone(&self.history),
            shapes: Arc::clone(&self.shapes),
        }
    }
}

pub fn db_path(data_dir: &Path) -> std::path::PathBuf {
    data_dir.join("inlet.db")
}

pub fn local(
    data_dir: &Path,
    options: StoreOptions,
    clock: Arc<dyn Clock>,
) -> anyhow::Result<Ports> {
    let store = Store::open(&db_path(data_dir), options, clock)
        .with_context(|| format!("cannot open the store in {}", data_dir.display()))?;
    let s = Arc::new(store.clone());
    Ok(Ports {
        queue: s.clone(),
        dead_letters: s.clone(),
        ledger: s.clone(),
        versions: s.clone(),
        conflicts: s.clone(),
        history: s.clone(),
        connections: s.clone(),
        shapes: s.clone(),
        status: s.clone(),
        cursors: s,
        outbox_failures: None,
        local: Some(store),
        aws: None,
    })
}

/// The AWS backend, from the environment (the stack's resource names, the SDK's usual
/// configuration). `wait_secs` is the receive long-poll.
pub async fn aws(wait_secs: i32) -> anyhow::Result<Ports> {
    let sdk = inlet_aws::sdk_config().await;
    // The resource variables win when set; else the stack named by INLET_STACK.
    let from_env_config = std::env::var("INLET_CONFIG_S3")
        .ok()
        .and_then(|u| inlet_aws::stack_config::ConfigObject::parse(&u));
    let (resources, config) = match (Resources::from_env(), std::env::var("INLET_STACK")) {
        (Ok(r), _) => (r, from_env_config),
        (Err(_), Ok(stack)) if !stack.is_empty() => {
            let cfn = aws_sdk_cloudformation::Client::new(&sdk);
            inlet_aws::stack_config::from_stack(&cfn, &stack).await?
        }
        (Err(e), _) => {
            return Err(anyhow::Error::new(e).context(
                "the aws backend needs the stack: set INLET_STACK (or INLET_QUEUE_URL, INLET_DLQ_URL, INLET_TABLE, …)",
            ))
        }
    };
    let mut ports = aws_with(sdk, resources, wait_secs)?;
    if let Some(h) = ports.aws.as_mut() {
        h.config = config;
    }
    Ok(ports)
}

/// The AWS backend on a given SDK configuration and resources (tests, tools).
pub fn aws_with(
    sdk: aws_config::SdkConfig,
    resources: Resources,
    wait_secs: i32,
) -> anyhow::Result<Ports> {
    let queue = Arc::new(
        inlet_aws::SqsQueue::new(
            aws_sdk_sqs::Client::new(&sdk),
            inlet_aws::SqsQueueConfig {
                queue_url: resources.queue_url.clone(),
                dlq_url: resources.dlq_url.clone(),
                wait_secs,
            },
        )
        .with_claim_check(inlet_aws::claim_check::ClaimCheck::new(
            aws_sdk_dynamodb::Client::new(&sdk),
            resources.table.clone(),
        )),
    );
    let table = Arc::new(inlet_aws::runtime::stack_store(&sdk, &resources));
    let status = Arc::new(inlet_aws::status::SqsStatus::new(
        aws_sdk_sqs::Client::new(&sdk),
        resources.queue_url.clone(),
        resources.dlq_url.clone(),
    ));
    Ok(Ports {
        queue: queue.clone(),
        dead_letters: queue,
        ledger: table.clone(),
        versions: table.clone(),
        conflicts: table.clone(),
        history: table.clone(),
        connections: table.clone(),
        shapes: table.clone(),
        cursors: table,
        status,
        outbox_failures: resources.outbox_failures_url.clone().map(|url| {
            Arc::new(inlet_aws::outbox_failures::SqsOutboxFailures::new(
                aws_sdk_sqs::Client::new(&sdk),
                url,
            )) as Arc<dyn inlet_core::outbox_failures::OutboxFailures>
        }),
        local: None,
        aws: Some(AwsHandles {
            sdk,
            resources,
            config: None,
        }),
    })
}

/// What an operator's command reads: the config without its secrets (`None` when there is
/// no file) and the backend's ports.
pub async fn operator_context(
    explicit: Option<&Path>,
    place: &DataDirArg,
) -> Result<(Option<inlet_core::config::Config>, Ports), CliError> {
    let config = crate::config_file::load_for_operator(explicit).map_err(CliError::config)?;
    Ok((config, open_ports(place, true).await?))
}

/// The backend's ports for an operator command.
/// `existing`: the local store must exist already (operator commands that only read it or
/// move messages); `reconcile` may create it.
pub async fn open_ports(place: &DataDirArg, existing: bool) -> Result<Ports, CliError> {
    match place.backend {
        BackendKind::Local => {
            let path = db_path(&place.data_dir);
            if existing && !path.is_file() {
                return Err(CliError::failed(format!(
                    "no store at {} (run `inlet dev` first, or pass --data-dir)",
                    path.display()
                )));
            }
            local(
                &place.data_dir,
                StoreOptions::default(),
                Arc::new(inlet_core::clock::SystemClock),
            )
            .map_err(CliError::Failed)
        }
        BackendKind::Aws => aws(0).await.map_err(|e| CliError::config(format!("{e:#}"))),
    }
}
