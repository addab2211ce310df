//! Connections: OAuth2 refresh tokens that rotate, refreshed once however many workers find
//! them expiring, persisted with a compare-and-set; a refused grant marks the connection
//! broken at once; call budgets shared by every caller — on SQLite and on DynamoDB (moto).
//!
//! The fake authorization server behaves as single-use refresh tokens do (Exact Online and
//! Xero, as the API-access issue summarizes their documentation; Box documents the same
//! for its own, developer.box.com/guides/authentication/tokens/refresh, read 2026-12-06): a
//! refresh issues a new refresh token and the old one is refused from then on with RFC
//! 6749 §5.2's 400 `{"error": "invalid_grant"}` — the shape Xero's token endpoint answers
//! (nango.dev/blog/xero-oauth-refresh-token-invalid-grant, read 2026-12-06).

use std::sync::{Arc, Mutex};
use std::time::Duration;

use inlet_core::connection::{
    access_token, report_alerts, Alert, ConnectionConfig, ConnectionStore, Spend, TokenPair,
    Waiting, Window,
};
use inlet_core::secret::Secret;
use inlet_sources::connection::HttpTokenEndpoint;
use inlet_tests::*;
use serde_json::json;

/// The authorization server's state: the one live refresh token, and what it saw.
#[derive(Default)]
struct AuthServer {
    generation: u32,
    live_refresh: String,
    token_calls: usize,
    invalid_grants: usize,
    revoked: bool,
    /// Xero's grace: the refresh token before the live one is still taken (its answer may
    /// have been lost), issuing a new pair.
    grace: bool,
    previous_refresh: Option<String>,
}

fn oauth_server(state: Arc<Mutex<AuthServer>>) -> Responder {
    Arc::new(move |r: &Recorded| {
        let mut s = state.lock().unwrap();
        if r.path != "/token" {
            // The API: only the newest access token works.
            let want = format!("Bearer acc-{}", s.generation);
            return if r.headers.get("authorization") == Some(&want) {
                json_answer(
                    200,
                    json!({"items": [{"id": "c1", "updated_at": "2026-01-01T00:00:00Z"}]}),
                )
            } else {
                json_answer(401, json!({"error": "invalid_token"}))
            };
        }
        s.token_calls += 1;
        let form: std::collections::HashMap<String, String> =
            url::form_urlencoded::parse(r.body.as_bytes())
                .into_owned()
                .collect();
        // A slow token endpoint widens the window for a second refresher.
        std::thread::sleep(Duration::from_millis(150));
        if r.headers.get("authorization").map(String::as_str)
            != Some("Basic Y2xpZW50LTE6Y2xpZW50LXNlY3JldA==")
        {
            return json_answer(401, json!({"error": "invalid_client"}));
        }
        let within_grace = s.grace && form.get("refresh_token") == s.previous_refresh.as_ref();
        if s.revoked || (form.get("refresh_token") != Some(&s.live_refresh) && !within_grace) {
            s.invalid_grants += 1;
            return json_answer(
                400,
                json!({"error": "invalid_grant", "error_description": "refresh token is invalid or expired"}),
            );
        }
        s.generation += 1;
        if !within_grace {
            s.previous_refresh = Some(s.live_refresh.clone());
        }
        s.live_refresh = format!("ref-{}", s.generation);
        json_answer(
            200,
            json!({"access_token": format!("acc-{}", s.generation), "token_type": "Bearer",
                   "expires_in": 1800, "refresh_token": s.live_refresh}),
        )
    })
}

fn connection(base: &str) -> ConnectionConfig {
    let text = format!(
        "[[providers]]\nname = \"erp\"\nscheme = \"token\"\nheader = \"x-t\"\nsecrets = [\"s\"]\n[[sinks]]\nkind = \"stdout\"\n\
         [[connections]]\nname = \"xero\"\nkind = \"oauth2-refresh\"\ntoken_url = \"{base}/token\"\nclient_id = \"client-1\"\n\
         client_secret = \"client-secret\"\nrefresh_token = \"ref-0\"\nper_minute = 5\nper_day = 100\n"
    );
    parse_config(&text).connection("xero").unwrap().clone()
}

fn now_ms() -> i64 {
    inlet_core::clock::unix_millis(time::OffsetDateTime::now_utc())
}

fn pause(d: Duration) -> futures::future::BoxFuture<'static, ()> {
    Box::pin(tokio::time::sleep(d))
}

async fn token(cfg: &ConnectionConfig, store: &dyn ConnectionStore) -> Result<Secret, String> {
    let endpoint = HttpTokenEndpoint::new(Duration::from_secs(5)).unwrap();
    let waiting = Waiting {
        now_ms: &now_ms,
        pause: &pause,
        deadline: Some(std::time::Instant::now() + Duration::from_secs(20)),
    };
    access_token(cfg, store, &endpoint, &waiting)
        .await
        .map_err(|e| e.to_string())
}

/// Eight workers find the token expiring at once: one token call, one rotation, every
/// worker gets the new access token, the provider never sees a spent refresh token.
async fn concurrent_refreshes_make_one_token_call(store: Arc<dyn ConnectionStore>) {
    let state = Arc::new(Mutex::new(AuthServer {
        live_refresh: "ref-0".into(),
        ..AuthServer::default()
    }));
    let api = FakeApi::start(oauth_server(state.clone())).await;
    let cfg = connection(&api.base);
    let mut tasks = Vec::new();
    for _ in 0..8 {
        let (cfg, store) = (cfg.clone(), Arc::clone(&store));
        tasks.push(tokio::spawn(
            async move { token(&cfg, store.as_ref()).await },
        ));
    }
    for t in tasks {
        assert_eq!(t.await.unwrap().unwrap().expose(), "acc-1");
    }
    {
        let s = state.lock().unwrap();
        assert_eq!((s.token_calls, s.invalid_grants), (1, 0));
    }
    let stored = store.load("xero").await.unwrap().unwrap();
    let pair = stored.pair.unwrap();
    assert_eq!(
        pair.refresh_token.unwrap().expose(),
        "ref-1",
        "the rotated token is kept"
    );
    assert_eq!(stored.generation, 1);
    // Still valid: no call at all.
    assert_eq!(token(&cfg, store.as_ref()).await.unwrap().expose(), "acc-1");
    assert_eq!(state.lock().unwrap().token_calls, 1);

    // Expiring again (another process set it so): the next refresh uses ref-1, not ref-0.
    let expired = TokenPair {
        access_token: Secret::new("acc-1"),
        access_expires_at_ms: now_ms() - 1,
        refresh_token: Some(Secret::new("ref-1")),
        obtained_at_ms: 0,
    };
    assert!(store
        .store_pair("xero", 1, &expired, now_ms())
        .await
        .unwrap());
    assert_eq!(token(&cfg, store.as_ref()).await.unwrap().expose(), "acc-2");
    assert_eq!(state.lock().unwrap().invalid_grants, 0);

    // The grant is revoked at the provider: the first refusal marks the connection broken,
    // and nobody asks the token endpoint again.
    state.lock().unwrap().revoked = true;
    let expired = TokenPair {
        refresh_token: Some(Secret::new("ref-2")),
        ..expired
    };
    assert!(store
        .store_pair("xero", 3, &expired, now_ms())
        .await
        .unwrap());
    let err = token(&cfg, store.as_ref()).await.unwrap_err();
    assert!(
        err.contains("broken") && err.contains("invalid_grant"),
        "{err}"
    );
    let calls = state.lock().unwrap().token_calls;
    for _ in 0..5 {
        assert!(token(&cfg, store.as_ref()).await.is_err());
    }
    assert_eq!(
        state.lock().unwrap().token_calls,
        calls,
        "a broken connection stops calling"
    );
    let listed = store.list().await.unwrap();
    assert_eq!(listed.len(), 1);
    assert!(listed[0]
        .1
        .broken
        .as_deref()
        .unwrap()
        .contains("invalid_grant"));
}

/// A budget of 5 a minute, spent by four workers at once: 5 calls granted, not one more;
/// the day budget counts them too.
async fn a_budget_is_never_exceeded_by_concurrent_callers(store: Arc<dyn ConnectionStore>) {
    let at = 1_800_000_030_000; // mid-minute, fixed: the test never straddles a window
    let mut tasks = Vec::new();
    for _ in 0..4 {
        let store = Arc::clone(&store);
        tasks.push(tokio::spawn(async move {
            let mut granted = 0;
            for _ in 0..5 {
                if store.spend("xero", Window::Minute, 5, at).await.unwrap() == Spend::Granted {
                    granted += 1;
                }
            }
            granted
        }));
    }
    let mut granted = 0;
    for t in tasks {
        granted += t.await.unwrap();
    }
    assert_eq!(granted, 5);
    assert_eq!(
        store.spend("xero", Window::Minute, 5, at).await.unwrap(),
        Spend::Exhausted {
            window: Window::Minute,
            until_ms: 1_800_000_060_000
        }
    );
    // The next minute has its own 5.
    assert_eq!(
        store
            .spend("xero", Window::Minute, 5, at + 30_000)
            .await
            .unwrap(),
        Spend::Granted
    );
}

fn sqlite() -> (tempfile::TempDir, Arc<dyn ConnectionStore>) {
    let dir = tempfile::tempdir().unwrap();
    let store = inlet_local::Store::open(
        &dir.path().join("inlet.db"),
        Default::default(),
        Arc::new(inlet_core::clock::SystemClock),
    )
    .unwrap();
    (dir, Arc::new(store))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn sqlite_concurrent_refreshes_make_one_token_call() {
    let (_dir, store) = sqlite();
    concurrent_refreshes_make_one_token_call(store).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn sqlite_a_budget_is_never_exceeded_by_concurrent_callers() {
    let (_dir, store) = sqlite();
    a_budget_is_never_exceeded_by_concurrent_callers(store).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
#[ignore = "needs the AWS emulator (moto), which scripts/test starts"]
async fn dynamodb_concurrent_refreshes_make_one_token_call() {
    let moto = inlet_tests::moto::Moto::connect().await;
    let store = inlet_aws::DynamoStore::new(moto.dynamodb(), moto.table().await);
    concurrent_refreshes_make_one_token_call(Arc::new(store)).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
#[ignore = "needs the AWS emulator (moto), which scripts/test starts"]
async fn dynamodb_a_budget_is_never_exceeded_by_concurrent_callers() {
    let moto = inlet_tests::moto::Moto::connect().await;
    let store = inlet_aws::DynamoStore::new(moto.dynamodb(), moto.table().await);
    a_budget_is_never_exceeded_by_concurrent_callers(Arc::new(store)).await;
}

/// A `contacts` source reading through the connection `xero` of a fake authorization server,
/// with `extra` lines in the connection, in a fresh directory; `run` starts the real `inlet`.
struct ContactsThroughXero {
    state: Arc<Mutex<AuthServer>>,
    site: ContactsSite,
}

impl ContactsThroughXero {
    async fn start(server: AuthServer, extra: &str) -> Self {
        let state = Arc::new(Mutex::new(server));
        let api = FakeApi::start(oauth_server(state.clone())).await;
        let connection = format!(
            "[[connections]]\nname = \"xero\"\nkind = \"oauth2-refresh\"\ntoken_url = \"{base}/token\"\nclient_id = \"client-1\"\nclient_secret = \"client-secret\"\nrefresh_token = \"ref-0\"\n{extra}",
            base = api.base
        );
        Self {
            state,
            site: ContactsSite::new(api, &connection, "xero"),
        }
    }

    fn run(&self, args: &[&str], failpoint: Option<&str>) -> (i32, String, String) {
        self.site.run(args, failpoint)
    }

    fn config(&self) -> &str {
        self.site.config()
    }
}

/// A `contacts` source of `api` (`GET /contacts?since=…`, items under `/items`) reading
/// through `connection_block`'s connection `name`, with a file sink, in a fresh directory.
struct ContactsSite {
    _api: FakeApi,
    dir: tempfile::TempDir,
    cfg_path: std::path::PathBuf,
}

impl ContactsSite {
    fn new(api: FakeApi, connection_block: &str, name: &str) -> Self {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(dir.path().join("data")).unwrap();
        let config = format!(
            "{}{}\n{connection_block}\
             [[sources]]\nname = \"contacts\"\nprovider = \"erp\"\nkind = \"http-json\"\napi_base = \"{base}\"\nurl = \"{{api_base}}/contacts?since={{cursor}}\"\nitems_pointer = \"/items\"\nupdated_at_pointer = \"/updated_at\"\nauth = \"connection\"\nconnection = \"{name}\"\nsettle_secs = 0\nlookback_secs = 315360000\n",
            providers_toml(),
            file_sink_toml(&dir.path().join("out.jsonl")),
            base = api.base
        );
        let cfg_path = dir.path().join("inlet.toml");
        std::fs::write(&cfg_path, &config).unwrap();
        Self {
            _api: api,
            dir,
            cfg_path,
        }
    }

    /// `inlet ARGS --data-dir …` in the directory (so it finds inlet.toml), aborted at
    /// `failpoint` if one is named: (exit code, -1 when killed; stdout; stderr).
    fn run(&self, args: &[&str], failpoint: Option<&str>) -> (i32, String, String) {
        let mut cmd = std::process::Command::new(env!("CARGO_BIN_EXE_inlet-under-test"));
        cmd.args(args)
            .args(["--data-dir", self.dir.path().join("data").to_str().unwrap()])
            .current_dir(self.dir.path())
            .env_remove("INLET_FAILPOINT");
        if let Some(f) = failpoint {
            cmd.env("INLET_FAILPOINT", f);
        }
        let out = cmd.output().unwrap();
        (
            out.status.code().unwrap_or(-1),
            String::from_utf8_lossy(&out.stdout).into_owned(),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        )
    }

    fn config(&self) -> &str {
        self.cfg_path.to_str().unwrap()
    }
}

/// A reconciliation source through a connection, as an operator runs it: the first run
/// refreshes from the configured refresh token and reads; `inlet connections` says healthy;
/// the provider revokes the grant; the next run stops with the reason, and `inlet
/// connections` and `inlet status` exit 1 naming it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_source_reads_through_its_connection_until_the_grant_is_revoked() {
    let setup = ContactsThroughXero::start(
        AuthServer {
            live_refresh: "ref-0".into(),
            ..AuthServer::default()
        },
        "per_minute = 60\nrefresh_token_idle_days = 60\n",
    )
    .await;
    let state = setup.state.clone();
    let run = |args: &[&str]| setup.run(args, None);
    let c = setup.config();
    let (code, out, err) = run(&["reconcile", "contacts", "--config", c, "--json"]);
    assert_eq!(code, 0, "{out}{err}");
    let report: serde_json::Value = serde_json::from_str(out.trim()).unwrap();
    assert_eq!(report["recovered"], 1, "{report}");
    let (code, out, err) = run(&["connections"]);
    assert_eq!(code, 0, "{err}");
    assert!(out.starts_with("xero  healthy"), "{out}");
    // Refreshed moments ago: the whole idle limit is ahead (the config says 60 days).
    assert!(
        out.contains("refresh token dies unused in 59 day(s)"),
        "{out}"
    );
    // Rotated under us by another run: the stored pair follows.
    let (code, _, err) = run(&["reconcile", "contacts", "--config", c]);
    assert_eq!(code, 0, "{err}");
    assert_eq!(
        state.lock().unwrap().token_calls,
        1,
        "the access token was still valid"
    );

    // Revoked at the provider; the API refuses the access token too.
    {
        let mut s = state.lock().unwrap();
        s.revoked = true;
        s.generation += 100;
    }
    let (code, out, err) = run(&["reconcile", "contacts", "--config", c, "--json"]);
    assert_eq!(code, 1, "{out}{err}");
    let report: serde_json::Value = serde_json::from_str(out.trim()).unwrap();
    let error = report["error"].as_str().unwrap();
    assert!(error.contains("connection xero is broken"), "{error}");
    let (code, out, err) = run(&["connections", "--json"]);
    assert_eq!(code, 1, "{out}{err}");
    let row: serde_json::Value = serde_json::from_str(out.trim()).unwrap();
    assert_eq!(row["state"], "broken");
    assert!(
        row["broken_reason"]
            .as_str()
            .unwrap()
            .contains("invalid_grant"),
        "{row}"
    );
    let (code, _, err) = run(&["status"]);
    assert_eq!(code, 1);
    assert!(err.contains("connection xero is BROKEN"), "{err}");
    // And it stays quiet at the provider: no more token calls on later runs.
    let calls = state.lock().unwrap().token_calls;
    let _ = run(&["reconcile", "contacts", "--config", c]);
    assert_eq!(state.lock().unwrap().token_calls, calls);
}

/// `inlet connect` end to end against a fake authorization server (RFC 6749 §4.1 with PKCE,
/// RFC 7636): the URL it prints carries the challenge and a state; the "browser" follows the
/// provider's redirect to the loopback; the code is exchanged with the verifier the server
/// checks; the pair is stored and `inlet connections` shows it healthy. A forged redirect
/// (another state) is refused and stores nothing.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn connect_runs_the_authorization_code_flow_with_pkce() {
    use base64::Engine as _;
    use sha2::Digest as _;
    use std::io::{BufRead as _, BufReader};
    let challenges: Arc<Mutex<Vec<String>>> = Arc::default();
    let seen = challenges.clone();
    let api = FakeApi::start(Arc::new(move |r: &Recorded| {
        if r.path == "/authorize" {
            seen.lock().unwrap().push(r.query["code_challenge"].clone());
            assert_eq!(r.query["code_challenge_method"], "S256");
            let location = format!(
                "{}?code=code-1&state={}",
                r.query["redirect_uri"], r.query["state"]
            );
            return (302, vec![("location".into(), location)], String::new());
        }
        let form: std::collections::HashMap<String, String> =
            url::form_urlencoded::parse(r.body.as_bytes())
                .into_owned()
                .collect();
        let verifier = form.get("code_verifier").cloned().unwrap_or_default();
        let challenge = base64::engine::general_purpose::URL_SAFE_NO_PAD
            .encode(sha2::Sha256::digest(verifier.as_bytes()));
        let known = seen.lock().unwrap().contains(&challenge);
        if form.get("grant_type").map(String::as_str) != Some("authorization_code")
            || form.get("code").map(String::as_str) != Some("code-1")
            || !known
        {
            return json_answer(400, json!({"error": "invalid_grant"}));
        }
        json_answer(
            200,
            json!({"access_token": "acc-first", "expires_in": 1800, "refresh_token": "ref-first"}),
        )
    }))
    .await;
    let run_connect = |state_override: Option<&'static str>| {
        let api = api.base.clone();
        async move {
            let dir = tempfile::tempdir().unwrap();
            let port = std::net::TcpListener::bind("127.0.0.1:0")
                .unwrap()
                .local_addr()
                .unwrap()
                .port();
            let config = format!(
                "{}{}\n[[connections]]\nname = \"xero\"\nkind = \"oauth2-refresh\"\ntoken_url = \"{api}/token\"\nauthorize_url = \"{api}/authorize\"\nredirect_uri = \"http://127.0.0.1:{port}/callback\"\nclient_id = \"client-1\"\nclient_secret = \"client-secret\"\nscope = \"offline_access\"\n",
                providers_toml(),
                file_sink_toml(&dir.path().join("out.jsonl")),
            );
            std::fs::write(dir.path().join("inlet.toml"), config).unwrap();
            let data = dir.path().join("data");
            let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_inlet-under-test"))
                .args([
                    "connect",
                    "xero",
                    "--timeout-secs",
                    "20",
                    "--data-dir",
                    data.to_str().unwrap(),
                ])
                .current_dir(dir.path())
                .stdout(std::process::Stdio::piped())
                .stderr(std::process::Stdio::piped())
                .spawn()
                .unwrap();
            let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
            let url = loop {
                let line = lines.next().unwrap().unwrap();
                if let Some(u) = line.trim().strip_prefix("http") {
                    break format!("http{u}");
                }
            };
            // The browser: the provider redirects, the browser follows to the loopback.
            let browser = reqwest::Client::builder()
                .redirect(reqwest::redirect::Policy::none())
                .build()
                .unwrap();
            let resp = browser.get(&url).send().await.unwrap();
            assert_eq!(resp.status(), 302);
            let mut location = resp.headers()["location"].to_str().unwrap().to_string();
            if let Some(forged) = state_override {
                let (base, _) = location.split_once("&state=").unwrap();
                location = format!("{base}&state={forged}");
            }
            let page = browser.get(&location).send().await.unwrap();
            assert_eq!(page.status(), 200);
            let out = child.wait_with_output().unwrap();
            let rest: Vec<String> = lines.map_while(Result::ok).collect();
            let listed = std::process::Command::new(env!("CARGO_BIN_EXE_inlet-under-test"))
                .args([
                    "connections",
                    "--json",
                    "--data-dir",
                    data.to_str().unwrap(),
                ])
                .current_dir(dir.path())
                .output()
                .unwrap();
            (
                out.status.code(),
                rest.join("\n"),
                String::from_utf8_lossy(&out.stderr).into_owned(),
                String::from_utf8_lossy(&listed.stdout).into_owned(),
            )
        }
    };
    let (code, out, err, listed) = run_connect(None).await;
    assert_eq!(code, Some(0), "{out}{err}");
    assert!(out.contains("connection xero stored"), "{out}");
    let row: serde_json::Value = serde_json::from_str(listed.trim()).unwrap();
    assert_eq!(row["state"], "healthy", "{row}");
    assert!(
        !err.contains("ref-first") && !out.contains("ref-first"),
        "no token is printed"
    );

    let (code, _, err, listed) = run_connect(Some("forged-state")).await;
    assert_eq!(code, Some(1));
    assert!(err.contains("state is not the one sent: refused"), "{err}");
    assert!(listed.trim().is_empty(), "nothing stored: {listed}");
}

/// A connection with nothing stored (OAuth1) can be marked broken, and the repair
/// (`inlet connect`: a compare-and-set from generation 0) clears the mark — the same on
/// both stores.
async fn a_broken_mark_on_a_new_connection_can_be_repaired(store: Arc<dyn ConnectionStore>) {
    store
        .mark_broken("adobe", "401 twice", now_ms())
        .await
        .unwrap();
    let broken = store.load("adobe").await.unwrap().unwrap();
    assert_eq!(broken.broken.as_deref(), Some("401 twice"));
    assert_eq!(broken.generation, 0);
    let pair = TokenPair {
        access_token: Secret::new(""),
        access_expires_at_ms: 0,
        refresh_token: None,
        obtained_at_ms: now_ms(),
    };
    assert!(store.store_pair("adobe", 0, &pair, now_ms()).await.unwrap());
    let repaired = store.load("adobe").await.unwrap().unwrap();
    assert_eq!(repaired.broken, None);
    assert_eq!(repaired.generation, 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_a_broken_mark_on_a_new_connection_can_be_repaired() {
    let (_dir, store) = sqlite();
    a_broken_mark_on_a_new_connection_can_be_repaired(store).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs the AWS emulator (moto), which scripts/test starts"]
async fn dynamodb_a_broken_mark_on_a_new_connection_can_be_repaired() {
    let moto = inlet_tests::moto::Moto::connect().await;
    let store = inlet_aws::DynamoStore::new(moto.dynamodb(), moto.table().await);
    a_broken_mark_on_a_new_connection_can_be_repaired(Arc::new(store)).await;
}

/// The provider's own headers say the day is spent (Xero's `X-DayLimit-Remaining: 0`, after
/// calls made elsewhere): every caller of the connection stops until the next day, said as a
/// spent budget — not an error storm against a provider about to block the key.
async fn provider_headers_tighten_the_budget(store: Arc<dyn ConnectionStore>) {
    let cfg = connection("https://unused.example");
    let auth = inlet_sources::connection::ConnectionAuth {
        config: cfg.clone(),
        store: Arc::clone(&store),
        endpoint: Arc::new(HttpTokenEndpoint::new(Duration::from_secs(1)).unwrap()),
    };
    let url = "https://unused.example/contacts";
    assert_eq!(auth.admit("GET", url).await.unwrap(), None);
    let mut headers = reqwest::header::HeaderMap::new();
    headers.insert("x-minlimit-remaining", "41".parse().unwrap());
    headers.insert("x-daylimit-remaining", "0".parse().unwrap());
    auth.observe("GET", url, 200, &headers).await;
    let held = auth.admit("GET", url).await.unwrap().unwrap();
    assert!(
        matches!(
            held,
            inlet_sources::connection::Held::Spent {
                window: Window::Day,
                ..
            }
        ),
        "{held:?}"
    );
    let said = held.describe(&cfg, "GET", url);
    assert!(said.contains("the day budget is spent until"), "{said}");
    // A source's run stops on it, said as a spent budget.
    let err = auth
        .authorize(reqwest::Client::new().get(url), "GET", url, None)
        .await
        .unwrap_err();
    assert_eq!(err.reason(), "budget", "{err}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_provider_headers_tighten_the_budget() {
    let (_dir, store) = sqlite();
    provider_headers_tighten_the_budget(store).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs the AWS emulator (moto), which scripts/test starts"]
async fn dynamodb_provider_headers_tighten_the_budget() {
    let moto = inlet_tests::moto::Moto::connect().await;
    let store = inlet_aws::DynamoStore::new(moto.dynamodb(), moto.table().await);
    provider_headers_tighten_the_budget(Arc::new(store)).await;
}

/// Metrics a test can read back.
#[derive(Default)]
struct MetricsSeen(Mutex<Vec<(String, String)>>);

impl inlet_core::metrics::Metrics for MetricsSeen {
    fn incr(&self, name: &'static str, dims: &[inlet_core::metrics::Dim<'_>], _: u64) {
        let connection = dims
            .iter()
            .find(|(k, _)| *k == "connection")
            .map(|(_, v)| v.to_string());
        self.0
            .lock()
            .unwrap()
            .push((name.to_string(), connection.unwrap_or_default()));
    }
    fn observe_ms(&self, _: &'static str, _: &[inlet_core::metrics::Dim<'_>], _: f64) {}
}

/// Authentication failures page someone at once: a broken connection raises
/// `connection_failures` on the first run that sees it (the template's alarm fires on one)
/// and on every run while it stays broken; a refresh token in the last week of its
/// provider's idle limit raises `connection_refresh_expiring`; a healthy one raises nothing.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn broken_and_expiring_connections_raise_their_metrics_at_once() {
    let (_dir, store) = sqlite();
    let now = now_ms();
    let day = 86_400_000;
    let pair = |obtained: i64, refresh: &str| TokenPair {
        access_token: Secret::new("acc"),
        access_expires_at_ms: obtained + 1_800_000,
        refresh_token: Some(Secret::new(refresh)),
        obtained_at_ms: obtained,
    };
    store.seed("exact", &pair(now, "r-exact")).await.unwrap();
    store
        .seed("xero", &pair(now - 55 * day, "r-xero"))
        .await
        .unwrap();
    store
        .seed("hubspot", &pair(now - 55 * day, "r-hub"))
        .await
        .unwrap();
    store
        .mark_broken("exact", "invalid_grant: the refresh token was revoked", now)
        .await
        .unwrap();
    let text = format!(
        "[[providers]]\nname = \"erp\"\nscheme = \"token\"\nheader = \"x-t\"\nsecrets = [\"s\"]\n[[sinks]]\nkind = \"stdout\"\n{}{}",
        "[[connections]]\nname = \"xero\"\nkind = \"oauth2-refresh\"\ntoken_url = \"https://identity.xero.com/connect/token\"\nclient_id = \"c\"\nclient_secret = \"s\"\nrefresh_token_idle_days = 60\n",
        "[[connections]]\nname = \"hubspot\"\nkind = \"oauth2-refresh\"\ntoken_url = \"https://api.hubapi.com/oauth/v1/token\"\nclient_id = \"c\"\nclient_secret = \"s\"\n"
    );
    let configs = parse_config(&text).connections.clone();
    for run in 1..=2 {
        let metrics = MetricsSeen::default();
        let mut alerts = report_alerts(store.as_ref(), &configs, &metrics, now)
            .await
            .unwrap();
        alerts.sort_by(|a, b| a.0.cmp(&b.0));
        assert_eq!(
            alerts,
            [
                (
                    "exact".to_string(),
                    Alert::Broken {
                        reason: "invalid_grant: the refresh token was revoked".into()
                    }
                ),
                ("xero".to_string(), Alert::RefreshExpiring { days_left: 5 }),
            ],
            "run {run}: hubspot has no idle limit, so its 55-day-old token is fine"
        );
        let mut got = metrics.0.lock().unwrap().clone();
        got.sort();
        assert_eq!(
            got,
            [
                ("connection_failures".to_string(), "exact".to_string()),
                (
                    "connection_refresh_expiring".to_string(),
                    "xero".to_string()
                ),
            ],
            "run {run}"
        );
    }
}

/// `refresh_token_idle_days` is checked like every field.
#[test]
fn an_absurd_idle_limit_is_refused_naming_the_field() {
    let text = "[[providers]]\nname = \"erp\"\nscheme = \"token\"\nheader = \"x-t\"\nsecrets = [\"s\"]\n[[sinks]]\nkind = \"stdout\"\n[[connections]]\nname = \"xero\"\nkind = \"oauth2-refresh\"\ntoken_url = \"https://identity.xero.com/connect/token\"\nclient_id = \"c\"\nclient_secret = \"s\"\nrefresh_token_idle_days = 0\n";
    let err = inlet_core::config::Config::from_toml(text, &|_| None)
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("connections[0].refresh_token_idle_days"),
        "{err}"
    );
}

/// kill -9 between the provider's answer and the write (a failpoint aborts the process
/// there, no destructors): the provider has spent the old refresh token, and the new one
/// died with the process. Where the provider keeps the previous refresh token usable for a
/// while — Xero, for 30 minutes, "in case the initial response containing your new Refresh
/// and Access tokens is lost" (Xero staff, community.xero.com/developer/discussion/
/// 127920775, read 2026-12-06) — the next run is still connected. Where it does not
/// (strict single use, as Exact Online's rotation is described) the connection cannot
/// survive that crash, and it says so at once: broken with the provider's `invalid_grant`,
/// `inlet connections` exits 1 naming it. A crash before the call leaves the refresh token
/// unspent: the next run waits out the crashed holder's lease (30 s) and goes on.
async fn crash_mid_refresh(grace: bool, failpoint: &str, survives: bool) {
    {
        let setup = ContactsThroughXero::start(
            AuthServer {
                live_refresh: "ref-0".into(),
                grace,
                ..AuthServer::default()
            },
            "",
        )
        .await;
        let run = |args: &[&str], failpoint: Option<&str>| setup.run(args, failpoint);
        let c = setup.config();
        let (code, _, err) = run(&["reconcile", "contacts", "--config", c], Some(failpoint));
        assert_eq!(code, -1, "{failpoint}: killed by the failpoint: {err}");
        assert!(
            err.contains(&format!("failpoint {failpoint} reached")),
            "{err}"
        );

        let (code, out, err) = run(&["reconcile", "contacts", "--config", c, "--json"], None);
        let (list_code, list, _) = run(&["connections"], None);
        if survives {
            assert_eq!(code, 0, "{failpoint}, grace {grace}: {out}{err}");
            let report: serde_json::Value = serde_json::from_str(out.trim()).unwrap();
            assert_eq!(report["recovered"], 1, "{report}");
            assert_eq!(list_code, 0, "{list}");
            assert!(list.starts_with("xero  healthy"), "{list}");
        } else {
            assert_ne!(code, 0, "{out}{err}");
            assert!(err.contains("invalid_grant"), "the provider's words: {err}");
            assert_eq!(list_code, 1, "{list}");
            assert!(
                list.contains("BROKEN") && list.contains("invalid_grant"),
                "{list}"
            );
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn killed_after_the_answer_with_a_grace_period_stays_connected() {
    crash_mid_refresh(true, "connection_after_refresh", true).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn killed_after_the_answer_under_strict_rotation_is_broken_at_once() {
    crash_mid_refresh(false, "connection_after_refresh", false).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn killed_before_the_call_costs_only_the_lease() {
    crash_mid_refresh(false, "connection_before_refresh", true).await;
}

/// An Adobe Commerce REST API as its OAuth page describes an integration's calls
/// (developer.adobe.com/commerce/webapi/get-started/authentication/gs-authentication-oauth,
/// read 2026-12-06): every request carries an `Authorization: OAuth …` header signed with the
/// consumer secret and the access token secret, `oauth_signature_method` HMAC-SHA256, a
/// nonce used once and a current timestamp; anything else is a 401. The signature is
/// recomputed here with `inlet_core::oauth1`, whose algorithm is pinned to the OAuth 1.0
/// specification's own example in its unit test.
#[derive(Default)]
struct Commerce {
    nonces: std::collections::HashSet<String>,
    accepted: usize,
    refused: usize,
    revoked: bool,
}

fn commerce_credentials() -> inlet_core::oauth1::Credentials {
    inlet_core::oauth1::Credentials {
        consumer_key: "ck-1".into(),
        consumer_secret: Secret::new("cs-1"),
        token: Secret::new("at-1"),
        token_secret: Secret::new("ats-1"),
        method: inlet_core::oauth1::SignatureMethod::HmacSha256,
    }
}

fn commerce_api(state: Arc<Mutex<Commerce>>) -> Responder {
    Arc::new(move |r: &Recorded| {
        let mut s = state.lock().unwrap();
        let params: std::collections::HashMap<String, String> = r
            .headers
            .get("authorization")
            .and_then(|h| inlet_core::oauth1::header_params(h))
            .unwrap_or_default()
            .into_iter()
            .collect();
        let p = |k: &str| params.get(k).cloned().unwrap_or_default();
        let timestamp: i64 = p("oauth_timestamp").parse().unwrap_or(0);
        let query: String = url::form_urlencoded::Serializer::new(String::new())
            .extend_pairs(r.query.iter())
            .finish();
        let url = format!("http://{}{}?{query}", r.headers["host"], r.path);
        let expected = inlet_core::oauth1::authorization(
            &commerce_credentials(),
            &r.method,
            &url,
            timestamp,
            &p("oauth_nonce"),
        )
        .ok()
        .and_then(|h| inlet_core::oauth1::header_params(&h))
        .and_then(|v| v.into_iter().find(|(k, _)| k == "oauth_signature"))
        .map(|(_, v)| v);
        let fresh = (now_ms() / 1000 - timestamp).abs() < 600;
        let ok = !s.revoked
            && p("oauth_consumer_key") == "ck-1"
            && p("oauth_token") == "at-1"
            && p("oauth_signature_method") == "HMAC-SHA256"
            && fresh
            && s.nonces.insert(p("oauth_nonce"))
            && expected == Some(p("oauth_signature"));
        if !ok {
            s.refused += 1;
            return json_answer(
                401,
                json!({"message": "The consumer isn't authorized to access %resources.", "parameters": {"resources": "Magento_Sales::sales"}}),
            );
        }
        s.accepted += 1;
        json_answer(
            200,
            json!({"items": [{"id": "o1", "updated_at": "2026-01-01T00:00:00Z"}]}),
        )
    })
}

/// A source on an Adobe Commerce integration signs every request with OAuth 1.0a; when the
/// merchant revokes the integration the connection is broken at the second 401 (no more
/// calls on later runs); after the credentials are repaired, `inlet connect` clears it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_oauth1_connection_signs_every_call_and_breaks_when_revoked() {
    let state = Arc::new(Mutex::new(Commerce::default()));
    let api = FakeApi::start(commerce_api(state.clone())).await;
    let site = ContactsSite::new(
        api,
        "[[connections]]\nname = \"adobe\"\nkind = \"oauth1\"\nconsumer_key = \"ck-1\"\nconsumer_secret = \"cs-1\"\naccess_token = \"at-1\"\naccess_token_secret = \"ats-1\"\nper_minute = 60\n",
        "adobe",
    );
    let c = site.config();
    let run = |args: &[&str]| site.run(args, None);
    for _ in 0..2 {
        let (code, out, err) = run(&["reconcile", "contacts", "--config", c, "--json"]);
        assert_eq!(code, 0, "{out}{err}");
        assert!(!err.contains("ats-1") && !err.contains("cs-1"), "{err}");
    }
    assert_eq!(state.lock().unwrap().accepted, 2);
    assert_eq!(state.lock().unwrap().refused, 0, "every signature verified");

    state.lock().unwrap().revoked = true;
    let (code, out, err) = run(&["reconcile", "contacts", "--config", c, "--json"]);
    assert_eq!(code, 1, "{out}{err}");
    assert!(out.contains("connection adobe is broken"), "{out}");
    assert_eq!(state.lock().unwrap().refused, 2, "one retry, then broken");
    let (code, out, _) = run(&["connections", "--json"]);
    assert_eq!(code, 1, "{out}");
    let row: serde_json::Value = serde_json::from_str(out.trim()).unwrap();
    assert_eq!(row["state"], "broken", "{row}");
    let _ = run(&["reconcile", "contacts", "--config", c]);
    assert_eq!(
        state.lock().unwrap().refused,
        2,
        "a broken connection calls nothing"
    );

    state.lock().unwrap().revoked = false;
    let (code, out, err) = run(&["connect", "adobe", "--config", c]);
    assert_eq!(code, 0, "{out}{err}");
    // Nothing expires for signed requests (not a negative age since 1970).
    let (_, out, _) = run(&["connections"]);
    assert!(
        out.starts_with("adobe  healthy") && out.contains("access expires in -  "),
        "{out}"
    );
    let (code, out, err) = run(&["reconcile", "contacts", "--config", c]);
    assert_eq!(code, 0, "{out}{err}");
    assert_eq!(state.lock().unwrap().accepted, 3);
}

/// SAP Business One's Service Layer as its login lesson describes it
/// (learning.sap.com/courses/leveraging-the-sap-business-one-service-layer/logging-in-and-logging-out-using-service-layer-api,
/// read 2026-12-06; the answer's shape as syedhussim.com/sap-b1/php-service-layer-example-part-1.html
/// shows it): `POST /b1s/v2/Login` with `CompanyDB`, `UserName` and `Password` sets the
/// `B1SESSION` and `ROUTEID` cookies and answers `SessionTimeout` (minutes); a request
/// without a live session is a 401; a session ends when it times out.
#[derive(Default)]
struct ServiceLayer {
    password: String,
    sessions: std::collections::HashSet<String>,
    logins: usize,
    reads: usize,
}

fn service_layer(state: Arc<Mutex<ServiceLayer>>) -> Responder {
    Arc::new(move |r: &Recorded| {
        let mut s = state.lock().unwrap();
        if r.path == "/b1s/v2/Login" {
            s.logins += 1;
            let body: serde_json::Value = serde_json::from_str(&r.body).unwrap_or_default();
            if r.method != "POST"
                || body["CompanyDB"] != "SBODEMOUS"
                || body["UserName"] != "manager"
                || body["Password"] != s.password.as_str()
            {
                return json_answer(
                    401,
                    json!({"error": {"code": -304, "message": {"lang": "en-us", "value": "Invalid login credential."}}}),
                );
            }
            let id = format!("sess-{}", s.logins);
            s.sessions.insert(id.clone());
            let (status, mut headers, body) = json_answer(
                200,
                json!({"SessionId": id, "Version": "1000190", "SessionTimeout": 30}),
            );
            headers.push((
                "set-cookie".into(),
                format!("B1SESSION={id}; path=/b1s/v2; Secure; HttpOnly"),
            ));
            headers.push(("set-cookie".into(), "ROUTEID=.node1; path=/b1s".into()));
            return (status, headers, body);
        }
        let cookie = r.headers.get("cookie").cloned().unwrap_or_default();
        let live = cookie.split("; ").any(|c| {
            c.strip_prefix("B1SESSION=")
                .is_some_and(|id| s.sessions.contains(id))
        }) && cookie.contains("ROUTEID=.node1");
        if !live {
            return json_answer(
                401,
                json!({"error": {"code": 301, "message": {"lang": "en-us", "value": "Invalid session or session already timeout."}}}),
            );
        }
        s.reads += 1;
        json_answer(
            200,
            json!({"items": [{"id": "bp1", "updated_at": "2026-01-01T00:00:00Z"}]}),
        )
    })
}

/// A session connection logs in once and shares the session across runs (processes); a
/// timed-out session is logged in again on its 401; a refused login breaks the connection
/// with SAP's words and stops the logins; `inlet connect` logs in again once repaired. The
/// session cookie never reaches the output.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_session_connection_logs_in_once_and_again_when_the_session_ends() {
    let state = Arc::new(Mutex::new(ServiceLayer {
        password: "pw-1".into(),
        ..ServiceLayer::default()
    }));
    let api = FakeApi::start(service_layer(state.clone())).await;
    let block = format!(
        "[[connections]]\nname = \"sap\"\nkind = \"session\"\nlogin_url = \"{}/b1s/v2/Login\"\nlogin_body = {{ CompanyDB = \"SBODEMOUS\", UserName = \"manager\", Password = \"pw-1\" }}\n",
        api.base
    );
    let site = ContactsSite::new(api, &block, "sap");
    let c = site.config();
    let run = |args: &[&str]| {
        let (code, out, err) = site.run(args, None);
        assert!(
            !out.contains("sess-") && !err.contains("sess-"),
            "{out}{err}"
        );
        (code, out, err)
    };
    let logins = || state.lock().unwrap().logins;
    for _ in 0..2 {
        let (code, out, err) = run(&["reconcile", "contacts", "--config", c]);
        assert_eq!(code, 0, "{out}{err}");
    }
    assert_eq!(logins(), 1, "the session is shared by the second run");
    assert_eq!(state.lock().unwrap().reads, 2);

    state.lock().unwrap().sessions.clear(); // timed out
    let (code, out, err) = run(&["reconcile", "contacts", "--config", c]);
    assert_eq!(code, 0, "{out}{err}");
    assert_eq!(logins(), 2, "logged in again after the 401");

    {
        let mut s = state.lock().unwrap();
        s.sessions.clear();
        s.password = "changed-at-sap".into();
    }
    let (code, out, err) = run(&["reconcile", "contacts", "--config", c, "--json"]);
    assert_eq!(code, 1, "{out}{err}");
    assert!(
        out.contains("connection sap is broken") && out.contains("Invalid login credential."),
        "{out}"
    );
    let _ = run(&["reconcile", "contacts", "--config", c]);
    assert_eq!(logins(), 3, "a refused login is not repeated");

    state.lock().unwrap().password = "pw-1".into();
    let (code, out, err) = run(&["connect", "sap", "--config", c]);
    assert_eq!(code, 0, "{out}{err}");
    let (code, out, err) = run(&["reconcile", "contacts", "--config", c]);
    assert_eq!(code, 0, "{out}{err}");
    assert_eq!(logins(), 4, "connect logged in; the run used its session");
}

/// Exact Online blocks an API key on an endpoint after 10 errors (400, 401, 403, 404) in an
/// hour, longer when it goes on (its 2021 API-limit announcement, quoted at
/// forums.invantive.com/t/new-exact-online-api-limitations/1040, read 2026-12-06). With
/// `errors_per_hour = 10` every caller stops calling an endpoint at its 5th error until the
/// hour ends; other endpoints and successful answers are not affected.
async fn a_failing_endpoint_is_paused_before_the_providers_block(store: Arc<dyn ConnectionStore>) {
    let text = "[[providers]]\nname = \"erp\"\nscheme = \"token\"\nheader = \"x-t\"\nsecrets = [\"s\"]\n[[sinks]]\nkind = \"stdout\"\n\
         [[connections]]\nname = \"exact\"\nkind = \"oauth2-refresh\"\ntoken_url = \"https://start.exactonline.nl/api/oauth2/token\"\nclient_id = \"c\"\n\
         client_secret = \"s\"\nerrors_per_hour = 10\n";
    let cfg = parse_config(text).connection("exact").unwrap().clone();
    let auth = inlet_sources::connection::ConnectionAuth {
        config: cfg.clone(),
        store: Arc::clone(&store),
        endpoint: Arc::new(HttpTokenEndpoint::new(Duration::from_secs(1)).unwrap()),
    };
    let base = "https://start.exactonline.nl/api/v1/7/sync/SalesInvoice/SalesInvoices";
    let bad = format!("{base}?$filter=Timestamp gt 1");
    let good = "https://start.exactonline.nl/api/v1/7/sync/CRM/Accounts?$filter=Timestamp gt 1";
    let none = reqwest::header::HeaderMap::new();
    for error in 1..=5 {
        assert_eq!(
            auth.admit("GET", &bad).await.unwrap(),
            None,
            "error {error}"
        );
        auth.observe("GET", &bad, 404, &none).await;
        auth.observe("GET", good, 200, &none).await;
    }
    let held = auth.admit("GET", &bad).await.unwrap();
    assert!(
        matches!(held, Some(inlet_sources::connection::Held::Paused { .. })),
        "{held:?}"
    );
    // The same endpoint with another query is the same endpoint; another one is not.
    let other_query = format!("{base}?$filter=Timestamp gt 99");
    assert!(auth.admit("GET", &other_query).await.unwrap().is_some());
    assert_eq!(auth.admit("GET", good).await.unwrap(), None);
    let said = held.unwrap().describe(&cfg, "GET", &bad);
    assert!(
        said.contains("/api/v1/7/sync/SalesInvoice/SalesInvoices is paused until")
            && said.contains("after 5 errors this hour (the provider blocks at 10)"),
        "{said}"
    );
    // A source's run stops on it as a budget, not an error storm.
    let err = auth
        .authorize(reqwest::Client::new().get(&bad), "GET", &bad, None)
        .await
        .unwrap_err();
    assert_eq!(err.reason(), "budget", "{err}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_a_failing_endpoint_is_paused_before_the_providers_block() {
    let (_dir, store) = sqlite();
    a_failing_endpoint_is_paused_before_the_providers_block(store).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs the AWS emulator (moto), which scripts/test starts"]
async fn dynamodb_a_failing_endpoint_is_paused_before_the_providers_block() {
    let moto = inlet_tests::moto::Moto::connect().await;
    let store = inlet_aws::DynamoStore::new(moto.dynamodb(), moto.table().await);
    a_failing_endpoint_is_paused_before_the_providers_block(Arc::new(store)).await;
}

/// An HTTP sink delivering through a connection: every POST carries the connection's bearer
/// token (one refresh serves them all), and the connection's per-minute budget holds the
/// deliveries over it in the queue — delayed, not failed: with `max_receive = 2` nothing is
/// dead-lettered, and no fixed minute sees more than the budget at the destination.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_http_sink_delivers_through_a_connection_within_its_budget() {
    use inlet_core::ports::DeadLetters;
    let state = Arc::new(Mutex::new(AuthServer {
        live_refresh: "ref-0".into(),
        ..AuthServer::default()
    }));
    let delivered = Arc::new(Mutex::new(Vec::<(i64, String)>::new()));
    let (inner, seen) = (oauth_server(state.clone()), delivered.clone());
    let api = FakeApi::start(Arc::new(move |r: &Recorded| {
        let answer = inner(r);
        if r.path == "/hooks" && answer.0 == 200 {
            let key = r
                .headers
                .get("idempotency-key")
                .cloned()
                .unwrap_or_default();
            seen.lock().unwrap().push((now_ms(), key));
        }
        answer
    }))
    .await;
    let dir = tempfile::tempdir().unwrap();
    let cfg = format!(
        "{}{}\n[[sinks]]\nkind = \"http\"\nurl = \"{base}/hooks\"\nattempts = 1\ntimeout_ms = 700\nconnection = \"xero\"\n\
         [[connections]]\nname = \"xero\"\nkind = \"oauth2-refresh\"\ntoken_url = \"{base}/token\"\nclient_id = \"client-1\"\n\
         client_secret = \"client-secret\"\nrefresh_token = \"ref-0\"\nper_minute = 2\n",
        fast_worker_toml(2),
        providers_toml(),
        base = api.base
    );
    let dev = Dev::start(&cfg, dir.path()).await;
    let client = reqwest::Client::new();
    for i in 0..3 {
        let body = stripe_event(
            &format!("evt_conn_{i}"),
            "invoice.paid",
            &format!("in_c{i}"),
            now_unix(),
        );
        assert_eq!(post_stripe(&client, &dev.url(""), &body).await.0, 202);
    }
    // The third waits for the next minute at most.
    assert!(
        wait_until(Duration::from_secs(75), || delivered.lock().unwrap().len()
            == 3)
        .await,
        "{:?}",
        delivered.lock().unwrap()
    );
    let delivered = delivered.lock().unwrap().clone();
    let keys: std::collections::HashSet<_> = delivered.iter().map(|(_, k)| k.clone()).collect();
    assert_eq!(keys.len(), 3, "each event once: {delivered:?}");
    let mut per_minute = std::collections::HashMap::new();
    for (at, _) in &delivered {
        *per_minute.entry(at / 60_000).or_insert(0) += 1;
    }
    assert!(per_minute.values().all(|n| *n <= 2), "{per_minute:?}");
    assert_eq!(
        state.lock().unwrap().token_calls,
        1,
        "one refresh for every delivery"
    );
    assert!(
        DeadLetters::list(dev.store(), 10).await.unwrap().is_empty(),
        "nothing dead-lettered"
    );
    dev.stop().await;
}

/// Hostile and broken login answers: HTML without a session cookie, a 500, a refusal
/// without JSON, an absurd `SessionTimeout` — each a clear error or a bounded session, and
/// nothing of the password in any message.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn broken_login_answers_are_clear_errors_or_bounded_sessions() {
    use inlet_core::connection::{ConnectionKind, TokenEndpoint as _, TokenError};
    let plan = Arc::new(Mutex::new(std::collections::VecDeque::<Answer>::from([
        (
            200,
            vec![("content-type".into(), "text/html".into())],
            "<html>login</html>".into(),
        ),
        (500, vec![], "upstream down".into()),
        (401, vec![], "<html>no</html>".into()),
        (
            200,
            vec![("set-cookie".into(), "B1SESSION=s1; HttpOnly".into())],
            json!({"SessionTimeout": 1e300}).to_string(),
        ),
        (
            200,
            vec![
                ("set-cookie".into(), "=junk".into()),
                ("set-cookie".into(), "B1SESSION=s2".into()),
            ],
            json!({"SessionTimeout": -5}).to_string(),
        ),
    ])));
    let next = plan.clone();
    let api = FakeApi::start(Arc::new(move |_: &Recorded| {
        next.lock().unwrap().pop_front().unwrap()
    }))
    .await;
    let text = format!(
        "[[providers]]\nname = \"erp\"\nscheme = \"token\"\nheader = \"x-t\"\nsecrets = [\"s\"]\n[[sinks]]\nkind = \"stdout\"\n\
         [[connections]]\nname = \"sap\"\nkind = \"session\"\nlogin_url = \"{}/b1s/v2/Login\"\nlogin_body = {{ Password = \"hunter2\" }}\n",
        api.base
    );
    let cfg = parse_config(&text).connection("sap").unwrap().clone();
    let ConnectionKind::Session(login) = &cfg.kind else {
        panic!("{cfg:?}")
    };
    let endpoint = HttpTokenEndpoint::new(Duration::from_secs(5)).unwrap();
    let mut errors = Vec::new();
    for _ in 0..3 {
        errors.push(endpoint.login(&cfg, login).await.unwrap_err());
    }
    assert!(
        matches!(&errors[0], TokenError::Transient(m) if m.contains("without a session cookie")),
        "{errors:?}"
    );
    assert!(
        matches!(&errors[1], TokenError::Transient(m) if m.contains("answered 500")),
        "{errors:?}"
    );
    assert!(
        matches!(&errors[2], TokenError::Rejected(m) if m.contains("no error text")),
        "{errors:?}"
    );
    assert!(!format!("{errors:?}").contains("hunter2"));
    let huge = endpoint.login(&cfg, login).await.unwrap();
    assert_eq!(huge.access_token.expose(), "B1SESSION=s1");
    assert!(
        huge.expires_in <= Duration::from_secs(24 * 3600),
        "{:?}",
        huge.expires_in
    );
    let negative = endpoint.login(&cfg, login).await.unwrap();
    assert_eq!(
        negative.access_token.expose(),
        "B1SESSION=s2",
        "the nameless cookie is dropped"
    );
    assert_eq!(
        negative.expires_in,
        Duration::from_secs(1800),
        "the configured life"
    );
}

/// Exact Online allows 200 token calls a day per user and key (its 2021 announcement, quoted
/// at forums.invantive.com/t/new-exact-online-api-limitations/1040, read 2026-12-06): with
/// `token_calls_per_day`, a refresh past the day's allowance is not attempted — the caller
/// hears when the next one may be — and the provider sees no extra token call.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn token_calls_past_the_days_allowance_wait_for_the_next_day() {
    let state = Arc::new(Mutex::new(AuthServer {
        live_refresh: "ref-0".into(),
        ..AuthServer::default()
    }));
    let api = FakeApi::start(oauth_server(state.clone())).await;
    let text = format!(
        "[[providers]]\nname = \"erp\"\nscheme = \"token\"\nheader = \"x-t\"\nsecrets = [\"s\"]\n[[sinks]]\nkind = \"stdout\"\n\
         [[connections]]\nname = \"xero\"\nkind = \"oauth2-refresh\"\ntoken_url = \"{}/token\"\nclient_id = \"client-1\"\n\
         client_secret = \"client-secret\"\nrefresh_token = \"ref-0\"\ntoken_calls_per_day = 1\n",
        api.base
    );
    let cfg = parse_config(&text).connection("xero").unwrap().clone();
    let (_dir, store) = sqlite();
    let auth = inlet_sources::connection::ConnectionAuth {
        config: cfg.clone(),
        store: Arc::clone(&store),
        endpoint: Arc::new(HttpTokenEndpoint::new(Duration::from_secs(5)).unwrap()),
    };
    assert_eq!(auth.token(None).await.unwrap().expose(), "acc-1");
    auth.expire_access().await.unwrap();
    let err = auth.token(None).await.unwrap_err().to_string();
    assert!(err.contains("1 token calls a day are spent"), "{err}");
    assert_eq!(state.lock().unwrap().token_calls, 1);
}

/// Exact Online's error block, end to end: its API counts 400/401/403/404 answers per
/// endpoint and blocks the key on that endpoint after 10 in an hour (the 2021 announcement
/// quoted at forums.invantive.com/t/new-exact-online-api-limitations/1040, read
/// 2026-12-06) — this fake does, answering 429 once blocked. A source whose endpoint keeps
/// answering 404 is run twelve times by the real `inlet`: Inlet pauses the endpoint at the
/// fifth error, the later runs say so and call nothing, and the provider never blocks.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_source_stops_calling_a_failing_endpoint_before_exact_blocks_it() {
    #[derive(Default)]
    struct Exact {
        errors: usize,
        blocked: bool,
    }
    let state = Arc::new(Mutex::new(Exact::default()));
    let auth = Arc::new(Mutex::new(AuthServer {
        live_refresh: "ref-0".into(),
        ..AuthServer::default()
    }));
    let (tokens, exact) = (oauth_server(auth), state.clone());
    let api = FakeApi::start(Arc::new(move |r: &Recorded| {
        if r.path == "/token" {
            return tokens(r);
        }
        let mut s = exact.lock().unwrap();
        if s.blocked {
            return json_answer(
                429,
                json!({"error": {"message": {"value": "API key blocked"}}}),
            );
        }
        s.errors += 1;
        s.blocked = s.errors >= 10;
        json_answer(404, json!({"error": {"message": {"value": "Not found"}}}))
    }))
    .await;
    let block = format!(
        "[[connections]]\nname = \"exact\"\nkind = \"oauth2-refresh\"\ntoken_url = \"{}/token\"\nclient_id = \"client-1\"\nclient_secret = \"client-secret\"\nrefresh_token = \"ref-0\"\nerrors_per_hour = 10\n",
        api.base
    );
    let site = ContactsSite::new(api, &block, "exact");
    let c = site.config();
    let mut reports = Vec::new();
    for _ in 0..12 {
        let (_, out, _) = site.run(&["reconcile", "contacts", "--config", c, "--json"], None);
        reports.push(out);
    }
    let s = state.lock().unwrap();
    assert!(!s.blocked, "the provider never blocked the key");
    // The pause starts in the same fixed hour as the errors; at an hour's turn mid-test the
    // count starts again, which still stays under the provider's 10.
    assert!(
        (5..=9).contains(&s.errors),
        "{} errors reached Exact",
        s.errors
    );
    let last = reports.last().unwrap();
    assert!(
        last.contains("is paused until") && last.contains("after 5 errors this hour"),
        "{last}"
    );
}

/// A 403 through a connection (a scope or permission taken away at the provider) needs a
/// person: the connection is broken at once, said with the status, and later runs call
/// nothing.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_forbidden_answer_breaks_the_connection_at_once() {
    let auth = Arc::new(Mutex::new(AuthServer {
        live_refresh: "ref-0".into(),
        ..AuthServer::default()
    }));
    let tokens = oauth_server(auth);
    let api = FakeApi::start(Arc::new(move |r: &Recorded| {
        if r.path == "/token" {
            return tokens(r);
        }
        json_answer(403, json!({"Type": "Forbidden", "Title": "Forbidden"}))
    }))
    .await;
    let block = format!(
        "[[connections]]\nname = \"xero\"\nkind = \"oauth2-refresh\"\ntoken_url = \"{}/token\"\nclient_id = \"client-1\"\nclient_secret = \"client-secret\"\nrefresh_token = \"ref-0\"\n",
        api.base
    );
    let probe = api.clone();
    let site = ContactsSite::new(api, &block, "xero");
    let c = site.config();
    let (code, out, err) = site.run(&["reconcile", "contacts", "--config", c, "--json"], None);
    assert_eq!(code, 1, "{out}{err}");
    assert!(
        out.contains("connection xero is broken") && out.contains("answered 403"),
        "{out}"
    );
    let calls = probe.count("/contacts");
    assert_eq!(calls, 1);
    let _ = site.run(&["reconcile", "contacts", "--config", c], None);
    assert_eq!(
        probe.count("/contacts"),
        calls,
        "a broken connection calls nothing"
    );
}
