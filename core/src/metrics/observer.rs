//! The [`Observer`] that turns what the server does into `metrics` counters, gauges and
//! histograms. The handles of each namespace are looked up once and kept, so the hot paths do
//! one map read and an atomic add.

use std::collections::HashMap;
use std::sync::{Arc, OnceLock, RwLock};

use ::metrics::{counter, gauge, histogram, Counter, Gauge, Histogram};
use volley_protocol::Value;

use crate::engine::{CloseReason, Sid, Transport};
use crate::{DisconnectReason, Observer, Socket};

/// Namespaces beyond this many are counted together under `namespace="(other)"`, so that
/// clients creating dynamic namespaces cannot grow the metrics without bound.
const MAX_NAMESPACES: usize = 256;
const OTHER: &str = "(other)";

/// The per-namespace handles.
struct PerNamespace {
    sockets: Gauge,
    connects: Counter,
    events_in: Counter,
    events_out: Counter,
    fan_out: Histogram,
}

impl PerNamespace {
    fn new(ns: &str) -> Self {
        let ns = ns.to_owned();
        PerNamespace {
            sockets: gauge!("volley_sockets", "namespace" => ns.clone()),
            connects: counter!("volley_socket_connects_total", "namespace" => ns.clone()),
            events_in: counter!("volley_events_received_total", "namespace" => ns.clone()),
            events_out: counter!("volley_events_sent_total", "namespace" => ns.clone()),
            fan_out: histogram!("volley_broadcast_recipients", "namespace" => ns),
        }
    }
}

/// The handles without labels (or with a fixed set of values).
struct Totals {
    connections: Gauge,
    opened_polling: Counter,
    opened_websocket: Counter,
    packets_in: Counter,
    bytes_in: Counter,
    packets_out: Counter,
    bytes_out: Counter,
    queue_dropped: Counter,
    queue_disconnected: Counter,
}

impl Totals {
    fn new() -> Self {
        Totals {
            connections: gauge!("volley_connections"),
            opened_polling: counter!("volley_connections_opened_total", "transport" => "polling"),
            opened_websocket: counter!("volley_connections_opened_total", "transport" => "websocket"),
            packets_in: counter!("volley_packets_received_total"),
            bytes_in: counter!("volley_received_bytes_total"),
            packets_out: counter!("volley_packets_sent_total"),
            bytes_out: counter!("volley_sent_bytes_total"),
            queue_dropped: counter!("volley_queue_full_total", "action" => "dropped"),
            queue_disconnected: counter!("volley_queue_full_total", "action" => "disconnected"),
        }
    }
}

/// Records one server's activity. The handles are made on first use, from the recorder
/// installed at that time.
#[derive(Default)]
pub(crate) struct MetricsObserver {
    totals: OnceLock<Totals>,
    namespaces: RwLock<HashMap<String, Arc<PerNamespace>>>,
}

impl MetricsObserver {
    fn totals(&self) -> &Totals {
        self.totals.get_or_init(Totals::new)
    }

    fn ns(&self, ns: &str) -> Arc<PerNamespace> {
        if let Some(found) = self.namespaces.read().ok().and_then(|m| m.get(ns).cloned()) {
            return found;
        }
        let mut map = self.namespaces.write().unwrap_or_else(|p| p.into_inner());
        let key = if map.len() >= MAX_NAMESPACES && !map.contains_key(ns) {
            OTHER
        } else {
            ns
        };
        map.entry(key.to_owned())
            .or_insert_with(|| Arc::new(PerNamespace::new(key)))
            .clone()
    }
}

impl Observer for MetricsObserver {
    fn socket_connected(&self, socket: &Socket) {
        let ns = self.ns(socket.ns());
        ns.sockets.increment(1.0);
        ns.connects.increment(1);
    }

    fn socket_disconnected(&self, socket: &Socket, reason: DisconnectReason) {
        let ns = self.ns(socket.ns());
        ns.sockets.decrement(1.0);
        // labelled by reason too: rarer than events, looked up each time
        let namespace = if self
            .namespaces
            .read()
            .is_ok_and(|m| m.contains_key(socket.ns()))
        {
            socket.ns().to_owned()
        } else {
            OTHER.to_owned()
        };
        counter!(
            "volley_socket_disconnects_total",
            "namespace" => namespace,
            "reason" => reason.as_str()
        )
        .increment(1);
    }

    fn event_received(&self, socket: &Socket, _event: &str, _args: &[Value]) {
        self.ns(socket.ns()).events_in.increment(1);
    }

    fn event_sent(&self, ns: &str, _sid: Sid, _event: &str, _args: &[Value]) {
        self.ns(ns).events_out.increment(1);
    }

    fn broadcast(&self, ns: &str, recipients: usize) {
        self.ns(ns).fan_out.record(recipients as f64);
    }

    fn queue_full(&self, _sid: Sid, dropped: bool) {
        let totals = self.totals();
        if dropped {
            totals.queue_dropped.increment(1);
        } else {
            totals.queue_disconnected.increment(1);
        }
    }

    fn connection_opened(&self, transport: Transport) {
        let totals = self.totals();
        totals.connections.increment(1.0);
        match transport {
            Transport::Polling => totals.opened_polling.increment(1),
            Transport::Websocket => totals.opened_websocket.increment(1),
        }
    }

    fn connection_closed(&self, reason: CloseReason) {
        self.totals().connections.decrement(1.0);
        counter!("volley_connections_closed_total", "reason" => reason.as_str()).increment(1);
    }

    fn packet_received(&self, bytes: usize) {
        let totals = self.totals();
        totals.packets_in.increment(1);
        totals.bytes_in.increment(bytes as u64);
    }

    fn packet_sent(&self, bytes: usize) {
        let totals = self.totals();
        totals.packets_out.increment(1);
        totals.bytes_out.increment(bytes as u64);
    }
}
