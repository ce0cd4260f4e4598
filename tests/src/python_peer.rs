//! python-socketio in a Volley test cluster: a python `AsyncServer` node
//! (`tests/clients/python/peer.py`, handed back as a [`crate::cluster::Node`]) and a job worker
//! whose write-only pub/sub manager publishes what the test tells it
//! (`tests/clients/python/publish.py`, a [`Publisher`]). Both run from the venv of
//! `tests/clients/python/requirements.txt` (see [`crate::clients::PYTHON_VAR`]).
//!
//! ```no_run
//! # async fn run() -> volley_tests::TestResult {
//! use serde_json::json;
//! use volley_tests::python_peer::{Publisher, REDIS_URL};
//! let mut worker = Publisher::spawn("redis", REDIS_URL, "socketio").await?;
//! worker.send(json!({"op": "emit", "event": "news", "data": ["hi"]})).await?;
//! # Ok(())
//! # }
//! ```

use std::process::Stdio;
use std::time::Duration;

use serde_json::Value;
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader, Lines};
use tokio::process::{Child, ChildStdin, ChildStdout};

use crate::clients::python_script;
use crate::cluster::Node;
use crate::{bail, Failure, TestResult};

/// The machine's Redis, as python's managers take it.
pub const REDIS_URL: &str = "redis://127.0.0.1:6379";
/// The machine's RabbitMQ, as kombu takes it.
pub const KOMBU_URL: &str = "amqp://guest:guest@127.0.0.1:5672//";
/// The machine's RabbitMQ, as aio-pika takes it.
pub const AIO_PIKA_URL: &str = "amqp://guest:guest@127.0.0.1:5672/";
/// The tests' Kafka-protocol broker, as python's KafkaManager takes it.
pub const KAFKA_URL: &str = "kafka://127.0.0.1:9092";

/// How long one command of a [`Publisher`] may take (a first publish connects, and kombu and
/// kafka-python take their time).
const COMMAND_TIMEOUT: Duration = Duration::from_secs(20);

/// Starts a python `AsyncServer` node named `name` with the manager `kind` (`async-redis` or
/// `aio-pika`) on `url`, channel `channel`; returns once it serves. The process ends when the
/// node is dropped or killed.
pub async fn start(kind: &str, url: &str, channel: &str, name: &str) -> TestResult<Node> {
    let mut child = python_script("peer.py")?
        .args([kind, url, channel, name])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .kill_on_drop(true)
        .spawn()
        .map_err(|e| Failure::msg(format!("cannot start peer.py for {name}: {e}")))?;
    let line = crate::cluster::first_line(&mut child, name).await?;
    let Some(url) = line.strip_prefix("listening ") else {
        bail!("{name} (python) said {line:?}");
    };
    Ok(Node::from_process(url.to_owned(), name, child))
}

/// A job worker's write-only python-socketio manager, publishing on command.
pub struct Publisher {
    _child: Child,
    stdin: ChildStdin,
    lines: Lines<BufReader<ChildStdout>>,
}

impl Publisher {
    /// Starts the manager `kind` (`redis`, `async-redis`, `kombu`, `aio-pika`, `kafka`) on
    /// `url` and `channel`.
    pub async fn spawn(kind: &str, url: &str, channel: &str) -> TestResult<Self> {
        let mut child = python_script("publish.py")?
            .args([kind, url, channel])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .kill_on_drop(true)
            .spawn()
            .map_err(|e| Failure::msg(format!("cannot start publish.py: {e}")))?;
        let (Some(stdin), Some(stdout)) = (child.stdin.take(), child.stdout.take()) else {
            bail!("publish.py has no pipes");
        };
        Ok(Publisher {
            _child: child,
            stdin,
            lines: BufReader::new(stdout).lines(),
        })
    }

    /// Has the manager carry out `cmd` (see `publish.py`) and waits until it has published.
    pub async fn send(&mut self, cmd: Value) -> TestResult {
        let mut line = cmd.to_string();
        line.push('\n');
        self.stdin.write_all(line.as_bytes()).await?;
        self.stdin.flush().await?;
        let answer = tokio::time::timeout(COMMAND_TIMEOUT, self.lines.next_line())
            .await
            .map_err(|_| Failure::msg(format!("publish.py did not answer {cmd}")))??
            .ok_or_else(|| Failure::msg(format!("publish.py exited on {cmd}")))?;
        let answer: Value = serde_json::from_str(&answer).unwrap_or(Value::Null);
        if answer["ok"] != true {
            bail!("publish.py failed {cmd}: {answer}");
        }
        Ok(())
    }
}
