//! What the modules of the hostile suite share: raw Socket.IO clients that do what a stranger
//! would, and ways to watch what reaches the well-behaved clients beside them.

use std::time::Duration;

use volley_tests::server::TestServer;
use volley_tests::wire::{Frame, Polling, Ws, SEPARATOR};
use volley_tests::{bail, TestResult};

pub(crate) const PATH: &str = "/socket.io/";

/// A polling session whose packets the test writes by hand.
pub(crate) struct RawPolling {
    pub(crate) polling: Polling,
    pub(crate) sid: String,
}

impl RawPolling {
    pub(crate) async fn open(server: &TestServer) -> TestResult<Self> {
        let polling = Polling::new(server, PATH);
        let sid = polling.handshake().await?.sid;
        Ok(RawPolling { polling, sid })
    }

    /// Sends several packets in one POST body (as one burst).
    pub(crate) async fn send(&self, packets: &[&str]) -> TestResult {
        let body = packets.join(&SEPARATOR.to_string());
        self.polling.push_ok(&self.sid, &body).await
    }

    /// Polls until a packet containing `needle` arrives (pings are answered); returns every
    /// packet seen up to it.
    pub(crate) async fn until(&self, needle: &str) -> TestResult<Vec<String>> {
        let mut seen = Vec::new();
        for _ in 0..20 {
            let body = self.polling.poll_skipping_pings(&self.sid, 5).await?;
            let found = body.contains(needle);
            seen.extend(body.split(SEPARATOR).map(str::to_owned));
            if found {
                return Ok(seen);
            }
        }
        bail!("no packet with {needle:?} after 20 polls; seen {seen:?}")
    }
}

/// A well-behaved WebSocket client connected to the namespace `/`.
pub(crate) async fn ws_client(server: &TestServer) -> TestResult<Ws> {
    let (mut ws, _) = Ws::open(server, PATH).await?;
    ws.send_text("40").await?;
    match ws.next_packet().await? {
        Frame::Text(t) if t.starts_with("40{") => Ok(ws),
        other => bail!("expected the CONNECT ack, got {other:?}"),
    }
}

/// Every frame `ws` receives during `window` (pings answered, not listed).
pub(crate) async fn frames_during(ws: &mut Ws, window: Duration) -> TestResult<Vec<Frame>> {
    let deadline = tokio::time::Instant::now() + window;
    let mut seen = Vec::new();
    loop {
        let left = deadline.saturating_duration_since(tokio::time::Instant::now());
        match ws.next_frame_within(left).await? {
            None => return Ok(seen),
            Some(Frame::Text(t)) if t == "2" => ws.send_text("3").await?,
            Some(frame @ Frame::Closed(_)) => {
                seen.push(frame);
                return Ok(seen);
            }
            Some(frame) => seen.push(frame),
        }
    }
}
