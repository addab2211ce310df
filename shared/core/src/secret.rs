//! Secrets: resolved once from config (`env:NAME`, `file:PATH` or a literal), never printed.

pub use inlet_signatures::secret::{constant_time_eq, Secret};

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
        return Ok(Secret::new(value));
    }
    if let Some(path) = spec.strip_prefix("file:") {
        let value = read_secret_file(path).map_err(|reason| SecretError::File {
            path: path.to_string(),
            reason,
        })?;
        let value = value.trim_end_matches(['\n', '\r']).to_string();
        if value.is_empty() {
            return Err(SecretError::Empty);
        }
        return Ok(Secret::new(value));
    }
    if spec.is_empty() {
        return Err(SecretError::Empty);
    }
    Ok(Secret::new(spec))
}

/// A secret file is a small regular file: a path to a device, a FIFO or a large file
/// (`file:/dev/zero`, `file:/dev/stdin`) must fail `inlet check`, not hang it or fill memory.
const MAX_SECRET_FILE_BYTES: u64 = 64 * 1024;

fn read_secret_file(path: &str) -> Result<String, String> {
    use std::io::Read;
    let meta = std::fs::metadata(path).map_err(|e| e.kind().to_string())?;
    if !meta.is_file() {
        return Err("not a regular file".into());
    }
    let mut text = String::new();
    std::fs::File::open(path)
        .and_then(|f| f.take(MAX_SECRET_FILE_BYTES + 1).read_to_string(&mut text))
        .map_err(|e| e.kind().to_string())?;
    if text.len() as u64 > MAX_SECRET_FILE_BYTES {
        return Err(format!("larger than {MAX_SECRET_FILE_BYTES} bytes"));
    }
    Ok(text)
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

    #[test]
    fn a_device_or_huge_file_is_refused_not_read() {
        let env = |_: &str| None;
        for path in ["/dev/zero", "/dev/stdin", "/"] {
            let err = resolve(&format!("file:{path}"), &env).unwrap_err();
            assert!(matches!(err, SecretError::File { .. }), "{path}: {err:?}");
        }
        let big = std::env::temp_dir().join(format!("inlet-secret-big-{}", std::process::id()));
        std::fs::write(&big, vec![b'a'; 70 * 1024]).unwrap();
        let err = resolve(&format!("file:{}", big.display()), &env).unwrap_err();
        let _ = std::fs::remove_file(&big);
        assert!(err.to_string().contains("larger than"), "{err}");
    }
}
