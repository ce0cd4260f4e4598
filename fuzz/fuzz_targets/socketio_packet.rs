//! Socket.IO: the text form of a packet (what follows the Engine.IO `4`), as a client sends it,
//! with an attachment limit taken from the first byte. No panic; a complete packet (CONNECT
//! aside) encoded again reads back as itself.

#![no_main]

use libfuzzer_sys::fuzz_target;
use volley_fuzz::{packet_ref, text_round_trip};
use volley_protocol::packet::{self, Decoded};

fuzz_target!(|data: &[u8]| {
    let Some((&max, text)) = data.split_first() else {
        return;
    };
    let Ok(text) = std::str::from_utf8(text) else {
        return;
    };
    let Ok(Decoded::Complete(decoded)) = packet::decode(text, usize::from(max)) else {
        return;
    };
    let Some(to_encode) = packet_ref(&decoded) else {
        return;
    };
    if let Some(again) = text_round_trip(&to_encode) {
        assert_eq!(again, decoded, "{text:?}");
    }
});
