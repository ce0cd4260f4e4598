//! Helpers shared by the integration tests: a `nats-server` of the test's own.

#![allow(dead_code, unreachable_pub, missing_docs)]

use std::net::TcpListener;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// The program started; `VOLLEY_NATS_SERVER` overrides it.
fn program() -> String {
    std::env::var("VOLLEY_NATS_SERVER").unwrap_or_else(|_| "nats-server".to_owned())
}

/// A free TCP port on 127.0.0.1 (free when asked; a race with other programs is unlikely).
pub fn free_port() -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind an ephemeral port");
    listener.local_addr().expect("local address").port()
}

/// A `nats-server` with JetStream (its storage in a directory of its own) and an 8 MB
/// `max_payload`, on a free port, killed and its directory removed when dropped.
pub struct NatsServer {
    pub port: u16,
    dir: PathBuf,
    child: Child,
}

impl NatsServer {
    /// Starts a server and waits until it takes connections.
    pub fn start() -> NatsServer {
        let port = free_port();
        let dir =
            std::env::temp_dir().join(format!("volley-nats-adapter-{}-{port}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("a scratch directory");
        let config = dir.join("nats.conf");
        std::fs::write(
            &config,
            format!(
                "listen: 127.0.0.1:{port}\nmax_payload: 8MB\njetstream {{ store_dir: {:?} }}\n",
                dir.join("store")
            ),
        )
        .expect("write the server's configuration");
        let child = Command::new(program())
            .arg("-c")
            .arg(&config)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("nats-server is installed (Debian package nats-server)");
        let server = NatsServer { port, dir, child };
        let deadline = Instant::now() + Duration::from_secs(10);
        while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(
                Instant::now() < deadline,
                "nats-server did not start on {port}"
            );
            std::thread::sleep(Duration::from_millis(20));
        }
        server
    }

    pub fn url(&self) -> String {
        format!("nats://127.0.0.1:{}", self.port)
    }
}

impl Drop for NatsServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}
