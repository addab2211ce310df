//! Source presets: the change feeds of the systems small businesses run on (Exact Online,
//! Xero, Pipedrive, HubSpot, Adobe Commerce, Dynamics 365, SAP Business One, QuickBooks
//! Online, WooCommerce, Shopify's GraphQL Admin API). Each feed is a table row that fills
//! in the generic source's spec (`http-json`): a new API of a known shape is a row, not a
//! module.
//!
//! Every row follows the provider's own documentation, cited on the preset and read on
//! 2026-12-06; the test fakes (`tests/tests/suite/presets.rs`) are written from the same
//! pages.

use crate::source_config::{
    build_auth, AuthConfig, CursorKind, Deletes, HttpJsonSpec, ItemKind, Paging, PresetFeed,
    RawSource, SourceKind, TimeFormat,
};

/// A source preset: what `inlet sources` lists and `kind = "<name>"` configures.
#[derive(Debug)]
pub struct SourcePreset {
    pub name: &'static str,
    pub title: &'static str,
    /// The documentation its rows follow (read 2026-12-06).
    pub doc: &'static str,
    pub api_base: Option<&'static str>,
    /// What `api_base` is, for a preset without a default.
    pub api_base_hint: &'static str,
    /// Values its URLs name: `(name, default)`; without a default the value is required.
    pub params: &'static [(&'static str, Option<&'static str>)],
    /// The credentials it takes.
    pub auth: &'static str,
    /// The API's call budget as its documentation states it, for the connection's budgets.
    pub budget: &'static str,
    /// How its keys meet the provider's webhooks.
    pub webhooks: &'static str,
    pub feeds: &'static [FeedRow],
}

/// One feed of a preset.
#[derive(Debug)]
pub struct FeedRow {
    pub name: &'static str,
    /// The entity each item is: keys `{entity}/{id}@{version}`, types `{entity}.updated`
    /// and `{entity}.deleted`.
    pub entity: &'static str,
    /// `{api_base}`, `{cursor}`, `{cursor_date}`, `{cursor_time}`, `{limit}` and the
    /// preset's params.
    pub url: &'static str,
    pub body: Option<&'static str>,
    pub cursor: CursorKind,
    pub format: TimeFormat,
    pub cursor_header: Option<&'static str>,
    pub resend_secs: u32,
    pub first_cursor: Option<&'static str>,
    pub items: &'static str,
    /// The items pointer may be absent when nothing changed (QuickBooks' CDC leaves an
    /// entity out of `QueryResponse` rather than sending an empty list).
    pub items_optional: bool,
    pub id: &'static str,
    pub updated: Option<&'static str>,
    pub updated_time: Option<&'static str>,
    pub version: Option<&'static str>,
    pub next_link: Option<&'static str>,
    pub next_cursor: Option<&'static str>,
    pub deletes: DeleteRow,
    pub headers: &'static [(&'static str, &'static str)],
    /// The most items a page may hold (`page_size` above it is refused).
    pub max_page: u32,
    /// The API pages at `max_page` whatever is asked.
    pub fixed_page: bool,
    pub error_pointer: Option<&'static str>,
    pub graphql_cost: bool,
    /// Read along with the feed named here (a deleted-records feed beside its records).
    pub with: Option<&'static str>,
    /// Read when the source names no feeds.
    pub default: bool,
}

#[derive(Debug, Clone, Copy)]
pub enum DeleteRow {
    None,
    Marker {
        pointer: &'static str,
        value: &'static str,
        id: Option<&'static str>,
    },
    Feed,
    /// Deletions found by comparing the list of every id with the last one (opt-in: the
    /// row is read only when named, every `key_set_every_secs`).
    KeySet,
}

impl FeedRow {
    /// What `inlet sources` says the feed keeps between runs: its cursor's kind, or the
    /// id list a key-set feed compares against.
    pub fn cursor_text(&self) -> &'static str {
        match self.deletes {
            DeleteRow::KeySet => "id list",
            _ => self.cursor.name(),
        }
    }

    /// What `inlet sources` says about the feed's deletions.
    pub fn deletes_text(&self) -> &'static str {
        match self.deletes {
            DeleteRow::None => "",
            DeleteRow::Marker { .. } => "deletions marked in the feed",
            DeleteRow::Feed => "deleted-records feed",
            DeleteRow::KeySet => "deletions by comparing id lists (opt-in)",
        }
    }
}

const ROW: FeedRow = FeedRow {
    name: "",
    entity: "",
    url: "",
    body: None,
    cursor: CursorKind::Timestamp,
    format: TimeFormat::Rfc3339,
    cursor_header: None,
    resend_secs: 0,
    first_cursor: None,
    items: "",
    items_optional: false,
    id: "/id",
    updated: None,
    updated_time: None,
    version: None,
    next_link: None,
    next_cursor: None,
    deletes: DeleteRow::None,
    headers: &[],
    max_page: 250,
    fixed_page: false,
    error_pointer: None,
    graphql_cost: false,
    with: None,
    default: false,
};

// ---- Exact Online: the sync API (row version `Timestamp`, 1,000 rows a page, `__next`)
// and its deleted-records feed (`sync/Deleted`, one `EntityType` per entity).
const EXACT: FeedRow = FeedRow {
    cursor: CursorKind::RowVersion,
    first_cursor: Some("1"),
    items: "/d/results",
    id: "/ID",
    version: Some("/Timestamp"),
    next_link: Some("/d/__next"),
    max_page: 1000,
    fixed_page: true,
    ..ROW
};
const EXACT_DELETED: FeedRow = FeedRow {
    id: "/EntityKey",
    deletes: DeleteRow::Feed,
    ..EXACT
};

// ---- Xero: `If-Modified-Since` on UpdatedDateUTC, 100 a page, the tenant header.
const XERO: FeedRow = FeedRow {
    cursor_header: Some("If-Modified-Since"),
    resend_secs: 1,
    updated: Some("/UpdatedDateUTC"),
    headers: &[("xero-tenant-id", "{tenant_id}")],
    max_page: 100,
    fixed_page: true,
    ..ROW
};

// ---- Pipedrive API v2: `updated_since` (inclusive), sorted by update_time.
const PIPEDRIVE: FeedRow = FeedRow {
    items: "/data",
    updated: Some("/update_time"),
    max_page: 500,
    ..ROW
};

// ---- HubSpot CRM search: re-anchored on the last-modified time every page.
const HUBSPOT: FeedRow = FeedRow {
    format: TimeFormat::EpochMillis,
    items: "/results",
    updated: Some("/updatedAt"),
    max_page: 200,
    ..ROW
};

// ---- Adobe Commerce REST `searchCriteria` on updated_at (gteq), ascending.
const ADOBE: FeedRow = FeedRow {
    format: TimeFormat::Sql,
    items: "/items",
    updated: Some("/updated_at"),
    ..ROW
};

/// Adobe Commerce's id list: every record's id, `fields` trimming the answer to them, page
/// by page (`currentPage`; past the last page Adobe answers the last one again, so a page
/// that adds no id ends the list).
const ADOBE_KEYS: FeedRow = FeedRow {
    updated: None,
    deletes: DeleteRow::KeySet,
    ..ADOBE
};

// ---- Dataverse change tracking: a delta link per run, deletions in the same feed.
const DATAVERSE: FeedRow = FeedRow {
    cursor: CursorKind::DeltaLink,
    items: "/value",
    updated: Some("/modifiedon"),
    version: Some("/versionnumber"),
    next_link: Some("/@odata.nextLink"),
    next_cursor: Some("/@odata.deltaLink"),
    deletes: DeleteRow::Marker {
        pointer: "/reason",
        value: "deleted",
        id: Some("/id"),
    },
    headers: &[("Prefer", "odata.track-changes,odata.maxpagesize={limit}")],
    max_page: 5000,
    ..ROW
};

// ---- SAP Business One Service Layer: UpdateDate + UpdateTime, `odata.nextLink` paging.
const SAP_B1: FeedRow = FeedRow {
    items: "/value",
    id: "/DocEntry",
    updated: Some("/UpdateDate"),
    updated_time: Some("/UpdateTime"),
    next_link: Some("/odata.nextLink"),
    headers: &[("Prefer", "odata.maxpagesize={limit}")],
    ..ROW
};

/// SAP Business One's id list: `$select` of the key alone, `odata.nextLink` paging.
const SAP_B1_KEYS: FeedRow = FeedRow {
    updated: None,
    updated_time: None,
    deletes: DeleteRow::KeySet,
    ..SAP_B1
};

// ---- QuickBooks Online change data capture: up to 1,000 objects, deletions by status.
const QBO: FeedRow = FeedRow {
    items_optional: true,
    id: "/Id",
    updated: Some("/MetaData/LastUpdatedTime"),
    version: Some("/SyncToken"),
    deletes: DeleteRow::Marker {
        pointer: "/status",
        value: "Deleted",
        id: None,
    },
    max_page: 1000,
    fixed_page: true,
    ..ROW
};

// ---- WooCommerce REST: `modified_after` (exclusive), GMT dates, 100 a page at most.
const WOO: FeedRow = FeedRow {
    format: TimeFormat::Naive,
    resend_secs: 1,
    updated: Some("/date_modified_gmt"),
    max_page: 100,
    ..ROW
};

// ---- Shopify GraphQL Admin API: search on updated_at, cost-based throttling.
const SHOPIFY_GQL: FeedRow = FeedRow {
    id: "/legacyResourceId",
    updated: Some("/updatedAt"),
    error_pointer: Some("/errors"),
    graphql_cost: true,
    ..ROW
};

pub static PRESETS: &[SourcePreset] = &[
    SourcePreset {
        name: "exact-online",
        title: "Exact Online (sync API)",
        doc: "https://start.exactonline.nl/docs/HlpRestAPIResources.aspx (Sync and Deleted resources); https://support.exactonline.com/community/s/knowledge-base#All-All-DNO-Simulation-gen-apilimits",
        api_base: Some("https://start.exactonline.nl"),
        api_base_hint: "the country's host, e.g. https://start.exactonline.nl",
        params: &[("division", None)],
        auth: "connection (oauth2-refresh: Exact's refresh tokens rotate)",
        budget: "60 calls a minute and 5,000 a day per division (API limits page); sync pages hold up to 1,000 rows",
        webhooks: "Exact's webhooks only name the record (fetch it): poll keys are {entity}/{ID}@{Timestamp}",
        feeds: &[
            FeedRow {
                name: "accounts",
                entity: "account",
                url: "{api_base}/api/v1/{division}/sync/CRM/Accounts?$select=ID,Timestamp,Code,Name,Email,Status,Modified&$filter=Timestamp%20gt%20{cursor}",
                default: true,
                ..EXACT
            },
            FeedRow {
                name: "accounts-deleted",
                entity: "account",
                url: "{api_base}/api/v1/{division}/sync/Deleted?$select=ID,Timestamp,EntityKey,EntityType,DeletedDate&$filter=Timestamp%20gt%20{cursor}%20and%20EntityType%20eq%202",
                with: Some("accounts"),
                ..EXACT_DELETED
            },
            FeedRow {
                name: "contacts",
                entity: "contact",
                url: "{api_base}/api/v1/{division}/sync/CRM/Contacts?$select=ID,Timestamp,Account,FirstName,LastName,Email,Modified&$filter=Timestamp%20gt%20{cursor}",
                ..EXACT
            },
            FeedRow {
                name: "contacts-deleted",
                entity: "contact",
                url: "{api_base}/api/v1/{division}/sync/Deleted?$select=ID,Timestamp,EntityKey,EntityType,DeletedDate&$filter=Timestamp%20gt%20{cursor}%20and%20EntityType%20eq%205",
                with: Some("contacts"),
                ..EXACT_DELETED
            },
            FeedRow {
                name: "items",
                entity: "item",
                url: "{api_base}/api/v1/{division}/sync/Logistics/Items?$select=ID,Timestamp,Code,Description,Modified&$filter=Timestamp%20gt%20{cursor}",
                ..EXACT
            },
            FeedRow {
                name: "items-deleted",
                entity: "item",
                url: "{api_base}/api/v1/{division}/sync/Deleted?$select=ID,Timestamp,EntityKey,EntityType,DeletedDate&$filter=Timestamp%20gt%20{cursor}%20and%20EntityType%20eq%209",
                with: Some("items"),
                ..EXACT_DELETED
            },
            FeedRow {
                name: "sales-invoice-lines",
                entity: "sales-invoice-line",
                url: "{api_base}/api/v1/{division}/sync/SalesInvoice/SalesInvoices?$select=ID,Timestamp,InvoiceID,InvoiceNumber,Item,AmountDC,Modified&$filter=Timestamp%20gt%20{cursor}",
                ..EXACT
            },
        ],
    },
    SourcePreset {
        name: "xero",
        title: "Xero Accounting API",
        doc: "https://developer.xero.com/documentation/api/accounting/requests-and-responses ; https://developer.xero.com/documentation/guides/oauth2/limits/",
        api_base: Some("https://api.xero.com"),
        api_base_hint: "https://api.xero.com",
        params: &[("tenant_id", None)],
        auth: "connection (oauth2-refresh: Xero's refresh tokens rotate and expire after 60 days unused)",
        budget: "60 calls a minute and 5,000 a day per tenant, 5 at once (OAuth 2.0 limits page); 100 records a page",
        webhooks: "Xero's webhooks name the resource and event time only: poll keys are {entity}/{id}@{UpdatedDateUTC as Unix seconds}",
        feeds: &[
            FeedRow {
                name: "invoices",
                entity: "invoice",
                url: "{api_base}/api.xro/2.0/Invoices?order=UpdatedDateUTC%20ASC&page=1",
                items: "/Invoices",
                id: "/InvoiceID",
                deletes: DeleteRow::Marker {
                    pointer: "/Status",
                    value: "DELETED",
                    id: None,
                },
                default: true,
                ..XERO
            },
            FeedRow {
                name: "contacts",
                entity: "contact",
                url: "{api_base}/api.xro/2.0/Contacts?order=UpdatedDateUTC%20ASC&page=1",
                items: "/Contacts",
                id: "/ContactID",
                ..XERO
            },
            FeedRow {
                name: "payments",
                entity: "payment",
                url: "{api_base}/api.xro/2.0/Payments?order=UpdatedDateUTC%20ASC&page=1",
                items: "/Payments",
                id: "/PaymentID",
                deletes: DeleteRow::Marker {
                    pointer: "/Status",
                    value: "DELETED",
                    id: None,
                },
                ..XERO
            },
        ],
    },
    SourcePreset {
        name: "pipedrive",
        title: "Pipedrive API v2",
        doc: "https://developers.pipedrive.com/docs/api/v1/Deals#getDeals (v2 list, updated_since, limit up to 500) ; https://pipedrive.readme.io/docs/core-api-concepts-rate-limiting",
        api_base: Some("https://api.pipedrive.com"),
        api_base_hint: "https://{company}.pipedrive.com, or the api_domain of the OAuth token",
        params: &[],
        auth: "connection (oauth2-refresh) or api-key (x-api-token)",
        budget: "a daily token budget per company and 2-second burst limits per user (rate limiting page); up to 500 records a page",
        webhooks: "Pipedrive's webhooks (v1 and v2) carry the record and its update_time: the pipedrive webhook preset keys them as this source does, {entity}/{id}@{update_time as Unix seconds} and {entity}/{id}@deleted, so a late webhook is a duplicate",
        feeds: &[
            FeedRow {
                name: "deals",
                entity: "deal",
                url: "{api_base}/api/v2/deals?updated_since={cursor}&sort_by=update_time&sort_direction=asc&limit={limit}",
                default: true,
                ..PIPEDRIVE
            },
            FeedRow {
                name: "deals-deleted",
                entity: "deal",
                url: "{api_base}/api/v2/deals?status=deleted&updated_since={cursor}&sort_by=update_time&sort_direction=asc&limit={limit}",
                deletes: DeleteRow::Feed,
                with: Some("deals"),
                ..PIPEDRIVE
            },
            FeedRow {
                name: "persons",
                entity: "person",
                url: "{api_base}/api/v2/persons?updated_since={cursor}&sort_by=update_time&sort_direction=asc&limit={limit}",
                ..PIPEDRIVE
            },
            FeedRow {
                name: "organizations",
                entity: "organization",
                url: "{api_base}/api/v2/organizations?updated_since={cursor}&sort_by=update_time&sort_direction=asc&limit={limit}",
                ..PIPEDRIVE
            },
            FeedRow {
                name: "activities",
                entity: "activity",
                url: "{api_base}/api/v2/activities?updated_since={cursor}&sort_by=update_time&sort_direction=asc&limit={limit}",
                ..PIPEDRIVE
            },
        ],
    },
    SourcePreset {
        name: "hubspot",
        title: "HubSpot CRM (search API)",
        doc: "https://developers.hubspot.com/docs/api-reference/search/guide (200 a page, 10,000 results a query, search requests per second) ; https://developers.hubspot.com/docs/developer-tooling/platform/usage-guidelines",
        api_base: Some("https://api.hubapi.com"),
        api_base_hint: "https://api.hubapi.com",
        params: &[],
        auth: "connection (oauth2-refresh) or bearer (a private app token)",
        budget: "search: a few requests a second per account and 200 results a page, 10,000 a query (search guide); the account's 10-second and daily limits (usage guidelines)",
        webhooks: "HubSpot's webhooks name the object and occurredAt only: poll keys are {entity}/{id}@{updatedAt as Unix seconds}",
        feeds: &[
            FeedRow {
                name: "contacts",
                entity: "contact",
                url: "{api_base}/crm/v3/objects/contacts/search",
                body: Some(r#"{"filterGroups":[{"filters":[{"propertyName":"lastmodifieddate","operator":"GTE","value":"{cursor}"}]}],"sorts":[{"propertyName":"lastmodifieddate","direction":"ASCENDING"}],"limit":{limit}}"#),
                default: true,
                ..HUBSPOT
            },
            FeedRow {
                name: "companies",
                entity: "company",
                url: "{api_base}/crm/v3/objects/companies/search",
                body: Some(r#"{"filterGroups":[{"filters":[{"propertyName":"hs_lastmodifieddate","operator":"GTE","value":"{cursor}"}]}],"sorts":[{"propertyName":"hs_lastmodifieddate","direction":"ASCENDING"}],"limit":{limit}}"#),
                ..HUBSPOT
            },
            FeedRow {
                name: "deals",
                entity: "deal",
                url: "{api_base}/crm/v3/objects/deals/search",
                body: Some(r#"{"filterGroups":[{"filters":[{"propertyName":"hs_lastmodifieddate","operator":"GTE","value":"{cursor}"}]}],"sorts":[{"propertyName":"hs_lastmodifieddate","direction":"ASCENDING"}],"limit":{limit}}"#),
                ..HUBSPOT
            },
            FeedRow {
                name: "tickets",
                entity: "ticket",
                url: "{api_base}/crm/v3/objects/tickets/search",
                body: Some(r#"{"filterGroups":[{"filters":[{"propertyName":"hs_lastmodifieddate","operator":"GTE","value":"{cursor}"}]}],"sorts":[{"propertyName":"hs_lastmodifieddate","direction":"ASCENDING"}],"limit":{limit}}"#),
                ..HUBSPOT
            },
        ],
    },
    SourcePreset {
        name: "adobe-commerce",
        title: "Adobe Commerce / Magento REST",
        doc: "https://developer.adobe.com/commerce/webapi/rest/use-rest/performing-searches/ ; https://developer.adobe.com/commerce/webapi/get-started/rate-limiting/",
        api_base: None,
        api_base_hint: "the store's base URL, e.g. https://shop.example.com",
        params: &[],
        auth: "connection (oauth1: an integration's consumer and access tokens) or bearer",
        budget: "none by default; rate limiting is the store's own configuration (rate limiting page)",
        webhooks: "Adobe Commerce webhooks are synchronous hooks whose fields each hook chooses, so they share no key with the poll: poll keys are {entity}/{id}@{updated_at as Unix seconds}",
        feeds: &[
            FeedRow {
                name: "orders",
                entity: "order",
                url: "{api_base}/rest/V1/orders?searchCriteria[filter_groups][0][filters][0][field]=updated_at&searchCriteria[filter_groups][0][filters][0][value]={cursor}&searchCriteria[filter_groups][0][filters][0][condition_type]=gteq&searchCriteria[sortOrders][0][field]=updated_at&searchCriteria[sortOrders][0][direction]=ASC&searchCriteria[pageSize]={limit}&searchCriteria[currentPage]=1",
                id: "/entity_id",
                default: true,
                ..ADOBE
            },
            FeedRow {
                name: "products",
                entity: "product",
                url: "{api_base}/rest/V1/products?searchCriteria[filter_groups][0][filters][0][field]=updated_at&searchCriteria[filter_groups][0][filters][0][value]={cursor}&searchCriteria[filter_groups][0][filters][0][condition_type]=gteq&searchCriteria[sortOrders][0][field]=updated_at&searchCriteria[sortOrders][0][direction]=ASC&searchCriteria[pageSize]={limit}&searchCriteria[currentPage]=1",
                ..ADOBE
            },
            FeedRow {
                name: "customers",
                entity: "customer",
                url: "{api_base}/rest/V1/customers/search?searchCriteria[filter_groups][0][filters][0][field]=updated_at&searchCriteria[filter_groups][0][filters][0][value]={cursor}&searchCriteria[filter_groups][0][filters][0][condition_type]=gteq&searchCriteria[sortOrders][0][field]=updated_at&searchCriteria[sortOrders][0][direction]=ASC&searchCriteria[pageSize]={limit}&searchCriteria[currentPage]=1",
                ..ADOBE
            },
            FeedRow {
                name: "orders-vanished",
                entity: "order",
                url: "{api_base}/rest/V1/orders?searchCriteria[sortOrders][0][field]=entity_id&searchCriteria[sortOrders][0][direction]=ASC&searchCriteria[pageSize]={limit}&searchCriteria[currentPage]={page}&fields=items[entity_id],total_count",
                id: "/entity_id",
                ..ADOBE_KEYS
            },
            FeedRow {
                name: "products-vanished",
                entity: "product",
                url: "{api_base}/rest/V1/products?searchCriteria[sortOrders][0][field]=entity_id&searchCriteria[sortOrders][0][direction]=ASC&searchCriteria[pageSize]={limit}&searchCriteria[currentPage]={page}&fields=items[id],total_count",
                ..ADOBE_KEYS
            },
            FeedRow {
                name: "customers-vanished",
                entity: "customer",
                url: "{api_base}/rest/V1/customers/search?searchCriteria[sortOrders][0][field]=entity_id&searchCriteria[sortOrders][0][direction]=ASC&searchCriteria[pageSize]={limit}&searchCriteria[currentPage]={page}&fields=items[id],total_count",
                ..ADOBE_KEYS
            },
        ],
    },
    SourcePreset {
        name: "dynamics-365",
        title: "Dynamics 365 / Dataverse (change tracking)",
        doc: "https://learn.microsoft.com/en-us/power-apps/developer/data-platform/webapi/use-change-tracking-synchronize-data-external-systems ; https://learn.microsoft.com/en-us/power-apps/developer/data-platform/api-limits",
        api_base: None,
        api_base_hint: "the environment URL, e.g. https://contoso.crm4.dynamics.com",
        params: &[],
        auth: "connection (oauth2-refresh, or client credentials through auth = \"oauth2\")",
        budget: "6,000 requests per user per 5-minute sliding window, 52 at once (service protection limits); change tracking must be enabled on each table",
        webhooks: "Dataverse web hooks name the row: poll keys are {entity}/{id}@{versionnumber}",
        feeds: &[
            FeedRow {
                name: "accounts",
                entity: "account",
                url: "{api_base}/api/data/v9.2/accounts?$select=name,accountnumber,emailaddress1,modifiedon,versionnumber",
                id: "/accountid",
                default: true,
                ..DATAVERSE
            },
            FeedRow {
                name: "contacts",
                entity: "contact",
                url: "{api_base}/api/data/v9.2/contacts?$select=fullname,emailaddress1,modifiedon,versionnumber",
                id: "/contactid",
                ..DATAVERSE
            },
        ],
    },
    SourcePreset {
        name: "sap-business-one",
        title: "SAP Business One Service Layer",
        doc: "https://help.sap.com/doc/056f69366b5345a386bb8149f1700c19/10.0/en-US/Service%20Layer%20API%20Reference.html ; SAP Business One Service Layer user manual (paging: odata.maxpagesize, nextLink; session: SessionTimeout)",
        api_base: None,
        api_base_hint: "the Service Layer, e.g. https://b1.example.com:50000",
        params: &[],
        auth: "connection (session: the Service Layer login)",
        budget: "none published; 20 records a page unless odata.maxpagesize asks for more; a session lasts SessionTimeout minutes (30 by default)",
        webhooks: "SAP Business One has no webhooks: the poll is the only signal",
        feeds: &[
            FeedRow {
                name: "orders",
                entity: "order",
                url: "{api_base}/b1s/v1/Orders?$select=DocEntry,DocNum,CardCode,DocTotal,UpdateDate,UpdateTime&$filter=UpdateDate%20gt%20'{cursor_date}'%20or%20(UpdateDate%20eq%20'{cursor_date}'%20and%20UpdateTime%20ge%20'{cursor_time}')&$orderby=UpdateDate,UpdateTime,DocEntry",
                default: true,
                ..SAP_B1
            },
            FeedRow {
                name: "invoices",
                entity: "invoice",
                url: "{api_base}/b1s/v1/Invoices?$select=DocEntry,DocNum,CardCode,DocTotal,UpdateDate,UpdateTime&$filter=UpdateDate%20gt%20'{cursor_date}'%20or%20(UpdateDate%20eq%20'{cursor_date}'%20and%20UpdateTime%20ge%20'{cursor_time}')&$orderby=UpdateDate,UpdateTime,DocEntry",
                ..SAP_B1
            },
            FeedRow {
                name: "business-partners",
                entity: "business-partner",
                url: "{api_base}/b1s/v1/BusinessPartners?$select=CardCode,CardName,UpdateDate,UpdateTime&$filter=UpdateDate%20gt%20'{cursor_date}'%20or%20(UpdateDate%20eq%20'{cursor_date}'%20and%20UpdateTime%20ge%20'{cursor_time}')&$orderby=UpdateDate,UpdateTime,CardCode",
                id: "/CardCode",
                ..SAP_B1
            },
            FeedRow {
                name: "orders-vanished",
                entity: "order",
                url: "{api_base}/b1s/v1/Orders?$select=DocEntry&$orderby=DocEntry",
                ..SAP_B1_KEYS
            },
            FeedRow {
                name: "invoices-vanished",
                entity: "invoice",
                url: "{api_base}/b1s/v1/Invoices?$select=DocEntry&$orderby=DocEntry",
                ..SAP_B1_KEYS
            },
            FeedRow {
                name: "business-partners-vanished",
                entity: "business-partner",
                url: "{api_base}/b1s/v1/BusinessPartners?$select=CardCode&$orderby=CardCode",
                id: "/CardCode",
                ..SAP_B1_KEYS
            },
        ],
    },
    SourcePreset {
        name: "quickbooks",
        title: "QuickBooks Online (change data capture)",
        doc: "https://developer.intuit.com/app/developer/qbo/docs/learn/explore-the-quickbooks-online-api/change-data-capture (30 days back, 1,000 objects a response, status Deleted) ; https://developer.intuit.com/app/developer/qbo/docs/learn/rest-api-features#limits-and-throttles",
        api_base: Some("https://quickbooks.api.intuit.com"),
        api_base_hint: "https://quickbooks.api.intuit.com (sandbox: https://sandbox-quickbooks.api.intuit.com)",
        params: &[("realm_id", None)],
        auth: "connection (oauth2-refresh: Intuit's refresh tokens rotate)",
        budget: "500 requests a minute per company, 10 at once (limits and throttles); CDC looks back 30 days at most, so lookback_secs stays under 2,592,000",
        webhooks: "QuickBooks' webhooks name the entity and lastUpdated: poll keys are {entity}/{Id}@{SyncToken}",
        feeds: &[
            FeedRow {
                name: "invoices",
                entity: "invoice",
                url: "{api_base}/v3/company/{realm_id}/cdc?entities=Invoice&changedSince={cursor}",
                items: "/CDCResponse/0/QueryResponse/0/Invoice",
                default: true,
                ..QBO
            },
            FeedRow {
                name: "customers",
                entity: "customer",
                url: "{api_base}/v3/company/{realm_id}/cdc?entities=Customer&changedSince={cursor}",
                items: "/CDCResponse/0/QueryResponse/0/Customer",
                ..QBO
            },
            FeedRow {
                name: "payments",
                entity: "payment",
                url: "{api_base}/v3/company/{realm_id}/cdc?entities=Payment&changedSince={cursor}",
                items: "/CDCResponse/0/QueryResponse/0/Payment",
                ..QBO
            },
        ],
    },
    SourcePreset {
        name: "woocommerce",
        title: "WooCommerce REST API",
        doc: "https://woocommerce.github.io/woocommerce-rest-api-docs/#list-all-orders (modified_after, dates_are_gmt, per_page up to 100)",
        api_base: None,
        api_base_hint: "the store, e.g. https://shop.example.com",
        params: &[],
        auth: "basic (consumer key as username, consumer secret as api_key) over HTTPS",
        budget: "none by default (the store's own hosting limits); 100 records a page",
        webhooks: "WooCommerce webhooks carry the record: the woocommerce webhook preset keys them as this source does, {entity}/{id}@{date_modified_gmt as Unix seconds} and {entity}/{id}@deleted, so a late webhook is a duplicate",
        feeds: &[
            FeedRow {
                name: "orders",
                entity: "order",
                url: "{api_base}/wp-json/wc/v3/orders?modified_after={cursor}&dates_are_gmt=true&orderby=modified&order=asc&per_page={limit}",
                default: true,
                ..WOO
            },
            FeedRow {
                name: "orders-trashed",
                entity: "order",
                url: "{api_base}/wp-json/wc/v3/orders?status=trash&modified_after={cursor}&dates_are_gmt=true&orderby=modified&order=asc&per_page={limit}",
                deletes: DeleteRow::Feed,
                with: Some("orders"),
                ..WOO
            },
            FeedRow {
                name: "products",
                entity: "product",
                url: "{api_base}/wp-json/wc/v3/products?modified_after={cursor}&dates_are_gmt=true&orderby=modified&order=asc&per_page={limit}",
                ..WOO
            },
        ],
    },
    SourcePreset {
        name: "shopify-graphql",
        title: "Shopify GraphQL Admin API",
        doc: "https://shopify.dev/docs/api/usage/rate-limits (cost-based: bucket and restore rate per app and store) ; https://shopify.dev/docs/api/usage/search-syntax ; https://shopify.dev/docs/api/admin-graphql/latest/queries/orders",
        api_base: None,
        api_base_hint: "https://{shop}.myshopify.com",
        params: &[("api_version", Some("2025-01"))],
        auth: "api-key with api_key_header = \"X-Shopify-Access-Token\"",
        budget: "a cost bucket (100 points on standard plans, 50 restored a second; each query's cost in extensions.cost); up to 250 nodes a page",
        webhooks: "keys {resource}/{id}@{updated_at as Unix seconds}: the same as Shopify's webhooks and the REST source, so a late webhook is a duplicate",
        feeds: &[
            FeedRow {
                name: "orders",
                entity: "orders",
                url: "{api_base}/admin/api/{api_version}/graphql.json",
                body: Some(r#"{"query":"{ orders(first: {limit}, sortKey: UPDATED_AT, query: \"updated_at:>='{cursor}'\") { nodes { legacyResourceId updatedAt name displayFinancialStatus displayFulfillmentStatus } } }"}"#),
                items: "/data/orders/nodes",
                default: true,
                ..SHOPIFY_GQL
            },
            FeedRow {
                name: "products",
                entity: "products",
                url: "{api_base}/admin/api/{api_version}/graphql.json",
                body: Some(r#"{"query":"{ products(first: {limit}, sortKey: UPDATED_AT, query: \"updated_at:>='{cursor}'\") { nodes { legacyResourceId updatedAt title status } } }"}"#),
                items: "/data/products/nodes",
                ..SHOPIFY_GQL
            },
            FeedRow {
                name: "customers",
                entity: "customers",
                url: "{api_base}/admin/api/{api_version}/graphql.json",
                body: Some(r#"{"query":"{ customers(first: {limit}, sortKey: UPDATED_AT, query: \"updated_at:>='{cursor}'\") { nodes { legacyResourceId updatedAt displayName } } }"}"#),
                items: "/data/customers/nodes",
                ..SHOPIFY_GQL
            },
        ],
    },
];

/// The preset named `name`.
pub fn find(name: &str) -> Option<&'static SourcePreset> {
    PRESETS.iter().find(|p| p.name == name)
}

/// A param value: what goes into URLs and headers unescaped, so it is held to the
/// characters ids and versions use.
fn is_param_value(v: &str) -> bool {
    !v.is_empty()
        && v.len() <= 128
        && v.chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
}

/// The source kind a preset and its `[[sources]]` entry make, or `None` with the problems
/// reported through `bad`.
pub(crate) fn build(
    preset: &'static SourcePreset,
    raw: &RawSource,
    api_base: &str,
    env: &dyn Fn(&str) -> Option<String>,
    bad: &mut dyn FnMut(&str, String),
) -> Option<SourceKind> {
    // The generic source's settings are the preset's to make.
    for (field, set) in [
        ("url", raw.url.is_some()),
        ("cursor", raw.cursor.is_some()),
        ("items_pointer", raw.items_pointer.is_some()),
        ("id_pointer", raw.id_pointer.is_some()),
        ("type_pointer", raw.type_pointer.is_some()),
        ("updated_at_pointer", raw.updated_at_pointer.is_some()),
        ("entity_pointer", raw.entity_pointer.is_some()),
        ("next_cursor_pointer", raw.next_cursor_pointer.is_some()),
        ("items", raw.items.is_some()),
        ("version_pointer", raw.version_pointer.is_some()),
        ("first_cursor", raw.first_cursor.is_some()),
        ("next_link_pointer", raw.next_link_pointer.is_some()),
        ("first_page", raw.first_page.is_some()),
        ("cursor_header", raw.cursor_header.is_some()),
        ("body", raw.body.is_some()),
        ("cursor_format", raw.cursor_format.is_some()),
        ("entity", raw.entity.is_some()),
        ("deleted_pointer", raw.deleted_pointer.is_some()),
        ("deleted_value", raw.deleted_value.is_some()),
        ("error_pointer", raw.error_pointer.is_some()),
        ("resources", raw.resources.is_some()),
        ("api_version", raw.api_version.is_some()),
    ] {
        if set {
            bad(
                field,
                format!(
                    "does not apply to kind = {:?}: the preset sets it (use http-json to set it yourself)",
                    preset.name
                ),
            );
        }
    }
    if api_base.is_empty() {
        bad(
            "api_base",
            format!("is required for {}: {}", preset.name, preset.api_base_hint),
        );
    }
    let mut params: Vec<(String, String)> = Vec::new();
    let given = raw.params.clone().unwrap_or_default();
    for name in given.keys() {
        if !preset.params.iter().any(|(p, _)| p == name) {
            let known: Vec<&str> = preset.params.iter().map(|(p, _)| *p).collect();
            bad(
                &format!("params.{name}"),
                format!(
                    "{} takes no param {name:?} (it takes: {})",
                    preset.name,
                    if known.is_empty() {
                        "none".to_string()
                    } else {
                        known.join(", ")
                    }
                ),
            );
        }
    }
    for (name, default) in preset.params {
        match given.get(*name).map(String::as_str).or(*default) {
            Some(v) if is_param_value(v) => params.push((name.to_string(), v.to_string())),
            Some(v) => bad(
                &format!("params.{name}"),
                format!("{v:?} must be 1-128 letters, digits, '-', '_' or '.'"),
            ),
            None => bad(
                &format!("params.{name}"),
                format!("is required for {}", preset.name),
            ),
        }
    }
    let page_size = raw.page_size.unwrap_or(100);
    let chosen: Vec<&str> = match &raw.feeds {
        Some(names) => {
            let mut seen = std::collections::HashSet::new();
            for n in names {
                if !seen.insert(n.as_str()) {
                    bad("feeds", format!("{n:?} is listed twice"));
                }
                if !preset.feeds.iter().any(|f| f.name == n) {
                    let known: Vec<&str> = preset.feeds.iter().map(|f| f.name).collect();
                    bad(
                        "feeds",
                        format!(
                            "{} has no feed {n:?} (it has: {})",
                            preset.name,
                            known.join(", ")
                        ),
                    );
                }
            }
            if names.is_empty() {
                bad(
                    "feeds",
                    "names no feed (leave it out for the defaults)".into(),
                );
            }
            names.iter().map(String::as_str).collect()
        }
        None => preset
            .feeds
            .iter()
            .filter(|f| f.default)
            .map(|f| f.name)
            .collect(),
    };
    // A chosen feed brings its deleted-records companion.
    let rows: Vec<&FeedRow> = preset
        .feeds
        .iter()
        .filter(|f| chosen.contains(&f.name) || f.with.is_some_and(|w| chosen.contains(&w)))
        .collect();
    if raw.key_set_every_secs.is_some()
        && !rows.iter().any(|r| matches!(r.deletes, DeleteRow::KeySet))
    {
        bad(
            "key_set_every_secs",
            "applies only with a key-set feed in feeds (e.g. \"orders-vanished\")".into(),
        );
    }
    for row in &rows {
        if !row.fixed_page && page_size > row.max_page {
            bad(
                "page_size",
                format!(
                    "{} reads at most {} records a page ({})",
                    row.name, row.max_page, preset.doc
                ),
            );
        }
    }
    let auth = build_auth(raw, env, bad)?;
    if matches!(auth, AuthConfig::None) {
        bad(
            "auth",
            format!("{} needs credentials: {}", preset.name, preset.auth),
        );
        return None;
    }
    let fill = |template: &str| {
        let mut text = template.to_string();
        for (name, value) in &params {
            text = text.replace(&format!("{{{name}}}"), value);
        }
        text
    };
    let feeds = rows
        .into_iter()
        .map(|row| PresetFeed {
            name: row.name.to_string(),
            spec: HttpJsonSpec {
                url: fill(row.url),
                cursor: row.cursor,
                items_pointer: row.items.to_string(),
                id_pointer: row.id.to_string(),
                type_pointer: None,
                updated_at_pointer: row.updated.map(str::to_string),
                entity_pointer: None,
                next_cursor_pointer: row.next_cursor.map(str::to_string),
                items: ItemKind::Records,
                version_pointer: row.version.map(str::to_string),
                first_cursor: row.first_cursor.map(str::to_string),
                paging: match row.next_link {
                    Some(p) => Paging::NextLink(p.to_string()),
                    None => Paging::Cursor,
                },
                headers: row
                    .headers
                    .iter()
                    .map(|(k, v)| {
                        (
                            k.to_string(),
                            crate::secret::Secret::new(
                                fill(v).replace("{limit}", &page_size.to_string()),
                            ),
                        )
                    })
                    .collect(),
                cursor_header: row.cursor_header.map(str::to_string),
                auth: auth.clone(),
                body: row.body.map(&fill),
                cursor_format: row.format,
                resend_secs: row.resend_secs,
                deletes: match row.deletes {
                    DeleteRow::None => Deletes::None,
                    DeleteRow::Marker { pointer, value, id } => Deletes::Marker {
                        pointer: pointer.to_string(),
                        value: value.to_string(),
                        id_pointer: id.map(str::to_string),
                    },
                    DeleteRow::Feed => Deletes::Feed,
                    DeleteRow::KeySet => Deletes::KeySet {
                        every_secs: raw.key_set_every_secs.unwrap_or(86_400),
                    },
                },
                entity: Some(row.entity.to_string()),
                error_pointer: row.error_pointer.map(str::to_string),
                updated_time_pointer: row.updated_time.map(str::to_string),
                fixed_page: row.fixed_page.then_some(row.max_page),
                graphql_cost: row.graphql_cost,
                items_optional: row.items_optional,
            },
        })
        .collect();
    Some(SourceKind::Preset { preset, feeds })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_preset_row_is_well_formed() {
        let mut names = std::collections::HashSet::new();
        for p in PRESETS {
            assert!(names.insert(p.name), "{} twice", p.name);
            assert!(
                p.feeds.iter().any(|f| f.default),
                "{} has no default",
                p.name
            );
            assert!(p.doc.starts_with("https://"), "{} cites no page", p.name);
            for f in p.feeds {
                assert!(
                    crate::source_config::is_entity_name(f.entity),
                    "{}:{}",
                    p.name,
                    f.name
                );
                // The cursor reaches the API: in the URL, the body, a header or the link
                // (an id list has none: it reads everything each time).
                let sends = matches!(f.deletes, DeleteRow::KeySet)
                    || f.url.contains("{cursor")
                    || f.body.is_some_and(|b| b.contains("{cursor}"))
                    || f.cursor_header.is_some()
                    || f.cursor == CursorKind::DeltaLink;
                assert!(sends, "{}:{} never sends its cursor", p.name, f.name);
                if let Some(w) = f.with {
                    assert!(p.feeds.iter().any(|o| o.name == w), "{}:{}", p.name, f.name);
                }
                // Every placeholder left after the params is one the source fills in.
                let mut text = f.url.to_string() + f.body.unwrap_or_default();
                for (name, _) in p.params {
                    text = text.replace(&format!("{{{name}}}"), "");
                }
                for known in [
                    "{api_base}",
                    "{cursor}",
                    "{cursor_date}",
                    "{cursor_time}",
                    "{limit}",
                    "{page}",
                ] {
                    text = text.replace(known, "");
                }
                assert!(
                    !text.contains("{api")
                        && !text.contains("{division")
                        && !text.contains("{realm"),
                    "{}:{} leaves a placeholder: {text}",
                    p.name,
                    f.name
                );
            }
        }
        assert!(PRESETS.len() >= 10);
    }
}
