//! `volley-bench`: runs Volley's benchmarks and writes `BENCHMARKS.md`.
//!
//! ```text
//! volley-bench run [--quick] [--only idle,storm,echo,fanout,rooms,cross,emitter,floods,compression]
//!                  [--servers volley,node,python] [--brokers redis,redis-streams,redis-node-protocol,rabbitmq,kafka,nats,nats-jetstream]
//!                  [--out FILE] [--no-pin]
//! volley-bench smoke
//! volley-bench floods [--adapter URL[,URL…]] [--seconds N] [--only handlers,connect,binary,reader,http]
//! volley-bench storm PORT N CONCURRENCY    # one connect storm against a running server
//! volley-bench hold PORT N SECONDS         # N idle connections to a running server
//! volley-bench echo PORT N SECONDS [PID]   # N clients' ack echo against a running server
//! volley-bench fanout PORT MEMBERS ROOMS WINDOW SECONDS [PID]  # room fan-out against a running server
//! volley-bench recovery PORT MISSED ROUNDS  # connection state recovery against a running server
//! volley-bench rooms [EMITS]               # bus bytes per node: Redis pub/sub vs sharded, 8 nodes
//! ```
//!
//! `run` expects the baselines installed (bench/run.sh does it) and `volley_bench_server` built
//! next to this binary. `smoke` runs a one-second ack echo against Volley alone and prints one
//! line: nothing is asserted on the numbers. `floods` starts its own Volley nodes too (one per
//! flood and adapter, `memory` unless told) and prints the RSS growth one abusive client causes
//! (see `scenarios::floods`); `run --only floods` puts the same table in the report.

use std::path::PathBuf;
use std::process::{Command, ExitCode};
use std::time::Duration;

use volley_bench::loadgen::{self, sio::Target, Rate};
use volley_bench::report::num;
use volley_bench::scenarios::floods::{self, Flood};
use volley_bench::scenarios::{self, Bench, Config};
use volley_bench::servers::{self, Env, Kind};

const USAGE: &str =
    "usage: volley-bench run [--quick] \
                     [--only idle,storm,echo,fanout,rooms,cross,emitter,floods,compression] \
                     [--servers volley,node,python] \
                     [--brokers redis,redis-streams,redis-node-protocol,rabbitmq,kafka,nats,nats-jetstream] [--out FILE] [--no-pin]\n       \
                     volley-bench smoke\n       \
                     volley-bench floods [--adapter URL[,URL...]] [--seconds N] \
                     [--only handlers,connect,binary,reader,http]\n       \
                     volley-bench storm PORT N CONCURRENCY\n       \
                     volley-bench hold PORT N SECONDS\n       \
                     volley-bench echo PORT N SECONDS [PID]\n       \
                     volley-bench fanout PORT MEMBERS ROOMS WINDOW SECONDS [PID]\n       \
                     volley-bench recovery PORT MISSED ROUNDS\n       \
                     volley-bench rooms [EMITS]\n       \
                     volley-bench forward [ROUNDS]";

fn env(server_core: Option<usize>, loadgen_core: Option<usize>, niceness: Option<i32>) -> Env {
    let bin_dir = std::env::current_exe()
        .ok()
        .and_then(|p| p.parent().map(PathBuf::from))
        .unwrap_or_default();
    let bench_dir = servers::bench_dir();
    Env {
        log_dir: bin_dir.join("bench-logs"),
        bench_dir,
        bin_dir,
        server_core,
        loadgen_core,
        niceness,
    }
}

/// Runs `work` to completion on a one-thread runtime, inside a `LocalSet` (the load generator's
/// tasks share state through `Rc`).
fn block_on_local<F: std::future::Future>(work: F) -> Result<F::Output, String> {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| e.to_string())?;
    Ok(rt.block_on(tokio::task::LocalSet::new().run_until(work)))
}

fn run(args: &[String]) -> Result<(), String> {
    let mut cfg = if args.iter().any(|a| a == "--quick") {
        Config::quick()
    } else {
        Config::full()
    };
    let mut out = servers::bench_dir().join("../BENCHMARKS.md");
    let mut pin = true;
    let mut it = args.iter();
    while let Some(flag) = it.next() {
        let mut value = || it.next().ok_or(format!("{flag} needs a value"));
        match flag.as_str() {
            "--quick" => {}
            "--no-pin" => pin = false,
            "--out" => out = PathBuf::from(value()?),
            "--only" => cfg.only = Some(value()?.split(',').map(str::to_owned).collect()),
            "--servers" => cfg.servers = pick(value()?, &Kind::ALL, Kind::key, "server")?,
            "--brokers" => {
                let known: Vec<String> = scenarios::BROKERS
                    .iter()
                    .map(|b| scenarios::broker_key(b.name))
                    .collect();
                let keys: Vec<String> = value()?.split(',').map(str::to_owned).collect();
                if let Some(unknown) = keys.iter().find(|k| !known.contains(k)) {
                    return Err(format!(
                        "unknown broker {unknown}: one of {}",
                        known.join(", ")
                    ));
                }
                cfg.brokers = Some(keys);
            }
            other => return Err(format!("unknown flag {other}\n{USAGE}")),
        }
    }
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    let (server_core, loadgen_core) = if pin && cores >= 2 {
        // the load generator (this process) on core 1, the servers on core 0
        let pid = std::process::id().to_string();
        let pinned = Command::new("taskset")
            .args(["-a", "-cp", "1", &pid])
            .output()
            .map_err(|e| format!("taskset: {e}"))?;
        if !pinned.status.success() {
            return Err(format!(
                "taskset failed: {}",
                String::from_utf8_lossy(&pinned.stderr)
            ));
        }
        (Some(0), Some(1))
    } else {
        (None, None)
    };
    let niceness = raise_priority();
    let bench = Bench::new(env(server_core, loadgen_core, niceness), cfg);
    let report = block_on_local(bench.run())?;
    std::fs::write(&out, &report).map_err(|e| format!("cannot write {}: {e}", out.display()))?;
    println!("{report}");
    eprintln!("[bench] wrote {}", out.display());
    Ok(())
}

/// The items of `all` named (by `key`) in the comma-separated `list`, in its order; `what`
/// names an item in the error.
fn pick<T: Copy>(
    list: &str,
    all: &[T],
    key: fn(T) -> &'static str,
    what: &str,
) -> Result<Vec<T>, String> {
    list.split(',')
        .map(|w| {
            all.iter()
                .copied()
                .find(|t| key(*t) == w)
                .ok_or(format!("unknown {what} {w}"))
        })
        .collect()
}

/// The niceness every measured process runs at: the highest priority that ordinary time
/// sharing has. The machine's other processes (its services' timers, the kernel's workers) then
/// run while the servers and the load generator wait, instead of preempting them for a tenth of
/// a millisecond or more several times a second, which shows in every latency tail.
const NICENESS: i32 = -20;

/// Raises this process's priority to [`NICENESS`] (the servers and brokers it starts inherit
/// it); `None` when not allowed (it needs root or `CAP_SYS_NICE`).
fn raise_priority() -> Option<i32> {
    match rustix::process::setpriority_process(None, NICENESS) {
        Ok(()) => Some(NICENESS),
        Err(e) => {
            eprintln!(
                "[bench] running at the default priority: cannot set niceness {NICENESS}: {e}"
            );
            None
        }
    }
}

fn smoke() -> Result<(), String> {
    let env = env(None, None, None);
    if let Some(why) = env.missing(Kind::Volley) {
        return Err(why);
    }
    let server = servers::start(&env, Kind::Volley, "memory", "volley-bench-smoke")
        .map_err(|e| e.to_string())?;
    let target = Target::local(server.port);
    let result = block_on_local(loadgen::echo_max(
        &target,
        server.pid,
        4,
        4,
        Duration::from_millis(200),
        Duration::from_secs(1),
    ));
    server.stop();
    let r = result?.map_err(|e| e.to_string())?;
    println!(
        "smoke: ack echo against Volley: {} round trips in {:.1} s ({} per server CPU-second, {} lost connections)",
        r.count,
        r.window.wall.as_secs_f64(),
        num(r.per_cpu_sec()),
        r.errors
    );
    if r.count == 0 {
        return Err("no ack came back".to_owned());
    }
    Ok(())
}

/// `volley-bench floods [--adapter URL[,URL…]] [--seconds N] [--only FLOOD,…]`: each flood of
/// `scenarios::floods` against a fresh Volley node per adapter (default `memory`), N seconds
/// each (default 10); prints the machine and the table.
fn floods_cmd(args: &[String]) -> Result<(), String> {
    const USAGE: &str = "usage: volley-bench floods [--adapter URL[,URL...]] [--seconds N] \
                         [--only handlers,connect,binary,reader,http]";
    let mut adapters = vec!["memory".to_owned()];
    let mut seconds = 10u64;
    let mut wanted: Vec<Flood> = Flood::ALL.to_vec();
    let mut it = args.iter();
    while let Some(flag) = it.next() {
        let value = it.next().ok_or(format!("{flag} needs a value\n{USAGE}"))?;
        match flag.as_str() {
            "--adapter" => adapters = value.split(',').map(str::to_owned).collect(),
            "--seconds" => seconds = value.parse().map_err(|_| USAGE.to_owned())?,
            "--only" => wanted = pick(value, &Flood::ALL, Flood::key, "flood")?,
            other => return Err(format!("unknown flag {other}\n{USAGE}")),
        }
    }
    let env = env(None, None, None);
    if let Some(why) = env.missing(Kind::Volley) {
        return Err(why);
    }
    let length = Duration::from_secs(seconds);
    let prefix = format!("volley-bench-{}", std::process::id());
    let runs = block_on_local(floods::run_all(&env, &adapters, &wanted, length, &prefix))?;
    println!("Machine: {}.\n", volley_bench::procfs::machine());
    println!("{}", floods::table(&runs));
    Ok(())
}

/// The `i`-th argument of a subcommand as a number, or the subcommand's usage line.
fn nth<T: std::str::FromStr>(args: &[String], i: usize, usage: &str) -> Result<T, String> {
    args.get(i)
        .and_then(|a| a.parse().ok())
        .ok_or_else(|| usage.to_owned())
}

/// `volley-bench storm PORT N CONCURRENCY`: one connect storm against a server already running
/// on 127.0.0.1:PORT (for looking into one server by hand).
fn storm(args: &[String]) -> Result<(), String> {
    const USAGE: &str = "usage: volley-bench storm PORT N CONCURRENCY";
    let port: u16 = nth(args, 0, USAGE)?;
    let (n, c) = (nth(args, 1, USAGE)?, nth(args, 2, USAGE)?);
    let r = block_on_local(loadgen::storm(&Target::local(port), 0, 0, n, c))?;
    print_rate(
        "storm",
        "connections",
        &r,
        &format!(": {}/s", num(r.per_sec())),
        "failed",
    );
    Ok(())
}

/// `volley-bench hold PORT N SECONDS`: holds N idle connections to a server already running on
/// 127.0.0.1:PORT for SECONDS (for looking at its memory by hand).
fn hold(args: &[String]) -> Result<(), String> {
    const USAGE: &str = "usage: volley-bench hold PORT N SECONDS";
    let port: u16 = nth(args, 0, USAGE)?;
    let (n, secs) = (nth(args, 1, USAGE)?, nth(args, 2, USAGE)?);
    block_on_local(async {
        let (clients, failed) = loadgen::connect_all(&Target::local(port), 0, n, 256).await;
        println!("hold: {} connections open, {failed} failed", clients.len());
        let held = loadgen::Tasks::hold(clients);
        tokio::time::sleep(Duration::from_secs(secs)).await;
        let lost = held.close().await;
        println!("hold: closed ({lost} lost before)");
    })
}

/// `volley-bench echo PORT N SECONDS [PID]`: N clients send acked echo events to a server
/// already running on 127.0.0.1:PORT, 4 in flight each, for SECONDS after a one-second warm-up,
/// and the round trips are counted (with the server's CPU time when its PID is given). Run the
/// server under `valgrind --tool=callgrind` to count instructions per round trip, a figure that
/// does not move with whatever else the machine is doing.
fn echo(args: &[String]) -> Result<(), String> {
    const USAGE: &str = "usage: volley-bench echo PORT N SECONDS [PID]";
    let port: u16 = nth(args, 0, USAGE)?;
    let (n, secs) = (nth(args, 1, USAGE)?, nth(args, 2, USAGE)?);
    let pid: Option<u32> = args.get(3).map(|_| nth(args, 3, USAGE)).transpose()?;
    let r = block_on_local(loadgen::echo_max(
        &Target::local(port),
        pid.unwrap_or(0),
        n,
        4,
        Duration::from_secs(1),
        Duration::from_secs(secs),
    ))?
    .map_err(|e| e.to_string())?;
    let cpu = match pid {
        Some(_) => format!(", {} per server CPU-second", num(r.per_cpu_sec())),
        None => String::new(),
    };
    print_rate("echo", "round trips", &r, &cpu, "lost connections");
    Ok(())
}

/// `volley-bench fanout PORT MEMBERS ROOMS WINDOW SECONDS [PID]`: MEMBERS clients spread over
/// ROOMS rooms of a server already running on 127.0.0.1:PORT, one more sending `fanout` events
/// to the rooms in turn with at most WINDOW messages not yet delivered, for SECONDS after a
/// two-second warm-up; prints the deliveries (with the server's CPU time when its PID is given),
/// for looking into a server by hand (under callgrind, or with and without `--recovery`).
fn fanout(args: &[String]) -> Result<(), String> {
    const USAGE: &str = "usage: volley-bench fanout PORT MEMBERS ROOMS WINDOW SECONDS [PID]";
    let port: u16 = nth(args, 0, USAGE)?;
    let (members, rooms) = (nth(args, 1, USAGE)?, nth(args, 2, USAGE)?);
    let (window, secs) = (nth(args, 3, USAGE)?, nth(args, 4, USAGE)?);
    let pid: Option<u32> = args.get(5).map(|_| nth(args, 5, USAGE)).transpose()?;
    let runs = block_on_local(loadgen::fanout(
        &Target::local(port),
        pid.unwrap_or(0),
        members,
        rooms,
        window,
        1,
        Duration::from_secs(2),
        Duration::from_secs(secs),
    ))?
    .map_err(|e| e.to_string())?;
    for run in runs {
        let r = &run.rate;
        let cpu = match pid {
            Some(_) => format!(
                ", {} per server CPU-second (server CPU {:.0} %, {:.0} % of it in the kernel)",
                num(r.per_cpu_sec()),
                r.server_share() * 100.0,
                r.kernel_share() * 100.0
            ),
            None => String::new(),
        };
        print_rate("fanout", "deliveries", r, &cpu, "lost connections");
    }
    Ok(())
}

/// `volley-bench recovery PORT MISSED ROUNDS`: connection state recovery against a server
/// already running on 127.0.0.1:PORT with `--recovery` (see `loadgen::recovery`): ROUNDS times,
/// a client's connection is reset, MISSED broadcasts to its room follow, and the time from its
/// reconnect to the last missed broadcast read is measured; prints the smallest, median and
/// largest. Fails unless every round recovered the socket with exactly the missed broadcasts,
/// in order.
fn recovery(args: &[String]) -> Result<(), String> {
    const USAGE: &str = "usage: volley-bench recovery PORT MISSED ROUNDS";
    /// How long the server gets to notice a reset connection.
    const NOTICE: Duration = Duration::from_millis(200);
    let port: u16 = nth(args, 0, USAGE)?;
    let (missed, rounds) = (nth(args, 1, USAGE)?, nth(args, 2, USAGE)?);
    let runs = block_on_local(loadgen::recovery::recovery(
        &Target::local(port),
        missed,
        rounds,
        NOTICE,
    ))?
    .map_err(|e| e.to_string())?;
    let stats = |pick: fn(&loadgen::recovery::Round) -> Duration| {
        let samples: Vec<Duration> = runs.iter().map(pick).collect();
        match loadgen::recovery::min_median_max(&samples) {
            Some((min, median, max)) => format!(
                "min {} / median {} / max {} ms",
                ms(min),
                ms(median),
                ms(max)
            ),
            None => "no rounds".to_owned(),
        }
    };
    println!(
        "recovery: {} rounds of {missed} missed broadcasts, every one recovered in order; \
         reconnect to the last missed broadcast: {}; reconnect to the CONNECT ack: {}",
        runs.len(),
        stats(|r| r.caught_up),
        stats(|r| r.connected)
    );
    Ok(())
}

/// Milliseconds with three decimals.
fn ms(d: Duration) -> String {
    format!("{:.3}", d.as_secs_f64() * 1000.0)
}

/// Prints the one line of a hand-run subcommand: the count of `unit`s, the wall time,
/// `after_wall`, the errors (what they are: `errors`) and the load generator's CPU.
fn print_rate(name: &str, unit: &str, r: &Rate, after_wall: &str, errors: &str) {
    println!(
        "{name}: {} {unit} in {:.3} s{after_wall}, {} {errors}, load generator CPU {:.0} %",
        r.count,
        r.window.wall.as_secs_f64(),
        r.errors,
        r.window.loadgen_share * 100.0
    );
}

/// `volley-bench rooms [EMITS]`: bus bytes per node with Redis pub/sub and with sharded
/// pub/sub, for the same broadcasts to rooms (see `scenarios::rooms`).
fn rooms(args: &[String]) -> Result<(), String> {
    use volley_bench::scenarios::rooms::{self, NODES, ROOMS_PER_NODE, SHARED_EVERY};
    let emits: u64 = match args.first() {
        Some(n) => n.parse().map_err(|e| format!("EMITS: {e}"))?,
        None => 20_000,
    };
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .map_err(|e| e.to_string())?;
    let redis = "redis://127.0.0.1:6379";
    println!(
        "rooms: {NODES} nodes, {ROOMS_PER_NODE} rooms each + 1 shared (1 emit in {SHARED_EVERY}), {emits} emits"
    );
    let mut means = Vec::new();
    for sharded in [false, true] {
        let r = rt.block_on(rooms::run(redis, sharded, emits))?;
        println!(
            "rooms: {:<8} delivered {}/{} in {:.2} s (emits answered in {:.2} s); bus bytes per node: mean {:.0}, min {}, max {}",
            r.bus,
            r.delivered,
            r.expected,
            r.delivered_in.as_secs_f64(),
            r.elapsed.as_secs_f64(),
            r.mean_bytes(),
            r.bytes_per_node.iter().min().copied().unwrap_or(0),
            r.bytes_per_node.iter().max().copied().unwrap_or(0),
        );
        means.push(r.mean_bytes());
    }
    if let [classic, sharded] = means[..] {
        println!(
            "rooms: each node received {:.1}x fewer bus bytes with sharded pub/sub",
            classic / sharded.max(1.0)
        );
    }
    Ok(())
}

/// `volley-bench forward [ROUNDS]`: what a forwarded long-poll adds, without sticky sessions
/// (see `scenarios::forward`).
fn forward(args: &[String]) -> Result<(), String> {
    let rounds: u64 = match args.first() {
        Some(n) => n.parse().map_err(|e| format!("ROUNDS: {e}"))?,
        None => 2_000,
    };
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .map_err(|e| e.to_string())?;
    let r = rt.block_on(volley_bench::scenarios::forward::run(
        "redis://127.0.0.1:6379",
        rounds,
    ))?;
    println!("forward: {rounds} rounds each way (a POST with an ack, then the GET that brings it)");
    for (way, h) in [("direct", &r.direct), ("forwarded", &r.forwarded)] {
        println!(
            "forward: {way:<9} median {} µs, p90 {} µs, p99 {} µs",
            h.value_at_quantile(0.5),
            h.value_at_quantile(0.9),
            h.value_at_quantile(0.99)
        );
    }
    let added = |q: f64| {
        (r.forwarded.value_at_quantile(q) as f64 - r.direct.value_at_quantile(q) as f64) / 2.0
    };
    println!(
        "forward: added per forwarded request: median {:.0} µs, p99 {:.0} µs",
        added(0.5),
        added(0.99)
    );
    Ok(())
}

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let result = match args.first().map(String::as_str) {
        Some("run") => run(&args[1..]),
        Some("smoke") => smoke(),
        Some("floods") => floods_cmd(&args[1..]),
        Some("storm") => storm(&args[1..]),
        Some("hold") => hold(&args[1..]),
        Some("echo") => echo(&args[1..]),
        Some("fanout") => fanout(&args[1..]),
        Some("recovery") => recovery(&args[1..]),
        Some("rooms") => rooms(&args[1..]),
        Some("forward") => forward(&args[1..]),
        _ => {
            eprintln!("{USAGE}");
            return ExitCode::from(2);
        }
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("volley-bench: {e}");
            ExitCode::FAILURE
        }
    }
}
