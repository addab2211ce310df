//! Secrets: resolved once from config (`env:NAME`, `file:PATH` or a literal), never printed.

use std::fmt;

/// A signing secret or credential. `Debug` and `Display` are redacted; use
/// [`expose`](Secret::expose) at the one place the bytes are needed.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    pub fn new(value: impl Into<String>) -> Self {
        Self(value.into())
    }

    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret(***)")
    }
}

impl fmt::Display for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("***")
    }
}

/// Why a secret reference could not be resolved. Never contains the secret itself.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SecretError {
    #[error("environment variable {0} is not set")]
    EnvMissing(String),
    #[error("environment variable {0} is empty")]
    EnvEmpty(String),
    #[error("cannot read secret file {path}: {reason}")]
    File { path: String, reason: String },
    #[error("secret is empty")]
    Empty,
}

/// Resolve a secret reference: `env:NAME`, `file:PATH` (trailing newline trimmed), or a
/// literal value (fine for local development; use `env:` or a secret store elsewhere).
pub fn resolve(spec: &str, env: &dyn Fn(&str) -> Option<String>) -> Result<Secret, SecretError> {
    if let Some(name) = spec.strip_prefix("env:") {
        let value = env(name).ok_or_else(|| SecretError::EnvMissing(name.to_string()))?;
        if value.is_empty() {
            return Err(SecretError::EnvEmpty(name.to_string()));
        }
        return Ok(Secret(value));
    }
    if let Some(path) = spec.strip_prefix("file:") {
        let value = std::fs::read_to_string(path).map_err(|e| SecretError::File {
            path: path.to_string(),
            reason: e.kind().to_string(),
        })?;
        let value = value.trim_end_matches(['\n', '\r']).to_string();
        if value.is_empty() {
            return Err(SecretError::Empty);
        }
        return Ok(Secret(value));
    }
    if spec.is_empty() {
        return Err(SecretError::Empty);
    }
    Ok(Secret(spec.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn resolves_env_file_and_literal_and_never_prints() {
        let env = |n: &str| (n == "K").then(|| "s3cret".to_string());
        let s = resolve("env:K", &env).unwrap();
        assert_eq!(s.expose(), "s3cret");
        assert_eq!(format!("{s:?} {s}"), "Secret(***) ***");
        assert_eq!(
            resolve("env:NOPE", &env),
            Err(SecretError::EnvMissing("NOPE".into()))
        );
        assert_eq!(resolve("lit", &env).unwrap().expose(), "lit");
        assert_eq!(resolve("", &env), Err(SecretError::Empty));

        let dir = std::env::temp_dir().join(format!("inlet-secret-{}", std::process::id()));
        std::fs::write(&dir, "fromfile\n").unwrap();
        let spec = format!("file:{}", dir.display());
        assert_eq!(resolve(&spec, &env).unwrap().expose(), "fromfile");
        let _ = std::fs::remove_file(&dir);
        assert!(matches!(
            resolve("file:/nonexistent/x", &env),
            Err(SecretError::File { .. })
        ));
    }
}
