// A remote-controlled official socket.io-client for the Volley tests (tests/src/puppet.rs).
//
// usage: node puppet.mjs <server-url> [polling|websocket|upgrade] [json|msgpack]
//
// Reads one JSON command per line on stdin and prints one JSON object per line on stdout: the
// answer to each command (with its "id") and everything the server sends unasked (events,
// disconnects, connect errors). Binary data travels as {"$binary": "<hex>"} both ways. It asserts
// nothing: the Rust tests decide. It exits when stdin closes.
import { Manager } from "socket.io-client";
import { createInterface } from "node:readline";

const [url, transport = "websocket", parserName = "json", extraJson = "{}"] = process.argv.slice(2);
// Extra Manager options, e.g. {"extraHeaders": {...}, "query": {...}}.
const extra = JSON.parse(extraJson);

function out(obj) {
  process.stdout.write(JSON.stringify(obj) + "\n");
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

function fromJson(value) {
  if (Array.isArray(value)) return value.map(fromJson);
  if (value !== null && typeof value === "object") {
    if (typeof value.$binary === "string" && Object.keys(value).length === 1) {
      return Buffer.from(value.$binary, "hex");
    }
    return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, fromJson(v)]));
  }
  return value;
}

const transports = {
  polling: { transports: ["polling"], upgrade: false },
  websocket: { transports: ["websocket"] },
  upgrade: { transports: ["polling", "websocket"], upgrade: true },
}[transport];
if (!transports) throw new Error(`unknown transport ${transport}`);

let parser;
if (parserName === "msgpack") {
  parser = (await import("socket.io-msgpack-parser")).default;
}

const manager = new Manager(url, {
  reconnection: false,
  timeout: 5000,
  autoConnect: false,
  ...transports,
  ...(parser ? { parser } : {}),
  ...extra,
});
manager.on("error", (err) => out({ ev: "manager_error", message: String(err && err.message) }));
manager.engine?.on?.("upgrade", () => {});

const sockets = new Map();
// Replies to server calls: event -> args to ack with.
const replies = new Map();
// Events whose acks this client never sends (to test server-side timeouts).
const silenced = new Set();

function socketFor(nsp) {
  const s = sockets.get(nsp);
  if (!s) throw new Error(`no socket for ${nsp}`);
  return s;
}

const commands = {
  async connect({ nsp = "/", auth }) {
    const socket = manager.socket(nsp, auth === undefined ? {} : { auth });
    sockets.set(nsp, socket);
    socket.onAny((event, ...args) => {
      const last = args[args.length - 1];
      const hasAck = typeof last === "function";
      const plain = hasAck ? args.slice(0, -1) : args;
      out({ ev: "event", nsp, event, args: toJson(plain), ack: hasAck });
      if (hasAck && !silenced.has(`${nsp}|${event}`)) {
        const reply = replies.get(`${nsp}|${event}`) ?? [];
        last(...fromJson(reply));
      }
    });
    socket.on("disconnect", (reason, details) => out({ ev: "disconnect", nsp, reason }));
    // every connect, the first and each reconnect (with connection state recovery, whether the
    // server recovered the socket)
    socket.on("connect", () =>
      out({ ev: "connected", nsp, sid: socket.id, recovered: socket.recovered }),
    );
    return await new Promise((resolve) => {
      socket.once("connect", () => resolve({ sid: socket.id, recovered: socket.recovered }));
      socket.once("connect_error", (err) => {
        sockets.delete(nsp);
        resolve({ connect_error: { message: err.message, data: toJson(err.data) } });
      });
      // the connection closed before the namespace answered
      socket.once("disconnect", (reason) => resolve({ closed: reason }));
      if (manager._readyState === "closed" || !manager.engine) manager.open();
      socket.connect();
    });
  },
  async emit({ nsp = "/", event, args = [], ack = false, timeout = 5000 }) {
    const socket = socketFor(nsp);
    const values = fromJson(args);
    if (!ack) {
      socket.emit(event, ...values);
      return {};
    }
    const answer = await socket.timeout(timeout).emitWithAck(event, ...values);
    return { ack: toJson(answer) };
  },
  async emit_multi_ack({ nsp = "/", event, args = [], timeout = 5000 }) {
    // acks with several arguments: capture them all through a raw callback
    const socket = socketFor(nsp);
    return await new Promise((resolve) => {
      socket.timeout(timeout).emit(event, ...fromJson(args), (err, ...answer) => {
        resolve(err ? { error: String(err.message) } : { ack: toJson(answer) });
      });
    });
  },
  async reply({ nsp = "/", event, args = [] }) {
    replies.set(`${nsp}|${event}`, args);
    return {};
  },
  async silence({ nsp = "/", event }) {
    silenced.add(`${nsp}|${event}`);
    return {};
  },
  async disconnect({ nsp = "/" }) {
    socketFor(nsp).disconnect();
    sockets.delete(nsp);
    return {};
  },
  async transport() {
    return { name: manager.engine ? manager.engine.transport.name : null };
  },
  async wait_upgrade({ timeout = 5000 }) {
    const engine = manager.engine;
    if (engine.transport.name === "websocket") return { name: "websocket" };
    return await new Promise((resolve) => {
      const t = setTimeout(() => resolve({ name: engine.transport.name }), timeout);
      engine.once("upgrade", () => {
        clearTimeout(t);
        resolve({ name: engine.transport.name });
      });
    });
  },
  async close() {
    manager.engine?.close();
    return {};
  },
  async drop() {
    // the transport closes as a network failure would: with `reconnection` on, the client
    // reconnects by itself
    manager.engine?.close();
    return {};
  },
};

const rl = createInterface({ input: process.stdin });
rl.on("line", async (line) => {
  let cmd;
  try {
    cmd = JSON.parse(line);
  } catch (e) {
    out({ ev: "bad_command", line });
    return;
  }
  const handler = commands[cmd.cmd];
  if (!handler) {
    out({ id: cmd.id, error: `unknown command ${cmd.cmd}` });
    return;
  }
  try {
    out({ id: cmd.id, ...(await handler(cmd)) });
  } catch (e) {
    out({ id: cmd.id, error: String(e && e.message ? e.message : e) });
  }
});
rl.on("close", () => {
  for (const s of sockets.values()) s.disconnect();
  manager.engine?.close();
  setTimeout(() => process.exit(0), 50);
});
