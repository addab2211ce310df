//! The subcommands. Each returns an exit code (see [`crate::exit`]) and prints errors that
//! say what to do.

use crate::out::inert;
use std::io::Read as _;
use std::path::Path;
use std::sync::Arc;

use inlet_core::clock::SystemClock;
use inlet_core::config::{Config, SinkConfig};
use inlet_core::ports::RedriveSelector;
use inlet_core::secret::Secret;
use inlet_core::signature::{sign_request, Scheme, SignRequest, SignedRequest};
use inlet_local::StoreOptions;

use crate::backend::{BackendKind, Ports};
use crate::config_file::{self, LoadError};
use crate::dev::{self, DevOptions};
use crate::outbox::ById;
use crate::review::Resolution;
use crate::{
    exit, Command, DataDirArg, DlqAction, EventsAction, OutboxAction, ReviewAction, SchemaAction,
};

pub async fn run(command: Command) -> u8 {
    match command {
        Command::Dev {
            config,
            listen,
            data_dir,
        } => run_dev(config.config.as_deref(), listen, &data_dir).await,
        Command::Send {
            provider,
            body,
            url,
            event_type,
            id,
            print,
            write_body,
            config,
        } => {
            let opts = SendOptions {
                url,
                event_type,
                id,
                print,
                write_body,
            };
            send(config.config.as_deref(), &provider, &body, opts).await
        }
        Command::Check { config } => check(config.config.as_deref()),
        Command::Providers { markdown, json } => providers(markdown, json),
        Command::Sources { json } => sources(json),
        Command::Outbox {
            config,
            data_dir,
            json,
            action: None,
        } => crate::outbox::status(config.config.as_deref(), &data_dir, json).await,
        Command::Outbox {
            action:
                Some(OutboxAction::Redrive {
                    config,
                    data_dir,
                    older_than,
                    ids,
                }),
            ..
        } if ids.is_empty() => {
            crate::outbox::redrive(config.config.as_deref(), &data_dir, older_than).await
        }
        Command::Outbox {
            action:
                Some(OutboxAction::Redrive {
                    config,
                    data_dir,
                    ids,
                    ..
                }),
            ..
        } => crate::outbox::by_id(config.config.as_deref(), &data_dir, &ids, ById::Redrive).await,
        Command::Outbox {
            action:
                Some(OutboxAction::Discard {
                    config,
                    data_dir,
                    ids,
                }),
            ..
        } => crate::outbox::by_id(config.config.as_deref(), &data_dir, &ids, ById::Discard).await,
        Command::Dlq { action } => match action {
            DlqAction::List {
                data_dir,
                limit,
                json,
            } => dlq_list(&data_dir, limit, json).await,
            DlqAction::Redrive { data_dir, key, all } => dlq_redrive(&data_dir, key, all).await,
        },
        Command::Console {
            listen,
            config,
            data_dir,
        } => console(config.config.as_deref(), &data_dir, listen).await,
        Command::Events { action } => match action {
            EventsAction::List {
                filter,
                limit,
                after,
                json,
                data_dir,
            } => crate::events::list(&data_dir, &filter, limit, after.as_deref(), json).await,
            EventsAction::Show {
                key,
                json,
                config,
                data_dir,
            } => crate::events::show(config.config.as_deref(), &data_dir, &key, json).await,
            EventsAction::Replay {
                keys,
                filter,
                data_dir,
            } => crate::events::replay(&data_dir, &keys, &filter).await,
        },
        Command::Schema { action } => match action {
            SchemaAction::List {
                data_dir,
                all,
                limit,
                json,
            } => crate::schema::list(&data_dir, all, limit, json).await,
            SchemaAction::Show {
                provider,
                event_type,
                json,
                data_dir,
            } => crate::schema::show(&data_dir, &provider, event_type.as_deref(), json).await,
            SchemaAction::Accept { ids, data_dir } => crate::schema::accept(&data_dir, &ids).await,
        },
        Command::Review { action } => match action {
            ReviewAction::List {
                data_dir,
                limit,
                json,
            } => crate::review::list(&data_dir, limit, json).await,
            ReviewAction::Show {
                key,
                json,
                config,
                data_dir,
            } => crate::review::show(config.config.as_deref(), &data_dir, &key, json).await,
            ReviewAction::Release {
                keys,
                config,
                data_dir,
            } => {
                crate::review::resolve(
                    config.config.as_deref(),
                    &data_dir,
                    &keys,
                    Resolution::Release,
                )
                .await
            }
            ReviewAction::Discard { keys, data_dir } => {
                crate::review::resolve(None, &data_dir, &keys, Resolution::Discard).await
            }
        },
        Command::Status { data_dir, json } => status(&data_dir, json).await,
        Command::Connections {
            config,
            data_dir,
            json,
        } => connections(config.config.as_deref(), &data_dir, json).await,
        Command::Config { action } => match action {
            crate::ConfigAction::Push { config, stack } => {
                crate::deployed_config::push(config.config.as_deref(), &stack).await
            }
            crate::ConfigAction::Show { stack } => crate::deployed_config::show(&stack).await,
        },
        Command::Connect {
            name,
            config,
            data_dir,
            timeout_secs,
        } => {
            crate::connect::connect(
                config.config.as_deref(),
                &data_dir,
                &name,
                std::time::Duration::from_secs(timeout_secs),
            )
            .await
        }
        Command::Replay {
            key,
            from,
            to,
            data_dir,
        } => replay(&data_dir, key, from, to).await,
        Command::Reconcile {
            source,
            since,
            dry_run,
            json,
            config,
            data_dir,
        } => {
            reconcile(
                config.config.as_deref(),
                &data_dir,
                &source,
                since.as_deref(),
                dry_run,
                json,
            )
            .await
        }
    }
}

pub(crate) fn load_config(explicit: Option<&Path>) -> Result<(std::path::PathBuf, Config), u8> {
    let path = config_file::resolve(explicit).map_err(|e| {
        crate::errln!("inlet: {e}");
        exit::CONFIG
    })?;
    match config_file::load(&path) {
        Ok(c) => Ok((path, c)),
        Err(LoadError::Invalid { path, source }) => {
            crate::errln!("inlet: {path}: {source}");
            Err(exit::CONFIG)
        }
        Err(e) => {
            crate::errln!("inlet: {e}");
            Err(exit::CONFIG)
        }
    }
}

fn providers(markdown: bool, json: bool) -> u8 {
    use inlet_core::catalogue::{self, PRESETS};
    if markdown {
        crate::out!("{}", catalogue::markdown());
        return exit::OK;
    }
    if json {
        for p in PRESETS {
            let row = serde_json::json!({
                "scheme": p.name,
                "provider": p.title,
                "verification": p.family(),
                "replay_protection": p.describe_replay(),
                "tolerance_secs": p.tolerance.secs,
                "needs": p.needs(),
                "doc": p.doc,
                "note": p.note,
            });
            crate::out::json(&row);
        }
        return exit::OK;
    }
    crate::outln!(
        "{:<18} {:<38} {:<28} {:<22} NEEDS",
        "SCHEME",
        "PROVIDER",
        "VERIFICATION",
        "REPLAY"
    );
    for p in PRESETS {
        crate::outln!(
            "{:<18} {:<38} {:<28} {:<22} {}",
            p.name,
            p.title,
            p.family(),
            replay_label(p),
            p.needs()
        );
    }
    crate::outln!(
        "\n{} presets. Each provider's page and payload conventions: docs/providers.md (`inlet providers --markdown`).",
        PRESETS.len()
    );
    exit::OK
}

fn sources(json: bool) -> u8 {
    use inlet_core::source_presets::PRESETS;
    for p in PRESETS {
        let feeds: Vec<serde_json::Value> = p
            .feeds
            .iter()
            .map(|f| {
                serde_json::json!({
                    "feed": f.name,
                    "entity": f.entity,
                    "cursor": f.cursor_text(),
                    "deletes": f.deletes_text(),
                    "default": f.default,
                    "read_with": f.with,
                })
            })
            .collect();
        if json {
            let params: Vec<&str> = p.params.iter().map(|(n, _)| *n).collect();
            crate::out::json(&serde_json::json!({
                "kind": p.name,
                "title": p.title,
                "api_base": p.api_base.unwrap_or(p.api_base_hint),
                "params": params,
                "auth": p.auth,
                "budget": p.budget,
                "webhooks": p.webhooks,
                "doc": p.doc,
                "feeds": feeds,
            }));
            continue;
        }
        crate::outln!("{} — {}", p.name, p.title);
        for f in p.feeds {
            let mark = if f.default { "*" } else { " " };
            let with = f
                .with
                .map(|w| format!(" (read with {w})"))
                .unwrap_or_default();
            let line = format!(
                "  {mark} {:<22} {:<20} cursor {:<12} {}{with}",
                f.name,
                f.entity,
                f.cursor_text(),
                f.deletes_text()
            );
            crate::outln!("{}", line.trim_end());
        }
        if !p.params.is_empty() {
            let params: Vec<String> = p
                .params
                .iter()
                .map(|(n, d)| match d {
                    Some(d) => format!("{n} (default {d})"),
                    None => n.to_string(),
                })
                .collect();
            crate::outln!("    params:  {}", params.join(", "));
        }
        crate::outln!("    auth:    {}", p.auth);
        crate::outln!("    budget:  {}", p.budget);
        crate::outln!("    keys:    {}", p.webhooks);
        crate::outln!("    doc:     {}", p.doc);
    }
    if !json {
        crate::outln!(
            "\n{} source presets (* read by default). Besides them: stripe-events, github-deliveries, shopify (REST) and http-json for any JSON API.",
            PRESETS.len()
        );
    }
    exit::OK
}

/// A preset's replay protection in a table cell (`--markdown` and `--json` say it whole).
fn replay_label(p: &inlet_core::catalogue::Preset) -> String {
    use inlet_core::catalogue::ReplayProtection as R;
    match p.replay_protection() {
        R::SignedTimestamp { .. } => format!("timestamp ±{}s + key", p.tolerance.secs),
        R::SignedKey => "signed key".into(),
        R::BodyHash { timestamp: true } => format!("timestamp ±{}s + body", p.tolerance.secs),
        R::BodyHash { timestamp: false } => "body hash".into(),
        R::None => "none (unsigned)".into(),
    }
}

fn check(explicit: Option<&Path>) -> u8 {
    let (path, config) = match load_config(explicit) {
        Ok(c) => c,
        Err(code) => return code,
    };
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
    exit::OK
}

async fn run_dev(explicit: Option<&Path>, listen: std::net::SocketAddr, place: &DataDirArg) -> u8 {
    let data_dir = place.data_dir.as_path();
    let (path, config) = match load_config(explicit) {
        Ok(c) => c,
        Err(code) => return code,
    };
    let providers: Vec<String> = config
        .providers
        .iter()
        .map(|p| p.name.to_string())
        .collect();
    let mut options = DevOptions::new(config, listen, data_dir.to_path_buf());
    options.backend = place.backend;
    let running = match dev::start(options).await {
        Ok(r) => r,
        Err(e) => {
            crate::errln!("inlet: {e:#}");
            return exit::FAILURE;
        }
    };
    let addr = running.addr;
    let store = match place.backend {
        BackendKind::Local => dev::db_path(data_dir).display().to_string(),
        BackendKind::Aws => "AWS (SQS + DynamoDB)".to_string(),
    };
    crate::outln!("inlet dev: config {}, store {store}", path.display());
    crate::outln!("listening on http://{addr}  (POST /webhooks/{{provider}}, GET /health)");
    match &running.console_token {
        None => crate::outln!("console:   http://{addr}/console"),
        Some(token) => crate::outln!("console:   http://{addr}/console?token={token}  (bound beyond loopback: the token is required)"),
    }
    if !providers.is_empty() {
        crate::outln!("providers: {}", providers.join(", "));
    }
    if path
        .file_name()
        .is_some_and(|f| f == config_file::EXAMPLE_FILE)
        && providers.iter().any(|p| p == "stripe")
    {
        crate::outln!("send a first event:  inlet send stripe --body examples/stripe-invoice-paid.json --url http://{addr}/webhooks/stripe");
        crate::outln!("then look:           inlet status   (and .inlet/events.jsonl)");
    }
    dev::shutdown_signal().await;
    crate::outln!("inlet dev: shutting down (accepted events are safe in the store)");
    running.shutdown().await;
    exit::OK
}

/// Read the body to send: a file, or standard input for '-'.
fn read_body(path: &Path) -> std::io::Result<Vec<u8>> {
    if path == Path::new("-") {
        let mut buf = Vec::new();
        std::io::stdin().read_to_end(&mut buf)?;
        Ok(buf)
    } else {
        std::fs::read(path)
    }
}

/// For schemes whose event type lives in a JSON body, set `type`.
fn with_type(scheme: &Scheme, body: Vec<u8>, event_type: Option<&str>) -> Vec<u8> {
    let Some(t) = event_type else { return body };
    if matches!(scheme, Scheme::Github | Scheme::Shopify | Scheme::Slack) {
        return body;
    }
    match serde_json::from_slice::<serde_json::Value>(&body) {
        Ok(serde_json::Value::Object(mut map)) => {
            map.insert("type".into(), serde_json::Value::String(t.to_string()));
            serde_json::to_vec(&map).unwrap_or(body)
        }
        _ => body,
    }
}

struct SendOptions {
    url: Option<String>,
    event_type: Option<String>,
    id: Option<String>,
    print: bool,
    write_body: Option<std::path::PathBuf>,
}

async fn send(explicit: Option<&Path>, provider: &str, body_path: &Path, opts: SendOptions) -> u8 {
    let SendOptions {
        url,
        event_type,
        id,
        print,
        write_body,
    } = opts;
    let (_, config) = match load_config(explicit) {
        Ok(c) => c,
        Err(code) => return code,
    };
    let Some(p) = config.provider(provider) else {
        let known: Vec<&str> = config.providers.iter().map(|p| p.name.as_str()).collect();
        crate::errln!(
            "inlet: no provider named {provider:?} in the config; configured: {}",
            known.join(", ")
        );
        return exit::CONFIG;
    };
    let body = match read_body(body_path) {
        Ok(b) => with_type(&p.scheme, b, event_type.as_deref()),
        Err(e) => {
            crate::errln!("inlet: cannot read {}: {e}", body_path.display());
            return exit::FAILURE;
        }
    };
    let unsigned = Secret::new("");
    let secret = match p.secrets.first() {
        Some(s) => s,
        None if p.scheme == Scheme::Unsigned => &unsigned,
        None => {
            crate::errln!("inlet: provider {provider} has no secret to sign with");
            return exit::CONFIG;
        }
    };
    let id = id.unwrap_or_else(|| format!("msg_{}", uuid::Uuid::new_v4().simple()));
    let now = time::OffsetDateTime::now_utc().unix_timestamp();
    // Schemes that sign inside the body rewrite it.
    let SignedRequest {
        body,
        headers: signed,
    } = match sign_request(
        &p.scheme,
        &SignRequest {
            body: &body,
            secret,
            timestamp: now,
            id: &id,
        },
    ) {
        Ok(s) => s,
        Err(e) => {
            crate::errln!("inlet: cannot sign for {provider}: {e}");
            return exit::CONFIG;
        }
    };
    if let Some(path) = &write_body {
        if let Err(e) = std::fs::write(path, &body) {
            crate::errln!("inlet: cannot write {}: {e}", path.display());
            return exit::FAILURE;
        }
    }
    let url = url.unwrap_or_else(|| format!("http://127.0.0.1:3000/webhooks/{provider}"));
    let content_type = if matches!(p.scheme, Scheme::Twilio { .. } | Scheme::Unsigned) {
        "application/x-www-form-urlencoded"
    } else if serde_json::from_slice::<serde_json::Value>(&body).is_ok() {
        "application/json"
    } else {
        "text/plain"
    };
    let mut headers = vec![("content-type".to_string(), content_type.to_string())];
    headers.extend(signed);
    headers.extend(scheme_headers(&p.scheme, &id, event_type.as_deref()));
    if print {
        let map: serde_json::Map<String, serde_json::Value> = headers
            .into_iter()
            .map(|(k, v)| (k, serde_json::Value::String(v)))
            .collect();
        crate::out::json(&serde_json::Value::Object(map));
        return exit::OK;
    }
    let mut req = reqwest::Client::new().post(&url);
    for (k, v) in headers {
        req = req.header(k, v);
    }
    match req.body(body).send().await {
        Ok(resp) => {
            let status = resp.status();
            let text = resp.text().await.unwrap_or_default();
            crate::outln!("{} {}", status.as_u16(), text);
            if status.is_success() {
                exit::OK
            } else {
                exit::FAILURE
            }
        }
        Err(e) => {
            crate::errln!("inlet: POST {url} failed: {e} (is `inlet dev` running?)");
            exit::FAILURE
        }
    }
}

/// Headers a provider sends besides the signature.
fn scheme_headers(scheme: &Scheme, id: &str, event_type: Option<&str>) -> Vec<(String, String)> {
    match scheme {
        Scheme::Github => vec![
            ("X-GitHub-Delivery".into(), id.to_string()),
            (
                "X-GitHub-Event".into(),
                event_type.unwrap_or("ping").to_string(),
            ),
        ],
        Scheme::Shopify => vec![
            ("X-Shopify-Webhook-Id".into(), id.to_string()),
            (
                "X-Shopify-Topic".into(),
                event_type.unwrap_or("orders/create").to_string(),
            ),
        ],
        Scheme::Twilio { .. } => vec![("I-Twilio-Idempotency-Token".into(), id.to_string())],
        _ => Vec::new(),
    }
}

async fn console(explicit: Option<&Path>, place: &DataDirArg, listen: std::net::SocketAddr) -> u8 {
    let (config, ports) = match operator_context(explicit, place).await {
        Ok(c) => c,
        Err(code) => return code,
    };
    match crate::console::serve_alone(ports, config.as_ref(), listen).await {
        Ok(()) => exit::OK,
        Err(e) => {
            crate::errln!("inlet: {e:#}");
            exit::FAILURE
        }
    }
}

/// What an operator's command reads: the config without its secrets (`None` when there is
/// no file) and the backend's ports.
pub(crate) async fn operator_context(
    explicit: Option<&Path>,
    place: &DataDirArg,
) -> Result<(Option<Config>, Ports), u8> {
    let config = config_file::load_for_operator(explicit).map_err(|e| {
        crate::errln!("inlet: {}", e.to_string().trim_end());
        exit::CONFIG
    })?;
    Ok((config, open_ports(place, true).await?))
}

/// The field names a command redacts when it shows payloads.
pub(crate) fn redact_fields(config: Option<&Config>) -> Vec<String> {
    config.map_or_else(
        || inlet_core::config::LoggingConfig::default().redact_fields,
        |c| c.logging.redact_fields.clone(),
    )
}

/// The backend's ports for an operator command.
/// `existing`: the local store must exist already (operator commands that only read it or
/// move messages); `reconcile` may create it.
pub(crate) async fn open_ports(place: &DataDirArg, existing: bool) -> Result<Ports, u8> {
    match place.backend {
        BackendKind::Local => {
            let path = dev::db_path(&place.data_dir);
            if existing && !path.is_file() {
                crate::errln!(
                    "inlet: no store at {} (run `inlet dev` first, or pass --data-dir)",
                    path.display()
                );
                return Err(exit::FAILURE);
            }
            crate::backend::local(
                &place.data_dir,
                StoreOptions::default(),
                Arc::new(SystemClock),
            )
            .map_err(|e| {
                crate::errln!("inlet: {e:#}");
                exit::FAILURE
            })
        }
        BackendKind::Aws => crate::backend::aws(0).await.map_err(|e| {
            crate::errln!("inlet: {e:#}");
            exit::CONFIG
        }),
    }
}

async fn dlq_list(place: &DataDirArg, limit: usize, json: bool) -> u8 {
    let ports = match open_ports(place, true).await {
        Ok(p) => p,
        Err(c) => return c,
    };
    match ports.dead_letters.list(limit).await {
        Ok(items) => {
            if json {
                for d in &items {
                    let line = serde_json::json!({
                        "key": d.key,
                        "reason": d.reason,
                        "receive_count": d.receive_count,
                        "dead_at": d.dead_at.format(&time::format_description::well_known::Rfc3339).unwrap_or_default(),
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
            if let Some(h) = &ports.aws {
                match crate::outbox::failed_batches(h).await {
                    Ok(0) => {}
                    Ok(n) => crate::errln!(
                        "note: the outbox publisher gave up on {n} stream batch(es); `inlet outbox --backend aws` shows the events, `inlet outbox redrive --backend aws` publishes them"
                    ),
                    Err(e) => crate::errln!("inlet: {e:#}"),
                }
            }
            exit::OK
        }
        Err(e) => {
            crate::errln!("inlet: {e}");
            exit::FAILURE
        }
    }
}

async fn dlq_redrive(place: &DataDirArg, key: Option<String>, all: bool) -> u8 {
    let ports = match open_ports(place, true).await {
        Ok(p) => p,
        Err(c) => return c,
    };
    let which = match (key, all) {
        (Some(k), _) => RedriveSelector::Key(k),
        (None, true) => RedriveSelector::All,
        (None, false) => {
            crate::errln!("inlet: say which: --key KEY or --all");
            return exit::USAGE;
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
            crate::errln!("inlet: no dead letter with that key");
            exit::NOT_FOUND
        }
        Ok(n) => {
            crate::outln!("redriven {n} message(s) to the work queue");
            exit::OK
        }
        Err(e) => {
            crate::errln!("inlet: {e}");
            exit::FAILURE
        }
    }
}

/// `inlet connections`: what an operator needs to see before a sync silently stops.
async fn connections(config: Option<&Path>, place: &DataDirArg, json: bool) -> u8 {
    let ports = match open_ports(place, false).await {
        Ok(p) => p,
        Err(c) => return c,
    };
    // The config only adds the idle limits; without one (or with one that does not load
    // here) the states are listed all the same.
    let configs = match config_file::resolve(config).map(|p| config_file::load(&p)) {
        Ok(Ok(c)) => c.connections,
        _ => Vec::new(),
    };
    let list = match ports.connections.list().await {
        Ok(l) => l,
        Err(e) => {
            crate::errln!("inlet: {e}");
            return exit::FAILURE;
        }
    };
    let now = inlet_core::clock::unix_millis(time::OffsetDateTime::now_utc());
    let age = |ms: Option<i64>| ms.filter(|t| *t > 0).map(|t| (now - t).max(0) / 1000);
    if list.is_empty() && !json {
        crate::outln!("no connection has tokens stored yet (a source with auth = \"connection\" stores them on its first run)");
    }
    let mut broken = 0;
    for (name, c) in &list {
        let obtained = c.pair.as_ref().map(|p| p.obtained_at_ms);
        // No access token yet (a seeded pair before its first refresh, an OAuth1 or a
        // cleared mark): nothing expires.
        let expires_in = c
            .pair
            .as_ref()
            .filter(|p| !p.access_token.expose().is_empty())
            .map(|p| (p.access_expires_at_ms - now) / 1000);
        if c.broken.is_some() {
            broken += 1;
        }
        let idle = inlet_core::connection::refresh_idle_of(&configs, name);
        let refresh_days_left = inlet_core::connection::refresh_days_left(c, idle, now);
        if json {
            crate::out::json(&serde_json::json!({
                "connection": name,
                "state": if c.broken.is_some() { "broken" } else { "healthy" },
                "broken_reason": c.broken,
                "token_age_secs": age(obtained),
                "access_expires_in_secs": expires_in,
                "last_refresh_age_secs": age(c.last_refresh_ms),
                "last_failure": c.last_failure,
                "refreshing": c.refresh_lease_until_ms.is_some_and(|t| t > now),
                "refresh_token_days_left": refresh_days_left,
                "generation": c.generation,
            }));
        } else {
            let state = match &c.broken {
                Some(reason) => format!(
                    "BROKEN: {}  (repair the grant or credentials, then `inlet connect {}`)",
                    inert(reason),
                    inert(name)
                ),
                None => "healthy".into(),
            };
            crate::outln!(
                "{}  {}  token age {}  access expires in {}  last refresh {}  generation {}{}",
                inert(name),
                state,
                age(obtained).map_or("-".into(), |s| format!("{s} s")),
                expires_in.map_or("-".into(), |s| format!("{s} s")),
                age(c.last_refresh_ms).map_or("never".into(), |s| format!("{s} s ago")),
                c.generation,
                refresh_days_left.map_or(String::new(), |d| format!(
                    "  refresh token dies unused in {d} day(s)"
                ))
            );
        }
    }
    if broken > 0 {
        crate::errln!("inlet: {broken} connection(s) broken");
        return exit::FAILURE;
    }
    exit::OK
}

async fn status(place: &DataDirArg, json: bool) -> u8 {
    let ports = match open_ports(place, true).await {
        Ok(p) => p,
        Err(c) => return c,
    };
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
    for (name, reason) in &broken {
        crate::errln!(
            "inlet: connection {} is BROKEN: {} — re-authorize it (`inlet connections`)",
            inert(name),
            inert(reason)
        );
    }
    let code = status_of(&ports, json).await;
    if broken.is_empty() {
        code
    } else {
        exit::FAILURE
    }
}

async fn status_of(ports: &crate::backend::Ports, json: bool) -> u8 {
    let s = match ports.status.report().await {
        Ok(s) => s,
        Err(e) => {
            crate::errln!("inlet: {e}");
            return exit::FAILURE;
        }
    };
    if json {
        crate::out::json_pretty(&s);
        return exit::OK;
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
        return exit::OK;
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
            r.at.format(&time::format_description::well_known::Rfc3339)
                .unwrap_or_default(),
            r.source,
            r.report["scanned"],
            r.report["recovered"],
            r.report["recovery_rate"]
        ),
        None => crate::outln!("reconcile  no run yet"),
    }
    exit::OK
}

async fn reconcile(
    explicit: Option<&Path>,
    place: &DataDirArg,
    source: &str,
    since: Option<&str>,
    dry_run: bool,
    json: bool,
) -> u8 {
    let (_, config) = match load_config(explicit) {
        Ok(c) => c,
        Err(code) => return code,
    };
    let Some(source_config) = config.source(source) else {
        let known: Vec<&str> = config.sources.iter().map(|s| s.name.as_str()).collect();
        crate::errln!(
            "inlet: no source named {source:?} in the config; configured: {}",
            known.join(", ")
        );
        return exit::NOT_FOUND;
    };
    let backfill = match since.map(|s| (s, crate::reconcile::parse_since(s))) {
        None => None,
        Some((_, Some(t))) => Some(t),
        Some((text, None)) => {
            crate::errln!("inlet: --since {text:?} is neither RFC 3339 (2026-11-01T00:00:00Z) nor Unix seconds");
            return exit::USAGE;
        }
    };
    let ports = match open_ports(place, false).await {
        Ok(p) => p,
        Err(c) => return c,
    };
    let built = match inlet_sources::connection_for(&config, source_config, &ports.connections)
        .and_then(|c| inlet_sources::build_with(source_config, c))
    {
        Ok(b) => b,
        Err(e) => {
            crate::errln!("inlet: {e}");
            return exit::FAILURE;
        }
    };
    let metrics = inlet_local::LocalMetrics::new();
    let mut code = exit::OK;
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
                    crate::errln!("inlet: {}: {}", report.source, inert(&e.to_string()));
                    code = exit::FAILURE;
                }
            }
            Err(e) => {
                crate::errln!("inlet: {}: {e}", feed.name());
                code = exit::FAILURE;
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
    code
}

async fn replay(
    place: &DataDirArg,
    key: Option<String>,
    from: Option<String>,
    to: Option<String>,
) -> u8 {
    if let Some(key) = key {
        return crate::events::replay(place, &[key], &crate::EventFilterArgs::default()).await;
    }
    match place.backend {
        BackendKind::Local => {
            crate::errln!(
                "inlet: say which event: inlet replay KEY (or inlet events replay with a filter)"
            );
            exit::USAGE
        }
        BackendKind::Aws => {
            let parse = |t: &Option<String>| {
                t.as_deref()
                    .map(|s| crate::reconcile::parse_since(s).ok_or(s.to_string()))
                    .transpose()
            };
            let (from, to) = match (parse(&from), parse(&to)) {
                (Ok(Some(f)), Ok(t)) => (f, t.unwrap_or_else(time::OffsetDateTime::now_utc)),
                (Ok(None), _) => {
                    crate::errln!("inlet: on AWS, replay a window of the event archive: inlet replay --backend aws --from TIME [--to TIME]");
                    return exit::USAGE;
                }
                (Err(bad), _) | (_, Err(bad)) => {
                    crate::errln!("inlet: {bad:?} is neither RFC 3339 nor Unix seconds");
                    return exit::USAGE;
                }
            };
            let (Ok(archive), Ok(bus)) = (
                std::env::var("INLET_EVENT_ARCHIVE"),
                std::env::var("INLET_EVENT_BUS"),
            ) else {
                crate::errln!("inlet: set INLET_EVENT_ARCHIVE and INLET_EVENT_BUS (the stack's EventArchiveArn and EventBusName outputs)");
                return exit::CONFIG;
            };
            let sdk = inlet_aws::sdk_config().await;
            match inlet_aws::eventbridge::start_replay(
                &aws_sdk_eventbridge::Client::new(&sdk),
                &archive,
                &bus,
                from,
                to,
            )
            .await
            {
                Ok(name) => {
                    crate::outln!("replay {name} started: the archive's events from {from} to {to} go to {bus} again");
                    exit::OK
                }
                Err(e) => {
                    crate::errln!("inlet: {e}");
                    exit::FAILURE
                }
            }
        }
    }
}
