//! Socket.IO packets to and from Engine.IO frames, in the wire format the server was built with.
//! Each packet is encoded once, into a frame that any number of recipients can share.

use volley_protocol::packet::{DataRef, PacketRef};
use volley_protocol::{EncodeError, Value};

use crate::engine::Frame;

/// How Socket.IO packets are written on the wire.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[non_exhaustive]
pub enum Parser {
    /// The default parser: JSON text, binary data as attachments after placeholders.
    #[default]
    Json,
    /// The `socket.io-msgpack-parser` format: each packet is one binary msgpack message.
    /// Clients must use the same parser.
    MsgPack,
}

impl Parser {
    /// Encodes one packet as a frame.
    pub(crate) fn frame(self, packet: &PacketRef<'_>) -> Result<Frame, EncodeError> {
        match self {
            Parser::Json => {
                let mut text = String::with_capacity(32);
                text.push('4');
                let attachments = volley_protocol::packet::encode(packet, &mut text)?;
                Ok(if attachments.is_empty() {
                    Frame::Text(text.into())
                } else {
                    Frame::group(text, attachments)
                })
            }
            Parser::MsgPack => Ok(Frame::Binary(volley_protocol::msgpack::encode(packet)?)),
        }
    }

    pub(crate) fn event(
        self,
        ns: &str,
        event: &str,
        args: &[Value],
        id: Option<u64>,
    ) -> Result<Frame, EncodeError> {
        self.frame(&PacketRef {
            ns,
            id,
            data: DataRef::Event { event, args },
        })
    }

    pub(crate) fn ack(self, ns: &str, id: u64, args: &[Value]) -> Result<Frame, EncodeError> {
        self.frame(&PacketRef {
            ns,
            id: Some(id),
            data: DataRef::Ack(args),
        })
    }

    pub(crate) fn connect(
        self,
        ns: &str,
        sid: &str,
        pid: Option<&str>,
    ) -> Result<Frame, EncodeError> {
        self.frame(&PacketRef {
            ns,
            id: None,
            data: DataRef::Connect { sid, pid },
        })
    }

    pub(crate) fn connect_error(self, ns: &str, data: &Value) -> Result<Frame, EncodeError> {
        self.frame(&PacketRef {
            ns,
            id: None,
            data: DataRef::ConnectError(data),
        })
    }

    pub(crate) fn disconnect(self, ns: &str) -> Result<Frame, EncodeError> {
        self.frame(&PacketRef {
            ns,
            id: None,
            data: DataRef::Disconnect,
        })
    }
}
