//! What the two wires speaking a Node Redis adapter's protocol over pub/sub share (`classic.rs`,
//! Node's `createAdapter`; `sharded_node.rs`, its `createShardedAdapter`): the link to the
//! cluster manager, learnt from its subscriptions, with the task that turns what arrives on
//! Node's channels into Volley's format; the namespaces whose channels are listened to; the last
//! count of each namespace's nodes; and sending the manager's messages out one by one, checked
//! against that count. Each wire supplies only its channels and its shapes.

use std::collections::{HashMap, HashSet};
use std::sync::{Mutex, OnceLock, PoisonError};
use std::time::{Duration, Instant};

use bytes::Bytes;
use tokio::sync::mpsc;
use volley_cluster::{BusError, BusMessage, Subscription};
use volley_protocol::cluster::{batch, Message};

use crate::manager_channels::manager_channels;
use crate::{RedisBus, LOG_TARGET};

/// How many received messages wait for translation at most (fred's buffer is in front).
const TRANSLATE_BUFFER: usize = 1024;

/// A node count older than this is not used to check deliveries.
const FRESH_COUNT: Duration = Duration::from_secs(2);

/// How this node is reached, learnt from the manager's subscriptions.
pub(crate) struct Link {
    /// This node's uid.
    pub(crate) uid: String,
    /// The manager's channel for every node: translated messages are delivered on it.
    pub(crate) main: String,
    /// Messages from Node's channels, on their way to translation.
    pub(crate) translate: mpsc::Sender<BusMessage>,
}

/// The state a Node-protocol wire keeps besides its own settings.
#[derive(Default)]
pub(crate) struct NodeLink {
    /// Set by the manager's `subscribe`.
    pub(crate) link: OnceLock<Link>,
    /// Namespaces whose channels this node listens to.
    namespaces: Mutex<HashSet<String>>,
    /// The last count of each namespace's nodes (this one included), and when it was taken.
    counts: Mutex<HashMap<String, (usize, Instant)>>,
}

impl NodeLink {
    /// A recent count of the nodes serving `nsp`, this one included.
    pub(crate) fn fresh_count(&self, nsp: &str) -> Option<usize> {
        let counts = self.counts.lock().unwrap_or_else(PoisonError::into_inner);
        let (count, at) = counts.get(nsp)?;
        (at.elapsed() < FRESH_COUNT).then_some(*count)
    }

    /// Keeps `count` (this node included, at least 1) as `nsp`'s; the count of the others.
    pub(crate) fn record_count(&self, nsp: &str, count: usize) -> usize {
        let count = count.max(1);
        self.counts
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .insert(nsp.to_owned(), (count, Instant::now()));
        count - 1
    }
}

/// A message ready to go out on Node's channels.
pub(crate) struct Outgoing {
    pub(crate) channel: String,
    pub(crate) payload: Bytes,
    /// How many subscribers it must reach, when that is checked.
    pub(crate) expected: Option<usize>,
}

/// The messages of what the manager publishes: the parts of a batch, or the one message.
pub(crate) fn messages(payload: &[u8]) -> Result<Vec<&[u8]>, BusError> {
    if batch::is_batch(payload) {
        batch::messages(payload)
            .map(Iterator::collect)
            .map_err(|e| BusError::Other(format!("a batch: {e}")))
    } else {
        Ok(vec![payload])
    }
}

/// Where messages from Node's channels wait for translation (at most [`TRANSLATE_BUFFER`]).
pub(crate) fn translation_channel() -> (mpsc::Sender<BusMessage>, mpsc::Receiver<BusMessage>) {
    mpsc::channel(TRANSLATE_BUFFER)
}

/// Starts the task that turns each message `incoming` brings into Volley's format with
/// `translate` (channel, payload; `None` skips it) and hands it to `sink` on `deliver_on`, the
/// manager's channel; it ends when either side closes.
pub(crate) fn spawn_translation<T>(
    mut incoming: mpsc::Receiver<BusMessage>,
    deliver_on: String,
    sink: mpsc::Sender<BusMessage>,
    translate: T,
) where
    T: Fn(&str, &[u8]) -> Option<Bytes> + Send + 'static,
{
    tokio::spawn(async move {
        while let Some(message) = incoming.recv().await {
            let Some(payload) = translate(&message.channel, &message.payload) else {
                continue;
            };
            let out = BusMessage {
                channel: deliver_on.clone(),
                payload,
            };
            if sink.send(out).await.is_err() {
                break;
            }
        }
    });
}

/// `message`, read from `channel`, in Volley's format; `None` (logged) when it cannot be
/// written.
pub(crate) fn reencode(channel: &str, message: &Message) -> Option<Bytes> {
    match message.encode() {
        Ok(bytes) => Some(bytes),
        Err(e) => {
            tracing::warn!(target: LOG_TARGET, channel, error = %e, "cannot re-encode a Node message, skipped");
            None
        }
    }
}

impl RedisBus {
    /// Subscribes for the manager on a Node-protocol wire: its own two channels are served by
    /// `translate` (`uid`, channel, payload → Volley's format) from Node's channels, every other
    /// subscription passes through. `true` when the link was made now (`false`: a call after
    /// one that failed, Redis not reachable then, takes up where it stopped). The caller then
    /// listens to `/`'s channels.
    pub(crate) async fn link_node_wire<T>(
        &self,
        state: &NodeLink,
        subscriptions: &[Subscription],
        sink: mpsc::Sender<BusMessage>,
        translate: T,
    ) -> Result<bool, BusError>
    where
        T: Fn(&str, &str, &[u8]) -> Option<Bytes> + Send + 'static,
    {
        let (main, uid) = manager_channels(subscriptions).ok_or_else(|| {
            BusError::Other(
                "the manager's channels name no node: cannot speak Node's protocol".into(),
            )
        })?;
        let own = format!("{main}{uid}#");
        let fresh = match state.link.get() {
            Some(link) if link.main == main && link.uid == uid => false,
            Some(_) => {
                return Err(BusError::Other(
                    "a Node-protocol bus serves one manager".into(),
                ))
            }
            None => {
                let (tx, incoming) = translation_channel();
                let link = Link {
                    uid: uid.clone(),
                    main: main.clone(),
                    translate: tx,
                };
                if state.link.set(link).is_err() {
                    return Err(BusError::Other(
                        "a Node-protocol bus serves one manager".into(),
                    ));
                }
                let translate =
                    move |channel: &str, payload: &[u8]| translate(&uid, channel, payload);
                spawn_translation(incoming, main.clone(), sink.clone(), translate);
                true
            }
        };
        let main = state.link.get().map(|l| l.main.clone()).unwrap_or_default();
        let others: Vec<Subscription> = subscriptions
            .iter()
            .filter(|s| !matches!(s, Subscription::Channel(c) if *c == main || *c == own))
            .cloned()
            .collect();
        if !others.is_empty() {
            self.subscribe_raw(&others, sink).await?;
        }
        Ok(fresh)
    }

    /// Listens to the channels `channels` names for namespace `nsp`, once; `false` when that
    /// failed (the next call tries again) or the manager has not subscribed yet.
    pub(crate) async fn serve_node_namespace(
        &self,
        state: &NodeLink,
        nsp: &str,
        channels: impl FnOnce(&Link) -> Vec<Subscription>,
    ) -> bool {
        let Some(link) = state.link.get() else {
            return false;
        };
        let fresh = state
            .namespaces
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .insert(nsp.to_owned());
        if !fresh {
            return true;
        }
        match self
            .subscribe_raw(&channels(link), link.translate.clone())
            .await
        {
            Ok(()) => true,
            Err(e) => {
                tracing::warn!(target: LOG_TARGET, nsp, error = %e, "cannot subscribe to Node's channels of a namespace");
                state
                    .namespaces
                    .lock()
                    .unwrap_or_else(PoisonError::into_inner)
                    .remove(nsp);
                false
            }
        }
    }

    /// Sends `outgoing` Node's way: one message per publish (Node has no batches), all at once
    /// on the one publishing connection, which keeps their order, rather than one round trip
    /// each; fails when one reached fewer subscribers than it must.
    pub(crate) async fn publish_outgoing(&self, outgoing: &[Outgoing]) -> Result<(), BusError> {
        let publishes = outgoing
            .iter()
            .map(|out| self.publish_to(&out.channel, out.payload.clone()));
        let results = futures_util::future::join_all(publishes).await;
        for (out, reached) in outgoing.iter().zip(results) {
            let reached = reached?;
            if let Some(expected) = out.expected.filter(|_| self.inner.count_receivers) {
                if reached < expected {
                    return Err(BusError::Undelivered { reached, expected });
                }
            }
        }
        Ok(())
    }
}
