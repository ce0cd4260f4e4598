//! What waits in a session's outgoing queue.

use std::sync::Arc;

use axum::extract::ws::Utf8Bytes;
use bytes::Bytes;
use volley_protocol::engine::{write_binary_record, SEPARATOR};

/// One item of a session's outgoing queue. A broadcast builds its frame once and every recipient
/// gets a cheap clone (reference-counted bytes).
#[derive(Debug, Clone)]
pub enum Frame {
    /// A ping from the server (`2`).
    Ping,
    /// A close packet (`1`): the session ends once it is written.
    Close,
    /// A complete text packet, type digit included (usually a message, `4…`).
    Text(Utf8Bytes),
    /// A binary message.
    Binary(Bytes),
    /// A text message followed by its binary attachments, kept together so that concurrent senders
    /// cannot interleave with them. Behind one pointer: it is rare, and every queued frame takes
    /// the room of the largest kind.
    Group(Arc<Group>),
}

/// A text message and its binary attachments, sent as one [`Frame::Group`].
///
/// ```
/// use volley::engine::{Frame, Group};
/// let frame = Frame::group("451-[\"file\",{\"_placeholder\":true,\"num\":0}]", vec![vec![1u8, 2].into()]);
/// assert!(matches!(frame, Frame::Group(g) if g.attachments.len() == 1));
/// ```
#[derive(Debug)]
pub struct Group {
    /// The text packet, type digit included.
    pub text: Utf8Bytes,
    /// The attachments, in order.
    pub attachments: Vec<Bytes>,
}

impl Frame {
    /// A message frame (`4` + text).
    pub fn message(text: &str) -> Frame {
        let mut s = String::with_capacity(text.len() + 1);
        s.push('4');
        s.push_str(text);
        Frame::Text(s.into())
    }

    /// A text packet followed by its binary attachments.
    pub fn group(text: impl Into<Utf8Bytes>, attachments: Vec<Bytes>) -> Frame {
        Frame::Group(Arc::new(Group {
            text: text.into(),
            attachments,
        }))
    }

    /// Rough size on the wire, used to cut long-polling responses at `maxPayload`.
    pub(crate) fn wire_len(&self) -> usize {
        match self {
            Frame::Ping | Frame::Close => 1,
            Frame::Text(t) => t.len(),
            Frame::Binary(b) => 1 + b.len().div_ceil(3) * 4,
            Frame::Group(g) => {
                g.text.len()
                    + g.attachments
                        .iter()
                        .map(|b| 2 + b.len().div_ceil(3) * 4)
                        .sum::<usize>()
            }
        }
    }

    /// Appends this frame to a long-polling payload (records separated by `\x1e`).
    pub(crate) fn write_polling(&self, out: &mut String) {
        if !out.is_empty() {
            out.push(SEPARATOR);
        }
        match self {
            Frame::Ping => out.push('2'),
            Frame::Close => out.push('1'),
            Frame::Text(t) => out.push_str(t.as_str()),
            Frame::Binary(b) => write_binary_record(out, b),
            Frame::Group(g) => {
                out.push_str(g.text.as_str());
                for b in &g.attachments {
                    out.push(SEPARATOR);
                    write_binary_record(out, b);
                }
            }
        }
    }
}
