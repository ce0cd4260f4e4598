//! A remote-controlled official `socket.io-client` (tests/clients/node/puppet.mjs): the test sends
//! commands (connect, emit, emit with ack, reply to calls, disconnect) and waits for what the
//! server sends, so several clients can take part in one scenario, on one node or many.

use std::collections::VecDeque;
use std::path::PathBuf;
use std::process::Stdio;
use std::time::Duration;

use serde_json::{json, Value};
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::process::{Child, ChildStdin, Command};
use tokio::sync::mpsc;

use crate::clients::{NODE_CLIENTS_VAR, NODE_VAR};
use crate::{bail, Failure, TestResult, STEP_TIMEOUT};

/// One official client, driven line by line.
pub struct Puppet {
    child: Child,
    stdin: ChildStdin,
    lines: mpsc::UnboundedReceiver<Value>,
    backlog: VecDeque<Value>,
    next_id: u64,
    stderr: std::sync::Arc<std::sync::Mutex<String>>,
}

fn clients_dir() -> PathBuf {
    match std::env::var_os(NODE_CLIENTS_VAR).filter(|v| !v.is_empty()) {
        Some(p) => {
            let p = PathBuf::from(p);
            if p.is_relative() {
                PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..").join(p)
            } else {
                p
            }
        }
        None => PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("clients/node"),
    }
}

impl Puppet {
    /// Starts a client for the server at `url` (`http://127.0.0.1:PORT`) with a transport
    /// (`polling`, `websocket` or `upgrade`); it connects nothing yet.
    pub async fn spawn(url: &str, transport: &str) -> TestResult<Self> {
        Self::spawn_with(url, transport, "json").await
    }

    /// [`Puppet::spawn`] with a parser: `json` (default) or `msgpack`.
    pub async fn spawn_with(url: &str, transport: &str, parser: &str) -> TestResult<Self> {
        Self::spawn_full(url, transport, parser, json!({})).await
    }

    /// [`Puppet::spawn_with`] with extra `Manager` options (`extraHeaders`, `query`, …).
    pub async fn spawn_full(
        url: &str,
        transport: &str,
        parser: &str,
        extra: Value,
    ) -> TestResult<Self> {
        let dir = clients_dir();
        if !dir
            .join("node_modules/socket.io-client/package.json")
            .exists()
        {
            bail!(
                "the Node client is not installed in {}: run `scripts/test.sh` (it runs `npm ci` \
                 there)",
                dir.display()
            );
        }
        let node = std::env::var(NODE_VAR).unwrap_or_else(|_| "node".to_owned());
        let mut child = Command::new(node)
            .arg(dir.join("puppet.mjs"))
            .args([url, transport, parser, &extra.to_string()])
            .current_dir(&dir)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .kill_on_drop(true)
            .spawn()
            .map_err(|e| Failure::msg(format!("cannot start node: {e}")))?;
        let stdin = child.stdin.take().ok_or_else(|| Failure::msg("no stdin"))?;
        let stdout = child
            .stdout
            .take()
            .ok_or_else(|| Failure::msg("no stdout"))?;
        let mut err_pipe = child
            .stderr
            .take()
            .ok_or_else(|| Failure::msg("no stderr"))?;
        let (tx, lines) = mpsc::unbounded_channel();
        tokio::spawn(async move {
            let mut reader = BufReader::new(stdout).lines();
            while let Ok(Some(line)) = reader.next_line().await {
                let value =
                    serde_json::from_str(&line).unwrap_or(json!({ "ev": "raw", "line": line }));
                if tx.send(value).is_err() {
                    break;
                }
            }
        });
        let stderr = std::sync::Arc::new(std::sync::Mutex::new(String::new()));
        let sink = stderr.clone();
        tokio::spawn(async move {
            let mut buf = String::new();
            let _ = err_pipe.read_to_string(&mut buf).await;
            if let Ok(mut s) = sink.lock() {
                s.push_str(&buf);
            }
        });
        Ok(Puppet {
            child,
            stdin,
            lines,
            backlog: VecDeque::new(),
            next_id: 1,
            stderr,
        })
    }

    fn fail(&self, what: String) -> Failure {
        let stderr = self.stderr.lock().map(|s| s.clone()).unwrap_or_default();
        Failure::msg(format!("{what}\nclient stderr:\n{stderr}"))
    }

    async fn next_line(&mut self, until: tokio::time::Instant) -> TestResult<Option<Value>> {
        match tokio::time::timeout_at(until, self.lines.recv()).await {
            Ok(Some(v)) => Ok(Some(v)),
            Ok(None) => Err(self.fail("the client exited".into())),
            Err(_) => Ok(None),
        }
    }

    /// Sends a command and returns its answer; what arrives meanwhile is kept for later.
    pub async fn command(&mut self, cmd: Value) -> TestResult<Value> {
        self.command_until(cmd, tokio::time::Instant::now() + STEP_TIMEOUT * 2)
            .await
    }

    /// [`command`](Puppet::command), waiting for the answer until `until`.
    async fn command_until(
        &mut self,
        mut cmd: Value,
        until: tokio::time::Instant,
    ) -> TestResult<Value> {
        let id = self.next_id;
        self.next_id += 1;
        cmd["id"] = json!(id);
        let mut line = cmd.to_string();
        line.push('\n');
        self.stdin
            .write_all(line.as_bytes())
            .await
            .map_err(|e| self.fail(format!("cannot write to the client: {e}")))?;
        loop {
            match self.next_line(until).await? {
                Some(v) if v.get("id") == Some(&json!(id)) => {
                    if let Some(err) = v.get("error") {
                        return Err(self.fail(format!("command {cmd} failed: {err}")));
                    }
                    return Ok(v);
                }
                Some(v) => self.backlog.push_back(v),
                None => return Err(self.fail(format!("no answer to {cmd}"))),
            }
        }
    }

    /// Connects to a namespace; its raw answer (`sid` or `connect_error`).
    pub async fn try_connect(&mut self, nsp: &str, auth: Option<Value>) -> TestResult<Value> {
        let mut cmd = json!({ "cmd": "connect", "nsp": nsp });
        if let Some(auth) = auth {
            cmd["auth"] = auth;
        }
        self.command(cmd).await
    }

    /// Connects to a namespace and returns the socket id; fails on a connect error.
    pub async fn connect(&mut self, nsp: &str, auth: Option<Value>) -> TestResult<String> {
        let answer = self.try_connect(nsp, auth).await?;
        match answer.get("sid").and_then(Value::as_str) {
            Some(sid) => Ok(sid.to_owned()),
            None => Err(self.fail(format!("connect to {nsp} refused: {answer}"))),
        }
    }

    /// Emits an event (no ack).
    pub async fn emit(&mut self, nsp: &str, event: &str, args: Value) -> TestResult {
        self.command(json!({ "cmd": "emit", "nsp": nsp, "event": event, "args": args }))
            .await
            .map(|_| ())
    }

    /// Emits an event and returns the ack's arguments (an array).
    pub async fn emit_ack(&mut self, nsp: &str, event: &str, args: Value) -> TestResult<Value> {
        self.emit_ack_within(nsp, event, args, STEP_TIMEOUT).await
    }

    /// [`emit_ack`](Puppet::emit_ack) for an event whose handler may take up to `wait` to ack
    /// (the client's ack timeout).
    pub async fn emit_ack_within(
        &mut self,
        nsp: &str,
        event: &str,
        args: Value,
        wait: Duration,
    ) -> TestResult<Value> {
        let cmd = json!({
            "cmd": "emit_multi_ack",
            "nsp": nsp,
            "event": event,
            "args": args,
            "timeout": u64::try_from(wait.as_millis()).unwrap_or(u64::MAX),
        });
        let until = tokio::time::Instant::now() + wait + STEP_TIMEOUT;
        let answer = self.command_until(cmd, until).await?;
        match answer.get("ack") {
            Some(ack) => Ok(ack.clone()),
            None => Err(self.fail(format!("no ack for {event}: {answer}"))),
        }
    }

    /// Sets the arguments this client acks with when the server emits `event` with an ack.
    pub async fn reply(&mut self, nsp: &str, event: &str, args: Value) -> TestResult {
        self.command(json!({ "cmd": "reply", "nsp": nsp, "event": event, "args": args }))
            .await
            .map(|_| ())
    }

    /// Makes this client never ack `event` (to test server-side timeouts).
    pub async fn silence(&mut self, nsp: &str, event: &str) -> TestResult {
        self.command(json!({ "cmd": "silence", "nsp": nsp, "event": event }))
            .await
            .map(|_| ())
    }

    /// Leaves a namespace.
    pub async fn disconnect(&mut self, nsp: &str) -> TestResult {
        self.command(json!({ "cmd": "disconnect", "nsp": nsp }))
            .await
            .map(|_| ())
    }

    /// The transport in use (`polling` or `websocket`), after waiting up to 5 s for an upgrade.
    pub async fn wait_upgrade(&mut self) -> TestResult<String> {
        let answer = self.command(json!({ "cmd": "wait_upgrade" })).await?;
        Ok(answer["name"].as_str().unwrap_or_default().to_owned())
    }

    fn take_backlog(&mut self, pred: &dyn Fn(&Value) -> bool) -> Option<Value> {
        let at = self.backlog.iter().position(pred)?;
        self.backlog.remove(at)
    }

    async fn wait_for(
        &mut self,
        what: &str,
        within: Duration,
        pred: &dyn Fn(&Value) -> bool,
    ) -> TestResult<Option<Value>> {
        if let Some(v) = self.take_backlog(pred) {
            return Ok(Some(v));
        }
        let until = tokio::time::Instant::now() + within;
        loop {
            match self.next_line(until).await? {
                Some(v) if pred(&v) => return Ok(Some(v)),
                Some(v) => self.backlog.push_back(v),
                None => {
                    let _ = what;
                    return Ok(None);
                }
            }
        }
    }

    /// Waits for the event `event` on `nsp` and returns its arguments (an array).
    pub async fn next_event(&mut self, nsp: &str, event: &str) -> TestResult<Value> {
        let pred = |v: &Value| v["ev"] == "event" && v["nsp"] == nsp && v["event"] == event;
        match self.wait_for(event, STEP_TIMEOUT, &pred).await? {
            Some(v) => Ok(v["args"].clone()),
            None => Err(self.fail(format!(
                "no `{event}` on {nsp} within {STEP_TIMEOUT:?}; received meanwhile: {:?}",
                self.backlog
            ))),
        }
    }

    /// Checks that no `event` arrives on `nsp` within `within`.
    pub async fn no_event(&mut self, nsp: &str, event: &str, within: Duration) -> TestResult {
        let pred = |v: &Value| v["ev"] == "event" && v["nsp"] == nsp && v["event"] == event;
        match self.wait_for(event, within, &pred).await? {
            Some(v) => Err(self.fail(format!("unexpected `{event}` on {nsp}: {v}"))),
            None => Ok(()),
        }
    }

    /// Takes every `event` on `nsp` received so far and those arriving until none has come for
    /// `quiet` (or `limit` passed): their arguments (arrays), in order of arrival.
    pub async fn drain_events(
        &mut self,
        nsp: &str,
        event: &str,
        quiet: Duration,
        limit: Duration,
    ) -> TestResult<Vec<Value>> {
        let matches = |v: &Value| v["ev"] == "event" && v["nsp"] == nsp && v["event"] == event;
        let mut out = Vec::new();
        let mut kept = VecDeque::new();
        for v in self.backlog.drain(..) {
            if matches(&v) {
                out.push(v["args"].clone());
            } else {
                kept.push_back(v);
            }
        }
        self.backlog = kept;
        let end = tokio::time::Instant::now() + limit;
        loop {
            let until = (tokio::time::Instant::now() + quiet).min(end);
            match self.next_line(until).await? {
                Some(v) if matches(&v) => out.push(v["args"].clone()),
                Some(v) => self.backlog.push_back(v),
                None => return Ok(out),
            }
        }
    }

    /// Waits for the client to be disconnected from `nsp`; returns the reason it saw.
    pub async fn next_disconnect(&mut self, nsp: &str) -> TestResult<String> {
        let pred = |v: &Value| v["ev"] == "disconnect" && v["nsp"] == nsp;
        match self.wait_for("disconnect", STEP_TIMEOUT, &pred).await? {
            Some(v) => Ok(v["reason"].as_str().unwrap_or_default().to_owned()),
            None => Err(self.fail(format!("no disconnect from {nsp}"))),
        }
    }

    /// Stops the client.
    pub async fn close(mut self) {
        let _ = self.child.start_kill();
        let _ = self.child.wait().await;
    }
}
