//! MessagePack: a packet of the msgpack parser (one binary message, as a client sends it) and a
//! bare value (what the bus decoders read). No panic; what decodes, encoded again, decodes, and
//! encoding that gives the same bytes (a fixed point after one round: the decoder maps
//! notepack's `undefined` and ArrayBuffers to plain values, and floats compare by their bytes).

#![no_main]

use libfuzzer_sys::fuzz_target;
use volley_fuzz::packet_ref;
use volley_protocol::msgpack;

fuzz_target!(|data: &[u8]| {
    if let Ok(packet) = msgpack::decode(data) {
        if let Some(once) = packet_ref(&packet).and_then(|p| msgpack::encode(&p).ok()) {
            let again = msgpack::decode(&once).expect("what encode wrote decodes");
            let twice = msgpack::encode(&packet_ref(&again).expect("not a CONNECT"))
                .expect("what decoded from encode encodes");
            assert_eq!(once, twice);
        }
    }
    if let Ok(value) = msgpack::read_value(data) {
        let once = msgpack::write_value(&value).expect("a value read encodes");
        let again = msgpack::read_value(&once).expect("what write_value wrote reads");
        let twice = msgpack::write_value(&again).expect("a value read encodes");
        assert_eq!(once, twice);
    }
});
