//! A bus inside one process: several servers in one program form a cluster through it. The
//! cluster logic is tested on it first, then on each real broker by the same tests.

use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use bytes::Bytes;
use tokio::sync::mpsc;

use super::{BusError, BusMessage, PubSub, Subscription};

type Subscriber = (Vec<Subscription>, mpsc::Sender<BusMessage>);

#[derive(Default)]
struct Shared {
    subscribers: Vec<Subscriber>,
    down: bool,
}

/// An in-process bus. Clones share the same bus.
///
/// ```
/// # #[tokio::main(flavor = "current_thread")] async fn main() {
/// use volley_cluster::{MemoryBus, PubSub, Subscription};
/// let bus = MemoryBus::new();
/// let (tx, mut rx) = tokio::sync::mpsc::channel(8);
/// bus.subscribe(&[Subscription::Prefix("news#".into())], tx).await.unwrap();
/// bus.publish("news#1", "hello".into()).await.unwrap();
/// assert_eq!(rx.recv().await.unwrap().payload, "hello");
/// # }
/// ```
#[derive(Clone, Default)]
pub struct MemoryBus(Arc<Mutex<Shared>>);

impl std::fmt::Debug for MemoryBus {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MemoryBus").finish_non_exhaustive()
    }
}

impl MemoryBus {
    /// A new, empty bus.
    pub fn new() -> Self {
        MemoryBus::default()
    }

    /// Makes the bus refuse publishes (`down = true`) or accept them again, to test outages.
    pub fn set_down(&self, down: bool) {
        if let Ok(mut s) = self.0.lock() {
            s.down = down;
        }
    }
}

#[async_trait]
impl PubSub for MemoryBus {
    async fn publish(&self, channel: &str, payload: Bytes) -> Result<(), BusError> {
        let targets: Vec<mpsc::Sender<BusMessage>> = {
            let mut s = self
                .0
                .lock()
                .map_err(|_| BusError::Other("poisoned".into()))?;
            if s.down {
                return Err(BusError::Unavailable("the memory bus is down".into()));
            }
            s.subscribers.retain(|(_, tx)| !tx.is_closed());
            s.subscribers
                .iter()
                .filter(|(subs, _)| subs.iter().any(|sub| sub.matches(channel)))
                .map(|(_, tx)| tx.clone())
                .collect()
        };
        for tx in targets {
            let _ = tx
                .send(BusMessage {
                    channel: channel.to_owned(),
                    payload: payload.clone(),
                })
                .await;
        }
        Ok(())
    }

    async fn subscribe(
        &self,
        subscriptions: &[Subscription],
        sink: mpsc::Sender<BusMessage>,
    ) -> Result<(), BusError> {
        let mut s = self
            .0
            .lock()
            .map_err(|_| BusError::Other("poisoned".into()))?;
        s.subscribers.push((subscriptions.to_vec(), sink));
        Ok(())
    }
}
