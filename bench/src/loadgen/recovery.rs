//! Connection state recovery, timed: how long a client that lost its connection takes to get
//! its socket back and every broadcast it missed, against a server started with recovery on
//! (`volley_bench_server --recovery`).
//!
//! Each round, on a room of its own:
//! 1. a client connects (its CONNECT acknowledgement gives its private id, `pid`), joins the
//!    room, receives one broadcast and keeps its offset (the event's last argument);
//! 2. its connection is reset (no close frame, no DISCONNECT), and the round waits until the
//!    server has noticed;
//! 3. a driver client has the server broadcast `missed` messages to the room, and waits for the
//!    ack that says they were emitted;
//! 4. the clock starts; the client reconnects with `{pid, offset}` as its CONNECT auth; the
//!    clock stops when the last missed message has arrived;
//! 5. the round checks that the socket was recovered (the same `pid`) and that exactly the
//!    missed messages arrived, in order: one more broadcast is sent after them, and it must be
//!    the next message the client reads.

use std::io;
use std::time::{Duration, Instant};

use super::sio::{self, Client, Target};
use super::PAYLOAD;

/// The first sequence number of the broadcast sent after the missed ones.
const MARKER: u64 = 1_000_000_000;

/// One recovery, timed from the start of the reconnect.
#[derive(Debug, Clone, Copy)]
pub struct Round {
    /// Until the CONNECT acknowledgement arrived (TCP connect, WebSocket upgrade, Engine.IO
    /// open and Socket.IO CONNECT included).
    pub connected: Duration,
    /// Until the last missed message arrived.
    pub caught_up: Duration,
}

/// The client that has the server broadcast, with the id of its next call.
struct Driver {
    client: Client,
    next_id: u64,
}

impl Driver {
    /// Sends an event asking for an ack and returns the ack's JSON array.
    async fn call(&mut self, json: Vec<u8>) -> io::Result<Vec<u8>> {
        self.next_id += 1;
        self.client.call(self.next_id, &json).await
    }
}

/// The `burst` event that has the server broadcast `msg` (`from`, `from + 1`, … `count` times)
/// to `room`.
fn burst(room: &str, from: u64, count: u64) -> Vec<u8> {
    serde_json::to_vec(&(
        "burst",
        serde_json::json!({ "room": room, "from": from, "count": count, "payload": PAYLOAD }),
    ))
    .unwrap_or_default()
}

/// The sequence number of a `msg` event, or an error naming what came instead.
fn seq_of(event: &[u8]) -> io::Result<u64> {
    sio::msg_seq(event).ok_or_else(|| {
        io::Error::other(format!(
            "not a msg event: {}",
            String::from_utf8_lossy(event)
        ))
    })
}

/// Runs `rounds` recoveries of `missed` broadcasts each (at least 1), waiting `notice` after
/// each reset for the server to see it. Fails at the first round that does not recover, or
/// whose messages are missing, duplicated or out of order.
pub async fn recovery(
    target: &Target,
    missed: u64,
    rounds: usize,
    notice: Duration,
) -> io::Result<Vec<Round>> {
    if missed == 0 {
        return Err(io::Error::other("at least one broadcast must be missed"));
    }
    let mut driver = Driver {
        client: Client::connect(target, 0).await?,
        next_id: 1,
    };
    let mut out = Vec::with_capacity(rounds);
    for round in 0..rounds {
        let room = format!("recovery-{}-{round}", std::process::id());
        let (mut client, ack) = Client::connect_with_auth(target, 1, None).await?;
        let pid = sio::ack_pid(&ack).ok_or_else(|| {
            io::Error::other(format!(
                "no pid in the CONNECT acknowledgement ({}): is the server running with --recovery?",
                String::from_utf8_lossy(&ack)
            ))
        })?;
        let join = serde_json::to_vec(&("join", &room)).unwrap_or_default();
        client.call(1, &join).await?;
        driver.call(burst(&room, 0, 1)).await?;
        let first = client.next_event().await?;
        if seq_of(&first)? != 0 {
            return Err(io::Error::other("the first broadcast is not number 0"));
        }
        let offset = sio::last_string_arg(&first).ok_or_else(|| {
            io::Error::other(format!(
                "no offset in {}: is the server running with --recovery?",
                String::from_utf8_lossy(&first)
            ))
        })?;
        client.abort();
        tokio::time::sleep(notice).await;
        let emitted = driver.call(burst(&room, 1, missed)).await?;
        if emitted != format!("[{missed}]").as_bytes() {
            return Err(io::Error::other(format!(
                "the server emitted {} of {missed} broadcasts",
                String::from_utf8_lossy(&emitted)
            )));
        }
        let auth = sio::recovery_auth(&pid, &offset);
        let start = Instant::now();
        let (mut client, ack) = Client::connect_with_auth(target, 1, Some(&auth)).await?;
        let connected = start.elapsed();
        // a new socket instead (too much missed, say) would wait for nothing: fail at once
        // (reading the pid takes about a microsecond of the clock)
        if sio::ack_pid(&ack).as_deref() != Some(&pid) {
            return Err(io::Error::other(format!(
                "round {round}: not recovered (CONNECT acknowledgement {})",
                String::from_utf8_lossy(&ack)
            )));
        }
        for want in 1..=missed {
            let got = seq_of(&client.next_event().await?)?;
            if got != want {
                return Err(io::Error::other(format!(
                    "round {round}: message {got} arrived where {want} was due"
                )));
            }
        }
        let caught_up = start.elapsed();
        // nothing beyond the missed ones: the next message is the one sent now
        driver.call(burst(&room, MARKER, 1)).await?;
        let next = seq_of(&client.next_event().await?)?;
        if next != MARKER {
            return Err(io::Error::other(format!(
                "round {round}: message {next} arrived after the {missed} missed ones"
            )));
        }
        client.close().await;
        out.push(Round {
            connected,
            caught_up,
        });
    }
    driver.client.close().await;
    Ok(out)
}

/// The smallest, median and largest of some durations (`None` when there are none); the
/// median of an even count is the lower of the two middle ones.
pub fn min_median_max(samples: &[Duration]) -> Option<(Duration, Duration, Duration)> {
    let mut sorted = samples.to_vec();
    sorted.sort_unstable();
    let mid = sorted.get((sorted.len().checked_sub(1)?) / 2)?;
    Some((*sorted.first()?, *mid, *sorted.last()?))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_burst_event_is_what_the_bench_server_reads() {
        let json: serde_json::Value =
            serde_json::from_slice(&burst("r", 1, 1000)).unwrap_or_default();
        assert_eq!(
            json,
            serde_json::json!(["burst", {"room": "r", "from": 1, "count": 1000, "payload": PAYLOAD}])
        );
    }

    #[test]
    fn sequence_numbers_are_read_with_an_offset_after_them() {
        assert_eq!(
            seq_of(b"[\"msg\",7,\"x\",\"n-8\"]").ok(),
            Some(7),
            "the offset is the last argument"
        );
        assert!(seq_of(b"[\"other\",7]").is_err());
    }

    #[test]
    fn min_median_max_of_durations() {
        let ms = Duration::from_millis;
        assert_eq!(min_median_max(&[]), None);
        assert_eq!(min_median_max(&[ms(5)]), Some((ms(5), ms(5), ms(5))));
        assert_eq!(
            min_median_max(&[ms(9), ms(1), ms(4)]),
            Some((ms(1), ms(4), ms(9)))
        );
        assert_eq!(
            min_median_max(&[ms(9), ms(1), ms(4), ms(2)]),
            Some((ms(1), ms(2), ms(9)))
        );
    }
}
