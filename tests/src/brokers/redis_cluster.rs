//! The machine's local Redis Cluster for the tests: three masters started by
//! `scripts/redis-cluster.sh` (on free ports, under a temporary directory) the first time a test
//! asks, and left running for the next tests and runs (`scripts/redis-cluster.sh stop` stops it).

use std::path::PathBuf;
use std::process::Command;
use std::sync::OnceLock;

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
