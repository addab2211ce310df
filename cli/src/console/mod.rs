//! The operator console: server-rendered pages over the same ports as the CLI — overview,
//! events (search, live list, one event with its timeline, payload and a replay button),
//! dead letters (grouped by reason, redrive one, selected or all after a confirmation),
//! reviews (release or discard held changes), schema drift (findings, learned shapes,
//! accept) and sources. `inlet dev` serves it at
//! `/console`; `inlet console` serves it alone, e.g. against a deployed stack.
//!
//! Safe by default: bound to loopback it needs nothing; bound elsewhere every request needs
//! the access token printed at start (once as `?token=`, then an HttpOnly, SameSite=Strict
//! cookie). Every action is a POST carrying the process's CSRF token, compared in constant
//! time; pages forbid framing and load only the console's own script and stylesheet.
//! Payloads are redacted by `logging.redact_fields`; no secret is ever rendered (the
//! console never reads one).

mod page;

use std::collections::BTreeMap;
use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::{Path, Query, Request, State};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use axum::Router;
use serde::Deserialize;
use subtle::ConstantTimeEq;
use time::OffsetDateTime;

use inlet_core::envelope::payload_value;
use inlet_core::history::{EventFilter, EventRecord, EventState};
use inlet_core::metrics::names;
use inlet_core::ports::RedriveSelector;
use inlet_core::redact::redact;
use inlet_core::source_config::SourceConfig;
use inlet_core::usecase::review::{discard, release};

use crate::backend::Ports;
use page::{csrf_field, enc, esc, event_href, facts, frame, table, time};

/// What the console serves from.
pub struct Console {
    pub ports: Ports,
    pub redact_fields: Vec<String>,
    pub sources: Vec<SourceConfig>,
    pub conflicts: Vec<inlet_core::conflict::ConflictRule>,
    /// The configured connections (their refresh tokens' idle limits).
    pub connections: Vec<inlet_core::connection::ConnectionConfig>,
    /// Required on every request when set (the console is bound beyond loopback).
    pub access_token: Option<String>,
    /// Every form carries it; every POST must.
    pub csrf: String,
}

impl Console {
    /// Without a config: the default redaction list, no sources or conflict rules shown.
    pub fn new(
        ports: Ports,
        config: Option<&inlet_core::config::Config>,
        access_token: Option<String>,
    ) -> Self {
        Console {
            ports,
            redact_fields: crate::commands::redact_fields(config),
            sources: config.map(|c| c.sources.clone()).unwrap_or_default(),
            conflicts: config.map(|c| c.conflicts.clone()).unwrap_or_default(),
            connections: config.map(|c| c.connections.clone()).unwrap_or_default(),
            access_token,
            csrf: random_token(),
        }
    }
}

/// 256 random bits, hex (two v4 UUIDs from the OS's random source).
pub fn random_token() -> String {
    format!(
        "{}{}",
        uuid::Uuid::new_v4().simple(),
        uuid::Uuid::new_v4().simple()
    )
}

const COOKIE: &str = "inlet_console";

/// The console's routes, under `/console`.
pub fn router(console: Arc<Console>) -> Router {
    Router::new()
        .route("/console", get(overview))
        .route("/console/events", get(events))
        .route("/console/events/{key}", get(event))
        .route("/console/events/{key}/replay", post(replay))
        .route("/console/dlq", get(dlq))
        .route("/console/dlq/redrive", post(redrive))
        .route("/console/reviews", get(reviews))
        .route("/console/reviews/{key}/{action}", post(resolve_review))
        .route("/console/sources", get(sources))
        .route("/console/schema", get(schema))
        .route("/console/schema/{id}/accept", post(accept_finding))
        .route(
            "/console/static/console.js",
            get(|| async { asset("text/javascript", page::JS) }),
        )
        .route(
            "/console/static/console.css",
            get(|| async { asset("text/css", page::CSS) }),
        )
        .layer(middleware::from_fn_with_state(Arc::clone(&console), guard))
        .with_state(console)
}

fn asset(content_type: &'static str, body: &'static str) -> Response {
    ([(header::CONTENT_TYPE, content_type)], body).into_response()
}

/// Access token (when required) and the security headers of every answer.
async fn guard(State(c): State<Arc<Console>>, request: Request, next: Next) -> Response {
    if let Some(token) = &c.access_token {
        let from_cookie = request
            .headers()
            .get_all(header::COOKIE)
            .iter()
            .filter_map(|v| v.to_str().ok())
            .flat_map(|v| v.split(';'))
            .filter_map(|kv| {
                kv.trim()
                    .strip_prefix(&format!("{COOKIE}="))
                    .map(str::to_string)
            })
            .any(|v| bool::from(v.as_bytes().ct_eq(token.as_bytes())));
        let from_query = request
            .uri()
            .query()
            .map(|q| {
                form_urlencoded::parse(q.as_bytes())
                    .any(|(k, v)| k == "token" && bool::from(v.as_bytes().ct_eq(token.as_bytes())))
            })
            .unwrap_or(false);
        if from_query {
            // Swap the token in the URL for a cookie, so it leaves the address bar and logs.
            let mut r = Redirect::to(request.uri().path()).into_response();
            if let Ok(v) = HeaderValue::from_str(&format!(
                "{COOKIE}={token}; Path=/console; HttpOnly; SameSite=Strict"
            )) {
                r.headers_mut().insert(header::SET_COOKIE, v);
            }
            return secured(r);
        }
        if !from_cookie {
            return secured(
                (
                    StatusCode::UNAUTHORIZED,
                    html(frame("Access token needed", "", None, "<p>Open the console with the URL <code>inlet</code> printed at start (it carries the access token).</p>")),
                )
                    .into_response(),
            );
        }
    }
    secured(next.run(request).await)
}

fn secured(mut r: Response) -> Response {
    let h = r.headers_mut();
    for (name, value) in [
        (
            "content-security-policy",
            "default-src 'self'; frame-ancestors 'none'; form-action 'self'; base-uri 'none'",
        ),
        ("x-frame-options", "DENY"),
        ("x-content-type-options", "nosniff"),
        ("referrer-policy", "no-referrer"),
        ("cache-control", "no-store"),
    ] {
        h.insert(name, HeaderValue::from_static(value));
    }
    r
}

fn html(body: String) -> Response {
    ([(header::CONTENT_TYPE, "text/html; charset=utf-8")], body).into_response()
}

fn failed(status: StatusCode, title: &str, message: &str) -> Response {
    (
        status,
        html(frame(
            title,
            "",
            None,
            &format!("<p class=\"flash error\" id=\"error\">{}</p>", esc(message)),
        )),
    )
        .into_response()
}

fn store_failed(e: impl std::fmt::Display) -> Response {
    failed(
        StatusCode::SERVICE_UNAVAILABLE,
        "Store unavailable",
        &e.to_string(),
    )
}

/// A POST's form fields, when it is a form carrying the CSRF token (else [`forged`]).
fn form(c: &Console, headers: &HeaderMap, body: &Bytes) -> Option<Vec<(String, String)>> {
    let is_form = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("application/x-www-form-urlencoded"));
    let fields: Vec<(String, String)> = form_urlencoded::parse(body)
        .map(|(k, v)| (k.into_owned(), v.into_owned()))
        .collect();
    let token_ok = fields
        .iter()
        .any(|(k, v)| k == "csrf" && bool::from(v.as_bytes().ct_eq(c.csrf.as_bytes())));
    (is_form && token_ok).then_some(fields)
}

/// The answer to a POST that did not come from a console page.
fn forged() -> Response {
    failed(StatusCode::FORBIDDEN, "Refused", "This action did not come from a console page (missing or wrong CSRF token). Reload the page and try again.")
}

fn field<'a>(fields: &'a [(String, String)], name: &str) -> Option<&'a str> {
    fields
        .iter()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.as_str())
}

#[derive(Debug, Default, Deserialize)]
struct Flash {
    done: Option<String>,
}

// ---- overview ----------------------------------------------------------------------------

async fn overview(State(c): State<Arc<Console>>, Query(flash): Query<Flash>) -> Response {
    let mut body = connection_banners(&c).await;
    let card = |label: &str, value: String| {
        format!(
            "<div class=\"card\"><b>{}</b>{}</div>",
            esc(&value),
            esc(label)
        )
    };
    if let Some(store) = &c.ports.local {
        let s = match store.status().await {
            Ok(s) => s,
            Err(e) => return store_failed(e),
        };
        let recovered = s.total(names::RECOVERED);
        let processed = s.total(names::PROCESSED);
        let rate = if processed > 0 {
            format!("{:.2} %", recovered as f64 * 100.0 / processed as f64)
        } else {
            "–".into()
        };
        body.push_str("<h2>Queue</h2><div class=\"cards\" id=\"queue\">");
        body.push_str(&card("waiting", s.queue_depth.to_string()));
        body.push_str(&card("in flight", s.in_flight.to_string()));
        body.push_str(&card("dead-lettered", s.dlq_depth.to_string()));
        body.push_str(&card(
            "oldest waiting (ms)",
            s.oldest_message_age_ms.to_string(),
        ));
        body.push_str("</div><h2>Ingress</h2><div class=\"cards\">");
        for (label, name) in [
            ("received", names::RECEIVED),
            ("enqueued", names::ENQUEUED),
            ("signature failures", names::SIGNATURE_FAILURES),
            ("rejected", names::REJECTED),
        ] {
            body.push_str(&card(label, s.total(name).to_string()));
        }
        body.push_str("</div><h2>Business health</h2><div class=\"cards\">");
        for (label, name) in [
            ("delivered", names::PROCESSED),
            ("duplicates dropped", names::DUPLICATES),
            ("superseded", names::SUPERSEDED),
            ("retried", names::RETRIED),
            ("dead-lettered", names::DEAD_LETTERED),
            ("recovered by reconciliation", names::RECOVERED),
        ] {
            body.push_str(&card(label, s.total(name).to_string()));
        }
        body.push_str(&card("recovery rate", rate));
        body.push_str("</div>");
    } else if let Some(aws) = &c.ports.aws {
        match crate::backend::aws_depths(aws).await {
            Ok((waiting, in_flight, dead)) => {
                body.push_str("<h2>Queue</h2><div class=\"cards\" id=\"queue\">");
                body.push_str(&card("waiting", waiting.to_string()));
                body.push_str(&card("in flight", in_flight.to_string()));
                body.push_str(&card("dead-lettered", dead.to_string()));
                body.push_str("</div><p>Counters are in CloudWatch (namespace <code>Inlet</code>) and the stack's dashboard.</p>");
            }
            Err(e) => return store_failed(format!("{e:#}")),
        }
    }
    body.push_str("<h2>Latest events</h2>");
    match c
        .ports
        .history
        .events(&EventFilter::default(), 10, None, OffsetDateTime::now_utc())
        .await
    {
        Ok(page) => body.push_str(&events_table(&page.events)),
        Err(e) => return store_failed(e),
    }
    body.push_str("<h2>Reconciliation</h2>");
    body.push_str(&runs(&c, true).await);
    html(frame("Overview", "/console", flash.done.as_deref(), &body))
}

/// What an operator must see first: a red banner per broken connection (its sources have
/// stopped; what to do) and a notice per refresh token in its last idle week.
async fn connection_banners(c: &Console) -> String {
    use inlet_core::connection::{alert, Alert};
    let now = inlet_core::clock::unix_millis(OffsetDateTime::now_utc());
    let list = match c.ports.connections.list().await {
        Ok(l) => l,
        Err(e) => {
            return format!(
                "<p class=\"flash error\">connections: {}</p>",
                esc(&e.to_string())
            )
        }
    };
    let mut out = String::new();
    for (name, stored) in list {
        let idle = inlet_core::connection::refresh_idle_of(&c.connections, &name);
        match alert(&stored, idle, now) {
            Some(Alert::Broken { reason }) => out.push_str(&format!(
                "<p class=\"flash error banner\" id=\"connection-broken\"><b>Connection {} is broken</b>: {}. \
                 Its sources have stopped reading. Re-authorize it with <code>inlet connect {}</code> \
                 (add <code>--backend aws</code> for the stack), then check <code>inlet connections</code>.</p>",
                esc(&name),
                esc(&reason),
                esc(&name)
            )),
            Some(Alert::RefreshExpiring { days_left }) => out.push_str(&format!(
                "<p class=\"flash notice\" id=\"connection-expiring\">Connection {}: its refresh token dies unused in {days_left} day(s). \
                 Run one of its sources (<code>inlet reconcile SOURCE</code>) or re-authorize it.</p>",
                esc(&name)
            )),
            None => {}
        }
    }
    out
}

/// Reconciliation runs from the embedded store, newest first: the last of each source, or
/// every recent one. On AWS the runs are in the reconciler's logs and metrics.
async fn runs(c: &Console, latest_per_source: bool) -> String {
    let Some(store) = &c.ports.local else {
        return "<p>Runs are in the reconciler's logs and the <code>recovered</code> metric on AWS.</p>".into();
    };
    let runs = match store.reconcile_runs(100).await {
        Ok(r) => r,
        Err(e) => return format!("<p class=\"flash error\">{}</p>", esc(&e.to_string())),
    };
    let mut seen = std::collections::HashSet::new();
    let rows: Vec<Vec<String>> = runs
        .iter()
        .filter(|r| !latest_per_source || seen.insert(r.source.clone()))
        .map(|r| {
            vec![
                esc(&r.source),
                esc(&time(r.at)),
                esc(&r.report["scanned"].to_string()),
                esc(&r.report["recovered"].to_string()),
                esc(&r.report["errors"]
                    .as_array()
                    .map_or(0, Vec::len)
                    .to_string()),
            ]
        })
        .collect();
    table(
        "runs",
        &["source", "at", "scanned", "recovered", "errors"],
        &rows,
        "No reconciliation run yet.",
    )
}

// ---- events --------------------------------------------------------------------------------

#[derive(Debug, Default, Deserialize)]
struct EventQuery {
    provider: Option<String>,
    #[serde(rename = "type")]
    event_type: Option<String>,
    state: Option<String>,
    entity: Option<String>,
    since: Option<String>,
    until: Option<String>,
    key: Option<String>,
    after: Option<String>,
    /// Only the table (live updates).
    partial: Option<String>,
}

fn non_empty(v: &Option<String>) -> Option<String> {
    v.as_deref()
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(str::to_string)
}

fn events_table(events: &[EventRecord]) -> String {
    let rows: Vec<Vec<String>> = events
        .iter()
        .map(|r| {
            let e = &r.envelope;
            vec![
                esc(&time(e.received_at)),
                format!(
                    "<a href=\"{}\">{}</a>",
                    esc(&event_href(e.key.as_str())),
                    esc(e.key.as_str())
                ),
                esc(e.event_type.as_deref().unwrap_or("–")),
                format!("<span class=\"state-{0}\">{0}</span>", r.state.as_str()),
                esc(e.source.as_str()),
                format!("{}", r.attempt_count),
                format!("{}", r.duplicates),
            ]
        })
        .collect();
    format!(
        "<div id=\"events\">{}</div>",
        table(
            "events-table",
            &[
                "received",
                "key",
                "type",
                "state",
                "source",
                "attempts",
                "duplicates"
            ],
            &rows,
            "No events match."
        )
    )
}

async fn events(State(c): State<Arc<Console>>, Query(q): Query<EventQuery>) -> Response {
    let args = crate::EventFilterArgs {
        provider: non_empty(&q.provider),
        event_type: non_empty(&q.event_type),
        state: non_empty(&q.state),
        entity: non_empty(&q.entity),
        since: non_empty(&q.since),
        until: non_empty(&q.until),
        key: non_empty(&q.key),
    };
    let filter = match crate::events::filter_of(&args) {
        Ok(f) => f,
        Err(e) => return failed(StatusCode::BAD_REQUEST, "Events", &e),
    };
    let page = match c
        .ports
        .history
        .events(
            &filter,
            50,
            non_empty(&q.after).as_deref(),
            OffsetDateTime::now_utc(),
        )
        .await
    {
        Ok(p) => p,
        Err(e) => return failed(StatusCode::BAD_REQUEST, "Events", &e.to_string()),
    };
    let list = events_table(&page.events);
    let query: Vec<(&str, String)> = [
        ("provider", &args.provider),
        ("type", &args.event_type),
        ("state", &args.state),
        ("entity", &args.entity),
        ("since", &args.since),
        ("until", &args.until),
        ("key", &args.key),
    ]
    .into_iter()
    .filter_map(|(k, v)| v.clone().map(|v| (k, v)))
    .collect();
    let qs: String = query
        .iter()
        .map(|(k, v)| format!("&{k}={}", enc(v)))
        .collect();
    if q.partial.is_some() {
        return html(list);
    }
    let input = |name: &str, label: &str, value: &Option<String>| {
        format!(
            "<label>{label} <input name=\"{name}\" id=\"f-{name}\" value=\"{}\"></label>",
            esc(value.as_deref().unwrap_or(""))
        )
    };
    let mut states = String::from(
        "<label>state <select name=\"state\" id=\"f-state\"><option value=\"\">any</option>",
    );
    for s in EventState::ALL {
        let sel = if args.state.as_deref() == Some(s.as_str()) {
            " selected"
        } else {
            ""
        };
        states.push_str(&format!("<option{sel}>{}</option>", s.as_str()));
    }
    states.push_str("</select></label>");
    let mut body = format!(
        "<form method=\"get\" action=\"/console/events\" id=\"search\"><fieldset>{}{}{}{}{}{}{}<button type=\"submit\" id=\"search-button\">Search</button></fieldset></form>",
        input("key", "key contains", &args.key),
        input("provider", "provider", &args.provider),
        input("type", "type", &args.event_type),
        states,
        input("entity", "entity", &args.entity),
        input("since", "since", &args.since),
        input("until", "until", &args.until),
    );
    // The first page follows new events as they come; later pages stay still.
    if q.after.is_none() {
        body.push_str(&format!(
            "<div data-live=\"/console/events?partial=1{}\" id=\"events\">",
            esc(&qs)
        ));
        body.push_str(list.trim_start_matches("<div id=\"events\">"));
    } else {
        body.push_str(&list);
    }
    if let Some(next) = &page.next {
        body.push_str(&format!(
            "<p><a id=\"next\" href=\"/console/events?after={}{}\">Older events</a></p>",
            enc(next),
            esc(&qs)
        ));
    }
    html(frame("Events", "/console/events", None, &body))
}

async fn event(
    State(c): State<Arc<Console>>,
    Path(key): Path<String>,
    Query(flash): Query<Flash>,
) -> Response {
    let record = match c.ports.history.event(&key, OffsetDateTime::now_utc()).await {
        Ok(Some(r)) => r,
        Ok(None) => {
            return failed(
                StatusCode::NOT_FOUND,
                "No such event",
                &format!("No event {key} in the history (or it has expired)."),
            )
        }
        Err(e) => return store_failed(e),
    };
    let e = &record.envelope;
    let mut body = facts(&[
        ("key", esc(e.key.as_str())),
        ("provider", esc(e.provider.as_str())),
        ("event id", esc(&e.event_id)),
        ("type", esc(e.event_type.as_deref().unwrap_or("–"))),
        ("entity", esc(e.entity.as_deref().unwrap_or("–"))),
        ("version", e.version.map_or("–".into(), |v| v.to_string())),
        ("source", esc(e.source.as_str())),
        ("received", esc(&time(e.received_at))),
        ("correlation id", esc(&e.correlation_id)),
        (
            "state",
            format!(
                "<span id=\"state\" class=\"state-{0}\">{0}</span>",
                record.state.as_str()
            ),
        ),
        (
            "attempts",
            format!("<span id=\"attempt-count\">{}</span>", record.attempt_count),
        ),
        ("duplicates", record.duplicates.to_string()),
        ("kept until", esc(&time(record.expires_at))),
    ]);
    if let Some(until) = crate::commands::in_progress_until(&c.ports, &key).await {
        body.push_str(&format!(
            "<p id=\"in-progress\">A worker is handling it now (its claim holds until {}).</p>",
            esc(&time(until))
        ));
    }
    let rows: Vec<Vec<String>> = record
        .attempts
        .iter()
        .map(|a| {
            vec![
                esc(&time(a.at)),
                format!("<span class=\"state-{0}\">{0}</span>", a.state.as_str()),
                a.receive_count.to_string(),
                esc(a.detail.as_deref().unwrap_or("")),
            ]
        })
        .collect();
    body.push_str("<h2>Timeline</h2>");
    body.push_str(&table(
        "timeline",
        &["at", "outcome", "receive", "detail"],
        &rows,
        "No attempts recorded.",
    ));
    body.push_str("<h2>Payload</h2>");
    if record.payload_kept {
        let shown = redact(&payload_value(&e.body), &c.redact_fields);
        body.push_str(&format!(
            "<pre id=\"payload\">{}</pre>",
            esc(&serde_json::to_string_pretty(&shown).unwrap_or_default())
        ));
        body.push_str(&format!(
            "<form method=\"post\" action=\"{}/replay\">{}<button type=\"submit\" id=\"replay\">Replay this event</button> (enqueued again under its key, <code>source = replay</code>)</form>",
            esc(&event_href(e.key.as_str())),
            csrf_field(&c.csrf)
        ));
    } else {
        body.push_str("<p id=\"payload\">The payload was not kept (<code>[history] keep_payloads</code> or <code>max_payload_bytes</code>), so it cannot be replayed from here.</p>");
    }
    html(frame(
        &format!("Event {key}"),
        "/console/events",
        flash.done.as_deref(),
        &body,
    ))
}

async fn replay(
    State(c): State<Arc<Console>>,
    Path(key): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    if form(&c, &headers, &body).is_none() {
        return forged();
    }
    let record = match c.ports.history.event(&key, OffsetDateTime::now_utc()).await {
        Ok(Some(r)) => r,
        Ok(None) => {
            return failed(
                StatusCode::NOT_FOUND,
                "No such event",
                &format!("No event {key} in the history."),
            )
        }
        Err(e) => return store_failed(e),
    };
    let Some(envelope) = record.replay_envelope("the console") else {
        return failed(
            StatusCode::CONFLICT,
            "Cannot replay",
            "The payload was not kept; nothing was sent.",
        );
    };
    if let Err(e) = c.ports.queue.send(&envelope).await {
        return store_failed(e);
    }
    Redirect::to(&format!(
        "{}?done={}",
        event_href(&key),
        enc("Enqueued for replay.")
    ))
    .into_response()
}

// ---- dead letters --------------------------------------------------------------------------

async fn dlq(State(c): State<Arc<Console>>, Query(flash): Query<Flash>) -> Response {
    let letters = match c.ports.dead_letters.list(500).await {
        Ok(l) => l,
        Err(e) => return store_failed(e),
    };
    let mut groups: BTreeMap<String, Vec<&inlet_core::ports::DeadLetter>> = BTreeMap::new();
    for d in &letters {
        groups
            .entry(
                d.reason
                    .clone()
                    .unwrap_or_else(|| "(no reason recorded)".into()),
            )
            .or_default()
            .push(d);
    }
    let mut body = format!("<p id=\"dlq-count\">{} dead letter(s).</p>", letters.len());
    if !letters.is_empty() {
        body.push_str(&format!(
            "<form method=\"post\" action=\"/console/dlq/redrive\" id=\"dlq-form\">{}",
            csrf_field(&c.csrf)
        ));
        for (reason, items) in &groups {
            body.push_str(&format!("<h2>{} × {}</h2>", items.len(), esc(reason)));
            let rows: Vec<Vec<String>> = items
                .iter()
                .map(|d| {
                    let key = d.key.as_deref().unwrap_or("");
                    let pick = if key.is_empty() {
                        String::new()
                    } else {
                        format!(
                            "<input type=\"checkbox\" name=\"key\" value=\"{}\">",
                            esc(key)
                        )
                    };
                    let link = if key.is_empty() {
                        "(undecodable)".into()
                    } else {
                        format!("<a href=\"{}\">{}</a>", esc(&event_href(key)), esc(key))
                    };
                    vec![
                        pick,
                        link,
                        d.receive_count.to_string(),
                        esc(&time(d.dead_at)),
                    ]
                })
                .collect();
            body.push_str(&table(
                "dlq",
                &["", "key", "receives", "dead since"],
                &rows,
                "",
            ));
        }
        body.push_str("<button type=\"submit\" id=\"redrive-selected\">Redrive selected</button> <button type=\"submit\" name=\"all\" value=\"1\" id=\"redrive-all\">Redrive all</button></form>");
    }
    html(frame(
        "Dead letters",
        "/console/dlq",
        flash.done.as_deref(),
        &body,
    ))
}

async fn redrive(State(c): State<Arc<Console>>, headers: HeaderMap, body: Bytes) -> Response {
    let Some(fields) = form(&c, &headers, &body) else {
        return forged();
    };
    let all = field(&fields, "all") == Some("1");
    let keys: Vec<&str> = fields
        .iter()
        .filter(|(k, _)| k == "key")
        .map(|(_, v)| v.as_str())
        .collect();
    if !all && keys.is_empty() {
        return Redirect::to(&format!("/console/dlq?done={}", enc("Nothing selected.")))
            .into_response();
    }
    if field(&fields, "confirm") != Some("yes") {
        let what = if all {
            "every dead letter".to_string()
        } else {
            format!("{} dead letter(s): {}", keys.len(), keys.join(", "))
        };
        let mut hidden = csrf_field(&c.csrf);
        hidden.push_str("<input type=\"hidden\" name=\"confirm\" value=\"yes\">");
        if all {
            hidden.push_str("<input type=\"hidden\" name=\"all\" value=\"1\">");
        }
        for k in &keys {
            hidden.push_str(&format!(
                "<input type=\"hidden\" name=\"key\" value=\"{}\">",
                esc(k)
            ));
        }
        let body = format!(
            "<p>Move {} back to the work queue? Each is delivered again unless its ledger says it was (a redriven duplicate is dropped).</p><form method=\"post\" action=\"/console/dlq/redrive\">{hidden}<button type=\"submit\" id=\"confirm\">Redrive</button> <a href=\"/console/dlq\">Cancel</a></form>",
            esc(&what)
        );
        return html(frame("Confirm redrive", "/console/dlq", None, &body));
    }
    let selectors: Vec<RedriveSelector> = if all {
        vec![RedriveSelector::All]
    } else {
        keys.iter()
            .map(|k| RedriveSelector::Key(k.to_string()))
            .collect()
    };
    let at = OffsetDateTime::now_utc();
    let mut moved = 0;
    let mut marked = Vec::new();
    for s in &selectors {
        match c.ports.dead_letters.redrive(s).await {
            Ok(n) => {
                moved += n;
                if let (RedriveSelector::Key(k), 1..) = (s, n) {
                    marked.push(k.as_str());
                }
            }
            Err(e) => return store_failed(e),
        }
    }
    crate::commands::mark_redriven(&c.ports, &marked, at).await;
    Redirect::to(&format!(
        "/console/dlq?done={}",
        enc(&format!("Redriven {moved} message(s) to the work queue."))
    ))
    .into_response()
}

// ---- reviews -------------------------------------------------------------------------------

async fn reviews(State(c): State<Arc<Console>>, Query(flash): Query<Flash>) -> Response {
    let pending = match c.ports.conflicts.pending_reviews(200).await {
        Ok(p) => p,
        Err(e) => return store_failed(e),
    };
    let rows: Vec<Vec<String>> = pending
        .iter()
        .map(|r| {
            let action = |what: &str| {
                format!(
                    "<form class=\"inline\" method=\"post\" action=\"/console/reviews/{}/{what}\">{}<button type=\"submit\">{what}</button></form>",
                    enc(&r.key),
                    csrf_field(&c.csrf)
                )
            };
            vec![
                format!("<a href=\"{}\">{}</a>", esc(&event_href(&r.key)), esc(&r.key)),
                esc(&r.entity),
                esc(r.rule.as_str()),
                esc(&r.reason),
                esc(&time(r.held_at)),
                format!("{} {}", action("release"), action("discard")),
            ]
        })
        .collect();
    let body = table(
        "reviews",
        &["held event", "entity", "rule", "why", "held at", ""],
        &rows,
        "No changes are held for review.",
    );
    html(frame(
        "Reviews",
        "/console/reviews",
        flash.done.as_deref(),
        &body,
    ))
}

async fn resolve_review(
    State(c): State<Arc<Console>>,
    Path((key, action)): Path<(String, String)>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    if form(&c, &headers, &body).is_none() {
        return forged();
    }
    let now = OffsetDateTime::now_utc();
    let done = match action.as_str() {
        "release" => {
            release(
                c.ports.conflicts.as_ref(),
                c.ports.queue.as_ref(),
                &c.conflicts,
                &key,
                now,
            )
            .await
        }
        "discard" => discard(c.ports.conflicts.as_ref(), &key, now).await,
        _ => {
            return failed(
                StatusCode::NOT_FOUND,
                "Unknown action",
                "Reviews are released or discarded.",
            )
        }
    };
    match done {
        Ok(r) => Redirect::to(&format!(
            "/console/reviews?done={}",
            enc(&format!("{}: {}.", r.key, r.status.as_str()))
        ))
        .into_response(),
        Err(e @ inlet_core::usecase::review::ReviewError::NotFound(_)) => {
            failed(StatusCode::NOT_FOUND, "No such review", &e.to_string())
        }
        Err(e) => failed(StatusCode::CONFLICT, "Review", &e.to_string()),
    }
}

// ---- schema drift ----------------------------------------------------------------------------

async fn schema(State(c): State<Arc<Console>>, Query(flash): Query<Flash>) -> Response {
    let (findings, shapes) = match futures::join!(
        c.ports.shapes.findings(true, 500),
        c.ports.shapes.load_shapes()
    ) {
        (Ok(f), Ok(s)) => (f, s),
        (Err(e), _) | (_, Err(e)) => return store_failed(e),
    };
    let rows: Vec<Vec<String>> = findings
        .iter()
        .map(|f| {
            let action = if f.status == inlet_core::shape::FindingStatus::Open {
                format!(
                    "<form class=\"inline\" method=\"post\" action=\"/console/schema/{}/accept\">{}<button type=\"submit\">accept</button></form>",
                    enc(&f.id),
                    csrf_field(&c.csrf)
                )
            } else {
                f.accepted_at.map(|t| format!("accepted {}", esc(&time(t)))).unwrap_or_default()
            };
            vec![
                esc(&f.id),
                esc(f.status.as_str()),
                esc(&f.provider),
                esc(crate::schema::type_label(&f.event_type)),
                esc(&f.change().describe()),
                esc(&time(f.first_seen)),
                format!(
                    "<a href=\"{}\">{}</a>",
                    esc(&event_href(&f.example_key)),
                    esc(&f.example_key)
                ),
                action,
            ]
        })
        .collect();
    let mut body = table(
        "findings",
        &[
            "finding",
            "status",
            "provider",
            "type",
            "change",
            "first seen",
            "first event",
            "",
        ],
        &rows,
        "No schema drift found.",
    );
    let shape_rows: Vec<Vec<String>> = shapes
        .iter()
        .map(|s| {
            vec![
                esc(&s.provider),
                esc(crate::schema::type_label(&s.event_type)),
                format!("<span class=\"num\">{}</span>", s.shape.events),
                format!("<span class=\"num\">{}</span>", s.shape.paths.len()),
            ]
        })
        .collect();
    body.push_str("<h2>Learned shapes</h2>");
    body.push_str(&table(
        "shapes",
        &["provider", "type", "events", "paths"],
        &shape_rows,
        "Nothing learned yet: shapes are written a minute after events arrive ([schema] flush_secs).",
    ));
    html(frame(
        "Schema drift",
        "/console/schema",
        flash.done.as_deref(),
        &body,
    ))
}

async fn accept_finding(
    State(c): State<Arc<Console>>,
    Path(id): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    if form(&c, &headers, &body).is_none() {
        return forged();
    }
    match c
        .ports
        .shapes
        .accept_finding(&id, OffsetDateTime::now_utc())
        .await
    {
        Ok(Some(f)) => Redirect::to(&format!(
            "/console/schema?done={}",
            enc(&format!("{}: accepted; {}.", f.id, f.change().describe()))
        ))
        .into_response(),
        Ok(None) => failed(
            StatusCode::NOT_FOUND,
            "No such finding",
            &format!("no such finding: {id}"),
        ),
        Err(e) => store_failed(e),
    }
}

// ---- sources -------------------------------------------------------------------------------

async fn sources(State(c): State<Arc<Console>>) -> Response {
    let mut rows = Vec::new();
    for s in &c.sources {
        let cursor = match c.ports.cursors.load(&s.name).await {
            Ok(cur) => cur.unwrap_or_else(|| "(none yet)".into()),
            Err(e) => format!("unavailable: {e}"),
        };
        rows.push(vec![
            esc(&s.name),
            esc(s.kind.name()),
            esc(s.provider.as_str()),
            format!("every {} s", s.interval.as_secs()),
            format!("<code>{}</code>", esc(&cursor)),
        ]);
    }
    let mut body = table(
        "sources",
        &["source", "kind", "provider", "schedule", "cursor"],
        &rows,
        "No [[sources]] in the configuration.",
    );
    body.push_str("<h2>Recent runs</h2>");
    body.push_str(&runs(&c, false).await);
    html(frame("Sources", "/console/sources", None, &body))
}

/// `inlet console`: the console alone, on `listen`, until Ctrl-C or SIGTERM.
pub async fn serve_alone(
    ports: Ports,
    config: Option<&inlet_core::config::Config>,
    listen: std::net::SocketAddr,
) -> anyhow::Result<()> {
    use anyhow::Context as _;
    let listener = tokio::net::TcpListener::bind(listen)
        .await
        .with_context(|| format!("cannot listen on {listen}"))?;
    let addr = listener.local_addr()?;
    let token = (!addr.ip().is_loopback()).then(random_token);
    match &token {
        None => crate::outln!("console: http://{addr}/console"),
        Some(t) => crate::outln!("console: http://{addr}/console?token={t}  (bound beyond loopback: the token is required)"),
    }
    let console = Arc::new(Console::new(ports, config, token));
    let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
    tokio::spawn(async move {
        crate::dev::shutdown_signal().await;
        let _ = stop_tx.send(true);
    });
    crate::server::serve(
        listener,
        router(console),
        stop_rx,
        crate::server::ServeLimits::default(),
    )
    .await;
    Ok(())
}
