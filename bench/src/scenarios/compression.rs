//! Compression: bytes on the wire and server CPU per delivery of a 2 KB JSON chat message, to
//! long-polling clients with Volley's HTTP compression on and off, and to WebSocket clients
//! (which get no compression: Volley's WebSocket stack has no `permessage-deflate`; what that
//! extension would have made of the same messages is computed beside them).

use std::cell::Cell;
use std::fmt::Write as _;
use std::io;
use std::rc::Rc;
use std::time::Duration;

use tokio::sync::{watch, Notify};
use tokio::task::spawn_local;

use super::Bench;
use crate::loadgen::polling::{PollingMember, ACCEPT_ENCODING};
use crate::loadgen::sio::{Client, Packet, Target};
use crate::loadgen::{connect_all, join_all};
use crate::procfs::{Meter, Window};
use crate::report::secs;
use crate::report::{self, median, num, pct};
use crate::servers::{self, Kind};
use crate::sockstat::bytes_received;

/// Clients in the room.
const CLIENTS: usize = 50;
/// The room.
const ROOM: &str = "c";
/// Size of the chat message's JSON, about.
const MESSAGE_BYTES: usize = 2048;

/// One configuration measured.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Setup {
    /// Polling clients that accept gzip, server compression on (the default).
    PollingCompressed,
    /// Polling clients that accept gzip, server compression off.
    PollingPlain,
    /// WebSocket clients (no compression exists for them).
    Websocket,
}

impl Setup {
    const ALL: [Setup; 3] = [
        Setup::PollingCompressed,
        Setup::PollingPlain,
        Setup::Websocket,
    ];

    fn transport(self) -> &'static str {
        match self {
            Setup::PollingCompressed | Setup::PollingPlain => "polling",
            Setup::Websocket => "WebSocket",
        }
    }

    fn compression(self) -> &'static str {
        match self {
            Setup::PollingCompressed => "HTTP compression on (default)",
            Setup::PollingPlain => "HTTP compression off",
            Setup::Websocket => "none (no permessage-deflate)",
        }
    }

    fn server_flags(self) -> &'static [&'static str] {
        match self {
            Setup::PollingPlain => &["--http-compression", "off"],
            _ => &[],
        }
    }
}

/// One measured window.
#[derive(Debug, Clone, Copy)]
struct Run {
    deliveries: u64,
    /// Bytes the clients' connections received (TCP payload, as the kernel counted it).
    bytes: u64,
    window: Window,
}

impl Bench {
    /// Compression: for each [`Setup`], a fresh Volley node, [`CLIENTS`] clients in one room
    /// and a sender whose `fanout` events each make the server emit a 2 KB chat message to the
    /// room; one message in flight at a time, as in a chat where each line reaches everyone
    /// before the next is sent.
    pub(super) async fn compression(&mut self) {
        let (warmup, duration) = (self.cfg.warmup, self.cfg.duration);
        let message = chat_message(1);
        let record = format!("42[\"msg\",1,{message}]");
        let mut rows = Vec::new();
        for setup in Setup::ALL {
            self.log(&format!(
                "compression: {} / {}",
                setup.transport(),
                setup.compression()
            ));
            let mut row = vec![setup.transport().to_owned(), setup.compression().to_owned()];
            if let Err(why) = self.available(Kind::Volley) {
                row.push(why);
                rows.push(row);
                continue;
            }
            let prefix = self.new_prefix();
            let server = match servers::start_with(
                &self.env,
                self.env.server_core,
                Kind::Volley,
                "memory",
                &prefix,
                setup.server_flags(),
            ) {
                Ok(server) => server,
                Err(e) => {
                    row.push(e.to_string());
                    rows.push(row);
                    continue;
                }
            };
            let target = Target::local(server.port);
            let mut runs = Vec::new();
            let mut failure = None;
            for _ in 0..self.cfg.runs {
                match room_delivery(&target, server.pid, setup, warmup, duration).await {
                    Ok(run) => runs.push(run),
                    Err(e) => {
                        failure = Some(e.to_string());
                        break;
                    }
                }
            }
            self.servers_cpu += server.stop();
            if let Some(f) = failure.or_else(|| runs.is_empty().then(|| "no result".to_owned())) {
                row.push(f);
                rows.push(row);
                continue;
            }
            let m = |f: &dyn Fn(&Run) -> f64| median(&runs.iter().map(f).collect::<Vec<_>>());
            let per = |r: &Run| r.deliveries.max(1) as f64;
            row.push(format!("**{}**", num(m(&|r| r.bytes as f64 / per(r)))));
            row.push(format!(
                "**{} µs**",
                num(m(&|r| r.window.server_cpu * 1e6 / per(r)))
            ));
            row.push(format!(
                "{}/s",
                num(m(&|r| r.deliveries as f64 / r.window.wall.as_secs_f64()))
            ));
            row.push(pct(m(&|r| {
                r.window.server_cpu / r.window.wall.as_secs_f64().max(1e-9)
            })));
            row.push(pct(m(&|r| r.window.loadgen_share)));
            rows.push(row);
        }
        let (alone, takeover) = deflate_estimates(&record);
        let mut out = String::from("## Compression\n\n");
        let _ = write!(
            out,
            "Volley alone. One node, {CLIENTS} clients in room `{ROOM}`, and a sender whose \
             `fanout` event makes the server emit `msg` with a chat message to the room: a \
             JSON object of about {} bytes (id, room, user, timestamp, {}-word English text, \
             reactions), each message a record of {} bytes on the wire before compression. One \
             message in flight: the next is sent when every member has read the last, so each \
             polling response carries one message. Polling clients send `Accept-Encoding: \
             {ACCEPT_ENCODING}`, as browsers do, and hold one keep-alive connection each; bytes \
             are what the members' connections received as TCP payload (`bytes_received` of \
             `ss -ti`: HTTP or WebSocket framing included, the sender's connection left out), \
             per message a member read. Warm-up {}, then {} measured, per run; medians of {} \
             run(s).\n\n",
            message.len(),
            message_words(),
            record.len(),
            secs(warmup),
            secs(duration),
            self.cfg.runs
        );
        report::table(
            &mut out,
            &[
                "clients",
                "compression",
                "bytes received per delivery",
                "server CPU per delivery",
                "deliveries/s",
                "server CPU",
                "load generator CPU",
            ],
            &rows,
        );
        let _ = write!(
            out,
            "WebSocket `permessage-deflate` is not available in Volley (tungstenite, under axum's \
             WebSocket, does not implement it; see docs/compression.md). What it would have sent, \
             computed here with the same zlib at level 6, for the message's record: {} bytes \
             compressed alone (`server_no_context_takeover`), {} bytes each with the context \
             kept between messages (averaged over 100 messages of the same kind), against {} \
             plain; plus 2 to 4 bytes of WebSocket frame header.\n\n",
            alone,
            num(takeover),
            record.len()
        );
        self.sections.push_str(&out);
    }
}

/// The English words the chat messages are made of.
const WORDS: &[&str] = &[
    "the",
    "meeting",
    "is",
    "moved",
    "to",
    "tomorrow",
    "afternoon",
    "please",
    "check",
    "your",
    "calendar",
    "and",
    "let",
    "me",
    "know",
    "if",
    "that",
    "works",
    "for",
    "you",
    "I",
    "think",
    "we",
    "should",
    "ship",
    "release",
    "after",
    "tests",
    "pass",
    "on",
    "staging",
    "server",
    "latency",
    "looks",
    "fine",
    "but",
    "memory",
    "grows",
    "slowly",
    "over",
    "night",
    "can",
    "someone",
    "look",
    "at",
    "logs",
    "from",
    "yesterday",
    "deploy",
    "thanks",
    "great",
    "job",
    "everyone",
    "coffee",
    "lunch",
    "break",
    "room",
    "channel",
    "update",
    "design",
    "review",
    "pull",
    "request",
    "merged",
    "branch",
    "conflict",
    "fixed",
    "bug",
    "report",
    "customer",
    "email",
    "reply",
    "soon",
    "weekend",
    "plans",
    "hiking",
    "rain",
    "forecast",
    "sunny",
    "maybe",
    "later",
    "today",
    "quick",
    "question",
    "about",
    "config",
    "timeout",
    "retry",
    "limit",
    "queue",
    "worker",
    "cluster",
    "node",
    "restart",
    "metrics",
    "dashboard",
    "alert",
    "fired",
    "again",
    "silence",
    "it",
    "until",
    "monday",
];

/// A xorshift generator: the same messages on every run.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }

    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }
}

/// Words in a message's text.
fn message_words() -> usize {
    chat_text(&mut Rng(1)).split(' ').count()
}

fn chat_text(rng: &mut Rng) -> String {
    let mut text = String::new();
    while text.len() < MESSAGE_BYTES - 320 {
        if !text.is_empty() {
            text.push(' ');
        }
        text.push_str(WORDS[rng.below(WORDS.len())]);
    }
    text
}

/// Chat message number `seq`: a JSON object of about [`MESSAGE_BYTES`].
fn chat_message(seq: u64) -> String {
    let mut rng = Rng(0x9E37_79B9_7F4A_7C15 ^ seq.wrapping_mul(0x2545_F491_4F6C_DD1D));
    let text = chat_text(&mut rng);
    serde_json::json!({
        "id": format!("m{seq:08}"),
        "room": "general",
        "user": {
            "id": rng.below(10_000),
            "name": format!("user{}", rng.below(10_000)),
            "avatar": format!("https://cdn.example.com/avatars/{:016x}.png", rng.next()),
        },
        "ts": 1_700_000_000_000u64 + seq * 1234,
        "text": text,
        "reactions": [
            {"emoji": "thumbsup", "count": rng.below(20)},
            {"emoji": "smile", "count": rng.below(5)},
        ],
        "edited": false,
    })
    .to_string()
}

/// What `permessage-deflate` at level 6 would send for `record` (raw deflate, the final empty
/// block's 4 bytes removed as RFC 7692 does): compressed alone, and on average over 100 such
/// messages compressed with the context kept between them.
fn deflate_estimates(record: &str) -> (usize, f64) {
    use flate2::{Compress, Compression, FlushCompress};
    let deflate = |c: &mut Compress, data: &[u8]| -> usize {
        let mut out = Vec::with_capacity(data.len() + 64);
        let mut consumed = 0;
        loop {
            out.reserve(4096);
            let before = c.total_in();
            if c.compress_vec(&data[consumed..], &mut out, FlushCompress::Sync)
                .is_err()
            {
                return data.len();
            }
            consumed += (c.total_in() - before) as usize;
            // done once all input is in and the flush left output space unused
            if consumed == data.len() && out.len() < out.capacity() {
                break;
            }
        }
        // the sync flush's empty block (00 00 ff ff) is not sent
        out.len().saturating_sub(4)
    };
    let alone = deflate(
        &mut Compress::new(Compression::new(6), false),
        record.as_bytes(),
    );
    let mut kept = Compress::new(Compression::new(6), false);
    let total: usize = (1..=100)
        .map(|seq| {
            let record = format!("42[\"msg\",{seq},{}]", chat_message(seq));
            deflate(&mut kept, record.as_bytes())
        })
        .sum();
    (alone, total as f64 / 100.0)
}

/// One run: `CLIENTS` members of `setup`'s transport in the room, one message in flight.
async fn room_delivery(
    target: &Target,
    pid: u32,
    setup: Setup,
    warmup: Duration,
    duration: Duration,
) -> io::Result<Run> {
    let delivered = Rc::new(Cell::new(0u64));
    let threshold = Rc::new(Cell::new(0u64));
    let wake = Rc::new(Notify::new());
    let (stop_tx, stop) = watch::channel(false);
    let mut members = Vec::new();
    for i in 0..CLIENTS {
        let counters = (delivered.clone(), threshold.clone(), wake.clone());
        let stop = stop.clone();
        members.push(match setup {
            Setup::Websocket => {
                let (mut clients, _) = connect_all(target, 1 + i, 1, 1).await;
                let Some(client) = clients.pop() else {
                    return Err(io::Error::other("a WebSocket member could not connect"));
                };
                let mut joined = join_all(vec![client], |_| ROOM.to_owned()).await?;
                let client = joined.pop().ok_or(io::Error::other("join failed"))?;
                spawn_local(ws_member(client, counters, stop))
            }
            _ => {
                let member = PollingMember::join(target.addr, ROOM).await?;
                spawn_local(member.run(counters, stop))
            }
        });
    }
    let (mut senders, _) = connect_all(target, 0, 1, 1).await;
    let Some(mut sender) = senders.pop() else {
        return Err(io::Error::other("the sender could not connect"));
    };
    let sender_addr = sender.local_addr().ok();
    let port = target.addr.port();
    let send_task = {
        let (delivered, threshold, wake) = (delivered.clone(), threshold.clone(), wake.clone());
        let mut stop = stop.clone();
        spawn_local(async move {
            let mut seq = 0u64;
            let r: io::Result<()> = async {
                loop {
                    if delivered.get() >= seq * CLIENTS as u64 {
                        seq += 1;
                        let json = format!(
                            "[\"fanout\",{{\"room\":\"{ROOM}\",\"seq\":{seq},\"payload\":{}}}]",
                            chat_message(seq)
                        );
                        threshold.set(seq * CLIENTS as u64);
                        sender.queue_event(None, json.as_bytes());
                    }
                    while sender.next_packet()?.is_some() {}
                    sender.flush().await?;
                    if delivered.get() >= threshold.get() {
                        continue;
                    }
                    tokio::select! {
                        _ = wake.notified() => {}
                        r = sender.fill() => if !r? { return Err(io::Error::other("closed")) },
                        _ = stop.changed() => return Ok(()),
                        _ = tokio::time::sleep(Duration::from_millis(50)) => {}
                    }
                }
            }
            .await;
            if let Err(e) = r {
                eprintln!("  compression sender: {e}");
            }
            sender.close().await;
        })
    };
    tokio::time::sleep(warmup).await;
    let (d0, b0) = (delivered.get(), bytes_received(port, sender_addr).await?);
    let meter = Meter::start(&[pid]);
    tokio::time::sleep(duration).await;
    let window = meter.read();
    let (d1, b1) = (delivered.get(), bytes_received(port, sender_addr).await?);
    let _ = stop_tx.send(true);
    let _ = send_task.await;
    let mut lost = 0;
    for member in members {
        if let Ok(Err(e)) = member.await {
            if lost == 0 {
                eprintln!("  compression member: {e}");
            }
            lost += 1;
        }
    }
    if lost > 0 {
        return Err(io::Error::other(format!("{lost} members failed")));
    }
    Ok(Run {
        deliveries: d1 - d0,
        bytes: b1.saturating_sub(b0),
        window,
    })
}

type Counters = (Rc<Cell<u64>>, Rc<Cell<u64>>, Rc<Notify>);

/// Counts a delivery, waking the sender when the message reached every member.
fn count((delivered, threshold, wake): &Counters) {
    let d = delivered.get() + 1;
    delivered.set(d);
    if d == threshold.get() {
        wake.notify_one();
    }
}

/// A WebSocket member: counts the `msg` events it reads until stopped.
async fn ws_member(
    mut client: Client,
    counters: Counters,
    mut stop: watch::Receiver<bool>,
) -> io::Result<()> {
    loop {
        while let Some(p) = client.next_packet()? {
            if let Packet::Event(_) = p {
                count(&counters);
            }
        }
        client.flush().await?;
        tokio::select! {
            r = client.fill() => if !r? { return Err(io::Error::other("closed")) },
            _ = stop.changed() => break,
        }
    }
    client.close().await;
    Ok(())
}

impl PollingMember {
    /// Polls, counting `msg` events, until stopped.
    async fn run(mut self, counters: Counters, mut stop: watch::Receiver<bool>) -> io::Result<()> {
        loop {
            let records = tokio::select! {
                r = self.poll() => r?,
                _ = stop.changed() => return Ok(()),
            };
            for r in &records {
                if r.starts_with(b"42[\"msg\"") {
                    count(&counters);
                }
            }
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn chat_messages_are_json_of_about_two_kilobytes() {
        for seq in [1, 2, 99] {
            let m = chat_message(seq);
            assert!((1800..2300).contains(&m.len()), "{} bytes", m.len());
            let v: serde_json::Value = serde_json::from_str(&m).unwrap();
            assert_eq!(v["id"], format!("m{seq:08}"));
        }
        assert_ne!(chat_message(1), chat_message(2));
    }

    #[test]
    fn deflate_estimates_are_below_the_plain_size() {
        let record = format!("42[\"msg\",1,{}]", chat_message(1));
        let (alone, kept) = deflate_estimates(&record);
        assert!(alone < record.len() * 2 / 3, "{alone} of {}", record.len());
        assert!(kept < alone as f64, "{kept} vs {alone}");
    }
}
