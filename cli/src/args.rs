//! The command line as clap parses it: the `inlet` command, its subcommands and their
//! flags. What each command does is in [`crate::cmd`].

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand, ValueEnum};

use inlet_core::history::{EventFilter, EventState};

use crate::backend;

#[derive(Debug, Parser)]
#[command(
    name = "inlet",
    version,
    about = "Webhook ingestion and reconciliation: verify, queue durably, process exactly once.",
    long_about = "Webhook ingestion and reconciliation: verify, queue durably, process exactly once.\n\n\
        Exit codes: 0 ok, 1 failure, 2 usage error, 3 invalid configuration, 4 nothing matched."
)]
pub struct Cli {
    /// Log format on stderr.
    #[arg(
        long,
        global = true,
        value_enum,
        env = "INLET_LOG_FORMAT",
        default_value = "text"
    )]
    pub log_format: LogFormat,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum LogFormat {
    Text,
    Json,
}

#[derive(Debug, Args, Clone)]
pub struct ConfigArg {
    /// Config file [default: inlet.toml if present, else inlet.example.toml]
    #[arg(long, short = 'c', env = "INLET_CONFIG")]
    pub config: Option<PathBuf>,
}

#[derive(Debug, Args, Clone)]
pub struct DataDirArg {
    /// Directory of the embedded store.
    #[arg(long, env = "INLET_DATA_DIR", default_value = ".inlet")]
    pub data_dir: PathBuf,
    /// Where the pipeline lives: the embedded store, or AWS (SQS + DynamoDB named by
    /// INLET_QUEUE_URL, INLET_DLQ_URL, INLET_TABLE; AWS_ENDPOINT_URL for an emulator).
    #[arg(long, value_enum, env = "INLET_BACKEND", default_value = "local")]
    pub backend: backend::BackendKind,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run the webhook endpoint, the worker and the scheduler in one process.
    Dev {
        #[command(flatten)]
        config: ConfigArg,
        /// Address to listen on.
        #[arg(
            long,
            short = 'l',
            env = "INLET_LISTEN",
            default_value = "127.0.0.1:3000"
        )]
        listen: std::net::SocketAddr,
        #[command(flatten)]
        data_dir: DataDirArg,
    },
    /// Sign a payload with a provider's configured secret and POST it.
    Send {
        /// Provider name from the config (the {provider} of /webhooks/{provider}).
        provider: String,
        /// File with the body to send ('-' for standard input).
        #[arg(long)]
        body: PathBuf,
        /// Endpoint [default: http://127.0.0.1:3000/webhooks/PROVIDER]
        #[arg(long)]
        url: Option<String>,
        /// Event type (GitHub event, Shopify topic, or the body's "type" for JSON schemes).
        #[arg(long = "type")]
        event_type: Option<String>,
        /// Message/delivery id for schemes that send one in a header [default: random].
        #[arg(long)]
        id: Option<String>,
        /// Print the signed request's headers as JSON instead of sending it (for curl or
        /// to check a signature elsewhere).
        #[arg(long)]
        print: bool,
        /// Also write the body as sent to FILE: presets that sign inside the body (Adyen,
        /// Mailgun, Microsoft Graph) rewrite it.
        #[arg(long, value_name = "FILE")]
        write_body: Option<PathBuf>,
        #[command(flatten)]
        config: ConfigArg,
    },
    /// The provider presets a config's `scheme` can name: how each verifies, what it
    /// needs in the config, and the provider's page on it.
    Providers {
        /// Print the catalogue as the Markdown table of docs/providers.md.
        #[arg(long, conflicts_with = "json")]
        markdown: bool,
        /// Print one JSON object per preset.
        #[arg(long)]
        json: bool,
    },
    /// The source presets `[[sources]] kind` can name (Exact Online, Xero, HubSpot, …):
    /// each one's feeds, cursor, deletions, credentials, budget and the page it follows.
    Sources {
        /// Print one JSON object per preset.
        #[arg(long)]
        json: bool,
    },
    /// Validate a configuration and say precisely what is wrong.
    Check {
        #[command(flatten)]
        config: ConfigArg,
    },
    /// The outboxes: locally the configured ones' events pending, published and failed (and
    /// why); on AWS the stack's items not yet published and the stream batches the
    /// publisher gave up on. `inlet outbox redrive` publishes what failed.
    Outbox {
        #[command(flatten)]
        config: ConfigArg,
        #[command(flatten)]
        data_dir: DataDirArg,
        /// Print one JSON object per outbox.
        #[arg(long)]
        json: bool,
        #[command(subcommand)]
        action: Option<OutboxAction>,
    },
    /// Inspect and redrive the dead-letter queue.
    Dlq {
        #[command(subcommand)]
        action: DlqAction,
    },
    /// Run one reconciliation source once (backfills, checks) and show its report.
    Reconcile {
        /// Source name from the config.
        source: String,
        /// Backfill from this time (RFC 3339, or Unix seconds) instead of the stored cursor;
        /// the cursor is left as it is.
        #[arg(long)]
        since: Option<String>,
        /// Report what would be recovered; enqueue nothing, move no cursor.
        #[arg(long)]
        dry_run: bool,
        /// Print the report as JSON.
        #[arg(long)]
        json: bool,
        #[command(flatten)]
        config: ConfigArg,
        #[command(flatten)]
        data_dir: DataDirArg,
    },
    /// What happened to events: list and search the history, show one event's timeline,
    /// replay events by key or filter.
    Events {
        #[command(subcommand)]
        action: EventsAction,
    },
    /// Deliver an event again: `inlet replay KEY` is `inlet events replay KEY` (either
    /// backend). AWS: --from/--to replays the stack's EventBridge archive for a time window.
    Replay {
        /// Idempotency key of the event.
        key: Option<String>,
        /// AWS: start of the window to replay (RFC 3339 or Unix seconds).
        #[arg(long)]
        from: Option<String>,
        /// AWS: end of the window [default: now].
        #[arg(long)]
        to: Option<String>,
        #[command(flatten)]
        data_dir: DataDirArg,
    },
    /// Serve the operator console alone (overview, events, dead letters, reviews, sources),
    /// e.g. on a workstation against a deployed stack with `--backend aws` and your own
    /// AWS credentials. `inlet dev` serves the same console at /console.
    Console {
        /// Address to listen on (loopback by default; elsewhere an access token is printed
        /// and required).
        #[arg(long, default_value = "127.0.0.1:8080")]
        listen: std::net::SocketAddr,
        #[command(flatten)]
        config: ConfigArg,
        #[command(flatten)]
        data_dir: DataDirArg,
    },
    /// Changes held by a manual-review conflict rule: list, show, release, discard.
    Review {
        #[command(subcommand)]
        action: ReviewAction,
    },
    /// Schema drift: findings (a new path, a missing one, a changed type), what each
    /// provider's events look like, accepting a change.
    Schema {
        #[command(subcommand)]
        action: SchemaAction,
    },
    /// Queue depth, in-flight, DLQ depth, counters and the last reconciliation.
    Status {
        #[command(flatten)]
        data_dir: DataDirArg,
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
    /// The configuration a deployed stack runs: `push` a file (checked first; nothing is
    /// written when it is invalid), `show` what the functions read.
    Config {
        #[command(subcommand)]
        action: ConfigAction,
    },
    /// Authorize a connection once (OAuth2 authorization code with PKCE): prints the
    /// provider's URL, receives the redirect on the connection's loopback redirect_uri,
    /// stores the token pair (locally, or in the stack with --backend aws).
    Connect {
        /// The `[[connections]]` name.
        name: String,
        #[command(flatten)]
        config: ConfigArg,
        #[command(flatten)]
        data_dir: DataDirArg,
        /// How long to wait for the redirect.
        #[arg(long, default_value_t = 300)]
        timeout_secs: u64,
    },
    /// Each connection's state: healthy or broken (with the provider's words), token
    /// ages, last refresh and failure, and — with the config's `refresh_token_idle_days` —
    /// days until an unused refresh token would die. Exits 1 when one is broken.
    Connections {
        #[command(flatten)]
        config: ConfigArg,
        #[command(flatten)]
        data_dir: DataDirArg,
        /// Print one JSON object per connection.
        #[arg(long)]
        json: bool,
    },
}

#[derive(Debug, Subcommand)]
pub enum ConfigAction {
    /// Check the file as `inlet check` does (its secrets stay in the stack's bundle) and
    /// write it to the stack's ConfigBucket.
    Push {
        #[command(flatten)]
        config: ConfigArg,
        /// The CloudFormation stack (its outputs name everything else).
        #[arg(long, env = "INLET_STACK")]
        stack: String,
    },
    /// Print the configuration the stack's functions read, with its version.
    Show {
        #[arg(long, env = "INLET_STACK")]
        stack: String,
    },
}

#[derive(Debug, Subcommand)]
pub enum DlqAction {
    /// List dead-lettered messages with their reasons.
    List {
        #[command(flatten)]
        data_dir: DataDirArg,
        #[arg(long, default_value_t = 100)]
        limit: usize,
        /// Print JSON lines.
        #[arg(long)]
        json: bool,
    },
    /// Move dead letters back to the work queue.
    Redrive {
        #[command(flatten)]
        data_dir: DataDirArg,
        /// Only the message with this idempotency key.
        #[arg(long, conflicts_with = "all", required_unless_present = "all")]
        key: Option<String>,
        /// Every dead letter.
        #[arg(long)]
        all: bool,
    },
}

/// Filters of `inlet events list` and `replay`; every one given must match.
#[derive(Debug, Args, Clone, Default)]
pub struct EventFilterArgs {
    #[arg(long)]
    pub provider: Option<String>,
    /// Event type (e.g. invoice.paid).
    #[arg(long = "type")]
    pub event_type: Option<String>,
    /// delivered, replayed, duplicate, superseded, held, retrying, dead-lettered.
    #[arg(long)]
    pub state: Option<String>,
    /// Entity (e.g. invoice/in_123).
    #[arg(long)]
    pub entity: Option<String>,
    /// Received at or after (RFC 3339 or Unix seconds).
    #[arg(long)]
    pub since: Option<String>,
    /// Received before (RFC 3339 or Unix seconds).
    #[arg(long)]
    pub until: Option<String>,
    /// Text in the key.
    #[arg(long)]
    pub key: Option<String>,
}

impl EventFilterArgs {
    /// The filter the flags describe; an error names the flag that does not parse.
    pub fn filter(&self) -> Result<EventFilter, String> {
        let time = |flag: &str, v: &Option<String>| {
            v.as_deref()
                .map(|t| {
                    crate::reconcile::parse_since(t).ok_or_else(|| {
                        format!("--{flag} {t:?} is neither RFC 3339 (2026-11-28T10:00:00Z) nor Unix seconds")
                    })
                })
                .transpose()
        };
        let state = self
            .state
            .as_deref()
            .map(|s| {
                EventState::parse(s).ok_or_else(|| {
                    let all: Vec<&str> = EventState::ALL.iter().map(|x| x.as_str()).collect();
                    format!("--state {s:?} is not a state: {}", all.join(", "))
                })
            })
            .transpose()?;
        let filter = EventFilter {
            provider: self.provider.clone(),
            event_type: self.event_type.clone(),
            state,
            entity: self.entity.clone(),
            since: time("since", &self.since)?,
            until: time("until", &self.until)?,
            key_contains: self.key.clone(),
        };
        if let (Some(s), Some(u)) = (filter.since, filter.until) {
            if s >= u {
                return Err(format!(
                    "--since {} is not before --until {}",
                    crate::out::rfc3339(s),
                    crate::out::rfc3339(u)
                ));
            }
        }
        Ok(filter)
    }
}

#[derive(Debug, Subcommand)]
pub enum EventsAction {
    /// Events newest first, filtered and paged.
    List {
        #[command(flatten)]
        filter: EventFilterArgs,
        #[arg(long, default_value_t = 50)]
        limit: usize,
        /// Continue after this cursor (printed at the end of a full page).
        #[arg(long)]
        after: Option<String>,
        /// Print JSON lines (and {"next": CURSOR} when there is more).
        #[arg(long)]
        json: bool,
        #[command(flatten)]
        data_dir: DataDirArg,
    },
    /// One event: its timeline (every attempt with its outcome and full error) and its
    /// payload, redacted by logging.redact_fields. Exit code 4 when there is no such event.
    Show {
        key: String,
        #[arg(long)]
        json: bool,
        #[command(flatten)]
        config: ConfigArg,
        #[command(flatten)]
        data_dir: DataDirArg,
    },
    /// Enqueue events again with source = replay under their own keys: by KEY…, or every
    /// event matching the filter flags.
    Replay {
        keys: Vec<String>,
        #[command(flatten)]
        filter: EventFilterArgs,
        #[command(flatten)]
        data_dir: DataDirArg,
    },
}

#[derive(Debug, Subcommand)]
pub enum OutboxAction {
    /// Publish again what failed. Locally: every configured outbox's `failed` events go
    /// back to pending with their attempts counted from zero. On AWS: the items staged at
    /// least --older-than seconds ago and never published are enqueued and marked
    /// published, then the OutboxFailures messages about batches that old are cleared.
    Redrive {
        #[command(flatten)]
        config: ConfigArg,
        #[command(flatten)]
        data_dir: DataDirArg,
        /// AWS: only items staged at least this many seconds ago (younger ones may still
        /// be on their way through the stream).
        #[arg(long, default_value_t = 300)]
        older_than: u64,
        /// Only these failed events, by id (an item that could not become an event, once
        /// the application has fixed it); items marked failed are otherwise passed by.
        #[arg(long = "id")]
        ids: Vec<String>,
    },
    /// Remove failed events for good, by id (they will never be published).
    Discard {
        #[command(flatten)]
        config: ConfigArg,
        #[command(flatten)]
        data_dir: DataDirArg,
        #[arg(long = "id", required = true)]
        ids: Vec<String>,
    },
}

#[derive(Debug, Subcommand)]
pub enum SchemaAction {
    /// Drift findings, newest first (open ones; --all adds the accepted).
    List {
        #[command(flatten)]
        data_dir: DataDirArg,
        #[arg(long)]
        all: bool,
        #[arg(long, default_value_t = 100)]
        limit: usize,
        /// Print JSON lines.
        #[arg(long)]
        json: bool,
    },
    /// What was learned of a provider's events: each path, its types and how many
    /// events had it, with the findings. Exit code 4 when nothing was learned.
    Show {
        provider: String,
        /// One event type only.
        #[arg(long = "type")]
        event_type: Option<String>,
        /// Print one JSON object per event type.
        #[arg(long)]
        json: bool,
        #[command(flatten)]
        data_dir: DataDirArg,
    },
    /// Accept findings: the change becomes part of the shape (no longer drift; a pinned
    /// provider's events carrying it are delivered again). Exit code 4 for an unknown id.
    Accept {
        /// Finding ids (`inlet schema list`).
        #[arg(required = true)]
        ids: Vec<String>,
        #[command(flatten)]
        data_dir: DataDirArg,
    },
}

#[derive(Debug, Subcommand)]
pub enum ReviewAction {
    /// Pending reviews, oldest first.
    List {
        #[command(flatten)]
        data_dir: DataDirArg,
        #[arg(long, default_value_t = 100)]
        limit: usize,
        /// Print JSON lines (without payloads).
        #[arg(long)]
        json: bool,
    },
    /// One review with both versions: the applied change and the held one (its payload
    /// redacted by logging.redact_fields). Exit code 4 when there is no such review.
    Show {
        /// Idempotency key of the held event.
        key: String,
        /// Print one JSON object.
        #[arg(long)]
        json: bool,
        #[command(flatten)]
        config: ConfigArg,
        #[command(flatten)]
        data_dir: DataDirArg,
    },
    /// Apply held changes (the operator decided they win) and deliver them as replays.
    Release {
        /// Idempotency keys of held events.
        #[arg(required = true)]
        keys: Vec<String>,
        #[command(flatten)]
        config: ConfigArg,
        #[command(flatten)]
        data_dir: DataDirArg,
    },
    /// Drop held changes: never delivered; the entity keeps its state.
    Discard {
        /// Idempotency keys of held events.
        #[arg(required = true)]
        keys: Vec<String>,
        #[command(flatten)]
        data_dir: DataDirArg,
    },
}
