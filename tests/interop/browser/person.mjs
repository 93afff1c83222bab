// A person's path through Tessera's pages in headless Chromium (Debian's /usr/bin/chromium,
// driven by playwright-core), with basic accessibility checks on every page visited.
//
// Usage: node person.mjs BASE_URL ADMIN_TOKEN MAIL_DIR [SCREENSHOT_DIR]
//   MAIL_DIR: the server's `.eml` folder (`$TESSERA_DATA_DIR/mail` when no SMTP is set);
//   the reset link is read from the mail, as a person would click it.
//
// Each step is one function in STEPS below, run in order against one browser context
// (one person, one cookie jar): password reset, login, consent, the account page, TOTP
// enrolment (the key is read from the page), logout. To add a step, write one async
// function taking the shared `ctx` and put it in STEPS.
//
// Accessibility checks (a11y) on every page: <html lang> set, a non-empty <title>, one
// <h1>, every visible form control has a label (label[for], a wrapping label,
// aria-label or aria-labelledby), every button has an accessible name, error messages
// are announced (role=alert or status), and the forms are driven by the keyboard only
// (Tab between fields, Enter to submit) instead of clicks.

import { createHash, createHmac, randomBytes } from 'node:crypto';
import { createServer } from 'node:http';
import { mkdirSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { chromium } from 'playwright-core';
import { Admin, Suite, assert, unique } from '../common.mjs';

const [base, token, mailDir, shots] = [process.argv[2]?.replace(/\/$/, ''), process.argv[3], process.argv[4], process.argv[5]];
if (!base || !token || !mailDir) {
  console.error('usage: node person.mjs BASE_URL ADMIN_TOKEN MAIL_DIR [SCREENSHOT_DIR]');
  process.exit(2);
}
const suite = new Suite('browser');
const admin = new Admin(base, token);

// ---------------------------------------------------------------- accessibility

/** Basic accessibility checks on the current page; `name` labels failures. */
async function a11y(page, name) {
  const report = await page.evaluate(() => {
    const problems = [];
    const lang = document.documentElement.getAttribute('lang');
    if (!lang || !lang.trim()) problems.push('<html> has no lang');
    if (!document.title.trim()) problems.push('empty <title>');
    const h1 = document.querySelectorAll('h1').length;
    if (h1 !== 1) problems.push(`${h1} <h1> elements`);
    const controls = document.querySelectorAll('input, select, textarea');
    for (const el of controls) {
      const type = (el.getAttribute('type') || 'text').toLowerCase();
      if (['hidden', 'submit', 'button', 'reset', 'image'].includes(type)) continue;
      const byFor = el.id && document.querySelector(`label[for="${CSS.escape(el.id)}"]`);
      const wrapped = el.closest('label');
      const aria = el.getAttribute('aria-label')?.trim() || el.getAttribute('aria-labelledby');
      const labelText = (byFor || wrapped)?.textContent.trim();
      if (!labelText && !aria) problems.push(`input name=${el.name || '?'} has no label`);
    }
    for (const b of document.querySelectorAll('button, input[type=submit]')) {
      const text = (b.textContent || b.value || b.getAttribute('aria-label') || '').trim();
      if (!text) problems.push('a button without an accessible name');
    }
    for (const el of document.querySelectorAll('.error')) {
      const role = el.getAttribute('role');
      if (role !== 'alert' && role !== 'status') problems.push('an error message not announced (role=alert)');
    }
    for (const img of document.querySelectorAll('img')) {
      if (!img.hasAttribute('alt')) problems.push('an <img> without alt');
    }
    return { problems, title: document.title };
  });
  assert(report.problems.length === 0, `${name}: ${report.problems.join('; ')}`);
  if (shots) await page.screenshot({ path: join(shots, `${String(++shotCount).padStart(2, '0')}-${name}.png`), fullPage: true });
  return report;
}
let shotCount = 0;

/** Presses Tab until `selector` has focus (at most 15 presses): keyboard reachability. */
async function tabTo(page, selector) {
  for (let i = 0; i < 15; i += 1) {
    if (await page.locator(selector).evaluate((el) => el === document.activeElement)) return;
    await page.keyboard.press('Tab');
  }
  throw new Error(`${selector} is not reachable with Tab`);
}

/** Types into the focused field after reaching `selector` by keyboard. */
async function typeInto(page, selector, text) {
  await tabTo(page, selector);
  await page.keyboard.type(text);
}

// ---------------------------------------------------------------- helpers

function decodeQuotedPrintable(text) {
  return text
    .replace(/=\r?\n/g, '')
    .replace(/=([0-9A-F]{2})/g, (_, hex) => String.fromCharCode(parseInt(hex, 16)));
}

/** The newest link to `path` in a mail to `to`, polled for up to 10 s. */
async function linkFromMail(to, path) {
  const deadline = Date.now() + 10_000;
  while (Date.now() < deadline) {
    for (const file of readdirSync(mailDir).filter((f) => f.endsWith('.eml'))) {
      const raw = readFileSync(join(mailDir, file), 'utf8');
      if (!raw.includes(`To: ${to}`)) continue;
      const body = decodeQuotedPrintable(raw);
      const link = body.match(new RegExp(`https?://\\S*${path}\\?token=[A-Za-z0-9_-]+`));
      if (link) return link[0];
    }
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`no mail to ${to} with a ${path} link`);
}

function b64url(buf) {
  return buf.toString('base64url');
}

/** An authorization request URL for the tenant's client, with PKCE and a nonce. */
function authorizeUrl(ctx, extra = {}) {
  const verifier = b64url(randomBytes(32));
  ctx.verifier = verifier;
  ctx.state = b64url(randomBytes(12));
  const params = new URLSearchParams({
    response_type: 'code',
    client_id: ctx.t.client.client_id,
    redirect_uri: ctx.t.redirectUri,
    scope: 'openid profile email',
    state: ctx.state,
    nonce: b64url(randomBytes(12)),
    code_challenge: b64url(createHash('sha256').update(verifier).digest()),
    code_challenge_method: 'S256',
    ...extra,
  });
  return `${ctx.t.issuer}/authorize?${params}`;
}

/** Waits until the browser lands on the (intercepted) client callback; returns its URL. */
async function callback(page) {
  await page.waitForURL((url) => url.href.startsWith(rp.base), { timeout: 10_000 });
  return new URL(page.url());
}

// ---------------------------------------------------------------- steps

async function forgotPassword(ctx) {
  const { page, t } = ctx;
  await page.goto(`${t.issuer}/password/forgot`);
  await a11y(page, 'password-forgot');
  await typeInto(page, '#login', t.user.username);
  await page.keyboard.press('Enter');
  await page.getByRole('status').waitFor();
  await a11y(page, 'password-forgot-sent');
}

async function resetPassword(ctx) {
  const { page, t } = ctx;
  const link = await linkFromMail(t.user.email, '/password/reset');
  await page.goto(link);
  await a11y(page, 'password-reset');
  t.user.password = 'a brand new passphrase 42';
  await typeInto(page, '#password', t.user.password);
  await typeInto(page, '#password_confirm', t.user.password);
  await Promise.all([page.waitForNavigation(), page.keyboard.press('Enter')]);
  const heading = await page.locator('h1').innerText();
  assert(heading === 'Password changed', `after reset: ${await page.locator('main').innerText()}`);
  await a11y(page, 'password-reset-done');
}

async function wrongPassword(ctx) {
  const { page, t } = ctx;
  await page.goto(authorizeUrl(ctx));
  await page.locator('#username').waitFor();
  await a11y(page, 'login');
  // Autofocus puts the person in the username field; Tab moves on; Enter submits.
  assert(await page.locator('#username').evaluate((el) => el === document.activeElement), 'username has focus');
  await page.keyboard.type(t.user.username);
  await typeInto(page, '#password', 'not the password');
  await page.keyboard.press('Enter');
  await page.getByRole('alert').waitFor();
  await a11y(page, 'login-error');
}

async function signIn(ctx) {
  const { page, t } = ctx;
  await page.locator('#username').fill('');
  await typeInto(page, '#username', t.user.username);
  await typeInto(page, '#password', t.user.password);
  await page.keyboard.press('Enter');
  await page.getByRole('button', { name: 'Allow' }).waitFor();
}

async function consent(ctx) {
  const { page, t } = ctx;
  await a11y(page, 'consent');
  const heading = await page.locator('h1').innerText();
  assert(heading.includes(t.client.name), `consent names the client: ${heading}`);
  await tabTo(page, 'button[value=allow]');
  await page.keyboard.press('Enter');
  const back = await callback(page);
  assert(back.searchParams.get('code'), 'a code');
  assert(back.searchParams.get('state') === ctx.state, 'state echoed');
  assert(back.searchParams.get('iss') === t.issuer, 'iss (RFC 9207)');
  ctx.code = back.searchParams.get('code');
}

async function codeWorks(ctx) {
  const { t } = ctx;
  const res = await fetch(`${t.issuer}/token`, {
    method: 'POST',
    headers: {
      'content-type': 'application/x-www-form-urlencoded',
      authorization: `Basic ${Buffer.from(`${t.client.client_id}:${t.client.client_secret}`).toString('base64')}`,
    },
    body: new URLSearchParams({ grant_type: 'authorization_code', code: ctx.code, redirect_uri: t.redirectUri, code_verifier: ctx.verifier }),
  });
  const body = await res.json();
  assert(res.status === 200 && body.id_token, `token: ${res.status} ${JSON.stringify(body)}`);
  ctx.idToken = body.id_token;
}

async function singleSignOn(ctx) {
  const { page } = ctx;
  await page.goto(authorizeUrl(ctx));
  const back = await callback(page);
  assert(back.searchParams.get('code'), 'signed in already: straight back with a code');
}

/** RFC 4648 base32 (no padding) to bytes. */
function base32Decode(text) {
  const alphabet = 'ABCDEFGHIJKLMNOPQRSTUVWXYZ234567';
  let bits = 0;
  let value = 0;
  const out = [];
  for (const ch of text.replace(/=+$/, '').toUpperCase()) {
    const index = alphabet.indexOf(ch);
    if (index < 0) throw new Error(`not base32: ${ch}`);
    value = (value << 5) | index;
    bits += 5;
    if (bits >= 8) {
      out.push((value >>> (bits - 8)) & 0xff);
      bits -= 8;
    }
  }
  return Buffer.from(out);
}

/** The RFC 6238 code (SHA-1, 6 digits, 30 s steps) an authenticator app would show. */
function totpCode(secret, now = Date.now()) {
  const counter = Buffer.alloc(8);
  counter.writeBigUInt64BE(BigInt(Math.floor(now / 1000 / 30)));
  const mac = createHmac('sha1', base32Decode(secret)).update(counter).digest();
  const offset = mac[mac.length - 1] & 0x0f;
  const number = (mac.readUInt32BE(offset) & 0x7fffffff) % 1_000_000;
  return String(number).padStart(6, '0');
}

async function accountPage(ctx) {
  const { page, t } = ctx;
  await page.goto(`${t.issuer}/account`);
  const heading = await page.locator('h1').innerText();
  assert(heading.includes('account'), `account page heading: ${heading}`);
  await a11y(page, 'account');
  const text = await page.locator('main').innerText();
  for (const section of ['Second factors', 'Password', 'Sessions', 'Apps you allowed']) {
    assert(text.includes(section), `account page shows ${section}`);
  }
}

async function totpEnrolment(ctx) {
  const { page, t } = ctx;
  await page.goto(`${t.issuer}/account`);
  await tabTo(page, `a[href$="/account/totp"]`);
  await Promise.all([page.waitForNavigation(), page.keyboard.press('Enter')]);
  await a11y(page, 'totp-setup');
  assert(await page.locator('.qr svg').count() === 1, 'a server-rendered QR code');
  // The person types the key shown on the page into their app; so does the test.
  const secret = (await page.locator('code').first().innerText()).replace(/\s+/g, '');
  await typeInto(page, '#code', totpCode(secret));
  await Promise.all([page.waitForNavigation(), page.keyboard.press('Enter')]);
  const saved = await page.locator('h1').innerText();
  assert(saved === 'Save your recovery codes', `after the first code: ${await page.locator('main').innerText()}`);
  await a11y(page, 'recovery-codes');
  await page.goto(`${t.issuer}/account`);
  const text = await page.locator('main').innerText();
  assert(text.includes('Remove authenticator app'), 'the authenticator app is set up');
}

async function logout(ctx) {
  const { page, t } = ctx;
  // Without an id_token_hint of this session, the server asks first (RP-Initiated
  // Logout 1.0 §2); the person confirms on the page.
  await page.goto(`${t.issuer}/logout`);
  await a11y(page, 'logout-confirm');
  await Promise.all([page.waitForLoadState('load'), page.getByRole('button', { name: 'Sign out' }).click()]);
  await page.getByRole('heading', { name: 'You are signed out' }).waitFor();
  await a11y(page, 'signed-out');
  const params = new URLSearchParams({ id_token_hint: ctx.idToken, post_logout_redirect_uri: t.postLogoutUri, state: 'bye' });
  await page.goto(`${t.issuer}/logout?${params}`);
  const back = await callback(page);
  assert(back.href.startsWith(t.postLogoutUri) && back.searchParams.get('state') === 'bye', `after logout: ${back}`);
}

async function signedOutForReal(ctx) {
  const { page } = ctx;
  await page.goto(authorizeUrl(ctx));
  await page.locator('#username').waitFor();
  await a11y(page, 'login-again');
}

async function errorPage(ctx) {
  const { page, t } = ctx;
  const res = await page.goto(`${t.issuer}/authorize?client_id=no-such-client&response_type=code`);
  assert(res.status() === 400, `status ${res.status()}`);
  await a11y(page, 'error-page');
}

const STEPS = [
  ['an authorization request from an unknown client shows an accessible error page', errorPage],
  ['forgot-password page sends a reset mail (keyboard only)', forgotPassword],
  ['reset link from the mail sets a new password (keyboard only)', resetPassword],
  ['login page: a wrong password is announced as an alert', wrongPassword],
  ['login with the new password (Tab and Enter)', signIn],
  ['consent page: Allow by keyboard returns code, state and iss', consent],
  ['the code from the browser redeems for an ID token', codeWorks],
  ['a second authorization signs in silently (session cookie)', singleSignOn],
  ['account page', accountPage],
  ['TOTP enrolment', totpEnrolment],
  ['logout: signed-out page, then RP-initiated logout back to the client', logout],
  ['after logout the login page is shown again', signedOutForReal],
];

// ---------------------------------------------------------------- run

if (shots) mkdirSync(shots, { recursive: true });
// The relying party's callback and logout pages: a bare page on an ephemeral port.
const rp = createServer((_req, res) => {
  res.writeHead(200, { 'content-type': 'text/html' });
  res.end('<!doctype html><html lang="en"><title>Client</title><h1>Back at the client</h1></html>');
});
await new Promise((resolve) => rp.listen(0, '127.0.0.1', resolve));
rp.base = `http://127.0.0.1:${rp.address().port}`;
const userDataDir = join(process.env.TMPDIR ?? '/tmp', unique('chromium-profile'));
const context = await chromium.launchPersistentContext(userDataDir, {
  executablePath: process.env.CHROMIUM ?? '/usr/bin/chromium',
  headless: true,
  args: [
    '--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
    '--disable-background-networking', '--disable-component-update', '--disable-sync',
  ],
});
let skipped = 0;
try {
  const page = context.pages()[0] ?? (await context.newPage());
  page.setDefaultTimeout(10_000);
  const t = await admin.freshTenant('browser', { callbackBase: rp.base });
  const ctx = { page, t, skip: (why) => { throw Object.assign(new Error(why), { skip: true }); } };
  for (const [title, step] of STEPS) {
    try {
      await step(ctx);
    } catch (err) {
      if (err?.skip) {
        skipped += 1;
        console.log(`  skip ${title}: ${err.message}`);
        continue;
      }
      await suite.check(title, () => { throw err; });
      continue;
    }
    await suite.check(title, () => {});
  }
} finally {
  await context.close();
  rp.close();
  rmSync(userDataDir, { recursive: true, force: true });
}
suite.finish(skipped);
