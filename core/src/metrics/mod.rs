//! Metrics in the Prometheus format (cargo feature `metrics`, off by default).
//!
//! `Server::record_metrics` registers an [`Observer`](crate::Observer) that feeds the
//! [`metrics`](https://docs.rs/metrics) facade, so the numbers reach whatever recorder the process
//! installed; `prometheus()` installs the Prometheus one (`metrics-exporter-prometheus`) and
//! `router()` serves it at `GET /metrics`. These three exist with the feature only.
//!
//! ```no_run
//! # #[cfg(feature = "metrics")]
//! # #[tokio::main]
//! # async fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let io = volley::Server::builder().build();
//! io.of("/");
//! let metrics = volley::metrics::router()?; // installs the Prometheus recorder
//! io.record_metrics();
//! let listener = volley::serve::Listener::bind("127.0.0.1:3000").await?;
//! axum::serve(listener, io.wrap(metrics)).await?; // /socket.io/ and /metrics
//! # Ok(()) }
//! # #[cfg(not(feature = "metrics"))]
//! # fn main() {}
//! ```
//!
//! # The metrics
//! | name | type | labels | what |
//! | --- | --- | --- | --- |
//! | `volley_connections` | gauge | | open Engine.IO connections |
//! | `volley_connections_opened_total` | counter | `transport` | connections opened, by first transport |
//! | `volley_connections_closed_total` | counter | `reason` | connections closed, by reason |
//! | `volley_sockets` | gauge | `namespace` | sockets connected to a namespace |
//! | `volley_socket_connects_total` | counter | `namespace` | sockets that joined a namespace |
//! | `volley_socket_disconnects_total` | counter | `namespace`, `reason` | sockets that left it, by reason |
//! | `volley_events_received_total` | counter | `namespace` | events from clients |
//! | `volley_events_sent_total` | counter | `namespace` | events queued for clients (one per recipient) |
//! | `volley_packets_received_total`, `volley_received_bytes_total` | counter | | messages from clients and their size |
//! | `volley_packets_sent_total`, `volley_sent_bytes_total` | counter | | Socket.IO packets queued for sockets and their size on the wire |
//! | `volley_broadcast_recipients` | histogram | `namespace` | the local sockets each emit reached |
//! | `volley_queue_full_total` | counter | `action` (`dropped`, `disconnected`) | packets that found a client's queue full |
//! | `volley_bus_published_total` | counter | `result` (`ok`, `error`) | messages published on the cluster's bus |
//! | `volley_bus_received_total` | counter | `result` (`ok`, `error`) | messages received from it (errors: undecodable) |
//! | `volley_bus_received_bytes_total` | counter | | the bytes of those messages |
//! | `volley_cluster_request_seconds` | histogram | `kind`, `result` (`ok`, `timeout`, `error`) | requests to the other nodes |
//! | `volley_forwarded_requests_total` | counter | `result` (`ok`, `error`) | requests for sessions held by other nodes, forwarded to them (no sticky sessions) |
//!
//! The numbers are this node's; Prometheus adds up the nodes of a cluster. Namespaces beyond
//! 256 are counted together under `namespace="(other)"`. Byte counts cover Socket.IO packets
//! (text, and binary attachments), not the Engine.IO framing, pings or HTTP overhead.
//!
//! [`bus_published`], [`bus_received`], [`bus_received_bytes`], [`cluster_request`] and
//! [`request_forwarded`] are how the cluster manager and the endpoint report the cluster; they
//! exist without the feature too, and then do nothing.

mod bus;
#[cfg(feature = "metrics")]
mod observer;

pub use bus::{
    bus_published, bus_received, bus_received_bytes, cluster_request, request_forwarded,
    RequestOutcome,
};

#[cfg(feature = "metrics")]
pub use prometheus::{prometheus, router, MetricsError, Prometheus};

#[cfg(feature = "metrics")]
mod prometheus {
    use std::sync::{Arc, OnceLock};
    use std::time::Duration;

    use metrics_exporter_prometheus::{Matcher, PrometheusBuilder, PrometheusHandle};

    /// Why the Prometheus recorder could not be installed.
    #[derive(Debug, Clone, thiserror::Error)]
    #[error("cannot install the Prometheus recorder: {0}")]
    pub struct MetricsError(String);

    /// The process's Prometheus recorder, as installed by [`prometheus`]. Cheap to clone.
    #[derive(Clone)]
    pub struct Prometheus(PrometheusHandle);

    impl std::fmt::Debug for Prometheus {
        fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            f.debug_struct("Prometheus").finish_non_exhaustive()
        }
    }

    impl Prometheus {
        /// Every metric of the process in the Prometheus text format.
        ///
        /// ```
        /// let text = volley::metrics::prometheus().unwrap().render();
        /// # let _ = text;
        /// ```
        pub fn render(&self) -> String {
            self.0.run_upkeep();
            self.0.render()
        }
    }

    /// Upper bounds of `volley_broadcast_recipients`'s buckets.
    const FAN_OUT: [f64; 12] = [
        0.0, 1.0, 2.0, 5.0, 10.0, 50.0, 100.0, 500.0, 1e3, 5e3, 1e4, 1e5,
    ];
    /// Upper bounds of `volley_cluster_request_seconds`'s buckets.
    const LATENCY: [f64; 12] = [
        0.000_5, 0.001, 0.002_5, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 5.0,
    ];

    fn install() -> Result<Prometheus, MetricsError> {
        let error = |e: &dyn std::fmt::Display| MetricsError(e.to_string());
        let handle = PrometheusBuilder::new()
            .set_buckets_for_metric(
                Matcher::Full("volley_broadcast_recipients".into()),
                &FAN_OUT,
            )
            .and_then(|b| {
                b.set_buckets_for_metric(
                    Matcher::Full("volley_cluster_request_seconds".into()),
                    &LATENCY,
                )
            })
            .map_err(|e| error(&e))?
            .install_recorder()
            .map_err(|e| error(&e))?;
        // Histograms keep their samples until an upkeep folds them into buckets: do it now and
        // then even when nobody scrapes.
        let upkeep = handle.clone();
        let spawned = std::thread::Builder::new()
            .name("volley-metrics-upkeep".into())
            .spawn(move || loop {
                std::thread::sleep(Duration::from_secs(5));
                upkeep.run_upkeep();
            });
        if let Err(e) = spawned {
            tracing::warn!(target: "volley::socketio", error = %e, "no metrics upkeep thread: histograms are folded at each scrape only");
        }
        super::describe();
        Ok(Prometheus(handle))
    }

    /// Installs the Prometheus recorder as the process's `metrics` recorder, once; later calls
    /// return the same one.
    ///
    /// ```
    /// let a = volley::metrics::prometheus().unwrap();
    /// let b = volley::metrics::prometheus().unwrap(); // the same recorder
    /// # let _ = (a, b);
    /// ```
    ///
    /// # Errors
    /// When another `metrics` recorder was installed first.
    pub fn prometheus() -> Result<Prometheus, MetricsError> {
        static INSTALLED: OnceLock<Result<Prometheus, MetricsError>> = OnceLock::new();
        INSTALLED.get_or_init(install).clone()
    }

    /// An axum `Router` answering `GET /metrics` with [`prometheus`]'s text; mount it beside the
    /// server (`io.wrap(router)`, or merge it into your app).
    ///
    /// ```
    /// let app: axum::Router = volley::metrics::router().unwrap();
    /// # let _ = app;
    /// ```
    ///
    /// # Errors
    /// As [`prometheus`].
    pub fn router() -> Result<axum::Router, MetricsError> {
        let recorder = Arc::new(prometheus()?);
        Ok(axum::Router::new().route(
            "/metrics",
            axum::routing::get(move || {
                let recorder = recorder.clone();
                async move {
                    (
                        [(
                            http::header::CONTENT_TYPE,
                            "text/plain; version=0.0.4; charset=utf-8",
                        )],
                        recorder.render(),
                    )
                }
            }),
        ))
    }
}

/// Describes Volley's metrics to the installed recorder (help texts in the Prometheus output).
#[cfg(feature = "metrics")]
fn describe() {
    use ::metrics::{describe_counter, describe_gauge, describe_histogram, Unit};
    describe_gauge!("volley_connections", "Open Engine.IO connections.");
    describe_counter!(
        "volley_connections_opened_total",
        "Engine.IO connections opened."
    );
    describe_counter!(
        "volley_connections_closed_total",
        "Engine.IO connections closed, by reason."
    );
    describe_gauge!("volley_sockets", "Sockets connected to a namespace.");
    describe_counter!(
        "volley_socket_connects_total",
        "Sockets that joined a namespace."
    );
    describe_counter!(
        "volley_socket_disconnects_total",
        "Sockets that left a namespace, by reason."
    );
    describe_counter!(
        "volley_events_received_total",
        "Events received from clients."
    );
    describe_counter!(
        "volley_events_sent_total",
        "Events queued for clients, one per recipient."
    );
    describe_counter!(
        "volley_packets_received_total",
        "Messages received from clients."
    );
    describe_counter!(
        "volley_received_bytes_total",
        Unit::Bytes,
        "Size of the messages received from clients."
    );
    describe_counter!(
        "volley_packets_sent_total",
        "Socket.IO packets queued for sockets."
    );
    describe_counter!(
        "volley_sent_bytes_total",
        Unit::Bytes,
        "Size on the wire of the packets queued for sockets."
    );
    describe_histogram!(
        "volley_broadcast_recipients",
        "Local sockets reached by each emit."
    );
    describe_counter!(
        "volley_queue_full_total",
        "Packets that found a client's outgoing queue full."
    );
    describe_counter!(
        "volley_bus_published_total",
        "Messages published on the cluster's bus."
    );
    describe_counter!(
        "volley_bus_received_total",
        "Messages received from the cluster's bus."
    );
    describe_counter!(
        "volley_bus_received_bytes_total",
        Unit::Bytes,
        "Bytes received from the cluster's bus."
    );
    describe_histogram!(
        "volley_cluster_request_seconds",
        Unit::Seconds,
        "Requests to the other nodes of the cluster."
    );
}

#[cfg(feature = "metrics")]
impl crate::Server {
    /// Records this server's activity as the metrics listed in [`crate::metrics`], through the
    /// `metrics` facade (so into whatever recorder is installed: [`prometheus`] installs the
    /// Prometheus one). Call it once, before clients connect; install the recorder first.
    ///
    /// ```
    /// let recorder = volley::metrics::prometheus().unwrap();
    /// let io = volley::Server::builder().build();
    /// io.record_metrics();
    /// # let _ = recorder;
    /// ```
    pub fn record_metrics(&self) {
        self.observe(std::sync::Arc::new(observer::MetricsObserver::default()));
    }
}
