//! Connection state recovery with the official `socket.io-client` (its own
//! `connectionStateRecovery` support): a client in a room loses its transport while the room
//! receives a steady stream of broadcasts, reconnects by itself, and must come back as the same
//! socket, recovered, with every broadcast exactly once and in order; its rooms and session are
//! back too. The cases around it: recovery off, an expired session, a socket's own emits.

use std::time::Duration;

use serde_json::json;
use volley::{ConnectionStateRecovery, Server, Socket};
use volley_tests::puppet::Puppet;
use volley_tests::recovery::{
    client_away_for, connect, exactly_once_in_order, numbers, numbers_until,
    reconnecting_client as client,
};
use volley_tests::server::TestServer;
use volley_tests::{bail, TestResult};

/// Connects `client`, puts it in `room`, has it receive tick 0 there, then drops its transport;
/// returns its socket id.
async fn in_room_then_dropped(io: &Server, client: &mut Puppet) -> TestResult<String> {
    let sid = connect(client).await?;
    client.emit_ack("/", "join", json!(["room"])).await?;
    io.of("/").to("room").emit("tick", &0).await?;
    client.next_event("/", "tick").await?;
    client.drop_transport().await?;
    Ok(sid)
}

/// A server whose `join` puts the socket in a room and saves a session, and whose `whoami`
/// answers with the socket's rooms and session.
fn app(recovery: Option<ConnectionStateRecovery>) -> Server {
    let mut builder = Server::builder();
    if let Some(recovery) = recovery {
        builder = builder.connection_state_recovery(recovery);
    }
    let io = builder.build();
    io.of("/").on("join", |socket: Socket, room: String| {
        socket.enter_room(&room);
        socket.save_session(format!("member of {room}"));
    });
    io.of("/").on("whoami", |socket: Socket, (): ()| {
        let mut rooms = socket.rooms();
        rooms.sort();
        json!({
            "rooms": rooms,
            "session": socket.get_session::<String>(),
            "recovered": socket.recovered(),
        })
    });
    io
}

/// Emits `tick` with 0, 1, 2, … to `room` every `every` until `count`.
fn ticker(
    io: &Server,
    room: &'static str,
    count: u64,
    every: Duration,
) -> tokio::task::JoinHandle<()> {
    let ns = io.of("/");
    tokio::spawn(async move {
        let mut interval = tokio::time::interval(every);
        for n in 0..count {
            interval.tick().await;
            let _ = ns.to(room).emit("tick", &n).await;
        }
    })
}

#[tokio::test]
async fn a_dropped_client_is_recovered_with_every_missed_broadcast_in_order() -> TestResult {
    let io = app(Some(ConnectionStateRecovery::default()));
    let server = TestServer::spawn(io.router()).await?;
    let mut client = client(server.url()).await?;
    let sid = connect(&mut client).await?;
    client.emit_ack("/", "join", json!(["room"])).await?;
    let count = 600;
    let ticker = ticker(&io, "room", count, Duration::from_millis(2));
    // let some arrive, then lose the transport mid-stream, twice
    for _ in 0..2 {
        tokio::time::sleep(Duration::from_millis(250)).await;
        client.drop_transport().await?;
        let (back, recovered) = client.next_connected("/", Duration::from_secs(10)).await?;
        if !recovered || back != sid {
            bail!("reconnected as {back} (recovered: {recovered}), expected {sid} recovered");
        }
    }
    ticker
        .await
        .map_err(|e| volley_tests::Failure::msg(e.to_string()))?;
    let ticks = numbers_until(&mut client, "tick", count - 1, true).await?;
    exactly_once_in_order("tick", &ticks, count)?;
    let me = client.emit_ack("/", "whoami", json!([])).await?;
    let mut rooms = vec![sid.clone(), "room".to_owned()];
    rooms.sort();
    if me[0]["rooms"] != json!(rooms)
        || me[0]["session"] != "member of room"
        || me[0]["recovered"] != true
    {
        bail!("after recovery the socket is {me}, expected rooms {rooms:?} and its session");
    }
    client.close().await;
    Ok(())
}

#[tokio::test]
async fn without_recovery_a_dropped_client_comes_back_as_a_new_socket() -> TestResult {
    let io = app(None);
    let server = TestServer::spawn(io.router()).await?;
    let mut client = client(server.url()).await?;
    let sid = connect(&mut client).await?;
    client.emit_ack("/", "join", json!(["room"])).await?;
    io.of("/").to("room").emit("tick", &0).await?;
    let first = numbers(&[client.next_event("/", "tick").await?], false)?;
    if first != [0] {
        bail!("first tick {first:?}");
    }
    client.drop_transport().await?;
    let (back, recovered) = client.next_connected("/", Duration::from_secs(10)).await?;
    if recovered || back == sid {
        bail!("recovery is off, yet the client came back as {back} (recovered: {recovered})");
    }
    let me = client.emit_ack("/", "whoami", json!([])).await?;
    if me[0]["rooms"] != json!([back]) || !me[0]["session"].is_null() {
        bail!("a new socket should be in no room and have no session: {me}");
    }
    client.close().await;
    Ok(())
}

#[tokio::test]
async fn a_client_away_longer_than_allowed_is_a_new_socket() -> TestResult {
    let recovery =
        ConnectionStateRecovery::default().max_disconnection_duration(Duration::from_millis(300));
    let io = app(Some(recovery));
    let server = TestServer::spawn(io.router()).await?;
    // the client waits a second before reconnecting
    let mut client = client_away_for(server.url(), Duration::from_secs(1)).await?;
    let sid = in_room_then_dropped(&io, &mut client).await?;
    let (back, recovered) = client.next_connected("/", Duration::from_secs(10)).await?;
    if recovered || back == sid {
        bail!("came back after the session expired as {back} (recovered: {recovered})");
    }
    client.close().await;
    Ok(())
}

#[tokio::test]
async fn only_broadcasts_carry_offsets_and_are_recovered() -> TestResult {
    let io = app(Some(ConnectionStateRecovery::default()));
    let server = TestServer::spawn(io.router()).await?;
    let mut client = client(server.url()).await?;
    let sid = connect(&mut client).await?;
    client.emit_ack("/", "join", json!(["room"])).await?;
    let socket = io
        .of("/")
        .socket(volley::Sid::parse(&sid).ok_or_else(|| volley_tests::Failure::msg("bad sid"))?)
        .ok_or_else(|| volley_tests::Failure::msg("socket not found"))?;
    // a socket's own emit and a volatile broadcast carry no offset
    socket.emit("direct", "hi").await?;
    io.of("/")
        .to("room")
        .volatile()
        .emit("volatile", "hi")
        .await?;
    io.of("/").to("room").emit("logged", "hi").await?;
    for (event, len) in [("direct", 1), ("volatile", 1), ("logged", 2)] {
        let args = client.next_event("/", event).await?;
        if args.as_array().map(Vec::len) != Some(len) {
            bail!("{event} arrived with {args}, expected {len} argument(s)");
        }
    }
    client.close().await;
    Ok(())
}

#[tokio::test]
async fn a_thousand_missed_broadcasts_are_recovered() -> TestResult {
    let io = app(Some(ConnectionStateRecovery::default()));
    let server = TestServer::spawn(io.router()).await?;
    // the client stays away half a second, while 1,000 broadcasts go to its room
    let mut client = client_away_for(server.url(), Duration::from_millis(500)).await?;
    let sid = in_room_then_dropped(&io, &mut client).await?;
    // the server has seen the close once the socket is gone
    let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
    while io.of("/").sockets().iter().any(|s| s.id().as_str() == sid) {
        if tokio::time::Instant::now() > deadline {
            bail!("the server never saw the client go");
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    for n in 1..=1000u64 {
        io.of("/").to("room").emit("tick", &n).await?;
    }
    let (back, recovered) = client.next_connected("/", Duration::from_secs(10)).await?;
    if !recovered || back != sid {
        bail!("reconnected as {back} (recovered: {recovered}), expected {sid} recovered");
    }
    let mut ticks = vec![0];
    ticks.extend(numbers_until(&mut client, "tick", 1000, true).await?);
    exactly_once_in_order("tick", &ticks, 1001)?;
    client.close().await;
    Ok(())
}
