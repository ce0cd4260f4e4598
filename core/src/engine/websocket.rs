//! The WebSocket transport: a session opened directly over WebSocket, and the upgrade of a
//! polling session (`2probe` / `3probe` / `5`).

use std::sync::Arc;
use std::task::{ready, Context, Poll};

use axum::body::Body;
use axum::extract::ws::{Message, Utf8Bytes, WebSocket, WebSocketUpgrade};
use axum::extract::FromRequestParts;
use axum::response::Response;
use futures_util::future::Either;
use futures_util::{FutureExt, SinkExt};
use http::Request;

use super::queue::FrameQueue;
use super::socket::{Polling, Version};
use super::{
    v3, CloseReason, Engine, EngineHandler, EngineSocket, Frame, Pause, RequestError, RequestInfo,
    Transport,
};

/// Frames written before one flush, at most.
const WRITE_BATCH: usize = 64;

/// Accepts a WebSocket: a new session, or the upgrade of `existing`.
///
/// A WebSocket naming a session that is already on WebSocket, or already upgrading, is
/// accepted and then closed at once, as the reference server does ([`run_upgrade`] finds it
/// cannot begin an upgrade); the session's own transport is left alone.
pub(crate) async fn accept<H: EngineHandler>(
    engine: Arc<Engine<H>>,
    req: Request<Body>,
    existing: Option<Arc<EngineSocket<H::Data>>>,
    version: Version,
) -> Result<Response, RequestError> {
    // What the connection's task keeps until the upgrade completes, behind one pointer: the
    // task keeps room for it beside the session's own state for the connection's whole life.
    let target = match existing {
        None => Target::New(Box::new(RequestInfo::from_request(&req)), version),
        Some(socket) => Target::Upgrade(socket),
    };
    let (mut parts, _body) = req.into_parts();
    let upgrade = WebSocketUpgrade::from_request_parts(&mut parts, &())
        .await
        .map_err(|_| RequestError::BadRequest)?;
    let config = &engine.config;
    let max = usize::try_from(config.max_payload).unwrap_or(usize::MAX);
    let upgrade = upgrade
        .read_buffer_size(config.ws_read_buffer)
        .write_buffer_size(config.ws_write_buffer)
        .max_message_size(max)
        .max_frame_size(max);
    // The connection's future is one of the two, not an async block awaiting either: such a
    // block would also keep its captures (the WebSocket, the request), 600 bytes per connection.
    // An upgrade's future (with its probe) is the larger one and the rarer: boxed, so that every
    // connection opened over WebSocket does not keep room for it.
    Ok(upgrade.on_upgrade(move |ws| match target {
        Target::New(info, version) => Either::Left(run_new(engine, ws, *info, version)),
        Target::Upgrade(socket) => Either::Right(Box::pin(run_upgrade(engine, ws, socket))),
    }))
}

/// What an accepted WebSocket becomes.
enum Target<D> {
    /// A new session, opened by this request, in the protocol it asked for.
    New(Box<RequestInfo>, Version),
    /// The upgrade of a polling session.
    Upgrade(Arc<EngineSocket<D>>),
}

/// A session opened over WebSocket. Set up before the first await, so that the future kept for
/// the connection's life holds the WebSocket once (an async fn would also keep its arguments).
fn run_new<H: EngineHandler>(
    engine: Arc<Engine<H>>,
    mut ws: WebSocket,
    info: RequestInfo,
    version: Version,
) -> impl std::future::Future<Output = ()> + Send {
    let socket = engine.open_session((Transport::Websocket, version), info);
    async move {
        // The handshake is the first frame the drive loop writes; what `on_open` queues follows.
        // This task is the queue's only taker for the session's life (it has no polling state).
        let handshake = engine.handshake(socket.sid(), Transport::Websocket);
        engine.handler.on_open(&socket);
        drive(
            &engine,
            &mut ws,
            &socket,
            Some(Frame::Text(handshake.into())),
        )
        .await;
        // The handler hears of the end before the close frame goes out: a client that stopped
        // reading cannot hold it back.
        engine.finish_session(&socket);
        close(&mut ws).await;
    }
}

/// How long the WebSocket close frame may wait for a client that does not read.
const CLOSE_GRACE: std::time::Duration = std::time::Duration::from_secs(1);

/// Sends the WebSocket close frame, giving up (and dropping the connection) after
/// [`CLOSE_GRACE`]: a client that stopped reading cannot keep its connection, and what is
/// buffered for it, alive.
async fn close(ws: &mut WebSocket) {
    let _ = tokio::time::timeout(CLOSE_GRACE, ws.send(Message::Close(None))).await;
}

/// What an upgrading client sent next.
enum Step {
    Text(Utf8Bytes),
    Other,
    Gone,
}

async fn next_text(ws: &mut WebSocket) -> Step {
    loop {
        match ws.recv().await {
            Some(Ok(Message::Text(t))) => return Step::Text(t),
            Some(Ok(Message::Ping(_) | Message::Pong(_))) => continue,
            Some(Ok(_)) => return Step::Other,
            Some(Err(_)) | None => return Step::Gone,
        }
    }
}

async fn probe(ws: &mut WebSocket, polling: &Polling) -> bool {
    match next_text(ws).await {
        Step::Text(t) if t.as_str() == "2probe" => {}
        _ => return false,
    }
    if ws
        .send(Message::Text(Utf8Bytes::from_static("3probe")))
        .await
        .is_err()
    {
        return false;
    }
    // Releases a waiting poll so the client can pause its polling transport.
    polling.upgrade_noop.notify_one();
    matches!(next_text(ws).await, Step::Text(t) if t.as_str() == "5")
}

/// The upgrade of a polling session: the probe, then the drive loop. Written as a function
/// returning its future, as [`run_new`], so the WebSocket is kept once.
#[allow(clippy::manual_async_fn)] // an async fn would keep its arguments a second time
fn run_upgrade<H: EngineHandler>(
    engine: Arc<Engine<H>>,
    mut ws: WebSocket,
    socket: Arc<EngineSocket<H::Data>>,
) -> impl std::future::Future<Output = ()> + Send {
    async move {
        // A session opened over WebSocket, already upgraded or upgrading cannot begin an
        // upgrade: this second WebSocket is closed, the session goes on (see `accept`).
        let Some(polling) = socket.polling().filter(|_| socket.begin_upgrade()) else {
            close(&mut ws).await;
            return;
        };
        let upgraded = tokio::select! {
            r = tokio::time::timeout(engine.config.upgrade_timeout, probe(&mut ws, polling)) => r.unwrap_or(false),
            _ = socket.closed() => false,
        };
        if !upgraded {
            tracing::debug!(target: "volley::engine", sid = %socket.sid(), "upgrade failed");
            socket.abort_upgrade();
            close(&mut ws).await;
            return;
        }
        // Held while the drive loop runs: the polling transport no longer takes frames.
        let mut outbox = polling.outbox.lock().await;
        socket.finish_upgrade();
        tracing::debug!(target: "volley::engine", sid = %socket.sid(), "upgraded to websocket");
        engine.handler.on_upgrade(&socket);
        drive(&engine, &mut ws, &socket, outbox.held.take()).await;
        // the polling session's own task finishes it
        close(&mut ws).await;
    }
}

/// Writes queued frames in batches: `first`, then whatever waits behind it, up to
/// [`WRITE_BATCH`] frames before one flush. `Some(reason)` when the session must end.
///
/// A close packet is not written: the WebSocket close that follows says the same, and arrives
/// after the client has handled the packets before it (a close packet could overtake them, as
/// clients handle Socket.IO packets asynchronously).
///
/// Written against the `Sink` poll functions rather than as nested async calls, and returning
/// its future rather than being an async fn (which would keep `first` beside the batch): every
/// idle connection keeps room for its largest write state, and this one is a frame and two
/// counters.
fn write_batch<'a>(
    ws: &'a mut WebSocket,
    first: Frame,
    queue: &'a FrameQueue,
    eio3: bool,
) -> impl std::future::Future<Output = Option<CloseReason>> + 'a {
    let mut batch = Batch {
        frame: Some(first),
        part: 0,
        written: 0,
        closing: false,
        eio3,
    };
    std::future::poll_fn(move |cx| batch.poll_write(ws, queue, cx))
}

/// The progress of one [`write_batch`].
struct Batch {
    /// The frame being written, if any.
    frame: Option<Frame>,
    /// Messages of `frame` already handed to the socket (a group has several).
    part: usize,
    /// Frames handed to the socket.
    written: usize,
    /// A close packet was reached: flush, then end the session.
    closing: bool,
    /// An Engine.IO v3 session: binary messages start with their type byte.
    eio3: bool,
}

impl Batch {
    fn poll_write(
        &mut self,
        ws: &mut WebSocket,
        queue: &FrameQueue,
        cx: &mut Context<'_>,
    ) -> Poll<Option<CloseReason>> {
        loop {
            match &self.frame {
                None => {
                    let flushed = ready!(ws.poll_flush_unpin(cx));
                    return Poll::Ready(if self.closing {
                        Some(CloseReason::ServerClose)
                    } else {
                        flushed.err().map(|_| CloseReason::TransportClose)
                    });
                }
                Some(Frame::Close) => {
                    self.frame = None;
                    self.closing = true;
                    continue;
                }
                Some(_) => {}
            }
            if ready!(ws.poll_ready_unpin(cx)).is_err() {
                return Poll::Ready(Some(CloseReason::TransportClose));
            }
            let message = match self.frame.take() {
                Some(Frame::Text(t)) => Message::Text(t),
                Some(Frame::Binary(b)) if self.eio3 => Message::Binary(v3::ws_binary(&b)),
                Some(Frame::Binary(b)) => Message::Binary(b),
                Some(Frame::Group(group)) => {
                    // the text first, then each attachment
                    let message = match self.part.checked_sub(1) {
                        None => Message::Text(group.text.clone()),
                        Some(i) if self.eio3 => {
                            Message::Binary(v3::ws_binary(&group.attachments[i]))
                        }
                        Some(i) => Message::Binary(group.attachments[i].clone()),
                    };
                    self.part += 1;
                    if self.part <= group.attachments.len() {
                        self.frame = Some(Frame::Group(group));
                    }
                    message
                }
                // a ping (a close packet or no frame were handled above)
                _ => Message::Text(Utf8Bytes::from_static("2")),
            };
            if ws.start_send_unpin(message).is_err() {
                return Poll::Ready(Some(CloseReason::TransportClose));
            }
            if self.frame.is_none() {
                self.part = 0;
                self.written += 1;
                if self.written < WRITE_BATCH {
                    self.frame = queue.try_pop();
                }
            }
        }
    }
}

/// Client frames handled before the replies they caused are written, at most: frames that
/// arrived together are answered with one write.
const READ_BATCH: usize = 16;

/// Hands one client frame to the engine.
fn receive<H: EngineHandler>(
    engine: &Engine<H>,
    socket: &Arc<EngineSocket<H::Data>>,
    msg: Option<Result<Message, axum::Error>>,
) {
    match msg {
        Some(Ok(Message::Text(t))) => {
            // an invalid frame closes the session, which ends the drive loop
            let _ = engine.on_text(socket, t.as_str());
        }
        Some(Ok(Message::Binary(b))) if socket.eio3() => match v3::ws_binary_data(b) {
            Some(data) => engine.handler.on_binary(socket, data),
            None => socket.close(CloseReason::TransportError),
        },
        Some(Ok(Message::Binary(b))) => engine.handler.on_binary(socket, b),
        Some(Ok(Message::Close(_))) => socket.close(CloseReason::ClientClose),
        Some(Ok(Message::Ping(_) | Message::Pong(_))) => {}
        Some(Err(_)) | None => socket.close(CloseReason::TransportClose),
    }
}

/// Reads client frames and writes queued ones until the session is closed; the caller holds
/// the right to take from the queue. `next` is written first (a new session's handshake, or
/// what a poll held back).
///
/// Returns its future rather than being an async fn (which would keep its arguments twice), and
/// every write goes through the one `next` slot: the loop's state holds one frame.
#[allow(clippy::manual_async_fn)]
fn drive<'a, H: EngineHandler>(
    engine: &'a Engine<H>,
    ws: &'a mut WebSocket,
    socket: &'a Arc<EngineSocket<H::Data>>,
    mut next: Option<Frame>,
) -> impl std::future::Future<Output = ()> + Send + 'a {
    async move {
        // Set while the handler pauses reads (see `EngineHandler::pause`); writes go on.
        let mut paused: Option<Pause> = None;
        while !socket.is_closed() {
            if let Some(frame) = next.take() {
                // A client that stopped reading holds the write: the session's close (a full
                // queue, a ping timeout) must still end it.
                tokio::select! {
                    biased;
                    () = std::future::poll_fn(|cx| socket.poll_closed(cx)) => break,
                    written = write_batch(ws, frame, &socket.queue, socket.eio3()) => {
                        if let Some(reason) = written {
                            socket.close(reason);
                        }
                    }
                }
                continue;
            }
            if paused.is_none() {
                paused = engine.handler.pause(socket);
            }
            tokio::select! {
                biased;
                () = std::future::poll_fn(|cx| socket.poll_closed(cx)) => break,
                frame = socket.queue.pop() => next = Some(frame),
                () = async { if let Some(p) = paused.as_mut() { p.await } }, if paused.is_some() => {
                    paused = None;
                }
                msg = ws.recv(), if paused.is_none() => {
                    receive(engine, socket, msg);
                    // Frames already read along with this one are handled before anything is
                    // written, so that their replies share one write (unless reads must pause).
                    for _ in 1..READ_BATCH {
                        if socket.is_closed() {
                            break;
                        }
                        paused = engine.handler.pause(socket);
                        if paused.is_some() {
                            break;
                        }
                        match ws.recv().now_or_never() {
                            Some(msg) => receive(engine, socket, msg),
                            None => break,
                        }
                    }
                }
            }
        }
    }
}
