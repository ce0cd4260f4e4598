//! The server every node of a test cluster runs, in process or as `cluster_node`: handlers that
//! let a test client drive cluster-wide operations from any node.

use std::sync::Arc;
use std::time::Duration;

use futures_util::{stream, StreamExt};
use serde_json::json;
use volley::{Args, ClientManager, Server, Sid, Socket, SocketInfo};

fn sid(s: &str) -> Option<Sid> {
    Sid::parse(s)
}

fn sorted_ids(sockets: Vec<SocketInfo>) -> Vec<String> {
    let mut ids: Vec<String> = sockets.into_iter().map(|s| s.id).collect();
    ids.sort();
    ids
}

/// The node's app: Socket.IO, plus `GET /count` answering the number of nodes it sees and
/// `GET /tasks` the number of tokio tasks alive in the node's runtime.
pub fn router(io: &Server) -> axum::Router {
    let counted = io.clone();
    let count = axum::Router::new()
        .route(
            "/count",
            axum::routing::get(move || {
                let io = counted.clone();
                async move { io.server_count().to_string() }
            }),
        )
        .route(
            "/tasks",
            axum::routing::get(|| async {
                tokio::runtime::Handle::current()
                    .metrics()
                    .num_alive_tasks()
                    .to_string()
            }),
        );
    io.wrap(count)
}

/// What the `pump` handler answers: the sequence numbers whose emit returned `Ok`, those whose
/// emit returned an error, and the first error message.
#[derive(Debug, Default, Clone, serde::Serialize, serde::Deserialize, PartialEq, Eq)]
pub struct Pumped {
    /// Sequence numbers whose emit returned `Ok`.
    pub ok: Vec<u64>,
    /// Sequence numbers whose emit returned an error.
    pub err: Vec<u64>,
    /// The first error, if any.
    pub error: Option<String>,
}

/// Builds a node named `name` on `manager`.
pub fn server(name: &str, manager: Arc<dyn ClientManager>) -> Server {
    server_with(name, manager, false)
}

/// A session value of a type of its own, beside a `String` one.
#[derive(Clone, serde::Serialize, serde::Deserialize)]
struct Badge {
    level: u32,
}

/// [`server`], with connection state recovery on when `recovery` is true.
pub fn server_with(name: &str, manager: Arc<dyn ClientManager>, recovery: bool) -> Server {
    let mut builder = Server::builder()
        .client_manager_arc(manager)
        .ack_timeout(Duration::from_secs(3));
    if recovery {
        builder = builder.connection_state_recovery(volley::ConnectionStateRecovery::default());
    }
    let io = builder.build();
    for ns in ["/", "/other"] {
        let nsp = io.of(ns);
        let node = name.to_owned();
        nsp.on("node", move |_s: Socket, ()| node.clone());
        nsp.on("join", |s: Socket, room: String| s.enter_room(&room));
        nsp.on("rooms", |s: Socket, ()| s.rooms());
        // two session values of two types, which follow a socket recovered on another node
        nsp.on("save-session", |s: Socket, (nick, level): (String, u32)| {
            s.save_session(nick);
            s.save_session(Badge { level });
        });
        nsp.on("session", |s: Socket, ()| {
            let badge = s.get_session::<Badge>().map(|b| b.level);
            (s.get_session::<String>(), badge)
        });
        // (event, rooms, skipped, args): emit from this node to the cluster
        nsp.on(
            "broadcast",
            |s: Socket, (event, rooms, skip, args): (String, Vec<String>, Vec<String>, Args)| async move {
                s.namespace()
                    .to(rooms)
                    .except(skip)
                    .emit(&event, &args)
                    .await
                    .map_err(|e| e.to_string())
            },
        );
        // (event, room, count): `count` emits of `[i]` to `room`, 64 in flight, made in order
        nsp.on(
            "burst",
            |s: Socket, (event, room, count): (String, String, u32)| async move {
                let ns = s.namespace();
                let emits = (0..count).map(|i| {
                    let op = ns.to(room.clone());
                    let event = event.clone();
                    async move { op.emit(&event, &(i,)).await }
                });
                let results: Vec<_> = stream::iter(emits).buffered(64).collect().await;
                results
                    .into_iter()
                    .collect::<Result<Vec<()>, _>>()
                    .map(|sent| sent.len())
                    .map_err(|e| e.to_string())
            },
        );
        // (event, room, count, every_ms): `count` emits of `[i]` to `room`, one every `every_ms`,
        // in the background; each emit's outcome is counted, and `ticks-done` reports
        // `[event, ok, failed]` to the asking socket at the end
        nsp.on(
            "ticks",
            |s: Socket, (event, room, count, every_ms): (String, String, u32, u64)| {
                tokio::spawn(async move {
                    let ns = s.namespace();
                    let mut interval = tokio::time::interval(Duration::from_millis(every_ms));
                    let (mut ok, mut failed) = (0u32, 0u32);
                    for i in 0..count {
                        interval.tick().await;
                        match ns.to(room.as_str()).emit(&event, &(i,)).await {
                            Ok(()) => ok += 1,
                            Err(_) => failed += 1,
                        }
                    }
                    let _ = s.emit("ticks-done", &(event, ok, failed)).await;
                });
            },
        );
        // (event, room, origin, first, count, per_second): `count` emits of `[origin, seq]` to
        // `room`, seq from `first` on, started at a steady `per_second` pace (64 in flight at
        // most); acks with a [`Pumped`]: which emits returned Ok and which an error.
        nsp.on(
            "pump",
            |s: Socket,
             (event, room, origin, first, count, per_second): (
                String,
                String,
                String,
                u64,
                u32,
                u32,
            )| async move {
                let ns = s.namespace();
                let start = tokio::time::Instant::now();
                let gap = Duration::from_secs(1) / per_second.max(1);
                let emits = stream::iter(0..count)
                    .then(move |i| async move {
                        tokio::time::sleep_until(start + gap * i).await;
                        first + u64::from(i)
                    })
                    .map(|seq| {
                        let op = ns.to(room.clone());
                        let event = event.clone();
                        let origin = origin.clone();
                        async move { (seq, op.emit(&event, &(origin, seq)).await) }
                    })
                    .buffer_unordered(64);
                let results: Vec<_> = emits.collect().await;
                let mut pumped = Pumped::default();
                for (seq, result) in results {
                    match result {
                        Ok(()) => pumped.ok.push(seq),
                        Err(e) => {
                            pumped.err.push(seq);
                            pumped.error.get_or_insert_with(|| e.to_string());
                        }
                    }
                }
                pumped.ok.sort_unstable();
                pumped.err.sort_unstable();
                serde_json::to_value(pumped).unwrap_or_default()
            },
        );
        nsp.on("fetch", |s: Socket, rooms: Vec<String>| async move {
            s.namespace()
                .to(rooms)
                .fetch_sockets()
                .await
                .map(sorted_ids)
                .map_err(|e| e.to_string())
        });
        nsp.on(
            "remote-join",
            |s: Socket, (target, room): (String, String)| async move {
                let Some(target) = sid(&target) else {
                    return Err("bad sid".to_owned());
                };
                s.namespace()
                    .enter_room(target, &room)
                    .await
                    .map_err(|e| e.to_string())
            },
        );
        nsp.on(
            "remote-leave",
            |s: Socket, (target, room): (String, String)| async move {
                let Some(target) = sid(&target) else {
                    return Err("bad sid".to_owned());
                };
                s.namespace()
                    .leave_room(target, &room)
                    .await
                    .map_err(|e| e.to_string())
            },
        );
        nsp.on(
            "remote-disconnect",
            |s: Socket, target: String| async move {
                let Some(target) = sid(&target) else {
                    return Err("bad sid".to_owned());
                };
                s.namespace()
                    .disconnect(target)
                    .await
                    .map_err(|e| e.to_string())
            },
        );
        nsp.on("close-room", |s: Socket, room: String| async move {
            s.namespace()
                .close_room(&room)
                .await
                .map_err(|e| e.to_string())
        });
        // asks every socket of `rooms` (anywhere) a question; acks with [sid, answer | error]
        nsp.on(
            "ask",
            |s: Socket, (rooms, timeout_ms): (Vec<String>, u64)| async move {
                let responses = s
                    .namespace()
                    .to(rooms)
                    .timeout(Duration::from_millis(timeout_ms))
                    .emit_with_ack("question", &"?")
                    .await
                    .map_err(|e| e.to_string())?;
                let mut out: Vec<serde_json::Value> = responses
                    .into_iter()
                    .map(|r| match r.result {
                        Ok(args) => json!([r.sid.as_str(), format!("{:?}", Args(args))]),
                        Err(e) => json!([r.sid.as_str(), {"error": e.to_string()}]),
                    })
                    .collect();
                out.sort_by_key(|v| v.to_string());
                Ok::<_, String>(out)
            },
        );
        // python-socketio's call(to=sid): one socket anywhere, its ack arguments back
        nsp.on("call", |s: Socket, target: String| async move {
            let Some(target) = sid(&target) else {
                return Err("bad sid".to_owned());
            };
            s.namespace()
                .call::<Args, _>(target, "question", &"?", Duration::from_secs(3))
                .await
                .map(|a| a.0)
                .map_err(|e| e.to_string())
        });
        nsp.on("server-emit", |s: Socket, text: String| async move {
            s.namespace()
                .server_side_emit("note", &text)
                .await
                .map_err(|e| e.to_string())
        });
        nsp.on("server-call", |s: Socket, ()| async move {
            let answers = s
                .namespace()
                .server_side_call("who", &(), Duration::from_secs(3))
                .await
                .map_err(|e| e.to_string())?;
            let mut names: Vec<String> = answers
                .into_iter()
                .filter_map(|a| a.0.first().and_then(|v| v.as_str()).map(str::to_owned))
                .collect();
            names.sort();
            Ok::<_, String>(names)
        });
        let io2 = io.clone();
        nsp.on("count", move |_s: Socket, ()| io2.server_count());
        // server-side events from other nodes: notes are forwarded to this node's sockets
        let io3 = io.clone();
        let ns_name = ns.to_owned();
        nsp.on_server_event("note", move |text: String| {
            let io = io3.clone();
            let ns_name = ns_name.clone();
            async move {
                let _ = io.of(&ns_name).local().emit("server-note", &text).await;
            }
        });
        let node = name.to_owned();
        nsp.on_server_event("who", move |(): ()| {
            let node = node.clone();
            async move { node }
        });
    }
    io
}
