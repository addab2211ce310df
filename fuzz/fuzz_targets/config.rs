//! The TOML config loader as `inlet check` runs it (bytes read lossily as UTF-8, `env:`
//! secrets resolved): any input gives a config or an error with a message, never a panic.
//! A config that loads is also loadable by the worker (`from_toml_without_secrets`).
#![no_main]

use inlet_core::config::Config;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    // `file:` secrets would read the machine's files: only env and literals here.
    if text.contains("file:") {
        return;
    }
    let env = |name: &str| (name.len() < 64).then(|| format!("value-of-{name}"));
    match Config::from_toml(&text, &env) {
        Ok(config) => {
            let _ = format!("{config:?}");
            assert!(
                Config::from_toml_without_secrets(&text).is_ok(),
                "loads with secrets but not without"
            );
        }
        Err(e) => {
            assert!(!e.to_string().is_empty());
        }
    }
});
