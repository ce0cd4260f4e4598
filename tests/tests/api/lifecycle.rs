//! Connect (request data, auth, accept / reject / refuse with data), disconnect with reasons,
//! server-side disconnect of a sid, and shutdown.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde_json::json;
use volley::{ConnectError, DisconnectReason, Server, Sid, Socket, Value};
use volley_tests::puppet::Puppet;
use volley_tests::{Failure, TestResult};

use crate::serve;

type Log = Arc<Mutex<Vec<String>>>;

fn server(log: Log) -> Server {
    let io = Server::builder().build();
    let nsp = io.of("/");
    nsp.on_connect(|s: Socket, auth: Option<Value>| {
        let token = auth
            .as_ref()
            .and_then(|a| a.as_map())
            .and_then(|m| m.iter().find(|(k, _)| k.as_str() == Some("token")))
            .and_then(|(_, v)| v.as_str().map(str::to_owned));
        match token.as_deref() {
            Some("reject") => Err(ConnectError::new("Connection rejected by server")),
            Some("refuse") => {
                Err(ConnectError::new("not allowed").with_data(&json!({"retry": false})))
            }
            _ => {
                let agent = s
                    .request()
                    .header("x-test-client")
                    .and_then(|h| h.to_str().ok().map(str::to_owned))
                    .unwrap_or_default();
                s.save_session(agent);
                Ok(())
            }
        }
    });
    let bool_ns = io.of("/bool");
    bool_ns.on_connect(|_s: Socket, _auth: Option<Value>| false);
    nsp.on("agent", |s: Socket, ()| s.get_session::<String>());
    nsp.on("query", |s: Socket, ()| s.request().query("room"));
    nsp.on("kick", |s: Socket, sid: String| async move {
        match Sid::parse(&sid) {
            Some(sid) => s.namespace().disconnect(sid).await.is_ok(),
            None => false,
        }
    });
    nsp.on_disconnect(move |s: Socket, reason: DisconnectReason| {
        if let Ok(mut l) = log.lock() {
            l.push(format!("{} {}", s.id(), reason));
        }
    });
    io
}

async fn reason_of(log: &Log, sid: &str) -> TestResult<String> {
    for _ in 0..100 {
        let found = log
            .lock()
            .ok()
            .and_then(|l| l.iter().find(|e| e.starts_with(sid)).cloned());
        if let Some(entry) = found {
            return Ok(entry[sid.len() + 1..].to_owned());
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    Err(Failure::msg(format!("no disconnect recorded for {sid}")))
}

#[tokio::test]
async fn connect_sees_the_request_and_may_reject_or_refuse_with_data() -> TestResult {
    let log = Log::default();
    let srv = serve(&server(log)).await?;
    let extra = json!({"extraHeaders": {"x-test-client": "puppet"}, "query": {"room": "r9"}});
    let mut c = Puppet::spawn_full(srv.url(), "polling", "json", extra).await?;
    c.connect("/", Some(json!({"token": "ok"}))).await?;
    assert_eq!(
        c.emit_ack("/", "agent", json!([])).await?,
        json!(["puppet"])
    );
    assert_eq!(c.emit_ack("/", "query", json!([])).await?, json!(["r9"]));

    // (one client per attempt: socket.io-client caches the socket of a namespace)
    let mut r = Puppet::spawn(srv.url(), "websocket").await?;
    let rejected = r.try_connect("/", Some(json!({"token": "reject"}))).await?;
    assert_eq!(
        rejected["connect_error"]["message"],
        json!("Connection rejected by server")
    );
    let mut r = Puppet::spawn(srv.url(), "websocket").await?;
    let refused = r.try_connect("/", Some(json!({"token": "refuse"}))).await?;
    assert_eq!(refused["connect_error"]["message"], json!("not allowed"));
    assert_eq!(refused["connect_error"]["data"], json!({"retry": false}));
    let falsy = r.try_connect("/bool", None).await?;
    assert_eq!(
        falsy["connect_error"]["message"],
        json!("Connection rejected by server")
    );
    Ok(())
}

#[tokio::test]
async fn disconnect_reasons_reach_the_handler() -> TestResult {
    let log = Log::default();
    let srv = serve(&server(log.clone())).await?;

    // the client leaves the namespace
    let mut a = Puppet::spawn(srv.url(), "websocket").await?;
    let sid_a = a.connect("/", None).await?;
    a.disconnect("/").await?;
    assert_eq!(
        reason_of(&log, &sid_a).await?,
        DisconnectReason::ClientDisconnect.as_str()
    );

    // the server disconnects a socket by sid
    let mut b = Puppet::spawn(srv.url(), "polling").await?;
    let sid_b = b.connect("/", None).await?;
    let mut c = Puppet::spawn(srv.url(), "websocket").await?;
    let sid_c = c.connect("/", None).await?;
    assert_eq!(
        c.emit_ack("/", "kick", json!([sid_b])).await?,
        json!([true])
    );
    assert_eq!(b.next_disconnect("/").await?, "io server disconnect");
    assert_eq!(
        reason_of(&log, &sid_b).await?,
        DisconnectReason::ServerDisconnect.as_str()
    );

    // the client process goes away: the transport closes
    c.close().await;
    assert_eq!(
        reason_of(&log, &sid_c).await?,
        DisconnectReason::TransportClose.as_str()
    );
    Ok(())
}

#[tokio::test]
async fn shutdown_disconnects_everyone_and_refuses_new_clients() -> TestResult {
    let log = Log::default();
    let io = server(log.clone());
    let srv = serve(&io).await?;
    let mut a = Puppet::spawn(srv.url(), "polling").await?;
    let sid_a = a.connect("/", None).await?;
    let mut b = Puppet::spawn(srv.url(), "websocket").await?;
    let sid_b = b.connect("/", None).await?;

    tokio::time::timeout(Duration::from_secs(5), io.shutdown(Duration::from_secs(2)))
        .await
        .map_err(|_| Failure::msg("shutdown did not finish"))?;
    assert_eq!(io.connection_count(), 0);
    assert_eq!(a.next_disconnect("/").await?, "io server disconnect");
    assert_eq!(b.next_disconnect("/").await?, "io server disconnect");
    for sid in [sid_a, sid_b] {
        assert_eq!(
            reason_of(&log, &sid).await?,
            DisconnectReason::ServerShutdown.as_str()
        );
    }
    let res = reqwest::get(format!("{}/socket.io/?EIO=4&transport=polling", srv.url())).await?;
    assert_eq!(res.status().as_u16(), 503);
    Ok(())
}
