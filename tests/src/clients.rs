//! Runners for the official client scripts under `tests/clients/`.
//!
//! A script is started with the server URL, a scenario name and extra arguments; it prints one
//! JSON object per line (`{"ev": "...", ...}`) for what happened and exits 0, or prints
//! `{"ev":"error",...}` and exits non-zero. The process is killed when the run times out or the
//! test is dropped. Missing client dependencies fail the test with a message saying how to
//! install them (`scripts/test.sh` does it).
//!
//! Binary values are printed as `{"$binary": "<hex>"}` by both scripts; see [`binary`].

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;

use serde_json::Value;
use tokio::io::AsyncReadExt;
use tokio::process::Command;

use crate::{bail, Failure, TestResult};

/// Directory of the Node client package; default `tests/clients/node`.
pub const NODE_CLIENTS_VAR: &str = "VOLLEY_NODE_CLIENTS";
/// Python interpreter that has `python-socketio[client]`; default `<workspace>/.venv/bin/python`.
pub const PYTHON_VAR: &str = "VOLLEY_PYTHON";
/// Node executable; default `node` on `PATH`.
pub const NODE_VAR: &str = "VOLLEY_NODE";

/// How long one client run may take before it is killed.
pub const RUN_TIMEOUT: Duration = Duration::from_secs(30);

/// Which official client.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Client {
    /// npm `socket.io-client` v4, driven by `tests/clients/node/client.mjs`.
    Node,
    /// PyPI `python-socketio` 5 client, driven by `tests/clients/python/client.py`.
    Python,
    /// npm `socket.io-client` 2.x (Engine.IO v3), driven by `tests/clients/node-v2/client.js`
    /// (against a server that allows v3 clients).
    NodeV2,
}

fn manifest_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// A path from environment variable `var`; a relative one is taken from the workspace root
/// (where `scripts/test.sh` runs), except a bare command name, which is looked up on `PATH`.
fn env_path(var: &str) -> Option<PathBuf> {
    let value = PathBuf::from(std::env::var_os(var).filter(|v| !v.is_empty())?);
    if value.is_relative() && value.components().count() > 1 {
        Some(manifest_dir().join("..").join(value))
    } else {
        Some(value)
    }
}

/// Whether `path` names an existing file, or is a bare command name (left to `PATH`).
fn present(path: &Path) -> bool {
    path.components().count() == 1 && path.is_relative() || path.exists()
}

/// `node <dir>/<script>`, once `dir` has `socket.io-client` installed; `missing` says what to do
/// otherwise (`{}` stands for the path that was looked for).
fn node_script(dir: &Path, script: &str, missing: &str) -> TestResult<Command> {
    let marker = dir.join("node_modules/socket.io-client/package.json");
    if !marker.exists() {
        bail!("{}", missing.replace("{}", &marker.display().to_string()));
    }
    let node = std::env::var(NODE_VAR).unwrap_or_else(|_| "node".to_owned());
    let mut cmd = Command::new(node);
    cmd.arg(dir.join(script)).current_dir(dir);
    Ok(cmd)
}

impl Client {
    /// The command that runs this client's script (checked for installed dependencies).
    fn command(self) -> TestResult<Command> {
        match self {
            Client::Node => node_client_script("client.mjs"),
            Client::NodeV2 => node_script(
                &manifest_dir().join("clients").join("node-v2"),
                "client.js",
                "socket.io-client 2.x is not installed: {} is missing. Run `scripts/test.sh` (it \
                 runs `npm ci` in tests/clients/node-v2), or `npm ci` there by hand.",
            ),
            Client::Python => python_script("client.py"),
        }
    }
}

/// `node tests/clients/node/<script>` (the directory [`NODE_CLIENTS_VAR`] names, if set), once
/// `socket.io-client` is installed there.
pub fn node_client_script(script: &str) -> TestResult<Command> {
    let dir =
        env_path(NODE_CLIENTS_VAR).unwrap_or_else(|| manifest_dir().join("clients").join("node"));
    node_script(
        &dir,
        script,
        &format!(
            "the Node client is not installed: {{}} is missing. Run `scripts/test.sh` (it runs \
             `npm ci` in tests/clients/node), or `npm ci` there by hand, or set \
             {NODE_CLIENTS_VAR} to a directory where it is installed."
        ),
    )
}

/// `python -u tests/clients/python/<script>` with the venv's Python (see [`PYTHON_VAR`]), run
/// in that directory.
pub fn python_script(script: &str) -> TestResult<Command> {
    let python = env_path(PYTHON_VAR).unwrap_or_else(|| manifest_dir().join("../.venv/bin/python"));
    if !present(&python) {
        bail!(
            "the Python client is not installed: no interpreter at {}. Run \
             `scripts/test.sh` (it creates .venv and installs \
             tests/clients/python/requirements.txt), or set {PYTHON_VAR} to a Python \
             that has them.",
            python.display()
        );
    }
    let dir = manifest_dir().join("clients").join("python");
    let mut cmd = Command::new(python);
    cmd.arg("-u").arg(dir.join(script)).current_dir(dir);
    Ok(cmd)
}

/// What a client script printed.
#[derive(Debug)]
pub struct ClientRun {
    /// Which client ran.
    pub client: Client,
    /// The scenario and its arguments.
    pub args: Vec<String>,
    /// The JSON lines of stdout, in order.
    pub events: Vec<Value>,
    /// Raw stdout.
    pub stdout: String,
    /// Raw stderr.
    pub stderr: String,
}

impl ClientRun {
    /// All events named `ev`.
    pub fn all(&self, ev: &str) -> Vec<&Value> {
        self.events.iter().filter(|e| e["ev"] == ev).collect()
    }

    /// The first event named `ev`; fails (showing the whole output) if there is none.
    pub fn event(&self, ev: &str) -> TestResult<&Value> {
        match self.events.iter().find(|e| e["ev"] == ev) {
            Some(e) => Ok(e),
            None => Err(self.failure(&format!("no {ev:?} event"))),
        }
    }

    /// Field `field` of the first event named `ev`.
    pub fn field(&self, ev: &str, field: &str) -> TestResult<&Value> {
        let e = self.event(ev)?;
        match e.get(field) {
            Some(v) => Ok(v),
            None => Err(self.failure(&format!("event {e} has no field {field:?}"))),
        }
    }

    /// Fails unless field `field` of the first `ev` event equals `expected`.
    pub fn expect(&self, ev: &str, field: &str, expected: &Value) -> TestResult {
        let got = self.field(ev, field)?;
        if got != expected {
            return Err(self.failure(&format!("{ev}.{field}: expected {expected}, got {got}")));
        }
        Ok(())
    }

    /// A failure that quotes what the client printed.
    pub fn failure(&self, what: &str) -> Failure {
        Failure::msg(format!(
            "{:?} client {:?}: {what}\n--- stdout ---\n{}--- stderr ---\n{}",
            self.client, self.args, self.stdout, self.stderr
        ))
    }
}

/// Runs `client` against `url` with `args` (scenario first); fails if it exits non-zero, prints
/// a non-JSON line or takes longer than [`RUN_TIMEOUT`].
pub async fn run(client: Client, url: &str, args: &[&str]) -> TestResult<ClientRun> {
    let mut cmd = client.command()?;
    cmd.arg(url)
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true);
    let mut child = cmd
        .spawn()
        .map_err(|e| Failure::msg(format!("cannot start the {client:?} client: {e}")))?;
    let mut stdout = child
        .stdout
        .take()
        .ok_or_else(|| Failure::msg("no stdout pipe"))?;
    let mut stderr = child
        .stderr
        .take()
        .ok_or_else(|| Failure::msg("no stderr pipe"))?;
    let out_task = tokio::spawn(async move {
        let mut buf = Vec::new();
        let _ = stdout.read_to_end(&mut buf).await;
        buf
    });
    let err_task = tokio::spawn(async move {
        let mut buf = Vec::new();
        let _ = stderr.read_to_end(&mut buf).await;
        buf
    });
    let status = tokio::time::timeout(RUN_TIMEOUT, child.wait()).await;
    if status.is_err() {
        let _ = child.kill().await;
    }
    let collect = |task: tokio::task::JoinHandle<Vec<u8>>| async move {
        match tokio::time::timeout(Duration::from_secs(5), task).await {
            Ok(Ok(buf)) => String::from_utf8_lossy(&buf).into_owned(),
            _ => String::from("<output not collected>"),
        }
    };
    let mut run = ClientRun {
        client,
        args: args.iter().map(|s| s.to_string()).collect(),
        events: Vec::new(),
        stdout: collect(out_task).await,
        stderr: collect(err_task).await,
    };
    let status = match status {
        Ok(status) => status?,
        Err(_) => return Err(run.failure(&format!("still running after {RUN_TIMEOUT:?}: killed"))),
    };
    for line in run.stdout.lines().filter(|l| !l.trim().is_empty()) {
        match serde_json::from_str::<Value>(line) {
            Ok(v) => run.events.push(v),
            Err(_) => return Err(run.failure(&format!("non-JSON line on stdout: {line:?}"))),
        }
    }
    if !status.success() {
        let hint = if run.stderr.contains("ModuleNotFoundError")
            || run.stderr.contains("ERR_MODULE_NOT_FOUND")
        {
            " (client dependencies missing? run scripts/test.sh)"
        } else {
            ""
        };
        return Err(run.failure(&format!("exited with {status}{hint}")));
    }
    Ok(run)
}

/// The JSON form both scripts print for binary data: `{"$binary": "<lowercase hex>"}`.
pub fn binary(bytes: &[u8]) -> Value {
    let hex: String = bytes.iter().map(|b| format!("{b:02x}")).collect();
    serde_json::json!({ "$binary": hex })
}
