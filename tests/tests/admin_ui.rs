//! The Socket.IO Admin UI support (`Server::instrument`) against the official client and the UI's
//! own front end (separate: it needs the npm packages of `tests/clients/admin-ui`, and its browser
//! test Debian's `chromium`, all installed by `scripts/test.sh`).
//!
//! - `golden_trace`: `tests/clients/admin-ui/trace.mjs` replays the scenario of the reference
//!   traces (`reference-trace-node.jsonl` beside it: Node's `socket.io` with `@socket.io/admin-ui`)
//!   against an in-process Volley server; the test compares event names, order and argument
//!   shapes with the reference (ids and timestamps vary).
//! - `read_only_ignores_commands`: the same scenario with `read_only`.
//! - `cluster_admin_sees_and_drives_other_nodes`: two nodes on an in-process bus; an admin on one
//!   sees the other's sockets and statistics, and its commands act on them (the official client
//!   of `tests/clients/node` plays the admin and the clients).
//! - `browser_shows_sockets_and_rooms`: the Admin UI front end from npm (its built `ui/dist`),
//!   served by Volley's `StaticFiles` on another port, in headless Chromium driven by
//!   `tests/clients/admin-ui/browser.mjs`: it logs in and the test checks what the pages show.
//!
//! Environment: `VOLLEY_ADMIN_UI_CLIENTS` (the npm package's directory, default
//! `tests/clients/admin-ui`; relative paths are from the workspace root), `VOLLEY_CHROMIUM`
//! (default `/usr/bin/chromium`), `VOLLEY_NODE` (default `node`).

use std::collections::BTreeSet;
use std::future::IntoFuture;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;

use serde_json::{json, Value};
use tokio::io::AsyncReadExt;
use tokio::process::Command;
use volley::admin::{AdminAuth, AdminOptions};
use volley::manager::cluster::{ClusterConfig, ClusterManager, MemoryBus};
use volley::{Args, Server, Socket, StaticFiles};
use volley_tests::puppet::Puppet;
use volley_tests::server::TestServer;
use volley_tests::{bail, within, Failure, TestResult};

/// A bcrypt hash of "changeit", as the Admin UI's documentation configures its password.
const HASH: &str = "$2a$10$1nPSmZm6Mj36h.8bBDAFYOK7zK93OdTbB.fkWttwO08OCPBbTvenG";
/// One run of a driver script.
const RUN_TIMEOUT: Duration = Duration::from_secs(60);
/// The browser run: launching Chromium (up to two tries of 60 s each, `tests/clients/chromium.mjs`),
/// logging in, three pages.
const BROWSER_TIMEOUT: Duration = Duration::from_secs(200);

fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

fn env_path(var: &str, default: PathBuf) -> PathBuf {
    match std::env::var_os(var).filter(|v| !v.is_empty()) {
        Some(v) => {
            let p = PathBuf::from(v);
            if p.is_relative() {
                workspace_root().join(p)
            } else {
                p
            }
        }
        None => default,
    }
}

/// The npm package of `tests/clients/admin-ui`, checked to be installed.
fn clients_dir() -> TestResult<PathBuf> {
    let dir = env_path(
        "VOLLEY_ADMIN_UI_CLIENTS",
        workspace_root().join("tests/clients/admin-ui"),
    );
    for marker in [
        "node_modules/socket.io-client/package.json",
        "node_modules/playwright-core/package.json",
        "node_modules/@socket.io/admin-ui/ui/dist/index.html",
    ] {
        if !dir.join(marker).is_file() {
            bail!(
                "the Admin UI test clients are not installed: {} is missing. Run \
                 `scripts/test.sh` (it runs `npm ci` in tests/clients/admin-ui), or `npm ci` \
                 there by hand, or set VOLLEY_ADMIN_UI_CLIENTS to a directory where it is \
                 installed.",
                dir.join(marker).display()
            );
        }
    }
    Ok(dir)
}

fn chromium() -> TestResult<PathBuf> {
    let path = env_path("VOLLEY_CHROMIUM", PathBuf::from("/usr/bin/chromium"));
    if !path.is_file() {
        bail!(
            "Chromium is not installed: {} is missing. Run `scripts/test.sh` (it installs Debian's \
             `chromium` with apt-get), or set VOLLEY_CHROMIUM to a Chromium executable.",
            path.display()
        );
    }
    Ok(path)
}

/// The server of the reference scenario: `/` with `join` (acked) and `echo`, an empty `/chat`,
/// and the Admin UI on `/admin` with the password given as a bcrypt hash.
fn scenario_server(read_only: bool) -> TestResult<Server> {
    let io = Server::builder().build();
    io.of("/")
        .on("join", |socket: Socket, room: String| {
            socket.enter_room(&room);
        })
        .on("echo", |socket: Socket, args: Args| async move {
            let _ = socket.emit("echo", &args).await;
        });
    io.of("/chat");
    io.instrument(AdminOptions {
        auth: Some(AdminAuth::new("admin", HASH)),
        read_only,
        ..AdminOptions::default()
    })
    .map_err(|e| Failure::msg(format!("instrument: {e}")))?;
    Ok(io)
}

/// Serves `app` on a free loopback port with peer addresses known (the UI shows them).
async fn serve(app: axum::Router) -> TestResult<(String, tokio::task::JoinHandle<()>)> {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let url = format!("http://{}", listener.local_addr()?);
    let serve = axum::serve(
        listener,
        app.into_make_service_with_connect_info::<SocketAddr>(),
    )
    .into_future();
    let task = tokio::spawn(async move {
        if let Err(e) = serve.await {
            eprintln!("test server stopped with an error: {e}");
        }
    });
    Ok((url, task))
}

/// What a driver script printed: one JSON value per line.
struct Run {
    lines: Vec<Value>,
    stdout: String,
    stderr: String,
}

impl Run {
    fn failure(&self, what: &str) -> Failure {
        Failure::msg(format!(
            "admin UI test: {what}\n--- driver stdout ---\n{}--- driver stderr ---\n{}",
            self.stdout, self.stderr
        ))
    }

    fn check(&self, ok: bool, what: &str) -> TestResult {
        if ok {
            Ok(())
        } else {
            Err(self.failure(what))
        }
    }
}

/// Runs `node <script> <args>` in `dir`, bounded by `limit`; fails if it exits non-zero.
async fn run_node(
    dir: &Path,
    script: &str,
    args: &[&str],
    envs: &[(&str, &Path)],
    limit: Duration,
) -> TestResult<Run> {
    let node = std::env::var("VOLLEY_NODE").unwrap_or_else(|_| "node".to_owned());
    let mut cmd = Command::new(&node);
    cmd.arg(dir.join(script))
        .args(args)
        .current_dir(dir)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true);
    for (k, v) in envs {
        cmd.env(k, v);
    }
    let mut child = cmd
        .spawn()
        .map_err(|e| Failure::msg(format!("cannot start `{node}` for {script}: {e}")))?;
    let mut stdout = child
        .stdout
        .take()
        .ok_or_else(|| Failure::msg("no stdout pipe"))?;
    let mut stderr = child
        .stderr
        .take()
        .ok_or_else(|| Failure::msg("no stderr pipe"))?;
    let out_task = tokio::spawn(async move {
        let mut buf = Vec::new();
        let _ = stdout.read_to_end(&mut buf).await;
        buf
    });
    let err_task = tokio::spawn(async move {
        let mut buf = Vec::new();
        let _ = stderr.read_to_end(&mut buf).await;
        buf
    });
    let status = tokio::time::timeout(limit, child.wait()).await;
    if status.is_err() {
        let _ = child.kill().await;
    }
    let collect = |task: tokio::task::JoinHandle<Vec<u8>>| async move {
        match tokio::time::timeout(Duration::from_secs(10), task).await {
            Ok(Ok(buf)) => String::from_utf8_lossy(&buf).into_owned(),
            _ => "<output not collected>\n".to_owned(),
        }
    };
    let mut run = Run {
        lines: Vec::new(),
        stdout: collect(out_task).await,
        stderr: collect(err_task).await,
    };
    for line in run.stdout.lines().filter(|l| !l.trim().is_empty()) {
        match serde_json::from_str::<Value>(line) {
            Ok(v) => run.lines.push(v),
            Err(_) => {
                return Err(run.failure(&format!("{script} printed a non-JSON line: {line:?}")))
            }
        }
    }
    match status {
        Err(_) => Err(run.failure(&format!("{script} did not finish within {limit:?}"))),
        Ok(Err(e)) => Err(run.failure(&format!("cannot wait for {script}: {e}"))),
        Ok(Ok(status)) if !status.success() => {
            Err(run.failure(&format!("{script} failed ({status})")))
        }
        Ok(Ok(_)) => Ok(run),
    }
}

// --- comparing with the reference trace -------------------------------------------------------

/// The type skeleton of a value: strings, numbers, booleans and nulls by type, objects by their
/// keys (the values of `headers` and `query` vary with the client, so only their type counts),
/// arrays by the set of their elements' skeletons.
fn shape(v: &Value, key: &str) -> Value {
    match v {
        Value::Null => json!("null"),
        Value::Bool(_) => json!("boolean"),
        Value::Number(_) => json!("number"),
        Value::String(_) => json!("string"),
        Value::Object(_) if key == "headers" || key == "query" => json!("object"),
        Value::Object(map) => {
            Value::Object(map.iter().map(|(k, v)| (k.clone(), shape(v, k))).collect())
        }
        Value::Array(items) => {
            let set: BTreeSet<String> = items.iter().map(|i| shape(i, "").to_string()).collect();
            json!(set.into_iter().collect::<Vec<_>>())
        }
    }
}

/// The skeleton of an event: its name, then each argument's skeleton in order.
fn event_shape(event: &[Value]) -> Value {
    event.iter().map(|a| shape(a, "")).collect()
}

/// The arguments of every `["admin <-", event, ...args]` line, with the event name first.
fn admin_events(lines: &[Value]) -> Vec<Vec<Value>> {
    lines
        .iter()
        .filter_map(Value::as_array)
        .filter(|l| l.first() == Some(&json!("admin <-")))
        .map(|l| l[1..].to_vec())
        .collect()
}

fn reference() -> TestResult<Vec<Value>> {
    let path = workspace_root().join("tests/clients/admin-ui/reference-trace-node.jsonl");
    let text = std::fs::read_to_string(&path)
        .map_err(|e| Failure::msg(format!("cannot read {}: {e}", path.display())))?;
    text.lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| serde_json::from_str(l).map_err(Failure::from))
        .collect()
}

/// The position of the first admin event named `name` whose arguments satisfy `pred`.
fn position(events: &[Vec<Value>], name: &str, pred: impl Fn(&[Value]) -> bool) -> Option<usize> {
    events.iter().position(|e| e[0] == name && pred(&e[1..]))
}

fn line<'a>(run: &'a Run, tag: &str) -> TestResult<&'a [Value]> {
    run.lines
        .iter()
        .filter_map(Value::as_array)
        .find(|l| l.first() == Some(&json!(tag)))
        .map(|l| &l[1..])
        .ok_or_else(|| run.failure(&format!("no {tag:?} line")))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn golden_trace() -> TestResult {
    let dir = clients_dir()?;
    let io = scenario_server(false)?;
    let (url, _task) = serve(io.router()).await?;
    let run = run_node(
        &dir,
        "trace.mjs",
        &[&url, "admin", "changeit", "full"],
        &[],
        RUN_TIMEOUT,
    )
    .await?;
    let reference = reference()?;
    let expected = admin_events(&reference);
    let ours = admin_events(&run.lines);

    // a wrong password: the reference's message, no data
    run.check(
        run.lines.first() == reference.first(),
        &format!(
            "the failed login should read {}",
            reference.first().cloned().unwrap_or_default()
        ),
    )?;

    // every event of the reference, with the same argument shapes (each event of the reference
    // must match one of ours of the same name)
    for event in &expected {
        let name = event[0].as_str().unwrap_or_default();
        let want = event_shape(event);
        let candidates: Vec<Value> = ours
            .iter()
            .filter(|e| e[0] == event[0])
            .map(|e| event_shape(e))
            .collect();
        let Some(got) = candidates
            .iter()
            .find(|got| **got == want)
            .or(candidates.first())
            .cloned()
        else {
            return Err(run.failure(&format!("no {name} event")));
        };
        if name == "server_stats" {
            // the aggregated events of one window vary: each of ours must be a reference kind
            let kinds = |v: &Value| {
                v[1]["aggregatedEvents"]
                    .as_array()
                    .cloned()
                    .unwrap_or_default()
            };
            let known: Vec<Value> = kinds(&want);
            run.check(
                kinds(&got).iter().all(|k| known.contains(k)),
                &format!("server_stats aggregated events: got {got}, reference {want}"),
            )?;
            let strip = |mut v: Value| {
                v[1]["aggregatedEvents"] = json!("…");
                v
            };
            run.check(
                strip(want.clone()) == strip(got.clone()),
                &format!("server_stats shape: got {got}, reference {want}"),
            )?;
        } else {
            run.check(
                want == got,
                &format!("{name} shape: got {got}, reference {want}"),
            )?;
        }
    }
    let names = |events: &[Vec<Value>]| -> BTreeSet<String> {
        events.iter().map(|e| e[0].to_string()).collect()
    };
    run.check(
        names(&ours) == names(&expected),
        &format!(
            "event names: got {:?}, reference {:?}",
            names(&ours),
            names(&expected)
        ),
    )?;

    // the admin's own connection, in the reference's order
    let session = position(&ours, "session", |_| true);
    let own_room = position(&ours, "room_joined", |a| a[0] == "/admin");
    let own_socket = position(&ours, "socket_connected", |a| a[0]["nsp"] == "/admin");
    let config = position(&ours, "config", |_| true);
    let all = position(&ours, "all_sockets", |_| true);
    run.check(
        session == Some(0) && own_room < own_socket && own_socket < config && config < all,
        &format!(
            "login order: session {session:?}, room_joined {own_room:?}, socket_connected \
             {own_socket:?}, config {config:?}, all_sockets {all:?}"
        ),
    )?;
    run.check(
        ours[config.unwrap_or_default()][1] == expected[3][1],
        "config should offer every feature (not read-only)",
    )?;
    let all_sockets = &ours[all.unwrap_or_default()][1];
    run.check(
        all_sockets
            .as_array()
            .is_some_and(|s| s.len() == 1 && s[0]["nsp"] == "/admin"),
        &format!("all_sockets should list the admin socket alone: {all_sockets}"),
    )?;

    // the client: connected, upgraded, its events, the admin's commands, its disconnection
    let client = ours
        .iter()
        .find(|e| e[0] == "socket_connected" && e[1]["nsp"] == "/")
        .map(|e| e[1].clone())
        .ok_or_else(|| run.failure("no socket_connected for the client"))?;
    let sid = client["id"].clone();
    let handshake = &client["handshake"];
    run.check(
        client["transport"] == "polling"
            && client["rooms"] == json!([sid])
            && handshake["query"]["foo"] == "bar"
            && handshake["address"] == "127.0.0.1"
            && handshake["headers"]["host"].is_string()
            && handshake["url"]
                .as_str()
                .is_some_and(|u| u.starts_with("/socket.io/?foo=bar&EIO=4"))
            && client["clientId"].as_str().is_some_and(|c| c.len() == 12),
        &format!("the client's socket_connected: {client}"),
    )?;
    let is = |a: &[Value], values: &[Value]| a.len() > values.len() && a[..values.len()] == *values;
    let steps = [
        ("socket_connected", json!([{ "id": sid }])),
        (
            "socket_updated",
            json!([{ "id": sid, "nsp": "/", "transport": "websocket" }]),
        ),
        ("event_received", json!(["/", sid, ["join", "room1"]])),
        ("event_received", json!(["/", sid, ["echo", "hi", 1]])),
        ("event_sent", json!(["/", sid, ["echo", "hi", 1]])),
        ("event_sent", json!(["/", sid, ["hello", "world"]])),
        ("room_joined", json!(["/", "room2", sid])),
        ("room_left", json!(["/", "room2", sid])),
        (
            "socket_disconnected",
            json!(["/", sid, "server namespace disconnect"]),
        ),
        ("room_left", json!(["/", sid, sid])),
    ];
    let mut last = None;
    for (name, args) in &steps {
        let args = args.as_array().cloned().unwrap_or_default();
        let found = position(&ours, name, |a| {
            if name == &"socket_connected" || name == &"socket_updated" {
                a[0]["id"] == args[0]["id"] && (name == &"socket_connected" || a[0] == args[0])
            } else {
                is(a, &args)
            }
        });
        run.check(
            found.is_some() && found > last,
            &format!("{name} {args:?} missing or out of order (at {found:?}, after {last:?})"),
        )?;
        last = found;
    }
    run.check(
        position(&ours, "room_joined", |a| {
            is(a, &[json!("/"), json!("room1"), sid.clone()])
        })
        .is_some()
            && position(&ours, "room_left", |a| {
                is(a, &[json!("/"), json!("room1"), sid.clone()])
            }) > position(&ours, "socket_disconnected", |_| true),
        "room1 should be joined, and left after the disconnection",
    )?;
    run.check(
        line(&run, "client disconnect")? == [json!("io server disconnect")],
        "the client should be disconnected by the server",
    )?;

    // the admin namespace's own events are not reported
    run.check(
        !ours
            .iter()
            .any(|e| (e[0] == "event_received" || e[0] == "event_sent") && e[1] == "/admin"),
        "events of the admin namespace must not be reported",
    )?;
    // timestamps are JavaScript's ISO form
    let stamp = ours
        .iter()
        .find(|e| e[0] == "room_joined")
        .and_then(|e| e.last())
        .and_then(Value::as_str)
        .unwrap_or_default();
    run.check(
        stamp.len() == 24 && stamp.ends_with('Z') && stamp.as_bytes()[10] == b'T',
        &format!("timestamp {stamp:?} is not like 2026-11-25T16:39:59.616Z"),
    )?;

    // the statistics of this node
    let stats = &ours[position(&ours, "server_stats", |_| true).unwrap_or_default()][1];
    let namespaces: BTreeSet<String> = stats["namespaces"]
        .as_array()
        .map(|n| n.iter().map(|n| n["name"].to_string()).collect())
        .unwrap_or_default();
    run.check(
        stats["pid"] == std::process::id()
            && ["\"/\"", "\"/chat\"", "\"/admin\""]
                .iter()
                .all(|n| namespaces.contains(*n)),
        &format!("server_stats: {stats}"),
    )?;

    // a session id logs in again; a made-up one does not
    run.check(
        line(&run, "session resume")? == [json!("ok")],
        "the session id should log in again",
    )?;
    run.check(
        line(&run, "forged session")? == [json!("invalid credentials")],
        "a made-up session id should be refused",
    )?;
    line(&run, "done")?;
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn read_only_ignores_commands() -> TestResult {
    let dir = clients_dir()?;
    let io = scenario_server(true)?;
    let (url, _task) = serve(io.router()).await?;
    let run = run_node(
        &dir,
        "trace.mjs",
        &[&url, "admin", "changeit", "readonly"],
        &[],
        RUN_TIMEOUT,
    )
    .await?;
    let ours = admin_events(&run.lines);
    let config = ours
        .iter()
        .find(|e| e[0] == "config")
        .map(|e| e[1].clone())
        .unwrap_or_default();
    run.check(
        config == json!({ "supportedFeatures": ["AGGREGATED_EVENTS", "ALL_EVENTS"] }),
        &format!("read-only config: {config}"),
    )?;
    run.check(
        line(&run, "client got hello")? == [json!(false)]
            && line(&run, "client connected")? == [json!(true)],
        "a read-only admin must not emit to or disconnect clients",
    )?;
    run.check(
        !ours
            .iter()
            .any(|e| e[0] == "room_joined" && e.get(2) == Some(&json!("room2"))),
        "a read-only admin must not make clients join rooms",
    )?;
    line(&run, "done")?;
    Ok(())
}

// --- the UI in a browser -------------------------------------------------------------------------

/// The UI's built files served by Volley's `StaticFiles` (SVG logos with their content type).
fn ui_server(dist: &Path) -> TestResult<Server> {
    let mut files = StaticFiles::new().dir("/", dist);
    let img = dist.join("img");
    for entry in std::fs::read_dir(&img)? {
        let path = entry?.path();
        if path.extension().is_some_and(|e| e == "svg") {
            let name = path
                .file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_default();
            files = files.file_with_type(format!("/img/{name}"), &path, "image/svg+xml");
        }
    }
    // its own Socket.IO path is out of the way: only the files matter here
    Ok(Server::builder()
        .path("/unused.io/")
        .static_files(files)
        .build())
}

fn events<'a>(run: &'a Run, ev: &str) -> Vec<&'a Value> {
    run.lines.iter().filter(|l| l["ev"] == ev).collect()
}

fn one<'a>(run: &'a Run, ev: &str) -> TestResult<&'a Value> {
    match events(run, ev).as_slice() {
        [e] => Ok(e),
        found => Err(run.failure(&format!("expected one {ev:?} line, found {}", found.len()))),
    }
}

fn rows(run: &Run, ev: &str) -> TestResult<Vec<Vec<String>>> {
    let e = one(run, ev)?;
    serde_json::from_value(e["rows"].clone())
        .map_err(|err| run.failure(&format!("{ev}: rows are not lists of cells ({err}): {e}")))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn browser_shows_sockets_and_rooms() -> TestResult {
    // Checked first so that a missing install is reported as such.
    let chromium = chromium()?;
    let dir = clients_dir()?;
    let dist = dir.join("node_modules/@socket.io/admin-ui/ui/dist");

    // The UI on one port, the watched server on another: a cross-origin login with credentials.
    let ui_listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let ui_url = format!("http://{}", ui_listener.local_addr()?);
    drop(ui_listener);
    let (ui_url, _ui_task) = {
        let app = ui_server(&dist)?.router();
        let listener = tokio::net::TcpListener::bind(ui_url.trim_start_matches("http://")).await?;
        let task = tokio::spawn(axum::serve(listener, app).into_future());
        (ui_url, task)
    };
    let io = Server::builder()
        .cors_allowed_origins(ui_url.as_str())
        .build();
    io.of("/").on("join", |socket: Socket, room: String| {
        socket.enter_room(&room);
    });
    io.instrument(AdminOptions {
        auth: Some(AdminAuth::new("admin", "changeit")),
        server_id: Some("volley-test-node".to_owned()),
        ..AdminOptions::default()
    })
    .map_err(|e| Failure::msg(format!("instrument: {e}")))?;
    let (url, _task) = serve(io.router()).await?;

    let run = run_node(
        &dir,
        "browser.mjs",
        &[&format!("{ui_url}/"), &url, "admin", "changeit"],
        &[("VOLLEY_CHROMIUM", &chromium)],
        BROWSER_TIMEOUT,
    )
    .await?;
    one(&run, "done")?;
    let errors = &one(&run, "page_errors")?["errors"];
    run.check(
        errors.as_array().is_some_and(|e| e.is_empty()),
        &format!("the UI logged errors: {errors}"),
    )?;

    // a wrong password shows the reference's message
    let login_error = &one(&run, "login_error")?["text"];
    run.check(
        login_error
            .as_str()
            .is_some_and(|t| t.to_lowercase().contains("invalid credentials")),
        &format!("the login error should say invalid credentials: {login_error}"),
    )?;

    // the sockets page lists both clients, on `/`
    let ids: Vec<String> = serde_json::from_value(one(&run, "clients")?["ids"].clone())?;
    let sockets = rows(&run, "sockets")?;
    for id in &ids {
        run.check(
            sockets.iter().any(|r| r.iter().any(|c| c == id)),
            &format!("the sockets page should list {id}: {sockets:?}"),
        )?;
    }
    // the rooms page lists room1 with both sockets and room2 with one
    let rooms = rows(&run, "rooms")?;
    let room = |name: &str| {
        rooms
            .iter()
            .find(|r| r.first().map(String::as_str) == Some(name))
    };
    run.check(
        room("room1").is_some_and(|r| r.iter().any(|c| c == "2")),
        &format!("the rooms page should show room1 with 2 sockets: {rooms:?}"),
    )?;
    run.check(
        room("room2").is_some_and(|r| r.iter().any(|c| c == "1")),
        &format!("the rooms page should show room2 with 1 socket: {rooms:?}"),
    )?;
    // the servers page shows this node
    let servers = rows(&run, "servers")?;
    run.check(
        servers
            .iter()
            .any(|r| r.iter().any(|c| c.contains("volley-test-node"))),
        &format!("the servers page should list volley-test-node: {servers:?}"),
    )?;
    // a client leaving disappears from the page
    let after = rows(&run, "sockets_after_leave")?;
    run.check(
        after.iter().any(|r| r.iter().any(|c| c == &ids[0]))
            && !after.iter().any(|r| r.iter().any(|c| c == &ids[1])),
        &format!(
            "after one client left, the sockets page should list only {}: {after:?}",
            ids[0]
        ),
    )?;
    Ok(())
}

// --- a cluster ---------------------------------------------------------------------------------

/// The arguments of the next `event` the admin puppet gets whose arguments satisfy `pred`
/// (earlier ones of the same name are skipped).
async fn next_matching(
    admin: &mut Puppet,
    event: &str,
    pred: impl Fn(&Value) -> bool,
) -> TestResult<Value> {
    for _ in 0..50 {
        let args = admin.next_event("/admin", event).await?;
        if pred(&args) {
            return Ok(args);
        }
    }
    bail!("no matching {event} among the next 50")
}

/// A node of a two-node cluster on an in-process bus, instrumented as `server_id`.
fn cluster_node(bus: &MemoryBus, prefix: &str, server_id: &str) -> TestResult<Server> {
    let manager = ClusterManager::new(bus.clone(), ClusterConfig::default().prefix(prefix));
    let io = Server::builder().client_manager(manager).build();
    io.of("/").on("join", |socket: Socket, room: String| {
        socket.enter_room(&room);
    });
    io.instrument(AdminOptions {
        auth: Some(AdminAuth::new("admin", "changeit")),
        server_id: Some(server_id.to_owned()),
        ..AdminOptions::default()
    })
    .map_err(|e| Failure::msg(format!("instrument: {e}")))?;
    Ok(io)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cluster_admin_sees_and_drives_other_nodes() -> TestResult {
    let bus = MemoryBus::new();
    let prefix = format!("adminui{}", std::process::id());
    let (a, b) = (
        cluster_node(&bus, &prefix, "node-a")?,
        cluster_node(&bus, &prefix, "node-b")?,
    );
    let server_a = TestServer::spawn(a.router()).await?;
    let server_b = TestServer::spawn(b.router()).await?;
    within(
        Duration::from_secs(10),
        "the two nodes see each other",
        async {
            while a.server_count() < 2 || b.server_count() < 2 {
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
        },
    )
    .await?;
    // each node notices the cluster at its next statistics tick (every second)
    tokio::time::sleep(Duration::from_millis(1500)).await;

    // a client of node B, in room1, before the admin comes
    let mut first = Puppet::spawn(server_b.url(), "websocket").await?;
    let first_sid = first.connect("/", None).await?;
    first.emit_ack("/", "join", json!(["room1"])).await?;

    // the admin logs in on node A and is told about B's socket
    let mut admin = Puppet::spawn(server_a.url(), "websocket").await?;
    admin
        .connect(
            "/admin",
            Some(json!({ "username": "admin", "password": "changeit" })),
        )
        .await?;
    let all = admin.next_event("/admin", "all_sockets").await?;
    let listed = all[0]
        .as_array()
        .and_then(|s| s.iter().find(|s| s["id"] == first_sid.as_str()).cloned())
        .ok_or_else(|| Failure::msg(format!("all_sockets does not list {first_sid}: {all}")))?;
    if listed["nsp"] != "/"
        || !listed["rooms"]
            .as_array()
            .is_some_and(|r| r.contains(&json!("room1")))
    {
        bail!("B's socket in all_sockets: {listed}");
    }

    // a second client of node B: its connection and events reach the admin on A
    let mut second = Puppet::spawn(server_b.url(), "websocket").await?;
    let sid = second.connect("/", None).await?;
    let connected = next_matching(&mut admin, "socket_connected", |a| {
        a[0]["id"] == sid.as_str()
    })
    .await?;
    if connected[0]["transport"] != "websocket" || connected[0]["nsp"] != "/" {
        bail!("socket_connected for {sid}: {connected}");
    }

    // the admin's commands, sent to A, act on B's socket
    admin
        .emit("/admin", "emit", json!(["/", sid, "hello", "world"]))
        .await?;
    let hello = second.next_event("/", "hello").await?;
    if hello != json!(["world"]) {
        bail!("hello arrived as {hello}");
    }
    admin
        .emit("/admin", "join", json!(["/", "room9", sid]))
        .await?;
    next_matching(&mut admin, "room_joined", |a| {
        a[0] == "/" && a[1] == "room9" && a[2] == sid.as_str()
    })
    .await?;
    admin
        .emit("/admin", "_disconnect", json!(["/", false, sid]))
        .await?;
    let reason = second.next_disconnect("/").await?;
    if reason != "io server disconnect" {
        bail!("B's socket was disconnected with {reason:?}");
    }

    // both nodes report their statistics to the admin on A
    let mut servers = BTreeSet::new();
    within(
        Duration::from_secs(10),
        "server_stats from both nodes",
        async {
            while servers.len() < 2 {
                if let Ok(stats) = admin.next_event("/admin", "server_stats").await {
                    if let Some(id) = stats[0]["serverId"].as_str() {
                        servers.insert(id.to_owned());
                    }
                }
            }
        },
    )
    .await?;
    if servers != BTreeSet::from(["node-a".to_owned(), "node-b".to_owned()]) {
        bail!("server_stats came from {servers:?}");
    }
    first.close().await;
    second.close().await;
    admin.close().await;
    Ok(())
}
