//! The cluster suite on Redis pub/sub in the format of Node's classic `@socket.io/redis-adapter`
//! 8.3 (`createAdapter`, 127.0.0.1:6379): on a cluster of Node socket.io nodes only
//! (`tests/clients/node-cluster/node-peer.mjs --classic`, which behaves like Volley's test node),
//! which shows the suite's assertions hold for Node's semantics; on mixed clusters, a Volley node
//! and a Node node in either order; and on Volley nodes only speaking that protocol. Each test's
//! cluster has a key of its own.
//!
//! Node's classic adapter has no connection state recovery: the recovery scenarios run on the
//! Volley-only cluster (Volley's own session transfer rides along Node's channels), not where a
//! Node node takes part. `emitter_input` drives every cluster with `volley-emitter` under the
//! cluster's key, as Node's `@socket.io/redis-emitter` would.
//!
//! Needs Node and `tests/clients/node-cluster/node_modules` (`scripts/test.sh` installs them).

use volley_tests::cluster::{Backend, Kind};
use volley_tests::node_peer::REDIS;

fn cluster_of(kinds: &[Kind]) -> Backend {
    Backend::node_classic(REDIS, kinds, env!("CARGO_BIN_EXE_cluster_node"))
}

/// Node nodes only.
mod node_only {
    use super::*;
    volley_tests::cluster_suite!(@without_recovery [] cluster_of(&[Kind::Node]));
    volley_tests::cluster_suite!(@tests [] cluster_of(&[Kind::Node]); emitter_input);
}

/// Node 0 (and 2) Volley, node 1 Node.
mod volley_then_node {
    use super::*;
    volley_tests::cluster_suite!(@without_recovery [] cluster_of(&[Kind::Volley, Kind::Node]));
    volley_tests::cluster_suite!(@tests [] cluster_of(&[Kind::Volley, Kind::Node]); emitter_input);
}

/// Node 0 (and 2) Node, node 1 Volley.
mod node_then_volley {
    use super::*;
    volley_tests::cluster_suite!(@without_recovery [] cluster_of(&[Kind::Node, Kind::Volley]));
    volley_tests::cluster_suite!(@tests [] cluster_of(&[Kind::Node, Kind::Volley]); emitter_input);
}

/// Volley nodes only, in Node's format: the whole suite, recovery included.
mod volley_only {
    use super::*;
    volley_tests::cluster_suite!(cluster_of(&[Kind::Volley]));
    volley_tests::cluster_suite!(@tests [] cluster_of(&[Kind::Volley]); emitter_input);
}
