//! An event whose arguments do not fit the handler's types gets an error ack (when the client
//! asked for one) instead of leaving the client to its ack timeout.

use volley::{Server, Socket};
use volley_tests::server::TestServer;
use volley_tests::wire::{Frame, Ws};
use volley_tests::{bail, TestResult};

use crate::support::PATH;

fn error_ack(frame: &Frame, id: u32) -> bool {
    let Frame::Text(t) = frame else {
        return false;
    };
    let Some(json) = t.strip_prefix(&format!("43{id}")) else {
        return false;
    };
    let Ok(serde_json::Value::Array(args)) = serde_json::from_str(json) else {
        return false;
    };
    args.len() == 1
        && args[0]["error"] == "invalid arguments"
        && args[0]["message"].as_str().is_some_and(|m| !m.is_empty())
}

#[tokio::test]
async fn arguments_that_do_not_fit_get_an_error_ack() -> TestResult {
    let io = Server::builder().build();
    io.of("/")
        .on("add", |_s: Socket, (a, b): (i64, i64)| a + b)
        .on("later", |_s: Socket, n: u32| async move { n });
    let server = TestServer::spawn(io.router()).await?;
    let (mut ws, _) = Ws::open(&server, PATH).await?;
    ws.send_text("40").await?;
    ws.next_packet().await?;
    ws.send_text(r#"421["add","one",2]"#).await?;
    let first = ws.next_packet().await?;
    ws.send_text(r#"422["later",{"not":"a number"}]"#).await?;
    let second = ws.next_packet().await?;
    if !error_ack(&first, 1) || !error_ack(&second, 2) {
        bail!("expected error acks 1 and 2, got {first:?} and {second:?}");
    }
    // the handlers still answer arguments that fit
    ws.send_text(r#"423["add",1,2]"#).await?;
    ws.expect_text("433[3]").await
}
