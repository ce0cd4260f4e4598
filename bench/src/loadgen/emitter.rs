//! Emitter → client latency: the load generator publishes `msg` events to a room with
//! `volley-emitter` (the wire format of Node's `@socket.io/redis-emitter`) straight into Redis,
//! and clients connected to one server read them. Each event carries its sequence number; a
//! latency runs from just before the publish to the moment a client reads the event.
//!
//! Like the rest of [`crate::loadgen`], this runs inside a [`tokio::task::LocalSet`] on a
//! current-thread runtime.

use std::cell::{Cell, RefCell};
use std::io;
use std::rc::Rc;
use std::time::{Duration, Instant};

use hdrhistogram::Histogram;
use tokio::task::spawn_local;
use volley_emitter::Emitter;

use super::sio::{self, Packet, Target};
use super::{connect_all, histogram, join_all, Latency, Tasks, PAYLOAD, SETUP_CONCURRENCY};
use crate::procfs::{self, Meter};

/// The room the clients join and the emitter publishes to.
pub const ROOM: &str = "e";

/// What one run publishes, and to whom.
#[derive(Debug, Clone)]
pub struct EmitterLoad<'a> {
    /// The Redis URL the emitter publishes on (the server's adapter URL).
    pub redis_url: &'a str,
    /// The emitter's key (channel prefix), which the server must accept emitter input on.
    pub key: &'a str,
    /// Clients connected to the server, all in [`ROOM`].
    pub clients: usize,
    /// Emits per second, spread evenly (the timer fires every millisecond: the emits due by
    /// then go out together).
    pub rate: f64,
    /// Publishing before the measured window.
    pub warmup: Duration,
    /// The measured window: the emits published in it are the ones measured.
    pub duration: Duration,
}

/// What one run measured.
#[derive(Debug, Clone)]
pub struct EmitterLatency {
    /// Publish-to-receipt latencies, one sample per (client, measured emit); `achieved` is the
    /// deliveries of the measured emits per second of the window, `window` the server's and
    /// the load generator's CPU over it, `errors` the client connections lost.
    pub latency: Latency,
    /// Emits published in the measured window.
    pub emits: u64,
    /// Deliveries of the measured emits that no client read (emits × clients − deliveries),
    /// after waiting for stragglers.
    pub not_received: u64,
    /// Measured emits whose publish failed (Redis unavailable or too slow to answer).
    pub failed_publishes: u64,
    /// The broker's CPU over the window divided by its wall time (NaN without a broker pid).
    pub broker_share: f64,
}

/// The send times and deliveries of every emit of a run, indexed by sequence number.
struct Book {
    /// When each emit was handed to the emitter.
    sent: Vec<Instant>,
    /// How many clients read each emit.
    received: Vec<u32>,
    /// Emits from this sequence number on are measured (`u64::MAX`: none yet).
    measured_from: u64,
    /// Publish-to-receipt latencies of the measured emits, ns.
    hist: Histogram<u64>,
    /// Deliveries of measured emits.
    delivered: u64,
    /// Whether each client has read anything yet.
    heard: Vec<bool>,
    /// Clients that have read something.
    ready: usize,
}

impl Book {
    fn new(clients: usize) -> Book {
        Book {
            sent: Vec::new(),
            received: Vec::new(),
            measured_from: u64::MAX,
            hist: histogram(),
            delivered: 0,
            heard: vec![false; clients],
            ready: 0,
        }
    }

    /// Notes an emit about to be published; returns its sequence number.
    fn send(&mut self) -> u64 {
        self.sent.push(Instant::now());
        self.received.push(0);
        self.sent.len() as u64 - 1
    }

    /// Client `client` read emit `seq`.
    fn arrive(&mut self, client: usize, seq: u64) {
        let now = Instant::now();
        if let Some(h) = self.heard.get_mut(client) {
            if !*h {
                *h = true;
                self.ready += 1;
            }
        }
        let Ok(i) = usize::try_from(seq) else {
            return;
        };
        let (Some(sent), Some(count)) = (self.sent.get(i), self.received.get_mut(i)) else {
            return;
        };
        *count += 1;
        if seq >= self.measured_from {
            let ns = u64::try_from(now.duration_since(*sent).as_nanos()).unwrap_or(u64::MAX);
            let _ = self.hist.record(ns.max(1));
            self.delivered += 1;
        }
    }

    /// Deliveries of the measured emits still missing.
    fn missing(&self, clients: usize) -> u64 {
        let from = usize::try_from(self.measured_from).unwrap_or(usize::MAX);
        let clients = u32::try_from(clients).unwrap_or(u32::MAX);
        self.received
            .iter()
            .skip(from)
            .map(|&n| u64::from(clients.saturating_sub(n)))
            .sum()
    }
}

fn emitter_error(e: volley_emitter::EmitterError) -> io::Error {
    io::Error::other(e.to_string())
}

/// Connects `load.clients` clients to the server at `target` (process `pid`), puts them in
/// [`ROOM`], and publishes `msg` events `(seq, payload)` to that room through Redis with a
/// `volley-emitter` of key `load.key`, at `load.rate` per second: warm-up, then the measured
/// window. Every delivery of an emit published in the window is a latency sample (receipt
/// minus publish); deliveries still on their way when the window ends are waited for (up to a
/// few seconds). `broker` is the Redis server's pid, whose CPU share is reported.
pub async fn emitter_latency(
    target: &Target,
    pid: u32,
    broker: Option<u32>,
    load: &EmitterLoad<'_>,
) -> io::Result<EmitterLatency> {
    let n = load.clients.max(1);
    let (clients, failed) = connect_all(target, 0, n, SETUP_CONCURRENCY).await;
    if failed > 0 {
        for c in clients {
            c.close().await;
        }
        return Err(io::Error::other(format!(
            "{failed} clients could not connect"
        )));
    }
    let clients = join_all(clients, |_| ROOM.to_owned()).await?;
    let book = Rc::new(RefCell::new(Book::new(n)));
    let mut tasks = Tasks::new();
    for (i, c) in clients.into_iter().enumerate() {
        let book = book.clone();
        tasks.spawn(c, move |c, p| {
            if let Packet::Event(range) = p {
                if let Some(seq) = sio::msg_seq(c.bytes(range)) {
                    book.borrow_mut().arrive(i, seq);
                }
            }
        });
    }
    let emitter = match Emitter::redis(load.redis_url).await {
        Ok(e) => e.with_key(load.key),
        Err(e) => {
            tasks.close().await;
            return Err(emitter_error(e));
        }
    };
    let room = emitter.to(ROOM);
    let failed_publishes = Rc::new(Cell::new(0u64));
    let publish = |book: &RefCell<Book>| {
        let seq = book.borrow_mut().send();
        let measured = seq >= book.borrow().measured_from;
        let (op, failed) = (room.clone(), failed_publishes.clone());
        spawn_local(async move {
            if op.emit("msg", &(seq, PAYLOAD)).await.is_err() && measured {
                failed.set(failed.get() + 1);
            }
        });
    };
    // the server hears the emitter once its subscription is in place: probe until every client
    // has read something
    let ready_by = Instant::now() + Duration::from_secs(15);
    while book.borrow().ready < n {
        if Instant::now() > ready_by {
            emitter.close().await;
            tasks.close().await;
            return Err(io::Error::other(format!(
                "only {} of {n} clients received what the emitter published",
                book.borrow().ready
            )));
        }
        publish(&book);
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    tokio::time::sleep(Duration::from_millis(200)).await;
    // the fixed rate: emit `i` is due at `start + i × period`
    let period = Duration::from_secs_f64(1.0 / load.rate.max(1.0));
    let start = tokio::time::Instant::now();
    let (warm_end, end) = (start + load.warmup, start + load.warmup + load.duration);
    let mut due = 0u32;
    let mut meter: Option<(Meter, f64)> = None;
    let mut first_measured = 0u64;
    loop {
        let now = tokio::time::Instant::now();
        if now >= end {
            break;
        }
        if meter.is_none() && now >= warm_end {
            let mut b = book.borrow_mut();
            first_measured = b.sent.len() as u64;
            b.measured_from = first_measured;
            drop(b);
            let broker0 = broker.map_or(f64::NAN, |p| procfs::cpu_seconds(Some(p)));
            meter = Some((Meter::start(&[pid]), broker0));
        }
        while start + period * due <= now {
            publish(&book);
            due += 1;
        }
        tokio::time::sleep_until((start + period * due).min(end)).await;
    }
    let (window, broker_share) = match &meter {
        Some((m, broker0)) => {
            let w = m.read();
            let b = broker.map_or(f64::NAN, |p| procfs::cpu_seconds(Some(p)));
            (w, (b - broker0) / w.wall.as_secs_f64().max(1e-9))
        }
        None => (Meter::start(&[pid]).read(), f64::NAN),
    };
    let emits = (book.borrow().sent.len() as u64).saturating_sub(first_measured);
    // stragglers: wait while deliveries are missing and still arriving (at most 5 s)
    let give_up = Instant::now() + Duration::from_secs(5);
    let mut last = u64::MAX;
    loop {
        tokio::time::sleep(Duration::from_millis(250)).await;
        let (missing, delivered) = {
            let b = book.borrow();
            (b.missing(n), b.delivered)
        };
        if missing == 0 || delivered == last || Instant::now() > give_up {
            break;
        }
        last = delivered;
    }
    emitter.close().await;
    let errors = tasks.close().await;
    let b = book.borrow();
    Ok(EmitterLatency {
        latency: Latency {
            offered: load.rate,
            achieved: b.delivered as f64 / window.wall.as_secs_f64().max(1e-9),
            hist: b.hist.clone(),
            window,
            shed: 0,
            errors,
        },
        emits,
        not_received: b.missing(n),
        failed_publishes: failed_publishes.get(),
        broker_share,
    })
}
