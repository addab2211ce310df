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

mod chart;
mod dlq;
mod events;
mod layout;
mod overview;
mod reviews;
mod schema;
mod sources;

use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::{FromRequest, Request, State};
use axum::http::{header, HeaderValue, StatusCode};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use axum::Router;
use maud::{html, Markup};
use serde::Deserialize;
use subtle::ConstantTimeEq;

use inlet_core::source_config::SourceConfig;

use crate::backend::Ports;
use layout::frame;

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
            redact_fields: crate::config_file::redact_fields(config),
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
        .route("/console", get(overview::page))
        .route("/console/events", get(events::list))
        .route("/console/events/{key}", get(events::one))
        .route("/console/events/{key}/replay", post(events::replay))
        .route("/console/dlq", get(dlq::page))
        .route("/console/dlq/redrive", post(dlq::redrive))
        .route("/console/reviews", get(reviews::page))
        .route("/console/reviews/{key}/{action}", post(reviews::resolve))
        .route("/console/sources", get(sources::page))
        .route("/console/schema", get(schema::page))
        .route("/console/schema/{id}/accept", post(schema::accept))
        .route(
            "/console/static/console.js",
            get(|| async { asset("text/javascript", layout::JS) }),
        )
        .route(
            "/console/static/console.css",
            get(|| async { asset("text/css", layout::CSS) }),
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
                    respond(frame(
                        "Access token needed",
                        "",
                        None,
                        html! { p { "Open the console with the URL " code { "inlet" } " printed at start (it carries the access token)." } },
                    )),
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

fn respond(page: Markup) -> Response {
    (
        [(header::CONTENT_TYPE, "text/html; charset=utf-8")],
        page.into_string(),
    )
        .into_response()
}

fn failed(status: StatusCode, title: &str, message: &str) -> Response {
    (
        status,
        respond(frame(
            title,
            "",
            None,
            html! { p.flash.error #error { (message) } },
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

/// A POST's form fields, once it proved to come from a console page: a form carrying the
/// process's CSRF token (compared in constant time). Anything else is refused with 403
/// before the handler runs.
struct ActionForm(Vec<(String, String)>);

impl FromRequest<Arc<Console>> for ActionForm {
    type Rejection = Response;

    async fn from_request(request: Request, c: &Arc<Console>) -> Result<Self, Response> {
        let is_form = request
            .headers()
            .get(header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|v| v.starts_with("application/x-www-form-urlencoded"));
        let body = Bytes::from_request(request, c)
            .await
            .map_err(IntoResponse::into_response)?;
        let fields: Vec<(String, String)> = form_urlencoded::parse(&body)
            .map(|(k, v)| (k.into_owned(), v.into_owned()))
            .collect();
        let token_ok = fields
            .iter()
            .any(|(k, v)| k == "csrf" && bool::from(v.as_bytes().ct_eq(c.csrf.as_bytes())));
        if is_form && token_ok {
            Ok(ActionForm(fields))
        } else {
            Err(forged())
        }
    }
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

/// After an action: back to `path`, which shows `message` (the POST-redirect-GET pattern,
/// so a reload does not repeat the action).
fn done(path: &str, message: &str) -> Response {
    Redirect::to(&format!("{path}?done={}", layout::enc(message))).into_response()
}

#[derive(Debug, Default, Deserialize)]
struct Flash {
    done: Option<String>,
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
