//! `inlet config push|show --stack NAME`: the configuration a deployed stack's functions
//! run, in its ConfigBucket (see `inlet_aws::stack_config` for why an S3 object). Push
//! checks the file first — TOML, every section, every key path — and writes nothing when
//! it is invalid or too large, so the functions keep running the last good version.

use std::path::Path;

use inlet_aws::stack_config::{self, ConfigObject, MAX_CONFIG_BYTES};

use crate::error::{CliError, Outcome};
use crate::out::inert;

/// The stack's configuration object, from its outputs.
async fn object_of(sdk: &aws_config::SdkConfig, stack: &str) -> Result<ConfigObject, CliError> {
    let cfn = aws_sdk_cloudformation::Client::new(sdk);
    match stack_config::from_stack(&cfn, stack).await {
        Ok((_, Some(object))) => Ok(object),
        Ok((_, None)) => Err(CliError::config(format!(
            "stack {}: no ConfigObjectUri output; deploy the current template.yaml first",
            inert(stack)
        ))),
        Err(e) => Err(CliError::failed(format!("{}", inert(&e.to_string())))),
    }
}

pub async fn push(explicit: Option<&Path>, stack: &str) -> Outcome {
    let path = crate::config_file::resolve(explicit).map_err(CliError::config)?;
    let text = match std::fs::read(&path) {
        Ok(bytes) if bytes.len() > MAX_CONFIG_BYTES => {
            return Err(CliError::config(format!(
                "{}: {} bytes; the most a stack takes is {MAX_CONFIG_BYTES}; nothing pushed",
                path.display(),
                bytes.len()
            )));
        }
        Ok(bytes) => match String::from_utf8(bytes) {
            Ok(t) => t,
            Err(_) => {
                return Err(CliError::config(format!(
                    "{}: not UTF-8 text; nothing pushed",
                    path.display()
                )));
            }
        },
        Err(e) => {
            return Err(CliError::config(format!("{}: {e}", path.display())));
        }
    };
    // Every check `inlet check` makes but reading the secrets, which live in the stack's
    // secret bundle, not on this workstation.
    if let Err(e) = inlet_core::config::Config::check_without_secrets(&text) {
        return Err(CliError::config(format!(
            "{}: {e}\nnothing pushed; the functions keep the current version",
            path.display()
        )));
    }
    let sdk = inlet_aws::sdk_config().await;
    let object = object_of(&sdk, stack).await?;
    match stack_config::write(&inlet_aws::large_events::s3_client(&sdk), &object, &text).await {
        Ok(version) => {
            crate::outln!(
                "pushed {} ({} bytes) to {} as version {}; functions read it as they start (each logs config_version)",
                path.display(),
                text.len(),
                object.uri(),
                version.as_deref().unwrap_or("(unversioned)")
            );
            Ok(())
        }
        Err(e) => Err(CliError::failed(format!(
            "{}; nothing pushed",
            inert(&e.to_string())
        ))),
    }
}

pub async fn show(stack: &str) -> Outcome {
    let sdk = inlet_aws::sdk_config().await;
    let object = object_of(&sdk, stack).await?;
    match stack_config::read(&inlet_aws::large_events::s3_client(&sdk), &object).await {
        Ok((text, version)) => {
            crate::outln!(
                "# {} version {}",
                object.uri(),
                version.as_deref().unwrap_or("(unversioned)")
            );
            crate::out!("{text}");
            Ok(())
        }
        Err(e) => Err(CliError::failed(format!("{}", inert(&e.to_string())))),
    }
}
