//! The Admin UI's commands: `emit`, `join`, `leave` and `_disconnect`, each aimed at a namespace
//! and optionally at one room or socket id (the "filter"). They go through the namespace API, so
//! they reach the sockets of every node of a cluster. Their arguments come from a browser: each is
//! checked, and a command that does not fit is ignored with a debug log.

use volley_protocol::Value;

use super::Upgrade;
use crate::manager::BroadcastOptions;
use crate::{Args, BroadcastOperator, Namespace, Socket};

fn text(args: &[Value], at: usize) -> Option<&str> {
    args.get(at).and_then(Value::as_str)
}

/// The optional filter: a room or socket id; absent, `null` or empty means every socket.
fn filter(args: &[Value], at: usize) -> Option<&str> {
    text(args, at).filter(|f| !f.is_empty())
}

/// The namespace `name` if it exists; commands never create one.
fn existing(upgrade: &Upgrade, name: &str) -> Option<Namespace> {
    let io = upgrade()?;
    let found = super::namespaces(&io)
        .into_iter()
        .find(|ns| ns.name() == name);
    if found.is_none() {
        tracing::debug!(target: "volley::socketio", ns = name, "Admin UI command for an unknown namespace");
    }
    found
}

fn targets(ns: &Namespace, filter: Option<&str>) -> BroadcastOperator {
    match filter {
        Some(room) => ns.to(room),
        None => ns.broadcast(),
    }
}

fn ignored(command: &str, args: &[Value]) {
    tracing::debug!(target: "volley::socketio", command, ?args, "Admin UI command with unexpected arguments");
}

/// `emit(nsp, filter, event, ...args)`.
async fn emit(upgrade: Upgrade, args: Vec<Value>) {
    let (Some(nsp), Some(event)) = (text(&args, 0), text(&args, 2)) else {
        return ignored("emit", &args);
    };
    if volley_protocol::is_reserved_event(event) {
        return ignored("emit", &args);
    }
    let Some(ns) = existing(&upgrade, nsp) else {
        return;
    };
    let rest = Args(args.get(3..).unwrap_or_default().to_vec());
    if let Err(e) = targets(&ns, filter(&args, 1)).emit(event, &rest).await {
        tracing::debug!(target: "volley::socketio", error = %e, "Admin UI emit failed");
    }
}

/// `join(nsp, room, filter)` and `leave(nsp, room, filter)`.
async fn rooms(upgrade: Upgrade, args: Vec<Value>, join: bool) {
    let (Some(nsp), Some(room)) = (text(&args, 0), text(&args, 1)) else {
        return ignored(if join { "join" } else { "leave" }, &args);
    };
    let Some(ns) = existing(&upgrade, nsp) else {
        return;
    };
    let targets = targets(&ns, filter(&args, 2));
    let result = if join {
        targets.join(room).await
    } else {
        targets.leave(room).await
    };
    if let Err(e) = result {
        tracing::debug!(target: "volley::socketio", error = %e, "Admin UI join/leave failed");
    }
}

/// `_disconnect(nsp, close, filter)`. With `close`, the connections of this node's sockets are
/// closed as well; other nodes' sockets leave the namespace (the client manager carries no
/// "close" to them).
async fn disconnect(upgrade: Upgrade, args: Vec<Value>) {
    let Some(nsp) = text(&args, 0) else {
        return ignored("_disconnect", &args);
    };
    let close = args.get(1).and_then(Value::as_bool).unwrap_or(false);
    let Some(ns) = existing(&upgrade, nsp) else {
        return;
    };
    let filter = filter(&args, 2);
    if close {
        let opts = BroadcastOptions {
            rooms: filter.map(|f| vec![f.to_owned()]).unwrap_or_default(),
            ..BroadcastOptions::default()
        };
        for socket in ns.0.manager.local().select(ns.name(), &opts) {
            socket.close_connection();
        }
    }
    if let Err(e) = targets(&ns, filter).disconnect().await {
        tracing::debug!(target: "volley::socketio", error = %e, "Admin UI disconnect failed");
    }
}

/// Registers the command handlers on the admin namespace.
pub(crate) fn register(admin_ns: &Namespace, upgrade: &Upgrade) {
    let u = upgrade.clone();
    admin_ns.on("emit", move |_s: Socket, Args(args)| emit(u.clone(), args));
    let u = upgrade.clone();
    admin_ns.on("join", move |_s: Socket, Args(args)| {
        rooms(u.clone(), args, true)
    });
    let u = upgrade.clone();
    admin_ns.on("leave", move |_s: Socket, Args(args)| {
        rooms(u.clone(), args, false)
    });
    let u = upgrade.clone();
    admin_ns.on("_disconnect", move |_s: Socket, Args(args)| {
        disconnect(u.clone(), args)
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn arguments_are_read_defensively() {
        let args = vec![Value::from("/"), Value::Nil, Value::from("hello")];
        assert_eq!(text(&args, 0), Some("/"));
        assert_eq!(filter(&args, 1), None);
        assert_eq!(filter(&args, 9), None);
        let args = vec![Value::from("/"), Value::from(""), Value::from(3)];
        assert_eq!(filter(&args, 1), None);
        assert_eq!(text(&args, 2), None);
        let args = vec![Value::from("/"), Value::from("room1")];
        assert_eq!(filter(&args, 1), Some("room1"));
    }
}
