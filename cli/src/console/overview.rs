//! The overview: broken connections first, then the queue, activity charts (the last hour
//! per minute, the last day per hour), recovery per source, the counters, the latest events
//! and reconciliation runs.

use std::sync::Arc;

use axum::extract::{Query, State};
use axum::response::Response;
use maud::{html, Markup};
use time::OffsetDateTime;

use inlet_core::connection::{alert, Alert};
use inlet_core::history::EventFilter;
use inlet_core::metrics::names;
use inlet_core::status::{Activity, StatusReport, Window};

use super::chart::{self, Legend, Series};
use super::events::events_table;
use super::layout::{card, frame, table, time};
use super::{respond, store_failed, Console, Flash};

pub(super) async fn page(State(c): State<Arc<Console>>, Query(flash): Query<Flash>) -> Response {
    let now = OffsetDateTime::now_utc();
    let status = &c.ports.status;
    let report = match status.report().await {
        Ok(r) => r,
        Err(e) => return store_failed(e),
    };
    let (hour, day, recovery) = match futures::try_join!(
        status.activity(Window::HOUR_BY_MINUTE, now),
        status.activity(Window::DAY_BY_HOUR, now),
        status.recovery_by_source(now - time::Duration::days(1)),
    ) {
        Ok(all) => all,
        Err(e) => return store_failed(e),
    };
    let latest = match c
        .ports
        .history
        .events(&EventFilter::default(), 10, None, now)
        .await
    {
        Ok(page) => page.events,
        Err(e) => return store_failed(e),
    };
    let body = html! {
        (connection_banners(&c).await)
        h2 { "Queue" }
        div.cards #queue {
            (card("waiting", report.queue_depth))
            (card("in flight", report.in_flight))
            (card("dead-lettered", report.dlq_depth))
            @if let Some(oldest) = report.oldest_message_age_ms {
                (card("oldest waiting (ms)", oldest))
            }
        }
        @match (&hour, &day) {
            (Some(hour), Some(day)) => {
                h2 { "Activity" }
                div.charts {
                    (traffic("activity-hour", "Last hour, per minute", hour))
                    (traffic("activity-day", "Last day, per hour", day))
                    (queue_chart("queue-hour", "Queue over the last hour (deepest and oldest seen each minute)", hour))
                    @if let Some(recovery) = &recovery {
                        (chart::recovery_bars("recovery", "Recovery rate per source, last day (recovered ÷ read)", recovery))
                    }
                }
            }
            _ => {
                p { "Counters and activity over time are in "
                    (status.kept_elsewhere().unwrap_or("the backend's metrics")) "." }
            }
        }
        @if report.counters.is_some() {
            (counters(&report))
        }
        h2 { "Latest events" }
        (events_table(&latest))
        h2 { "Reconciliation" }
        (runs(&c, true).await)
    };
    respond(frame("Overview", "/console", flash.done.as_deref(), body))
}

fn traffic(id: &str, caption: &str, a: &Activity) -> Markup {
    let of = |v: &[u64]| v.iter().map(|n| Some(*n as f64)).collect();
    chart::lines(
        id,
        caption,
        a.start,
        a.bucket_secs,
        &[
            Series {
                label: "received",
                class: "s-received",
                values: of(&a.received),
                legend: Legend::Total,
            },
            Series {
                label: "delivered",
                class: "s-delivered",
                values: of(&a.delivered),
                legend: Legend::Total,
            },
            Series {
                label: "failed",
                class: "s-failed",
                values: of(&a.failed),
                legend: Legend::Total,
            },
        ],
    )
}

fn queue_chart(id: &str, caption: &str, a: &Activity) -> Markup {
    let of =
        |v: &[Option<u64>], scale: f64| v.iter().map(|n| n.map(|n| n as f64 / scale)).collect();
    html! {
        (chart::lines(id, caption, a.start, a.bucket_secs, &[Series {
            label: "waiting",
            class: "s-depth",
            values: of(&a.queue_depth, 1.0),
            legend: Legend::Peak,
        }]))
        (chart::lines(&format!("{id}-age"), "Oldest waiting message, seconds", a.start, a.bucket_secs, &[Series {
            label: "oldest, s",
            class: "s-oldest",
            values: of(&a.oldest_age_ms, 1000.0),
            legend: Legend::Peak,
        }]))
    }
}

fn counters(s: &StatusReport) -> Markup {
    let processed = s.total(names::PROCESSED);
    let rate = if processed > 0 {
        format!(
            "{:.2} %",
            s.total(names::RECOVERED) as f64 * 100.0 / processed as f64
        )
    } else {
        "–".into()
    };
    let cards = |items: &[(&str, &str)]| {
        html! { @for (label, name) in items { (card(label, s.total(name))) } }
    };
    html! {
        h2 { "Ingress" }
        div.cards {
            (cards(&[
                ("received", names::RECEIVED),
                ("enqueued", names::ENQUEUED),
                ("signature failures", names::SIGNATURE_FAILURES),
                ("rejected", names::REJECTED),
            ]))
        }
        h2 { "Business health" }
        div.cards {
            (cards(&[
                ("delivered", names::PROCESSED),
                ("duplicates dropped", names::DUPLICATES),
                ("superseded", names::SUPERSEDED),
                ("retried", names::RETRIED),
                ("dead-lettered", names::DEAD_LETTERED),
                ("recovered by reconciliation", names::RECOVERED),
            ]))
            (card("recovery rate", rate))
        }
    }
}

/// What an operator must see first: a red banner per broken connection (its sources have
/// stopped; what to do) and a notice per refresh token in its last idle week.
async fn connection_banners(c: &Console) -> Markup {
    let now = inlet_core::clock::unix_millis(OffsetDateTime::now_utc());
    let list = match c.ports.connections.list().await {
        Ok(l) => l,
        Err(e) => return html! { p.flash.error { "connections: " (e) } },
    };
    html! {
        @for (name, stored) in &list {
            @match alert(stored, inlet_core::connection::refresh_idle_of(&c.connections, name), now) {
                Some(Alert::Broken { reason }) => {
                    p.flash.error.banner #connection-broken {
                        b { "Connection " (name) " is broken" } ": " (reason) ". "
                        "Its sources have stopped reading. Re-authorize it with "
                        code { "inlet connect " (name) } " (add " code { "--backend aws" }
                        " for the stack), then check " code { "inlet connections" } "."
                    }
                }
                Some(Alert::RefreshExpiring { days_left }) => {
                    p.flash.notice #connection-expiring {
                        "Connection " (name) ": its refresh token dies unused in " (days_left) " day(s). "
                        "Run one of its sources (" code { "inlet reconcile SOURCE" } ") or re-authorize it."
                    }
                }
                None => {}
            }
        }
    }
}

/// Reconciliation runs, newest first: the last of each source, or every recent one.
pub(super) async fn runs(c: &Console, latest_per_source: bool) -> Markup {
    let runs = match c.ports.status.reconcile_runs(100).await {
        Ok(Some(r)) => r,
        Ok(None) => {
            return html! { p { "Runs are in the reconciler's logs and the " code { "recovered" } " metric ("
            (c.ports.status.kept_elsewhere().unwrap_or("the backend's metrics")) ")." } }
        }
        Err(e) => return html! { p.flash.error { (e) } },
    };
    let mut seen = std::collections::HashSet::new();
    let rows: Vec<Vec<Markup>> = runs
        .iter()
        .filter(|r| !latest_per_source || seen.insert(r.source.clone()))
        .map(|r| {
            let errors = r.report["errors"].as_array().map_or(0, Vec::len);
            vec![
                html! { (r.source) },
                html! { (time(r.at)) },
                html! { (r.report["scanned"].to_string()) },
                html! { (r.report["recovered"].to_string()) },
                html! { (errors) },
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
