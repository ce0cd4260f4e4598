//! Handler arguments and middlewares: shared state, typed auth accepted and refused, a chain of
//! connect middlewares, incoming-packet middlewares, the `message` shortcuts and always connect.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde::Deserialize;
use serde_json::{json, Value as Json};
use volley::handler::{IncomingEvent, PacketFlow, Rejection, State};
use volley::{ConnectError, DisconnectReason, Server, Socket, Value};
use volley_tests::puppet::Puppet;
use volley_tests::{bail, TestResult};

use crate::serve;

const QUIET: Duration = Duration::from_millis(300);

/// What the handlers saw, shared through `State`.
#[derive(Clone, Default)]
struct Seen {
    connects: Arc<AtomicUsize>,
    disconnects: Arc<AtomicUsize>,
    /// Middlewares and handlers that ran, in order.
    steps: Arc<Mutex<Vec<String>>>,
    /// Events that reached their handler through the packet middlewares.
    handled: Arc<Mutex<Vec<String>>>,
}

impl Seen {
    fn step(&self, what: &str) {
        self.steps.lock().expect("steps").push(what.to_owned());
    }

    fn steps(&self) -> Vec<String> {
        self.steps.lock().expect("steps").clone()
    }

    fn handled(&self, event: &str) {
        self.handled.lock().expect("handled").push(event.to_owned());
    }
}

#[derive(Clone)]
struct Greeting(&'static str);

/// A state the builder is never given.
#[derive(Clone)]
struct NotSet;

#[derive(Deserialize)]
struct Login {
    name: String,
}

#[derive(Deserialize)]
struct Token {
    token: String,
}

fn server(seen: &Seen, always_connect: bool) -> Server {
    let io = Server::builder()
        .state(seen.clone())
        .state(Greeting("hello"))
        .always_connect(always_connect)
        .build();

    // state in connect, event and disconnect handlers; optional typed auth
    let root = io.of("/");
    root.on_connect(
        |s: Socket, State(seen): State<Seen>, login: Option<Login>| {
            seen.connects.fetch_add(1, Ordering::SeqCst);
            if let Some(login) = login {
                s.save_session(login.name);
            }
        },
    );
    root.on("greet", |State(g): State<Greeting>, s: Socket, ()| {
        format!("{} {}", g.0, s.get_session::<String>().unwrap_or_default())
    });
    root.on("connects", |State(seen): State<Seen>| {
        seen.connects.load(Ordering::SeqCst)
    });
    root.on("missing", |State(_): State<NotSet>, ()| "ran");
    root.on_disconnect(|State(seen): State<Seen>, _reason: DisconnectReason| {
        seen.disconnects.fetch_add(1, Ordering::SeqCst);
    });

    // required typed auth
    io.of("/typed")
        .on_connect(|s: Socket, login: Login| s.save_session(login.name))
        .on("whoami", |s: Socket, ()| s.get_session::<String>());

    // a chain of two middlewares before the handler: the second refuses without the token
    io.of("/guarded")
        .with(|State(seen): State<Seen>| async move { seen.step("first") })
        .with(|State(seen): State<Seen>, token: Option<Token>| {
            seen.step("second");
            match token {
                Some(t) if t.token == "open sesame" => Ok(()),
                _ => Err(ConnectError::new("not allowed").with_data(&json!({"need": "token"}))),
            }
        })
        .on_connect(|State(seen): State<Seen>| seen.step("handler"));

    // packet middlewares: drop, alter, rename, refuse
    let filtered = io.of("/filtered");
    filtered
        .use_packets(|_s: &Socket, ev: &mut IncomingEvent| {
            if ev.event() == "secret" {
                return PacketFlow::Drop;
            }
            if ev.event().starts_with("admin:") {
                return PacketFlow::Refuse(Rejection::new("forbidden", "admins only"));
            }
            PacketFlow::Pass
        })
        .use_packets(|_s: &Socket, ev: &mut IncomingEvent| {
            if ev.event() == "shout" {
                ev.set_event("echo");
                for arg in ev.args_mut() {
                    if let Some(text) = arg.as_str().map(str::to_uppercase) {
                        *arg = Value::from(text);
                    }
                }
            }
            PacketFlow::Pass
        });
    for event in ["echo", "secret", "admin:reset", "shout"] {
        filtered.on(
            event,
            move |State(seen): State<Seen>, args: volley::Args| {
                seen.handled(event);
                args
            },
        );
    }
    filtered.on("handled", |State(seen): State<Seen>| {
        seen.handled.lock().map(|h| h.clone()).unwrap_or_default()
    });

    // `send` and the `message` event; the connect handler refuses `{"refuse": true}` after an
    // emit (with always connect, the client hears both)
    io.of("/chat")
        .on_connect(|s: Socket, auth: Option<Value>| async move {
            let _ = s.emit("hello", "before the decision").await;
            let refuse = auth
                .as_ref()
                .and_then(Value::as_map)
                .is_some_and(|m| m.iter().any(|(k, _)| k.as_str() == Some("refuse")));
            if refuse {
                Err(ConnectError::new("refused by the handler"))
            } else {
                Ok(())
            }
        })
        .on_message(|s: Socket, text: String| async move {
            let _ = s.send(&format!("echo: {text}")).await;
            let _ = s.namespace().send(&format!("all: {text}")).await;
        })
        .on_disconnect(|State(seen): State<Seen>, _reason: DisconnectReason| {
            seen.disconnects.fetch_add(1, Ordering::SeqCst);
        });
    io
}

async fn client(url: &str) -> TestResult<Puppet> {
    Puppet::spawn(url, "websocket").await
}

#[tokio::test]
async fn state_reaches_connect_event_and_disconnect_handlers() -> TestResult {
    let seen = Seen::default();
    let srv = serve(&server(&seen, false)).await?;
    let mut a = client(srv.url()).await?;
    a.connect("/", Some(json!({"name": "ada"}))).await?;
    let mut b = client(srv.url()).await?;
    b.connect("/", None).await?;
    assert_eq!(
        a.emit_ack("/", "greet", json!([])).await?,
        json!(["hello ada"])
    );
    assert_eq!(
        b.emit_ack("/", "greet", json!([])).await?,
        json!(["hello "])
    );
    assert_eq!(a.emit_ack("/", "connects", json!([])).await?, json!([2]));
    // a state the builder was not given: the handler does not run, the ack says why
    let missing = a.emit_ack("/", "missing", json!([])).await?;
    if missing[0]["error"] != "missing state" || !missing[0]["message"].is_string() {
        bail!("expected a missing-state rejection, got {missing}");
    }
    b.disconnect("/").await?;
    for _ in 0..100 {
        if seen.disconnects.load(Ordering::SeqCst) == 1 {
            return Ok(());
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    bail!("the disconnect handler did not count b's disconnect")
}

#[tokio::test]
async fn typed_auth_is_accepted_or_refused_with_what_did_not_fit() -> TestResult {
    let seen = Seen::default();
    let srv = serve(&server(&seen, false)).await?;
    let mut c = client(srv.url()).await?;

    let refused = c.try_connect("/typed", Some(json!({"name": 42}))).await?;
    let err = &refused["connect_error"];
    if err["message"] != "invalid auth"
        || !err["data"]["message"]
            .as_str()
            .is_some_and(|m| m.contains("invalid type"))
    {
        bail!("a name of the wrong type should be refused as invalid auth, got {refused}");
    }
    // (the client keeps one socket per namespace, with the auth it was made with: a new
    // client for each attempt)
    let mut c = client(srv.url()).await?;
    let missing = c.try_connect("/typed", None).await?;
    if missing["connect_error"]["message"] != "invalid auth" {
        bail!("a required auth that is missing should be refused as invalid auth, got {missing}");
    }
    let mut c = client(srv.url()).await?;
    c.connect("/typed", Some(json!({"name": "ada", "extra": true})))
        .await?;
    assert_eq!(
        c.emit_ack("/typed", "whoami", json!([])).await?,
        json!(["ada"])
    );
    // `Option<T>` accepts no auth at all, but not one that does not fit
    c.connect("/", None).await?;
    let mut d = client(srv.url()).await?;
    let bad = d.try_connect("/", Some(json!({"name": ["x"]}))).await?;
    if bad["connect_error"]["message"] != "invalid auth" {
        bail!("an optional auth that does not fit should be refused, got {bad}");
    }
    Ok(())
}

#[tokio::test]
async fn the_first_middleware_to_refuse_decides_and_the_handler_never_runs() -> TestResult {
    let seen = Seen::default();
    let srv = serve(&server(&seen, false)).await?;
    let mut c = client(srv.url()).await?;

    let refused = c
        .try_connect("/guarded", Some(json!({"token": "guess"})))
        .await?;
    assert_eq!(
        refused["connect_error"],
        json!({"message": "not allowed", "data": {"need": "token"}})
    );
    assert_eq!(seen.steps(), ["first", "second"]);

    let mut c = client(srv.url()).await?;
    c.connect("/guarded", Some(json!({"token": "open sesame"})))
        .await?;
    assert_eq!(
        seen.steps(),
        ["first", "second", "first", "second", "handler"]
    );
    Ok(())
}

#[tokio::test]
async fn packet_middlewares_drop_alter_and_refuse_events() -> TestResult {
    let seen = Seen::default();
    let srv = serve(&server(&seen, false)).await?;
    let mut c = client(srv.url()).await?;
    c.connect("/filtered", None).await?;

    assert_eq!(
        c.emit_ack("/filtered", "echo", json!(["as is"])).await?,
        json!(["as is"])
    );
    // renamed and changed by the second middleware
    assert_eq!(
        c.emit_ack("/filtered", "shout", json!(["hi", 1])).await?,
        json!(["HI", 1])
    );
    // refused: the ack says why at once
    assert_eq!(
        c.emit_ack("/filtered", "admin:reset", json!([])).await?,
        json!([{"error": "forbidden", "message": "admins only"}])
    );
    // dropped: no handler, and an ack never comes
    c.emit("/filtered", "secret", json!(["psst"])).await?;
    let answer = c
        .command(json!({"cmd": "emit_multi_ack", "nsp": "/filtered", "event": "secret", "args": [], "timeout": 300}))
        .await;
    match answer {
        Err(e) if format!("{e:?}").contains("timed out") => {}
        other => bail!("a dropped event's ack should never come, got {other:?}"),
    }
    assert_eq!(
        c.emit_ack("/filtered", "handled", json!([])).await?,
        json!([["echo", "echo"]]) as Json
    );
    Ok(())
}

#[tokio::test]
async fn send_and_on_message_use_the_message_event() -> TestResult {
    let seen = Seen::default();
    let srv = serve(&server(&seen, false)).await?;
    let mut a = client(srv.url()).await?;
    a.connect("/chat", None).await?;
    let mut b = client(srv.url()).await?;
    b.connect("/chat", None).await?;
    a.emit("/chat", "message", json!(["hi"])).await?;
    assert_eq!(a.next_event("/chat", "message").await?, json!(["echo: hi"]));
    assert_eq!(a.next_event("/chat", "message").await?, json!(["all: hi"]));
    assert_eq!(b.next_event("/chat", "message").await?, json!(["all: hi"]));
    b.no_event("/chat", "message", QUIET).await?;
    Ok(())
}

#[tokio::test]
async fn without_always_connect_a_refused_client_gets_connect_error_only() -> TestResult {
    let seen = Seen::default();
    let srv = serve(&server(&seen, false)).await?;
    let mut c = client(srv.url()).await?;
    let refused = c
        .try_connect("/chat", Some(json!({"refuse": true})))
        .await?;
    assert_eq!(
        refused["connect_error"],
        json!({"message": "refused by the handler", "data": null})
    );
    c.no_event("/chat", "hello", QUIET).await?;
    Ok(())
}

#[tokio::test]
async fn always_connect_acknowledges_first_and_a_refusal_disconnects() -> TestResult {
    let seen = Seen::default();
    let srv = serve(&server(&seen, true)).await?;
    let mut c = client(srv.url()).await?;
    // the client is connected before the handler refuses, and hears its emit
    let answer = c
        .try_connect("/chat", Some(json!({"refuse": true})))
        .await?;
    if !answer["sid"].is_string() {
        bail!("with always connect the client should connect first, got {answer}");
    }
    assert_eq!(
        c.next_event("/chat", "hello").await?,
        json!(["before the decision"])
    );
    assert_eq!(c.next_disconnect("/chat").await?, "io server disconnect");
    tokio::time::sleep(QUIET).await;
    assert_eq!(
        seen.disconnects.load(Ordering::SeqCst),
        0,
        "the disconnect handler ran for a socket its connect handler refused"
    );

    // accepted: connected, greeted, and its events are handled
    let mut d = client(srv.url()).await?;
    d.connect("/chat", None).await?;
    assert_eq!(
        d.next_event("/chat", "hello").await?,
        json!(["before the decision"])
    );
    d.emit("/chat", "message", json!(["hi"])).await?;
    assert_eq!(d.next_event("/chat", "message").await?, json!(["echo: hi"]));
    Ok(())
}
