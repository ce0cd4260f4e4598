// Drives the chat example in headless Chromium for tests/tests/chat_browser.rs.
//
//   node chat.mjs <server url> <first message> <second message>
//
// Three pages in separate browser contexts: A (alice) and B (bob) in room r1, C (carol) in r2.
// A sends the first message; B's connection drops while A sends another, and B gets it back
// when it reconnects; B leaves; A sends the second. The script reports what each page
// shows as JSON lines ({"ev": ...}) and leaves the judging to the Rust test. Every wait is
// bounded; on a failure it prints {"ev":"error",...}, saves screenshots and exits 1.
// Chromium is started by ../chromium.mjs.

import { chromium } from 'playwright-core';
import { launchChromium } from '../chromium.mjs';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';

const WAIT_MS = 10_000;
const [url, first, second] = process.argv.slice(2);
const away = 'written while bob was away';
if (!url || !first || !second) {
  console.error('usage: node chat.mjs <server url> <first message> <second message>');
  process.exit(2);
}

const out = (ev, fields = {}) => console.log(JSON.stringify({ ev, ...fields }));

const browser = await launchChromium(chromium, (attempt, e) =>
  out('launch-retry', { attempt, message: String(e.message ?? e) }),
);
out('launched', { version: browser.version() });

const pages = {};
const pageErrors = [];
let step = 'start';

async function fail(error) {
  out('error', { step, message: String(error?.message ?? error) });
  try {
    const dir = mkdtempSync(path.join(tmpdir(), 'volley-chat-browser-'));
    for (const [name, page] of Object.entries(pages)) {
      const file = path.join(dir, `${name}.png`);
      await page.screenshot({ path: file, timeout: 5_000 });
      out('screenshot', { page: name, path: file });
    }
  } catch (e) {
    console.error('no screenshots:', e);
  }
  console.error(error);
  await browser.close().catch(() => {});
  process.exit(1);
}

async function open(name) {
  const context = await browser.newContext({ viewport: { width: 900, height: 700 } });
  const page = await context.newPage();
  page.setDefaultTimeout(WAIT_MS);
  page.on('pageerror', (e) => pageErrors.push({ page: name, error: String(e) }));
  page.on('console', (m) => {
    if (m.type() === 'error') pageErrors.push({ page: name, error: m.text() });
  });
  pages[name] = page;
  await page.goto(url, { timeout: WAIT_MS });
  await page.waitForSelector('#status[data-state="connected"]');
  out('connected', { page: name });
  return page;
}

async function setNick(name, nick) {
  const page = pages[name];
  await page.fill('#nick', nick);
  await page.click('#set-nick');
  await page.waitForSelector(`#nick[data-saved="${nick}"]`);
  out('nick', { page: name, nick });
}

async function join(name, room) {
  const page = pages[name];
  await page.fill('#room', room);
  await page.click('#join');
  await page.waitForFunction((r) => document.getElementById('current-room').textContent === `in #${r}`, room);
  out('joined', { page: name, room, members: Number(await page.textContent('#members')) });
}

async function waitMembers(name, count) {
  await pages[name].waitForFunction((n) => document.getElementById('members').textContent === String(n), count);
  out('members', { page: name, members: count });
}

async function send(name, text) {
  const page = pages[name];
  await page.fill('#text', text);
  await page.click('#send');
  // The server acks after the broadcast is queued, so everything it sent is on its way.
  const li = page.locator('#messages li.own').filter({ hasText: text }).last();
  await page.waitForFunction((el) => el.dataset.state !== 'pending', await li.elementHandle());
  out('sent', { page: name, text, state: await li.getAttribute('data-state') });
}

// A round trip on the page's own connection: what the server sent it before is delivered now.
async function settle(name) {
  const ack = await pages[name].evaluate(async (n) => {
    const s = window.chat.socket;
    return await s.timeout(n).emitWithAck('nick', document.getElementById('nick').value);
  }, WAIT_MS);
  if (ack?.error) throw new Error(`settle ${name}: ${ack.error}`);
}

async function report(name, after) {
  const messages = await pages[name].$$eval('#messages li', (lis) =>
    lis.map((li) => ({
      kind: ['own', 'other', 'system'].find((k) => li.classList.contains(k)) ?? null,
      room: li.dataset.room ?? null,
      from: li.dataset.from ?? null,
      text: li.querySelector('.text')?.textContent ?? null,
      state: li.dataset.state ?? null,
    })),
  );
  out('messages', { page: name, after, messages });
}

try {
  step = 'open';
  await open('A');
  await open('B');
  await open('C');

  step = 'nick';
  await setNick('A', 'alice');
  await setNick('B', 'bob');
  await setNick('C', 'carol');

  step = 'join';
  await join('A', 'r1');
  await join('B', 'r1');
  await join('C', 'r2');
  await waitMembers('A', 2);

  step = 'first message';
  await send('A', first);
  await pages.B.waitForFunction(
    (t) => [...document.querySelectorAll('#messages li.other .text')].some((e) => e.textContent === t),
    first,
  );
  await settle('A');
  await settle('C');
  for (const name of ['A', 'B', 'C']) await report(name, 'first');

  // B's connection drops (as a network blink would); A writes meanwhile; B reconnects by
  // itself and, with connection state recovery, shows the message it missed, once
  step = 'blink';
  await pages.B.evaluate(() => window.chat.socket.io.engine.close());
  await send('A', away);
  await pages.B.waitForSelector('#status[data-state="connected"]');
  await pages.B.waitForFunction(
    (t) => [...document.querySelectorAll('#messages li.other .text')].some((e) => e.textContent === t),
    away,
  );
  out('recovered', { page: 'B', status: await pages.B.textContent('#status') });
  await settle('B');
  await report('B', 'blink');

  step = 'leave';
  await pages.B.click('#leave');
  await pages.B.waitForFunction(() => document.getElementById('current-room').textContent === 'not in a room');
  out('left', { page: 'B' });
  await waitMembers('A', 1);

  step = 'second message';
  await send('A', second);
  await settle('B');
  for (const name of ['A', 'B']) await report(name, 'second');

  out('page_errors', { errors: pageErrors });
  out('done');
} catch (e) {
  await fail(e);
}
await browser.close();
