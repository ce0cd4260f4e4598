//! A Kafka-protocol broker of the test's own: `tansu` (installed by `scripts/kafka.sh`) on a
//! free loopback port, its data in an SQLite file in a temporary directory, so that topics and
//! records survive a kill and a restart (tansu's memory storage would forget them). The test
//! kills it (`SIGKILL`: a crash) and starts it again on the same port with the same file;
//! dropping it kills it and removes the directory. The machine's shared broker (127.0.0.1:9092)
//! is never touched.

use std::path::PathBuf;
use std::process::Stdio;
use std::time::Duration;

use tokio::process::{Child, Command};
use tokio::time::Instant;

use crate::brokers::{free_port, reap, scratch_dir, Broker};
use crate::{Failure, TestResult};

/// How long a start may take.
const START_TIMEOUT: Duration = Duration::from_secs(30);

/// A private tansu broker; see the module's documentation.
pub struct Tansu {
    dir: PathBuf,
    port: u16,
    child: Option<Child>,
}

/// The `tansu` binary: `$TANSU`, else `$CARGO_HOME/bin/tansu` (where `scripts/kafka.sh`
/// installs it), else `~/.cargo/bin/tansu`, else whatever `PATH` finds.
pub fn tansu_binary() -> PathBuf {
    if let Some(path) = std::env::var_os("TANSU") {
        return PathBuf::from(path);
    }
    let cargo_home = std::env::var_os("CARGO_HOME")
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".cargo")));
    match cargo_home.map(|home| home.join("bin").join("tansu")) {
        Some(path) if path.is_file() => path,
        _ => PathBuf::from("tansu"),
    }
}

impl Tansu {
    /// Starts a broker on a free loopback port and waits until it answers Kafka requests.
    pub async fn start() -> TestResult<Tansu> {
        let (dir, _) = scratch_dir("tansu")?;
        let port = free_port()?;
        let mut broker = Tansu {
            dir,
            port,
            child: None,
        };
        broker.spawn().await?;
        Ok(broker)
    }

    /// `127.0.0.1:PORT`, for `KafkaBus::new`.
    pub fn brokers(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }

    /// Gives topic `topic` `more` partitions while the broker runs. tansu has no
    /// `CreatePartitions` request, so this writes its storage (the SQLite file) the way its own
    /// topic creation does, with `python3` and its `sqlite3` module; tansu reads partitions from there for every
    /// metadata request and produce.
    pub async fn add_partitions(&self, topic: &str, more: u32) -> TestResult {
        const SCRIPT: &str = r#"
import sqlite3, sys
db, topic, more = sys.argv[1], sys.argv[2], int(sys.argv[3])
con = sqlite3.connect(db, timeout=10)
cur = con.cursor()
row = cur.execute("select id, partitions from topic where name = ?", (topic,)).fetchone()
if row is None:
    sys.exit("no topic " + topic)
tid, partitions = row
for p in range(partitions, partitions + more):
    cur.execute("insert into topition (topic, partition) values (?, ?)", (tid, p))
    cur.execute("insert into watermark (topition) values (?)", (cur.lastrowid,))
cur.execute("update topic set partitions = ? where id = ?", (partitions + more, tid))
con.commit()
"#;
        let out = Command::new("python3")
            .arg("-c")
            .arg(SCRIPT)
            .arg(self.dir.join("tansu.db"))
            .arg(topic)
            .arg(more.to_string())
            .output()
            .await?;
        if !out.status.success() {
            return Err(Failure::msg(format!(
                "cannot add partitions: {}",
                String::from_utf8_lossy(&out.stderr)
            )));
        }
        Ok(())
    }

    /// `kafka://127.0.0.1:PORT`, for `--adapter`.
    pub fn url(&self) -> String {
        format!("kafka://{}", self.brokers())
    }

    async fn spawn(&mut self) -> TestResult {
        let binary = tansu_binary();
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(self.dir.join("tansu.log"))?;
        let address = format!("tcp://127.0.0.1:{}", self.port);
        let child = Command::new(&binary)
            .args([
                "broker",
                "--listener-url",
                &address,
                "--advertised-listener-url",
                &address,
                // relative to the working directory: the temporary directory
                "--storage-engine",
                "sqlite://tansu.db",
            ])
            .current_dir(&self.dir)
            .stdin(Stdio::null())
            .stdout(log.try_clone()?)
            .stderr(log)
            .kill_on_drop(true)
            .spawn()
            .map_err(|e| {
                Failure::msg(format!(
                    "cannot start {}: {e} (scripts/kafka.sh installs tansu)",
                    binary.display()
                ))
            })?;
        self.child = Some(child);
        let deadline = Instant::now() + START_TIMEOUT;
        loop {
            if kafka_answers(self.port).await {
                return Ok(());
            }
            if let Some(Ok(Some(status))) = self.child.as_mut().map(Child::try_wait) {
                return Err(Failure::msg(format!(
                    "the private tansu exited ({status}): see {}",
                    self.dir.join("tansu.log").display()
                )));
            }
            if Instant::now() > deadline {
                return Err(Failure::msg(format!(
                    "the private tansu did not answer within {START_TIMEOUT:?}"
                )));
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
}

#[async_trait::async_trait]
impl Broker for Tansu {
    fn name(&self) -> &str {
        "tansu"
    }

    fn url(&self) -> String {
        Tansu::url(self)
    }

    /// Kills the broker at once (`SIGKILL`) and waits until its port is free.
    async fn kill(&mut self) -> TestResult {
        let mut child = self.child.take();
        if let Some(child) = child.as_mut() {
            let _ = child.start_kill();
        }
        reap(child, self.port, "the private tansu").await
    }

    /// Starts the broker again on the same port with the same data.
    async fn restart(&mut self) -> TestResult {
        if self.child.is_some() {
            self.kill().await?;
        }
        self.spawn().await
    }
}

impl Drop for Tansu {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.start_kill();
        }
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// Whether something on `port` answers a Kafka `ApiVersions` (v0) request with a response of
/// the same correlation id.
async fn kafka_answers(port: u16) -> bool {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let attempt = async {
        let mut stream = tokio::net::TcpStream::connect(("127.0.0.1", port))
            .await
            .ok()?;
        let client = b"volley-test";
        let mut request = Vec::new();
        request.extend_from_slice(&18i16.to_be_bytes()); // ApiVersions
        request.extend_from_slice(&0i16.to_be_bytes()); // v0
        request.extend_from_slice(&0x766f_6c6ci32.to_be_bytes()); // correlation id
        request.extend_from_slice(&(client.len() as i16).to_be_bytes());
        request.extend_from_slice(client);
        let size = i32::try_from(request.len()).ok()?;
        stream.write_all(&size.to_be_bytes()).await.ok()?;
        stream.write_all(&request).await.ok()?;
        let mut head = [0u8; 8];
        stream.read_exact(&mut head).await.ok()?;
        Some(head[4..8] == 0x766f_6c6ci32.to_be_bytes())
    };
    matches!(
        tokio::time::timeout(Duration::from_secs(2), attempt).await,
        Ok(Some(true))
    )
}
