//! A small TCP proxy on a free loopback port whose backend can be switched and whose
//! connections can be cut: what a load balancer does when a client's node goes away, so that a
//! client reconnects to another node at the same address.

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;

use crate::TestResult;

/// A running proxy; stops accepting (and cuts its connections) when dropped.
pub struct Proxy {
    addr: SocketAddr,
    backend: Arc<Mutex<SocketAddr>>,
    /// Bumped to cut every open connection.
    generation: watch::Sender<u64>,
    accept: tokio::task::JoinHandle<()>,
}

impl Proxy {
    /// Starts a proxy to `backend` (`127.0.0.1:PORT`).
    pub async fn start(backend: SocketAddr) -> TestResult<Self> {
        let listener = TcpListener::bind("127.0.0.1:0").await?;
        let addr = listener.local_addr()?;
        let backend = Arc::new(Mutex::new(backend));
        let (generation, _) = watch::channel(0u64);
        let target = backend.clone();
        let cuts = generation.clone();
        let accept = tokio::spawn(async move {
            while let Ok((client, _)) = listener.accept().await {
                let to = *target.lock().unwrap_or_else(|p| p.into_inner());
                let mut cut = cuts.subscribe();
                tokio::spawn(async move {
                    let Ok(server) = TcpStream::connect(to).await else {
                        return;
                    };
                    let _ = client.set_nodelay(true);
                    let _ = server.set_nodelay(true);
                    let (mut client, mut server) = (client, server);
                    tokio::select! {
                        _ = tokio::io::copy_bidirectional(&mut client, &mut server) => {}
                        _ = cut.changed() => {}
                    }
                });
            }
        });
        Ok(Proxy {
            addr,
            backend,
            generation,
            accept,
        })
    }

    /// The proxy's base URL, `http://127.0.0.1:PORT`.
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// New connections go to `backend` from now on.
    pub fn switch(&self, backend: SocketAddr) {
        *self.backend.lock().unwrap_or_else(|p| p.into_inner()) = backend;
    }

    /// Closes every connection open through the proxy, as a failed node or network would.
    pub fn cut(&self) {
        self.generation.send_modify(|g| *g += 1);
    }
}

impl Drop for Proxy {
    fn drop(&mut self) {
        self.accept.abort();
        self.cut();
    }
}
