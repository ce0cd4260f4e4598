//! Sharded pub/sub's room channels (`RedisBus::sharded`): a node listens to a room's channel
//! only between `room_opened` and `room_closed`, and a node that does not listen to it receives
//! no byte of what is published there; what it does receive arrives on the manager's channel.
//! Several messages published in one call (one script, or one pipeline where Redis runs no
//! scripts) arrive in order, each with its own count.

mod common;

use bytes::Bytes;
use common::{bounded, nothing_more, redis_url, unique};
use tokio::sync::mpsc;
use volley_cluster::{PubSub, Subscription};
use volley_redis::RedisBus;

/// A connected sharded bus subscribed as a manager with prefix `prefix` and uid `uid` would be.
async fn node(prefix: &str, uid: &str) -> (RedisBus, mpsc::Receiver<volley_cluster::BusMessage>) {
    node_on(&redis_url(), prefix, uid).await
}

/// As [`node`], on the Redis at `url`.
async fn node_on(
    url: &str,
    prefix: &str,
    uid: &str,
) -> (RedisBus, mpsc::Receiver<volley_cluster::BusMessage>) {
    let bus = RedisBus::builder(url)
        .sharded(true)
        .build()
        .expect("valid URL");
    bus.connect().await.expect("Redis runs");
    let (tx, rx) = mpsc::channel(64);
    let subscriptions = [
        Subscription::Channel(format!("{prefix}#")),
        Subscription::Channel(format!("{prefix}#{uid}#")),
    ];
    bus.subscribe(&subscriptions, tx).await.expect("subscribed");
    (bus, rx)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn only_nodes_with_members_receive_a_rooms_messages() {
    bounded(async {
        let prefix = unique("sharded-rooms");
        let main = format!("{prefix}#");
        let (a, mut a_rx) = node(&prefix, "aaaa").await;
        let (b, mut b_rx) = node(&prefix, "bbbb").await;
        assert!(a.rooms_have_channels());
        let channel = a.room_channel("/", "lobby").expect("rooms have channels");
        assert_eq!(channel, format!("{prefix}#/#lobby#"));
        assert_eq!(a.room_channel("/", "01234567890123456789"), None);

        a.room_opened("/", "lobby").await;
        let payload = Bytes::from_static(b"\x81\xa1x\x01");
        b.publish(&channel, payload.clone())
            .await
            .expect("published");
        let got = common::next(&mut a_rx, std::time::Duration::from_secs(5)).await;
        assert_eq!(got.channel, main, "delivered as the manager's channel");
        assert_eq!(got.payload, payload);
        nothing_more(&mut b_rx).await;

        // b never listened, a stopped listening: the room's messages reach nobody
        a.room_closed("/", "lobby").await;
        b.publish(&channel, payload.clone())
            .await
            .expect("published");
        nothing_more(&mut a_rx).await;
        nothing_more(&mut b_rx).await;

        // the manager's channel still reaches both
        a.publish(&main, payload.clone()).await.expect("published");
        for rx in [&mut a_rx, &mut b_rx] {
            let got = common::next(rx, std::time::Duration::from_secs(5)).await;
            assert_eq!(got.channel, main);
        }
        a.close().await;
        b.close().await;
    })
    .await;
}

/// `a` listens to room `lobby`, `b` to `hall`; `b` publishes to both rooms and the manager's
/// channel in one call: each node receives what it listens to, in the order published, and the
/// manager's channel is counted (a room's is not: it reaches whoever has members there).
async fn several_at_once(url: &str) {
    let prefix = unique("sharded-many");
    let main = format!("{prefix}#");
    let (a, mut a_rx) = node_on(url, &prefix, "aaaa").await;
    let (b, mut b_rx) = node_on(url, &prefix, "bbbb").await;
    a.room_opened("/", "lobby").await;
    b.room_opened("/", "hall").await;
    let lobby = a.room_channel("/", "lobby").expect("rooms have channels");
    let hall = b.room_channel("/", "hall").expect("rooms have channels");
    let message = |n: u8| Bytes::from(vec![n; 3]);
    let outcomes = b
        .publish_counted_many(vec![
            (lobby.clone().into(), message(1)),
            (main.clone().into(), message(2)),
            (hall.into(), message(3)),
            (lobby.into(), message(4)),
        ])
        .await;
    assert_eq!(outcomes, [Ok(None), Ok(Some(2)), Ok(None), Ok(None)]);
    for (rx, expected) in [(&mut a_rx, [1, 2, 4]), (&mut b_rx, [2, 3, 0])] {
        for n in expected.into_iter().filter(|n| *n > 0) {
            let got = common::next(rx, std::time::Duration::from_secs(5)).await;
            assert_eq!(got.channel, main, "delivered as the manager's channel");
            assert_eq!(got.payload, message(n), "in the order published");
        }
    }
    nothing_more(&mut a_rx).await;
    nothing_more(&mut b_rx).await;
    a.close().await;
    b.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn several_messages_go_out_in_order_in_one_call() {
    bounded(several_at_once(&redis_url())).await;
}

/// Past the script's bound (4 MiB in one call), the same through a pipeline.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn several_large_messages_go_out_in_order_in_one_call() {
    bounded(async {
        let prefix = unique("sharded-large");
        let (a, mut a_rx) = node(&prefix, "aaaa").await;
        let (b, _b_rx) = node(&prefix, "bbbb").await;
        a.room_opened("/", "lobby").await;
        a.room_opened("/", "hall").await;
        let lobby = a.room_channel("/", "lobby").expect("rooms have channels");
        let hall = a.room_channel("/", "hall").expect("rooms have channels");
        let big = |n: u8| Bytes::from(vec![n; 3 * 1024 * 1024]);
        let outcomes = b
            .publish_counted_many(vec![(lobby.into(), big(1)), (hall.into(), big(2))])
            .await;
        assert_eq!(outcomes, [Ok(None), Ok(None)]);
        for n in [1, 2] {
            let got = common::next(&mut a_rx, std::time::Duration::from_secs(5)).await;
            assert_eq!(got.payload, big(n), "in the order published");
        }
        a.close().await;
        b.close().await;
    })
    .await;
}

/// A Redis user that may not run scripts: the same, through a pipeline.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn several_messages_go_out_in_order_where_scripts_are_refused() {
    bounded(async {
        let server = common::RedisServer::start().await;
        let acl = std::process::Command::new("redis-cli")
            .args(["-p", &server.port.to_string()])
            .args([
                "ACL",
                "SETUSER",
                "noscripts",
                "on",
                "nopass",
                "~*",
                "&*",
                "+@all",
            ])
            .args(["-eval", "-evalsha", "-eval_ro", "-evalsha_ro", "-fcall"])
            .output()
            .expect("redis-cli is installed");
        assert_eq!(String::from_utf8_lossy(&acl.stdout).trim(), "OK");
        let url = format!("redis://noscripts:any@127.0.0.1:{}", server.port);
        several_at_once(&url).await;
        // and again, the script no longer tried
        several_at_once(&url).await;
    })
    .await;
}
