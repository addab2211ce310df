//! The webhook's HTTPS client for providers that sign with a published certificate (AWS SNS,
//! PayPal): fetches a certificate once and keeps it (they rotate rarely and every request
//! names one), and visits SNS's SubscribeURL when confirmation is enabled. Only https, a
//! short timeout, a small body cap; the URLs were checked against the provider's hosts
//! before they get here.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use async_trait::async_trait;
use inlet_core::ports::ProviderHttp;
use tokio::sync::Mutex;

/// A certificate is a few KiB; anything much larger is not one.
const MAX_BODY_BYTES: usize = 64 * 1024;
const TIMEOUT: Duration = Duration::from_secs(5);
/// How long a fetched certificate is reused.
const CACHE_FOR: Duration = Duration::from_secs(3600);
/// Distinct certificates kept; beyond it the oldest goes.
const CACHE_ENTRIES: usize = 64;

pub struct HttpProviderClient {
    /// Built on first use: most deployments never fetch a certificate, and building a TLS
    /// client (its root store) would only add to every cold start.
    client: tokio::sync::OnceCell<reqwest::Client>,
    cache: Mutex<HashMap<String, (Instant, Vec<u8>)>>,
    /// Tests serve certificates over plain HTTP on 127.0.0.1.
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

    async fn get(&self, url: &str) -> Result<Vec<u8>, String> {
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
        let resp = client
            .get(url)
            .send()
            .await
            .map_err(|e| format!("GET {url}: {e}"))?;
        let status = resp.status();
        if !status.is_success() {
            return Err(format!("GET {url}: HTTP {}", status.as_u16()));
        }
        if resp
            .content_length()
            .is_some_and(|n| n > MAX_BODY_BYTES as u64)
        {
            return Err(format!(
                "GET {url}: the body is larger than {MAX_BODY_BYTES} bytes"
            ));
        }
        let body = resp.bytes().await.map_err(|e| format!("GET {url}: {e}"))?;
        if body.len() > MAX_BODY_BYTES {
            return Err(format!(
                "GET {url}: the body is larger than {MAX_BODY_BYTES} bytes"
            ));
        }
        Ok(body.to_vec())
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
        let pem = self.get(url).await?;
        let mut cache = self.cache.lock().await;
        if cache.len() >= CACHE_ENTRIES {
            if let Some(oldest) = cache
                .iter()
                .min_by_key(|(_, (at, _))| *at)
                .map(|(k, _)| k.clone())
            {
                cache.remove(&oldest);
            }
        }
        cache.insert(url.to_string(), (Instant::now(), pem.clone()));
        Ok(pem)
    }

    async fn visit(&self, url: &str) -> Result<(), String> {
        self.get(url).await.map(|_| ())
    }
}
