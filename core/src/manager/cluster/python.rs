//! python-socketio's pub/sub protocol beside Volley's own
//! ([`ClusterConfig::python_channel`](super::ClusterConfig::python_channel)): a node applies the
//! emits, room changes and disconnections python-socketio's managers publish on that channel
//! (write-only managers in job workers, or the managers of python `AsyncServer` nodes), and
//! publishes its own broadcasts, single-socket room changes and disconnections there too, in
//! python's format, so that python nodes deliver them to their clients.
//!
//! What Volley nodes publish there carries `volley: true`: the other Volley nodes skip it (they
//! have the same message in Volley's format), a node skips its own by its `host_id` (its uid),
//! and python nodes skip their own by theirs, so nothing loops.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use volley_protocol::cluster::python::{self, EmitRef, Method, PyMessage};
use volley_protocol::Value;

use super::{Node, PubSub};
use crate::manager::BroadcastOptions;
use crate::{AckResponse, EmitError};

/// How long a socket's ack to an emit from python is awaited (python-socketio waits without
/// end; this bounds the tasks a node keeps for it).
const ACK_WAIT: Duration = Duration::from_secs(60);

/// The python channel of a node, and when it last warned of a malformed message there.
pub(super) struct PythonChannel {
    pub(super) name: String,
    /// Milliseconds since `started` of the last warning (at most one a second; the others are
    /// logged at debug level).
    warned: AtomicU64,
    started: std::time::Instant,
}

impl PythonChannel {
    pub(super) fn new(name: String) -> Self {
        PythonChannel {
            name,
            warned: AtomicU64::new(0),
            started: std::time::Instant::now(),
        }
    }

    fn skip(&self, error: &dyn std::fmt::Display) {
        let now = u64::try_from(self.started.elapsed().as_millis())
            .unwrap_or(u64::MAX)
            .saturating_add(1000);
        let last = self.warned.load(Ordering::Relaxed);
        if now.saturating_sub(last) >= 1000
            && self
                .warned
                .compare_exchange(last, now, Ordering::Relaxed, Ordering::Relaxed)
                .is_ok()
        {
            tracing::warn!(target: "volley::cluster", channel = %self.name, error = %error, "undecodable python-socketio message, ignored (further ones within a second are logged at debug level)");
        } else {
            tracing::debug!(target: "volley::cluster", channel = %self.name, error = %error, "undecodable python-socketio message, ignored");
        }
    }
}

fn only(rooms: Vec<String>, except: Vec<String>) -> BroadcastOptions {
    BroadcastOptions {
        rooms,
        except,
        volatile: false,
        local: true,
    }
}

impl<B: PubSub> Node<B> {
    /// A message from python-socketio's channel.
    pub(super) fn python(self: &Arc<Self>, channel: &PythonChannel, bytes: &[u8]) {
        let msg = match python::decode(bytes) {
            Ok(msg) => msg,
            Err(e) => {
                crate::metrics::bus_received(false);
                channel.skip(&e);
                return;
            }
        };
        crate::metrics::bus_received(true);
        let PyMessage {
            host_id,
            from_volley,
            method,
        } = msg;
        // its own messages come back, and other Volley nodes' come in Volley's format too
        if from_volley || host_id.as_deref() == Some(self.uid.as_str()) {
            return;
        }
        match method {
            Method::Emit(emit) => self.python_emit(host_id, emit),
            Method::EnterRoom {
                sid,
                room,
                namespace,
            } => self
                .local
                .add_sockets(&namespace, &only(vec![sid], Vec::new()), &[room]),
            Method::LeaveRoom {
                sid,
                room,
                namespace,
            } => self
                .local
                .del_sockets(&namespace, &only(vec![sid], Vec::new()), &[room]),
            Method::CloseRoom { room, namespace } => {
                self.local
                    .del_sockets(&namespace, &only(vec![room.clone()], Vec::new()), &[room])
            }
            Method::Disconnect { sid, namespace } => {
                for socket in self.local.select(&namespace, &only(vec![sid], Vec::new())) {
                    socket.disconnect();
                }
            }
            // acks for python nodes' emits, which Volley nodes never ask for
            Method::Callback { .. } => {}
            Method::Other(method) => {
                tracing::debug!(target: "volley::cluster", method, "python-socketio message of an unknown method, ignored");
            }
            _ => {}
        }
    }

    fn python_emit(self: &Arc<Self>, host_id: Option<String>, emit: python::Emit) {
        let opts = only(emit.rooms, emit.skip_sids);
        let (Some((room, namespace, id)), Some(host_id)) = (emit.callback, host_id) else {
            if let Err(e) = self
                .local
                .broadcast(&emit.namespace, &emit.event, &emit.args, &opts)
            {
                tracing::warn!(target: "volley::cluster", error = %e, "cannot encode a python-socketio emit");
            }
            return;
        };
        let pending = match self.local.broadcast_with_ack(
            &emit.namespace,
            &emit.event,
            &emit.args,
            &opts,
        ) {
            Ok(p) if !p.is_empty() => p,
            Ok(_) => return,
            Err(e) => {
                tracing::warn!(target: "volley::cluster", error = %e, "cannot encode a python-socketio emit");
                return;
            }
        };
        let node = self.clone();
        pending.each(ACK_WAIT, move |response: AckResponse| {
            let Ok(args) = response.result else { return };
            // python-socketio hands the ack to the callback of `room` (the socket emitted to)
            match python::encode_callback(&host_id, &namespace, &room, id, &args) {
                Ok(bytes) => node.python_publish_later(bytes),
                Err(e) => {
                    tracing::warn!(target: "volley::cluster", error = %e, "cannot encode an ack for python-socketio");
                }
            }
        });
    }

    /// Publishes on the python channel from a task of its own.
    fn python_publish_later(self: &Arc<Self>, bytes: Bytes) {
        let node = self.clone();
        tokio::spawn(async move {
            if let Err(e) = node.python_publish(bytes).await {
                tracing::warn!(target: "volley::cluster", error = %e, "cannot publish for python-socketio nodes");
            }
        });
    }

    /// Publishes on the python channel (one message at a time, never batched: python reads one
    /// JSON object per message).
    async fn python_publish(&self, bytes: Bytes) -> Result<(), EmitError> {
        let Some(channel) = &self.channels.python else {
            return Ok(());
        };
        self.bus
            .publish(&channel.name, bytes)
            .await
            .map_err(|e| EmitError::Manager(e.to_string()))
    }

    /// A broadcast of this node, for python nodes too.
    pub(super) async fn python_broadcast(
        &self,
        ns: &str,
        event: &str,
        args: &[Value],
        opts: &BroadcastOptions,
    ) -> Result<(), EmitError> {
        if self.channels.python.is_none() {
            return Ok(());
        }
        let emit = EmitRef {
            namespace: ns,
            event,
            args,
            rooms: &opts.rooms,
            skip_sids: &opts.except,
        };
        self.python_publish(python::encode_emit(&self.uid, &emit)?)
            .await
    }

    /// Room changes and disconnections of one socket (`opts` names one room and leaves none
    /// out), and the closing of a room (its sockets leave it), for python nodes: python's
    /// protocol names sockets, not selections.
    pub(super) async fn python_sockets(
        &self,
        ns: &str,
        opts: &BroadcastOptions,
        change: SocketChange<'_>,
    ) -> Result<(), EmitError> {
        if self.channels.python.is_none() {
            return Ok(());
        }
        let ([sid], []) = (opts.rooms.as_slice(), opts.except.as_slice()) else {
            return Ok(());
        };
        match change {
            // `close_room`: the sockets of a room leave it
            SocketChange::Rooms {
                enter: false,
                rooms: [room],
            } if room == sid => {
                self.python_publish(python::encode_close_room(&self.uid, ns, room)?)
                    .await
            }
            // python names sockets by their ids: other rooms are not python's to hear of
            _ if crate::engine::Sid::parse(sid).is_none() => Ok(()),
            SocketChange::Rooms { enter, rooms } => {
                for room in rooms {
                    let bytes = python::encode_room_change(&self.uid, enter, ns, sid, room)?;
                    self.python_publish(bytes).await?;
                }
                Ok(())
            }
            SocketChange::Disconnect => {
                self.python_publish(python::encode_disconnect(&self.uid, ns, sid)?)
                    .await
            }
        }
    }
}

/// What happens to one socket (see [`Node::python_sockets`]).
pub(super) enum SocketChange<'a> {
    /// It enters (or leaves) rooms.
    Rooms {
        /// Enters (else leaves).
        enter: bool,
        /// The rooms.
        rooms: &'a [String],
    },
    /// It is disconnected.
    Disconnect,
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use bytes::Bytes;
    use tokio::sync::mpsc;
    use volley_protocol::cluster::python::{self, Method};

    use crate::manager::cluster::{ClusterConfig, ClusterManager, MemoryBus, PubSub, Subscription};

    #[tokio::test]
    async fn broadcasts_go_out_in_pythons_format_and_garbage_is_skipped() {
        let bus = MemoryBus::new();
        let (tap, mut heard) = mpsc::channel(16);
        bus.subscribe(&[Subscription::Channel("pyc".into())], tap)
            .await
            .unwrap();
        let config = ClusterConfig::default().python_channel(Some("pyc".into()));
        let manager = ClusterManager::new(bus.clone(), config);
        let uid = manager.uid().to_owned();
        let io = crate::Server::builder().client_manager(manager).build();
        io.ready(std::time::Duration::from_secs(5)).await.unwrap();
        // malformed and foreign messages on the channel: skipped, the node goes on
        for bad in [&b"\x80\x04pickle"[..], b"{}", br#"{"method": "emit"}"#] {
            bus.publish("pyc", Bytes::from_static(bad)).await.unwrap();
        }
        io.of("/")
            .to("room1")
            .emit("news", &("hi", 1))
            .await
            .unwrap();
        let msg = loop {
            let got = heard.recv().await.unwrap();
            if let Ok(msg) = python::decode(&got.payload) {
                break msg;
            }
        };
        assert!(msg.from_volley);
        assert_eq!(msg.host_id.as_deref(), Some(uid.as_str()));
        let Method::Emit(emit) = msg.method else {
            panic!("not an emit")
        };
        assert_eq!(
            (emit.event.as_str(), emit.rooms),
            ("news", vec!["room1".into()])
        );
        assert_eq!(emit.args.len(), 2);
    }
}
