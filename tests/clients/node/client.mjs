// Drives the official socket.io-client against a server for the Volley interop tests.
//
// usage: node client.mjs <server-url> <scenario> [polling|websocket|upgrade|fetch]
//
// Prints one JSON object per line ({"ev": "...", ...}) for what happened; exits 0 when the
// scenario ran to its end, or prints {"ev":"error",...} and exits 1. It checks nothing itself
// beyond "the expected thing arrived in time": the Rust tests (tests/src/interop_cases.rs)
// assert on the values. Binary data is printed as {"$binary": "<hex>"}.
import { io, Fetch } from "socket.io-client";

const [url, scenario, transport = "upgrade"] = process.argv.slice(2);
const STEP_MS = 5000;

// The "fetch" transport polls with Node's fetch(), which asks for gzip / deflate and
// decompresses: the Content-Encoding of every response it gets is recorded here.
const encodings = [];
if (transport === "fetch") {
  const fetchFirst = globalThis.fetch;
  globalThis.fetch = async (...args) => {
    const res = await fetchFirst(...args);
    encodings.push(res.headers.get("content-encoding") ?? "identity");
    return res;
  };
}

function out(ev, fields = {}) {
  process.stdout.write(JSON.stringify({ ev, ...fields }) + "\n");
}

function toJson(value) {
  if (value instanceof ArrayBuffer) return { $binary: Buffer.from(value).toString("hex") };
  if (ArrayBuffer.isView(value)) {
    return { $binary: Buffer.from(value.buffer, value.byteOffset, value.byteLength).toString("hex") };
  }
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
    case "fetch":
      return { transports: [Fetch], upgrade: false };
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

// Records the given events from the moment it is created, so none is missed between awaits.
class Inbox {
  constructor(emitter, events) {
    this.queues = new Map(events.map((e) => [e, []]));
    this.waiters = new Map();
    for (const event of events) {
      emitter.on(event, (...args) => {
        const waiter = this.waiters.get(event);
        if (waiter) {
          this.waiters.delete(event);
          waiter(args);
        } else {
          this.queues.get(event).push(args);
        }
      });
    }
  }

  next(event, ms = STEP_MS) {
    const queued = this.queues.get(event);
    if (queued.length > 0) return Promise.resolve(queued.shift());
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.waiters.delete(event);
        reject(new Error(`timed out after ${ms} ms waiting for "${event}"`));
      }, ms);
      this.waiters.set(event, (args) => {
        clearTimeout(timer);
        resolve(args);
      });
    });
  }
}

function waitConnected(socket) {
  if (socket.connected) return Promise.resolve();
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error("timed out waiting for connect")), STEP_MS);
    socket.once("connect", () => {
      clearTimeout(timer);
      resolve();
    });
    socket.once("connect_error", (err) => {
      clearTimeout(timer);
      reject(new Error(`connect_error: ${err.message}`));
    });
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

// Emits with an ack callback; resolves with the ack arguments.
function emitWithAckArgs(socket, event, ...args) {
  return new Promise((resolve, reject) => {
    socket.timeout(STEP_MS).emit(event, ...args, (err, ...ackArgs) => {
      if (err) reject(new Error(`no ack for "${event}": ${err.message}`));
      else resolve(ackArgs);
    });
  });
}

function transportName(socket) {
  return socket.io.engine.transport.name;
}

async function open(nsp, events, extra = {}) {
  const socket = connect(nsp, extra);
  const inbox = new Inbox(socket, events);
  await waitConnected(socket);
  out("connected", { nsp: socket.nsp, id: socket.id, transport: transportName(socket) });
  return { socket, inbox };
}

const scenarios = {
  // connect, auth event, text echo, final transport
  async basic() {
    const { socket, inbox } = await open("/", ["auth", "echo-back"]);
    out("auth", { data: toJson((await inbox.next("auth"))[0]) });
    await waitUpgraded(socket);
    socket.emit("echo", "hello", 42, { nested: [true, null, "x"] });
    out("echo-back", { args: toJson(await inbox.next("echo-back")) });
    out("transport", { name: transportName(socket) });
    socket.disconnect();
  },

  // binary event round trip and binary ack
  async binary() {
    const { socket, inbox } = await open("/", ["echo-back"]);
    await waitUpgraded(socket);
    const all = Buffer.from(Array.from({ length: 256 }, (_, i) => i));
    socket.emit("echo", all, { bin: Buffer.from([1, 2, 3]), n: 1 }, "text");
    out("echo-back", { args: toJson(await inbox.next("echo-back")) });
    const ack = await emitWithAckArgs(socket, "echo-ack", Buffer.from([4, 5, 6]), "x");
    out("ack", { args: toJson(ack) });
    out("transport", { name: transportName(socket) });
    socket.disconnect();
  },

  // client → server ack, then server → client ack (server `call`)
  async acks() {
    const { socket, inbox } = await open("/", ["call-result", "call-error"]);
    await waitUpgraded(socket);
    socket.on("server-call", (data, ack) => {
      out("server-call", { data: toJson(data) });
      ack("client-ack", data, Buffer.from([9, 8, 7]));
    });
    const ack = await emitWithAckArgs(socket, "echo-ack", 1, "two", { three: [3] });
    out("ack", { args: toJson(ack) });
    socket.emit("please-call", { q: "question" });
    out("call-result", { args: toJson(await inbox.next("call-result")) });
    out("transport", { name: transportName(socket) });
    socket.disconnect();
  },

  // a text argument larger than the server's compression threshold, echoed back; what the
  // transport negotiated (the WebSocket's extensions, the polling responses' encodings)
  async "big-echo"() {
    const { socket, inbox } = await open("/", ["echo-back"]);
    await waitUpgraded(socket);
    const text = Array.from({ length: 500 }, (_, i) => `line ${i} of a long chat message`).join("\n");
    socket.emit("echo", text, { n: 1 });
    const [back, extra] = await inbox.next("echo-back");
    out("echo-back", { sent: text.length, same: back === text, extra: toJson(extra) });
    const ws = socket.io.engine.transport.ws;
    out("transport", { name: transportName(socket), extensions: ws ? ws.extensions : null });
    out("encodings", { seen: encodings });
    socket.disconnect();
  },

  async "custom-namespace"() {
    const { socket, inbox } = await open("/custom", ["auth", "echo-back"]);
    out("auth", { data: toJson((await inbox.next("auth"))[0]) });
    await waitUpgraded(socket);
    socket.emit("echo", "to custom", { k: 1 });
    out("echo-back", { args: toJson(await inbox.next("echo-back")) });
    out("transport", { name: transportName(socket) });
    socket.disconnect();
  },

  async auth() {
    const { socket, inbox } = await open("/", ["auth"], { auth: { token: "abc", n: 1 } });
    out("auth", { data: toJson((await inbox.next("auth"))[0]) });
    socket.disconnect();
  },

  async "unknown-namespace"() {
    await expectConnectError("/nope");
  },

  async refused() {
    await expectConnectError("/refuse");
  },

  async "server-disconnect"() {
    const { socket, inbox } = await open("/", ["disconnect"]);
    await waitUpgraded(socket);
    socket.emit("please-disconnect");
    const [reason] = await inbox.next("disconnect");
    out("disconnect", { reason });
  },

  // The client freezes (its event loop blocks, so it cannot answer pings) long enough for the
  // server's heartbeat to time out; then another client asks the server why the first one left.
  async "heartbeat-timeout"() {
    const { socket, inbox } = await open("/", ["disconnect"]);
    await waitUpgraded(socket);
    const id = socket.id; // cleared by the client on disconnect
    const frozenMs = 1500; // > pingInterval + pingTimeout (500 ms) of the test servers
    const start = Date.now();
    Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, frozenMs);
    out("unfrozen", { ms: Date.now() - start });
    const [reason] = await inbox.next("disconnect");
    out("disconnect", { reason });
    const observer = await open("/", []);
    const [serverReason] = await emitWithAckArgs(observer.socket, "disconnect-reason", id);
    out("server-reason", { id, reason: serverReason });
    observer.socket.disconnect();
  },
};

async function expectConnectError(nsp) {
  const socket = connect(nsp);
  const inbox = new Inbox(socket, ["connect", "connect_error"]);
  const [err] = await inbox.next("connect_error");
  out("connect_error", { message: err.message, data: toJson(err.data ?? null) });
  out("connected-anyway", { value: socket.connected });
  socket.disconnect();
}

async function main() {
  const run = scenarios[scenario];
  if (!run) throw new Error(`unknown scenario ${scenario}`);
  await run();
  out("done");
}

main().then(
  () => process.exit(0),
  (err) => {
    out("error", { message: String(err && err.stack ? err.stack : err) });
    process.exit(1);
  },
);
