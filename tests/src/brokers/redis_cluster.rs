//! The machine's local Redis Cluster for the tests: three masters started by
//! `scripts/redis-cluster.sh` (on free ports, under a temporary directory) the first time a test
//! asks, and left running for the next tests and runs (`scripts/redis-cluster.sh stop` stops it).

use std::path::PathBuf;
use std::process::Command;
use std::sync::OnceLock;

use super::redis::Persistence;

/// The cluster's URL, `redis-cluster://127.0.0.1:P1,127.0.0.1:P2,127.0.0.1:P3`, starting it
/// when it does not run. Panics (failing the test) with the script's output when it cannot.
pub fn url() -> String {
    static URL: OnceLock<String> = OnceLock::new();
    URL.get_or_init(|| {
        let script = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../scripts/redis-cluster.sh");
        let out = Command::new(&script)
            .arg("start")
            .output()
            .unwrap_or_else(|e| panic!("cannot run {}: {e}", script.display()));
        let stdout = String::from_utf8_lossy(&out.stdout);
        let url = stdout.lines().last().unwrap_or("").trim().to_owned();
        if !out.status.success() || !url.starts_with("redis-cluster://") {
            panic!(
                "scripts/redis-cluster.sh start failed: {stdout}{}",
                String::from_utf8_lossy(&out.stderr)
            );
        }
        url
    })
    .clone()
}

/// The cluster's URL with `query` added (`bus=sharded`, …).
pub fn url_with(query: &str) -> String {
    match query {
        "" => url(),
        q => format!("{}?{q}", url()),
    }
}

/// A Redis Cluster of the test's own: three masters (no replicas) on free 127.0.0.1 ports, in a
/// temporary directory, saving each node's cluster configuration and, when asked
/// ([`start_with`](PrivateRedisCluster::start_with)), its data in an append-only file. As a [`Broker`](super::Broker) it
/// kills (`SIGKILL`) and restarts one master: the one that owns the hash slot of
/// [`victim_key`](PrivateRedisCluster::start)'s name, so that a run whose channels all hash to
/// that slot (a hash tag, `{tag}…`) loses its broker while the two other masters keep running.
/// The restarted master reads its configuration back and takes its slots again. Every server is
/// killed, and the directory removed, on drop. It never touches the machine's shared Redis or
/// the cluster of `scripts/redis-cluster.sh`.
pub struct PrivateRedisCluster {
    dir: std::path::PathBuf,
    /// `(port, cluster bus port, process)` of each master.
    masters: Vec<(u16, u16, Option<tokio::process::Child>)>,
    /// The index in `masters` of the one killed.
    victim: usize,
    persistence: Persistence,
}

impl PrivateRedisCluster {
    /// Starts the three masters, keeping no data, creates the cluster, waits until it is ok, and
    /// picks the master that owns the slot of `victim_key`.
    pub async fn start(victim_key: &str) -> crate::TestResult<PrivateRedisCluster> {
        PrivateRedisCluster::start_with(victim_key, Persistence::None).await
    }

    /// As [`start`](PrivateRedisCluster::start), each master keeping its data as `persistence`
    /// says: with [`Persistence::AppendOnly`] a killed master comes back with every key it
    /// acknowledged writing.
    pub async fn start_with(
        victim_key: &str,
        persistence: Persistence,
    ) -> crate::TestResult<PrivateRedisCluster> {
        use super::{free_port, installed, scratch_dir};
        for program in ["redis-server", "redis-cli"] {
            if !installed(program) {
                crate::bail!(
                    "`{program}` is not installed: this test starts a private Redis Cluster"
                );
            }
        }
        let (dir, _) = scratch_dir("redis-cluster")?;
        let mut cluster = PrivateRedisCluster {
            dir,
            masters: Vec::new(),
            victim: 0,
            persistence,
        };
        for _ in 0..3 {
            let (port, bus) = (free_port()?, free_port()?);
            cluster.masters.push((port, bus, None));
        }
        for i in 0..3 {
            cluster.launch(i).await?;
        }
        let nodes: Vec<String> = cluster
            .masters
            .iter()
            .map(|(port, _, _)| format!("127.0.0.1:{port}"))
            .collect();
        let created = std::process::Command::new("redis-cli")
            .args(["--cluster", "create"])
            .args(&nodes)
            .args(["--cluster-replicas", "0", "--cluster-yes"])
            .output()?;
        if !created.status.success() {
            crate::bail!(
                "redis-cli --cluster create failed: {}{}",
                String::from_utf8_lossy(&created.stdout),
                String::from_utf8_lossy(&created.stderr)
            );
        }
        cluster.wait_ok().await?;
        let port = cluster.masters[0].0;
        let slot: u16 = cli(port, &["cluster", "keyslot", victim_key])?
            .trim()
            .parse()
            .map_err(|e| crate::Failure::msg(format!("CLUSTER KEYSLOT: {e}")))?;
        let owner = owner_of(&cli(port, &["cluster", "nodes"])?, slot)
            .ok_or_else(|| crate::Failure::msg(format!("no master owns slot {slot}")))?;
        cluster.victim = cluster
            .masters
            .iter()
            .position(|(p, _, _)| *p == owner)
            .ok_or_else(|| {
                crate::Failure::msg(format!("slot {slot} is on port {owner}, not ours"))
            })?;
        Ok(cluster)
    }

    /// `redis-cluster://127.0.0.1:P1,127.0.0.1:P2,127.0.0.1:P3`.
    pub fn url(&self) -> String {
        let nodes: Vec<String> = self
            .masters
            .iter()
            .map(|(port, _, _)| format!("127.0.0.1:{port}"))
            .collect();
        format!("redis-cluster://{}", nodes.join(","))
    }

    async fn launch(&mut self, i: usize) -> crate::TestResult {
        let (port, bus, _) = self.masters[i];
        let dir = self.dir.join(port.to_string());
        std::fs::create_dir_all(&dir)?;
        let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(15);
        loop {
            let child = tokio::process::Command::new("redis-server")
                .args(["--port", &port.to_string(), "--bind", "127.0.0.1"])
                .args([
                    "--cluster-enabled",
                    "yes",
                    "--cluster-port",
                    &bus.to_string(),
                ])
                .args(["--cluster-config-file", "nodes.conf"])
                .args(["--daemonize", "no", "--save", ""])
                .args(match self.persistence {
                    Persistence::None => &["--appendonly", "no"][..],
                    Persistence::AppendOnly => &["--appendonly", "yes", "--appendfsync", "always"],
                })
                .arg("--dir")
                .arg(&dir)
                .stdin(std::process::Stdio::null())
                .stdout(std::process::Stdio::null())
                .stderr(std::process::Stdio::null())
                .kill_on_drop(true)
                .spawn()
                .map_err(|e| crate::Failure::msg(format!("cannot start redis-server: {e}")))?;
            self.masters[i].2 = Some(child);
            let answering = super::wait_answering(
                &mut self.masters[i].2,
                port,
                std::time::Duration::from_secs(5),
                |p| async move { cli(p, &["ping"]).is_ok_and(|r| r.trim() == "PONG") },
            )
            .await;
            if answering {
                return Ok(());
            }
            // the port may still be held by the killed process: try again
            if let Some(mut child) = self.masters[i].2.take() {
                let _ = child.start_kill();
                let _ = child.wait().await;
            }
            if tokio::time::Instant::now() > deadline {
                crate::bail!("redis-server did not start on port {port}");
            }
            tokio::time::sleep(std::time::Duration::from_millis(100)).await;
        }
    }

    /// Waits (up to 30 s) until every master says the cluster is ok.
    async fn wait_ok(&self) -> crate::TestResult {
        let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(30);
        loop {
            let ok = self.masters.iter().all(|(port, _, _)| {
                cli(*port, &["cluster", "info"]).is_ok_and(|i| i.contains("cluster_state:ok"))
            });
            if ok {
                return Ok(());
            }
            if tokio::time::Instant::now() > deadline {
                crate::bail!("the private Redis Cluster did not become ok within 30 s");
            }
            tokio::time::sleep(std::time::Duration::from_millis(100)).await;
        }
    }
}

/// Runs `redis-cli -p port args...` and returns what it printed.
fn cli(port: u16, args: &[&str]) -> crate::TestResult<String> {
    let out = std::process::Command::new("redis-cli")
        .args(["-h", "127.0.0.1", "-p", &port.to_string()])
        .args(args)
        .output()?;
    if !out.status.success() {
        crate::bail!("redis-cli {args:?} failed");
    }
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
}

/// The port of the master that owns `slot`, from the output of `CLUSTER NODES`.
fn owner_of(nodes: &str, slot: u16) -> Option<u16> {
    nodes.lines().find_map(|line| {
        let fields: Vec<&str> = line.split_whitespace().collect();
        let address = fields.get(1)?;
        let owns = fields.iter().skip(8).any(|range| {
            let (from, to) = range.split_once('-').unwrap_or((range, range));
            matches!((from.parse::<u16>(), to.parse::<u16>()), (Ok(f), Ok(t)) if f <= slot && slot <= t)
        });
        if !owns {
            return None;
        }
        let host_port = address.split('@').next()?;
        host_port.rsplit(':').next()?.parse().ok()
    })
}

#[async_trait::async_trait]
impl super::Broker for PrivateRedisCluster {
    fn name(&self) -> &str {
        "redis-cluster"
    }

    fn url(&self) -> String {
        PrivateRedisCluster::url(self)
    }

    async fn kill(&mut self) -> crate::TestResult {
        let port = self.masters[self.victim].0;
        let Some(mut child) = self.masters[self.victim].2.take() else {
            crate::bail!("the master on port {port} is not running");
        };
        let _ = child.start_kill();
        super::reap(Some(child), port, "redis-server").await
    }

    async fn restart(&mut self) -> crate::TestResult {
        self.launch(self.victim).await?;
        self.wait_ok().await
    }
}

impl Drop for PrivateRedisCluster {
    fn drop(&mut self) {
        for (_, _, child) in &mut self.masters {
            if let Some(child) = child.as_mut() {
                let _ = child.start_kill();
            }
        }
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

#[cfg(test)]
mod tests {
    use super::owner_of;

    #[test]
    fn the_owner_of_a_slot_is_read_from_cluster_nodes() {
        let nodes = "a 127.0.0.1:7001@17001 myself,master - 0 0 1 connected 0-5460\n\
                     b 127.0.0.1:7002@17002 master - 0 0 2 connected 5461-10922\n\
                     c 127.0.0.1:7003@17003 master - 0 0 3 connected 10923-16383 42\n";
        assert_eq!(owner_of(nodes, 0), Some(7001));
        assert_eq!(owner_of(nodes, 5461), Some(7002));
        assert_eq!(owner_of(nodes, 16383), Some(7003));
    }
}
