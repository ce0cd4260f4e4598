//! Event handlers: sync and async, return value as ack, catch-all, typed arguments, binary,
//! server-to-client calls with and without timeout.

use std::time::Duration;

use serde_json::json;
use volley::{AckError, Args, Server, Socket};
use volley_tests::puppet::Puppet;
use volley_tests::TestResult;

use crate::serve;

fn server() -> Server {
    let io = Server::builder().build();
    let nsp = io.of("/");
    // sync handler, typed tuple arguments, return value is the ack
    nsp.on("add", |_s: Socket, (a, b): (i64, i64)| a + b);
    // async handler with a struct argument
    #[derive(serde::Deserialize)]
    struct Greet {
        name: String,
    }
    nsp.on("greet", |_s: Socket, g: Greet| async move {
        tokio::task::yield_now().await;
        format!("hello {}", g.name)
    });
    // a tuple return value is several ack arguments
    nsp.on("pair", |_s: Socket, ()| (1, "two"));
    // binary in, binary out (as bytes)
    nsp.on("reverse", |_s: Socket, data: bytes::Bytes| {
        let mut v = data.to_vec();
        v.reverse();
        bytes::Bytes::from(v)
    });
    // emit with several arguments including binary, from an async handler
    nsp.on("mixed", |s: Socket, ()| async move {
        let _ = s
            .emit(
                "mixed",
                &(1, bytes::Bytes::from_static(&[9, 8]), json!({"k": [true]})),
            )
            .await;
    });
    // catch-all: event name first
    nsp.on("*", |_s: Socket, args: Args| args);
    // server-to-client call with the ack's value sent back
    nsp.on("call-me", |s: Socket, ()| async move {
        let answer: Result<Args, AckError> = s
            .call_timeout("question", &"ready?", Duration::from_secs(5))
            .await;
        match answer {
            Ok(args) => s.emit("answer", &args).await,
            Err(e) => s.emit("answer-error", &e.to_string()).await,
        }
        .ok();
    });
    nsp.on("call-timeout", |s: Socket, ()| async move {
        let answer: Result<String, AckError> = s
            .call_timeout("silent", &(), Duration::from_millis(200))
            .await;
        let _ = s
            .emit("timed-out", &matches!(answer, Err(AckError::Timeout)))
            .await;
    });
    // the server's own emits of reserved names are refused, with the reason in the ack
    nsp.on("emit-reserved", |s: Socket, event: String| async move {
        let own = s.emit(&event, &()).await.map_err(|e| e.to_string());
        let to_all = s
            .namespace()
            .emit(&event, &())
            .await
            .map_err(|e| e.to_string());
        let acked = s.namespace().to(s.id()).emit_with_ack(&event, &()).await;
        let acked = acked.map(|_| ()).map_err(|e| e.to_string());
        (own.err(), to_all.err(), acked.err())
    });
    io
}

#[tokio::test]
async fn the_server_refuses_to_emit_reserved_event_names() -> TestResult {
    let srv = serve(&server()).await?;
    let mut c = Puppet::spawn(srv.url(), "websocket").await?;
    c.connect("/", None).await?;
    for event in ["disconnect", "connect", "connect_error", "newListener"] {
        let refused = json!(format!("{event:?} is a reserved event name"));
        assert_eq!(
            c.emit_ack("/", "emit-reserved", json!([event])).await?,
            json!([refused, refused, refused]),
            "emitting {event}"
        );
    }
    // a name that is not reserved goes through
    assert_eq!(
        c.emit_ack("/", "emit-reserved", json!(["disconnected"]))
            .await?,
        json!([null, null, null])
    );
    assert_eq!(c.next_event("/", "disconnected").await?, json!([]));
    Ok(())
}

#[tokio::test]
async fn sync_and_async_handlers_ack_with_their_return_value() -> TestResult {
    let srv = serve(&server()).await?;
    let mut c = Puppet::spawn(srv.url(), "websocket").await?;
    c.connect("/", None).await?;
    assert_eq!(c.emit_ack("/", "add", json!([2, 3])).await?, json!([5]));
    assert_eq!(
        c.emit_ack("/", "greet", json!([{"name": "ada"}])).await?,
        json!(["hello ada"])
    );
    assert_eq!(c.emit_ack("/", "pair", json!([])).await?, json!([1, "two"]));
    Ok(())
}

#[tokio::test]
async fn binary_arguments_round_trip_as_binary() -> TestResult {
    let srv = serve(&server()).await?;
    for transport in ["polling", "websocket"] {
        let mut c = Puppet::spawn(srv.url(), transport).await?;
        c.connect("/", None).await?;
        let ack = c
            .emit_ack("/", "reverse", json!([{"$binary": "010203"}]))
            .await?;
        assert_eq!(ack, json!([{"$binary": "030201"}]), "over {transport}");
        c.emit("/", "mixed", json!([])).await?;
        assert_eq!(
            c.next_event("/", "mixed").await?,
            json!([1, {"$binary": "0908"}, {"k": [true]}])
        );
    }
    Ok(())
}

#[tokio::test]
async fn catch_all_receives_the_event_name_first() -> TestResult {
    let srv = serve(&server()).await?;
    let mut c = Puppet::spawn(srv.url(), "websocket").await?;
    c.connect("/", None).await?;
    assert_eq!(
        c.emit_ack("/", "no-such-handler", json!([1, {"a": "b"}]))
            .await?,
        json!(["no-such-handler", 1, {"a": "b"}])
    );
    Ok(())
}

#[tokio::test]
async fn call_awaits_the_client_ack_or_times_out() -> TestResult {
    let srv = serve(&server()).await?;
    let mut c = Puppet::spawn(srv.url(), "polling").await?;
    c.connect("/", None).await?;
    c.reply("/", "question", json!(["yes", 42])).await?;
    c.emit("/", "call-me", json!([])).await?;
    let question = c.next_event("/", "question").await?;
    assert_eq!(question, json!(["ready?"]));
    assert_eq!(c.next_event("/", "answer").await?, json!(["yes", 42]));
    // a client that never acks: the call ends with a timeout error
    c.silence("/", "silent").await?;
    c.emit("/", "call-timeout", json!([])).await?;
    assert_eq!(c.next_event("/", "timed-out").await?, json!([true]));
    Ok(())
}
