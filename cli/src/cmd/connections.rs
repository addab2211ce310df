//! `inlet connections`: what an operator needs to see before a sync silently stops.

use crate::args::DataDirArg;
use crate::backend::open_ports;
use crate::config_file;
use crate::error::{CliError, Outcome};
use crate::out::inert;
use std::path::Path;

/// `inlet connections`: what an operator needs to see before a sync silently stops.
pub(crate) async fn run(config: Option<&Path>, place: &DataDirArg, json: bool) -> Outcome {
    let ports = open_ports(place, false).await?;
    // The config only adds the idle limits; without one (or with one that does not load
    // here) the states are listed all the same.
    let configs = match config_file::resolve(config).map(|p| config_file::load(&p)) {
        Ok(Ok(c)) => c.connections,
        _ => Vec::new(),
    };
    let list = ports.connections.list().await.map_err(CliError::failed)?;
    let now = inlet_core::clock::unix_millis(time::OffsetDateTime::now_utc());
    let age = |ms: Option<i64>| ms.filter(|t| *t > 0).map(|t| (now - t).max(0) / 1000);
    if list.is_empty() && !json {
        crate::outln!("no connection has tokens stored yet (a source with auth = \"connection\" stores them on its first run)");
    }
    let mut broken = 0;
    for (name, c) in &list {
        let obtained = c.pair.as_ref().map(|p| p.obtained_at_ms);
        // No access token yet (a seeded pair before its first refresh, an OAuth1 or a
        // cleared mark): nothing expires.
        let expires_in = c
            .pair
            .as_ref()
            .filter(|p| !p.access_token.expose().is_empty())
            .map(|p| (p.access_expires_at_ms - now) / 1000);
        if c.broken.is_some() {
            broken += 1;
        }
        let idle = inlet_core::connection::refresh_idle_of(&configs, name);
        let refresh_days_left = inlet_core::connection::refresh_days_left(c, idle, now);
        if json {
            crate::out::json(&serde_json::json!({
                "connection": name,
                "state": if c.broken.is_some() { "broken" } else { "healthy" },
                "broken_reason": c.broken,
                "token_age_secs": age(obtained),
                "access_expires_in_secs": expires_in,
                "last_refresh_age_secs": age(c.last_refresh_ms),
                "last_failure": c.last_failure,
                "refreshing": c.refresh_lease_until_ms.is_some_and(|t| t > now),
                "refresh_token_days_left": refresh_days_left,
                "generation": c.generation,
            }));
        } else {
            let state = match &c.broken {
                Some(reason) => format!(
                    "BROKEN: {}  (repair the grant or credentials, then `inlet connect {}`)",
                    inert(reason),
                    inert(name)
                ),
                None => "healthy".into(),
            };
            crate::outln!(
                "{}  {}  token age {}  access expires in {}  last refresh {}  generation {}{}",
                inert(name),
                state,
                age(obtained).map_or("-".into(), |s| format!("{s} s")),
                expires_in.map_or("-".into(), |s| format!("{s} s")),
                age(c.last_refresh_ms).map_or("never".into(), |s| format!("{s} s ago")),
                c.generation,
                refresh_days_left.map_or(String::new(), |d| format!(
                    "  refresh token dies unused in {d} day(s)"
                ))
            );
        }
    }
    if broken > 0 {
        return Err(CliError::failed(format!("{broken} connection(s) broken")));
    }
    Ok(())
}
