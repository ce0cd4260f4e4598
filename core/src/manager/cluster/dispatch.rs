//! What a node does with each message from the bus: apply broadcasts and room changes to its own
//! sockets, answer requests, and file the answers to its own requests. Replies are published
//! from spawned tasks, so the loop only decodes and dispatches, in order.

use std::sync::{Arc, Weak};
use std::time::Duration;

use tokio::sync::mpsc;
use tokio::time::Instant;
use volley_protocol::classic::{self, Request};
use volley_protocol::cluster::{batch, Body, Message, EMITTER_UID};

use super::{BusMessage, Node, PubSub};
use crate::manager::OffsetSource;
use crate::{AckResponse, Socket, SocketInfo};

/// Receives until the bus closes or the node is dropped.
pub(crate) async fn run<B: PubSub>(node: Weak<Node<B>>, mut rx: mpsc::Receiver<BusMessage>) {
    while let Some(msg) = rx.recv().await {
        let Some(node) = node.upgrade() else { break };
        let bytes = msg.payload.len() as u64;
        node.received_bytes
            .fetch_add(bytes, std::sync::atomic::Ordering::Relaxed);
        crate::metrics::bus_received_bytes(bytes);
        let batched = batch::is_batch(&msg.payload);
        node.handle(msg);
        drop(node);
        if batched {
            // A batch delivers many packets at once: let the sockets' writers drain their queues
            // before the next one, rather than filling them up to the slow-client limit.
            tokio::task::yield_now().await;
        }
    }
}

impl<B: PubSub> Node<B> {
    fn handle(self: &Arc<Self>, msg: BusMessage) {
        if msg.channel == *self.channels.main || msg.channel == self.channels.own {
            self.native(&msg.payload);
            return;
        }
        if let Some(python) = self
            .channels
            .python
            .as_ref()
            .filter(|p| p.name == msg.channel)
        {
            self.python(python, &msg.payload);
            return;
        }
        let Some((broadcasts, requests)) = &self.channels.compat else {
            return;
        };
        if let Some(rest) = msg.channel.strip_prefix(requests.as_str()) {
            self.compat_request(rest, &msg.payload);
        } else if msg.channel.starts_with(broadcasts.as_str()) {
            self.compat_broadcast(&msg.channel, &msg.payload);
        }
    }

    /// Notes that `uid` is alive (or, when it says so, gone).
    fn seen(&self, uid: &str, leaving: bool) {
        let Ok(mut nodes) = self.nodes.lock() else {
            return;
        };
        if leaving {
            self.addresses.forget(uid);
            if nodes.remove(uid).is_some() {
                drop(nodes);
                tracing::info!(target: "volley::cluster", node = uid, "node left");
                self.requests.node_gone(uid);
            }
        } else if nodes.insert(uid.to_owned(), Instant::now()).is_none() {
            tracing::info!(target: "volley::cluster", node = uid, "node joined");
        }
    }

    /// Runs the answer to another node's request in a task of its own (the dispatch loop never
    /// waits on the bus or on handlers), within [`ClusterConfig::answers_in_flight`]: past it the
    /// request goes unanswered, and its sender counts this node as missing.
    ///
    /// [`ClusterConfig::answers_in_flight`]: super::ClusterConfig::answers_in_flight
    fn answer(
        &self,
        what: &'static str,
        work: impl std::future::Future<Output = ()> + Send + 'static,
    ) {
        match self.answers.clone().try_acquire_owned() {
            Ok(permit) => {
                tokio::spawn(async move {
                    work.await;
                    drop(permit);
                });
            }
            Err(_) => {
                tracing::warn!(target: "volley::cluster", what, limit = self.config.answers_in_flight, "too many answers to other nodes in progress, request left unanswered");
            }
        }
    }

    /// Publishes a reply from a task (see [`Node::answer`]).
    fn reply(self: &Arc<Self>, to: Option<String>, nsp: String, body: Body) {
        let node = self.clone();
        self.answer("reply", async move {
            if let Err(e) = node.publish(to.as_deref(), &nsp, body).await {
                tracing::warn!(target: "volley::cluster", error = %e, "cannot publish a reply");
            }
        });
    }

    /// A message of Volley's own protocol, or a batch of them.
    fn native(self: &Arc<Self>, bytes: &[u8]) {
        if !batch::is_batch(bytes) {
            self.native_one(bytes);
            return;
        }
        match batch::messages(bytes) {
            Ok(messages) => messages.for_each(|message| self.native_one(message)),
            Err(e) => {
                crate::metrics::bus_received(false);
                tracing::warn!(target: "volley::cluster", error = %e, "malformed batch from the bus, ignored");
            }
        }
    }

    fn native_one(self: &Arc<Self>, bytes: &[u8]) {
        // the bus hands a node its own messages back: skip them before decoding anything
        // (but for the broadcasts it delivers only once they are back, with their offset)
        if Message::peek_uid(bytes) == Some(self.uid.as_str()) && !self.reads_back(false) {
            crate::metrics::bus_received(true);
            return;
        }
        let decoded = Message::decode(bytes);
        crate::metrics::bus_received(decoded.is_ok());
        let msg = match decoded {
            Ok(msg) => msg,
            Err(e) => {
                tracing::warn!(target: "volley::cluster", error = %e, "undecodable message from the bus, ignored");
                return;
            }
        };
        if msg.uid == self.uid {
            if let Body::Broadcast {
                opts,
                event,
                args,
                offset: Some(offset),
                ack: None,
            } = &msg.body
            {
                if self.reads_back(opts.volatile) {
                    let source = OffsetSource::Remote(Some(offset));
                    if let Err(e) = self.local.deliver(&msg.nsp, event, args, opts, source) {
                        tracing::warn!(target: "volley::cluster", error = %e, "cannot encode a broadcast");
                    }
                }
            }
            return;
        }
        let Message {
            uid: from,
            nsp,
            body,
        } = msg;
        // emitters, and nodes that do not say who they are, are not nodes to keep track of
        if from != EMITTER_UID && !from.is_empty() {
            self.seen(&from, matches!(body, Body::AdapterClose));
        }
        match body {
            Body::InitialHeartbeat(info) => {
                self.addresses.learn(&from, info.address.as_deref());
                self.reply(None, nsp, Body::Heartbeat(self.node_info()));
            }
            Body::Heartbeat(info) => self.addresses.learn(&from, info.address.as_deref()),
            Body::AdapterClose => {}
            Body::Broadcast {
                opts,
                event,
                args,
                offset,
                ack: None,
            } => {
                let offset = OffsetSource::Remote(offset.as_deref());
                if let Err(e) = self.local.deliver(&nsp, &event, &args, &opts, offset) {
                    tracing::warn!(target: "volley::cluster", error = %e, "cannot encode a remote broadcast");
                }
            }
            Body::Broadcast {
                opts,
                event,
                args,
                ack: Some(request),
                ..
            } => {
                let pending = match self.local.broadcast_with_ack(&nsp, &event, &args, &opts) {
                    Ok(p) => p,
                    Err(e) => {
                        tracing::warn!(target: "volley::cluster", error = %e, "cannot encode a remote broadcast");
                        return;
                    }
                };
                let node = self.clone();
                self.answer("broadcast acks", async move {
                    let sids = pending
                        .sids()
                        .iter()
                        .map(|s| s.as_str().to_owned())
                        .collect();
                    let count = Body::BroadcastClientCount {
                        request_id: request.id,
                        sids,
                    };
                    if let Err(e) = node.publish(Some(&from), &nsp, count).await {
                        tracing::warn!(target: "volley::cluster", error = %e, "cannot report ack recipients");
                    }
                    let timeout = Duration::from_millis(request.timeout_ms);
                    pending.each(timeout, move |response: AckResponse| {
                        if let Ok(args) = response.result {
                            let body = Body::BroadcastAck {
                                request_id: request.id,
                                sid: response.sid.as_str().to_owned(),
                                args,
                            };
                            node.reply(Some(from.clone()), nsp.clone(), body);
                        }
                    });
                });
            }
            Body::SocketsJoin { opts, rooms } => self.local.add_sockets(&nsp, &opts, &rooms),
            Body::SocketsLeave { opts, rooms } => self.local.del_sockets(&nsp, &opts, &rooms),
            Body::DisconnectSockets { opts, close } => {
                for socket in self.local.select(&nsp, &opts) {
                    socket.disconnect();
                    if close {
                        socket.close_connection();
                    }
                }
            }
            Body::FetchSockets { opts, request_id } => {
                let sockets: Vec<SocketInfo> = self
                    .local
                    .select(&nsp, &opts)
                    .iter()
                    .map(Socket::info)
                    .collect();
                let body = Body::FetchSocketsResponse {
                    request_id,
                    sockets,
                };
                // on a bus that listens per room, the answer also says that this node listens to
                // the rooms it had when the request came (the asker may have just made its sockets
                // join them, see `add_sockets`)
                match self.local.rooms_settled(self.local.rooms_noted()) {
                    Some(wait) => {
                        let node = self.clone();
                        self.answer("fetch sockets", async move {
                            wait.await;
                            if let Err(e) = node.publish(Some(&from), &nsp, body).await {
                                tracing::warn!(target: "volley::cluster", error = %e, "cannot publish a reply");
                            }
                        });
                    }
                    None => self.reply(Some(from), nsp, body),
                }
            }
            Body::FetchSocketsResponse {
                request_id,
                sockets,
            } => self.requests.sockets(request_id, &from, sockets),
            Body::ServerSideEmit {
                event,
                args,
                request_id,
            } => self.server_side(from, nsp, event, args, request_id),
            Body::ServerSideEmitResponse { request_id, args } => {
                self.requests.answer(request_id, &from, args)
            }
            Body::BroadcastClientCount { request_id, sids } => {
                self.requests.recipients(request_id, &from, sids)
            }
            Body::BroadcastAck {
                request_id,
                sid,
                args,
            } => self.requests.ack(request_id, &from, sid, args),
            Body::RestoreSession {
                request_id,
                pid,
                offset,
            } => {
                // on a bus that listens per room, the asker asks again once it listens to the
                // socket's rooms, for what they received in between (see `restore_session`)
                let per_room = self.bus.rooms_have_channels();
                let session = self.local.recovery().and_then(|r| {
                    r.export(&nsp, &pid, offset.as_deref(), per_room)
                        .or_else(|| per_room.then(|| r.handed_window(&nsp, &pid)).flatten())
                });
                if session.is_some() {
                    tracing::debug!(target: "volley::cluster", node = %from, "handing a disconnected socket to the node its client reconnected to");
                }
                let body = Body::RestoreSessionResponse {
                    request_id,
                    session,
                };
                self.reply(Some(from), nsp, body);
            }
            Body::RestoreSessionResponse {
                request_id,
                session,
            } => self.requests.session(request_id, &from, session),
            _ => {
                tracing::debug!(target: "volley::cluster", "message of an unhandled type, ignored");
            }
        }
    }

    /// Runs a server-side event's handler; answers the sender when it waits for an answer (with
    /// no arguments when the namespace has no handler, so that it does not wait in vain).
    fn server_side(
        self: &Arc<Self>,
        from: String,
        nsp: String,
        event: String,
        args: Vec<volley_protocol::Value>,
        request_id: Option<u64>,
    ) {
        let hooks = self.hooks.get().and_then(Weak::upgrade);
        let answer = hooks.and_then(|h| h.server_event(&nsp, &event, args));
        let node = self.clone();
        self.answer("server-side emit", async move {
            let args = match answer {
                Some(fut) => fut.await,
                None => Vec::new(),
            };
            if let Some(request_id) = request_id {
                let body = Body::ServerSideEmitResponse { request_id, args };
                if let Err(e) = node.publish(Some(&from), &nsp, body).await {
                    tracing::warn!(target: "volley::cluster", error = %e, "cannot answer a server-side emit");
                }
            }
        });
    }

    /// A broadcast in the format of Node's Redis adapter and emitters: delivered to this
    /// node's sockets (every node gets it from the bus and serves its own).
    fn compat_broadcast(&self, _channel: &str, bytes: &[u8]) {
        let b = match classic::decode_broadcast(bytes) {
            Ok(b) => b,
            Err(e) => {
                tracing::warn!(target: "volley::cluster", error = %e, "undecodable Node-format broadcast, ignored");
                return;
            }
        };
        if b.uid == self.uid {
            return;
        }
        let opts = local_opts(b.opts);
        if let Err(e) = self.local.broadcast(&b.nsp, &b.event, &b.args, &opts) {
            tracing::warn!(target: "volley::cluster", error = %e, "cannot encode a Node-format broadcast");
        }
    }

    /// A request in the format of Node's Redis adapter and emitters: join, leave, disconnect,
    /// server-side emit. `rest` is its channel name after the request prefix: the namespace and
    /// a `#`. Requests only nodes can answer are ignored.
    fn compat_request(self: &Arc<Self>, rest: &str, bytes: &[u8]) {
        let Some(nsp) = rest.strip_suffix('#') else {
            return;
        };
        let request = match classic::decode_request(bytes) {
            Ok(r) => r,
            Err(e) => {
                tracing::warn!(target: "volley::cluster", error = %e, "undecodable Node-format request, ignored");
                return;
            }
        };
        match request {
            Request::Join { opts, rooms } => self.local.add_sockets(nsp, &local_opts(opts), &rooms),
            Request::Leave { opts, rooms } => {
                self.local.del_sockets(nsp, &local_opts(opts), &rooms)
            }
            Request::Disconnect { opts, close } => {
                for socket in self.local.select(nsp, &local_opts(opts)) {
                    socket.disconnect();
                    if close {
                        socket.close_connection();
                    }
                }
            }
            Request::ServerSideEmit { uid, event, args } => {
                if uid.as_deref() != Some(self.uid.as_str()) {
                    self.server_side(String::new(), nsp.to_owned(), event, args, None);
                }
            }
            Request::Unsupported { kind } => {
                tracing::debug!(target: "volley::cluster", kind, "Node adapter request ignored");
            }
        }
    }
}

fn local_opts(opts: classic::Opts) -> crate::manager::BroadcastOptions {
    crate::manager::BroadcastOptions {
        rooms: opts.rooms,
        except: opts.except,
        volatile: opts.volatile,
        local: true,
    }
}
