//! Node socket.io nodes in a Volley test cluster: `tests/clients/node-cluster/node-peer.mjs`,
//! a Node `socket.io` server on `@socket.io/redis-streams-adapter` or on the classic
//! `@socket.io/redis-adapter` or on its sharded adapter, with the handlers of [`crate::cluster_app`], started as a child
//! process and handed back as a [`crate::cluster::Node`], so the cluster suite drives it as it
//! drives a Volley node (see [`crate::cluster::Backend::WithNode`]).
//!
//! ```no_run
//! # async fn run() -> volley_tests::TestResult {
//! use volley_tests::{cluster, node_peer};
//! let prefix = cluster::unique_prefix();
//! let streams = cluster::NodeAdapter::Streams;
//! let node = node_peer::start(node_peer::REDIS, streams, &prefix, "node0", false).await?;
//! assert_eq!(cluster::server_count(&node.url).await?, 1);
//! node.kill().await;
//! # Ok(())
//! # }
//! ```
//!
//! A streams node on stream and channel prefix `P` uses, on Redis: the stream `P` (`XADD` trimmed to
//! about 10 000 entries, `XREAD`, `XRANGE`), the pub/sub channels `P#/#` and `P#/other#` (what
//! every node hears) and `P#/#<uid>#`, `P#/other#<uid>#` (responses to one node), and with
//! recovery on the keys `sio:session:<pid>` (one per disconnected socket, for 2 minutes). It
//! counts the nodes of the cluster as the subscribers of `P#/#` (`PUBSUB NUMSUB`). The stream
//! expires 10 minutes after the cluster's last Node node went away (the node sets the expiry
//! after its first entry and 4 times a second), so tests leave no key behind. A classic node
//! with key `P` uses the channels `P#/#…`, `P-request#/#`, `P-response#/#` (and those of
//! `/other`), and counts the nodes as the subscribers of `P-request#/#`. A sharded node with
//! `channelPrefix` `P` uses the sharded channels `P#/#`, `P#/#<uid>#` (and those of `/other`) and
//! `P#/#<room>#` for each room it has members in, and counts the nodes as the shard subscribers
//! of `P#/#` (`PUBSUB SHARDNUMSUB`).

use std::path::PathBuf;
use std::process::Stdio;

use serde_json::Value;
use tokio::process::Command;

use crate::clients::NODE_VAR;
use crate::cluster::{Node, NodeAdapter};
use crate::{bail, Failure, TestResult};

/// The Redis the test clusters share.
pub const REDIS: &str = "redis://127.0.0.1:6379";

/// The directory of the Node cluster packages (`tests/clients/node-cluster`).
pub fn cluster_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("clients/node-cluster")
}

/// The bus URL of a Volley node in the same cluster as Node nodes on `adapter` with prefix
/// `prefix`.
pub fn volley_url(redis: &str, adapter: NodeAdapter, prefix: &str) -> String {
    match adapter {
        NodeAdapter::Streams => {
            format!("{redis}?bus=streams&stream={prefix}&protocol=node&key={prefix}")
        }
        NodeAdapter::Classic => format!("{redis}?protocol=node&key={prefix}"),
        NodeAdapter::Sharded => format!("{redis}?bus=sharded&protocol=node&key={prefix}"),
    }
}

/// Starts a Node node named `name` on the Redis at `redis`, on `adapter` with prefix `prefix`
/// and connection state recovery on when `recovery` (streams only); returns once it listens and
/// its adapter listens to its channels (and reads the stream). The process is killed when the
/// node is dropped or killed.
pub async fn start(
    redis: &str,
    adapter: NodeAdapter,
    prefix: &str,
    name: &str,
    recovery: bool,
) -> TestResult<Node> {
    let dir = cluster_dir();
    let marker = dir.join("node_modules/@socket.io/redis-streams-adapter/package.json");
    if !marker.exists() {
        bail!(
            "the Node cluster packages are not installed: {} is missing. Run `scripts/test.sh` \
             (it runs `npm ci` in tests/clients/node-cluster), or `npm ci` there by hand.",
            marker.display()
        );
    }
    let node = std::env::var(NODE_VAR).unwrap_or_else(|_| "node".to_owned());
    let mut command = Command::new(node);
    command
        .arg(dir.join("node-peer.mjs"))
        .args(["0", redis, prefix, name])
        .current_dir(&dir);
    if recovery {
        command.arg("--recovery");
    }
    match adapter {
        NodeAdapter::Classic => {
            command.arg("--classic");
        }
        NodeAdapter::Sharded => {
            command.arg("--sharded");
        }
        NodeAdapter::Streams => {}
    }
    // stdin stays open (held by the child handle): the script exits when it closes
    let mut child = command
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .kill_on_drop(true)
        .spawn()
        .map_err(|e| Failure::msg(format!("cannot start node for {name}: {e}")))?;
    let line = crate::cluster::first_line(&mut child, name).await?;
    let said: Value = serde_json::from_str(&line).unwrap_or(Value::Null);
    let Some(port) = said
        .get("port")
        .and_then(Value::as_u64)
        .filter(|_| said["ev"] == "listening")
    else {
        bail!("{name} (Node) said {line:?}");
    };
    Ok(Node::from_process(
        format!("http://127.0.0.1:{port}"),
        name,
        child,
    ))
}
