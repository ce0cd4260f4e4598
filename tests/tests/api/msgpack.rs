//! The msgpack parser option, against the npm client using `socket.io-msgpack-parser`: events,
//! binary, acks both ways, namespaces, refusal, on both transports.

use std::time::Duration;

use serde_json::json;
use volley::{Args, ConnectError, Parser, Server, Socket, Value};
use volley_tests::puppet::Puppet;
use volley_tests::TestResult;

use crate::serve;

fn server() -> Server {
    let io = Server::builder().parser(Parser::MsgPack).build();
    io.of("/").on("echo", |_s: Socket, args: Args| args);
    io.of("/").on("call-me", |s: Socket, ()| async move {
        let answer: Result<Args, _> = s.call_timeout("q", &(), Duration::from_secs(5)).await;
        if let Ok(args) = answer {
            let _ = s.emit("answered", &args).await;
        }
    });
    io.of("/").on("bin", |s: Socket, ()| async move {
        let _ = s
            .emit("bin", &(bytes::Bytes::from_static(&[1, 2, 3]), "x"))
            .await;
    });
    io.of("/custom")
        .on_connect(|_s: Socket, auth: Option<Value>| match auth {
            Some(_) => Ok(()),
            None => Err(ConnectError::new("no auth").with_data(&json!({"code": 7}))),
        })
        .on("where", |s: Socket, ()| s.ns().to_owned());
    io
}

#[tokio::test]
async fn msgpack_clients_talk_to_a_msgpack_server() -> TestResult {
    let srv = serve(&server()).await?;
    for transport in ["polling", "websocket", "upgrade"] {
        let mut c = Puppet::spawn_with(srv.url(), transport, "msgpack").await?;
        c.connect("/", None).await?;
        assert_eq!(
            c.emit_ack(
                "/",
                "echo",
                json!([1, "two", {"three": [3.5, null]}, {"$binary": "ff00"}])
            )
            .await?,
            json!([1, "two", {"three": [3.5, null]}, {"$binary": "ff00"}]),
            "over {transport}"
        );
        c.emit("/", "bin", json!([])).await?;
        assert_eq!(
            c.next_event("/", "bin").await?,
            json!([{"$binary": "010203"}, "x"])
        );
        c.reply("/", "q", json!(["a", 2])).await?;
        c.emit("/", "call-me", json!([])).await?;
        assert_eq!(c.next_event("/", "answered").await?, json!(["a", 2]));
        c.connect("/custom", Some(json!({"k": 1}))).await?;
        assert_eq!(
            c.emit_ack("/custom", "where", json!([])).await?,
            json!(["/custom"])
        );
    }
    let mut refused = Puppet::spawn_with(srv.url(), "websocket", "msgpack").await?;
    let answer = refused.try_connect("/custom", None).await?;
    assert_eq!(answer["connect_error"]["message"], json!("no auth"));
    assert_eq!(answer["connect_error"]["data"], json!({"code": 7}));
    Ok(())
}

#[tokio::test]
async fn a_json_client_cannot_speak_to_a_msgpack_server() -> TestResult {
    let srv = serve(&server()).await?;
    let mut c = Puppet::spawn(srv.url(), "websocket").await?;
    let answer = c.try_connect("/", None).await?;
    assert!(
        answer.get("sid").is_none(),
        "a JSON client must not connect: {answer}"
    );
    Ok(())
}
