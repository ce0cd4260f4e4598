//! Binary attachments: a BINARY_EVENT / BINARY_ACK text packet followed by binary messages, the
//! way the server collects them (`PartialPacket::push`), from raw text or from arguments holding
//! binary values. No panic; the count left only goes down, the packet completes exactly at its
//! last attachment and no placeholder is left in it, a push after that is refused; a packet
//! whose arguments hold binary values reads back through text and attachments with as many arguments, and as itself
//! from then on.

#![no_main]

use arbitrary::{Arbitrary, Unstructured};
use bytes::Bytes;
use libfuzzer_sys::fuzz_target;
use volley_fuzz::{has_placeholder_map, packet_ref, text_round_trip, values};
use volley_protocol::packet::{self, DataRef, Decoded, PacketData, PacketRef};
use volley_protocol::DecodeError;

#[derive(Debug, Arbitrary)]
struct Raw<'a> {
    max: u8,
    text: &'a str,
    attachments: Vec<&'a [u8]>,
}

fn raw(input: Raw<'_>) {
    let Ok(Decoded::Partial(mut partial)) = packet::decode(input.text, usize::from(input.max))
    else {
        return;
    };
    let mut complete = None;
    for attachment in input.attachments {
        let left = partial.remaining();
        match partial.push(Bytes::copy_from_slice(attachment)) {
            Ok(None) => assert_eq!(partial.remaining() + 1, left),
            Ok(Some(packet)) => {
                assert_eq!(left, 1, "completed with {left} attachments left");
                assert_eq!(partial.remaining(), 0);
                complete = Some(packet);
            }
            Err(e) => {
                assert_eq!(e, DecodeError::UnexpectedAttachment);
                assert!(complete.is_some(), "refused before completion");
            }
        }
    }
    if let Some(packet) = complete {
        let args = match &packet.data {
            PacketData::Event { args, .. } | PacketData::Ack(args) => args,
            other => panic!("a binary packet decoded as {other:?}"),
        };
        assert!(!args.iter().any(has_placeholder_map), "{packet:?}");
        if let Some(to_encode) = packet_ref(&packet) {
            assert_eq!(text_round_trip(&to_encode).as_ref(), Some(&packet));
        }
    }
}

fn built(u: &mut Unstructured<'_>) -> arbitrary::Result<()> {
    let ns = format!("/{}", u.arbitrary::<&str>()?);
    let id: Option<u64> = u.arbitrary()?;
    let event: &str = u.arbitrary()?;
    let args = values(u)?;
    if args.iter().any(has_placeholder_map) {
        return Ok(());
    }
    let data = match id {
        Some(_) if u.arbitrary()? => DataRef::Ack(&args),
        _ => DataRef::Event { event, args: &args },
    };
    let packet = PacketRef { ns: &ns, id, data };
    let Some(again) = text_round_trip(&packet) else {
        return Ok(());
    };
    assert_eq!((again.ns.as_str(), again.id), (packet.ns, packet.id));
    let again_args = match &again.data {
        PacketData::Event { args, .. } | PacketData::Ack(args) => args,
        other => panic!("{other:?}"),
    };
    assert_eq!(again_args.len(), args.len());
    // the values JSON changed (floats, NaN) now read back as they are
    let to_encode = packet_ref(&again).expect("not a CONNECT");
    assert_eq!(text_round_trip(&to_encode).as_ref(), Some(&again));
    Ok(())
}

fuzz_target!(|data: &[u8]| {
    let mut u = Unstructured::new(data);
    match u.arbitrary::<bool>() {
        Ok(true) => {
            if let Ok(input) = Raw::arbitrary(&mut u) {
                raw(input);
            }
        }
        _ => {
            let _ = built(&mut u);
        }
    }
});
