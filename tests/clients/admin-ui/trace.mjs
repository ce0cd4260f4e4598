// Replays the scenario of the Admin UI reference trace (recorded against Node's server and kept
// here as reference-trace-node.jsonl) against a server, for tests/tests/admin_ui.rs.
//
//   node trace.mjs <server url> <username> <password> [full|readonly]
//
// Prints one JSON array per line, in the reference's format: ["admin <-", event, ...args] for
// what the admin socket receives, plus lines of its own ("bad connect_error", "client <-",
// "client disconnect", "session resume", "forged session", "done"). It asserts nothing: the Rust
// test judges. Every wait is bounded; on a failure it prints ["error", step, message] and exits 1.
import { io } from "socket.io-client";

const WAIT_MS = 5_000;
const [url, username, password, mode = "full"] = process.argv.slice(2);
if (!url || !username || !password) {
  console.error("usage: node trace.mjs <server url> <username> <password> [full|readonly]");
  process.exit(2);
}

const out = (...fields) => process.stdout.write(JSON.stringify(fields) + "\n");
const sockets = [];
let step = "start";

function connect(nsp, opts) {
  const socket = io(url + nsp, { forceNew: true, reconnection: false, timeout: WAIT_MS, ...opts });
  sockets.push(socket);
  return socket;
}

// Resolves with the arguments of the first `event` that `pred` accepts, or fails after WAIT_MS.
function once(emitter, event, pred = () => true) {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      emitter.off(event, listener);
      reject(new Error(`no ${event} within ${WAIT_MS} ms`));
    }, WAIT_MS);
    function listener(...args) {
      if (!pred(...args)) return;
      clearTimeout(timer);
      emitter.off(event, listener);
      resolve(args);
    }
    emitter.on(event, listener);
  });
}

// What the admin socket received so far, and waiting for more of it.
const received = [];
const waiters = [];
function record(event, args) {
  received.push([event, ...args]);
  for (const w of [...waiters]) {
    if (w.pred(event, args)) {
      waiters.splice(waiters.indexOf(w), 1);
      clearTimeout(w.timer);
      w.resolve(args);
    }
  }
}
function adminEvent(event, pred = () => true) {
  const seen = received.find(([e, ...args]) => e === event && pred(args));
  if (seen) return Promise.resolve(seen.slice(1));
  return new Promise((resolve, reject) => {
    const w = { pred: (e, args) => e === event && pred(args), resolve };
    w.timer = setTimeout(() => {
      waiters.splice(waiters.indexOf(w), 1);
      reject(new Error(`the admin got no ${event} within ${WAIT_MS} ms`));
    }, WAIT_MS);
    waiters.push(w);
  });
}

// Resolves once the connection runs on WebSocket (or after WAIT_MS, on whatever it has).
function upgraded(socket) {
  const engine = socket.io.engine;
  if (!engine || engine.transport.name === "websocket") return Promise.resolve();
  return new Promise((resolve) => {
    const timer = setTimeout(resolve, WAIT_MS);
    engine.once("upgrade", () => {
      clearTimeout(timer);
      resolve();
    });
  });
}

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

try {
  step = "bad login";
  const bad = connect("/admin", { auth: { username, password: "nope" } });
  const [err] = await once(bad, "connect_error");
  out("bad connect_error", err.message, err.data ?? null);
  bad.close();

  step = "login";
  const admin = connect("/admin", { auth: { username, password } });
  admin.onAny((event, ...args) => {
    out("admin <-", event, ...args);
    record(event, args);
  });
  await once(admin, "connect");
  await adminEvent("all_sockets");
  await upgraded(admin);

  step = "client";
  const client = connect("/", { query: { foo: "bar" } });
  client.onAny((event, ...args) => out("client <-", event, ...args));
  await once(client, "connect");
  const sid = client.id;
  await upgraded(client);
  await client.timeout(WAIT_MS).emitWithAck("join", "room1");
  client.emit("echo", "hi", 1);
  await once(client, "echo");
  if (mode === "full") await adminEvent("event_sent", ([, id, args]) => id === sid && args[0] === "echo");

  step = "commands";
  const disconnected = once(client, "disconnect");
  let gotHello = false;
  client.on("hello", () => (gotHello = true));
  admin.emit("emit", "/", sid, "hello", "world");
  if (mode === "full") {
    await once(client, "hello");
    admin.emit("join", "/", "room2", sid);
    await adminEvent("room_joined", ([, room, id]) => room === "room2" && id === sid);
    admin.emit("leave", "/", "room2", sid);
    await adminEvent("room_left", ([, room, id]) => room === "room2" && id === sid);
    admin.emit("_disconnect", "/", false, sid);
    const [reason] = await disconnected;
    out("client disconnect", reason);
    await adminEvent("room_left", ([, room, id]) => room === "room1" && id === sid);
  } else {
    // read-only: nothing may happen to the client
    admin.emit("join", "/", "room2", sid);
    admin.emit("_disconnect", "/", false, sid);
    // a round trip on the client's connection after the admin's commands had time to act
    await sleep(500);
    await client.timeout(WAIT_MS).emitWithAck("join", "room3");
    out("client connected", client.connected);
    out("client got hello", gotHello);
  }

  step = "server_stats";
  await adminEvent("server_stats");

  step = "session";
  const [sessionId] = received.find(([e]) => e === "session")?.slice(1) ?? [];
  if (sessionId) {
    const again = connect("/admin", { auth: { sessionId } });
    const [result] = await Promise.race([
      once(again, "connect").then(() => ["ok"]),
      once(again, "connect_error").then(([e]) => [e.message]),
    ]);
    out("session resume", result);
  }
  const forged = connect("/admin", { auth: { sessionId: "0123456789abcdef" } });
  const [forgedErr] = await once(forged, "connect_error");
  out("forged session", forgedErr.message);

  out("done");
} catch (e) {
  out("error", step, String(e?.message ?? e));
  for (const s of sockets) s.close();
  process.exit(1);
}
for (const s of sockets) s.close();
setTimeout(() => process.exit(0), 50);
