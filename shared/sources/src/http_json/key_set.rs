//! Deletions an API never announces (Adobe Commerce, SAP Business One): every
//! `key_set_every_secs` the feed lists every record's id and compares the list with the one
//! it kept; an id that was there and is gone is a deletion, delivered as `{entity}.deleted`
//! keyed `{entity}/{id}@deleted` (the key a delete feed would give it).
//!
//! The comparison is all or nothing: the whole list is read in one run, at most the
//! source's `max_pages` calls (each charged to the connection's budget like any call); a
//! list that does not end within them, a bad page or the run's deadline leaves the kept
//! list as it was and compares nothing, so a half-read list never reads as mass deletion.
//! The first run only keeps the list. Cost: `ceil(records / page_size)` calls per
//! comparison (10,000 orders at 100 a page: 100 calls a day by default), none between.
//! The list is kept as the feed's cursor (`keyset1:{unix secs}:{ids, one per line}`), at
//! most [`MAX_KEPT_BYTES`]: one DynamoDB item.

use std::collections::BTreeSet;

use inlet_core::source_config::Paging;
use inlet_core::usecase::reconcile::{FetchRequest, Page, SourceError};
use serde_json::Value;
use time::OffsetDateTime;

use super::{scalar, HttpJson, Item};
use crate::inert;

const PREFIX: &str = "keyset1:";
/// The longest kept list: a cursor is one DynamoDB item (400 KB with its other attributes).
pub const MAX_KEPT_BYTES: usize = 300 * 1024;
/// The longest id kept; a longer one is a bad answer, not an id.
const MAX_ID_CHARS: usize = 256;

/// The list a feed kept: when it was read, and the ids.
#[derive(Debug, PartialEq, Eq)]
struct Kept {
    read_at: i64,
    ids: BTreeSet<String>,
}

impl Kept {
    fn parse(stored: &str) -> Option<Kept> {
        let (at, ids) = stored.strip_prefix(PREFIX)?.split_once(':')?;
        Some(Kept {
            read_at: at.parse().ok()?,
            ids: ids
                .split('\n')
                .filter(|id| !id.is_empty())
                .map(str::to_string)
                .collect(),
        })
    }

    fn to_cursor(&self) -> String {
        let ids: Vec<&str> = self.ids.iter().map(String::as_str).collect();
        format!("{PREFIX}{}:{}", self.read_at, ids.join("\n"))
    }
}

impl HttpJson {
    /// Compare the list of every id with the kept one, when `every_secs` have passed.
    pub(super) async fn compare_key_sets(
        &self,
        req: FetchRequest<'_>,
        every_secs: u64,
    ) -> Result<Page, SourceError> {
        let kept = match req.cursor {
            Some(stored) => Some(Kept::parse(stored).ok_or_else(|| {
                SourceError::BadResponse(format!(
                    "stored cursor {:?} is not a kept id list",
                    inert(&stored.chars().take(40).collect::<String>())
                ))
            })?),
            None => None,
        };
        let now = OffsetDateTime::now_utc().unix_timestamp();
        if let Some(k) = &kept {
            if now.saturating_sub(k.read_at) < i64::try_from(every_secs).unwrap_or(i64::MAX) {
                return Ok(Page {
                    changes: Vec::new(),
                    next_cursor: req.cursor.map(str::to_string),
                    done: true,
                });
            }
        }
        let current = Kept {
            read_at: now,
            ids: self.list_ids(&req).await?,
        };
        let cursor = current.to_cursor();
        if cursor.len() > MAX_KEPT_BYTES {
            return Err(SourceError::BadResponse(format!(
                "{} ids take {} KB, more than the {} KB a kept list may: compare a smaller feed, or take deletions from webhooks",
                current.ids.len(),
                cursor.len() / 1024,
                MAX_KEPT_BYTES / 1024
            )));
        }
        let entity = self.spec.entity.as_deref().unwrap_or("record");
        let changes = match &kept {
            None => Vec::new(),
            Some(k) => k
                .ids
                .difference(&current.ids)
                .map(|id| self.vanished(entity, id))
                .collect::<Result<_, _>>()?,
        };
        Ok(Page {
            changes,
            next_cursor: Some(cursor),
            done: true,
        })
    }

    /// Every id the feed lists, page by page, within `max_pages` calls.
    async fn list_ids(&self, req: &FetchRequest<'_>) -> Result<BTreeSet<String>, SourceError> {
        let mut ids = BTreeSet::new();
        let by_page = self.spec.url.contains("{page}");
        let headers = self.headers("")?;
        let headers: Vec<(&str, &str)> = headers
            .iter()
            .map(|(k, v)| (k.as_str(), v.as_str()))
            .collect();
        let mut url = self.url("", Some(1))?;
        for call in 1..=self.config.max_pages {
            let fetched = self
                .fetcher
                .send_json(&url, &headers, None, req.deadline)
                .await?;
            let items = fetched
                .body
                .pointer(&self.spec.items_pointer)
                .and_then(Value::as_array)
                .ok_or_else(|| {
                    SourceError::BadResponse(format!(
                        "id list page {call} has no {} array; nothing compared",
                        self.spec.items_pointer
                    ))
                })?;
            let before = ids.len();
            for item in items {
                ids.insert(self.listed_id(item)?);
            }
            let added = ids.len() > before;
            let next = match &self.spec.paging {
                Paging::NextLink(pointer) => fetched
                    .body
                    .pointer(pointer)
                    .and_then(Value::as_str)
                    .map(|link| self.same_host(link))
                    .transpose()?,
                // Past the last page Adobe answers the last one again: a full page that
                // adds nothing new is the end too.
                _ if by_page && added && items.len() >= self.config.page_size as usize => {
                    let page = u32::try_from(call + 1).unwrap_or(u32::MAX);
                    Some(self.url("", Some(page))?)
                }
                _ => None,
            };
            match next {
                Some(n) => url = n,
                None => return Ok(ids),
            }
        }
        Err(SourceError::Budget(format!(
            "the id list did not end within max_pages = {} calls; nothing compared (raise max_pages or page_size)",
            self.config.max_pages
        )))
    }

    fn listed_id(&self, item: &Value) -> Result<String, SourceError> {
        let id = item
            .pointer(&self.spec.id_pointer)
            .and_then(scalar)
            .ok_or_else(|| {
                SourceError::BadResponse(format!(
                    "id list item has no id at {}; nothing compared",
                    self.spec.id_pointer
                ))
            })?;
        if id.chars().count() > MAX_ID_CHARS || id.contains('\n') {
            return Err(SourceError::BadResponse(format!(
                "id list item has an unusable id {:?}; nothing compared",
                inert(&id.chars().take(40).collect::<String>())
            )));
        }
        Ok(id)
    }

    /// The deletion of `id`, shaped like an item of a delete feed.
    fn vanished(
        &self,
        entity: &str,
        id: &str,
    ) -> Result<inlet_core::usecase::reconcile::Change, SourceError> {
        let mut value = Value::Object(Default::default());
        // The id where the feed's items carry it (`/entity_id`, `/DocEntry`).
        let field = self.spec.id_pointer.trim_start_matches('/');
        value[field] = Value::String(id.to_string());
        value["deleted"] = Value::String("no longer listed by the API".into());
        self.entity_change(
            entity,
            &Item {
                value: &value,
                deleted: true,
                occurred_at: OffsetDateTime::UNIX_EPOCH,
            },
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_kept_list_reads_back_and_bad_ones_are_refused() {
        let kept = Kept {
            read_at: 1_800_000_000,
            ids: ["10", "2", "A-7"].into_iter().map(str::to_string).collect(),
        };
        assert_eq!(Kept::parse(&kept.to_cursor()), Some(kept));
        let empty = Kept {
            read_at: 5,
            ids: BTreeSet::new(),
        };
        assert_eq!(Kept::parse(&empty.to_cursor()), Some(empty));
        for bad in [
            "",
            "keyset1:",
            "keyset1:soon:1\n2",
            "2026-12-06T00:00:00Z",
            "{\"base\":1}",
        ] {
            assert_eq!(Kept::parse(bad), None, "{bad:?}");
        }
    }
}
