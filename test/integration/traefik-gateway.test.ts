// Traefik through Gateway API, proven by real traffic: a real Traefik v3 (built from Go modules) runs its
// kubernetesGateway provider (with the CRD provider for Middlewares) against the real API server, with
// the Gateway API CRDs from their Go module. The operator reconciles ApiSecurityPolicies that target
// HTTPRoutes of a Gateway of class controller traefik.io/gateway-controller. The route is the user's:
// the operator only marks it (apisec.dev/policy), writes the Middlewares and says which ExtensionRef
// filters the route lacks (FilterMissing)
// until the user adds them; then each control shows its status code. Each test acts from its own
// loopback source address, so per-client limits do not leak between tests.
import type { KubeClient } from '../../src/k8s/client.ts';
import type { KubeObject } from '../../src/k8s/resources.ts';
import { defaultSettings } from '../../src/render/types.ts';
import { installGatewayCrds } from '../support/gateway.ts';
import { apply, clientAs, controlPlane, createNamespace, eventually, installCrds } from '../support/kube.ts';
import { grantOperatorRbac, startOperator, type RunningOperator } from '../support/operator.ts';
import {
  call,
  installTraefikCrds,
  loopbackService,
  loopbackTraefikService,
  startAuthServer,
  startEchoUpstream,
  startTraefik,
  StatusLog,
  type Call,
  type LocalServer,
  type Reply,
  type RunningTraefik,
} from '../support/traefik.ts';

const KEY = 'let-me-in';
const SHOP = 'shop.gateway.test';
const PLAIN = 'plain.gateway.test';
const ORIGIN = 'https://shop.example.com';
const GW = 'gateway.networking.k8s.io';

interface Condition {
  type: string;
  status: string;
  reason: string;
  message: string;
}
interface Policy extends KubeObject {
  status?: { observedGeneration?: number; conditions?: Condition[]; targets?: { kind: string; name: string; state: string; message?: string }[]; generated?: { kind: string; name: string }[] };
}

const log = new StatusLog();
const record = (control: string, request: string, r: Reply): Reply => log.record(control, request, r);

describe('Traefik through Gateway API, real traffic', () => {
  let admin: KubeClient;
  let ns: string;
  let traefik: RunningTraefik;
  let upstream: LocalServer;
  let auth: LocalServer;
  let operator: RunningOperator | undefined;
  const gatewayClass = `apisec-traefik-${process.pid}`;

  const http = (c: Omit<Call, 'port' | 'tls'>): Promise<Reply> => call({ ...c, port: traefik.web });
  const cond = (p: Policy | undefined, type: string): Condition | undefined => p?.status?.conditions?.find((c) => c.type === type);
  const getPolicy = (name: string): Promise<Policy> => admin.request<Policy>('GET', `/apis/apisec.dev/v1alpha1/namespaces/${ns}/apisecuritypolicies/${name}`, { verb: 'get' });

  /** The user's HTTPRoute for one host, to the echo upstream, with the given filters on its one rule. */
  const applyRoute = (name: string, host: string, filters: unknown[] = []): Promise<KubeObject> =>
    apply(
      admin,
      {
        apiVersion: `${GW}/v1`,
        kind: 'HTTPRoute',
        metadata: { name, namespace: ns },
        spec: {
          parentRefs: [{ name: 'web' }],
          hostnames: [host],
          rules: [{ name: 'all', matches: [{ path: { type: 'PathPrefix', value: '/' } }], filters, backendRefs: [{ group: 'traefik.io', kind: 'TraefikService', name: 'echo' }] }],
        },
      } as KubeObject,
      'user-gitops',
    );

  const applyPolicy = (name: string, spec: Record<string, unknown>): Promise<KubeObject> =>
    apply(admin, { apiVersion: 'apisec.dev/v1alpha1', kind: 'ApiSecurityPolicy', metadata: { name, namespace: ns }, spec: { targetRefs: [{ group: GW, kind: 'HTTPRoute', name }], ...spec } } as KubeObject);

  /** Waits until the policy's status at its generation satisfies `check`. */
  const settled = (name: string, check: (p: Policy) => void): Promise<Policy> =>
    eventually(async () => {
      const p = await getPolicy(name);
      expect(p.status?.observedGeneration).toBe(p.metadata.generation);
      check(p);
      return p;
    }, 30_000);

  /** The filters the policy's Middlewares need, in chain order (status.generated lists them in that order). */
  const filtersOf = (p: Policy): unknown[] =>
    (p.status?.generated ?? []).filter((g) => g.kind === 'Middleware').map((g) => ({ type: 'ExtensionRef', extensionRef: { group: 'traefik.io', kind: 'Middleware', name: g.name } }));

  // The first run on a machine builds Traefik (test/traefik/build.sh): the timeout allows a cold build.
  beforeAll(async () => {
    admin = clientAs('admin');
    await installCrds(admin);
    await installTraefikCrds(admin);
    await installGatewayCrds(admin, { envoy: false });
    ns = await createNamespace(admin, 'traefik-gw');
    upstream = await startEchoUpstream();
    auth = await startAuthServer('X-Api-Key', KEY);
    traefik = await startTraefik(controlPlane(), { namespaces: [ns], gateway: true });
    await grantOperatorRbac(admin);
    operator = await startOperator({ namespace: ns, settings: { ...defaultSettings, authHosts: ['127.0.0.1'] } });
    await apply(admin, loopbackService(ns, 'api', upstream.port), 'apisec-test', 'Strict');
    await apply(admin, loopbackTraefikService(ns, 'echo', 'api', upstream.port), 'apisec-test', 'Strict');
    await apply(admin, { apiVersion: `${GW}/v1`, kind: 'GatewayClass', metadata: { name: gatewayClass }, spec: { controllerName: 'traefik.io/gateway-controller' } } as KubeObject);
    await apply(admin, {
      apiVersion: `${GW}/v1`,
      kind: 'Gateway',
      metadata: { name: 'web', namespace: ns },
      spec: { gatewayClassName: gatewayClass, listeners: [{ name: 'http', protocol: 'HTTP', port: traefik.web }] },
    } as KubeObject);
  }, 60 * 60_000);

  afterAll(async () => {
    log.print('Traefik (Gateway API) control → status code seen');
    await operator?.stop();
    await traefik?.stop();
    await upstream?.close();
    await auth?.close();
    await admin?.request('DELETE', `/apis/${GW}/v1/gatewayclasses/${gatewayClass}`, { verb: 'delete' }).catch(() => undefined);
  });

  let filters: unknown[] = [];
  /** The shop's controls; only the allowed client ranges change between tests. */
  const shopSpec = (allow: string[]): Record<string, unknown> => ({
    authentication: { apiKey: { header: 'X-Api-Key', authURL: `http://127.0.0.1:${auth.port}/check` } },
    rateLimit: { requestsPerMinute: 60, burst: 5 },
    ipAccess: { allow },
    cors: { allowOrigins: [ORIGIN], allowMethods: ['GET', 'POST'] },
    requestLimits: { maxBodySize: '1Ki' },
  });

  it('a route that does not chain the Middlewares: written, FilterMissing with the exact filters, and traffic is not protected', async () => {
    await applyRoute('shop', SHOP);
    await applyPolicy('shop', shopSpec(['127.0.0.0/8']));
    const p = await settled('shop', (q) => {
      expect(cond(q, 'Programmed')).toMatchObject({ status: 'False', reason: 'FilterMissing' });
      expect(cond(q, 'Enforced')).toMatchObject({ status: 'False', reason: 'FilterMissing' });
      expect(cond(q, 'Accepted')).toMatchObject({ status: 'True' });
      expect(q.status?.targets).toEqual([expect.objectContaining({ kind: 'HTTPRoute', name: 'shop', state: 'NotProgrammed', provider: 'traefik' })]);
    });
    filters = filtersOf(p);
    expect(filters).toHaveLength(5);
    for (const g of p.status?.generated ?? []) {
      expect(p.status?.targets?.[0]?.message).toContain(`{type: ExtensionRef, extensionRef: {group: traefik.io, kind: Middleware, name: ${g.name}}}`);
      await admin.request('GET', `/apis/traefik.io/v1alpha1/namespaces/${ns}/middlewares/${g.name}`, { verb: 'get' });
    }
    // As the status says: Traefik serves the route without any of the controls.
    const r = await eventually(async () => {
      const reply = await http({ host: SHOP, method: 'POST', body: 'a'.repeat(2048), localAddress: '127.0.0.21' });
      expect(reply.status).toBe(200);
      return reply;
    }, 30_000);
    record('none (FilterMissing)', 'POST 2048 bytes, no key', r);
  });

  it('once the user adds the filters: Programmed, Enforced, and each control answers through Traefik', async () => {
    await applyRoute('shop', SHOP, filters);
    await settled('shop', (q) => {
      expect(cond(q, 'Programmed')).toMatchObject({ status: 'True', reason: 'Programmed' });
      expect(cond(q, 'Enforced')).toMatchObject({ status: 'True' });
      expect(q.status?.targets?.[0]).toMatchObject({ state: 'Enforced', provider: 'traefik' });
    });
    const from = '127.0.0.22';
    const none = await eventually(async () => {
      const reply = await http({ host: SHOP, localAddress: from });
      expect(reply.status).toBe(401);
      return reply;
    }, 30_000);
    record('Authentication (forwardAuth)', 'GET without key', none);
    expect(record('Authentication (forwardAuth)', 'GET with a wrong key', await http({ host: SHOP, headers: { 'X-Api-Key': 'guess' }, localAddress: from })).status).toBe(403);
    const ok = record('Authentication (forwardAuth)', 'GET with the key', await http({ host: SHOP, headers: { 'X-Api-Key': KEY, Origin: ORIGIN }, localAddress: from }));
    expect(ok.status).toBe(200);
    expect(ok.headers['access-control-allow-origin']).toBe(ORIGIN);
    const big = record('RequestLimits (buffering)', 'POST 2048 bytes (limit 1Ki)', await http({ host: SHOP, method: 'POST', body: 'a'.repeat(2048), headers: { 'X-Api-Key': KEY }, localAddress: '127.0.0.23' }));
    expect(big.status).toBe(413);
  });

  it('rate limit: 429 once one client has used its burst', async () => {
    const codes: number[] = [];
    for (let i = 0; i < 8; i++) codes.push(record('RateLimit (rateLimit)', `GET #${i + 1} (60/min, burst 5)`, await http({ host: SHOP, headers: { 'X-Api-Key': KEY }, localAddress: '127.0.0.24' })).status);
    expect(codes.slice(0, 5)).toEqual([200, 200, 200, 200, 200]);
    expect(codes.slice(5)).toContain(429);
    // Another client has its own budget.
    expect((await http({ host: SHOP, headers: { 'X-Api-Key': KEY }, localAddress: '127.0.0.25' })).status).toBe(200);
  });

  it('ipAllowList: 403 from an address outside the list', async () => {
    await applyPolicy('shop', shopSpec(['127.0.0.26/32']));
    // Same controls, same Middleware names: the route's filters still match.
    await settled('shop', (q) => expect(cond(q, 'Programmed')).toMatchObject({ status: 'True', reason: 'Programmed' }));
    await eventually(async () => expect((await http({ host: SHOP, headers: { 'X-Api-Key': KEY }, localAddress: '127.0.0.27' })).status).toBe(403), 30_000);
    record('IPAccess (ipAllowList)', 'GET from 127.0.0.27 (allow 127.0.0.26/32)', await http({ host: SHOP, headers: { 'X-Api-Key': KEY }, localAddress: '127.0.0.27' }));
    expect(record('IPAccess (ipAllowList)', 'GET from 127.0.0.26', await http({ host: SHOP, headers: { 'X-Api-Key': KEY }, localAddress: '127.0.0.26' })).status).toBe(200);
  });

  it('HTTPS only: 301 for GET and 308 for other methods, once the route chains the redirect', async () => {
    await applyRoute('plain', PLAIN);
    await applyPolicy('plain', { tls: { httpsOnly: true } });
    const p = await settled('plain', (q) => expect(cond(q, 'Programmed')).toMatchObject({ status: 'False', reason: 'FilterMissing' }));
    await applyRoute('plain', PLAIN, filtersOf(p));
    await settled('plain', (q) => expect(cond(q, 'Programmed')).toMatchObject({ status: 'True', reason: 'Programmed' }));
    const get = await eventually(async () => {
      const reply = await http({ host: PLAIN, path: '/v1/items?page=2', localAddress: '127.0.0.28' });
      expect(reply.status).toBe(301);
      return reply;
    }, 30_000);
    record('HTTPSOnly (redirect)', 'GET http://…/v1/items?page=2', get);
    expect(get.headers.location).toBe(`https://${PLAIN}/v1/items?page=2`);
    expect(record('HTTPSOnly (redirect)', 'POST http://…/v1/items', await http({ host: PLAIN, method: 'POST', path: '/v1/items', body: '{}', localAddress: '127.0.0.28' })).status).toBe(308);
  });

  it('marks the route (its only write there), and deleting the policy removes its Middlewares and the marker', async () => {
    type Route = KubeObject & { metadata: { managedFields?: { manager?: string; fieldsV1?: unknown }[] } };
    const getRoute = (): Promise<Route> => admin.request<Route>('GET', `/apis/${GW}/v1/namespaces/${ns}/httproutes/shop`, { verb: 'get' });
    const ours = (r: Route) => (r.metadata.managedFields ?? []).filter((m) => m.manager === 'api-security-operator');
    const route = await getRoute();
    expect(route.metadata.annotations?.['apisec.dev/policy']).toBe('shop');
    expect(ours(route).map((m) => m.fieldsV1)).toEqual([{ 'f:metadata': { 'f:annotations': { 'f:apisec.dev/policy': {} } } }]);
    const names = filtersOf(await getPolicy('shop')).map((f) => (f as { extensionRef: { name: string } }).extensionRef.name);
    await admin.request('DELETE', `/apis/apisec.dev/v1alpha1/namespaces/${ns}/apisecuritypolicies/shop`, { verb: 'delete' });
    await eventually(async () => {
      const list = await admin.request<{ items: KubeObject[] }>('GET', `/apis/traefik.io/v1alpha1/namespaces/${ns}/middlewares`, { verb: 'list' });
      expect(list.items.map((m) => m.metadata.name).filter((n) => names.includes(n))).toEqual([]);
      const after = await getRoute();
      expect(after.metadata.annotations?.['apisec.dev/policy']).toBeUndefined();
      // Released: the apply with no annotation leaves at most an empty managedFields entry.
      expect(JSON.stringify(ours(after).map((m) => m.fieldsV1))).not.toContain('apisec.dev/policy');
    }, 30_000);
  });
});
