//! Reviews: changes a conflict rule held, to release or discard.

use std::sync::Arc;

use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::Response;
use maud::{html, Markup};
use time::OffsetDateTime;

use inlet_core::redact::redact_at;
use inlet_core::usecase::review::{discard, release, ReviewError};

use super::layout::{csrf_field, event_link, frame, segment, table, time};
use super::{done, failed, respond, store_failed, ActionForm, Console, Flash};

pub(super) async fn page(State(c): State<Arc<Console>>, Query(flash): Query<Flash>) -> Response {
    let pending = match c.ports.conflicts.pending_reviews(200).await {
        Ok(p) => p,
        Err(e) => return store_failed(e),
    };
    let rows: Vec<Vec<Markup>> = pending
        .iter()
        .map(|r| {
            let action = |what: &str| {
                html! {
                    form.inline method="post" action={ "/console/reviews/" (segment(&r.key)) "/" (what) } {
                        (csrf_field(&c.csrf))
                        button type="submit" { (what) }
                    }
                }
            };
            // The applied change's value of the ruled field, redacted like a payload.
            let applied = match (&r.against.value, r.field.as_deref()) {
                (Some(v), Some(f)) => redact_at(f, v, &c.redact_fields).to_string(),
                _ => String::new(),
            };
            vec![
                event_link(&r.key),
                html! { (r.entity) },
                html! { (r.rule.as_str()) },
                html! { (r.reason) },
                html! { (r.field.as_deref().unwrap_or("–")) },
                html! { code { (applied) } },
                html! { (time(r.held_at)) },
                html! { (action("release")) " " (action("discard")) },
            ]
        })
        .collect();
    let body = table(
        "reviews",
        &[
            "held event",
            "entity",
            "rule",
            "why",
            "field",
            "applied value",
            "held at",
            "",
        ],
        &rows,
        "No changes are held for review.",
    );
    respond(frame(
        "Reviews",
        "/console/reviews",
        flash.done.as_deref(),
        body,
    ))
}

pub(super) async fn resolve(
    State(c): State<Arc<Console>>,
    Path((key, action)): Path<(String, String)>,
    _: ActionForm,
) -> Response {
    let now = OffsetDateTime::now_utc();
    let resolved = match action.as_str() {
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
    match resolved {
        Ok(r) => done(
            "/console/reviews",
            &format!("{}: {}.", r.key, r.status.as_str()),
        ),
        Err(e @ ReviewError::NotFound(_)) => {
            failed(StatusCode::NOT_FOUND, "No such review", &e.to_string())
        }
        Err(e) => failed(StatusCode::CONFLICT, "Review", &e.to_string()),
    }
}
