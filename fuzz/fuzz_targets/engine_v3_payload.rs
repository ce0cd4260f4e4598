//! Engine.IO v3: a long-polling POST body as `socket.io-client` 2.x sends it, as a text payload
//! (length-prefixed records, binary as `b4` + base64) and as a binary payload. No panic; the
//! records that decoded, written again as one payload of the same form, decode to the same items.

#![no_main]

use libfuzzer_sys::fuzz_target;
use volley_protocol::engine::{v3, Item};

fuzz_target!(|data: &[u8]| {
    let items: Vec<Item<'_>> = v3::decode_binary_payload(data)
        .map_while(Result::ok)
        .collect();
    let mut rebuilt = Vec::new();
    for item in &items {
        match item {
            Item::Text(packet) => {
                let mut text = String::new();
                packet.write_to(&mut text);
                v3::write_binary_text_record(&mut rebuilt, &text);
            }
            Item::Binary(bytes) => v3::write_binary_data_record(&mut rebuilt, bytes),
        }
    }
    if !items.is_empty() {
        let again: Vec<Item<'_>> = v3::decode_binary_payload(&rebuilt)
            .map(|item| item.expect("a binary payload written from decoded records decodes"))
            .collect();
        assert_eq!(again, items);
    }

    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let items: Vec<Item<'_>> = v3::decode_payload(text).map_while(Result::ok).collect();
    let mut rebuilt = String::new();
    for item in &items {
        match item {
            Item::Text(packet) => {
                let mut text = String::new();
                packet.write_to(&mut text);
                v3::write_text_record(&mut rebuilt, &text);
            }
            Item::Binary(bytes) => v3::write_base64_record(&mut rebuilt, bytes),
        }
    }
    if !items.is_empty() {
        let again: Vec<Item<'_>> = v3::decode_payload(&rebuilt)
            .map(|item| item.expect("a text payload written from decoded records decodes"))
            .collect();
        assert_eq!(again, items);
    }
});
