//! The HTTP fetcher every source shares: auth, retries with exponential backoff and jitter,
//! rate limits, and the run's deadline.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use inlet_core::retry::{retry_after, Backoff, Failure, GiveUp, Next, RetryPolicy};
use inlet_core::secret::Secret;
use inlet_core::source_config::AuthConfig;
use inlet_core::usecase::reconcile::SourceError;
use reqwest::header::HeaderMap;
use tokio::sync::Mutex;
use tracing::{debug, warn};

/// The longest single wait a rate limit may impose before the run gives up for now.
const MAX_RATE_LIMIT_WAIT: Duration = Duration::from_secs(120);
/// A response body larger than this is refused (a provider page is far smaller).
const MAX_BODY_BYTES: usize = 32 * 1024 * 1024;
/// A token response is a few hundred bytes; 64 KiB is generous.
const MAX_TOKEN_BODY_BYTES: usize = 64 * 1024;

pub enum Auth {
    None,
    Bearer(Secret),
    Basic {
        username: String,
        password: Secret,
    },
    Header {
        name: String,
        value: Secret,
    },
    OAuth2(OAuth2),
    /// A named connection: stored tokens refreshed one process at a time, and a budget.
    Connection(std::sync::Arc<crate::connection::ConnectionAuth>),
}

impl Auth {
    /// The auth a source's config names. A connection needs its [`ConnectionAuth`]
    /// (`connection`); without one it is an error the caller reports.
    pub fn from_config(
        c: &AuthConfig,
        connection: Option<std::sync::Arc<crate::connection::ConnectionAuth>>,
    ) -> Result<Auth, SourceError> {
        Ok(match c {
            AuthConfig::Connection(name) => Auth::Connection(connection.ok_or_else(|| {
                SourceError::Auth(format!(
                    "connection {name}: no connection store to keep its tokens in"
                ))
            })?),
            AuthConfig::None => Auth::None,
            AuthConfig::Bearer(t) => Auth::Bearer(t.clone()),
            AuthConfig::Basic { username, password } => Auth::Basic {
                username: username.clone(),
                password: password.clone(),
            },
            AuthConfig::ApiKey { header, key } => Auth::Header {
                name: header.clone(),
                value: key.clone(),
            },
            AuthConfig::OAuth2 {
                token_url,
                client_id,
                client_secret,
                scope,
            } => Auth::OAuth2(OAuth2 {
                token_url: token_url.clone(),
                client_id: client_id.clone(),
                client_secret: client_secret.clone(),
                scope: scope.clone(),
                token: Mutex::new(None),
            }),
        })
    }
}

/// OAuth2 client credentials, with the access token cached and refreshed a minute before
/// it expires (and once more when the API answers 401).
pub struct OAuth2 {
    token_url: String,
    client_id: String,
    client_secret: Secret,
    scope: Option<String>,
    token: Mutex<Option<(Secret, Instant)>>,
}

pub struct Fetcher {
    client: reqwest::Client,
    auth: Auth,
    retry: RetryPolicy,
    requests: AtomicU64,
}

/// A successful JSON response.
pub struct Fetched {
    pub body: serde_json::Value,
    pub headers: HeaderMap,
}

fn transient(message: String, source: Option<reqwest::Error>) -> SourceError {
    SourceError::Transient {
        message,
        source: source.map(|e| Box::new(e) as inlet_core::BoxError),
    }
}

/// Wait `d`, unless that would pass the deadline.
async fn pause(d: Duration, deadline: Option<Instant>) -> Result<(), SourceError> {
    if deadline.is_some_and(|dl| Instant::now() + d >= dl) {
        return Err(SourceError::Deadline);
    }
    tokio::time::sleep(d).await;
    Ok(())
}

fn header<'h>(h: &'h HeaderMap, name: &str) -> Option<&'h str> {
    h.get(name).and_then(|v| v.to_str().ok()).map(str::trim)
}

/// How long a rate-limited response asks us to wait: `Retry-After` (seconds or a date), else GitHub's
/// `x-ratelimit-reset` (epoch seconds) when `x-ratelimit-remaining` is 0. At most an hour,
/// whatever the header says (`NaN`, `1e300` and far-future resets included).
pub fn rate_limit_wait(status: u16, h: &HeaderMap) -> Option<Duration> {
    let now = time::OffsetDateTime::now_utc();
    if let Some(wait) = header(h, "retry-after").and_then(|v| retry_after(v, now)) {
        return Some(wait);
    }
    if header(h, "x-ratelimit-remaining") == Some("0") {
        let reset = header(h, "x-ratelimit-reset").and_then(|v| v.parse::<i64>().ok())?;
        let secs = u64::try_from(reset.saturating_sub(now.unix_timestamp())).unwrap_or(0);
        return Some(Duration::from_secs(
            secs.saturating_add(1)
                .min(inlet_core::retry::MAX_RETRY_AFTER.as_secs()),
        ));
    }
    (status == 429).then_some(Duration::ZERO)
}

/// Shopify's leaky bucket: `X-Shopify-Shop-Api-Call-Limit: 32/40`. Near the top, slow down
/// so the next request does not earn a 429.
pub fn shopify_slowdown(h: &HeaderMap) -> Option<Duration> {
    let (used, limit) = header(h, "x-shopify-shop-api-call-limit")?.split_once('/')?;
    let (used, limit) = (
        used.trim().parse::<u64>().ok()?,
        limit.trim().parse::<u64>().ok()?,
    );
    // u64 from u32-sized inputs cannot overflow below; a hostile header is any number.
    (limit > 0 && used.saturating_mul(10) >= limit.saturating_mul(8))
        .then_some(Duration::from_millis(500))
}

impl Fetcher {
    pub fn new(timeout: Duration, max_attempts: u32, auth: Auth) -> Result<Fetcher, SourceError> {
        let client = reqwest::Client::builder()
            .timeout(timeout)
            .connect_timeout(timeout.min(Duration::from_secs(10)))
            .user_agent(concat!("inlet/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|e| transient("cannot build the HTTP client".into(), Some(e)))?;
        Ok(Fetcher {
            client,
            auth,
            retry: RetryPolicy {
                attempts: max_attempts.max(1),
                backoff: Backoff {
                    base: Duration::from_millis(250),
                    max: Duration::from_secs(30),
                },
                max_wait: MAX_RATE_LIMIT_WAIT,
            },
            requests: AtomicU64::new(0),
        })
    }

    /// HTTP requests made so far (token requests included): the cost of a run.
    pub fn requests(&self) -> u64 {
        self.requests.load(Ordering::Relaxed)
    }

    async fn bearer_token(
        &self,
        oauth: &OAuth2,
        deadline: Option<Instant>,
    ) -> Result<Secret, SourceError> {
        let mut cached = oauth.token.lock().await;
        if let Some((token, refresh_at)) = cached.as_ref() {
            if Instant::now() < *refresh_at {
                return Ok(token.clone());
            }
        }
        let form_body = {
            let mut form = url::form_urlencoded::Serializer::new(String::new());
            form.append_pair("grant_type", "client_credentials");
            if let Some(scope) = &oauth.scope {
                form.append_pair("scope", scope);
            }
            form.finish()
        };
        let mut attempt = 0;
        let resp = loop {
            attempt += 1;
            self.requests.fetch_add(1, Ordering::Relaxed);
            let sent = self
                .client
                .post(&oauth.token_url)
                .basic_auth(&oauth.client_id, Some(oauth.client_secret.expose()))
                .header("content-type", "application/x-www-form-urlencoded")
                .body(form_body.clone())
                .send()
                .await;
            let unreachable = match sent {
                // The last attempt's 5xx is reported as the endpoint's answer below.
                Ok(r) if r.status().is_server_error() && attempt < self.retry.attempts => None,
                Ok(r) => break r,
                Err(e) => Some(e),
            };
            self.wait_or(attempt, Failure::Transient, deadline, |_| {
                transient(
                    format!("token endpoint {} unreachable", oauth.token_url),
                    unreachable,
                )
            })
            .await?;
        };
        let status = resp.status().as_u16();
        if !(200..300).contains(&status) {
            return Err(if status >= 500 {
                transient(format!("token endpoint answered {status}"), None)
            } else {
                SourceError::Auth(format!(
                    "token endpoint {} answered {status}",
                    oauth.token_url
                ))
            });
        }
        let bytes = crate::read_body_capped(resp, MAX_TOKEN_BODY_BYTES)
            .await
            .map_err(|_| {
                SourceError::Auth("token endpoint answered an unreadable or oversized body".into())
            })?;
        let body: serde_json::Value = serde_json::from_slice(&bytes)
            .map_err(|_| SourceError::Auth("token endpoint answered non-JSON".into()))?;
        let token = body
            .get("access_token")
            .and_then(|t| t.as_str())
            .filter(|t| !t.is_empty())
            .ok_or_else(|| SourceError::Auth("token response has no access_token".into()))?;
        let lifetime = Duration::from_secs(
            body.get("expires_in")
                .and_then(|e| e.as_u64())
                .unwrap_or(3600),
        );
        // Refresh a minute early; for short-lived tokens, at half their life.
        let margin = Duration::from_secs(60).min(lifetime / 2);
        let token = Secret::new(token);
        *cached = Some((token.clone(), Instant::now() + lifetime - margin));
        debug!(lifetime_secs = lifetime.as_secs(), "oauth2 token obtained");
        Ok(token)
    }

    /// After attempt `attempt` failed with `failure`: sleep and go on (`Ok`), or the error
    /// to return — `Deadline` when the pause would outlast the run, else `give_up`'s.
    async fn wait_or(
        &self,
        attempt: u32,
        failure: Failure,
        deadline: Option<Instant>,
        give_up: impl FnOnce(GiveUp) -> SourceError,
    ) -> Result<(), SourceError> {
        match self.retry.next(attempt, failure, deadline) {
            Next::Wait(d) => {
                tokio::time::sleep(d).await;
                Ok(())
            }
            Next::GiveUp(GiveUp::Deadline) => Err(SourceError::Deadline),
            Next::GiveUp(why) => Err(give_up(why)),
        }
    }

    async fn forget_token(&self) {
        if let Auth::OAuth2(o) = &self.auth {
            *o.token.lock().await = None;
        }
    }

    async fn authorize(
        &self,
        req: reqwest::RequestBuilder,
        method: &str,
        url: &str,
        deadline: Option<Instant>,
    ) -> Result<reqwest::RequestBuilder, SourceError> {
        Ok(match &self.auth {
            Auth::None => req,
            Auth::Bearer(t) => req.bearer_auth(t.expose()),
            Auth::Basic { username, password } => req.basic_auth(username, Some(password.expose())),
            Auth::Header { name, value } => req.header(name.as_str(), value.expose()),
            Auth::OAuth2(o) => req.bearer_auth(self.bearer_token(o, deadline).await?.expose()),
            Auth::Connection(c) => c.authorize(req, method, url, deadline).await?,
        })
    }

    /// GET `url` and parse JSON, retrying transient failures and waiting out rate limits.
    pub async fn get_json(
        &self,
        url: &str,
        headers: &[(&str, &str)],
        deadline: Option<Instant>,
    ) -> Result<Fetched, SourceError> {
        self.send_json(url, headers, None, deadline).await
    }

    /// GET `url` — or POST `body` (JSON) to it: a search or GraphQL query — and parse the
    /// JSON answer, retrying transient failures and waiting out rate limits.
    pub async fn send_json(
        &self,
        url: &str,
        headers: &[(&str, &str)],
        body: Option<&str>,
        deadline: Option<Instant>,
    ) -> Result<Fetched, SourceError> {
        let method = if body.is_some() { "POST" } else { "GET" };
        let mut attempt: u32 = 0;
        let mut refreshed_token = false;
        loop {
            attempt += 1;
            if deadline.is_some_and(|d| Instant::now() >= d) {
                return Err(SourceError::Deadline);
            }
            let mut req = match body {
                Some(b) => self
                    .client
                    .post(url)
                    .header("content-type", "application/json")
                    .body(b.to_string()),
                None => self.client.get(url),
            }
            .header("accept", "application/json");
            for (k, v) in headers {
                req = req.header(*k, *v);
            }
            let req = self.authorize(req, method, url, deadline).await?;
            self.requests.fetch_add(1, Ordering::Relaxed);
            let resp = match req.send().await {
                Ok(r) => r,
                Err(e) => {
                    let what = if e.is_timeout() {
                        "timed out"
                    } else {
                        "failed"
                    };
                    self.wait_or(attempt, Failure::Transient, deadline, |_| {
                        transient(
                            format!("{method} {url} {what} after {attempt} attempts"),
                            Some(e),
                        )
                    })
                    .await?;
                    warn!(url, attempt, "request {what}; retried");
                    continue;
                }
            };
            let status = resp.status().as_u16();
            let h = resp.headers().clone();
            if let Auth::Connection(c) = &self.auth {
                c.observe(method, url, status, &h).await;
            }
            match status {
                200..=299 => {
                    let bytes = match crate::read_body_capped(resp, MAX_BODY_BYTES).await {
                        Ok(b) => b,
                        Err(crate::BodyError::TooLarge { max }) => {
                            return Err(SourceError::BadResponse(format!(
                                "{method} {url}: response is larger than {max} bytes"
                            )));
                        }
                        Err(crate::BodyError::Read(e)) => {
                            warn!(url, attempt, error = %e, "body read failed");
                            self.wait_or(attempt, Failure::Transient, deadline, |_| {
                                transient(
                                    format!("{method} {url}: body could not be read"),
                                    Some(e),
                                )
                            })
                            .await?;
                            continue;
                        }
                    };
                    let body = serde_json::from_slice(&bytes).map_err(|e| {
                        SourceError::BadResponse(format!(
                            "{method} {url}: response is not valid JSON ({e})"
                        ))
                    })?;
                    if let Some(d) = shopify_slowdown(&h) {
                        pause(d, deadline).await?;
                    }
                    return Ok(Fetched { body, headers: h });
                }
                401 if matches!(self.auth, Auth::Connection(_)) => {
                    if let Auth::Connection(c) = &self.auth {
                        if refreshed_token {
                            return Err(c.refused(&format!("{method} {url} answered 401")).await);
                        }
                        // The stored access token is no good: expire it, refresh, once more.
                        refreshed_token = true;
                        attempt -= 1;
                        c.expire_access().await?;
                    }
                    continue;
                }
                401 if matches!(self.auth, Auth::OAuth2(_)) && !refreshed_token => {
                    // The token may have been revoked or expired early: one fresh token.
                    refreshed_token = true;
                    attempt -= 1;
                    self.forget_token().await;
                    continue;
                }
                401 => {
                    return Err(SourceError::Auth(format!(
                        "{method} {url} answered 401: check the credential"
                    )))
                }
                403 | 429 => match rate_limit_wait(status, &h) {
                    Some(wait) => {
                        warn!(
                            url,
                            status,
                            wait_ms = wait.as_millis() as u64,
                            "rate limited"
                        );
                        self.wait_or(attempt, Failure::Throttled(Some(wait)), deadline, |why| {
                            let wait = match why {
                                GiveUp::WaitTooLong(w) => w,
                                _ => wait,
                            };
                            transient(
                                format!(
                                    "{method} {url} rate limited ({status}); retry in {}s",
                                    wait.as_secs()
                                ),
                                None,
                            )
                        })
                        .await?;
                    }
                    // Through a connection a 403 needs a person (a scope or a permission
                    // taken away): broken, alarmed, and no more calls until repaired.
                    None => {
                        return Err(match &self.auth {
                            Auth::Connection(c) => {
                                c.refused(&format!("{method} {url} answered 403")).await
                            }
                            _ => SourceError::Auth(format!(
                                "{method} {url} answered 403: the credential lacks access"
                            )),
                        })
                    }
                },
                408 | 500..=599 => {
                    warn!(url, status, attempt, "server error");
                    self.wait_or(attempt, Failure::Transient, deadline, |_| {
                        transient(
                            format!("{method} {url} answered {status} after {attempt} attempts"),
                            None,
                        )
                    })
                    .await?;
                }
                _ => {
                    return Err(SourceError::BadResponse(format!(
                        "{method} {url} answered {status}"
                    )))
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(pairs: &[(&'static str, &str)]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for (k, v) in pairs {
            h.insert(*k, v.parse().unwrap());
        }
        h
    }

    // Found while writing the `source_pages` fuzz target: `"NaN".parse::<f64>()` succeeds, and
    // `Duration::from_secs_f64(NaN)` panics.
    #[test]
    fn retry_after_nan_or_huge_is_bounded() {
        let max = inlet_core::retry::MAX_RETRY_AFTER;
        assert_eq!(
            rate_limit_wait(429, &headers(&[("retry-after", "NaN")])),
            Some(Duration::ZERO)
        );
        assert_eq!(
            rate_limit_wait(429, &headers(&[("retry-after", "inf")])),
            Some(max)
        );
        assert_eq!(
            rate_limit_wait(429, &headers(&[("retry-after", "1e300")])),
            Some(max)
        );
        assert_eq!(
            rate_limit_wait(429, &headers(&[("retry-after", "-5")])),
            Some(Duration::ZERO)
        );
    }

    // A reset far in the past or future must not overflow (i64::MIN - now) nor ask for a
    // wait that would overflow `Instant + Duration`.
    #[test]
    fn github_reset_extremes_are_bounded() {
        let max = inlet_core::retry::MAX_RETRY_AFTER;
        for reset in ["-9223372036854775808", "9223372036854775807"] {
            let h = headers(&[("x-ratelimit-remaining", "0"), ("x-ratelimit-reset", reset)]);
            let wait = rate_limit_wait(403, &h).unwrap();
            assert!(wait <= max, "{reset}: {wait:?}");
        }
    }

    #[test]
    fn shopify_call_limit_with_huge_numbers_does_not_overflow() {
        let h = headers(&[("x-shopify-shop-api-call-limit", "4294967295/4294967295")]);
        assert_eq!(shopify_slowdown(&h), Some(Duration::from_millis(500)));
        let h = headers(&[("x-shopify-shop-api-call-limit", "1/4294967295")]);
        assert_eq!(shopify_slowdown(&h), None);
    }
}
