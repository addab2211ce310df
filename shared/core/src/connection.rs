//! Connections: the credentials a source (or a sink) uses to reach a SaaS API, when they
//! are an OAuth2 refresh-token grant whose tokens change under us, and the API's call
//! budget. Data, the store port, and the one use case that matters — getting a usable
//! access token without ever losing a rotating refresh token — written against the port so
//! SQLite and DynamoDB run the same logic.
//!
//! Why this is careful: Exact Online and Xero rotate the refresh token on every refresh;
//! the old one is dead once the new one is issued. Two processes refreshing at once, or a
//! new pair that is never written, and the connection is gone until a person re-authorizes.
//! So: one refresh at a time per connection (a lease taken with a compare-and-set on the
//! pair's generation), the new pair written with a compare-and-set before it is used, a
//! write that fails retried with the *new* pair before anything else, and a refusal by the
//! provider (`invalid_grant`) marking the connection broken at once instead of hammering.

use std::time::Duration;

use async_trait::async_trait;
use serde::Deserialize;

use crate::ports::StoreError;
use crate::secret::{self, Secret};

/// `[[connections]]` as written.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawConnection {
    pub name: String,
    /// `oauth2-refresh` (authorization code with refresh), `oauth1` (every request signed:
    /// Adobe Commerce) or `session` (a login whose cookies are sent: SAP Business One).
    pub kind: String,
    pub token_url: Option<String>,
    pub client_id: Option<String>,
    pub client_secret: Option<String>,
    /// The refresh token the first run starts from (`env:`/`file:`); the store's wins
    /// once there is one.
    pub refresh_token: Option<String>,
    pub scope: Option<String>,
    /// The provider issues a new refresh token on every refresh (Exact Online, Xero): a
    /// token response without one is refused.
    pub rotating: Option<bool>,
    /// The provider refuses a refresh before the access token is this old (Exact: 570 s).
    pub min_refresh_age_secs: Option<u64>,
    /// Call budgets per tenant: calls per second, minute and day, shared by every process.
    pub per_second: Option<u32>,
    pub per_minute: Option<u32>,
    pub per_day: Option<u32>,
    /// The provider allows this many token calls a day (Exact Online: 200 per user and
    /// key): refreshes past it wait for the next day instead of earning a block.
    pub token_calls_per_day: Option<u32>,
    /// How the client authenticates at the token endpoint: `basic` (HTTP Basic, RFC 6749
    /// §2.3.1's recommendation; Xero) or `body` (client_id and client_secret as form
    /// fields; Exact Online).
    pub client_auth: Option<String>,
    /// Where `inlet connect` sends the person to authorize (the provider's authorize URL).
    pub authorize_url: Option<String>,
    /// The redirect URI registered with the provider app; `inlet connect` listens there
    /// (loopback only). Default `http://127.0.0.1:8765/callback`.
    pub redirect_uri: Option<String>,
    /// The provider lets a refresh token die after this many days unused (Xero: 60):
    /// `inlet connections` counts down to it and, inside a week, the reconciler raises
    /// `connection_refresh_expiring` and the console a notice.
    pub refresh_token_idle_days: Option<u32>,
    /// The provider blocks an endpoint after this many errors in an hour (Exact Online:
    /// 10 per endpoint): Inlet stops calling an endpoint at half of it until the hour ends.
    pub errors_per_hour: Option<u32>,
    /// `oauth1`: the integration's four credentials and the signature method
    /// (`HMAC-SHA256`, Adobe Commerce's; or `HMAC-SHA1`).
    pub consumer_key: Option<String>,
    pub consumer_secret: Option<String>,
    pub access_token: Option<String>,
    pub access_token_secret: Option<String>,
    pub signature_method: Option<String>,
    /// `session`: where to log in, and the JSON fields of the login (values may be
    /// `env:`/`file:` references), e.g. SAP B1's `CompanyDB`, `UserName`, `Password`.
    pub login_url: Option<String>,
    pub login_body: Option<std::collections::BTreeMap<String, String>>,
    /// `session`: minutes a session lives when the login answer does not say
    /// (`SessionTimeout`; SAP B1's default is 30).
    pub session_minutes: Option<u32>,
}

/// How a connection authenticates, beyond what every kind shares.
#[derive(Debug, Clone)]
pub enum ConnectionKind {
    /// OAuth2 authorization code with refresh: the token fields of [`ConnectionConfig`].
    OAuth2Refresh,
    /// Every request signed with OAuth 1.0a; nothing is refreshed or stored but a broken
    /// mark.
    OAuth1(crate::oauth1::Credentials),
    /// A login whose cookies are the access "token", stored and shared like one, logged in
    /// again when it expires or the API answers 401.
    Session(SessionLogin),
}

/// A session login (SAP Business One Service Layer: `POST /Login` with `CompanyDB`,
/// `UserName` and `Password`; the answer sets the `B1SESSION` and `ROUTEID` cookies and
/// says `SessionTimeout` in minutes).
#[derive(Debug, Clone)]
pub struct SessionLogin {
    pub login_url: String,
    /// The login's JSON object, secrets resolved.
    pub body: Secret,
    pub default_lifetime: Duration,
}

/// `inlet connect`'s loopback redirect when the config names none.
pub const DEFAULT_REDIRECT_URI: &str = "http://127.0.0.1:8765/callback";

/// One connection, checked.
#[derive(Debug, Clone)]
pub struct ConnectionConfig {
    pub name: String,
    pub kind: ConnectionKind,
    /// The fields from here to `refresh_idle` are the OAuth2 grant's (empty for the other
    /// kinds, which never read them).
    pub token_url: String,
    pub client_id: String,
    pub client_secret: Secret,
    pub initial_refresh_token: Option<Secret>,
    pub scope: Option<String>,
    pub rotating: bool,
    pub min_refresh_age: Duration,
    pub per_second: Option<u32>,
    pub per_minute: Option<u32>,
    pub per_day: Option<u32>,
    pub token_calls_per_day: Option<u32>,
    /// Client credentials in an HTTP Basic header (else as form fields).
    pub client_auth_basic: bool,
    pub authorize_url: Option<String>,
    pub redirect_uri: String,
    /// A refresh token unused this long is dead (see `refresh_token_idle_days`).
    pub refresh_idle: Option<Duration>,
    /// The provider's error limit per endpoint and hour (see `errors_per_hour`).
    pub errors_per_hour: Option<u32>,
}

impl ConnectionConfig {
    /// Check one `[[connections]]` entry; every problem as `(field, message)`.
    pub fn build(
        raw: &RawConnection,
        env: &dyn Fn(&str) -> Option<String>,
    ) -> Result<ConnectionConfig, Vec<(String, String)>> {
        let mut p = Vec::new();
        let name_ok = !raw.name.is_empty()
            && raw
                .name
                .chars()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-' || c == '_');
        if !name_ok {
            p.push((
                "name".to_string(),
                format!(
                    "{:?} must be lowercase letters, digits, '-' or '_'",
                    raw.name
                ),
            ));
        }
        for (field, budget) in [
            ("per_second", raw.per_second),
            ("per_minute", raw.per_minute),
            ("per_day", raw.per_day),
            ("token_calls_per_day", raw.token_calls_per_day),
        ] {
            if budget == Some(0) {
                p.push((
                    field.to_string(),
                    "a budget of 0 calls allows nothing; leave it out for none".into(),
                ));
            }
        }
        if raw
            .errors_per_hour
            .is_some_and(|n| !(4..=10_000).contains(&n))
        {
            p.push((
                "errors_per_hour".to_string(),
                "must be the provider's limit, from 4 to 10000".into(),
            ));
        }
        let kind = match raw.kind.as_str() {
            "oauth2-refresh" => Some(ConnectionKind::OAuth2Refresh),
            "oauth1" => oauth1_kind(raw, env, &mut p),
            "session" => session_kind(raw, env, &mut p),
            other => {
                p.push((
                    "kind".to_string(),
                    format!("{other:?} is not one of oauth2-refresh, oauth1, session"),
                ));
                None
            }
        };
        let oauth2 = match raw.kind.as_str() {
            "oauth2-refresh" => oauth2_fields(raw, env, &mut p),
            "oauth1" | "session" => {
                only_for(raw, "oauth2-refresh", OAUTH2_FIELDS, &mut p);
                Some(OAuth2Fields {
                    client_id: String::new(),
                    client_secret: Secret::new(""),
                    initial_refresh_token: None,
                    client_auth_basic: false,
                })
            }
            _ => None,
        };
        match (p.is_empty(), kind, oauth2) {
            (true, Some(kind), Some(o)) => Ok(ConnectionConfig {
                name: raw.name.clone(),
                rotating: matches!(kind, ConnectionKind::OAuth2Refresh)
                    && raw.rotating.unwrap_or(true),
                kind,
                token_url: raw.token_url.clone().unwrap_or_default(),
                client_id: o.client_id,
                client_secret: o.client_secret,
                initial_refresh_token: o.initial_refresh_token,
                scope: raw.scope.clone(),
                min_refresh_age: Duration::from_secs(raw.min_refresh_age_secs.unwrap_or(0)),
                per_second: raw.per_second,
                per_minute: raw.per_minute,
                per_day: raw.per_day,
                token_calls_per_day: raw.token_calls_per_day,
                client_auth_basic: o.client_auth_basic,
                authorize_url: raw.authorize_url.clone(),
                redirect_uri: raw
                    .redirect_uri
                    .clone()
                    .unwrap_or_else(|| DEFAULT_REDIRECT_URI.to_string()),
                refresh_idle: raw
                    .refresh_token_idle_days
                    .map(|d| Duration::from_secs(u64::from(d) * 86_400)),
                errors_per_hour: raw.errors_per_hour,
            }),
            _ => Err(p),
        }
    }
}

/// The fields only the OAuth2 grant reads, by name, and whether `raw` sets each.
const OAUTH2_FIELDS: &[&str] = &[
    "token_url",
    "client_id",
    "client_secret",
    "refresh_token",
    "scope",
    "rotating",
    "min_refresh_age_secs",
    "client_auth",
    "authorize_url",
    "redirect_uri",
    "refresh_token_idle_days",
];

fn is_set(raw: &RawConnection, field: &str) -> bool {
    match field {
        "token_url" => raw.token_url.is_some(),
        "client_id" => raw.client_id.is_some(),
        "client_secret" => raw.client_secret.is_some(),
        "refresh_token" => raw.refresh_token.is_some(),
        "scope" => raw.scope.is_some(),
        "rotating" => raw.rotating.is_some(),
        "min_refresh_age_secs" => raw.min_refresh_age_secs.is_some(),
        "client_auth" => raw.client_auth.is_some(),
        "authorize_url" => raw.authorize_url.is_some(),
        "redirect_uri" => raw.redirect_uri.is_some(),
        "refresh_token_idle_days" => raw.refresh_token_idle_days.is_some(),
        "consumer_key" => raw.consumer_key.is_some(),
        "consumer_secret" => raw.consumer_secret.is_some(),
        "access_token" => raw.access_token.is_some(),
        "access_token_secret" => raw.access_token_secret.is_some(),
        "signature_method" => raw.signature_method.is_some(),
        "login_url" => raw.login_url.is_some(),
        "login_body" => raw.login_body.is_some(),
        "session_minutes" => raw.session_minutes.is_some(),
        _ => false,
    }
}

/// A field of another kind is a mistake worth saying (a typo'd kind, a copied block).
fn only_for(raw: &RawConnection, kind: &str, fields: &[&str], p: &mut Vec<(String, String)>) {
    for f in fields.iter().filter(|f| is_set(raw, f)) {
        p.push((
            f.to_string(),
            format!("applies to kind = \"{kind}\" only, not {:?}", raw.kind),
        ));
    }
}

/// A required field of `kind`, resolved when it may be `env:`/`file:`.
fn required(
    value: &Option<String>,
    field: &str,
    kind: &str,
    env: &dyn Fn(&str) -> Option<String>,
    p: &mut Vec<(String, String)>,
) -> Option<Secret> {
    let Some(v) = value else {
        p.push((
            field.to_string(),
            format!("is required with kind = \"{kind}\""),
        ));
        return None;
    };
    secret::resolve(v, env)
        .map_err(|e| p.push((field.to_string(), e.to_string())))
        .ok()
}

/// An https URL (http only to 127.0.0.1, for tests).
fn check_https(field: &str, url: &str, p: &mut Vec<(String, String)>) {
    if !(url.starts_with("https://") || url.starts_with("http://127.0.0.1")) {
        p.push((
            field.to_string(),
            format!("{url:?} must be https (http only to 127.0.0.1, for tests)"),
        ));
    }
}

struct OAuth2Fields {
    client_id: String,
    client_secret: Secret,
    initial_refresh_token: Option<Secret>,
    client_auth_basic: bool,
}

fn oauth2_fields(
    raw: &RawConnection,
    env: &dyn Fn(&str) -> Option<String>,
    p: &mut Vec<(String, String)>,
) -> Option<OAuth2Fields> {
    const KIND: &str = "oauth2-refresh";
    only_for(raw, "oauth1", OAUTH1_FIELDS, p);
    only_for(raw, "session", SESSION_FIELDS, p);
    match &raw.token_url {
        Some(u) => check_https("token_url", u, p),
        None => p.push((
            "token_url".into(),
            format!("is required with kind = \"{KIND}\""),
        )),
    }
    // The client id is no secret, but a config names it as `env:`/`file:` like the rest.
    let client_id = required(&raw.client_id, "client_id", KIND, env, p);
    let client_secret = required(&raw.client_secret, "client_secret", KIND, env, p);
    let initial_refresh_token = match &raw.refresh_token {
        Some(r) => secret::resolve(r, env)
            .map_err(|e| p.push(("refresh_token".into(), e.to_string())))
            .ok(),
        None => None,
    };
    let client_auth_basic = match raw.client_auth.as_deref().unwrap_or("basic") {
        "basic" => true,
        "body" => false,
        other => {
            p.push((
                "client_auth".into(),
                format!("{other:?} is not one of basic, body"),
            ));
            true
        }
    };
    if let Some(u) = &raw.authorize_url {
        if !u.starts_with("https://") && !u.starts_with("http://127.0.0.1") {
            p.push(("authorize_url".into(), format!("{u:?} must be https")));
        }
    }
    if let Some(u) = &raw.redirect_uri {
        if loopback_redirect(u).is_none() {
            p.push((
                "redirect_uri".into(),
                format!("{u:?} must be http://127.0.0.1:PORT/PATH or http://localhost:PORT/PATH (inlet connect listens there)"),
            ));
        }
    }
    if let Some(days) = raw.refresh_token_idle_days {
        if !(1..=3650).contains(&days) {
            p.push((
                "refresh_token_idle_days".into(),
                format!("{days} is not a number of days from 1 to 3650"),
            ));
        }
    }
    Some(OAuth2Fields {
        client_id: client_id?.expose().to_string(),
        client_secret: client_secret?,
        initial_refresh_token,
        client_auth_basic,
    })
}

const OAUTH1_FIELDS: &[&str] = &[
    "consumer_key",
    "consumer_secret",
    "access_token",
    "access_token_secret",
    "signature_method",
];

fn oauth1_kind(
    raw: &RawConnection,
    env: &dyn Fn(&str) -> Option<String>,
    p: &mut Vec<(String, String)>,
) -> Option<ConnectionKind> {
    const KIND: &str = "oauth1";
    only_for(raw, "session", SESSION_FIELDS, p);
    let consumer_key = required(&raw.consumer_key, "consumer_key", KIND, env, p);
    let consumer_secret = required(&raw.consumer_secret, "consumer_secret", KIND, env, p);
    let token = required(&raw.access_token, "access_token", KIND, env, p);
    let token_secret = required(
        &raw.access_token_secret,
        "access_token_secret",
        KIND,
        env,
        p,
    );
    let method = raw.signature_method.as_deref().unwrap_or("HMAC-SHA256");
    let method = crate::oauth1::SignatureMethod::parse(method).or_else(|| {
        p.push((
            "signature_method".into(),
            format!("{method:?} is not one of HMAC-SHA256, HMAC-SHA1"),
        ));
        None
    });
    Some(ConnectionKind::OAuth1(crate::oauth1::Credentials {
        consumer_key: consumer_key?.expose().to_string(),
        consumer_secret: consumer_secret?,
        token: token?,
        token_secret: token_secret?,
        method: method?,
    }))
}

const SESSION_FIELDS: &[&str] = &["login_url", "login_body", "session_minutes"];

fn session_kind(
    raw: &RawConnection,
    env: &dyn Fn(&str) -> Option<String>,
    p: &mut Vec<(String, String)>,
) -> Option<ConnectionKind> {
    const KIND: &str = "session";
    only_for(raw, "oauth1", OAUTH1_FIELDS, p);
    match &raw.login_url {
        Some(u) => check_https("login_url", u, p),
        None => p.push((
            "login_url".into(),
            format!("is required with kind = \"{KIND}\""),
        )),
    }
    let mut body = serde_json::Map::new();
    match &raw.login_body {
        Some(fields) if !fields.is_empty() => {
            for (k, v) in fields {
                match secret::resolve(v, env) {
                    Ok(v) => {
                        body.insert(k.clone(), serde_json::Value::from(v.expose()));
                    }
                    Err(e) => p.push((format!("login_body.{k}"), e.to_string())),
                }
            }
        }
        _ => p.push((
            "login_body".into(),
            "is required with kind = \"session\": the login's fields (SAP B1: CompanyDB, UserName, Password)".into(),
        )),
    }
    let minutes = raw.session_minutes.unwrap_or(30);
    if !(2..=1440).contains(&minutes) {
        p.push((
            "session_minutes".into(),
            format!("{minutes} is not a number of minutes from 2 to 1440"),
        ));
    }
    Some(ConnectionKind::Session(SessionLogin {
        login_url: raw.login_url.clone()?,
        body: Secret::new(serde_json::Value::Object(body).to_string()),
        default_lifetime: Duration::from_secs(u64::from(minutes) * 60),
    }))
}

/// An access token and the refresh token that renews it, with their times (Unix ms).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TokenPair {
    pub access_token: Secret,
    pub access_expires_at_ms: i64,
    pub refresh_token: Option<Secret>,
    /// When this pair was issued.
    pub obtained_at_ms: i64,
}

/// A connection as stored.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct StoredConnection {
    pub pair: Option<TokenPair>,
    /// Bumped by every stored pair: the compare-and-set's version.
    pub generation: u64,
    /// Someone is refreshing until then (Unix ms).
    pub refresh_lease_until_ms: Option<i64>,
    /// Why the provider refused us; set until a new pair is stored.
    pub broken: Option<String>,
    pub last_refresh_ms: Option<i64>,
    pub last_failure: Option<String>,
}

/// What a budget take says.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Spend {
    Granted,
    /// The window is spent; the next starts at (Unix ms).
    Exhausted {
        window: Window,
        until_ms: i64,
    },
}

/// Warn this many days before a refresh token would die unused.
pub const REFRESH_EXPIRY_WARNING_DAYS: i64 = 7;

/// What an operator must hear about a connection now.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Alert {
    /// The provider refused us: nothing reads through it until a person re-authorizes.
    Broken { reason: String },
    /// Its refresh token dies unused in `days_left` days (at most
    /// [`REFRESH_EXPIRY_WARNING_DAYS`]; 0: today, or already).
    RefreshExpiring { days_left: i64 },
}

/// The idle limit `configs` give the connection `name` (`None`: none, or not configured).
pub fn refresh_idle_of(configs: &[ConnectionConfig], name: &str) -> Option<Duration> {
    configs
        .iter()
        .find(|c| c.name == name)
        .and_then(|c| c.refresh_idle)
}

/// Days until the stored refresh token would die unused (`idle`: the provider's limit),
/// counted from when it was issued; `None` without a limit or a token.
pub fn refresh_days_left(
    stored: &StoredConnection,
    idle: Option<Duration>,
    now_ms: i64,
) -> Option<i64> {
    let idle_ms = i64::try_from(idle?.as_millis()).ok()?;
    let pair = stored.pair.as_ref()?;
    pair.refresh_token.as_ref()?;
    let issued = pair.obtained_at_ms.max(stored.last_refresh_ms.unwrap_or(0));
    Some(((issued + idle_ms - now_ms) / 86_400_000).max(0))
}

/// The alert a connection calls for, if any: broken first, then a refresh token inside
/// its last week.
pub fn alert(stored: &StoredConnection, idle: Option<Duration>, now_ms: i64) -> Option<Alert> {
    if let Some(reason) = &stored.broken {
        return Some(Alert::Broken {
            reason: reason.clone(),
        });
    }
    refresh_days_left(stored, idle, now_ms)
        .filter(|d| *d <= REFRESH_EXPIRY_WARNING_DAYS)
        .map(|days_left| Alert::RefreshExpiring { days_left })
}

/// Every connection's alert, with its metric: `connection_failures{connection}` for a broken
/// one — each run while it stays broken, so the template's alarm fires on the first and
/// stays on until someone re-authorizes — and `connection_refresh_expiring{connection}`.
/// `configs` supplies each connection's idle limit (a stored connection the config no
/// longer names is still reported when broken).
pub async fn report_alerts(
    store: &dyn ConnectionStore,
    configs: &[ConnectionConfig],
    metrics: &dyn crate::metrics::Metrics,
    now_ms: i64,
) -> Result<Vec<(String, Alert)>, StoreError> {
    let mut alerts = Vec::new();
    for (name, stored) in store.list().await? {
        let idle = refresh_idle_of(configs, &name);
        let Some(a) = alert(&stored, idle, now_ms) else {
            continue;
        };
        let metric = match a {
            Alert::Broken { .. } => crate::metrics::names::CONNECTION_FAILURES,
            Alert::RefreshExpiring { .. } => crate::metrics::names::CONNECTION_REFRESH_EXPIRING,
        };
        metrics.incr(metric, &[("connection", name.as_str())], 1);
        alerts.push((name, a));
    }
    Ok(alerts)
}

/// A budget window.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Window {
    Second,
    Minute,
    /// An endpoint's errors and its pause (see `errors_per_hour`).
    Hour,
    Day,
}

impl Window {
    pub fn millis(self) -> i64 {
        match self {
            Window::Second => 1_000,
            Window::Minute => 60_000,
            Window::Hour => 3_600_000,
            Window::Day => 86_400_000,
        }
    }

    /// The start (Unix ms) of the fixed window holding `now_ms`.
    pub fn start_of(self, now_ms: i64) -> i64 {
        now_ms - now_ms.rem_euclid(self.millis())
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Window::Second => "second",
            Window::Minute => "minute",
            Window::Hour => "hour",
            Window::Day => "day",
        }
    }
}

/// Where connections and their budgets live: SQLite locally, the state table on AWS.
#[async_trait]
pub trait ConnectionStore: Send + Sync {
    async fn load(&self, name: &str) -> Result<Option<StoredConnection>, StoreError>;

    /// Store `pair` as generation 0 unless the connection exists (the first run's seed).
    async fn seed(&self, name: &str, pair: &TokenPair) -> Result<(), StoreError>;

    /// Take the refresh lease until `until_ms` when the stored generation is `generation`
    /// and no live lease is held. Atomic; `false` when another holds it or the pair moved.
    async fn try_lease(
        &self,
        name: &str,
        generation: u64,
        now_ms: i64,
        until_ms: i64,
    ) -> Result<bool, StoreError>;

    /// Store `pair` as generation `generation + 1` when the stored generation is still
    /// `generation` (compare-and-set), clearing the lease and any broken mark.
    async fn store_pair(
        &self,
        name: &str,
        generation: u64,
        pair: &TokenPair,
        now_ms: i64,
    ) -> Result<bool, StoreError>;

    /// Mark the connection broken with the provider's words (and end any lease).
    async fn mark_broken(&self, name: &str, reason: &str, now_ms: i64) -> Result<(), StoreError>;

    /// Every stored connection, by name.
    async fn list(&self) -> Result<Vec<(String, StoredConnection)>, StoreError>;

    /// Mark `name`'s `window` holding `now_ms` as spent (the provider's own headers say
    /// nothing is left), so every process waits for the next window.
    async fn exhaust(&self, name: &str, window: Window, now_ms: i64) -> Result<(), StoreError>;

    /// Take one call from `name`'s `window` budget of `limit` calls, the window being
    /// the fixed one holding `now_ms`. Atomic across processes.
    async fn spend(
        &self,
        name: &str,
        window: Window,
        limit: u32,
        now_ms: i64,
    ) -> Result<Spend, StoreError>;
}

/// A token endpoint's answer to a refresh.
#[derive(Debug, Clone)]
pub struct TokenResponse {
    pub access_token: Secret,
    pub expires_in: Duration,
    pub refresh_token: Option<Secret>,
}

/// Why a refresh did not give a token.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TokenError {
    /// The provider refused the grant (`invalid_grant`, `invalid_client`, …): a person
    /// must re-authorize. The text is the provider's, without secrets.
    #[error("the provider refused the refresh: {0}")]
    Rejected(String),
    /// Try again later (unreachable, 5xx, throttled).
    #[error("the token endpoint failed: {0}")]
    Transient(String),
}

/// The refresh call itself (HTTP in `inlet-sources`).
#[async_trait]
pub trait TokenEndpoint: Send + Sync {
    async fn refresh(
        &self,
        connection: &ConnectionConfig,
        refresh_token: &Secret,
    ) -> Result<TokenResponse, TokenError>;

    /// Open a session (a `session` connection): its cookies are the access token.
    async fn login(
        &self,
        connection: &ConnectionConfig,
        _login: &SessionLogin,
    ) -> Result<TokenResponse, TokenError> {
        Err(TokenError::Transient(format!(
            "connection {}: this token endpoint cannot log in",
            connection.name
        )))
    }
}

/// Why no access token could be had.
#[derive(Debug, thiserror::Error)]
pub enum AccessError {
    #[error("connection {name} is broken: {reason} — re-authorize it (`inlet connections`)")]
    Broken { name: String, reason: String },
    #[error("connection {name}: {message}")]
    Unavailable { name: String, message: String },
    #[error("connection {name} has no token pair: set refresh_token for its first run")]
    NotConnected { name: String },
}

/// Lease for one refresh: long enough for a slow token endpoint, short enough that a
/// crashed holder does not block the others for long.
pub const REFRESH_LEASE: Duration = Duration::from_secs(30);
/// Refresh this long before the access token expires (less for short-lived tokens).
pub const REFRESH_MARGIN: Duration = Duration::from_secs(60);

/// When `pair` should be refreshed (Unix ms): a margin before expiry, but never before
/// the provider allows a refresh.
pub fn refresh_due_ms(pair: &TokenPair, min_refresh_age: Duration) -> i64 {
    let life = (pair.access_expires_at_ms - pair.obtained_at_ms).max(0);
    let margin = (REFRESH_MARGIN.as_millis() as i64).min(life / 2);
    (pair.access_expires_at_ms - margin)
        .max(pair.obtained_at_ms + min_refresh_age.as_millis() as i64)
}

/// The clock and the waiting a token lookup needs (core has no runtime of its own).
pub struct Waiting<'a> {
    /// Now, in Unix ms.
    pub now_ms: &'a (dyn Fn() -> i64 + Sync),
    /// Wait this long (the caller's runtime's sleep).
    pub pause: &'a (dyn Fn(Duration) -> futures::future::BoxFuture<'static, ()> + Sync),
    pub deadline: Option<std::time::Instant>,
}

/// A usable access token for `cfg`, refreshing it when due — one refresher at a time
/// across every process sharing `store`; the others wait for its result.
pub async fn access_token(
    cfg: &ConnectionConfig,
    store: &dyn ConnectionStore,
    endpoint: &dyn TokenEndpoint,
    waiting: &Waiting<'_>,
) -> Result<Secret, AccessError> {
    let now_ms = waiting.now_ms;
    let deadline = waiting.deadline;
    let unavailable = |message: String| AccessError::Unavailable {
        name: cfg.name.clone(),
        message,
    };
    let store_err = |e: StoreError| unavailable(e.to_string());
    loop {
        if deadline.is_some_and(|d| std::time::Instant::now() >= d) {
            return Err(unavailable("out of time waiting for a token".into()));
        }
        let now = now_ms();
        let stored = match store.load(&cfg.name).await.map_err(store_err)? {
            Some(s) => s,
            None => {
                // A session needs no refresh token: its login is the refresh.
                let refresh = match (&cfg.kind, &cfg.initial_refresh_token) {
                    (ConnectionKind::Session(_), _) => None,
                    (_, Some(r)) => Some(r.clone()),
                    (_, None) => {
                        return Err(AccessError::NotConnected {
                            name: cfg.name.clone(),
                        })
                    }
                };
                // No access token yet: an expired one, so the first use refreshes.
                let seed = TokenPair {
                    access_token: Secret::new(""),
                    access_expires_at_ms: 0,
                    refresh_token: refresh,
                    obtained_at_ms: 0,
                };
                store.seed(&cfg.name, &seed).await.map_err(store_err)?;
                continue;
            }
        };
        if let Some(reason) = stored.broken {
            return Err(AccessError::Broken {
                name: cfg.name.clone(),
                reason,
            });
        }
        let Some(pair) = stored.pair else {
            return Err(AccessError::NotConnected {
                name: cfg.name.clone(),
            });
        };
        if now < refresh_due_ms(&pair, cfg.min_refresh_age) && pair.access_expires_at_ms > now {
            return Ok(pair.access_token);
        }
        let lease_live = stored.refresh_lease_until_ms.is_some_and(|t| t > now);
        if lease_live
            || !store
                .try_lease(
                    &cfg.name,
                    stored.generation,
                    now,
                    now + REFRESH_LEASE.as_millis() as i64,
                )
                .await
                .map_err(store_err)?
        {
            // Another process refreshes: wait for its pair.
            (waiting.pause)(Duration::from_millis(100)).await;
            continue;
        }
        let call = match (&cfg.kind, &pair.refresh_token) {
            (ConnectionKind::Session(login), _) => endpoint.login(cfg, login),
            (_, Some(refresh)) => endpoint.refresh(cfg, refresh),
            (_, None) => {
                return Err(AccessError::NotConnected {
                    name: cfg.name.clone(),
                })
            }
        };
        if let Some(limit) = cfg.token_calls_per_day {
            let token_budget = format!("{}|token", cfg.name);
            if let Spend::Exhausted { until_ms, .. } = store
                .spend(&token_budget, Window::Day, limit, now)
                .await
                .map_err(store_err)?
            {
                // The lease ends by itself; nobody refreshes before the day turns.
                return Err(unavailable(format!(
                    "the provider's {limit} token calls a day are spent; the next refresh waits until {}",
                    crate::clock::from_unix_millis(until_ms)
                        .format(&time::format_description::well_known::Rfc3339)
                        .unwrap_or_default()
                )));
            }
        }
        crate::failpoint::hit("connection_before_refresh");
        let answer = match call.await {
            Ok(a) => a,
            Err(TokenError::Rejected(text)) => {
                store
                    .mark_broken(&cfg.name, &text, now_ms())
                    .await
                    .map_err(store_err)?;
                return Err(AccessError::Broken {
                    name: cfg.name.clone(),
                    reason: text,
                });
            }
            // The lease ends by itself; the next caller tries again.
            Err(TokenError::Transient(text)) => return Err(unavailable(text)),
        };
        let obtained = now_ms();
        let refresh_token = match (answer.refresh_token, cfg.rotating) {
            (Some(r), _) => Some(r),
            (None, false) => pair.refresh_token.clone(),
            (None, true) => {
                let reason = "the token response has no refresh_token, and this connection rotates it (the old one is spent)".to_string();
                store
                    .mark_broken(&cfg.name, &reason, obtained)
                    .await
                    .map_err(store_err)?;
                return Err(AccessError::Broken {
                    name: cfg.name.clone(),
                    reason,
                });
            }
        };
        let new_pair = TokenPair {
            access_token: answer.access_token,
            access_expires_at_ms: obtained
                + i64::try_from(answer.expires_in.as_millis()).unwrap_or(i64::MAX / 2),
            refresh_token,
            obtained_at_ms: obtained,
        };
        crate::failpoint::hit("connection_after_refresh");
        // The old refresh token is spent: nothing else happens until the new pair is
        // stored. A failed write is retried with the same new pair.
        let mut attempt = 0u32;
        loop {
            attempt += 1;
            match store
                .store_pair(&cfg.name, stored.generation, &new_pair, now_ms())
                .await
            {
                Ok(true) => return Ok(new_pair.access_token),
                Ok(false) => {
                    // Our lease lapsed and another stored a pair: theirs is the one kept.
                    tracing::warn!(connection = %cfg.name, "a refreshed pair lost its compare-and-set; using the stored one");
                    break;
                }
                Err(e) if attempt < 20 => {
                    tracing::warn!(connection = %cfg.name, attempt, error = %e, "the refreshed pair is not stored yet; retrying");
                    (waiting.pause)(Duration::from_millis(50 * u64::from(attempt))).await;
                }
                Err(e) => return Err(store_err(e)),
            }
        }
    }
}

/// What a provider's rate-limit headers say is left, by window: Xero's `X-MinLimit-Remaining`
/// and `X-DayLimit-Remaining` (developer.xero.com/faq/limits), Exact Online's
/// `X-RateLimit-Minutely-Remaining` and, beside it, the daily `X-RateLimit-Remaining` (as
/// its rate-limit headers are documented; the daily one is read only with the minutely
/// ones present, since other APIs use that name for other windows).
pub fn remaining_by_window(header: &dyn Fn(&str) -> Option<String>) -> Vec<(Window, u64)> {
    let number = |name: &str| header(name).and_then(|v| v.trim().parse::<u64>().ok());
    let mut out = Vec::new();
    if let Some(n) =
        number("x-minlimit-remaining").or_else(|| number("x-ratelimit-minutely-remaining"))
    {
        out.push((Window::Minute, n));
    }
    let exact = header("x-ratelimit-minutely-limit").is_some();
    if let Some(n) = number("x-daylimit-remaining")
        .or_else(|| exact.then(|| number("x-ratelimit-remaining")).flatten())
    {
        out.push((Window::Day, n));
    }
    out
}

/// Take one call from each configured budget window of `cfg`. `Err(Exhausted)` names the
/// window that is spent and when the next starts.
pub async fn spend_budget(
    cfg: &ConnectionConfig,
    store: &dyn ConnectionStore,
    now_ms: i64,
) -> Result<Spend, StoreError> {
    for (window, limit) in [
        (Window::Second, cfg.per_second),
        (Window::Minute, cfg.per_minute),
        (Window::Day, cfg.per_day),
    ] {
        if let Some(limit) = limit {
            if let s @ Spend::Exhausted { .. } =
                store.spend(&cfg.name, window, limit, now_ms).await?
            {
                return Ok(s);
            }
        }
    }
    Ok(Spend::Granted)
}

/// The budget names of an endpoint's error count and pause: the connection's name and a
/// hash of the method and the URL's path (the query is not part of an endpoint).
fn endpoint_names(cfg: &ConnectionConfig, method: &str, url: &str) -> (String, String) {
    let path = url::Url::parse(url)
        .map(|u| u.path().to_string())
        .unwrap_or_else(|_| url.split('?').next().unwrap_or_default().to_string());
    let h = crc32fast::hash(format!("{} {path}", method.to_ascii_uppercase()).as_bytes());
    (
        format!("{}|errors|{h:08x}", cfg.name),
        format!("{}|paused|{h:08x}", cfg.name),
    )
}

/// Whether `method url` may be called now: `Some(until_ms)` while the endpoint is paused
/// for the errors it gave this hour. Free without `errors_per_hour`; with it, one budget
/// write (the pause is a window marked spent, read by spending from it).
pub async fn endpoint_paused(
    cfg: &ConnectionConfig,
    store: &dyn ConnectionStore,
    method: &str,
    url: &str,
    now_ms: i64,
) -> Result<Option<i64>, StoreError> {
    if cfg.errors_per_hour.is_none() {
        return Ok(None);
    }
    let (_, paused) = endpoint_names(cfg, method, url);
    Ok(
        match store
            .spend(&paused, Window::Hour, u32::MAX - 1, now_ms)
            .await?
        {
            Spend::Granted => None,
            Spend::Exhausted { until_ms, .. } => Some(until_ms),
        },
    )
}

/// Count an error answer of `method url` (Exact Online counts 400, 401, 403 and 404); at
/// half the provider's hourly limit the endpoint is paused, for every process, until the
/// hour ends — so the provider's own block (an hour, longer when repeated) never comes.
/// Returns whether this error paused it.
pub async fn endpoint_failed(
    cfg: &ConnectionConfig,
    store: &dyn ConnectionStore,
    method: &str,
    url: &str,
    now_ms: i64,
) -> Result<bool, StoreError> {
    let Some(limit) = cfg.errors_per_hour else {
        return Ok(false);
    };
    let (errors, paused) = endpoint_names(cfg, method, url);
    // Errors 1 .. limit/2 - 1 are granted; the next one pauses (the first spend of a
    // window is always granted, so `errors_per_hour` is at least 4).
    let allowed = (limit / 2).saturating_sub(1).max(1);
    match store.spend(&errors, Window::Hour, allowed, now_ms).await? {
        Spend::Granted => Ok(false),
        Spend::Exhausted { .. } => {
            store.exhaust(&paused, Window::Hour, now_ms).await?;
            Ok(true)
        }
    }
}

/// Whether the provider counts `status` towards its error limit.
pub fn counts_as_error(status: u16) -> bool {
    matches!(status, 400 | 401 | 403 | 404)
}

/// A loopback redirect URI's port and path (`http://127.0.0.1:8765/callback` → (8765,
/// "/callback")); `None` for anything `inlet connect` cannot listen on.
pub fn loopback_redirect(uri: &str) -> Option<(u16, String)> {
    let rest = uri
        .strip_prefix("http://127.0.0.1:")
        .or_else(|| uri.strip_prefix("http://localhost:"))?;
    let (port, path) = rest.split_once('/').unwrap_or((rest, ""));
    let port: u16 = port.parse().ok().filter(|p| *p != 0)?;
    Some((port, format!("/{path}")))
}

/// One authorization request of the code flow (RFC 6749 §4.1) with PKCE (RFC 7636, S256):
/// the URL to open, and what the redirect and the code exchange must match.
#[derive(Debug, Clone)]
pub struct Authorization {
    pub url: String,
    /// Compared with the redirect's `state`: a redirect without the same is forged (CSRF).
    pub state: String,
    /// Sent with the code exchange; the provider checks it against the challenge.
    pub verifier: Secret,
}

/// Build the authorization request for `cfg` from 64 random bytes (the caller's).
pub fn authorization(cfg: &ConnectionConfig, random: &[u8; 64]) -> Option<Authorization> {
    use base64::Engine as _;
    use sha2::Digest as _;
    let b64 = |b: &[u8]| base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(b);
    let base = cfg.authorize_url.as_ref()?;
    let state = b64(&random[..16]);
    let verifier = b64(&random[16..64]); // 64 characters, within RFC 7636's 43..128
    let challenge = b64(&sha2::Sha256::digest(verifier.as_bytes()));
    let mut query = vec![
        ("response_type", "code".to_string()),
        ("client_id", cfg.client_id.clone()),
        ("redirect_uri", cfg.redirect_uri.clone()),
        ("state", state.clone()),
        ("code_challenge", challenge),
        ("code_challenge_method", "S256".to_string()),
    ];
    if let Some(scope) = &cfg.scope {
        query.push(("scope", scope.clone()));
    }
    let encoded: Vec<String> = query
        .iter()
        .map(|(k, v)| {
            let v: String = crate::oauth1::encode(v);
            format!("{k}={v}")
        })
        .collect();
    let sep = if base.contains('?') { '&' } else { '?' };
    Some(Authorization {
        url: format!("{base}{sep}{}", encoded.join("&")),
        state,
        verifier: Secret::new(verifier),
    })
}

/// Whether the redirect's `state` is the one sent (constant time).
pub fn state_matches(sent: &str, received: &str) -> bool {
    use subtle::ConstantTimeEq as _;
    sent.len() == received.len() && bool::from(sent.as_bytes().ct_eq(received.as_bytes()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cfg() -> ConnectionConfig {
        let raw: RawConnection = toml::from_str(
            "name = \"xero\"\nkind = \"oauth2-refresh\"\ntoken_url = \"https://id.example/token\"\nclient_id = \"c 1\"\nclient_secret = \"s\"\nscope = \"offline_access accounting.transactions\"\nauthorize_url = \"https://login.example/authorize\"\n",
        )
        .unwrap();
        ConnectionConfig::build(&raw, &|_| None).unwrap()
    }

    #[test]
    fn the_authorization_url_carries_pkce_and_state() {
        let a = authorization(&cfg(), &[7; 64]).unwrap();
        assert!(a.url.starts_with("https://login.example/authorize?response_type=code&client_id=c%201&redirect_uri=http%3A%2F%2F127.0.0.1%3A8765%2Fcallback&state="), "{}", a.url);
        assert!(a.url.contains(
            "&code_challenge_method=S256&scope=offline_access%20accounting.transactions"
        ));
        // RFC 7636 appendix B's construction: challenge = BASE64URL(SHA256(verifier)).
        use base64::Engine as _;
        use sha2::Digest as _;
        let challenge = base64::engine::general_purpose::URL_SAFE_NO_PAD
            .encode(sha2::Sha256::digest(a.verifier.expose().as_bytes()));
        assert!(a.url.contains(&format!("code_challenge={challenge}&")));
        assert_eq!(a.verifier.expose().len(), 64);
        assert!(state_matches(&a.state, &a.state.clone()));
        assert!(!state_matches(&a.state, "forged"));
    }

    #[test]
    fn env_references_resolve_the_client_id_too() {
        let raw: RawConnection = toml::from_str(
            "name = \"xero\"\nkind = \"oauth2-refresh\"\ntoken_url = \"https://id.example/token\"\nclient_id = \"env:XERO_CLIENT_ID\"\nclient_secret = \"env:XERO_CLIENT_SECRET\"\n",
        )
        .unwrap();
        let env = |name: &str| Some(format!("value-of-{name}"));
        let c = ConnectionConfig::build(&raw, &env).unwrap();
        assert_eq!(c.client_id, "value-of-XERO_CLIENT_ID");
        assert_eq!(c.client_secret.expose(), "value-of-XERO_CLIENT_SECRET");
        let missing = ConnectionConfig::build(&raw, &|_| None).unwrap_err();
        assert!(missing.iter().any(|(f, _)| f == "client_id"), "{missing:?}");
    }

    fn problems(toml_text: &str) -> Vec<(String, String)> {
        let raw: RawConnection = toml::from_str(toml_text).unwrap();
        ConnectionConfig::build(&raw, &|_| None).unwrap_err()
    }

    #[test]
    fn each_kind_says_what_it_misses_and_what_is_not_its_own() {
        let p = problems(
            "name = \"adobe\"\nkind = \"oauth1\"\nconsumer_key = \"ck\"\nconsumer_secret = \"cs\"\naccess_token = \"at\"\nsignature_method = \"PLAINTEXT\"\ntoken_url = \"https://x/token\"\nlogin_url = \"https://x/Login\"\n",
        );
        let fields: Vec<&str> = p.iter().map(|(f, _)| f.as_str()).collect();
        for f in [
            "access_token_secret",
            "signature_method",
            "token_url",
            "login_url",
        ] {
            assert!(fields.contains(&f), "{f} in {p:?}");
        }
        let p = problems(
            "name = \"sap\"\nkind = \"session\"\nlogin_url = \"http://b1.example/b1s/v2/Login\"\nsession_minutes = 0\nconsumer_key = \"ck\"\n",
        );
        let fields: Vec<&str> = p.iter().map(|(f, _)| f.as_str()).collect();
        for f in ["login_url", "login_body", "session_minutes", "consumer_key"] {
            assert!(fields.contains(&f), "{f} in {p:?}");
        }
        let p = problems(
            "name = \"exact\"\nkind = \"oauth2-refresh\"\nclient_id = \"c\"\nclient_secret = \"s\"\nerrors_per_hour = 2\naccess_token_secret = \"x\"\n",
        );
        let fields: Vec<&str> = p.iter().map(|(f, _)| f.as_str()).collect();
        for f in ["token_url", "errors_per_hour", "access_token_secret"] {
            assert!(fields.contains(&f), "{f} in {p:?}");
        }
        let p = problems("name = \"x\"\nkind = \"saml\"\n");
        assert!(
            p.iter().any(|(f, m)| f == "kind" && m.contains("oauth1")),
            "{p:?}"
        );
        // An unresolvable secret in a login field names the field.
        let p = problems(
            "name = \"sap\"\nkind = \"session\"\nlogin_url = \"https://b1.example/b1s/v2/Login\"\nlogin_body = { Password = \"env:B1_PASSWORD\" }\n",
        );
        assert!(p.iter().any(|(f, _)| f == "login_body.Password"), "{p:?}");
    }

    #[test]
    fn a_session_login_body_is_json_with_its_secrets_resolved() {
        let raw: RawConnection = toml::from_str(
            "name = \"sap\"\nkind = \"session\"\nlogin_url = \"https://b1.example/b1s/v2/Login\"\nlogin_body = { CompanyDB = \"SBODEMOUS\", Password = \"env:B1_PASSWORD\" }\n",
        )
        .unwrap();
        let c = ConnectionConfig::build(&raw, &|_| Some("p\"w".into())).unwrap();
        let ConnectionKind::Session(login) = &c.kind else {
            panic!("{c:?}")
        };
        let body: serde_json::Value = serde_json::from_str(login.body.expose()).unwrap();
        assert_eq!(
            body,
            serde_json::json!({"CompanyDB": "SBODEMOUS", "Password": "p\"w"})
        );
        assert_eq!(login.default_lifetime, Duration::from_secs(1800));
        assert!(!c.rotating, "a session has no refresh token to rotate");
        assert!(
            !format!("{c:?}").contains("p\\\"w"),
            "the password is not in Debug"
        );
    }

    #[test]
    fn refresh_waits_for_the_providers_minimum_age() {
        let pair = TokenPair {
            access_token: Secret::new("a"),
            access_expires_at_ms: 600_000,
            refresh_token: None,
            obtained_at_ms: 0,
        };
        // A 10-minute token: due a minute early...
        assert_eq!(refresh_due_ms(&pair, Duration::ZERO), 540_000);
        // ...unless the provider refuses refreshes before 570 s (Exact Online).
        assert_eq!(refresh_due_ms(&pair, Duration::from_secs(570)), 570_000);
    }

    #[test]
    fn providers_rate_limit_headers_are_read_by_window() {
        let from = |pairs: &'static [(&'static str, &'static str)]| {
            move |name: &str| {
                pairs
                    .iter()
                    .find(|(k, _)| *k == name)
                    .map(|(_, v)| v.to_string())
            }
        };
        // Xero.
        let xero = from(&[
            ("x-minlimit-remaining", "59"),
            ("x-daylimit-remaining", "0"),
        ]);
        assert_eq!(
            remaining_by_window(&xero),
            [(Window::Minute, 59), (Window::Day, 0)]
        );
        // Exact Online: the daily `X-RateLimit-Remaining` beside its minutely headers.
        let exact = from(&[
            ("x-ratelimit-minutely-limit", "60"),
            ("x-ratelimit-minutely-remaining", "0"),
            ("x-ratelimit-remaining", "4990"),
        ]);
        assert_eq!(
            remaining_by_window(&exact),
            [(Window::Minute, 0), (Window::Day, 4990)]
        );
        // GitHub's hourly `X-RateLimit-Remaining` alone is not taken for a day.
        let github = from(&[("x-ratelimit-remaining", "0")]);
        assert!(remaining_by_window(&github).is_empty());
        let junk = from(&[
            ("x-minlimit-remaining", "-1"),
            ("x-daylimit-remaining", "lots"),
        ]);
        assert!(remaining_by_window(&junk).is_empty());
    }

    #[test]
    fn only_loopback_redirects_are_listened_on() {
        assert_eq!(
            loopback_redirect("http://127.0.0.1:8765/callback"),
            Some((8765, "/callback".into()))
        );
        assert_eq!(
            loopback_redirect("http://localhost:9000/"),
            Some((9000, "/".into()))
        );
        assert_eq!(loopback_redirect("https://example.com/callback"), None);
        assert_eq!(loopback_redirect("http://127.0.0.1:0/x"), None);
        assert_eq!(loopback_redirect("http://127.0.0.1.evil.com:80/x"), None);
    }
}
