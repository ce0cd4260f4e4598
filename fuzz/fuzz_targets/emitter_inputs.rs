//! The emitter's inputs: what an application hands it (key, namespace, rooms, flags, event name,
//! arguments through serde) and the broker addresses it is given (a Kafka broker list and topic,
//! an AMQP URL and exchange). No panic; an emit that is accepted publishes on the channel Node's
//! emitter would choose a payload that a node decodes to the same namespace, event, targets and
//! flags, with as many arguments; a request decodes to the same request.

#![no_main]

use arbitrary::Arbitrary;
use libfuzzer_sys::fuzz_target;
use volley_emitter::fuzzing::{self, Recorder};
use volley_emitter::{Emitter, EmitterError};
use volley_fuzz::Arg;
use volley_protocol::args::to_args;
use volley_protocol::classic::{self, Opts, Request, EMITTER_UID};

#[derive(Debug, Arbitrary)]
enum Action {
    Emit(Vec<Arg>),
    EmitOne(Arg),
    Join(Vec<String>),
    Leave(Vec<String>),
    Disconnect(bool),
    ServerSideEmit(Vec<Arg>),
}

#[derive(Debug, Arbitrary)]
struct Input {
    key: Option<String>,
    nsp: Option<String>,
    rooms: Vec<String>,
    except: Vec<String>,
    volatile: bool,
    compress: Option<bool>,
    event: String,
    action: Action,
    brokers: String,
    topic: String,
    url: String,
    exchange: String,
}

/// Each room once, in the order first given.
fn dedup(rooms: &[String]) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    for room in rooms {
        if !out.contains(room) {
            out.push(room.clone());
        }
    }
    out
}

fn published(
    recorder: &Recorder,
    result: Option<Result<(), EmitterError>>,
) -> Option<(String, bytes::Bytes)> {
    let result = result.expect("the recording emitter never waits");
    let mut sent = recorder.take();
    match result {
        Ok(()) => {
            assert_eq!(sent.len(), 1);
            sent.pop()
        }
        Err(_) => {
            assert!(sent.is_empty(), "published despite an error");
            None
        }
    }
}

fuzz_target!(|input: Input| {
    let _ = fuzzing::kafka_target(&input.brokers, &input.topic);
    let _ = fuzzing::amqp_target(&input.url, &input.exchange);

    let (root, recorder) = fuzzing::recording();
    let mut emitter: Emitter = root;
    if let Some(key) = &input.key {
        emitter = emitter.with_key(key.as_str());
    }
    if let Some(nsp) = &input.nsp {
        emitter = emitter.of(nsp);
    }
    let nsp = emitter.namespace().to_owned();
    assert!(nsp.starts_with('/'));
    let key = emitter.key().to_owned();
    let mut operator = emitter
        .to(input.rooms.as_slice())
        .except(input.except.as_slice());
    if input.volatile {
        operator = operator.volatile();
    }
    if let Some(compress) = input.compress {
        operator = operator.compress(compress);
    }
    let target = Opts {
        rooms: dedup(&input.rooms),
        except: dedup(&input.except),
        ..Opts::default()
    };
    let request_channel = classic::request_channel(&key, &nsp);
    match &input.action {
        Action::Emit(args) => emit(&operator, &recorder, &input, &key, &nsp, &target, args),
        Action::EmitOne(arg) => emit(&operator, &recorder, &input, &key, &nsp, &target, arg),
        Action::Join(rooms) | Action::Leave(rooms) => {
            let join = matches!(input.action, Action::Join(_));
            let result = if join {
                fuzzing::now(operator.join(rooms.as_slice()))
            } else {
                fuzzing::now(operator.leave(rooms.as_slice()))
            };
            if let Some((channel, payload)) = published(&recorder, result) {
                assert_eq!(channel, request_channel);
                let expected = if join {
                    Request::Join {
                        opts: target,
                        rooms: rooms.clone(),
                    }
                } else {
                    Request::Leave {
                        opts: target,
                        rooms: rooms.clone(),
                    }
                };
                assert_eq!(
                    classic::decode_request(&payload).expect("a node reads it"),
                    expected
                );
            }
        }
        Action::Disconnect(close) => {
            let result = fuzzing::now(operator.disconnect(*close));
            if let Some((channel, payload)) = published(&recorder, result) {
                assert_eq!(channel, request_channel);
                assert_eq!(
                    classic::decode_request(&payload).expect("a node reads it"),
                    Request::Disconnect {
                        opts: target,
                        close: *close
                    }
                );
            }
        }
        Action::ServerSideEmit(args) => {
            let result = fuzzing::now(emitter.server_side_emit(&input.event, args));
            if let Some((channel, payload)) = published(&recorder, result) {
                assert_eq!(channel, request_channel);
                match classic::decode_request(&payload).expect("a node reads it") {
                    Request::ServerSideEmit {
                        uid,
                        event,
                        args: decoded,
                    } => {
                        assert_eq!(uid.as_deref(), Some(EMITTER_UID));
                        assert_eq!(event, input.event);
                        let args = to_args(args).expect("the emit encoded them");
                        assert_eq!(decoded.len(), args.len());
                    }
                    other => panic!("{other:?}"),
                }
            }
        }
    }
});

fn emit<T: serde::Serialize + ?Sized>(
    operator: &volley_emitter::BroadcastOperator,
    recorder: &Recorder,
    input: &Input,
    key: &str,
    nsp: &str,
    target: &Opts,
    args: &T,
) {
    let result = fuzzing::now(operator.emit(&input.event, args));
    let reserved = volley_emitter::RESERVED_EVENTS.contains(&input.event.as_str());
    if reserved {
        assert!(matches!(result, Some(Err(EmitterError::ReservedEvent(_)))));
    }
    let Some((channel, payload)) = published(recorder, result) else {
        return;
    };
    assert!(!reserved);
    let room = match target.rooms.as_slice() {
        [room] => Some(room.as_str()),
        _ => None,
    };
    assert_eq!(channel, classic::broadcast_channel(key, nsp, room));
    let broadcast = classic::decode_broadcast(&payload).expect("a node reads it");
    assert_eq!(broadcast.uid, EMITTER_UID);
    assert_eq!(broadcast.nsp, nsp);
    assert_eq!(broadcast.event, input.event);
    let expected = Opts {
        volatile: input.volatile,
        compress: input.compress,
        ..target.clone()
    };
    assert_eq!(broadcast.opts, expected);
    let args = to_args(args).expect("the emit encoded them");
    assert_eq!(broadcast.args.len(), args.len());
}
