// Drives the Socket.IO Admin UI front end in headless Chromium for tests/tests/admin_ui.rs.
//
//   node browser.mjs <ui url> <server url> <username> <password>
//
// Connects two socket.io-client clients to the server (both join room1, the first room2 too),
// opens the UI (served at <ui url>, another origin than the server), logs in with a wrong
// password and then the right one, and reports what the Sockets, Rooms and Servers pages show
// as JSON lines ({"ev": ...}); the Rust test judges. Every wait is bounded; on a failure it
// prints {"ev":"error",...}, saves a screenshot and exits 1. Chromium is /usr/bin/chromium, or
// $VOLLEY_CHROMIUM. Nothing is downloaded: requests to other hosts (the UI's web fonts) are
// refused. With $VOLLEY_ADMIN_UI_SCREENSHOTS set to a directory, each page is saved there too.

import { chromium } from "playwright-core";
import { launchChromium } from "../chromium.mjs";
import { io } from "socket.io-client";
import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";

const WAIT_MS = 15_000;
const [uiUrl, serverUrl, username, password] = process.argv.slice(2);
if (!uiUrl || !serverUrl || !username || !password) {
  console.error("usage: node browser.mjs <ui url> <server url> <username> <password>");
  process.exit(2);
}

const out = (ev, fields = {}) => console.log(JSON.stringify({ ev, ...fields }));
let step = "clients";
let page;
let browser;
const clients = [];
const pageErrors = [];

async function fail(error) {
  out("error", { step, message: String(error?.message ?? error) });
  try {
    if (page) {
      const file = path.join(mkdtempSync(path.join(tmpdir(), "volley-admin-ui-")), "page.png");
      await page.screenshot({ path: file, timeout: 5_000 });
      out("screenshot", { path: file });
    }
  } catch (e) {
    console.error("no screenshot:", e);
  }
  console.error(error);
  for (const c of clients) c.close();
  await browser?.close().catch(() => {});
  process.exit(1);
}

// Saves the page as <name>.png when asked to.
async function snapshot(name) {
  const dir = process.env.VOLLEY_ADMIN_UI_SCREENSHOTS;
  if (dir) await page.screenshot({ path: path.join(dir, `${name}.png`), timeout: 5_000 });
}

// The text of each row of the page's data table, cell by cell.
async function tableRows() {
  return await page.$$eval(".v-data-table tbody tr", (rows) =>
    rows.map((tr) => [...tr.querySelectorAll("td")].map((td) => td.textContent.trim())),
  );
}

async function waitForRowWith(text) {
  await page.waitForFunction(
    (t) =>
      [...document.querySelectorAll(".v-data-table tbody tr")].some((tr) =>
        tr.textContent.includes(t),
      ),
    text,
    { timeout: WAIT_MS },
  );
}

try {
  // two clients of the watched server, in rooms
  for (const rooms of [["room1", "room2"], ["room1"]]) {
    const client = io(serverUrl, { forceNew: true, reconnection: false, timeout: WAIT_MS });
    clients.push(client);
    await new Promise((resolve, reject) => {
      const t = setTimeout(() => reject(new Error("a client did not connect")), WAIT_MS);
      client.once("connect", () => {
        clearTimeout(t);
        resolve();
      });
      client.once("connect_error", (e) => reject(e));
    });
    for (const room of rooms) await client.timeout(WAIT_MS).emitWithAck("join", room);
  }
  out("clients", { ids: clients.map((c) => c.id) });

  step = "launch";
  browser = await launchChromium(chromium, (attempt, e) =>
    out("launch-retry", { attempt, message: String(e.message ?? e) }),
  );
  out("launched", { version: browser.version() });
  const context = await browser.newContext({ viewport: { width: 1400, height: 900 } });
  const allowed = [new URL(uiUrl).host, new URL(serverUrl).host];
  await context.route("**/*", (route) => {
    const host = new URL(route.request().url()).host;
    return allowed.includes(host) ? route.continue() : route.abort();
  });
  page = await context.newPage();
  page.setDefaultTimeout(WAIT_MS);
  page.on("pageerror", (e) => pageErrors.push(String(e)));
  page.on("console", (m) => {
    if (m.type() === "error" && !m.text().includes("net::ERR_FAILED")) pageErrors.push(m.text());
  });

  step = "open";
  await page.goto(uiUrl, { timeout: WAIT_MS });
  await page.getByLabel("Server URL").waitFor();
  out("opened", { title: await page.title() });

  step = "wrong password";
  await page.getByLabel("Server URL").fill(serverUrl);
  await page.getByLabel("Username").fill(username);
  await page.getByLabel("Password").fill(password + "-wrong");
  await page.getByRole("button", { name: "Connect" }).click();
  const error = page.locator(".v-dialog .red--text");
  await error.waitFor();
  out("login_error", { text: (await error.textContent()).trim() });
  await snapshot("login-error");

  step = "login";
  await page.getByLabel("Password").fill(password);
  await page.getByRole("button", { name: "Connect" }).click();
  await page.getByLabel("Server URL").waitFor({ state: "hidden" });
  out("logged_in");

  step = "sockets";
  await page.goto(new URL("#/sockets/", uiUrl).href);
  for (const c of clients) await waitForRowWith(c.id);
  out("sockets", { rows: await tableRows() });
  await snapshot("sockets");

  step = "rooms";
  await page.goto(new URL("#/rooms/", uiUrl).href);
  await waitForRowWith("room1");
  await waitForRowWith("room2");
  out("rooms", { rows: await tableRows() });
  await snapshot("rooms");

  step = "servers";
  await page.goto(new URL("#/servers/", uiUrl).href);
  await waitForRowWith("volley-test-node");
  out("servers", { rows: await tableRows() });
  await snapshot("servers");

  step = "live update";
  // a client leaving shows up without reloading
  await page.goto(new URL("#/sockets/", uiUrl).href);
  await waitForRowWith(clients[1].id);
  const gone = clients[1].id;
  clients[1].close();
  await page.waitForFunction(
    (id) =>
      ![...document.querySelectorAll(".v-data-table tbody tr")].some((tr) =>
        tr.textContent.includes(id),
      ),
    gone,
    { timeout: WAIT_MS },
  );
  out("sockets_after_leave", { rows: await tableRows() });

  out("page_errors", { errors: pageErrors });
  out("done");
} catch (e) {
  await fail(e);
}
for (const c of clients) c.close();
await browser?.close();
