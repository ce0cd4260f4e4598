//! python-socketio as a peer of a Volley cluster (adapter URLs with `?python=CHANNEL`):
//! python-socketio's own write-only managers (`RedisManager`, `AsyncRedisManager`,
//! `KombuManager`, `AsyncAioPikaManager`, `KafkaManager`), run from the venv as job workers,
//! drive two Volley node processes (emits to all, rooms, `skip_sid`, namespaces, binary;
//! `enter_room`, `leave_room`, `close_room`, `disconnect`; malformed messages skipped); and a
//! python `AsyncServer` node shares a cluster with a Volley node (emits both ways, room changes
//! and disconnections of the other side's sockets, acks of python's `call`). Needs the machine's
//! Redis and RabbitMQ, the tests' Kafka-protocol broker (scripts/kafka.sh), the npm clients and
//! the venv of tests/clients/python/requirements.txt.

use std::time::Duration;

use serde_json::{json, Value};
use volley_tests::clients::binary;
use volley_tests::cluster::{self, Backend, Node};
use volley_tests::puppet::Puppet;
use volley_tests::python_peer::{self, Publisher};
use volley_tests::TestResult;

const REDIS: &str = "redis://127.0.0.1:6379";
const AMQP: &str = "amqp://guest:guest@127.0.0.1:5672/%2f";
const KAFKA: &str = "kafka://127.0.0.1:9092";
/// How long a message that must not arrive is waited for, once a later one has arrived.
const AFTER: Duration = Duration::from_millis(200);

/// Volley nodes on `base` speaking python's protocol on `channel` (also their prefix).
async fn volley_nodes(base: &str, channel: &str, n: usize) -> TestResult<Vec<Node>> {
    let backend = Backend::Url {
        url: match base.contains('?') {
            true => format!("{base}&python={channel}"),
            false => format!("{base}?python={channel}"),
        },
        node_bin: env!("CARGO_BIN_EXE_cluster_node"),
    };
    cluster::start_with_prefix(&backend, n, channel).await
}

fn emit(event: &str, data: Value) -> Value {
    json!({ "op": "emit", "event": event, "data": data, "namespace": "/" })
}

/// A python job worker's manager of `kind` on `url` drives a cluster of two Volley nodes on
/// `base`.
async fn workers_drive_the_cluster(kind: &str, url: &str, base: &str) -> TestResult {
    let channel = cluster::unique_prefix();
    let nodes = volley_nodes(base, &channel, 2).await?;
    let mut a = Puppet::spawn(&nodes[0].url, "websocket").await?;
    let sa = a.connect("/", None).await?;
    let mut b = Puppet::spawn(&nodes[1].url, "websocket").await?;
    let sb = b.connect("/", None).await?;
    b.connect("/other", None).await?;
    a.emit_ack("/", "join", json!(["room1"])).await?;
    let mut worker = Publisher::spawn(kind, url, &channel).await?;

    worker.send(emit("all", json!(["x", 1]))).await?;
    assert_eq!(a.next_event("/", "all").await?, json!(["x", 1]));
    assert_eq!(b.next_event("/", "all").await?, json!(["x", 1]));

    let mut to_room = emit("to-room", json!(["r"]));
    to_room["room"] = json!("room1");
    worker.send(to_room.clone()).await?;
    assert_eq!(a.next_event("/", "to-room").await?, json!(["r"]));

    let mut skip = emit("skip", json!([{"n": 2}]));
    skip["skip_sid"] = json!(sa);
    worker.send(skip).await?;
    assert_eq!(b.next_event("/", "skip").await?, json!([{"n": 2}]));

    let mut other = emit("elsewhere", json!(["o"]));
    other["namespace"] = json!("/other");
    worker.send(other).await?;
    assert_eq!(b.next_event("/other", "elsewhere").await?, json!(["o"]));

    worker
        .send(emit("bin", json!(["b64:AQI=", {"k": "b64:/w=="}])))
        .await?;
    let expected = json!([binary(&[1, 2]), {"k": binary(&[0xff])}]);
    assert_eq!(a.next_event("/", "bin").await?, expected);
    assert_eq!(b.next_event("/", "bin").await?, expected);

    let room = |op: &str| json!({ "op": op, "sid": sb, "room": "r2", "namespace": "/" });
    let mut to_r2 = emit("r2", json!(["in"]));
    to_r2["room"] = json!("r2");
    worker.send(room("enter_room")).await?;
    worker.send(to_r2.clone()).await?;
    assert_eq!(b.next_event("/", "r2").await?, json!(["in"]));
    worker.send(room("leave_room")).await?;
    worker.send(to_r2).await?;
    worker
        .send(json!({ "op": "close_room", "room": "room1", "namespace": "/" }))
        .await?;
    worker.send(to_room).await?;

    // garbage, and messages of the wrong shape: skipped, and the nodes go on
    for bad in [
        &b"\x80\x04not json"[..],
        br#"{"method": "emit", "data": ["no event"]}"#,
        br#"{"method": "emit", "event": "bad", "data": [[{"_placeholder": true, "num": 4}]], "binary": true}"#,
        br#"{"method": "enter_room", "room": "no sid"}"#,
        br#"{"method": "who-knows", "host_id": "x"}"#,
    ] {
        let hex: String = bad.iter().map(|b| format!("{b:02x}")).collect();
        worker.send(json!({ "op": "raw", "hex": hex })).await?;
    }
    worker.send(emit("after", json!([]))).await?;
    a.next_event("/", "after").await?;
    b.next_event("/", "after").await?;
    // everything published before `after` has arrived by now, or never will
    a.no_event("/", "skip", AFTER).await?;
    a.no_event("/", "to-room", AFTER).await?;
    a.no_event("/other", "elsewhere", AFTER).await?;
    a.no_event("/", "bad", AFTER).await?;
    b.no_event("/", "to-room", AFTER).await?;
    b.no_event("/", "r2", AFTER).await?;

    worker
        .send(json!({ "op": "disconnect", "sid": sb, "namespace": "/" }))
        .await?;
    b.next_disconnect("/").await?;
    worker.send(emit("still", json!([]))).await?;
    a.next_event("/", "still").await?;
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn redis_manager_drives_the_cluster() -> TestResult {
    workers_drive_the_cluster("redis", python_peer::REDIS_URL, REDIS).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn async_redis_manager_drives_the_cluster() -> TestResult {
    workers_drive_the_cluster("async-redis", python_peer::REDIS_URL, REDIS).await
}

/// On the sharded bus the nodes' own channels are shard channels; python-socketio's stays a
/// classic pub/sub channel, where its managers publish.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn async_redis_manager_drives_a_cluster_on_the_sharded_bus() -> TestResult {
    let sharded = format!("{REDIS}?bus=sharded");
    workers_drive_the_cluster("async-redis", python_peer::REDIS_URL, &sharded).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kombu_manager_drives_the_cluster() -> TestResult {
    workers_drive_the_cluster("kombu", python_peer::KOMBU_URL, AMQP).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn aio_pika_manager_drives_the_cluster() -> TestResult {
    workers_drive_the_cluster("aio-pika", python_peer::AIO_PIKA_URL, AMQP).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kafka_manager_drives_the_cluster() -> TestResult {
    workers_drive_the_cluster("kafka", python_peer::KAFKA_URL, KAFKA).await
}

/// Has `from` broadcast `event` with the arguments `args` (a list) to `rooms` but `skip`
/// through its node's `broadcast` handler (Volley's and python's take the same arguments).
async fn broadcast(
    from: &mut Puppet,
    event: &str,
    rooms: &[&str],
    skip: &[&str],
    args: Value,
) -> TestResult {
    from.emit_ack("/", "broadcast", json!([event, rooms, skip, args]))
        .await
        .map(|_| ())
}

/// A python `AsyncServer` node with the manager `kind` on `url` and a Volley node on `base`
/// form one cluster.
async fn python_and_volley_nodes_share_a_cluster(kind: &str, url: &str, base: &str) -> TestResult {
    let channel = cluster::unique_prefix();
    let python = python_peer::start(kind, url, &channel, "python0").await?;
    let volley = volley_nodes(base, &channel, 1).await?;
    let mut p = Puppet::spawn(&python.url, "websocket").await?;
    let sp = p.connect("/", None).await?;
    let mut v = Puppet::spawn(&volley[0].url, "websocket").await?;
    let sv = v.connect("/", None).await?;
    p.emit_ack("/", "join", json!(["room1"])).await?;
    v.emit_ack("/", "join", json!(["room1"])).await?;

    // python's manager subscribes in the background: until it listens, Volley's emits miss it
    let deadline = tokio::time::Instant::now() + Duration::from_secs(15);
    loop {
        broadcast(&mut v, "warm", &[], &[], json!([0])).await?;
        let got = p
            .drain_events("/", "warm", AFTER, Duration::from_millis(500))
            .await?;
        if !got.is_empty() {
            break;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "the python node never heard the Volley node"
        );
    }

    // Volley -> python
    broadcast(&mut v, "v-all", &[], &[], json!(["x"])).await?;
    assert_eq!(p.next_event("/", "v-all").await?, json!(["x"]));
    broadcast(&mut v, "v-room", &["room1"], &[], json!([{"n": 1}])).await?;
    assert_eq!(p.next_event("/", "v-room").await?, json!([{"n": 1}]));
    broadcast(&mut v, "v-skip", &[], &[&sp], json!([1])).await?;
    broadcast(&mut v, "v-other-room", &["nobody"], &[], json!([1])).await?;
    // python -> Volley
    broadcast(&mut p, "p-all", &[], &[], json!(["y"])).await?;
    assert_eq!(v.next_event("/", "p-all").await?, json!(["y"]));
    broadcast(&mut p, "p-room", &["room1"], &[], json!([1, 2])).await?;
    assert_eq!(v.next_event("/", "p-room").await?, json!([1, 2]));
    broadcast(&mut p, "p-skip", &[], &[&sv], json!([1])).await?;
    // each node's own clients got its emits too, once
    v.next_event("/", "v-all").await?;
    p.next_event("/", "p-all").await?;

    // room changes of a socket on the other node
    v.emit_ack("/", "remote-join", json!([sp, "r9"])).await?;
    broadcast(&mut v, "v-r9", &["r9"], &[], json!(["in"])).await?;
    assert_eq!(p.next_event("/", "v-r9").await?, json!(["in"]));
    p.emit_ack("/", "remote-join", json!([sv, "r8"])).await?;
    broadcast(&mut p, "p-r8", &["r8"], &[], json!(["in"])).await?;
    assert_eq!(v.next_event("/", "p-r8").await?, json!(["in"]));
    p.emit_ack("/", "remote-leave", json!([sv, "r8"])).await?;
    broadcast(&mut p, "p-r8", &["r8"], &[], json!(["out"])).await?;
    v.emit_ack("/", "remote-leave", json!([sp, "r9"])).await?;
    broadcast(&mut v, "v-r9", &["r9"], &[], json!(["out"])).await?;

    // a room closed on either side empties it on both
    p.emit_ack("/", "join", json!(["r7"])).await?;
    v.emit_ack("/", "join", json!(["r6"])).await?;
    v.emit_ack("/", "close-room", json!(["r7"])).await?;
    broadcast(&mut v, "v-r7", &["r7"], &[], json!([1])).await?;
    p.emit_ack("/", "close-room", json!(["r6"])).await?;
    broadcast(&mut p, "p-r6", &["r6"], &[], json!([1])).await?;

    broadcast(&mut v, "v-mark", &[], &[], json!([0])).await?;
    broadcast(&mut p, "p-mark", &[], &[], json!([0])).await?;
    p.next_event("/", "v-mark").await?;
    v.next_event("/", "p-mark").await?;
    p.next_event("/", "p-mark").await?;
    v.next_event("/", "v-mark").await?;
    p.no_event("/", "v-skip", AFTER).await?;
    p.no_event("/", "v-other-room", AFTER).await?;
    p.no_event("/", "v-r9", AFTER).await?;
    v.no_event("/", "p-skip", AFTER).await?;
    v.no_event("/", "p-r8", AFTER).await?;
    p.no_event("/", "v-r7", AFTER).await?;
    v.no_event("/", "p-r6", AFTER).await?;
    // nothing came twice (no echo between the two protocols)
    p.no_event("/", "v-all", AFTER).await?;
    v.no_event("/", "p-all", AFTER).await?;

    // python's call() to a socket on the Volley node: the ack comes back through the channel
    v.reply("/", "question", json!(["yes"])).await?;
    assert_eq!(p.emit_ack("/", "call", json!([sv])).await?, json!(["yes"]));

    // disconnections of the other node's sockets, both ways
    p.emit_ack("/", "remote-disconnect", json!([sv])).await?;
    v.next_disconnect("/").await?;
    let mut v2 = Puppet::spawn(&volley[0].url, "websocket").await?;
    v2.connect("/", None).await?;
    v2.emit_ack("/", "remote-disconnect", json!([sp])).await?;
    p.next_disconnect("/").await?;
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn python_async_redis_node_and_volley_node_share_a_cluster() -> TestResult {
    python_and_volley_nodes_share_a_cluster("async-redis", python_peer::REDIS_URL, REDIS).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn python_aio_pika_node_and_volley_node_share_a_cluster() -> TestResult {
    python_and_volley_nodes_share_a_cluster("aio-pika", python_peer::AIO_PIKA_URL, AMQP).await
}
