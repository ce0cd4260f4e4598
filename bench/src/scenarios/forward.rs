//! What forwarding adds to a long-poll, without sticky sessions: two Volley nodes in this
//! process on Redis pub/sub, each advertising its address (`ClusterConfig::advertise`). One
//! long-polling session is opened on node A; each round posts an event with an ack and polls
//! for the ack — on A itself (direct), then on B, which forwards both requests to A.
//!
//! Rounds alternate between the two ways, so that both see the same machine; each way keeps
//! its own keep-alive connection.

use std::time::{Duration, Instant};

use hdrhistogram::Histogram;
use volley::manager::cluster::{ClusterConfig, ClusterManager};
use volley::{Server, Socket, Value};
use volley_redis::RedisBus;

use crate::loadgen::polling::Http;

/// What one way of reaching the session measured, in microseconds per round (a POST and the
/// GET that brings its ack).
#[derive(Debug)]
pub struct ForwardResult {
    /// Rounds on the session's own node.
    pub direct: Histogram<u64>,
    /// Rounds through the other node.
    pub forwarded: Histogram<u64>,
}

fn histogram() -> Result<Histogram<u64>, String> {
    Histogram::new_with_bounds(1, 60_000_000, 3).map_err(|e| e.to_string())
}

async fn node(redis: &str, prefix: &str) -> Result<(Server, std::net::SocketAddr), String> {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .map_err(|e| e.to_string())?;
    let addr = listener.local_addr().map_err(|e| e.to_string())?;
    let bus = RedisBus::builder(redis)
        .build()
        .map_err(|e| e.to_string())?;
    let config = ClusterConfig::default()
        .prefix(prefix)
        .advertise(Some(addr.to_string()));
    let manager = ClusterManager::new(bus, config);
    let io = Server::builder().client_manager(manager.clone()).build();
    io.of("/").on("echo", |_s: Socket, args: Vec<Value>| args);
    if !manager.ready(Duration::from_secs(10)).await {
        return Err("a node could not subscribe".into());
    }
    let service = io.service();
    tokio::spawn(async move { axum::serve(listener, service).await });
    Ok((io, addr))
}

/// One round on `http`: an event with ack id `id`, then polls until its ack; its duration.
async fn round(http: &mut Http, sid: &str, id: u64) -> Result<Duration, String> {
    let started = Instant::now();
    let post = format!("42{id}[\"echo\",{id}]");
    http.request("POST", sid, Some(post.as_bytes()))
        .await
        .map_err(|e| e.to_string())?;
    let want = format!("43{id}[");
    loop {
        let body = http
            .request("GET", sid, None)
            .await
            .map_err(|e| e.to_string())?;
        let records = body.split(|&b| b == 0x1e);
        let mut done = false;
        for r in records {
            if r == b"2" {
                http.request("POST", sid, Some(b"3"))
                    .await
                    .map_err(|e| e.to_string())?;
            }
            done |= r.starts_with(want.as_bytes());
        }
        if done {
            return Ok(started.elapsed());
        }
    }
}

/// Runs `rounds` rounds each way over Redis at `redis` (`redis://host:port`).
pub async fn run(redis: &str, rounds: u64) -> Result<ForwardResult, String> {
    let prefix = format!("volley-bench-forward-{}", std::process::id());
    let (_a, a) = node(redis, &prefix).await?;
    let (_b, b) = node(redis, &prefix).await?;
    let mut direct = Http::connect(a).await.map_err(|e| e.to_string())?;
    let mut through = Http::connect(b).await.map_err(|e| e.to_string())?;
    let open = direct
        .request("GET", "", None)
        .await
        .map_err(|e| e.to_string())?;
    let open: serde_json::Value =
        serde_json::from_slice(open.get(1..).unwrap_or_default()).map_err(|e| e.to_string())?;
    let sid = open["sid"].as_str().ok_or("no sid")?.to_owned();
    direct
        .request("POST", &sid, Some(b"40"))
        .await
        .map_err(|e| e.to_string())?;
    // until B has heard A's address, B answers 400: wait for the first forward to go through
    let deadline = Instant::now() + Duration::from_secs(10);
    while through.request("GET", &sid, None).await.is_err() {
        if Instant::now() > deadline {
            return Err("node B never forwarded the session to A".into());
        }
        through = Http::connect(b).await.map_err(|e| e.to_string())?;
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let (mut d, mut f) = (histogram()?, histogram()?);
    // a few rounds each way first: connections warm, pools filled
    for id in 0..rounds + 50 {
        let t_direct = round(&mut direct, &sid, 2 * id + 1).await?;
        let t_forwarded = round(&mut through, &sid, 2 * id + 2).await?;
        if id >= 50 {
            let _ = d.record(t_direct.as_micros() as u64);
            let _ = f.record(t_forwarded.as_micros() as u64);
        }
    }
    Ok(ForwardResult {
        direct: d,
        forwarded: f,
    })
}
