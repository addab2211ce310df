//! Provider secrets and API credentials from Secrets Manager: one secret holding a JSON
//! object `{"NAME": "value", …}`, read once per cold start and consulted by the config's
//! `env:NAME` references (the process environment is the fallback).

use std::collections::HashMap;

use aws_sdk_secretsmanager::Client;
use inlet_core::ports::StoreError;

/// Fetch and parse the secret bundle.
pub async fn load_bundle(
    client: &Client,
    secret_id: &str,
) -> Result<HashMap<String, String>, StoreError> {
    let out = client
        .get_secret_value()
        .secret_id(secret_id)
        .send()
        .await
        .map_err(crate::unavailable("Secrets Manager GetSecretValue failed"))?;
    let text = out
        .secret_string
        .ok_or_else(|| StoreError::Invalid("the secret has no SecretString".into()))?;
    let map: HashMap<String, serde_json::Value> = serde_json::from_str(&text).map_err(|_| {
        StoreError::Invalid("the secret is not a JSON object of names to values".into())
    })?;
    Ok(map
        .into_iter()
        .filter_map(|(k, v)| match v {
            serde_json::Value::String(s) => Some((k, s)),
            serde_json::Value::Number(n) => Some((k, n.to_string())),
            _ => None,
        })
        .collect())
}
