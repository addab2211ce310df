//! Schema drift: findings (accept one) and the payload shapes learned so far.

use std::sync::Arc;

use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::Response;
use maud::{html, Markup};
use time::OffsetDateTime;

use inlet_core::shape::FindingStatus;

use super::layout::{csrf_field, event_link, frame, segment, table, time};
use super::{done, failed, respond, store_failed, ActionForm, Console, Flash};
use crate::out::type_label;

pub(super) async fn page(State(c): State<Arc<Console>>, Query(flash): Query<Flash>) -> Response {
    let (findings, shapes) = match futures::join!(
        c.ports.shapes.findings(true, 500),
        c.ports.shapes.load_shapes()
    ) {
        (Ok(f), Ok(s)) => (f, s),
        (Err(e), _) | (_, Err(e)) => return store_failed(e),
    };
    let finding_rows: Vec<Vec<Markup>> = findings
        .iter()
        .map(|f| {
            let action = match (f.status, f.accepted_at) {
                (FindingStatus::Open, _) => html! {
                    form.inline method="post" action={ "/console/schema/" (segment(&f.id)) "/accept" } {
                        (csrf_field(&c.csrf))
                        button type="submit" { "accept" }
                    }
                },
                (_, Some(at)) => html! { "accepted " (time(at)) },
                (_, None) => html! {},
            };
            vec![
                html! { (f.id) },
                html! { (f.status.as_str()) },
                html! { (f.provider) },
                html! { (type_label(&f.event_type)) },
                html! { (f.change().describe()) },
                html! { (time(f.first_seen)) },
                event_link(&f.example_key),
                action,
            ]
        })
        .collect();
    let shape_rows: Vec<Vec<Markup>> = shapes
        .iter()
        .map(|s| {
            vec![
                html! { (s.provider) },
                html! { (type_label(&s.event_type)) },
                html! { span.num { (s.shape.events) } },
                html! { span.num { (s.shape.paths.len()) } },
            ]
        })
        .collect();
    let body = html! {
        (table(
            "findings",
            &["finding", "status", "provider", "type", "change", "first seen", "first event", ""],
            &finding_rows,
            "No schema drift found.",
        ))
        h2 { "Learned shapes" }
        (table(
            "shapes",
            &["provider", "type", "events", "paths"],
            &shape_rows,
            "Nothing learned yet: shapes are written a minute after events arrive ([schema] flush_secs).",
        ))
    };
    respond(frame(
        "Schema drift",
        "/console/schema",
        flash.done.as_deref(),
        body,
    ))
}

pub(super) async fn accept(
    State(c): State<Arc<Console>>,
    Path(id): Path<String>,
    _: ActionForm,
) -> Response {
    match c
        .ports
        .shapes
        .accept_finding(&id, OffsetDateTime::now_utc())
        .await
    {
        Ok(Some(f)) => done(
            "/console/schema",
            &format!("{}: accepted; {}.", f.id, f.change().describe()),
        ),
        Ok(None) => failed(
            StatusCode::NOT_FOUND,
            "No such finding",
            &format!("no such finding: {id}"),
        ),
        Err(e) => store_failed(e),
    }
}
