//! `[[sources]]`: the provider APIs the reconciliation poll reads. Data only — the HTTP
//! clients live in `inlet-sources`.

use std::time::Duration;

use serde::Deserialize;

use crate::config::ProviderConfig;
use crate::ids::ProviderName;
use crate::normalize::NormalizeRules;
use crate::secret::{self, Secret};
use crate::signature::Scheme;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawSource {
    pub name: String,
    pub provider: String,
    pub kind: String,
    pub api_base: Option<String>,
    /// Stripe secret key, GitHub token, Shopify access token, or the http-json credential.
    pub api_key: Option<String>,
    pub interval_secs: Option<u64>,
    pub settle_secs: Option<u64>,
    pub lookback_secs: Option<u64>,
    pub overlap_secs: Option<u64>,
    pub page_size: Option<u32>,
    pub max_pages: Option<usize>,
    pub run_timeout_secs: Option<u64>,
    pub request_timeout_secs: Option<u64>,
    pub max_attempts: Option<u32>,
    /// Report the source silent after this many consecutive runs that read nothing.
    pub alert_after_empty_runs: Option<u32>,
    // github-deliveries
    pub owner: Option<String>,
    pub repo: Option<String>,
    pub org: Option<String>,
    pub hook_id: Option<u64>,
    // shopify
    pub resources: Option<Vec<String>>,
    pub api_version: Option<String>,
    // http-json
    pub url: Option<String>,
    pub cursor: Option<String>,
    pub items_pointer: Option<String>,
    pub id_pointer: Option<String>,
    pub type_pointer: Option<String>,
    pub updated_at_pointer: Option<String>,
    pub entity_pointer: Option<String>,
    pub next_cursor_pointer: Option<String>,
    /// `events` (the default: each item is an event, keyed by its id) or `records` (each
    /// item is a record's current state, keyed `{id}@{version}`).
    pub items: Option<String>,
    /// The item's version (an updated-at time, a row version, an ETag field): the record
    /// key's version, and the `row-version` cursor.
    pub version_pointer: Option<String>,
    /// The cursor a first run sends (`token` and `row-version` cursors).
    pub first_cursor: Option<String>,
    /// Paging by the next link the response gives (OData `@odata.nextLink`, `__next`).
    pub next_link_pointer: Option<String>,
    /// The page number `{page}` starts at (page-number paging).
    pub first_page: Option<u32>,
    /// Request headers every call sends (a tenant id); values may be `env:`/`file:` secrets.
    pub headers: Option<std::collections::BTreeMap<String, String>>,
    /// Send the timestamp cursor in this header (`If-Modified-Since`, as an HTTP date)
    /// instead of the URL.
    pub cursor_header: Option<String>,
    pub auth: Option<String>,
    /// With `auth = "connection"`: the `[[connections]]` entry whose tokens and budget the
    /// source uses.
    pub connection: Option<String>,
    pub username: Option<String>,
    pub api_key_header: Option<String>,
    pub token_url: Option<String>,
    pub client_id: Option<String>,
    pub scope: Option<String>,
    /// POST this JSON body instead of a GET (placeholders as in `url`, JSON-escaped):
    /// search and GraphQL APIs.
    pub body: Option<String>,
    /// How `{cursor}` is written for a timestamp cursor: `rfc3339` (the default),
    /// `epoch-ms`, `sql` (`2024-01-15 14:30:00`, UTC) or `naive` (`2024-01-15T14:30:00`, UTC).
    pub cursor_format: Option<String>,
    /// The entity each item is (`invoice`): keys become `{entity}/{id}@{version}` and
    /// event types `{entity}.updated` / `{entity}.deleted`.
    pub entity: Option<String>,
    /// An item whose value at this pointer is `deleted_value` is a deletion: delivered as
    /// `{entity}.deleted` with a key of its own.
    pub deleted_pointer: Option<String>,
    pub deleted_value: Option<String>,
    /// A 200 whose body has a non-empty value here is an error (GraphQL's `/errors`).
    pub error_pointer: Option<String>,
    /// Source presets: the feeds to read (each preset has defaults).
    pub feeds: Option<Vec<String>>,
    /// Source presets: the values their URLs name (`division`, `tenant_id`, `realm_id`).
    pub params: Option<std::collections::BTreeMap<String, String>>,
    /// Source presets with a key-set feed (`orders-vanished`): how often the whole list of
    /// ids is read and compared with the last one (default a day; 0: every run).
    pub key_set_every_secs: Option<u64>,
}

#[derive(Debug, Clone)]
pub struct SourceConfig {
    pub name: String,
    pub provider: ProviderName,
    /// The provider's scheme and rules, so a change normalizes to the key its webhook has.
    pub scheme: Scheme,
    pub rules: NormalizeRules,
    pub kind: SourceKind,
    pub api_base: String,
    pub interval: Duration,
    pub settle: Duration,
    pub lookback: Duration,
    /// How far before the cursor each run starts again, for changes that become visible late.
    pub overlap: Duration,
    pub page_size: u32,
    pub max_pages: usize,
    pub run_timeout: Duration,
    pub request_timeout: Duration,
    pub max_attempts: u32,
    pub alert_after_empty_runs: Option<u32>,
}

#[derive(Debug, Clone)]
pub enum SourceKind {
    StripeEvents {
        api_key: Secret,
    },
    GithubDeliveries {
        token: Secret,
        hooks_path: String,
    },
    Shopify {
        access_token: Secret,
        resources: Vec<String>,
        api_version: String,
    },
    /// Boxed: the spec is several times the size of the other kinds.
    HttpJson(Box<HttpJsonSpec>),
    /// A source preset (`exact-online`, `xero`, …): its chosen feeds, each a generic
    /// spec filled in from the preset's table row.
    Preset {
        preset: &'static crate::source_presets::SourcePreset,
        feeds: Vec<PresetFeed>,
    },
}

/// One feed of a preset source, named `{source}:{feed}`.
#[derive(Debug, Clone)]
pub struct PresetFeed {
    pub name: String,
    pub spec: HttpJsonSpec,
}

impl SourceKind {
    pub fn name(&self) -> &'static str {
        match self {
            SourceKind::StripeEvents { .. } => "stripe-events",
            SourceKind::GithubDeliveries { .. } => "github-deliveries",
            SourceKind::Shopify { .. } => "shopify",
            SourceKind::HttpJson(_) => "http-json",
            SourceKind::Preset { preset, .. } => preset.name,
        }
    }

    /// The configured credentials of a generic or preset source (a preset's feeds share
    /// one); the other kinds carry their own key.
    pub fn configured_auth(&self) -> Option<&AuthConfig> {
        match self {
            SourceKind::HttpJson(spec) => Some(&spec.auth),
            SourceKind::Preset { feeds, .. } => feeds.first().map(|f| &f.spec.auth),
            _ => None,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CursorKind {
    /// The cursor is the newest `updated_at` handled; `{cursor}` is an RFC 3339 time.
    Timestamp,
    /// The cursor is an opaque token from the response (`next_cursor_pointer`).
    Token,
    /// The cursor is the highest integer row version handled (`version_pointer`), as
    /// Exact Online's sync API's `Timestamp`: the next run asks for what came after it.
    RowVersion,
    /// The cursor is a link the API gives on a run's last page (OData change tracking's
    /// `@odata.deltaLink`): the next run starts there. Followed to the API's host only.
    DeltaLink,
}

impl CursorKind {
    pub fn name(self) -> &'static str {
        match self {
            CursorKind::Timestamp => "timestamp",
            CursorKind::Token => "token",
            CursorKind::RowVersion => "row-version",
            CursorKind::DeltaLink => "delta-link",
        }
    }
}

/// How a timestamp cursor is written into a request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TimeFormat {
    /// `2024-01-15T14:30:00Z`
    Rfc3339,
    /// Unix milliseconds: `1705329000000` (HubSpot's search filters).
    EpochMillis,
    /// `2024-01-15 14:30:00`, UTC (Adobe Commerce `searchCriteria`).
    Sql,
    /// `2024-01-15T14:30:00`, UTC without an offset (WooCommerce with `dates_are_gmt`).
    Naive,
}

impl TimeFormat {
    pub fn parse(text: &str) -> Option<TimeFormat> {
        Some(match text {
            "rfc3339" => TimeFormat::Rfc3339,
            "epoch-ms" => TimeFormat::EpochMillis,
            "sql" => TimeFormat::Sql,
            "naive" => TimeFormat::Naive,
            _ => return None,
        })
    }
}

/// How a feed tells a deleted record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Deletes {
    /// It does not (or not in this feed).
    None,
    /// An item whose value at `pointer` reads `value` (a status `DELETED`, a reason
    /// `deleted`) is a deletion; its id is at `id_pointer` when that differs (Dataverse's
    /// `$deletedEntity` rows carry only `id`).
    Marker {
        pointer: String,
        value: String,
        id_pointer: Option<String>,
    },
    /// Every item is a deletion: a deleted-records feed (Exact Online's `sync/Deleted`).
    Feed,
    /// The API announces no deletions: every `every_secs` the feed lists every record's id
    /// and a record whose id was in the last list and is not in this one is a deletion.
    KeySet { every_secs: u64 },
}

/// What an item of the feed is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ItemKind {
    /// An event with an id of its own: keyed `{provider}:{id}`, so a second read is a
    /// duplicate (event logs: Stripe-like `/events`, audit feeds).
    Events,
    /// A record's current state: keyed `{provider}:{id}@{version}`, so an update to a
    /// record already delivered is a new change and the same version read twice is a
    /// duplicate ("what changed since": invoices, contacts, orders).
    Records,
}

/// How a run pages past the first response.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Paging {
    /// The cursor itself pages (a timestamp, a token, a row version).
    Cursor,
    /// Follow the link at this pointer, as given, to the same host only.
    NextLink(String),
    /// `{page}` in the URL, from this number up, until a page is not full.
    PageNumber { first: u32 },
}

#[derive(Debug, Clone)]
pub struct HttpJsonSpec {
    /// With `{api_base}`, `{cursor}` and `{limit}` placeholders.
    pub url: String,
    pub cursor: CursorKind,
    pub items_pointer: String,
    pub id_pointer: String,
    pub type_pointer: Option<String>,
    pub updated_at_pointer: Option<String>,
    pub entity_pointer: Option<String>,
    pub next_cursor_pointer: Option<String>,
    pub items: ItemKind,
    pub version_pointer: Option<String>,
    pub first_cursor: Option<String>,
    pub paging: Paging,
    /// Sent with every request (secrets resolved; `Debug` redacts them).
    pub headers: Vec<(String, Secret)>,
    pub cursor_header: Option<String>,
    pub auth: AuthConfig,
    /// POST this JSON body template instead of a GET.
    pub body: Option<String>,
    pub cursor_format: TimeFormat,
    /// The cursor is sent this many seconds early, so that records at the boundary second
    /// are read again rather than lost (APIs whose filter is exclusive or whole seconds).
    pub resend_secs: u32,
    pub deletes: Deletes,
    /// The entity each item is: keys `{entity}/{id}@{version}`, types `{entity}.updated`
    /// and `{entity}.deleted`. Without it, keys are `{id}` or `{id}@{version}`.
    pub entity: Option<String>,
    pub error_pointer: Option<String>,
    /// The time of day, where the API keeps it apart from the date at
    /// `updated_at_pointer` (SAP Business One's `UpdateDate` + `UpdateTime`).
    pub updated_time_pointer: Option<String>,
    /// The page size the API uses whatever is asked (QuickBooks' CDC: up to 1,000; Xero:
    /// 100): a page this full means more may follow.
    pub fixed_page: Option<u32>,
    /// Shopify GraphQL's cost-based throttle: wait for the bucket before the next query.
    pub graphql_cost: bool,
    /// A response without the items array is an empty page, not an error.
    pub items_optional: bool,
}

#[derive(Debug, Clone)]
pub enum AuthConfig {
    None,
    Bearer(Secret),
    Basic {
        username: String,
        password: Secret,
    },
    ApiKey {
        header: String,
        key: Secret,
    },
    OAuth2 {
        token_url: String,
        client_id: String,
        client_secret: Secret,
        scope: Option<String>,
    },
    /// A named connection: its stored, refreshed tokens and its call budget.
    Connection(String),
}

type Problems = Vec<(String, String)>;

impl SourceConfig {
    pub(crate) fn build(
        raw: &RawSource,
        providers: &[ProviderConfig],
        env: &dyn Fn(&str) -> Option<String>,
    ) -> Result<SourceConfig, Problems> {
        let mut p: Problems = Vec::new();
        let mut bad = |field: &str, msg: String| p.push((field.to_string(), msg));
        if raw.name.is_empty()
            || !raw
                .name
                .chars()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-' || c == '_')
        {
            bad(
                "name",
                format!(
                    "{:?} must be lowercase letters, digits, '-' or '_'",
                    raw.name
                ),
            );
        }
        let provider = providers.iter().find(|pr| pr.name.as_str() == raw.provider);
        if provider.is_none() {
            bad("provider", format!("{:?} is not a configured provider (its keys and sinks are the ones this source feeds)", raw.provider));
        }
        let secret = |field: &str,
                      spec: &Option<String>,
                      bad: &mut dyn FnMut(&str, String)|
         -> Option<Secret> {
            match spec {
                None => {
                    bad(field, format!("is required for kind = {:?}", raw.kind));
                    None
                }
                Some(s) => secret::resolve(s, env)
                    .map_err(|e| bad(field, e.to_string()))
                    .ok(),
            }
        };
        let preset = crate::source_presets::find(&raw.kind);
        let default_base = match raw.kind.as_str() {
            "stripe-events" => Some("https://api.stripe.com"),
            "github-deliveries" => Some("https://api.github.com"),
            _ => preset.and_then(|p| p.api_base),
        };
        let api_base = raw
            .api_base
            .clone()
            .or(default_base.map(str::to_string))
            .unwrap_or_default();
        if !(api_base.starts_with("http://") || api_base.starts_with("https://")) {
            bad("api_base", format!("{api_base:?} is not an http(s) URL"));
        }
        let api_base = api_base.trim_end_matches('/').to_string();
        let kind = match raw.kind.as_str() {
            "stripe-events" => secret("api_key", &raw.api_key, &mut bad)
                .map(|api_key| SourceKind::StripeEvents { api_key }),
            "github-deliveries" => {
                let hooks_path = match (&raw.owner, &raw.repo, &raw.org, raw.hook_id) {
                    (Some(o), Some(r), None, Some(id)) => {
                        Some(format!("/repos/{o}/{r}/hooks/{id}"))
                    }
                    (None, None, Some(org), Some(id)) => Some(format!("/orgs/{org}/hooks/{id}")),
                    _ => {
                        bad(
                            "hook_id",
                            "github-deliveries needs hook_id and either owner + repo or org".into(),
                        );
                        None
                    }
                };
                let token = secret("api_key", &raw.api_key, &mut bad);
                hooks_path
                    .zip(token)
                    .map(|(hooks_path, token)| SourceKind::GithubDeliveries { token, hooks_path })
            }
            "shopify" => {
                let resources = raw
                    .resources
                    .clone()
                    .unwrap_or_else(|| vec!["orders".into()]);
                if resources.is_empty()
                    || resources.iter().any(|r| {
                        r.is_empty() || !r.chars().all(|c| c.is_ascii_lowercase() || c == '_')
                    })
                {
                    bad(
                        "resources",
                        "must list REST resources such as \"orders\", \"products\", \"customers\""
                            .into(),
                    );
                }
                if raw.api_base.is_none() {
                    bad(
                        "api_base",
                        "is required for shopify (https://{shop}.myshopify.com)".into(),
                    );
                }
                secret("api_key", &raw.api_key, &mut bad).map(|access_token| SourceKind::Shopify {
                    access_token,
                    resources,
                    api_version: raw.api_version.clone().unwrap_or_else(|| "2024-10".into()),
                })
            }
            "http-json" => {
                if raw.key_set_every_secs.is_some() {
                    bad(
                        "key_set_every_secs",
                        "applies to source presets with a key-set feed (adobe-commerce, sap-business-one)".into(),
                    );
                }
                build_http_json(raw, env, &mut bad).map(|spec| SourceKind::HttpJson(Box::new(spec)))
            }
            _ if preset.is_some() => preset.and_then(|preset| {
                crate::source_presets::build(preset, raw, &api_base, env, &mut bad)
            }),
            other => {
                let presets: Vec<&str> = crate::source_presets::PRESETS
                    .iter()
                    .map(|p| p.name)
                    .collect();
                bad(
                    "kind",
                    format!(
                        "unknown kind {other:?}; expected one of stripe-events, github-deliveries, shopify, http-json, {} (`inlet sources` lists the presets)",
                        presets.join(", ")
                    ),
                );
                None
            }
        };
        if raw.alert_after_empty_runs == Some(0) {
            bad(
                "alert_after_empty_runs",
                "must be at least 1 (leave it out for no alert)".into(),
            );
        }
        let page_size = raw.page_size.unwrap_or(100);
        if page_size == 0 || page_size > 250 {
            bad("page_size", "must be between 1 and 250".into());
        }
        let (Some(kind), Some(provider), true) = (kind, provider, p.is_empty()) else {
            return Err(p);
        };
        Ok(SourceConfig {
            name: raw.name.clone(),
            provider: provider.name.clone(),
            scheme: provider.scheme.clone(),
            rules: provider.rules.clone(),
            kind,
            api_base,
            interval: Duration::from_secs(raw.interval_secs.unwrap_or(900).max(1)),
            settle: Duration::from_secs(raw.settle_secs.unwrap_or(60)),
            lookback: Duration::from_secs(raw.lookback_secs.unwrap_or(86_400)),
            overlap: Duration::from_secs(raw.overlap_secs.unwrap_or(300)),
            page_size,
            max_pages: raw.max_pages.unwrap_or(50).max(1),
            run_timeout: Duration::from_secs(raw.run_timeout_secs.unwrap_or(120).max(1)),
            request_timeout: Duration::from_secs(raw.request_timeout_secs.unwrap_or(30).max(1)),
            max_attempts: raw.max_attempts.unwrap_or(5).max(1),
            alert_after_empty_runs: raw.alert_after_empty_runs,
        })
    }
}

fn build_http_json(
    raw: &RawSource,
    env: &dyn Fn(&str) -> Option<String>,
    bad: &mut dyn FnMut(&str, String),
) -> Option<HttpJsonSpec> {
    let url = raw.url.clone().or_else(|| {
        bad(
            "url",
            "is required for http-json, e.g. \"{api_base}/changes?since={cursor}&limit={limit}\""
                .into(),
        );
        None
    })?;
    let cursor = match raw.cursor.as_deref().unwrap_or("timestamp") {
        "timestamp" => CursorKind::Timestamp,
        "token" => CursorKind::Token,
        "row-version" => CursorKind::RowVersion,
        other => {
            bad(
                "cursor",
                format!("{other:?} is not one of timestamp, token, row-version"),
            );
            CursorKind::Timestamp
        }
    };
    let sends_cursor =
        url.contains("{cursor}") || raw.body.as_deref().is_some_and(|b| b.contains("{cursor}"));
    match (&raw.cursor_header, sends_cursor) {
        (None, false) => bad(
            "url",
            "never sends the cursor: put {cursor} in it or in the body (or set cursor_header)"
                .into(),
        ),
        (Some(_), true) => bad(
            "cursor_header",
            "the URL already carries {cursor}; send the cursor in one place".into(),
        ),
        (Some(h), false) => {
            if cursor != CursorKind::Timestamp {
                bad(
                    "cursor_header",
                    "carries a timestamp cursor as an HTTP date; it needs cursor = \"timestamp\""
                        .into(),
                );
            }
            if !is_header_name(h) {
                bad("cursor_header", format!("{h:?} is not an HTTP header name"));
            }
        }
        (None, true) => {}
    }
    let pointer = |field: &str, v: &Option<String>, bad: &mut dyn FnMut(&str, String)| {
        if let Some(ptr) = v {
            if !ptr.is_empty() && !ptr.starts_with('/') {
                bad(field, format!("{ptr:?} is not a JSON pointer"));
            }
        }
        v.clone()
    };
    let items_pointer = pointer("items_pointer", &raw.items_pointer, bad).unwrap_or_default();
    let id_pointer = pointer("id_pointer", &raw.id_pointer, bad).unwrap_or_else(|| "/id".into());
    let type_pointer = pointer("type_pointer", &raw.type_pointer, bad);
    let updated_at_pointer = pointer("updated_at_pointer", &raw.updated_at_pointer, bad);
    let entity_pointer = pointer("entity_pointer", &raw.entity_pointer, bad);
    let next_cursor_pointer = pointer("next_cursor_pointer", &raw.next_cursor_pointer, bad);
    let version_pointer = pointer("version_pointer", &raw.version_pointer, bad);
    let next_link_pointer = pointer("next_link_pointer", &raw.next_link_pointer, bad);
    let items = match raw.items.as_deref().unwrap_or("events") {
        "events" => ItemKind::Events,
        "records" => ItemKind::Records,
        other => {
            bad("items", format!("{other:?} is not one of events, records"));
            ItemKind::Events
        }
    };
    // A record's version: its own pointer, else its updated-at time.
    let version_pointer = version_pointer.or_else(|| {
        (items == ItemKind::Records || cursor == CursorKind::RowVersion)
            .then(|| updated_at_pointer.clone())
            .flatten()
    });
    if items == ItemKind::Records && version_pointer.is_none() {
        bad(
            "version_pointer",
            "is required with items = \"records\" (or updated_at_pointer): a record's key is its id and version".into(),
        );
    }
    if cursor == CursorKind::RowVersion && raw.version_pointer.is_none() {
        bad(
            "version_pointer",
            "is required with cursor = \"row-version\": it points at each item's integer row version".into(),
        );
    }
    if cursor != CursorKind::Token && next_cursor_pointer.is_some() {
        bad(
            "next_cursor_pointer",
            "only applies to cursor = \"token\"".into(),
        );
    }
    match (cursor, &raw.first_cursor) {
        (CursorKind::Token | CursorKind::RowVersion, None) => bad(
            "first_cursor",
            "is required with this cursor: the value a first run sends (a row version such as \"0\", or the API's first token)".into(),
        ),
        (CursorKind::RowVersion, Some(v)) if v.parse::<i64>().is_err() => bad(
            "first_cursor",
            format!("{v:?} is not an integer row version"),
        ),
        (CursorKind::Timestamp, Some(_)) => bad(
            "first_cursor",
            "a timestamp cursor starts lookback_secs back; first_cursor does not apply".into(),
        ),
        _ => {}
    }
    let paging = match (&next_link_pointer, url.contains("{page}")) {
        (Some(_), true) => {
            bad(
                "next_link_pointer",
                "page by next links or by {page} in the URL, not both".into(),
            );
            Paging::Cursor
        }
        (Some(p), false) => Paging::NextLink(p.clone()),
        (None, true) => Paging::PageNumber {
            first: raw.first_page.unwrap_or(1),
        },
        (None, false) => {
            if raw.first_page.is_some() {
                bad("first_page", "applies only with {page} in the URL".into());
            }
            Paging::Cursor
        }
    };
    if cursor == CursorKind::Token && paging != Paging::Cursor {
        bad(
            "cursor",
            "a token cursor pages by itself; next links and {page} apply to timestamp and row-version cursors".into(),
        );
    }
    let mut headers = Vec::new();
    for (name, value) in raw.headers.iter().flatten() {
        let at = format!("headers.{name}");
        if !is_header_name(name) {
            bad(&at, format!("{name:?} is not an HTTP header name"));
            continue;
        }
        let reserved = ["authorization", "host", "content-length"];
        if reserved.contains(&name.to_ascii_lowercase().as_str()) {
            bad(&at, "is set by Inlet (use auth for credentials)".into());
            continue;
        }
        match secret::resolve(value, env) {
            Ok(v) if v.expose().chars().any(char::is_control) => {
                bad(&at, "contains a control character".into())
            }
            Ok(v) => headers.push((name.clone(), v)),
            Err(e) => bad(&at, e.to_string()),
        }
    }
    if cursor == CursorKind::Timestamp && updated_at_pointer.is_none() {
        bad(
            "updated_at_pointer",
            "is required with cursor = \"timestamp\"".into(),
        );
    }
    if cursor == CursorKind::Token && next_cursor_pointer.is_none() {
        bad(
            "next_cursor_pointer",
            "is required with cursor = \"token\"".into(),
        );
    }
    let auth = build_auth(raw, env, bad)?;
    let cursor_format = match raw.cursor_format.as_deref() {
        None => TimeFormat::Rfc3339,
        Some(f) => TimeFormat::parse(f).unwrap_or_else(|| {
            bad(
                "cursor_format",
                format!("{f:?} is not one of rfc3339, epoch-ms, sql, naive"),
            );
            TimeFormat::Rfc3339
        }),
    };
    if raw.cursor_format.is_some() && cursor != CursorKind::Timestamp {
        bad(
            "cursor_format",
            "applies to cursor = \"timestamp\" only".into(),
        );
    }
    let deleted_pointer = pointer("deleted_pointer", &raw.deleted_pointer, bad);
    let deletes = match (deleted_pointer, &raw.deleted_value) {
        (Some(pointer), Some(value)) => Deletes::Marker {
            pointer,
            value: value.clone(),
            id_pointer: None,
        },
        (None, None) => Deletes::None,
        _ => {
            bad(
                "deleted_pointer",
                "deleted_pointer and deleted_value go together".into(),
            );
            Deletes::None
        }
    };
    if let Some(e) = &raw.entity {
        if !is_entity_name(e) {
            bad(
                "entity",
                format!("{e:?} must be lowercase letters, digits, '-' or '_'"),
            );
        }
    }
    if deletes != Deletes::None && raw.entity.is_none() {
        bad(
            "entity",
            "is required with deleted_pointer: a deletion is delivered as {entity}.deleted".into(),
        );
    }
    let error_pointer = pointer("error_pointer", &raw.error_pointer, bad);
    Some(HttpJsonSpec {
        url,
        cursor,
        items_pointer,
        id_pointer,
        type_pointer,
        updated_at_pointer,
        entity_pointer,
        next_cursor_pointer,
        items,
        version_pointer,
        first_cursor: raw.first_cursor.clone(),
        paging,
        headers,
        cursor_header: raw.cursor_header.clone(),
        auth,
        body: raw.body.clone(),
        cursor_format,
        resend_secs: 0,
        deletes,
        entity: raw.entity.clone(),
        error_pointer,
        updated_time_pointer: None,
        fixed_page: None,
        graphql_cost: false,
        items_optional: false,
    })
}

/// A name an entity may have in keys and event types.
pub(crate) fn is_entity_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 64
        && name
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-' || c == '_')
}

/// The credentials of a generic or preset source (`auth` and its fields).
pub(crate) fn build_auth(
    raw: &RawSource,
    env: &dyn Fn(&str) -> Option<String>,
    bad: &mut dyn FnMut(&str, String),
) -> Option<AuthConfig> {
    let key = |bad: &mut dyn FnMut(&str, String)| match &raw.api_key {
        Some(s) => secret::resolve(s, env)
            .map_err(|e| bad("api_key", e.to_string()))
            .ok(),
        None => {
            bad("api_key", "is required for this auth kind".into());
            None
        }
    };
    let auth_kind = raw.auth.as_deref().unwrap_or("none");
    // Settings the chosen auth would silently ignore are refused: a config that cannot
    // work fails `inlet check`, not the first run at the provider.
    for (field, set, applies) in [
        (
            "api_key_header",
            raw.api_key_header.is_some(),
            auth_kind == "api-key",
        ),
        ("username", raw.username.is_some(), auth_kind == "basic"),
        ("token_url", raw.token_url.is_some(), auth_kind == "oauth2"),
        ("client_id", raw.client_id.is_some(), auth_kind == "oauth2"),
        ("scope", raw.scope.is_some(), auth_kind == "oauth2"),
        (
            "api_key",
            raw.api_key.is_some(),
            !matches!(auth_kind, "none" | "connection"),
        ),
        (
            "connection",
            raw.connection.is_some(),
            auth_kind == "connection",
        ),
    ] {
        if set && !applies {
            bad(field, format!("does not apply to auth = {auth_kind:?}"));
        }
    }
    let auth = match auth_kind {
        "none" => AuthConfig::None,
        "bearer" => AuthConfig::Bearer(key(bad)?),
        "basic" => AuthConfig::Basic {
            username: raw.username.clone().or_else(|| {
                bad("username", "is required with auth = \"basic\"".into());
                None
            })?,
            password: key(bad)?,
        },
        "api-key" => AuthConfig::ApiKey {
            header: raw
                .api_key_header
                .clone()
                .unwrap_or_else(|| "X-Api-Key".into()),
            key: key(bad)?,
        },
        "oauth2" => AuthConfig::OAuth2 {
            token_url: raw.token_url.clone().or_else(|| {
                bad("token_url", "is required with auth = \"oauth2\"".into());
                None
            })?,
            client_id: raw.client_id.clone().or_else(|| {
                bad("client_id", "is required with auth = \"oauth2\"".into());
                None
            })?,
            client_secret: key(bad)?,
            scope: raw.scope.clone(),
        },
        "connection" => AuthConfig::Connection(raw.connection.clone().or_else(|| {
            bad(
                "connection",
                "is required with auth = \"connection\"".into(),
            );
            None
        })?),
        other => {
            bad(
                "auth",
                format!("{other:?} is not one of none, bearer, basic, api-key, oauth2, connection"),
            );
            return None;
        }
    };
    Some(auth)
}

/// An HTTP header name (RFC 9110 token characters, as configs use them).
fn is_header_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 128
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}
