//! The paragraphs of the scenarios' sections: what each scenario does and how it is measured,
//! and the sentences drawn from its figures. Each scenario ([`crate::scenarios`]) measures,
//! fills its tables and calls these for the words around them.

use std::fmt::Write as _;
use std::time::Duration;

use super::{capitalise, num, pct, secs, times};
use crate::loadgen::pacer;
use crate::steal;

// --- idle connections ----------------------------------------------------------------------------

/// The heading and method of the idle-connections section of `n` connections.
pub(crate) fn idle(n: usize) -> String {
    let mut out =
        format!("## Idle connections: server memory per connection ({n} connections)\n\n");
    out.push_str(
        "Each run starts a fresh server, opens and closes 200 connections (warm-up), reads its \
         RSS (`VmRSS`), opens the connections (WebSocket, Socket.IO CONNECT to `/`), waits for \
         the server to settle and reads RSS again: the figure is the growth divided by the \
         connections held. \"Advantage\" is how many times less memory Volley uses.\n\n",
    );
    out
}

/// Why `n` idle connections were not measured, this process's open-file limit being `limit`.
pub(crate) fn idle_not_measured(n: usize, limit: u64) -> String {
    format!(
        "{} idle connections (the open-file limit of this process is {} and \
         it needs about {}: raise the hard limit, `ulimit -Hn`, to measure it)",
        num(n as f64),
        num(limit as f64),
        num(n as f64 + 1_000.0)
    )
}

// --- connect storm -------------------------------------------------------------------------------

/// The heading and method of the connect-storm section: `n` clients, `conc` connecting at once.
pub(crate) fn storm(n: usize, conc: usize) -> String {
    let mut out = format!("## Connect storm ({n} clients, {conc} connecting at once)\n\n");
    out.push_str(
        "One server per implementation; a warm-up storm of a quarter of the size, then each run \
         opens the clients as fast as the server takes them, with at most the given number in \
         flight. A connection counts once the server acknowledged its Socket.IO CONNECT. The \
         figure is connections established per wall-clock second; per server CPU-second \
         beside it.\n\n",
    );
    out
}

// --- ack echo ------------------------------------------------------------------------------------

/// The heading and method of the ack-echo section and of its full-speed table: `conns` clients,
/// `depth` events waiting each.
pub(crate) fn echo(conns: usize, depth: usize, warmup: Duration, duration: Duration) -> String {
    format!(
        "## Ack echo\n\n{conns} clients send `echo` events asking for an ack; the server acks \
         with the same arguments.\n\n### Round trips per server CPU-second (full speed)\n\n\
         Each client keeps {depth} events waiting for their acks. Warm-up {}, then {} measured, \
         per run.\n\n",
        secs(warmup),
        secs(duration)
    )
}

/// The heading and method of an ack-echo latency table at `rate` round trips/s (`share` says of
/// what). The method is told in full for the first table; `again` (the second table, at half
/// the first one's rate) only says how it differs.
pub(crate) fn echo_latency(rate: f64, share: &str, again: bool) -> String {
    let mut out = format!(
        "### Latency at a fixed offered load: {} round trips/s ({share})\n\n",
        num(rate)
    );
    if again {
        let _ = write!(
            out,
            "The same, at half the rate above, which leaves every server further from its limit \
             at this pace (see the server CPU column). {}",
            steal::COLUMN
        );
    } else {
        let _ = write!(
            out,
            "\
             The events go out at an even pace: every {} µs, the {:.0} or so that fell \
             due, dealt to the clients in turn (open loop: a client does not wait for an \
             ack before its next event). A `timerfd` paces them: tokio's timer counts \
             whole milliseconds, and a group every millisecond would keep the first acks \
             of each waiting while the load generator wrote the rest; a finer pace would \
             cost the load generator a wake-up per event. A server reads these events a \
             few at a time, not four per client as at full speed, so it spends more CPU on \
             each than there: the server CPU column shows how close to its limit each one \
             ran. A latency runs from writing the event to reading its ack, recorded in an \
             HdrHistogram. Medians over the runs of each percentile. \"Not sent\" counts \
             events skipped because 10,000 were already waiting on one client (the server \
             could not keep up). {}",
            num(pacer::FINEST.as_secs_f64() * 1e6),
            rate * pacer::FINEST.as_secs_f64(),
            steal::COLUMN
        );
    }
    out
}

// --- room fan-out --------------------------------------------------------------------------------

/// The heading (`title`) and method of a fan-out section: `members` clients over `rooms` rooms,
/// at most `window` messages not yet delivered.
pub(crate) fn fanout(
    title: &str,
    members: usize,
    rooms: usize,
    window: u64,
    warmup: Duration,
    duration: Duration,
) -> String {
    let mut out = format!("## {}\n\n", capitalise(title));
    let _ = write!(
        out,
        "{members} clients join {}; one more client sends `fanout` events (`{{room, seq, \
         payload}}`, a 64-byte string payload) {}, keeping at most {window} messages not yet \
         delivered to every member; the server emits `msg` to the room. A delivery is one `msg` \
         read by one member. Warm-up {}, then {} measured, per run (the members stay connected \
         between runs).\n\n",
        if rooms == 1 {
            "one room".to_owned()
        } else {
            format!("{rooms} rooms ({} each)", members / rooms)
        },
        if rooms == 1 {
            "to that room"
        } else {
            "to the rooms in turn"
        },
        secs(warmup),
        secs(duration),
    );
    out
}

/// Packets per delivery from which a server counts as sending every delivery on its own.
const SEPARATE_PACKETS: f64 = 0.9;

/// Says what the packets-per-delivery column counts and, when every server sent each delivery
/// in a packet of its own (`counted`: each counted server's median packets per delivery), that
/// the kernel's cost of a packet is then paid per delivery by all of them alike.
pub(crate) fn packets(counted: &[f64]) -> String {
    let mut out =
        "Packets per delivery: TCP packets carrying data (`data_segs_in` of `ss -ti`) that \
                   the members' connections received, per `msg` they read, over each run and its \
                   warm-up. Below 1 when a server wrote several messages to a member with one \
                   system call, so that they travelled in one packet; 1 when each travelled in a \
                   packet of its own."
            .to_owned();
    if counted.len() > 1 && counted.iter().all(|&p| p >= SEPARATE_PACKETS) {
        out.push_str(
            " Here every server sent each delivery in a packet of its own: each paid the \
             kernel's whole cost of a packet (over loopback, the receiving side's as well) for \
             every delivery, a cost that a server's own code cannot lower without holding messages \
             back, and that narrows the ratios between them.",
        );
    }
    out.push_str("\n\n");
    out
}

// --- where the CPU went --------------------------------------------------------------------------

/// One measured server's figures for [`kernel_bound`].
#[derive(Debug, Clone, Copy)]
pub(crate) struct KernelTime<'a> {
    /// The server's name.
    pub(crate) server: &'a str,
    /// Whether it is Volley.
    pub(crate) volley: bool,
    /// The median share of its CPU time spent in the kernel.
    pub(crate) kernel: f64,
    /// Its median figure per server CPU-second.
    pub(crate) per_cpu: f64,
}

/// Where the servers' CPU went, in one paragraph: each one's share of kernel time and, from
/// Volley's, the most it could do per CPU-second if its own code cost nothing (the kernel's part
/// is the floor that the operating system sets for the same system calls). `servers` are the
/// measured ones, in the table's order; `what` names what their figures count. Empty when Volley
/// is not among them.
pub(crate) fn kernel_bound(servers: &[KernelTime<'_>], what: &str) -> String {
    let shares: Vec<String> = servers
        .iter()
        .map(|s| format!("{} {}", s.server, pct(s.kernel)))
        .collect();
    let Some(volley) = servers.iter().find(|s| s.volley) else {
        return String::new();
    };
    let kernel = volley.kernel;
    let mut out = format!(
        "Share of each server's CPU time spent in the kernel (system time from `/proc`: its \
         system calls and, over loopback, the TCP work of the receiving side as well): {}.",
        shares.join(", ")
    );
    // kernel seconds per CPU-second over the figure per CPU-second: kernel time per unit
    let per_thousand: Vec<String> = servers
        .iter()
        .filter(|s| s.per_cpu > 0.0)
        .map(|s| {
            let ms = s.kernel / s.per_cpu * 1e6;
            format!("{} {} ms", s.server, num(ms))
        })
        .collect();
    if per_thousand.len() > 1 {
        let _ = write!(
            out,
            " Kernel time per 1,000 {what}: {}.",
            per_thousand.join(", ")
        );
    }
    if kernel > 0.0 {
        let ceiling = volley.per_cpu / kernel;
        let _ = write!(
            out,
            " With that kernel time alone, and none in its own code, Volley would reach at most \
             {} {what} per server CPU-second",
            num(ceiling)
        );
        let ratios: Vec<String> = servers
            .iter()
            .filter(|s| !s.volley)
            .map(|s| format!("{} {}'s figure", times(ceiling / s.per_cpu), s.server))
            .collect();
        if ratios.is_empty() {
            out.push('.');
        } else {
            let _ = write!(out, ": {}.", ratios.join(" and "));
        }
    }
    out.push_str("\n\n");
    out
}

// --- cross-node broadcast ------------------------------------------------------------------------

/// The heading and method of the cross-node section, before the brokers' subsections.
pub(crate) fn cross() -> String {
    let mut out = String::from("## Cross-node broadcast (2 nodes through a broker)\n\n");
    out.push_str(
        "Two server processes (A and B) of one implementation share a broker. A is pinned to \
         the server core, B to the load generator's core (the load generator is light here, \
         see its CPU share; with both nodes on one core they take turns in scheduler time \
         slices, which adds milliseconds to the latency). A client on A sends `burst` events: each makes A emit `msg` to \
         room `x` `count` times, as a server-side loop, each server in its fastest form: Volley \
         keeps 64 emits in flight (an emit resolves once published), Node's emits do not \
         wait for Redis, python-socketio awaits each emit in turn (faster than gathering them \
         with its Redis manager). Room `x` \
         has one member on A and one on B.\n\n\
         - **Broadcasts/s**: bursts of a quarter of the window, with at most the window of \
         broadcasts not yet received by both members (given in each broker's section: larger \
         for a broker with a longer round trip, as a closed loop carries at most one window \
         per round trip); the figure is broadcasts received on B per wall-clock second (each \
         is one delivery), with the same count per CPU-second of A and B together beside it. \
         Volley's nodes run with an outgoing queue of twice the window per client (its default, \
         1024 frames, closes a client that falls further behind; Node's and python-socketio's \
         queues have no bound).\n\
         - **Added latency**: at a fixed offered rate (one burst per millisecond), for each \
         broadcast B's receive time minus A's receive time (a broadcast B received first \
         counts as 0). Same rate for every server; Volley also at the broker's target rate.\n\n",
    );
    out
}

/// The heading of `broker`'s subsection, with its window of broadcasts in flight.
pub(crate) fn broker_window(broker: &str, window: u64) -> String {
    let mut out = String::new();
    let _ = writeln!(
        out,
        "### {broker}\n\nWindow: {} broadcasts in flight, bursts of {}.\n",
        num(window as f64),
        window / 4
    );
    out
}

/// The line above a broker's added-latency table.
pub(crate) fn added_latency() -> String {
    format!("Added latency (B minus A). {}", steal::COLUMN)
}

/// `broker`'s CPU share during each cluster's runs (`shares`: "cluster: share"), if measured.
pub(crate) fn broker_cpu(broker: &str, shares: &[String]) -> String {
    let mut out = String::new();
    if !shares.is_empty() {
        let _ = writeln!(
            out,
            "{broker}'s CPU share over the runs (whole run, both phases): {}.\n",
            shares.join("; ")
        );
    }
    out
}

/// Where the broker runs (its `process` name), and the `restart` script it is restarted empty
/// with before each run, if any.
pub(crate) fn broker_process(process: &str, restart: Option<&str>) -> String {
    let mut out = String::new();
    let _ = writeln!(
        out,
        "The broker is the machine's `{}`, not pinned; its CPU is not counted in the \
         per-CPU-second figures.{}\n",
        process,
        restart.map_or(String::new(), |script| format!(
            " It is restarted empty (`{script}`), with fresh servers, before each run and \
             before each of its two phases (broadcasts/s, added latency): its speed \
             depends on how much it holds."
        ))
    );
    out
}

/// The line the broker `script` printed measuring the broker alone.
pub(crate) fn broker_probe(script: &str, line: &str) -> String {
    let mut out = String::new();
    let _ = writeln!(
        out,
        "The broker alone, without any Socket.IO server (`bench/{script}`, a producer \
         and a consumer through an empty broker at the same offered rate as above): \
         {line}.\n"
    );
    out
}

/// What the report says of tansu's fetch latency, which sets a floor under every server's added
/// latency through it. Read in tansu-storage 0.6.0, src/service/fetch.rs, and borne out by the
/// probe: with a 50 ms wait, its p50 is ~80 ms.
pub(crate) const TANSU_FETCH: &str =
    "tansu 0.6 answers a fetch only when the consumer's whole `fetch.wait.max.ms` has \
     passed (10 ms for Volley's nodes and for the probe), with the records the partition \
     held when the fetch arrived: its fetch loop reads once, then sleeps out the rest of \
     the wait, even when records are there or arrive meanwhile. A record published \
     while a fetch waits is read by the next one, and reaches the consumer when that one \
     has waited in turn: one to two waits after its publish, before any server work. \
     Kafka itself answers a waiting fetch as soon as records arrive.";

// --- emitter → client ----------------------------------------------------------------------------

/// What the emitter scenario measured against.
pub(crate) struct EmitterSetup<'a> {
    /// The Redis the emitter publishes on.
    pub(crate) redis: &'a str,
    /// Clients in the room.
    pub(crate) clients: usize,
    /// The room.
    pub(crate) room: &'a str,
    /// Bytes of each emit's payload.
    pub(crate) payload: usize,
    /// Emits per second.
    pub(crate) rate: f64,
    /// Warm-up per run.
    pub(crate) warmup: Duration,
    /// Measured window per run.
    pub(crate) duration: Duration,
}

/// The heading and method of the emitter → client section.
pub(crate) fn emitter(setup: &EmitterSetup<'_>) -> String {
    let EmitterSetup {
        redis,
        clients,
        room,
        ..
    } = *setup;
    let mut out = String::from("## Emitter → client latency\n\n");
    let _ = write!(
        out,
        "One server process with its Redis adapter (`{redis}`, a fresh key) and {clients} \
         clients in room `{room}`. The load generator itself is the publisher: a \
         `volley-emitter` (`Emitter::redis(url).with_key(key)`), which publishes the same \
         bytes as Node's `@socket.io/redis-emitter`, so both servers read one publisher. It \
         emits `msg` with `(seq, payload)` (a {}-byte string payload) to the room at {} \
         emits/s, evenly spaced (a `timerfd` paces them), each emit on its own task. For \
         every client and emit, the latency runs from just before the publish to the \
         client reading the event, recorded in an HdrHistogram; only the emits \
         published in the measured window count, and their late deliveries are waited \
         for. Warm-up {}, then {} measured, per run; medians over the runs of each \
         percentile. Volley accepts the emitter's channels through \
         `ClusterConfig::node_compat_key` (`volley_bench_server --emitter-key`), Node \
         socket.io through `@socket.io/redis-adapter` with the same key. python-socketio is \
         not measured: its emitter (`socketio.RedisManager(write_only=True)`) publishes a \
         format of its own, not Node's. {}",
        setup.payload,
        num(setup.rate),
        secs(setup.warmup),
        secs(setup.duration),
        steal::COLUMN
    );
    out
}

/// The emitter and Redis alone: percentiles of the floor, medians over `runs` runs.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Floor {
    /// p50, µs.
    pub(crate) p50: f64,
    /// p99, µs.
    pub(crate) p99: f64,
    /// p99.9, µs.
    pub(crate) p999: f64,
    /// Runs measured.
    pub(crate) runs: usize,
}

/// The paragraph on the emitter and Redis alone: its percentiles and, against Node's p99 (if
/// measured), the most that Volley's advantage could be if Volley added no latency at all.
pub(crate) fn emitter_floor(floor: Floor, node_p99: Option<f64>) -> String {
    let mut out = format!(
        "The emitter and Redis alone, without a Socket.IO server: the same emits at the same \
         rate, read by a plain Redis subscriber in the load generator (fred, `PSUBSCRIBE \
         <key>#*`): p50 {} µs, p99 {} µs, p99.9 {} µs (medians over {} runs). Every server's \
         latency above includes this part",
        num(floor.p50),
        num(floor.p99),
        num(floor.p999),
        floor.runs
    );
    match node_p99 {
        Some(node) if floor.p99 > 0.0 => {
            let _ = write!(
                out,
                ": were Volley to add no latency at all, its p99 advantage over Node would be \
                 about {}.",
                times(node / floor.p99)
            );
        }
        _ => out.push('.'),
    }
    out.push_str("\n\n");
    out
}

/// Says how many of the measured publishes Redis did not take (nothing when none failed).
pub(crate) fn failed_publishes(failed: u64) -> String {
    let mut out = String::new();
    if failed > 0 {
        let _ = writeln!(
            out,
            "{failed} measured publishes failed (Redis did not take them).\n"
        );
    }
    out
}
