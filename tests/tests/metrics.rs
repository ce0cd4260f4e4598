//! Volley's Prometheus metrics (feature `metrics`), scraped over HTTP while the official Node
//! client connects, emits and leaves (separate: the `metrics` recorder is global to a process,
//! so this file is its own test binary).

use std::collections::BTreeMap;
use std::time::Duration;

use serde_json::json;
use volley::{Args, Server, Socket};
use volley_tests::puppet::Puppet;
use volley_tests::server::TestServer;
use volley_tests::{bail, TestResult, STEP_TIMEOUT};

/// One sample of the exposition: its metric name and labels.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
struct Series {
    name: String,
    labels: BTreeMap<String, String>,
}

/// The samples of a Prometheus text exposition.
fn parse(text: &str) -> BTreeMap<Series, f64> {
    let mut out = BTreeMap::new();
    for line in text
        .lines()
        .filter(|l| !l.starts_with('#') && !l.trim().is_empty())
    {
        let Some((series, value)) = line.rsplit_once(' ') else {
            continue;
        };
        let Ok(value) = value.parse::<f64>() else {
            continue;
        };
        let (name, labels) = match series.split_once('{') {
            Some((name, rest)) => (name, rest.trim_end_matches('}')),
            None => (series, ""),
        };
        let labels = labels
            .split("\",")
            .filter(|l| !l.is_empty())
            .filter_map(|l| l.split_once("=\""))
            .map(|(k, v)| (k.to_owned(), v.trim_end_matches('"').to_owned()))
            .collect();
        out.insert(
            Series {
                name: name.to_owned(),
                labels,
            },
            value,
        );
    }
    out
}

/// What `/metrics` says now.
struct Scrape(BTreeMap<Series, f64>);

impl Scrape {
    async fn take(server: &TestServer) -> TestResult<Scrape> {
        let res = reqwest::Client::new()
            .get(format!("{}/metrics", server.url()))
            .timeout(STEP_TIMEOUT)
            .send()
            .await?;
        let kind = res
            .headers()
            .get("content-type")
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_owned();
        if res.status() != 200 || !kind.starts_with("text/plain") {
            bail!("GET /metrics: {} {kind:?}", res.status());
        }
        Ok(Scrape(parse(&res.text().await?)))
    }

    /// The value of `name` with exactly `labels` (0 when absent).
    fn get(&self, name: &str, labels: &[(&str, &str)]) -> f64 {
        let series = Series {
            name: name.to_owned(),
            labels: labels
                .iter()
                .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
                .collect(),
        };
        self.0.get(&series).copied().unwrap_or(0.0)
    }
}

/// Checks that `name{labels}` moved by `delta` between two scrapes.
fn moved(
    before: &Scrape,
    after: &Scrape,
    name: &str,
    labels: &[(&str, &str)],
    delta: f64,
) -> TestResult {
    let (a, b) = (before.get(name, labels), after.get(name, labels));
    if (b - a - delta).abs() > 1e-9 {
        bail!("{name}{labels:?} went from {a} to {b}, expected a change of {delta}");
    }
    Ok(())
}

/// Scrapes until `pred` holds, for at most STEP_TIMEOUT.
async fn until(
    server: &TestServer,
    what: &str,
    pred: impl Fn(&Scrape) -> bool,
) -> TestResult<Scrape> {
    let deadline = tokio::time::Instant::now() + STEP_TIMEOUT;
    loop {
        let scrape = Scrape::take(server).await?;
        if pred(&scrape) {
            return Ok(scrape);
        }
        if tokio::time::Instant::now() > deadline {
            let volley: Vec<String> = scrape
                .0
                .iter()
                .filter(|(s, _)| !s.name.contains("_bucket"))
                .map(|(s, v)| format!("{}{:?} {v}", s.name, s.labels))
                .collect();
            bail!(
                "within {STEP_TIMEOUT:?}: {what}; last scrape:\n{}",
                volley.join("\n")
            );
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

fn metrics_server() -> TestResult<Server> {
    let io = Server::builder().build();
    io.of("/")
        .on("echo", |socket: Socket, args: Args| async move {
            let _ = socket.emit("echo", &args).await;
        })
        .on("shout", |socket: Socket, text: String| async move {
            // to everyone in the namespace, the sender included; acked once queued
            let _ = socket.namespace().emit("shout", &text).await;
        });
    Ok(io)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn counters_follow_the_clients() -> TestResult {
    let io = metrics_server()?;
    let metrics = volley::metrics::router()?;
    io.record_metrics();
    let server = TestServer::spawn(io.wrap(metrics)).await?;
    let ns = [("namespace", "/")];

    let before = Scrape::take(&server).await?;
    let mut alice = Puppet::spawn(server.url(), "websocket").await?;
    let mut bob = Puppet::spawn(server.url(), "websocket").await?;
    alice.connect("/", None).await?;
    bob.connect("/", None).await?;
    let connected = until(&server, "two sockets on /", |s| {
        s.get("volley_sockets", &ns) == before.get("volley_sockets", &ns) + 2.0
    })
    .await?;
    moved(
        &before,
        &connected,
        "volley_socket_connects_total",
        &ns,
        2.0,
    )?;
    moved(&before, &connected, "volley_connections", &[], 2.0)?;
    moved(
        &before,
        &connected,
        "volley_connections_opened_total",
        &[("transport", "websocket")],
        2.0,
    )?;

    // one event in, one out (to alice alone)
    alice.emit("/", "echo", json!(["hi", 1])).await?;
    let echoed = alice.next_event("/", "echo").await?;
    if echoed != json!(["hi", 1]) {
        bail!("echo came back as {echoed}");
    }
    // one event in, two out (a broadcast to both)
    alice.emit("/", "shout", json!(["hey"])).await?;
    alice.next_event("/", "shout").await?;
    bob.next_event("/", "shout").await?;
    let emitted = until(&server, "three events sent on /", |s| {
        s.get("volley_events_sent_total", &ns) == before.get("volley_events_sent_total", &ns) + 3.0
    })
    .await?;
    moved(&before, &emitted, "volley_events_received_total", &ns, 2.0)?;
    // fan-out: one emit reached 1 socket, the other 2
    moved(
        &before,
        &emitted,
        "volley_broadcast_recipients_count",
        &ns,
        2.0,
    )?;
    moved(
        &before,
        &emitted,
        "volley_broadcast_recipients_sum",
        &ns,
        3.0,
    )?;
    moved(
        &before,
        &emitted,
        "volley_broadcast_recipients_bucket",
        &[("namespace", "/"), ("le", "1")],
        1.0,
    )?;
    // bytes and packets: the two CONNECTs and two events in; at least the three events out
    let grew = |name: &str, by: f64| emitted.get(name, &[]) - before.get(name, &[]) >= by;
    if !(grew("volley_packets_received_total", 4.0)
        && grew("volley_received_bytes_total", 20.0)
        && grew("volley_packets_sent_total", 3.0)
        && grew("volley_sent_bytes_total", 30.0))
    {
        bail!(
            "packets and bytes did not grow as expected: in {} packets / {} bytes, out {} / {}",
            emitted.get("volley_packets_received_total", &[])
                - before.get("volley_packets_received_total", &[]),
            emitted.get("volley_received_bytes_total", &[])
                - before.get("volley_received_bytes_total", &[]),
            emitted.get("volley_packets_sent_total", &[])
                - before.get("volley_packets_sent_total", &[]),
            emitted.get("volley_sent_bytes_total", &[])
                - before.get("volley_sent_bytes_total", &[]),
        );
    }

    // alice leaves the namespace (her client then closes its connection, having no namespace
    // left), bob's connection breaks
    alice.disconnect("/").await?;
    bob.close().await;
    let gone = until(&server, "no socket and no connection left", |s| {
        s.get("volley_sockets", &ns) == before.get("volley_sockets", &ns)
            && s.get("volley_connections", &[]) == before.get("volley_connections", &[])
    })
    .await?;
    for (reason, delta) in [
        ("client namespace disconnect", 1.0),
        ("transport close", 1.0),
    ] {
        let labels = [("namespace", "/"), ("reason", reason)];
        moved(
            &before,
            &gone,
            "volley_socket_disconnects_total",
            &labels,
            delta,
        )?;
    }
    for (reason, delta) in [("client close", 1.0), ("transport close", 1.0)] {
        let labels = [("reason", reason)];
        moved(
            &before,
            &gone,
            "volley_connections_closed_total",
            &labels,
            delta,
        )?;
    }
    alice.close().await;
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cluster_hooks_are_exported() -> TestResult {
    let server = TestServer::spawn(volley::metrics::router()?).await?;
    let before = Scrape::take(&server).await?;
    volley::metrics::bus_published(3, true);
    volley::metrics::bus_published(1, false);
    volley::metrics::bus_received(true);
    volley::metrics::cluster_request(
        "fetch_sockets",
        Duration::from_millis(3),
        volley::metrics::RequestOutcome::Ok,
    );
    let after = Scrape::take(&server).await?;
    moved(
        &before,
        &after,
        "volley_bus_published_total",
        &[("result", "ok")],
        3.0,
    )?;
    moved(
        &before,
        &after,
        "volley_bus_published_total",
        &[("result", "error")],
        1.0,
    )?;
    moved(
        &before,
        &after,
        "volley_bus_received_total",
        &[("result", "ok")],
        1.0,
    )?;
    let latency = [("kind", "fetch_sockets"), ("result", "ok")];
    moved(
        &before,
        &after,
        "volley_cluster_request_seconds_count",
        &latency,
        1.0,
    )?;
    moved(
        &before,
        &after,
        "volley_cluster_request_seconds_bucket",
        &[("kind", "fetch_sockets"), ("result", "ok"), ("le", "0.005")],
        1.0,
    )?;
    Ok(())
}
