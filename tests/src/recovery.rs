//! Connection state recovery as the official client sees it: a client that reconnects by itself,
//! numbered broadcasts it must receive exactly once and in order, and the cluster scenarios
//! (back on the same node, or through a proxy on another node) that every bus runs.

use std::net::SocketAddr;
use std::time::Duration;

use serde_json::{json, Value};

use crate::cluster::{self, Backend, Node};
use crate::proxy::Proxy;
use crate::puppet::Puppet;
use crate::{bail, Failure, TestResult};

/// The official client on `url` over WebSocket, reconnecting by itself 50-100 ms after a drop.
pub async fn reconnecting_client(url: &str) -> TestResult<Puppet> {
    Puppet::spawn_full(
        url,
        "websocket",
        "json",
        json!({ "reconnection": true, "reconnectionDelay": 50, "reconnectionDelayMax": 100 }),
    )
    .await
}

/// The official client on `url` over WebSocket, reconnecting by itself exactly `delay` after a
/// drop (no jitter): for clients that must stay away a known time.
pub async fn client_away_for(url: &str, delay: Duration) -> TestResult<Puppet> {
    let ms = u64::try_from(delay.as_millis()).unwrap_or(u64::MAX);
    Puppet::spawn_full(
        url,
        "websocket",
        "json",
        json!({
            "reconnection": true,
            "reconnectionDelay": ms,
            "reconnectionDelayMax": ms,
            "randomizationFactor": 0,
        }),
    )
    .await
}

/// Connects `client` to `/` and takes the first `connected` report, so that the next one is a
/// reconnect; returns the socket id.
pub async fn connect(client: &mut Puppet) -> TestResult<String> {
    let sid = client.connect("/", None).await?;
    client.next_connected("/", Duration::from_secs(5)).await?;
    Ok(sid)
}

/// The numbers carried by events (their first argument), checking that each carries an offset
/// (a string) as its last argument when `offsets` is true, and nothing else.
pub fn numbers(events: &[Value], offsets: bool) -> TestResult<Vec<u64>> {
    let mut out = Vec::new();
    for args in events {
        let args = args.as_array().cloned().unwrap_or_default();
        let expected_len = if offsets { 2 } else { 1 };
        if args.len() != expected_len {
            bail!("event with arguments {args:?}, expected {expected_len}");
        }
        if offsets && !args[1].is_string() {
            bail!("the last argument of {args:?} is not an offset");
        }
        match args[0].as_u64() {
            Some(n) => out.push(n),
            None => bail!("event without a number: {args:?}"),
        }
    }
    Ok(out)
}

/// Waits (up to 20 s) until `event` numbered `last` arrived on `/`; returns the numbers of every
/// `event` received until then.
pub async fn numbers_until(
    client: &mut Puppet,
    event: &str,
    last: u64,
    offsets: bool,
) -> TestResult<Vec<u64>> {
    numbers_while(client, event, last, offsets, |all| all.contains(&last)).await
}

/// Waits (up to 20 s) until `count` `event`s arrived on `/`, whatever their numbers; returns the
/// numbers of every `event` received until then.
pub async fn numbers_counted(
    client: &mut Puppet,
    event: &str,
    count: usize,
    offsets: bool,
) -> TestResult<Vec<u64>> {
    let last = u64::try_from(count).unwrap_or(u64::MAX).saturating_sub(1);
    numbers_while(client, event, last, offsets, |all| all.len() >= count).await
}

async fn numbers_while(
    client: &mut Puppet,
    event: &str,
    last: u64,
    offsets: bool,
    done: impl Fn(&[u64]) -> bool,
) -> TestResult<Vec<u64>> {
    let mut all = Vec::new();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    loop {
        let arrived = client
            .drain_events("/", event, Duration::ZERO, Duration::ZERO)
            .await?;
        all.extend(numbers(&arrived, offsets)?);
        if done(&all) {
            return Ok(all);
        }
        if tokio::time::Instant::now() > deadline {
            bail!(
                "`{event}` {last} never came; received {} of them, the last {:?}",
                all.len(),
                all.last()
            );
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// Fails unless `got` is exactly `0..count`: each number once, in order.
pub fn exactly_once_in_order(what: &str, got: &[u64], count: u64) -> TestResult {
    let expected: Vec<u64> = (0..count).collect();
    if got != expected.as_slice() {
        let missing: Vec<u64> = expected
            .iter()
            .copied()
            .filter(|n| !got.contains(n))
            .collect();
        let mut seen = std::collections::HashSet::new();
        let duplicated: Vec<u64> = got.iter().copied().filter(|n| !seen.insert(*n)).collect();
        bail!(
            "{what}: expected 0..{count} once each in order; got {} numbers, missing {missing:?}, \
             duplicated {duplicated:?}, first out of place at {:?}",
            got.len(),
            got.iter().zip(&expected).position(|(a, b)| a != b)
        );
    }
    Ok(())
}

/// The `host:port` a node listens on.
pub fn addr(node: &Node) -> TestResult<SocketAddr> {
    node.url
        .trim_start_matches("http://")
        .parse()
        .map_err(|e| Failure::msg(format!("node address {}: {e}", node.url)))
}

/// How many numbered broadcasts each node sends in the cluster scenarios, and how often.
const TICKS: u64 = 300;
const EVERY_MS: u64 = 3;

/// Two nodes with recovery on; a client on the first (through a proxy) in a room; each node
/// sends the room a steady stream of numbered broadcasts; the client's connections are cut
/// mid-stream and it reconnects, through the proxy, to the second node when `switch` (else to
/// the same one). It must come back recovered, with the same id, its room and its two session
/// values, and receive both streams exactly once and in order.
pub async fn recover_in_cluster(backend: Backend, switch: bool) -> TestResult {
    let nodes = cluster::start_recoverable(&backend, 2).await?;
    let proxy = Proxy::start(addr(&nodes[0])?).await?;
    let mut client = reconnecting_client(&proxy.url()).await?;
    let sid = connect(&mut client).await?;
    client.emit_ack("/", "join", json!(["room"])).await?;
    client
        .emit_ack("/", "save-session", json!(["ada", 3]))
        .await?;
    let mut drivers = Vec::new();
    for (node, event) in nodes.iter().zip(["tick", "tock"]) {
        let mut driver = Puppet::spawn(&node.url, "websocket").await?;
        driver.connect("/", None).await?;
        driver
            .emit("/", "ticks", json!([event, "room", TICKS, EVERY_MS]))
            .await?;
        drivers.push(driver);
    }
    tokio::time::sleep(Duration::from_millis(300)).await;
    if switch {
        proxy.switch(addr(&nodes[1])?);
    }
    proxy.cut();
    let (back, recovered) = client.next_connected("/", Duration::from_secs(10)).await?;
    if !recovered || back != sid {
        bail!("reconnected as {back} (recovered: {recovered}), expected {sid} recovered");
    }
    for driver in &mut drivers {
        let done = driver.next_event("/", "ticks-done").await?;
        if done[1] != json!(TICKS) || done[2] != json!(0) {
            bail!("not every emit succeeded: {done}");
        }
    }
    for event in ["tick", "tock"] {
        let got = numbers_until(&mut client, event, TICKS - 1, true).await?;
        exactly_once_in_order(event, &got, TICKS)?;
    }
    let rooms = client.emit_ack("/", "rooms", json!([])).await?;
    if !rooms[0]
        .as_array()
        .is_some_and(|r| r.contains(&json!("room")))
    {
        bail!("the recovered socket is not in its room any more: {rooms}");
    }
    let session = client.emit_ack("/", "session", json!([])).await?;
    if session != json!(["ada", 3]) {
        bail!("the recovered socket's session values are not back: {session}");
    }
    client.close().await;
    for driver in drivers {
        driver.close().await;
    }
    Ok(())
}
