//! Engine.IO v4 and Socket.IO v5 packets and their codecs for Volley: pure data, no I/O.
//!
//! ```
//! use volley_protocol::packet::{self, DataRef, Decoded, PacketData, PacketRef};
//! use volley_protocol::{engine, Value};
//!
//! // A WebSocket text frame from a client: Engine.IO MESSAGE carrying a Socket.IO EVENT.
//! let frame = r#"42["message",1,"2"]"#;
//! let engine::Packet::Message(text) = engine::decode_text(frame).unwrap() else {
//!     unreachable!()
//! };
//! let Decoded::Complete(packet) = packet::decode(text, 10).unwrap() else {
//!     unreachable!()
//! };
//! let PacketData::Event { event, args } = &packet.data else {
//!     unreachable!()
//! };
//! assert_eq!(event, "message");
//!
//! // The answer, with the Engine.IO prefix already in the buffer.
//! let mut out = String::from("4");
//! let reply = [Value::Binary(vec![1, 2, 3])];
//! let attachments = packet::encode(
//!     &PacketRef { ns: "/", id: None, data: DataRef::Event { event: "back", args: &reply } },
//!     &mut out,
//! )
//! .unwrap();
//! assert_eq!(out, r#"451-["back",{"_placeholder":true,"num":0}]"#);
//! assert_eq!(attachments, vec![bytes::Bytes::from_static(&[1, 2, 3])]);
//! # let _ = args;
//! ```
//!
//! # Contents
//!
//! - [`engine`]: Engine.IO text packets, the long-polling payload and the handshake.
//! - [`packet`]: Socket.IO packets: decoding (with binary attachments) and encoding.
//! - [`msgpack`]: Socket.IO packets in the MessagePack format of the npm
//!   `socket.io-msgpack-parser` (one binary message per packet, no attachments).
//! - [`args`]: converting Rust types to and from event argument lists.
//! - [`classic`]: the Redis wire format of Node's `@socket.io/redis-adapter` and
//!   `@socket.io/redis-emitter` (broadcasts, requests, channel names).
//! - [`DecodeError`], [`EncodeError`]: what can go wrong.
//! - [`Value`]: the payload value type of the whole project (`rmpv::Value`, which has
//!   `Binary`, so attachments are plain values).

pub mod args;
pub mod classic;
pub mod cluster;
pub mod engine;
mod error;
pub mod msgpack;
pub mod packet;
mod reserved;

pub use error::{DecodeError, EncodeError};
pub use reserved::{is_reserved_event, RESERVED_EVENTS};
pub use rmpv::Value;
