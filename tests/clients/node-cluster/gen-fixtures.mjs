// Makes the classic-format fixtures of volley-protocol (protocol/src/classic/tests/fixtures.rs)
// with the real npm packages: what @socket.io/redis-emitter 5 publishes (through a fake Redis
// client that records PUBLISH), and what the real @socket.io/redis-adapter 8 receiver makes of
// each payload (its onmessage/onrequest, with socket.io-adapter's delivery methods recorded).
//
// usage: node gen-fixtures.mjs > fixtures.jsonl   (see README.md)
//
// One JSON object per line, with a "kind":
// - "emit":    an emitter broadcast: the call (key, nsp, event, args, rooms, except, volatile,
//              compress), the channel and the bytes. Volley must encode the same call to the same
//              bytes and channel, and decode the bytes back to the call.
// - "request": an emitter request (socketsJoin/Leave, disconnectSockets, serverSideEmit): the
//              call, the channel and the JSON text. Volley must encode the same text, and decode
//              it to `decoded` (JSON.parse of the text).
// - "decode":  bytes from other publishers (notepack 3 values the Rust side cannot build,
//              notepack 2 encodings of old emitters, hand-made frames of old emitters and
//              ports); `expect` is what the Node receiver delivered, with the arguments as its
//              clients would see them (Date -> toJSON text, undefined -> null or left out).
// - "invalid": bytes the Node receiver throws on or drops; Volley must reject them.
// - "stricter": bytes the Node receiver delivers (as garbage) that Volley rejects.
//
// Values are JSON with tags: {"$binary": hex}, {"$number": "NaN"|"Infinity"|"-Infinity"|"-0"|
// "<integer beyond 2^53>"}. The script checks every line against the real receiver and throws
// when a kind does not hold.
import { createRequire } from "node:module";

const require = createRequire(import.meta.url);
const { Emitter } = require("@socket.io/redis-emitter");
const { RedisAdapter } = require("@socket.io/redis-adapter");
const { Adapter } = require("socket.io-adapter");
const { Encoder } = require("socket.io-parser");
const notepack = require("notepack.io");
const notepack2 = require("notepack.io-2");

const lines = [];
const out = (obj) => lines.push(JSON.stringify(obj));

// --- tagged JSON rendering of the values clients would see --------------------------------
const hex = (view) => Buffer.from(view.buffer, view.byteOffset, view.byteLength).toString("hex");

function tag(value) {
  if (value === null || value === undefined) return null;
  if (typeof value === "number") {
    if (Number.isNaN(value)) return { $number: "NaN" };
    if (!Number.isFinite(value)) return { $number: value > 0 ? "Infinity" : "-Infinity" };
    if (Object.is(value, -0)) return { $number: "-0" };
    if (Number.isInteger(value) && !Number.isSafeInteger(value)) return { $number: BigInt(value).toString() };
    // More than 15 significant digits: JSON readers that are not exact (serde_json without
    // its float_roundtrip feature) may be one unit in the last place off; text is exact.
    if (!Number.isInteger(value) && String(value).replace(/e.*$/, "").replace(/[-.]/g, "").replace(/^0+/, "").length > 15)
      return { $number: String(value) };
    return value;
  }
  if (typeof value !== "object") return value;
  if (value instanceof Date) return value.toJSON();
  if (value instanceof ArrayBuffer) return { $binary: Buffer.from(value).toString("hex") };
  if (ArrayBuffer.isView(value)) return { $binary: hex(value) };
  if (Array.isArray(value)) return value.map(tag);
  const obj = {};
  for (const [k, v] of Object.entries(value)) {
    if (v !== undefined && typeof v !== "function") obj[k] = tag(v);
  }
  return obj;
}

// --- the real emitter, on a recording Redis client -----------------------------------------
const published = [];
const fakeRedis = { publish: (channel, msg) => published.push({ channel, msg }) };

function capture(fn) {
  published.length = 0;
  fn();
  if (published.length !== 1) throw new Error(`expected one publish, got ${published.length}`);
  return published[0];
}

// --- the real receiver ---------------------------------------------------------------------
let delivered = [];
Adapter.prototype.broadcast = function (packet, opts) {
  delivered.push({ op: "broadcast", packet, opts });
};
Adapter.prototype.addSockets = function (opts, rooms) {
  delivered.push({ op: "join", opts, rooms });
};
Adapter.prototype.delSockets = function (opts, rooms) {
  delivered.push({ op: "leave", opts, rooms });
};
Adapter.prototype.disconnectSockets = function (opts, close) {
  delivered.push({ op: "disconnect", opts, close });
};

const noop = () => Promise.resolve();
const fakeSub = { pSubscribe: noop, subscribe: noop, on() {} };
const fakePub = { pSubscribe: noop, publish: noop, on() {} };
const adapters = new Map();

function adapterFor(key, nsp) {
  const id = `${key}|${nsp}`;
  if (!adapters.has(id)) {
    const namespace = {
      name: nsp,
      server: { encoder: new Encoder() },
      sockets: new Map(),
      _onServerSideEmit(data) {
        delivered.push({ op: "server_side_emit", data });
      },
    };
    const adapter = new RedisAdapter(namespace, fakePub, fakeSub, { key });
    adapter.hasRoom = () => true;
    adapters.set(id, adapter);
  }
  return adapters.get(id);
}

// What the receiver of `nsp` does with a broadcast: a delivery, null when it drops it, or
// throws.
function receive(key, nsp, channel, buf) {
  delivered = [];
  adapterFor(key, nsp).onmessage(null, channel, buf);
  if (delivered.length > 1) throw new Error("several deliveries");
  return delivered[0] ?? null;
}

async function receiveRequest(key, nsp, channel, msg) {
  delivered = [];
  await adapterFor(key, nsp).onrequest(channel, Buffer.from(msg));
  return delivered[0] ?? null;
}

function describeDelivery(d) {
  const [event, ...args] = d.packet.data;
  const flags = d.opts.flags ?? {};
  return {
    uid: null, // filled by the caller
    nsp: d.packet.nsp,
    event,
    args: tag(args),
    rooms: [...d.opts.rooms].map(String),
    except: [...d.opts.except].map(String),
    volatile: flags.volatile === true,
    compress: typeof flags.compress === "boolean" ? flags.compress : null,
  };
}

// --- emitter broadcasts --------------------------------------------------------------------
function emit(name, { key = "socket.io", nsp = "/", rooms = [], except = [], volatile = false, compress = null }, event, ...args) {
  const base = new Emitter(fakeRedis, { key }).of(nsp);
  const { channel, msg } = capture(() => {
    let op = base;
    if (rooms.length) op = op.to(rooms);
    if (except.length) op = op.except(except);
    if (volatile) op = op.volatile;
    if (compress !== null) op = op.compress(compress);
    op.emit(event, ...args);
  });
  // The emitter keeps rooms and except in Sets: what it publishes is deduplicated.
  const call = {
    key,
    nsp: base.nsp,
    event,
    args: tag(args),
    rooms: [...new Set(rooms)],
    except: [...new Set(except)],
    volatile,
    compress,
  };
  const seen = receive(key, base.nsp, channel, msg);
  if (!seen) throw new Error(`${name}: the receiver dropped an emitter broadcast`);
  const { key: _key, ...expected } = call;
  const described = describeDelivery(seen);
  delete described.uid;
  // (-0 travels as the integer 0.)
  if (JSON.stringify(described) !== JSON.stringify(expected).replaceAll('{"$number":"-0"}', "0")) {
    throw new Error(`${name}: the receiver saw ${JSON.stringify(described)}, not ${JSON.stringify(expected)}`);
  }
  out({ name, kind: "emit", ...call, channel, hex: msg.toString("hex") });
}

const bytes = (n, seed) => Buffer.from(Array.from({ length: n }, (_, i) => (i * 7 + seed) & 0xff));

emit("emit-all", {}, "hello", "world");
emit("emit-no-args", {}, "ping");
emit("emit-room", { rooms: ["room1"] }, "hello", "world");
emit("emit-rooms-except", { rooms: ["r1", "r2"], except: ["r3", "sid_0123456789abcdef"] }, "news", { id: 1 });
emit("emit-except-only", { except: ["r1"] }, "not-r1", 1);
emit("emit-duplicate-rooms", { rooms: ["a", "a"], except: ["b", "b"] }, "dup");
emit("emit-volatile", { volatile: true }, "vol", 1);
emit("emit-compress-false", { compress: false }, "c", 1);
emit("emit-volatile-compress", { volatile: true, compress: true, rooms: ["x"] }, "vc");
emit("emit-custom-nsp", { nsp: "/custom", rooms: ["r1"] }, "ev", "a");
emit("emit-nsp-without-slash", { nsp: "chat" }, "ev");
emit("emit-key", { key: "volley-prefix", nsp: "/admin" }, "ev", true);
emit(
  "emit-binary",
  {},
  "bin",
  Buffer.from([1, 2, 3]),
  { a: [Buffer.alloc(0)], b: bytes(300, 1) },
  new Uint8Array([9, 8, 7]),
);
emit(
  "emit-integers",
  {},
  "ints",
  0, 127, 128, 255, 256, 65535, 65536, 4294967295, 4294967296, Number.MAX_SAFE_INTEGER,
  -1, -32, -33, -128, -129, -32768, -32769, -2147483648, -2147483649, -Number.MAX_SAFE_INTEGER,
);
emit("emit-big-integral-floats", {}, "big", 2 ** 60, 2 ** 63, 2 ** 64 - 2 ** 12, -(2 ** 62), -(2 ** 63));
// (Integral numbers of 2^64 and beyond, like 1e300, are not here: notepack writes them as
// uint 64 with the high word wrapped around, volley writes a float 64.)
emit("emit-floats", {}, "floats", 1.5, -0.25, 0.1, 1e-300, 5e-324, 4503599627370495.5, -0, NaN, Infinity, -Infinity);
emit("emit-strings", {}, "strings", "", "é", "😀", "a".repeat(31), "b".repeat(32), "é".repeat(200), "\u0000\n\"\\");
emit(
  "emit-containers",
  {},
  "containers",
  Array.from({ length: 16 }, (_, i) => i),
  Object.fromEntries(Array.from({ length: 16 }, (_, i) => [`k${i}`, i])),
  [[[[]]]],
  {},
  [],
  null,
  true,
  false,
  { nested: { deeper: [{ x: null }] }, "": "empty key" },
);
emit("emit-long-event", {}, "e".repeat(40), "x");

// --- emitter requests ----------------------------------------------------------------------
async function request(name, { key = "socket.io", nsp = "/", rooms = [], except = [] }, call) {
  const base = new Emitter(fakeRedis, { key }).of(nsp);
  const { channel, msg } = capture(() => {
    let op = base;
    if (rooms.length) op = op.to(rooms);
    if (except.length) op = op.except(except);
    if (call.op === "join") op.socketsJoin(call.rooms);
    else if (call.op === "leave") op.socketsLeave(call.rooms);
    else if (call.op === "disconnect") op.disconnectSockets(call.close);
    else op.serverSideEmit(call.event, ...call.args);
  });
  if (typeof msg !== "string") throw new Error(`${name}: not JSON text`);
  const seen = await receiveRequest(key, base.nsp, channel, msg);
  if (!seen || seen.op !== call.op) throw new Error(`${name}: the receiver did ${JSON.stringify(seen)}`);
  const described = { op: call.op, key, nsp: base.nsp, rooms, except };
  if (call.op === "join" || call.op === "leave") described.target = Array.isArray(call.rooms) ? call.rooms : [call.rooms];
  if (call.op === "disconnect") described.close = call.close ?? false;
  if (call.op === "server_side_emit") {
    described.event = call.event;
    described.args = tag(call.args);
  }
  out({ name, kind: "request", ...described, channel, text: msg, decoded: tag(JSON.parse(msg)) });
}

await request("join", { rooms: ["r1"], except: ["r2"] }, { op: "join", rooms: ["a", "b"] });
await request("join-single-room", {}, { op: "join", rooms: "solo" });
await request("leave", { nsp: "/custom" }, { op: "leave", rooms: ["a"] });
await request("disconnect", { rooms: ["r1"] }, { op: "disconnect", close: false });
await request("disconnect-close", { key: "k", except: ["e"] }, { op: "disconnect", close: true });
await request("server-side-emit", {}, { op: "server_side_emit", event: "ping-server", args: ["hi", 2, { a: [true, null] }] });
await request("server-side-emit-no-args", { nsp: "/custom" }, { op: "server_side_emit", event: "tick", args: [] });
await request("server-side-emit-numbers", {}, {
  op: "server_side_emit",
  event: "numbers",
  args: [1.5, 0.1, -0, 1e21, 1.5e21, 1e-7, 123e-20, 1e-6, 123456789012345680000, 2 ** 53, NaN, Infinity, -2.5e-8],
});
await request("server-side-emit-binary", {}, { op: "server_side_emit", event: "bin", args: [Buffer.from([1, 2, 255]), "é\u0001\u2028"] });

// --- other publishers: the receiver decides ------------------------------------------------
const CH = "socket.io#/#";

function frame(name, kind, buf, { channel = CH, nsp = "/" } = {}) {
  let seen;
  try {
    seen = receive("socket.io", nsp, channel, buf);
  } catch {
    seen = "throws";
  }
  if (kind === "invalid") {
    if (seen !== "throws" && seen !== null) throw new Error(`${name}: the receiver delivered it`);
    out({ name, kind, hex: buf.toString("hex") });
    return;
  }
  if (seen === "throws" || seen === null) throw new Error(`${name}: the receiver refused it`);
  if (kind === "stricter") {
    out({ name, kind, hex: buf.toString("hex") });
    return;
  }
  const expect = { ...describeDelivery(seen), uid: notepack.decode(buf)[0] };
  out({ name, kind, hex: buf.toString("hex"), expect });
}

const packet = (data, extra = {}) => ({ type: 2, data, nsp: "/", ...extra });
const opts = { rooms: [], flags: {}, except: [] };
const n3 = (v) => notepack.encode(v);
const n2 = (v) => notepack2.encode(v);

frame("notepack3-dates", "decode", n3(["abcdef", packet(["dates",
  new Date(961804800000), // timestamp 32
  new Date(961804800123), // timestamp 64
  new Date(0),
  new Date(-1), // timestamp 96 (negative)
  new Date(-2208988800000), // 1900
  new Date(8.64e15), // +275760
  new Date(-8.64e15), // -271821
  new Date(-62198755200000), // year -1
  new Date(253402300799999), // 9999-12-31T23:59:59.999Z
  new Date(253402300800000), // +010000
  { when: new Date(1) },
]), opts]));
frame("notepack3-typed-arrays", "decode", n3(["abcdef", packet(["typed",
  new Uint8Array([1, 2]).buffer,
  new Uint16Array([0x0102]),
  new Float64Array([1.5]),
  Buffer.alloc(0),
]), opts]));
frame("notepack3-undefined", "decode", n3(["abcdef", packet(["undef", undefined, [undefined], { a: undefined, b: 1 }]), opts]));
frame("notepack2-undefined", "decode", n2(["emitter", packet(["undef", undefined, [1, undefined], { a: undefined, b: 1 }]), { rooms: [], flags: {} }]));
frame("notepack2-date", "decode", n2(["emitter", packet(["date", new Date(961804800123), new Date(-1), new Date(-8.64e15)]), opts]));
frame("notepack2-arraybuffer", "decode", n2(["emitter", packet(["ab", new Uint8Array([1, 2, 3]).buffer, new Uint8Array(8), new Uint8Array(1)]), opts]));
frame("notepack3-str16-array16-map16", "decode", n3(["emitter", packet(["c",
  "x".repeat(300),
  Array.from({ length: 20 }, (_, i) => i % 3),
  Object.fromEntries(Array.from({ length: 20 }, (_, i) => [`k${i}`, i])),
]), opts]));
// Unknown extensions come out of notepack 3 as [type, Buffer].
frame("unknown-ext", "decode", Buffer.concat([
  Buffer.from("93a6616263646566", "hex"), // ["abcdef",
  Buffer.from("83a47479706502a46461746195a3657874", "hex"), // {type: 2, data: ["ext",
  Buffer.from("d5050102", "hex"), // fixext 2 of type 5
  Buffer.from("d4ff07", "hex"), // fixext 1 of type -1
  Buffer.from("c70301aabbcc", "hex"), // ext 8 of type 1
  Buffer.from("d80a" + "00".repeat(16), "hex"), // fixext 16 of type 10
  Buffer.from("a36e7370a12f", "hex"), // ], nsp: "/"},
  Buffer.from("83a5726f6f6d7390a5666c61677380a665786365707490", "hex"), // {rooms: [], flags: {}, except: []}]
]));
// The frame of an older emitter, as reported against Node's Redis adapter: no "except".
frame("old-emitter-no-except", "decode", Buffer.from("\x93\xa7emitter\x83\xa4type\x02\xa4data\x92\xa4test\xa9some data\xa3nsp\xa1/\x82\xa5rooms\x90\xa5flags\x80", "latin1"));
frame("no-nsp", "decode", n3(["emitter", { type: 2, data: ["ev", 1] }, opts]));
frame("no-rooms-no-flags-no-except", "decode", n3(["emitter", packet(["ev"]), {}]));
frame("flags-nil-unknown-keys", "decode", n3(["emitter", packet(["ev"]), { rooms: ["r"], flags: null, except: null }]));
frame("legacy-flags", "decode", n3(["emitter", packet(["ev"]), { rooms: [], flags: { json: true, broadcast: true, volatile: true, binary: true, compress: false } }]));
frame("binary-event-type", "decode", n3(["emitter", { type: 5, data: ["ev", Buffer.from([1])], nsp: "/" }, opts]));
frame("numeric-rooms", "decode", n3(["emitter", packet(["ev"]), { rooms: [1, "a"], except: [22], flags: {} }]));
frame("extra-items", "decode", n3(["emitter", packet(["ev"]), opts, "extra", 4]));
frame("packet-with-id", "decode", n3(["abcdef", { type: 2, data: ["ev", "x"], nsp: "/", id: 3 }, opts]));
frame("adapter-order", "decode", n3(["abcdef", packet(["ev"]), { rooms: ["a"], except: ["b"], flags: { volatile: true } }]), { channel: CH + "a#" });
frame("custom-nsp", "decode", n3(["emitter", packet(["ev"], { nsp: "/custom" }), opts]), { nsp: "/custom", channel: "socket.io#/custom#" });

frame("not-an-array", "invalid", n3({ uid: "emitter" }));
frame("two-items", "invalid", n3(["emitter", packet(["ev"])]));
frame("opts-nil", "invalid", n3(["emitter", packet(["ev"]), null]));
frame("packet-nil", "invalid", n3(["emitter", null, opts]));
frame("empty", "invalid", Buffer.alloc(0));
frame("truncated", "invalid", n3(["emitter", packet(["ev", "abc"]), opts]).subarray(0, 20));
frame("trailing-bytes", "invalid", Buffer.concat([n3(["emitter", packet(["ev"]), opts]), Buffer.from([0xc0])]));
frame("reserved-marker", "invalid", Buffer.from("93a7656d6974746572c1", "hex"));
frame("nsp-nil", "invalid", n3(["emitter", { type: 2, data: ["ev"], nsp: null }, opts]));

frame("uid-not-a-string", "stricter", n3([42, packet(["ev"]), opts]));
frame("no-type", "stricter", n3(["emitter", { data: ["ev"], nsp: "/" }, opts]));
frame("ack-type", "stricter", n3(["emitter", { type: 3, data: ["ev"], nsp: "/" }, opts]));
frame("empty-data", "stricter", n3(["emitter", packet([]), opts]));
frame("event-not-a-string", "stricter", n3(["emitter", packet([1, 2]), opts]));
frame("data-not-an-array", "stricter", n3(["emitter", packet("ev"), opts]));
frame("rooms-a-string", "stricter", n3(["emitter", packet(["ev"]), { rooms: "abc", flags: {} }]));

// Every line must hold before anything is printed.
process.stdout.write(lines.join("\n") + "\n");
