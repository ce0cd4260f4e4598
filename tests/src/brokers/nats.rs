//! A `nats-server` of the test's own, with JetStream, on a free 127.0.0.1 port, its storage in a
//! temporary directory of its own (`-js -sd DIR`): killed with `SIGKILL` and restarted on the
//! same port and storage by the test, so that streams and what they acknowledged survive; killed
//! (and its directory removed) on drop. It never touches the machine's shared NATS.

use std::path::PathBuf;
use std::process::Stdio;
use std::time::Duration;

use async_trait::async_trait;
use tokio::io::AsyncReadExt;
use tokio::net::TcpStream;
use tokio::process::{Child, Command};

use super::{free_port, installed, reap, scratch_dir, wait_answering, Broker};
use crate::{bail, Failure, TestResult};

/// The program started: `VOLLEY_NATS_SERVER`, else `nats-server` on `PATH`, else Debian's
/// `/usr/sbin/nats-server` (a user's `PATH` may lack `/usr/sbin`).
fn program() -> String {
    if let Ok(program) = std::env::var("VOLLEY_NATS_SERVER") {
        return program;
    }
    if installed("nats-server") {
        "nats-server".to_owned()
    } else {
        "/usr/sbin/nats-server".to_owned()
    }
}

/// A private `nats-server` with JetStream.
pub struct NatsServer {
    port: u16,
    dir: PathBuf,
    child: Option<Child>,
}

impl NatsServer {
    /// Starts a server on a free port and waits until it greets clients. Fails with a clear
    /// message when `nats-server` is not installed.
    pub async fn start() -> TestResult<NatsServer> {
        let program = program();
        if !installed(&program) {
            bail!(
                "`{program}` is not installed: these tests start private NATS servers \
                 (Debian package `nats-server`; scripts/test.sh installs it)"
            );
        }
        let (dir, _) = scratch_dir("nats")?;
        let mut server = NatsServer {
            port: free_port()?,
            dir,
            child: None,
        };
        server.launch().await?;
        Ok(server)
    }

    /// `nats://127.0.0.1:PORT`.
    pub fn url(&self) -> String {
        format!("nats://127.0.0.1:{}", self.port)
    }

    async fn launch(&mut self) -> TestResult {
        if self.child.is_some() {
            bail!("nats-server on port {} already runs", self.port);
        }
        let deadline = tokio::time::Instant::now() + Duration::from_secs(15);
        loop {
            let child = Command::new(program())
                .args([
                    "-a",
                    "127.0.0.1",
                    "-p",
                    &self.port.to_string(),
                    "-js",
                    "-sd",
                ])
                .arg(self.dir.join("store"))
                .stdin(Stdio::null())
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .kill_on_drop(true)
                .spawn()
                .map_err(|e| Failure::msg(format!("cannot start nats-server: {e}")))?;
            self.child = Some(child);
            if self.wait_ready(Duration::from_secs(5)).await {
                return Ok(());
            }
            // The port may still be held by the previous process: try again.
            if let Some(mut child) = self.child.take() {
                let _ = child.start_kill();
                let _ = child.wait().await;
            }
            if tokio::time::Instant::now() > deadline {
                bail!("nats-server did not start on port {}", self.port);
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// Whether the server greets a client (`INFO`) before `within` passes; `false` once the
    /// process died.
    async fn wait_ready(&mut self, within: Duration) -> bool {
        wait_answering(&mut self.child, self.port, within, greets).await
    }
}

async fn greets(port: u16) -> bool {
    let attempt = async {
        let mut stream = TcpStream::connect(("127.0.0.1", port)).await.ok()?;
        let mut buf = [0u8; 8];
        stream.read_exact(&mut buf[..5]).await.ok()?;
        Some(buf.starts_with(b"INFO "))
    };
    tokio::time::timeout(Duration::from_millis(500), attempt)
        .await
        .ok()
        .flatten()
        .unwrap_or(false)
}

#[async_trait]
impl Broker for NatsServer {
    fn name(&self) -> &str {
        "nats"
    }

    fn url(&self) -> String {
        NatsServer::url(self)
    }

    async fn kill(&mut self) -> TestResult {
        let Some(mut child) = self.child.take() else {
            bail!("nats-server on port {} is not running", self.port);
        };
        child.start_kill()?;
        reap(Some(child), self.port, "nats-server").await
    }

    async fn restart(&mut self) -> TestResult {
        self.launch().await
    }
}

impl Drop for NatsServer {
    fn drop(&mut self) {
        if let Some(child) = self.child.as_mut() {
            let _ = child.start_kill();
        }
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}
