// Shared by the Node suites: a tiny pass/fail harness, the management API calls that
// set up a fresh tenant, and a cookie-keeping HTTP "browser" for the login and consent
// pages. Only Node's built-ins are used here; the clients under test are imported by
// the suites themselves.

import { randomBytes } from 'node:crypto';

/** Counts checks; each check is a named async function, run in order. */
export class Suite {
  constructor(name) {
    this.name = name;
    this.passed = 0;
    this.failed = 0;
    this.started = Date.now();
  }

  /** Runs one check; a thrown error fails it and is printed, the suite goes on. */
  async check(title, fn) {
    try {
      const value = await fn();
      this.passed += 1;
      console.log(`  ok   ${title}`);
      return value;
    } catch (err) {
      this.failed += 1;
      console.log(`  FAIL ${title}\n       ${String(err?.stack ?? err).split('\n').slice(0, 6).join('\n       ')}`);
      return undefined;
    }
  }

  /** Prints the closing line and sets the exit code. */
  finish(skipped = 0) {
    const secs = ((Date.now() - this.started) / 1000).toFixed(1);
    const skips = skipped ? `, ${skipped} skipped` : '';
    console.log(`${this.name}: ${this.passed} passed, ${this.failed} failed${skips} (${secs}s)`);
    process.exitCode = this.failed === 0 && this.passed > 0 ? 0 : 1;
  }
}

/** Throws unless `cond` holds. */
export function assert(cond, message) {
  if (!cond) throw new Error(`assertion failed: ${message}`);
}

/** Reads `BASE_URL` and `ADMIN_TOKEN` (argv or environment). */
export function settings() {
  const base = (process.argv[2] ?? process.env.TESSERA_URL ?? '').replace(/\/$/, '');
  const token = process.argv[3] ?? process.env.TESSERA_ADMIN_TOKEN;
  if (!base || !token) {
    console.error('usage: node <suite>.mjs BASE_URL ADMIN_TOKEN');
    process.exit(2);
  }
  return { base, token };
}

/** A random lowercase suffix for slugs and names. */
export function unique(prefix) {
  return `${prefix}-${randomBytes(5).toString('hex')}`;
}

/** The management API with a bearer token. */
export class Admin {
  constructor(base, token) {
    this.base = base;
    this.token = token;
  }

  async call(method, path, body) {
    const res = await fetch(`${this.base}/api/v1${path}`, {
      method,
      headers: {
        authorization: `Bearer ${this.token}`,
        ...(body === undefined ? {} : { 'content-type': 'application/json' }),
      },
      body: body === undefined ? undefined : JSON.stringify(body),
    });
    const text = await res.text();
    if (!res.ok) throw new Error(`${method} ${path}: ${res.status} ${text}`);
    return text ? JSON.parse(text) : null;
  }

  /**
   * A fresh tenant with one confidential web client (code, refresh, client
   * credentials), one user, and the client's redirect and logout URIs on loopback
   * (nothing needs to listen there unless a real browser is sent to them).
   */
  async freshTenant(prefix, { firstParty = false, callbackBase = 'http://127.0.0.1:18999', settings } = {}) {
    const slug = unique(prefix);
    const tenant = await this.call('POST', '/tenants', { slug, display_name: `Interop ${prefix}`, settings });
    const redirectUri = `${callbackBase}/callback`;
    const postLogoutUri = `${callbackBase}/signed-out`;
    const client = await this.call('POST', `/tenants/${slug}/clients`, {
      name: `${prefix} relying party`,
      client_type: 'confidential',
      redirect_uris: [redirectUri],
      post_logout_redirect_uris: [postLogoutUri],
      grant_types: ['authorization_code', 'refresh_token', 'client_credentials'],
      allowed_scopes: ['openid', 'profile', 'email', 'offline_access', 'api:read'],
      first_party: firstParty,
    });
    const user = { username: unique('ann'), password: 'correct horse battery staple' };
    user.email = `${user.username}@example.com`;
    const created = await this.call('POST', `/tenants/${slug}/users`, { ...user, email_verified: true });
    user.id = created.id;
    return { slug, issuer: tenant.issuer, client, redirectUri, postLogoutUri, user };
  }
}

/** The value of `<input type="hidden" name=NAME value=...>` in `html`. */
export function hiddenField(html, name) {
  const tag = html.match(new RegExp(`<input[^>]*name="${name}"[^>]*>`));
  const value = tag?.[0].match(/value="([^"]*)"/);
  if (!value) throw new Error(`no hidden field ${name} in page`);
  return value[1].replace(/&amp;/g, '&').replace(/&quot;/g, '"').replace(/&#x27;|&#39;/g, "'");
}

/** A person's browser without JavaScript: fetch with a cookie jar, redirects by hand. */
export class HttpBrowser {
  constructor() {
    this.cookies = new Map();
  }

  keep(res) {
    for (const line of res.headers.getSetCookie()) {
      const [pair, ...attrs] = line.split(';');
      const eq = pair.indexOf('=');
      const name = pair.slice(0, eq).trim();
      const value = pair.slice(eq + 1).trim();
      const expired = attrs.some((a) => /^\s*max-age=0\s*$/i.test(a)) || value === '';
      if (expired) this.cookies.delete(name);
      else this.cookies.set(name, value);
    }
  }

  async request(url, { method = 'GET', form } = {}) {
    const headers = {};
    if (this.cookies.size) headers.cookie = [...this.cookies].map(([k, v]) => `${k}=${v}`).join('; ');
    let body;
    if (form) {
      headers['content-type'] = 'application/x-www-form-urlencoded';
      body = new URLSearchParams(form).toString();
    }
    const res = await fetch(url, { method, headers, body, redirect: 'manual' });
    this.keep(res);
    return res;
  }

  /**
   * Follows `url` as a person would until the server sends the browser to a URL
   * starting with `stopAt`: signs in on the login page and answers the consent page
   * with `decision`. Returns that final URL and the pages seen on the way.
   */
  async walk(url, stopAt, { username, password, decision = 'allow' } = {}) {
    const seen = [];
    let next = new URL(url);
    for (let hop = 0; hop < 12; hop += 1) {
      if (next.href.startsWith(stopAt)) return { url: next, seen };
      const res = await this.request(next.href);
      if (res.status >= 300 && res.status < 400) {
        next = new URL(res.headers.get('location'), next);
        continue;
      }
      const html = await res.text();
      if (res.status !== 200) throw new Error(`GET ${next.pathname}: ${res.status} ${html.slice(0, 300)}`);
      const action = new URL(html.match(/<form[^>]*action="([^"]*)"/)?.[1].replace(/&amp;/g, '&') ?? '', next);
      const interaction = hiddenField(html, 'interaction');
      const csrf_token = hiddenField(html, 'csrf_token');
      let form;
      if (/name="password"/.test(html)) {
        seen.push('login');
        form = { interaction, csrf_token, username, password };
      } else if (/name="decision"/.test(html)) {
        seen.push('consent');
        form = { interaction, csrf_token, decision };
      } else if (/name="confirm" value="yes"/.test(html)) {
        // "Sign out?" (RP-Initiated Logout 1.0 §2): confirm, posting the page's fields.
        seen.push('logout');
        form = { confirm: 'yes' };
        for (const [, name, value] of html.matchAll(/<input type="hidden" name="([^"]+)" value="([^"]*)"/g)) {
          form[name] = value.replace(/&amp;/g, '&').replace(/&#x27;/g, "'").replace(/&quot;/g, '"');
        }
      } else {
        throw new Error(`unexpected page at ${next.pathname}: ${html.slice(0, 300)}`);
      }
      const posted = await this.request(action.href, { method: 'POST', form });
      if (posted.status < 300 || posted.status >= 400) {
        throw new Error(`POST ${action.pathname}: ${posted.status} ${(await posted.text()).slice(0, 300)}`);
      }
      next = new URL(posted.headers.get('location'), action);
    }
    throw new Error('too many hops');
  }
}
