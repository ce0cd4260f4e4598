//! HTTP long-polling: the handshake GET, the waiting GET that carries queued frames, and the POST
//! that carries client packets.

use std::sync::Arc;

use axum::body::Body;
use axum::response::{IntoResponse, Response};
use http::{header, Request};
use http_body_util::{BodyExt, Limited};
use volley_protocol::engine::{decode_payload, Item};

use super::socket::Polling;
use super::{
    CloseReason, Engine, EngineHandler, EngineSocket, Frame, RequestError, RequestInfo, Transport,
};

fn text_response(body: String) -> Response {
    ([(header::CONTENT_TYPE, "text/plain; charset=UTF-8")], body).into_response()
}

/// Opens a polling session: the response body is the handshake packet.
pub(crate) fn open<H: EngineHandler>(engine: Arc<Engine<H>>, req: Request<Body>) -> Response {
    let socket = engine.open_session(Transport::Polling, RequestInfo::from_request(&req));
    tokio::spawn(finish_when_closed(engine.clone(), socket.clone()));
    let body = engine.handshake(socket.sid(), Transport::Polling);
    engine.handler.on_open(&socket);
    text_response(body)
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
pub(crate) async fn poll<H: EngineHandler>(
    engine: &Engine<H>,
    socket: Arc<EngineSocket<H::Data>>,
) -> Result<Response, RequestError> {
    let polling = polling_state(&socket)?;
    let Ok(mut outbox) = polling.outbox.try_lock() else {
        tracing::debug!(target: "volley::engine", sid = %socket.sid(), "overlapping polls");
        socket.close(CloseReason::TransportError);
        return Err(RequestError::BadRequest);
    };
    if socket.is_upgrading() {
        return Ok(text_response("6".to_owned()));
    }
    let first = match outbox.held.take() {
        Some(frame) => Some(frame),
        None => tokio::select! {
            biased;
            frame = socket.queue.pop() => Some(frame),
            _ = socket.closed() => None,
            _ = polling.upgrade_noop.notified() => return Ok(text_response("6".to_owned())),
        },
    };
    let Some(first) = first else {
        // Closed while waiting: a client's own close gets a noop, any other close a close packet.
        let body = match socket.close_reason() {
            Some(CloseReason::ClientClose) => "6",
            _ => "1",
        };
        return Ok(text_response(body.to_owned()));
    };
    let max = engine.config.max_payload as usize;
    let mut body = String::with_capacity(first.wire_len().min(max));
    let closing = matches!(first, Frame::Close);
    first.write_polling(&mut body);
    // A close packet travels alone, in the next response: clients handle the packets before it
    // asynchronously, and a close in the same payload would overtake them.
    while let (false, Some(frame)) = (closing, socket.queue.try_pop()) {
        if matches!(frame, Frame::Close) || body.len() + 1 + frame.wire_len() > max {
            outbox.held = Some(frame);
            break;
        }
        frame.write_polling(&mut body);
    }
    if closing {
        socket.close(CloseReason::ServerClose);
    }
    Ok(text_response(body))
}

/// Reads a payload of packets from the client and hands them to the handler.
pub(crate) async fn post<H: EngineHandler>(
    engine: &Engine<H>,
    socket: Arc<EngineSocket<H::Data>>,
    body: Body,
) -> Result<Response, RequestError> {
    let polling = polling_state(&socket)?;
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
    let Ok(text) = std::str::from_utf8(&bytes) else {
        socket.close(CloseReason::TransportError);
        return Err(RequestError::BadRequest);
    };
    for item in decode_payload(text) {
        if socket.is_closed() {
            break;
        }
        match item {
            Ok(Item::Text(packet)) => engine.on_packet(&socket, packet),
            Ok(Item::Binary(data)) => engine.handler.on_binary(&socket, data),
            Err(e) => {
                tracing::debug!(target: "volley::engine", sid = %socket.sid(), error = %e, "invalid payload");
                socket.close(CloseReason::TransportError);
                return Err(RequestError::BadRequest);
            }
        }
        // The rest of the payload waits while the handler pauses reads: so does the client's
        // next POST, which this one's response holds back.
        if let Some(pause) = engine.handler.pause(&socket) {
            pause.await;
        }
    }
    Ok(text_response("ok".to_owned()))
}
