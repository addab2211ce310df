//! Fakes of the source presets' APIs, written from each provider's documentation (the
//! page is cited on each; all read 2026-12-06): the preset tests drive them, and the
//! pipeline benchmark times quiet and busy runs against them. They share one model —
//! records with an update time, a version and a deleted flag — and differ in what the
//! documentation says: the request's shape, the cursor's form, the page, the link, where
//! a deletion shows.

use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::{Arc, Mutex};

use serde_json::{json, Value};
use time::OffsetDateTime;

use crate::{json_answer, Answer, Recorded, Responder};

/// One record of the fake system.
#[derive(Clone, Debug)]
pub struct Rec {
    pub id: u32,
    /// Last change, Unix milliseconds.
    pub at_ms: i64,
    /// A row version / sync token / version number: rises on every change, system-wide.
    pub version: i64,
    pub deleted: bool,
}

impl Rec {
    pub fn at(&self) -> OffsetDateTime {
        OffsetDateTime::from_unix_timestamp_nanos(i128::from(self.at_ms) * 1_000_000).unwrap()
    }
    pub fn secs(&self) -> i64 {
        self.at_ms / 1000
    }
}

pub struct Db {
    pub recs: Vec<Rec>,
    pub clock_ms: i64,
    pub seq: i64,
}

pub type Shared = Arc<Mutex<Db>>;

impl Db {
    /// `n` records created three hours ago, `group` of them in each second (so equal
    /// update times straddle page boundaries).
    pub fn new(n: u32, group: u32) -> Shared {
        Db::spaced(n, group, 1)
    }

    /// [`Db::new`] with `secs` between one group's time and the next's.
    pub fn spaced(n: u32, group: u32, secs: i64) -> Shared {
        let mut db = Db {
            recs: Vec::new(),
            clock_ms: (OffsetDateTime::now_utc().unix_timestamp() - 3 * 3600) * 1000,
            seq: 100,
        };
        for id in 1..=n {
            if (id - 1) % group.max(1) == 0 {
                db.clock_ms += secs * 1000;
            }
            db.seq += 1;
            db.recs.push(Rec {
                id,
                at_ms: db.clock_ms,
                version: db.seq,
                deleted: false,
            });
        }
        Arc::new(Mutex::new(db))
    }

    pub fn change(&mut self, id: u32, delete: bool) {
        self.clock_ms += 1000;
        self.seq += 1;
        let (at, seq) = (self.clock_ms, self.seq);
        let r = self.recs.iter_mut().find(|r| r.id == id).unwrap();
        r.at_ms = at;
        r.version = seq;
        r.deleted |= delete;
    }

    /// Records changed at or after `from_ms` (strictly after, when `exclusive`), oldest
    /// first: what an updated-since filter answers.
    pub fn since(&self, from_ms: i64, exclusive: bool) -> Vec<Rec> {
        let mut out: Vec<Rec> = self
            .recs
            .iter()
            .filter(|r| {
                if exclusive {
                    r.at_ms > from_ms
                } else {
                    r.at_ms >= from_ms
                }
            })
            .cloned()
            .collect();
        out.sort_by_key(|r| (r.at_ms, r.id));
        out
    }

    /// [`Db::since`], the deleted records only (`deleted`) or the live ones only: what a
    /// list answers when deletions have a list of their own, or none.
    pub fn since_listed(&self, from_ms: i64, exclusive: bool, deleted: bool) -> Vec<Rec> {
        let mut out = self.since(from_ms, exclusive);
        out.retain(|r| r.deleted == deleted);
        out
    }

    /// The ids of the records not deleted, in order: what an id list answers.
    pub fn live_ids(&self) -> Vec<u32> {
        let mut ids: Vec<u32> = self
            .recs
            .iter()
            .filter(|r| !r.deleted)
            .map(|r| r.id)
            .collect();
        ids.sort_unstable();
        ids
    }

    /// Records with a version above `after`, by version: a row-version sync.
    pub fn after_version(&self, after: i64) -> Vec<Rec> {
        let mut out: Vec<Rec> = self
            .recs
            .iter()
            .filter(|r| r.version > after)
            .cloned()
            .collect();
        out.sort_by_key(|r| r.version);
        out
    }
}

/// The fake's failure switch: how many more requests succeed before every one answers
/// 500 (negative: never fail) — a run that dies mid-way.
pub type Allow = Arc<AtomicI64>;

pub fn failing(allow: &Allow) -> bool {
    let left = allow.load(Ordering::SeqCst);
    if left < 0 {
        return false;
    }
    if left == 0 {
        return true;
    }
    allow.fetch_sub(1, Ordering::SeqCst);
    false
}

pub fn server_error() -> Answer {
    json_answer(500, json!({"error": "try again"}))
}

pub fn rfc3339(t: OffsetDateTime) -> String {
    t.format(&time::format_description::well_known::Rfc3339)
        .unwrap()
}

pub fn parse_rfc3339(s: &str) -> OffsetDateTime {
    OffsetDateTime::parse(s, &time::format_description::well_known::Rfc3339)
        .unwrap_or_else(|_| panic!("not RFC 3339: {s}"))
}

pub fn ms(t: OffsetDateTime) -> i64 {
    (t.unix_timestamp_nanos() / 1_000_000) as i64
}

/// The answer before any other: 401 with the provider's own body (`unauthorized`) without
/// the test's bearer token, 500 once the failure switch is thrown.
pub fn gate(r: &Recorded, allow: &Allow, unauthorized: Value) -> Option<Answer> {
    if !bearer_ok(r) {
        return Some(json_answer(401, unauthorized));
    }
    failing(allow).then(server_error)
}

pub fn bearer_ok(r: &Recorded) -> bool {
    r.headers.get("authorization").map(String::as_str) == Some("Bearer test-token")
}

/// Exact Online's sync API, after "Sync APIs" and the REST reference on
/// start.exactonline.nl (`/api/v1/{division}/sync/CRM/Accounts`, `$filter=Timestamp gt N`,
/// a `Timestamp` Int64 row version, rows in `d.results`, a `d.__next` link while more
/// remain, up to 1,000 rows a page — two here) and its `sync/Deleted` feed (`EntityKey`,
/// `EntityType` 2 for accounts).
pub fn exact_api(db: Shared, allow: Allow) -> Responder {
    exact_api_paged(db, allow, 2)
}

/// [`exact_api`] with `rows_a_page` rows a page (the API's own: 1,000).
pub fn exact_api_paged(db: Shared, allow: Allow, rows_a_page: usize) -> Responder {
    Arc::new(move |r: &Recorded| {
        if let Some(refused) = gate(
            r,
            &allow,
            json!({"error": {"message": {"value": "unauthorized"}}}),
        ) {
            return refused;
        }
        assert!(r.query.contains_key("$select"), "sync APIs need $select");
        let filter = r.query.get("$filter").cloned().unwrap_or_default();
        let after: i64 = filter
            .strip_prefix("Timestamp gt ")
            .and_then(|f| f.split(' ').next())
            .and_then(|n| n.parse().ok())
            .unwrap_or_else(|| panic!("no Timestamp filter: {filter}"));
        let skip: usize = r
            .query
            .get("$skiptoken")
            .and_then(|s| s.parse().ok())
            .unwrap_or(0);
        let d = db.lock().unwrap();
        let deleted_feed = r.path.ends_with("/sync/Deleted");
        if deleted_feed {
            assert!(filter.ends_with("EntityType eq 2"), "{filter}");
        } else {
            assert_eq!(r.path, "/api/v1/4242/sync/CRM/Accounts");
        }
        let rows: Vec<Rec> = d
            .after_version(after)
            .into_iter()
            .filter(|x| x.deleted == deleted_feed)
            .collect();
        let page: Vec<Value> = rows
            .iter()
            .skip(skip)
            .take(rows_a_page)
            .map(|x| {
                if deleted_feed {
                    json!({"ID": format!("del-{}", x.id), "EntityKey": format!("acc-{}", x.id), "EntityType": 2, "Timestamp": x.version})
                } else {
                    json!({"ID": format!("acc-{}", x.id), "Timestamp": x.version, "Name": format!("Account {}", x.id), "Modified": format!("/Date({})/", x.at_ms)})
                }
            })
            .collect();
        let mut body = json!({"d": {"results": page}});
        if skip + rows_a_page < rows.len() {
            let host = &r.headers["host"];
            body["d"]["__next"] = json!(format!(
                "http://{host}{}?$select=ID&$filter=Timestamp%20gt%20{after}{}&$skiptoken={}",
                r.path,
                if deleted_feed {
                    "%20and%20EntityType%20eq%202"
                } else {
                    ""
                },
                skip + rows_a_page
            ));
        }
        json_answer(200, body)
    })
}

/// Xero's Accounting API, after developer.xero.com "Requests and responses" and the
/// Invoices page: `If-Modified-Since` (records modified since then), `xero-tenant-id`,
/// `order=UpdatedDateUTC ASC`, `page=N` of 100, `UpdatedDateUTC` as `/Date(ms+0000)/`,
/// deleted invoices with `Status` `DELETED`.
pub fn xero_api(db: Shared, allow: Allow) -> Responder {
    Arc::new(move |r: &Recorded| {
        if r.headers.get("xero-tenant-id").map(String::as_str) != Some("7c1c-tenant") {
            return json_answer(
                403,
                json!({"Title": "Forbidden", "Detail": "AuthenticationUnsuccessful"}),
            );
        }
        if let Some(refused) = gate(r, &allow, json!({"Type": null, "Title": "Unauthorized"})) {
            return refused;
        }
        assert_eq!(r.path, "/api.xro/2.0/Invoices");
        assert_eq!(
            r.query.get("order").map(String::as_str),
            Some("UpdatedDateUTC ASC")
        );
        let since = r
            .headers
            .get("if-modified-since")
            .map(|h| {
                let f = time::macros::format_description!(
                    "[weekday repr:short], [day] [month repr:short] [year] [hour]:[minute]:[second] GMT"
                );
                ms(time::PrimitiveDateTime::parse(h, &f).unwrap().assume_utc())
            })
            .unwrap_or(0);
        let page: usize = r
            .query
            .get("page")
            .and_then(|p| p.parse().ok())
            .unwrap_or(1);
        let rows = db.lock().unwrap().since(since, false);
        let out: Vec<Value> = rows
            .iter()
            .skip((page - 1) * 100)
            .take(100)
            .map(|x| {
                json!({"InvoiceID": format!("inv-{}", x.id), "Status": if x.deleted {"DELETED"} else {"AUTHORISED"},
                       "UpdatedDateUTC": format!("/Date({}+0000)/", x.at_ms), "Total": 10})
            })
            .collect();
        json_answer(200, json!({"Id": "req", "Status": "OK", "Invoices": out}))
    })
}

/// Pipedrive API v2 deals, after developers.pipedrive.com "Deals" (v2 `GET /api/v2/deals`:
/// `updated_since` RFC 3339, later than or equal; `sort_by=update_time`; `limit` up to 500;
/// `status=deleted` lists deleted deals; `{success, data, additional_data.next_cursor}`).
pub fn pipedrive_api(db: Shared, allow: Allow) -> Responder {
    Arc::new(move |r: &Recorded| {
        if let Some(refused) = gate(
            r,
            &allow,
            json!({"success": false, "error": "unauthorized access"}),
        ) {
            return refused;
        }
        assert_eq!(r.path, "/api/v2/deals");
        assert_eq!(
            r.query.get("sort_by").map(String::as_str),
            Some("update_time")
        );
        let since = ms(parse_rfc3339(&r.query["updated_since"]));
        let limit: usize = r.query["limit"].parse().unwrap();
        assert!(limit <= 500);
        let deleted = r.query.get("status").map(String::as_str) == Some("deleted");
        let rows: Vec<Value> = db
            .lock()
            .unwrap()
            .since_listed(since, false, deleted)
            .into_iter()
            .take(limit)
            .map(|x| json!({"id": x.id, "title": format!("Deal {}", x.id), "is_deleted": x.deleted, "update_time": rfc3339(x.at())}))
            .collect();
        json_answer(
            200,
            json!({"success": true, "data": rows, "additional_data": {"next_cursor": null}}),
        )
    })
}

/// HubSpot's CRM search, after developers.hubspot.com "Search the CRM": `POST
/// /crm/v3/objects/contacts/search` with `filterGroups` (`lastmodifieddate` `GTE` a
/// millisecond time), `sorts` ascending, `limit` up to 200, `after` paging — and no more
/// than 10,000 results a query (`after` past that answers 400).
pub fn hubspot_api(db: Shared, allow: Allow) -> Responder {
    Arc::new(move |r: &Recorded| {
        if let Some(refused) = gate(
            r,
            &allow,
            json!({"status": "error", "category": "INVALID_AUTHENTICATION"}),
        ) {
            return refused;
        }
        assert_eq!(
            (r.method.as_str(), r.path.as_str()),
            ("POST", "/crm/v3/objects/contacts/search")
        );
        let q: Value = serde_json::from_str(&r.body).unwrap();
        let filter = &q["filterGroups"][0]["filters"][0];
        assert_eq!(
            (filter["propertyName"].as_str(), filter["operator"].as_str()),
            (Some("lastmodifieddate"), Some("GTE"))
        );
        let since: i64 = filter["value"].as_str().unwrap().parse().unwrap();
        let limit = q["limit"].as_u64().unwrap() as usize;
        assert!(limit <= 200);
        let after: usize = q
            .get("after")
            .and_then(|a| a.as_str())
            .and_then(|a| a.parse().ok())
            .unwrap_or(0);
        if after + limit > 10_000 {
            return json_answer(
                400,
                json!({"status": "error", "message": "paging past 10,000 results"}),
            );
        }
        let rows: Vec<Rec> = db.lock().unwrap().since_listed(since, false, false);
        let page: Vec<Value> = rows
            .iter()
            .skip(after)
            .take(limit)
            .map(|x| json!({"id": x.id.to_string(), "properties": {"lastmodifieddate": rfc3339(x.at())}, "updatedAt": rfc3339(x.at()), "archived": false}))
            .collect();
        json_answer(200, json!({"total": rows.len(), "results": page}))
    })
}

/// Adobe Commerce REST searches, after developer.adobe.com "Search using REST endpoints":
/// `searchCriteria[filter_groups][0][filters][0]` `updated_at` `gteq` a `Y-m-d H:i:s` UTC
/// time, `sortOrders` ascending, `pageSize`, `currentPage`; `{items, total_count}`.
pub fn adobe_api(db: Shared, allow: Allow) -> Responder {
    Arc::new(move |r: &Recorded| {
        if let Some(refused) = gate(
            r,
            &allow,
            json!({"message": "The consumer isn't authorized to access %resources."}),
        ) {
            return refused;
        }
        assert_eq!(r.path, "/rest/V1/orders");
        if r.query.get("fields").map(String::as_str) == Some("items[entity_id],total_count") {
            return adobe_id_list(&db.lock().unwrap(), r);
        }
        let f = "searchCriteria[filter_groups][0][filters][0]";
        assert_eq!(
            r.query.get(&format!("{f}[field]")).map(String::as_str),
            Some("updated_at")
        );
        assert_eq!(
            r.query
                .get(&format!("{f}[condition_type]"))
                .map(String::as_str),
            Some("gteq")
        );
        let fmt =
            time::macros::format_description!("[year]-[month]-[day] [hour]:[minute]:[second]");
        let since = ms(
            time::PrimitiveDateTime::parse(&r.query[&format!("{f}[value]")], &fmt)
                .unwrap()
                .assume_utc(),
        );
        let size: usize = r.query["searchCriteria[pageSize]"].parse().unwrap();
        let page: usize = r.query["searchCriteria[currentPage]"].parse().unwrap();
        let rows: Vec<Rec> = db.lock().unwrap().since_listed(since, false, false);
        let items: Vec<Value> = rows
            .iter()
            .skip((page - 1) * size)
            .take(size)
            .map(|x| json!({"entity_id": x.id, "increment_id": format!("0000{}", x.id), "updated_at": x.at().format(&fmt).unwrap()}))
            .collect();
        json_answer(
            200,
            json!({"items": items, "search_criteria": {}, "total_count": rows.len()}),
        )
    })
}

/// The id list of every live order, after the same search page with no filter, sorted on
/// `entity_id`, and developer.adobe.com "Retrieve filtered responses for REST endpoints"
/// (`fields=items[entity_id],total_count` trims each item to its id). A `currentPage` past
/// the end answers the last page again, as Adobe Commerce's search does.
fn adobe_id_list(db: &Db, r: &Recorded) -> Answer {
    assert_eq!(
        r.query
            .get("searchCriteria[sortOrders][0][field]")
            .map(String::as_str),
        Some("entity_id")
    );
    let size: usize = r.query["searchCriteria[pageSize]"].parse().unwrap();
    let page: usize = r.query["searchCriteria[currentPage]"].parse().unwrap();
    let live = db.live_ids();
    let last = live.len().div_ceil(size).max(1);
    let items: Vec<Value> = live
        .iter()
        .skip((page.min(last) - 1) * size)
        .take(size)
        .map(|id| json!({"entity_id": id}))
        .collect();
    json_answer(200, json!({"items": items, "total_count": live.len()}))
}

/// Dataverse change tracking, after learn.microsoft.com "Use change tracking to
/// synchronize data with external systems": `Prefer: odata.track-changes` (and
/// `odata.maxpagesize`), pages by `@odata.nextLink`, the last page's `@odata.deltaLink`
/// (`$deltatoken`) returns what changed since, deletions as `$deletedEntity` rows with `id`
/// and `reason: deleted`.
pub fn dataverse_api(db: Shared, allow: Allow) -> Responder {
    Arc::new(move |r: &Recorded| {
        if let Some(refused) = gate(
            r,
            &allow,
            json!({"error": {"code": "0x80072560", "message": "unauthorized"}}),
        ) {
            return refused;
        }
        assert_eq!(r.path, "/api/data/v9.2/accounts");
        let prefer = r.headers.get("prefer").cloned().unwrap_or_default();
        assert!(prefer.contains("odata.track-changes"), "{prefer}");
        let size: usize = prefer
            .split("odata.maxpagesize=")
            .nth(1)
            .and_then(|s| s.parse().ok())
            .unwrap_or(5000);
        let token: i64 = r
            .query
            .get("$deltatoken")
            .and_then(|t| t.parse().ok())
            .unwrap_or(0);
        let skip: usize = r
            .query
            .get("$skiptoken")
            .and_then(|t| t.parse().ok())
            .unwrap_or(0);
        let d = db.lock().unwrap();
        // A first sync reads the live rows; a delta read, every change since the token.
        let rows: Vec<Rec> = d
            .after_version(token)
            .into_iter()
            .filter(|x| token > 0 || !x.deleted)
            .collect();
        let host = &r.headers["host"];
        let page: Vec<Value> = rows
            .iter()
            .skip(skip)
            .take(size)
            .map(|x| {
                if x.deleted {
                    json!({"@odata.context": format!("http://{host}/api/data/v9.2/$metadata#accounts/$deletedEntity"), "id": format!("a-{}", x.id), "reason": "deleted"})
                } else {
                    json!({"@odata.etag": format!("W/\"{}\"", x.version), "accountid": format!("a-{}", x.id), "name": "n", "modifiedon": rfc3339(x.at()), "versionnumber": x.version})
                }
            })
            .collect();
        let mut body = json!({"@odata.context": "…#accounts", "value": page});
        if skip + size < rows.len() {
            body["@odata.nextLink"] = json!(format!(
                "http://{host}/api/data/v9.2/accounts?$deltatoken={token}&$skiptoken={}",
                skip + size
            ));
        } else {
            body["@odata.deltaLink"] = json!(format!(
                "http://{host}/api/data/v9.2/accounts?$deltatoken={}",
                d.seq
            ));
        }
        json_answer(200, body)
    })
}

/// SAP Business One Service Layer, after its API reference and user manual: OData
/// `$filter` on `UpdateDate` (a date) and `UpdateTime` (a time of day), `Prefer:
/// odata.maxpagesize=N`, a relative `odata.nextLink` (`Orders?$skip=N…`) while more remain.
pub fn sap_api(db: Shared, allow: Allow) -> Responder {
    Arc::new(move |r: &Recorded| {
        if let Some(refused) = gate(
            r,
            &allow,
            json!({"error": {"code": 301, "message": {"lang": "en-us", "value": "Invalid session."}}}),
        ) {
            return refused;
        }
        assert_eq!(r.path, "/b1s/v1/Orders");
        if !r.query.contains_key("$filter") {
            return sap_id_list(&db.lock().unwrap(), r);
        }
        let filter = &r.query["$filter"];
        // UpdateDate gt 'D' or (UpdateDate eq 'D' and UpdateTime ge 'T')
        let quoted: Vec<&str> = filter.split('\'').skip(1).step_by(2).collect();
        let (date, time_of_day) = (quoted[0], quoted[2]);
        let since = ms(parse_rfc3339(&format!("{date}T{time_of_day}Z")));
        let (size, skip) = sap_page(r);
        // Whole seconds: the filter cannot ask for less.
        let rows: Vec<Rec> = db
            .lock()
            .unwrap()
            .since_listed(since - since % 1000, false, false);
        let dfmt = time::macros::format_description!("[year]-[month]-[day]");
        let tfmt = time::macros::format_description!("[hour]:[minute]:[second]");
        let page: Vec<Value> = rows
            .iter()
            .skip(skip)
            .take(size)
            .map(|x| json!({"DocEntry": x.id, "DocNum": 1000 + x.id, "UpdateDate": x.at().format(&dfmt).unwrap(), "UpdateTime": x.at().format(&tfmt).unwrap()}))
            .collect();
        let mut body = json!({"odata.metadata": "$metadata#Orders", "value": page});
        if skip + size < rows.len() {
            body["odata.nextLink"] = json!(format!(
                "Orders?$filter={}&$skip={}",
                url::form_urlencoded::byte_serialize(filter.as_bytes()).collect::<String>(),
                skip + size
            ));
        }
        json_answer(200, body)
    })
}

/// The page a Service Layer request asks for: `odata.maxpagesize` (the `Prefer` header) and
/// `$skip` (from the `nextLink`).
fn sap_page(r: &Recorded) -> (usize, usize) {
    let size = r.headers["prefer"]
        .trim_start_matches("odata.maxpagesize=")
        .parse()
        .unwrap();
    let skip = r
        .query
        .get("$skip")
        .and_then(|s| s.parse().ok())
        .unwrap_or(0);
    (size, skip)
}

/// The key of every live order, after the Service Layer reference's `$select` and
/// `$orderby` on `Orders`, paged by `odata.maxpagesize` and a relative `odata.nextLink`.
fn sap_id_list(db: &Db, r: &Recorded) -> Answer {
    assert_eq!(r.query.get("$select").map(String::as_str), Some("DocEntry"));
    let (size, skip) = sap_page(r);
    let live = db.live_ids();
    let page: Vec<Value> = live
        .iter()
        .skip(skip)
        .take(size)
        .map(|id| json!({"DocEntry": id}))
        .collect();
    let mut body = json!({"odata.metadata": "$metadata#Orders", "value": page});
    if skip + size < live.len() {
        body["odata.nextLink"] = json!(format!(
            "Orders?$select=DocEntry&$orderby=DocEntry&$skip={}",
            skip + size
        ));
    }
    json_answer(200, body)
}

/// QuickBooks Online change data capture, after developer.intuit.com "Change data capture
/// operation": `GET /v3/company/{realmId}/cdc?entities=Invoice&changedSince=…`, the full
/// objects in `CDCResponse[0].QueryResponse[0].Invoice`, at most 1,000 objects a response,
/// deleted ones with `status: Deleted`; an entity without changes is left out.
pub fn quickbooks_api(db: Shared, allow: Allow) -> Responder {
    Arc::new(move |r: &Recorded| {
        if let Some(refused) = gate(
            r,
            &allow,
            json!({"fault": {"error": [{"message": "AuthenticationFailed"}], "type": "AUTHENTICATION"}}),
        ) {
            return refused;
        }
        assert_eq!(r.path, "/v3/company/9130-realm/cdc");
        assert_eq!(r.query.get("entities").map(String::as_str), Some("Invoice"));
        let since = ms(parse_rfc3339(&r.query["changedSince"]));
        let rows: Vec<Value> = db
            .lock()
            .unwrap()
            .since(since, false)
            .into_iter()
            .take(1000)
            .map(|x| {
                let meta = json!({"CreateTime": "2024-01-01T00:00:00-08:00", "LastUpdatedTime": rfc3339(x.at())});
                if x.deleted {
                    json!({"domain": "QBO", "status": "Deleted", "Id": x.id.to_string(), "MetaData": meta})
                } else {
                    json!({"domain": "QBO", "Id": x.id.to_string(), "SyncToken": x.version.to_string(), "MetaData": meta, "TotalAmt": 5})
                }
            })
            .collect();
        let query = if rows.is_empty() {
            json!({})
        } else {
            json!({"Invoice": rows, "startPosition": 1, "maxResults": rows.len()})
        };
        json_answer(
            200,
            json!({"CDCResponse": [{"QueryResponse": [query]}], "time": rfc3339(OffsetDateTime::now_utc())}),
        )
    })
}

/// WooCommerce REST orders, after woocommerce.github.io "List all orders": `modified_after`
/// (strictly after, ISO 8601; GMT with `dates_are_gmt`), `orderby=modified`, `order=asc`,
/// `per_page` up to 100, a bare JSON array, `date_modified_gmt` without an offset; trashed
/// orders listed with `status=trash`.
pub fn woo_api(db: Shared, allow: Allow) -> Responder {
    Arc::new(move |r: &Recorded| {
        if r.headers.get("authorization").map(String::as_str)
            != Some("Basic Y2tfa2V5OmNzX3NlY3JldA==")
        {
            return json_answer(
                401,
                json!({"code": "woocommerce_rest_cannot_view", "message": "Sorry, you cannot list resources.", "data": {"status": 401}}),
            );
        }
        if failing(&allow) {
            return server_error();
        }
        assert_eq!(r.path, "/wp-json/wc/v3/orders");
        assert_eq!(
            r.query.get("dates_are_gmt").map(String::as_str),
            Some("true")
        );
        assert_eq!(r.query.get("orderby").map(String::as_str), Some("modified"));
        let fmt =
            time::macros::format_description!("[year]-[month]-[day]T[hour]:[minute]:[second]");
        let after = ms(
            time::PrimitiveDateTime::parse(&r.query["modified_after"], &fmt)
                .unwrap()
                .assume_utc(),
        );
        let per_page: usize = r.query["per_page"].parse().unwrap();
        assert!(per_page <= 100);
        let trash = r.query.get("status").map(String::as_str) == Some("trash");
        // Whole seconds, strictly after.
        let rows: Vec<Value> = db
            .lock()
            .unwrap()
            .since_listed(after + 999, true, trash)
            .into_iter()
            .take(per_page)
            .map(|x| json!({"id": x.id, "status": if x.deleted {"trash"} else {"processing"}, "date_modified_gmt": x.at().format(&fmt).unwrap()}))
            .collect();
        json_answer(200, Value::Array(rows))
    })
}

/// Shopify's GraphQL Admin API, after shopify.dev "orders" query, "Search syntax" and "API
/// rate limits": `orders(first: N, sortKey: UPDATED_AT, query: "updated_at:>='…'")`,
/// `nodes { legacyResourceId updatedAt }`, the cost in `extensions.cost` (a bucket that
/// restores at a rate a second) and a `THROTTLED` error, answered with a 200, when a query
/// costs more than is available. The first query here is throttled once.
pub fn shopify_graphql_api(db: Shared, allow: Allow, throttled_once: Arc<AtomicI64>) -> Responder {
    Arc::new(move |r: &Recorded| {
        if r.headers.get("x-shopify-access-token").map(String::as_str) != Some("shpat_test") {
            return json_answer(
                401,
                json!({"errors": "[API] Invalid API key or access token"}),
            );
        }
        if failing(&allow) {
            return server_error();
        }
        assert_eq!(
            (r.method.as_str(), r.path.as_str()),
            ("POST", "/admin/api/2025-01/graphql.json")
        );
        let q: Value = serde_json::from_str(&r.body).unwrap();
        let query = q["query"].as_str().unwrap();
        let cost = |available: f64| json!({"requestedQueryCost": 12, "actualQueryCost": 12, "throttleStatus": {"maximumAvailable": 100.0, "currentlyAvailable": available, "restoreRate": 1000.0}});
        if throttled_once.fetch_sub(1, Ordering::SeqCst) == 1 {
            return json_answer(
                200,
                json!({"errors": [{"message": "Throttled", "extensions": {"code": "THROTTLED"}}], "extensions": {"cost": cost(2.0)}}),
            );
        }
        let first: usize = query
            .split("first: ")
            .nth(1)
            .and_then(|s| s.split(',').next())
            .and_then(|n| n.parse().ok())
            .unwrap();
        let since = query
            .split("updated_at:>='")
            .nth(1)
            .and_then(|s| s.split('\'').next())
            .unwrap();
        let since = ms(parse_rfc3339(since));
        let nodes: Vec<Value> = db
            .lock()
            .unwrap()
            .since_listed(since, false, false)
            .into_iter()
            .take(first)
            .map(|x| json!({"legacyResourceId": x.id.to_string(), "updatedAt": rfc3339(x.at()), "name": format!("#{}", 1000 + x.id)}))
            .collect();
        json_answer(
            200,
            json!({"data": {"orders": {"nodes": nodes}}, "extensions": {"cost": cost(88.0)}}),
        )
    })
}
