//! Dead letters, grouped by reason: redrive one, the selected, or all, after a confirmation.

use std::collections::BTreeMap;
use std::sync::Arc;

use axum::extract::{Query, State};
use axum::response::Response;
use maud::{html, Markup};
use time::OffsetDateTime;

use inlet_core::ports::{DeadLetter, RedriveSelector};
use inlet_core::usecase::operate::redrive as redrive_letters;

use super::layout::{csrf_field, event_link, frame, table, time};
use super::{done, field, respond, store_failed, ActionForm, Console, Flash};

pub(super) async fn page(State(c): State<Arc<Console>>, Query(flash): Query<Flash>) -> Response {
    let letters = match c.ports.dead_letters.list(500).await {
        Ok(l) => l,
        Err(e) => return store_failed(e),
    };
    let mut groups: BTreeMap<&str, Vec<&DeadLetter>> = BTreeMap::new();
    for d in &letters {
        groups
            .entry(d.reason.as_deref().unwrap_or("(no reason recorded)"))
            .or_default()
            .push(d);
    }
    let body = html! {
        p #dlq-count { (letters.len()) " dead letter(s)." }
        @if !letters.is_empty() {
            form method="post" action="/console/dlq/redrive" #dlq-form {
                (csrf_field(&c.csrf))
                @for (reason, items) in &groups {
                    h2 { (items.len()) " × " (reason) }
                    (table("dlq", &["", "key", "receives", "dead since"], &rows(items), ""))
                }
                button type="submit" #redrive-selected { "Redrive selected" }
                " "
                button type="submit" name="all" value="1" #redrive-all { "Redrive all" }
            }
        }
    };
    respond(frame(
        "Dead letters",
        "/console/dlq",
        flash.done.as_deref(),
        body,
    ))
}

fn rows(items: &[&DeadLetter]) -> Vec<Vec<Markup>> {
    items
        .iter()
        .map(|d| {
            let key = d.key.as_deref().filter(|k| !k.is_empty());
            vec![
                html! { @if let Some(key) = key { input type="checkbox" name="key" value=(key); } },
                match key {
                    Some(key) => event_link(key),
                    None => html! { "(undecodable)" },
                },
                html! { (d.receive_count) },
                html! { (time(d.dead_at)) },
            ]
        })
        .collect()
}

pub(super) async fn redrive(
    State(c): State<Arc<Console>>,
    ActionForm(fields): ActionForm,
) -> Response {
    let all = field(&fields, "all") == Some("1");
    let keys: Vec<&str> = fields
        .iter()
        .filter(|(k, _)| k == "key")
        .map(|(_, v)| v.as_str())
        .collect();
    if !all && keys.is_empty() {
        return done("/console/dlq", "Nothing selected.");
    }
    if field(&fields, "confirm") != Some("yes") {
        let what = if all {
            "every dead letter".to_string()
        } else {
            format!("{} dead letter(s): {}", keys.len(), keys.join(", "))
        };
        let body = html! {
            p { "Move " (what) " back to the work queue? Each is delivered again unless its ledger says it was (a redriven duplicate is dropped)." }
            form method="post" action="/console/dlq/redrive" {
                (csrf_field(&c.csrf))
                input type="hidden" name="confirm" value="yes";
                @if all { input type="hidden" name="all" value="1"; }
                @for k in &keys { input type="hidden" name="key" value=(k); }
                button type="submit" #confirm { "Redrive" }
                " "
                a href="/console/dlq" { "Cancel" }
            }
        };
        return respond(frame("Confirm redrive", "/console/dlq", None, body));
    }
    let selectors: Vec<RedriveSelector> = if all {
        vec![RedriveSelector::All]
    } else {
        keys.iter()
            .map(|k| RedriveSelector::Key(k.to_string()))
            .collect()
    };
    let moved = match redrive_letters(
        c.ports.dead_letters.as_ref(),
        c.ports.history.as_ref(),
        &selectors,
        OffsetDateTime::now_utc(),
    )
    .await
    {
        Ok(n) => n,
        Err(e) => return store_failed(e),
    };
    done(
        "/console/dlq",
        &format!("Redriven {moved} message(s) to the work queue."),
    )
}
