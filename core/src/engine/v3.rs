//! What sets an Engine.IO v3 session (`socket.io-client` 2.x, accepted with
//! [`EngineConfig::allow_eio3`](super::EngineConfig::allow_eio3)) apart from a v4 one; the
//! transports call in here only for such a session, so that v4 traffic takes none of it:
//!
//! - its polling payloads are length-prefixed records ([`volley_protocol::engine::v3`]),
//!   binary as `b4` + base64 for a client that asked `b64=1`, otherwise in a binary payload;
//! - the client pings and the server answers (the heartbeat then only watches for its pings);
//! - a binary WebSocket message starts with its packet type byte, `4`.

use axum::extract::ws::Utf8Bytes;
use bytes::{BufMut, Bytes, BytesMut};
use volley_protocol::engine::v3;

use super::{Engine, EngineHandler, EngineSocket, Frame};

/// Answers a client's ping with a pong carrying the same data, and records it for the
/// heartbeat.
pub(crate) fn on_ping<H: EngineHandler>(
    engine: &Engine<H>,
    socket: &EngineSocket<H::Data>,
    data: &str,
) {
    socket.record_pong(engine.heartbeats.pong_ms());
    let pong = if data.is_empty() {
        Utf8Bytes::from_static("3")
    } else {
        let mut text = String::with_capacity(1 + data.len());
        text.push('3');
        text.push_str(data);
        text.into()
    };
    let _ = socket.send(Frame::Text(pong));
}

/// A v3 polling response being built: the frames it carries, encoded once it is complete
/// (whether it is a text or a binary payload depends on all of them). Bounded as a v4 response
/// is, by the server's max payload.
pub(crate) struct Payload {
    frames: Vec<Frame>,
    len: usize,
    b64: bool,
}

impl Payload {
    pub(crate) fn new(b64: bool) -> Self {
        Payload {
            frames: Vec::new(),
            len: 0,
            b64,
        }
    }
}

impl super::polling::Payload for Payload {
    fn push(&mut self, frame: Frame) {
        // the length prefix and the `b4` of a binary record on top of the v4 estimate
        self.len += frame.wire_len() + 8;
        self.frames.push(frame);
    }

    fn len(&self) -> usize {
        self.len
    }

    fn finish(self) -> (&'static str, Vec<u8>) {
        let binary = |f: &Frame| matches!(f, Frame::Binary(_) | Frame::Group(_));
        if !self.b64 && self.frames.iter().any(binary) {
            let mut out = Vec::with_capacity(self.len);
            for frame in &self.frames {
                frame_parts(frame, |part| match part {
                    Part::Text(t) => v3::write_binary_text_record(&mut out, t),
                    Part::Binary(b) => v3::write_binary_data_record(&mut out, b),
                });
            }
            return ("application/octet-stream", out);
        }
        let mut out = String::with_capacity(self.len);
        for frame in &self.frames {
            frame_parts(frame, |part| match part {
                Part::Text(t) => v3::write_text_record(&mut out, t),
                Part::Binary(b) => v3::write_base64_record(&mut out, b),
            });
        }
        (super::polling::TEXT, out.into_bytes())
    }
}

/// One packet of a frame.
enum Part<'a> {
    Text(&'a str),
    Binary(&'a [u8]),
}

/// Each packet of a frame, in order.
fn frame_parts(frame: &Frame, mut each: impl FnMut(Part<'_>)) {
    match frame {
        Frame::Ping => each(Part::Text("2")),
        Frame::Close => each(Part::Text("1")),
        Frame::Text(t) => each(Part::Text(t.as_str())),
        Frame::Binary(b) => each(Part::Binary(b)),
        Frame::Group(g) => {
            each(Part::Text(g.text.as_str()));
            for b in &g.attachments {
                each(Part::Binary(b));
            }
        }
    }
}

/// A polling response of one packet without data (`6`, `1`), in v3's framing.
pub(crate) fn single(packet: &str) -> String {
    let mut out = String::with_capacity(2 + packet.len());
    v3::write_text_record(&mut out, packet);
    out
}

/// A binary WebSocket message as a v3 client expects it: the message type byte first.
pub(crate) fn ws_binary(data: &Bytes) -> Bytes {
    let mut out = BytesMut::with_capacity(1 + data.len());
    out.put_u8(4);
    out.put_slice(data);
    out.freeze()
}

/// The data of a binary WebSocket message from a v3 client; `None` unless it is a message.
pub(crate) fn ws_binary_data(message: Bytes) -> Option<Bytes> {
    (message.first() == Some(&4)).then(|| message.slice(1..))
}
