//! Floods: one abusive client against one Volley node, and how far it moves the node's memory.
//!
//! Each flood starts a fresh `volley_bench_server` (with the adapter asked for), warms it with
//! one ordinary client, takes its RSS as the baseline, then lets one client abuse it for the
//! flood's length while a thread samples the node's RSS (`VmRSS`) every 50 ms. Reported: the
//! peak growth over the baseline, the growth left 1 s after the client stopped, what the client
//! managed (frames written, answered), and whether an ordinary client still gets an echo back
//! afterwards.
//!
//! | flood | the one client |
//! | --- | --- |
//! | `handlers` | writes `slow` events (an async handler of 10 ms) asking for acks as fast as TCP takes them, reading the acks |
//! | `connect` | CONNECTs to `/gated` (whose connect handler takes 1 s) and writes `echo` events behind it without waiting for the acknowledgement; again on a new session when refused |
//! | `binary` | 8 sessions, each announcing a binary event of 64 attachments and writing 63 of 1 MB, never the last; again when dropped |
//! | `reader` | joins a room, asks `burst` for 1,000 `msg`s of 100 KB to it, and never reads; probes with a small write every 100 ms until the node drops it, then again |
//! | `http` | 500 sockets dribbling an HTTP request's header a byte every 500 ms and 500 sockets that send nothing, for 15 s; counts those still open |
//!
//! Run by `volley-bench floods` (prints the table) and by `volley-bench run --only floods` (a
//! section of the report), against Volley alone: the bounds are Volley's own settings, which the
//! baselines do not have in the same form. The Engine.IO pings of the node go unanswered: every
//! flood is shorter than the default ping interval and timeout (45 s).

use std::cell::Cell;
use std::fmt::Write as _;
use std::io;
use std::net::SocketAddr;
use std::rc::Rc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::tcp::{OwnedReadHalf, OwnedWriteHalf};
use tokio::task::{spawn_local, JoinHandle};

use super::Bench;
use crate::loadgen::sio::{Client, Target};
use crate::loadgen::ws::{self, Ws};
use crate::procfs;
use crate::report::{self, capitalise, median, num, secs};
use crate::servers::{self, Env, Kind};

/// How often the node's RSS is read.
const SAMPLE_EVERY: Duration = Duration::from_millis(50);
/// How long the node is watched after the client stopped.
const SETTLE: Duration = Duration::from_secs(1);
/// How long an ordinary client may take to get its echo back after a flood.
const ECHO_WITHIN: Duration = Duration::from_secs(5);
/// Sessions of the partial binary flood, at once.
const BINARY_SESSIONS: usize = 8;
/// Attachments each binary packet announces, and how many of them are sent.
const ANNOUNCED: usize = 64;
/// Bytes of one attachment (1 MB, the default max payload).
const ATTACHMENT: usize = 1_000_000;
/// `msg`s one slow-reader session asks for, and the bytes of each one's payload.
const BURST: u64 = 1_000;
/// See [`BURST`].
const BURST_PAYLOAD: usize = 100_000;
/// Sockets of the slow-HTTP flood that dribble, and sockets that stay silent.
const HTTP_SOCKETS: usize = 500;
/// How long the slow-HTTP flood holds its sockets (whatever the flood length).
const HTTP_HOLD: Duration = Duration::from_secs(15);
/// Where the Redis of the cluster runs.
pub const REDIS: &str = "redis://127.0.0.1:6379";

/// One kind of abuse.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Flood {
    /// Acked events to an async handler, as fast as TCP takes them.
    Handlers,
    /// Events right behind a CONNECT that the node has not accepted yet.
    BehindConnect,
    /// Binary packets whose last attachment never comes.
    PartialBinary,
    /// Large emits to a client that never reads.
    SlowReader,
    /// HTTP requests that never finish, and connections that never send.
    SlowHttp,
}

impl Flood {
    /// Every flood, in the order of the table.
    pub const ALL: [Flood; 5] = [
        Flood::Handlers,
        Flood::BehindConnect,
        Flood::PartialBinary,
        Flood::SlowReader,
        Flood::SlowHttp,
    ];

    /// The name on the command line (`--only`).
    pub fn key(self) -> &'static str {
        match self {
            Flood::Handlers => "handlers",
            Flood::BehindConnect => "connect",
            Flood::PartialBinary => "binary",
            Flood::SlowReader => "reader",
            Flood::SlowHttp => "http",
        }
    }

    /// The name in the table.
    pub fn name(self) -> &'static str {
        match self {
            Flood::Handlers => "handler flood",
            Flood::BehindConnect => "packets behind a CONNECT",
            Flood::PartialBinary => "partial binary packets",
            Flood::SlowReader => "slow reader",
            Flood::SlowHttp => "slow HTTP",
        }
    }

    /// What the client does, for the report.
    fn describe(self) -> &'static str {
        match self {
            Flood::Handlers => {
                "one client writes `slow` events (an async handler that sleeps 10 ms, then acks) \
                 asking for acks, in batches of 64 frames, as fast as TCP takes them, and reads \
                 the acks"
            }
            Flood::BehindConnect => {
                "one client CONNECTs to `/gated` (whose connect handler takes 1 s to accept) and \
                 writes `echo` events right behind it without waiting for the acknowledgement; \
                 refused, it opens a new session and does it again"
            }
            Flood::PartialBinary => {
                "8 sessions at once each announce a binary `echo` of 64 attachments and write 63 \
                 attachments of 1 MB, never the last; dropped, each opens a new session"
            }
            Flood::SlowReader => {
                "one client joins a room, asks `burst` for 1,000 `msg`s of 100 KB to it and \
                 never reads; it writes a small event every 100 ms until a write fails (the \
                 node dropped it), then does it again on a new session"
            }
            Flood::SlowHttp => {
                "500 sockets send an HTTP request line, then one byte of a header every 500 ms, \
                 never ending the header; 500 more connect and send nothing; after 15 s (whatever \
                 the flood length), those the node has not closed are counted"
            }
        }
    }

    async fn run(self, port: u16, length: Duration) -> io::Result<String> {
        match self {
            Flood::Handlers => handlers(port, length).await,
            Flood::BehindConnect => behind_connect(port, length).await,
            Flood::PartialBinary => partial_binary(port, length).await,
            Flood::SlowReader => slow_reader(port, length).await,
            Flood::SlowHttp => slow_http(port).await,
        }
    }
}

/// What one flood did to one node.
#[derive(Debug, Clone)]
pub struct FloodRun {
    /// The flood.
    pub flood: Flood,
    /// The node's adapter URL.
    pub adapter: String,
    /// What was measured, or why nothing was.
    pub outcome: Result<Measured, String>,
    /// CPU seconds the node used.
    pub cpu: f64,
}

/// The figures of one flood.
#[derive(Debug, Clone)]
pub struct Measured {
    /// The node's RSS after the warm-up, in bytes.
    pub baseline: u64,
    /// The most its RSS grew past the baseline during the flood and the second after, in bytes.
    pub peak_growth: u64,
    /// How far above the baseline its RSS was 1 s after the client stopped, in bytes (`None`:
    /// the process was gone).
    pub growth_after: Option<u64>,
    /// What the client managed, in words.
    pub managed: String,
    /// An ordinary client's echo round trip after the flood, or why it got none.
    pub echo_after: Result<Duration, String>,
}

/// Reads a process's RSS every [`SAMPLE_EVERY`] on a thread of its own (the load generator's
/// one-thread runtime is busy flooding), keeping the highest.
struct Sampler {
    stop: Arc<AtomicBool>,
    peak: Arc<AtomicU64>,
    thread: std::thread::JoinHandle<()>,
}

impl Sampler {
    fn start(pid: u32) -> Sampler {
        let stop = Arc::new(AtomicBool::new(false));
        let peak = Arc::new(AtomicU64::new(0));
        let (s, p) = (stop.clone(), peak.clone());
        let thread = std::thread::spawn(move || loop {
            p.fetch_max(procfs::rss_bytes(pid), Ordering::Relaxed);
            if s.load(Ordering::Relaxed) {
                break;
            }
            std::thread::sleep(SAMPLE_EVERY);
        });
        Sampler { stop, peak, thread }
    }

    /// Stops sampling; the highest RSS seen, in bytes.
    fn peak(self) -> u64 {
        self.stop.store(true, Ordering::Relaxed);
        let _ = self.thread.join();
        self.peak.load(Ordering::Relaxed)
    }
}

/// Runs `floods` against a fresh Volley node with each of `adapters` (URLs: `memory`,
/// `redis://…`), `length` each; the cluster channels are prefixed with `prefix` and a count.
pub async fn run_all(
    env: &Env,
    adapters: &[String],
    floods: &[Flood],
    length: Duration,
    prefix: &str,
) -> Vec<FloodRun> {
    let mut runs = Vec::new();
    for adapter in adapters {
        for &flood in floods {
            eprintln!(
                "[bench] floods: {} against Volley ({adapter})",
                flood.name()
            );
            let prefix = format!("{prefix}-floods-{}", runs.len() + 1);
            let run = measure(env, flood, adapter, &prefix, length).await;
            match &run.outcome {
                Ok(m) => eprintln!(
                    "[bench]   peak growth {}, {}",
                    mib(m.peak_growth),
                    m.managed
                ),
                Err(why) => eprintln!("[bench]   not measured: {why}"),
            }
            runs.push(run);
        }
    }
    runs
}

/// One flood against a fresh node.
async fn measure(
    env: &Env,
    flood: Flood,
    adapter: &str,
    prefix: &str,
    length: Duration,
) -> FloodRun {
    let server = match servers::start(env, Kind::Volley, adapter, prefix) {
        Ok(server) => server,
        Err(e) => {
            return FloodRun {
                flood,
                adapter: adapter.to_owned(),
                outcome: Err(e.to_string()),
                cpu: 0.0,
            }
        }
    };
    let (pid, port) = (server.pid, server.port);
    let outcome = async {
        warm(port).await.map_err(|e| format!("warm-up: {e}"))?;
        let baseline = procfs::rss_bytes(pid);
        let sampler = Sampler::start(pid);
        let managed = flood.run(port, length).await;
        tokio::time::sleep(SETTLE).await;
        let after = procfs::rss_bytes(pid);
        let peak = sampler.peak();
        let managed = managed.map_err(|e| format!("the flood itself failed: {e}"))?;
        Ok::<_, String>(Measured {
            baseline,
            peak_growth: peak.saturating_sub(baseline),
            growth_after: (after > 0).then(|| after.saturating_sub(baseline)),
            managed,
            echo_after: echo_after(port).await,
        })
    }
    .await;
    FloodRun {
        flood,
        adapter: adapter.to_owned(),
        outcome,
        cpu: server.stop(),
    }
}

/// An ordinary client's visit, so that the baseline holds the app's warm state.
async fn warm(port: u16) -> io::Result<()> {
    let mut c = Client::connect(&Target::local(port), 0).await?;
    c.call(1, br#"["echo","warm"]"#).await?;
    c.call(2, br#"["join","warm"]"#).await?;
    c.call(3, br#"["slow","warm"]"#).await?;
    c.close().await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    Ok(())
}

/// An ordinary client connects and gets an echo back: the round trip, connect included.
async fn echo_after(port: u16) -> Result<Duration, String> {
    let started = Instant::now();
    let visit = async {
        let mut c = Client::connect(&Target::local(port), 0).await?;
        c.call(1, br#"["echo","still up?"]"#).await?;
        let took = started.elapsed();
        c.close().await;
        Ok::<_, io::Error>(took)
    };
    match tokio::time::timeout(ECHO_WITHIN, visit).await {
        Ok(Ok(took)) => Ok(took),
        Ok(Err(e)) => Err(e.to_string()),
        Err(_) => Err(format!("no echo within {}", secs(ECHO_WITHIN))),
    }
}

// --- a raw connection, read and written from two tasks ---------------------------------------

/// The reading half of a WebSocket to the node.
struct Reader {
    half: OwnedReadHalf,
    buf: Vec<u8>,
}

impl Reader {
    /// The next data frame's payload; `None` once the node closed (a close frame or the end of
    /// the stream).
    async fn next(&mut self) -> io::Result<Option<Vec<u8>>> {
        loop {
            if let Some(h) = ws::frame_header(&self.buf)? {
                let end = h.header + h.len;
                if self.buf.len() >= end {
                    let payload = self.buf[h.header..end].to_vec();
                    self.buf.drain(..end);
                    match h.first & 0x0f {
                        1 | 2 => return Ok(Some(payload)),
                        8 => return Ok(None),
                        _ => continue,
                    }
                }
            }
            if self.half.read_buf(&mut self.buf).await? == 0 {
                return Ok(None);
            }
        }
    }
}

/// A WebSocket to the node on `port`, upgraded; nothing read past the upgrade.
async fn open(port: u16) -> io::Result<(Reader, OwnedWriteHalf)> {
    let addr = SocketAddr::from(([127, 0, 0, 1], port));
    let ws = Ws::connect(addr, None, "/socket.io/?EIO=4&transport=websocket").await?;
    let (stream, buf) = ws.into_parts();
    let (half, write) = stream.into_split();
    Ok((Reader { half, buf }, write))
}

/// Appends a text frame carrying `packet`.
fn text(out: &mut Vec<u8>, packet: &[u8]) {
    ws::encode_frame(out, 0x81, packet);
}

/// [`open`], then a CONNECT to `/` and its acknowledgement, as a client library does.
async fn connected(port: u16) -> io::Result<(Reader, OwnedWriteHalf)> {
    let (mut rd, mut wr) = open(port).await?;
    let mut frame = Vec::new();
    text(&mut frame, b"40");
    wr.write_all(&frame).await?;
    loop {
        match rd.next().await? {
            Some(p) if p.starts_with(b"40") => return Ok((rd, wr)),
            Some(p) if p.starts_with(b"44") => {
                return Err(io::Error::other(String::from_utf8_lossy(&p).into_owned()))
            }
            Some(_) => {}
            None => {
                return Err(io::Error::other(
                    "closed before the CONNECT was acknowledged",
                ))
            }
        }
    }
}

/// What a session's reader saw.
#[derive(Debug, Default)]
struct Seen {
    /// Acks (`43…`).
    acks: Cell<u64>,
    /// CONNECT acknowledgements (`40…`) after the reader started.
    accepted: Cell<u64>,
    /// CONNECT_ERRORs (`44…`).
    refused: Cell<u64>,
    /// DISCONNECTs (`41…`).
    disconnected: Cell<u64>,
    /// The node closed the connection.
    closed: Cell<bool>,
}

/// Reads the session to its end on a task of its own, counting into `seen`.
fn watch(mut rd: Reader, seen: Rc<Seen>) -> JoinHandle<()> {
    spawn_local(async move {
        while let Ok(Some(p)) = rd.next().await {
            let counter = match p.get(..2) {
                Some(b"43") => &seen.acks,
                Some(b"40") => &seen.accepted,
                Some(b"44") => &seen.refused,
                Some(b"41") => &seen.disconnected,
                _ => continue,
            };
            counter.set(counter.get() + 1);
        }
        seen.closed.set(true);
    })
}

/// Waits up to a second for a session's reader to see the end, then stops it.
async fn finish(reader: JoinHandle<()>) {
    let abort = reader.abort_handle();
    if tokio::time::timeout(SETTLE, reader).await.is_err() {
        abort.abort();
    }
}

fn deadline_after(length: Duration) -> tokio::time::Instant {
    tokio::time::Instant::now() + length
}

/// `n` with thousands separators (and no decimals below 1,000, unlike [`num`]).
fn count(n: u64) -> String {
    if n < 1000 {
        n.to_string()
    } else {
        num(n as f64)
    }
}

/// `n` and `noun`, plural unless `n` is 1.
fn counted(n: u64, noun: &str) -> String {
    let s = if n == 1 { "" } else { "s" };
    format!("{} {noun}{s}", count(n))
}

/// ", N connects failed" when some did.
fn failed_connects(failed: u64) -> String {
    if failed > 0 {
        format!(", {} connects failed", count(failed))
    } else {
        String::new()
    }
}

// --- the floods --------------------------------------------------------------------------------

/// Frames written with one system call by the floods that write small frames.
const BATCH: u64 = 64;

async fn handlers(port: u16, length: Duration) -> io::Result<String> {
    let (rd, mut wr) = connected(port).await?;
    let seen = Rc::new(Seen::default());
    let reader = watch(rd, seen.clone());
    let written = Cell::new(0u64);
    let mut batch = Vec::new();
    let _ = tokio::time::timeout(length, async {
        let mut n = written.get();
        while !seen.closed.get() {
            batch.clear();
            for _ in 0..BATCH {
                n += 1;
                text(&mut batch, format!(r#"42{n}["slow",{n}]"#).as_bytes());
            }
            if wr.write_all(&batch).await.is_err() {
                break;
            }
            written.set(n);
        }
    })
    .await;
    let acked_by_the_end = seen.acks.get();
    // the acks of what the node had read already, for a second more
    tokio::time::sleep(SETTLE).await;
    drop(wr);
    let acked = seen.acks.get();
    let ended = ending(&seen);
    finish(reader).await;
    Ok(format!(
        "{} `slow` events written, {} acked ({} during the flood){ended}",
        count(written.get()),
        count(acked),
        count(acked_by_the_end),
    ))
}

/// How a session ended, in words (empty when the node kept it).
fn ending(seen: &Seen) -> String {
    match (seen.disconnected.get(), seen.closed.get()) {
        (0, false) => String::new(),
        (0, true) => "; the node closed the connection".to_owned(),
        (_, _) => "; the node disconnected it".to_owned(),
    }
}

async fn behind_connect(port: u16, length: Duration) -> io::Result<String> {
    let deadline = deadline_after(length);
    let (mut sessions, mut written, mut refused, mut accepted, mut failed) = (0u64, 0, 0, 0, 0);
    while tokio::time::Instant::now() < deadline {
        let Ok((rd, mut wr)) = open(port).await else {
            failed += 1;
            tokio::time::sleep(Duration::from_millis(10)).await;
            continue;
        };
        sessions += 1;
        let seen = Rc::new(Seen::default());
        let reader = watch(rd, seen.clone());
        let mut batch = Vec::new();
        text(&mut batch, b"40/gated,");
        let mut n = 0u64;
        let _ = tokio::time::timeout_at(deadline, async {
            while !seen.closed.get() && seen.refused.get() == 0 {
                for _ in 0..BATCH {
                    n += 1;
                    text(&mut batch, format!(r#"42/gated,["echo",{n}]"#).as_bytes());
                }
                if wr.write_all(&batch).await.is_err() {
                    break;
                }
                written += BATCH;
                batch.clear();
                // lets the reader see a refusal
                tokio::task::yield_now().await;
            }
        })
        .await;
        drop(wr);
        finish(reader).await;
        refused += seen.refused.get();
        accepted += seen.accepted.get();
    }
    Ok(format!(
        "{}, {} events written behind their CONNECTs; {} refused with a \
         CONNECT_ERROR, {} accepted{}",
        counted(sessions, "session"),
        count(written),
        count(refused),
        count(accepted),
        failed_connects(failed)
    ))
}

#[derive(Debug, Default)]
struct BinaryTotals {
    sessions: Cell<u64>,
    attachments: Cell<u64>,
    disconnected: Cell<u64>,
    closed: Cell<u64>,
    kept: Cell<u64>,
}

fn add(c: &Cell<u64>, n: u64) {
    c.set(c.get() + n);
}

async fn partial_binary(port: u16, length: Duration) -> io::Result<String> {
    let deadline = deadline_after(length);
    let placeholders: Vec<String> = (0..ANNOUNCED)
        .map(|n| format!(r#"{{"_placeholder":true,"num":{n}}}"#))
        .collect();
    let mut announce = Vec::new();
    let packet = format!(r#"45{ANNOUNCED}-["echo",{}]"#, placeholders.join(","));
    text(&mut announce, packet.as_bytes());
    let mut attachment = Vec::with_capacity(ATTACHMENT + 16);
    ws::encode_frame(&mut attachment, 0x82, &vec![7u8; ATTACHMENT]);
    let (announce, attachment) = (Rc::new(announce), Rc::new(attachment));
    let totals = Rc::new(BinaryTotals::default());
    let tasks: Vec<JoinHandle<()>> = (0..BINARY_SESSIONS)
        .map(|_| {
            let (announce, attachment, totals) =
                (announce.clone(), attachment.clone(), totals.clone());
            spawn_local(async move {
                while tokio::time::Instant::now() < deadline {
                    let Ok((rd, mut wr)) = connected(port).await else {
                        tokio::time::sleep(Duration::from_millis(10)).await;
                        continue;
                    };
                    add(&totals.sessions, 1);
                    let seen = Rc::new(Seen::default());
                    let reader = watch(rd, seen.clone());
                    let _ = tokio::time::timeout_at(deadline, async {
                        if wr.write_all(&announce).await.is_err() {
                            return;
                        }
                        for _ in 1..ANNOUNCED {
                            if seen.closed.get() || wr.write_all(&attachment).await.is_err() {
                                return;
                            }
                            add(&totals.attachments, 1);
                        }
                        // never the last one: wait for the node to give up on the packet
                        while !seen.closed.get() {
                            tokio::time::sleep(Duration::from_millis(10)).await;
                        }
                    })
                    .await;
                    drop(wr);
                    finish(reader).await;
                    if seen.disconnected.get() > 0 {
                        add(&totals.disconnected, 1);
                    } else if seen.closed.get() {
                        add(&totals.closed, 1);
                    } else {
                        add(&totals.kept, 1);
                    }
                }
            })
        })
        .collect();
    for task in tasks {
        let _ = task.await;
    }
    let sessions = totals.sessions.get();
    let attachments = totals.attachments.get();
    Ok(format!(
        "{}, {} attachments of 1 MB written ({:.1} per session); {} disconnected with \
         a DISCONNECT, {} closed without one, {} still open at the end",
        counted(sessions, "session"),
        count(attachments),
        attachments as f64 / sessions.max(1) as f64,
        count(totals.disconnected.get()),
        count(totals.closed.get()),
        count(totals.kept.get())
    ))
}

async fn slow_reader(port: u16, length: Duration) -> io::Result<String> {
    let deadline = deadline_after(length);
    let payload = "x".repeat(BURST_PAYLOAD);
    let mut probe = Vec::new();
    text(&mut probe, br#"42["echo","probe"]"#);
    let (mut sessions, mut dropped_after, mut failed) = (0u64, Vec::new(), 0u64);
    while tokio::time::Instant::now() < deadline {
        let Ok((rd, mut wr)) = connected(port).await else {
            failed += 1;
            tokio::time::sleep(Duration::from_millis(10)).await;
            continue;
        };
        sessions += 1;
        let room = format!("slow-reader-{sessions}");
        let mut ask = Vec::new();
        let join = serde_json::to_vec(&("join", &room)).map_err(io::Error::other)?;
        let burst = serde_json::json!(["burst", {
            "room": room, "from": 0, "count": BURST, "payload": payload
        }]);
        text(&mut ask, &[b"42".as_slice(), &join].concat());
        text(&mut ask, format!("42{burst}").as_bytes());
        let asked = Instant::now();
        let dropped =
            tokio::time::timeout_at(deadline, ask_then_probe(&mut wr, &ask, &probe)).await;
        if dropped.is_ok() {
            dropped_after.push(asked.elapsed().as_secs_f64());
        }
        // never read, even now: the unread `msg`s go with the connection
        drop((rd, wr));
    }
    let drops = dropped_after.len();
    let when = if drops > 0 {
        format!(", a median {:.2} s after its ask", median(&dropped_after))
    } else {
        String::new()
    };
    Ok(format!(
        "{}, each asking for {} × 100 KB and reading none; {} dropped by the \
         node{when}{}",
        counted(sessions, "session"),
        count(BURST),
        count(drops as u64),
        failed_connects(failed)
    ))
}

/// Writes `ask`, then `probe` every 100 ms, never reading, until a write fails: the error.
async fn ask_then_probe(wr: &mut OwnedWriteHalf, ask: &[u8], probe: &[u8]) -> io::Error {
    if let Err(e) = wr.write_all(ask).await {
        return e;
    }
    loop {
        tokio::time::sleep(Duration::from_millis(100)).await;
        if let Err(e) = wr.write_all(probe).await {
            return e;
        }
    }
}

/// Whether the node still holds a socket open: nothing to read yet, and no end or reset.
fn still_open(socket: &std::net::TcpStream) -> bool {
    let mut byte = [0u8; 1];
    matches!(socket.peek(&mut byte), Err(e) if e.kind() == io::ErrorKind::WouldBlock)
}

async fn slow_http(port: u16) -> io::Result<String> {
    let addr = SocketAddr::from(([127, 0, 0, 1], port));
    let connect = || -> io::Result<std::net::TcpStream> {
        let s = std::net::TcpStream::connect(addr)?;
        s.set_nonblocking(true)?;
        Ok(s)
    };
    let mut dribbling = Vec::with_capacity(HTTP_SOCKETS);
    let mut silent = Vec::with_capacity(HTTP_SOCKETS);
    for _ in 0..HTTP_SOCKETS {
        dribbling.push(connect()?);
        silent.push(connect()?);
    }
    let line =
        format!("GET /socket.io/?EIO=4&transport=polling HTTP/1.1\r\nHost: {addr}\r\nX-Dribble: ");
    for s in &dribbling {
        let _ = io::Write::write(&mut &*s, line.as_bytes());
    }
    let started = tokio::time::Instant::now();
    while started.elapsed() < HTTP_HOLD {
        tokio::time::sleep(Duration::from_millis(500)).await;
        for s in &dribbling {
            let _ = io::Write::write(&mut &*s, b"a");
        }
    }
    let open = |all: &[std::net::TcpStream]| all.iter().filter(|s| still_open(s)).count();
    let (d, s) = (open(&dribbling), open(&silent));
    Ok(format!(
        "after {}: {d} of {HTTP_SOCKETS} dribbling and {s} of {HTTP_SOCKETS} silent sockets \
         still open",
        secs(HTTP_HOLD)
    ))
}

// --- the report ---------------------------------------------------------------------------------

fn mib(bytes: u64) -> String {
    format!("{:.1} MiB", bytes as f64 / (1024.0 * 1024.0))
}

/// The floods' table (markdown).
pub fn table(runs: &[FloodRun]) -> String {
    let rows: Vec<Vec<String>> = runs
        .iter()
        .map(|r| {
            let mut row = vec![r.flood.name().to_owned(), r.adapter.clone()];
            match &r.outcome {
                Ok(m) => {
                    row.push(mib(m.baseline));
                    row.push(format!("**{}**", mib(m.peak_growth)));
                    row.push(m.growth_after.map_or("process gone".to_owned(), mib));
                    row.push(m.managed.clone());
                    row.push(match &m.echo_after {
                        Ok(took) => format!("echoes ({:.1} ms)", took.as_secs_f64() * 1000.0),
                        Err(why) => format!("**no echo**: {why}"),
                    });
                }
                Err(why) => {
                    row.push(format!("not measured: {why}"));
                    row.extend(std::iter::repeat_n(String::new(), 4));
                }
            }
            row
        })
        .collect();
    let mut out = String::new();
    report::table(
        &mut out,
        &[
            "flood",
            "adapter",
            "baseline RSS",
            "peak growth",
            "growth 1 s after",
            "what the client managed",
            "an ordinary client afterwards",
        ],
        &rows,
    );
    out
}

/// The report's section: what each flood does, and the table.
pub fn section(runs: &[FloodRun], length: Duration, not_measured: Option<&str>) -> String {
    let mut out = String::from("## Floods: one abusive client against one Volley node\n\n");
    let _ = write!(
        out,
        "Each flood starts a fresh Volley node, warms it with one ordinary client (an echo, a \
         join, a `slow`), takes its RSS as the baseline, then lets the flood run for {} while \
         the node's RSS (`VmRSS`) is read every 50 ms; the peak growth counts the second after \
         the client stopped too. Afterwards an ordinary client connects and asks for an echo. \
         Volley alone, with its default bounds (see the README's Limits section); no target \
         is checked here (the hostile-client suite bounds one flooding client at 64 MiB).\n\n",
        secs(length)
    );
    for flood in Flood::ALL {
        let _ = writeln!(out, "- {}: {}.", capitalise(flood.name()), flood.describe());
    }
    out.push('\n');
    out.push_str(&table(runs));
    if let Some(why) = not_measured {
        let _ = writeln!(out, "Not measured: {why}.\n");
    }
    out
}

/// Whether something listens where `url` (`redis://host:port`) points.
fn reachable(url: &str) -> bool {
    url.split("://")
        .nth(1)
        .and_then(|rest| rest.split('/').next())
        .and_then(|host| std::net::ToSocketAddrs::to_socket_addrs(host).ok()?.next())
        .is_some_and(|addr| {
            std::net::TcpStream::connect_timeout(&addr, Duration::from_secs(1)).is_ok()
        })
}

impl Bench {
    /// The floods against Volley, alone and with the Redis adapter (when Redis is there).
    pub(super) async fn floods(&mut self) {
        if !self.cfg.servers.contains(&Kind::Volley) {
            return;
        }
        if let Err(why) = self.available(Kind::Volley) {
            self.not_measured.push(format!("the floods ({why})"));
            return;
        }
        let length = if self.cfg.quick {
            Duration::from_secs(3)
        } else {
            Duration::from_secs(10)
        };
        let mut adapters = vec!["memory".to_owned()];
        let not_measured = if reachable(REDIS) {
            adapters.push(REDIS.to_owned());
            None
        } else {
            Some("the floods with the Redis adapter (nothing listens on 127.0.0.1:6379)")
        };
        let prefix = self.new_prefix();
        let runs = run_all(&self.env, &adapters, &Flood::ALL, length, &prefix).await;
        self.servers_cpu += runs.iter().map(|r| r.cpu).sum::<f64>();
        self.sections
            .push_str(&section(&runs, length, not_measured));
    }
}
