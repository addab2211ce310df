//! The chaos suite: the real `inlet dev` binary under the failures operators meet in
//! production, each scenario bounded in time, every process stopped by its pid. Prints a
//! table of figures and exits non-zero when a guarantee broke. Run by `scripts/chaos`.
//!
//! Scenarios: a duplicate storm; an HTTP sink down (503) for a while, then back; a sink
//! that refuses (422) → DLQ with the reason → fixed → redrive → delivered once; hundreds
//! of slowloris connections while real providers are served; SIGSTOP/SIGCONT under load;
//! the data directory on a tiny tmpfs that fills up (needs root for `mount`; skipped and
//! said so otherwise); peak RSS and open file descriptors before and after each.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use inlet_tests::*;

/// One row of the report.
struct Row {
    scenario: &'static str,
    figure: String,
    value: String,
}

struct Report {
    rows: Vec<Row>,
    failures: Vec<String>,
}

impl Report {
    fn figure(&mut self, scenario: &'static str, figure: &str, value: impl ToString) {
        self.rows.push(Row {
            scenario,
            figure: figure.to_string(),
            value: value.to_string(),
        });
    }

    fn check(&mut self, scenario: &'static str, ok: bool, what: &str) {
        self.figure(scenario, what, if ok { "ok" } else { "FAILED" });
        if !ok {
            self.failures.push(format!("{scenario}: {what}"));
        }
    }
}

/// A running `inlet dev`, killed by pid when dropped.
struct Inlet {
    child: Child,
    base: String,
    dir: PathBuf,
}

fn inlet_bin() -> PathBuf {
    std::env::var_os("INLET_BIN")
        .map(PathBuf::from)
        // Beside this binary: target/<profile>/inlet.
        .unwrap_or_else(|| std::env::current_exe().unwrap().with_file_name("inlet"))
}

impl Inlet {
    fn start(dir: &Path, config: &str) -> Inlet {
        std::fs::write(dir.join("inlet.toml"), config).unwrap();
        let (child, base) = spawn_dev(&inlet_bin(), dir, &[("RUST_LOG", Some("error"))]);
        Inlet {
            child,
            base,
            dir: dir.to_path_buf(),
        }
    }

    fn pid(&self) -> u32 {
        self.child.id()
    }

    fn signal(&self, sig: &str) {
        let _ = Command::new("kill")
            .args([sig, &self.pid().to_string()])
            .status();
    }

    /// Peak resident set (VmHWM) in MiB.
    fn peak_rss_mib(&self) -> f64 {
        let status =
            std::fs::read_to_string(format!("/proc/{}/status", self.pid())).unwrap_or_default();
        status
            .lines()
            .find_map(|l| l.strip_prefix("VmHWM:"))
            .and_then(|v| v.split_whitespace().next()?.parse::<f64>().ok())
            .map_or(0.0, |kib| kib / 1024.0)
    }

    fn open_fds(&self) -> usize {
        std::fs::read_dir(format!("/proc/{}/fd", self.pid())).map_or(0, |d| d.count())
    }

    /// `inlet dlq …` against this instance's store.
    fn cli(&self, args: &[&str]) -> String {
        let out = Command::new(inlet_bin())
            .args(args)
            .arg("--data-dir")
            .arg(self.dir.join("data"))
            .env("RUST_LOG", "error")
            .output()
            .unwrap();
        String::from_utf8_lossy(&out.stdout).into_owned()
    }
}

impl Drop for Inlet {
    fn drop(&mut self) {
        self.signal("-CONT");
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn config(sink: &str, worker: &str) -> String {
    format!("{}{worker}{sink}", providers_toml())
}

fn worker(max_receive: u32, backoff_ms: u64) -> String {
    format!(
        "\n[worker]\nbatch_size = 10\nvisibility_timeout_secs = 5\nlease_secs = 4\nmax_receive = {max_receive}\nbackoff_base_ms = {backoff_ms}\nbackoff_max_secs = 2\npoll_interval_ms = 20\n"
    )
}

fn client() -> reqwest::Client {
    reqwest::Client::builder()
        .timeout(Duration::from_secs(20))
        .pool_max_idle_per_host(64)
        .build()
        .unwrap()
}

/// POST a signed Stripe event; the status, or 0 when the request failed.
async fn send(client: &reqwest::Client, base: &str, body: &str) -> u16 {
    match stripe_request(client, base, body).send().await {
        Ok(r) => r.status().as_u16(),
        Err(_) => 0,
    }
}

fn event(id: &str) -> String {
    stripe_event(id, "invoice.paid", &format!("in_{id}"), now_unix())
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    if sorted.is_empty() {
        return Duration::ZERO;
    }
    sorted[((sorted.len() - 1) as f64 * p).round() as usize]
}

fn ms(d: Duration) -> String {
    format!("{:.1} ms", d.as_secs_f64() * 1000.0)
}

fn unique_keys(lines: &[serde_json::Value]) -> usize {
    let mut keys: Vec<&str> = lines.iter().filter_map(|l| l["key"].as_str()).collect();
    keys.sort_unstable();
    keys.dedup();
    keys.len()
}

fn resources(r: &mut Report, scenario: &'static str, inlet: &Inlet, fds_before: usize) {
    r.figure(
        scenario,
        "peak RSS",
        format!("{:.1} MiB", inlet.peak_rss_mib()),
    );
    r.figure(
        scenario,
        "open fds before / after",
        format!("{fds_before} / {}", inlet.open_fds()),
    );
}

// ---- scenarios ------------------------------------------------------------------------------

/// Hundreds of events, each sent ten times at once: each delivered exactly once.
async fn duplicate_storm(r: &mut Report) {
    const S: &str = "duplicate storm";
    const EVENTS: usize = 300;
    const COPIES: usize = 10;
    let dir = tempfile::tempdir().unwrap();
    let sink = dir.path().join("sink.jsonl");
    let inlet = Inlet::start(dir.path(), &config(&file_sink_toml(&sink), &worker(5, 100)));
    let fds = inlet.open_fds();
    let client = client();
    let started = Instant::now();
    let accepted = Arc::new(AtomicUsize::new(0));
    let gate = Arc::new(tokio::sync::Semaphore::new(64));
    let mut tasks = Vec::new();
    for i in 0..EVENTS {
        let body = event(&format!("evt_storm_{i}"));
        for _ in 0..COPIES {
            let (client, base, body, accepted, gate) = (
                client.clone(),
                inlet.base.clone(),
                body.clone(),
                accepted.clone(),
                gate.clone(),
            );
            tasks.push(tokio::spawn(async move {
                let _permit = gate.acquire().await.unwrap();
                if send(&client, &base, &body).await == 202 {
                    accepted.fetch_add(1, Ordering::Relaxed);
                }
            }));
        }
    }
    futures::future::join_all(tasks).await;
    let sent_in = started.elapsed();
    wait_until(Duration::from_secs(60), || {
        read_jsonl(&sink).len() >= EVENTS
    })
    .await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    let lines = read_jsonl(&sink);
    r.figure(
        S,
        "requests (events × copies)",
        format!("{} ({EVENTS} × {COPIES})", EVENTS * COPIES),
    );
    r.figure(S, "202 answers", accepted.load(Ordering::Relaxed));
    r.figure(S, "sent in", ms(sent_in));
    r.figure(
        S,
        "sink lines / distinct keys",
        format!("{} / {}", lines.len(), unique_keys(&lines)),
    );
    r.check(
        S,
        accepted.load(Ordering::Relaxed) == EVENTS * COPIES,
        "every copy answered 202",
    );
    r.check(
        S,
        lines.len() == EVENTS && unique_keys(&lines) == EVENTS,
        "each event delivered exactly once",
    );
    resources(r, S, &inlet, fds);
}

/// The HTTP sink answers 503 for a while: retries back off, and everything is delivered
/// once it recovers.
async fn sink_outage(r: &mut Report) {
    const S: &str = "sink 503 outage";
    const EVENTS: usize = 50;
    const OUTAGE: Duration = Duration::from_secs(20);
    let sinks = SinkServer::start().await;
    *sinks.default_status.lock().unwrap() = 503;
    let dir = tempfile::tempdir().unwrap();
    let inlet = Inlet::start(
        dir.path(),
        &config(&http_sink_toml(&sinks.url), &worker(100, 200)),
    );
    let fds = inlet.open_fds();
    let client = client();
    let outage_start = Instant::now();
    for i in 0..EVENTS {
        send(&client, &inlet.base, &event(&format!("evt_outage_{i}"))).await;
    }
    tokio::time::sleep(OUTAGE.saturating_sub(outage_start.elapsed())).await;
    let during = sinks.hit_count();
    *sinks.default_status.lock().unwrap() = 200;
    let recovered = Instant::now();
    let all = wait_until(Duration::from_secs(30), || {
        sinks.distinct_delivered_keys().len() >= EVENTS
    })
    .await;
    let drained_in = recovered.elapsed();
    let delivered = sinks.delivered_keys().len();
    let keys = sinks.distinct_delivered_keys();
    let per_minute = during as f64 / OUTAGE.as_secs_f64() * 60.0;
    r.figure(
        S,
        "events / outage",
        format!("{EVENTS} / {} s", OUTAGE.as_secs()),
    );
    r.figure(
        S,
        "sink requests during the outage",
        format!(
            "{during} ({per_minute:.0}/min, {:.1} per event)",
            during as f64 / EVENTS as f64
        ),
    );
    r.figure(S, "delivered after recovery in", ms(drained_in));
    r.check(
        S,
        all && keys.len() == EVENTS,
        "everything delivered once the sink is back",
    );
    r.check(
        S,
        delivered == EVENTS,
        "no event delivered twice (2xx answers = events)",
    );
    // Without backoff, 50 events retried every 20 ms poll would be thousands of requests.
    r.check(
        S,
        (during as f64) < EVENTS as f64 * 20.0,
        "retries spaced by backoff (< 20 per event)",
    );
    resources(r, S, &inlet, fds);
}

/// A sink refusing records (422): straight to the DLQ with the reason; fixed, redriven,
/// delivered once.
async fn permanent_failure(r: &mut Report) {
    const S: &str = "4xx → DLQ → redrive";
    const EVENTS: usize = 5;
    let sinks = SinkServer::start().await;
    *sinks.default_status.lock().unwrap() = 422;
    let dir = tempfile::tempdir().unwrap();
    let inlet = Inlet::start(
        dir.path(),
        &config(&http_sink_toml(&sinks.url), &worker(5, 100)),
    );
    let fds = inlet.open_fds();
    let client = client();
    for i in 0..EVENTS {
        send(&client, &inlet.base, &event(&format!("evt_refused_{i}"))).await;
    }
    let dead_lines = || {
        inlet
            .cli(&["dlq", "list", "--json"])
            .lines()
            .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
            .collect::<Vec<_>>()
    };
    wait_until(Duration::from_secs(20), || dead_lines().len() >= EVENTS).await;
    let dead = dead_lines();
    let refused_hits = sinks.hit_count();
    r.figure(S, "dead letters", dead.len());
    r.figure(S, "sink requests before the DLQ", refused_hits);
    if let Some(reason) = dead.first().and_then(|d| d["reason"].as_str()) {
        r.figure(S, "reason", reason.chars().take(60).collect::<String>());
    }
    r.check(S, dead.len() == EVENTS, "every refused event is in the DLQ");
    r.check(S, refused_hits == EVENTS, "a 4xx is not retried");
    r.check(
        S,
        dead.iter()
            .all(|d| d["reason"].as_str().is_some_and(|s| s.contains("422"))),
        "the DLQ says why (the sink's 422)",
    );
    *sinks.default_status.lock().unwrap() = 200;
    inlet.cli(&["dlq", "redrive", "--all"]);
    wait_until(Duration::from_secs(20), || {
        sinks.delivered_keys().len() >= EVENTS
    })
    .await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    let delivered = sinks.delivered_keys().len();
    let keys = sinks.distinct_delivered_keys();
    r.check(
        S,
        delivered == EVENTS && keys.len() == EVENTS,
        "redriven events delivered once each",
    );
    r.check(
        S,
        dead_lines().is_empty(),
        "the DLQ is empty after the redrive",
    );
    resources(r, S, &inlet, fds);
}

/// Hundreds of connections that never finish their headers (and some that never finish
/// their body) while a provider keeps sending: the provider gets 202 promptly and the
/// server closes the idle connections after its read timeouts.
async fn slowloris(r: &mut Report) {
    const S: &str = "slowloris";
    const HEADER_HOLDERS: usize = 300;
    const BODY_HOLDERS: usize = 20;
    const REAL: usize = 50;
    let dir = tempfile::tempdir().unwrap();
    let sink = dir.path().join("sink.jsonl");
    let inlet = Inlet::start(dir.path(), &config(&file_sink_toml(&sink), &worker(5, 100)));
    let fds = inlet.open_fds();
    let addr = inlet.base.trim_start_matches("http://").to_string();
    let opened = Instant::now();
    let mut holders = Vec::new();
    for i in 0..HEADER_HOLDERS + BODY_HOLDERS {
        let mut s = TcpStream::connect(&addr).unwrap();
        let head = if i < HEADER_HOLDERS {
            "POST /webhooks/stripe HTTP/1.1\r\nHost: x\r\nX-Slow: ".to_string()
        } else {
            "POST /webhooks/stripe HTTP/1.1\r\nHost: x\r\nContent-Length: 4096\r\n\r\n{".to_string()
        };
        s.write_all(head.as_bytes()).unwrap();
        s.set_read_timeout(Some(Duration::from_millis(50))).unwrap();
        holders.push(s);
    }
    let fds_held = inlet.open_fds();
    // A byte every second keeps a naive server waiting forever.
    let drip = {
        let mut streams: Vec<TcpStream> = holders.iter().map(|s| s.try_clone().unwrap()).collect();
        std::thread::spawn(move || {
            for _ in 0..40 {
                for s in &mut streams {
                    let _ = s.write_all(b"a");
                }
                std::thread::sleep(Duration::from_secs(1));
            }
        })
    };
    let client = client();
    let mut latencies = Vec::new();
    let mut accepted = 0;
    for i in 0..REAL {
        let t = Instant::now();
        if send(&client, &inlet.base, &event(&format!("evt_real_{i}"))).await == 202 {
            accepted += 1;
        }
        latencies.push(t.elapsed());
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    latencies.sort();
    // Wait past the header timeout, then the body timeout, counting closed connections.
    let closed_by = |holders: &[TcpStream]| {
        holders
            .iter()
            .filter(|s| {
                let mut s: &TcpStream = s;
                let mut buf = [0u8; 512];
                // EOF, a reset, or an error reply followed by close all mean "closed".
                !matches!(s.read(&mut buf), Err(e) if e.kind() == std::io::ErrorKind::WouldBlock || e.kind() == std::io::ErrorKind::TimedOut)
            })
            .count()
    };
    tokio::time::sleep(Duration::from_secs(13).saturating_sub(opened.elapsed())).await;
    let header_closed = closed_by(&holders[..HEADER_HOLDERS]);
    tokio::time::sleep(Duration::from_secs(34).saturating_sub(opened.elapsed())).await;
    let all_closed = closed_by(&holders);
    drop(holders);
    let _ = drip.join();
    tokio::time::sleep(Duration::from_millis(500)).await;
    r.figure(
        S,
        "idle connections held",
        format!("{HEADER_HOLDERS} in headers + {BODY_HOLDERS} in bodies"),
    );
    r.figure(
        S,
        "provider requests: 202 / sent",
        format!("{accepted} / {REAL}"),
    );
    r.figure(
        S,
        "provider latency p50 / p99 / max",
        format!(
            "{} / {} / {}",
            ms(percentile(&latencies, 0.5)),
            ms(percentile(&latencies, 0.99)),
            ms(percentile(&latencies, 1.0))
        ),
    );
    r.figure(
        S,
        "closed by the server after 13 s (headers)",
        format!("{header_closed} / {HEADER_HOLDERS}"),
    );
    r.figure(
        S,
        "closed by the server after 34 s (all)",
        format!("{all_closed} / {}", HEADER_HOLDERS + BODY_HOLDERS),
    );
    r.figure(S, "open fds while held", fds_held);
    r.check(S, accepted == REAL, "every provider request answered 202");
    r.check(
        S,
        percentile(&latencies, 0.99) < Duration::from_secs(1),
        "provider p99 under 1 s while held",
    );
    r.check(
        S,
        header_closed == HEADER_HOLDERS,
        "header read timeout closes slow headers",
    );
    r.check(
        S,
        all_closed == HEADER_HOLDERS + BODY_HOLDERS,
        "body read timeout closes slow bodies",
    );
    r.check(
        S,
        inlet.open_fds() <= fds + 10,
        "file descriptors return to the baseline",
    );
    resources(r, S, &inlet, fds);
}

/// The host freezes the process (SIGSTOP) in the middle of a load and thaws it: requests
/// wait, nothing accepted is lost, nothing is delivered twice.
async fn freeze(r: &mut Report) {
    const S: &str = "SIGSTOP / SIGCONT";
    const EVENTS: usize = 400;
    let dir = tempfile::tempdir().unwrap();
    let sink = dir.path().join("sink.jsonl");
    let inlet = Inlet::start(dir.path(), &config(&file_sink_toml(&sink), &worker(5, 100)));
    let fds = inlet.open_fds();
    let client = client();
    let accepted = Arc::new(AtomicUsize::new(0));
    let latencies = Arc::new(std::sync::Mutex::new(Vec::new()));
    let load = {
        let (client, base, accepted, latencies) = (
            client.clone(),
            inlet.base.clone(),
            accepted.clone(),
            latencies.clone(),
        );
        tokio::spawn(async move {
            let gate = Arc::new(tokio::sync::Semaphore::new(16));
            let mut tasks = Vec::new();
            for i in 0..EVENTS {
                let (client, base, accepted, latencies, gate) = (
                    client.clone(),
                    base.clone(),
                    accepted.clone(),
                    latencies.clone(),
                    gate.clone(),
                );
                tasks.push(tokio::spawn(async move {
                    let _permit = gate.acquire().await.unwrap();
                    let t = Instant::now();
                    if send(&client, &base, &event(&format!("evt_freeze_{i}"))).await == 202 {
                        accepted.fetch_add(1, Ordering::Relaxed);
                    }
                    latencies.lock().unwrap().push(t.elapsed());
                }));
                tokio::time::sleep(Duration::from_millis(10)).await;
            }
            futures::future::join_all(tasks).await;
        })
    };
    tokio::time::sleep(Duration::from_secs(1)).await;
    inlet.signal("-STOP");
    tokio::time::sleep(Duration::from_secs(3)).await;
    inlet.signal("-CONT");
    load.await.unwrap();
    let accepted = accepted.load(Ordering::Relaxed);
    wait_until(Duration::from_secs(30), || {
        read_jsonl(&sink).len() >= accepted
    })
    .await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    let lines = read_jsonl(&sink);
    let mut lat = latencies.lock().unwrap().clone();
    lat.sort();
    r.figure(
        S,
        "requests / 202 / frozen for",
        format!("{EVENTS} / {accepted} / 3 s"),
    );
    r.figure(
        S,
        "request latency p50 / max",
        format!(
            "{} / {}",
            ms(percentile(&lat, 0.5)),
            ms(percentile(&lat, 1.0))
        ),
    );
    r.figure(
        S,
        "sink lines / distinct keys",
        format!("{} / {}", lines.len(), unique_keys(&lines)),
    );
    r.check(
        S,
        accepted == EVENTS,
        "every request answered 202 after the thaw",
    );
    r.check(
        S,
        lines.len() == accepted && unique_keys(&lines) == accepted,
        "every accepted event delivered once",
    );
    resources(r, S, &inlet, fds);
}

/// The data directory is a tiny tmpfs that fills up: the webhook answers 503 with
/// Retry-After, never a 202 it then loses; when space returns, everything accepted is
/// delivered and new events are accepted again.
async fn disk_full(r: &mut Report) {
    const S: &str = "disk full";
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    std::fs::create_dir_all(&data).unwrap();
    let mounted = Command::new("mount")
        .args(["-t", "tmpfs", "-o", "size=3m", "tmpfs"])
        .arg(&data)
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    if !mounted {
        r.figure(S, "skipped", "cannot mount a tmpfs here (needs root)");
        return;
    }
    struct Unmount(PathBuf);
    impl Drop for Unmount {
        fn drop(&mut self) {
            let _ = Command::new("umount").arg("-l").arg(&self.0).status();
        }
    }
    let _unmount = Unmount(data.clone());
    // The sink refuses for now, so events pile up in the store until the disk is full.
    let sinks = SinkServer::start().await;
    *sinks.default_status.lock().unwrap() = 503;
    let inlet = Inlet::start(
        dir.path(),
        &config(&http_sink_toml(&sinks.url), &worker(1000, 500)),
    );
    let fds = inlet.open_fds();
    let client = client();
    let padding = "x".repeat(16 * 1024);
    let mut accepted = Vec::new();
    let mut full = 0;
    let mut other = 0;
    let mut retry_after = true;
    for i in 0..2000 {
        let id = format!("evt_full_{i}");
        let body = serde_json::json!({
            "id": id, "object": "event", "type": "invoice.paid", "created": now_unix(),
            "data": { "object": { "id": format!("in_{i}"), "object": "invoice", "note": padding } }
        })
        .to_string();
        match stripe_request(&client, &inlet.base, &body).send().await {
            Ok(resp) if resp.status().as_u16() == 202 => accepted.push(format!("stripe:{id}")),
            Ok(resp) if resp.status().as_u16() == 503 => {
                retry_after &= resp.headers().contains_key("retry-after");
                full += 1;
                if full >= 20 {
                    break;
                }
            }
            _ => other += 1,
        }
    }
    r.figure(S, "tmpfs", "3 MiB");
    r.figure(
        S,
        "202 before full / 503 after / other",
        format!("{} / {full} / {other}", accepted.len()),
    );
    r.check(S, full > 0, "a full disk answers 503");
    r.check(S, retry_after, "every 503 carries Retry-After");
    r.check(
        S,
        other == 0,
        "no other answer (no 500, no dropped connection)",
    );
    // Space returns; the sink recovers.
    let grown = Command::new("mount")
        .args(["-o", "remount,size=64m"])
        .arg(&data)
        .status()
        .is_ok_and(|s| s.success());
    *sinks.default_status.lock().unwrap() = 200;
    let mut after = 0;
    for i in 0..20 {
        let id = format!("evt_after_{i}");
        if send(&client, &inlet.base, &event(&id)).await == 202 {
            after += 1;
            accepted.push(format!("stripe:{id}"));
        }
    }
    let expected = accepted.len();
    let all = wait_until(Duration::from_secs(60), || {
        sinks.distinct_delivered_keys().len() >= expected
    })
    .await;
    let delivered = sinks.distinct_delivered_keys();
    let lost: Vec<&String> = accepted
        .iter()
        .filter(|k| delivered.binary_search(k).is_err())
        .collect();
    r.figure(S, "accepted after space returned", format!("{after} / 20"));
    r.figure(
        S,
        "accepted / delivered",
        format!("{expected} / {}", delivered.len()),
    );
    r.check(S, grown && after == 20, "accepts again once space returns");
    r.check(
        S,
        all && lost.is_empty(),
        "every 202 delivered (none lost to the full disk)",
    );
    resources(r, S, &inlet, fds);
}

fn main() -> std::process::ExitCode {
    let only: Vec<String> = std::env::args().skip(1).collect();
    let want = |name: &str| only.is_empty() || only.iter().any(|o| o == name);
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let mut report = Report {
        rows: Vec::new(),
        failures: Vec::new(),
    };
    let started = Instant::now();
    rt.block_on(async {
        if want("storm") {
            duplicate_storm(&mut report).await;
        }
        if want("outage") {
            sink_outage(&mut report).await;
        }
        if want("dlq") {
            permanent_failure(&mut report).await;
        }
        if want("slowloris") {
            slowloris(&mut report).await;
        }
        if want("freeze") {
            freeze(&mut report).await;
        }
        if want("disk") {
            disk_full(&mut report).await;
        }
    });
    println!("{:<22} {:<46} value", "scenario", "figure");
    let mut last = "";
    for row in &report.rows {
        let name = if row.scenario == last {
            ""
        } else {
            row.scenario
        };
        last = row.scenario;
        println!("{name:<22} {:<46} {}", row.figure, row.value);
    }
    println!("total time: {:.0} s", started.elapsed().as_secs_f64());
    if report.failures.is_empty() {
        std::process::ExitCode::SUCCESS
    } else {
        eprintln!("chaos: {} guarantee(s) broke:", report.failures.len());
        for f in &report.failures {
            eprintln!("  {f}");
        }
        std::process::ExitCode::FAILURE
    }
}
