// A Node socket.io server in a Redis cluster (the classic @socket.io/redis-adapter), for the
// Volley emitter tests (tests/tests/emitter_node.rs).
//
// usage: node node-server.mjs <port|0> <redisUrl> <key>
//
// Serves namespaces "/" and "/custom" on 127.0.0.1. Prints one JSON object per line:
//   {"ev":"listening","port":N}         once listening and subscribed to Redis
//   {"ev":"connection","nsp","id","rooms"}
//   {"ev":"server-side","nsp","args"}   for serverSideEmit("ping-server", ...args)
//   {"ev":"redis_error","message"}
// A socket joins the room given in the handshake query (`?room=r1`), and the room named by a
// "join" event (acked). Binary values are printed as {"$binary": "<hex>"}. Exits when stdin
// closes.
import { createServer } from "node:http";
import { Server } from "socket.io";
import { createAdapter } from "@socket.io/redis-adapter";
import { createClient } from "redis";

const [port = "0", redisUrl = "redis://127.0.0.1:6379", key = "socket.io"] = process.argv.slice(2);

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

const pubClient = createClient({ url: redisUrl });
const subClient = pubClient.duplicate();
for (const client of [pubClient, subClient]) {
  client.on("error", (err) => out({ ev: "redis_error", message: String(err && err.message) }));
}
await Promise.all([pubClient.connect(), subClient.connect()]);

const httpServer = createServer();
const io = new Server(httpServer, { adapter: createAdapter(pubClient, subClient, { key }) });

for (const name of ["/", "/custom"]) {
  const nsp = io.of(name);
  nsp.on("connection", (socket) => {
    const room = socket.handshake.query.room;
    if (typeof room === "string" && room !== "") socket.join(room);
    socket.on("join", (room, ack) => {
      socket.join(room);
      if (typeof ack === "function") ack([...socket.rooms]);
    });
    socket.on("rooms", (ack) => {
      if (typeof ack === "function") ack([...socket.rooms]);
    });
    out({ ev: "connection", nsp: name, id: socket.id, rooms: [...socket.rooms] });
  });
  nsp.on("ping-server", (...args) => out({ ev: "server-side", nsp: name, args: toJson(args) }));
}

// The adapters subscribed on subClient without waiting; commands on one connection are
// answered in order, so once this one is, their subscriptions are active.
await subClient.subscribe(`${key}-volley-ready`, () => {});

httpServer.listen(Number(port), "127.0.0.1", () => {
  out({ ev: "listening", port: httpServer.address().port });
});

process.stdin.on("data", () => {});
process.stdin.on("end", () => process.exit(0));
