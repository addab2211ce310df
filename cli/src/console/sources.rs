//! Sources: each configured reconciliation source with its schedule and cursor, and the
//! recent runs.

use std::sync::Arc;

use axum::extract::State;
use axum::response::Response;
use maud::{html, Markup};

use super::layout::{frame, table};
use super::overview::runs;
use super::{respond, Console};

pub(super) async fn page(State(c): State<Arc<Console>>) -> Response {
    let mut rows: Vec<Vec<Markup>> = Vec::new();
    for s in &c.sources {
        let cursor = match c.ports.cursors.load(&s.name).await {
            Ok(cur) => cur.unwrap_or_else(|| "(none yet)".into()),
            Err(e) => format!("unavailable: {e}"),
        };
        rows.push(vec![
            html! { (s.name) },
            html! { (s.kind.name()) },
            html! { (s.provider.as_str()) },
            html! { "every " (s.interval.as_secs()) " s" },
            html! { code { (cursor) } },
        ]);
    }
    let body = html! {
        (table(
            "sources",
            &["source", "kind", "provider", "schedule", "cursor"],
            &rows,
            "No [[sources]] in the configuration.",
        ))
        h2 { "Recent runs" }
        (runs(&c, false).await)
    };
    respond(frame("Sources", "/console/sources", None, body))
}
