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

#[async_trait::async_trait]
impl ChangeSource for GithubDeliveries {
    fn name(&self) -> &str {
        &self.config.name
    }

    async fn fetch(&self, req: FetchRequest<'_>) -> Result<Page, SourceError> {
        let floor = match req.cursor {
            Some(c) => parse_unix_cursor(c)? - self.config.overlap.as_secs() as i64,
            None => req.since.unix_timestamp(),
        };
        let mut url = Some(format!(
            "{}{}/deliveries?per_page={}",
            self.config.api_base, self.hooks_path, self.config.page_size
        ));
        // GUID → its earliest attempt (redeliveries share the GUID).
        let mut by_guid: BTreeMap<String, Delivery> = BTreeMap::new();
        let mut newest = req.cursor.map(parse_unix_cursor).transpose()?;
        let mut pages = 0;
        while let Some(u) = url.take() {
            pages += 1;
            let fetched = self
                .fetcher
                .get_json(&u, &GITHUB_HEADERS, req.deadline)
                .await?;
            let list = fetched.body.as_array().ok_or_else(|| {
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
                    .ok_or_else(|| {
                        SourceError::BadResponse("delivery without a \"guid\"".into())
                    })?;
                let id = d.get("id").and_then(|i| i.as_u64()).ok_or_else(|| {
                    SourceError::BadResponse("delivery without a numeric \"id\"".into())
                })?;
                let event = d
                    .get("event")
                    .and_then(|e| e.as_str())
                    .unwrap_or("unknown")
                    .to_string();
                newest =
                    Some(newest.map_or(at.unix_timestamp(), |n: i64| n.max(at.unix_timestamp())));
                let keep = by_guid.get(guid).is_none_or(|seen| at < seen.at);
                if keep {
                    by_guid.insert(guid.to_string(), Delivery { id, at, event });
                }
            }
            if reached_floor || pages >= self.config.max_pages {
                break;
            }
            url = fetched
                .headers
                .get("link")
                .and_then(|l| l.to_str().ok())
                .and_then(link::next);
        }
        let mut changes = Vec::with_capacity(by_guid.len());
        for (guid, d) in by_guid {
            // The listing's envelope carries the key; hydrate fills in the payload.
            let headers = Headers::new()
                .with("x-github-delivery", guid.as_str())
                .with("x-github-event", d.event.as_str());
            changes.push(Change {
                envelope: to_envelope(&self.config, &headers, b"{}", &self.config.rules)?,
                occurred_at: d.at,
                detail: Some(d.id.to_string()),
            });
        }
        changes.sort_by_key(|c| c.occurred_at);
        Ok(Page {
            changes,
            next_cursor: newest.map(|n| n.to_string()),
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
