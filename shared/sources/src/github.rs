//! `github-deliveries`: a hook's recent deliveries (`GET …/hooks/{id}/deliveries`, cursor
//! pagination through the `Link` header), newest first.
//!
//! One fetch walks back to the cursor (minus the overlap) or the lookback, groups attempts
//! by delivery GUID and returns them oldest first. The listing has no payload: `hydrate`
//! fetches it (`GET …/deliveries/{id}`) only for GUIDs the ledger has not seen, so a run
//! where nothing was missed costs the listing pages alone. Keys are `{provider}:{guid}` —
//! the webhook's `X-GitHub-Delivery`.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Instant;

use inlet_core::envelope::Envelope;
use inlet_core::headers::Headers;
use inlet_core::source_config::SourceConfig;
use inlet_core::usecase::reconcile::{Change, ChangeSource, FetchRequest, Page, SourceError};
use time::OffsetDateTime;

use crate::{link, parse_unix_cursor, time_field, to_envelope, Fetcher};

const GITHUB_HEADERS: [(&str, &str); 2] = [
    ("accept", "application/vnd.github+json"),
    ("x-github-api-version", "2022-11-28"),
];

pub struct GithubDeliveries {
    config: SourceConfig,
    hooks_path: String,
    fetcher: Arc<Fetcher>,
}

impl GithubDeliveries {
    pub fn new(config: &SourceConfig, hooks_path: &str, fetcher: Arc<Fetcher>) -> Self {
        Self {
            config: config.clone(),
            hooks_path: hooks_path.to_string(),
            fetcher,
        }
    }
}

struct Delivery {
    id: u64,
    at: OffsetDateTime,
    event: String,
}

/// Deliveries read so far in one run: each GUID's earliest attempt (redeliveries share the
/// GUID), and the newest delivery time seen (the next cursor).
#[derive(Default)]
pub struct DeliveryIndex {
    by_guid: BTreeMap<String, Delivery>,
    newest: Option<i64>,
}

impl DeliveryIndex {
    /// Fold one listing page in, skipping deliveries older than `floor` (Unix seconds).
    /// Returns whether the page reached the floor (or was empty), i.e. whether to stop.
    /// Pure, so tests and the fuzzer reach it without a server.
    pub fn read_page(&mut self, list: &serde_json::Value, floor: i64) -> Result<bool, SourceError> {
        let list = list.as_array().ok_or_else(|| {
            SourceError::BadResponse("deliveries response is not an array".into())
        })?;
        let mut reached_floor = list.is_empty();
        for d in list {
            let at = time_field(d, "/delivered_at", "delivery")?;
            if at.unix_timestamp() < floor {
                reached_floor = true;
                continue;
            }
            let guid = d
                .get("guid")
                .and_then(|g| g.as_str())
                .filter(|g| !g.is_empty())
                .ok_or_else(|| SourceError::BadResponse("delivery without a \"guid\"".into()))?;
            let id = d.get("id").and_then(|i| i.as_u64()).ok_or_else(|| {
                SourceError::BadResponse("delivery without a numeric \"id\"".into())
            })?;
            let event = d
                .get("event")
                .and_then(|e| e.as_str())
                .unwrap_or("unknown")
                .to_string();
            let ts = at.unix_timestamp();
            self.newest = Some(self.newest.map_or(ts, |n| n.max(ts)));
            if self.by_guid.get(guid).is_none_or(|seen| at < seen.at) {
                self.by_guid
                    .insert(guid.to_string(), Delivery { id, at, event });
            }
        }
        Ok(reached_floor)
    }

    /// The newest delivery time seen, as a cursor.
    pub fn newest(&self) -> Option<i64> {
        self.newest
    }

    /// One change per GUID, oldest first; the listing's envelope carries the key and
    /// `hydrate` fills in the payload.
    pub fn into_changes(self, config: &SourceConfig) -> Result<Vec<Change>, SourceError> {
        let mut changes = Vec::with_capacity(self.by_guid.len());
        for (guid, d) in self.by_guid {
            let headers = Headers::new()
                .with("x-github-delivery", guid.as_str())
                .with("x-github-event", d.event.as_str());
            changes.push(Change {
                envelope: to_envelope(config, &headers, b"{}", &config.rules)?,
                occurred_at: d.at,
                detail: Some(d.id.to_string()),
            });
        }
        changes.sort_by_key(|c| c.occurred_at);
        Ok(changes)
    }
}

#[async_trait::async_trait]
impl ChangeSource for GithubDeliveries {
    fn name(&self) -> &str {
        &self.config.name
    }

    async fn fetch(&self, req: FetchRequest<'_>) -> Result<Page, SourceError> {
        let floor = match req.cursor {
            Some(c) => parse_unix_cursor(c)?.saturating_sub(self.config.overlap.as_secs() as i64),
            None => req.since.unix_timestamp(),
        };
        let mut url = Some(format!(
            "{}{}/deliveries?per_page={}",
            self.config.api_base, self.hooks_path, self.config.page_size
        ));
        let mut index = DeliveryIndex {
            newest: req.cursor.map(parse_unix_cursor).transpose()?,
            ..DeliveryIndex::default()
        };
        let mut pages = 0;
        while let Some(u) = url.take() {
            pages += 1;
            let fetched = self
                .fetcher
                .get_json(&u, &GITHUB_HEADERS, req.deadline)
                .await?;
            let reached_floor = index.read_page(&fetched.body, floor)?;
            if reached_floor || pages >= self.config.max_pages {
                break;
            }
            url = fetched
                .headers
                .get("link")
                .and_then(|l| l.to_str().ok())
                .and_then(link::next);
        }
        let next_cursor = index.newest().map(|n| n.to_string());
        Ok(Page {
            changes: index.into_changes(&self.config)?,
            next_cursor,
            done: true,
        })
    }

    async fn hydrate(
        &self,
        change: Change,
        deadline: Option<Instant>,
    ) -> Result<Envelope, SourceError> {
        let env = change.envelope;
        let delivery_id = change.detail.ok_or_else(|| {
            SourceError::BadResponse("delivery id missing from the listing".into())
        })?;
        let url = format!(
            "{}{}/deliveries/{delivery_id}",
            self.config.api_base, self.hooks_path
        );
        let detail = self
            .fetcher
            .get_json(&url, &GITHUB_HEADERS, deadline)
            .await?
            .body;
        let payload = detail
            .pointer("/request/payload")
            .filter(|p| !p.is_null())
            .ok_or_else(|| {
                SourceError::BadResponse(format!("delivery {delivery_id} has no request.payload"))
            })?;
        let body =
            serde_json::to_vec(payload).map_err(|e| SourceError::BadResponse(e.to_string()))?;
        let event = detail
            .get("event")
            .and_then(|e| e.as_str())
            .unwrap_or("unknown");
        let headers = Headers::new()
            .with("x-github-delivery", env.event_id.as_str())
            .with("x-github-event", event);
        to_envelope(&self.config, &headers, &body, &self.config.rules)
    }
}
