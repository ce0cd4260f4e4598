//! Errors returned by the decoders and encoders of this crate.

use std::fmt::Display;

/// Why a packet, payload or argument list received from a peer could not be decoded.
///
/// Every decoder of this crate reports malformed input through this type and never panics.
#[derive(Debug, thiserror::Error, PartialEq, Eq, Clone)]
#[non_exhaustive]
pub enum DecodeError {
    /// The packet was empty: not even a type was present.
    #[error("empty packet")]
    Empty,
    /// The first character is not a known packet type.
    #[error("unknown packet type {0:?}")]
    UnknownPacketType(char),
    /// A binary record of a long-polling payload is not valid padded standard base64.
    #[error("invalid base64 in a binary record")]
    InvalidBase64,
    /// A record of an Engine.IO v3 payload has a missing or malformed length prefix, or a length
    /// that runs past the end of the payload.
    #[error("invalid length prefix in an Engine.IO v3 payload")]
    InvalidLength,
    /// A binary packet lacks its `<count>-` attachment prefix, or the count is not a number.
    #[error("invalid or missing attachment count")]
    InvalidAttachmentCount,
    /// A binary packet announces more attachments than allowed.
    #[error("packet announces {count} attachments, at most {max} are allowed")]
    TooManyAttachments {
        /// The announced number of attachments.
        count: usize,
        /// The configured maximum.
        max: usize,
    },
    /// An attachment arrived although no binary packet was waiting for one.
    #[error("unexpected binary attachment")]
    UnexpectedAttachment,
    /// A binary placeholder is malformed, out of range, or refers to an attachment already used.
    #[error("invalid binary placeholder")]
    InvalidPlaceholder,
    /// The acknowledgement id is not a number fitting in 64 bits, or is not allowed on this packet type.
    #[error("invalid acknowledgement id")]
    InvalidAckId,
    /// An ACK packet has no acknowledgement id.
    #[error("acknowledgement without an id")]
    MissingAckId,
    /// The data part is not valid JSON (or trailing garbage precedes or follows it).
    #[error("invalid JSON data: {0}")]
    InvalidJson(String),
    /// The data part is valid JSON (or MessagePack) but has the wrong shape for the packet
    /// type, or a MessagePack packet lacks a field or has one of the wrong type.
    #[error("invalid packet data: {0}")]
    InvalidPayload(String),
    /// A MessagePack message is malformed: truncated, followed by trailing bytes, using a
    /// reserved marker, or nested deeper than allowed.
    #[error("invalid MessagePack: {0}")]
    InvalidMsgpack(String),
    /// Converting arguments into a Rust type failed.
    #[error("cannot deserialize arguments: {0}")]
    Deserialize(String),
}

impl serde::de::Error for DecodeError {
    fn custom<T: Display>(msg: T) -> Self {
        DecodeError::Deserialize(msg.to_string())
    }
}

/// Why a packet or a value could not be encoded.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum EncodeError {
    /// A `Serialize` implementation reported an error.
    #[error("cannot serialize: {0}")]
    Serialize(String),
    /// A map key cannot be represented as a JSON object key (only strings, integers,
    /// booleans and nil can).
    #[error("map key of type {0} cannot be a JSON object key")]
    InvalidMapKey(&'static str),
    /// MessagePack extension values have no JSON representation.
    #[error("MessagePack extension values cannot be encoded as JSON")]
    UnsupportedExt,
    /// Binary data is only allowed in EVENT and ACK packets.
    #[error("binary data is only allowed in EVENT and ACK packets")]
    UnexpectedBinary,
    /// A namespace must start with `/` and must not contain `,`.
    #[error("invalid namespace {0:?}")]
    InvalidNamespace(String),
    /// An ACK packet needs an acknowledgement id.
    #[error("acknowledgement without an id")]
    MissingAckId,
    /// Only EVENT and ACK packets may carry an acknowledgement id.
    #[error("this packet type cannot carry an acknowledgement id")]
    UnexpectedAckId,
    /// CONNECT_ERROR data must be an object or a string, as socket.io clients require (a
    /// number right after the packet type would also read as an acknowledgement id).
    #[error("CONNECT_ERROR data must be an object or a string")]
    InvalidConnectError,
}

impl serde::ser::Error for EncodeError {
    fn custom<T: Display>(msg: T) -> Self {
        EncodeError::Serialize(msg.to_string())
    }
}
