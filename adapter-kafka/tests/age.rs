//! Records older than the bus's max age are skipped and counted, not delivered: a subscriber
//! that stops reading for longer than the max age finds the records that waited that long gone,
//! and receives the next fresh one.

mod common;

use std::time::Duration;

use bytes::Bytes;
use common::{next, nothing_more, setup, unique};
use tokio::sync::mpsc;
use volley_cluster::{PubSub, Subscription};
use volley_kafka::KafkaBus;

#[tokio::test]
async fn records_older_than_the_max_age_are_skipped_and_counted() {
    let _lock = setup();
    tokio::time::timeout(Duration::from_secs(60), async {
        let topic = unique("age");
        let subscriber = KafkaBus::builder(&common::brokers())
            .topic(&topic)
            .max_age(Duration::from_secs(1))
            .build()
            .expect("valid settings");
        let publisher = common::bus(&topic).await;
        // Room for one message: the forwarding task takes the second and waits with it.
        let (tx, mut rx) = mpsc::channel(1);
        subscriber
            .subscribe(&[Subscription::Prefix("age#".into())], tx)
            .await
            .expect("subscribe");
        for i in 0..5u8 {
            publisher
                .publish("age#", Bytes::from(vec![i]))
                .await
                .expect("publish");
        }
        // Nobody reads for longer than the max age.
        tokio::time::sleep(Duration::from_millis(2500)).await;
        let wait = Duration::from_secs(10);
        assert_eq!(&next(&mut rx, wait).await.payload[..], [0]);
        assert_eq!(&next(&mut rx, wait).await.payload[..], [1]);
        publisher
            .publish("age#", Bytes::from_static(b"fresh"))
            .await
            .expect("publish");
        assert_eq!(&next(&mut rx, wait).await.payload[..], b"fresh");
        nothing_more(&mut rx).await;
        assert_eq!(
            subscriber.stale_skipped(),
            3,
            "records 2, 3 and 4 were too old"
        );
        assert_eq!(publisher.stale_skipped(), 0);
        subscriber.close().await;
        publisher.close().await;
    })
    .await
    .expect("the test finished in time");
}
