//! The deployment of `deploy/` as processes (separate: it starts nginx and three chat servers
//! through `deploy/run-local.sh`, which installs Debian's nginx when missing, needs Redis at
//! 127.0.0.1:6379, and judges by nginx's access log).
//!
//! Three chat nodes (`deploy_chat`, the chat example's server built as a binary of this package)
//! joined by Redis, behind nginx configured from `deploy/nginx/volley.conf.template`, the
//! template docker-compose.yml uses too. Official npm clients go through nginx over long-polling,
//! WebSocket, and long-polling upgraded to WebSocket, chat in one room across the nodes, and the
//! access log shows which node took each request.
//!
//! The balancer pins a client to a node by its address (`hash $remote_addr consistent`). Every
//! client here comes from the loopback range, so the test spreads them by source address:
//! WebSocket clients pick one (`localAddress`, an option of the client's `ws` transport) that
//! lands on another node than 127.0.0.1; the long-polling clients cannot pick one in Node (their
//! HTTP requests take no such option) and share 127.0.0.1's node; and raw Engine.IO
//! long-polling sessions from chosen addresses check that polling works on every node.
//!
//! Environment: as `deploy/run-local.sh` (`NGINX` names an nginx binary); `VOLLEY_NODE`,
//! `VOLLEY_NODE_CLIENTS` as the other tests with the Node client.

use std::collections::{BTreeMap, BTreeSet};
use std::net::{IpAddr, Ipv4Addr};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use serde_json::{json, Value};
use tokio::time::Instant;
use volley_tests::deploy::{Balance, Deployment, LogLine};
use volley_tests::puppet::Puppet;
use volley_tests::{bail, Failure, TestResult, STEP_TIMEOUT};

/// How long the three nodes may take to see each other through Redis.
const CLUSTER_TIMEOUT: Duration = Duration::from_secs(20);
/// Source addresses tried for the WebSocket clients and the raw sessions: 127.0.0.2 up to this.
const LAST_PROBE_OCTET: u8 = 41;
const NSP: &str = "/";

fn http_from(addr: Ipv4Addr) -> TestResult<reqwest::Client> {
    Ok(reqwest::Client::builder()
        .local_address(IpAddr::V4(addr))
        .timeout(STEP_TIMEOUT)
        .build()?)
}

/// Which node each source address lands on: one request from each, then the access log.
async fn map_addresses(
    d: &Deployment,
    addrs: &[Ipv4Addr],
) -> TestResult<BTreeMap<Ipv4Addr, usize>> {
    for addr in addrs {
        let res = http_from(*addr)?
            .get(format!("{}/?probe={addr}", d.url()))
            .send()
            .await?;
        if res.status() != 200 {
            bail!("GET / through nginx from {addr}: status {}", res.status());
        }
    }
    let lines = d
        .wait_log("line for every probe", |lines| {
            addrs.iter().all(|a| {
                lines
                    .iter()
                    .any(|l| l.param("probe") == Some(a.to_string().as_str()))
            })
        })
        .await?;
    let mut map = BTreeMap::new();
    for addr in addrs {
        let line = lines
            .iter()
            .find(|l| l.param("probe") == Some(addr.to_string().as_str()))
            .ok_or_else(|| Failure::msg(format!("no probe line for {addr}")))?;
        if line.remote != addr.to_string() {
            bail!(
                "nginx saw the probe from {addr} coming from {}",
                line.remote
            );
        }
        let node = d
            .node_of(&line.upstream)
            .ok_or_else(|| Failure::msg(format!("unknown upstream in {:?}", line.raw)))?;
        map.insert(*addr, node);
    }
    Ok(map)
}

/// One Engine.IO long-polling session through nginx, from `addr`, by hand: the handshake (with
/// the page's Origin, which the node must accept as same-origin through the proxy), the
/// Socket.IO connect, its answer, and a close. A balancer that is not sticky sends some of these
/// requests to a node that does not know the session, which answers 400.
async fn raw_polling_session(d: &Deployment, addr: Ipv4Addr) -> TestResult<String> {
    let http = http_from(addr)?;
    let base = format!("{}/socket.io/?EIO=4&transport=polling", d.url());
    let res = http.get(&base).header("origin", d.url()).send().await?;
    let status = res.status();
    let body = res.text().await?;
    if status != 200 || !body.starts_with('0') {
        bail!("handshake from {addr}: {status} {body:?}");
    }
    let open: Value = serde_json::from_str(&body[1..])?;
    let sid = open["sid"]
        .as_str()
        .ok_or_else(|| Failure::msg(format!("no sid in {body:?}")))?
        .to_owned();
    let url = format!("{base}&sid={sid}");
    let steps: [(&str, Option<&str>, &str); 3] = [
        ("POST", Some("40"), "ok"),
        ("GET", None, "40"),
        ("POST", Some("1"), "ok"),
    ];
    for (method, body, expect) in steps {
        let req = match body {
            Some(b) => http.post(&url).body(b.to_owned()),
            None => http.get(&url),
        };
        let res = req.send().await?;
        let status = res.status();
        let text = res.text().await?;
        if status != 200 || !text.starts_with(expect) {
            bail!(
                "{method} {body:?} in the polling session {sid} from {addr}: {status} {text:?} \
                 (expected 200 and {expect:?}: the balancer must send every request of a session \
                 to the node that holds it)"
            );
        }
    }
    Ok(sid)
}

/// A chat client: an official npm client through nginx.
struct Client {
    name: &'static str,
    puppet: Puppet,
}

impl Client {
    async fn start(
        d: &Deployment,
        name: &'static str,
        transport: &str,
        extra: Value,
    ) -> TestResult<Self> {
        let mut puppet = Puppet::spawn_full(&d.url(), transport, "json", extra).await?;
        puppet.connect(NSP, None).await?;
        let ack = puppet.emit_ack(NSP, "nick", json!([name])).await?;
        if ack[0]["nick"] != name {
            bail!("{name}: nick refused: {ack}");
        }
        Ok(Client { name, puppet })
    }

    async fn call(&mut self, event: &str, arg: Value) -> TestResult<Value> {
        let ack = self.puppet.emit_ack(NSP, event, json!([arg])).await?;
        match ack.get(0) {
            Some(v) if v.get("error").is_none() => Ok(v.clone()),
            _ => bail!("{}: {event} {arg} answered {ack}", self.name),
        }
    }

    async fn members_after(&mut self, event: &str, room: &str) -> TestResult<u64> {
        let ack = self.call(event, json!(room)).await?;
        ack["members"].as_u64().ok_or_else(|| {
            Failure::msg(format!("{}: {event} ack without members: {ack}", self.name))
        })
    }

    /// Waits for the event `event` whose first argument satisfies `pred` (others are dropped).
    async fn expect(
        &mut self,
        event: &str,
        what: &str,
        pred: impl Fn(&Value) -> bool,
    ) -> TestResult<Value> {
        let until = Instant::now() + Duration::from_secs(10);
        let mut other = Vec::new();
        while Instant::now() < until {
            let args = self.puppet.next_event(NSP, event).await.map_err(|e| {
                Failure::msg(format!(
                    "{}: waiting for {what}: {}",
                    self.name,
                    e.message()
                ))
            })?;
            if pred(&args[0]) {
                return Ok(args[0].clone());
            }
            other.push(args);
        }
        bail!("{}: no {what}; other {event} events: {other:?}", self.name)
    }

    async fn expect_message(&mut self, room: &str, text: &str, from: &str) -> TestResult {
        let got = self
            .expect("message", &format!("message {text:?}"), |m| {
                m["text"] == text
            })
            .await?;
        if got["room"] != room || got["from"] != from {
            bail!(
                "{}: {text:?} should come from {from} in {room}: {got}",
                self.name
            );
        }
        Ok(())
    }
}

/// Leaves and rejoins `room` on every client until each sees all of them in it: the nodes found
/// each other through Redis (a node counts only the nodes it has heard from).
async fn wait_for_cluster(clients: &mut [&mut Client], room: &str) -> TestResult {
    let want = clients.len() as u64;
    for c in clients.iter_mut() {
        c.members_after("join", room).await?;
    }
    let until = Instant::now() + CLUSTER_TIMEOUT;
    loop {
        let mut counts = Vec::new();
        for c in clients.iter_mut() {
            c.members_after("leave", room).await?;
            counts.push((c.name, c.members_after("join", room).await?));
        }
        if counts.iter().all(|(_, n)| *n == want) {
            break;
        }
        if Instant::now() >= until {
            bail!(
                "the nodes do not count each other's clients after {CLUSTER_TIMEOUT:?}: \
                 members seen {counts:?}, expected {want} each"
            );
        }
        tokio::time::sleep(Duration::from_millis(300)).await;
    }
    for c in clients.iter_mut() {
        c.members_after("leave", room).await?;
    }
    Ok(())
}

fn loopback(last: u8) -> Ipv4Addr {
    Ipv4Addr::new(127, 0, 0, last)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn chat_through_nginx_across_three_nodes() -> TestResult {
    let d = Deployment::start(env!("CARGO_BIN_EXE_deploy_chat"), Balance::Sticky).await?;
    let outcome = scenario(&d).await;
    d.finish(outcome)
}

async fn scenario(d: &Deployment) -> TestResult {
    // --- where each source address lands -------------------------------------------------------
    let candidates: Vec<Ipv4Addr> = (1..=LAST_PROBE_OCTET).map(loopback).collect();
    let map = map_addresses(d, &candidates).await?;
    let home = map[&loopback(1)];
    let nodes: BTreeSet<usize> = map.values().copied().collect();
    if nodes.len() != 3 {
        bail!("the {} probe addresses all landed on nodes {nodes:?}: the balancer does not spread clients", candidates.len());
    }
    // one address on each node, 127.0.0.1 excluded (the npm clients below use it)
    let mut per_node: BTreeMap<usize, Ipv4Addr> = BTreeMap::new();
    for (addr, node) in &map {
        if *addr != loopback(1) {
            per_node.entry(*node).or_insert(*addr);
        }
    }
    let others: Vec<usize> = (0..3).filter(|n| *n != home).collect();
    let (q, r) = (others[0], others[1]);
    let (Some(addr_q), Some(addr_r)) = (per_node.get(&q).copied(), per_node.get(&r).copied())
    else {
        bail!("no probe address landed on nodes {q} and {r}: {map:?}");
    };

    // --- raw long-polling sessions on every node ----------------------------------------------
    let mut raw_sids = Vec::new();
    for (node, addr) in &per_node {
        let sid = raw_polling_session(d, *addr).await?;
        raw_sids.push((*node, *addr, sid));
    }

    // --- official clients: polling and upgrade on 127.0.0.1's node, WebSocket on the others ---
    let mut alice = Client::start(d, "alice", "polling", json!({})).await?;
    let mut bob = Client::start(d, "bob", "upgrade", json!({})).await?;
    let transport = bob.puppet.wait_upgrade().await?;
    if transport != "websocket" {
        bail!("bob did not upgrade to WebSocket through nginx (transport: {transport})");
    }
    let mut carol = Client::start(
        d,
        "carol",
        "websocket",
        json!({ "localAddress": addr_q.to_string() }),
    )
    .await?;
    let mut dave = Client::start(
        d,
        "dave",
        "websocket",
        json!({ "localAddress": addr_r.to_string() }),
    )
    .await?;

    let tag = format!(
        "{}-{}",
        std::process::id(),
        SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |t| t.subsec_nanos())
    );
    wait_for_cluster(
        &mut [&mut alice, &mut bob, &mut carol, &mut dave],
        &format!("warmup-{tag}"),
    )
    .await?;

    // --- one room across the three nodes: the join acks count every node's members ------------
    let room = format!("deploy-{tag}");
    for (i, c) in [&mut alice, &mut bob, &mut carol, &mut dave]
        .into_iter()
        .enumerate()
    {
        let members = c.members_after("join", &room).await?;
        if members != i as u64 + 1 {
            bail!(
                "{} joined {room} as member {members}, expected {}",
                c.name,
                i + 1
            );
        }
    }
    // alice (polling, node {home}) heard of each later joiner, with the cluster-wide count
    for (nick, members) in [("bob", 2), ("carol", 3), ("dave", 4)] {
        alice
            .expect("presence", &format!("presence of {nick}"), |p| {
                p["room"] == room.as_str() && p["nick"] == nick && p["joined"] == true
            })
            .await
            .and_then(|p| {
                if p["members"] == members {
                    Ok(())
                } else {
                    Err(Failure::msg(format!(
                        "alice: presence of {nick} should count {members}: {p}"
                    )))
                }
            })?;
    }

    // --- messages cross nodes and transports; the sender gets no copy --------------------------
    let text = "from alice, over long-polling";
    alice
        .call("message", json!({ "room": room, "text": text }))
        .await?;
    for c in [&mut bob, &mut carol, &mut dave] {
        c.expect_message(&room, text, "alice").await?;
    }
    let text = "from carol, over WebSocket on another node";
    carol
        .call("message", json!({ "room": room, "text": text }))
        .await?;
    for c in [&mut alice, &mut bob, &mut dave] {
        c.expect_message(&room, text, "carol").await?;
    }
    let text = "from bob, upgraded to WebSocket";
    bob.call("message", json!({ "room": room, "text": text }))
        .await?;
    for c in [&mut alice, &mut carol, &mut dave] {
        c.expect_message(&room, text, "bob").await?;
    }
    for c in [&mut alice, &mut bob, &mut carol] {
        let name = c.name;
        c.puppet
            .no_event(NSP, "message", Duration::from_millis(300))
            .await
            .map_err(|e| {
                Failure::msg(format!("{name} got a copy of a message: {}", e.message()))
            })?;
    }

    // --- leaving is counted cluster-wide too ------------------------------------------------------
    let left = dave.members_after("leave", &room).await?;
    if left != 3 {
        bail!("after dave left {room}, {left} members counted instead of 3");
    }
    alice
        .expect("presence", "dave leaving", |p| {
            p["room"] == room.as_str() && p["nick"] == "dave" && p["joined"] == false
        })
        .await
        .and_then(|p| {
            if p["members"] == 3 {
                Ok(())
            } else {
                Err(Failure::msg(format!(
                    "alice: dave's leaving should count 3: {p}"
                )))
            }
        })?;

    for c in [alice, bob, carol, dave] {
        c.puppet.close().await;
    }

    // --- what the access log says about where each request went ------------------------------
    // nginx logs a WebSocket when it closes: wait for carol's, dave's and bob's.
    let (sq, sr) = (addr_q.to_string(), addr_r.to_string());
    let lines = d
        .wait_log("WebSocket lines of bob, carol and dave", |lines| {
            [sq.as_str(), sr.as_str(), "127.0.0.1"]
                .iter()
                .all(|remote| {
                    lines.iter().any(|l| {
                        l.is_engineio()
                            && l.remote == *remote
                            && l.param("transport") == Some("websocket")
                    })
                })
        })
        .await?;
    let engineio: Vec<&LogLine> = lines.iter().filter(|l| l.is_engineio()).collect();
    if let Some(bad) = engineio.iter().find(|l| l.status == 400) {
        bail!(
            "a Socket.IO request was refused (400: the session was unknown to its node?): {}",
            bad.raw
        );
    }
    // every request of one session, and of one address, went to one node
    let mut by_sid: BTreeMap<&str, BTreeSet<&str>> = BTreeMap::new();
    let mut by_remote: BTreeMap<&str, BTreeSet<&str>> = BTreeMap::new();
    for l in &engineio {
        if let Some(sid) = l.param("sid") {
            by_sid.entry(sid).or_default().insert(&l.upstream);
        }
        by_remote.entry(&l.remote).or_default().insert(&l.upstream);
    }
    for (key, upstreams) in by_sid.iter().chain(by_remote.iter()) {
        if upstreams.len() != 1 {
            bail!("the requests of {key} went to several nodes: {upstreams:?}");
        }
    }
    let node_of_remote = |remote: &str| {
        by_remote
            .get(remote)
            .and_then(|u| u.iter().next())
            .and_then(|u| d.node_of(u))
    };
    // the npm clients' long-polling (alice, and bob before upgrading) went through nginx ...
    let polled: BTreeSet<&str> = engineio
        .iter()
        .filter(|l| l.remote == "127.0.0.1" && l.param("transport") == Some("polling"))
        .filter(|l| l.method == "POST" && l.status == 200)
        .filter_map(|l| l.param("sid"))
        .collect();
    if polled.len() < 2 {
        bail!("expected long-polling POSTs of alice's and bob's sessions from 127.0.0.1, found sessions {polled:?}");
    }
    // ... bob's upgrade stayed in its session's node ...
    let upgraded = engineio.iter().any(|l| {
        l.remote == "127.0.0.1"
            && l.status == 101
            && l.param("transport") == Some("websocket")
            && l.param("sid").is_some_and(|s| polled.contains(s))
    });
    if !upgraded {
        bail!(
            "no WebSocket upgrade (101) of a long-polling session from 127.0.0.1 in the access log"
        );
    }
    // ... and the clients were on the three nodes
    let placed = [
        ("alice and bob", "127.0.0.1", home),
        ("carol", sq.as_str(), q),
        ("dave", sr.as_str(), r),
    ];
    for (who, remote, node) in placed {
        if node_of_remote(remote) != Some(node) {
            bail!(
                "{who} ({remote}) should be on node {} (as its probe was), the log says {:?}",
                node + 1,
                by_remote.get(remote)
            );
        }
    }
    for (node, addr, sid) in &raw_sids {
        if by_sid
            .get(sid.as_str())
            .and_then(|u| u.iter().next())
            .and_then(|u| d.node_of(u))
            != Some(*node)
        {
            bail!(
                "the raw polling session {sid} from {addr} should be on node {}",
                node + 1
            );
        }
    }
    Ok(())
}
