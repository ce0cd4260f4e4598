//! A `redis-server` of the test's own, on a free 127.0.0.1 port, in a temporary directory of its
//! own: killed with `SIGKILL` and restarted on the same port by the test, killed (and its
//! directory removed) on drop. It never touches the machine's shared Redis.

use std::path::PathBuf;
use std::process::Stdio;
use std::time::Duration;

use async_trait::async_trait;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::process::{Child, Command};

use super::{free_port, installed, scratch_dir, wait_answering, Broker};
use crate::{bail, Failure, TestResult};

/// The program started; `VOLLEY_REDIS_SERVER` overrides it.
fn program() -> String {
    std::env::var("VOLLEY_REDIS_SERVER").unwrap_or_else(|_| "redis-server".to_owned())
}

/// What survives a kill.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Persistence {
    /// Nothing: no snapshot, no append-only file. A restarted server is empty.
    None,
    /// An append-only file written and `fsync`ed before each reply (`appendfsync always`): what
    /// the server acknowledged survives a `SIGKILL` (it is on disk before the client hears of
    /// it), so a restarted server has every key it acknowledged writing.
    AppendOnly,
}

/// A private `redis-server`.
pub struct RedisServer {
    port: u16,
    dir: PathBuf,
    persistence: Persistence,
    child: Option<Child>,
}

impl RedisServer {
    /// Starts a server on a free port and waits until it answers `PING`. Fails with a clear
    /// message when `redis-server` is not installed.
    pub async fn start(persistence: Persistence) -> TestResult<RedisServer> {
        let program = program();
        if !installed(&program) {
            bail!(
                "`{program}` is not installed: these tests start private Redis servers \
                 (Debian package `redis-server`; scripts/test.sh installs it)"
            );
        }
        let port = free_port()?;
        let (dir, _) = scratch_dir("redis")?;
        let mut server = RedisServer {
            port,
            dir,
            persistence,
            child: None,
        };
        server.launch().await?;
        Ok(server)
    }

    /// Its port on 127.0.0.1.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// `redis://127.0.0.1:PORT`.
    pub fn url(&self) -> String {
        format!("redis://127.0.0.1:{}", self.port)
    }

    /// Whether the server process runs.
    pub fn running(&self) -> bool {
        self.child.is_some()
    }

    async fn launch(&mut self) -> TestResult {
        if self.child.is_some() {
            bail!("redis-server on port {} already runs", self.port);
        }
        let deadline = tokio::time::Instant::now() + Duration::from_secs(15);
        loop {
            let mut command = Command::new(program());
            command
                .args(["--port", &self.port.to_string(), "--bind", "127.0.0.1"])
                .args(["--daemonize", "no", "--save", ""])
                .arg("--dir")
                .arg(&self.dir)
                .stdin(Stdio::null())
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .kill_on_drop(true);
            match self.persistence {
                Persistence::None => {
                    command.args(["--appendonly", "no"]);
                }
                Persistence::AppendOnly => {
                    command.args(["--appendonly", "yes", "--appendfsync", "always"]);
                }
            }
            let child = command
                .spawn()
                .map_err(|e| Failure::msg(format!("cannot start redis-server: {e}")))?;
            self.child = Some(child);
            if self.wait_ready(Duration::from_secs(5)).await {
                return Ok(());
            }
            // The port may still be held by the previous process: try again.
            self.stop().await;
            if tokio::time::Instant::now() > deadline {
                bail!("redis-server did not start on port {}", self.port);
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    async fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.start_kill();
            let _ = child.wait().await;
        }
    }

    /// Whether the server answers `PING` (while loading its append-only file it answers
    /// `-LOADING`, which does not count) before `within` passes; `false` once the process died.
    async fn wait_ready(&mut self, within: Duration) -> bool {
        wait_answering(&mut self.child, self.port, within, ping).await
    }
}

async fn ping(port: u16) -> bool {
    let attempt = async {
        let mut stream = TcpStream::connect(("127.0.0.1", port)).await.ok()?;
        stream.write_all(b"PING\r\n").await.ok()?;
        let mut buf = [0u8; 64];
        let n = stream.read(&mut buf).await.ok()?;
        Some(buf[..n].starts_with(b"+PONG"))
    };
    tokio::time::timeout(Duration::from_millis(500), attempt)
        .await
        .ok()
        .flatten()
        .unwrap_or(false)
}

#[async_trait]
impl Broker for RedisServer {
    fn name(&self) -> &str {
        "redis"
    }

    fn url(&self) -> String {
        RedisServer::url(self)
    }

    async fn kill(&mut self) -> TestResult {
        if self.child.is_none() {
            bail!("redis-server on port {} is not running", self.port);
        }
        self.stop().await;
        Ok(())
    }

    async fn restart(&mut self) -> TestResult {
        self.launch().await
    }
}

impl Drop for RedisServer {
    fn drop(&mut self) {
        if let Some(child) = self.child.as_mut() {
            let _ = child.start_kill();
        }
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}
