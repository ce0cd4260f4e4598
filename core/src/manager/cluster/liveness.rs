//! Heartbeats: a node that has published nothing for `heartbeat_interval` says it is alive, and
//! nodes silent for `heartbeat_timeout` are dropped from what requests wait for. Silence while
//! this node's own bus fails says nothing of the others: their clock starts again at the last
//! failed publish, so a broker outage does not make a node forget the others (and so count on
//! fewer nodes receiving its messages) until they have had `heartbeat_timeout` to be heard again.

use std::sync::Weak;
use std::time::Duration;

use tokio::time::Instant;
use volley_protocol::cluster::Body;

use super::{Node, PubSub};

/// Runs until the node is dropped.
pub(crate) async fn run<B: PubSub>(node: Weak<Node<B>>) {
    let tick = {
        let Some(n) = node.upgrade() else { return };
        (n.config.heartbeat_interval / 2).clamp(Duration::from_millis(10), Duration::from_secs(1))
    };
    let mut ticker = tokio::time::interval(tick);
    // a node that advertises an address says so every interval, busy or not, so that a node
    // that missed its first heartbeat learns the address within one interval
    let mut last_heartbeat = Instant::now();
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        ticker.tick().await;
        let Some(node) = node.upgrade() else { break };
        let quiet = node
            .last_publish
            .lock()
            .map(|t| t.elapsed() >= node.config.heartbeat_interval)
            .unwrap_or(true);
        let advertising = node.config.advertise.is_some()
            && last_heartbeat.elapsed() >= node.config.heartbeat_interval;
        if (quiet || advertising) && *node.ready.borrow() {
            last_heartbeat = Instant::now();
            if let Err(e) = node
                .publish(None, "/", Body::Heartbeat(node.node_info()))
                .await
            {
                tracing::debug!(target: "volley::cluster", error = %e, "heartbeat not sent");
            }
        }
        let counted = node.bus.peers("/").await;
        if let Some(others) = counted {
            node.counted
                .store(others + 1, std::sync::atomic::Ordering::Relaxed);
        }
        let now = Instant::now();
        let bus_failed = node.bus_failed.lock().ok().and_then(|f| *f);
        let dead: Vec<String> = match node.nodes.lock() {
            Ok(mut nodes) => {
                let dead: Vec<String> = nodes
                    .iter()
                    .filter(|(_, seen)| {
                        let since = bus_failed.map_or(**seen, |failed| failed.max(**seen));
                        now.duration_since(since) > node.config.heartbeat_timeout
                    })
                    .map(|(uid, _)| uid.clone())
                    .collect();
                for uid in &dead {
                    nodes.remove(uid);
                    node.addresses.forget(uid);
                }
                dead
            }
            Err(_) => Vec::new(),
        };
        for uid in dead {
            if counted.is_some() {
                // the bus counts the nodes: silence is normal for nodes without heartbeats
                // (Node's), and a node really gone is no longer counted
                tracing::debug!(target: "volley::cluster", node = %uid, "node silent, no longer tracked");
            } else {
                tracing::warn!(target: "volley::cluster", node = %uid, "node stopped answering, dropped");
            }
            node.requests.node_gone(&uid);
        }
    }
}
