//! Helpers shared by the integration tests: a `nats-server` of the test's own.

#![allow(dead_code, unreachable_pub, missing_docs)]

use std::net::TcpListener;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// The program started: `VOLLEY_NATS_SERVER`, else Debian's `/usr/sbin/nats-server` when
/// there is one (a user's `PATH` may lack `/usr/sbin`), else `nats-server` on `PATH`.
fn program() -> String {
    if let Ok(program) = std::env::var("VOLLEY_NATS_SERVER") {
        return program;
    }
    let debian = "/usr/sbin/nats-server";
    if std::path::Path::new(debian).is_file() {
        debian.to_owned()
    } else {
        "nats-server".to_owned()
    }
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
    child: Option<Child>,
}

impl NatsServer {
    /// Starts a server and waits until it takes connections.
    pub fn start() -> NatsServer {
        let port = free_port();
        let dir =
            std::env::temp_dir().join(format!("volley-nats-adapter-{}-{port}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("a scratch directory");
        let config = format!(
            "listen: 127.0.0.1:{port}\nmax_payload: 8MB\njetstream {{ store_dir: {:?} }}\n",
            dir.join("store")
        );
        std::fs::write(dir.join("nats.conf"), config).expect("write the server's configuration");
        let mut server = NatsServer {
            port,
            dir,
            child: None,
        };
        server.restart();
        server
    }

    pub fn url(&self) -> String {
        format!("nats://127.0.0.1:{}", self.port)
    }

    /// Starts the server (again: same port, same storage) and waits until it takes connections.
    pub fn restart(&mut self) {
        assert!(self.child.is_none(), "the server runs");
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            let mut child = Command::new(program())
                .arg("-c")
                .arg(self.dir.join("nats.conf"))
                .stdin(Stdio::null())
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .spawn()
                .expect("nats-server is installed (Debian package nats-server)");
            while Instant::now() < deadline {
                if let Ok(Some(_)) = child.try_wait() {
                    break; // exited: the port may still be held by the previous process
                }
                if std::net::TcpStream::connect(("127.0.0.1", self.port)).is_ok() {
                    self.child = Some(child);
                    return;
                }
                std::thread::sleep(Duration::from_millis(20));
            }
            let _ = child.kill();
            let _ = child.wait();
            assert!(
                Instant::now() < deadline,
                "nats-server did not start on {}",
                self.port
            );
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// Removes the server's storage (while it is down): it restarts empty.
    pub fn wipe(&self) {
        assert!(self.child.is_none(), "the server runs");
        let _ = std::fs::remove_dir_all(self.dir.join("store"));
    }

    /// Kills the server with SIGKILL and waits until it is gone.
    pub fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

impl Drop for NatsServer {
    fn drop(&mut self) {
        self.kill();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}
