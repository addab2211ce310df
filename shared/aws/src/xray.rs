//! X-Ray subsegments from `tracing` spans, so a slow invocation explains itself in the
//! trace: one subsegment per AWS call (the SDK opens a span `Service.Operation` with
//! `rpc.system = "aws-api"` around each operation, retries included) and one per span named
//! in [`LOCAL_SPANS`] (the signature check).
//!
//! There is no X-Ray SDK for Rust; the protocol is small. Lambda (with `Tracing: Active`)
//! gives each invocation a trace header (`_X_AMZN_TRACE_ID`: `Root=…;Parent=…;Sampled=…`)
//! and the daemon's UDP address (`AWS_XRAY_DAEMON_ADDRESS`). A subsegment is a JSON
//! document sent as one datagram after the header `{"format":"json","version":1}`, with the
//! function's segment (`Parent`) as its parent
//! (<https://docs.aws.amazon.com/xray/latest/devguide/xray-api-sendingdata.html>,
//! checked 2026-11-28). Unsampled invocations send nothing.

use std::net::UdpSocket;
use std::time::{SystemTime, UNIX_EPOCH};

use tracing::span::{Attributes, Id};
use tracing::{Metadata, Subscriber};
use tracing_subscriber::layer::{Context, Filter};
use tracing_subscriber::registry::LookupSpan;
use tracing_subscriber::Layer;

/// Our own spans that become subsegments.
pub const LOCAL_SPANS: &[&str] = &["verify_signature"];

/// Where a span's subsegment belongs: the invocation's trace, from its trace header.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TraceHeader {
    pub root: String,
    pub parent: String,
    pub sampled: bool,
}

impl TraceHeader {
    /// `Root=1-…;Parent=…;Sampled=1` (any order; other keys ignored).
    pub fn parse(header: &str) -> Option<TraceHeader> {
        let mut root = None;
        let mut parent = None;
        let mut sampled = false;
        for part in header.split(';') {
            match part.trim().split_once('=') {
                Some(("Root", v)) => root = Some(v.to_string()),
                Some(("Parent", v)) => parent = Some(v.to_string()),
                Some(("Sampled", v)) => sampled = v == "1",
                _ => {}
            }
        }
        Some(TraceHeader {
            root: root?,
            parent: parent?,
            sampled,
        })
    }
}

/// Where the current invocation's trace header comes from.
pub type TraceSource = Box<dyn Fn() -> Option<String> + Send + Sync>;

pub struct XrayLayer {
    socket: UdpSocket,
    daemon: String,
    trace: TraceSource,
}

/// Recorded in a span's extensions when it opens.
struct Opened {
    start: f64,
    name: String,
    namespace: Option<&'static str>,
    operation: Option<String>,
}

fn epoch_secs() -> f64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0.0, |d| d.as_secs_f64())
}

/// A 64-bit id as X-Ray wants it: 16 hex digits.
fn subsegment_id() -> String {
    format!("{:016x}", fastrand::u64(1..))
}

/// The spans this layer turns into subsegments.
pub fn is_traced(meta: &Metadata<'_>) -> bool {
    meta.is_span()
        && (meta.fields().field("rpc.system").is_some() || LOCAL_SPANS.contains(&meta.name()))
}

/// A per-layer filter enabling exactly [`is_traced`] spans, at any level (the SDK's are
/// `debug`), without turning on anything else.
pub struct TracedSpans;

impl<S> Filter<S> for TracedSpans {
    fn enabled(&self, meta: &Metadata<'_>, _: &Context<'_, S>) -> bool {
        is_traced(meta)
    }
}

impl XrayLayer {
    /// Send to the daemon at `daemon` (`host:port`), for the trace `trace` names.
    pub fn new(daemon: impl Into<String>, trace: TraceSource) -> std::io::Result<Self> {
        let socket = UdpSocket::bind("0.0.0.0:0")?;
        socket.set_nonblocking(true)?;
        Ok(Self {
            socket,
            daemon: daemon.into(),
            trace,
        })
    }

    /// In Lambda with tracing on: the daemon from `AWS_XRAY_DAEMON_ADDRESS`, the trace from
    /// `_X_AMZN_TRACE_ID` (which the runtime sets for each invocation). `None` elsewhere.
    pub fn from_env() -> Option<Self> {
        let daemon = std::env::var("AWS_XRAY_DAEMON_ADDRESS").ok()?;
        // The variable may list UDP and TCP addresses: `udp:host:port tcp:host:port`.
        let udp = daemon
            .split_whitespace()
            .find_map(|a| a.strip_prefix("udp:"))
            .unwrap_or(daemon.split_whitespace().next()?)
            .to_string();
        Self::new(udp, Box::new(|| std::env::var("_X_AMZN_TRACE_ID").ok())).ok()
    }

    fn send(&self, opened: &Opened, end: f64) {
        let Some(trace) = (self.trace)().as_deref().and_then(TraceHeader::parse) else {
            return;
        };
        if !trace.sampled {
            return;
        }
        let mut doc = serde_json::json!({
            "name": opened.name,
            "id": subsegment_id(),
            "trace_id": trace.root,
            "parent_id": trace.parent,
            "type": "subsegment",
            "start_time": opened.start,
            "end_time": end,
        });
        if let Some(ns) = opened.namespace {
            doc["namespace"] = ns.into();
        }
        if let Some(op) = &opened.operation {
            doc["aws"] = serde_json::json!({ "operation": op });
        }
        let datagram = format!("{{\"format\":\"json\",\"version\":1}}\n{doc}");
        // Tracing must never fail the invocation: a full buffer drops the subsegment.
        let _ = self.socket.send_to(datagram.as_bytes(), &self.daemon);
    }
}

impl<S> Layer<S> for XrayLayer
where
    S: Subscriber + for<'a> LookupSpan<'a>,
{
    fn on_new_span(&self, attrs: &Attributes<'_>, id: &Id, ctx: Context<'_, S>) {
        let meta = attrs.metadata();
        if !is_traced(meta) {
            return;
        }
        let Some(span) = ctx.span(id) else { return };
        // The SDK names its span `Service.Operation`.
        let opened = match meta.name().split_once('.') {
            Some((service, operation)) if meta.fields().field("rpc.system").is_some() => Opened {
                start: epoch_secs(),
                name: service.to_string(),
                namespace: Some("aws"),
                operation: Some(operation.to_string()),
            },
            _ => Opened {
                start: epoch_secs(),
                name: meta.name().to_string(),
                namespace: None,
                operation: None,
            },
        };
        span.extensions_mut().insert(opened);
    }

    fn on_close(&self, id: Id, ctx: Context<'_, S>) {
        let Some(span) = ctx.span(&id) else { return };
        let extensions = span.extensions();
        if let Some(opened) = extensions.get::<Opened>() {
            self.send(opened, epoch_secs());
        }
    }
}

/// The functions' logging and tracing: JSON logs filtered by `RUST_LOG`, and X-Ray
/// subsegments when the function runs with tracing on.
pub fn init_function_telemetry() {
    use tracing_subscriber::layer::SubscriberExt as _;
    use tracing_subscriber::util::SubscriberInitExt as _;
    let logs = tracing_subscriber::fmt::layer()
        .json()
        .without_time()
        .with_filter(tracing_subscriber::EnvFilter::from_default_env());
    let xray = XrayLayer::from_env().map(|l| l.with_filter(TracedSpans));
    tracing_subscriber::registry().with(logs).with(xray).init();
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn trace_headers_parse_in_any_order() {
        assert_eq!(
            TraceHeader::parse(
                "Parent=53995c3f42cd8ad8;Sampled=1;Root=1-5759e988-bd862e3fe1be46a994272793"
            ),
            Some(TraceHeader {
                root: "1-5759e988-bd862e3fe1be46a994272793".into(),
                parent: "53995c3f42cd8ad8".into(),
                sampled: true
            })
        );
        assert_eq!(
            TraceHeader::parse("Root=1-x;Sampled=1"),
            None,
            "no parent segment"
        );
        assert!(
            !TraceHeader::parse("Root=1-x;Parent=y;Sampled=0")
                .unwrap()
                .sampled
        );
    }
}
