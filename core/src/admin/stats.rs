//! `server_stats`: what this node reports every two seconds, with the traffic it saw meanwhile
//! counted per second (the `aggregatedEvents` the UI's dashboard charts).

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;
use std::time::{Instant, SystemTime};

use volley_protocol::Value;

use super::serialize::object;
use super::time;
use crate::{Server, Transport};

/// Per-second entries kept between two reports at most (a report drains them).
const MAX_BUFFERED: usize = 256;

/// One line of `aggregatedEvents`.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Aggregated {
    /// The second it covers, in milliseconds since the epoch.
    timestamp: u64,
    kind: &'static str,
    sub_kind: Option<&'static str>,
    count: u64,
}

/// The traffic counters of this node. The hot paths only add to atomics (disconnections,
/// which are rarer, take a lock); a tick once a second moves the counts into the buffer the
/// next report drains.
#[derive(Debug, Default)]
pub(crate) struct Traffic {
    connections: AtomicU64,
    packets_in: AtomicU64,
    bytes_in: AtomicU64,
    packets_out: AtomicU64,
    bytes_out: AtomicU64,
    disconnections: Mutex<Vec<(&'static str, u64)>>,
    buffer: Mutex<Vec<Aggregated>>,
}

impl Traffic {
    pub(crate) fn connection(&self) {
        self.connections.fetch_add(1, Ordering::Relaxed);
    }

    pub(crate) fn disconnection(&self, reason: &'static str) {
        let mut list = self
            .disconnections
            .lock()
            .unwrap_or_else(|p| p.into_inner());
        match list.iter_mut().find(|(r, _)| *r == reason) {
            Some(entry) => entry.1 += 1,
            None => list.push((reason, 1)),
        }
    }

    pub(crate) fn packet_in(&self, bytes: usize) {
        self.packets_in.fetch_add(1, Ordering::Relaxed);
        self.bytes_in.fetch_add(bytes as u64, Ordering::Relaxed);
    }

    pub(crate) fn packet_out(&self, bytes: usize) {
        self.packets_out.fetch_add(1, Ordering::Relaxed);
        self.bytes_out.fetch_add(bytes as u64, Ordering::Relaxed);
    }

    /// Files the counts since the last tick under the second that just ended.
    pub(crate) fn tick(&self, now: SystemTime) {
        let second = time::millis(now).saturating_sub(1) / 1000 * 1000;
        let mut entries = Vec::new();
        for (kind, counter) in [
            ("rawConnection", &self.connections),
            ("packetsIn", &self.packets_in),
            ("bytesIn", &self.bytes_in),
            ("packetsOut", &self.packets_out),
            ("bytesOut", &self.bytes_out),
        ] {
            let count = counter.swap(0, Ordering::Relaxed);
            if count > 0 {
                entries.push(Aggregated {
                    timestamp: second,
                    kind,
                    sub_kind: None,
                    count,
                });
            }
        }
        let gone = std::mem::take(
            &mut *self
                .disconnections
                .lock()
                .unwrap_or_else(|p| p.into_inner()),
        );
        entries.extend(gone.into_iter().map(|(reason, count)| Aggregated {
            timestamp: second,
            kind: "rawDisconnection",
            sub_kind: Some(reason),
            count,
        }));
        if entries.is_empty() {
            return;
        }
        let mut buffer = self.buffer.lock().unwrap_or_else(|p| p.into_inner());
        let room = MAX_BUFFERED.saturating_sub(buffer.len());
        buffer.extend(entries.into_iter().take(room));
    }

    /// The entries since the last report, as `aggregatedEvents`.
    fn drain(&self) -> Value {
        let entries = std::mem::take(&mut *self.buffer.lock().unwrap_or_else(|p| p.into_inner()));
        Value::Array(
            entries
                .into_iter()
                .map(|e| {
                    let mut fields = vec![
                        ("timestamp", Value::from(e.timestamp)),
                        ("type", Value::from(e.kind)),
                    ];
                    if let Some(sub) = e.sub_kind {
                        fields.push(("subType", Value::from(sub)));
                    }
                    fields.push(("count", Value::from(e.count)));
                    object(fields)
                })
                .collect(),
        )
    }
}

/// Who this node is in the UI.
#[derive(Debug)]
pub(crate) struct Identity {
    pub(crate) server_id: String,
    pub(crate) hostname: String,
    pub(crate) started: Instant,
}

impl Identity {
    pub(crate) fn new(server_id: Option<String>) -> Self {
        let hostname = gethostname::gethostname().to_string_lossy().into_owned();
        Identity {
            server_id: server_id.unwrap_or_else(|| hostname.clone()),
            hostname,
            started: Instant::now(),
        }
    }
}

/// This node's `server_stats`, draining the traffic buffer.
pub(crate) fn server_stats(io: &Server, me: &Identity, traffic: &Traffic) -> Value {
    let sessions = io.engine.sessions();
    let polling = sessions
        .iter()
        .filter(|s| s.transport() == Transport::Polling)
        .count();
    let namespaces = super::namespaces(io)
        .iter()
        .map(|ns| {
            object(vec![
                ("name", Value::from(ns.name())),
                ("socketsCount", Value::from(ns.sockets().len() as u64)),
            ])
        })
        .collect();
    object(vec![
        ("serverId", Value::from(me.server_id.as_str())),
        ("hostname", Value::from(me.hostname.as_str())),
        ("pid", Value::from(std::process::id())),
        ("uptime", Value::from(me.started.elapsed().as_secs_f64())),
        ("clientsCount", Value::from(sessions.len() as u64)),
        ("pollingClientsCount", Value::from(polling as u64)),
        ("aggregatedEvents", traffic.drain()),
        ("namespaces", Value::Array(namespaces)),
    ])
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::{Duration, UNIX_EPOCH};

    #[test]
    fn counts_are_filed_per_second_and_drained_once() {
        let traffic = Traffic::default();
        traffic.connection();
        traffic.packet_in(10);
        traffic.packet_in(5);
        traffic.disconnection("transport close");
        traffic.disconnection("transport close");
        traffic.tick(UNIX_EPOCH + Duration::from_millis(1_795_624_800_300));
        traffic.packet_out(7);
        traffic.tick(UNIX_EPOCH + Duration::from_millis(1_795_624_801_300));
        let drained = traffic.drain().to_string();
        assert_eq!(
            drained,
            r#"[{"timestamp": 1795624800000, "type": "rawConnection", "count": 1}, {"timestamp": 1795624800000, "type": "packetsIn", "count": 2}, {"timestamp": 1795624800000, "type": "bytesIn", "count": 15}, {"timestamp": 1795624800000, "type": "rawDisconnection", "subType": "transport close", "count": 2}, {"timestamp": 1795624801000, "type": "packetsOut", "count": 1}, {"timestamp": 1795624801000, "type": "bytesOut", "count": 7}]"#
        );
        assert_eq!(traffic.drain(), Value::Array(Vec::new()));
    }

    #[test]
    fn the_buffer_is_bounded() {
        let traffic = Traffic::default();
        for i in 0..MAX_BUFFERED as u64 + 50 {
            traffic.connection();
            traffic.tick(UNIX_EPOCH + Duration::from_secs(1000 + i));
        }
        let Value::Array(entries) = traffic.drain() else {
            panic!("not an array");
        };
        assert_eq!(entries.len(), MAX_BUFFERED);
    }
}
