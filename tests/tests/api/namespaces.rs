//! Namespaces: several on one connection, trait-based ones (singleton, methods by event name,
//! function handlers winning), the catch-all namespace `*`, and dynamic namespaces.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use serde_json::json;
use volley::handler::{Events, NamespaceHandler};
use volley::{Args, ConnectError, Server, Socket, Value};
use volley_tests::puppet::Puppet;
use volley_tests::TestResult;

use crate::serve;

#[derive(Default)]
struct Counter {
    hits: AtomicU64,
}

impl Counter {
    async fn hit(self: Arc<Self>, _socket: Socket, by: u64) -> u64 {
        self.hits.fetch_add(by, Ordering::SeqCst) + by
    }

    async fn both(self: Arc<Self>, _socket: Socket, _args: Args) -> &'static str {
        "method"
    }
}

impl NamespaceHandler for Counter {
    fn events(events: &mut Events<Self>) {
        events.on("hit", Self::hit).on("both", Self::both);
    }

    async fn on_connect(&self, _socket: &Socket, auth: Option<Value>) -> Result<(), ConnectError> {
        match auth {
            Some(Value::Map(m)) if !m.is_empty() => Ok(()),
            _ => Err(ConnectError::new("token required")),
        }
    }
}

#[tokio::test]
async fn namespaces_are_multiplexed_on_one_connection() -> TestResult {
    let io = Server::builder().build();
    io.of("/").on("where", |s: Socket, ()| s.ns().to_owned());
    io.of("/chat")
        .on("where", |s: Socket, ()| format!("chat:{}", s.ns()));
    let srv = serve(&io).await?;
    let mut c = Puppet::spawn(srv.url(), "upgrade").await?;
    let main = c.connect("/", None).await?;
    let chat = c.connect("/chat", None).await?;
    assert_ne!(main, chat, "each namespace has its own socket id");
    assert_eq!(c.emit_ack("/", "where", json!([])).await?, json!(["/"]));
    assert_eq!(
        c.emit_ack("/chat", "where", json!([])).await?,
        json!(["chat:/chat"])
    );
    assert_eq!(
        io.connection_count(),
        1,
        "one Engine.IO connection for both"
    );
    Ok(())
}

#[tokio::test]
async fn trait_namespace_is_a_singleton_whose_methods_handle_events() -> TestResult {
    let io = Server::builder().build();
    let ns = io.register_namespace("/counter", Counter::default());
    ns.on("both", |_s: Socket, _a: Args| "function");
    let srv = serve(&io).await?;

    let mut refused_client = Puppet::spawn(srv.url(), "websocket").await?;
    let refused = refused_client.try_connect("/counter", None).await?;
    assert_eq!(refused["connect_error"]["message"], json!("token required"));
    let mut a = Puppet::spawn(srv.url(), "websocket").await?;
    a.connect("/counter", Some(json!({"token": "t"}))).await?;
    let mut b = Puppet::spawn(srv.url(), "websocket").await?;
    b.connect("/counter", Some(json!({"token": "t"}))).await?;

    assert_eq!(a.emit_ack("/counter", "hit", json!([2])).await?, json!([2]));
    assert_eq!(b.emit_ack("/counter", "hit", json!([3])).await?, json!([5]));
    assert_eq!(
        a.emit_ack("/counter", "both", json!([])).await?,
        json!(["function"])
    );
    Ok(())
}

#[tokio::test]
async fn catch_all_namespace_gets_the_namespace_first() -> TestResult {
    let io = Server::builder().build();
    let any = io.of("*");
    any.on("hello", |_s: Socket, (ns, name): (String, String)| {
        format!("{name}@{ns}")
    });
    any.on("*", |_s: Socket, args: Args| args);
    let srv = serve(&io).await?;
    let mut c = Puppet::spawn(srv.url(), "websocket").await?;
    c.connect("/whatever", None).await?;
    assert_eq!(
        c.emit_ack("/whatever", "hello", json!(["ada"])).await?,
        json!(["ada@/whatever"])
    );
    // the catch-all event of the catch-all namespace: event, then namespace, then arguments
    assert_eq!(
        c.emit_ack("/whatever", "other", json!([1])).await?,
        json!(["other", "/whatever", 1])
    );
    Ok(())
}

#[tokio::test]
async fn dynamic_namespaces_accept_matching_names_only() -> TestResult {
    let io = Server::builder().build();
    let dynamic = io.dynamic(|name| name.starts_with("/room-"));
    dynamic.on("name", |s: Socket, ()| s.ns().to_owned());
    let srv = serve(&io).await?;
    let mut c = Puppet::spawn(srv.url(), "websocket").await?;
    c.connect("/room-1", None).await?;
    c.connect("/room-2", None).await?;
    assert_eq!(
        c.emit_ack("/room-1", "name", json!([])).await?,
        json!(["/room-1"])
    );
    assert_eq!(
        c.emit_ack("/room-2", "name", json!([])).await?,
        json!(["/room-2"])
    );
    // emits reach a dynamic child through `of(name)`
    io.of("/room-2")
        .emit("ping", &"child")
        .await
        .map_err(|e| volley_tests::Failure::msg(e.to_string()))?;
    assert_eq!(c.next_event("/room-2", "ping").await?, json!(["child"]));
    let refused = c.try_connect("/lobby", None).await?;
    assert_eq!(
        refused["connect_error"]["message"],
        json!("Invalid namespace")
    );
    Ok(())
}
