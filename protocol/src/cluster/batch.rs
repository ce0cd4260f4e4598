//! Several cluster messages in one bus message.
//!
//! A node with more than one message waiting for the same bus channel publishes them together:
//! one broker round trip, one delivery on every other node, instead of one per message. A batch
//! starts with the byte `0xC1`, which MessagePack never uses (so a batch is never mistaken for a
//! single [`Message`](super::Message), nor for the JSON or MessagePack of Node's emitters), and
//! holds each message as a 4-byte big-endian length followed by that many bytes.
//!
//! ```
//! use volley_protocol::cluster::batch::{self, Batch};
//!
//! let mut batch = Batch::new();
//! assert!(batch.push(b"\x81\xa3uid\xa1a"));
//! assert!(batch.push(b"\x81\xa3uid\xa1b"));
//! let bytes = batch.finish();
//! assert!(batch::is_batch(&bytes));
//!
//! let parts = batch::split(&bytes).unwrap();
//! assert_eq!(parts, [&b"\x81\xa3uid\xa1a"[..], &b"\x81\xa3uid\xa1b"[..]]);
//! ```

use bytes::{BufMut, Bytes, BytesMut};

use crate::DecodeError;

/// The first byte of a batch (`0xC1`: "never used" in MessagePack).
pub const MARKER: u8 = 0xC1;

/// The bytes a batch adds to each message it holds (its length).
pub const OVERHEAD_PER_MESSAGE: usize = 4;

/// Whether `bytes` is a batch rather than one message.
pub fn is_batch(bytes: &[u8]) -> bool {
    bytes.first() == Some(&MARKER)
}

/// A batch being written.
#[derive(Debug)]
pub struct Batch {
    buf: BytesMut,
    count: usize,
}

impl Default for Batch {
    fn default() -> Self {
        Batch::new()
    }
}

impl Batch {
    /// An empty batch.
    pub fn new() -> Batch {
        let mut buf = BytesMut::with_capacity(1024);
        buf.put_u8(MARKER);
        Batch { buf, count: 0 }
    }

    /// The size of the batch with `message` added.
    pub fn len_with(&self, message: &[u8]) -> usize {
        self.buf.len() + OVERHEAD_PER_MESSAGE + message.len()
    }

    /// The messages in the batch.
    pub fn count(&self) -> usize {
        self.count
    }

    /// Adds one encoded message; `false` (and nothing added) for an empty message or one of
    /// 4 GiB or more, which a batch cannot hold: publish those on their own.
    pub fn push(&mut self, message: &[u8]) -> bool {
        let Ok(len) = u32::try_from(message.len()) else {
            return false;
        };
        if len == 0 {
            return false;
        }
        self.buf.put_u32(len);
        self.buf.put_slice(message);
        self.count += 1;
        true
    }

    /// The bytes to publish, leaving the batch empty for reuse.
    pub fn finish(&mut self) -> Bytes {
        let bytes = self.buf.split().freeze();
        self.buf.put_u8(MARKER);
        self.count = 0;
        bytes
    }
}

/// The messages of a batch, in order, checked whole before the first is handed out: a batch
/// that is truncated, has trailing bytes, holds an empty message or another batch, or does not
/// start with [`MARKER`], is an error as a whole. Nothing is allocated.
///
/// ```
/// use volley_protocol::cluster::batch::{self, Batch};
///
/// let mut batch = Batch::new();
/// assert!(batch.push(b"\x81\xa3uid\xa1a"));
/// let bytes = batch.finish();
/// assert_eq!(batch::messages(&bytes).unwrap().count(), 1);
/// assert!(batch::messages(b"\xc1\x00\x00\x00\x05abc").is_err()); // truncated
/// ```
pub fn messages(bytes: &[u8]) -> Result<impl Iterator<Item = &[u8]>, DecodeError> {
    let Some((&MARKER, body)) = bytes.split_first() else {
        return Err(invalid("does not start with 0xC1"));
    };
    parts(body).try_for_each(|part| part.map(drop))?;
    Ok(parts(body).map_while(Result::ok))
}

/// [`messages`], collected.
///
/// ```
/// use volley_protocol::cluster::batch;
///
/// assert!(batch::split(b"\xc1\x00\x00\x00\x05abc").is_err()); // truncated
/// assert!(batch::split(b"\xc1").unwrap().is_empty());
/// ```
pub fn split(bytes: &[u8]) -> Result<Vec<&[u8]>, DecodeError> {
    Ok(messages(bytes)?.collect())
}

/// The messages after the marker, each checked on its own, until the first that is not.
fn parts(mut rest: &[u8]) -> impl Iterator<Item = Result<&[u8], DecodeError>> {
    std::iter::from_fn(move || {
        if rest.is_empty() {
            return None;
        }
        Some(next_part(rest).map(|(part, tail)| {
            rest = tail;
            part
        }))
    })
}

/// The first message of `rest` and what follows it.
fn next_part(rest: &[u8]) -> Result<(&[u8], &[u8]), DecodeError> {
    let Some((len, tail)) = rest.split_first_chunk::<4>() else {
        return Err(invalid("truncated length"));
    };
    let len = u32::from_be_bytes(*len) as usize;
    if len == 0 {
        return Err(invalid("empty message"));
    }
    if len > tail.len() {
        return Err(invalid("truncated message"));
    }
    let (part, tail) = tail.split_at(len);
    if is_batch(part) {
        return Err(invalid("a batch inside a batch"));
    }
    Ok((part, tail))
}

fn invalid(why: &str) -> DecodeError {
    DecodeError::InvalidPayload(format!("cluster batch: {why}"))
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_keeps_order_and_bytes() {
        let messages: Vec<Vec<u8>> = (0..100u8)
            .map(|i| vec![0x90 | (i % 16); i as usize + 1])
            .collect();
        let mut batch = Batch::new();
        for m in &messages {
            assert!(batch.push(m));
        }
        assert!(!batch.push(b""));
        assert_eq!(batch.count(), 100);
        let bytes = batch.finish();
        assert_eq!(batch.count(), 0);
        let parts = split(&bytes).unwrap();
        assert_eq!(parts.len(), 100);
        for (p, m) in parts.iter().zip(&messages) {
            assert_eq!(*p, &m[..]);
        }
        // the batch is reusable after finish
        assert!(batch.push(b"x"));
        assert_eq!(split(&batch.finish()).unwrap(), [&b"x"[..]]);
    }

    #[test]
    fn len_with_predicts_the_size() {
        let mut batch = Batch::new();
        let predicted = batch.len_with(b"hello");
        assert!(batch.push(b"hello"));
        assert_eq!(batch.finish().len(), predicted);
    }

    #[test]
    fn malformed_batches_are_errors_not_panics() {
        for bad in [
            &b""[..],
            b"\x93\x00\x01",
            b"\xc1\x00",
            b"\xc1\x00\x00\x00",
            b"\xc1\x00\x00\x00\x00",
            b"\xc1\x00\x00\x00\x02a",
            b"\xc1\xff\xff\xff\xffabc",
            b"\xc1\x00\x00\x00\x01a\x00",
            b"\xc1\x00\x00\x00\x02\xc1a",
        ] {
            assert!(split(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn never_mistaken_for_msgpack_or_json() {
        assert!(!is_batch(b"\x84\xa3uid"));
        assert!(!is_batch(b"\x93\xa7emitter"));
        assert!(!is_batch(b"{\"type\":4}"));
        assert!(is_batch(&Batch::new().finish()));
    }
}
