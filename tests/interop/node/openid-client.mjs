// openid-client (panva, npm, v6) as a relying party against a fresh Tessera tenant.
//
// Usage: node openid-client.mjs BASE_URL ADMIN_TOKEN
// The person's part (login and consent pages) is played over plain HTTP with a cookie
// jar; everything the relying party does is openid-client's own code, which validates
// issuer metadata, the RFC 9207 `iss` response parameter, state, PKCE, the ID token
// (signature against the JWKS, iss, aud, exp, iat, nonce, at_hash) and the userinfo sub.

import * as oidc from 'openid-client';
import { Admin, HttpBrowser, Suite, assert, settings } from '../common.mjs';

const { base, token } = settings();
const suite = new Suite('openid-client');
const admin = new Admin(base, token);
// The server runs on http://127.0.0.1 in CI; openid-client refuses http without this.
const insecure = { execute: [oidc.allowInsecureRequests] };

const t = await admin.freshTenant('oidc-node');
const browser = new HttpBrowser();
const person = { username: t.user.username, password: t.user.password };

/** Authorization code + PKCE + nonce through the real pages; returns the token set. */
async function codeFlow(config, extra = {}) {
  const verifier = oidc.randomPKCECodeVerifier();
  const nonce = oidc.randomNonce();
  const state = oidc.randomState();
  const url = oidc.buildAuthorizationUrl(config, {
    redirect_uri: t.redirectUri,
    scope: 'openid profile email offline_access',
    code_challenge: await oidc.calculatePKCECodeChallenge(verifier),
    code_challenge_method: 'S256',
    nonce,
    state,
    ...extra,
  });
  const { url: back, seen } = await browser.walk(url, t.redirectUri, person);
  const tokens = await oidc.authorizationCodeGrant(config, back, {
    pkceCodeVerifier: verifier,
    expectedNonce: nonce,
    expectedState: state,
    idTokenExpected: true,
  });
  return { tokens, seen, nonce };
}

/** Runs `fn`, which must fail with an OAuth error `code` from the server. */
async function refused(fn, code) {
  try {
    await fn();
  } catch (err) {
    let got = err?.error ?? err?.cause?.error;
    // A 401 with `WWW-Authenticate` (RFC 6749 §5.2) surfaces as a challenge error that
    // carries the response; its JSON body still names the OAuth error.
    if (got === undefined && err?.response instanceof Response) {
      assert(err.response.status === 401, `challenge status ${err.response.status}`);
      got = (await err.response.json()).error;
    }
    assert(got === code, `expected OAuth error ${code}, got ${got}: ${err}`);
    return;
  }
  throw new Error(`expected OAuth error ${code}, but the call succeeded`);
}

let config;
await suite.check('discovery: metadata from the tenant issuer', async () => {
  config = await oidc.discovery(
    new URL(t.issuer),
    t.client.client_id,
    t.client.client_secret,
    oidc.ClientSecretBasic(t.client.client_secret),
    insecure,
  );
  const md = config.serverMetadata();
  assert(md.issuer === t.issuer, `issuer ${md.issuer}`);
  assert(md.code_challenge_methods_supported?.includes('S256'), 'S256 advertised');
  assert(md.authorization_response_iss_parameter_supported === true, 'RFC 9207 iss advertised');
});

let first;
await suite.check('authorization code + PKCE + nonce through the login and consent pages', async () => {
  first = await codeFlow(config);
  assert(first.seen.join(',') === 'login,consent', `pages seen: ${first.seen}`);
  assert(first.tokens.token_type?.toLowerCase() === 'bearer', `token_type ${first.tokens.token_type}`);
  assert(first.tokens.refresh_token, 'a refresh token for offline_access');
});

await suite.check('ID token validated by openid-client: subject, nonce, audience, auth_time', async () => {
  const claims = first.tokens.claims();
  assert(claims.sub === t.user.id, `sub ${claims.sub}`);
  assert(claims.nonce === first.nonce, 'nonce');
  assert(claims.aud === t.client.client_id || claims.aud?.includes?.(t.client.client_id), 'aud');
  assert(typeof claims.auth_time === 'number', 'auth_time');
  assert(claims.iss === t.issuer, 'iss');
});

await suite.check('userinfo returns the profile and email claims for the same subject', async () => {
  const info = await oidc.fetchUserInfo(config, first.tokens.access_token, first.tokens.claims().sub);
  assert(info.email === t.user.email, `email ${info.email}`);
  assert(info.preferred_username === t.user.username, `preferred_username ${info.preferred_username}`);
});

await suite.check('introspection says the access token is active', async () => {
  const info = await oidc.tokenIntrospection(config, first.tokens.access_token);
  assert(info.active === true, 'active');
  assert(info.sub === t.user.id, `sub ${info.sub}`);
  assert(info.client_id === t.client.client_id, `client_id ${info.client_id}`);
});

let rotated;
await suite.check('refresh rotates the refresh token and returns a valid ID token', async () => {
  rotated = await oidc.refreshTokenGrant(config, first.tokens.refresh_token);
  assert(rotated.access_token && rotated.access_token !== first.tokens.access_token, 'new access token');
  assert(rotated.refresh_token && rotated.refresh_token !== first.tokens.refresh_token, 'new refresh token');
  const claims = rotated.claims();
  if (claims) assert(claims.sub === t.user.id, 'refreshed ID token subject');
});

await suite.check('the rotated refresh token is active at introspection', async () => {
  const info = await oidc.tokenIntrospection(config, rotated.refresh_token, { token_type_hint: 'refresh_token' });
  assert(info.active === true, 'active');
});

await suite.check('the old refresh token is refused after rotation', async () => {
  await refused(() => oidc.refreshTokenGrant(config, first.tokens.refresh_token), 'invalid_grant');
});

await suite.check('reusing the old refresh token revoked the whole family', async () => {
  await refused(() => oidc.refreshTokenGrant(config, rotated.refresh_token), 'invalid_grant');
});

let second;
await suite.check('a second authorization reuses the session and the consent (no pages)', async () => {
  second = await codeFlow(config);
  assert(second.seen.length === 0, `pages seen: ${second.seen}`);
});

await suite.check('revoking the access token makes introspection inactive', async () => {
  await oidc.tokenRevocation(config, second.tokens.access_token, { token_type_hint: 'access_token' });
  const info = await oidc.tokenIntrospection(config, second.tokens.access_token);
  assert(info.active === false, 'inactive after revocation');
});

await suite.check('revoking the refresh token makes refresh fail', async () => {
  await oidc.tokenRevocation(config, second.tokens.refresh_token);
  const info = await oidc.tokenIntrospection(config, second.tokens.refresh_token);
  assert(info.active === false, 'inactive after revocation');
  await refused(() => oidc.refreshTokenGrant(config, second.tokens.refresh_token), 'invalid_grant');
});

await suite.check('client credentials (client_secret_post) gets an active api:read token', async () => {
  // A client is accepted only with the method it is registered with.
  const service = await admin.call('POST', `/tenants/${t.slug}/clients`, {
    name: 'Service (client_secret_post)',
    client_type: 'confidential',
    grant_types: ['client_credentials'],
    allowed_scopes: ['api:read'],
    token_endpoint_auth_method: 'client_secret_post',
  });
  const post = await oidc.discovery(
    new URL(t.issuer),
    service.client_id,
    service.client_secret,
    oidc.ClientSecretPost(service.client_secret),
    insecure,
  );
  const tokens = await oidc.clientCredentialsGrant(post, { scope: 'api:read' });
  assert(tokens.access_token, 'access token');
  assert(!tokens.refresh_token, 'no refresh token for client credentials');
  const info = await oidc.tokenIntrospection(post, tokens.access_token);
  assert(info.active === true && info.scope === 'api:read', `introspection ${JSON.stringify(info)}`);
});

await suite.check('a public client (auth method none, PKCE) signs in and refreshes', async () => {
  const pub = await admin.call('POST', `/tenants/${t.slug}/clients`, {
    name: 'Public SPA',
    client_type: 'public',
    redirect_uris: [t.redirectUri],
    allowed_scopes: ['openid', 'profile', 'offline_access'],
  });
  assert(!pub.client_secret, 'no secret for a public client');
  const cfg = await oidc.discovery(new URL(t.issuer), pub.client_id, undefined, oidc.None(), insecure);
  const { tokens, seen } = await codeFlow(cfg, { scope: 'openid profile offline_access' });
  assert(seen.join(',') === 'consent', `signed in already, consent for the new client: ${seen}`);
  assert(tokens.claims().aud === pub.client_id || tokens.claims().aud?.includes?.(pub.client_id), 'aud');
  const refreshed = await oidc.refreshTokenGrant(cfg, tokens.refresh_token);
  assert(refreshed.refresh_token && refreshed.refresh_token !== tokens.refresh_token, 'rotated');
});

await suite.check('a wrong client secret is refused with invalid_client', async () => {
  const wrong = await oidc.discovery(new URL(t.issuer), t.client.client_id, 'not-the-secret', undefined, insecure);
  await refused(() => oidc.clientCredentialsGrant(wrong, { scope: 'api:read' }), 'invalid_client');
});

await suite.check('RP-initiated logout returns to the registered URI with state', async () => {
  const state = oidc.randomState();
  const url = oidc.buildEndSessionUrl(config, {
    id_token_hint: second.tokens.id_token,
    post_logout_redirect_uri: t.postLogoutUri,
    state,
  });
  const { url: back } = await browser.walk(url, t.postLogoutUri, person);
  assert(back.searchParams.get('state') === state, 'state echoed');
});

await suite.check('after logout, prompt=none answers login_required', async () => {
  const url = oidc.buildAuthorizationUrl(config, {
    redirect_uri: t.redirectUri,
    scope: 'openid',
    code_challenge: await oidc.calculatePKCECodeChallenge(oidc.randomPKCECodeVerifier()),
    code_challenge_method: 'S256',
    nonce: oidc.randomNonce(),
    state: 'after-logout',
    prompt: 'none',
  });
  const { url: back } = await browser.walk(url, t.redirectUri, person);
  assert(back.searchParams.get('error') === 'login_required', `error ${back.searchParams.get('error')}`);
  assert(back.searchParams.get('iss') === t.issuer, 'iss on the error response (RFC 9207)');
});

for (const alg of ['PS256', 'ES256', 'EdDSA']) {
  await suite.check(`ID token signed with ${alg} verifies against the JWKS`, async () => {
    const other = await admin.freshTenant(`oidc-${alg.toLowerCase()}`, { settings: { signing_algs: [alg] } });
    const cfg = await oidc.discovery(
      new URL(other.issuer),
      other.client.client_id,
      { client_secret: other.client.client_secret, id_token_signed_response_alg: alg },
      oidc.ClientSecretBasic(other.client.client_secret),
      insecure,
    );
    const them = { username: other.user.username, password: other.user.password };
    const verifier = oidc.randomPKCECodeVerifier();
    const nonce = oidc.randomNonce();
    const url = oidc.buildAuthorizationUrl(cfg, {
      redirect_uri: other.redirectUri,
      scope: 'openid',
      code_challenge: await oidc.calculatePKCECodeChallenge(verifier),
      code_challenge_method: 'S256',
      nonce,
    });
    const { url: back } = await new HttpBrowser().walk(url, other.redirectUri, them);
    const tokens = await oidc.authorizationCodeGrant(cfg, back, { pkceCodeVerifier: verifier, expectedNonce: nonce, idTokenExpected: true });
    const header = JSON.parse(Buffer.from(tokens.id_token.split('.')[0], 'base64url'));
    assert(header.alg === alg, `alg ${header.alg}`);
    assert(tokens.claims().sub === other.user.id, 'sub');
    await oidc.fetchUserInfo(cfg, tokens.access_token, other.user.id);
  });
}

suite.finish();
