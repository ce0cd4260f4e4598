//! `volley-emitter` drives a cluster of two real Node `socket.io` servers on
//! `@socket.io/redis-adapter` (separate: it needs Node, `tests/clients/node-cluster/node_modules`
//! and `tests/clients/node/node_modules`, both installed by `scripts/test.sh`, a Redis at
//! 127.0.0.1:6379, and it spawns processes).
//!
//! The official `socket.io-client` (the puppet of `tests/clients/node`) connects to both servers;
//! the emitter publishes and the test checks what each client (and each server) receives. Every
//! wait is bounded. A key prefix of its own keeps it apart from other tests on the same Redis.

use std::path::PathBuf;
use std::process::Stdio;
use std::time::Duration;

use serde_json::{json, Value};
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::{Child, Command};
use tokio::sync::mpsc;
use volley_emitter::Emitter;
use volley_tests::puppet::Puppet;
use volley_tests::{bail, within, Failure, TestResult, STEP_TIMEOUT};

const REDIS_URL: &str = "redis://127.0.0.1:6379";

fn cluster_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("clients/node-cluster")
}

/// A Node socket.io server of `tests/clients/node-cluster/node-server.mjs`, killed on drop.
struct NodeServer {
    _child: Child,
    lines: mpsc::UnboundedReceiver<Value>,
    url: String,
    name: &'static str,
}

impl NodeServer {
    async fn start(name: &'static str, key: &str) -> TestResult<Self> {
        let dir = cluster_dir();
        let marker = dir.join("node_modules/@socket.io/redis-adapter/package.json");
        if !marker.exists() {
            bail!(
                "the Node cluster packages are not installed: {} is missing. Run \
                 `scripts/test.sh` (it runs `npm ci` in tests/clients/node-cluster), or `npm ci` \
                 there by hand.",
                marker.display()
            );
        }
        let node = std::env::var("VOLLEY_NODE").unwrap_or_else(|_| "node".to_owned());
        let mut child = Command::new(node)
            .arg(dir.join("node-server.mjs"))
            .args(["0", REDIS_URL, key])
            .current_dir(&dir)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .kill_on_drop(true)
            .spawn()
            .map_err(|e| Failure::msg(format!("cannot start node: {e}")))?;
        let stdout = child
            .stdout
            .take()
            .ok_or_else(|| Failure::msg("no stdout"))?;
        let (tx, lines) = mpsc::unbounded_channel();
        tokio::spawn(async move {
            let mut reader = BufReader::new(stdout).lines();
            while let Ok(Some(line)) = reader.next_line().await {
                let value =
                    serde_json::from_str(&line).unwrap_or(json!({ "ev": "raw", "line": line }));
                if tx.send(value).is_err() {
                    break;
                }
            }
        });
        let mut server = NodeServer {
            _child: child,
            lines,
            url: String::new(),
            name,
        };
        let listening = server
            .next("listening", Duration::from_secs(15))
            .await
            .map_err(|e| {
                Failure::msg(format!(
                    "{} (is Redis running at {REDIS_URL}?)",
                    e.message()
                ))
            })?;
        let port = listening["port"]
            .as_u64()
            .ok_or_else(|| Failure::msg(format!("bad listening line {listening}")))?;
        server.url = format!("http://127.0.0.1:{port}");
        Ok(server)
    }

    /// The next line with `"ev": ev`, skipping others (connections).
    async fn next(&mut self, ev: &str, limit: Duration) -> TestResult<Value> {
        let until = tokio::time::Instant::now() + limit;
        loop {
            match tokio::time::timeout_at(until, self.lines.recv()).await {
                Ok(Some(line)) if line["ev"] == ev => return Ok(line),
                Ok(Some(line)) if line["ev"] == "redis_error" => {
                    bail!("node server {}: Redis error {line}", self.name)
                }
                Ok(Some(_)) => continue,
                Ok(None) => bail!("node server {} exited", self.name),
                Err(_) => bail!("node server {}: no `{ev}` within {limit:?}", self.name),
            }
        }
    }
}

fn unique_key() -> String {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.subsec_nanos())
        .unwrap_or_default();
    format!("volleytest-{}-{nanos}", std::process::id())
}

/// A client on `server`, connected to `/` (in room `room` when given) and to `extra`
/// namespaces.
async fn client(server: &NodeServer, room: Option<&str>, extra: &[&str]) -> TestResult<Puppet> {
    let options = match room {
        Some(room) => json!({ "query": { "room": room } }),
        None => json!({}),
    };
    let mut puppet = Puppet::spawn_full(&server.url, "websocket", "json", options).await?;
    puppet.connect("/", None).await?;
    for nsp in extra {
        puppet.connect(nsp, None).await?;
    }
    Ok(puppet)
}

/// Publishes a numbered marker to everyone on `/` and waits for it on every client: Redis
/// delivers to each server in publish order, so whatever an earlier publish sent a client has
/// arrived by then.
async fn marker(emitter: &Emitter, clients: &mut [&mut Puppet], n: u64) -> TestResult {
    emitter.emit("marker", &n).await?;
    for client in clients.iter_mut() {
        let args = client.next_event("/", "marker").await?;
        if args != json!([n]) {
            bail!("marker {n}: got {args}");
        }
    }
    Ok(())
}

async fn expect(client: &mut Puppet, nsp: &str, event: &str, args: Value) -> TestResult {
    let got = client.next_event(nsp, event).await?;
    if got != args {
        bail!("`{event}` on {nsp}: got {got}, expected {args}");
    }
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_emitter_drives_a_node_cluster() -> TestResult {
    let key = unique_key();
    let mut server_a = NodeServer::start("A", &key).await?;
    let mut server_b = NodeServer::start("B", &key).await?;
    let emitter = within(
        Duration::from_secs(15),
        "connecting the emitter",
        Emitter::redis(REDIS_URL),
    )
    .await?
    .map_err(|e| Failure::msg(format!("{e}: is Redis running at {REDIS_URL}?")))?
    .with_key(&key);

    // a1 and b1 are in r1; a1 and b2 are also on /custom.
    let mut a1 = client(&server_a, Some("r1"), &["/custom"]).await?;
    let mut a2 = client(&server_a, None, &[]).await?;
    let mut b1 = client(&server_b, Some("r1"), &[]).await?;
    let mut b2 = client(&server_b, None, &["/custom"]).await?;
    let none = Duration::ZERO;

    // To all, binary included.
    emitter
        .emit("hello", &("world", bytes::Bytes::from_static(&[1, 2, 3])))
        .await?;
    for c in [&mut a1, &mut a2, &mut b1, &mut b2] {
        expect(c, "/", "hello", json!(["world", { "$binary": "010203" }])).await?;
    }

    // To room r1 only.
    emitter.to("r1").emit("room", &"r1 only").await?;
    marker(&emitter, &mut [&mut a1, &mut a2, &mut b1, &mut b2], 1).await?;
    for c in [&mut a1, &mut b1] {
        expect(c, "/", "room", json!(["r1 only"])).await?;
    }
    for c in [&mut a2, &mut b2] {
        c.no_event("/", "room", none).await?;
    }

    // Everyone but r1.
    emitter.except("r1").emit("not-r1", &()).await?;
    marker(&emitter, &mut [&mut a1, &mut a2, &mut b1, &mut b2], 2).await?;
    for c in [&mut a2, &mut b2] {
        expect(c, "/", "not-r1", json!([])).await?;
    }
    for c in [&mut a1, &mut b1] {
        c.no_event("/", "not-r1", none).await?;
    }

    // Volatile and compress flags are accepted and delivered to ready clients.
    emitter.volatile().emit("vol", &("v", 1.5)).await?;
    emitter
        .to("r1")
        .compress(false)
        .emit("comp", &json!({ "k": [1, null] }))
        .await?;
    for c in [&mut a1, &mut a2, &mut b1, &mut b2] {
        expect(c, "/", "vol", json!(["v", 1.5])).await?;
    }
    for c in [&mut a1, &mut b1] {
        expect(c, "/", "comp", json!([{ "k": [1, null] }])).await?;
    }

    // Another namespace.
    emitter.of("/custom").emit("custom", &"c").await?;
    emitter.of("custom").to("r1").emit("custom-r1", &()).await?;
    marker(&emitter, &mut [&mut a1, &mut a2, &mut b1, &mut b2], 3).await?;
    for c in [&mut a1, &mut b2] {
        expect(c, "/custom", "custom", json!(["c"])).await?;
        c.no_event("/", "custom", none).await?;
    }
    // The handshake query is shared by the namespaces of a connection: a1 is in r1 on
    // /custom too, b2 is not.
    expect(&mut a1, "/custom", "custom-r1", json!([])).await?;
    b2.no_event("/custom", "custom-r1", none).await?;

    // Join: everyone but r1 joins r2, then an emit to r2.
    emitter.except("r1").join("r2").await?;
    emitter.to("r2").emit("in-r2", &()).await?;
    marker(&emitter, &mut [&mut a1, &mut a2, &mut b1, &mut b2], 4).await?;
    for c in [&mut a2, &mut b2] {
        expect(c, "/", "in-r2", json!([])).await?;
    }
    for c in [&mut a1, &mut b1] {
        c.no_event("/", "in-r2", none).await?;
    }

    // Leave: nobody is in r2 any more.
    emitter.to("r2").leave(["r2"]).await?;
    emitter.to("r2").emit("in-r2-again", &()).await?;
    marker(&emitter, &mut [&mut a1, &mut a2, &mut b1, &mut b2], 5).await?;
    for c in [&mut a1, &mut a2, &mut b1, &mut b2] {
        c.no_event("/", "in-r2-again", none).await?;
    }

    // Server-side emit: both Node servers get it, in the right namespace.
    emitter.server_side_emit("ping-server", &("hi", 2)).await?;
    emitter
        .of("/custom")
        .server_side_emit("ping-server", &("c",))
        .await?;
    for server in [&mut server_a, &mut server_b] {
        let line = server.next("server-side", STEP_TIMEOUT).await?;
        if line != json!({ "ev": "server-side", "nsp": "/", "args": ["hi", 2] }) {
            bail!("server {}: {line}", server.name);
        }
        let line = server.next("server-side", STEP_TIMEOUT).await?;
        if line != json!({ "ev": "server-side", "nsp": "/custom", "args": ["c"] }) {
            bail!("server {}: {line}", server.name);
        }
    }

    // Disconnect r1 on "/": its members see the server's disconnect, the others stay.
    emitter.to("r1").disconnect(false).await?;
    for c in [&mut a1, &mut b1] {
        let reason = c.next_disconnect("/").await?;
        if reason != "io server disconnect" {
            bail!("disconnect reason {reason:?}");
        }
    }
    marker(&emitter, &mut [&mut a2, &mut b2], 6).await?;
    // a1's /custom socket is still there.
    emitter.of("/custom").emit("still-here", &()).await?;
    expect(&mut a1, "/custom", "still-here", json!([])).await?;
    expect(&mut b2, "/custom", "still-here", json!([])).await?;

    // Disconnect everyone on /custom, closing their connections.
    emitter.of("/custom").disconnect(true).await?;
    for c in [&mut a1, &mut b2] {
        let reason = c.next_disconnect("/custom").await?;
        if reason != "io server disconnect" {
            bail!("disconnect reason {reason:?}");
        }
    }

    emitter.close().await;
    for c in [a1, a2, b1, b2] {
        c.close().await;
    }
    Ok(())
}
