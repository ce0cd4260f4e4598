// Publishes into a Socket.IO cluster with the npm @socket.io/redis-emitter, driven by the Volley
// tests (tests/tests/cluster_redis.rs).
//
// usage: node npm-emitter.mjs <redis-url> <key>
//
// Reads one JSON command per line on stdin and answers {"id": ...} once Redis has processed the
// publish (a PING on the same connection follows it). Binary arguments are {"$binary": "<hex>"},
// dates {"$date": <ms>}. It asserts nothing: the Rust test checks what clients receive.
import { createClient } from "redis";
import { Emitter } from "@socket.io/redis-emitter";
import { createInterface } from "node:readline";

const [url, key] = process.argv.slice(2);
const client = createClient({ url });
client.on("error", (err) => process.stderr.write(`redis: ${err}\n`));
await client.connect();
const root = new Emitter(client, { key });

function fromJson(value) {
  if (Array.isArray(value)) return value.map(fromJson);
  if (value !== null && typeof value === "object") {
    if (typeof value.$binary === "string") return Buffer.from(value.$binary, "hex");
    if (typeof value.$date === "number") return new Date(value.$date);
    return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, fromJson(v)]));
  }
  return value;
}

function target({ nsp = "/", to = [], except = [], volatile = false }) {
  let e = root.of(nsp);
  for (const room of to) e = e.to(room);
  for (const room of except) e = e.except(room);
  if (volatile) e = e.volatile;
  return e;
}

const commands = {
  emit: (c) => target(c).emit(c.event, ...fromJson(c.args ?? [])),
  join: (c) => target(c).socketsJoin(c.rooms),
  leave: (c) => target(c).socketsLeave(c.rooms),
  disconnect: (c) => target(c).disconnectSockets(c.close ?? false),
  server_side_emit: (c) => root.of(c.nsp ?? "/").serverSideEmit(c.event, ...fromJson(c.args ?? [])),
};

const rl = createInterface({ input: process.stdin });
for await (const line of rl) {
  const cmd = JSON.parse(line);
  try {
    commands[cmd.cmd](cmd);
    await client.ping();
    process.stdout.write(JSON.stringify({ id: cmd.id }) + "\n");
  } catch (e) {
    process.stdout.write(JSON.stringify({ id: cmd.id, error: String(e) }) + "\n");
  }
}
await client.quit();
