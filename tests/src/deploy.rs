//! The deployment of `deploy/` as processes, for the tests that run it: `deploy/run-local.sh`
//! starts three chat nodes joined by Redis (127.0.0.1:6379) and nginx in front of them, configured
//! from `deploy/nginx/volley.conf.template`, the template docker-compose.yml uses too; the tests
//! judge by nginx's access log, which names the node that took each request.

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use tokio::process::Command;
use tokio::time::Instant;

use crate::{bail, Failure, TestResult, STEP_TIMEOUT};

/// How long `run-local.sh start` may take: it may install nginx with apt-get.
const START_TIMEOUT: Duration = Duration::from_secs(300);
/// How long an expected line may take to reach nginx's access log.
const LOG_TIMEOUT: Duration = Duration::from_secs(10);
/// The Redis the nodes share.
pub const REDIS: &str = "127.0.0.1:6379";

/// How nginx spreads requests over the nodes (`VOLLEY_BALANCE` of `run-local.sh`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Balance {
    /// Each client's address picks its node (the template as it is).
    Sticky,
    /// Every request to the next node; the nodes advertise their addresses and forward.
    RoundRobin,
}

impl Balance {
    fn as_str(self) -> &'static str {
        match self {
            Balance::Sticky => "sticky",
            Balance::RoundRobin => "round-robin",
        }
    }
}

/// The workspace's root directory.
pub fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

fn script() -> PathBuf {
    workspace_root().join("deploy/run-local.sh")
}

/// `N` distinct free ports on 127.0.0.1.
pub fn free_ports<const N: usize>() -> TestResult<[u16; N]> {
    // all bound at once, so that they differ; released just before the script binds them
    let listeners = (0..N)
        .map(|_| std::net::TcpListener::bind("127.0.0.1:0"))
        .collect::<Result<Vec<_>, _>>()?;
    let mut ports = [0; N];
    for (port, listener) in ports.iter_mut().zip(&listeners) {
        *port = listener.local_addr()?.port();
    }
    Ok(ports)
}

/// One line of the access log (`log_format volley` of the template).
#[derive(Debug, Clone)]
pub struct LogLine {
    /// The client's address as nginx saw it.
    pub remote: String,
    /// The node that answered (`host:port`).
    pub upstream: String,
    /// The status sent to the client.
    pub status: u16,
    /// The request's method.
    pub method: String,
    /// The request's target.
    pub uri: String,
    /// The whole line.
    pub raw: String,
}

impl LogLine {
    /// Reads one line; `None` when it is not of the template's format.
    pub fn parse(raw: &str) -> Option<LogLine> {
        let mut words = raw.split(' ');
        let remote = words.next()?.to_owned();
        let field = |name: &str| {
            raw.split(' ')
                .find_map(|w| w.strip_prefix(name))
                .map(str::to_owned)
        };
        let upstream = field("upstream=")?;
        let status = field("status=")?.parse().ok()?;
        let request = raw.split_once('"')?.1.rsplit_once('"')?.0;
        let mut parts = request.split(' ');
        Some(LogLine {
            remote,
            upstream,
            status,
            method: parts.next()?.to_owned(),
            uri: parts.next()?.to_owned(),
            raw: raw.to_owned(),
        })
    }

    /// A query parameter of the request.
    pub fn param(&self, name: &str) -> Option<&str> {
        let query = self.uri.split_once('?')?.1;
        query
            .split('&')
            .find_map(|kv| kv.strip_prefix(name)?.strip_prefix('='))
    }

    /// Whether it is a request to the Engine.IO endpoint.
    pub fn is_engineio(&self) -> bool {
        self.uri.starts_with("/socket.io/")
    }
}

/// The processes `deploy/run-local.sh` started; dropping it runs `run-local.sh stop`.
pub struct Deployment {
    run_dir: PathBuf,
    /// `127.0.0.1:PORT` of nginx.
    pub lb: String,
    /// The three nodes' ports on 127.0.0.1.
    pub node_ports: [u16; 3],
    /// Set when the test passed: the run directory is then removed.
    passed: bool,
}

impl Deployment {
    /// Runs `run-local.sh start` with the chat binary `chat_bin` over Redis, balanced as
    /// `balance` says.
    pub async fn start(chat_bin: &str, balance: Balance) -> TestResult<Self> {
        let redis = tokio::time::timeout(STEP_TIMEOUT, tokio::net::TcpStream::connect(REDIS)).await;
        if !matches!(redis, Ok(Ok(_))) {
            bail!(
                "Redis is not running at {REDIS}, and this test needs it (.ci/run starts it). \
                 Start it with: redis-server --daemonize yes --bind 127.0.0.1 -::1 --port 6379 \
                 --save \"\" --appendonly no --dir /var/lib/redis --logfile /var/log/redis/ci.log"
            );
        }
        let [lb, n1, n2, n3] = free_ports::<4>()?;
        let nanos = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.subsec_nanos());
        let run_dir =
            std::env::temp_dir().join(format!("volley-deploy-test-{}-{nanos}", std::process::id()));
        std::fs::create_dir_all(&run_dir)?;
        // From here on, dropping `deployment` stops whatever the script started.
        let deployment = Deployment {
            run_dir,
            lb: format!("127.0.0.1:{lb}"),
            node_ports: [n1, n2, n3],
            passed: false,
        };
        let child = Command::new("bash")
            .arg(script())
            .arg("start")
            .env("CHAT_BIN", chat_bin)
            .env("VOLLEY_BALANCE", balance.as_str())
            .env("VOLLEY_ADAPTER", "redis")
            .env("VOLLEY_REDIS_URL", format!("redis://{REDIS}"))
            .env("VOLLEY_RUN_DIR", &deployment.run_dir)
            .env("VOLLEY_LB_ADDR", &deployment.lb)
            .env("VOLLEY_NODE_PORTS", format!("{n1} {n2} {n3}"))
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .kill_on_drop(true)
            .spawn()
            .map_err(|e| Failure::msg(format!("cannot run {}: {e}", script().display())))?;
        let output = match tokio::time::timeout(START_TIMEOUT, child.wait_with_output()).await {
            Ok(output) => output?,
            Err(_) => bail!(
                "deploy/run-local.sh start did not finish within {START_TIMEOUT:?}\n{}",
                deployment.logs()
            ),
        };
        if !output.status.success() {
            bail!(
                "deploy/run-local.sh start failed ({}): nginx (Debian's package, installed by the \
                 script when running as root), the chat nodes or Redis could not be started.\n\
                 --- script output ---\n{}{}\n{}",
                output.status,
                String::from_utf8_lossy(&output.stdout),
                String::from_utf8_lossy(&output.stderr),
                deployment.logs()
            );
        }
        Ok(deployment)
    }

    /// The balancer's URL.
    pub fn url(&self) -> String {
        format!("http://{}", self.lb)
    }

    /// Which node (0, 1, 2) an `upstream=` value names.
    pub fn node_of(&self, upstream: &str) -> Option<usize> {
        let port: u16 = upstream.rsplit_once(':')?.1.parse().ok()?;
        self.node_ports.iter().position(|p| *p == port)
    }

    /// The access log's lines so far.
    pub fn access_log(&self) -> Vec<LogLine> {
        std::fs::read_to_string(self.run_dir.join("nginx-access.log"))
            .unwrap_or_default()
            .lines()
            .filter_map(LogLine::parse)
            .collect()
    }

    /// Waits until the access log has lines for which `done` holds.
    pub async fn wait_log(
        &self,
        what: &str,
        done: impl Fn(&[LogLine]) -> bool,
    ) -> TestResult<Vec<LogLine>> {
        let until = Instant::now() + LOG_TIMEOUT;
        loop {
            let lines = self.access_log();
            if done(&lines) {
                return Ok(lines);
            }
            if Instant::now() >= until {
                bail!(
                    "nginx's access log has no {what} after {LOG_TIMEOUT:?}\n{}",
                    self.logs()
                );
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// The ends of the nodes' and nginx's logs, for failure messages.
    pub fn logs(&self) -> String {
        let mut out = format!("(everything is in {})\n", self.run_dir.display());
        for (name, lines) in [
            ("node1.log", 15),
            ("node2.log", 15),
            ("node3.log", 15),
            ("nginx-error.log", 15),
            ("nginx-access.log", 40),
        ] {
            let text = std::fs::read_to_string(self.run_dir.join(name)).unwrap_or_default();
            let all: Vec<&str> = text.lines().collect();
            out.push_str(&format!("--- {name} (last {lines} lines) ---\n"));
            for line in &all[all.len().saturating_sub(lines)..] {
                out.push_str(line);
                out.push('\n');
            }
        }
        out
    }

    /// Ends a test on this deployment with the scenario's `outcome`: on success the run
    /// directory goes with the processes, on failure it stays and the logs join the message.
    pub fn finish(mut self, outcome: TestResult) -> TestResult {
        match outcome {
            Ok(()) => {
                self.passed = true;
                Ok(())
            }
            Err(e) => Err(self.explain(e)),
        }
    }

    /// Adds the logs to a failure.
    pub fn explain(&self, failure: Failure) -> Failure {
        Failure::msg(format!("{}\n{}", failure.message(), self.logs()))
    }
}

impl Drop for Deployment {
    fn drop(&mut self) {
        let stopped = std::process::Command::new("bash")
            .arg(script())
            .arg("stop")
            .env("VOLLEY_RUN_DIR", &self.run_dir)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status();
        if !stopped.is_ok_and(|s| s.success()) {
            eprintln!(
                "deploy: `VOLLEY_RUN_DIR={} deploy/run-local.sh stop` failed",
                self.run_dir.display()
            );
        }
        if self.passed {
            let _ = std::fs::remove_dir_all(&self.run_dir);
        } else {
            eprintln!("deploy: logs kept in {}", self.run_dir.display());
        }
    }
}
