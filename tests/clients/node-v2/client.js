// Drives socket.io-client 2.x (Engine.IO v3, Socket.IO protocol v4) against a Volley server
// built with `allow_eio3(true)`, for tests/tests/interop_eio3.rs.
//
// usage: node client.js <server-url> <scenario> [polling|websocket|upgrade]
//
// Prints one JSON object per line ({"ev": "...", ...}) for what happened; exits 0 when the
// scenario ran to its end, or prints {"ev":"error",...} and exits 1. The Rust test asserts on
// the values. Binary data is printed as {"$binary": "<hex>"}.
"use strict";
const io = require("socket.io-client");

const [url, scenario, transport = "upgrade"] = process.argv.slice(2);
const STEP_MS = 5000;

function out(ev, fields = {}) {
  process.stdout.write(JSON.stringify({ ev, ...fields }) + "\n");
}

function toJson(value) {
  if (Buffer.isBuffer(value)) return { $binary: value.toString("hex") };
  if (value instanceof ArrayBuffer) return { $binary: Buffer.from(value).toString("hex") };
  if (Array.isArray(value)) return value.map(toJson);
  if (value !== null && typeof value === "object") {
    return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, toJson(v)]));
  }
  return value === undefined ? null : value;
}

function transportOptions() {
  switch (transport) {
    case "polling":
      return { transports: ["polling"], upgrade: false };
    case "websocket":
      return { transports: ["websocket"] };
    case "upgrade":
      return { transports: ["polling", "websocket"], upgrade: true };
    default:
      throw new Error(`unknown transport ${transport}`);
  }
}

function connect(nsp, extra = {}) {
  return io(url + nsp, {
    reconnection: false,
    forceNew: true,
    timeout: STEP_MS,
    ...transportOptions(),
    ...extra,
  });
}

// Resolves with the arguments of the next `event` on `emitter`, or fails after STEP_MS.
// Listeners are added before the action that causes the event (see `expect`).
function next(emitter, event, ms = STEP_MS) {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`timed out waiting for "${event}"`)), ms);
    emitter.once(event, (...args) => {
      clearTimeout(timer);
      resolve(args);
    });
  });
}

function waitConnected(socket) {
  if (socket.connected) return Promise.resolve();
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error("timed out waiting for connect")), STEP_MS);
    socket.once("connect", () => {
      clearTimeout(timer);
      resolve();
    });
    for (const ev of ["connect_error", "error"]) {
      socket.once(ev, (err) => {
        clearTimeout(timer);
        reject(new Error(`${ev}: ${JSON.stringify(toJson(err && err.message ? err.message : err))}`));
      });
    }
  });
}

// With the "upgrade" transport, waits until the engine has moved to WebSocket.
function waitUpgraded(socket) {
  const engine = socket.io.engine;
  if (transport !== "upgrade" || engine.transport.name === "websocket") return Promise.resolve();
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error("timed out waiting for the upgrade")), STEP_MS);
    engine.once("upgrade", () => {
      clearTimeout(timer);
      resolve();
    });
    engine.once("upgradeError", (err) => {
      clearTimeout(timer);
      reject(new Error(`upgrade failed: ${err.message}`));
    });
  });
}

// Emits with an ack callback (2.x has no ack timeout of its own); resolves with its arguments.
function emitWithAck(socket, event, ...args) {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`no ack for "${event}"`)), STEP_MS);
    socket.emit(event, ...args, (...ackArgs) => {
      clearTimeout(timer);
      resolve(ackArgs);
    });
  });
}

function transportName(socket) {
  return socket.io.engine.transport.name;
}

const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

const scenarios = {
  // Everything a v2 client does, on one transport: the implicit connect to `/` with its query
  // as auth, acks, binary both ways, a room broadcast reaching two clients, heartbeats kept up
  // by the client, a namespace with its own query, a refused one, disconnects both ways.
  async all() {
    const a = connect("/", { query: { token: "t1" } });
    const hello = next(a, "hello");
    await waitConnected(a);
    const [helloData] = await hello;
    out("connected", { id: a.id, server: toJson(helloData) });
    await waitUpgraded(a);

    const ack = await emitWithAck(a, "echo-ack", "text", 42, { nested: [true, null] });
    out("ack", { args: toJson(ack) });

    const all = Buffer.from(Array.from({ length: 256 }, (_, i) => i));
    const echoed = next(a, "echo-back");
    a.emit("echo", all, { bin: Buffer.from([1, 2, 3]) }, "text");
    out("echo-back", { args: toJson(await echoed) });
    const binAck = await emitWithAck(a, "echo-ack", Buffer.from([4, 5, 6]));
    out("binary-ack", { args: toJson(binAck) });

    // a second client in the room; the broadcast reaches both
    const b = connect("/", { query: { token: "t2" } });
    await waitConnected(b);
    await waitUpgraded(b);
    out("joined", { a: toJson(await emitWithAck(a, "join", "r1")), b: toJson(await emitWithAck(b, "join", "r1")) });
    const newsA = next(a, "news");
    const newsB = next(b, "news");
    a.emit("shout", "r1", "hi room", Buffer.from([7, 7]));
    out("news", { a: toJson(await newsA), b: toJson(await newsB) });
    b.disconnect();

    // the client pings, the server answers: after several ping periods the session lives on
    await sleep(1500);
    out("after-pings", { args: toJson(await emitWithAck(a, "echo-ack", "still here")) });

    // a namespace with its own query, on the same connection
    const admin = a.io.socket("/admin", { query: { token: "t3", role: "ops" } });
    const adminHello = next(admin, "hello");
    await waitConnected(admin);
    out("admin", { id: admin.id, server: toJson((await adminHello)[0]) });
    out("admin-ack", { args: toJson(await emitWithAck(admin, "echo-ack", Buffer.from([9]))) });

    // a namespace that refuses: the client hears it as `error`
    const refused = next(a.io.socket("/refuse"), "error");
    out("refused", { data: toJson((await refused)[0]) });

    // a namespace that does not exist
    const missing = next(a.io.socket("/nope"), "error");
    out("missing", { data: toJson((await missing)[0]) });

    out("transport", { name: transportName(a) });
    admin.disconnect();

    // the server disconnects `a` from `/`
    const gone = next(a, "disconnect");
    a.emit("please-disconnect");
    out("disconnect", { reason: (await gone)[0] });
  },

  // A client that leaves on its own.
  async leave() {
    const a = connect("/");
    await waitConnected(a);
    await waitUpgraded(a);
    out("connected", { id: a.id, transport: transportName(a) });
    a.disconnect();
    await sleep(200);
  },

  // The chat example started with --allow-eio3: a v2 page is greeted and joins a room.
  async chat() {
    const a = connect("/");
    const welcome = next(a, "welcome");
    await waitConnected(a);
    out("welcome", { data: toJson((await welcome)[0]) });
    out("join", { ack: toJson(await emitWithAck(a, "join", "lobby")) });
    a.disconnect();
  },

  // A server without allow_eio3 refuses the handshake.
  async refused() {
    const a = connect("/");
    const [err] = await next(a, "connect_error");
    out("connect_error", {
      message: String(err && err.message),
      description: toJson(err && err.description),
      type: toJson(err && err.type),
    });
    a.close();
  },
};

(async () => {
  const run = scenarios[scenario];
  if (!run) throw new Error(`unknown scenario ${scenario}`);
  await run();
  out("done");
  process.exit(0);
})().catch((err) => {
  out("error", { message: String(err && err.stack ? err.stack : err) });
  process.exit(1);
});
