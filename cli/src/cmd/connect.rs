//! `inlet connect NAME`: the OAuth2 authorization-code flow, once, from a workstation. It
//! prints the provider's authorization URL (with PKCE and a `state`), listens on the
//! connection's loopback redirect for the provider to send the browser back, refuses a
//! redirect whose `state` is not the one sent (a forged redirect), exchanges the code, and
//! stores the token pair where the sources read it (the local store, or the deployed
//! stack's table with `--backend aws`). Nothing is stored unless all of that succeeded.

use std::path::Path;
use std::time::Duration;

use inlet_core::connection::{
    authorization, loopback_redirect, state_matches, ConnectionConfig, ConnectionKind,
    SessionLogin, TokenPair,
};
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};

use crate::args::DataDirArg;
use crate::backend::open_ports;
use crate::config_file::load_config;
use crate::error::{CliError, Outcome};
use crate::out::inert;

/// What the redirect brought back.
enum Redirect {
    Code(String),
    /// The provider said no (`error`, `error_description`).
    Refused(String),
    /// A redirect that does not carry the `state` sent: not the provider's answer.
    Forged,
}

pub async fn run(
    explicit: Option<&Path>,
    place: &DataDirArg,
    name: &str,
    wait: Duration,
) -> Outcome {
    let (_, config) = load_config(explicit)?;
    let Some(cfg) = config.connection(name) else {
        return Err(CliError::not_found(format!(
            "no [[connections]] named {}",
            inert(name)
        )));
    };
    match &cfg.kind {
        ConnectionKind::OAuth2Refresh => {}
        ConnectionKind::Session(login) => return connect_session(cfg, login, place).await,
        ConnectionKind::OAuth1(_) => {
            // Nothing to obtain: the four credentials are the config's. Storing an empty
            // pair clears a broken mark after the credentials were replaced.
            let now = inlet_core::clock::unix_millis(time::OffsetDateTime::now_utc());
            let pair = TokenPair {
                access_token: inlet_core::secret::Secret::new(""),
                access_expires_at_ms: 0,
                refresh_token: None,
                obtained_at_ms: now,
            };
            return stored(
                name,
                store(cfg, place, &pair, now).await,
                "the next call checks the credentials",
            );
        }
    }
    let Some((port, path)) = loopback_redirect(&cfg.redirect_uri) else {
        return Err(CliError::config(format!(
            "connection {name}: redirect_uri must be a loopback URL"
        )));
    };
    let mut random = [0u8; 64];
    for chunk in random.chunks_mut(16) {
        chunk.copy_from_slice(uuid::Uuid::new_v4().as_bytes());
    }
    let Some(request) = authorization(cfg, &random) else {
        return Err(CliError::config(format!(
            "connection {name}: set authorize_url (the provider's authorization endpoint)"
        )));
    };
    let listener = match tokio::net::TcpListener::bind(("127.0.0.1", port)).await {
        Ok(l) => l,
        Err(e) => {
            return Err(CliError::failed(format!(
                "cannot listen on 127.0.0.1:{port} for the redirect: {e}"
            )));
        }
    };
    crate::outln!(
        "Open this URL in a browser and authorize the app:\n\n  {}\n",
        request.url
    );
    crate::outln!(
        "Waiting for the provider to redirect to {} …",
        cfg.redirect_uri
    );
    let redirect = match tokio::time::timeout(wait, receive_redirect(&listener, &path)).await {
        Ok(Ok(r)) => r,
        Ok(Err(e)) => {
            return Err(CliError::failed(format!(
                "the redirect could not be read: {e}"
            )));
        }
        Err(_) => {
            return Err(CliError::failed(format!(
                "no redirect within {} s; nothing stored",
                wait.as_secs()
            )));
        }
    };
    let code = match redirect {
        (Redirect::Code(code), state) if state_matches(&request.state, &state) => code,
        (Redirect::Code(_) | Redirect::Forged, _) => {
            return Err(CliError::failed("the redirect's state is not the one sent: refused (a forged or stale redirect); nothing stored"));
        }
        (Redirect::Refused(why), _) => {
            return Err(CliError::failed(format!(
                "the provider refused the authorization: {}",
                inert(&why)
            )));
        }
    };
    let endpoint = inlet_sources::connection::HttpTokenEndpoint::new(Duration::from_secs(30))
        .map_err(CliError::failed)?;
    let answer = match endpoint.exchange_code(cfg, &code, &request.verifier).await {
        Ok(a) => a,
        Err(e) => {
            return Err(CliError::failed(format!(
                "connection {name}: the code exchange failed: {}; nothing stored",
                inert(&e.to_string())
            )));
        }
    };
    let Some(refresh_token) = answer.refresh_token else {
        return Err(CliError::failed(format!("connection {name}: the token response has no refresh_token (ask for offline access in scope); nothing stored")));
    };
    let now = inlet_core::clock::unix_millis(time::OffsetDateTime::now_utc());
    let pair = TokenPair {
        access_token: answer.access_token,
        access_expires_at_ms: now + i64::try_from(answer.expires_in.as_millis()).unwrap_or(0),
        refresh_token: Some(refresh_token),
        obtained_at_ms: now,
    };
    stored(
        name,
        store(cfg, place, &pair, now).await,
        "`inlet connections` shows it",
    )
}

/// Say how storing the connection went.
fn stored(name: &str, result: anyhow::Result<u64>, next: &str) -> Outcome {
    match result {
        Ok(generation) => {
            crate::outln!("connection {name} stored (generation {generation}); {next}");
            Ok(())
        }
        Err(e) => Err(CliError::failed(format!(
            "connection {name}: the pair could not be stored: {e}"
        ))),
    }
}

/// A session connection: log in once now (a wrong password is said here, not at the first
/// run) and store the session where the sources and sinks share it.
async fn connect_session(
    cfg: &ConnectionConfig,
    login: &SessionLogin,
    place: &DataDirArg,
) -> Outcome {
    use inlet_core::connection::TokenEndpoint as _;
    let name = &cfg.name;
    let answer = match inlet_sources::connection::HttpTokenEndpoint::new(Duration::from_secs(30)) {
        Ok(endpoint) => endpoint.login(cfg, login).await,
        Err(e) => {
            return Err(CliError::failed(e));
        }
    };
    let answer = match answer {
        Ok(a) => a,
        Err(e) => {
            return Err(CliError::failed(format!(
                "connection {name}: the login failed: {}; nothing stored",
                inert(&e.to_string())
            )));
        }
    };
    let now = inlet_core::clock::unix_millis(time::OffsetDateTime::now_utc());
    let pair = TokenPair {
        access_token: answer.access_token,
        access_expires_at_ms: now + i64::try_from(answer.expires_in.as_millis()).unwrap_or(0),
        refresh_token: None,
        obtained_at_ms: now,
    };
    stored(
        name,
        store(cfg, place, &pair, now).await,
        "`inlet connections` shows it",
    )
}

/// Store a fresh pair: the first for the connection, or in place of a broken or old one.
async fn store(
    cfg: &ConnectionConfig,
    place: &DataDirArg,
    pair: &TokenPair,
    now: i64,
) -> anyhow::Result<u64> {
    let ports = open_ports(place, false)
        .await
        .map_err(|code| anyhow::anyhow!("the store could not be opened (exit {code})"))?;
    for _ in 0..5 {
        match ports.connections.load(&cfg.name).await? {
            None => {
                ports.connections.seed(&cfg.name, pair).await?;
                if let Some(c) = ports.connections.load(&cfg.name).await? {
                    if c.pair.as_ref() == Some(pair) {
                        return Ok(c.generation);
                    }
                }
            }
            Some(c) => {
                if ports
                    .connections
                    .store_pair(&cfg.name, c.generation, pair, now)
                    .await?
                {
                    return Ok(c.generation + 1);
                }
            }
        }
    }
    anyhow::bail!("the connection kept changing while it was stored; run inlet connect again")
}

/// Serve the loopback redirect: answer the browser, return the first request to `path`
/// (other paths, a favicon, get a 404 and the wait goes on).
async fn receive_redirect(
    listener: &tokio::net::TcpListener,
    path: &str,
) -> std::io::Result<(Redirect, String)> {
    loop {
        let (mut socket, _) = listener.accept().await?;
        let mut buf = vec![0u8; 8192];
        let n = socket.read(&mut buf).await?;
        let head = String::from_utf8_lossy(&buf[..n]);
        let target = head
            .lines()
            .next()
            .and_then(|l| l.strip_prefix("GET "))
            .and_then(|l| l.split(' ').next())
            .unwrap_or("");
        let (req_path, query) = target.split_once('?').unwrap_or((target, ""));
        if req_path != path {
            let _ = socket
                .write_all(
                    b"HTTP/1.1 404 Not Found\r\ncontent-length: 0\r\nconnection: close\r\n\r\n",
                )
                .await;
            continue;
        }
        let params: std::collections::HashMap<String, String> =
            url::form_urlencoded::parse(query.as_bytes())
                .into_owned()
                .collect();
        let state = params.get("state").cloned().unwrap_or_default();
        let (redirect, page) = match (params.get("code"), params.get("error")) {
            (_, Some(e)) => (
                Redirect::Refused(format!(
                    "{e}{}",
                    params
                        .get("error_description")
                        .map(|d| format!(": {d}"))
                        .unwrap_or_default()
                )),
                "The provider refused the authorization. See the terminal.",
            ),
            (Some(code), None) if !state.is_empty() => (
                Redirect::Code(code.clone()),
                "Authorized. Inlet is storing the connection; you can close this tab.",
            ),
            _ => (
                Redirect::Forged,
                "This redirect is not the provider's answer.",
            ),
        };
        let body = format!("<!doctype html><title>inlet connect</title><p>{page}</p>");
        let _ = socket
            .write_all(
                format!(
                    "HTTP/1.1 200 OK\r\ncontent-type: text/html; charset=utf-8\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
                    body.len()
                )
                .as_bytes(),
            )
            .await;
        return Ok((redirect, state));
    }
}
