//! Socket.IO v5 packets: the JSON text form with binary placeholders.
//!
//! Wire form: `<type>[<attachments>-][<nsp>,][<ack id>][JSON]`, where the type is one digit
//! (see [`PacketType`]), the attachment count only appears on BINARY_EVENT and BINARY_ACK,
//! the namespace is omitted for `/`, and each binary value of the data is replaced by a
//! placeholder `{"_placeholder":true,"num":N}` whose attachment travels in its own frame.
//!
//! Incoming packets are decoded with [`decode`] into an owned [`Packet`]; outgoing packets are
//! described by a borrowing [`PacketRef`] and written with [`encode`].

use rmpv::Value;

mod decode;
mod encode;

pub use decode::{decode, Decoded, PartialPacket};
pub use encode::encode;

/// The type of a Socket.IO packet.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PacketType {
    /// `0`: connection to a namespace (request from a client, acknowledgement from the server).
    Connect,
    /// `1`: disconnection from a namespace.
    Disconnect,
    /// `2`: an event with its arguments.
    Event,
    /// `3`: the acknowledgement of an event.
    Ack,
    /// `4`: refusal of a connection to a namespace.
    ConnectError,
    /// `5`: an event whose arguments contain binary attachments.
    BinaryEvent,
    /// `6`: an acknowledgement whose arguments contain binary attachments.
    BinaryAck,
}

impl PacketType {
    /// The digit written on the wire for this type.
    pub fn as_char(self) -> char {
        match self {
            PacketType::Connect => '0',
            PacketType::Disconnect => '1',
            PacketType::Event => '2',
            PacketType::Ack => '3',
            PacketType::ConnectError => '4',
            PacketType::BinaryEvent => '5',
            PacketType::BinaryAck => '6',
        }
    }

    /// The type written as `c` on the wire, if any.
    pub fn from_char(c: char) -> Option<Self> {
        Some(match c {
            '0' => PacketType::Connect,
            '1' => PacketType::Disconnect,
            '2' => PacketType::Event,
            '3' => PacketType::Ack,
            '4' => PacketType::ConnectError,
            '5' => PacketType::BinaryEvent,
            '6' => PacketType::BinaryAck,
            _ => return None,
        })
    }

    /// Whether packets of this type announce binary attachments.
    pub fn is_binary(self) -> bool {
        matches!(self, PacketType::BinaryEvent | PacketType::BinaryAck)
    }
}

/// Owned-in: a packet decoded from a client, attachments already put in place as
/// `Value::Binary`.
#[derive(Debug, Clone, PartialEq)]
pub struct Packet {
    /// The namespace, `/` when the packet names none.
    pub ns: String,
    /// The acknowledgement id (only EVENT and ACK packets carry one).
    pub id: Option<u64>,
    /// What the packet carries.
    pub data: PacketData,
}

/// The data of a decoded packet, by packet type (binary packets decode to `Event` and `Ack`).
#[derive(Debug, Clone, PartialEq)]
pub enum PacketData {
    /// CONNECT with its optional auth payload, always a map when present.
    Connect(Option<Value>),
    /// DISCONNECT.
    Disconnect,
    /// EVENT or BINARY_EVENT: the event name and its arguments.
    Event {
        /// The event name (first item of the JSON array).
        event: String,
        /// The remaining items of the JSON array.
        args: Vec<Value>,
    },
    /// ACK or BINARY_ACK: the acknowledgement arguments (the id is in [`Packet::id`]).
    Ack(Vec<Value>),
    /// CONNECT_ERROR with its payload.
    ConnectError(Value),
}

/// Borrowed-out: a packet to send.
#[derive(Debug, Clone, Copy)]
pub struct PacketRef<'a> {
    /// The namespace; `/` is omitted on the wire.
    pub ns: &'a str,
    /// The acknowledgement id: required for `Ack`, optional for `Event`, refused otherwise.
    pub id: Option<u64>,
    /// What the packet carries.
    pub data: DataRef<'a>,
}

/// The data of a packet to send.
#[derive(Debug, Clone, Copy)]
pub enum DataRef<'a> {
    /// The server's CONNECT acknowledgement: data exactly `{"sid":"..."}`, or
    /// `{"sid":"...","pid":"..."}` when the server recovers connection state.
    Connect {
        /// The Socket.IO session id of the connected socket.
        sid: &'a str,
        /// The private session id a client presents to recover its state after a reconnect.
        pid: Option<&'a str>,
    },
    /// DISCONNECT.
    Disconnect,
    /// EVENT (BINARY_EVENT when an argument holds binary data).
    Event {
        /// The event name.
        event: &'a str,
        /// The arguments.
        args: &'a [Value],
    },
    /// ACK (BINARY_ACK when an argument holds binary data).
    Ack(&'a [Value]),
    /// CONNECT_ERROR, e.g. `{"message":"Invalid namespace"}`.
    ConnectError(&'a Value),
}

#[cfg(test)]
mod tests;
