//! The Volley server of the benchmarks: the same handlers as the Node and Python baselines in
//! `bench/baselines/`, on `127.0.0.1:<port>`, path `/socket.io/`.
//!
//! ```text
//! volley_bench_server --port 3100 [--adapter memory|redis://127.0.0.1:6379] [--prefix P]
//!                     [--emitter-key KEY] [--threads N] [--nagle] [--queue-capacity FRAMES]
//!                     [--tokio-listener] [--recovery] [--max-connections N]
//!                     [--http-compression on|off]
//! ```
//!
//! The server runs on `volley::serve::Listener`, which sends a new WebSocket session's `101` in
//! one segment with its open packet; `--tokio-listener` serves on tokio's `TcpListener` instead
//! (with the same socket options), to measure what that saves.
//!
//! Accepted connections get `TCP_NODELAY`, as Node's HTTP server does by default (`--nagle`
//! leaves Nagle's algorithm on, as a bare `axum::serve` does). It is set once, on the listening
//! socket, whose options Linux gives every connection it accepts: one system call less per
//! connection than setting it on each. The listen backlog is 1024
//! (`--backlog`; Node listens with 511, uvicorn with 2048, while `tokio::net::TcpListener::bind`
//! gives 128, which a storm of a few hundred simultaneous connects overflows).
//! `volley::serve::Listener` caps the connections open at once (10,000 by default, answering
//! `503` past it): the benchmarks open more (10,000 room members and a sender; 50,000 idle
//! connections), so the server raises the cap to 100,000 (`--max-connections`).
//! `--queue-capacity` sets the outgoing queue per client (the library's default otherwise).
//! `--recovery` turns connection state recovery on with its default settings
//! (`ConnectionStateRecovery::default()`): every broadcast below then carries an offset as its
//! last argument and is kept in the namespace's log, and a client that reconnects with
//! `{pid, offset}` as its CONNECT auth gets its socket back with what it missed
//! (`volley-bench recovery` measures that; `volley-bench fanout` what the log costs).
//! `--http-compression off` sends long-polling responses uncompressed (on by default, as in the
//! library: gzip or deflate from 1024 bytes for clients that accept them).
//!
//! Handlers (namespace `/`), every one acks when asked:
//!
//! | event | arguments | does | ack |
//! | --- | --- | --- | --- |
//! | `echo` | anything | nothing | the same arguments |
//! | `join` | a room name | enters the room | `true` |
//! | `fanout` | `{room, seq, payload}` | emits `msg` with `(seq, payload)` to the room | `true` |
//! | `burst` | `{room, from, count, payload}` | emits `msg` with `(from + i, payload)` to the room, `count` times, up to 64 emits in flight | the count emitted |
//! | `slow` | anything | sleeps 10 ms (an async handler, which the per-connection handler bound counts) | the same arguments |
//!
//! Namespace `/gated` (the floods of `volley-bench floods`): its connect handler sleeps 1 s
//! before accepting, so that packets sent right behind the CONNECT wait at the gate; `echo` as
//! above. The baselines have neither (only the floods use them, against Volley alone).
//!
//! `--adapter` is the URL given to `volley::manager::from_url`: `memory` for one node,
//! `redis://…` for a cluster; every adapter that function learns is usable here unchanged.
//! `--prefix` sets the cluster's channel prefix, so that a benchmark cluster does not hear
//! other clusters sharing the broker. `--emitter-key` makes the node also accept what Node's
//! `@socket.io/redis-emitter` (or `volley-emitter`) publishes with that key (the key may be the
//! prefix itself); without it, emitter channels are not listened to.

use std::time::Duration;

use futures_util::stream::{self, StreamExt};
use serde::Deserialize;
use volley::manager::cluster::ClusterConfig;
use volley::{Args, ConnectionStateRecovery, Server, Socket, Value};

/// Emits of one `burst` that may wait for the bus at once.
const BURST_IN_FLIGHT: usize = 64;
/// How long `slow` takes.
const SLOW: Duration = Duration::from_millis(10);
/// How long `/gated` takes to accept a connect.
const GATE: Duration = Duration::from_secs(1);
/// The listener's cap on connections open at once, unless `--max-connections` says otherwise.
const MAX_CONNECTIONS: usize = 100_000;

#[derive(Debug, Deserialize)]
struct Fanout {
    room: String,
    seq: u64,
    payload: Value,
}

#[derive(Debug, Deserialize)]
struct Burst {
    room: String,
    from: u64,
    count: u64,
    payload: Value,
}

struct Options {
    port: u16,
    adapter: String,
    prefix: String,
    emitter_key: Option<String>,
    threads: usize,
    nagle: bool,
    tokio_listener: bool,
    backlog: u32,
    queue_capacity: Option<usize>,
    recovery: bool,
    max_connections: usize,
    http_compression: bool,
}

fn options() -> Result<Options, String> {
    let mut o = Options {
        port: 3100,
        adapter: "memory".to_owned(),
        prefix: "volley-bench".to_owned(),
        emitter_key: None,
        threads: 1,
        nagle: false,
        tokio_listener: false,
        backlog: 1024,
        queue_capacity: None,
        recovery: false,
        max_connections: MAX_CONNECTIONS,
        http_compression: true,
    };
    let mut args = std::env::args().skip(1);
    while let Some(flag) = args.next() {
        let mut value = || args.next().ok_or_else(|| format!("{flag} needs a value"));
        match flag.as_str() {
            "--port" => o.port = value()?.parse().map_err(|e| format!("--port: {e}"))?,
            "--adapter" => o.adapter = value()?,
            "--nagle" => o.nagle = true,
            "--tokio-listener" => o.tokio_listener = true,
            "--recovery" => o.recovery = true,
            "--max-connections" => {
                let n = value()?.parse();
                o.max_connections = n.map_err(|e| format!("--max-connections: {e}"))?;
            }
            "--backlog" => o.backlog = value()?.parse().map_err(|e| format!("--backlog: {e}"))?,
            "--prefix" => o.prefix = value()?,
            "--http-compression" => {
                o.http_compression = match value()?.as_str() {
                    "on" => true,
                    "off" => false,
                    other => return Err(format!("--http-compression: on or off, not {other}")),
                }
            }
            "--emitter-key" => o.emitter_key = Some(value()?),
            "--threads" => o.threads = value()?.parse().map_err(|e| format!("--threads: {e}"))?,
            "--queue-capacity" => {
                let n = value()?.parse();
                o.queue_capacity = Some(n.map_err(|e| format!("--queue-capacity: {e}"))?);
            }
            other => return Err(format!("unknown flag {other}")),
        }
    }
    Ok(o)
}

fn server(opts: &Options) -> Result<Server, String> {
    let config = ClusterConfig::default()
        .prefix(opts.prefix.clone())
        .node_compat_key(opts.emitter_key.clone());
    let manager = volley::manager::from_url(&opts.adapter, config).map_err(|e| e.to_string())?;
    let mut builder = Server::builder().client_manager_arc(manager);
    if let Some(frames) = opts.queue_capacity {
        builder = builder.queue_capacity(frames);
    }
    if opts.recovery {
        builder = builder.connection_state_recovery(ConnectionStateRecovery::default());
    }
    if !opts.http_compression {
        builder = builder.http_compression(None);
    }
    let io = builder.build();
    let ns = io.of("/");
    ns.on("echo", |_s: Socket, args: Args| args);
    ns.on("join", |s: Socket, room: String| {
        s.enter_room(&room);
        true
    });
    ns.on("fanout", |s: Socket, f: Fanout| async move {
        s.namespace()
            .to(f.room)
            .emit("msg", &(f.seq, &f.payload))
            .await
            .is_ok()
    });
    ns.on("burst", |s: Socket, b: Burst| async move {
        let ns = s.namespace();
        let (room, payload) = (&b.room, &b.payload);
        stream::iter(b.from..b.from.saturating_add(b.count))
            .map(|seq| {
                let op = ns.to(room);
                async move { op.emit("msg", &(seq, payload)).await.is_ok() }
            })
            .buffer_unordered(BURST_IN_FLIGHT)
            .fold(0u64, |n, ok| async move { n + u64::from(ok) })
            .await
    });
    ns.on("slow", |_s: Socket, args: Args| async move {
        tokio::time::sleep(SLOW).await;
        args
    });
    io.of("/gated")
        .on_connect(|_s: Socket, _auth: Option<Value>| async move {
            tokio::time::sleep(GATE).await;
        })
        .on("echo", |_s: Socket, args: Args| args);
    Ok(io)
}

fn listen(port: u16, backlog: u32, nodelay: bool) -> std::io::Result<tokio::net::TcpListener> {
    let socket = tokio::net::TcpSocket::new_v4()?;
    socket.set_reuseaddr(true)?;
    socket.set_nodelay(nodelay)?;
    socket.bind(std::net::SocketAddr::from(([127, 0, 0, 1], port)))?;
    socket.listen(backlog)
}

fn main() {
    // warnings (a failed publish, a lost broker) land in the server's log under bench-logs/
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn"));
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .init();
    let opts = match options() {
        Ok(o) => o,
        Err(e) => {
            eprintln!("volley_bench_server: {e}");
            std::process::exit(2);
        }
    };
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .worker_threads(opts.threads.max(1))
        .enable_all()
        .build()
    {
        Ok(r) => r,
        Err(e) => {
            eprintln!("volley_bench_server: cannot start tokio: {e}");
            std::process::exit(1);
        }
    };
    let result = runtime.block_on(async {
        let io = server(&opts)?;
        let listener = listen(opts.port, opts.backlog, !opts.nagle)
            .map_err(|e| format!("cannot listen on port {}: {e}", opts.port))?;
        println!("volley_bench_server listening on 127.0.0.1:{}", opts.port);
        let served = if opts.tokio_listener {
            axum::serve(listener, io.service()).await
        } else {
            let listener =
                volley::serve::Listener::from_tcp(listener).max_connections(opts.max_connections);
            axum::serve(listener, io.service()).await
        };
        served.map_err(|e| e.to_string())
    });
    if let Err(e) = result {
        eprintln!("volley_bench_server: {e}");
        std::process::exit(1);
    }
}

#[cfg(test)]
mod tests {
    use super::listen;

    /// What the server relies on: a connection accepted from a listener with `TCP_NODELAY` has
    /// it too, and one from a listener without has Nagle's algorithm on (`--nagle`).
    #[tokio::test]
    async fn accepted_connections_take_the_listeners_nodelay() -> std::io::Result<()> {
        for nodelay in [true, false] {
            let listener = listen(0, 16, nodelay)?;
            let addr = listener.local_addr()?;
            let (_client, accepted) =
                tokio::try_join!(tokio::net::TcpStream::connect(addr), listener.accept())?;
            assert_eq!(accepted.0.nodelay()?, nodelay);
        }
        Ok(())
    }
}
