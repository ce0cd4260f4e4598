// A Node socket.io node of a Redis cluster that behaves like Volley's test node
// (tests/src/cluster_app.rs): the same namespaces, event handlers, acks, server-side events and
// HTTP routes, so the cluster suite (tests/src/cluster_suite.rs) can drive a Node node exactly as
// it drives a Volley one (tests/src/node_peer.rs starts it). Its adapter is
// @socket.io/redis-streams-adapter, with `--classic` the classic @socket.io/redis-adapter, with
// `--sharded` the sharded one of the same package (`createShardedAdapter`, subscription mode
// "dynamic").
//
// usage: node node-peer.mjs <port|0> <redisUrl> <prefix> <name> [--recovery] [--classic|--sharded]
//
// <redisUrl> is redis://host:port, or with --sharded also redis-cluster://host:port[,host:port...].
//
// Streams: the stream is <prefix> and the pub/sub channels start with <prefix> too (the adapter's
// `channelPrefix`). Classic: <prefix> is the adapter's `key`; sharded: its `channelPrefix`. Either
// way a unique prefix makes a cluster of its own. `--recovery` (streams only) turns connection state recovery on (2 min,
// middlewares skipped), as `cluster_node --recovery` does: with it, every broadcast carries its
// stream offset as a last argument.
//
// Prints {"ev":"listening","port":N} once its Redis connections listen on their channels (and
// read the stream), then {"ev":"redis_error",...} lines if Redis fails. Exits when stdin closes.
//
// Acks are shaped as Volley serializes handler results: `Ok(x)` as {"Ok": x}, `Err(e)` as
// {"Err": "<message>"}, `()` as no argument; arguments that do not fit a handler get
// {"error": "invalid arguments", "message": ...}.
import { createServer } from "node:http";
import { Server } from "socket.io";
import { createAdapter as createStreamsAdapter } from "@socket.io/redis-streams-adapter";
import {
  createAdapter as createClassicAdapter,
  createShardedAdapter,
} from "@socket.io/redis-adapter";
import { createClient, createCluster } from "redis";

const args = process.argv.slice(2);
const recovery = args.includes("--recovery");
const classic = args.includes("--classic");
const sharded = args.includes("--sharded");
const [port = "0", redisUrl = "redis://127.0.0.1:6379", streamName = "socket.io", name = "node"] =
  args.filter((a) => !a.startsWith("--"));
if (recovery && (classic || sharded)) {
  out({ ev: "error", message: "Node's pub/sub Redis adapters have no connection state recovery" });
  process.exit(1);
}

/// How long cluster-wide requests (fetch, acks of a call) wait, as Volley's test nodes.
const REQUEST_TIMEOUT_MS = 3000;
/// Emits in flight at most in `burst` and `pump`, as Volley's test nodes.
const IN_FLIGHT = 64;
/// Connection state recovery with `--recovery`.
const RECOVERY = { maxDisconnectionDuration: 2 * 60 * 1000, skipMiddlewares: true };

function out(obj) {
  process.stdout.write(JSON.stringify(obj) + "\n");
}

// Every connection of this node (the adapter duplicates this client) carries one name, which the
// readiness check looks for in CLIENT LIST.
const clientName = `node-peer-${streamName}-${name}-${process.pid}`;
// A Redis Cluster (`redis-cluster://host:port[,host:port...]`, sharded adapter only): node-redis's
// cluster client, every connection of it named the same way.
const clustered = redisUrl.startsWith("redis-cluster://");
if (clustered && !sharded) {
  out({ ev: "error", message: "a Redis Cluster is only supported here with --sharded" });
  process.exit(1);
}
const redisClient = clustered
  ? createCluster({
      rootNodes: redisUrl
        .slice("redis-cluster://".length)
        .split(",")
        .map((host) => ({ url: `redis://${host}` })),
      defaults: { name: clientName },
    })
  : createClient({ url: redisUrl, name: clientName });
redisClient.on("error", (err) => out({ ev: "redis_error", message: String(err && err.message) }));
await redisClient.connect();
// the classic and sharded adapters subscribe on a connection of their own
const subClient = classic || sharded ? redisClient.duplicate() : null;
if (subClient) {
  subClient.on("error", (err) => out({ ev: "redis_error", message: String(err && err.message) }));
  await subClient.connect();
}

const httpServer = createServer((req, res) => {
  const path = (req.url || "").split("?")[0];
  if (req.method === "GET" && path === "/count") {
    io.of("/")
      .adapter.serverCount()
      .then(
        (n) => res.end(String(n)),
        (e) => {
          res.statusCode = 500;
          res.end(String(e && e.message));
        },
      );
  } else if (req.method === "GET" && path === "/tasks") {
    // Node's counterpart of the tokio tasks a Volley node counts: its live handles and requests
    res.end(String(process.getActiveResourcesInfo().length));
  } else {
    res.statusCode = 404;
    res.end();
  }
});

const io = new Server(httpServer, {
  adapter: sharded
    ? createShardedAdapter(redisClient, subClient, {
        channelPrefix: streamName,
        subscriptionMode: "dynamic",
      })
    : classic
    ? createClassicAdapter(redisClient, subClient, {
        key: streamName,
        requestsTimeout: REQUEST_TIMEOUT_MS,
      })
    : createStreamsAdapter(redisClient, { streamName, channelPrefix: streamName }),
  ...(recovery ? { connectionStateRecovery: RECOVERY } : {}),
});

// --- argument checks, as Volley's typed handlers decode them ------------------------------------

const isUint = (v) => Number.isInteger(v) && v >= 0;
const kinds = {
  string: (v) => typeof v === "string",
  strings: (v) => Array.isArray(v) && v.every((s) => typeof s === "string"),
  uint: isUint,
  array: (v) => Array.isArray(v),
};

/// Checks the event's arguments against `spec` (one kind per expected argument; extra arguments
/// are ignored); the message of the first mismatch, or null.
function misfit(values, spec) {
  for (let i = 0; i < spec.length; i++) {
    if (!kinds[spec[i]](values[i])) {
      return `argument ${i}: expected ${spec[i]}, got ${JSON.stringify(values[i]) ?? "nothing"}`;
    }
  }
  return null;
}

const ok = (value) => [{ Ok: value === undefined ? null : value }];
const err = (e) => [{ Err: String(e && e.message ? e.message : e) }];

/// `socket.on(event)` with Volley's handler shape: `run(...args)` returns (a promise of) the ack's
/// argument list; a client that asked for an ack gets it.
function on(socket, event, spec, run) {
  socket.on(event, async (...received) => {
    const ack = typeof received[received.length - 1] === "function" ? received.pop() : null;
    const problem = misfit(received, spec);
    if (problem) {
      ack?.({ error: "invalid arguments", message: problem });
      return;
    }
    let answer;
    try {
      answer = await run(...received);
    } catch (e) {
      answer = err(e);
    }
    ack?.(...answer);
  });
}

// --- cluster operations, awaited until the adapter published them -------------------------------

/// Broadcasts `[event, ...values]` to `rooms` but `except` across the cluster, as the
/// BroadcastOperator does, awaiting the adapter's publish.
function publish(nsp, rooms, except, event, values) {
  // the streams adapter returns a promise, the classic one nothing
  return Promise.resolve().then(() => nsp.adapter.broadcast(
    { type: 2, data: [event, ...values] },
    { rooms: new Set(rooms), except: new Set(except), flags: {} },
  ));
}

function targets(rooms) {
  return { rooms: new Set(rooms), except: new Set(), flags: {} };
}

const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, Math.max(0, ms)));

/// Runs `count` jobs (`job(i)`, started in order of `i`), `IN_FLIGHT` at most at once, each
/// started no earlier than `startAt(i)` (ms, performance clock); their results in order.
async function paced(count, startAt, job) {
  const results = new Array(count);
  const running = new Set();
  for (let i = 0; i < count; i++) {
    await sleep(startAt(i) - performance.now());
    while (running.size >= IN_FLIGHT) await Promise.race(running);
    const p = job(i).then(
      (value) => (results[i] = { value }),
      (error) => (results[i] = { error }),
    );
    const tracked = p.finally(() => running.delete(tracked));
    running.add(tracked);
  }
  await Promise.all(running);
  return results;
}

/// Rust's `{:?}` of `volley::Args` holding these values (each argument as rmpv's Display
/// writes it), for `ask`'s answers.
function debugArgs(values) {
  const value = (v) => {
    if (v === null || v === undefined) return "nil";
    if (typeof v === "boolean" || typeof v === "number") return String(v);
    if (typeof v === "string") return JSON.stringify(v);
    if (Buffer.isBuffer(v) || ArrayBuffer.isView(v)) {
      return `[${[...Buffer.from(v)].join(", ")}]`;
    }
    if (Array.isArray(v)) return `[${v.map(value).join(", ")}]`;
    return `{${Object.entries(v)
      .map(([k, x]) => `${JSON.stringify(k)}: ${value(x)}`)
      .join(", ")}}`;
  };
  return `Args([${values.map(value).join(", ")}])`;
}

// --- the test node's handlers -----------------------------------------------------------------

for (const nsName of ["/", "/other"]) {
  const nsp = io.of(nsName);
  nsp.on("connection", (socket) => {
    on(socket, "node", [], () => [name]);
    on(socket, "join", ["string"], (room) => {
      socket.join(room);
      return [];
    });
    on(socket, "rooms", [], () => [[...socket.rooms]]);
    // (event, rooms, skipped, args): emit from this node to the cluster
    const broadcastArgs = ["string", "strings", "strings", "array"];
    on(socket, "broadcast", broadcastArgs, async (event, rooms, skip, values) => {
      await publish(nsp, rooms, skip, event, values);
      return ok(null);
    });
    // (event, room, count): `count` emits of `[i]` to `room`, 64 in flight, made in order
    on(socket, "burst", ["string", "string", "uint"], async (event, room, count) => {
      const results = await paced(count, () => 0, (i) => publish(nsp, [room], [], event, [i]));
      const failed = results.find((r) => "error" in r);
      return failed ? err(failed.error) : ok(count);
    });
    // (event, room, count, every_ms): `count` emits of `[i]` to `room`, one every `every_ms`, in
    // the background; `ticks-done` reports `[event, ok, failed]` to the asking socket at the end
    on(socket, "ticks", ["string", "string", "uint", "uint"], (event, room, count, everyMs) => {
      (async () => {
        const start = performance.now();
        let sent = 0;
        let failed = 0;
        for (let i = 0; i < count; i++) {
          await sleep(start + i * everyMs - performance.now());
          try {
            await publish(nsp, [room], [], event, [i]);
            sent++;
          } catch {
            failed++;
          }
        }
        socket.emit("ticks-done", event, sent, failed);
      })();
      return [];
    });
    // (event, room, origin, first, count, per_second): `count` emits of `[origin, seq]` to `room`
    // at a steady pace (64 in flight at most); acks with {ok, err, error}
    on(
      socket,
      "pump",
      ["string", "string", "string", "uint", "uint", "uint"],
      async (event, room, origin, first, count, perSecond) => {
        const start = performance.now();
        const gap = 1000 / Math.max(1, perSecond);
        const results = await paced(
          count,
          (i) => start + gap * i,
          (i) => publish(nsp, [room], [], event, [origin, first + i]),
        );
        const pumped = { ok: [], err: [], error: null };
        results.forEach((r, i) => {
          if ("error" in r) {
            pumped.err.push(first + i);
            pumped.error ??= String(r.error && r.error.message ? r.error.message : r.error);
          } else {
            pumped.ok.push(first + i);
          }
        });
        return [pumped];
      },
    );
    on(socket, "fetch", ["strings"], async (rooms) => {
      const sockets = await nsp.in(rooms).timeout(REQUEST_TIMEOUT_MS).fetchSockets();
      return ok(sockets.map((s) => s.id).sort());
    });
    on(socket, "remote-join", ["string", "string"], async (target, room) => {
      if (!isSid(target)) return err("bad sid");
      await nsp.adapter.addSockets(targets([target]), [room]);
      return ok(null);
    });
    on(socket, "remote-leave", ["string", "string"], async (target, room) => {
      if (!isSid(target)) return err("bad sid");
      await nsp.adapter.delSockets(targets([target]), [room]);
      return ok(null);
    });
    on(socket, "remote-disconnect", ["string"], async (target) => {
      if (!isSid(target)) return err("bad sid");
      await nsp.adapter.disconnectSockets(targets([target]), false);
      return ok(null);
    });
    // Node's way of closing a room everywhere: every socket in it leaves it
    on(socket, "close-room", ["string"], async (room) => {
      await nsp.adapter.delSockets(targets([room]), [room]);
      return ok(null);
    });
    // asks every socket of `rooms` (anywhere) a question; acks with [sid, answer | {error}].
    // Node's broadcast acks do not say who answered, so each socket found is asked on its own
    // (a broadcast with ack to its id, through the cluster like any other).
    on(socket, "ask", ["strings", "uint"], async (rooms, timeoutMs) => {
      const found = await nsp.in(rooms).timeout(REQUEST_TIMEOUT_MS).fetchSockets();
      const answers = await Promise.all(
        found.map(async ({ id }) => {
          try {
            const responses = await nsp.to(id).timeout(timeoutMs).emitWithAck("question", "?");
            return [id, debugArgs(responses)];
          } catch (e) {
            return [id, { error: String(e && e.message ? e.message : e) }];
          }
        }),
      );
      answers.sort((a, b) => (JSON.stringify(a) < JSON.stringify(b) ? -1 : 1));
      return ok(answers);
    });
    // one socket anywhere, its ack back (Node's broadcast acks carry a client's first argument)
    on(socket, "call", ["string"], async (target) => {
      if (!isSid(target)) return err("bad sid");
      const operator = nsp.to(target).timeout(REQUEST_TIMEOUT_MS);
      const responses = await operator.emitWithAck("question", "?");
      if (responses.length !== 1) return err(`no socket ${target} answered`);
      return ok(responses);
    });
    on(socket, "server-emit", ["string"], async (text) => {
      await nsp.adapter.serverSideEmit(["note", text]);
      return ok(null);
    });
    on(socket, "server-call", [], async () => {
      const answers = await nsp.serverSideEmitWithAck("who");
      return ok(answers.filter((a) => typeof a === "string").sort());
    });
    on(socket, "count", [], async () => [await io.of("/").adapter.serverCount()]);
  });
  // server-side events from other nodes: notes are forwarded to this node's sockets
  nsp.on("note", (text) => {
    if (typeof text === "string") nsp.local.emit("server-note", text);
  });
  nsp.on("who", (...received) => {
    const callback = received[received.length - 1];
    if (typeof callback === "function") callback(name);
  });
}

/// Whether `s` has the form of a socket id (what Volley's `Sid::parse` accepts).
function isSid(s) {
  return /^[A-Za-z0-9_-]{20}$/.test(s);
}

// --- readiness ----------------------------------------------------------------------------------

/// Whether the adapter's connections are in place: streams, one blocked reading the stream and
/// one subscribed to the public and private channels of both namespaces; classic, one subscribed
/// to the request and response channels (3 per namespace) and the broadcast patterns of both;
/// sharded, SSUBSCRIBEd to the namespace and response channels of both (on a Redis Cluster, over
/// the connections to their shards).
async function adapterReady() {
  // on a Redis Cluster, the connections to every master
  const lists = clustered
    ? await Promise.all(
        redisClient.masters.map(async (m) => (await m.client).sendCommand(["CLIENT", "LIST"])),
      )
    : [await redisClient.sendCommand(["CLIENT", "LIST"])];
  const mine = lists
    .map(String)
    .join("\n")
    .split("\n")
    .filter((line) => line.includes(` name=${clientName} `))
    .map((line) => Object.fromEntries(line.trim().split(" ").map((kv) => kv.split("="))));
  if (classic) {
    return mine.some((c) => Number(c.sub) >= 6 && Number(c.psub) >= 2);
  }
  if (sharded) {
    // on a Redis Cluster, spread over the connections to the channels' shards
    return mine.reduce((n, c) => n + Number(c.ssub || 0), 0) >= 4;
  }
  const reading = mine.some((c) => c.cmd === "xread" && c.flags.includes("b"));
  const subscribed = mine.some((c) => Number(c.sub) >= 4);
  return reading && subscribed;
}

const readyBy = Date.now() + 15000;
while (!(await adapterReady())) {
  if (Date.now() > readyBy) {
    out({ ev: "error", message: "the adapter's Redis connections did not come up within 15 s" });
    process.exit(1);
  }
  await sleep(20);
}

// Tests make a stream per cluster: it expires 10 minutes after its last node went away. The
// expiry is set after this node's first entry (the adapter writes through `redisClient`), and
// again 4 times a second for entries of other nodes.
if (!classic && !sharded) {
  const expire = () => redisClient.pExpire(streamName, 10 * 60 * 1000).catch(() => {});
  setInterval(expire, 250).unref();
  const xAdd = redisClient.xAdd.bind(redisClient);
  let firstEntry = null;
  redisClient.xAdd = async (...command) => {
    const id = await xAdd(...command);
    await (firstEntry ??= expire());
    return id;
  };
}

httpServer.listen(Number(port), "127.0.0.1", () => {
  out({ ev: "listening", port: httpServer.address().port });
});

process.stdin.on("data", () => {});
process.stdin.on("end", () => process.exit(0));
