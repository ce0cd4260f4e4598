//! Sharded pub/sub's room channels (`RedisBus::sharded`): a node listens to a room's channel
//! only between `room_opened` and `room_closed`, and a node that does not listen to it receives
//! no byte of what is published there; what it does receive arrives on the manager's channel.

mod common;

use bytes::Bytes;
use common::{bounded, nothing_more, redis_url, unique};
use tokio::sync::mpsc;
use volley_cluster::{PubSub, Subscription};
use volley_redis::RedisBus;

/// A connected sharded bus subscribed as a manager with prefix `prefix` and uid `uid` would be.
async fn node(prefix: &str, uid: &str) -> (RedisBus, mpsc::Receiver<volley_cluster::BusMessage>) {
    let bus = RedisBus::builder(&redis_url())
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
