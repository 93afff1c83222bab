// oauth4webapi (panva, npm, v3) as a resource server: RFC 9068 JWT access tokens for
// API resources (RFC 8707 `resource`), checked by `validateJwtAccessToken`.
//
// Usage: node resource-server.mjs BASE_URL ADMIN_TOKEN
// Setup goes through the management API: a tenant publishing RS256 and ES256 keys, APIs
// A and B (JWT, tenant algorithm), an ES256 API and a reference-token API, a service
// client with client grants, and a relying party for the code flow. oauth4webapi does
// the rest: RFC 8414 discovery, the token requests, and on the resource side the
// signature (JWKS by `kid`), header `typ` `at+jwt`, `iss`, `aud`, `exp` and the RFC 9068
// §2.2 required claims; RFC 7662 introspection and RFC 7009 revocation for the
// reference token; RFC 9728 metadata read by `processResourceDiscoveryResponse`.

import * as oauth from 'oauth4webapi';
import { Admin, HttpBrowser, Suite, assert, settings } from '../common.mjs';

const { base, token } = settings();
const suite = new Suite('resource-server');
const admin = new Admin(base, token);
// The server runs on http://127.0.0.1 in CI; oauth4webapi refuses http without this.
const insecure = { [oauth.allowInsecureRequests]: true };

const A = 'https://a.example/';
const B = 'https://b.example/';
const ES = 'https://es.example/';
const REF = 'https://ref.example/';
const scopes = [
  { value: 'read:things', description: 'Read things' },
  { value: 'write:things', description: 'Change things' },
];

const t = await admin.freshTenant('rs-node', { settings: { signing_algs: ['RS256', 'ES256'] } });
const tenant = `/tenants/${t.slug}`;
const person = { username: t.user.username, password: t.user.password };

/** A request as the API receives it, carrying `accessToken` in the header (RFC 6750 §2.1). */
function apiRequest(api, accessToken) {
  return new Request(new URL('things', api), { headers: { authorization: `Bearer ${accessToken}` } });
}

/** What a resource server for `api` makes of `accessToken`. */
function validateAt(api, accessToken) {
  return oauth.validateJwtAccessToken(as, apiRequest(api, accessToken), api, insecure);
}

/** `fn` must fail as oauth4webapi fails a token for another audience. */
async function refusedFor(fn, claim) {
  try {
    await fn();
  } catch (err) {
    assert(err instanceof oauth.OperationProcessingError, `not a processing error: ${err}`);
    assert(err.code === oauth.JWT_CLAIM_COMPARISON, `code ${err.code}: ${err.message}`);
    assert(err.cause?.claim === claim, `failed on ${err.cause?.claim}, not ${claim}`);
    return;
  }
  throw new Error(`expected the ${claim} check to fail, but the token was accepted`);
}

/** `fn` must fail at the token endpoint with the OAuth error `code`. */
async function oauthError(fn, code) {
  try {
    await fn();
  } catch (err) {
    const got = err?.error ?? err?.cause?.error;
    assert(got === code, `expected OAuth error ${code}, got ${got}: ${err}`);
    return;
  }
  throw new Error(`expected OAuth error ${code}, but the call succeeded`);
}

/** The client metadata oauth4webapi needs: only the id (the management API's answer also
 * carries fields such as `id_token_signed_response_alg: null` that it would read). */
function asClient(registered) {
  return { client_id: registered.client_id };
}

/** The JOSE header of a compact JWS. */
function header(jwt) {
  return JSON.parse(Buffer.from(jwt.split('.')[0], 'base64url'));
}

const apis = {};
let as;
let service;
let serviceAuth;

await suite.check('setup: four APIs, a service client with client grants, RFC 8414 discovery', async () => {
  apis.a = await admin.call('POST', `${tenant}/apis`, { name: 'Things A', identifier: A, scopes });
  apis.b = await admin.call('POST', `${tenant}/apis`, { name: 'Things B', identifier: B, scopes });
  apis.es = await admin.call('POST', `${tenant}/apis`, { name: 'Things ES256', identifier: ES, scopes, signing_alg: 'ES256' });
  apis.ref = await admin.call('POST', `${tenant}/apis`, { name: 'Things by reference', identifier: REF, scopes, token_format: 'reference' });
  assert(apis.a.token_format === 'jwt', `default token_format ${apis.a.token_format}`);
  assert(apis.es.signing_alg === 'ES256', `signing_alg ${apis.es.signing_alg}`);
  assert(apis.ref.token_format === 'reference', `token_format ${apis.ref.token_format}`);
  service = await admin.call('POST', `${tenant}/clients`, {
    name: 'Things service',
    client_type: 'confidential',
    grant_types: ['client_credentials'],
    allowed_scopes: ['read:things', 'write:things'],
  });
  for (const api of [apis.a, apis.b, apis.es, apis.ref]) {
    await admin.call('POST', `${tenant}/client-grants`, { client_id: service.client_id, api_id: api.id, scopes: ['read:things'] });
  }
  serviceAuth = oauth.ClientSecretBasic(service.client_secret);
  const issuer = new URL(t.issuer);
  as = await oauth.processDiscoveryResponse(issuer, await oauth.discoveryRequest(issuer, { algorithm: 'oauth2', ...insecure }));
  assert(as.issuer === t.issuer, `issuer ${as.issuer}`);
  assert(as.jwks_uri && as.introspection_endpoint && as.revocation_endpoint, 'endpoints in the metadata');
});

/** A client-credentials token of the service for `resource`. */
async function serviceToken(resource, scope) {
  const params = { resource };
  if (scope) params.scope = scope;
  const res = await oauth.clientCredentialsGrantRequest(as, asClient(service), serviceAuth, params, insecure);
  return oauth.processClientCredentialsResponse(as, asClient(service), res);
}

await suite.check('RFC 9728 metadata of API A from the management API is conform and names the issuer', async () => {
  const doc = await admin.call('GET', `${tenant}/apis/${apis.a.id}/protected-resource-metadata`);
  const res = new Response(JSON.stringify(doc), { status: 200, headers: { 'content-type': 'application/json' } });
  const md = await oauth.processResourceDiscoveryResponse(new URL(A), res);
  assert(md.resource === A, `resource ${md.resource}`);
  assert(md.authorization_servers?.length === 1 && md.authorization_servers[0] === t.issuer, `authorization_servers ${md.authorization_servers}`);
  assert(md.bearer_methods_supported?.join() === 'header', `bearer_methods_supported ${md.bearer_methods_supported}`);
  assert(['read:things', 'write:things'].every((s) => md.scopes_supported?.includes(s)), `scopes_supported ${md.scopes_supported}`);
});

let atA;
await suite.check('client credentials with resource=A: validateJwtAccessToken accepts it for A', async () => {
  const tokens = await serviceToken(A, 'read:things');
  atA = tokens.access_token;
  const h = header(atA);
  assert(h.typ === 'at+jwt' && h.alg === 'RS256' && h.kid, `header ${JSON.stringify(h)}`);
  const claims = await validateAt(A, atA);
  assert(claims.aud === A || (Array.isArray(claims.aud) && claims.aud.includes(A)), `aud ${claims.aud}`);
  assert(claims.client_id === service.client_id, `client_id ${claims.client_id}`);
  assert(claims.sub === service.client_id, `sub ${claims.sub}`);
  assert(claims.scope?.split(' ').includes('read:things'), `scope ${claims.scope}`);
});

await suite.check("A's token is refused by a resource server expecting B (aud)", async () => {
  await refusedFor(() => validateAt(B, atA), 'aud');
});

await suite.check("B's token is accepted for B and refused for A", async () => {
  const { access_token: atB } = await serviceToken(B, 'read:things');
  const claims = await validateAt(B, atB);
  assert(claims.aud === B || claims.aud?.includes?.(B), `aud ${claims.aud}`);
  await refusedFor(() => validateAt(A, atB), 'aud');
});

await suite.check('a token under another issuer identifier is refused (iss)', async () => {
  const other = { ...as, issuer: `${t.issuer}-other` };
  try {
    await oauth.validateJwtAccessToken(other, apiRequest(A, atA), A, insecure);
  } catch (err) {
    assert(err.code === oauth.JWT_CLAIM_COMPARISON && err.cause?.claim === 'iss', `${err.code} ${err.cause?.claim}`);
    return;
  }
  throw new Error('accepted under another issuer');
});

await suite.check('an ES256 API gets ES256-signed tokens that validate against the JWKS', async () => {
  const { access_token: at } = await serviceToken(ES, 'read:things');
  const h = header(at);
  assert(h.alg === 'ES256' && h.typ === 'at+jwt', `header ${JSON.stringify(h)}`);
  const claims = await validateAt(ES, at);
  assert(claims.client_id === service.client_id, `client_id ${claims.client_id}`);
  await refusedFor(() => validateAt(A, at), 'aud');
});

await suite.check('an unknown resource is invalid_target at the token endpoint (RFC 8707 §2)', async () => {
  await oauthError(() => serviceToken('https://unknown.example/', 'read:things'), 'invalid_target');
});

await suite.check('a client without a client grant for the API is refused with invalid_target', async () => {
  const stranger = await admin.call('POST', `${tenant}/clients`, {
    name: 'No grants',
    client_type: 'confidential',
    grant_types: ['client_credentials'],
    allowed_scopes: ['read:things'],
  });
  const client = asClient(stranger);
  const res = await oauth.clientCredentialsGrantRequest(as, client, oauth.ClientSecretBasic(stranger.client_secret), { resource: A }, insecure);
  await oauthError(() => oauth.processClientCredentialsResponse(as, client, res), 'invalid_target');
});

let rp;
const browser = new HttpBrowser();

/** Authorization code + PKCE + nonce with `resource`, through the login and consent pages. */
async function userTokens(resource, scope) {
  const verifier = oauth.generateRandomCodeVerifier();
  const state = oauth.generateRandomState();
  const nonce = oauth.generateRandomNonce();
  const url = new URL(as.authorization_endpoint);
  for (const [k, v] of Object.entries({
    client_id: rp.client_id,
    redirect_uri: t.redirectUri,
    response_type: 'code',
    scope,
    resource,
    state,
    nonce,
    code_challenge: await oauth.calculatePKCECodeChallenge(verifier),
    code_challenge_method: 'S256',
  })) {
    url.searchParams.set(k, v);
  }
  const { url: back, seen } = await browser.walk(url.href, t.redirectUri, person);
  const client = asClient(rp);
  const params = oauth.validateAuthResponse(as, client, back, state);
  const res = await oauth.authorizationCodeGrantRequest(as, client, oauth.ClientSecretBasic(rp.client_secret), params, t.redirectUri, verifier, {
    additionalParameters: { resource },
    ...insecure,
  });
  const tokens = await oauth.processAuthorizationCodeResponse(as, client, res, { expectedNonce: nonce, requireIdToken: true });
  return { tokens, seen };
}

let userAt;
await suite.check('a user token from the code flow with resource=A is accepted for A', async () => {
  rp = await admin.call('POST', `${tenant}/clients`, {
    name: 'Things web app',
    client_type: 'confidential',
    redirect_uris: [t.redirectUri],
    grant_types: ['authorization_code'],
    allowed_scopes: ['openid', 'profile', 'read:things', 'write:things'],
  });
  const { tokens, seen } = await userTokens(A, 'openid read:things');
  assert(seen.join(',') === 'login,consent', `pages seen: ${seen}`);
  userAt = tokens.access_token;
  const claims = await validateAt(A, userAt);
  assert(claims.sub === t.user.id, `sub ${claims.sub}`);
  assert(claims.client_id === rp.client_id, `client_id ${claims.client_id}`);
  assert(claims.scope?.split(' ').includes('read:things'), `scope ${claims.scope}`);
  // With openid granted too, the token is also good at UserInfo (the contract's two audiences).
  assert(Array.isArray(claims.aud) && claims.aud.includes(`${t.issuer}/userinfo`), `aud ${JSON.stringify(claims.aud)}`);
});

await suite.check("the user's token for A is refused for B", async () => {
  await refusedFor(() => validateAt(B, userAt), 'aud');
});

await suite.check("the user's token for A still works at UserInfo", async () => {
  const res = await oauth.userInfoRequest(as, asClient(rp), userAt, insecure);
  const info = await oauth.processUserInfoResponse(as, asClient(rp), t.user.id, res);
  assert(info.sub === t.user.id, `sub ${info.sub}`);
});

let refToken;
await suite.check('a reference-token API issues an opaque tra_ token that validateJwtAccessToken refuses', async () => {
  const tokens = await serviceToken(REF, 'read:things');
  refToken = tokens.access_token;
  assert(refToken.startsWith('tra_'), `prefix of ${refToken.slice(0, 8)}`);
  assert(refToken.split('.').length !== 3, 'not a JWS');
  try {
    await validateAt(REF, refToken);
  } catch (err) {
    assert(err instanceof oauth.OperationProcessingError, `not a processing error: ${err}`);
    return;
  }
  throw new Error('an opaque reference token validated as a JWT');
});

/** RFC 7662 introspection as the API's own confidential client. */
let apiClient;
async function introspect(accessToken) {
  const res = await oauth.introspectionRequest(as, asClient(apiClient), oauth.ClientSecretBasic(apiClient.client_secret), accessToken, insecure);
  return oauth.processIntrospectionResponse(as, asClient(apiClient), res);
}

await suite.check('the reference token is active at introspection, with aud and client_id', async () => {
  apiClient = await admin.call('POST', `${tenant}/clients`, {
    name: 'Things by reference (resource server)',
    client_type: 'confidential',
    grant_types: ['client_credentials'],
    allowed_scopes: ['read:things'],
  });
  const info = await introspect(refToken);
  assert(info.active === true, `active ${JSON.stringify(info)}`);
  const aud = Array.isArray(info.aud) ? info.aud : [info.aud];
  assert(aud.includes(REF), `aud ${JSON.stringify(info.aud)}`);
  assert(info.client_id === service.client_id, `client_id ${info.client_id}`);
  assert(info.iss === undefined || info.iss === t.issuer, `iss ${info.iss}`);
  assert(info.scope?.split(' ').includes('read:things'), `scope ${info.scope}`);
  assert(typeof info.exp === 'number' && info.exp > Date.now() / 1000, `exp ${info.exp}`);
});

await suite.check('after revocation the reference token is inactive at once', async () => {
  const res = await oauth.revocationRequest(as, asClient(service), serviceAuth, refToken, insecure);
  await oauth.processRevocationResponse(res);
  const info = await introspect(refToken);
  assert(info.active === false, `active ${JSON.stringify(info)}`);
});

suite.finish();
