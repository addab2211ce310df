//! A source's named connection at work: the OAuth2 refresh-token call (RFC 6749 §6) over
//! HTTP, and the glue the fetcher uses — a token from the store's single-flight refresh,
//! a budget taken before every call, and a connection marked broken when the API refuses
//! a fresh token.

use std::sync::Arc;
use std::time::{Duration, Instant};

use async_trait::async_trait;
use inlet_core::connection::{
    access_token, spend_budget, AccessError, ConnectionConfig, ConnectionStore, Spend,
    TokenEndpoint, TokenError, TokenResponse, Waiting,
};
use inlet_core::secret::Secret;
use inlet_core::usecase::reconcile::SourceError;

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

/// The provider's error text (`error` and `error_description`), short and inert.
fn provider_error(body: &[u8]) -> String {
    let v: serde_json::Value = serde_json::from_slice(body).unwrap_or_default();
    let text = |k: &str| v.get(k).and_then(|x| x.as_str()).unwrap_or("");
    let joined = match (text("error"), text("error_description")) {
        ("", "") => "no error code".to_string(),
        (e, "") => e.to_string(),
        (e, d) => format!("{e}: {d}"),
    };
    joined
        .chars()
        .filter(|c| !c.is_control())
        .take(300)
        .collect()
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
}

impl HttpTokenEndpoint {
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

    /// Take one call from the connection's budgets, waiting out a spent minute (within the
    /// deadline); a spent day stops the run until it resets, said as such.
    pub async fn spend(&self, deadline: Option<Instant>) -> Result<(), SourceError> {
        loop {
            let now = now_ms();
            let spent = spend_budget(&self.config, self.store.as_ref(), now)
                .await
                .map_err(|e| SourceError::Transient {
                    message: format!("connection {}: budget: {e}", self.config.name),
                    source: None,
                })?;
            match spent {
                Spend::Granted => return Ok(()),
                Spend::Exhausted { window, until_ms } => {
                    let wait = Duration::from_millis(u64::try_from(until_ms - now).unwrap_or(0));
                    let late = deadline.is_some_and(|d| Instant::now() + wait >= d);
                    if window == inlet_core::connection::Window::Day || late {
                        return Err(SourceError::Budget(format!(
                            "connection {}: the {} budget is spent until {}",
                            self.config.name,
                            window.as_str(),
                            crate::rfc3339(inlet_core::clock::from_unix_millis(until_ms))
                        )));
                    }
                    tokio::time::sleep(wait).await;
                }
            }
        }
    }

    /// The provider's rate-limit headers say a window is spent: every process waits for
    /// the next one (the budget's own count may not know of calls made elsewhere).
    pub async fn tighten(&self, headers: &reqwest::header::HeaderMap) {
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

    /// The API refused a token it was just given (401 twice): the grant is gone or the
    /// app lost access. Marked broken, so every caller stops until a person re-authorizes.
    pub async fn refused(&self, what: &str) -> SourceError {
        let reason = format!("the API refused a freshly refreshed token ({what})");
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
