//! Sharded pub/sub in the format of Node's sharded adapter (`sharded(true)` with
//! `node_protocol(key)`): what Node's nodes publish on its channels reaches the manager in
//! Volley's format, on the manager's channel; a room's channel is Node's and listened to only
//! between `room_opened` and `room_closed`; nodes are counted as Node counts them; and a bus
//! whose first subscription failed (Redis not up yet) subscribes when asked again.

mod common;

use std::time::Duration;

use bytes::Bytes;
use common::{bounded, free_port, next, nothing_more, redis_url, unique, RedisServer};
use tokio::sync::mpsc;
use volley_cluster::{BusMessage, PubSub, Subscription};
use volley_protocol::cluster::{Body, Message};
use volley_redis::RedisBus;

const WAIT: Duration = Duration::from_secs(5);

/// The manager's channels of a node with uid `uid` (Volley's prefix `volley`).
fn manager(uid: &str) -> [Subscription; 2] {
    [
        Subscription::Channel("volley#".into()),
        Subscription::Channel(format!("volley#{uid}#")),
    ]
}

fn node_bus(url: &str, key: &str) -> RedisBus {
    RedisBus::builder(url)
        .sharded(true)
        .node_protocol(key)
        .build()
        .expect("valid URL")
}

/// A Node server-side emit of `text`, as Node's sharded adapter publishes it.
fn node_note(text: &str) -> Bytes {
    Bytes::from(format!(
        r#"{{"type":9,"data":{{"packet":["note","{text}"]}},"uid":"feedfacefeedface","nsp":"/"}}"#
    ))
}

/// A Node broadcast of `event` to `room`, as Node's sharded adapter publishes it.
fn node_broadcast(room: &str, event: &str) -> Bytes {
    Bytes::from(format!(
        r#"{{"type":3,"data":{{"packet":{{"type":2,"data":["{event}"],"nsp":"/"}},"opts":{{"rooms":["{room}"],"except":[],"flags":{{}}}}}},"uid":"feedfacefeedface","nsp":"/"}}"#
    ))
}

/// The Volley message a delivery holds, checked to come on the manager's channel.
fn read(message: BusMessage) -> Message {
    assert_eq!(
        message.channel, "volley#",
        "delivered on the manager's channel"
    );
    Message::decode(&message.payload).expect("Volley's format")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn nodes_messages_reach_the_manager_and_rooms_are_nodes_channels() {
    bounded(async {
        let key = unique("sharded-node");
        let bus = node_bus(&redis_url(), &key);
        let (tx, mut rx) = mpsc::channel(64);
        bus.subscribe(&manager("aaaa"), tx)
            .await
            .expect("subscribed");
        let node = RedisBus::builder(&redis_url())
            .sharded(true)
            .build()
            .expect("valid URL");

        node.publish(&format!("{key}#/#"), node_note("hi"))
            .await
            .expect("published");
        let msg = read(next(&mut rx, WAIT).await);
        assert_eq!(msg.uid, "feedfacefeedface");
        assert!(
            matches!(&msg.body, Body::ServerSideEmit { event, args, request_id: None }
                if event == "note" && args.len() == 1),
            "{msg:?}"
        );

        // a room's channel is Node's, listened to while the node has members there
        let room = bus.room_channel("/", "lobby").expect("rooms have channels");
        assert_eq!(room, format!("{key}#/#lobby#"));
        assert_eq!(bus.room_channel("/", "01234567890123456789"), None);
        bus.room_opened("/", "lobby").await;
        node.publish(&room, node_broadcast("lobby", "news"))
            .await
            .expect("published");
        let msg = read(next(&mut rx, WAIT).await);
        assert!(
            matches!(&msg.body, Body::Broadcast { event, opts, .. }
                if event == "news" && opts.rooms == ["lobby"]),
            "{msg:?}"
        );
        bus.room_closed("/", "lobby").await;
        node.publish(&room, node_broadcast("lobby", "late"))
            .await
            .expect("published");
        nothing_more(&mut rx).await;
        bus.close().await;
        node.close().await;
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn nodes_are_counted_on_the_namespaces_channel() {
    bounded(async {
        let key = unique("sharded-node-count");
        let a = node_bus(&redis_url(), &key);
        let b = node_bus(&redis_url(), &key);
        let (tx, _a_rx) = mpsc::channel(64);
        a.subscribe(&manager("aaaa"), tx).await.expect("subscribed");
        assert_eq!(a.peers("/").await, Some(0), "alone");
        let (tx, _b_rx) = mpsc::channel(64);
        b.subscribe(&manager("bbbb"), tx).await.expect("subscribed");
        assert_eq!(a.peers("/").await, Some(1));
        assert_eq!(b.peers("/").await, Some(1));
        b.close().await;
        let gone = async {
            while a.peers("/").await != Some(0) {
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
        };
        tokio::time::timeout(WAIT, gone)
            .await
            .expect("a closed bus is no longer counted");
        a.close().await;
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failed_first_subscription_is_taken_up_again() {
    bounded(async {
        let port = free_port();
        let url = format!("redis://127.0.0.1:{port}");
        let bus = node_bus(&url, "retry");
        let (tx, mut rx) = mpsc::channel(64);
        bus.subscribe(&manager("aaaa"), tx.clone())
            .await
            .expect_err("no Redis there yet");
        let _server = RedisServer::start_on(port).await;
        bus.subscribe(&manager("aaaa"), tx)
            .await
            .expect("subscribed once Redis is up");
        let node = RedisBus::builder(&url)
            .sharded(true)
            .build()
            .expect("valid URL");
        node.publish("retry#/#", node_note("back"))
            .await
            .expect("published");
        let msg = read(next(&mut rx, WAIT).await);
        assert!(matches!(&msg.body, Body::ServerSideEmit { .. }), "{msg:?}");
        nothing_more(&mut rx).await;
        bus.close().await;
        node.close().await;
    })
    .await;
}
