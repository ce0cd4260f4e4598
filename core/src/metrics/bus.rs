//! What the cluster manager reports about its bus: messages published and received, and how long
//! requests to the other nodes take. These functions exist with or without the `metrics` feature
//! (without it they do nothing), so the cluster code calls them unconditionally.

use std::time::Duration;

/// How a request to the other nodes of a cluster ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum RequestOutcome {
    /// Every node that was waited for answered.
    Ok,
    /// Some nodes did not answer in time.
    Timeout,
    /// The request could not be sent, or an answer could not be read.
    Error,
}

impl RequestOutcome {
    /// The value of the `result` label.
    pub fn as_str(self) -> &'static str {
        match self {
            RequestOutcome::Ok => "ok",
            RequestOutcome::Timeout => "timeout",
            RequestOutcome::Error => "error",
        }
    }
}

fn result(ok: bool) -> &'static str {
    if ok {
        "ok"
    } else {
        "error"
    }
}

/// `messages` cluster messages were published on the bus (`ok`), alone or in one batch, or
/// publishing them failed: counted in `volley_bus_published_total{result="ok"|"error"}`.
///
/// ```
/// volley::metrics::bus_published(3, true);
/// ```
pub fn bus_published(messages: u64, ok: bool) {
    #[cfg(feature = "metrics")]
    ::metrics::counter!("volley_bus_published_total", "result" => result(ok)).increment(messages);
    #[cfg(not(feature = "metrics"))]
    let _ = messages;
    #[cfg(not(feature = "metrics"))]
    let _ = result(ok);
}

/// A message arrived from the cluster's bus (`ok`), or one could not be decoded: counted in
/// `volley_bus_received_total{result="ok"|"error"}`.
///
/// ```
/// volley::metrics::bus_received(false);
/// ```
pub fn bus_received(ok: bool) {
    #[cfg(feature = "metrics")]
    ::metrics::counter!("volley_bus_received_total", "result" => result(ok)).increment(1);
    #[cfg(not(feature = "metrics"))]
    let _ = result(ok);
}

/// A message of `bytes` bytes arrived from the cluster's bus: counted in
/// `volley_bus_received_bytes_total`.
///
/// ```
/// volley::metrics::bus_received_bytes(120);
/// ```
pub fn bus_received_bytes(bytes: u64) {
    #[cfg(feature = "metrics")]
    ::metrics::counter!("volley_bus_received_bytes_total").increment(bytes);
    #[cfg(not(feature = "metrics"))]
    let _ = bytes;
}

/// A request to the other nodes (`kind`: `"fetch_sockets"`, `"server_side_call"`,
/// `"emit_with_ack"`, …) ended after `elapsed`: recorded in the histogram
/// `volley_cluster_request_seconds{kind, result}`.
///
/// ```
/// use std::time::Duration;
/// use volley::metrics::{cluster_request, RequestOutcome};
/// cluster_request("fetch_sockets", Duration::from_millis(3), RequestOutcome::Ok);
/// ```
pub fn cluster_request(kind: &'static str, elapsed: Duration, outcome: RequestOutcome) {
    #[cfg(feature = "metrics")]
    ::metrics::histogram!(
        "volley_cluster_request_seconds",
        "kind" => kind,
        "result" => outcome.as_str()
    )
    .record(elapsed.as_secs_f64());
    #[cfg(not(feature = "metrics"))]
    let _ = (kind, elapsed, outcome);
}

/// A request for a session another node holds was forwarded to that node (`ok`: its answer
/// came back), or the node could not be reached: counted in
/// `volley_forwarded_requests_total{result="ok"|"error"}` (see `ClusterConfig::advertise`).
///
/// ```
/// volley::metrics::request_forwarded(true);
/// ```
pub fn request_forwarded(ok: bool) {
    #[cfg(feature = "metrics")]
    ::metrics::counter!("volley_forwarded_requests_total", "result" => result(ok)).increment(1);
    #[cfg(not(feature = "metrics"))]
    let _ = result(ok);
}
