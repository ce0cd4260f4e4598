//! HTTP long-polling: the handshake GET, the waiting GET that carries queued frames, and the POST
//! that carries client packets.

use std::sync::Arc;

use axum::body::Body;
use axum::response::{IntoResponse, Response};
use http::{header, Request};
use http_body_util::{BodyExt, Limited};
use volley_protocol::engine::{decode_payload, v3 as v3_payload, Item};
use volley_protocol::DecodeError;

use super::compress::Negotiated;
use super::socket::{Polling, Version};
use super::{
    v3, CloseReason, Engine, EngineHandler, EngineSocket, Frame, RequestError, RequestInfo,
    Transport,
};

/// The content type of a text polling response.
pub(crate) const TEXT: &str = "text/plain; charset=UTF-8";

pub(crate) fn text_response(body: String) -> Response {
    ([(header::CONTENT_TYPE, TEXT)], body).into_response()
}

/// A polling response carrying packets: `body` of `content_type`, compressed as `compression`
/// allows.
async fn data_response(
    content_type: &'static str,
    body: Vec<u8>,
    compression: Option<Negotiated>,
) -> Response {
    let mut headers = http::HeaderMap::new();
    headers.insert(
        header::CONTENT_TYPE,
        http::HeaderValue::from_static(content_type),
    );
    let body = match compression {
        Some(compression) => compression.apply(body, &mut headers).await,
        None => body.into(),
    };
    (headers, body).into_response()
}

/// A response of one packet without data (`6`, `1`), framed as the session's protocol wants.
fn single<D>(socket: &EngineSocket<D>, packet: &'static str) -> Response {
    text_response(if socket.eio3() {
        v3::single(packet)
    } else {
        packet.to_owned()
    })
}

/// A polling response being built from queued frames.
pub(crate) trait Payload {
    /// Appends a frame.
    fn push(&mut self, frame: Frame);
    /// Bytes so far, roughly (to cut the response at `maxPayload`).
    fn len(&self) -> usize;
    /// The body and its content type.
    fn finish(self) -> (&'static str, Vec<u8>);
}

/// The v4 payload: records separated by `\x1e`, written as they come.
impl Payload for String {
    fn push(&mut self, frame: Frame) {
        frame.write_polling(self);
    }

    fn len(&self) -> usize {
        String::len(self)
    }

    fn finish(self) -> (&'static str, Vec<u8>) {
        (TEXT, self.into_bytes())
    }
}

/// Opens a polling session: the response body is the handshake packet.
pub(crate) async fn open<H: EngineHandler>(
    engine: Arc<Engine<H>>,
    req: Request<Body>,
    version: Version,
) -> Response {
    let socket = engine.open_session(
        (Transport::Polling, version),
        RequestInfo::from_request(&req),
    );
    let compression = Negotiated::new(engine.config.http_compression, req.headers());
    tokio::spawn(finish_when_closed(engine.clone(), socket.clone()));
    let mut body = engine.handshake(socket.sid(), Transport::Polling);
    if version.eio3 {
        body = v3::single(&body);
    }
    engine.handler.on_open(&socket);
    data_response(TEXT, body.into_bytes(), compression).await
}

/// A polling session has no task of its own: this one waits for it to close, however that
/// happens (an upgrade to WebSocket keeps it), then removes it and tells the handler.
async fn finish_when_closed<H: EngineHandler>(
    engine: Arc<Engine<H>>,
    socket: Arc<EngineSocket<H::Data>>,
) {
    socket.closed().await;
    engine.finish_session(&socket);
}

/// The polling state of a session still on polling (an upgrade in progress counts); a polling
/// request for any other session is refused.
fn polling_state<D>(socket: &EngineSocket<D>) -> Result<&Polling, RequestError> {
    match socket.polling() {
        Some(polling) if socket.transport() == Transport::Polling => Ok(polling),
        _ => Err(RequestError::BadRequest),
    }
}

/// Waits for queued frames and returns as many as fit in `maxPayload`.
///
/// A second GET while one is waiting closes the session (the waiting one gets a close packet);
/// a GET during an upgrade, or the waiting one when the probe completes, gets a noop.
/// `compression` is what the request accepts (`None`: compression is off).
pub(crate) async fn poll<H: EngineHandler>(
    engine: &Engine<H>,
    socket: Arc<EngineSocket<H::Data>>,
    compression: Option<Negotiated>,
) -> Result<Response, RequestError> {
    let polling = polling_state(&socket)?;
    let Ok(mut outbox) = polling.outbox.try_lock() else {
        tracing::debug!(target: "volley::engine", sid = %socket.sid(), "overlapping polls");
        socket.close(CloseReason::TransportError);
        return Err(RequestError::BadRequest);
    };
    if socket.is_upgrading() {
        return Ok(single(&socket, "6"));
    }
    let first = match outbox.held.take() {
        Some(frame) => Some(frame),
        None => tokio::select! {
            biased;
            frame = socket.queue.pop() => Some(frame),
            _ = socket.closed() => None,
            _ = polling.upgrade_noop.notified() => return Ok(single(&socket, "6")),
        },
    };
    let Some(first) = first else {
        // Closed while waiting: a client's own close gets a noop, any other close a close packet.
        let body = match socket.close_reason() {
            Some(CloseReason::ClientClose) => "6",
            _ => "1",
        };
        return Ok(single(&socket, body));
    };
    let max = engine.config.max_payload as usize;
    let (content_type, body) = if socket.eio3() {
        let b64 = polling.b64;
        fill(&socket, &mut outbox.held, first, max, v3::Payload::new(b64))
    } else {
        let body = String::with_capacity(first.wire_len().min(max));
        fill(&socket, &mut outbox.held, first, max, body)
    };
    // The session's outbox stays locked while the body is compressed: a second GET meanwhile
    // is an overlapping poll, as it would be while this one waits.
    Ok(data_response(content_type, body, compression).await)
}

/// Writes `first`, then as many queued frames as fit in `max` bytes; the first that does not
/// fit is kept in `held` for the next response. Returns the body and its content type.
fn fill<D, P: Payload>(
    socket: &EngineSocket<D>,
    held: &mut Option<Frame>,
    first: Frame,
    max: usize,
    mut body: P,
) -> (&'static str, Vec<u8>) {
    let closing = matches!(first, Frame::Close);
    body.push(first);
    // A close packet travels alone, in the next response: clients handle the packets before it
    // asynchronously, and a close in the same payload would overtake them.
    while let (false, Some(frame)) = (closing, socket.queue.try_pop()) {
        if matches!(frame, Frame::Close) || body.len() + 1 + frame.wire_len() > max {
            *held = Some(frame);
            break;
        }
        body.push(frame);
    }
    if closing {
        socket.close(CloseReason::ServerClose);
    }
    body.finish()
}

/// Reads a payload of packets from the client and hands them to the handler.
pub(crate) async fn post<H: EngineHandler>(
    engine: &Engine<H>,
    socket: Arc<EngineSocket<H::Data>>,
    req: Request<Body>,
) -> Result<Response, RequestError> {
    let polling = polling_state(&socket)?;
    // a v3 client with XHR2 sends binary payloads
    let binary = socket.eio3()
        && req
            .headers()
            .get(header::CONTENT_TYPE)
            .is_some_and(|t| t.as_bytes().starts_with(b"application/octet-stream"));
    let body = req.into_body();
    let Ok(_guard) = polling.post_lock.try_lock() else {
        socket.close(CloseReason::TransportError);
        return Err(RequestError::BadRequest);
    };
    let limit = engine.config.max_payload as usize;
    let bytes = match Limited::new(body, limit).collect().await {
        Ok(collected) => collected.to_bytes(),
        Err(e) => {
            let too_large = e
                .downcast_ref::<http_body_util::LengthLimitError>()
                .is_some();
            socket.close(CloseReason::TransportError);
            return Err(if too_large {
                RequestError::PayloadTooLarge
            } else {
                RequestError::BadRequest
            });
        }
    };
    if binary {
        return receive(engine, &socket, v3_payload::decode_binary_payload(&bytes)).await;
    }
    let Ok(text) = std::str::from_utf8(&bytes) else {
        socket.close(CloseReason::TransportError);
        return Err(RequestError::BadRequest);
    };
    if socket.eio3() {
        receive(engine, &socket, v3_payload::decode_payload(text)).await
    } else {
        receive(engine, &socket, decode_payload(text)).await
    }
}

/// Hands the packets of a payload to the handler, in order; an invalid one closes the session.
async fn receive<'a, H: EngineHandler>(
    engine: &Engine<H>,
    socket: &Arc<EngineSocket<H::Data>>,
    items: impl Iterator<Item = Result<Item<'a>, DecodeError>>,
) -> Result<Response, RequestError> {
    for item in items {
        if socket.is_closed() {
            break;
        }
        match item {
            Ok(Item::Text(packet)) => engine.on_packet(socket, packet),
            Ok(Item::Binary(data)) => engine.handler.on_binary(socket, data),
            Err(e) => {
                tracing::debug!(target: "volley::engine", sid = %socket.sid(), error = %e, "invalid payload");
                socket.close(CloseReason::TransportError);
                return Err(RequestError::BadRequest);
            }
        }
        // The rest of the payload waits while the handler pauses reads: so does the client's
        // next POST, which this one's response holds back.
        if let Some(pause) = engine.handler.pause(socket) {
            pause.await;
        }
    }
    Ok(text_response("ok".to_owned()))
}
