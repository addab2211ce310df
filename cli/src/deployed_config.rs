//! `inlet config push|show --stack NAME`: the configuration a deployed stack's functions
//! run, in its ConfigBucket (see `inlet_aws::stack_config` for why an S3 object). Push
//! checks the file first — TOML, every section, every key path — and writes nothing when
//! it is invalid or too large, so the functions keep running the last good version.

use std::path::Path;

use inlet_aws::stack_config::{self, ConfigObject, MAX_CONFIG_BYTES};

use crate::exit;
use crate::out::inert;

/// The stack's configuration object, from its outputs.
async fn object_of(sdk: &aws_config::SdkConfig, stack: &str) -> Result<ConfigObject, u8> {
    let cfn = aws_sdk_cloudformation::Client::new(sdk);
    match stack_config::from_stack(&cfn, stack).await {
        Ok((_, Some(object))) => Ok(object),
        Ok((_, None)) => {
            crate::errln!("inlet: stack {}: no ConfigObjectUri output; deploy the current template.yaml first", inert(stack));
            Err(exit::CONFIG)
        }
        Err(e) => {
            crate::errln!("inlet: {}", inert(&e.to_string()));
            Err(exit::FAILURE)
        }
    }
}

pub async fn push(explicit: Option<&Path>, stack: &str) -> u8 {
    let path = match crate::config_file::resolve(explicit) {
        Ok(p) => p,
        Err(e) => {
            crate::errln!("inlet: {e}");
            return exit::CONFIG;
        }
    };
    let text = match std::fs::read(&path) {
        Ok(bytes) if bytes.len() > MAX_CONFIG_BYTES => {
            crate::errln!(
                "inlet: {}: {} bytes; the most a stack takes is {MAX_CONFIG_BYTES}; nothing pushed",
                path.display(),
                bytes.len()
            );
            return exit::CONFIG;
        }
        Ok(bytes) => match String::from_utf8(bytes) {
            Ok(t) => t,
            Err(_) => {
                crate::errln!("inlet: {}: not UTF-8 text; nothing pushed", path.display());
                return exit::CONFIG;
            }
        },
        Err(e) => {
            crate::errln!("inlet: {}: {e}", path.display());
            return exit::CONFIG;
        }
    };
    // Every check `inlet check` makes but reading the secrets, which live in the stack's
    // secret bundle, not on this workstation.
    if let Err(e) = inlet_core::config::Config::check_without_secrets(&text) {
        crate::errln!(
            "inlet: {}: {e}\nnothing pushed; the functions keep the current version",
            path.display()
        );
        return exit::CONFIG;
    }
    let sdk = inlet_aws::sdk_config().await;
    let object = match object_of(&sdk, stack).await {
        Ok(o) => o,
        Err(code) => return code,
    };
    match stack_config::write(&inlet_aws::large_events::s3_client(&sdk), &object, &text).await {
        Ok(version) => {
            crate::outln!(
                "pushed {} ({} bytes) to {} as version {}; functions read it as they start (each logs config_version)",
                path.display(),
                text.len(),
                object.uri(),
                version.as_deref().unwrap_or("(unversioned)")
            );
            exit::OK
        }
        Err(e) => {
            crate::errln!("inlet: {}; nothing pushed", inert(&e.to_string()));
            exit::FAILURE
        }
    }
}

pub async fn show(stack: &str) -> u8 {
    let sdk = inlet_aws::sdk_config().await;
    let object = match object_of(&sdk, stack).await {
        Ok(o) => o,
        Err(code) => return code,
    };
    match stack_config::read(&inlet_aws::large_events::s3_client(&sdk), &object).await {
        Ok((text, version)) => {
            crate::outln!(
                "# {} version {}",
                object.uri(),
                version.as_deref().unwrap_or("(unversioned)")
            );
            crate::out!("{text}");
            exit::OK
        }
        Err(e) => {
            crate::errln!("inlet: {}", inert(&e.to_string()));
            exit::FAILURE
        }
    }
}
