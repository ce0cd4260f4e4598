//! The scenarios every cluster backend must pass. Each takes a [`Backend`]; the test files
//! instantiate them per adapter with [`cluster_suite!`](macro@crate::cluster_suite).

use std::time::Duration;

use serde_json::{json, Value};

use crate::cluster::{self, Backend, Node, HEARTBEAT_TIMEOUT};
use crate::puppet::Puppet;
use crate::{bail, TestResult};

const QUIET: Duration = Duration::from_millis(400);

/// One client connected to one node of `nodes` each, with their socket ids.
async fn clients(nodes: &[Node]) -> TestResult<Vec<(Puppet, String)>> {
    let mut out = Vec::new();
    for node in nodes {
        let mut c = Puppet::spawn(&node.url, "websocket").await?;
        let sid = c.connect("/", None).await?;
        out.push((c, sid));
    }
    Ok(out)
}

fn ok(answer: &Value) -> TestResult<Value> {
    match answer.get(0) {
        Some(v) if v.get("Err").is_none() => Ok(v.get("Ok").cloned().unwrap_or(v.clone())),
        _ => bail!("the node answered an error: {answer}"),
    }
}

/// Where some node acknowledges a join before it listens to the room
/// ([`Backend::listens_per_room`]: Node's sharded adapter), waits until a broadcast to `room`
/// from `from`'s node reaches `to`: `to`'s node listens to the room's channel from then on.
/// Elsewhere a join is in place when its ack arrives: nothing to wait for.
async fn room_listened(
    backend: &Backend,
    from: &mut Puppet,
    to: &mut Puppet,
    room: &str,
) -> TestResult {
    if !backend.listens_per_room() {
        return Ok(());
    }
    let step = Duration::from_millis(100);
    for _ in 0..50 {
        ok(&from
            .emit_ack("/", "broadcast", json!(["probe", [room], [], []]))
            .await?)?;
        if !to.drain_events("/", "probe", step, step).await?.is_empty() {
            return Ok(());
        }
    }
    bail!("no broadcast to room {room} reached the member's node within 5 s")
}

/// An emit on one node reaches the clients of every node, once.
pub async fn broadcast_reaches_every_node(backend: Backend) -> TestResult {
    let nodes = cluster::start(&backend, 3).await?;
    let mut cs = clients(&nodes).await?;
    ok(&cs[0]
        .0
        .emit_ack(
            "/",
            "broadcast",
            json!(["news", [], [], ["hi", {"$binary": "0102"}]]),
        )
        .await?)?;
    for (c, _) in cs.iter_mut() {
        assert_eq!(
            c.next_event("/", "news").await?,
            json!(["hi", {"$binary": "0102"}])
        );
        c.no_event("/", "news", QUIET).await?;
    }
    Ok(())
}

/// Rooms and skips select the same sockets across nodes as on one; namespaces stay apart.
pub async fn rooms_and_skips_across_nodes(backend: Backend) -> TestResult {
    let nodes = cluster::start(&backend, 3).await?;
    let mut cs = clients(&nodes).await?;
    let mut other = Puppet::spawn(&nodes[1].url, "websocket").await?;
    other.connect("/other", None).await?;
    other.emit_ack("/other", "join", json!(["r"])).await?;
    for (c, _) in cs.iter_mut().take(2) {
        c.emit_ack("/", "join", json!(["r"])).await?;
    }
    let skip = cs[0].1.clone();
    let (first, rest) = cs.split_at_mut(2);
    room_listened(&backend, &mut rest[0].0, &mut first[1].0, "r").await?;
    ok(&cs[2]
        .0
        .emit_ack("/", "broadcast", json!(["in-r", ["r"], [skip], [1]]))
        .await?)?;
    assert_eq!(cs[1].0.next_event("/", "in-r").await?, json!([1]));
    cs[0].0.no_event("/", "in-r", QUIET).await?;
    cs[2].0.no_event("/", "in-r", QUIET).await?;
    other.no_event("/other", "in-r", QUIET).await?;
    // a socket id is a room, wherever the socket lives
    let target = cs[2].1.clone();
    ok(&cs[0]
        .0
        .emit_ack("/", "broadcast", json!(["direct", [target], [], []]))
        .await?)?;
    assert_eq!(cs[2].0.next_event("/", "direct").await?, json!([]));
    cs[1].0.no_event("/", "direct", QUIET).await?;
    Ok(())
}

/// A burst of concurrent emits from one node reaches a client on another node complete, each
/// once (a busy node batches what piles up for the bus; the receiver takes batches apart).
/// Concurrent emits promise no order among themselves; one task's emits made one after the other
/// arrive in order.
pub async fn bursts_arrive_complete(backend: Backend) -> TestResult {
    const COUNT: u64 = 1000;
    let nodes = cluster::start(&backend, 2).await?;
    let mut cs = clients(&nodes).await?;
    cs[1].0.emit_ack("/", "join", json!(["burst"])).await?;
    let (first, rest) = cs.split_at_mut(1);
    room_listened(&backend, &mut first[0].0, &mut rest[0].0, "burst").await?;
    let sent = ok(&cs[0]
        .0
        .emit_ack("/", "burst", json!(["seq", "burst", COUNT]))
        .await?)?;
    assert_eq!(sent, json!(COUNT));
    let mut got = Vec::new();
    for _ in 0..COUNT {
        got.push(cs[1].0.next_event("/", "seq").await?[0].as_u64());
    }
    cs[1].0.no_event("/", "seq", QUIET).await?;
    got.sort_unstable();
    assert_eq!(got, (0..COUNT).map(Some).collect::<Vec<_>>());
    Ok(())
}

/// A join is in place when it is acknowledged: a broadcast another node sends to the room
/// right after reaches the new member, each time on a fresh room (a bus that listens per room
/// starts listening when a room gains its first member on a node; the join waits for it). The
/// same for a join asked from another node. Not where Node's sharded adapter takes part
/// ([`Backend::listens_per_room`]): its nodes acknowledge before they listen.
pub async fn joins_hold_when_acknowledged(backend: Backend) -> TestResult {
    const ROOMS: usize = 30;
    if backend.listens_per_room() {
        return Ok(());
    }
    let nodes = cluster::start(&backend, 2).await?;
    let mut cs = clients(&nodes).await?;
    let target = cs[1].1.clone();
    for i in 0..ROOMS {
        let room = format!("fresh-{i}");
        cs[1].0.emit_ack("/", "join", json!([room])).await?;
        ok(&cs[0]
            .0
            .emit_ack("/", "broadcast", json!(["to-fresh", [room], [], [i]]))
            .await?)?;
        assert_eq!(cs[1].0.next_event("/", "to-fresh").await?, json!([i]));
        let room = format!("asked-{i}");
        ok(&cs[0]
            .0
            .emit_ack("/", "remote-join", json!([target, room]))
            .await?)?;
        ok(&cs[0]
            .0
            .emit_ack("/", "broadcast", json!(["to-asked", [room], [], [i]]))
            .await?)?;
        assert_eq!(cs[1].0.next_event("/", "to-asked").await?, json!([i]));
    }
    cs[1].0.no_event("/", "to-fresh", QUIET).await?;
    Ok(())
}

/// Closing a room on one node empties it on every node.
pub async fn close_room_is_cluster_wide(backend: Backend) -> TestResult {
    let nodes = cluster::start(&backend, 3).await?;
    let mut cs = clients(&nodes).await?;
    for (c, _) in cs.iter_mut().skip(1) {
        c.emit_ack("/", "join", json!(["gone"])).await?;
    }
    assert_eq!(
        ok(&cs[0].0.emit_ack("/", "fetch", json!([["gone"]])).await?)?
            .as_array()
            .map(Vec::len),
        Some(2)
    );
    ok(&cs[0].0.emit_ack("/", "close-room", json!(["gone"])).await?)?;
    tokio::time::sleep(Duration::from_millis(200)).await;
    ok(&cs[0]
        .0
        .emit_ack("/", "broadcast", json!(["after", ["gone"], [], []]))
        .await?)?;
    for (c, _) in cs.iter_mut() {
        c.no_event("/", "after", QUIET).await?;
    }
    Ok(())
}

/// Acks of clients on every node are collected by the emitting node, and a call to a socket on
/// another node returns that client's ack.
pub async fn acks_across_nodes(backend: Backend) -> TestResult {
    let nodes = cluster::start(&backend, 3).await?;
    let mut cs = clients(&nodes).await?;
    let mut expected = Vec::new();
    // the id an ack from node i's client comes under, asked from node 0
    let named = |i: usize, sid: &str| {
        if backend.names_acks(0, i) {
            sid.to_owned()
        } else {
            volley::Sid::UNNAMED.as_str().to_owned()
        }
    };
    for (i, (c, sid)) in cs.iter_mut().enumerate() {
        c.reply("/", "question", json!([format!("answer{i}")]))
            .await?;
        c.emit_ack("/", "join", json!(["q"])).await?;
        expected.push(json!([named(i, sid), format!("Args([\"answer{i}\"])")]));
    }
    expected.sort_by_key(|v| v.to_string());
    let answers = ok(&cs[0].0.emit_ack("/", "ask", json!([["q"], 3000])).await?)?;
    assert_eq!(answers, json!(expected));
    // one socket on another node
    let target = cs[2].1.clone();
    let answers = ok(&cs[0]
        .0
        .emit_ack("/", "ask", json!([[target], 3000]))
        .await?)?;
    assert_eq!(
        answers,
        json!([expected
            .iter()
            .find(|v| v[0] == json!(named(2, &cs[2].1)))
            .cloned()])
    );
    // call() to a socket on another node returns that client's ack
    let target = cs[2].1.clone();
    assert_eq!(
        ok(&cs[0].0.emit_ack("/", "call", json!([target])).await?)?,
        json!(["answer2"])
    );
    // a client that never acks is reported as timed out, not waited for forever
    cs[1].0.silence("/", "question").await?;
    let answers = ok(&cs[0].0.emit_ack("/", "ask", json!([["q"], 500])).await?)?;
    let late: Vec<&Value> = answers
        .as_array()
        .map(|a| a.iter().filter(|v| v[1].get("error").is_some()).collect())
        .unwrap_or_default();
    assert_eq!(late.len(), 1, "{answers}");
    assert_eq!(late[0][0], json!(named(1, &cs[1].1)));
    Ok(())
}

/// Fetching sockets sees every node's sockets, with their rooms.
pub async fn fetch_sockets_across_nodes(backend: Backend) -> TestResult {
    let nodes = cluster::start(&backend, 3).await?;
    let mut cs = clients(&nodes).await?;
    let mut all: Vec<String> = cs.iter().map(|(_, s)| s.clone()).collect();
    all.sort();
    assert_eq!(
        ok(&cs[1].0.emit_ack("/", "fetch", json!([[]])).await?)?,
        json!(all)
    );
    cs[0].0.emit_ack("/", "join", json!(["f"])).await?;
    cs[2].0.emit_ack("/", "join", json!(["f"])).await?;
    let mut members = vec![cs[0].1.clone(), cs[2].1.clone()];
    members.sort();
    assert_eq!(
        ok(&cs[1].0.emit_ack("/", "fetch", json!([["f"]])).await?)?,
        json!(members)
    );
    Ok(())
}

/// Sockets on other nodes can be put in rooms, taken out, and disconnected.
pub async fn remote_join_leave_disconnect(backend: Backend) -> TestResult {
    let nodes = cluster::start(&backend, 2).await?;
    let mut cs = clients(&nodes).await?;
    let target = cs[1].1.clone();
    ok(&cs[0]
        .0
        .emit_ack("/", "remote-join", json!([target, "x"]))
        .await?)?;
    tokio::time::sleep(Duration::from_millis(200)).await;
    ok(&cs[0]
        .0
        .emit_ack("/", "broadcast", json!(["to-x", ["x"], [], []]))
        .await?)?;
    assert_eq!(cs[1].0.next_event("/", "to-x").await?, json!([]));
    ok(&cs[0]
        .0
        .emit_ack("/", "remote-leave", json!([target, "x"]))
        .await?)?;
    tokio::time::sleep(Duration::from_millis(200)).await;
    ok(&cs[0]
        .0
        .emit_ack("/", "broadcast", json!(["to-x", ["x"], [], []]))
        .await?)?;
    cs[1].0.no_event("/", "to-x", QUIET).await?;
    ok(&cs[0]
        .0
        .emit_ack("/", "remote-disconnect", json!([target]))
        .await?)?;
    assert_eq!(cs[1].0.next_disconnect("/").await?, "io server disconnect");
    Ok(())
}

/// Server-side events reach the other nodes' handlers, and calls collect one answer per node.
pub async fn server_side_emit_between_nodes(backend: Backend) -> TestResult {
    let nodes = cluster::start(&backend, 3).await?;
    let mut cs = clients(&nodes).await?;
    ok(&cs[0]
        .0
        .emit_ack("/", "server-emit", json!(["hello"]))
        .await?)?;
    assert_eq!(
        cs[1].0.next_event("/", "server-note").await?,
        json!(["hello"])
    );
    assert_eq!(
        cs[2].0.next_event("/", "server-note").await?,
        json!(["hello"])
    );
    cs[0].0.no_event("/", "server-note", QUIET).await?;
    assert_eq!(
        ok(&cs[1].0.emit_ack("/", "server-call", json!([])).await?)?,
        json!(["node0", "node2"])
    );
    Ok(())
}

/// Every node counts the others; a killed node stops counting within the heartbeat timeout, and
/// requests stop waiting for it.
pub async fn dead_nodes_stop_counting(backend: Backend) -> TestResult {
    let mut nodes = cluster::start(&backend, 3).await?;
    let mut cs = clients(&nodes).await?;
    assert_eq!(
        ok(&cs[0].0.emit_ack("/", "count", json!([])).await?)?,
        json!(3)
    );
    let dead = nodes.pop().ok_or_else(|| crate::Failure::msg("no node"))?;
    let started = tokio::time::Instant::now();
    dead.kill().await;
    // stated bound: heartbeat timeout + one sweep (1 s) + slack for a loaded machine
    let bound = HEARTBEAT_TIMEOUT + Duration::from_secs(3);
    loop {
        let count = cluster::server_count(&nodes[0].url).await?;
        if count == 2 {
            break;
        }
        if started.elapsed() > bound {
            bail!("the dead node still counts after {:?}", started.elapsed());
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    // requests complete without the dead node
    let t = tokio::time::Instant::now();
    let ids = ok(&cs[0].0.emit_ack("/", "fetch", json!([[]])).await?)?;
    assert_eq!(ids.as_array().map(Vec::len), Some(2));
    assert!(
        t.elapsed() < Duration::from_secs(2),
        "fetch waited {:?}",
        t.elapsed()
    );
    cs.truncate(2);
    Ok(())
}

/// The emitter of `volley-emitter` for the broker of `backend`, publishing under the key the
/// test nodes of the cluster with channel prefix `prefix` accept emitter input on.
async fn emitter_for(backend: &Backend, prefix: &str) -> TestResult<volley_emitter::Emitter> {
    // a cluster speaking Node's classic protocol reads Node's emitters under its own key
    let (url, key) = match backend {
        Backend::Url { url, .. } => (url, cluster::compat_key(prefix)),
        Backend::WithNode {
            redis,
            adapter: cluster::NodeAdapter::Classic,
            ..
        } => (redis, prefix.to_owned()),
        _ => {
            bail!("emitter_input needs a broker: instantiate it with `cluster_suite!(broker: ...)`")
        }
    };
    let connecting = async {
        if url.starts_with("redis://") || url.starts_with("redis-cluster://") {
            volley_emitter::Emitter::redis(url).await
        } else if url.starts_with("amqp://") {
            volley_emitter::Emitter::amqp(url).await
        } else if url.starts_with("kafka://") {
            volley_emitter::Emitter::kafka(url).await
        } else if url.starts_with("nats://") {
            volley_emitter::Emitter::nats(url).await
        } else {
            Err(volley_emitter::EmitterError::Connect(format!(
                "no emitter for {url}"
            )))
        }
    };
    let emitter = tokio::time::timeout(Duration::from_secs(15), connecting)
        .await
        .map_err(|_| crate::Failure::msg("the emitter did not connect within 15 s"))??;
    Ok(emitter.with_key(key))
}

/// `volley_emitter::Emitter` on the cluster's broker drives the cluster from outside: events to
/// all (binary stays binary), to a room, to all but a room; room joins and leaves, server-side
/// emits, disconnections, on whichever node the sockets live.
pub async fn emitter_input(backend: Backend) -> TestResult {
    let prefix = cluster::unique_prefix();
    let nodes = cluster::start_with_prefix(&backend, 2, &prefix).await?;
    let mut a = Puppet::spawn(&nodes[0].url, "websocket").await?;
    let sid_a = a.connect("/", None).await?;
    let mut b = Puppet::spawn(&nodes[1].url, "websocket").await?;
    let sid_b = b.connect("/", None).await?;
    b.emit_ack("/", "join", json!(["r1"])).await?;
    let emitter = emitter_for(&backend, &prefix).await?;

    // to all, binary as binary
    emitter
        .emit("hello", &("x", bytes::Bytes::from_static(&[1, 2])))
        .await?;
    for p in [&mut a, &mut b] {
        assert_eq!(
            p.next_event("/", "hello").await?,
            json!(["x", {"$binary": "0102"}])
        );
    }
    // a room, and everyone but a room
    emitter.to("r1").emit("room", &1).await?;
    emitter.except("r1").emit("ex", &2).await?;
    assert_eq!(b.next_event("/", "room").await?, json!([1]));
    assert_eq!(a.next_event("/", "ex").await?, json!([2]));
    a.no_event("/", "room", QUIET).await?;
    b.no_event("/", "ex", QUIET).await?;
    // joins and leaves, then emits to the room (the bus keeps the emitter's order, or, where it
    // keeps only each channel's, the emit waits until the room change has had time to land)
    let settle = || async {
        if !backend.orders_across_channels() {
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    };
    emitter.to(sid_a.as_str()).join("r2").await?;
    settle().await;
    emitter.to("r2").emit("r2", &()).await?;
    assert_eq!(a.next_event("/", "r2").await?, json!([]));
    emitter.to(sid_a.as_str()).leave("r2").await?;
    settle().await;
    emitter.to("r2").emit("r2-again", &()).await?;
    a.no_event("/", "r2-again", QUIET).await?;
    b.no_event("/", "r2", QUIET).await?;
    // server-side emits reach every node's handler (they forward `server-note`)
    emitter
        .server_side_emit("note", &"from the emitter")
        .await?;
    for p in [&mut a, &mut b] {
        assert_eq!(
            p.next_event("/", "server-note").await?,
            json!(["from the emitter"])
        );
    }
    // disconnections
    emitter.to(sid_b.as_str()).disconnect(false).await?;
    assert_eq!(b.next_disconnect("/").await?, "io server disconnect");
    emitter.emit("still-here", &()).await?;
    assert_eq!(a.next_event("/", "still-here").await?, json!([]));
    emitter.close().await;
    Ok(())
}

/// Connection state recovery in a cluster: a client cut off mid-stream comes back to the same
/// node recovered, with every broadcast of both nodes once, in order.
pub async fn recovery_on_the_same_node(backend: Backend) -> TestResult {
    crate::recovery::recover_in_cluster(backend, false).await
}

/// Connection state recovery across nodes: a client cut off mid-stream reconnects (through a
/// proxy that switched backend) to the other node, which takes its socket from the first, and
/// gets every broadcast of both nodes once, in order.
pub async fn recovery_on_another_node(backend: Backend) -> TestResult {
    crate::recovery::recover_in_cluster(backend, true).await
}

/// Instantiates the scenarios of the suite as `#[tokio::test]`s for one backend expression:
/// `cluster_suite!(backend)` every scenario that needs no broker (any backend, the in-process
/// bus included), `cluster_suite!(broker: backend)` those and the ones that need the backend's
/// broker too (a `Backend::Url`: emitter input through `volley_emitter`).
/// `cluster_suite!(@tests [#[attribute]...] backend; scenario...)` instantiates the named
/// scenarios only, each with the attributes (e.g. `#[ignore = "why"]`), and
/// `cluster_suite!(@without_recovery [#[attribute]...] backend)` the first form's scenarios but
/// the two of connection state recovery.
#[macro_export]
macro_rules! cluster_suite {
    (broker: $backend:expr) => {
        $crate::cluster_suite!($backend);
        $crate::cluster_suite!(@tests [] $backend;
            emitter_input
        );
    };
    ($backend:expr) => {
        $crate::cluster_suite!(@without_recovery [] $backend);
        $crate::cluster_suite!(@tests [] $backend;
            recovery_on_the_same_node
            recovery_on_another_node
        );
    };
    (@without_recovery $attrs:tt $backend:expr) => {
        $crate::cluster_suite!(@tests $attrs $backend;
            broadcast_reaches_every_node
            rooms_and_skips_across_nodes
            bursts_arrive_complete
            joins_hold_when_acknowledged
            close_room_is_cluster_wide
            acks_across_nodes
            fetch_sockets_across_nodes
            remote_join_leave_disconnect
            server_side_emit_between_nodes
            dead_nodes_stop_counting
        );
    };
    (@tests $attrs:tt $backend:expr; $($name:ident)*) => {
        $(
            $crate::cluster_suite!(@test $attrs $backend; $name);
        )*
    };
    (@test [$(#[$attr:meta])*] $backend:expr; $name:ident) => {
        #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
        $(#[$attr])*
        async fn $name() -> $crate::TestResult {
            $crate::cluster_suite::$name($backend).await
        }
    };
}
