//! The load generator: Socket.IO clients speaking Engine.IO v4 / Socket.IO v5 frames directly
//! over a small WebSocket client, one task per connection, on a single-threaded runtime (the
//! load generator is pinned to one core). Every result carries the load generator's own CPU
//! share, so a reader can see it was not the bottleneck.
//!
//! The scenario functions here must run inside a [`tokio::task::LocalSet`] on a current-thread
//! runtime: connection tasks share counters through `Rc`.

pub mod emitter;
pub mod pacer;
pub mod polling;
pub mod recovery;
pub mod sio;
pub mod ws;

use std::cell::{Cell, RefCell};
use std::collections::{HashMap, VecDeque};
use std::io;
use std::rc::Rc;
use std::time::{Duration, Instant};

use futures_util::stream::{self, StreamExt};
use hdrhistogram::Histogram;
use tokio::sync::{watch, Notify};
use tokio::task::{spawn_local, JoinHandle};

use crate::procfs::{self, Meter, Window};
use crate::sockstat;
use sio::{Client, Packet, Target};

/// The payload of the fan-out and broadcast messages: 64 bytes of text.
pub const PAYLOAD: &str = "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";

/// Connections opened at once while setting up a scenario.
const SETUP_CONCURRENCY: usize = 256;

/// A latency histogram in nanoseconds, up to one minute.
fn histogram() -> Histogram<u64> {
    Histogram::new_with_bounds(1, 60_000_000_000, 3).expect("valid histogram bounds")
}

/// Opens `n` clients, `concurrency` at a time; clients numbered from `first` (which spreads
/// them over the source addresses). Returns the clients and how many failed.
pub async fn connect_all(
    target: &Target,
    first: usize,
    n: usize,
    concurrency: usize,
) -> (Vec<Client>, usize) {
    let results: Vec<io::Result<Client>> = stream::iter(first..first + n)
        .map(|i| Client::connect(target, i))
        .buffer_unordered(concurrency.max(1))
        .collect()
        .await;
    let mut clients = Vec::with_capacity(n);
    let mut failed = 0;
    for r in results {
        match r {
            Ok(c) => clients.push(c),
            Err(e) => {
                if failed == 0 {
                    eprintln!("  connection failed: {e}");
                }
                failed += 1;
            }
        }
    }
    (clients, failed)
}

/// Puts every client in a room (`room_of(i)` for client `i`), waiting for each join's ack; the
/// clients come back in their order.
pub async fn join_all(
    clients: Vec<Client>,
    room_of: impl Fn(usize) -> String,
) -> io::Result<Vec<Client>> {
    let joined: Vec<io::Result<Client>> = stream::iter(clients.into_iter().enumerate())
        .map(|(i, mut c)| {
            let json = serde_json::to_vec(&("join", room_of(i))).unwrap_or_default();
            async move {
                c.call(1, &json).await?;
                Ok(c)
            }
        })
        .buffered(SETUP_CONCURRENCY)
        .collect()
        .await;
    joined.into_iter().collect()
}

/// Connection tasks that run until told to stop, then close their connections.
pub struct Tasks {
    stop: watch::Sender<bool>,
    handles: Vec<JoinHandle<()>>,
    /// Connections that ended with an error (closed by the server, malformed frames).
    pub errors: Rc<Cell<u64>>,
}

impl Tasks {
    fn new() -> Tasks {
        Tasks {
            stop: watch::channel(false).0,
            handles: Vec::new(),
            errors: Rc::new(Cell::new(0)),
        }
    }

    /// Runs `on_packet` for every packet `c` receives (it may queue frames to send) until stop.
    fn spawn(&mut self, mut c: Client, mut on_packet: impl FnMut(&mut Client, Packet) + 'static) {
        let mut stop = self.stop.subscribe();
        let errors = self.errors.clone();
        self.handles.push(spawn_local(async move {
            let result: io::Result<()> = async {
                loop {
                    while let Some(p) = c.next_packet()? {
                        on_packet(&mut c, p);
                    }
                    c.flush().await?;
                    tokio::select! {
                        r = c.fill() => if !r? { return Err(io::Error::other("closed")) },
                        _ = stop.changed() => return Ok(()),
                    }
                }
            }
            .await;
            match result {
                Ok(()) => c.close().await,
                Err(e) => {
                    if errors.get() < 3 {
                        eprintln!("  connection lost: {e}");
                    }
                    errors.set(errors.get() + 1)
                }
            }
        }));
    }

    /// Holds idle clients: they only answer pings.
    pub fn hold(clients: Vec<Client>) -> Tasks {
        let mut t = Tasks::new();
        for c in clients {
            t.spawn(c, |_, _| {});
        }
        t
    }

    /// Stops every task and waits until their connections are closed.
    pub async fn close(self) -> u64 {
        let _ = self.stop.send(true);
        for h in self.handles {
            let _ = h.await;
        }
        self.errors.get()
    }
}

/// The idle-connection scenario: RSS growth of the server per connection.
#[derive(Debug, Clone, Copy, Default)]
pub struct IdleResult {
    /// Connections held.
    pub conns: usize,
    /// Connections that failed.
    pub failed: usize,
    /// Server RSS before, bytes.
    pub rss_before: u64,
    /// Server RSS with every connection open, bytes.
    pub rss_after: u64,
    /// The load generator's CPU share while connecting.
    pub loadgen_share: f64,
}

impl IdleResult {
    /// RSS growth per connection, bytes.
    pub fn per_conn(&self) -> f64 {
        (self.rss_after as f64 - self.rss_before as f64) / self.conns.max(1) as f64
    }
}

/// Opens `n` idle connections to a fresh server `pid`, waits `settle`, and measures its RSS.
pub async fn idle(target: &Target, pid: u32, n: usize, settle: Duration) -> IdleResult {
    // warm-up: the first connections load code and allocate pools once
    let (warm, _) = connect_all(target, 0, 200, SETUP_CONCURRENCY).await;
    for c in warm {
        c.close().await;
    }
    tokio::time::sleep(settle).await;
    let rss_before = procfs::rss_bytes(pid);
    let meter = Meter::start(&[pid]);
    let (clients, failed) = connect_all(target, 1000, n, SETUP_CONCURRENCY).await;
    let w = meter.read();
    let conns = clients.len();
    let held = Tasks::hold(clients);
    tokio::time::sleep(settle).await;
    let rss_after = procfs::rss_bytes(pid);
    held.close().await;
    IdleResult {
        conns,
        failed,
        rss_before,
        rss_after,
        loadgen_share: w.loadgen_share,
    }
}

/// A count over a measured window.
#[derive(Debug, Clone, Copy, Default)]
pub struct Rate {
    /// What was counted (connections, round trips, deliveries).
    pub count: u64,
    /// The window.
    pub window: Window,
    /// Errors (failed connections, connections lost).
    pub errors: u64,
}

impl Rate {
    /// Per second of wall-clock time.
    pub fn per_sec(&self) -> f64 {
        self.count as f64 / self.window.wall.as_secs_f64().max(1e-9)
    }

    /// Per CPU-second of the server(s).
    pub fn per_cpu_sec(&self) -> f64 {
        self.count as f64 / self.window.server_cpu.max(1e-9)
    }

    /// The servers' CPU time over the wall time.
    pub fn server_share(&self) -> f64 {
        self.window.server_cpu / self.window.wall.as_secs_f64().max(1e-9)
    }

    /// The part of the servers' CPU time spent in the kernel.
    pub fn kernel_share(&self) -> f64 {
        self.window.server_system / self.window.server_cpu.max(1e-9)
    }
}

/// The connect storm: `n` clients connect, `concurrency` at a time; counts connections
/// established (Socket.IO CONNECT acknowledged) per second. They are closed afterwards.
pub async fn storm(target: &Target, pid: u32, first: usize, n: usize, concurrency: usize) -> Rate {
    let meter = Meter::start(&[pid]);
    let (clients, failed) = connect_all(target, first, n, concurrency).await;
    let window = meter.read();
    let count = clients.len() as u64;
    let _ = stream::iter(clients)
        .for_each_concurrent(SETUP_CONCURRENCY, |c| c.close())
        .await;
    Rate {
        count,
        window,
        errors: failed as u64,
    }
}

/// Measures a counter over `duration` after `warmup`.
async fn measure(
    pids: &[u32],
    counter: &Cell<u64>,
    warmup: Duration,
    duration: Duration,
) -> (u64, Window) {
    tokio::time::sleep(warmup).await;
    let c0 = counter.get();
    let meter = Meter::start(pids);
    tokio::time::sleep(duration).await;
    (counter.get() - c0, meter.read())
}

/// The echo event the clients send: `["echo",<id>,"<payload>"]`.
fn echo_json(id: u64) -> Vec<u8> {
    format!("[\"echo\",{id},\"ping\"]").into_bytes()
}

/// Ack echo at full speed: `conns` clients each keep `depth` echo events waiting for their ack.
pub async fn echo_max(
    target: &Target,
    pid: u32,
    conns: usize,
    depth: usize,
    warmup: Duration,
    duration: Duration,
) -> io::Result<Rate> {
    let (clients, failed) = connect_all(target, 0, conns, SETUP_CONCURRENCY).await;
    if failed > 0 {
        return Err(io::Error::other(format!(
            "{failed} clients could not connect"
        )));
    }
    let done = Rc::new(Cell::new(0u64));
    let mut tasks = Tasks::new();
    for mut c in clients {
        for id in 0..depth as u64 {
            c.queue_event(Some(id), &echo_json(id));
        }
        let done = done.clone();
        let mut next = depth as u64;
        tasks.spawn(c, move |c, p| {
            if let Packet::Ack(..) = p {
                done.set(done.get() + 1);
                c.queue_event(Some(next), &echo_json(next));
                next += 1;
            }
        });
    }
    let (count, window) = measure(&[pid], &done, warmup, duration).await;
    let errors = tasks.close().await;
    Ok(Rate {
        count,
        window,
        errors,
    })
}

/// Latency at a fixed offered load.
#[derive(Debug, Clone)]
pub struct Latency {
    /// Offered rate, per second.
    pub offered: f64,
    /// Rate achieved (answers received per second in the window).
    pub achieved: f64,
    /// The measured latencies, nanoseconds.
    pub hist: Histogram<u64>,
    /// CPU use over the window.
    pub window: Window,
    /// Requests not sent because too many were waiting (the server could not keep up).
    pub shed: u64,
    /// Connections lost.
    pub errors: u64,
}

impl Latency {
    /// A percentile, in microseconds (NaN without samples).
    pub fn us(&self, q: f64) -> f64 {
        if self.hist.is_empty() {
            return f64::NAN;
        }
        self.hist.value_at_quantile(q) as f64 / 1000.0
    }
}

/// Ack echo at a fixed offered load: `rate` echo events per second, evenly spaced by a
/// [`pacer::Pacer`] and dealt to the `conns` clients in turn; each latency runs from the moment
/// the event is written to the moment its ack is read.
pub async fn echo_latency(
    target: &Target,
    pid: u32,
    conns: usize,
    rate: f64,
    warmup: Duration,
    duration: Duration,
) -> io::Result<Latency> {
    let (clients, failed) = connect_all(target, 0, conns, SETUP_CONCURRENCY).await;
    if failed > 0 {
        return Err(io::Error::other(format!(
            "{failed} clients could not connect"
        )));
    }
    let conns = clients.len().max(1);
    let hist = Rc::new(RefCell::new(histogram()));
    let measuring = Rc::new(Cell::new(false));
    let answered = Rc::new(Cell::new(0u64));
    let shed = Rc::new(Cell::new(0u64));
    let (stop_tx, _) = watch::channel(false);
    let errors = Rc::new(Cell::new(0u64));
    // events each client owes, and the wake-up that tells it so
    let owed: Rc<Vec<(Cell<u64>, Notify)>> =
        Rc::new((0..conns).map(|_| (Cell::new(0), Notify::new())).collect());
    let mut handles = Vec::new();
    for (i, mut c) in clients.into_iter().enumerate() {
        let (hist, measuring, answered, shed, errors, owed) = (
            hist.clone(),
            measuring.clone(),
            answered.clone(),
            shed.clone(),
            errors.clone(),
            owed.clone(),
        );
        let mut stop = stop_tx.subscribe();
        handles.push(spawn_local(async move {
            let (due, wake) = &owed[i];
            let mut pending: VecDeque<(u64, Instant)> = VecDeque::new();
            let mut next = 0u64;
            let r: io::Result<()> = async {
                loop {
                    while let Some(p) = c.next_packet()? {
                        if let Packet::Ack(id, _) = p {
                            let now = Instant::now();
                            if let Some(pos) = pending.iter().position(|(i, _)| *i == id) {
                                if let Some((_, sent)) = pending.remove(pos) {
                                    if measuring.get() {
                                        let ns = now.duration_since(sent).as_nanos();
                                        let _ = hist
                                            .borrow_mut()
                                            .record(u64::try_from(ns).unwrap_or(u64::MAX).max(1));
                                        answered.set(answered.get() + 1);
                                    }
                                }
                            }
                        }
                    }
                    c.flush().await?;
                    tokio::select! {
                        r = c.fill() => if !r? { return Err(io::Error::other("closed")) },
                        () = wake.notified() => {
                            for _ in 0..due.replace(0) {
                                if pending.len() >= 10_000 {
                                    shed.set(shed.get() + 1);
                                } else {
                                    c.queue_event(Some(next), &echo_json(next));
                                    pending.push_back((next, Instant::now()));
                                    next += 1;
                                }
                            }
                        }
                        _ = stop.changed() => return Ok(()),
                    }
                }
            }
            .await;
            match r {
                Ok(()) => c.close().await,
                Err(_) => errors.set(errors.get() + 1),
            }
        }));
    }
    let pacer = {
        let (owed, mut stop) = (owed.clone(), stop_tx.subscribe());
        let mut pacer = pacer::Pacer::new(rate)?;
        spawn_local(async move {
            let mut k = 0usize;
            loop {
                tokio::select! {
                    ticks = pacer.tick() => {
                        for _ in 0..ticks? {
                            let (due, wake) = &owed[k % conns];
                            due.set(due.get() + 1);
                            wake.notify_one();
                            k = k.wrapping_add(1);
                        }
                    }
                    _ = stop.changed() => return Ok(()),
                }
            }
        })
    };
    tokio::time::sleep(warmup).await;
    measuring.set(true);
    let shed0 = shed.get();
    let meter = Meter::start(&[pid]);
    tokio::time::sleep(duration).await;
    measuring.set(false);
    let window = meter.read();
    let _ = stop_tx.send(true);
    // a pacer that stopped early sent fewer events than offered: no result rather than a
    // wrong one
    let paced: io::Result<()> = pacer.await.unwrap_or_else(|e| Err(io::Error::other(e)));
    for h in handles {
        let _ = h.await;
    }
    paced?;
    let hist = hist.borrow().clone();
    Ok(Latency {
        offered: rate,
        achieved: answered.get() as f64 / window.wall.as_secs_f64().max(1e-9),
        hist,
        window,
        shed: shed.get() - shed0,
        errors: errors.get(),
    })
}

/// One run of a room fan-out.
#[derive(Debug, Clone, Copy)]
pub struct FanoutRun {
    /// Deliveries over the measured window.
    pub rate: Rate,
    /// Data packets the members received per delivery, over the run and its warm-up (`None`
    /// when `ss` could not tell): 1 when the server sent every message in a packet of its own.
    pub packets_per_delivery: Option<f64>,
}

/// Room fan-out: `members` clients spread over `rooms` rooms (`r0`, `r1`, …); one more client
/// sends `fanout` events to the rooms in turn, keeping at most `window` messages not yet fully
/// delivered. Counts deliveries (a `msg` event read by a member).
/// The members connect once; the deliveries are measured `runs` times over `duration`, each
/// after `warmup`.
#[allow(clippy::too_many_arguments)]
pub async fn fanout(
    target: &Target,
    pid: u32,
    members: usize,
    rooms: usize,
    window: u64,
    runs: usize,
    warmup: Duration,
    duration: Duration,
) -> io::Result<Vec<FanoutRun>> {
    let rooms = rooms.max(1);
    let (clients, failed) = connect_all(target, 1, members, SETUP_CONCURRENCY).await;
    if failed > 0 {
        return Err(io::Error::other(format!(
            "{failed} members could not connect"
        )));
    }
    let clients = join_all(clients, |i| format!("r{}", i % rooms)).await?;
    let per_msg = (members / rooms) as u64;
    let delivered = Rc::new(Cell::new(0u64));
    let threshold = Rc::new(Cell::new(0u64));
    let wake = Rc::new(Notify::new());
    let mut tasks = Tasks::new();
    for c in clients {
        let (delivered, threshold, wake) = (delivered.clone(), threshold.clone(), wake.clone());
        tasks.spawn(c, move |_, p| {
            if let Packet::Event(_) = p {
                let d = delivered.get() + 1;
                delivered.set(d);
                if d == threshold.get() {
                    wake.notify_one();
                }
            }
        });
    }
    let (mut senders, _) = connect_all(target, 0, 1, 1).await;
    let Some(mut sender) = senders.pop() else {
        return Err(io::Error::other("the sender could not connect"));
    };
    // the members' packets alone: the sender's connection carries the acks
    let (port, sender_addr) = (target.addr.port(), sender.local_addr().ok());
    let (stop_tx, mut stop) = watch::channel(false);
    let send_task = {
        let (delivered, threshold, wake) = (delivered.clone(), threshold.clone(), wake.clone());
        spawn_local(async move {
            let mut seq = 0u64;
            let r: io::Result<()> = async {
                loop {
                    // send while fewer than `window` messages are incomplete
                    while delivered.get() >= (seq + 1).saturating_sub(window) * per_msg {
                        let json = format!(
                            "[\"fanout\",{{\"room\":\"r{}\",\"seq\":{seq},\"payload\":\"{PAYLOAD}\"}}]",
                            seq % rooms as u64
                        );
                        sender.queue_event(None, json.as_bytes());
                        seq += 1;
                    }
                    threshold.set((seq + 1).saturating_sub(window) * per_msg);
                    while sender.next_packet()?.is_some() {}
                    sender.flush().await?;
                    if delivered.get() >= threshold.get() {
                        continue;
                    }
                    if !wait_for_room(&mut sender, &wake, &mut stop).await? {
                        return Ok(());
                    }
                }
            }
            .await;
            if let Err(e) = r {
                eprintln!("  fan-out sender: {e}");
            }
            sender.close().await;
        })
    };
    let mut rates = Vec::new();
    for _ in 0..runs.max(1) {
        let before = (
            sockstat::data_segments_in(port, sender_addr).await,
            delivered.get(),
        );
        let (count, window) = measure(&[pid], &delivered, warmup, duration).await;
        let after = (
            sockstat::data_segments_in(port, sender_addr).await,
            delivered.get(),
        );
        let packets_per_delivery = match (before, after) {
            ((Ok(p0), d0), (Ok(p1), d1)) if d1 > d0 => {
                Some(p1.saturating_sub(p0) as f64 / (d1 - d0) as f64)
            }
            _ => None,
        };
        rates.push(FanoutRun {
            rate: Rate {
                count,
                window,
                errors: tasks.errors.get(),
            },
            packets_per_delivery,
        });
    }
    let _ = stop_tx.send(true);
    let _ = send_task.await;
    tasks.close().await;
    Ok(rates)
}

/// Cross-node broadcast results.
#[derive(Debug, Clone)]
pub struct Cross {
    /// Broadcasts received by the client on node B at full speed.
    pub rate: Rate,
    /// The added latency at each fixed offered rate.
    pub latencies: Vec<CrossLatency>,
    /// Member connections lost.
    pub errors: u64,
}

/// Added latency (receive on B minus receive on A) at one fixed offered rate.
#[derive(Debug, Clone)]
pub struct CrossLatency {
    /// The latencies, ns.
    pub latency: Latency,
    /// Of the samples, how many arrived on B before A (recorded as 0).
    pub b_first: u64,
    /// Broadcasts of this phase that B never received.
    pub lost: u64,
}

/// Pairs up the arrivals of each broadcast on nodes A and B.
struct Pairing {
    first: HashMap<u64, (bool, Instant)>,
    hist: Histogram<u64>,
    b_first: u64,
    measuring: bool,
}

impl Pairing {
    fn arrive(&mut self, seq: u64, on_b: bool) {
        let now = Instant::now();
        match self.first.remove(&seq) {
            None => {
                self.first.insert(seq, (on_b, now));
            }
            Some((first_on_b, t)) => {
                if !self.measuring || first_on_b == on_b {
                    return;
                }
                let ns = now.duration_since(t).as_nanos();
                let ns = u64::try_from(ns).unwrap_or(u64::MAX).max(1);
                if first_on_b {
                    self.b_first += 1;
                    let _ = self.hist.record(1);
                } else {
                    let _ = self.hist.record(ns);
                }
            }
        }
    }
}

/// A closed-loop sender's pause while its window is full: until `wake` (deliveries caught up),
/// or 50 ms (a lost wake-up, such as a member that closed, must not stall the sender for good),
/// reading the sender's own acks meanwhile. `false` once told to stop.
async fn wait_for_room(
    sender: &mut Client,
    wake: &Notify,
    stop: &mut watch::Receiver<bool>,
) -> io::Result<bool> {
    tokio::select! {
        _ = wake.notified() => {}
        r = sender.fill() => if !r? { return Err(io::Error::other("closed")) },
        _ = stop.changed() => return Ok(false),
        _ = tokio::time::sleep(Duration::from_millis(50)) => {}
    }
    Ok(true)
}

/// Cross-node broadcast through the servers' message bus. A client on node A sends `burst`
/// events (each makes A emit `count` broadcasts to room `x`); one member of `x` is connected to
/// A and one to B. First, for each of `latency_rates`, that many broadcasts per second (one
/// burst per millisecond) for the added latency: B's receive time minus A's. Then full speed:
/// bursts of `window / 4`, with at most `window` broadcasts not yet received by both members;
/// counted on B (unless `full_speed` is false: the rate is then zero).
#[allow(clippy::too_many_arguments)]
pub async fn cross_node(
    a: &Target,
    b: &Target,
    pids: &[u32],
    window: u64,
    latency_rates: &[f64],
    full_speed: bool,
    warmup: Duration,
    duration: Duration,
) -> io::Result<Cross> {
    let (mut on_a, fa) = connect_all(a, 1, 2, 2).await;
    let (on_b, fb) = connect_all(b, 3, 1, 1).await;
    if fa + fb > 0 || on_a.len() != 2 || on_b.len() != 1 {
        return Err(io::Error::other("the cross-node clients could not connect"));
    }
    let Some(mut sender) = on_a.pop() else {
        return Err(io::Error::other("no sender"));
    };
    let receivers: Vec<Client> = on_a.into_iter().chain(on_b).collect();
    let receivers = join_all(receivers, |_| "x".to_owned()).await?;
    let pairing = Rc::new(RefCell::new(Pairing {
        first: HashMap::new(),
        hist: histogram(),
        b_first: 0,
        measuring: false,
    }));
    let got_b = Rc::new(Cell::new(0u64));
    // the fewest broadcasts received by either member: the window is kept on it, so that neither
    // node's outgoing queue to its member grows past the window
    let got_a = Rc::new(Cell::new(0u64));
    let got_min = Rc::new(Cell::new(0u64));
    let threshold = Rc::new(Cell::new(0u64));
    let wake = Rc::new(Notify::new());
    let mut tasks = Tasks::new();
    for (i, c) in receivers.into_iter().enumerate() {
        let on_b = i == 1;
        let (pairing, got_a, got_b, got_min, threshold, wake) = (
            pairing.clone(),
            got_a.clone(),
            got_b.clone(),
            got_min.clone(),
            threshold.clone(),
            wake.clone(),
        );
        tasks.spawn(c, move |c, p| {
            if let Packet::Event(range) = p {
                let Some(seq) = sio::msg_seq(c.bytes(range)) else {
                    return;
                };
                pairing.borrow_mut().arrive(seq, on_b);
                let mine = if on_b { &got_b } else { &got_a };
                mine.set(mine.get() + 1);
                let min = got_a.get().min(got_b.get());
                if min > got_min.get() {
                    got_min.set(min);
                    if min == threshold.get() {
                        wake.notify_one();
                    }
                }
            }
        });
    }
    // wait until B hears A: probe broadcasts until one arrives
    let mut seq = 1u64;
    let mut id = 10u64;
    let ready_by = Instant::now() + Duration::from_secs(15);
    while got_b.get() == 0 {
        if Instant::now() > ready_by {
            tasks.close().await;
            return Err(io::Error::other(
                "node B never received a broadcast from node A",
            ));
        }
        let json = format!(
            "[\"burst\",{{\"room\":\"x\",\"from\":{seq},\"count\":1,\"payload\":\"{PAYLOAD}\"}}]"
        );
        sender.call(id, json.as_bytes()).await?;
        seq += 1;
        id += 1;
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    tokio::time::sleep(Duration::from_millis(200)).await;
    // phase 1: fixed rates, one burst per millisecond. First, while the broker holds little: a
    // broker whose reads slow as its log grows (tansu) would otherwise give this phase the
    // log the full-speed phase left behind.
    let mut latencies = Vec::new();
    for &latency_rate in latency_rates {
        let per_ms = (latency_rate / 1000.0).round().max(1.0) as u64;
        seq += 1_000_000;
        let first_seq = seq;
        {
            let mut p = pairing.borrow_mut();
            p.first.clear();
            p.hist.reset();
            p.b_first = 0;
        }
        let b_before = got_b.get();
        let mut tick = tokio::time::interval(Duration::from_millis(1));
        let warm_until = Instant::now() + warmup;
        let end = warm_until + duration;
        let mut meter: Option<Meter> = None;
        loop {
            let now = Instant::now();
            if now >= end {
                break;
            }
            if meter.is_none() && now >= warm_until {
                pairing.borrow_mut().measuring = true;
                meter = Some(Meter::start(pids));
            }
            let json = format!("[\"burst\",{{\"room\":\"x\",\"from\":{seq},\"count\":{per_ms},\"payload\":\"{PAYLOAD}\"}}]");
            sender.queue_event(None, json.as_bytes());
            seq += per_ms;
            while sender.next_packet()?.is_some() {}
            sender.flush().await?;
            tick.tick().await;
        }
        let window = meter.map(|m| m.read()).unwrap_or_default();
        pairing.borrow_mut().measuring = false;
        // let the last ones arrive
        tokio::time::sleep(Duration::from_millis(500)).await;
        while sender.next_packet()?.is_some() {}
        let received_b = got_b.get() - b_before;
        let (hist, b_first) = {
            let p = pairing.borrow();
            (p.hist.clone(), p.b_first)
        };
        let achieved = hist.len() as f64 / window.wall.as_secs_f64().max(1e-9);
        latencies.push(CrossLatency {
            latency: Latency {
                offered: latency_rate,
                achieved,
                hist,
                window,
                shed: 0,
                errors: 0,
            },
            b_first,
            lost: (seq - first_seq).saturating_sub(received_b),
        });
    }
    // phase 2: full speed
    let mut rate = Rate::default();
    if full_speed {
        let burst = (window / 4).max(1);
        let (stop_tx, stop_rx) = watch::channel(false);
        let base = got_min.get();
        let sender_task = {
            let (got_min, threshold, wake) = (got_min.clone(), threshold.clone(), wake.clone());
            let mut stop = stop_rx.clone();
            spawn_local(async move {
                let mut sent = 0u64;
                let r: io::Result<()> = async {
                    loop {
                        while sent + burst <= (got_min.get() - base) + window {
                            let json = format!("[\"burst\",{{\"room\":\"x\",\"from\":{seq},\"count\":{burst},\"payload\":\"{PAYLOAD}\"}}]");
                            sender.queue_event(None, json.as_bytes());
                            seq += burst;
                            sent += burst;
                        }
                        threshold.set(base + (sent + burst).saturating_sub(window));
                        if got_min.get() >= threshold.get() {
                            continue;
                        }
                        while sender.next_packet()?.is_some() {}
                        sender.flush().await?;
                        if !wait_for_room(&mut sender, &wake, &mut stop).await? {
                            return Ok(());
                        }
                    }
                }
                .await;
                if let Err(e) = r {
                    eprintln!("  cross-node sender: {e}");
                }
                sender
            })
        };
        let (count, win) = measure(pids, &got_b, warmup, duration).await;
        let _ = stop_tx.send(true);
        sender = sender_task
            .await
            .map_err(|e| io::Error::other(e.to_string()))?;
        rate = Rate {
            count,
            window: win,
            errors: 0,
        };
        // let what is still on its way arrive before the clients close
        let mut last = got_b.get();
        loop {
            tokio::time::sleep(Duration::from_millis(300)).await;
            while sender.next_packet()?.is_some() {}
            if got_b.get() == last {
                break;
            }
            last = got_b.get();
        }
    }
    sender.close().await;
    let errors = tasks.close().await;
    Ok(Cross {
        rate,
        latencies,
        errors,
    })
}
