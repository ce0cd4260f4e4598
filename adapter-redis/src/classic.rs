//! The pub/sub bus speaking Node's classic `@socket.io/redis-adapter` (8.x, `createAdapter`):
//! what the cluster manager publishes in Volley's format goes out on Node's channels, in Node's
//! shapes, and what Node nodes (and Node's emitters) publish there reaches the manager in
//! Volley's format (see [`volley_protocol::cluster::classic`] for the shapes).
//!
//! For each namespace it serves (`/` from the start, the others from their first socket or
//! message), a node listens to Node's channels of that namespace: `PSUBSCRIBE {key}#{nsp}#*`
//! (broadcasts), `SUBSCRIBE {key}-request#{nsp}#`, `{key}-response#{nsp}#` and
//! `{key}-response#{nsp}#{uid}#` (answers of Node nodes set to answer on a channel per node).
//! Nodes are counted as Node counts them: the subscribers of the request channel.

use std::collections::{HashMap, HashSet};
use std::sync::{Mutex, OnceLock, PoisonError};
use std::time::{Duration, Instant};

use bytes::Bytes;
use tokio::sync::mpsc;
use volley_cluster::{BusError, BusMessage, Subscription};
use volley_protocol::cluster::classic::{self, Route};
use volley_protocol::cluster::{batch, Message};

use crate::manager_channels::{manager_channels, target_uid};
use crate::{RedisBus, LOG_TARGET};

/// How many received messages wait for translation at most (fred's buffer is in front).
const TRANSLATE_BUFFER: usize = 1024;

/// A node count older than this is not used to check deliveries.
const FRESH_COUNT: Duration = Duration::from_secs(2);

/// The Node side of one pub/sub bus.
pub(crate) struct ClassicWire {
    /// Node's `key` option: the prefix of every channel.
    key: String,
    /// Set by the manager's `subscribe`.
    link: OnceLock<Link>,
    /// Namespaces whose channels this node listens to.
    namespaces: Mutex<HashSet<String>>,
    /// The last count of each namespace's nodes (this one included), and when it was taken.
    counts: Mutex<HashMap<String, (usize, Instant)>>,
}

/// A message ready to go out on Node's channels.
struct Outgoing {
    channel: String,
    payload: Bytes,
    /// How many subscribers it must reach, when that is checked.
    expected: Option<usize>,
}

/// How this node is reached, learnt from the manager's subscriptions.
struct Link {
    /// This node's uid.
    uid: String,
    /// The manager's channel for every node: translated messages are delivered on it.
    main: String,
    /// Messages from Node's channels, on their way to translation.
    translate: mpsc::Sender<BusMessage>,
}

impl ClassicWire {
    pub(crate) fn new(key: String) -> ClassicWire {
        ClassicWire {
            key,
            link: OnceLock::new(),
            namespaces: Mutex::new(HashSet::new()),
            counts: Mutex::new(HashMap::new()),
        }
    }

    /// A recent count of the nodes serving `nsp`, this one included.
    fn fresh_count(&self, nsp: &str) -> Option<usize> {
        let counts = self.counts.lock().unwrap_or_else(PoisonError::into_inner);
        let (count, at) = counts.get(nsp)?;
        (at.elapsed() < FRESH_COUNT).then_some(*count)
    }

    /// What a message on one of Node's channels says, in Volley's format; `None` (logged when
    /// unreadable) when it is not for this node.
    fn translate(&self, uid: &str, channel: &str, payload: &[u8]) -> Option<Bytes> {
        let key = &self.key;
        let read = if let Some(rest) = channel.strip_prefix(&format!("{key}-request#")) {
            let nsp = rest.strip_suffix('#')?;
            classic::from_request(payload, nsp, uid)
        } else if let Some(rest) = channel.strip_prefix(&format!("{key}-response#")) {
            let own = format!("#{uid}#");
            let nsp = match rest.strip_suffix(own.as_str()) {
                Some(nsp) => nsp,
                None => rest.strip_suffix('#')?,
            };
            classic::from_response(payload, nsp, uid)
        } else {
            classic::from_broadcast(payload, uid)
        };
        let message = match read {
            Ok(Some(message)) => message,
            Ok(None) => return None,
            Err(e) => {
                tracing::warn!(target: LOG_TARGET, channel, error = %e, "unreadable message on a Node channel, skipped");
                return None;
            }
        };
        match message.encode() {
            Ok(bytes) => Some(bytes),
            Err(e) => {
                tracing::warn!(target: LOG_TARGET, channel, error = %e, "cannot re-encode a Node message, skipped");
                None
            }
        }
    }
}

impl RedisBus {
    fn classic(&self) -> Result<&ClassicWire, BusError> {
        self.inner
            .classic
            .as_ref()
            .ok_or_else(|| BusError::Other("not a Node-protocol bus".into()))
    }

    /// Subscribes for the manager: its own two channels are served by translation from Node's
    /// channels; any other subscription (another protocol's channels) is passed through.
    pub(crate) async fn subscribe_classic(
        &self,
        subscriptions: &[Subscription],
        sink: mpsc::Sender<BusMessage>,
    ) -> Result<(), BusError> {
        let wire = self.classic()?;
        let (main, uid) = manager_channels(subscriptions).ok_or_else(|| {
            BusError::Other(
                "the manager's channels name no node: cannot speak Node's protocol".into(),
            )
        })?;
        let own = format!("{main}{uid}#");
        let others: Vec<Subscription> = subscriptions
            .iter()
            .filter(|s| !matches!(s, Subscription::Channel(c) if *c == main || *c == own))
            .cloned()
            .collect();
        if !others.is_empty() {
            self.subscribe_raw(&others, sink.clone()).await?;
        }
        let (translate, mut incoming) = mpsc::channel::<BusMessage>(TRANSLATE_BUFFER);
        let link = Link {
            uid: uid.clone(),
            main: main.clone(),
            translate,
        };
        if wire.link.set(link).is_err() {
            return Err(BusError::Other(
                "a Node-protocol bus serves one manager".into(),
            ));
        }
        let bus = self.clone();
        tokio::spawn(async move {
            while let Some(message) = incoming.recv().await {
                let Ok(wire) = bus.classic() else { break };
                let Some(payload) = wire.translate(&uid, &message.channel, &message.payload) else {
                    continue;
                };
                let out = BusMessage {
                    channel: main.clone(),
                    payload,
                };
                if sink.send(out).await.is_err() {
                    break;
                }
            }
        });
        if self.serve_classic("/").await {
            Ok(())
        } else {
            Err(BusError::Unavailable(
                "cannot subscribe to Node's channels of namespace /".into(),
            ))
        }
    }

    /// Listens to the channels of namespace `nsp`, once; `false` when that failed (the next call
    /// tries again).
    pub(crate) async fn serve_classic(&self, nsp: &str) -> bool {
        let Ok(wire) = self.classic() else {
            return false;
        };
        let Some(link) = wire.link.get() else {
            return false;
        };
        let fresh = wire
            .namespaces
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .insert(nsp.to_owned());
        if !fresh {
            return true;
        }
        let responses = Route::Response.channel(&wire.key, nsp);
        let channels = [
            Subscription::Prefix(Route::Broadcast { room: None }.channel(&wire.key, nsp)),
            Subscription::Channel(Route::Request.channel(&wire.key, nsp)),
            Subscription::Channel(format!("{responses}{}#", link.uid)),
            Subscription::Channel(responses),
        ];
        match self.subscribe_raw(&channels, link.translate.clone()).await {
            Ok(()) => true,
            Err(e) => {
                tracing::warn!(target: LOG_TARGET, nsp, error = %e, "cannot subscribe to Node's channels of a namespace");
                wire.namespaces
                    .lock()
                    .unwrap_or_else(PoisonError::into_inner)
                    .remove(nsp);
                false
            }
        }
    }

    /// Publishes what the manager published on `channel` (one message or a batch) Node's way,
    /// one message at a time, in order.
    pub(crate) async fn publish_classic(
        &self,
        channel: &str,
        payload: &[u8],
    ) -> Result<(), BusError> {
        let wire = self.classic()?;
        // an answer, or a message for one node, names that node in its channel
        let to = match wire.link.get() {
            Some(link) if channel != link.main => target_uid(channel),
            _ => None,
        };
        let mut outgoing = Vec::new();
        if batch::is_batch(payload) {
            let messages =
                batch::messages(payload).map_err(|e| BusError::Other(format!("a batch: {e}")))?;
            for message in messages {
                outgoing.push(self.translate_out(wire, to, message).await?);
            }
        } else {
            outgoing.push(self.translate_out(wire, to, payload).await?);
        }
        // Node has no batches: one PUBLISH per message, all sent at once on the one publishing
        // connection (which keeps their order) rather than one round trip each
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

    /// One of the manager's messages as Node sends it.
    async fn translate_out(
        &self,
        wire: &ClassicWire,
        to: Option<&str>,
        bytes: &[u8],
    ) -> Result<Outgoing, BusError> {
        let msg = Message::decode(bytes).map_err(|e| BusError::Other(e.to_string()))?;
        // listen for the answers before asking
        self.serve_classic(&msg.nsp).await;
        let (route, payload) =
            classic::to_classic(&msg, to).map_err(|e| BusError::Other(e.to_string()))?;
        // a broadcast must reach every node of its namespace (when they were counted lately)
        let expected = match route {
            Route::Broadcast { .. } => wire.fresh_count(&msg.nsp),
            _ => None,
        };
        Ok(Outgoing {
            channel: route.channel(&wire.key, &msg.nsp),
            payload,
            expected,
        })
    }

    /// Node's count of the other servers of `nsp`: the subscribers of its request channel, this
    /// node excluded.
    pub(crate) async fn classic_peers(&self, nsp: &str) -> Option<usize> {
        let wire = self.classic().ok()?;
        if !self.serve_classic(nsp).await {
            return None;
        }
        let channel = Route::Request.channel(&wire.key, nsp);
        let timeout = self.inner.operation_timeout;
        let count = crate::count_subscribers(&self.inner.publisher, timeout, channel).await?;
        let count = count.max(1);
        wire.counts
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .insert(nsp.to_owned(), (count, Instant::now()));
        Some(count - 1)
    }
}
