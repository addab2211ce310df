//! Finding and loading the config file.

use std::path::{Path, PathBuf};

use inlet_core::config::{Config, ConfigError};

use crate::error::CliError;

pub const DEFAULT_FILE: &str = "inlet.toml";
pub const EXAMPLE_FILE: &str = "inlet.example.toml";

#[derive(Debug, thiserror::Error)]
pub enum LoadError {
    #[error("no config file: pass --config FILE, or create {DEFAULT_FILE} (see {EXAMPLE_FILE})")]
    NotFound,
    #[error("cannot read {path}: {source}")]
    Read {
        path: String,
        #[source]
        source: std::io::Error,
    },
    #[error("{path}: {source}")]
    Invalid {
        path: String,
        #[source]
        source: ConfigError,
    },
}

/// `explicit`, else `inlet.toml` if present, else `inlet.example.toml`.
pub fn resolve(explicit: Option<&Path>) -> Result<PathBuf, LoadError> {
    if let Some(p) = explicit {
        return Ok(p.to_path_buf());
    }
    [DEFAULT_FILE, EXAMPLE_FILE]
        .iter()
        .map(PathBuf::from)
        .find(|p| p.is_file())
        .ok_or(LoadError::NotFound)
}

/// Read and validate the config at `path`, resolving `env:` secrets from the environment.
pub fn load(path: &Path) -> Result<Config, LoadError> {
    let text = std::fs::read(path).map_err(|source| LoadError::Read {
        path: path.display().to_string(),
        source,
    })?;
    let text = String::from_utf8_lossy(&text);
    Config::from_toml(&text, &|name| std::env::var(name).ok()).map_err(|source| {
        LoadError::Invalid {
            path: path.display().to_string(),
            source,
        }
    })
}

/// The config as an operator's command needs it: validated, but `env:` secrets left
/// unread (an operator's workstation need not hold them). `None` when no file is given
/// and none is found.
pub fn load_for_operator(explicit: Option<&Path>) -> Result<Option<Config>, LoadError> {
    let path = match resolve(explicit) {
        Ok(p) => p,
        Err(LoadError::NotFound) => return Ok(None),
        Err(e) => return Err(e),
    };
    let text = std::fs::read(&path).map_err(|source| LoadError::Read {
        path: path.display().to_string(),
        source,
    })?;
    Config::from_toml_without_secrets(&String::from_utf8_lossy(&text))
        .map(Some)
        .map_err(|source| LoadError::Invalid {
            path: path.display().to_string(),
            source,
        })
}

/// The config a command needs: found and loaded, or a configuration error (exit 3).
pub fn load_config(explicit: Option<&Path>) -> Result<(PathBuf, Config), CliError> {
    let path = resolve(explicit).map_err(CliError::config)?;
    let config = load(&path).map_err(CliError::config)?;
    Ok((path, config))
}

/// The field names a command redacts when it shows payloads.
pub fn redact_fields(config: Option<&Config>) -> Vec<String> {
    config.map_or_else(
        || inlet_core::config::LoggingConfig::default().redact_fields,
        |c| c.logging.redact_fields.clone(),
    )
}
