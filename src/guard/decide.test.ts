import { exportJWK, generateKeyPair, SignJWT } from 'jose';
import { ORDERS_RULES as rules, testIssuer, TEST_ISSUER as ISS, type Sign } from '../../test/support/guard-fixtures.ts';
import { ApiSecurityPolicySpec, type ApiSecurityPolicySpecInput } from '../api/v1alpha1.ts';
import { keySetFromData } from './apikeys.ts';
import { decide, ENVOY_REMOVE_HEADER, type CheckRequest, type Decision, type GuardPolicy, type Keys, type PolicyLookup } from './decide.ts';
import { parseCheckPath } from './paths.ts';

const NOW = new Date('2026-01-01T12:00:00Z');
const t = Math.floor(NOW.getTime() / 1000);

const policy = (s: Omit<ApiSecurityPolicySpecInput, 'targetRefs'>): PolicyLookup => ({
  state: 'ready',
  policy: { namespace: 'shop', name: 'orders', spec: ApiSecurityPolicySpec.parse({ targetRefs: [{ group: '', kind: 'Service', name: 'orders' }], ...s }) } satisfies GuardPolicy,
});

const jwtPolicy = policy({ authentication: { jwt: { issuer: ISS, jwksURI: `${ISS}/jwks`, audiences: ['orders-api'] } }, authorization: rules });

let keys: Keys;
let sign: Sign;
let otherSign: Sign;

beforeAll(async () => {
  const issuer = await testIssuer(NOW);
  keys = { jwt: issuer.jwks };
  ({ sign, otherSign } = issuer);
});

const req = (method: string, uri: string, h: Record<string, string> = {}, via: 'traefik' | 'nginx' = 'traefik'): CheckRequest => ({
  headers: {
    ...(via === 'traefik' ? { 'x-forwarded-method': method, 'x-forwarded-uri': uri } : { 'x-original-method': method, 'x-original-url': `https://api.example.com${uri}` }),
    ...Object.fromEntries(Object.entries(h).map(([k, v]) => [k.toLowerCase(), v])),
  },
});
const bearer = (token: string): Record<string, string> => ({ Authorization: `Bearer ${token}` });

function unsigned(claims: Record<string, unknown>): string {
  const b64 = (o: unknown): string => Buffer.from(JSON.stringify(o)).toString('base64url');
  return `${b64({ alg: 'none' })}.${b64({ iss: ISS, aud: 'orders-api', sub: 'alice', exp: t + 300, scope: 'orders:read', ...claims })}.`;
}

type Case = [string, () => Promise<CheckRequest> | CheckRequest, Partial<Decision> & { status: number }, PolicyLookup?];

const cases: Case[] = [
  ['valid token, allowed method and path', async () => req('GET', '/v1/orders/7', bearer(await sign({ scope: 'orders:read' }))), { status: 200, reason: 'RuleAllowed' }],
  ['valid ES256 token, scp array', async () => req('GET', '/v1/orders/7', bearer(await sign({ scp: ['orders:read'] }, { alg: 'ES256' }))), { status: 200, reason: 'RuleAllowed' }],
  ['ingress-nginx headers (X-Original-URL)', async () => req('POST', '/v1/orders', bearer(await sign({ scope: 'orders:write' })), 'nginx'), { status: 200 }],
  ['no token', () => req('GET', '/v1/orders/7'), { status: 401, reason: 'MissingCredentials', wwwAuthenticate: 'Bearer realm="shop/orders"' }],
  ['not a bearer token', () => req('GET', '/v1/orders/7', { Authorization: 'Basic YTpi' }), { status: 401, reason: 'InvalidToken' }],
  ['bad signature', async () => req('GET', '/v1/orders/7', bearer(await otherSign({ scope: 'orders:read' }))), { status: 401, reason: 'InvalidToken', detail: 'the signature does not verify' }],
  ['expired beyond the skew', async () => req('GET', '/v1/orders/7', bearer(await sign({ scope: 'orders:read', exp: t - 61 }))), { status: 401, detail: 'the token has expired' }],
  ['expired within the skew', async () => req('GET', '/v1/orders/7', bearer(await sign({ scope: 'orders:read', exp: t - 30 }))), { status: 200 }],
  ['not yet valid', async () => req('GET', '/v1/orders/7', bearer(await sign({ scope: 'orders:read', nbf: t + 120 }))), { status: 401, detail: 'claim nbf is not accepted' }],
  ['no exp', async () => req('GET', '/v1/orders/7', bearer(await sign({ scope: 'orders:read', exp: undefined }))), { status: 401, detail: 'claim exp is missing' }],
  ['wrong audience', async () => req('GET', '/v1/orders/7', bearer(await sign({ scope: 'orders:read', aud: 'billing' }))), { status: 401, detail: 'claim aud is not accepted' }],
  ['wrong issuer', async () => req('GET', '/v1/orders/7', bearer(await sign({ scope: 'orders:read', iss: 'https://evil.example.com' }))), { status: 401, detail: 'claim iss is not accepted' }],
  ['alg none', () => req('GET', '/v1/orders/7', bearer(unsigned({}))), { status: 401, reason: 'InvalidToken' }],
  ['HS256 signed with the public key as a secret', async () => {
    const secret = new TextEncoder().encode(JSON.stringify(await exportJWK((await generateKeyPair('RS256')).publicKey)));
    const token = await new SignJWT({ iss: ISS, aud: 'orders-api', exp: t + 300, scope: 'orders:read' }).setProtectedHeader({ alg: 'HS256', kid: 'rsa' }).sign(secret);
    return req('GET', '/v1/orders/7', bearer(token));
  }, { status: 401, detail: 'the signing algorithm is not allowed' }],
  ['unknown kid', async () => req('GET', '/v1/orders/7', bearer(await sign({ scope: 'orders:read' }, { kid: 'other' }))), { status: 401, detail: 'no signing key of the issuer matches the token' }],
  ['oversized token', () => req('GET', '/v1/orders/7', bearer('a'.repeat(9000))), { status: 401, reason: 'InvalidToken' }],
  ['garbage token', () => req('GET', '/v1/orders/7', bearer('not.a.jwt')), { status: 401, detail: 'the token is malformed' }],
  ['method not allowed', async () => req('DELETE', '/v1/orders/7', bearer(await sign({ scope: 'orders:read orders:write' }))), { status: 403, reason: 'NoMatchingRule' }],
  ['missing scope', async () => req('POST', '/v1/orders', bearer(await sign({ scope: 'orders:read' }))), { status: 403, reason: 'InsufficientScope', wwwAuthenticate: 'Bearer realm="shop/orders", error="insufficient_scope", error_description="missing scope", scope="orders:write"' }],
  ['outside every rule', async () => req('GET', '/v1/admin', bearer(await sign({ scope: 'orders:read' }))), { status: 403, reason: 'NoMatchingRule', subject: 'alice' }],
  ['traversal toward a denied path', async () => req('GET', '/v1/orders/../admin', bearer(await sign({ scope: 'orders:read' }))), { status: 403, detail: 'no rule allows GET /v1/admin' }],
  ['encoded traversal', async () => req('GET', '/v1/orders/%2e%2e/admin', bearer(await sign({ scope: 'orders:read' }))), { status: 403, detail: 'no rule allows GET /v1/admin' }],
  ['double slash resolves', async () => req('GET', '//v1//orders/7', bearer(await sign({ scope: 'orders:read' }))), { status: 200 }],
  ['encoded slash is refused', async () => req('GET', '/v1/orders/7%2F..%2F..%2Fadmin', bearer(await sign({ scope: 'orders:read' }))), { status: 403, reason: 'BadPath' }],
  ['anonymous path without a token', () => req('GET', '/healthz'), { status: 200, reason: 'Anonymous' }],
  ['anonymous rule is per method', () => req('POST', '/healthz'), { status: 401 }],
  ['no original request described', () => ({ headers: { authorization: 'Bearer x' } }), { status: 403, reason: 'NoRequestInfo' }],
  ['X-Original-URL without its method never falls back to X-Forwarded-*', () => ({ headers: { 'x-original-url': 'https://a/v1/admin', 'x-forwarded-method': 'GET', 'x-forwarded-uri': '/healthz' } }), { status: 403, reason: 'NoRequestInfo' }],
  ['unknown policy', () => req('GET', '/'), { status: 403, reason: 'UnknownPolicy' }, { state: 'unknown' }],
  ['not synced', () => req('GET', '/'), { status: 403, reason: 'NotSynced' }, { state: 'notSynced' }],
  ['policy without identity control', () => req('GET', '/'), { status: 403, reason: 'NoIdentityControl' }, policy({ rateLimit: { requestsPerSecond: 1 } })],
  ['policy with a user authURL', () => req('GET', '/'), { status: 403, reason: 'NoIdentityControl' }, policy({ authentication: { jwt: { issuer: ISS, jwksURI: `${ISS}/jwks`, authURL: 'http://auth.example.com/check' } } })],
  ['no authorization: any valid token', async () => req('DELETE', '/anything', bearer(await sign({}))), { status: 200, reason: 'Authenticated' }, policy({ authentication: { jwt: { issuer: ISS, jwksURI: `${ISS}/jwks` } } })],
  ['defaultAction Allow', async () => req('GET', '/v1/admin', bearer(await sign({}))), { status: 200, reason: 'DefaultAllow' }, policy({ authentication: { jwt: { issuer: ISS, jwksURI: `${ISS}/jwks` } }, authorization: { defaultAction: 'Allow', rules: [] } })],
];

describe('decide', () => {
  it.each(cases)('%s', async (_name, request, want, lookup = jwtPolicy) => {
    const d = await decide(lookup, await request(), keys, NOW);
    expect(d).toMatchObject(want);
  });

  it('answers the upstream with subject and scopes, never a client-controlled control character', async () => {
    const d = await decide(jwtPolicy, req('GET', '/v1/orders/1', bearer(await sign({ sub: 'bob\r\nX-Evil: 1', scope: 'orders:read extra' }))), keys, NOW);
    expect(d).toMatchObject({ status: 200, headers: { 'X-Auth-Subject': 'bobX-Evil: 1', 'X-Auth-Scopes': 'orders:read extra' } });
  });

  it('copies the configured claims into headers: strings, numbers, string arrays; nothing else', async () => {
    const withClaims = policy({
      authentication: { jwt: { issuer: ISS, jwksURI: `${ISS}/jwks`, claimHeaders: [{ claim: 'email', header: 'X-Auth-Email' }, { claim: 'tier', header: 'X-Auth-Tier' }, { claim: 'groups', header: 'X-Auth-Groups' }, { claim: 'obj', header: 'X-Auth-Obj' }] } },
    });
    const d = await decide(withClaims, req('GET', '/x', bearer(await sign({ email: 'alice@example.com', tier: 3, groups: ['a', 'b'], obj: { x: 1 } }))), keys, NOW);
    expect(d).toMatchObject({ status: 200, headers: { 'X-Auth-Subject': 'alice', 'X-Auth-Email': 'alice@example.com', 'X-Auth-Tier': '3', 'X-Auth-Groups': 'a,b' } });
    expect(d.allow && d.headers['X-Auth-Obj']).toBeFalsy();
  });

  it('a key resolver that has no keys denies (KeysUnavailable), it never allows', async () => {
    const { KeysUnavailableError } = await import('./decide.ts');
    const down: Keys = { jwt: async () => { throw new KeysUnavailableError('the JWKS endpoint is down'); } };
    const d = await decide(jwtPolicy, req('GET', '/v1/orders/1', bearer(await sign({ scope: 'orders:read' }))), down, NOW);
    expect(d).toMatchObject({ status: 401, reason: 'KeysUnavailable' });
    expect(await decide(jwtPolicy, req('GET', '/v1/orders/1', bearer(await sign({ scope: 'orders:read' }))), {}, NOW)).toMatchObject({ status: 401, reason: 'KeysUnavailable' });
  });
});

describe('the verified-token cache', () => {
  it('skips the signature check for a token seen before, but never past its exp nor for another audience', async () => {
    const { TokenCache } = await import('./token-cache.ts');
    let calls = 0;
    const counting: Keys = { jwt: async (h, t) => (calls++, (keys.jwt as NonNullable<Keys['jwt']>)(h, t)), jwtSource: 'jwks', verified: new TokenCache({ maxAgeMs: 3_600_000 }) };
    const tok = await sign({ scope: 'orders:read', exp: t + 120 });
    const r = req('GET', '/v1/orders/1', bearer(tok));
    for (let i = 0; i < 3; i++) expect(await decide(jwtPolicy, r, counting, NOW)).toMatchObject({ status: 200 });
    expect(calls).toBe(1);
    // Past exp + skew: verified again, and refused.
    expect(await decide(jwtPolicy, r, counting, new Date(NOW.getTime() + 190_000))).toMatchObject({ status: 401, detail: 'the token has expired' });
    // Another policy's audience is not served from the cache.
    const other = policy({ authentication: { jwt: { issuer: ISS, jwksURI: `${ISS}/jwks`, audiences: ['billing'] } } });
    expect(await decide(other, r, counting, NOW)).toMatchObject({ status: 401, detail: 'claim aud is not accepted' });
  });
});

describe('decide with API keys', () => {
  const keyPolicy = policy({ authentication: { apiKey: { header: 'X-API-Key', secretRef: { name: 'orders-keys' } } }, authorization: { defaultAction: 'Deny', rules: [{ methods: ['GET'], paths: ['/v1/*'] }] } });
  const data = { 'shop-frontend': Buffer.from('k3y-of-the-frontend-0001').toString('base64'), batch: Buffer.from('k3y-of-the-batch-job-0002\n').toString('base64') };
  const apiKeys = keySetFromData(data);
  const table: [string, Record<string, string>, string, Partial<Decision> & { status: number }, Keys?][] = [
    ['right key', { 'X-API-Key': 'k3y-of-the-frontend-0001' }, '/v1/x', { status: 200, headers: { 'X-Auth-Client': 'shop-frontend', 'X-Auth-Subject': 'shop-frontend' } }],
    ['right key, stored with a newline', { 'X-API-Key': 'k3y-of-the-batch-job-0002' }, '/v1/x', { status: 200, subject: 'batch' }],
    ['missing key', {}, '/v1/x', { status: 401, reason: 'MissingCredentials', wwwAuthenticate: 'APIKey realm="shop/orders", header="X-API-Key"' }],
    ['wrong key', { 'X-API-Key': 'k3y-of-the-frontend-0002' }, '/v1/x', { status: 401, reason: 'InvalidApiKey' }],
    ['a prefix of a key', { 'X-API-Key': 'k3y-of-the-frontend' }, '/v1/x', { status: 401, reason: 'InvalidApiKey' }],
    ['right key, path outside the rules', { 'X-API-Key': 'k3y-of-the-frontend-0001' }, '/admin', { status: 403, reason: 'NoMatchingRule' }],
    ['Secret missing', { 'X-API-Key': 'k3y-of-the-frontend-0001' }, '/v1/x', { status: 401, reason: 'KeySecretUnusable' }, {}],
    ['Secret of the wrong shape', { 'X-API-Key': 'k3y-of-the-frontend-0001' }, '/v1/x', { status: 401, reason: 'KeySecretUnusable' }, { apiKeys: keySetFromData({ short: Buffer.from('abc').toString('base64') }) }],
  ];
  it.each(table)('%s', async (_n, h, path, want, k = { apiKeys }) => {
    expect(await decide(keyPolicy, req('GET', path, h), k, NOW)).toMatchObject(want);
  });
});

/**
 * A check request as Envoy's ext_authz HTTP service sends it for a client's `method uri` (Envoy Gateway
 * `extAuth.http.path: /check/shop/orders`): the original method, the prefix followed by the original path
 * and query, and of the client's headers only Host, Content-Length and Authorization, plus those listed in
 * headersToExtAuth (passed in `h`). The path is split as the server splits it.
 */
function envoy(method: string, uri: string, h: Record<string, string> = {}): CheckRequest {
  const check = parseCheckPath(`/check/shop/orders${uri}`);
  if (check?.target === undefined) throw new Error(`not a check path with a suffix: ${uri}`);
  const headers = { host: 'api.example.com', 'content-length': '0', ...Object.fromEntries(Object.entries(h).map(([k, v]) => [k.toLowerCase(), v])) };
  return { headers, pathRequest: { method, target: check.target } };
}

describe('decide for Envoy ext_authz (the original request in the check path)', () => {
  const all = 'X-Auth-Subject, X-Auth-Scopes, X-Auth-Client';
  const envoyCases: Case[] = [
    ['allowed: identity headers, and the ones not set named for removal', async () => envoy('GET', '/v1/orders/7?x=1', bearer(await sign({ scope: 'orders:read' }))), { status: 200, reason: 'RuleAllowed', headers: { 'X-Auth-Subject': 'alice', 'X-Auth-Scopes': 'orders:read', [ENVOY_REMOVE_HEADER]: 'X-Auth-Client' } }],
    ['allowed POST with the write scope', async () => envoy('POST', '/v1/orders', bearer(await sign({ scope: 'orders:write' }))), { status: 200, reason: 'RuleAllowed' }],
    ['a token without scopes: X-Auth-Scopes removed too', async () => envoy('GET', '/x', bearer(await sign({}))), { status: 200, headers: { 'X-Auth-Subject': 'alice', [ENVOY_REMOVE_HEADER]: 'X-Auth-Scopes, X-Auth-Client' } }, policy({ authentication: { jwt: { issuer: ISS, jwksURI: `${ISS}/jwks` } } })],
    ['no token: 401 with the challenge', () => envoy('GET', '/v1/orders/7'), { status: 401, reason: 'MissingCredentials', wwwAuthenticate: 'Bearer realm="shop/orders"' }],
    ['expired token: 401 invalid_token', async () => envoy('GET', '/v1/orders/7', bearer(await sign({ scope: 'orders:read', exp: t - 120 }))), { status: 401, reason: 'InvalidToken', wwwAuthenticate: 'Bearer realm="shop/orders", error="invalid_token", error_description="the token has expired"' }],
    ['bad signature: 401', async () => envoy('GET', '/v1/orders/7', bearer(await otherSign({ scope: 'orders:read' }))), { status: 401, detail: 'the signature does not verify' }],
    ['method no rule allows: 403', async () => envoy('DELETE', '/v1/orders/7', bearer(await sign({ scope: 'orders:read orders:write' }))), { status: 403, reason: 'NoMatchingRule', detail: 'no rule allows DELETE /v1/orders/7' }],
    ['path no rule allows: 403', async () => envoy('GET', '/v1/admin', bearer(await sign({ scope: 'orders:read' }))), { status: 403, reason: 'NoMatchingRule', subject: 'alice' }],
    ['missing scope: 403 insufficient_scope', async () => envoy('POST', '/v1/orders', bearer(await sign({ scope: 'orders:read' }))), { status: 403, reason: 'InsufficientScope', wwwAuthenticate: 'Bearer realm="shop/orders", error="insufficient_scope", error_description="missing scope", scope="orders:write"' }],
    ['anonymous rule without a token: every identity header removed', () => envoy('GET', '/healthz'), { status: 200, reason: 'Anonymous', headers: { [ENVOY_REMOVE_HEADER]: all } }],
    ['anonymous rule is per method', () => envoy('POST', '/healthz'), { status: 401, reason: 'MissingCredentials' }],
    ['a query that looks like a path is not the path', async () => envoy('GET', '/v1/orders?next=/../admin', bearer(await sign({ scope: 'orders:read' }))), { status: 200 }],
    ['traversal is resolved before the rules', async () => envoy('GET', '/v1/orders/../admin', bearer(await sign({ scope: 'orders:read' }))), { status: 403, detail: 'no rule allows GET /v1/admin' }],
    ['encoded traversal is resolved before the rules', async () => envoy('GET', '/v1/orders/%2e%2e/admin', bearer(await sign({ scope: 'orders:read' }))), { status: 403, detail: 'no rule allows GET /v1/admin' }],
    ['a path through an anonymous one is judged where it ends', () => envoy('GET', '/v1/orders/../../healthz/../v1/orders/7'), { status: 401, reason: 'MissingCredentials' }],
    ['empty segments resolve', async () => envoy('GET', '//v1//orders/7', bearer(await sign({ scope: 'orders:read' }))), { status: 200 }],
    ['an encoded slash is refused', async () => envoy('GET', '/v1/orders/7%2F..%2F..%2Fadmin', bearer(await sign({ scope: 'orders:read' }))), { status: 403, reason: 'BadPath' }],
    ['an encoded backslash is refused', () => envoy('GET', '/healthz%5c..'), { status: 403, reason: 'BadPath' }],
    ['an encoded NUL is refused', () => envoy('GET', '/healthz%00'), { status: 403, reason: 'BadPath' }],
    ['a second layer of encoding is refused', () => envoy('GET', '/v1/%252e%252e/healthz'), { status: 403, reason: 'BadPath' }],
    ['a path climbing out of the suffix (into the policy name) is refused', () => envoy('GET', '/../other/healthz'), { status: 403, reason: 'BadPath', detail: 'the path climbs above the root' }],
    ['an over-long path is refused', () => envoy('GET', `/v1/orders/${'a'.repeat(9000)}`), { status: 403, reason: 'BadPath' }],
    ['a suffix and X-Forwarded-* headers: ambiguous, denied', () => envoy('GET', '/v1/admin', { 'X-Forwarded-Method': 'GET', 'X-Forwarded-Uri': '/healthz' }), { status: 403, reason: 'NoRequestInfo', detail: expect.stringContaining('ambiguous') as string }],
    ['a suffix and X-Original-URL: ambiguous, denied', () => envoy('GET', '/healthz', { 'X-Original-URL': 'https://api.example.com/healthz', 'X-Original-Method': 'GET' }), { status: 403, reason: 'NoRequestInfo' }],
    ['a suffix and a lone X-Forwarded-Method: ambiguous, denied', () => envoy('GET', '/healthz', { 'X-Forwarded-Method': 'GET' }), { status: 403, reason: 'NoRequestInfo' }],
  ];
  it.each(envoyCases)('%s', async (_name, request, want, lookup = jwtPolicy) => {
    expect(await decide(lookup, await request(), keys, NOW)).toMatchObject(want);
  });

  it('a bare check URL with no description of the request still denies (the method of the check request is not read)', async () => {
    const d = await decide(jwtPolicy, { headers: { host: 'api.example.com', authorization: `Bearer ${await sign({ scope: 'orders:read' })}` } }, keys, NOW);
    expect(d).toMatchObject({ status: 403, reason: 'NoRequestInfo' });
  });

  it('ingress-nginx and Traefik answers carry no removal list, as before', async () => {
    for (const via of ['nginx', 'traefik'] as const) {
      const d = await decide(jwtPolicy, req('GET', '/healthz', {}, via), keys, NOW);
      expect(d).toEqual({ allow: true, status: 200, reason: 'Anonymous', headers: {} });
    }
  });

  it('claim headers the token does not fill are removed; the ones it fills are set', async () => {
    const withClaims = policy({ authentication: { jwt: { issuer: ISS, jwksURI: `${ISS}/jwks`, claimHeaders: [{ claim: 'email', header: 'X-Auth-Email' }, { claim: 'tenant', header: 'X-Auth-Tenant' }] } } });
    const d = await decide(withClaims, envoy('GET', '/x', bearer(await sign({ email: 'alice@example.com', scope: 'a' }))), keys, NOW);
    expect(d).toMatchObject({ status: 200, headers: { 'X-Auth-Email': 'alice@example.com', [ENVOY_REMOVE_HEADER]: 'X-Auth-Client, X-Auth-Tenant' } });
  });

  it('API keys in the header listed in headersToExtAuth', async () => {
    const keyPolicy = policy({ authentication: { apiKey: { header: 'X-API-Key', secretRef: { name: 'orders-keys' } } }, authorization: { defaultAction: 'Deny', rules: [{ methods: ['GET'], paths: ['/v1/*'] }] } });
    const apiKeys = keySetFromData({ 'shop-frontend': Buffer.from('k3y-of-the-frontend-0001').toString('base64') });
    const ask = (method: string, uri: string, h: Record<string, string> = {}) => decide(keyPolicy, envoy(method, uri, h), { apiKeys }, NOW);
    expect(await ask('GET', '/v1/x', { 'X-API-Key': 'k3y-of-the-frontend-0001' })).toMatchObject({ status: 200, headers: { 'X-Auth-Client': 'shop-frontend', 'X-Auth-Subject': 'shop-frontend', [ENVOY_REMOVE_HEADER]: 'X-Auth-Scopes' } });
    expect(await ask('GET', '/v1/x')).toMatchObject({ status: 401, reason: 'MissingCredentials', wwwAuthenticate: 'APIKey realm="shop/orders", header="X-API-Key"' });
    expect(await ask('GET', '/v1/x', { 'X-API-Key': 'k3y-of-the-frontend-0002' })).toMatchObject({ status: 401, reason: 'InvalidApiKey' });
    expect(await ask('POST', '/v1/x', { 'X-API-Key': 'k3y-of-the-frontend-0001' })).toMatchObject({ status: 403, reason: 'NoMatchingRule' });
    expect(await ask('GET', '/admin', { 'X-API-Key': 'k3y-of-the-frontend-0001' })).toMatchObject({ status: 403, reason: 'NoMatchingRule' });
  });
});
