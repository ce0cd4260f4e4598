// One chat client for the soak tests of a deployment (tests/tests/deploy_round_robin.rs): the
// official socket.io-client talks to the chat example through a load balancer.
//
// usage: node chatter.mjs <url> <name> <room> <polling|upgrade> <interval-ms>
//
// Connects, takes the nickname <name>, joins <room> and prints {"ev":"joined"}. On the line
// "go" (stdin) it posts a numbered message to the room every <interval-ms> and waits for each
// ack; on "stop" it stops posting, waits for the acks still due, listens two seconds more and
// prints what happened, then exits:
//   {"ev":"report", "acked": N, "failed": [...], "received": {"<from>": [seq, ...]},
//    "transport": "polling"|"websocket", "disconnects": [...]}
// It checks nothing itself: the Rust test compares every report with the others.
import { io } from "socket.io-client";
import { createInterface } from "node:readline";

const [url, name, room, mode, intervalArg] = process.argv.slice(2);
const interval = Number(intervalArg);
const STEP_MS = 10000;

function out(ev, fields = {}) {
  process.stdout.write(JSON.stringify({ ev, ...fields }) + "\n");
}

function fail(message) {
  out("error", { message });
  process.exit(1);
}

const socket = io(url, {
  transports: mode === "polling" ? ["polling"] : ["polling", "websocket"],
  upgrade: mode !== "polling",
  reconnection: false,
});

const received = {};
const failed = [];
const disconnects = [];
let acked = 0;
let stopping = false;

socket.on("message", (m) => {
  if (m.room !== room || typeof m.text !== "string") return;
  const seq = Number(m.text.split("#")[1]);
  (received[m.from] ??= []).push(seq);
});
socket.on("disconnect", (reason) => {
  if (!stopping) disconnects.push(reason);
});
socket.on("connect_error", (e) => fail(`connect_error: ${e.message}`));

function call(event, arg) {
  return socket.timeout(STEP_MS).emitWithAck(event, arg);
}

await new Promise((resolve) => socket.once("connect", resolve));
const nick = await call("nick", name);
if (nick?.nick !== name) fail(`nick refused: ${JSON.stringify(nick)}`);
const joined = await call("join", room);
if (joined?.room !== room) fail(`join refused: ${JSON.stringify(joined)}`);
out("joined", { members: joined.members });

let posting = null;
async function post() {
  let seq = 0;
  const pending = [];
  while (!stopping) {
    const text = `${name}#${seq}`;
    const n = seq;
    pending.push(
      call("message", { room, text }).then(
        (ack) => (ack?.ok ? acked++ : failed.push({ seq: n, ack })),
        (e) => failed.push({ seq: n, error: String(e?.message ?? e) }),
      ),
    );
    seq++;
    await new Promise((r) => setTimeout(r, interval));
  }
  await Promise.all(pending);
  return seq;
}

const lines = createInterface({ input: process.stdin });
lines.on("line", async (line) => {
  if (line === "go" && !posting) {
    posting = post();
  } else if (line === "stop") {
    stopping = true;
    const sent = posting ? await posting : 0;
    await new Promise((r) => setTimeout(r, 2000));
    out("report", {
      sent,
      acked,
      failed,
      received,
      transport: socket.io.engine?.transport?.name ?? null,
      disconnects,
    });
    socket.disconnect();
    process.exit(0);
  }
});
