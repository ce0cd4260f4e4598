//! Volley's cluster messages as a node reads them from the bus (core/src/manager/cluster's
//! dispatch): a batch (`0xC1` then length-prefixed messages) or one message; the sender's uid
//! peeked first, then the message decoded, broadcasts through their fast path.
//!
//! No panic; the fast path reads exactly what the generic decoder reads; a decoded message
//! encodes to bytes that decode, with the uid in front where the peek finds it, and encoding
//! that gives the same bytes; the messages of a batch, batched again, split the same.

#![no_main]

use libfuzzer_sys::fuzz_target;
use volley_protocol::cluster::batch::{self, Batch};
use volley_protocol::cluster::Message;

fn one(bytes: &[u8]) {
    let _ = Message::peek_uid(bytes);
    let Ok(message) = Message::decode(bytes) else {
        return;
    };
    let generic = Message::decode_without_fast_path(bytes)
        .expect("the fast path accepted what the generic decoder refuses");
    // Debug compares NaN floats as equal and tells F32 from F64
    assert_eq!(format!("{generic:?}"), format!("{message:?}"));
    let Ok(once) = message.encode() else {
        return;
    };
    assert!(!batch::is_batch(&once));
    if message.uid.len() <= usize::from(u8::MAX) {
        assert_eq!(Message::peek_uid(&once), Some(message.uid.as_str()));
    }
    let again = Message::decode(&once).expect("what encode wrote decodes");
    let twice = again.encode().expect("what decoded from encode encodes");
    assert_eq!(once, twice);
}

fuzz_target!(|data: &[u8]| {
    if !batch::is_batch(data) {
        one(data);
        return;
    }
    let Ok(parts) = batch::split(data) else {
        return;
    };
    let mut rebuilt = Batch::new();
    for part in &parts {
        one(part);
        assert!(rebuilt.push(part));
    }
    assert_eq!(rebuilt.count(), parts.len());
    let rebuilt = rebuilt.finish();
    assert_eq!(&rebuilt[..], data);
});
