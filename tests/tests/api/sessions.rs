//! Sessions: saved, read back, edited through a guard; one value per type; per socket and per
//! namespace; gone at disconnect.

use serde_json::json;
use volley::{Server, Sid, Socket};
use volley_tests::puppet::Puppet;
use volley_tests::TestResult;

use crate::serve;

/// Session values are serializable: they follow a socket recovered on another node.
#[derive(Clone, Default, serde::Serialize, serde::Deserialize)]
struct Profile {
    nick: String,
    messages: u32,
}

/// A second session value, of another type.
#[derive(Clone, serde::Serialize, serde::Deserialize)]
struct Admin(bool);

fn server() -> Server {
    let io = Server::builder().build();
    for ns in ["/", "/other"] {
        let nsp = io.of(ns);
        nsp.on("nick", |s: Socket, nick: String| {
            s.save_session(Profile { nick, messages: 0 });
        });
        nsp.on("message", |s: Socket, _text: String| {
            let mut profile = s.session::<Profile>();
            profile.messages += 1;
            (profile.nick.clone(), profile.messages)
        });
        nsp.on("whoami", |s: Socket, ()| {
            s.get_session::<Profile>().map(|p| (p.nick, p.messages))
        });
        // a second value of another type stays beside the profile
        nsp.on("admin", |s: Socket, admin: bool| {
            s.save_session(Admin(admin));
            let profile = s.get_session::<Profile>().map(|p| p.nick);
            (profile, s.get_session::<Admin>().map(|a| a.0))
        });
        nsp.on("drop-admin", |s: Socket, ()| {
            s.remove_session::<Admin>().map(|a| a.0)
        });
        nsp.on("peek", |s: Socket, sid: String| {
            let sid = Sid::parse(&sid)?;
            s.namespace().get_session::<Profile>(sid).map(|p| p.nick)
        });
    }
    io
}

#[tokio::test]
async fn sessions_are_per_socket_per_namespace_and_end_with_it() -> TestResult {
    let srv = serve(&server()).await?;
    let mut a = Puppet::spawn(srv.url(), "websocket").await?;
    let sid_a = a.connect("/", None).await?;
    a.connect("/other", None).await?;
    let mut b = Puppet::spawn(srv.url(), "websocket").await?;
    b.connect("/", None).await?;

    assert_eq!(a.emit_ack("/", "whoami", json!([])).await?, json!([null]));
    a.emit_ack("/", "nick", json!(["ada"])).await?;
    assert_eq!(
        a.emit_ack("/", "message", json!(["x"])).await?,
        json!(["ada", 1])
    );
    assert_eq!(
        a.emit_ack("/", "message", json!(["y"])).await?,
        json!(["ada", 2])
    );
    // an Option is one argument: the tuple inside stays an array
    assert_eq!(
        a.emit_ack("/", "whoami", json!([])).await?,
        json!([["ada", 2]])
    );
    // a value of another type joins the profile instead of replacing it
    assert_eq!(
        a.emit_ack("/", "admin", json!([true])).await?,
        json!(["ada", true])
    );
    assert_eq!(
        a.emit_ack("/", "message", json!(["z"])).await?,
        json!(["ada", 3])
    );
    assert_eq!(
        a.emit_ack("/", "drop-admin", json!([])).await?,
        json!([true])
    );
    assert_eq!(
        a.emit_ack("/", "admin", json!([false])).await?,
        json!(["ada", false])
    );
    // another namespace of the same client has its own session
    assert_eq!(
        a.emit_ack("/other", "whoami", json!([])).await?,
        json!([null])
    );
    // another socket reads it by sid through the namespace
    assert_eq!(
        b.emit_ack("/", "peek", json!([sid_a])).await?,
        json!(["ada"])
    );

    // gone at disconnect: a new socket of the same client starts empty
    a.disconnect("/").await?;
    assert_eq!(
        b.emit_ack("/", "peek", json!([sid_a])).await?,
        json!([null])
    );
    a.connect("/", None).await?;
    assert_eq!(a.emit_ack("/", "whoami", json!([])).await?, json!([null]));
    Ok(())
}
