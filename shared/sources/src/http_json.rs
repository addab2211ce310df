//! `http-json`: a generic JSON change-feed poller for systems without a preset (ERPs,
//! internal services). A URL template with `{api_base}`, `{cursor}`, `{limit}` and `{page}`;
//! JSON pointers for the items, id, type, updated_at, version, entity, the next cursor and
//! the next link; extra request headers (a tenant id); the cursor in a header
//! (`If-Modified-Since`) instead of the URL.
//!
//! Cursor kinds: `timestamp` (the newest `updated_at` handled, sent as RFC 3339 or an HTTP
//! date, re-read with the overlap at the start of a run), `token` (an opaque value from the
//! response, from `first_cursor` on) or `row-version` (the highest integer version handled,
//! from `first_cursor` on: Exact Online's sync API's `Timestamp`).
//!
//! Items are events (`{provider}:{id}`, a second read is a duplicate) or records
//! (`{provider}:{id}@{version}`: an update to a record already delivered is a new change).
//!
//! Paging past the first response: by the cursor itself, by the response's next link
//! (followed as given, to the API's own host only, so credentials never go elsewhere), or
//! by `{page}`. Mid-run, the saved cursor is the continuation (`{"base":…,"newest":…,
//! "next"|"page":…}`), so a crash resumes at the page it was on; once the last page is
//! handled the cursor is the newest value seen.

use std::sync::Arc;

use inlet_core::headers::Headers;
use inlet_core::normalize::NormalizeRules;
use inlet_core::source_config::{CursorKind, HttpJsonSpec, ItemKind, Paging, SourceConfig};
use inlet_core::usecase::reconcile::{Change, ChangeSource, FetchRequest, Page, SourceError};
use serde::{Deserialize, Serialize};
use time::OffsetDateTime;

use crate::{rfc3339, time_field, to_envelope, Fetcher};

pub struct HttpJson {
    config: SourceConfig,
    spec: HttpJsonSpec,
    rules: NormalizeRules,
    fetcher: Arc<Fetcher>,
}

/// A run's place between pages when the feed pages by link or number: what `{cursor}`
/// said on the run's first request (`base`), the newest cursor value seen so far, and the
/// next page to read.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Continuation {
    pub base: String,
    pub newest: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub next: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub page: Option<u32>,
}

impl Continuation {
    /// A stored cursor that is a continuation (JSON), or `None` for a plain cursor value.
    fn parse(stored: &str) -> Option<Continuation> {
        stored
            .starts_with('{')
            .then(|| serde_json::from_str(stored).ok())
            .flatten()
    }

    fn to_cursor(&self) -> String {
        serde_json::to_string(self).unwrap_or_default()
    }
}

impl HttpJson {
    pub fn new(config: &SourceConfig, spec: &HttpJsonSpec, fetcher: Arc<Fetcher>) -> Self {
        // The item is the payload: the source's pointers find its id, type, entity, version.
        let rules = NormalizeRules {
            id_pointer: Some(spec.id_pointer.clone()),
            type_pointer: spec.type_pointer.clone(),
            entity_pointer: spec.entity_pointer.clone(),
            version_pointer: spec.updated_at_pointer.clone(),
            key_version_pointer: match spec.items {
                ItemKind::Records => spec.version_pointer.clone(),
                ItemKind::Events => None,
            },
            max_event_age: None,
            event_time_pointer: None,
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

    fn url(&self, cursor: &str, page: Option<u32>) -> String {
        let enc: String = url::form_urlencoded::byte_serialize(cursor.as_bytes()).collect();
        self.spec
            .url
            .replace("{api_base}", &self.config.api_base)
            .replace("{limit}", &self.config.page_size.to_string())
            .replace("{cursor}", &enc)
            .replace("{page}", &page.unwrap_or(1).to_string())
    }

    /// The cursor value the run's first request sends.
    fn first_param(
        &self,
        req: &FetchRequest<'_>,
        stored: Option<&str>,
    ) -> Result<String, SourceError> {
        Ok(match (self.spec.cursor, stored) {
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
            (CursorKind::RowVersion, Some(c)) => c
                .parse::<i64>()
                .map_err(|_| {
                    SourceError::BadResponse(format!(
                        "stored cursor {c:?} is not an integer row version"
                    ))
                })?
                .to_string(),
            (CursorKind::Token, Some(c)) => c.to_string(),
            (CursorKind::Token | CursorKind::RowVersion, None) => {
                self.spec.first_cursor.clone().unwrap_or_default()
            }
        })
    }

    /// The headers of one request: the configured ones, and the cursor where it travels
    /// in a header (as an HTTP date, RFC 9110 §5.6.7).
    fn headers(&self, cursor_param: &str) -> Result<Vec<(String, String)>, SourceError> {
        let mut out: Vec<(String, String)> = self
            .spec
            .headers
            .iter()
            .map(|(k, v)| (k.clone(), v.expose().to_string()))
            .collect();
        if let Some(name) = &self.spec.cursor_header {
            let t =
                OffsetDateTime::parse(cursor_param, &time::format_description::well_known::Rfc3339)
                    .map_err(|_| {
                        SourceError::BadResponse(format!("cursor {cursor_param:?} is not a time"))
                    })?;
            out.push((name.clone(), http_date(t)));
        }
        Ok(out)
    }
}

/// An HTTP date (IMF-fixdate): `Sun, 06 Nov 1994 08:49:37 GMT`.
pub fn http_date(t: OffsetDateTime) -> String {
    let t = t.to_offset(time::UtcOffset::UTC);
    let format = time::macros::format_description!(
        "[weekday repr:short], [day] [month repr:short] [year] [hour]:[minute]:[second] GMT"
    );
    t.format(&format).unwrap_or_default()
}

#[async_trait::async_trait]
impl ChangeSource for HttpJson {
    fn name(&self) -> &str {
        &self.config.name
    }

    async fn fetch(&self, req: FetchRequest<'_>) -> Result<Page, SourceError> {
        let continuation = req.cursor.and_then(Continuation::parse);
        let (url, base) = match &continuation {
            Some(c) => match (&c.next, c.page) {
                (Some(next), _) => (self.same_host(next)?, c.base.clone()),
                (None, page) => (self.url(&c.base, page), c.base.clone()),
            },
            None => {
                let base = self.first_param(&req, req.cursor)?;
                let first_page = match self.spec.paging {
                    Paging::PageNumber { first } => Some(first),
                    _ => None,
                };
                (self.url(&base, first_page), base)
            }
        };
        let headers = self.headers(&base)?;
        let headers: Vec<(&str, &str)> = headers
            .iter()
            .map(|(k, v)| (k.as_str(), v.as_str()))
            .collect();
        let fetched = self.fetcher.get_json(&url, &headers, req.deadline).await?;
        self.read_page(&fetched.body, &base, continuation.as_ref(), req)
    }
}

impl HttpJson {
    /// A next link, as given, when it points at the API's own scheme, host and port;
    /// anything else is refused, so the source's credentials never leave for another host.
    fn same_host(&self, link: &str) -> Result<String, SourceError> {
        let origin = |u: &str| {
            url::Url::parse(u).ok().map(|u| {
                (
                    u.scheme().to_string(),
                    u.host_str().map(str::to_string),
                    u.port_or_known_default(),
                )
            })
        };
        match (origin(link), origin(&self.config.api_base)) {
            (Some(a), Some(b)) if a == b => Ok(link.to_string()),
            _ => Err(SourceError::BadResponse(format!(
                "next link {link:?} leaves {}; not followed",
                self.config.api_base
            ))),
        }
    }

    /// One response as a page. `base` is the cursor value the run's first request sent;
    /// `continuation` where this page came from within the run; `req` the fetch it answers.
    /// Pure, so tests and the fuzzer reach it without a server.
    pub fn read_page(
        &self,
        body: &serde_json::Value,
        base: &str,
        continuation: Option<&Continuation>,
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
        let mut newest_version: Option<i64> = None;
        for item in items {
            let occurred_at = match &self.spec.updated_at_pointer {
                Some(p) => time_field(item, p, "item")?,
                // Without a time, a change is as old as the poll that found it.
                None => OffsetDateTime::UNIX_EPOCH,
            };
            if self.spec.cursor == CursorKind::RowVersion {
                let v = self.row_version(item)?;
                newest_version = Some(newest_version.map_or(v, |n| n.max(v)));
            }
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
        // The newest cursor value this page shows, and so far in the run.
        let page_newest = match self.spec.cursor {
            CursorKind::Timestamp => changes.last().map(|c| rfc3339(c.occurred_at)),
            CursorKind::RowVersion => newest_version.map(|v| v.to_string()),
            CursorKind::Token => None,
        };
        let newest = newer(
            self.spec.cursor,
            continuation.and_then(|c| c.newest.clone()),
            page_newest.clone(),
        );
        // Where the next page is, when the feed pages by link or number.
        let next_page = match &self.spec.paging {
            Paging::Cursor => None,
            Paging::NextLink(pointer) => body
                .pointer(pointer)
                .and_then(|v| v.as_str())
                .filter(|s| !s.is_empty() && !items.is_empty())
                .map(|link| Continuation {
                    base: base.to_string(),
                    newest: newest.clone(),
                    next: Some(link.to_string()),
                    page: None,
                }),
            Paging::PageNumber { first } => page_full.then(|| Continuation {
                base: base.to_string(),
                newest: newest.clone(),
                next: None,
                page: Some(continuation.and_then(|c| c.page).unwrap_or(*first) + 1),
            }),
        };
        if let Some(next) = next_page {
            return Ok(Page {
                changes,
                next_cursor: Some(next.to_cursor()),
                done: false,
            });
        }
        let (next_cursor, done) = match self.spec.cursor {
            CursorKind::Timestamp | CursorKind::RowVersion => {
                if self.spec.paging == Paging::Cursor
                    && page_full
                    && page_newest.as_deref() == Some(base)
                    && req.resume
                {
                    return Err(SourceError::BadResponse(format!(
                        "more than {} items share the cursor value {base}; raise page_size",
                        self.config.page_size
                    )));
                }
                // Paging by the cursor: a full page means more after the newest value.
                let more = self.spec.paging == Paging::Cursor && page_full;
                // A run that paged by link or number ends at the newest value it saw (at
                // least one of its pages had items, or it would not have paged on).
                let fallback = match continuation {
                    Some(c) => c.newest.clone().or_else(|| Some(c.base.clone())),
                    None => plain_cursor(req.cursor),
                };
                (newest.or(fallback), !more)
            }
            CursorKind::Token => {
                let pointer = self.spec.next_cursor_pointer.as_deref().unwrap_or_default();
                let next = body.pointer(pointer).and_then(|v| match v {
                    serde_json::Value::String(s) if !s.is_empty() => Some(s.clone()),
                    serde_json::Value::Number(n) => Some(n.to_string()),
                    _ => None,
                });
                let done = next.is_none() || items.is_empty();
                (next.or_else(|| plain_cursor(req.cursor)), done)
            }
        };
        Ok(Page {
            changes,
            next_cursor,
            done,
        })
    }

    /// An item's integer row version (a number, or a decimal string as OData sends Int64).
    fn row_version(&self, item: &serde_json::Value) -> Result<i64, SourceError> {
        let pointer = self.spec.version_pointer.as_deref().unwrap_or_default();
        match item.pointer(pointer) {
            Some(serde_json::Value::Number(n)) => n.as_i64(),
            Some(serde_json::Value::String(s)) => s.parse().ok(),
            _ => None,
        }
        .ok_or_else(|| {
            SourceError::BadResponse(format!("item has no integer row version at {pointer}"))
        })
    }
}

/// A stored cursor that is a plain value (not a continuation).
fn plain_cursor(stored: Option<&str>) -> Option<String> {
    stored
        .filter(|c| Continuation::parse(c).is_none())
        .map(str::to_string)
}

/// The newer of two cursor values of one kind.
fn newer(kind: CursorKind, a: Option<String>, b: Option<String>) -> Option<String> {
    match (a, b) {
        (Some(a), Some(b)) => Some(match kind {
            CursorKind::RowVersion => {
                let (x, y) = (
                    a.parse::<i64>().unwrap_or(i64::MIN),
                    b.parse::<i64>().unwrap_or(i64::MIN),
                );
                if y > x {
                    b
                } else {
                    a
                }
            }
            // RFC 3339 from `rfc3339` (UTC, same shape) sorts as text.
            _ => a.max(b),
        }),
        (a, b) => a.or(b),
    }
}
