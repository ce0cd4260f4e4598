//! The interop scenarios every official client goes through against [`crate::interop_server`].
//!
//! Each scenario runs one client script (see [`crate::clients`]) and asserts on what it printed
//! and, in process, on what the server observed. [`interop_tests!`](crate::interop_tests)
//! declares one `#[tokio::test]` per scenario and transport for a client.
//!
//! `transport` is `polling` (long-polling only), `websocket` (WebSocket only) or `upgrade`
//! (polling first, then the upgrade; the final transport must be `websocket`).

use std::time::Duration;

use serde_json::{json, Value as Json};
use volley::{DisconnectReason, Value};

use crate::clients::{self, binary, Client, ClientRun};
use crate::interop_server::{InteropServer, ServerEvent};
use crate::{bail, TestResult};

/// How long to wait for the server to have observed something the client already reported.
const OBSERVE: Duration = Duration::from_secs(5);

/// The transport a session must end on.
fn final_transport(transport: &str) -> &'static str {
    if transport == "polling" {
        "polling"
    } else {
        "websocket"
    }
}

async fn run(srv: &InteropServer, client: Client, args: &[&str]) -> TestResult<ClientRun> {
    let run = clients::run(client, srv.url(), args).await?;
    run.event("done")?;
    Ok(run)
}

fn string(run: &ClientRun, ev: &str, field: &str) -> TestResult<String> {
    match run.field(ev, field)?.as_str() {
        Some(s) => Ok(s.to_owned()),
        None => Err(run.failure(&format!("{ev}.{field} is not a string"))),
    }
}

/// Waits until the server saw `sid` connect to `ns` (in process only).
async fn server_saw_connect(srv: &mut InteropServer, ns: &str, sid: &str) -> TestResult {
    srv.wait_for(
        OBSERVE,
        &format!("{sid} connecting to {ns}"),
        |e| matches!(e, ServerEvent::Connected { ns: n, sid: s } if n == ns && s == sid),
    )
    .await?;
    Ok(())
}

/// Waits until the server saw `sid` leave `/` and checks the reason (in process only).
async fn server_saw_disconnect(
    srv: &mut InteropServer,
    sid: &str,
    expected: DisconnectReason,
) -> TestResult {
    let seen = srv
        .wait_for(
            OBSERVE,
            &format!("{sid} leaving /"),
            |e| matches!(e, ServerEvent::Disconnected { ns, sid: s, .. } if ns == "/" && s == sid),
        )
        .await?;
    if let Some(ServerEvent::Disconnected { reason, .. }) = seen {
        if reason != expected {
            bail!("server-side disconnect reason of {sid}: expected {expected:?}, got {reason:?}");
        }
    }
    Ok(())
}

/// Connect to `/`, receive `auth` `{}`, echo text arguments, end on the right transport.
pub async fn basic(client: Client, transport: &str) -> TestResult {
    let mut srv = InteropServer::start().await?;
    let run = run(&srv, client, &["basic", transport]).await?;
    if transport != "upgrade" {
        run.expect("connected", "transport", &json!(transport))?;
    }
    run.expect("auth", "data", &json!({}))?;
    run.expect(
        "echo-back",
        "args",
        &json!(["hello", 42, {"nested": [true, null, "x"]}]),
    )?;
    run.expect("transport", "name", &json!(final_transport(transport)))?;
    server_saw_connect(&mut srv, "/", &string(&run, "connected", "id")?).await
}

/// Binary event arguments (top level and nested) and a binary ack come back byte-exact.
pub async fn binary_round_trip(client: Client, transport: &str) -> TestResult {
    let srv = InteropServer::start().await?;
    let run = run(&srv, client, &["binary", transport]).await?;
    let all: Vec<u8> = (0..=255).collect();
    run.expect(
        "echo-back",
        "args",
        &json!([binary(&all), {"bin": binary(&[1, 2, 3]), "n": 1}, "text"]),
    )?;
    run.expect("ack", "args", &json!([binary(&[4, 5, 6]), "x"]))?;
    run.expect("transport", "name", &json!(final_transport(transport)))
}

/// Client emit with an ack callback → server ack; server `call()` → the client's ack reaches
/// the server (seen by the server, and sent back as `call-result`).
pub async fn acks_both_ways(client: Client, transport: &str) -> TestResult {
    let mut srv = InteropServer::start().await?;
    let run = run(&srv, client, &["acks", transport]).await?;
    run.expect("ack", "args", &json!([1, "two", {"three": [3]}]))?;
    run.expect("server-call", "data", &json!({"q": "question"}))?;
    run.expect(
        "call-result",
        "args",
        &json!(["client-ack", {"q": "question"}, binary(&[9, 8, 7])]),
    )?;
    run.expect("transport", "name", &json!(final_transport(transport)))?;
    let sid = string(&run, "connected", "id")?;
    let seen = srv
        .wait_for(
            OBSERVE,
            "the client's ack of server-call",
            |e| matches!(e, ServerEvent::CallAcked { sid: s, .. } if *s == sid),
        )
        .await?;
    if let Some(ServerEvent::CallAcked { args, .. }) = seen {
        let expected = vec![
            Value::from("client-ack"),
            Value::Map(vec![(Value::from("q"), Value::from("question"))]),
            Value::Binary(vec![9, 8, 7]),
        ];
        if args != expected {
            bail!("server-side ack args: expected {expected:?}, got {args:?}");
        }
    }
    Ok(())
}

/// Connect to `/custom`: `auth` and echo there.
pub async fn custom_namespace(client: Client, transport: &str) -> TestResult {
    let mut srv = InteropServer::start().await?;
    let run = run(&srv, client, &["custom-namespace", transport]).await?;
    run.expect("connected", "nsp", &json!("/custom"))?;
    run.expect("auth", "data", &json!({}))?;
    run.expect("echo-back", "args", &json!(["to custom", {"k": 1}]))?;
    run.expect("transport", "name", &json!(final_transport(transport)))?;
    server_saw_connect(&mut srv, "/custom", &string(&run, "connected", "id")?).await
}

/// The client's auth payload reaches the server (which emits it back as `auth`).
pub async fn auth_payload(client: Client, transport: &str) -> TestResult {
    let srv = InteropServer::start().await?;
    let run = run(&srv, client, &["auth", transport]).await?;
    run.expect("auth", "data", &json!({"token": "abc", "n": 1}))
}

/// Connecting to an unknown namespace gives `connect_error` "Invalid namespace".
pub async fn unknown_namespace(client: Client, transport: &str) -> TestResult {
    let srv = InteropServer::start().await?;
    let run = run(&srv, client, &["unknown-namespace", transport]).await?;
    run.expect("connect_error", "message", &json!("Invalid namespace"))?;
    run.expect("connect_error", "data", &Json::Null)?;
    if !run
        .all("connected-anyway")
        .iter()
        .all(|e| e["value"] == false)
    {
        return Err(run.failure("the client reports being connected"));
    }
    Ok(())
}

/// A connect handler's refusal reaches the client with its message and data.
pub async fn refused_with_data(client: Client, transport: &str) -> TestResult {
    let srv = InteropServer::start().await?;
    let run = run(&srv, client, &["refused", transport]).await?;
    run.expect("connect_error", "message", &json!("nope"))?;
    run.expect(
        "connect_error",
        "data",
        &json!({"code": 42, "detail": "refused by test"}),
    )
}

/// `Socket::disconnect` on the server: the client sees its "server disconnect" reason
/// (`io server disconnect` in JavaScript, `server disconnect` in python-socketio).
pub async fn server_disconnect(client: Client, transport: &str) -> TestResult {
    let mut srv = InteropServer::start().await?;
    let run = run(&srv, client, &["server-disconnect", transport]).await?;
    let expected = match client {
        Client::Node | Client::NodeV2 => "io server disconnect",
        Client::Python => "server disconnect",
    };
    run.expect("disconnect", "reason", &json!(expected))?;
    let sid = string(&run, "connected", "id")?;
    server_saw_disconnect(&mut srv, &sid, DisconnectReason::ServerDisconnect).await
}

/// A client that stops answering pings is dropped by the server with reason "ping timeout"
/// (asked over the wire by a second client, and seen by the in-process disconnect handler).
pub async fn heartbeat_timeout(client: Client, transport: &str) -> TestResult {
    let mut srv = InteropServer::start().await?;
    let run = run(&srv, client, &["heartbeat-timeout", transport]).await?;
    let sid = string(&run, "connected", "id")?;
    run.expect("server-reason", "id", &json!(sid))?;
    run.expect("server-reason", "reason", &json!("ping timeout"))?;
    server_saw_disconnect(&mut srv, &sid, DisconnectReason::PingTimeout).await
}

/// Declares the interop tests of one client: `interop_tests!(Client::Node);`.
#[macro_export]
macro_rules! interop_tests {
    ($client:expr) => {
        $crate::interop_tests!(@each $client;
            basic_polling_only => basic, "polling";
            basic_websocket_only => basic, "websocket";
            basic_polling_then_upgrade => basic, "upgrade";
            binary_polling_only => binary_round_trip, "polling";
            binary_websocket_only => binary_round_trip, "websocket";
            binary_polling_then_upgrade => binary_round_trip, "upgrade";
            acks_polling_only => acks_both_ways, "polling";
            acks_websocket_only => acks_both_ways, "websocket";
            acks_polling_then_upgrade => acks_both_ways, "upgrade";
            custom_namespace => custom_namespace, "upgrade";
            auth_payload => auth_payload, "upgrade";
            unknown_namespace => unknown_namespace, "upgrade";
            refused_with_data => refused_with_data, "upgrade";
            server_disconnect_polling => server_disconnect, "polling";
            server_disconnect_websocket => server_disconnect, "websocket";
            heartbeat_timeout_polling => heartbeat_timeout, "polling";
            heartbeat_timeout_websocket => heartbeat_timeout, "websocket";
        );
    };
    (@each $client:expr; $($name:ident => $case:ident, $transport:literal;)*) => {
        $(
            #[tokio::test]
            async fn $name() -> $crate::TestResult {
                $crate::interop_cases::$case($client, $transport).await
            }
        )*
    };
}
