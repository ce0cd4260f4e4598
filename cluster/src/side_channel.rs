//! One channel carried by a bus of its own: for a foreign protocol that lives on a broker
//! destination of its own (python-socketio's AMQP exchange, its Kafka topic) beside the
//! cluster's.

use std::sync::Arc;

use async_trait::async_trait;
use bytes::Bytes;
use tokio::sync::mpsc;

use crate::{BusError, BusMessage, PubSub, RestoredSession, StoredSession, Subscription};

/// How many messages of the side bus wait to be handed on, at most (the side bus then waits).
const FORWARD_BUFFER: usize = 256;

/// A [`PubSub`] that is `main`, except for one channel, `channel`, which `side` carries: a
/// publish on `channel` goes to `side`, and every message `side` receives, whatever channel it
/// names there (a foreign publisher does not name Volley's), is handed on as a message of
/// `channel`. Everything else (counting peers, sessions, message sizes) is `main`'s.
///
/// ```
/// use bytes::Bytes;
/// use tokio::sync::mpsc;
/// use volley_cluster::{MemoryBus, PubSub, SideChannel, Subscription};
///
/// # tokio::runtime::Runtime::new().unwrap().block_on(async {
/// let (main, side) = (MemoryBus::new(), MemoryBus::new());
/// let bus = SideChannel::new(main.clone(), side.clone(), "socketio");
/// let (tx, mut rx) = mpsc::channel(16);
/// bus.subscribe(&[Subscription::Channel("socketio".into())], tx).await.unwrap();
/// // a foreign publisher, on the side bus, under a name of its own
/// side.publish("*", Bytes::from_static(b"{}")).await.unwrap();
/// assert_eq!(rx.recv().await.unwrap().channel, "socketio");
/// # });
/// ```
pub struct SideChannel<M, S> {
    main: M,
    side: Arc<S>,
    channel: String,
}

impl<M, S> SideChannel<M, S> {
    /// `main`, with `channel` on `side`.
    pub fn new(main: M, side: S, channel: impl Into<String>) -> Self {
        SideChannel {
            main,
            side: Arc::new(side),
            channel: channel.into(),
        }
    }
}

impl<M: std::fmt::Debug, S: std::fmt::Debug> std::fmt::Debug for SideChannel<M, S> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SideChannel")
            .field("main", &self.main)
            .field("side", &self.side)
            .field("channel", &self.channel)
            .finish()
    }
}

#[async_trait]
impl<M: PubSub, S: PubSub> PubSub for SideChannel<M, S> {
    async fn publish(&self, channel: &str, payload: Bytes) -> Result<(), BusError> {
        if channel == self.channel {
            self.side.publish(channel, payload).await
        } else {
            self.main.publish(channel, payload).await
        }
    }

    async fn publish_counted(
        &self,
        channel: &str,
        payload: Bytes,
    ) -> Result<Option<usize>, BusError> {
        if channel == self.channel {
            self.side.publish_counted(channel, payload).await
        } else {
            self.main.publish_counted(channel, payload).await
        }
    }

    fn max_message_size(&self) -> usize {
        self.main.max_message_size()
    }

    async fn peers(&self, nsp: &str) -> Option<usize> {
        self.main.peers(nsp).await
    }

    fn numbers_broadcasts(&self) -> bool {
        self.main.numbers_broadcasts()
    }

    fn keeps_each_nodes_order(&self) -> bool {
        self.main.keeps_each_nodes_order()
    }

    fn keeps_sessions(&self) -> bool {
        self.main.keeps_sessions()
    }

    async fn persist_session(
        &self,
        nsp: &str,
        session: StoredSession,
        ttl: std::time::Duration,
    ) -> Result<(), BusError> {
        self.main.persist_session(nsp, session, ttl).await
    }

    async fn restore_session(
        &self,
        nsp: &str,
        pid: &str,
        offset: &str,
        max_missed: usize,
    ) -> Result<Option<RestoredSession>, BusError> {
        self.main
            .restore_session(nsp, pid, offset, max_missed)
            .await
    }

    async fn serve(&self, nsp: &str) {
        self.main.serve(nsp).await
    }

    async fn subscribe(
        &self,
        subscriptions: &[Subscription],
        sink: mpsc::Sender<BusMessage>,
    ) -> Result<(), BusError> {
        let (side, rest): (Vec<Subscription>, Vec<Subscription>) = subscriptions
            .iter()
            .cloned()
            .partition(|s| matches!(s, Subscription::Channel(c) if *c == self.channel));
        if !side.is_empty() {
            let (tx, mut rx) = mpsc::channel::<BusMessage>(FORWARD_BUFFER);
            self.side
                .subscribe(&[Subscription::Prefix(String::new())], tx)
                .await?;
            let channel = self.channel.clone();
            let forward = sink.clone();
            tokio::spawn(async move {
                while let Some(msg) = rx.recv().await {
                    let msg = BusMessage {
                        channel: channel.clone(),
                        payload: msg.payload,
                    };
                    if forward.send(msg).await.is_err() {
                        break;
                    }
                }
            });
        }
        if rest.is_empty() {
            return Ok(());
        }
        self.main.subscribe(&rest, sink).await
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;
    use crate::MemoryBus;

    #[tokio::test]
    async fn one_channel_goes_to_the_side_bus_and_the_rest_to_the_main_one() {
        let (main, side) = (MemoryBus::new(), MemoryBus::new());
        let bus = SideChannel::new(main.clone(), side.clone(), "py");
        let (tx, mut rx) = mpsc::channel(16);
        let subs = [
            Subscription::Channel("volley#".into()),
            Subscription::Channel("py".into()),
        ];
        bus.subscribe(&subs, tx).await.unwrap();
        let (main_tx, mut on_main) = mpsc::channel(16);
        main.subscribe(&[Subscription::Prefix(String::new())], main_tx)
            .await
            .unwrap();
        let (side_tx, mut on_side) = mpsc::channel(16);
        side.subscribe(&[Subscription::Prefix(String::new())], side_tx)
            .await
            .unwrap();

        bus.publish("py", Bytes::from_static(b"p")).await.unwrap();
        bus.publish("volley#", Bytes::from_static(b"v"))
            .await
            .unwrap();
        assert_eq!(on_side.recv().await.unwrap().payload, "p");
        assert_eq!(on_main.recv().await.unwrap().payload, "v");
        assert!(on_side.try_recv().is_err() && on_main.try_recv().is_err());

        // what the side bus carries comes back under the channel's name, whatever it was sent as
        side.publish("anything", Bytes::from_static(b"x"))
            .await
            .unwrap();
        let mut got: Vec<(String, Bytes)> = Vec::new();
        while got.len() < 3 {
            let m = rx.recv().await.unwrap();
            got.push((m.channel, m.payload));
        }
        got.sort();
        assert_eq!(
            got,
            vec![
                ("py".into(), Bytes::from_static(b"p")),
                ("py".into(), Bytes::from_static(b"x")),
                ("volley#".into(), Bytes::from_static(b"v")),
            ]
        );
    }
}
