//! Helpers for the function benchmarks: a function process under the loopback Runtime
//! API (our Rust binaries, or a Python handler under awslambdaric, as Lambda's Python
//! runtime runs it), with its CPU time, peak RSS and the AWS environment pointed at the
//! emulator.

use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use crate::runtime_api::{binary, RuntimeApi};

/// A function process, killed when dropped.
pub struct Function(pub Child);

impl Drop for Function {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

impl Function {
    /// Peak resident set size, KiB.
    pub fn peak_rss_kib(&self) -> u64 {
        std::fs::read_to_string(format!("/proc/{}/status", self.0.id()))
            .ok()
            .and_then(|s| {
                s.lines()
                    .find(|l| l.starts_with("VmHWM:"))
                    .and_then(|l| l.split_whitespace().nth(1)?.parse().ok())
            })
            .unwrap_or(0)
    }

    /// CPU time the process has used, all threads, in nanoseconds (the scheduler's own
    /// accounting, `/proc/PID/task/*/schedstat`, not 10 ms ticks).
    pub fn cpu_ns(&self) -> u64 {
        let Ok(tasks) = std::fs::read_dir(format!("/proc/{}/task", self.0.id())) else {
            return 0;
        };
        tasks
            .filter_map(Result::ok)
            .filter_map(|t| std::fs::read_to_string(t.path().join("schedstat")).ok())
            .filter_map(|s| s.split_whitespace().next()?.parse::<u64>().ok())
            .sum()
    }
}

fn aws_env(cmd: &mut Command, api: &RuntimeApi, name: &str, endpoint: &str) {
    // What the function says goes to target/bench-logs/NAME.log, for when a run goes wrong.
    let logs = std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../target/bench-logs");
    let _ = std::fs::create_dir_all(&logs);
    let log = std::fs::File::create(logs.join(format!("{name}.log"))).ok();
    let stdout = log
        .as_ref()
        .and_then(|f| f.try_clone().ok())
        .map_or_else(Stdio::null, Stdio::from);
    let stderr = log.map_or_else(Stdio::null, Stdio::from);
    cmd.envs(api.lambda_env(name))
        .env("AWS_ENDPOINT_URL", endpoint)
        .env("AWS_ACCESS_KEY_ID", "testing")
        .env("AWS_SECRET_ACCESS_KEY", "testing")
        .env("AWS_REGION", "us-east-1")
        .env("AWS_DEFAULT_REGION", "us-east-1")
        .env("AWS_EC2_METADATA_DISABLED", "true")
        .stdout(stdout)
        .stderr(stderr);
}

/// The environment the stack gives Inlet's functions, on the emulator's resources, with
/// the test providers and an EventBridge sink.
pub fn stack_env(
    queue_url: &str,
    dlq_url: &str,
    table: &str,
    bus: &str,
) -> Vec<(&'static str, String)> {
    let config = format!(
        "{}{}\n[[sinks]]\nkind = \"eventbridge\"\n",
        crate::fast_worker_toml(5),
        crate::providers_toml()
    );
    vec![
        ("INLET_CONFIG", config),
        ("INLET_QUEUE_URL", queue_url.into()),
        ("INLET_DLQ_URL", dlq_url.into()),
        ("INLET_TABLE", table.into()),
        ("INLET_EVENT_BUS", bus.into()),
        ("INLET_MAX_RECEIVE", "5".into()),
    ]
}

/// One of our function binaries (`target/<profile>/NAME`).
pub fn spawn_binary(
    name: &str,
    api: &RuntimeApi,
    endpoint: &str,
    env: &[(&str, String)],
) -> (Function, Instant) {
    // INLET_FUNCTION_DIR: measure release binaries from a quicker debug build of the bench.
    let path = std::env::var("INLET_FUNCTION_DIR")
        .map(|d| std::path::PathBuf::from(d).join(name))
        .unwrap_or_else(|_| binary(name));
    let mut cmd = Command::new(path);
    aws_env(&mut cmd, api, name, endpoint);
    // As the template runs them.
    cmd.env("RUST_LOG", "info");
    for (k, v) in env {
        cmd.env(k, v);
    }
    let started = Instant::now();
    (Function(cmd.spawn().unwrap()), started)
}

/// A Python handler (`module.function` in `dir`) under awslambdaric, the Runtime Interface
/// Client Lambda's Python runtime is built on.
pub fn spawn_python(
    python: &Path,
    dir: &Path,
    handler: &str,
    api: &RuntimeApi,
    endpoint: &str,
    env: &[(&str, String)],
) -> (Function, Instant) {
    let mut cmd = Command::new(python);
    cmd.args(["-m", "awslambdaric", handler]).current_dir(dir);
    aws_env(&mut cmd, api, handler, endpoint);
    cmd.env("LAMBDA_TASK_ROOT", dir)
        .env("POWERTOOLS_LOG_LEVEL", "ERROR")
        .env("AWS_LAMBDA_LOG_LEVEL", "ERROR");
    for (k, v) in env {
        cmd.env(k, v);
    }
    let started = Instant::now();
    (Function(cmd.spawn().unwrap()), started)
}

/// Wait until the function polls the Runtime API for its first event: its init time.
pub async fn init_time(api: &RuntimeApi, started: Instant) -> Duration {
    while api.first_poll.lock().unwrap().is_none() && started.elapsed() < Duration::from_secs(30) {
        tokio::time::sleep(Duration::from_millis(1)).await;
    }
    api.first_poll
        .lock()
        .unwrap()
        .map(|t| t - started)
        .unwrap_or_default()
}

/// The median and range of some measurements.
pub fn median_range(values: &mut [f64]) -> (f64, f64, f64) {
    values.sort_by(f64::total_cmp);
    let mid = values.len() / 2;
    let median = if values.len() % 2 == 1 {
        values[mid]
    } else {
        (values[mid - 1] + values[mid]) / 2.0
    };
    (
        median,
        values.first().copied().unwrap_or(0.0),
        values.last().copied().unwrap_or(0.0),
    )
}

/// AWS calls by operation (`DynamoDB_20120810.PutItem` → count), as the fault proxy saw them.
pub type Counts = std::collections::HashMap<String, usize>;

/// The calls the proxy has forwarded so far.
pub fn calls_seen(proxy: &crate::faults::FaultProxy) -> Counts {
    proxy.seen.lock().unwrap().clone()
}

/// The calls made between two [`calls_seen`].
pub fn calls_between(after: &Counts, before: &Counts) -> Counts {
    after
        .iter()
        .map(|(k, v)| (k.clone(), v - before.get(k).copied().unwrap_or(0)))
        .filter(|(_, v)| *v > 0)
        .collect()
}

/// The Python that runs the peers (`INLET_PEER_PYTHON`, which `scripts/bench` sets) and the
/// directory of their handlers.
pub fn peers() -> (std::path::PathBuf, std::path::PathBuf) {
    let python = std::env::var("INLET_PEER_PYTHON")
        .map(std::path::PathBuf::from)
        .unwrap_or_else(|_| std::path::PathBuf::from(".venv/bin/python"));
    let dir = std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../infra/peer");
    (python, dir)
}

/// "median unit [low–high]" of `values`.
pub fn median_text(values: &mut [f64], unit: &str) -> String {
    let (m, lo, hi) = median_range(values);
    format!("{m:.3} {unit} [{lo:.3}–{hi:.3}]")
}
