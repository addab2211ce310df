//! `http-json`: a generic JSON change-feed poller for systems without a preset (ERPs,
//! internal services). A URL template with `{api_base}`, `{cursor}` and `{limit}`; JSON
//! pointers for the items, id, type, updated_at, entity and the next cursor.
//!
//! Cursor kinds: `timestamp` (the newest `updated_at` handled, sent as RFC 3339, re-read
//! with the overlap at the start of a run) or `token` (an opaque value from the response).
//! Keys are `{provider}:{id}`, so configure the provider's webhook `id_pointer` to the same id.

use std::sync::Arc;

use inlet_core::headers::Headers;
use inlet_core::normalize::NormalizeRules;
use inlet_core::source_config::{CursorKind, HttpJsonSpec, SourceConfig};
use inlet_core::usecase::reconcile::{Change, ChangeSource, FetchRequest, Page, SourceError};
use time::OffsetDateTime;

use crate::{rfc3339, time_field, to_envelope, Fetcher};

pub struct HttpJson {
    config: SourceConfig,
    spec: HttpJsonSpec,
    rules: NormalizeRules,
    fetcher: Arc<Fetcher>,
}

impl HttpJson {
    pub fn new(config: &SourceConfig, spec: &HttpJsonSpec, fetcher: Arc<Fetcher>) -> Self {
        // The item is the payload: the source's pointers find its id, type, entity, version.
        let rules = NormalizeRules {
            id_pointer: Some(spec.id_pointer.clone()),
            type_pointer: spec.type_pointer.clone(),
            entity_pointer: spec.entity_pointer.clone(),
            version_pointer: spec.updated_at_pointer.clone(),
            // Named like the provider's webhooks name it, so both copies are one entity.
            entity_type: config.rules.entity_type.clone(),
            conventions: None,
        };
        Self {
            config: config.clone(),
            spec: spec.clone(),
            rules,
            fetcher,
        }
    }

    fn url(&self, cursor: &str) -> String {
        let enc: String = url::form_urlencoded::byte_serialize(cursor.as_bytes()).collect();
        self.spec
            .url
            .replace("{api_base}", &self.config.api_base)
            .replace("{limit}", &self.config.page_size.to_string())
            .replace("{cursor}", &enc)
    }
}

#[async_trait::async_trait]
impl ChangeSource for HttpJson {
    fn name(&self) -> &str {
        &self.config.name
    }

    async fn fetch(&self, req: FetchRequest<'_>) -> Result<Page, SourceError> {
        let cursor_param = match (self.spec.cursor, req.cursor) {
            (CursorKind::Timestamp, Some(c)) => {
                let t = OffsetDateTime::parse(c, &time::format_description::well_known::Rfc3339)
                    .map_err(|_| {
                        SourceError::BadResponse(format!(
                            "stored cursor {c:?} is not an RFC 3339 time"
                        ))
                    })?;
                rfc3339(if req.resume {
                    t
                } else {
                    t - self.config.overlap
                })
            }
            (CursorKind::Timestamp, None) => rfc3339(req.since),
            (CursorKind::Token, Some(c)) => c.to_string(),
            (CursorKind::Token, None) => String::new(),
        };
        let fetched = self
            .fetcher
            .get_json(&self.url(&cursor_param), &[], req.deadline)
            .await?;
        self.read_page(&fetched.body, &cursor_param, req)
    }
}

impl HttpJson {
    /// One response as a page. `cursor_param` is the cursor the request sent; `req` the
    /// fetch it answers. Pure, so tests and the fuzzer reach it without a server.
    pub fn read_page(
        &self,
        body: &serde_json::Value,
        cursor_param: &str,
        req: FetchRequest<'_>,
    ) -> Result<Page, SourceError> {
        let items = body
            .pointer(&self.spec.items_pointer)
            .and_then(|v| v.as_array())
            .ok_or_else(|| {
                SourceError::BadResponse(format!(
                    "response has no array at {:?}",
                    self.spec.items_pointer
                ))
            })?;
        let mut changes = Vec::with_capacity(items.len());
        for item in items {
            let occurred_at = match &self.spec.updated_at_pointer {
                Some(p) => time_field(item, p, "item")?,
                // Without a time, a change is as old as the poll that found it.
                None => OffsetDateTime::UNIX_EPOCH,
            };
            let body =
                serde_json::to_vec(item).map_err(|e| SourceError::BadResponse(e.to_string()))?;
            changes.push(Change {
                envelope: to_envelope(
                    &self.config,
                    &Headers::new().with("content-type", "application/json"),
                    &body,
                    &self.rules,
                )?,
                occurred_at,
                detail: None,
            });
        }
        if self.spec.cursor == CursorKind::Timestamp {
            changes.sort_by_key(|c| c.occurred_at);
        }
        let page_full = items.len() >= self.config.page_size as usize;
        let (next_cursor, done) = match self.spec.cursor {
            CursorKind::Timestamp => {
                let newest = changes.last().map(|c| rfc3339(c.occurred_at));
                if page_full && newest.as_deref() == Some(cursor_param) && req.resume {
                    return Err(SourceError::BadResponse(format!(
                        "more than {} items share updated_at {cursor_param}; raise page_size",
                        self.config.page_size
                    )));
                }
                (
                    newest.or_else(|| req.cursor.map(str::to_string)),
                    !page_full,
                )
            }
            CursorKind::Token => {
                let pointer = self.spec.next_cursor_pointer.as_deref().unwrap_or_default();
                let next = body.pointer(pointer).and_then(|v| match v {
                    serde_json::Value::String(s) if !s.is_empty() => Some(s.clone()),
                    serde_json::Value::Number(n) => Some(n.to_string()),
                    _ => None,
                });
                let done = next.is_none() || items.is_empty();
                (next.or_else(|| req.cursor.map(str::to_string)), done)
            }
        };
        Ok(Page {
            changes,
            next_cursor,
            done,
        })
    }
}
