//! Engine.IO: one text packet (a WebSocket text frame) and a long-polling payload (a POST body),
//! as a client sends them. No panic; a decoded packet written back decodes to itself (and to
//! the same text, for the types that carry data); a binary record written back decodes to the
//! same bytes.

#![no_main]

use libfuzzer_sys::fuzz_target;
use volley_protocol::engine::{self, Item, Packet, SEPARATOR};

fn text_round_trip(frame: &str, packet: &Packet<'_>) {
    let mut out = String::new();
    packet.write_to(&mut out);
    assert_eq!(engine::decode_text(&out).ok().as_ref(), Some(packet));
    if matches!(
        packet,
        Packet::Ping(_) | Packet::Pong(_) | Packet::Message(_)
    ) {
        assert_eq!(out, frame);
    }
}

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    if let Ok(packet) = engine::decode_text(text) {
        text_round_trip(text, &packet);
    }
    let mut rebuilt = String::new();
    let mut items = Vec::new();
    for (record, item) in text.split(SEPARATOR).zip(engine::decode_payload(text)) {
        let Ok(item) = item else {
            continue;
        };
        if !rebuilt.is_empty() {
            rebuilt.push(SEPARATOR);
        }
        match &item {
            Item::Text(packet) => {
                text_round_trip(record, packet);
                packet.write_to(&mut rebuilt);
            }
            Item::Binary(data) => engine::write_binary_record(&mut rebuilt, data),
        }
        items.push(item);
    }
    // the records that decoded, written again as one payload, decode to the same items
    if !items.is_empty() {
        let again: Vec<Item<'_>> = engine::decode_payload(&rebuilt)
            .map(|item| item.expect("a payload written from decoded records decodes"))
            .collect();
        assert_eq!(again, items);
    }
});
