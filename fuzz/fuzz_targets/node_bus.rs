//! The Node format on the bus, as a node reads it from Node servers and emitters: a broadcast
//! (MessagePack `[uid, packet, opts]`) and a request (JSON, or MessagePack). No panic; what
//! decodes and can be encoded again (requests other nodes answer cannot) decodes, and encoding
//! that gives the same bytes. Also a message of Node's sharded adapter (JSON, or MessagePack): no
//! panic reading it, nor writing what was read.

#![no_main]

use libfuzzer_sys::fuzz_target;
use volley_protocol::classic::{self, Request};
use volley_protocol::cluster::node;

fuzz_target!(|data: &[u8]| {
    if let Ok(message) = node::from_sharded(data) {
        let _ = node::to_sharded(&message);
    }
    if let Ok(broadcast) = classic::decode_broadcast(data) {
        if let Ok(once) = classic::encode_broadcast(&broadcast.as_ref()) {
            let again = classic::decode_broadcast(&once).expect("what encode wrote decodes");
            let twice = classic::encode_broadcast(&again.as_ref()).expect("and encodes again");
            assert_eq!(once, twice);
            assert_eq!(
                (&again.uid, &again.nsp, &again.event, &again.opts),
                (
                    &broadcast.uid,
                    &broadcast.nsp,
                    &broadcast.event,
                    &broadcast.opts
                )
            );
        }
    }
    if let Ok(request) = classic::decode_request(data) {
        if matches!(request, Request::Unsupported { .. }) {
            return;
        }
        if let Ok(once) = classic::encode_request(&request) {
            let again = classic::decode_request(&once).expect("what encode wrote decodes");
            let twice = classic::encode_request(&again).expect("and encodes again");
            assert_eq!(once, twice);
        }
    }
});
