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

use fred::interfaces::{ClientLike, EventInterface, PubsubInterface};
use fred::types::config::Config;
use fred::types::Builder;
use hdrhistogram::Histogram;
use tokio::task::spawn_local;
use volley_emitter::Emitter;

use super::pacer::Pacer;
use super::sio::{self, Packet, Target};
use super::{connect_all, histogram, join_all, Latency, Tasks, PAYLOAD, SETUP_CONCURRENCY};
use crate::procfs::{self, Meter, Window};

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
    /// Emits per second, evenly spaced (see [`Pacer`]).
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
    fn missing(&self) -> u64 {
        let from = usize::try_from(self.measured_from).unwrap_or(usize::MAX);
        let clients = u32::try_from(self.heard.len()).unwrap_or(u32::MAX);
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
    let driven = drive(&book, load, Some(pid), broker).await;
    let errors = tasks.close().await;
    driven.map(|d| d.result(&book.borrow(), load.rate, errors))
}

/// The floor under every server's figure: the same emitter at the same rate, read by a plain
/// Redis subscriber in this process (fred, `PSUBSCRIBE <key>#*`) instead of by a Socket.IO
/// server and its clients. What it measures is the publisher, Redis and one subscriber
/// connection, which every server's latency in this scenario includes.
pub async fn redis_floor(
    broker: Option<u32>,
    load: &EmitterLoad<'_>,
) -> io::Result<EmitterLatency> {
    let config = Config::from_url(load.redis_url)
        .map_err(|e| io::Error::other(format!("{}: {e}", load.redis_url)))?;
    let subscriber = Builder::from_config(config)
        .build_subscriber_client()
        .map_err(io::Error::other)?;
    subscriber.init().await.map_err(io::Error::other)?;
    let mut messages = subscriber.message_rx();
    subscriber
        .psubscribe(format!("{}#*", load.key))
        .await
        .map_err(io::Error::other)?;
    let book = Rc::new(RefCell::new(Book::new(1)));
    let reader = {
        let book = book.clone();
        spawn_local(async move {
            while let Ok(message) = messages.recv().await {
                let seq = message.value.as_bytes().and_then(emitted_seq);
                if let Some(seq) = seq {
                    book.borrow_mut().arrive(0, seq);
                }
            }
        })
    };
    let driven = drive(&book, load, None, broker).await;
    reader.abort();
    let _ = subscriber.quit().await;
    driven.map(|d| d.result(&book.borrow(), load.rate, 0))
}

/// The sequence number of an emit, from the bytes the emitter published: Node's emitter format
/// is the MessagePack array `[uid, packet, options]`, whose packet's `data` is
/// `["msg", seq, payload]`.
fn emitted_seq(bytes: &[u8]) -> Option<u64> {
    let value = rmpv::decode::read_value(&mut &bytes[..]).ok()?;
    let packet = value.as_array()?.get(1)?.as_map()?;
    let data = packet
        .iter()
        .find(|(k, _)| k.as_str() == Some("data"))?
        .1
        .as_array()?;
    data.get(1)?.as_u64()
}

/// What [`drive`] measured, before the receivers are closed.
struct Driven {
    window: Window,
    broker_share: f64,
    emits: u64,
    failed_publishes: u64,
}

impl Driven {
    fn result(self, book: &Book, rate: f64, errors: u64) -> EmitterLatency {
        EmitterLatency {
            latency: Latency {
                offered: rate,
                achieved: book.delivered as f64 / self.window.wall.as_secs_f64().max(1e-9),
                hist: book.hist.clone(),
                window: self.window,
                shed: 0,
                errors,
            },
            emits: self.emits,
            not_received: book.missing(),
            failed_publishes: self.failed_publishes,
            broker_share: self.broker_share,
        }
    }
}

/// Publishes through a new emitter until every receiver of `book` has heard it, then at
/// `load.rate` for the warm-up and the measured window, and waits for the stragglers. Measures
/// the CPU of the server `pid` (if any) and of the `broker` over the window.
async fn drive(
    book: &Rc<RefCell<Book>>,
    load: &EmitterLoad<'_>,
    pid: Option<u32>,
    broker: Option<u32>,
) -> io::Result<Driven> {
    let emitter = Emitter::redis(load.redis_url)
        .await
        .map_err(emitter_error)?
        .with_key(load.key);
    let n = book.borrow().heard.len();
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
    // the receivers hear the emitter once their subscription is in place: probe until every
    // one has read something
    let ready_by = Instant::now() + Duration::from_secs(15);
    while book.borrow().ready < n {
        if Instant::now() > ready_by {
            emitter.close().await;
            return Err(io::Error::other(format!(
                "only {} of {n} receivers got what the emitter published",
                book.borrow().ready
            )));
        }
        publish(book);
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    tokio::time::sleep(Duration::from_millis(200)).await;
    let pids: Vec<u32> = pid.into_iter().collect();
    // the fixed rate, evenly spaced
    let mut pacer = Pacer::new(load.rate)?;
    let start = tokio::time::Instant::now();
    let (warm_end, end) = (start + load.warmup, start + load.warmup + load.duration);
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
            meter = Some((Meter::start(&pids), broker0));
        }
        tokio::select! {
            ticks = pacer.tick() => {
                for _ in 0..ticks? {
                    publish(book);
                }
            }
            () = tokio::time::sleep_until(end) => {}
        }
    }
    let (window, broker_share) = match &meter {
        Some((m, broker0)) => {
            let w = m.read();
            let b = broker.map_or(f64::NAN, |p| procfs::cpu_seconds(Some(p)));
            (w, (b - broker0) / w.wall.as_secs_f64().max(1e-9))
        }
        None => (Meter::start(&pids).read(), f64::NAN),
    };
    let emits = (book.borrow().sent.len() as u64).saturating_sub(first_measured);
    // stragglers: wait while deliveries are missing and still arriving (at most 5 s)
    let give_up = Instant::now() + Duration::from_secs(5);
    let mut last = u64::MAX;
    loop {
        tokio::time::sleep(Duration::from_millis(250)).await;
        let (missing, delivered) = {
            let b = book.borrow();
            (b.missing(), b.delivered)
        };
        if missing == 0 || delivered == last || Instant::now() > give_up {
            break;
        }
        last = delivered;
    }
    emitter.close().await;
    Ok(Driven {
        window,
        broker_share,
        emits,
        failed_publishes: failed_publishes.get(),
    })
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use rmpv::Value;

    #[test]
    fn reads_the_sequence_number_of_an_emit() {
        // Node's emitter format: [uid, {type, data, nsp}, {rooms, except, flags}]
        let packet = Value::Map(vec![
            (Value::from("type"), Value::from(2)),
            (
                Value::from("data"),
                Value::Array(vec![Value::from("msg"), Value::from(42), Value::from("x")]),
            ),
            (Value::from("nsp"), Value::from("/")),
        ]);
        let opts = Value::Map(vec![(
            Value::from("rooms"),
            Value::Array(vec![Value::from(ROOM)]),
        )]);
        let message = Value::Array(vec![Value::from("emitter"), packet, opts]);
        let mut bytes = Vec::new();
        rmpv::encode::write_value(&mut bytes, &message).unwrap();
        assert_eq!(emitted_seq(&bytes), Some(42));
        assert_eq!(emitted_seq(&bytes[..bytes.len() / 2]), None);
        assert_eq!(emitted_seq(b"\x93\x01\x02\x03"), None);
    }
}
