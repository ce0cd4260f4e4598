//! The chat example end to end in a real browser (separate: it needs Debian's `chromium`, the npm
//! packages of `tests/clients/browser` and `examples/chat`, all installed by `scripts/test.sh`,
//! and it runs a browser, which is slow).
//!
//! The server is `volley_examples::chat` in this process; `tests/clients/browser/chat.mjs` opens
//! three pages in headless Chromium with `playwright-core` and prints what they show as JSON
//! lines, which this test judges.
//!
//! Environment: `VOLLEY_CHROMIUM` (default `/usr/bin/chromium`), `VOLLEY_BROWSER_CLIENTS` (the
//! driver's directory, default `tests/clients/browser`; relative paths are from the workspace
//! root), `VOLLEY_NODE` (default `node`).

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;

use serde_json::{json, Value};
use tokio::io::AsyncReadExt;
use tokio::process::Command;
use volley_examples::chat::{self, ChatOptions};
use volley_tests::server::TestServer;
use volley_tests::{bail, Failure, TestResult};

/// The whole browser run: launching Chromium (up to two tries of 60 s each,
/// `tests/clients/chromium.mjs`), three pages, two messages.
const RUN_TIMEOUT: Duration = Duration::from_secs(180);

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

fn driver_dir() -> TestResult<PathBuf> {
    let dir = env_path(
        "VOLLEY_BROWSER_CLIENTS",
        workspace_root().join("tests/clients/browser"),
    );
    let marker = dir.join("node_modules/playwright-core/package.json");
    if !marker.is_file() {
        bail!(
            "the browser driver is not installed: {} is missing. Run `scripts/test.sh` (it runs \
             `npm ci` in tests/clients/browser), or `npm ci` there by hand, or set \
             VOLLEY_BROWSER_CLIENTS to a directory where it is installed.",
            marker.display()
        );
    }
    Ok(dir)
}

/// What the driver printed.
struct Run {
    events: Vec<Value>,
    stdout: String,
    stderr: String,
}

impl Run {
    fn failure(&self, what: &str) -> Failure {
        Failure::msg(format!(
            "chat browser test: {what}\n--- driver stdout ---\n{}--- driver stderr ---\n{}",
            self.stdout, self.stderr
        ))
    }

    /// The events named `ev` whose fields include all of `fields`.
    fn find(&self, ev: &str, fields: &Value) -> Vec<&Value> {
        self.events
            .iter()
            .filter(|e| e["ev"] == ev)
            .filter(|e| {
                fields
                    .as_object()
                    .is_none_or(|f| f.iter().all(|(k, v)| &e[k] == v))
            })
            .collect()
    }

    fn one(&self, ev: &str, fields: Value) -> TestResult<&Value> {
        match self.find(ev, &fields).as_slice() {
            [e] => Ok(e),
            found => Err(self.failure(&format!(
                "expected one {ev:?} event with {fields}, found {}",
                found.len()
            ))),
        }
    }

    /// The lines of page `page`'s message list, as reported after the `after` message.
    fn messages(&self, page: &str, after: &str) -> TestResult<Vec<Value>> {
        let e = self.one("messages", json!({ "page": page, "after": after }))?;
        match e["messages"].as_array() {
            Some(lines) => Ok(lines.clone()),
            None => Err(self.failure(&format!("{e} has no message list"))),
        }
    }

    fn check(&self, ok: bool, what: &str) -> TestResult {
        if ok {
            Ok(())
        } else {
            Err(self.failure(what))
        }
    }
}

fn count(lines: &[Value], kind: &str, text: &str) -> usize {
    lines
        .iter()
        .filter(|l| l["kind"] == kind && l["text"] == text)
        .count()
}

fn mentions(lines: &[Value], text: &str) -> usize {
    lines.iter().filter(|l| l["text"] == text).count()
}

async fn run_driver(url: &str, first: &str, second: &str) -> TestResult<Run> {
    let chromium = chromium()?;
    let dir = driver_dir()?;
    let node = std::env::var("VOLLEY_NODE").unwrap_or_else(|_| "node".to_owned());
    let mut child = Command::new(&node)
        .arg(dir.join("chat.mjs"))
        .args([url, first, second])
        .current_dir(&dir)
        .env("VOLLEY_CHROMIUM", &chromium)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .map_err(|e| Failure::msg(format!("cannot start `{node}` for the browser driver: {e}")))?;
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
    let status = tokio::time::timeout(RUN_TIMEOUT, child.wait()).await;
    if status.is_err() {
        // Killing node leaves Chromium without its pipe, and it exits too.
        let _ = child.kill().await;
    }
    let collect = |task: tokio::task::JoinHandle<Vec<u8>>| async move {
        match tokio::time::timeout(Duration::from_secs(10), task).await {
            Ok(Ok(buf)) => String::from_utf8_lossy(&buf).into_owned(),
            _ => "<output not collected>\n".to_owned(),
        }
    };
    let mut run = Run {
        events: Vec::new(),
        stdout: collect(out_task).await,
        stderr: collect(err_task).await,
    };
    for line in run.stdout.lines().filter(|l| !l.trim().is_empty()) {
        match serde_json::from_str::<Value>(line) {
            Ok(v) if v.is_object() => run.events.push(v),
            _ => return Err(run.failure(&format!("the driver printed a non-JSON line: {line:?}"))),
        }
    }
    match status {
        Err(_) => Err(run.failure(&format!("the driver did not finish within {RUN_TIMEOUT:?}"))),
        Ok(Err(e)) => Err(run.failure(&format!("cannot wait for the driver: {e}"))),
        Ok(Ok(status)) if !status.success() => {
            Err(run.failure(&format!("the driver failed ({status})")))
        }
        Ok(Ok(_)) => Ok(run),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_pages_chat_in_a_room() -> TestResult {
    // Checked first so that a missing install is reported as such, not as a server error.
    chromium()?;
    driver_dir()?;
    let app = chat::router(&ChatOptions::default()).map_err(|e| {
        Failure::msg(format!(
            "cannot start the chat example: {e}. Run `scripts/test.sh` (it runs `npm ci` in \
             examples/chat)."
        ))
    })?;
    let server = TestServer::spawn(app).await?;

    // Markup and emoji check that the page shows text as text.
    let first = "hello <b>r1</b> from alice 👋";
    let second = "only alice should see this";
    let run = run_driver(server.url(), first, second).await?;

    run.one("done", json!({}))?;
    let errors = &run.one("page_errors", json!({}))?["errors"];
    run.check(
        errors.as_array().is_some_and(|e| e.is_empty()),
        &format!("the pages logged errors: {errors}"),
    )?;

    // join acks carry the member count; presence keeps the others' count up to date
    run.one("joined", json!({ "page": "A", "room": "r1", "members": 1 }))?;
    run.one("joined", json!({ "page": "B", "room": "r1", "members": 2 }))?;
    run.one("joined", json!({ "page": "C", "room": "r2", "members": 1 }))?;
    run.one("members", json!({ "page": "A", "members": 2 }))?;
    run.one("members", json!({ "page": "A", "members": 1 }))?;

    // the server acked both messages as delivered
    run.one(
        "sent",
        json!({ "page": "A", "text": first, "state": "sent" }),
    )?;
    run.one(
        "sent",
        json!({ "page": "A", "text": second, "state": "sent" }),
    )?;

    // B got the first message once, from alice
    let b = run.messages("B", "first")?;
    let got: Vec<&Value> = b
        .iter()
        .filter(|l| l["kind"] == "other" && l["text"] == first)
        .collect();
    run.check(
        got.len() == 1,
        "B should show the first message exactly once",
    )?;
    run.check(
        got[0]["from"] == "alice" && got[0]["room"] == "r1",
        &format!("B's copy should come from alice in r1: {}", got[0]),
    )?;

    // A shows its own copy only: the server skipped the sender
    let a = run.messages("A", "first")?;
    run.check(
        count(&a, "own", first) == 1 && mentions(&a, first) == 1,
        "A should show its own message once and get no copy from the server",
    )?;

    // C, in another room, got nothing
    let c = run.messages("C", "first")?;
    run.check(
        mentions(&c, first) == 0,
        "C (room r2) should not get r1's message",
    )?;

    // a blink: B's connection dropped while A wrote, B came back recovered and shows the
    // message it missed exactly once
    let away = "written while bob was away";
    run.one(
        "recovered",
        json!({ "page": "B", "status": "reconnected, nothing lost" }),
    )?;
    let b = run.messages("B", "blink")?;
    run.check(
        count(&b, "other", away) == 1,
        "B should show the message written while it was away exactly once",
    )?;
    run.check(
        mentions(&b, "Reconnected: nothing was lost while you were away.") == 1,
        "B's page should say that its reconnect lost nothing",
    )?;

    // after leaving, B gets nothing more from r1
    let b = run.messages("B", "second")?;
    run.check(
        mentions(&b, second) == 0,
        "B left r1 and should not get the second message",
    )?;
    run.check(
        count(&b, "other", first) == 1,
        "B should still show the first message once",
    )?;
    let a = run.messages("A", "second")?;
    run.check(
        count(&a, "own", second) == 1 && mentions(&a, second) == 1,
        "A should show its second message once",
    )?;
    Ok(())
}
