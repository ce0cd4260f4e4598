//! Back-pressure on handlers: a client that writes faster than its handlers finish has its
//! reads paused (its writes then wait in TCP) instead of growing the node, is disconnected with
//! a reason when it stays stalled, and moves a node's memory by a bounded amount, on one node
//! and on a two-node Redis cluster, also while Redis stalls.

use std::net::TcpListener;
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use futures_util::{SinkExt, StreamExt};
use tokio::time::Instant;
use tokio_tungstenite::tungstenite::Message;
use volley::{DisconnectReason, Limit, Server, Socket};
use volley_tests::server::TestServer;
use volley_tests::wire::{Frame, Ws};
use volley_tests::{bail, Failure, TestResult};

use crate::support::{frames_during, PATH};

/// Most a node's RSS may grow while one client floods it.
const RSS_BOUND: u64 = 64 * 1024 * 1024;

#[tokio::test]
async fn handlers_past_the_bound_wait_and_every_event_is_answered() -> TestResult {
    let io = Server::builder().max_handlers_per_connection(2).build();
    let running = Arc::new(AtomicUsize::new(0));
    let most = Arc::new(AtomicUsize::new(0));
    let (r, m) = (running.clone(), most.clone());
    io.of("/").on("work", move |_s: Socket, n: u32| {
        let (running, most) = (r.clone(), m.clone());
        async move {
            let now = running.fetch_add(1, Ordering::SeqCst) + 1;
            most.fetch_max(now, Ordering::SeqCst);
            tokio::time::sleep(Duration::from_millis(30)).await;
            running.fetch_sub(1, Ordering::SeqCst);
            n
        }
    });
    let server = TestServer::spawn(io.router()).await?;
    let (mut ws, _) = Ws::open(&server, PATH).await?;
    ws.send_text("40").await?;
    for n in 1..=20 {
        ws.send_text(&format!(r#"42{n}["work",{n}]"#)).await?;
    }
    let mut acked = Vec::new();
    while acked.len() < 20 {
        match ws.next_packet().await? {
            Frame::Text(t) if t.starts_with("43") => acked.push(t),
            Frame::Text(t) if t.starts_with("40") => {}
            other => bail!("unexpected {other:?} with acks {acked:?}"),
        }
    }
    let expected: Vec<String> = (1..=20).map(|n| format!("43{n}[{n}]")).collect();
    if acked != expected {
        bail!("expected every event acked in order, got {acked:?}");
    }
    let most = most.load(Ordering::SeqCst);
    if most > 2 {
        bail!("{most} handlers of one connection ran at once, past the bound of 2");
    }
    Ok(())
}

#[tokio::test]
async fn a_client_stalled_past_the_bound_is_disconnected_with_a_reason() -> TestResult {
    let io = Server::builder()
        .max_handlers_per_connection(2)
        .handler_stall_timeout(Duration::from_millis(500))
        .build();
    let started = Arc::new(AtomicUsize::new(0));
    let reason = Arc::new(Mutex::new(None));
    let (s, r) = (started.clone(), reason.clone());
    io.of("/")
        .on("hang", move |_s: Socket, _n: u32| {
            let started = s.clone();
            async move {
                started.fetch_add(1, Ordering::SeqCst);
                std::future::pending::<()>().await
            }
        })
        .on_disconnect(move |_s: Socket, why: DisconnectReason| {
            if let Ok(mut slot) = r.lock() {
                *slot = Some(why);
            }
        });
    let server = TestServer::spawn(io.router()).await?;
    let (mut ws, _) = Ws::open(&server, PATH).await?;
    ws.send_text("40").await?;
    // two run, sixteen wait, and the reads pause behind them
    for n in 0..30 {
        ws.send_text(&format!(r#"42["hang",{n}]"#)).await?;
    }
    let frames = frames_during(&mut ws, Duration::from_secs(3)).await?;
    let disconnected = frames.iter().any(|f| *f == Frame::Text("41".into()));
    if !disconnected || !matches!(frames.last(), Some(Frame::Closed(_))) {
        bail!("expected a DISCONNECT then the close, got {frames:?}");
    }
    let why = reason.lock().map_err(|_| Failure::msg("poisoned"))?.take();
    if why != Some(DisconnectReason::LimitExceeded(Limit::Handlers)) {
        bail!("the disconnect handler saw {why:?}");
    }
    let started = started.load(Ordering::SeqCst);
    if started != 2 {
        bail!("{started} handlers started, expected the bound of 2");
    }
    Ok(())
}

// --- one client against real server processes ----------------------------------------------

fn free_port() -> TestResult<u16> {
    let listener = TcpListener::bind("127.0.0.1:0")?;
    Ok(listener.local_addr()?.port())
}

/// A process this test started, killed (by its own PID) when dropped.
struct Process(Child);

impl Process {
    fn pid(&self) -> u32 {
        self.0.id()
    }

    /// Stops (`STOP`) or resumes (`CONT`) the process.
    fn signal(&self, signal: &str) -> TestResult {
        let status = Command::new("kill")
            .args([&format!("-{signal}"), &self.pid().to_string()])
            .status()?;
        if !status.success() {
            bail!("kill -{signal} {} failed", self.pid());
        }
        Ok(())
    }
}

impl Drop for Process {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

async fn wait_listening(port: u16) -> TestResult {
    let deadline = Instant::now() + Duration::from_secs(20);
    while Instant::now() < deadline {
        if tokio::net::TcpStream::connect(("127.0.0.1", port))
            .await
            .is_ok()
        {
            return Ok(());
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    bail!("nothing listens on port {port} after 20 s")
}

/// A `redis-server` of this test's own on a free port (never the machine's shared one, which
/// the test stops).
async fn private_redis() -> TestResult<(Process, String)> {
    let port = free_port()?;
    let child = Command::new("redis-server")
        .args(["--port", &port.to_string(), "--bind", "127.0.0.1"])
        .args(["--save", "", "--appendonly", "no"])
        .args(["--dir", &std::env::temp_dir().to_string_lossy()])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()?;
    let process = Process(child);
    wait_listening(port).await?;
    Ok((process, format!("redis://127.0.0.1:{port}")))
}

/// A node of the chat example (`--adapter` as given), and its port.
async fn chat_node(adapter: &str) -> TestResult<(Process, u16)> {
    let port = free_port()?;
    let child = Command::new(env!("CARGO_BIN_EXE_deploy_chat"))
        .args(["--port", &port.to_string(), "--adapter", adapter])
        .env("RUST_LOG", "error")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()?;
    let process = Process(child);
    wait_listening(port).await?;
    Ok((process, port))
}

fn rss(pid: u32) -> TestResult<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status"))?;
    let kb = status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<u64>().ok())
        .ok_or_else(|| Failure::msg(format!("no VmRSS for {pid}")))?;
    Ok(kb * 1024)
}

/// One client connects to the chat on `port` and writes `join` events (each one a
/// `fetch_sockets` across the cluster) as fast as the node takes them for `length`, reading
/// whatever comes back.
async fn flood(node: &Process, port: u16, length: Duration) -> TestResult<Flood> {
    let url = format!("ws://127.0.0.1:{port}{PATH}?EIO=4&transport=websocket");
    // settle: one ordinary client joins once, so the baseline holds the app's warm state
    let (mut warm, _) = Ws::open_url(&url).await?;
    warm.send_text("40").await?;
    warm.send_text(r#"421["join","r"]"#).await?;
    frames_during(&mut warm, Duration::from_millis(500)).await?;
    let before = rss(node.pid())?;

    let (ws, _) = tokio_tungstenite::connect_async(&url)
        .await
        .map_err(|e| Failure::msg(format!("connect {url}: {e}")))?;
    let (mut write, mut read) = ws.split();
    // as a client library does: CONNECT, then wait for its acknowledgement
    write
        .send(Message::text("40"))
        .await
        .map_err(|e| Failure::msg(format!("send CONNECT: {e}")))?;
    loop {
        match tokio::time::timeout(Duration::from_secs(5), read.next()).await {
            Ok(Some(Ok(Message::Text(t)))) if t.starts_with("40{") => break,
            Ok(Some(Ok(_))) => continue,
            other => bail!("no CONNECT acknowledgement: {other:?}"),
        }
    }
    let acks = Arc::new(AtomicUsize::new(0));
    let counted = acks.clone();
    let reader = tokio::spawn(async move {
        while let Some(Ok(message)) = read.next().await {
            if matches!(&message, Message::Text(t) if t.starts_with("43")) {
                counted.fetch_add(1, Ordering::Relaxed);
            }
        }
    });
    let deadline = Instant::now() + length;
    let mut peak = before;
    let mut sent = 0u64;
    let writer = async {
        while Instant::now() < deadline {
            let frame = Message::text(format!(r#"42{}["join","r"]"#, sent + 1));
            write.send(frame).await.ok()?;
            sent += 1;
        }
        Some(())
    };
    let sampler = async {
        loop {
            if let Ok(now) = rss(node.pid()) {
                peak = peak.max(now);
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    };
    tokio::select! {
        _ = tokio::time::timeout(length + Duration::from_secs(2), writer) => {}
        () = sampler => {}
    }
    // what the node still holds once the client stops writing
    for _ in 0..20 {
        peak = peak.max(rss(node.pid())?);
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    reader.abort();
    Ok(Flood {
        growth: peak.saturating_sub(before),
        sent,
        acked: acks.load(Ordering::Relaxed),
    })
}

/// What one flood did to a node.
#[derive(Clone, Copy)]
struct Flood {
    /// RSS growth at the peak, in bytes.
    growth: u64,
    /// `join` frames the client managed to write.
    sent: u64,
    /// `join`s the node answered.
    acked: usize,
}

fn check_growth(what: &str, flood: &Flood, min_acked: usize) -> TestResult {
    let Flood {
        growth,
        sent,
        acked,
    } = *flood;
    eprintln!(
        "{what}: {sent} join frames written, {acked} answered, RSS grew by {} KiB at its peak",
        growth / 1024
    );
    if growth > RSS_BOUND {
        bail!(
            "{what}: one client grew the node by {} MiB ({sent} frames), past the bound of 64 MiB",
            growth / (1024 * 1024)
        );
    }
    if acked < min_acked {
        bail!("{what}: only {acked} of {sent} joins answered; the flood did not reach the app");
    }
    Ok(())
}

#[tokio::test]
async fn a_flooding_client_moves_a_single_node_by_a_bounded_amount() -> TestResult {
    let (node, port) = chat_node("memory").await?;
    let flooded = flood(&node, port, Duration::from_secs(6)).await?;
    check_growth("memory manager", &flooded, 1000)
}

#[tokio::test]
async fn a_flooding_client_moves_a_redis_cluster_node_by_a_bounded_amount() -> TestResult {
    let (redis, url) = private_redis().await?;
    let (node, port) = chat_node(&url).await?;
    let (_peer, _) = chat_node(&url).await?;
    let flooded = flood(&node, port, Duration::from_secs(6)).await?;
    check_growth("redis, 2 nodes", &flooded, 1000)?;

    // the same while Redis stalls (stopped, its connections left open) for the whole flood
    redis.signal("STOP")?;
    let stalled = flood(&node, port, Duration::from_secs(6)).await;
    redis.signal("CONT")?;
    check_growth("redis stopped, 2 nodes", &stalled?, 0)
}

/// Takes (shared, until this test binary exits) the lock with which the broker restart tests
/// of the workspace wait for every user of the machine's shared broker: `name` is the lock
/// file's name in the temporary directory, as those tests spell it.
fn hold_broker_lock(name: &str) -> TestResult {
    static HELD: Mutex<Vec<std::fs::File>> = Mutex::new(Vec::new());
    let file = std::fs::File::options()
        .create(true)
        .truncate(false)
        .read(true)
        .write(true)
        .open(std::env::temp_dir().join(name))?;
    tokio::task::block_in_place(|| fs4::FileExt::lock_shared(&file))?;
    HELD.lock()
        .map_err(|_| Failure::msg("poisoned"))?
        .push(file);
    Ok(())
}

/// A TCP relay to `upstream` that can stall: while stalled it moves no byte in either direction
/// and keeps every connection open, as a broker that hangs does. Its task ends with the test.
async fn stalling_relay(upstream: &str) -> TestResult<(u16, tokio::sync::watch::Sender<bool>)> {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let port = listener.local_addr()?.port();
    let (stall, stalled) = tokio::sync::watch::channel(false);
    let upstream = upstream.to_owned();
    tokio::spawn(async move {
        while let Ok((client, _)) = listener.accept().await {
            let Ok(server) = tokio::net::TcpStream::connect(&upstream).await else {
                continue;
            };
            let (client_read, client_write) = client.into_split();
            let (server_read, server_write) = server.into_split();
            tokio::spawn(relay(client_read, server_write, stalled.clone()));
            tokio::spawn(relay(server_read, client_write, stalled.clone()));
        }
    });
    Ok((port, stall))
}

/// Copies `from` to `to`, holding off while `stalled` says so.
async fn relay(
    mut from: tokio::net::tcp::OwnedReadHalf,
    mut to: tokio::net::tcp::OwnedWriteHalf,
    mut stalled: tokio::sync::watch::Receiver<bool>,
) {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut buf = vec![0u8; 16 * 1024];
    loop {
        if stalled.wait_for(|s| !s).await.is_err() {
            return;
        }
        let n = match from.read(&mut buf).await {
            Ok(0) | Err(_) => return,
            Ok(n) => n,
        };
        if stalled.wait_for(|s| !s).await.is_err() || to.write_all(&buf[..n]).await.is_err() {
            return;
        }
    }
}

/// A Kafka-protocol broker (tansu, as `scripts/kafka.sh` installs it) of this test's own on a
/// free port, so that it can be stopped: Kafka clients reconnect to the advertised address, so
/// a relay in front of the shared broker would be bypassed.
async fn private_kafka() -> TestResult<(Process, String)> {
    let port = free_port()?;
    let home = std::env::var("CARGO_HOME")
        .map(std::path::PathBuf::from)
        .or_else(|_| std::env::var("HOME").map(|h| std::path::Path::new(&h).join(".cargo")))
        .map_err(|_| Failure::msg("neither CARGO_HOME nor HOME is set"))?;
    let tansu = home.join("bin/tansu");
    let address = format!("tcp://127.0.0.1:{port}");
    let child = Command::new(&tansu)
        .args(["broker", "--listener-url", &address])
        .args(["--advertised-listener-url", &address])
        .args(["--storage-engine", "memory://tansu/"])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .map_err(|e| Failure::msg(format!("{}: {e} (run scripts/kafka.sh)", tansu.display())))?;
    let process = Process(child);
    wait_listening(port).await?;
    Ok((process, format!("kafka://127.0.0.1:{port}")))
}

/// On the machine's shared brokers (started by `scripts/services.sh`; never stopped here).
#[tokio::test(flavor = "multi_thread")]
async fn a_flooding_client_moves_an_amqp_cluster_node_by_a_bounded_amount() -> TestResult {
    hold_broker_lock("volley-rabbitmq.lock")?;
    let url = "amqp://guest:guest@127.0.0.1:5672/%2f";
    let (node, port) = chat_node(url).await?;
    let (_peer, _) = chat_node(url).await?;
    let flooded = flood(&node, port, Duration::from_secs(6)).await?;
    check_growth("amqp, 2 nodes", &flooded, 100)
}

/// RabbitMQ stalled for the whole flood: the two nodes reach the shared broker through a relay
/// that stops moving bytes (the broker itself is never touched).
#[tokio::test(flavor = "multi_thread")]
async fn a_flooding_client_moves_an_amqp_node_by_a_bounded_amount_while_the_broker_stalls(
) -> TestResult {
    hold_broker_lock("volley-rabbitmq.lock")?;
    let (relay, stall) = stalling_relay("127.0.0.1:5672").await?;
    let url = format!("amqp://guest:guest@127.0.0.1:{relay}/%2f");
    let (node, port) = chat_node(&url).await?;
    let (_peer, _) = chat_node(&url).await?;
    // both nodes on the bus before it stalls
    tokio::time::sleep(Duration::from_secs(1)).await;
    stall.send_replace(true);
    let stalled = flood(&node, port, Duration::from_secs(6)).await;
    stall.send_replace(false);
    check_growth("amqp stalled, 2 nodes", &stalled?, 0)
}

#[tokio::test(flavor = "multi_thread")]
async fn a_flooding_client_moves_a_kafka_cluster_node_by_a_bounded_amount() -> TestResult {
    hold_broker_lock("volley-kafka-tests.lock")?;
    let url = "kafka://127.0.0.1:9092";
    let (node, port) = chat_node(url).await?;
    let (_peer, _) = chat_node(url).await?;
    let flooded = flood(&node, port, Duration::from_secs(6)).await?;
    check_growth("kafka, 2 nodes", &flooded, 100)
}

/// A broker of the test's own, stopped (SIGSTOP) for the whole flood.
#[tokio::test(flavor = "multi_thread")]
async fn a_flooding_client_moves_a_kafka_node_by_a_bounded_amount_while_the_broker_stalls(
) -> TestResult {
    let (broker, url) = private_kafka().await?;
    let (node, port) = chat_node(&url).await?;
    let (_peer, _) = chat_node(&url).await?;
    tokio::time::sleep(Duration::from_secs(1)).await;
    broker.signal("STOP")?;
    let stalled = flood(&node, port, Duration::from_secs(6)).await;
    broker.signal("CONT")?;
    check_growth("kafka stopped, 2 nodes", &stalled?, 0)
}
