// The Node socket.io baseline of Volley's benchmarks: the handlers of
// bench/src/bin/volley_bench_server.rs, on socket.io 4 with its default `ws` engine.
//
//   node server.js --port 3100 [--adapter memory|redis://127.0.0.1:6379[?bus=streams]] [--prefix P]
//
// With a redis:// adapter, @socket.io/redis-adapter on node-redis (key = the prefix). With
// `?bus=streams` (the URL Volley's StreamsBus takes), @socket.io/redis-streams-adapter on
// node-redis instead, on a stream named after the prefix: its nodes read every entry of their
// stream whatever the channel, so two clusters on one stream would deliver each other's
// broadcasts; a stream of the cluster's own keeps each run apart (Volley's `stream=` is not used
// for that reason). `maxlen=N` is its `maxLen`, as for Volley.
"use strict";

const http = require("http");
const { Server } = require("socket.io");

function options() {
  const o = { port: 3100, adapter: "memory", prefix: "volley-bench" };
  const argv = process.argv.slice(2);
  for (let i = 0; i < argv.length; i += 2) {
    const [flag, value] = [argv[i], argv[i + 1]];
    if (value === undefined) throw new Error(`${flag} needs a value`);
    if (flag === "--port") o.port = Number(value);
    else if (flag === "--adapter") o.adapter = value;
    else if (flag === "--prefix") o.prefix = value;
    else throw new Error(`unknown flag ${flag}`);
  }
  return o;
}

// `redis://host:port[?bus=pubsub|streams][&stream=NAME][&maxlen=N][&protocol=node]`, as Volley reads it: the
// URL node-redis is given (without the query), the bus, and the stream's length if set.
function redisUrl(adapter) {
  const u = new URL(adapter);
  let bus = "pubsub";
  let maxLen;
  for (const [key, value] of u.searchParams) {
    if (key === "bus" && (value === "pubsub" || value === "streams")) bus = value;
    else if (key === "maxlen" && /^[0-9]+$/.test(value)) maxLen = Number(value);
    // Volley's choice of Node's protocol: the protocol Node's adapters speak anyway
    else if (key === "protocol" && value === "node") continue;
    else if (key !== "stream") throw new Error(`unsupported ${key}=${value} in ${adapter}`);
  }
  if (bus !== "streams" && (u.searchParams.has("stream") || maxLen !== undefined)) {
    throw new Error(`stream and maxlen need bus=streams: ${adapter}`);
  }
  u.search = "";
  return { url: u.toString(), bus, maxLen };
}

async function main() {
  const opts = options();
  const httpServer = http.createServer();
  const io = new Server(httpServer);
  if (opts.adapter.startsWith("redis://")) {
    const { createClient } = require("redis");
    const { url, bus, maxLen } = redisUrl(opts.adapter);
    if (bus === "streams") {
      const { createAdapter } = require("@socket.io/redis-streams-adapter");
      const client = createClient({ url });
      await client.connect();
      const o = { streamName: opts.prefix, channelPrefix: opts.prefix };
      if (maxLen !== undefined) o.maxLen = maxLen;
      io.adapter(createAdapter(client, o));
    } else {
      const { createAdapter } = require("@socket.io/redis-adapter");
      const pub = createClient({ url });
      const sub = pub.duplicate();
      await Promise.all([pub.connect(), sub.connect()]);
      io.adapter(createAdapter(pub, sub, { key: opts.prefix }));
    }
  } else if (opts.adapter !== "memory") {
    throw new Error(`unknown adapter ${opts.adapter}`);
  }

  io.on("connection", (socket) => {
    socket.on("echo", (...args) => {
      const ack = typeof args[args.length - 1] === "function" ? args.pop() : null;
      if (ack) ack(...args);
    });
    socket.on("join", (room, ack) => {
      socket.join(room);
      if (typeof ack === "function") ack(true);
    });
    socket.on("fanout", (f, ack) => {
      io.to(f.room).emit("msg", f.seq, f.payload);
      if (typeof ack === "function") ack(true);
    });
    socket.on("burst", (b, ack) => {
      // emits are synchronous in socket.io (the redis adapter publishes without waiting for
      // Redis; the streams adapter waits for XADD's answer before delivering locally, but not
      // in this loop), so nothing is in flight to bound as in the other servers.
      for (let i = 0; i < b.count; i++) io.to(b.room).emit("msg", b.from + i, b.payload);
      if (typeof ack === "function") ack(b.count);
    });
  });

  httpServer.listen(opts.port, "127.0.0.1", () => {
    console.log(`node socket.io listening on 127.0.0.1:${opts.port}`);
  });
}

main().catch((e) => {
  console.error(e);
  process.exit(1);
});
