//! Engine.IO v3 clients: the npm `socket.io-client` 2.x (Socket.IO protocol v4) against a
//! server built with `allow_eio3(true)`, over long-polling only, WebSocket only and polling
//! then the upgrade; refused by a server without it. Then the v3 wire by hand: payload framing,
//! binary payloads, client pings, and malformed payloads that must get a clean 400.
//!
//! Needs Node and `tests/clients/node-v2/node_modules` (installed by `scripts/test.sh`).

use std::time::Duration;

use serde_json::{json, Value as Json};
use tokio::sync::mpsc;
use volley::{Args, ConnectError, DisconnectReason, Server, Socket, Value};
use volley_tests::clients::{self, binary, Client, ClientRun};
use volley_tests::server::TestServer;
use volley_tests::wire::Polling;
use volley_tests::{bail, Failure, TestResult};

/// A socket leaving a namespace, as the server saw it.
#[derive(Debug)]
struct Left {
    ns: String,
    sid: String,
    reason: DisconnectReason,
}

/// The server the v2 client talks to: `/` and `/admin` greet with the socket's id and auth,
/// echo and ack; `/` has rooms and a server-side disconnect; `/refuse` refuses.
fn server(allow_eio3: bool, ping: Duration, left: mpsc::UnboundedSender<Left>) -> Server {
    let io = Server::builder()
        .allow_eio3(allow_eio3)
        .ping_interval(ping)
        .ping_timeout(ping * 2 / 3)
        .connect_timeout(Duration::from_millis(1000))
        .build();
    for ns in ["/", "/admin"] {
        let left = left.clone();
        io.of(ns)
            .on_connect(|socket: Socket, auth: Option<Value>| async move {
                let hello = json!({
                    "id": socket.id().to_string(),
                    "ns": socket.ns(),
                    "auth": serde_json::to_value(&auth).unwrap_or_default(),
                });
                let _ = socket.emit("hello", &hello).await;
            })
            .on("echo", |socket: Socket, args: Args| async move {
                let _ = socket.emit("echo-back", &args).await;
            })
            .on("echo-ack", |_socket: Socket, args: Args| args)
            .on_disconnect(move |socket: Socket, reason: DisconnectReason| {
                let _ = left.send(Left {
                    ns: socket.ns().to_owned(),
                    sid: socket.id().to_string(),
                    reason,
                });
            });
    }
    let room_io = io.clone();
    io.of("/")
        .on("join", |socket: Socket, room: String| {
            socket.enter_room(&room);
            room
        })
        .on("shout", move |_socket: Socket, args: Args| {
            let io = room_io.clone();
            async move {
                let mut args = args.0.into_iter();
                let room = args.next().and_then(|r| r.as_str().map(str::to_owned));
                let rest = Args(args.collect());
                if let Some(room) = room {
                    let _ = io.of("/").to(room).emit("news", &rest).await;
                }
            }
        })
        .on("please-disconnect", |socket: Socket, _: ()| {
            socket.disconnect()
        });
    io.of("/refuse")
        .on_connect(|_socket: Socket, _auth: Option<Value>| {
            Err::<(), _>(ConnectError::new("nope").with_data(&json!({"code": 42})))
        });
    io
}

/// The server with pings every 300 ms (a ping timeout of 200 ms).
async fn start(allow_eio3: bool) -> TestResult<(TestServer, mpsc::UnboundedReceiver<Left>)> {
    start_pinging(allow_eio3, Duration::from_millis(300)).await
}

async fn start_pinging(
    allow_eio3: bool,
    ping: Duration,
) -> TestResult<(TestServer, mpsc::UnboundedReceiver<Left>)> {
    let (tx, rx) = mpsc::unbounded_channel();
    let srv = TestServer::spawn(server(allow_eio3, ping, tx).router()).await?;
    Ok((srv, rx))
}

async fn run(srv: &TestServer, args: &[&str]) -> TestResult<ClientRun> {
    let run = clients::run(Client::NodeV2, srv.url(), args).await?;
    run.event("done")?;
    Ok(run)
}

fn expect(run: &ClientRun, ev: &str, field: &str, expected: Json) -> TestResult {
    run.expect(ev, field, &expected)
}

/// Why the socket with id `sid` left `ns`, within a few seconds; departures seen meanwhile are
/// kept in `seen`.
async fn left(
    events: &mut mpsc::UnboundedReceiver<Left>,
    seen: &mut Vec<Left>,
    ns: &str,
    sid: &str,
) -> TestResult<DisconnectReason> {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
    loop {
        if let Some(l) = seen.iter().find(|l| l.ns == ns && l.sid == sid) {
            return Ok(l.reason);
        }
        match tokio::time::timeout_at(deadline, events.recv()).await {
            Ok(Some(l)) => seen.push(l),
            _ => bail!("the server did not see {sid} leave {ns} (saw {seen:?})"),
        }
    }
}

async fn all(transport: &str) -> TestResult {
    let (srv, mut events) = start(true).await?;
    let run = run(&srv, &["all", transport]).await?;

    // implicit connect to `/`: the socket id is the one the client computes, the auth its query
    let id = run.field("connected", "id")?.clone();
    expect(
        &run,
        "connected",
        "server",
        json!({"id": id, "ns": "/", "auth": {"token": "t1"}}),
    )?;
    expect(
        &run,
        "ack",
        "args",
        json!(["text", 42, {"nested": [true, null]}]),
    )?;
    let all: Vec<u8> = (0..=255).collect();
    expect(
        &run,
        "echo-back",
        "args",
        json!([binary(&all), {"bin": binary(&[1, 2, 3])}, "text"]),
    )?;
    expect(&run, "binary-ack", "args", json!([binary(&[4, 5, 6])]))?;
    expect(&run, "joined", "a", json!(["r1"]))?;
    expect(&run, "joined", "b", json!(["r1"]))?;
    let news = json!(["hi room", binary(&[7, 7])]);
    expect(&run, "news", "a", news.clone())?;
    expect(&run, "news", "b", news)?;
    // 1.5 s is five ping intervals: the server answered the client's pings
    expect(&run, "after-pings", "args", json!(["still here"]))?;
    let admin = run.field("admin", "server")?;
    if admin["ns"] != "/admin" || admin["auth"] != json!({"token": "t3", "role": "ops"}) {
        bail!("the /admin connect handler got {admin}");
    }
    expect(&run, "admin-ack", "args", json!([binary(&[9])]))?;
    expect(&run, "refused", "data", json!({"code": 42}))?;
    expect(&run, "missing", "data", json!("Invalid namespace"))?;
    let final_transport = if transport == "polling" {
        "polling"
    } else {
        "websocket"
    };
    expect(&run, "transport", "name", json!(final_transport))?;
    expect(&run, "disconnect", "reason", json!("io server disconnect"))?;

    let Some(id) = id.as_str() else {
        bail!("the client's id is not a string: {id}")
    };
    let mut seen = Vec::new();
    let reason = left(&mut events, &mut seen, "/", id).await?;
    if reason != DisconnectReason::ServerDisconnect {
        bail!("{id} left / for {reason:?}");
    }
    let admin_id = admin["id"].as_str().unwrap_or_default();
    let reason = left(&mut events, &mut seen, "/admin", admin_id).await?;
    if reason != DisconnectReason::ClientDisconnect {
        bail!("{admin_id} left /admin for {reason:?}");
    }
    Ok(())
}

#[tokio::test]
async fn v2_client_over_polling() -> TestResult {
    all("polling").await
}

#[tokio::test]
async fn v2_client_over_websocket() -> TestResult {
    all("websocket").await
}

#[tokio::test]
async fn v2_client_upgrading() -> TestResult {
    all("upgrade").await
}

#[tokio::test]
async fn v2_client_leaving_is_a_client_disconnect() -> TestResult {
    for transport in ["polling", "websocket"] {
        let (srv, mut events) = start(true).await?;
        let run = run(&srv, &["leave", transport]).await?;
        let id = run
            .field("connected", "id")?
            .as_str()
            .unwrap_or_default()
            .to_owned();
        let reason = left(&mut events, &mut Vec::new(), "/", &id).await?;
        if reason != DisconnectReason::ClientDisconnect {
            bail!("{transport}: {id} left / for {reason:?}");
        }
    }
    Ok(())
}

#[tokio::test]
async fn v2_client_is_refused_by_default() -> TestResult {
    let (srv, _events) = start(false).await?;
    let run = run(&srv, &["refused", "polling"]).await?;
    let message = run.field("connect_error", "message")?;
    if message != "xhr poll error" {
        bail!("the refused client reported {message}");
    }
    expect(&run, "connect_error", "description", json!(400))?;
    // the body Node's server sends
    let reply = Polling::new(&srv, "/socket.io/")
        .get("EIO=3&transport=polling")
        .await?;
    if reply.status != 400 || reply.body != r#"{"code":5,"message":"Unsupported protocol version"}"# {
        bail!("EIO=3 without allow_eio3: {} {}", reply.status, reply.body);
    }
    Ok(())
}

#[tokio::test]
async fn chat_example_with_allow_eio3_greets_a_v2_page() -> TestResult {
    let opts = volley_examples::cli::parse(["--allow-eio3".to_owned()]).map_err(Failure::msg)?;
    let app = volley_examples::chat::router(&opts)?;
    let srv = TestServer::spawn(app).await?;
    let run = run(&srv, &["chat", "upgrade"]).await?;
    let nick = run.field("welcome", "data")?["nick"]
        .as_str()
        .unwrap_or_default();
    if !nick.starts_with("guest-") {
        bail!("the chat greeted the v2 page as {nick:?}");
    }
    expect(
        &run,
        "join",
        "ack",
        json!([{"room": "lobby", "members": 1}]),
    )
}

// --- the v3 wire by hand ---------------------------------------------------------------------

/// The Engine.IO error body for a bad request, as Node's server sends it.
const BAD_REQUEST: &str = r#"{"code":3,"message":"Bad request"}"#;

/// Opens a v3 polling session (`b64` or not) and reads the implicit CONNECT of `/`; the sid.
async fn open_v3(polling: &Polling, b64: bool) -> TestResult<String> {
    let query = if b64 {
        "EIO=3&transport=polling&b64=1"
    } else {
        "EIO=3&transport=polling"
    };
    let reply = polling.get(query).await?;
    // `<length>:0{...}`: one record, its length in UTF-16 units (all ASCII here)
    let Some((len, packet)) = reply.body.split_once(':') else {
        bail!("v3 handshake without a length prefix: {:?}", reply.body);
    };
    if len.parse::<usize>().ok() != Some(packet.len()) {
        bail!(
            "v3 handshake length {len} for a {}-byte packet",
            packet.len()
        );
    }
    let handshake = volley_tests::wire::Handshake::parse(packet)?;
    let sid = handshake.sid;
    // the client is in `/` without asking; the acknowledgement carries no id; then the greeting
    let q = format!("EIO=3&transport=polling&sid={sid}");
    let mut got = String::new();
    while !got.contains("hello") {
        let reply = polling.get(&q).await?;
        if reply.status != 200 {
            bail!(
                "polling {sid} for its CONNECT: {} {}",
                reply.status,
                reply.body
            );
        }
        got.push_str(&reply.body);
    }
    let hello = format!(r#"42["hello",{{"auth":null,"id":"{sid}","ns":"/"}}]"#);
    if got != format!("2:40{}:{hello}", hello.len()) {
        bail!("expected the implicit CONNECT `2:40` and the greeting, got {got:?}");
    }
    Ok(sid)
}

/// A server, a polling client and the query of a v3 session open on it.
async fn v3_session(b64: bool) -> TestResult<(TestServer, Polling, String)> {
    let (srv, _events) = start(true).await?;
    let polling = Polling::new(&srv, "/socket.io/");
    let sid = open_v3(&polling, b64).await?;
    Ok((srv, polling, format!("EIO=3&transport=polling&sid={sid}")))
}

#[tokio::test]
async fn v3_polling_counts_utf16_units_and_answers_pings() -> TestResult {
    let (_srv, polling, q) = v3_session(true).await?;
    // a ping and an event with an ack, `é` one unit and `😀` two
    let event = r#"421["echo-ack","é😀"]"#;
    let units = event.chars().map(char::len_utf16).sum::<usize>();
    let reply = polling.post(&q, &format!("1:2{units}:{event}")).await?;
    if reply.status != 200 || reply.body != "ok" {
        bail!("POST of a v3 payload: {} {}", reply.status, reply.body);
    }
    let ack = r#"431["é😀"]"#;
    let expected = format!(
        "1:3{}:{ack}",
        ack.chars().map(char::len_utf16).sum::<usize>()
    );
    let mut got = String::new();
    while got.len() < expected.len() {
        got.push_str(&polling.get(&q).await?.body);
    }
    if got != expected {
        bail!("expected {expected:?}, got {got:?}");
    }
    Ok(())
}

#[tokio::test]
async fn v3_binary_travels_as_base64_for_b64_clients() -> TestResult {
    let (_srv, polling, q) = v3_session(true).await?;
    let event = r#"451-["echo",{"_placeholder":true,"num":0}]"#;
    let body = format!("{}:{event}6:b4AQID", event.len());
    let reply = polling.post(&q, &body).await?;
    if reply.body != "ok" {
        bail!("POST: {} {}", reply.status, reply.body);
    }
    let back = r#"451-["echo-back",{"_placeholder":true,"num":0}]"#;
    let reply = polling.get(&q).await?;
    if reply.body != format!("{}:{back}6:b4AQID", back.len()) {
        bail!("expected the echo in base64, got {:?}", reply.body);
    }
    Ok(())
}

/// A POST of raw bytes with a content type.
async fn post_bytes(url: &str, content_type: &str, body: Vec<u8>) -> TestResult<(u16, String)> {
    let reply = reqwest::Client::new()
        .post(url)
        .header("content-type", content_type)
        .body(body)
        .timeout(Duration::from_secs(5))
        .send()
        .await?;
    Ok((reply.status().as_u16(), reply.text().await?))
}

/// One record of a v3 binary payload: kind (0 text, 1 binary), length digits as bytes, 0xff.
fn binary_record(kind: u8, data: &[u8]) -> Vec<u8> {
    let mut out = vec![kind];
    out.extend(data.len().to_string().bytes().map(|d| d - b'0'));
    out.push(0xff);
    out.extend_from_slice(data);
    out
}

#[tokio::test]
async fn v3_binary_payloads_for_xhr2_clients() -> TestResult {
    let (_srv, polling, q) = v3_session(false).await?;
    let event = r#"451-["echo",{"_placeholder":true,"num":0}]"#;
    let mut body = binary_record(0, event.as_bytes());
    body.extend(binary_record(1, &[4, 1, 2, 3]));
    let (status, text) = post_bytes(&polling.url(&q), "application/octet-stream", body).await?;
    if (status, text.as_str()) != (200, "ok") {
        bail!("binary POST: {status} {text}");
    }
    let reply = reqwest::get(polling.url(&q)).await?;
    let content_type = reply.headers().get("content-type").cloned();
    let bytes = reply.bytes().await?;
    let back = r#"451-["echo-back",{"_placeholder":true,"num":0}]"#;
    let mut expected = binary_record(0, back.as_bytes());
    expected.extend(binary_record(1, &[4, 1, 2, 3]));
    if content_type.as_ref().and_then(|t| t.to_str().ok()) != Some("application/octet-stream")
        || bytes[..] != expected[..]
    {
        bail!("expected a binary payload {expected:?}, got {content_type:?} {bytes:?}");
    }
    Ok(())
}

#[tokio::test]
async fn malformed_v3_payloads_get_400_and_close_the_session() -> TestResult {
    let (srv, _events) = start(true).await?;
    let polling = Polling::new(&srv, "/socket.io/");
    let text_bodies = [
        "40",                // no length prefix
        "x:40",              // a length that is not a number
        ":40",               // an empty length
        "99:40",             // a length beyond the body
        "2:4😀",             // a length ending inside a surrogate pair
        "99999999999999:40", // a length with too many digits
        "8:b4!!!!!!",        // bad base64
        "2:b2",              // a binary record that is not a message
        "",                  // nothing
    ];
    for body in text_bodies {
        let sid = open_v3(&polling, true).await?;
        let q = format!("EIO=3&transport=polling&sid={sid}");
        let reply = polling.post(&q, body).await?;
        if reply.status != 400 || reply.body != BAD_REQUEST {
            bail!(
                "POST {body:?}: expected 400 {BAD_REQUEST}, got {} {}",
                reply.status,
                reply.body
            );
        }
        let after = polling.get(&q).await?;
        if after.status != 400 {
            bail!(
                "the session of {body:?} is still open: {} {}",
                after.status,
                after.body
            );
        }
    }
    let binary_bodies: [&[u8]; 5] = [
        &[0, 9, 9, 0xff, b'4'],    // a length beyond the body
        &[0, 0xff, b'4'],          // no digits
        &[0, 12, 0xff, b'4'],      // a digit that is not one
        &[7, 1, 0xff, b'6'],       // an unknown kind
        &[0, 2, 0xff, b'4', 0xc3], // text that is not UTF-8
    ];
    for body in binary_bodies {
        let sid = open_v3(&polling, false).await?;
        let url = polling.url(&format!("EIO=3&transport=polling&sid={sid}"));
        let (status, text) = post_bytes(&url, "application/octet-stream", body.to_vec()).await?;
        if status != 400 || text != BAD_REQUEST {
            bail!("binary POST {body:?}: expected 400 {BAD_REQUEST}, got {status} {text}");
        }
    }
    // the server goes on
    open_v3(&polling, true).await?;
    Ok(())
}

#[tokio::test]
async fn v3_websocket_binary_starts_with_its_type_and_the_client_pings() -> TestResult {
    use volley_tests::wire::Ws;
    let (srv, mut events) = start(true).await?;
    let url = format!("{}/socket.io/?EIO=3&transport=websocket", srv.ws_url());
    let (mut ws, handshake) = Ws::open_url(&url).await?;
    ws.expect_text("40").await?;
    let hello = format!(
        r#"42["hello",{{"auth":null,"id":"{}","ns":"/"}}]"#,
        handshake.sid
    );
    ws.expect_text(&hello).await?;
    ws.send_text("2").await?;
    ws.expect_text("3").await?;
    ws.send_text(r#"451-["echo",{"_placeholder":true,"num":0}]"#)
        .await?;
    ws.send_binary(&[4, 1, 2, 3]).await?;
    ws.expect_text(r#"451-["echo-back",{"_placeholder":true,"num":0}]"#)
        .await?;
    ws.expect_binary(&[4, 1, 2, 3]).await?;
    // the server never pings a v3 client; one that stops pinging is closed after
    // pingInterval + pingTimeout (500 ms here)
    let seen = ws.expect_closed(Duration::from_secs(3)).await?;
    if !seen.is_empty() {
        bail!("frames before the ping timeout: {seen:?}");
    }
    let reason = left(&mut events, &mut Vec::new(), "/", &handshake.sid).await?;
    if reason != DisconnectReason::PingTimeout {
        bail!("a v3 client that stopped pinging left for {reason:?}");
    }
    // a binary message without its type byte is a transport error
    let (mut ws, handshake) = Ws::open_url(&url).await?;
    ws.expect_text("40").await?;
    ws.send_binary(&[1, 2, 3]).await?;
    ws.expect_closed(Duration::from_secs(3)).await?;
    let reason = left(&mut events, &mut Vec::new(), "/", &handshake.sid).await?;
    if reason != DisconnectReason::TransportError {
        bail!("a binary message without its type closed the session for {reason:?}");
    }
    Ok(())
}

#[tokio::test]
async fn one_broadcast_reaches_v3_and_v4_clients_each_in_its_framing() -> TestResult {
    use volley_tests::wire::Ws;
    // pings far apart: the test's v3 client does not ping
    let (srv, _events) = start_pinging(true, Duration::from_secs(20)).await?;
    let base = format!("{}/socket.io/?transport=websocket", srv.ws_url());
    let (mut v3, v3_handshake) = Ws::open_url(&format!("{base}&EIO=3")).await?;
    v3.expect_text("40").await?;
    let hello = |sid: &str| format!(r#"42["hello",{{"auth":null,"id":"{sid}","ns":"/"}}]"#);
    v3.expect_text(&hello(&v3_handshake.sid)).await?;
    let (mut v4, _) = Ws::open_url(&format!("{base}&EIO=4")).await?;
    v4.send_text("40").await?;
    let v4_id = match v4.next_packet().await? {
        volley_tests::wire::Frame::Text(t) => {
            let json: Json =
                serde_json::from_str(t.trim_start_matches("40")).map_err(Failure::from)?;
            json["sid"].as_str().unwrap_or_default().to_owned()
        }
        other => bail!("expected the v4 CONNECT acknowledgement, got {other:?}"),
    };
    v4.expect_text(&hello(&v4_id)).await?;
    for ws in [&mut v3, &mut v4] {
        ws.send_text(r#"421["join","r1"]"#).await?;
        ws.expect_text(r#"431["r1"]"#).await?;
    }
    v3.send_text(r#"451-["shout","r1","hi",{"_placeholder":true,"num":0}]"#)
        .await?;
    v3.send_binary(&[4, 7, 7]).await?;
    let news = r#"451-["news","hi",{"_placeholder":true,"num":0}]"#;
    v3.expect_text(news).await?;
    v3.expect_binary(&[4, 7, 7]).await?;
    v4.expect_text(news).await?;
    v4.expect_binary(&[7, 7]).await
}
