//! A RabbitMQ node of the test's own, beside the machine's: its own node name
//! (`RABBITMQ_NODENAME`), AMQP and distribution ports, data and log directories in a temporary
//! directory, no plugin (an empty enabled-plugins file) and a configuration file of its own (the
//! machine's `/etc/rabbitmq` files are not read). The test starts it, kills it (`SIGKILL` to its
//! process group: a crash, no goodbye to its clients) and starts it again on the same ports with
//! the same data; dropping it kills it and removes the directory.
//!
//! It registers its name with the machine's `epmd` (as every Erlang node does) and is otherwise
//! independent of the machine's RabbitMQ, which it never touches.

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;

use tokio::process::{Child, Command};
use tokio::time::Instant;

use crate::brokers::{free_port, reap, scratch_dir, Broker};
use crate::{Failure, TestResult};

/// The server script that runs a node in the foreground as the calling user (the `/usr/sbin`
/// wrapper switches to the `rabbitmq` user, whose files these are not).
const SERVER: &str = "/usr/lib/rabbitmq/bin/rabbitmq-server";
/// How long a start may take (an Erlang VM and RabbitMQ's boot on a loaded machine).
const START_TIMEOUT: Duration = Duration::from_secs(60);

/// A private RabbitMQ node; see the module's documentation.
pub struct RabbitMq {
    dir: PathBuf,
    node_name: String,
    port: u16,
    dist_port: u16,
    child: Option<Child>,
}

impl RabbitMq {
    /// Starts a node on free loopback ports and waits until it accepts AMQP connections.
    pub async fn start() -> TestResult<RabbitMq> {
        if !Path::new(SERVER).is_file() {
            return Err(Failure::msg(format!(
                "{SERVER} is missing: install Debian's rabbitmq-server (scripts/prereqs.sh)"
            )));
        }
        let (dir, unique) = scratch_dir("rabbitmq")?;
        std::fs::create_dir_all(dir.join("mnesia"))?;
        std::fs::create_dir_all(dir.join("log"))?;
        std::fs::create_dir_all(dir.join("plugins-expand"))?;
        let port = free_port()?;
        let dist_port = free_port()?;
        std::fs::write(dir.join("enabled_plugins"), "[].\n")?;
        std::fs::write(dir.join("rabbitmq-env.conf"), "")?;
        std::fs::write(
            dir.join("rabbitmq.conf"),
            format!(
                "listeners.tcp.1 = 127.0.0.1:{port}\n\
                 log.console = false\n\
                 log.file.level = warning\n"
            ),
        )?;
        let mut node = RabbitMq {
            dir,
            node_name: format!("volleytest-{unique}@localhost"),
            port,
            dist_port,
            child: None,
        };
        node.spawn().await?;
        Ok(node)
    }

    /// The AMQP URL of this node (guest/guest, default vhost).
    pub fn url(&self) -> String {
        format!("amqp://guest:guest@127.0.0.1:{}/%2f", self.port)
    }

    /// Its AMQP port.
    pub fn port(&self) -> u16 {
        self.port
    }

    async fn spawn(&mut self) -> TestResult {
        let dir = &self.dir;
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(dir.join("server.out"))?;
        let mut command = Command::new(SERVER);
        command
            .env("HOME", dir)
            .env("RABBITMQ_NODENAME", &self.node_name)
            .env("RABBITMQ_NODE_IP_ADDRESS", "127.0.0.1")
            .env("RABBITMQ_NODE_PORT", self.port.to_string())
            .env("RABBITMQ_DIST_PORT", self.dist_port.to_string())
            .env("RABBITMQ_CONF_ENV_FILE", dir.join("rabbitmq-env.conf"))
            .env("RABBITMQ_CONFIG_FILE", dir.join("rabbitmq.conf"))
            .env("RABBITMQ_ADVANCED_CONFIG_FILE", dir.join("advanced.config"))
            .env("RABBITMQ_ENABLED_PLUGINS_FILE", dir.join("enabled_plugins"))
            .env("RABBITMQ_PLUGINS_EXPAND_DIR", dir.join("plugins-expand"))
            .env("RABBITMQ_MNESIA_BASE", dir.join("mnesia"))
            .env("RABBITMQ_LOG_BASE", dir.join("log"))
            .env("RABBITMQ_PID_FILE", dir.join("pid"))
            .env("ERL_EPMD_ADDRESS", "127.0.0.1")
            .env(
                "RABBITMQ_SERVER_ERL_ARGS",
                "+P 1048576 -kernel inet_dist_use_interface {127,0,0,1}",
            )
            .current_dir(dir)
            .stdin(Stdio::null())
            .stdout(log.try_clone()?)
            .stderr(log)
            // Its own process group: the kill reaches the script, the VM and its helpers.
            .process_group(0)
            .kill_on_drop(true);
        let child = command
            .spawn()
            .map_err(|e| Failure::msg(format!("cannot start {SERVER}: {e}")))?;
        self.child = Some(child);
        self.wait_ready().await
    }

    /// Waits until an AMQP handshake gets the broker's `Connection.Start` (the node booted).
    async fn wait_ready(&mut self) -> TestResult {
        let deadline = Instant::now() + START_TIMEOUT;
        loop {
            if amqp_answers(self.port).await {
                return Ok(());
            }
            if let Some(child) = self.child.as_mut() {
                if let Ok(Some(status)) = child.try_wait() {
                    return Err(Failure::msg(format!(
                        "the private RabbitMQ exited ({status}) before accepting connections: \
                         see {}",
                        self.dir.join("server.out").display()
                    )));
                }
            }
            if Instant::now() > deadline {
                return Err(Failure::msg(format!(
                    "the private RabbitMQ did not accept AMQP connections within \
                     {START_TIMEOUT:?}: see {}",
                    self.dir.display()
                )));
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
}

#[async_trait::async_trait]
impl Broker for RabbitMq {
    fn name(&self) -> &str {
        "rabbitmq"
    }

    fn url(&self) -> String {
        RabbitMq::url(self)
    }

    /// Kills the node at once (`SIGKILL` to its process group) and waits until its port is free.
    async fn kill(&mut self) -> TestResult {
        let child = self.child.take();
        if let Some(child) = &child {
            kill_group(child);
        }
        reap(child, self.port, "the private RabbitMQ").await?;
        // epmd forgets the name when the VM's connection to it closes: wait for that, or the
        // new VM cannot register the same name.
        tokio::time::sleep(Duration::from_millis(200)).await;
        Ok(())
    }

    /// Starts the node again on the same ports, with the data it had, and waits until it takes
    /// connections.
    async fn restart(&mut self) -> TestResult {
        if self.child.is_some() {
            self.kill().await?;
        }
        let deadline = Instant::now() + START_TIMEOUT;
        loop {
            match self.spawn().await {
                Ok(()) => return Ok(()),
                // The name may still be registered with epmd for a moment.
                Err(e) if Instant::now() < deadline => {
                    eprintln!("restarting the private RabbitMQ: {}; again", e.message());
                    self.child = None;
                    tokio::time::sleep(Duration::from_millis(500)).await;
                }
                Err(e) => return Err(e),
            }
        }
    }
}

impl Drop for RabbitMq {
    fn drop(&mut self) {
        if let Some(child) = self.child.take() {
            kill_group(&child);
        }
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// `SIGKILL` to the process group `child` leads (it was started with `process_group(0)`).
fn kill_group(child: &Child) {
    if let Some(pid) = child.id() {
        let _ = std::process::Command::new("kill")
            .args(["-KILL", "--", &format!("-{pid}")])
            .stderr(Stdio::null())
            .status();
    }
}

/// Whether something on `port` answers an AMQP 0-9-1 protocol header with a `Connection.Start`
/// method frame (type 1, channel 0, class 10, method 10).
async fn amqp_answers(port: u16) -> bool {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let attempt = async {
        let mut stream = tokio::net::TcpStream::connect(("127.0.0.1", port))
            .await
            .ok()?;
        stream.write_all(b"AMQP\x00\x00\x09\x01").await.ok()?;
        let mut head = [0u8; 11];
        stream.read_exact(&mut head).await.ok()?;
        Some(head[0] == 1 && head[1..3] == [0, 0] && head[7..11] == [0, 10, 0, 10])
    };
    matches!(
        tokio::time::timeout(Duration::from_secs(2), attempt).await,
        Ok(Some(true))
    )
}
