//! inlet-sources: the provider change feeds the reconciliation poll reads.
//!
//! Each source turns a provider's API into changes whose idempotency key is exactly the
//! key the webhook path produces for the same change (both go through
//! `inlet_core::normalize`), so the ledger can tell a recovery from a duplicate. They share
//! one HTTP fetcher: retries with backoff and jitter, `429`/`Retry-After` and the GitHub and
//! Shopify rate-limit headers, auth (bearer, basic, API key header, OAuth2 client
//! credentials), and the run's deadline.

pub mod connection;
mod fetch;
pub mod github;
pub mod http_json;
pub mod link;
pub mod provider_http;
pub mod shopify;
pub mod stripe;
pub mod times;

use std::sync::Arc;

use inlet_core::config::Config;
use inlet_core::source_config::{SourceConfig, SourceKind};
use inlet_core::usecase::reconcile::{ChangeSource, SourceError};

pub use fetch::{rate_limit_wait, shopify_slowdown, Auth, Fetcher};

/// A configured source: one or more feeds (Shopify has one per resource) and the fetcher
/// they share, whose request count makes a run's cost visible.
pub struct BuiltSource {
    pub config: SourceConfig,
    pub feeds: Vec<Arc<dyn ChangeSource>>,
    pub fetcher: Arc<Fetcher>,
}

/// Build the feeds of one source (a source with a connection needs [`build_with`]).
pub fn build(config: &SourceConfig) -> Result<BuiltSource, SourceError> {
    build_with(config, None)
}

/// Build the feeds of one source; `connection` is its named connection's access, when it
/// uses one (see [`connection_for`]).
pub fn build_with(
    config: &SourceConfig,
    connection: Option<Arc<connection::ConnectionAuth>>,
) -> Result<BuiltSource, SourceError> {
    let auth = match &config.kind {
        SourceKind::StripeEvents { api_key } => Auth::Bearer(api_key.clone()),
        SourceKind::GithubDeliveries { token, .. } => Auth::Bearer(token.clone()),
        SourceKind::Shopify { access_token, .. } => Auth::Header {
            name: "x-shopify-access-token".into(),
            value: access_token.clone(),
        },
        SourceKind::HttpJson(_) | SourceKind::Preset { .. } => {
            match config.kind.configured_auth() {
                Some(auth) => Auth::from_config(auth, connection)?,
                None => Auth::None,
            }
        }
    };
    let fetcher = Arc::new(Fetcher::new(
        config.request_timeout,
        config.max_attempts,
        auth,
    )?);
    let feeds: Vec<Arc<dyn ChangeSource>> = match &config.kind {
        SourceKind::StripeEvents { .. } => {
            vec![Arc::new(stripe::StripeEvents::new(config, fetcher.clone()))]
        }
        SourceKind::GithubDeliveries { hooks_path, .. } => {
            vec![Arc::new(github::GithubDeliveries::new(
                config,
                hooks_path,
                fetcher.clone(),
            ))]
        }
        SourceKind::Shopify {
            resources,
            api_version,
            ..
        } => resources
            .iter()
            .map(|r| {
                Arc::new(shopify::ShopifyResource::new(
                    config,
                    r,
                    api_version,
                    fetcher.clone(),
                )) as Arc<dyn ChangeSource>
            })
            .collect(),
        SourceKind::HttpJson(spec) => vec![Arc::new(http_json::HttpJson::new(
            config,
            spec,
            fetcher.clone(),
        ))],
        SourceKind::Preset { feeds, .. } => feeds
            .iter()
            .map(|feed| {
                Arc::new(http_json::HttpJson::feed(config, feed, fetcher.clone()))
                    as Arc<dyn ChangeSource>
            })
            .collect(),
    };
    Ok(BuiltSource {
        config: config.clone(),
        feeds,
        fetcher,
    })
}

/// Why a response body was not read.
#[derive(Debug)]
pub enum BodyError {
    /// Longer than allowed: the body (declared or as it arrived) passed `max` bytes, and
    /// reading stopped there.
    TooLarge {
        max: usize,
    },
    Read(reqwest::Error),
}

/// Read a response body of at most `max` bytes: a declared `Content-Length` over it is
/// refused before anything is read, and an undeclared or lying one stops at the first
/// chunk past it — a provider (or whatever answers in its place) cannot make the poller
/// hold more than `max` bytes of one response.
pub async fn read_body_capped(
    mut resp: reqwest::Response,
    max: usize,
) -> Result<Vec<u8>, BodyError> {
    if resp.content_length().is_some_and(|n| n > max as u64) {
        return Err(BodyError::TooLarge { max });
    }
    let mut body = Vec::new();
    while let Some(chunk) = resp.chunk().await.map_err(BodyError::Read)? {
        if body.len() + chunk.len() > max {
            return Err(BodyError::TooLarge { max });
        }
        body.extend_from_slice(&chunk);
    }
    Ok(body)
}

/// Build every configured source (sources with a connection need [`build_all_with`]).
pub fn build_all(config: &Config) -> Result<Vec<BuiltSource>, SourceError> {
    config.sources.iter().map(build).collect()
}

/// The access a source's named connection gives it, with its tokens in `store`.
pub fn connection_for(
    config: &Config,
    source: &SourceConfig,
    store: &Arc<dyn inlet_core::connection::ConnectionStore>,
) -> Result<Option<Arc<connection::ConnectionAuth>>, SourceError> {
    let Some(inlet_core::source_config::AuthConfig::Connection(name)) =
        source.kind.configured_auth()
    else {
        return Ok(None);
    };
    let cfg = config
        .connection(name)
        .ok_or_else(|| SourceError::Auth(format!("connection {name} is not configured")))?;
    Ok(Some(Arc::new(connection::ConnectionAuth {
        config: cfg.clone(),
        store: Arc::clone(store),
        endpoint: Arc::new(connection::HttpTokenEndpoint::new(source.request_timeout)?),
    })))
}

/// Build every configured source, connections' tokens kept in `store`.
pub fn build_all_with(
    config: &Config,
    store: &Arc<dyn inlet_core::connection::ConnectionStore>,
) -> Result<Vec<BuiltSource>, SourceError> {
    config
        .sources
        .iter()
        .map(|s| build_with(s, connection_for(config, s, store)?))
        .collect()
}

/// Normalize one change exactly as the webhook path would, with `source = reconciliation`.
pub(crate) fn to_envelope(
    config: &SourceConfig,
    headers: &inlet_core::headers::Headers,
    body: &[u8],
    rules: &inlet_core::normalize::NormalizeRules,
) -> Result<inlet_core::envelope::Envelope, SourceError> {
    let correlation_id = format!("reconcile-{:016x}", fastrand::u64(..));
    inlet_core::normalize::normalize(
        &inlet_core::normalize::Incoming {
            provider: &config.provider,
            scheme: &config.scheme,
            headers,
            body,
            received_at: time::OffsetDateTime::now_utc(),
            correlation_id: &correlation_id,
            source: inlet_core::envelope::Source::Reconciliation,
        },
        rules,
    )
    .map_err(|e| SourceError::BadResponse(format!("change cannot be normalized: {e}")))
}

/// An RFC 3339 time from a JSON field, or a clear error naming it.
pub(crate) fn time_field(
    item: &serde_json::Value,
    pointer: &str,
    what: &str,
) -> Result<time::OffsetDateTime, SourceError> {
    let text = item
        .pointer(pointer)
        .and_then(|v| v.as_str())
        .ok_or_else(|| SourceError::BadResponse(format!("{what} has no {pointer} timestamp")))?;
    time::OffsetDateTime::parse(text, &time::format_description::well_known::Rfc3339).map_err(
        |_| SourceError::BadResponse(format!("{what} has an unparseable {pointer}: {text:?}")),
    )
}

/// Provider text, short and without control characters (it reaches logs and terminals).
pub(crate) fn inert(text: &str) -> String {
    text.chars().filter(|c| !c.is_control()).take(300).collect()
}

pub(crate) fn rfc3339(t: time::OffsetDateTime) -> String {
    t.format(&time::format_description::well_known::Rfc3339)
        .unwrap_or_default()
}

/// A Unix-seconds cursor.
pub(crate) fn parse_unix_cursor(cursor: &str) -> Result<i64, SourceError> {
    cursor
        .split('|')
        .next()
        .and_then(|c| c.parse().ok())
        .ok_or_else(|| {
            SourceError::BadResponse(format!("stored cursor {cursor:?} is not a Unix time"))
        })
}
