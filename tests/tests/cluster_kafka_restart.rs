//! A Kafka broker restart (`scripts/kafka.sh stop` / `start`: tansu's memory storage forgets every
//! topic) under a running cluster of two node processes: emits during the outage fail visibly
//! (and still reach the emitting node's own clients), then the nodes reach the broker again,
//! create the topic again, and delivery between them resumes within a bounded wait; an emitter
//! (`volley_emitter::Emitter::kafka`) fails during the outage and reaches both nodes again
//! afterwards.
//!
//! A binary of its own: it stops the shared broker, so it holds the Kafka tests' lock
//! (`$TMPDIR/volley-kafka-tests.lock`, as adapter-kafka/tests does) exclusive; the other Kafka
//! tests hold it shared.

use std::fs::File;
use std::path::PathBuf;
use std::process::Command;
use std::time::Duration;

use serde_json::{json, Value};
use volley_tests::cluster::{self, Backend};
use volley_tests::puppet::Puppet;
use volley_tests::{Failure, TestResult};

const KAFKA_URL: &str = "kafka://127.0.0.1:9092";
/// How long delivery may take to resume once the broker is back.
const RECOVERY: Duration = Duration::from_secs(30);

/// Holds the broker lock exclusive until dropped.
struct ExclusiveLock(#[allow(dead_code)] File);

async fn exclusive_lock() -> TestResult<ExclusiveLock> {
    tokio::task::spawn_blocking(|| {
        let file = File::options()
            .create(true)
            .truncate(false)
            .read(true)
            .write(true)
            .open(lock_path())?;
        fs4::FileExt::lock(&file)?;
        Ok::<_, std::io::Error>(ExclusiveLock(file))
    })
    .await
    .map_err(|e| Failure::msg(format!("the lock task failed: {e}")))?
    .map_err(|e| Failure::msg(format!("cannot lock {}: {e}", lock_path().display())))
}

fn lock_path() -> PathBuf {
    std::env::temp_dir().join("volley-kafka-tests.lock")
}

fn kafka_sh(action: &str) -> TestResult {
    let script = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../scripts/kafka.sh");
    let status = Command::new("bash")
        .arg(&script)
        .arg(action)
        .status()
        .map_err(|e| Failure::msg(format!("cannot run scripts/kafka.sh: {e}")))?;
    if status.success() {
        Ok(())
    } else {
        Err(Failure::msg(format!(
            "scripts/kafka.sh {action} failed: this test needs the broker started by \
             scripts/kafka.sh"
        )))
    }
}

/// The broker is stopped; started again by [`Outage::end`], or on drop if the test fails before,
/// so that the other tests are never left without a broker.
struct Outage {
    over: bool,
}

impl Outage {
    async fn begin() -> TestResult<Outage> {
        tokio::task::spawn_blocking(|| kafka_sh("stop"))
            .await
            .map_err(|e| Failure::msg(e.to_string()))??;
        Ok(Outage { over: false })
    }

    async fn end(mut self) -> TestResult {
        let started = tokio::task::spawn_blocking(|| kafka_sh("start"))
            .await
            .map_err(|e| Failure::msg(e.to_string()))?;
        // On failure, drop tries once more.
        self.over = started.is_ok();
        started
    }
}

impl Drop for Outage {
    fn drop(&mut self) {
        if !self.over {
            let _ = kafka_sh("start");
        }
    }
}

/// Fails (never skips) when no broker listens.
fn require_broker() -> TestResult {
    let addr = std::net::SocketAddr::from(([127, 0, 0, 1], 9092));
    std::net::TcpStream::connect_timeout(&addr, Duration::from_secs(2))
        .map(|_| ())
        .map_err(|_| Failure::msg("no Kafka broker at 127.0.0.1:9092: run scripts/kafka.sh"))
}

fn is_ok(ack: &Value) -> bool {
    ack == &json!([{"Ok": null}])
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn delivery_resumes_after_a_kafka_restart() -> TestResult {
    let _lock = exclusive_lock().await?;
    require_broker()?;
    tokio::time::timeout(Duration::from_secs(180), scenario())
        .await
        .map_err(|_| Failure::msg("the restart scenario took more than 180 s"))?
}

async fn scenario() -> TestResult {
    let backend = Backend::Url {
        url: KAFKA_URL.to_owned(),
        node_bin: env!("CARGO_BIN_EXE_cluster_node"),
    };
    let prefix = cluster::unique_prefix();
    let nodes = cluster::start_with_prefix(&backend, 2, &prefix).await?;
    let mut a = Puppet::spawn(&nodes[0].url, "websocket").await?;
    a.connect("/", None).await?;
    let mut b = Puppet::spawn(&nodes[1].url, "websocket").await?;
    b.connect("/", None).await?;
    let emitter = volley_emitter::Emitter::kafka(KAFKA_URL)
        .await?
        .with_key(cluster::compat_key(&prefix));

    let before = a
        .emit_ack("/", "broadcast", json!(["before", [], [], []]))
        .await?;
    assert!(is_ok(&before), "emit before the outage: {before}");
    assert_eq!(b.next_event("/", "before").await?, json!([]));
    emitter.emit("emitted-before", &()).await?;
    assert_eq!(b.next_event("/", "emitted-before").await?, json!([]));

    let outage = Outage::begin().await?;
    // The emit is still delivered on its own node, and its caller sees the bus error.
    let during = a
        .emit_ack_within(
            "/",
            "broadcast",
            json!(["during", [], [], []]),
            cluster::OUTAGE_ACK_WAIT,
        )
        .await?;
    assert!(
        during[0].get("Err").is_some(),
        "emit during the outage: {during}"
    );
    assert_eq!(a.next_event("/", "during").await?, json!([]));
    // The emitter fails too, in bounded time.
    let started = tokio::time::Instant::now();
    let failed = tokio::time::timeout(Duration::from_secs(8), emitter.emit("lost", &()))
        .await
        .map_err(|_| Failure::msg("an emit during the outage hung"))?;
    assert!(
        matches!(failed, Err(volley_emitter::EmitterError::Publish(_))),
        "emitter during the outage: {failed:?}"
    );
    eprintln!("the emitter failed after {:?}", started.elapsed());

    let restarted = tokio::time::Instant::now();
    outage.end().await?;
    eprintln!("kafka.sh start took {:?}", restarted.elapsed());
    let back = tokio::time::Instant::now();
    // Publishing from node 0 recovers...
    let deadline = back + RECOVERY;
    loop {
        let after = a
            .emit_ack("/", "broadcast", json!(["after", [], [], []]))
            .await?;
        if is_ok(&after) {
            break;
        }
        if tokio::time::Instant::now() > deadline {
            return Err(Failure::msg(format!("publishing never recovered: {after}")));
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    // ...and node 1 receives again (its consumer follows the topic created again).
    loop {
        let ack = a
            .emit_ack("/", "broadcast", json!(["probe", [], [], []]))
            .await?;
        if is_ok(&ack) && b.next_event("/", "probe").await.is_ok() {
            break;
        }
        if tokio::time::Instant::now() > deadline {
            return Err(Failure::msg("the other node never received again"));
        }
    }
    eprintln!(
        "cross-node delivery resumed {:?} after the broker was back",
        back.elapsed()
    );
    // The emitter reconnected too, and reaches both nodes.
    loop {
        if emitter.emit("emitted-after", &()).await.is_ok() {
            break;
        }
        if tokio::time::Instant::now() > deadline {
            return Err(Failure::msg("the emitter never published again"));
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    assert_eq!(a.next_event("/", "emitted-after").await?, json!([]));
    assert_eq!(b.next_event("/", "emitted-after").await?, json!([]));
    emitter.close().await;
    Ok(())
}
