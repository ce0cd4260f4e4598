//! The deployment of `deploy/` without sticky sessions: `deploy/run-local.sh` in its round-robin
//! mode (nginx spreads every request over three chat nodes joined by Redis at 127.0.0.1:6379,
//! each node started with `--advertise`), and chat clients that long-poll through it: a node
//! that gets a request for a session another node holds hands it to that node.
//!
//! Official clients, npm `socket.io-client` and PyPI `python-socketio`, some on long-polling
//! only and some upgrading to WebSocket, join one room and post to it for a while
//! (`VOLLEY_SOAK_SECS`, default 60), each post acknowledged by the server. Then every client
//! must have received every other client's acknowledged posts, each once and in order; no
//! client may have been disconnected; the upgrading ones must be on WebSocket; nginx must have
//! answered every Engine.IO request with success; and the access log must show that the
//! sessions' requests really were spread over several nodes (so they were forwarded).
//!
//! Environment: as `deploy/run-local.sh`; `VOLLEY_NODE_CLIENTS`, `VOLLEY_PYTHON` as the other
//! tests with the official clients.

use std::collections::{BTreeMap, BTreeSet};
use std::process::Stdio;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use serde_json::Value;
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader, Lines};
use tokio::process::{Child, ChildStdin, ChildStdout};
use volley_tests::clients::{node_client_script, python_script};
use volley_tests::deploy::{Balance, Deployment};
use volley_tests::{bail, Failure, TestResult};

/// How long the clients post, unless `VOLLEY_SOAK_SECS` says otherwise.
const DEFAULT_SOAK: Duration = Duration::from_secs(60);
/// Time between two posts of one client.
const INTERVAL_MS: u64 = 250;
/// How long a client may take to connect and join, or to report once told to stop.
const STEP: Duration = Duration::from_secs(30);

/// The clients: which library, whether it upgrades.
const CLIENTS: [(&str, Lib, &str); 8] = [
    ("np1", Lib::Npm, "polling"),
    ("np2", Lib::Npm, "polling"),
    ("np3", Lib::Npm, "polling"),
    ("nu1", Lib::Npm, "upgrade"),
    ("nu2", Lib::Npm, "upgrade"),
    ("pp1", Lib::Python, "polling"),
    ("pp2", Lib::Python, "polling"),
    ("pu1", Lib::Python, "upgrade"),
];

#[derive(Debug, Clone, Copy)]
enum Lib {
    Npm,
    Python,
}

/// One running `chatter` script.
struct Chatter {
    name: &'static str,
    mode: &'static str,
    child: Child,
    stdin: ChildStdin,
    lines: Lines<BufReader<ChildStdout>>,
}

impl Chatter {
    async fn spawn(
        url: &str,
        room: &str,
        (name, lib, mode): (&'static str, Lib, &'static str),
    ) -> TestResult<Self> {
        let mut cmd = match lib {
            Lib::Npm => node_client_script("chatter.mjs")?,
            Lib::Python => python_script("chatter.py")?,
        };
        let mut child = cmd
            .args([url, name, room, mode, &INTERVAL_MS.to_string()])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .kill_on_drop(true)
            .spawn()?;
        let (Some(stdin), Some(stdout)) = (child.stdin.take(), child.stdout.take()) else {
            bail!("{name}: no pipes");
        };
        Ok(Chatter {
            name,
            mode,
            child,
            stdin,
            lines: BufReader::new(stdout).lines(),
        })
    }

    /// The next line it prints that is event `ev` (an error line fails the test).
    async fn next(&mut self, ev: &str) -> TestResult<Value> {
        loop {
            let line = tokio::time::timeout(STEP, self.lines.next_line())
                .await
                .map_err(|_| Failure::msg(format!("{}: no {ev:?} within {STEP:?}", self.name)))??
                .ok_or_else(|| Failure::msg(format!("{}: exited before {ev:?}", self.name)))?;
            let value: Value = serde_json::from_str(&line)
                .map_err(|e| Failure::msg(format!("{}: {e}: {line}", self.name)))?;
            if value["ev"] == "error" {
                bail!("{}: {line}", self.name);
            }
            if value["ev"] == ev {
                return Ok(value);
            }
        }
    }

    async fn say(&mut self, line: &str) -> TestResult {
        self.stdin.write_all(format!("{line}\n").as_bytes()).await?;
        self.stdin.flush().await?;
        Ok(())
    }
}

fn soak() -> Duration {
    std::env::var("VOLLEY_SOAK_SECS")
        .ok()
        .and_then(|s| s.parse().ok())
        .map_or(DEFAULT_SOAK, Duration::from_secs)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn polling_clients_chat_through_a_round_robin_balancer() -> TestResult {
    let d = Deployment::start(env!("CARGO_BIN_EXE_deploy_chat"), Balance::RoundRobin).await?;
    let outcome = scenario(&d).await;
    d.finish(outcome)
}

async fn scenario(d: &Deployment) -> TestResult {
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |t| t.subsec_nanos());
    let room = format!("rr-{}-{nanos}", std::process::id());
    let mut chatters = Vec::new();
    for client in CLIENTS {
        let mut c = Chatter::spawn(&d.url(), &room, client).await?;
        c.next("joined").await?;
        chatters.push(c);
    }
    // every join was acknowledged: every later post in the room reaches every member
    for c in &mut chatters {
        c.say("go").await?;
    }
    tokio::time::sleep(soak()).await;
    for c in &mut chatters {
        c.say("stop").await?;
    }
    let mut reports = BTreeMap::new();
    for c in &mut chatters {
        let report = c.next("report").await?;
        let _ = c.child.wait().await;
        reports.insert(c.name, (c.mode, report));
    }

    // --- the clients: every acknowledged post reached every other client, once, in order ---------
    let mut problems = Vec::new();
    for (name, (mode, r)) in &reports {
        let acked = r["acked"].as_u64().unwrap_or(0);
        let sent = r["sent"].as_u64().unwrap_or(0);
        if sent < 10 || acked != sent {
            problems.push(format!(
                "{name}: {acked} of {sent} posts acknowledged; failed: {}",
                r["failed"]
            ));
        }
        if !r["disconnects"].as_array().is_some_and(Vec::is_empty) {
            problems.push(format!("{name}: disconnected: {}", r["disconnects"]));
        }
        let want_transport = if *mode == "upgrade" {
            "websocket"
        } else {
            "polling"
        };
        if r["transport"] != want_transport {
            problems.push(format!(
                "{name}: on {} at the end, expected {want_transport}",
                r["transport"]
            ));
        }
        for (other, (_, o)) in &reports {
            if other == name {
                continue;
            }
            let expected: Vec<u64> = (0..o["sent"].as_u64().unwrap_or(0)).collect();
            let got: Vec<u64> = r["received"][*other]
                .as_array()
                .map(|a| a.iter().filter_map(Value::as_u64).collect())
                .unwrap_or_default();
            if got != expected {
                let missing = expected.iter().filter(|s| !got.contains(s)).count();
                problems.push(format!(
                    "{name} got {} of {other}'s {} posts ({missing} missing; in order and once: {})",
                    got.len(),
                    expected.len(),
                    got.windows(2).all(|w| w[0] < w[1])
                ));
            }
        }
    }
    if !problems.is_empty() {
        bail!("{} problems:\n{}", problems.len(), problems.join("\n"));
    }

    // --- nginx: every request answered with success, and sessions spread over the nodes -----------
    let lines = d.access_log();
    let engineio: Vec<_> = lines.iter().filter(|l| l.is_engineio()).collect();
    // a client that leaves at the end may abandon its last poll (nginx logs 499): once per
    // session at most; every other request must have succeeded
    let mut abandoned: BTreeMap<&str, usize> = BTreeMap::new();
    let mut bad = Vec::new();
    for l in &engineio {
        match (l.status, l.param("sid")) {
            (200 | 101, _) => {}
            (499, Some(sid)) if l.method == "GET" => {
                let n = abandoned.entry(sid).or_default();
                *n += 1;
                if *n > 1 {
                    bad.push(l.raw.as_str());
                }
            }
            _ => bad.push(l.raw.as_str()),
        }
    }
    if !bad.is_empty() {
        bail!(
            "{} Engine.IO requests failed through nginx, e.g.:\n{}",
            bad.len(),
            bad[..bad.len().min(10)].join("\n")
        );
    }
    let mut nodes_of_session: BTreeMap<&str, BTreeSet<usize>> = BTreeMap::new();
    for l in &engineio {
        if let (Some(sid), Some(node)) = (l.param("sid"), d.node_of(&l.upstream)) {
            nodes_of_session.entry(sid).or_default().insert(node);
        }
    }
    if nodes_of_session.len() < CLIENTS.len() {
        bail!(
            "the access log names {} sessions, expected {} at least",
            nodes_of_session.len(),
            CLIENTS.len()
        );
    }
    // the long-polling-only sessions make hundreds of requests: each must have met every node
    let polling_only = CLIENTS
        .iter()
        .filter(|(_, _, mode)| *mode == "polling")
        .count();
    let spread = nodes_of_session.values().filter(|n| n.len() == 3).count();
    if spread < polling_only {
        bail!(
            "only {spread} sessions had requests on all three nodes: the balancer did not spread \
             them, so forwarding was not exercised ({nodes_of_session:?})"
        );
    }
    let posts: u64 = reports
        .values()
        .map(|(_, r)| r["sent"].as_u64().unwrap_or(0))
        .sum();
    eprintln!(
        "deploy_round_robin: {} clients, {posts} posts, each delivered to {} others; {} Engine.IO \
         requests, {spread} sessions served by all three nodes",
        CLIENTS.len(),
        CLIENTS.len() - 1,
        engineio.len()
    );
    Ok(())
}
