//! `shopify`: REST resources updated since the cursor (`GET /admin/api/{version}/{resource}.json`
//! with `updated_at_min`, `order=updated_at asc`, `limit`; `page_info` pagination from the
//! `Link` header within a run). One feed per resource.
//!
//! Keys are `{provider}:{resource}/{id}@{updated_at as Unix seconds}` — exactly what the
//! Shopify webhook path derives from the topic and body, so both converge.

use std::sync::Arc;

use inlet_core::headers::Headers;
use inlet_core::source_config::SourceConfig;
use inlet_core::usecase::reconcile::{Change, ChangeSource, FetchRequest, Page, SourceError};
use time::OffsetDateTime;

use crate::{link, parse_unix_cursor, rfc3339, time_field, to_envelope, Fetcher};

pub struct ShopifyResource {
    config: SourceConfig,
    name: String,
    resource: String,
    api_version: String,
    fetcher: Arc<Fetcher>,
}

impl ShopifyResource {
    pub fn new(
        config: &SourceConfig,
        resource: &str,
        api_version: &str,
        fetcher: Arc<Fetcher>,
    ) -> Self {
        Self {
            config: config.clone(),
            name: format!("{}:{resource}", config.name),
            resource: resource.to_string(),
            api_version: api_version.to_string(),
            fetcher,
        }
    }
}

/// The `page_info` query parameter of a pagination link.
fn page_info(url: &str) -> Option<String> {
    url::Url::parse(url)
        .ok()?
        .query_pairs()
        .find(|(k, _)| k == "page_info")
        .map(|(_, v)| v.into_owned())
}

#[async_trait::async_trait]
impl ChangeSource for ShopifyResource {
    fn name(&self) -> &str {
        &self.name
    }

    async fn fetch(&self, req: FetchRequest<'_>) -> Result<Page, SourceError> {
        let base = format!(
            "{}/admin/api/{}/{}.json",
            self.config.api_base, self.api_version, self.resource
        );
        // Cursor: "<updated_at unix>" or, mid-run, "<updated_at unix>|<page_info>".
        let resume_page = req
            .cursor
            .filter(|_| req.resume)
            .and_then(|c| c.split_once('|'))
            .map(|(_, p)| p);
        let url = match resume_page {
            Some(p) => format!(
                "{base}?limit={}&page_info={}",
                self.config.page_size,
                urlencode(p)
            ),
            None => {
                let min = match req.cursor {
                    Some(c) => OffsetDateTime::from_unix_timestamp(
                        parse_unix_cursor(c)?.saturating_sub(self.config.overlap.as_secs() as i64),
                    )
                    .map_err(|_| SourceError::BadResponse(format!("cursor {c:?} out of range")))?,
                    None => req.since,
                };
                let status = if self.resource == "orders" {
                    "&status=any"
                } else {
                    ""
                };
                format!(
                    "{base}?limit={}&updated_at_min={}&order=updated_at%20asc{status}",
                    self.config.page_size,
                    urlencode(&rfc3339(min))
                )
            }
        };
        let fetched = self.fetcher.get_json(&url, &[], req.deadline).await?;
        let link = fetched.headers.get("link").and_then(|l| l.to_str().ok());
        self.read_page(&fetched.body, link, req.cursor)
    }
}

impl ShopifyResource {
    /// One response: its items as changes, and the cursor (`<updated_at>|<page_info>` while
    /// the `Link` header has a next page). `cursor` is the one the request started from.
    /// Pure, so tests and the fuzzer reach it without a server.
    pub fn read_page(
        &self,
        body: &serde_json::Value,
        link: Option<&str>,
        cursor: Option<&str>,
    ) -> Result<Page, SourceError> {
        let items = body
            .get(&self.resource)
            .and_then(|v| v.as_array())
            .ok_or_else(|| {
                SourceError::BadResponse(format!(
                    "Shopify response has no \"{}\" array",
                    self.resource
                ))
            })?;
        let topic = format!("{}/updated", self.resource);
        let headers = Headers::new().with("x-shopify-topic", topic.as_str());
        let mut changes = Vec::with_capacity(items.len());
        for item in items {
            let occurred_at = time_field(item, "/updated_at", &format!("{} item", self.resource))?;
            if item.get("id").is_none_or(|i| i.is_null()) {
                return Err(SourceError::BadResponse(format!(
                    "{} item without an \"id\"",
                    self.resource
                )));
            }
            let body =
                serde_json::to_vec(item).map_err(|e| SourceError::BadResponse(e.to_string()))?;
            changes.push(Change {
                envelope: to_envelope(&self.config, &headers, &body, &self.config.rules)?,
                occurred_at,
                detail: None,
            });
        }
        let next = link.and_then(link::next).and_then(|u| page_info(&u));
        let last = changes.last().map(|c| c.occurred_at.unix_timestamp());
        let next_cursor = match (last, &next) {
            (Some(ts), Some(p)) => Some(format!("{ts}|{p}")),
            (Some(ts), None) => Some(ts.to_string()),
            // An empty page keeps the cursor where it was.
            (None, _) => cursor.map(|c| c.split('|').next().unwrap_or(c).to_string()),
        };
        Ok(Page {
            changes,
            next_cursor,
            done: next.is_none(),
        })
    }
}

fn urlencode(s: &str) -> String {
    url::form_urlencoded::byte_serialize(s.as_bytes()).collect()
}
