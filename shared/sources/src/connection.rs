//! A source's named connection at work: the OAuth2 refresh-token call (RFC 6749 §6) over
//! HTTP, and the glue the fetcher uses — a token from the store's single-flight refresh,
//! a budget taken before every call, and a connection marked broken when the API refuses
//! a fresh token.

use std::sync::Arc;
use std::time::{Duration, Instant};

use async_trait::async_trait;
use inlet_core::connection::{
    access_token, spend_budget, AccessError, ConnectionConfig, ConnectionKind, ConnectionStore,
    SessionLogin, Spend, TokenEndpoint, TokenError, TokenResponse, Waiting, Window,
};
use inlet_core::secret::Secret;
use inlet_core::usecase::reconcile::SourceError;

use crate::inert;

/// Token responses are a few hundred bytes.
const MAX_TOKEN_BODY_BYTES: usize = 64 * 1024;
/// An `expires_in` outside this range is clamped into it: the new refresh token in the
/// same answer must be kept whatever the provider says about the access token's life.
const MIN_LIFETIME: Duration = Duration::from_secs(60);
const MAX_LIFETIME: Duration = Duration::from_secs(24 * 3600);

/// The token endpoint over HTTP.
pub struct HttpTokenEndpoint {
    client: reqwest::Client,
}

impl HttpTokenEndpoint {
    pub fn new(timeout: Duration) -> Result<Self, SourceError> {
        let client = reqwest::Client::builder()
            .timeout(timeout)
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .map_err(|e| SourceError::BadResponse(format!("HTTP client: {e}")))?;
        Ok(Self { client })
    }
}

/// A refused login's text: SAP B1 answers `{"error": {"code": …, "message": {"value": …}}}`
/// (an OData error); anything else is said as "no error text".
fn login_error(body: &[u8]) -> String {
    let v: serde_json::Value = serde_json::from_slice(body).unwrap_or_default();
    let text = v
        .pointer("/error/message/value")
        .or_else(|| v.pointer("/error/message"))
        .and_then(|m| m.as_str())
        .unwrap_or("the login was refused (no error text)");
    inert(text)
}

/// The provider's error text (`error` and `error_description`), short and inert.
fn provider_error(body: &[u8]) -> String {
    let v: serde_json::Value = serde_json::from_slice(body).unwrap_or_default();
    let text = |k: &str| v.get(k).and_then(|x| x.as_str()).unwrap_or("");
    let joined = match (text("error"), text("error_description")) {
        ("", "") => "no error code".to_string(),
        (e, "") => e.to_string(),
        (e, d) => format!("{e}: {d}"),
    };
    inert(&joined)
}

#[async_trait]
impl TokenEndpoint for HttpTokenEndpoint {
    async fn refresh(
        &self,
        c: &ConnectionConfig,
        refresh_token: &Secret,
    ) -> Result<TokenResponse, TokenError> {
        let mut form = vec![
            ("grant_type", "refresh_token".to_string()),
            ("refresh_token", refresh_token.expose().to_string()),
        ];
        if let Some(scope) = &c.scope {
            form.push(("scope", scope.clone()));
        }
        self.post(c, form).await
    }

    async fn login(
        &self,
        c: &ConnectionConfig,
        login: &SessionLogin,
    ) -> Result<TokenResponse, TokenError> {
        self.open_session(c, login).await
    }
}

impl HttpTokenEndpoint {
    /// Log in (SAP B1's `POST /Login`): the cookies the answer sets are the session, sent
    /// back as one `Cookie` header; its life is the answer's `SessionTimeout` (minutes),
    /// else the configured one. A 401 is a refused login (wrong password, locked user).
    async fn open_session(
        &self,
        c: &ConnectionConfig,
        login: &SessionLogin,
    ) -> Result<TokenResponse, TokenError> {
        let resp = self
            .client
            .post(&login.login_url)
            .header("content-type", "application/json")
            .body(login.body.expose().to_string())
            .send()
            .await
            .map_err(|e| {
                TokenError::Transient(format!("login endpoint unreachable ({})", e.without_url()))
            })?;
        let status = resp.status().as_u16();
        let cookies: Vec<String> = resp
            .headers()
            .get_all(reqwest::header::SET_COOKIE)
            .iter()
            .filter_map(|v| v.to_str().ok())
            .filter_map(|v| v.split(';').next())
            .map(str::trim)
            .filter(|pair| pair.contains('=') && !pair.starts_with('='))
            .map(str::to_string)
            .collect();
        let body = crate::read_body_capped(resp, MAX_TOKEN_BODY_BYTES)
            .await
            .map_err(|_| TokenError::Transient("login response unreadable or too large".into()))?;
        match status {
            200..=299 => {}
            400 | 401 | 403 => return Err(TokenError::Rejected(login_error(&body))),
            _ => {
                return Err(TokenError::Transient(format!(
                    "login endpoint answered {status}"
                )))
            }
        }
        if cookies.is_empty() {
            return Err(TokenError::Transient(format!(
                "connection {}: the login answered {status} without a session cookie",
                c.name
            )));
        }
        let minutes = serde_json::from_slice::<serde_json::Value>(&body)
            .ok()
            .and_then(|v| v.get("SessionTimeout").and_then(serde_json::Value::as_f64))
            .filter(|m| m.is_finite() && *m > 0.0);
        let lifetime = minutes
            .map_or(login.default_lifetime, |m| {
                Duration::from_secs_f64(m.min(MAX_LIFETIME.as_secs_f64() / 60.0) * 60.0)
            })
            .clamp(MIN_LIFETIME * 2, MAX_LIFETIME);
        Ok(TokenResponse {
            access_token: Secret::new(cookies.join("; ")),
            expires_in: lifetime,
            refresh_token: None,
        })
    }

    /// Exchange an authorization code (RFC 6749 §4.1.3) with its PKCE verifier.
    pub async fn exchange_code(
        &self,
        c: &ConnectionConfig,
        code: &str,
        verifier: &Secret,
    ) -> Result<TokenResponse, TokenError> {
        let form = vec![
            ("grant_type", "authorization_code".to_string()),
            ("code", code.to_string()),
            ("redirect_uri", c.redirect_uri.clone()),
            ("code_verifier", verifier.expose().to_string()),
        ];
        self.post(c, form).await
    }

    /// POST a token request with the client's credentials, and read the answer.
    async fn post(
        &self,
        c: &ConnectionConfig,
        mut form: Vec<(&'static str, String)>,
    ) -> Result<TokenResponse, TokenError> {
        let mut req = self.client.post(&c.token_url);
        if c.client_auth_basic {
            req = req.basic_auth(&c.client_id, Some(c.client_secret.expose()));
        } else {
            form.push(("client_id", c.client_id.clone()));
            form.push(("client_secret", c.client_secret.expose().to_string()));
        }
        let resp = req.form(&form).send().await.map_err(|e| {
            TokenError::Transient(format!("token endpoint unreachable ({})", e.without_url()))
        })?;
        let status = resp.status().as_u16();
        let body = crate::read_body_capped(resp, MAX_TOKEN_BODY_BYTES)
            .await
            .map_err(|_| TokenError::Transient("token response unreadable or too large".into()))?;
        match status {
            200..=299 => {}
            // RFC 6749 §5.2: a refused grant or client is 400 (or 401 for the client).
            400 | 401 => return Err(TokenError::Rejected(provider_error(&body))),
            _ => {
                return Err(TokenError::Transient(format!(
                    "token endpoint answered {status}"
                )))
            }
        }
        let v: serde_json::Value = serde_json::from_slice(&body).map_err(|_| {
            TokenError::Transient("token endpoint answered 2xx with a body that is not JSON".into())
        })?;
        let access = v
            .get("access_token")
            .and_then(|t| t.as_str())
            .filter(|t| !t.is_empty())
            .ok_or_else(|| TokenError::Transient("token response has no access_token".into()))?;
        let expires_in = v
            .get("expires_in")
            .and_then(|e| e.as_f64().or_else(|| e.as_str()?.parse().ok()))
            .filter(|s| s.is_finite() && *s > 0.0)
            .map_or(Duration::from_secs(3600), |s| {
                Duration::from_secs_f64(s.min(MAX_LIFETIME.as_secs_f64()))
            })
            .clamp(MIN_LIFETIME, MAX_LIFETIME);
        Ok(TokenResponse {
            access_token: Secret::new(access),
            expires_in,
            refresh_token: v
                .get("refresh_token")
                .and_then(|t| t.as_str())
                .filter(|t| !t.is_empty())
                .map(Secret::new),
        })
    }
}

/// A source's connection: its config, where its tokens live, and how to refresh them.
pub struct ConnectionAuth {
    pub config: ConnectionConfig,
    pub store: Arc<dyn ConnectionStore>,
    pub endpoint: Arc<dyn TokenEndpoint>,
}

fn now_ms() -> i64 {
    inlet_core::clock::unix_millis(time::OffsetDateTime::now_utc())
}

fn pause(d: Duration) -> futures::future::BoxFuture<'static, ()> {
    Box::pin(tokio::time::sleep(d))
}

impl ConnectionAuth {
    /// A usable access token (refreshed by one process at a time when due).
    pub async fn token(&self, deadline: Option<Instant>) -> Result<Secret, SourceError> {
        let waiting = Waiting {
            now_ms: &now_ms,
            pause: &pause,
            deadline,
        };
        access_token(
            &self.config,
            self.store.as_ref(),
            self.endpoint.as_ref(),
            &waiting,
        )
        .await
        .map_err(|e| match e {
            AccessError::Unavailable { .. } => SourceError::Transient {
                message: e.to_string(),
                source: None,
            },
            AccessError::Broken { .. } | AccessError::NotConnected { .. } => {
                SourceError::Auth(e.to_string())
            }
        })
    }

    /// Authorize one request through the connection (a source's: a spent second or minute
    /// is waited out within the deadline; a spent day or a paused endpoint stops the run,
    /// said as such), then give it the kind's credentials.
    pub async fn authorize(
        &self,
        req: reqwest::RequestBuilder,
        method: &str,
        url: &str,
        deadline: Option<Instant>,
    ) -> Result<reqwest::RequestBuilder, SourceError> {
        loop {
            let Some(held) = self.admit(method, url).await? else {
                return self.credentials(req, method, url, deadline).await;
            };
            let wait = held.wait();
            let late = deadline.is_some_and(|d| Instant::now() + wait >= d);
            let short = matches!(
                held,
                Held::Spent {
                    window: Window::Second | Window::Minute,
                    ..
                }
            );
            if !short || late {
                return Err(SourceError::Budget(held.describe(
                    &self.config,
                    method,
                    url,
                )));
            }
            tokio::time::sleep(wait).await;
        }
    }

    /// May a call to `method url` go now? `None`: yes, and a call was taken from the
    /// budgets; `Some`: what holds it (nothing is waited for here).
    pub async fn admit(&self, method: &str, url: &str) -> Result<Option<Held>, SourceError> {
        let transient = |what: &str, e: inlet_core::ports::StoreError| SourceError::Transient {
            message: format!("connection {}: {what}: {e}", self.config.name),
            source: None,
        };
        let now = now_ms();
        let paused = inlet_core::connection::endpoint_paused(
            &self.config,
            self.store.as_ref(),
            method,
            url,
            now,
        )
        .await
        .map_err(|e| transient("error count", e))?;
        if let Some(until_ms) = paused {
            return Ok(Some(Held::Paused { until_ms }));
        }
        match spend_budget(&self.config, self.store.as_ref(), now)
            .await
            .map_err(|e| transient("budget", e))?
        {
            Spend::Granted => Ok(None),
            Spend::Exhausted { window, until_ms } => Ok(Some(Held::Spent { window, until_ms })),
        }
    }

    /// Give an admitted request the kind's credentials: a bearer token, the session's
    /// cookies, or an OAuth 1.0a signature of `method url`.
    pub async fn credentials(
        &self,
        req: reqwest::RequestBuilder,
        method: &str,
        url: &str,
        deadline: Option<Instant>,
    ) -> Result<reqwest::RequestBuilder, SourceError> {
        Ok(match &self.config.kind {
            ConnectionKind::OAuth2Refresh => req.bearer_auth(self.token(deadline).await?.expose()),
            ConnectionKind::Session(_) => req.header(
                reqwest::header::COOKIE,
                self.token(deadline).await?.expose(),
            ),
            ConnectionKind::OAuth1(credentials) => {
                if let Some(reason) = self.broken().await? {
                    return Err(SourceError::Auth(
                        AccessError::Broken {
                            name: self.config.name.clone(),
                            reason,
                        }
                        .to_string(),
                    ));
                }
                let nonce = format!("{:032x}", fastrand::u128(..));
                let header = inlet_core::oauth1::authorization(
                    credentials,
                    method,
                    url,
                    now_ms() / 1000,
                    &nonce,
                )
                .map_err(|e| SourceError::BadResponse(e.to_string()))?;
                req.header(reqwest::header::AUTHORIZATION, header)
            }
        })
    }

    /// Why the connection is broken, if it is (OAuth1 has no token lookup to say it).
    async fn broken(&self) -> Result<Option<String>, SourceError> {
        Ok(self
            .store
            .load(&self.config.name)
            .await
            .map_err(|e| SourceError::Transient {
                message: format!("connection {}: {e}", self.config.name),
                source: None,
            })?
            .and_then(|s| s.broken))
    }

    /// What an answer says about the connection: rate-limit headers tighten the budget, and
    /// an error the provider counts is counted here too (and may pause the endpoint).
    pub async fn observe(
        &self,
        method: &str,
        url: &str,
        status: u16,
        headers: &reqwest::header::HeaderMap,
    ) {
        self.tighten(headers).await;
        if !inlet_core::connection::counts_as_error(status) {
            return;
        }
        match inlet_core::connection::endpoint_failed(
            &self.config,
            self.store.as_ref(),
            method,
            url,
            now_ms(),
        )
        .await
        {
            Ok(true) => tracing::warn!(
                connection = %self.config.name,
                endpoint = %endpoint_path(url),
                "an endpoint that keeps failing is paused until the hour ends"
            ),
            Ok(false) => {}
            Err(e) => {
                tracing::warn!(connection = %self.config.name, error = %e, "an error answer was not counted")
            }
        }
    }

    /// The provider's rate-limit headers say a window is spent: every process waits for
    /// the next one (the budget's own count may not know of calls made elsewhere).
    async fn tighten(&self, headers: &reqwest::header::HeaderMap) {
        let header = |name: &str| {
            headers
                .get(name)
                .and_then(|v| v.to_str().ok())
                .map(str::to_string)
        };
        for (window, left) in inlet_core::connection::remaining_by_window(&header) {
            if left == 0 {
                if let Err(e) = self
                    .store
                    .exhaust(&self.config.name, window, now_ms())
                    .await
                {
                    tracing::warn!(connection = %self.config.name, error = %e, "budget not tightened");
                }
            }
        }
    }

    /// The API refused a token it was just given (401 twice, or 403): the grant is gone or the
    /// app lost access. Marked broken, so every caller stops until a person re-authorizes.
    pub async fn refused(&self, what: &str) -> SourceError {
        let fresh = match self.config.kind {
            ConnectionKind::OAuth2Refresh => "a fresh token",
            ConnectionKind::Session(_) => "a fresh session",
            ConnectionKind::OAuth1(_) => "the signed request",
        };
        let reason = format!("the API refused {fresh} ({what})");
        if let Err(e) = self
            .store
            .mark_broken(&self.config.name, &reason, now_ms())
            .await
        {
            tracing::warn!(connection = %self.config.name, error = %e, "connection not marked broken");
        }
        SourceError::Auth(format!(
            "connection {} is broken: {reason}",
            self.config.name
        ))
    }

    /// Expire the stored access token (a 401 says it is no good), so the next use
    /// refreshes; the refresh token is kept.
    pub async fn expire_access(&self) -> Result<(), SourceError> {
        let transient = |m: String| SourceError::Transient {
            message: m,
            source: None,
        };
        let stored = self
            .store
            .load(&self.config.name)
            .await
            .map_err(|e| transient(e.to_string()))?;
        if let Some(s) = stored {
            if let Some(mut pair) = s.pair {
                pair.access_expires_at_ms = 0;
                pair.obtained_at_ms = 0;
                self.store
                    .store_pair(&self.config.name, s.generation, &pair, now_ms())
                    .await
                    .map_err(|e| transient(e.to_string()))?;
            }
        }
        Ok(())
    }
}

/// A URL's path, for messages (the query may hold a cursor or a filter, not secrets, but it
/// is long and says nothing about which endpoint).
fn endpoint_path(url: &str) -> String {
    url::Url::parse(url)
        .map(|u| u.path().to_string())
        .unwrap_or_default()
        .chars()
        .filter(|c| !c.is_control())
        .take(200)
        .collect()
}

/// What holds a call back.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Held {
    /// A budget window is spent until then (Unix ms).
    Spent { window: Window, until_ms: i64 },
    /// The endpoint gave too many errors this hour; paused until then.
    Paused { until_ms: i64 },
}

impl Held {
    /// How long until the call may go.
    pub fn wait(&self) -> Duration {
        let (Held::Spent { until_ms, .. } | Held::Paused { until_ms }) = *self;
        Duration::from_millis(u64::try_from(until_ms - now_ms()).unwrap_or(0))
    }

    /// For the run report and the log.
    pub fn describe(&self, c: &ConnectionConfig, method: &str, url: &str) -> String {
        let at = |ms: i64| crate::rfc3339(inlet_core::clock::from_unix_millis(ms));
        match *self {
            Held::Spent { window, until_ms } => format!(
                "connection {}: the {} budget is spent until {}",
                c.name,
                window.as_str(),
                at(until_ms)
            ),
            Held::Paused { until_ms } => format!(
                "connection {}: {method} {} is paused until {} after {} errors this hour (the provider blocks at {})",
                c.name,
                endpoint_path(url),
                at(until_ms),
                c.errors_per_hour.unwrap_or(0) / 2,
                c.errors_per_hour.unwrap_or(0),
            ),
        }
    }
}
