//! Forwarding without sticky sessions, request by request: `cluster_node` processes on Redis
//! pub/sub (127.0.0.1:6379), two started with `--forward` (they advertise their addresses) and
//! one without. A raw Engine.IO long-polling session opened on one node is driven through the
//! other; its WebSocket upgrade too. What must not be forwarded is not: a request already
//! forwarded, a session id whose tag names no node, any request to a node that does not
//! advertise. A session whose node died gets an error at once, not a hung request.

use std::time::Duration;

use futures_util::{SinkExt, StreamExt};
use serde_json::Value;
use tokio::time::Instant;
use tokio_tungstenite::tungstenite::Message as WsMessage;
use volley_tests::cluster::{start_process, unique_prefix, Node};
use volley_tests::{bail, Failure, TestResult};

const REDIS: &str = "redis://127.0.0.1:6379";

async fn node(prefix: &str, name: &str, forward: bool) -> TestResult<Node> {
    let flags: &[&str] = if forward { &["--forward"] } else { &[] };
    start_process(
        env!("CARGO_BIN_EXE_cluster_node"),
        REDIS,
        prefix,
        name,
        flags,
    )
    .await
}

fn http() -> TestResult<reqwest::Client> {
    Ok(reqwest::Client::builder()
        .timeout(Duration::from_secs(10))
        .build()?)
}

fn polling(base: &str, sid: &str) -> String {
    format!("{base}/socket.io/?EIO=4&transport=polling&sid={sid}")
}

/// Opens a long-polling session on `base`; its id.
async fn open(http: &reqwest::Client, base: &str) -> TestResult<String> {
    let body = http
        .get(format!("{base}/socket.io/?EIO=4&transport=polling"))
        .send()
        .await?
        .text()
        .await?;
    let open: Value = serde_json::from_str(body.get(1..).unwrap_or_default())
        .map_err(|e| Failure::msg(format!("handshake {body:?}: {e}")))?;
    open["sid"]
        .as_str()
        .map(str::to_owned)
        .ok_or_else(|| Failure::msg(format!("no sid in {body:?}")))
}

/// Status and body of one polling request.
async fn send(req: reqwest::RequestBuilder) -> TestResult<(u16, String)> {
    let res = req.send().await?;
    let status = res.status().as_u16();
    Ok((status, res.text().await?))
}

/// Polls `url` until a record starts with `prefix` (answering pings); the record.
async fn poll_until(http: &reqwest::Client, url: &str, prefix: &str) -> TestResult<String> {
    let until = Instant::now() + Duration::from_secs(10);
    while Instant::now() < until {
        let (status, body) = send(http.get(url)).await?;
        if status != 200 {
            bail!("GET {url}: {status} {body}");
        }
        for record in body.split('\x1e') {
            if record == "2" {
                send(http.post(url).body("3")).await?;
            }
            if record.starts_with(prefix) {
                return Ok(record.to_owned());
            }
        }
    }
    bail!("no {prefix:?} record on {url}")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_session_is_served_through_any_advertising_node() -> TestResult {
    let prefix = unique_prefix();
    let a = node(&prefix, "a", true).await?;
    let b = node(&prefix, "b", true).await?;
    let sticky = node(&prefix, "sticky", false).await?;
    let http = http()?;
    let sid = open(&http, &a.url).await?;

    // b learns a's address from its heartbeats: the first forward may wait for them
    let until = Instant::now() + Duration::from_secs(10);
    loop {
        let (status, body) = send(http.post(polling(&b.url, &sid)).body("40")).await?;
        if status == 200 && body == "ok" {
            break;
        }
        if Instant::now() >= until {
            bail!("b never forwarded a's session: {status} {body}");
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    // the connect's answer, polled through b, then an ack'd event through b and a in turn
    poll_until(&http, &polling(&b.url, &sid), "40").await?;
    send(http.post(polling(&a.url, &sid)).body(r#"421["node"]"#)).await?;
    let ack = poll_until(&http, &polling(&b.url, &sid), "431").await?;
    if ack != r#"431["a"]"# {
        bail!("the session's events must run on its node a, answered {ack}");
    }

    // what is never forwarded
    let (status, body) = send(
        http.post(polling(&b.url, &sid))
            .header("volley-forwarded", "1")
            .body(r#"422["node"]"#),
    )
    .await?;
    if status != 400 || !body.contains("Session ID unknown") {
        bail!("a request marked as forwarded was forwarded again: {status} {body}");
    }
    let stranger = format!("{}zzzzzz", &sid[..14]);
    let (status, body) = send(http.get(polling(&b.url, &stranger))).await?;
    if status != 400 || !body.contains("Session ID unknown") {
        bail!("a session id naming no node: {status} {body}");
    }
    let (status, body) = send(http.get(polling(&sticky.url, &sid))).await?;
    if status != 400 || !body.contains("Session ID unknown") {
        bail!("a node that does not advertise forwarded: {status} {body}");
    }

    // the upgrade, through b: probe, upgrade, then events over the WebSocket
    let ws_url = format!(
        "{}/socket.io/?EIO=4&transport=websocket&sid={sid}",
        b.url.replacen("http://", "ws://", 1)
    );
    let (mut ws, _) = tokio_tungstenite::connect_async(ws_url).await?;
    ws.send(WsMessage::text("2probe")).await?;
    let probe = next_text(&mut ws).await?;
    if probe != "3probe" {
        bail!("probe through b answered {probe:?}");
    }
    ws.send(WsMessage::text("5")).await?;
    ws.send(WsMessage::text(r#"423["node"]"#)).await?;
    loop {
        let text = next_text(&mut ws).await?;
        if text == "2" {
            ws.send(WsMessage::text("3")).await?;
        } else if text == r#"433["a"]"# {
            break;
        } else if text.starts_with("43") {
            bail!("ack over the relayed WebSocket: {text}");
        }
    }

    // the owner dies: a request for its session through b fails at once
    a.kill().await;
    let started = Instant::now();
    let other = open(&http, &b.url).await?;
    let (status, _) = send(http.get(polling(&b.url, &sid))).await?;
    if status != 502 && status != 400 {
        bail!("a dead node's session through b: {status}, expected 502 (or 400 once forgotten)");
    }
    if started.elapsed() > Duration::from_secs(5) {
        bail!(
            "a dead node's session took {:?} to be refused",
            started.elapsed()
        );
    }
    // and b's own sessions are unaffected
    let (status, body) = send(http.post(polling(&b.url, &other)).body("40")).await?;
    if status != 200 || body != "ok" {
        bail!("b's own session: {status} {body}");
    }
    drop((b, sticky));
    Ok(())
}

async fn next_text<S>(ws: &mut S) -> TestResult<String>
where
    S: futures_util::Stream<Item = Result<WsMessage, tokio_tungstenite::tungstenite::Error>>
        + Unpin,
{
    loop {
        let msg = tokio::time::timeout(Duration::from_secs(10), ws.next())
            .await
            .map_err(|_| Failure::msg("no WebSocket frame within 10 s"))?
            .ok_or_else(|| Failure::msg("the WebSocket closed"))??;
        if let WsMessage::Text(text) = msg {
            return Ok(text.to_string());
        }
    }
}
