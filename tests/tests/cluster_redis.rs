//! The cluster suite over Redis (127.0.0.1:6379), with every node a separate process.

use volley_tests::cluster::Backend;

fn redis() -> Backend {
    Backend::Url {
        url: "redis://127.0.0.1:6379".to_owned(),
        node_bin: env!("CARGO_BIN_EXE_cluster_node"),
    }
}

volley_tests::cluster_suite!(broker: redis());

mod restart {
    //! A Redis crash and restart under a running cluster of two node processes and an emitter
    //! (the restart kit, [`volley_tests::restart`]), on a private `redis-server` that keeps
    //! nothing: the nodes subscribe again.

    use std::time::Duration;

    use volley_tests::brokers::redis::{Persistence, RedisServer};
    use volley_tests::restart::delivery_resumes_after_a_restart;
    use volley_tests::TestResult;

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn delivery_resumes_after_a_redis_restart() -> TestResult {
        let mut redis = RedisServer::start(Persistence::None).await?;
        let recovery = Duration::from_secs(20);
        delivery_resumes_after_a_restart(&mut redis, env!("CARGO_BIN_EXE_cluster_node"), recovery)
            .await
    }
}

mod node_emitter {
    //! The real npm `@socket.io/redis-emitter` publishes into a Volley cluster: broadcasts, rooms,
    //! `except`, joins, leaves, disconnects, server-side emits, foreign values.

    use std::path::PathBuf;
    use std::process::Stdio;

    use serde_json::{json, Value};
    use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader, Lines};
    use tokio::process::{Child, ChildStdin, ChildStdout, Command};
    use volley_tests::cluster::{self, Backend};
    use volley_tests::puppet::Puppet;
    use volley_tests::{Failure, TestResult, STEP_TIMEOUT};

    const QUIET: std::time::Duration = std::time::Duration::from_millis(400);

    struct NpmEmitter {
        _child: Child,
        stdin: ChildStdin,
        out: Lines<BufReader<ChildStdout>>,
        id: u64,
    }

    impl NpmEmitter {
        async fn start(key: &str) -> TestResult<Self> {
            let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("clients/node-cluster");
            if !dir.join("node_modules/@socket.io/redis-emitter").exists() {
                return Err(Failure::msg(format!(
                    "the npm emitter is not installed in {}: run scripts/test.sh",
                    dir.display()
                )));
            }
            let mut child = Command::new("node")
                .arg(dir.join("npm-emitter.mjs"))
                .args(["redis://127.0.0.1:6379", key])
                .stdin(Stdio::piped())
                .stdout(Stdio::piped())
                .kill_on_drop(true)
                .spawn()?;
            let stdin = child.stdin.take().ok_or_else(|| Failure::msg("no stdin"))?;
            let stdout = child
                .stdout
                .take()
                .ok_or_else(|| Failure::msg("no stdout"))?;
            Ok(NpmEmitter {
                _child: child,
                stdin,
                out: BufReader::new(stdout).lines(),
                id: 0,
            })
        }

        async fn send(&mut self, mut cmd: Value) -> TestResult {
            self.id += 1;
            cmd["id"] = json!(self.id);
            self.stdin.write_all(format!("{cmd}\n").as_bytes()).await?;
            let line = tokio::time::timeout(STEP_TIMEOUT, self.out.next_line())
                .await
                .map_err(|_| Failure::msg(format!("the npm emitter did not answer {cmd}")))??
                .ok_or_else(|| Failure::msg("the npm emitter exited"))?;
            let answer: Value = serde_json::from_str(&line)?;
            match answer.get("error") {
                Some(e) => Err(Failure::msg(format!("npm emitter: {e}"))),
                None => Ok(()),
            }
        }
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn npm_redis_emitter_drives_a_volley_cluster() -> TestResult {
        let prefix = cluster::unique_prefix();
        let backend = Backend::Url {
            url: "redis://127.0.0.1:6379".into(),
            node_bin: env!("CARGO_BIN_EXE_cluster_node"),
        };
        let nodes = cluster::start_with_prefix(&backend, 2, &prefix).await?;
        let mut a = Puppet::spawn(&nodes[0].url, "websocket").await?;
        let sid_a = a.connect("/", None).await?;
        let mut b = Puppet::spawn(&nodes[1].url, "websocket").await?;
        b.connect("/", None).await?;
        b.emit_ack("/", "join", json!(["r1"])).await?;
        let mut c = Puppet::spawn(&nodes[1].url, "polling").await?;
        let sid_c = c.connect("/", None).await?;
        let mut emitter = NpmEmitter::start(&cluster::compat_key(&prefix)).await?;

        // to all, binary as binary
        emitter
            .send(json!({"cmd": "emit", "event": "hello", "args": ["x", {"$binary": "0102"}]}))
            .await?;
        for p in [&mut a, &mut b, &mut c] {
            assert_eq!(
                p.next_event("/", "hello").await?,
                json!(["x", {"$binary": "0102"}])
            );
        }
        // a room, and everyone but a room
        emitter
            .send(json!({"cmd": "emit", "to": ["r1"], "event": "room", "args": [1]}))
            .await?;
        assert_eq!(b.next_event("/", "room").await?, json!([1]));
        emitter
            .send(json!({"cmd": "emit", "except": ["r1"], "event": "ex", "args": [2]}))
            .await?;
        assert_eq!(a.next_event("/", "ex").await?, json!([2]));
        assert_eq!(c.next_event("/", "ex").await?, json!([2]));
        a.no_event("/", "room", QUIET).await?;
        c.no_event("/", "room", QUIET).await?;
        b.no_event("/", "ex", QUIET).await?;
        // foreign values: a date becomes its JSON string, floats and nested binary stay
        emitter
            .send(json!({"cmd": "emit", "event": "foreign",
                "args": [{"$date": 0}, 1.5, {"deep": [{"$binary": "ff"}]}]}))
            .await?;
        assert_eq!(
            a.next_event("/", "foreign").await?,
            json!(["1970-01-01T00:00:00.000Z", 1.5, {"deep": [{"$binary": "ff"}]}])
        );
        // joins and leaves
        emitter
            .send(json!({"cmd": "join", "to": [sid_a], "rooms": ["r2"]}))
            .await?;
        emitter
            .send(json!({"cmd": "emit", "to": ["r2"], "event": "r2", "args": []}))
            .await?;
        assert_eq!(a.next_event("/", "r2").await?, json!([]));
        emitter
            .send(json!({"cmd": "leave", "to": [sid_a], "rooms": ["r2"]}))
            .await?;
        emitter
            .send(json!({"cmd": "emit", "to": ["r2"], "event": "r2-again", "args": []}))
            .await?;
        a.no_event("/", "r2-again", QUIET).await?;
        // server-side emits reach every node's handler (they forward `server-note`)
        emitter
            .send(json!({"cmd": "server_side_emit", "event": "note", "args": ["from npm"]}))
            .await?;
        assert_eq!(a.next_event("/", "server-note").await?, json!(["from npm"]));
        assert_eq!(b.next_event("/", "server-note").await?, json!(["from npm"]));
        // disconnects
        emitter
            .send(json!({"cmd": "disconnect", "to": [sid_c]}))
            .await?;
        assert_eq!(c.next_disconnect("/").await?, "io server disconnect");
        b.no_event("/", "never", QUIET).await?;
        Ok(())
    }
}
