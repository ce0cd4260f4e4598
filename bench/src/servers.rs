//! Starting and stopping the servers under test: Volley (`volley_bench_server`), Node socket.io
//! and python-socketio (`bench/baselines/`), each pinned to the server core with `taskset`.

use std::io;
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU16, Ordering};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

/// A server implementation under test.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Kind {
    /// Volley, this project.
    Volley,
    /// Node `socket.io` 4 on `ws` (with `@socket.io/redis-adapter` across nodes, or
    /// `@socket.io/redis-streams-adapter` through `redis://…?bus=streams`).
    Node,
    /// python-socketio 5 on uvicorn (with `AsyncRedisManager` across nodes).
    Python,
}

impl Kind {
    /// Every kind, in the order of the report's tables.
    pub const ALL: [Kind; 3] = [Kind::Volley, Kind::Node, Kind::Python];

    /// The name in the report.
    pub fn name(self) -> &'static str {
        match self {
            Kind::Volley => "Volley",
            Kind::Node => "Node socket.io",
            Kind::Python => "python-socketio",
        }
    }

    /// The name on the command line (`--servers`).
    pub fn key(self) -> &'static str {
        match self {
            Kind::Volley => "volley",
            Kind::Node => "node",
            Kind::Python => "python",
        }
    }

    /// The name of a cross-node setup with `adapter` (a URL such as `redis://…`).
    pub fn cluster_name(self, adapter: &str) -> String {
        let broker = adapter.split("://").next().unwrap_or(adapter);
        match (self, broker) {
            (Kind::Volley, b) if adapter.contains("bus=streams") => format!("Volley + {b} streams"),
            (Kind::Volley, b) if adapter.contains("bus=jetstream") => {
                format!("Volley + {b} JetStream")
            }
            (Kind::Node, "nats") => "Node socket.io (no NATS adapter)".to_owned(),
            (Kind::Python, "nats") => "python-socketio (no NATS manager)".to_owned(),
            (Kind::Volley, b) if adapter.contains("protocol=node") => {
                format!("Volley + {b}, Node's protocol")
            }
            (Kind::Python, _) if adapter.contains("protocol=node") => {
                "python-socketio (no Node protocol)".to_owned()
            }
            (Kind::Volley, b) => format!("Volley + {b}"),
            (Kind::Node, "redis") if adapter.contains("bus=streams") => {
                "Node + @socket.io/redis-streams-adapter".to_owned()
            }
            (Kind::Node, "redis") => "Node + @socket.io/redis-adapter".to_owned(),
            (Kind::Node, b) => format!("Node + {b} adapter"),
            (Kind::Python, "redis") if adapter.contains("bus=streams") => {
                "python-socketio (no Redis Streams manager)".to_owned()
            }
            (Kind::Python, "redis") => "python-socketio + AsyncRedisManager".to_owned(),
            (Kind::Python, "amqp") => "python-socketio + AsyncAioPikaManager".to_owned(),
            (Kind::Python, "kafka") => "python-socketio + KafkaManager (sync)".to_owned(),
            (Kind::Python, b) => format!("python-socketio + {b} manager"),
        }
    }
}

/// Where things are and how to pin them.
#[derive(Debug, Clone)]
pub struct Env {
    /// The `bench/` folder.
    pub bench_dir: PathBuf,
    /// The folder of this binary (where `volley_bench_server` is too).
    pub bin_dir: PathBuf,
    /// Where the servers' output goes.
    pub log_dir: PathBuf,
    /// The core the servers are pinned to (`None`: not pinned).
    pub server_core: Option<usize>,
    /// The core of the load generator, where the cross-node scenario puts its node B (`None`: not
    /// pinned).
    pub loadgen_core: Option<usize>,
    /// The niceness the load generator runs at, which the servers and brokers it starts
    /// inherit (`None`: it could not be raised, and they run at the default).
    pub niceness: Option<i32>,
}

impl Env {
    /// Why `kind` cannot be started here, if it cannot.
    pub fn missing(&self, kind: Kind) -> Option<String> {
        let (path, hint) = match kind {
            Kind::Volley => (
                self.bin_dir.join("volley_bench_server"),
                "cargo build --release -p volley-bench",
            ),
            Kind::Node => (
                self.bench_dir
                    .join("baselines/node/node_modules/socket.io/package.json"),
                "bench/run.sh installs it (npm ci in bench/baselines/node)",
            ),
            Kind::Python => (
                self.bench_dir.join("baselines/python/.venv/bin/python"),
                "bench/run.sh installs it (a venv in bench/baselines/python)",
            ),
        };
        (!path.exists()).then(|| format!("{} is missing: {hint}", path.display()))
    }
}

/// A running server process.
#[derive(Debug)]
pub struct Server {
    child: Child,
    /// Its process id (what `/proc` is read for).
    pub pid: u32,
    /// Its port on 127.0.0.1.
    pub port: u16,
}

static NEXT_PORT: AtomicU16 = AtomicU16::new(0);

/// A fresh port for the next server (servers never reuse one within a run).
pub fn next_port() -> u16 {
    // below the ephemeral port range (32768 and up), where client sockets could hold it
    let base = 21_000 + (std::process::id() % 100) as u16 * 100;
    let _ = NEXT_PORT.compare_exchange(0, base, Ordering::Relaxed, Ordering::Relaxed);
    NEXT_PORT.fetch_add(1, Ordering::Relaxed)
}

fn program(env: &Env, kind: Kind) -> (PathBuf, Vec<String>, PathBuf) {
    match kind {
        Kind::Volley => (
            env.bin_dir.join("volley_bench_server"),
            vec![],
            env.bin_dir.clone(),
        ),
        Kind::Node => (
            PathBuf::from("node"),
            vec!["server.js".to_owned()],
            env.bench_dir.join("baselines/node"),
        ),
        Kind::Python => (
            env.bench_dir.join("baselines/python/.venv/bin/python"),
            vec!["server.py".to_owned()],
            env.bench_dir.join("baselines/python"),
        ),
    }
}

/// Whether util-linux's `setpriv` is on this machine.
fn has_setpriv() -> bool {
    static HAS: OnceLock<bool> = OnceLock::new();
    *HAS.get_or_init(|| {
        Command::new("setpriv")
            .arg("--version")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .is_ok_and(|s| s.success())
    })
}

/// Starts `kind` on a fresh port with `adapter` (`memory`, `redis://…`) and channel `prefix`,
/// and waits until it accepts connections.
pub fn start(env: &Env, kind: Kind, adapter: &str, prefix: &str) -> io::Result<Server> {
    start_on(env, env.server_core, kind, adapter, prefix)
}

/// [`start`] pinned to `core` instead of the server core (`None`: not pinned).
pub fn start_on(
    env: &Env,
    core: Option<usize>,
    kind: Kind,
    adapter: &str,
    prefix: &str,
) -> io::Result<Server> {
    start_with(env, core, kind, adapter, prefix, &[])
}

/// [`start_on`] with `extra` flags after the common ones (flags only that `kind`'s server
/// knows, such as `volley_bench_server --emitter-key`).
pub fn start_with(
    env: &Env,
    core: Option<usize>,
    kind: Kind,
    adapter: &str,
    prefix: &str,
    extra: &[&str],
) -> io::Result<Server> {
    let port = next_port();
    let (prog, mut args, dir) = program(env, kind);
    args.extend([
        "--port".to_owned(),
        port.to_string(),
        "--adapter".to_owned(),
        adapter.to_owned(),
        "--prefix".to_owned(),
        prefix.to_owned(),
    ]);
    args.extend(extra.iter().map(|a| (*a).to_owned()));
    // `setpriv --pdeathsig KILL`: the server dies with the harness, even when the harness
    // itself is killed or crashes (otherwise it would load every run after it)
    let mut line: Vec<String> = Vec::new();
    if has_setpriv() {
        line.extend(["setpriv", "--pdeathsig", "KILL", "--"].map(str::to_owned));
    }
    if let Some(core) = core {
        line.extend(["taskset".to_owned(), "-c".to_owned(), core.to_string()]);
    }
    let mut cmd = match line.split_first() {
        Some((first, rest)) => {
            let mut c = Command::new(first);
            c.args(rest).arg(&prog);
            c
        }
        None => Command::new(&prog),
    };
    cmd.args(&args);
    std::fs::create_dir_all(&env.log_dir)?;
    let log = std::fs::File::create(env.log_dir.join(format!("{}-{port}.log", kind.key())))?;
    cmd.current_dir(&dir)
        .stdin(Stdio::null())
        .stdout(log.try_clone()?)
        .stderr(log);
    let mut child = cmd
        .spawn()
        .map_err(|e| io::Error::new(e.kind(), format!("cannot start {}: {e}", prog.display())))?;
    let pid = child.id();
    let ready_by = Instant::now() + Duration::from_secs(30);
    loop {
        if TcpStream::connect(("127.0.0.1", port)).is_ok() {
            break;
        }
        if let Some(status) = child.try_wait()? {
            return Err(io::Error::other(format!(
                "{} exited at start ({status}); see {}",
                kind.name(),
                env.log_dir.display()
            )));
        }
        if Instant::now() > ready_by {
            let _ = child.kill();
            let _ = child.wait();
            return Err(io::Error::other(format!(
                "{} did not listen within 30 s",
                kind.name()
            )));
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    Ok(Server { child, pid, port })
}

impl Server {
    /// Stops the server (SIGKILL: nothing of it is measured any more) and reaps it; returns the
    /// CPU seconds it used.
    pub fn stop(mut self) -> f64 {
        let used = crate::procfs::cpu_seconds(Some(self.pid));
        let _ = self.child.kill();
        let _ = self.child.wait();
        used
    }
}

/// The workspace's `bench/` folder, from this source tree.
pub fn bench_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).to_path_buf()
}

#[cfg(test)]
mod tests {
    use super::Kind;

    #[test]
    fn cluster_names_say_which_adapter() {
        let pubsub = "redis://127.0.0.1:6379";
        let streams = "redis://127.0.0.1:6379?bus=streams&stream=volley-bench";
        assert_eq!(Kind::Volley.cluster_name(pubsub), "Volley + redis");
        assert_eq!(Kind::Volley.cluster_name(streams), "Volley + redis streams");
        assert_eq!(
            Kind::Node.cluster_name(pubsub),
            "Node + @socket.io/redis-adapter"
        );
        assert_eq!(
            Kind::Node.cluster_name(streams),
            "Node + @socket.io/redis-streams-adapter"
        );
        assert_eq!(
            Kind::Python.cluster_name(pubsub),
            "python-socketio + AsyncRedisManager"
        );
        assert_eq!(
            Kind::Python.cluster_name(streams),
            "python-socketio (no Redis Streams manager)"
        );
        let node_protocol = "redis://127.0.0.1:6379?protocol=node";
        assert_eq!(
            Kind::Volley.cluster_name(node_protocol),
            "Volley + redis, Node's protocol"
        );
        assert_eq!(
            Kind::Node.cluster_name(node_protocol),
            "Node + @socket.io/redis-adapter"
        );
        assert_eq!(
            Kind::Python.cluster_name(node_protocol),
            "python-socketio (no Node protocol)"
        );
    }
}
