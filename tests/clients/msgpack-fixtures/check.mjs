// Decodes volley's msgpack encodings with the real npm `socket.io-msgpack-parser` decoder.
//
// usage: node check.mjs [ours.jsonl]   (see README.md for how to make ours.jsonl)
//
// Each line of ours.jsonl is {"name", "hex", "expect"?}. The npm Decoder (which also runs
// its packet checks) must accept the bytes; what it yields, rendered as JSON below, must equal
// `expect` when given, or else what it yields for the fixture of the same name in
// fixtures.jsonl (made by the npm encoder). Prints one line per failure and a summary
// "N passed, N failed"; exits 1 on any failure.
import { createRequire } from "node:module";
import { readFileSync } from "node:fs";
import { isDeepStrictEqual } from "node:util";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

const require = createRequire(import.meta.url);
const { Decoder } = require("socket.io-msgpack-parser");
const here = dirname(fileURLToPath(import.meta.url));

function readJsonl(path) {
  return readFileSync(path, "utf8")
    .split("\n")
    .filter((line) => line.trim() !== "")
    .map((line) => JSON.parse(line));
}

function npmDecode(hex) {
  const decoder = new Decoder();
  let packet;
  decoder.on("decoded", (p) => {
    packet = p;
  });
  decoder.add(Buffer.from(hex, "hex"));
  if (packet === undefined) throw new Error("nothing decoded");
  return packet;
}

const toHex = (view) => Buffer.from(view.buffer, view.byteOffset, view.byteLength).toString("hex");

// JSON rendering with JSON's treatment of undefined (null in arrays, dropped in objects).
function render(value) {
  if (value === null) return null;
  if (typeof value === "number") {
    return Number.isFinite(value) ? value : { $number: String(value) };
  }
  if (typeof value === "string" || typeof value === "boolean") return value;
  if (value instanceof Date) return { $date: value.getTime() };
  if (value instanceof ArrayBuffer) return { $binary: toHex(new Uint8Array(value)) };
  if (ArrayBuffer.isView(value)) return { $binary: toHex(value) };
  if (Array.isArray(value)) return value.map((item) => (item === undefined ? null : render(item)));
  if (typeof value === "object") {
    const out = {};
    for (const [key, item] of Object.entries(value)) {
      if (item !== undefined) out[key] = render(item);
    }
    return out;
  }
  throw new Error(`cannot render ${typeof value}`);
}

// The packet fields that matter (socket.io-client adds `options`, which is not sent by us).
function renderPacket(packet) {
  const out = { type: packet.type, nsp: packet.nsp };
  if (packet.data !== undefined) out.data = render(packet.data);
  if (packet.id !== undefined) out.id = packet.id;
  return out;
}

const oursPath = process.argv[2] ?? join(here, "ours.jsonl");
const fixtures = new Map(readJsonl(join(here, "fixtures.jsonl")).map((f) => [f.name, f]));
let passed = 0;
let failed = 0;
for (const { name, hex, expect } of readJsonl(oursPath)) {
  try {
    const got = renderPacket(npmDecode(hex));
    let want = expect;
    if (want === undefined) {
      const fixture = fixtures.get(name);
      if (!fixture) throw new Error("no expectation and no fixture of that name");
      want = renderPacket(npmDecode(fixture.hex));
    }
    if (!isDeepStrictEqual(got, want)) {
      throw new Error(`got ${JSON.stringify(got)}, want ${JSON.stringify(want)}`);
    }
    passed++;
  } catch (err) {
    failed++;
    console.log(`FAIL ${name}: ${err.message}`);
  }
}
console.log(`${passed} passed, ${failed} failed`);
process.exitCode = failed === 0 && passed > 0 ? 0 : 1;
