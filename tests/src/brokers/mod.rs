//! Brokers a test owns: started on a free loopback port, killed and restarted by the test,
//! stopped when dropped. The [fault kit](crate::fault) and the [restart kit](crate::restart)
//! drive any of them through the [`Broker`] trait; each kind of broker has a module here.
//!
//! - [`redis`]: a private `redis-server`, optionally persistent across kills.
//! - [`redis_cluster`]: the machine's local Redis Cluster (`scripts/redis-cluster.sh`), shared.
//! - [`rabbitmq`]: a private RabbitMQ node (its own name, ports and data directory).
//! - [`tansu`]: a private tansu (Kafka protocol) with SQLite storage, kept across kills.
//! - [`nats`]: a private `nats-server` with JetStream, its storage kept across kills.

pub mod nats;
pub mod rabbitmq;
pub mod redis;
pub mod redis_cluster;
pub mod tansu;

use async_trait::async_trait;

use crate::TestResult;

/// A broker a test can take down and bring back on the same address.
///
/// Implementations kill the broker abruptly (as a crash would: no goodbye to its clients), wait
/// until it is gone, and on [`restart`](Broker::restart) start it again on the same address and
/// wait until it answers. Dropping the broker stops it.
#[async_trait]
pub trait Broker: Send + Sync {
    /// A short name for reports (`redis`, `rabbitmq`, …).
    fn name(&self) -> &str;

    /// The URL a node's `--adapter` takes to use this broker (`redis://…`, `amqp://…`,
    /// `kafka://…`, `nats://…`).
    fn url(&self) -> String;

    /// An emitter (`volley_emitter`) connected to this broker, publishing as nodes on it read:
    /// the one [`url`](Broker::url)'s scheme names.
    async fn emitter(&self) -> TestResult<volley_emitter::Emitter> {
        use volley_emitter::Emitter;
        let url = self.url();
        Ok(match url.split_once("://").map(|(scheme, _)| scheme) {
            Some("amqp") => Emitter::amqp(&url).await?,
            Some("kafka") => Emitter::kafka(&url).await?,
            Some("nats") => Emitter::nats(&url).await?,
            _ => Emitter::redis(&url).await?,
        })
    }

    /// Kills the broker at once and waits until it no longer runs.
    async fn kill(&mut self) -> TestResult;

    /// Starts the broker again on the same address and waits until it takes clients.
    async fn restart(&mut self) -> TestResult;
}

/// A TCP port on 127.0.0.1 that was free when asked (another program may take it meanwhile:
/// unlikely, and a broker that cannot bind says so).
pub fn free_port() -> TestResult<u16> {
    let listener = std::net::TcpListener::bind("127.0.0.1:0")?;
    Ok(listener.local_addr()?.port())
}

/// A new directory `volley-KIND-UNIQUE` under the system's temporary directory, for the data
/// of a broker of kind `kind`; `UNIQUE` (returned too) is a name no other test or concurrent
/// run uses.
pub fn scratch_dir(kind: &str) -> TestResult<(std::path::PathBuf, String)> {
    let unique = format!(
        "{}-{:x}",
        std::process::id(),
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_nanos())
            .unwrap_or_default()
    );
    let dir = std::env::temp_dir().join(format!("volley-{kind}-{unique}"));
    std::fs::create_dir_all(&dir)?;
    Ok((dir, unique))
}

/// Waits (up to 10 s) for a broker's process, just killed, to exit, then until nothing listens
/// on its port. `what` names the broker in the error.
pub async fn reap(child: Option<tokio::process::Child>, port: u16, what: &str) -> TestResult {
    if let Some(mut child) = child {
        let _ = tokio::time::timeout(std::time::Duration::from_secs(10), child.wait()).await;
    }
    wait_port_closed(port, what).await
}

/// Whether the broker process `child` answers `probe` (called with its port, every 20 ms) before
/// `within` passes; `false` at once when there is no process or it exited (a port in use, …).
pub async fn wait_answering<F, Fut>(
    child: &mut Option<tokio::process::Child>,
    port: u16,
    within: std::time::Duration,
    probe: F,
) -> bool
where
    F: Fn(u16) -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let deadline = tokio::time::Instant::now() + within;
    while tokio::time::Instant::now() < deadline {
        match child.as_mut().map(tokio::process::Child::try_wait) {
            Some(Ok(None)) => {}
            _ => return false,
        }
        if probe(port).await {
            return true;
        }
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    false
}

/// Whether `program` can be found on `PATH` (or is a path to an existing file).
pub fn installed(program: &str) -> bool {
    if program.contains('/') {
        return std::path::Path::new(program).is_file();
    }
    std::env::var_os("PATH")
        .is_some_and(|path| std::env::split_paths(&path).any(|dir| dir.join(program).is_file()))
}

/// Waits (up to 10 s) until nothing listens on `port` any more: a killed broker's port is free
/// before it is started again on it. `what` names the broker in the error.
pub async fn wait_port_closed(port: u16, what: &str) -> TestResult {
    let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(10);
    while tokio::net::TcpStream::connect(("127.0.0.1", port))
        .await
        .is_ok()
    {
        if tokio::time::Instant::now() > deadline {
            return Err(crate::Failure::msg(format!(
                "{what} still listens after a kill"
            )));
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    Ok(())
}
