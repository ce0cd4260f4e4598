//! Rooms: enter, leave, close, list; emits to a room, several rooms (each socket once), a sid,
//! with one or several sockets skipped; a socket's emits leave the sender out, a namespace's
//! reach everyone.

use std::time::Duration;

use serde_json::{json, Value as Json};
use volley::{Server, Sid, Socket};
use volley_tests::puppet::Puppet;
use volley_tests::TestResult;

use crate::serve;

const QUIET: Duration = Duration::from_millis(300);

fn server() -> Server {
    let io = Server::builder().build();
    let nsp = io.of("/");
    nsp.on("join", |s: Socket, room: String| {
        s.enter_room(&room);
        s.rooms()
    });
    nsp.on("leave", |s: Socket, room: String| {
        s.leave_room(&room);
        s.rooms()
    });
    nsp.on(
        "say",
        |s: Socket, (room, text): (String, String)| async move {
            // the socket's own emit to a room leaves the sender out
            let _ = s.to(room).emit("said", &text).await;
        },
    );
    nsp.on(
        "shout",
        |s: Socket, (room, text): (String, String)| async move {
            // the namespace's emit to a room reaches the sender too
            let _ = s.namespace().to(room).emit("shouted", &text).await;
        },
    );
    nsp.on("all", |s: Socket, text: String| async move {
        let _ = s.namespace().emit("all", &text).await;
    });
    nsp.on("others", |s: Socket, text: String| async move {
        let _ = s.broadcast().emit("others", &text).await;
    });
    nsp.on("to-rooms", |s: Socket, rooms: Vec<String>| async move {
        let _ = s.namespace().to(rooms).emit("news", &"multi").await;
    });
    nsp.on("skip-sids", |s: Socket, sids: Vec<String>| async move {
        let sids: Vec<Sid> = sids.iter().filter_map(|x| Sid::parse(x)).collect();
        let _ = s.namespace().except(sids).emit("news", &"skipped").await;
    });
    nsp.on("to-sid", |s: Socket, sid: String| async move {
        let _ = s.namespace().to(sid).emit("news", &"direct").await;
    });
    nsp.on("close", |s: Socket, room: String| async move {
        s.namespace().close_room(&room).await.is_ok()
    });
    nsp.on("members", |s: Socket, room: String| async move {
        s.namespace()
            .to(room)
            .fetch_sockets()
            .await
            .map(|v| v.len())
            .unwrap_or(usize::MAX)
    });
    io
}

async fn client(url: &str) -> TestResult<(Puppet, String)> {
    let mut c = Puppet::spawn(url, "websocket").await?;
    let sid = c.connect("/", None).await?;
    Ok((c, sid))
}

/// Three clients, `a` and `b` in the room `r1`, `c` in no room.
async fn two_in_r1_and_one_outside(url: &str) -> TestResult<(Puppet, Puppet, Puppet)> {
    let (mut a, _) = client(url).await?;
    let (mut b, _) = client(url).await?;
    let (c, _) = client(url).await?;
    a.emit_ack("/", "join", json!(["r1"])).await?;
    b.emit_ack("/", "join", json!(["r1"])).await?;
    Ok((a, b, c))
}

#[tokio::test]
async fn room_emits_reach_members_only_and_skip_the_sender() -> TestResult {
    let srv = serve(&server()).await?;
    let (mut a, sid_a) = client(srv.url()).await?;
    let (mut b, _) = client(srv.url()).await?;
    let (mut c, _) = client(srv.url()).await?;
    assert_eq!(
        a.emit_ack("/", "join", json!(["r1"])).await?,
        json!([[sid_a, "r1"]])
    );
    b.emit_ack("/", "join", json!(["r1"])).await?;
    c.emit_ack("/", "join", json!(["r2"])).await?;
    assert_eq!(a.emit_ack("/", "members", json!(["r1"])).await?, json!([2]));

    a.emit("/", "say", json!(["r1", "hi r1"])).await?;
    assert_eq!(b.next_event("/", "said").await?, json!(["hi r1"]));
    a.no_event("/", "said", QUIET).await?;
    c.no_event("/", "said", QUIET).await?;

    // leaving stops delivery
    b.emit_ack("/", "leave", json!(["r1"])).await?;
    a.emit("/", "say", json!(["r1", "again"])).await?;
    b.no_event("/", "said", QUIET).await?;
    Ok(())
}

#[tokio::test]
async fn socket_emits_leave_the_sender_out_namespace_emits_reach_everyone() -> TestResult {
    let srv = serve(&server()).await?;
    let (mut a, mut b, mut c) = two_in_r1_and_one_outside(srv.url()).await?;

    // socket.to(room): the room but the sender
    a.emit("/", "say", json!(["r1", "to"])).await?;
    assert_eq!(b.next_event("/", "said").await?, json!(["to"]));
    // namespace.to(room): the whole room, the sender included
    a.emit("/", "shout", json!(["r1", "ns-to"])).await?;
    assert_eq!(a.next_event("/", "shouted").await?, json!(["ns-to"]));
    assert_eq!(b.next_event("/", "shouted").await?, json!(["ns-to"]));
    // socket.broadcast(): everyone but the sender
    a.emit("/", "others", json!(["bc"])).await?;
    assert_eq!(b.next_event("/", "others").await?, json!(["bc"]));
    assert_eq!(c.next_event("/", "others").await?, json!(["bc"]));
    // namespace.emit: everyone
    a.emit("/", "all", json!(["ns"])).await?;
    for client in [&mut a, &mut b, &mut c] {
        assert_eq!(client.next_event("/", "all").await?, json!(["ns"]));
    }
    a.no_event("/", "said", QUIET).await?;
    a.no_event("/", "others", QUIET).await?;
    c.no_event("/", "said", QUIET).await?;
    c.no_event("/", "shouted", QUIET).await?;
    Ok(())
}

#[tokio::test]
async fn several_rooms_deliver_once_per_socket() -> TestResult {
    let srv = serve(&server()).await?;
    let (mut a, mut b, mut c) = two_in_r1_and_one_outside(srv.url()).await?;
    b.emit_ack("/", "join", json!(["r2"])).await?;
    c.emit("/", "to-rooms", json!([["r1", "r2"]])).await?;
    assert_eq!(a.next_event("/", "news").await?, json!(["multi"]));
    assert_eq!(b.next_event("/", "news").await?, json!(["multi"]));
    b.no_event("/", "news", QUIET).await?;
    c.no_event("/", "news", QUIET).await?;
    Ok(())
}

#[tokio::test]
async fn sids_are_rooms_and_skip_takes_a_list() -> TestResult {
    let srv = serve(&server()).await?;
    let (mut a, sid_a) = client(srv.url()).await?;
    let (mut b, sid_b) = client(srv.url()).await?;
    let (mut c, _) = client(srv.url()).await?;

    c.emit("/", "to-sid", json!([sid_b])).await?;
    assert_eq!(b.next_event("/", "news").await?, json!(["direct"]));
    a.no_event("/", "news", QUIET).await?;

    c.emit("/", "skip-sids", json!([[sid_a, sid_b]])).await?;
    assert_eq!(c.next_event("/", "news").await?, json!(["skipped"]));
    a.no_event("/", "news", QUIET).await?;
    b.no_event("/", "news", QUIET).await?;
    Ok(())
}

#[tokio::test]
async fn close_room_empties_it() -> TestResult {
    let srv = serve(&server()).await?;
    let (mut a, sid_a) = client(srv.url()).await?;
    let (mut b, _) = client(srv.url()).await?;
    a.emit_ack("/", "join", json!(["r1"])).await?;
    b.emit_ack("/", "join", json!(["r1"])).await?;
    assert_eq!(
        b.emit_ack("/", "close", json!(["r1"])).await?,
        json!([true])
    );
    assert_eq!(b.emit_ack("/", "members", json!(["r1"])).await?, json!([0]));
    // a's own rooms no longer list it
    let rooms = a.emit_ack("/", "leave", json!(["none"])).await?;
    assert_eq!(rooms, json!([[sid_a]]) as Json);
    b.emit("/", "say", json!(["r1", "anyone?"])).await?;
    a.no_event("/", "said", QUIET).await?;
    Ok(())
}
