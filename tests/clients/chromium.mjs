// Starts the headless Chromium that the browser tests drive (tests/clients/browser/chat.mjs and
// tests/clients/admin-ui/browser.mjs): /usr/bin/chromium, or $VOLLEY_CHROMIUM. Nothing is
// downloaded.
//
// A launch is bounded, and one that does not come up is tried once more with a new profile: in
// CI a freshly installed Chromium once printed nothing for 30 s and the test failed before any
// Volley code ran. What a page then shows is still judged with the scripts' own bounds.
//
// The caller passes playwright-core's `chromium` (this file sits outside both npm packages, so
// it cannot import it) and a function that reports a failed attempt.

const LAUNCH_MS = 60_000;
const ATTEMPTS = 2;

const ARGS = [
  "--headless",
  "--no-sandbox",
  "--disable-gpu",
  "--disable-quic",
  "--no-first-run",
  "--disable-background-networking",
  "--disable-component-update",
  "--disable-sync",
];

export async function launchChromium(chromium, onFailedAttempt = () => {}) {
  for (let attempt = 1; ; attempt++) {
    try {
      return await chromium.launch({
        executablePath: process.env.VOLLEY_CHROMIUM || "/usr/bin/chromium",
        headless: true,
        timeout: LAUNCH_MS,
        args: ARGS,
      });
    } catch (e) {
      if (attempt >= ATTEMPTS) throw e;
      onFailedAttempt(attempt, e);
    }
  }
}
