//! python-socketio's pub/sub messages, as a node reads them from python managers: JSON (or
//! kombu's JSON string of JSON). No panic; an emit that decodes, encoded as Volley publishes it
//! for python nodes, decodes to the same emit, and that encoding is a fixed point.

#![no_main]

use libfuzzer_sys::fuzz_target;
use volley_protocol::cluster::python::{self, EmitRef, Method};

fuzz_target!(|data: &[u8]| {
    let Ok(msg) = python::decode(data) else {
        return;
    };
    let Method::Emit(emit) = msg.method else {
        return;
    };
    let encode = |e: &python::Emit| {
        python::encode_emit(
            "fuzz",
            &EmitRef {
                namespace: &e.namespace,
                event: &e.event,
                args: &e.args,
                rooms: &e.rooms,
                skip_sids: &e.skip_sids,
            },
        )
    };
    let Ok(once) = encode(&emit) else {
        return;
    };
    let again = python::decode(&once).expect("what encode wrote decodes");
    assert!(again.from_volley);
    let Method::Emit(back) = again.method else {
        panic!("an emit reads back as an emit")
    };
    assert_eq!(
        (&back.event, &back.namespace, &back.rooms, &back.skip_sids, back.args.len()),
        (&emit.event, &emit.namespace, &emit.rooms, &emit.skip_sids, emit.args.len())
    );
    assert_eq!(encode(&back).expect("and encodes again"), once);
});
