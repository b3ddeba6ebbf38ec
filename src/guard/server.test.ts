// The guard's HTTP shell on 127.0.0.1, asked over real HTTP as Envoy's ext_authz HTTP service asks it
// (Envoy Gateway extAuth.http with path /check/{namespace}/{policy}): the client's method, the prefix
// followed by the client's path and query, Host, Content-Length: 0, Authorization and the headers of
// headersToExtAuth. node:http sends the path as written (fetch would resolve its dot segments).
import { pino } from 'pino';
import { ORDERS_RULES, testIssuer, TEST_ISSUER as ISS, type Sign } from '../../test/support/guard-fixtures.ts';
import { httpRequest } from '../../test/support/nginx.ts';
import { ApiSecurityPolicySpec, type ApiSecurityPolicySpecInput } from '../api/v1alpha1.ts';
import { keySetFromData } from './apikeys.ts';
import { FailureWindow } from './brute-force.ts';
import type { Keys, PolicyLookup } from './decide.ts';
import { guardMetrics, type GuardMetrics } from './metrics.ts';
import { startGuardServer, type GuardServer } from './server.ts';

const NOW = new Date('2026-01-01T12:00:00Z');
const spec = (s: Omit<ApiSecurityPolicySpecInput, 'targetRefs'>): ApiSecurityPolicySpec => ApiSecurityPolicySpec.parse({ targetRefs: [{ group: '', kind: 'Service', name: 'orders' }], ...s });
const policies: Record<string, ApiSecurityPolicySpec> = {
  'shop/orders': spec({ authentication: { jwt: { issuer: ISS, jwksURI: `${ISS}/jwks`, audiences: ['orders-api'] } }, authorization: ORDERS_RULES }),
  'shop/partners': spec({ authentication: { apiKey: { header: 'X-API-Key', secretRef: { name: 'partner-keys' } } }, authorization: { defaultAction: 'Deny', rules: [{ methods: ['GET'], paths: ['/v1/*'] }] } }),
};
const apiKeys = keySetFromData({ acme: Buffer.from('k3y-of-acme-partner-0001').toString('base64') });

interface Answer {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  body: Record<string, unknown>;
}

let server: GuardServer;
let metrics: GuardMetrics;
let sign: Sign;

async function ask(method: string, path: string, headers: Record<string, string> = {}): Promise<Answer> {
  const r = await httpRequest({ port: server.port, method, path, headers: { host: 'api.example.com', 'content-length': '0', ...headers } });
  return { ...r, body: r.body ? (JSON.parse(r.body) as Record<string, unknown>) : {} };
}

beforeAll(async () => {
  const issuer = await testIssuer(NOW);
  sign = issuer.sign;
  metrics = guardMetrics();
  server = await startGuardServer({
    host: '127.0.0.1',
    port: 0,
    source: {
      lookup: (namespace, name): PolicyLookup => {
        const s = policies[`${namespace}/${name}`];
        return s ? { state: 'ready', policy: { namespace, name, spec: s } } : { state: 'unknown' };
      },
      keysFor: (_ns, s): Keys => (s.authentication?.apiKey ? { apiKeys } : { jwt: issuer.jwks }),
    },
    metrics,
    log: pino({ level: 'silent' }),
    failures: new FailureWindow(),
    now: () => NOW,
  });
});
afterAll(() => server.close());

describe('the guard server asked as Envoy ext_authz asks', () => {
  const bearer = async (scope: string): Promise<Record<string, string>> => ({ authorization: `Bearer ${await sign({ scope })}` });

  it('allows with 200 and the identity headers for headersToBackend; names the rest for removal', async () => {
    const a = await ask('GET', '/check/shop/orders/v1/orders/7?expand=items', await bearer('orders:read'));
    expect(a).toMatchObject({ status: 200, body: { allow: true, reason: 'RuleAllowed' } });
    expect(a.headers).toMatchObject({ 'x-auth-subject': 'alice', 'x-auth-scopes': 'orders:read', 'x-envoy-auth-headers-to-remove': 'X-Auth-Client' });
  });

  it('answers 401 with WWW-Authenticate and a JSON body that Envoy returns to the client', async () => {
    const a = await ask('GET', '/check/shop/orders/v1/orders/7');
    expect(a).toMatchObject({ status: 401, headers: { 'www-authenticate': 'Bearer realm="shop/orders"', 'content-type': 'application/json', 'cache-control': 'no-store' }, body: { allow: false, reason: 'MissingCredentials' } });
    expect(a.headers['x-auth-subject']).toBeUndefined();
  });

  it('judges the check request method as the original method: 403 by the rules', async () => {
    expect(await ask('POST', '/check/shop/orders/v1/orders', await bearer('orders:read'))).toMatchObject({ status: 403, headers: { 'www-authenticate': expect.stringContaining('error="insufficient_scope"') as string }, body: { reason: 'InsufficientScope' } });
    expect(await ask('POST', '/check/shop/orders/v1/orders', await bearer('orders:write'))).toMatchObject({ status: 200 });
    expect(await ask('DELETE', '/check/shop/orders/v1/orders/7', await bearer('orders:read orders:write'))).toMatchObject({ status: 403, body: { reason: 'NoMatchingRule', detail: 'no rule allows DELETE /v1/orders/7' } });
  });

  it('an anonymous rule allows without a credential and removes any identity header the client sent', async () => {
    const a = await ask('GET', '/check/shop/orders/healthz');
    expect(a).toMatchObject({ status: 200, body: { reason: 'Anonymous' }, headers: { 'x-envoy-auth-headers-to-remove': 'X-Auth-Subject, X-Auth-Scopes, X-Auth-Client' } });
  });

  it('reads the API key from the header headersToExtAuth passes', async () => {
    expect(await ask('GET', '/check/shop/partners/v1/catalog', { 'x-api-key': 'k3y-of-acme-partner-0001' })).toMatchObject({ status: 200, headers: { 'x-auth-client': 'acme', 'x-auth-subject': 'acme' } });
    expect(await ask('GET', '/check/shop/partners/v1/catalog', { 'x-api-key': 'k3y-of-acme-partner-9999' })).toMatchObject({ status: 401, headers: { 'www-authenticate': expect.stringContaining('APIKey realm="shop/partners", header="X-API-Key"') as string } });
  });

  it('normalises the path suffix as every other source, and never lets it climb into the policy name', async () => {
    expect(await ask('GET', '/check/shop/orders/v1/orders/../admin', await bearer('orders:read'))).toMatchObject({ status: 403, body: { detail: 'no rule allows GET /v1/admin' } });
    expect(await ask('GET', '/check/shop/orders//v1//orders/7', await bearer('orders:read'))).toMatchObject({ status: 200 });
    expect(await ask('GET', '/check/shop/orders/../partners/v1/catalog')).toMatchObject({ status: 403, body: { reason: 'BadPath' } });
    expect(await ask('GET', '/check/shop/orders/v1/orders%2F..%2Fadmin', await bearer('orders:read'))).toMatchObject({ status: 403, body: { reason: 'BadPath' } });
    expect(await ask('GET', '/check/shop/orders/healthz%00')).toMatchObject({ status: 403, body: { reason: 'BadPath' } });
    expect(await ask('GET', `/check/shop/orders/v1/${'a'.repeat(9000)}`)).toMatchObject({ status: 403, body: { reason: 'BadPath' } });
  });

  it('refuses a suffix together with X-Forwarded-* headers as ambiguous', async () => {
    expect(await ask('GET', '/check/shop/orders/v1/admin', { 'x-forwarded-method': 'GET', 'x-forwarded-uri': '/healthz' })).toMatchObject({ status: 403, body: { reason: 'NoRequestInfo' } });
  });

  it('keeps the bare check URL of ingress-nginx and Traefik as it was', async () => {
    const a = await ask('GET', '/check/shop/orders?ignored=1', { 'x-original-method': 'GET', 'x-original-url': 'https://api.example.com/healthz' });
    expect(a).toMatchObject({ status: 200, body: { reason: 'Anonymous' } });
    expect(a.headers['x-envoy-auth-headers-to-remove']).toBeUndefined();
    expect(await ask('GET', '/check/shop/orders')).toMatchObject({ status: 403, body: { reason: 'NoRequestInfo' } });
    expect(await ask('GET', '/check/shop')).toMatchObject({ status: 404, body: { reason: 'NotFound' } });
  });

  it('an unknown policy with a suffix is denied and counted without its name', async () => {
    expect(await ask('GET', '/check/shop/made-up/v1/x')).toMatchObject({ status: 403, body: { reason: 'UnknownPolicy' } });
    const text = await metrics.registry.metrics();
    expect(text).toContain('apisec_guard_decisions_total{policy="",result="deny",reason="UnknownPolicy"} 1');
    expect(text).toContain('apisec_guard_decisions_total{policy="shop/orders",result="allow",reason="RuleAllowed"}');
  });
});
