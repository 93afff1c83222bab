// Passkeys in a real browser: headless Debian Chromium (playwright-core) with a CDP
// WebAuthn virtual authenticator (CTAP2, internal transport, resident keys, user
// verification), against a server whose public URL is http://localhost:PORT
// (WebAuthn needs a secure context and a host name as relying-party id; localhost is
// both).
//
// Usage: node passkeys.mjs BASE_URL ADMIN_TOKEN [SCREENSHOT_DIR]
//
// One person, one cookie jar, one authenticator: sign in with the password from the
// login page (which offers a passkey, so its CSP allows the script and its form-action
// the client) and arrive at the client; add a passkey on the account page; sign out;
// sign in passwordless with "Sign in with a passkey" and arrive at the client with a
// code; sign in with the password and complete the second-factor step with the
// passkey; and, once an authenticator app is set up too, complete the second-factor
// page that offers the passkey with a TOTP code (a form post redirected to the
// client). Every code is redeemed and the ID token's amr/acr checked. No page may
// report a Content-Security-Policy violation.

import { createHash, createHmac, randomBytes } from 'node:crypto';
import { createServer } from 'node:http';
import { mkdirSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { chromium } from 'playwright-core';
import { Admin, Suite, assert, unique } from '../common.mjs';

const [base, token, shots] = [process.argv[2]?.replace(/\/$/, ''), process.argv[3], process.argv[4]];
if (!base || !token) {
  console.error('usage: node passkeys.mjs BASE_URL ADMIN_TOKEN [SCREENSHOT_DIR]');
  process.exit(2);
}
if (new URL(base).hostname !== 'localhost') {
  console.error(`passkeys need a host name as relying-party id: BASE_URL must be http://localhost:PORT, not ${base}`);
  process.exit(2);
}
const suite = new Suite('passkeys');
const admin = new Admin(base, token);

// ---------------------------------------------------------------- helpers

let shotCount = 0;
/** Keeps a full-page PNG of the current page (with SCREENSHOT_DIR). */
async function shot(page, name) {
  if (shots) await page.screenshot({ path: join(shots, `${String(++shotCount).padStart(2, '0')}-${name}.png`), fullPage: true });
}

function b64url(buf) {
  return Buffer.from(buf).toString('base64url');
}

/** An authorization request URL for the tenant's client, with PKCE and a nonce. */
function authorizeUrl(ctx) {
  ctx.verifier = b64url(randomBytes(32));
  ctx.state = b64url(randomBytes(12));
  const params = new URLSearchParams({
    response_type: 'code',
    client_id: ctx.t.client.client_id,
    redirect_uri: ctx.t.redirectUri,
    scope: 'openid profile',
    state: ctx.state,
    nonce: b64url(randomBytes(12)),
    code_challenge: b64url(createHash('sha256').update(ctx.verifier).digest()),
    code_challenge_method: 'S256',
  });
  return `${ctx.t.issuer}/authorize?${params}`;
}

/** Waits until the browser is back at the client; checks code, state and iss. */
async function backAtClient(ctx) {
  const { page, t } = ctx;
  await page.waitForURL((url) => url.href.startsWith(t.redirectUri), { timeout: 15_000 });
  await shot(page, `client-${ctx.step}`);
  const back = new URL(page.url());
  assert(!back.searchParams.get('error'), `the client got an error: ${back}`);
  assert(back.searchParams.get('state') === ctx.state, 'state echoed');
  assert(back.searchParams.get('iss') === t.issuer, 'iss (RFC 9207)');
  const code = back.searchParams.get('code');
  assert(code, `a code: ${back}`);
  return code;
}

/** Redeems `code` and returns the ID token's claims. */
async function redeem(ctx, code) {
  const { t } = ctx;
  const res = await fetch(`${t.issuer}/token`, {
    method: 'POST',
    headers: {
      'content-type': 'application/x-www-form-urlencoded',
      authorization: `Basic ${Buffer.from(`${t.client.client_id}:${t.client.client_secret}`).toString('base64')}`,
    },
    body: new URLSearchParams({ grant_type: 'authorization_code', code, redirect_uri: t.redirectUri, code_verifier: ctx.verifier }),
  });
  const body = await res.json();
  assert(res.status === 200 && body.id_token, `token: ${res.status} ${JSON.stringify(body)}`);
  ctx.idToken = body.id_token;
  return JSON.parse(Buffer.from(body.id_token.split('.')[1], 'base64url').toString());
}

/** Fails on any Content-Security-Policy report the page's console got since last time. */
function noViolations(ctx) {
  const seen = ctx.violations.splice(0);
  assert(seen.length === 0, `CSP violations: ${seen.join(' | ')}`);
}

/** Signs in on the login page in view with the password (the form, submitted by Enter). */
async function submitPassword(ctx) {
  const { page, t } = ctx;
  await page.locator('#username').fill(t.user.username);
  await page.locator('#password').fill(t.user.password);
  await page.locator('#password').press('Enter');
}

/** The user's credentials in the virtual authenticator. */
async function credentials(ctx) {
  const { credentials: list } = await ctx.cdp.send('WebAuthn.getCredentials', { authenticatorId: ctx.authenticatorId });
  return list;
}

/** RFC 4648 base32 (no padding) to bytes. */
function base32Decode(text) {
  const alphabet = 'ABCDEFGHIJKLMNOPQRSTUVWXYZ234567';
  let bits = 0;
  let value = 0;
  const out = [];
  for (const ch of text.replace(/=+$/, '').toUpperCase()) {
    value = (value << 5) | alphabet.indexOf(ch);
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
  return String((mac.readUInt32BE(offset) & 0x7fffffff) % 1_000_000).padStart(6, '0');
}

/**
 * Opens the account page. If it asks to confirm who you are first (a fresh proof before
 * a factor is added), answers with the password.
 */
async function accountPage(ctx) {
  const { page, t } = ctx;
  await page.goto(`${t.issuer}/account`);
  await page.locator('h1').waitFor();
  if (!(await page.locator('h1').innerText()).includes('account') && (await page.locator('#password').count()) === 1) {
    await shot(page, 'account-confirm-password');
    await page.locator('#password').fill(t.user.password);
    await Promise.all([page.waitForNavigation(), page.locator('#password').press('Enter')]);
  }
  assert((await page.locator('h1').innerText()).includes('account'), `the account page: ${await page.locator('main').innerText()}`);
}

// ---------------------------------------------------------------- steps

async function passwordToClient(ctx) {
  const { page } = ctx;
  await page.goto(authorizeUrl(ctx));
  await page.locator('#username').waitFor();
  const button = page.getByRole('button', { name: 'Sign in with a passkey' });
  assert(await button.isVisible(), 'the login page offers a passkey');
  await shot(page, 'login');
  await submitPassword(ctx);
  // The 303 after the post goes to the client: form-action must allow it.
  const claims = await redeem(ctx, await backAtClient(ctx));
  assert(claims.amr.includes('pwd'), `amr ${claims.amr}`);
  noViolations(ctx);
}

async function addPasskey(ctx) {
  const { page } = ctx;
  await accountPage(ctx);
  await shot(page, 'account');
  const add = page.getByRole('button', { name: 'Add a passkey' });
  assert(await add.isVisible(), 'the account page offers to add a passkey');
  await page.locator('#passkey_name').fill('Virtual authenticator');
  await add.click();
  let added = await page.waitForURL(/notice=passkey_added/, { timeout: 10_000 }).then(() => true, () => false);
  if (!added && (await page.locator('#password').count()) === 1) {
    // A fresh proof asked for after the click: the password, then add again.
    await shot(page, 'account-confirm-password');
    await page.locator('#password').fill(ctx.t.user.password);
    await Promise.all([page.waitForNavigation(), page.locator('#password').press('Enter')]);
    await page.locator('#passkey_name').fill('Virtual authenticator');
    await page.getByRole('button', { name: 'Add a passkey' }).click();
    added = await page.waitForURL(/notice=passkey_added/, { timeout: 10_000 }).then(() => true, () => false);
  }
  const status = await page.locator('main').innerText();
  assert(added, `the passkey was added: ${status}`);
  await shot(page, 'account-passkey-added');
  assert(status.includes('Your passkey was added.') && status.includes('Virtual authenticator'), `account page lists the passkey: ${status}`);
  const creds = await credentials(ctx);
  assert(creds.length === 1, `${creds.length} credentials in the authenticator`);
  assert(creds[0].isResidentCredential, 'a discoverable credential (needed to sign in without a username)');
  assert(creds[0].userHandle && Buffer.from(creds[0].userHandle, 'base64').length === 16, 'the user handle is the user id');
  noViolations(ctx);
}

async function signOut(ctx) {
  const { page, t } = ctx;
  const params = new URLSearchParams({ id_token_hint: ctx.idToken, post_logout_redirect_uri: t.postLogoutUri, state: 'bye' });
  await page.goto(`${t.issuer}/logout?${params}`);
  if (!page.url().startsWith(t.postLogoutUri)) {
    // A confirmation page (RP-Initiated Logout 1.0 §2): confirm with its button.
    await shot(page, 'logout-confirm');
    await Promise.all([page.waitForNavigation(), page.locator('main button[type=submit], main button:not([type])').first().click()]);
  }
  await page.waitForURL((url) => url.href.startsWith(t.postLogoutUri), { timeout: 10_000 });
  await page.goto(authorizeUrl(ctx));
  await page.locator('#username').waitFor();
  assert(new URL(page.url()).pathname.endsWith('/login'), `signed out: ${page.url()}`);
  noViolations(ctx);
}

async function passwordless(ctx) {
  const { page } = ctx;
  await page.goto(authorizeUrl(ctx));
  await page.locator('#username').waitFor();
  await shot(page, 'login-before-passkey');
  // No username typed: the discoverable credential names its user.
  await page.getByRole('button', { name: 'Sign in with a passkey' }).click();
  const claims = await redeem(ctx, await backAtClient(ctx));
  assert(!claims.amr.includes('pwd'), `no password: amr ${claims.amr}`);
  assert(claims.amr.includes('hwk') || claims.amr.includes('swk'), `a key: amr ${claims.amr}`);
  assert(claims.sub === ctx.t.user.id, `the passkey's user: ${claims.sub}`);
  noViolations(ctx);
}

async function passkeyAsSecondFactor(ctx) {
  const { page, context } = ctx;
  await context.clearCookies();
  await page.goto(authorizeUrl(ctx));
  await page.locator('#username').waitFor();
  await submitPassword(ctx);
  await page.waitForURL(/\/login\/mfa/);
  await shot(page, 'second-factor');
  await page.getByRole('button', { name: 'Use a passkey' }).click();
  const claims = await redeem(ctx, await backAtClient(ctx));
  assert(claims.amr.includes('pwd'), `password first: amr ${claims.amr}`);
  assert(claims.amr.includes('hwk') || claims.amr.includes('swk'), `then a key: amr ${claims.amr}`);
  assert(claims.acr === 'urn:tessera:acr:mfa', `acr ${claims.acr}`);
  noViolations(ctx);
}

async function totpOnThePasskeyPage(ctx) {
  const { page, context } = ctx;
  await accountPage(ctx);
  await Promise.all([page.waitForNavigation(), page.locator('a[href$="/account/totp"]').click()]);
  if ((await page.locator('#code').count()) === 0 && (await page.locator('#password').count()) === 1) {
    await page.locator('#password').fill(ctx.t.user.password);
    await Promise.all([page.waitForNavigation(), page.locator('#password').press('Enter')]);
  }
  const secret = (await page.locator('code').first().innerText()).replace(/\s+/g, '');
  await page.locator('#code').fill(totpCode(secret));
  await Promise.all([page.waitForNavigation(), page.locator('#code').press('Enter')]);
  assert((await page.locator('h1').innerText()) === 'Save your recovery codes', `after the first code: ${await page.locator('main').innerText()}`);
  // A fresh sign-in.
  await context.clearCookies();
  await page.goto(authorizeUrl(ctx));
  await page.locator('#username').waitFor();
  await submitPassword(ctx);
  await page.waitForURL(/\/login\/mfa/);
  assert(await page.getByRole('button', { name: 'Use a passkey' }).isVisible(), 'the page offers the passkey too');
  await shot(page, 'second-factor-totp-and-passkey');
  // The next step's code (one step of skew is accepted): the step just used is spent.
  await page.locator('#code').fill(totpCode(secret, Date.now() + 30_000));
  await page.locator('#code').press('Enter');
  // The 303 after this post goes to the client: form-action must allow it.
  const claims = await redeem(ctx, await backAtClient(ctx));
  assert(claims.amr.includes('otp') && claims.amr.includes('pwd'), `amr ${claims.amr}`);
  noViolations(ctx);
}

const STEPS = [
  ['password on the login page that offers a passkey returns to the client', passwordToClient],
  ['account page: add a passkey with the virtual authenticator', addPasskey],
  ['sign out', signOut],
  ['"Sign in with a passkey" without a username returns to the client with a code', passwordless],
  ['password, then the passkey as the second factor, returns to the client', passkeyAsSecondFactor],
  ['a TOTP code on the second-factor page that offers a passkey returns to the client', totpOnThePasskeyPage],
];

// ---------------------------------------------------------------- run

if (shots) mkdirSync(shots, { recursive: true });
// The relying party's callback and logout pages, on localhost (a host name, so the
// login page's form-action names it as scheme://host:port).
const rp = createServer((_req, res) => {
  res.writeHead(200, { 'content-type': 'text/html' });
  res.end('<!doctype html><html lang="en"><title>Client</title><h1>Back at the client</h1></html>');
});
await new Promise((resolve) => rp.listen(0, '127.0.0.1', resolve));
rp.base = `http://localhost:${rp.address().port}`;
const userDataDir = join(process.env.TMPDIR ?? '/tmp', unique('chromium-profile'));
const context = await chromium.launchPersistentContext(userDataDir, {
  executablePath: process.env.CHROMIUM ?? '/usr/bin/chromium',
  headless: true,
  args: [
    '--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
    '--disable-background-networking', '--disable-component-update', '--disable-sync',
    // Both servers listen on 127.0.0.1 only.
    '--host-resolver-rules=MAP localhost 127.0.0.1',
  ],
});
try {
  const page = context.pages()[0] ?? (await context.newPage());
  page.setDefaultTimeout(10_000);
  const violations = [];
  page.on('console', (msg) => {
    if (/Content Security Policy|Refused to/i.test(msg.text())) violations.push(msg.text());
  });
  const cdp = await context.newCDPSession(page);
  await cdp.send('WebAuthn.enable');
  const { authenticatorId } = await cdp.send('WebAuthn.addVirtualAuthenticator', {
    options: {
      protocol: 'ctap2',
      transport: 'internal',
      hasResidentKey: true,
      hasUserVerification: true,
      isUserVerified: true,
      automaticPresenceSimulation: true,
    },
  });
  const t = await admin.freshTenant('passkeys', {
    firstParty: true,
    callbackBase: rp.base,
    settings: { mfa_policy: 'optional' },
  });
  const ctx = { page, context, cdp, authenticatorId, t, violations };
  for (const [title, step] of STEPS) {
    ctx.step = step.name;
    await suite.check(title, () => step(ctx));
  }
} finally {
  await context.close();
  rp.close();
  rmSync(userDataDir, { recursive: true, force: true });
}
suite.finish();
