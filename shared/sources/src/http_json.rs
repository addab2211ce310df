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
//!
//! The source presets (`exact-online`, `xero`, …: `inlet_core::source_presets`) are feeds of
//! this source, filled in from a table row: POST bodies (HubSpot's search, Shopify's
//! GraphQL), cursors in the API's own time format, a `delta-link` cursor (Dataverse change
//! tracking), deletions (a marker in the item, or a deleted-records feed) delivered as
//! `{entity}.deleted`, keys `{entity}/{id}@{version}`, a 200 with an error body refused,
//! and Shopify's GraphQL cost bucket waited for.
//!
//! A timestamp feed paged by its cursor re-anchors each page on the newest time read
//! (inclusive, or `resend_secs` early for exclusive filters): equal times across a page
//! boundary are read twice — the ledger makes the second a duplicate — and never lost, and
//! an API that caps a query's results (HubSpot: 10,000) is never asked past the cap.

use std::sync::Arc;
use std::time::Duration;

use inlet_core::headers::Headers;
use inlet_core::normalize::NormalizeRules;
use inlet_core::source_config::{
    CursorKind, Deletes, HttpJsonSpec, ItemKind, Paging, PresetFeed, SourceConfig,
};
use inlet_core::usecase::reconcile::{Change, ChangeSource, FetchRequest, Page, SourceError};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use time::OffsetDateTime;

use crate::times::{date_and_time, format_time, parse_time, seconds_before, with_time_of_day};
use crate::{inert, rfc3339, to_envelope, Fetcher};
use inlet_core::normalize::scalar_text as scalar;

/// The longest a GraphQL cost bucket is waited for between two queries.
const MAX_COST_WAIT: Duration = Duration::from_secs(30);
/// How many times a query refused for cost is asked again (each after the bucket's wait).
const MAX_THROTTLED_RETRIES: u32 = 5;

mod key_set;

pub struct HttpJson {
    config: SourceConfig,
    spec: HttpJsonSpec,
    name: String,
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

/// What one item of a page is.
struct Item<'a> {
    value: &'a Value,
    deleted: bool,
    occurred_at: OffsetDateTime,
}

impl HttpJson {
    pub fn new(config: &SourceConfig, spec: &HttpJsonSpec, fetcher: Arc<Fetcher>) -> Self {
        Self::named(config, config.name.clone(), spec, fetcher)
    }

    /// One feed of a preset source, named `{source}:{feed}`.
    pub fn feed(config: &SourceConfig, feed: &PresetFeed, fetcher: Arc<Fetcher>) -> Self {
        Self::named(
            config,
            format!("{}:{}", config.name, feed.name),
            &feed.spec,
            fetcher,
        )
    }

    fn named(
        config: &SourceConfig,
        name: String,
        spec: &HttpJsonSpec,
        fetcher: Arc<Fetcher>,
    ) -> Self {
        let rules = match spec.entity {
            // The key, type, entity and version are the feed's own (`entity_change`).
            Some(_) => NormalizeRules {
                conventions: Some(inlet_core::catalogue::Conventions::NONE),
                ..NormalizeRules::default()
            },
            // The item is the payload: the source's pointers find its id, type, entity, version.
            None => NormalizeRules {
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
            },
        };
        Self {
            config: config.clone(),
            spec: spec.clone(),
            name,
            rules,
            fetcher,
        }
    }

    /// A cursor value as the API takes it: a timestamp in its format (and `resend_secs`
    /// early), anything else as it is.
    fn render(&self, base: &str) -> Result<String, SourceError> {
        if self.spec.cursor != CursorKind::Timestamp {
            return Ok(base.to_string());
        }
        Ok(format_time(self.sent_time(base)?, self.spec.cursor_format))
    }

    /// The time a timestamp cursor asks from.
    fn sent_time(&self, base: &str) -> Result<OffsetDateTime, SourceError> {
        let t = OffsetDateTime::parse(base, &time::format_description::well_known::Rfc3339)
            .map_err(|_| SourceError::BadResponse(format!("cursor {base:?} is not a time")))?;
        Ok(seconds_before(t, self.spec.resend_secs))
    }

    /// `template` with the cursor, limit and page filled in; `escape` writes each value.
    fn fill(
        &self,
        template: &str,
        base: &str,
        page: Option<u32>,
        escape: fn(&str) -> String,
    ) -> Result<String, SourceError> {
        let mut text = template
            .replace("{api_base}", &self.config.api_base)
            .replace("{limit}", &self.config.page_size.to_string())
            .replace("{page}", &page.unwrap_or(1).to_string());
        if text.contains("{cursor_date}") || text.contains("{cursor_time}") {
            let (date, time) = date_and_time(self.sent_time(base)?);
            text = text
                .replace("{cursor_date}", &escape(&date))
                .replace("{cursor_time}", &escape(&time));
        }
        if text.contains("{cursor}") {
            text = text.replace("{cursor}", &escape(&self.render(base)?));
        }
        Ok(text)
    }

    fn url(&self, base: &str, page: Option<u32>) -> Result<String, SourceError> {
        self.fill(&self.spec.url, base, page, |v| {
            url::form_urlencoded::byte_serialize(v.as_bytes()).collect()
        })
    }

    /// The POST body of a request, when the feed posts one.
    fn body(&self, base: &str) -> Result<Option<String>, SourceError> {
        self.spec
            .body
            .as_deref()
            .map(|b| self.fill(b, base, None, json_escape))
            .transpose()
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
            (CursorKind::Token | CursorKind::DeltaLink, Some(c)) => c.to_string(),
            (CursorKind::Token | CursorKind::RowVersion, None) => {
                self.spec.first_cursor.clone().unwrap_or_default()
            }
            // A first run reads everything there is; its last page gives the delta link.
            (CursorKind::DeltaLink, None) => String::new(),
        })
    }

    /// The headers of one request: the configured ones, and the cursor where it travels
    /// in a header (as an HTTP date, RFC 9110 §5.6.7).
    fn headers(&self, base: &str) -> Result<Vec<(String, String)>, SourceError> {
        let mut out: Vec<(String, String)> = self
            .spec
            .headers
            .iter()
            .map(|(k, v)| (k.clone(), v.expose().to_string()))
            .collect();
        if let Some(name) = &self.spec.cursor_header {
            out.push((name.clone(), http_date(self.sent_time(base)?)));
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

/// How long Shopify's GraphQL cost bucket needs before a query as costly as the last one
/// fits (`extensions.cost`: requested cost, currently available, restore rate a second).
pub fn graphql_cost_wait(body: &Value) -> Option<Duration> {
    let cost = body.pointer("/extensions/cost")?;
    let requested = cost.get("requestedQueryCost")?.as_f64()?;
    let available = cost
        .pointer("/throttleStatus/currentlyAvailable")?
        .as_f64()?;
    let restore = cost.pointer("/throttleStatus/restoreRate")?.as_f64()?;
    let secs = (requested - available) / restore;
    (secs.is_finite() && secs > 0.0)
        .then(|| Duration::from_secs_f64(secs.min(MAX_COST_WAIT.as_secs_f64())))
}

/// A GraphQL answer refused for cost (`errors[].extensions.code = THROTTLED`).
fn graphql_throttled(body: &Value) -> bool {
    body.get("errors")
        .and_then(Value::as_array)
        .is_some_and(|errors| {
            errors
                .iter()
                .any(|e| e.pointer("/extensions/code").and_then(Value::as_str) == Some("THROTTLED"))
        })
}

/// `v` escaped for the inside of a JSON string.
fn json_escape(v: &str) -> String {
    let quoted = serde_json::to_string(v).unwrap_or_default();
    quoted
        .strip_prefix('"')
        .and_then(|q| q.strip_suffix('"'))
        .unwrap_or_default()
        .to_string()
}

#[async_trait::async_trait]
impl ChangeSource for HttpJson {
    fn name(&self) -> &str {
        &self.name
    }

    async fn fetch(&self, req: FetchRequest<'_>) -> Result<Page, SourceError> {
        if let Deletes::KeySet { every_secs } = self.spec.deletes {
            return self.compare_key_sets(req, every_secs).await;
        }
        let continuation = req.cursor.and_then(Continuation::parse);
        let (url, base) = match &continuation {
            Some(c) => match (&c.next, c.page) {
                (Some(next), _) => (self.same_host(next)?, c.base.clone()),
                (None, page) => (self.url(&c.base, page)?, c.base.clone()),
            },
            None => {
                let base = self.first_param(&req, req.cursor)?;
                let first_page = match self.spec.paging {
                    Paging::PageNumber { first } => Some(first),
                    _ => None,
                };
                match self.spec.cursor {
                    CursorKind::DeltaLink if !base.is_empty() => (self.same_host(&base)?, base),
                    _ => (self.url(&base, first_page)?, base),
                }
            }
        };
        let headers = self.headers(&base)?;
        let headers: Vec<(&str, &str)> = headers
            .iter()
            .map(|(k, v)| (k.as_str(), v.as_str()))
            .collect();
        // Links are followed with a GET; the first request of a POST feed posts its query.
        let body = match &continuation {
            Some(c) if c.next.is_some() => None,
            _ => self.body(&base)?,
        };
        let mut attempt = 0;
        let fetched = loop {
            attempt += 1;
            let fetched = self
                .fetcher
                .send_json(&url, &headers, body.as_deref(), req.deadline)
                .await?;
            if !(self.spec.graphql_cost && graphql_throttled(&fetched.body)) {
                break fetched;
            }
            let wait = graphql_cost_wait(&fetched.body).unwrap_or(Duration::from_secs(1));
            if attempt > MAX_THROTTLED_RETRIES
                || req
                    .deadline
                    .is_some_and(|d| std::time::Instant::now() + wait >= d)
            {
                return Err(SourceError::Transient {
                    message: format!("{url}: throttled by the GraphQL cost limit; retry later"),
                    source: None,
                });
            }
            tokio::time::sleep(wait).await;
        };
        let page = self.read_page(&fetched.body, &base, continuation.as_ref(), req)?;
        if self.spec.graphql_cost && !page.done {
            if let Some(wait) = graphql_cost_wait(&fetched.body) {
                tokio::time::sleep(wait).await;
            }
        }
        Ok(page)
    }
}

impl HttpJson {
    /// A link (a next page, a delta link) as an absolute URL, when it points at the API's
    /// own scheme, host and port; anything else is refused, so the source's credentials
    /// never leave for another host. A relative link (SAP's `odata.nextLink`) is resolved
    /// against the feed's URL.
    fn same_host(&self, link: &str) -> Result<String, SourceError> {
        let origin = |u: &url::Url| {
            (
                u.scheme().to_string(),
                u.host_str().map(str::to_string),
                u.port_or_known_default(),
            )
        };
        let feed_url = url::Url::parse(&self.spec.url.replace("{api_base}", &self.config.api_base))
            .or_else(|_| url::Url::parse(&self.config.api_base));
        let resolved = match url::Url::parse(link) {
            Ok(u) => Some(u),
            Err(url::ParseError::RelativeUrlWithoutBase) => {
                feed_url.as_ref().ok().and_then(|b| b.join(link).ok())
            }
            Err(_) => None,
        };
        match (resolved, url::Url::parse(&self.config.api_base)) {
            (Some(a), Ok(b)) if origin(&a) == origin(&b) => Ok(a.to_string()),
            _ => Err(SourceError::BadResponse(format!(
                "link {:?} leaves {}; not followed",
                inert(link),
                self.config.api_base
            ))),
        }
    }

    /// Whether `item` is a deletion.
    fn is_deletion(&self, item: &Value) -> bool {
        match &self.spec.deletes {
            Deletes::None | Deletes::KeySet { .. } => false,
            Deletes::Feed => true,
            Deletes::Marker { pointer, value, .. } => {
                item.pointer(pointer).and_then(scalar).as_deref() == Some(value.as_str())
            }
        }
    }

    /// When `item` changed: its updated-at (and time of day, where apart), or the epoch
    /// when the feed has no time (a row-version or delta-link feed) or a deletion has none.
    fn item_time(&self, item: &Value, deleted: bool) -> Result<OffsetDateTime, SourceError> {
        let Some(pointer) = &self.spec.updated_at_pointer else {
            return Ok(OffsetDateTime::UNIX_EPOCH);
        };
        let Some(value) = item.pointer(pointer) else {
            return if deleted {
                Ok(OffsetDateTime::UNIX_EPOCH)
            } else {
                Err(SourceError::BadResponse(format!(
                    "item has no {pointer} timestamp"
                )))
            };
        };
        let t = parse_time(value).ok_or_else(|| {
            SourceError::BadResponse(format!(
                "item has an unparseable {pointer}: {}",
                inert(&value.to_string())
            ))
        })?;
        match &self.spec.updated_time_pointer {
            Some(tp) => match item.pointer(tp) {
                Some(v) => with_time_of_day(t, v).ok_or_else(|| {
                    SourceError::BadResponse(format!(
                        "item has an unparseable {tp}: {}",
                        inert(&v.to_string())
                    ))
                }),
                None => Ok(t),
            },
            None => Ok(t),
        }
    }

    /// `value` as an envelope's JSON payload, with what the source's rules find in it.
    fn item_envelope(&self, value: &Value) -> Result<inlet_core::envelope::Envelope, SourceError> {
        let body =
            serde_json::to_vec(value).map_err(|e| SourceError::BadResponse(e.to_string()))?;
        to_envelope(
            &self.config,
            &Headers::new().with("content-type", "application/json"),
            &body,
            &self.rules,
        )
    }

    /// A change keyed `{entity}/{id}@{version}` (`@deleted` for a deletion), typed
    /// `{entity}.updated` or `{entity}.deleted`.
    fn entity_change(&self, entity: &str, item: &Item<'_>) -> Result<Change, SourceError> {
        let id_pointer = match (&self.spec.deletes, item.deleted) {
            (
                Deletes::Marker {
                    id_pointer: Some(p),
                    ..
                },
                true,
            ) => p,
            _ => &self.spec.id_pointer,
        };
        let id = item
            .value
            .pointer(id_pointer)
            .and_then(scalar)
            .ok_or_else(|| SourceError::BadResponse(format!("item has no id at {id_pointer}")))?;
        let version = match (&self.spec.version_pointer, item.deleted) {
            (_, true) => "deleted".to_string(),
            (Some(p), false) => item.value.pointer(p).and_then(scalar).ok_or_else(|| {
                SourceError::BadResponse(format!("item {} has no version at {p}", inert(&id)))
            })?,
            (None, false) => item.occurred_at.unix_timestamp().to_string(),
        };
        let event_id = format!("{entity}/{id}@{version}");
        let key = inlet_core::ids::EventKey::new(&self.config.provider, &event_id)
            .map_err(|e| SourceError::BadResponse(format!("item key unusable: {e}")))?;
        let mut envelope = self.item_envelope(item.value)?;
        envelope.key = key;
        envelope.event_id = event_id;
        envelope.event_type = Some(format!(
            "{entity}.{}",
            if item.deleted { "deleted" } else { "updated" }
        ));
        envelope.entity = Some(format!("{entity}/{id}"));
        envelope.version = (item.occurred_at != OffsetDateTime::UNIX_EPOCH)
            .then(|| i64::try_from(item.occurred_at.unix_timestamp_nanos()).ok())
            .flatten()
            .or_else(|| version.parse().ok());
        envelope.body_guard = false;
        Ok(Change {
            envelope,
            occurred_at: item.occurred_at,
            detail: None,
        })
    }

    /// One response as a page. `base` is the cursor value the run's first request sent;
    /// `continuation` where this page came from within the run; `req` the fetch it answers.
    /// Pure, so tests and the fuzzer reach it without a server.
    pub fn read_page(
        &self,
        body: &Value,
        base: &str,
        continuation: Option<&Continuation>,
        req: FetchRequest<'_>,
    ) -> Result<Page, SourceError> {
        if let Some(p) = &self.spec.error_pointer {
            let error = body.pointer(p).filter(|v| match v {
                Value::Null => false,
                Value::Array(a) => !a.is_empty(),
                Value::String(s) => !s.is_empty(),
                _ => true,
            });
            if let Some(e) = error {
                return Err(SourceError::BadResponse(format!(
                    "the API answered 200 with an error at {p}: {}",
                    inert(&e.to_string())
                )));
            }
        }
        let empty = Vec::new();
        let items = match body.pointer(&self.spec.items_pointer) {
            Some(Value::Array(items)) => items,
            None if self.spec.items_optional => &empty,
            _ => {
                return Err(SourceError::BadResponse(format!(
                    "response has no array at {:?}",
                    self.spec.items_pointer
                )))
            }
        };
        let anchor_version: Option<i64> = (self.spec.cursor == CursorKind::RowVersion)
            .then(|| base.parse().ok())
            .flatten();
        let mut changes = Vec::with_capacity(items.len());
        let mut newest_version: Option<i64> = None;
        for value in items {
            let deleted = self.is_deletion(value);
            let item = Item {
                value,
                deleted,
                occurred_at: self.item_time(value, deleted)?,
            };
            if self.spec.cursor == CursorKind::RowVersion {
                let v = self.row_version(value)?;
                // `Timestamp gt N` never answers N or less: a row below it is an API
                // going backwards, and moving on could skip what it has not sent yet.
                if anchor_version.is_some_and(|a| v < a) {
                    return Err(SourceError::BadResponse(format!(
                        "row version {v} is below the cursor {base}: the API's versions went backwards"
                    )));
                }
                newest_version = Some(newest_version.map_or(v, |n| n.max(v)));
            }
            changes.push(match &self.spec.entity {
                Some(entity) => self.entity_change(entity, &item)?,
                None => Change {
                    envelope: self.item_envelope(value)?,
                    occurred_at: item.occurred_at,
                    detail: None,
                },
            });
        }
        if self.spec.cursor == CursorKind::Timestamp {
            changes.sort_by_key(|c| c.occurred_at);
        }
        let full_at = self.spec.fixed_page.unwrap_or(self.config.page_size);
        let page_full = items.len() >= full_at as usize;
        // The newest cursor value this page shows, and so far in the run.
        let page_newest = match self.spec.cursor {
            CursorKind::Timestamp => changes
                .iter()
                .map(|c| c.occurred_at)
                .filter(|t| *t != OffsetDateTime::UNIX_EPOCH)
                .max()
                .map(rfc3339),
            CursorKind::RowVersion => newest_version.map(|v| v.to_string()),
            CursorKind::Token | CursorKind::DeltaLink => None,
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
                .map(|link| -> Result<Continuation, SourceError> {
                    Ok(Continuation {
                        base: base.to_string(),
                        newest: newest.clone(),
                        next: Some(self.same_host(link)?),
                        page: None,
                    })
                })
                .transpose()?,
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
                // A run that paged by link or number ends at the newest value it saw (at
                // least one of its pages had items, or it would not have paged on); the
                // cursor never moves back past where it stood.
                let stood = match continuation {
                    Some(c) => c.newest.clone().or_else(|| Some(c.base.clone())),
                    None => plain_cursor(req.cursor),
                };
                let next = newer(self.spec.cursor, newest, stood.clone());
                if self.spec.paging == Paging::Cursor
                    && page_full
                    && req.resume
                    && next.is_some()
                    && next == stood
                {
                    return Err(SourceError::BadResponse(format!(
                        "a full page of {full_at} items did not move the cursor past {base}: more items share one value than a page holds (raise page_size) or the API ignores the filter"
                    )));
                }
                // Paging by the cursor: a full page means more after the newest value.
                let more = self.spec.paging == Paging::Cursor && page_full;
                (next, !more)
            }
            CursorKind::Token => {
                let pointer = self.spec.next_cursor_pointer.as_deref().unwrap_or_default();
                let next = body.pointer(pointer).and_then(|v| match v {
                    Value::String(s) if !s.is_empty() => Some(s.clone()),
                    Value::Number(n) => Some(n.to_string()),
                    _ => None,
                });
                let done = next.is_none() || items.is_empty();
                (next.or_else(|| plain_cursor(req.cursor)), done)
            }
            CursorKind::DeltaLink => {
                let pointer = self.spec.next_cursor_pointer.as_deref().unwrap_or_default();
                let link = body
                    .pointer(pointer)
                    .and_then(Value::as_str)
                    .filter(|s| !s.is_empty())
                    .ok_or_else(|| {
                        SourceError::BadResponse(format!(
                            "the last page has no delta link at {pointer}"
                        ))
                    })?;
                (Some(self.same_host(link)?), true)
            }
        };
        Ok(Page {
            changes,
            next_cursor,
            done,
        })
    }

    /// An item's integer row version (a number, or a decimal string as OData sends Int64).
    fn row_version(&self, item: &Value) -> Result<i64, SourceError> {
        let pointer = self.spec.version_pointer.as_deref().unwrap_or_default();
        match item.pointer(pointer) {
            Some(Value::Number(n)) => n.as_i64(),
            Some(Value::String(s)) => s.parse().ok(),
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
            // Times compare as instants: `…00.5Z` is after `…00Z`, though not as text.
            CursorKind::Timestamp => {
                let at = |s: &str| {
                    OffsetDateTime::parse(s, &time::format_description::well_known::Rfc3339).ok()
                };
                if at(&b) > at(&a) {
                    b
                } else {
                    a
                }
            }
            CursorKind::Token | CursorKind::DeltaLink => a.max(b),
        }),
        (a, b) => a.or(b),
    }
}
