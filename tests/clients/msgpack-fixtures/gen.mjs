// Encodes sample Socket.IO packets with the real npm `socket.io-msgpack-parser` (notepack.io
// underneath) and prints one JSON line per packet: {"name", "kind", "hex"}.
//
// usage: node gen.mjs > fixtures.jsonl   (see README.md)
//
// kinds, checked by the Rust test in protocol/src/msgpack/tests/fixtures.rs:
// - "server":   a packet as a socket.io server builds it ({type, data, id, nsp}, in that key
//               order); volley's encoder must produce these exact bytes, its decoder must read them.
// - "client":   a packet as socket.io-client builds it (extra `options` key, `data: undefined`
//               on CONNECT, other key orders); volley's decoder must read it.
// - "invalid":  bytes the npm decoder rejects; volley's decoder must reject them too.
// - "stricter": bytes the npm decoder accepts but volley rejects, like its JSON decoder does.
//
// This script also checks that the npm decoder accepts (or rejects) each packet as its kind says.
import { createRequire } from "node:module";

const require = createRequire(import.meta.url);
const { Encoder, Decoder } = require("socket.io-msgpack-parser");

const SID = "oSO0OpakmV7_r2LQAAAB";
const fixtures = [];

function encode(packet) {
  const encoded = new Encoder().encode(packet);
  if (encoded.length !== 1 || !Buffer.isBuffer(encoded[0])) {
    throw new Error("expected exactly one Buffer");
  }
  return encoded[0];
}

function npmAccepts(buf) {
  const decoder = new Decoder();
  let decoded = false;
  decoder.on("decoded", () => {
    decoded = true;
  });
  try {
    decoder.add(buf);
  } catch {
    return false;
  }
  return decoded;
}

function add(name, kind, packetOrBytes) {
  const buf = Buffer.isBuffer(packetOrBytes) ? packetOrBytes : encode(packetOrBytes);
  const accepted = npmAccepts(buf);
  if (accepted !== (kind !== "invalid")) {
    throw new Error(`${name}: npm decoder ${accepted ? "accepts" : "rejects"} a ${kind} packet`);
  }
  fixtures.push({ name, kind, hex: buf.toString("hex") });
}

// A packet as socket.io (server) builds it: {type, data}, then `id`, then `nsp` last.
function server(type, nsp, data, id) {
  const packet = { type };
  if (data !== undefined) packet.data = data;
  if (id !== undefined) packet.id = id;
  packet.nsp = nsp;
  return packet;
}

// EVENT as socket.io-client's Socket#emit builds it.
function clientEvent(nsp, args, id) {
  const packet = { type: 2, data: args };
  packet.options = {};
  packet.options.compress = true;
  if (id !== undefined) packet.id = id;
  packet.nsp = nsp;
  return packet;
}

const bytes = (n, seed) => Buffer.from(Array.from({ length: n }, (_, i) => (i * 7 + seed) & 0xff));

// --- server-built packets: byte-for-byte what volley must send ---
add("server-connect-root", "server", server(0, "/", { sid: SID }));
add("server-connect-custom", "server", server(0, "/custom", { sid: SID }));
add("server-disconnect-root", "server", server(1, "/"));
add("server-disconnect-custom", "server", server(1, "/custom"));
add("server-event", "server", server(2, "/", ["message", 1, "2", { 3: [true] }]));
add("server-event-no-args", "server", server(2, "/", ["ping"]));
add("server-event-id", "server", server(2, "/custom", ["message-with-ack", 1, "2"], 456));
add(
  "server-event-binary",
  "server",
  server(2, "/", ["bin", Buffer.from([1, 2, 3]), { a: [Buffer.alloc(0)], b: bytes(300, 1) }]),
);
add(
  "server-event-binary-id",
  "server",
  server(2, "/custom", ["bin", [Buffer.from([0xff])]], 4294967296),
);
add(
  "server-event-integers",
  "server",
  server(2, "/", [
    "ints",
    0, 127, 128, 255, 256, 65535, 65536, 4294967295, 4294967296, Number.MAX_SAFE_INTEGER,
    -1, -32, -33, -128, -129, -32768, -32769, -2147483648, -2147483649, -Number.MAX_SAFE_INTEGER,
  ]),
);
add(
  "server-event-floats",
  "server",
  server(2, "/", ["floats", 1.5, -0.25, 0.1, 1e-300, 5e-324, Infinity, -Infinity]),
);
add(
  "server-event-strings",
  "server",
  server(2, "/", ["strings", "", "é", "😀", "a".repeat(31), "b".repeat(32), "é".repeat(200)]),
);
add(
  "server-event-containers",
  "server",
  server(2, "/", [
    "containers",
    Array.from({ length: 16 }, (_, i) => i),
    Object.fromEntries(Array.from({ length: 16 }, (_, i) => [`k${i}`, i])),
    [[[[]]]],
    {},
    [],
    null,
    true,
    false,
    { nested: { deeper: [{ x: null }] } },
  ]),
);
add("server-ack", "server", server(3, "/custom", [{ a: [1.5, null, "é"] }], 12));
add("server-ack-empty", "server", server(3, "/", [], 0));
add("server-ack-binary", "server", server(3, "/", [Buffer.from("hello"), { b: bytes(70, 9) }], 7));
add("server-connect-error", "server", server(4, "/random", { message: "Invalid namespace" }));
add("server-connect-error-string", "server", server(4, "/", "not authorized"));

// --- client-built packets: what volley must understand ---
// socket.io-client's CONNECT without `auth`: `data: undefined` is a key, notepack writes
// undefined as fixext 1 type 0 (d4 00 00).
add("client-connect-no-auth", "client", { type: 0, data: undefined, nsp: "/" });
add("client-connect-auth", "client", { type: 0, data: { token: "123" }, nsp: "/custom" });
add("client-connect-recovery", "client", {
  type: 0,
  data: Object.assign({ pid: "p1", offset: "o1" }, { token: "t" }),
  nsp: "/",
});
add("client-disconnect", "client", { type: 1, nsp: "/custom" });
add("client-event", "client", clientEvent("/", ["message", 1, "2", { 3: [true] }]));
add("client-event-id", "client", clientEvent("/custom", ["message-with-ack", 1, "2"], 456));
add(
  "client-event-buffer",
  "client",
  clientEvent("/", ["bin", Buffer.from([1, 2, 3]), { a: [Buffer.from([4])] }]),
);
// In Node, notepack writes ArrayBuffers and typed arrays that are not Buffers as ext type 0
// (c7 <len> 00 ...), which its decoder reads back as an ArrayBuffer.
add(
  "client-event-arraybuffer",
  "client",
  clientEvent("/", ["ab", new Uint8Array([5, 6, 7]).buffer, new Uint8Array([8, 9])]),
);
// undefined: d4 00 00 everywhere, also as an array item or a map value.
add(
  "client-event-undefined",
  "client",
  clientEvent("/", ["undef", undefined, { a: undefined, b: 1 }, [undefined]]),
);
// Date: fixext 8 type 0 holding the milliseconds as a big-endian int64.
add("client-event-date", "client", clientEvent("/", ["date", new Date(1700000000000)]));
// notepack.io bug: a number is written as an integer whenever it is integral, and integral
// numbers beyond 64 bits come out wrong (1e20 as 7766279631452241920, 1e300 and -1e300 as 0).
add("client-numbers-beyond-64-bits", "client", clientEvent("/", ["big", 1e20, 1e300, -1e300]));
add("client-ack", "client", { type: 3, id: 12, data: [{ a: [1.5, null, "é"] }], nsp: "/custom" });
add("client-ack-binary", "client", { type: 3, id: 7, data: [Buffer.from("hi")], nsp: "/" });
add("client-key-order", "client", { nsp: "/", id: 3, data: ["x"], type: 2 });

// --- rejected by the npm decoder, and so by volley ---
add("invalid-binary-event-type", "invalid", server(5, "/", ["a", Buffer.from([1])]));
add("invalid-binary-ack-type", "invalid", server(6, "/", [Buffer.from([1])], 1));
add("invalid-type-7", "invalid", server(7, "/", ["a"]));
add("invalid-type-string", "invalid", server("2", "/", ["a"]));
add("invalid-type-float", "invalid", server(2.5, "/", ["a"]));
add("invalid-missing-type", "invalid", { data: ["a"], nsp: "/" });
add("invalid-missing-nsp", "invalid", { type: 2, data: ["a"] });
add("invalid-nsp-number", "invalid", { type: 2, data: ["a"], nsp: 1 });
add("invalid-event-data-string", "invalid", server(2, "/", "a"));
add("invalid-event-no-data", "invalid", server(2, "/"));
add("invalid-ack-data-map", "invalid", server(3, "/", { a: 1 }, 1));
add("invalid-connect-data-array", "invalid", server(0, "/", ["a"]));
add("invalid-disconnect-null-data", "invalid", server(1, "/", null));
add("invalid-id-string", "invalid", server(2, "/", ["a"], "1"));
add("invalid-id-float", "invalid", server(2, "/", ["a"], 1.5));
add("invalid-not-a-map", "invalid", ["a"]);
add("invalid-trailing-byte", "invalid", Buffer.concat([encode(server(1, "/")), Buffer.from([0])]));
add("invalid-truncated", "invalid", encode(server(2, "/", ["message", 1])).subarray(0, 10));
add("invalid-reserved-marker", "invalid", Buffer.from([0xc1]));

// --- accepted by the npm decoder, rejected by volley (same rules as its JSON decoder) ---
add("stricter-event-empty-array", "stricter", server(2, "/", []));
add("stricter-event-name-number", "stricter", server(2, "/", [1, 2]));
add("stricter-ack-without-id", "stricter", server(3, "/", ["a"]));
add("stricter-id-on-connect", "stricter", server(0, "/", { token: "1" }, 1));
add("stricter-id-negative", "stricter", server(2, "/", ["a"], -1));
add("stricter-nsp-without-slash", "stricter", server(2, "custom", ["a"]));
add("invalid-connect-error-no-data", "invalid", server(4, "/"));

for (const fixture of fixtures) {
  process.stdout.write(JSON.stringify(fixture) + "\n");
}
