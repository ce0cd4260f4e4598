//! The hot path of the bus: a broadcast written straight to bytes and read straight back,
//! without a value tree in between. Every node encodes and decodes one message per broadcast,
//! so this is most of a cluster's per-message cost outside the sockets.
//!
//! [`decode`] reads only the exact layout [`BroadcastRef::encode`] writes (keys in its order, the
//! same map sizes) and says `None` at the first byte that differs: [`Message::decode`] then
//! reads the message the generic way, which accepts every layout and gives the errors. Whatever
//! `decode` accepts, the generic way reads the same (the tests compare them on every prefix and
//! many altered copies of encoded messages).

use bytes::Bytes;

use super::{AckRequest, Body, BroadcastOpts, Message, BROADCAST_TYPE};
use crate::msgpack::{Reader, Writer};
use crate::{EncodeError, Value};

/// A broadcast to encode, borrowed from the caller: what a node publishes for each emit, written
/// without first copying the arguments into a [`Message`].
///
/// ```
/// use volley_protocol::cluster::{Body, BroadcastOpts, BroadcastRef, Message};
/// use volley_protocol::Value;
///
/// let opts = BroadcastOpts { rooms: vec!["lobby".into()], ..Default::default() };
/// let args = [Value::from("hi")];
/// let broadcast = BroadcastRef {
///     uid: "a1b2",
///     nsp: "/",
///     opts: &opts,
///     event: "news",
///     args: &args,
///     offset: None,
///     ack: None,
/// };
/// let bytes = broadcast.encode().unwrap();
/// let msg = Message::decode(&bytes).unwrap();
/// assert!(matches!(msg.body, Body::Broadcast { ref event, .. } if event == "news"));
/// ```
#[derive(Debug, Clone, Copy)]
pub struct BroadcastRef<'a> {
    /// The publishing node's uid.
    pub uid: &'a str,
    /// The namespace.
    pub nsp: &'a str,
    /// Targets.
    pub opts: &'a BroadcastOpts,
    /// Event name.
    pub event: &'a str,
    /// Event arguments.
    pub args: &'a [Value],
    /// The offset clients receive as the event's last argument, when the cluster recovers
    /// connection state: the same on every node.
    pub offset: Option<&'a str>,
    /// Set when the requester collects acks.
    pub ack: Option<AckRequest>,
}

impl BroadcastRef<'_> {
    /// At least the size of the encoded broadcast (unless a string holds invalid UTF-8), so that
    /// the buffer is allocated once.
    pub(super) fn size_bound(&self) -> usize {
        // the keys, the markers and the ack: 137 bytes at most
        const FIXED: usize = 160;
        let rooms: usize = [&self.opts.rooms, &self.opts.except]
            .into_iter()
            .flatten()
            .map(|room| room.len() + 5)
            .sum();
        FIXED
            + self.uid.len()
            + self.nsp.len()
            + self.event.len()
            + self.offset.map_or(0, |o| o.len() + 12)
            + rooms
            + self.args.iter().map(Writer::size_hint).sum::<usize>()
    }

    /// Writes the broadcast as `{uid, nsp, type, data: {opts: {rooms, except, volatile},
    /// event, args, offset?, ack?}}`, what [`Message::encode`] writes for one.
    pub fn encode(&self) -> Result<Bytes, EncodeError> {
        let BroadcastRef {
            uid,
            nsp,
            opts,
            event,
            args,
            offset,
            ack,
        } = *self;
        let mut w = Writer(Vec::with_capacity(self.size_bound()));
        w.map_len(4)?;
        w.str("uid")?;
        w.str(uid)?;
        w.str("nsp")?;
        w.str(nsp)?;
        w.str("type")?;
        w.uint(u64::from(BROADCAST_TYPE));
        w.str("data")?;
        w.map_len(3 + usize::from(offset.is_some()) + usize::from(ack.is_some()))?;
        w.str("opts")?;
        w.map_len(3)?;
        for (key, rooms) in [("rooms", &opts.rooms), ("except", &opts.except)] {
            w.str(key)?;
            w.array_len(rooms.len())?;
            rooms.iter().try_for_each(|room| w.str(room))?;
        }
        w.str("volatile")?;
        w.value(&Value::Boolean(opts.volatile))?;
        w.str("event")?;
        w.str(event)?;
        w.str("args")?;
        w.array_len(args.len())?;
        args.iter().try_for_each(|arg| w.value(arg))?;
        if let Some(offset) = offset {
            w.str("offset")?;
            w.str(offset)?;
        }
        if let Some(ack) = ack {
            w.str("ack")?;
            w.map_len(2)?;
            w.str("id")?;
            w.uint(ack.id);
            w.str("timeoutMs")?;
            w.uint(ack.timeout_ms);
        }
        Ok(Bytes::from(w.0))
    }
}

/// Reads a broadcast laid out as [`BroadcastRef::encode`] writes it; `None` for anything else.
pub(super) fn decode(bytes: &[u8]) -> Option<Message> {
    let mut r = Reader::new(bytes);
    // fixmap 4, fixstr keys: the markers are part of the layout
    r.literal(b"\x84\xa3uid")?;
    let uid = r.next_str()?.to_owned();
    r.literal(b"\xa3nsp")?;
    let nsp = r.next_str()?.to_owned();
    // the type is below 128: a positive fixint, its own byte
    r.literal(b"\xa4type")?;
    r.literal(&[BROADCAST_TYPE])?;
    r.literal(b"\xa4data")?;
    // 3 fields, then the optional offset and ack
    let mut optional = if r.literal(b"\x83").is_some() {
        0
    } else if r.literal(b"\x84").is_some() {
        1
    } else {
        r.literal(b"\x85").map(|()| 2)?
    };
    r.literal(b"\xa4opts\x83\xa5rooms")?;
    let rooms = strings(&mut r)?;
    r.literal(b"\xa6except")?;
    let except = strings(&mut r)?;
    r.literal(b"\xa8volatile")?;
    let volatile = match r.literal(b"\xc3") {
        Some(()) => true,
        None => r.literal(b"\xc2").map(|()| false)?,
    };
    r.literal(b"\xa5event")?;
    let event = r.next_str()?.to_owned();
    r.literal(b"\xa4args")?;
    let len = r.next_array_len()?;
    let mut args = Vec::with_capacity(len.min(16));
    for _ in 0..len {
        // an argument sits in the args array of the data map of the message map: the generic
        // reader's depth there is 3
        args.push(r.next_item(3)?);
    }
    let offset = match r.literal(b"\xa6offset") {
        Some(()) if optional > 0 => {
            optional -= 1;
            Some(r.next_str()?.to_owned())
        }
        Some(()) => return None,
        None => None,
    };
    let ack = if optional == 1 {
        r.literal(b"\xa3ack\x82\xa2id")?;
        let id = r.next_uint()?;
        r.literal(b"\xa9timeoutMs")?;
        let timeout_ms = r.next_uint()?;
        Some(AckRequest { id, timeout_ms })
    } else if optional == 0 {
        None
    } else {
        return None;
    };
    r.is_at_end().then_some(())?;
    Some(Message {
        uid,
        nsp,
        body: Body::Broadcast {
            opts: BroadcastOpts {
                rooms,
                except,
                volatile,
                local: false,
            },
            event,
            args,
            offset,
            ack,
        },
    })
}

/// An array of strings (room names).
fn strings(r: &mut Reader<'_>) -> Option<Vec<String>> {
    let len = r.next_array_len()?;
    let mut out = Vec::with_capacity(len.min(16));
    for _ in 0..len {
        out.push(r.next_str()?.to_owned());
    }
    Some(out)
}
