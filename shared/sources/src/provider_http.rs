//! The webhook's HTTPS client for providers that need one: the signing certificate of AWS
//! SNS and PayPal (fetched once and kept — they rotate rarely and every request names one),
//! SNS's SubscribeURL when confirmation is enabled, and a provider's object by id for
//! presets that send only an id (Mollie). Only https, a short timeout, a body cap, no
//! redirects; the URLs were checked against the provider's hosts or come from the config.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use async_trait::async_trait;
use inlet_core::ports::ProviderHttp;
use inlet_core::secret::Secret;
use tokio::sync::Mutex;

/// A certificate is a few KiB; anything much larger is not one.
const MAX_CERTIFICATE_BYTES: usize = 64 * 1024;
/// A provider's object (a Mollie payment) is a few KiB; the webhook's own body limit.
const MAX_OBJECT_BYTES: usize = 1024 * 1024;
const TIMEOUT: Duration = Duration::from_secs(5);
/// How long a fetched certificate is reused.
const CACHE_FOR: Duration = Duration::from_secs(3600);
/// Distinct certificates kept; beyond it the oldest goes.
const CACHE_ENTRIES: usize = 64;

pub struct HttpProviderClient {
    /// Built on first use: most deployments never fetch anything, and building a TLS
    /// client (its root store) would only add to every cold start.
    client: tokio::sync::OnceCell<reqwest::Client>,
    cache: Mutex<HashMap<String, (Instant, Vec<u8>)>>,
    /// Tests serve over plain HTTP on 127.0.0.1.
    allow_http: bool,
}

impl HttpProviderClient {
    pub fn new() -> Self {
        Self::build(false)
    }

    /// For tests against a local server: plain http allowed.
    pub fn for_tests() -> Self {
        Self::build(true)
    }

    fn build(allow_http: bool) -> Self {
        Self {
            client: tokio::sync::OnceCell::new(),
            cache: Mutex::new(HashMap::new()),
            allow_http,
        }
    }

    /// GET `url`; `Ok(None)` for a 404.
    async fn get(
        &self,
        url: &str,
        token: Option<&Secret>,
        max_bytes: usize,
    ) -> Result<Option<Vec<u8>>, String> {
        if !(url.starts_with("https://") || (self.allow_http && url.starts_with("http://"))) {
            return Err(format!("refusing a non-https URL: {url}"));
        }
        let client = self
            .client
            .get_or_init(|| async {
                reqwest::Client::builder()
                    .timeout(TIMEOUT)
                    .redirect(reqwest::redirect::Policy::none())
                    .build()
                    .unwrap_or_default()
            })
            .await;
        let mut request = client.get(url).header("accept", "application/json");
        if let Some(token) = token {
            request = request.bearer_auth(token.expose());
        }
        let resp = request
            .send()
            .await
            .map_err(|e| format!("GET {url}: {e}"))?;
        let status = resp.status();
        if status == reqwest::StatusCode::NOT_FOUND {
            return Ok(None);
        }
        if !status.is_success() {
            return Err(format!("GET {url}: HTTP {}", status.as_u16()));
        }
        match crate::read_body_capped(resp, max_bytes).await {
            Ok(body) => Ok(Some(body)),
            Err(crate::BodyError::TooLarge { max }) => {
                Err(format!("GET {url}: the body is larger than {max} bytes"))
            }
            Err(crate::BodyError::Read(e)) => Err(format!("GET {url}: {e}")),
        }
    }
}

impl Default for HttpProviderClient {
    fn default() -> Self {
        Self::new()
    }
}

#[async_trait]
impl ProviderHttp for HttpProviderClient {
    async fn certificate(&self, url: &str) -> Result<Vec<u8>, String> {
        if let Some((at, pem)) = self.cache.lock().await.get(url) {
            if at.elapsed() < CACHE_FOR {
                return Ok(pem.clone());
            }
        }
        let pem = self
            .get(url, None, MAX_CERTIFICATE_BYTES)
            .await?
            .ok_or_else(|| format!("GET {url}: HTTP 404"))?;
        let mut cache = self.cache.lock().await;
        if cache.len() >= CACHE_ENTRIES {
            let oldest = cache
                .iter()
                .min_by_key(|(_, (at, _))| *at)
                .map(|(k, _)| k.clone());
            if let Some(oldest) = oldest {
                cache.remove(&oldest);
            }
        }
        cache.insert(url.to_string(), (Instant::now(), pem.clone()));
        Ok(pem)
    }

    async fn visit(&self, url: &str) -> Result<(), String> {
        match self.get(url, None, MAX_CERTIFICATE_BYTES).await? {
            Some(_) => Ok(()),
            None => Err(format!("GET {url}: HTTP 404")),
        }
    }

    async fn fetch_object(
        &self,
        url: &str,
        token: Option<&Secret>,
    ) -> Result<Option<Vec<u8>>, String> {
        self.get(url, token, MAX_OBJECT_BYTES).await
    }
}
