//! The chat example: a page served by Volley's static files, talking to the server with the
//! official `socket.io-client`.
//!
//! Events the page sends (every one may ask for an ack; errors are acked as `{"error": "…"}`):
//!
//! | event | argument | ack on success |
//! | --- | --- | --- |
//! | `nick` | the nickname (1 to [`MAX_NICK`] characters) | `{"nick"}` |
//! | `join` | a room name (1 to [`MAX_ROOM`] characters) | `{"room", "members"}`: the member count |
//! | `leave` | a room name | `{"room", "members"}`: the count left |
//! | `message` | `{"room", "text"}` (text: 1 to [`MAX_TEXT`] characters) | `{"ok": true}` |
//!
//! A client may choose its nickname when it connects, with `io({ auth: { nick } })`: a nickname
//! that is not valid refuses the connection (`connect_error` with the message
//! `"invalid nickname"` and `{"nick", "why"}` as its data), an `auth` of the wrong shape too
//! (`"invalid auth"`). Without one it is a guest.
//!
//! Events the server sends: `welcome` (`{"nick"}`, the nickname, once connected),
//! `message` (`{"room", "text", "from"}`, to the room but the sender, who shows its own copy)
//! and `presence` (`{"room", "nick", "members", "joined"}` when someone enters or leaves a room
//! the client is in).
//!
//! The page is `<dir>/public/`; the client script is `<dir>/node_modules/socket.io-client/dist/`,
//! served at `/socket.io-client/` and installed by `examples/chat/run.sh`.

use std::collections::{BTreeSet, HashMap};
use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, MutexGuard};

use serde::{Deserialize, Serialize};
use serde_json::{json, Value as Json};
use volley::admin::{AdminAuth, AdminOptions};
use volley::handler::State;
use volley::manager::cluster::ClusterConfig;
use volley::{
    ConnectError, ConnectionStateRecovery, DisconnectReason, Server, Sid, Socket, StaticFiles,
};

/// Longest nickname, in characters.
pub const MAX_NICK: usize = 32;
/// Longest room name, in characters.
pub const MAX_ROOM: usize = 64;
/// Longest message, in characters.
pub const MAX_TEXT: usize = 2000;
/// How many rooms one client may be in at once.
pub const MAX_ROOMS_PER_CLIENT: usize = 16;
/// Chat rooms live under this prefix in Volley's rooms, so that no room a client names can be
/// the private room of another socket (those are named by socket id).
const ROOM_PREFIX: &str = "chat:";

/// How the chat server is set up (the command-line flags of the `chat` binary).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChatOptions {
    /// Address to listen on (`--host`, default `127.0.0.1`). Only the binary uses it.
    pub host: String,
    /// TCP port (`--port`, default 3000). Only the binary uses it.
    pub port: u16,
    /// The adapter that connects server nodes (`--adapter`, default `memory`: a single node).
    pub adapter: String,
    /// The example's directory (`--public`): the page in `public/`, the client library in
    /// `node_modules/socket.io-client/dist/`. Defaults to [`default_dir`].
    pub public_dir: PathBuf,
    /// The Admin UI's username and password (`--admin USER:PASSWORD`, the password plain or a
    /// bcrypt hash): the server is instrumented for it, and the hosted UI's origin
    /// ([`ADMIN_UI_ORIGIN`]) may connect. Off by default.
    pub admin: Option<(String, String)>,
    /// Serve Prometheus metrics at `/metrics` (`--metrics`). Off by default.
    pub metrics: bool,
    /// Connection state recovery (on by default; `--no-recovery` turns it off): a page whose
    /// connection drops for a moment gets its nickname, rooms and every message it missed back.
    pub recovery: bool,
    /// Accept `socket.io-client` 2.x pages too (`--allow-eio3`; Engine.IO v3). Off by default.
    pub allow_eio3: bool,
    /// gzip / deflate long-polling responses of 1024 bytes or more (`--http-compression
    /// on|off`, on by default as in the library).
    pub http_compression: bool,
    /// Where the other nodes reach this one (`--advertise HOST:PORT`): set on every node, the
    /// load balancer needs no sticky sessions (see `ClusterConfig::advertise`). Off by default.
    pub advertise: Option<String>,
}

/// The origin of the hosted Socket.IO Admin UI, allowed to connect when `--admin` is given.
pub const ADMIN_UI_ORIGIN: &str = "https://admin.socket.io";

impl Default for ChatOptions {
    fn default() -> Self {
        ChatOptions {
            host: "127.0.0.1".to_owned(),
            port: 3000,
            adapter: "memory".to_owned(),
            public_dir: default_dir(),
            admin: None,
            metrics: false,
            recovery: true,
            allow_eio3: false,
            http_compression: true,
            advertise: None,
        }
    }
}

/// `examples/chat` of the source tree this binary was built from, whatever the working directory.
pub fn default_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("chat")
}

/// Why the chat server cannot start.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ChatError {
    /// The adapter URL is not usable (unknown scheme, or refused by the adapter).
    Adapter(String),
    /// The page is not where [`ChatOptions::public_dir`] says.
    PageMissing(PathBuf),
    /// `socket.io-client` has not been installed with npm.
    ClientMissing(PathBuf),
    /// The Admin UI or the metrics could not be set up.
    Monitoring(String),
}

impl fmt::Display for ChatError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ChatError::Adapter(why) => f.write_str(why),
            ChatError::PageMissing(path) => write!(
                f,
                "the chat page {} is missing: --public must name the examples/chat directory",
                path.display()
            ),
            ChatError::ClientMissing(path) => write!(
                f,
                "socket.io-client is not installed ({} is missing): start the example with \
                 ./examples/chat/run.sh, or run `npm ci` in examples/chat",
                path.display()
            ),
            ChatError::Monitoring(why) => f.write_str(why),
        }
    }
}

impl std::error::Error for ChatError {}

/// The chat server: Socket.IO on `/socket.io/`, the page on `/`, the client library on
/// `/socket.io-client/`.
pub fn server(opts: &ChatOptions) -> Result<Server, ChatError> {
    let config = ClusterConfig::default().advertise(opts.advertise.clone());
    let manager = volley::manager::from_url(&opts.adapter, config)
        .map_err(|e| ChatError::Adapter(e.to_string()))?;
    let page = opts.public_dir.join("public");
    let index = page.join("index.html");
    if !index.is_file() {
        return Err(ChatError::PageMissing(index));
    }
    let client = opts
        .public_dir
        .join("node_modules")
        .join("socket.io-client")
        .join("dist");
    if !client.join("socket.io.min.js").is_file() {
        return Err(ChatError::ClientMissing(client.join("socket.io.min.js")));
    }
    let mut builder = Server::builder()
        .client_manager_arc(manager)
        .allow_eio3(opts.allow_eio3)
        .state(Members::default())
        .static_files(
            StaticFiles::new()
                .dir("/socket.io-client", client)
                .dir("/", page),
        );
    if opts.admin.is_some() {
        // A list replaces the same-origin default: name the page's own origins too.
        let mut origins = vec![
            format!("http://127.0.0.1:{}", opts.port),
            format!("http://localhost:{}", opts.port),
            ADMIN_UI_ORIGIN.to_owned(),
        ];
        if opts.host != "127.0.0.1" && opts.host != "0.0.0.0" {
            origins.push(format!("http://{}:{}", opts.host, opts.port));
        }
        builder = builder.cors_allowed_origins(origins);
    }
    if opts.recovery {
        // the connect handler runs for a recovered socket too: it puts the member back
        builder = builder.connection_state_recovery(
            ConnectionStateRecovery::default().skip_connect_handler(false),
        );
    }
    if !opts.http_compression {
        builder = builder.http_compression(None);
    }
    let io = builder.build();
    register(&io);
    if let Some((username, password)) = &opts.admin {
        io.instrument(AdminOptions {
            auth: Some(AdminAuth::new(username, password)),
            ..AdminOptions::default()
        })
        .map_err(|e| ChatError::Monitoring(e.to_string()))?;
    }
    Ok(io)
}

/// The chat server as an axum app (with `/metrics` when [`ChatOptions::metrics`] is set).
pub fn router(opts: &ChatOptions) -> Result<axum::Router, ChatError> {
    let io = server(opts)?;
    if !opts.metrics {
        return Ok(io.router());
    }
    let metrics = volley::metrics::router().map_err(|e| ChatError::Monitoring(e.to_string()))?;
    io.record_metrics();
    Ok(io.wrap(metrics))
}

/// What the server knows of one client: its nickname and the chat rooms it joined.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Member {
    nick: String,
    rooms: BTreeSet<String>,
}

/// Every connected client of this node, by socket id; an entry lives from connect to disconnect.
/// The server's shared state: handlers take it as a `State<Members>` argument.
#[derive(Debug, Default, Clone)]
struct Members(Arc<Mutex<HashMap<Sid, Member>>>);

impl Members {
    fn lock(&self) -> MutexGuard<'_, HashMap<Sid, Member>> {
        // The map stays consistent whatever panicked while holding it.
        self.0
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    fn add(&self, sid: Sid, nick: String) {
        let rooms = BTreeSet::new();
        self.lock().insert(sid, Member { nick, rooms });
    }

    /// Puts back a member recovered after a dropped connection, as its session kept it.
    fn restore(&self, sid: Sid, member: Member) {
        self.lock().insert(sid, member);
    }

    /// Keeps the member's nickname and rooms in the socket's session (which follows a
    /// recovered socket to another node too).
    fn save(&self, socket: &Socket) {
        let saved = self.lock().get(&socket.id()).map(|m| Saved {
            nick: m.nick.clone(),
            rooms: m.rooms.clone(),
        });
        if let Some(saved) = saved {
            socket.save_session(saved);
        }
    }

    fn remove(&self, sid: Sid) -> Option<Member> {
        self.lock().remove(&sid)
    }

    fn nick(&self, sid: Sid) -> Option<String> {
        self.lock().get(&sid).map(|m| m.nick.clone())
    }

    fn set_nick(&self, sid: Sid, nick: &str) -> bool {
        match self.lock().get_mut(&sid) {
            Some(m) => {
                nick.clone_into(&mut m.nick);
                true
            }
            None => false,
        }
    }

    fn in_room(&self, sid: Sid, room: &str) -> bool {
        self.lock()
            .get(&sid)
            .is_some_and(|m| m.rooms.contains(room))
    }

    /// Records that `sid` joined `room`, within [`MAX_ROOMS_PER_CLIENT`].
    fn join(&self, sid: Sid, room: &str) -> Result<(), &'static str> {
        let mut members = self.lock();
        let member = members.get_mut(&sid).ok_or("not connected")?;
        if !member.rooms.contains(room) && member.rooms.len() >= MAX_ROOMS_PER_CLIENT {
            return Err("too many rooms: leave one first");
        }
        member.rooms.insert(room.to_owned());
        Ok(())
    }

    fn leave(&self, sid: Sid, room: &str) -> bool {
        self.lock()
            .get_mut(&sid)
            .is_some_and(|m| m.rooms.remove(room))
    }
}

/// What a member's session keeps, to put it back when its socket is recovered.
#[derive(Debug, Clone, Serialize, Deserialize)]
struct Saved {
    nick: String,
    rooms: BTreeSet<String>,
}

/// The `auth` a client may connect with.
#[derive(Debug, Default, Deserialize)]
struct ChatAuth {
    /// The nickname it asks for.
    nick: Option<String>,
}

/// A `message` event from a client.
#[derive(Debug, Deserialize)]
struct Post {
    room: String,
    text: String,
}

fn error(message: impl fmt::Display) -> Json {
    json!({ "error": message.to_string() })
}

/// A trimmed name of 1 to `max` characters without control characters.
fn valid_name(what: &str, name: &str, max: usize) -> Result<String, String> {
    let name = name.trim();
    if name.is_empty() {
        return Err(format!("the {what} is empty"));
    }
    if name.chars().count() > max {
        return Err(format!("the {what} is longer than {max} characters"));
    }
    if name.chars().any(char::is_control) {
        return Err(format!("the {what} contains control characters"));
    }
    Ok(name.to_owned())
}

fn valid_nick(nick: &str) -> Result<String, String> {
    valid_name("nickname", nick, MAX_NICK)
}

fn valid_room(room: &str) -> Result<String, String> {
    valid_name("room name", room, MAX_ROOM)
}

/// Message text: not blank, at most [`MAX_TEXT`] characters, kept as typed.
fn valid_text(text: &str) -> Result<&str, String> {
    if text.trim().is_empty() {
        return Err("the message is empty".to_owned());
    }
    if text.chars().count() > MAX_TEXT {
        return Err(format!("the message is longer than {MAX_TEXT} characters"));
    }
    Ok(text)
}

fn room_key(room: &str) -> String {
    format!("{ROOM_PREFIX}{room}")
}

/// How many sockets, on every node, are in the chat room `room`.
async fn member_count(socket: &Socket, room: &str) -> usize {
    match socket.namespace().to(room_key(room)).fetch_sockets().await {
        Ok(sockets) => sockets.len(),
        Err(e) => {
            tracing::warn!(room, error = %e, "cannot count the room's members");
            0
        }
    }
}

/// Tells the room (but `skip`) that `nick` came or went.
async fn announce(socket: &Socket, room: &str, nick: &str, joined: bool, skip: Option<Sid>) {
    let members = member_count(socket, room).await;
    let payload = json!({ "room": room, "nick": nick, "members": members, "joined": joined });
    let mut to = socket.namespace().to(room_key(room));
    if let Some(sid) = skip {
        to = to.except(sid);
    }
    if let Err(e) = to.emit("presence", &payload).await {
        tracing::warn!(room, error = %e, "cannot announce presence");
    }
}

/// The member a recovered socket's session kept (see [`Members::save`]).
fn saved_member(socket: &Socket) -> Option<Member> {
    let saved = socket.get_session::<Saved>()?;
    Some(Member {
        nick: saved.nick,
        rooms: saved.rooms,
    })
}

/// The connect middleware: a nickname asked for in `auth` must be a valid one.
fn nick_is_valid(auth: Option<ChatAuth>) -> Result<(), ConnectError> {
    match auth.and_then(|a| a.nick) {
        Some(nick) => valid_nick(&nick).map(drop).map_err(|why| {
            ConnectError::new("invalid nickname").with_data(&json!({ "nick": nick, "why": why }))
        }),
        None => Ok(()),
    }
}

/// Registers the chat's handlers on the namespace `/` of `io` (built with a [`Members`] state).
fn register(io: &Server) {
    let nsp = io.of("/");
    nsp.with(nick_is_valid);

    nsp.on_connect(
        |socket: Socket, State(members): State<Members>, auth: Option<ChatAuth>| async move {
            if let Some(member) = socket.recovered().then(|| saved_member(&socket)).flatten() {
                // back after a dropped connection: same socket, rooms and missed messages
                let rooms: Vec<String> = member.rooms.iter().cloned().collect();
                let nick = member.nick.clone();
                members.restore(socket.id(), member);
                for room in rooms {
                    announce(&socket, &room, &nick, true, Some(socket.id())).await;
                }
                return;
            }
            // the middleware checked a nickname asked for in `auth`
            let nick = auth
                .and_then(|a| a.nick)
                .and_then(|nick| valid_nick(&nick).ok())
                .unwrap_or_else(|| format!("guest-{}", &socket.id().as_str()[..4]));
            members.add(socket.id(), nick.clone());
            members.save(&socket);
            if let Err(e) = socket.emit("welcome", &json!({ "nick": nick })).await {
                tracing::debug!(error = %e, "cannot greet a client");
            }
        },
    );

    nsp.on(
        "nick",
        |socket: Socket, State(members): State<Members>, nick: String| match valid_nick(&nick) {
            Ok(nick) if members.set_nick(socket.id(), &nick) => {
                members.save(&socket);
                json!({ "nick": nick })
            }
            Ok(_) => error("not connected"),
            Err(e) => error(e),
        },
    );

    nsp.on(
        "join",
        |socket: Socket, State(members): State<Members>, room: String| async move {
            let room = match valid_room(&room) {
                Ok(room) => room,
                Err(e) => return error(e),
            };
            if let Err(e) = members.join(socket.id(), &room) {
                return error(e);
            }
            socket.enter_room(&room_key(&room));
            members.save(&socket);
            let nick = members.nick(socket.id()).unwrap_or_default();
            announce(&socket, &room, &nick, true, Some(socket.id())).await;
            let count = member_count(&socket, &room).await;
            json!({ "room": room, "members": count })
        },
    );

    nsp.on(
        "leave",
        |socket: Socket, State(members): State<Members>, room: String| async move {
            let room = match valid_room(&room) {
                Ok(room) => room,
                Err(e) => return error(e),
            };
            if !members.leave(socket.id(), &room) {
                return error(format!("not in room {room:?}"));
            }
            socket.leave_room(&room_key(&room));
            members.save(&socket);
            let nick = members.nick(socket.id()).unwrap_or_default();
            announce(&socket, &room, &nick, false, None).await;
            json!({ "room": room, "members": member_count(&socket, &room).await })
        },
    );

    nsp.on(
        "message",
        |socket: Socket, State(members): State<Members>, post: Post| async move {
            let text = match valid_text(&post.text) {
                Ok(text) => text,
                Err(e) => return error(e),
            };
            let room = post.room.trim();
            if !members.in_room(socket.id(), room) {
                return error(format!("join {room:?} before writing to it"));
            }
            let from = members.nick(socket.id()).unwrap_or_default();
            let out = json!({ "room": room, "text": text, "from": from });
            // `socket.to` leaves the sender out: its page shows its own copy
            match socket.to(room_key(room)).emit("message", &out).await {
                Ok(()) => json!({ "ok": true }),
                Err(e) => error(format!("not delivered: {e}")),
            }
        },
    );

    nsp.on_disconnect(
        |socket: Socket, State(members): State<Members>, _reason: DisconnectReason| async move {
            // Volley has already taken the socket out of its rooms; tell those left behind.
            if let Some(member) = members.remove(socket.id()) {
                for room in &member.rooms {
                    announce(&socket, room, &member.nick, false, None).await;
                }
            }
        },
    );
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unknown_adapters_name_the_supported_ones() {
        for url in ["", "mem", "carrier-pigeon://x"] {
            let opts = ChatOptions {
                adapter: url.to_owned(),
                ..ChatOptions::default()
            };
            let Err(ChatError::Adapter(text)) = server(&opts) else {
                panic!("{url:?} accepted");
            };
            assert!(
                text.contains("memory") && text.contains("redis://"),
                "{text}"
            );
        }
    }

    #[test]
    fn names_are_trimmed_and_bounded() {
        assert_eq!(valid_room("  r1 "), Ok("r1".to_owned()));
        assert!(valid_room("   ").is_err());
        assert!(valid_room(&"x".repeat(MAX_ROOM)).is_ok());
        assert!(valid_room(&"x".repeat(MAX_ROOM + 1)).is_err());
        // characters, not bytes
        assert!(valid_nick(&"é".repeat(MAX_NICK)).is_ok());
        assert!(valid_nick(&"é".repeat(MAX_NICK + 1)).is_err());
        assert!(valid_nick("a\u{0}b").is_err());
    }

    #[test]
    fn text_is_bounded_and_kept() {
        assert_eq!(valid_text(" hi  there "), Ok(" hi  there "));
        assert!(valid_text(" \n ").is_err());
        assert!(valid_text(&"y".repeat(MAX_TEXT)).is_ok());
        assert!(valid_text(&"y".repeat(MAX_TEXT + 1)).is_err());
    }

    #[test]
    fn a_nickname_asked_for_at_connect_must_be_valid() {
        let ask = |nick: &str| {
            nick_is_valid(Some(ChatAuth {
                nick: Some(nick.to_owned()),
            }))
        };
        assert_eq!(nick_is_valid(None), Ok(()));
        assert_eq!(nick_is_valid(Some(ChatAuth::default())), Ok(()));
        assert_eq!(ask("ada"), Ok(()));
        let refused = ask(" ").expect_err("a blank nickname");
        assert_eq!(refused.message(), "invalid nickname");
        assert!(ask(&"x".repeat(MAX_NICK + 1)).is_err());
    }

    #[test]
    fn rooms_cannot_be_socket_ids() {
        let sid = Sid::new();
        let key = room_key(sid.as_str());
        assert!(Sid::parse(&key).is_none());
    }

    #[test]
    fn members_track_nicks_and_rooms() {
        let members = Members::default();
        let sid = Sid::new();
        assert!(!members.set_nick(sid, "ghost"));
        assert!(members.join(sid, "r").is_err());
        members.add(sid, "guest".to_owned());
        assert!(members.set_nick(sid, "ann"));
        assert_eq!(members.nick(sid).as_deref(), Some("ann"));
        for i in 0..MAX_ROOMS_PER_CLIENT {
            assert_eq!(members.join(sid, &format!("r{i}")), Ok(()));
        }
        assert_eq!(
            members.join(sid, "r0"),
            Ok(()),
            "rejoining is not a new room"
        );
        assert!(members.join(sid, "one-too-many").is_err());
        assert!(members.in_room(sid, "r3"));
        assert!(members.leave(sid, "r3"));
        assert!(!members.leave(sid, "r3"));
        assert!(!members.in_room(sid, "r3"));
        let gone = members.remove(sid).expect("member");
        assert_eq!(gone.rooms.len(), MAX_ROOMS_PER_CLIENT - 1);
        assert_eq!(members.nick(sid), None);
    }

    #[test]
    fn missing_files_are_reported() {
        let opts = ChatOptions {
            public_dir: PathBuf::from("/nonexistent/chat"),
            ..ChatOptions::default()
        };
        assert!(matches!(server(&opts), Err(ChatError::PageMissing(_))));
        let opts = ChatOptions {
            adapter: "carrier-pigeon://".to_owned(),
            ..opts
        };
        assert!(matches!(server(&opts), Err(ChatError::Adapter(_))));
    }
}
