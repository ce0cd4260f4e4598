//! The cluster suite on Redis Streams in the format of Node's `@socket.io/redis-streams-adapter`
//! 0.3.1 (127.0.0.1:6379): first on a cluster of Node socket.io nodes only
//! (`tests/clients/node-cluster/streams-node.mjs`, which behaves like Volley's test node), which
//! shows the suite's assertions hold for Node's semantics; then on mixed clusters, a Volley node
//! and a Node node in either order, which share one stream and one set of channels. Each test's
//! cluster has a stream and a channel prefix of its own.
//!
//! Left out of the suite, or ignored, here:
//! - `emitter_input`: it publishes in the format Volley's nodes accept from `volley-emitter`,
//!   under Volley's compatibility key, which Node's streams adapter does not read;
//! - `recovery_on_the_same_node` and `recovery_on_another_node` wherever the client recovers on
//!   a Node node: they expect every broadcast exactly once while broadcasts keep coming during
//!   the reconnection, which Node does not promise. Node's socket reads the missed entries
//!   (`XRANGE`) and only then joins its rooms, while the node's stream reader delivers new entries
//!   on its own: an entry read in between is lost, one added before the `XRANGE` but delivered
//!   after the join comes twice (seen here: one tick in a run of 300 lost or doubled, most runs).
//!   `quiet_recovery_*` check what Node does promise, across Node and Volley nodes both ways:
//!   broadcasts missed while away come back, once, in order.
//!
//! Needs Node and `tests/clients/node-cluster/node_modules` (`scripts/test.sh` installs them).

use std::time::Duration;

use serde_json::json;
use volley_tests::cluster::{self, Backend, Kind};
use volley_tests::node_peer::REDIS;
use volley_tests::proxy::Proxy;
use volley_tests::puppet::Puppet;
use volley_tests::recovery::{
    addr, client_away_for, connect, exactly_once_in_order, numbers_counted,
};
use volley_tests::{bail, TestResult};

fn cluster_of(kinds: &[Kind]) -> Backend {
    Backend::node_streams(REDIS, kinds, env!("CARGO_BIN_EXE_cluster_node"))
}

/// Node nodes only. The suite's recovery scenarios are ignored: they assert what Node does not
/// promise (see the module docs).
mod node_only {
    use super::*;
    volley_tests::cluster_suite!(@without_recovery [] cluster_of(&[Kind::Node]));
    volley_tests::cluster_suite!(@tests
        [#[ignore = "Node may lose or double a broadcast sent during the reconnection"]]
        cluster_of(&[Kind::Node]);
        recovery_on_the_same_node
        recovery_on_another_node
    );
}

/// The suite on a mixed cluster whose nodes run `kinds` in turn: `recovery`, the recovery
/// scenario where the client leaves a Volley node and comes back to a Volley node, with the
/// others; `from_node`, the one where it leaves or returns to a Node node, ignored as in
/// `node_only` (and for one more reason: a Node node delivers its own broadcasts as soon as its
/// `XADD` returns, before the entries of other nodes it has not read yet, so the last offset its
/// client holds may be past a broadcast it never got, or before one it got; whoever restores the
/// session from that offset then skips or repeats one).
/// `quiet_recovery_*` below check the sessions both ways without that race.
macro_rules! mixed {
    ($kinds:expr; $recovery:ident, $from_node:ident) => {
        use super::*;
        volley_tests::cluster_suite!(@without_recovery [] cluster_of(&$kinds));
        volley_tests::cluster_suite!(@tests [] cluster_of(&$kinds); $recovery);
        volley_tests::cluster_suite!(@tests
            [#[ignore = "a Node node's clients hold offsets out of the stream's order"]]
            cluster_of(&$kinds);
            $from_node
        );
    };
}

/// Node 0 (and 2) Volley, node 1 Node: the client stays on the Volley node in
/// `recovery_on_the_same_node`, moves to the Node node in `recovery_on_another_node`.
mod volley_then_node {
    mixed!([Kind::Volley, Kind::Node]; recovery_on_the_same_node, recovery_on_another_node);
}

/// Node 0 (and 2) Node, node 1 Volley: the client leaves the Node node in both recovery
/// scenarios (see `mixed!`).
mod node_then_volley {
    use super::*;
    volley_tests::cluster_suite!(@without_recovery [] cluster_of(&[Kind::Node, Kind::Volley]));
    volley_tests::cluster_suite!(@tests
        [#[ignore = "a Node node's clients hold offsets out of the stream's order"]]
        cluster_of(&[Kind::Node, Kind::Volley]);
        recovery_on_the_same_node
        recovery_on_another_node
    );
}

/// The official client on node 0 of a cluster of `kinds` (two nodes) drops its transport and
/// stays away while 200 broadcasts from the other node go to its room, then comes back (to node
/// 1 when `switch`, through a proxy that changes backend): recovered (same id, `recovered`),
/// with every one of them, once and in order, each with its stream offset. It reconnects once a
/// witness on the node it returns to received them all, so that no broadcast is on its way
/// during the reconnection (see `mixed!`).
async fn quiet_recovery(kinds: [Kind; 2], switch: bool) -> TestResult {
    const MISSED: u64 = 200;
    const AWAY: Duration = Duration::from_secs(3);
    let nodes = cluster::start_recoverable(&cluster_of(&kinds), 2).await?;
    let proxy = Proxy::start(addr(&nodes[0])?).await?;
    let (back_to, driver_on) = if switch { (1, 0) } else { (0, 1) };
    let mut client = client_away_for(&proxy.url(), AWAY).await?;
    let sid = connect(&mut client).await?;
    let mut witness = Puppet::spawn(&nodes[back_to].url, "websocket").await?;
    witness.connect("/", None).await?;
    let mut driver = Puppet::spawn(&nodes[driver_on].url, "websocket").await?;
    driver.connect("/", None).await?;
    for c in [&mut client, &mut witness] {
        c.emit_ack("/", "join", json!(["room"])).await?;
    }
    // one broadcast received (the client learns an offset), then the transport drops and the
    // rest go out while it is away
    driver
        .emit_ack("/", "broadcast", json!(["tick", ["room"], [], [0]]))
        .await?;
    let first = client.next_event("/", "tick").await?;
    if first.as_array().map(Vec::len) != Some(2) || !first[1].is_string() {
        bail!("a broadcast to a recoverable socket carries its stream offset: got {first}");
    }
    if switch {
        proxy.switch(addr(&nodes[1])?);
    }
    let dropped = tokio::time::Instant::now();
    client.drop_transport().await?;
    let answer = driver
        .emit_ack("/", "burst", json!(["missed", "room", MISSED]))
        .await?;
    if answer != json!([{ "Ok": MISSED }]) {
        bail!("burst answered {answer}");
    }
    // a Volley driver's burst is 64 concurrent emits, whose order is not promised: the stream's
    // order is what the witness sees, and what the returning client must get
    let seen = numbers_counted(&mut witness, "missed", MISSED as usize, true).await?;
    let mut sorted = seen.clone();
    sorted.sort_unstable();
    exactly_once_in_order("missed (witness)", &sorted, MISSED)?;
    if dropped.elapsed() >= AWAY {
        bail!(
            "the broadcasts took {:?} to reach the witness, longer than the client stays away",
            dropped.elapsed()
        );
    }
    let (back, recovered) = client.next_connected("/", Duration::from_secs(10)).await?;
    if !recovered || back != sid {
        bail!("reconnected as {back} (recovered: {recovered}), expected {sid} recovered");
    }
    let got = numbers_counted(&mut client, "missed", MISSED as usize, true).await?;
    if got != seen {
        bail!("the recovered client got {got:?}, the witness {seen:?}");
    }
    client.close().await;
    witness.close().await;
    driver.close().await;
    Ok(())
}

/// Node's own recovery, on Node nodes only: what the mixed cases compare with.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn quiet_recovery_node_to_node() -> TestResult {
    quiet_recovery([Kind::Node, Kind::Node], false).await
}

/// A client of a Node node comes back to a Volley node, which finds the session the Node node
/// left under `sio:session:<pid>` and reads what the client missed from the stream.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn quiet_recovery_node_to_volley() -> TestResult {
    quiet_recovery([Kind::Node, Kind::Volley], true).await
}

/// A client of a Volley node comes back to a Node node, which finds the session the Volley node
/// left as Node's adapter writes it, and offsets it knows.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn quiet_recovery_volley_to_node() -> TestResult {
    quiet_recovery([Kind::Volley, Kind::Node], true).await
}

/// A client of a Volley node comes back to the same node, its session kept in Redis the way
/// Node's adapter keeps it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn quiet_recovery_volley_to_volley() -> TestResult {
    quiet_recovery([Kind::Volley, Kind::Node], false).await
}

/// What a lone node answers to each handler of the test node app, with the client's socket id
/// written `SID` (the answers that do not depend on timing or on other nodes).
async fn answers(backend: Backend) -> TestResult<Vec<(String, serde_json::Value)>> {
    let nodes = cluster::start(&backend, 1).await?;
    let mut c = Puppet::spawn(&nodes[0].url, "websocket").await?;
    let sid = c.connect("/", None).await?;
    c.reply("/", "question", json!(["a"])).await?;
    let calls = [
        ("node", json!([])),
        ("join", json!(["r"])),
        ("join", json!([5])),
        ("broadcast", json!(["e", [], ["r"], [1, {"$binary": "01"}]])),
        ("burst", json!(["e", "nobody", 3])),
        ("pump", json!(["e", "nobody", "o", 5, 3, 1000])),
        ("fetch", json!([["nobody"]])),
        ("fetch", json!([["r"]])),
        ("remote-join", json!(["bad", "x"])),
        ("remote-join", json!([sid, "x"])),
        ("remote-leave", json!(["bad", "x"])),
        ("remote-leave", json!([sid, "x"])),
        ("close-room", json!(["nobody"])),
        ("ask", json!([["nobody"], 500])),
        ("ask", json!([[sid], 2000])),
        ("call", json!(["bad"])),
        ("call", json!([sid])),
        ("server-emit", json!(["x"])),
        ("server-call", json!([])),
        ("count", json!([])),
        ("ticks", json!(["t", "nobody", 2, 1])),
        ("remote-disconnect", json!(["bad"])),
    ];
    let mut out = Vec::new();
    for (event, args) in calls {
        let mut answer = c.emit_ack("/", event, args.clone()).await?;
        // a misfit's message is each implementation's own words
        if let Some(message) = answer.get_mut(0).and_then(|a| a.get_mut("message")) {
            *message = json!("…");
        }
        let shown = answer.to_string().replace(&sid, "SID");
        out.push((
            format!("{event} {args}").replace(&sid, "SID"),
            serde_json::from_str(&shown)?,
        ));
    }
    out.push(("ticks-done".into(), c.next_event("/", "ticks-done").await?));
    let rooms = c.emit_ack("/", "rooms", json!([])).await?;
    let rooms: Vec<String> = serde_json::from_value(rooms[0].clone())?;
    let mut rooms: Vec<String> = rooms.iter().map(|r| r.replace(&sid, "SID")).collect();
    rooms.sort();
    out.push(("rooms".into(), json!(rooms)));
    c.close().await;
    Ok(out)
}

/// The Node node answers every handler as a Volley node does (same acks, same shapes: `Ok`,
/// `Err`, misfits), so a suite written against Volley's node reads Node's the same way.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_node_node_answers_like_the_volley_node() -> TestResult {
    // Volley's own format, on the stream the Volley streams suite shares (no key left behind)
    let volley = answers(Backend::Url {
        url: "redis://127.0.0.1:6379?bus=streams&stream=volley-test-suite&maxlen=10000".into(),
        node_bin: env!("CARGO_BIN_EXE_cluster_node"),
    })
    .await?;
    let node = answers(cluster_of(&[Kind::Node])).await?;
    let differ: Vec<String> = volley
        .iter()
        .zip(&node)
        .filter(|(v, n)| v != n)
        .map(|((call, v), (_, n))| format!("{call}: Volley {v}, Node {n}"))
        .collect();
    if !differ.is_empty() {
        bail!("the nodes answer differently:\n{}", differ.join("\n"));
    }
    Ok(())
}
