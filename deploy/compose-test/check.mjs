// The cluster checks of deploy/compose-test.sh, against a running `docker compose` deployment.
//
// usage: node check.mjs   (everything comes from the environment, set by compose-test.sh)
//   CHECK_URL          nginx as published on the host, http://127.0.0.1:PORT
//   CHECK_LB           the id of nginx's container
//   CHECK_NODES        "name=ip ..." of the three chat containers (to name upstreams)
//   CHECK_NODE_IMAGE   an image with node, to run clients inside nginx's network namespace
//   CHECK_CLIENTS      tests/clients/node (puppet.mjs and its installed socket.io-client)
//   CHECK_LABEL        a label put on the client containers, so that a cleanup finds them
//
// nginx pins a client to a node by its address, and every connection from the host to the
// published port comes from one address (Docker's proxy on the network's gateway), so the host's
// clients all land on one node. Clients on the other nodes run in containers that share nginx's
// network namespace: there every 127.0.0.x address is local, and a WebSocket client picks its
// own (`localAddress`). Which address lands where is read back from nginx's access log, as the
// process test (tests/tests/deploy_nginx.rs) does.
//
// Exits 0 when everything held, 1 with the reason otherwise. Prints what it does.
import { spawn, execFile } from "node:child_process";
import { createInterface } from "node:readline";
import { promisify } from "node:util";

const env = (name) => {
  const v = process.env[name];
  if (!v) throw new Error(`${name} is not set`);
  return v;
};
const URL_HOST = env("CHECK_URL");
const LB = env("CHECK_LB");
const NODE_IMAGE = env("CHECK_NODE_IMAGE");
const CLIENTS = env("CHECK_CLIENTS");
const LABEL = env("CHECK_LABEL");
const NODES = Object.fromEntries(
  env("CHECK_NODES")
    .split(" ")
    .filter(Boolean)
    .map((pair) => pair.split("=").reverse()),
);
// nginx as seen inside its own network namespace
const URL_INSIDE = "http://127.0.0.1:80";
const STEP_MS = 10_000;
const CLUSTER_MS = 30_000;
const LAST_PROBE_OCTET = 41;
const run = promisify(execFile);
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

function say(line) {
  console.log(`  ${line}`);
}

class Failure extends Error {}
function fail(message) {
  throw new Failure(message);
}

// --- nginx's access log (log_format volley of deploy/nginx/volley.conf.template) -----------------
function parseLine(raw) {
  const m = raw.match(/^(\S+) upstream=(\S+) status=(\d+) .*"(\S+) (\S+) [^"]*"$/);
  if (!m) return null;
  const [, remote, upstream, status, method, uri] = m;
  const query = new URLSearchParams(uri.split("?")[1] ?? "");
  return { remote, upstream, status: Number(status), method, uri, query, raw };
}

async function accessLog() {
  // access log on stdout, errors on stderr (the image's logs are /dev/stdout, /dev/stderr)
  const { stdout } = await run("docker", ["logs", LB], { maxBuffer: 64 << 20 });
  return stdout.split("\n").map(parseLine).filter(Boolean);
}

async function waitLog(what, done) {
  const until = Date.now() + STEP_MS;
  for (;;) {
    const lines = await accessLog();
    if (done(lines)) return lines;
    if (Date.now() > until) fail(`nginx's access log has no ${what} after ${STEP_MS} ms`);
    await sleep(200);
  }
}

// "172.18.0.5:3000" -> "node2"
function nodeName(upstream) {
  return NODES[upstream.split(":")[0]] ?? upstream;
}

// --- official clients: tests/clients/node/puppet.mjs, on the host or beside nginx --------------
class Client {
  constructor(name, argv) {
    this.name = name;
    this.nextId = 1;
    this.pending = new Map();
    this.events = [];
    this.waiters = [];
    this.exited = false;
    this.child = spawn(argv[0], argv.slice(1), { stdio: ["pipe", "pipe", "pipe"] });
    this.stderr = "";
    this.child.stderr.on("data", (d) => (this.stderr += d));
    this.child.on("exit", () => {
      this.exited = true;
      for (const { reject } of this.pending.values()) {
        reject(new Failure(`${name}: the client exited: ${this.stderr.trim()}`));
      }
    });
    createInterface({ input: this.child.stdout }).on("line", (line) => {
      let msg;
      try {
        msg = JSON.parse(line);
      } catch {
        return;
      }
      if (msg.id !== undefined && this.pending.has(msg.id)) {
        const { resolve } = this.pending.get(msg.id);
        this.pending.delete(msg.id);
        resolve(msg);
      } else if (msg.ev === "event") {
        this.events.push(msg);
        for (const w of this.waiters.splice(0)) w();
      }
    });
  }

  // host: through the published port
  static onHost(name, transport) {
    return new Client(name, ["node", `${CLIENTS}/puppet.mjs`, URL_HOST, transport, "json"]);
  }

  // in a container sharing nginx's network namespace, from one loopback address
  static besideLb(name, transport, localAddress) {
    const extra = JSON.stringify(localAddress ? { localAddress } : {});
    return new Client(name, [
      "docker", "run", "--rm", "-i", "--network", `container:${LB}`, "--label", LABEL,
      "-v", `${CLIENTS}:/clients:ro`, NODE_IMAGE,
      "node", "/clients/puppet.mjs", URL_INSIDE, transport, "json", extra,
    ]);
  }

  command(cmd, ms = STEP_MS * 3) {
    if (this.exited) fail(`${this.name}: the client exited: ${this.stderr.trim()}`);
    const id = this.nextId++;
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.pending.delete(id);
        reject(new Failure(`${this.name}: no answer to ${JSON.stringify(cmd)} in ${ms} ms`));
      }, ms);
      this.pending.set(id, {
        resolve: (msg) => {
          clearTimeout(timer);
          if (msg.error) reject(new Failure(`${this.name}: ${cmd.cmd} failed: ${msg.error}`));
          else resolve(msg);
        },
        reject: (e) => {
          clearTimeout(timer);
          reject(e);
        },
      });
      this.child.stdin.write(JSON.stringify({ ...cmd, id }) + "\n");
    });
  }

  async connect() {
    const answer = await this.command({ cmd: "connect", nsp: "/" });
    if (!answer.sid) fail(`${this.name}: could not connect: ${JSON.stringify(answer)}`);
    const ack = await this.call("nick", this.name);
    if (ack.nick !== this.name) fail(`${this.name}: nick refused: ${JSON.stringify(ack)}`);
  }

  // emits `event` with one argument and returns the ack's first argument (an error if it has one)
  async call(event, arg) {
    const { ack, error } = await this.command({ cmd: "emit_multi_ack", nsp: "/", event, args: [arg] });
    if (error || !ack || !ack[0] || ack[0].error) {
      fail(`${this.name}: ${event} ${JSON.stringify(arg)} answered ${error ?? JSON.stringify(ack)}`);
    }
    return ack[0];
  }

  async members(event, room) {
    const ack = await this.call(event, room);
    if (typeof ack.members !== "number") fail(`${this.name}: ${event} ack: ${JSON.stringify(ack)}`);
    return ack.members;
  }

  // the first event `event` whose first argument satisfies `pred`, within STEP_MS (others stay)
  async expect(event, what, pred) {
    const until = Date.now() + STEP_MS;
    for (;;) {
      const i = this.events.findIndex((e) => e.event === event && pred(e.args[0]));
      if (i >= 0) return this.events.splice(i, 1)[0].args[0];
      const left = until - Date.now();
      if (left <= 0) {
        const seen = this.events.filter((e) => e.event === event).map((e) => e.args[0]);
        fail(`${this.name}: no ${what}; other ${event} events: ${JSON.stringify(seen)}`);
      }
      await new Promise((r) => {
        this.waiters.push(r);
        setTimeout(r, left);
      });
    }
  }

  close() {
    this.child.stdin.end();
  }
}

// --- the scenario ----------------------------------------------------------------------------------
async function probe() {
  // which node the host's connections land on
  const res = await fetch(`${URL_HOST}/?probe=host`);
  if (res.status !== 200) fail(`GET / through ${URL_HOST}: ${res.status}`);
  // which node each loopback address beside nginx lands on: one request from each
  const script = `
    const http = require("node:http");
    const get = (addr) => new Promise((resolve, reject) => {
      http.get({ host: "127.0.0.1", port: 80, path: "/?probe=" + addr, localAddress: addr }, (res) => {
        res.resume();
        res.on("end", () => (res.statusCode === 200 ? resolve() : reject(new Error(addr + ": " + res.statusCode))));
      }).on("error", reject);
    });
    (async () => { for (let i = 1; i <= ${LAST_PROBE_OCTET}; i++) await get("127.0.0." + i); })()
      .catch((e) => { console.error(e.message); process.exit(1); });`;
  await run("docker", [
    "run", "--rm", "--network", `container:${LB}`, "--label", LABEL, NODE_IMAGE,
    "node", "-e", script,
  ]);
  const lines = await waitLog("line for every probe", (lines) => {
    const probes = new Set(lines.map((l) => l.query.get("probe")));
    return probes.has("host") && probes.size > LAST_PROBE_OCTET;
  });
  const where = new Map();
  for (const l of lines) {
    const p = l.query.get("probe");
    if (p && !where.has(p)) where.set(p, l.upstream);
  }
  return where;
}

async function waitForCluster(clients, room) {
  for (const c of clients) await c.members("join", room);
  const until = Date.now() + CLUSTER_MS;
  for (;;) {
    const counts = [];
    for (const c of clients) {
      await c.members("leave", room);
      counts.push([c.name, await c.members("join", room)]);
    }
    if (counts.every(([, n]) => n === clients.length)) break;
    if (Date.now() > until) {
      fail(
        `the nodes do not count each other's clients after ${CLUSTER_MS} ms: ` +
          `${JSON.stringify(counts)}, expected ${clients.length} each`,
      );
    }
    await sleep(500);
  }
  for (const c of clients) await c.members("leave", room);
}

async function scenario(clients) {
  const where = await probe();
  const home = where.get("host");
  const spread = new Set([...where.values()].map(nodeName));
  say(`the host's clients land on ${nodeName(home)}; the probes from 127.0.0.1-${LAST_PROBE_OCTET} ` +
    `beside nginx reached ${[...spread].sort().join(", ")}`);
  if (spread.size < 3) fail(`the probes reached only ${[...spread]}: nginx does not spread clients`);
  // one address beside nginx on each node other than the host's
  const others = new Map();
  for (const [p, upstream] of where) {
    if (p !== "host" && upstream !== home && !others.has(upstream)) others.set(upstream, p);
  }
  const [[upQ, addrQ], [upR, addrR]] = [...others];

  const alice = Client.onHost("alice", "polling");
  const bob = Client.onHost("bob", "upgrade");
  const carol = Client.besideLb("carol", "websocket", addrQ);
  const dave = Client.besideLb("dave", "websocket", addrR);
  const all = [alice, bob, carol, dave];
  clients.push(...all);
  await Promise.all(all.map((c) => c.connect()));
  const { name: upgraded } = await bob.command({ cmd: "wait_upgrade", timeout: STEP_MS });
  if (upgraded !== "websocket") fail(`bob did not upgrade to WebSocket through nginx: ${upgraded}`);
  say(`connected: alice (long-polling) and bob (polling, upgraded to WebSocket) through ` +
    `${URL_HOST} on ${nodeName(home)}; carol (WebSocket, ${addrQ}) on ${nodeName(upQ)}; ` +
    `dave (WebSocket, ${addrR}) on ${nodeName(upR)}`);

  const tag = `${process.pid}-${Date.now()}`;
  const started = Date.now();
  await waitForCluster(all, `warmup-${tag}`);
  say(`the three nodes count each other's members (after ${Date.now() - started} ms)`);

  const room = `compose-${tag}`;
  for (const [i, c] of all.entries()) {
    const n = await c.members("join", room);
    if (n !== i + 1) fail(`${c.name} joined ${room} as member ${n}, expected ${i + 1}`);
  }
  for (const [nick, members] of [["bob", 2], ["carol", 3], ["dave", 4]]) {
    const p = await alice.expect("presence", `presence of ${nick}`, (p) =>
      p.room === room && p.nick === nick && p.joined === true);
    if (p.members !== members) fail(`alice: presence of ${nick} should count ${members}: ${JSON.stringify(p)}`);
  }
  say(`one room across the nodes: join acks and presence counted 1, 2, 3, 4`);

  for (const [from, text] of [
    [alice, "from alice, over long-polling"],
    [carol, "from carol, over WebSocket on another node"],
    [bob, "from bob, upgraded to WebSocket"],
    [dave, "from dave, on the third node"],
  ]) {
    await from.call("message", { room, text });
    for (const to of all.filter((c) => c !== from)) {
      const m = await to.expect("message", `message ${JSON.stringify(text)}`, (m) => m.text === text);
      if (m.room !== room || m.from !== from.name) {
        fail(`${to.name}: ${JSON.stringify(text)} should come from ${from.name} in ${room}: ${JSON.stringify(m)}`);
      }
    }
  }
  await sleep(300);
  for (const c of all) {
    const copy = c.events.find((e) => e.event === "message" && e.args[0]?.from === c.name);
    if (copy) fail(`${c.name} got a copy of its own message: ${JSON.stringify(copy.args)}`);
  }
  say(`messages from each client reached the three others (and not the sender)`);

  const left = await dave.members("leave", room);
  if (left !== 3) fail(`after dave left ${room}, ${left} members counted instead of 3`);
  for (const c of all) c.close();

  // nginx logs a WebSocket when it closes: wait for bob's, carol's and dave's
  const lines = await waitLog("WebSocket lines of bob, carol and dave", (lines) =>
    [addrQ, addrR].every((a) => lines.some((l) => l.remote === a && l.query.get("transport") === "websocket")) &&
    lines.some((l) => !l.remote.startsWith("127.") && l.status === 101));
  const engineio = lines.filter((l) => l.uri.startsWith("/socket.io/"));
  const refused = engineio.find((l) => l.status === 400);
  if (refused) fail(`a Socket.IO request was refused (400: unknown session?): ${refused.raw}`);
  const bySid = new Map();
  for (const l of engineio) {
    const sid = l.query.get("sid");
    if (sid) bySid.set(sid, (bySid.get(sid) ?? new Set()).add(l.upstream));
  }
  for (const [sid, ups] of bySid) {
    if (ups.size !== 1) fail(`the requests of session ${sid} went to several nodes: ${[...ups]}`);
  }
  const polled = engineio.filter((l) => !l.remote.startsWith("127.") && l.query.get("transport") === "polling" && l.method === "POST" && l.status === 200);
  const polledSids = new Set(polled.map((l) => l.query.get("sid")));
  if (polledSids.size < 2) fail(`expected long-polling POSTs of alice's and bob's sessions from the host`);
  if (!engineio.some((l) => l.status === 101 && polledSids.has(l.query.get("sid")))) {
    fail(`no WebSocket upgrade (101) of a long-polling session from the host in the access log`);
  }
  const used = new Set(engineio.map((l) => nodeName(l.upstream)));
  if (used.size < 3) fail(`the Socket.IO requests reached only ${[...used]}`);
  say(`nginx's access log: ${engineio.length} Socket.IO requests over ${[...used].sort().join(", ")}, ` +
    `each session on one node, a 101 upgrade from the host, no 400`);
}

const clients = [];
try {
  await scenario(clients);
  console.log("  all checks passed");
  process.exitCode = 0;
} catch (e) {
  console.error(`  FAILED: ${e instanceof Failure ? e.message : e.stack}`);
  for (const c of clients) {
    if (c.stderr.trim()) console.error(`  --- ${c.name}'s stderr ---\n${c.stderr.trim()}`);
  }
  process.exitCode = 1;
} finally {
  for (const c of clients) c.close();
  setTimeout(() => process.exit(), 500).unref();
}
