//! `stripe-events`: `GET /v1/events` by creation-time window.
//!
//! Stripe lists events newest first. Each fetch reads one window `[start, end]` completely
//! (`created[gte]`, `created[lte]`, `starting_after` pagination), reverses it to oldest
//! first, and returns the window end as the cursor, so a run walks forward window by
//! window. A run starting from a stored cursor re-reads `overlap` seconds before it for
//! events that became visible late. Keys are `{provider}:{event id}` — the webhook's key.

use std::sync::Arc;
use std::time::Duration;

use inlet_core::headers::Headers;
use inlet_core::source_config::SourceConfig;
use inlet_core::usecase::reconcile::{Change, ChangeSource, FetchRequest, Page, SourceError};
use time::OffsetDateTime;

use crate::{parse_unix_cursor, to_envelope, Fetcher};

/// Width of one window. Wide enough that a quiet account costs one request per run.
const WINDOW: Duration = Duration::from_secs(6 * 3600);
/// Safety bound on pages within one window.
const MAX_PAGES_PER_WINDOW: usize = 1000;

pub struct StripeEvents {
    config: SourceConfig,
    fetcher: Arc<Fetcher>,
}

impl StripeEvents {
    pub fn new(config: &SourceConfig, fetcher: Arc<Fetcher>) -> Self {
        Self {
            config: config.clone(),
            fetcher,
        }
    }
}

#[async_trait::async_trait]
impl ChangeSource for StripeEvents {
    fn name(&self) -> &str {
        &self.config.name
    }

    async fn fetch(&self, req: FetchRequest<'_>) -> Result<Page, SourceError> {
        let now = OffsetDateTime::now_utc().unix_timestamp();
        let start = match req.cursor {
            Some(c) if req.resume => parse_unix_cursor(c)?,
            Some(c) => parse_unix_cursor(c)?.saturating_sub(self.config.overlap.as_secs() as i64),
            None => req.since.unix_timestamp(),
        };
        let end = start.saturating_add(WINDOW.as_secs() as i64).min(now);
        let mut events: Vec<serde_json::Value> = Vec::new();
        let mut after: Option<String> = None;
        for _ in 0..MAX_PAGES_PER_WINDOW {
            let mut url = format!(
                "{}/v1/events?limit={}&created[gte]={start}&created[lte]={end}",
                self.config.api_base, self.config.page_size
            );
            if let Some(a) = &after {
                url.push_str(&format!("&starting_after={a}"));
            }
            let page = self.fetcher.get_json(&url, &[], req.deadline).await?.body;
            let (data, more) = read_list_page(&page)?;
            events.extend(data.iter().cloned());
            match more {
                Some(last) => after = Some(last.to_string()),
                None => break,
            }
        }
        let changes = changes_from_events(&self.config, &events)?;
        Ok(Page {
            changes,
            next_cursor: Some(end.to_string()),
            done: end >= now,
        })
    }
}

/// One page of `GET /v1/events`: its events, and the id to continue after when Stripe
/// has more. Pure, so tests and the fuzzer reach it without a server.
pub fn read_list_page(
    page: &serde_json::Value,
) -> Result<(&[serde_json::Value], Option<&str>), SourceError> {
    let data = page
        .get("data")
        .and_then(|d| d.as_array())
        .ok_or_else(|| SourceError::BadResponse("Stripe list has no \"data\" array".into()))?;
    let has_more = page
        .get("has_more")
        .and_then(|h| h.as_bool())
        .ok_or_else(|| SourceError::BadResponse("Stripe list has no \"has_more\"".into()))?;
    if !has_more || data.is_empty() {
        return Ok((data, None));
    }
    let last = data
        .last()
        .and_then(|e| e.get("id"))
        .and_then(|i| i.as_str())
        .ok_or_else(|| SourceError::BadResponse("Stripe event without an \"id\"".into()))?;
    Ok((data, Some(last)))
}

/// Listed events (newest first, as Stripe lists them) as changes, oldest first.
pub fn changes_from_events(
    config: &SourceConfig,
    events: &[serde_json::Value],
) -> Result<Vec<Change>, SourceError> {
    let mut changes = Vec::with_capacity(events.len());
    for event in events.iter().rev() {
        let created = event
            .get("created")
            .and_then(|c| c.as_i64())
            .ok_or_else(|| SourceError::BadResponse("Stripe event without \"created\"".into()))?;
        let body =
            serde_json::to_vec(event).map_err(|e| SourceError::BadResponse(e.to_string()))?;
        let envelope = to_envelope(config, &Headers::new(), &body, &config.rules)?;
        changes.push(Change {
            envelope,
            occurred_at: OffsetDateTime::from_unix_timestamp(created).map_err(|_| {
                SourceError::BadResponse(format!("Stripe event created={created} is out of range"))
            })?,
            detail: None,
        });
    }
    // Stripe lists by creation time, newest first; keep ours oldest first even if a
    // page arrives out of order.
    changes.sort_by_key(|c| c.occurred_at);
    Ok(changes)
}
