// HTTPRoute targets on the real API server, with the Gateway API and Envoy Gateway CRDs from their Go
// modules and the operator running in the test process: a route whose Gateway is of an Envoy Gateway class
// gets a SecurityPolicy and a BackendTrafficPolicy owned by the policy (and the NetworkPolicy for its
// backends), the route itself only marked (apisec.dev/policy, no change to its spec); a route of another controller is Unsupported, naming it; a
// missing route is NotFound; converged, nothing is written; a refusal in Envoy Gateway's status (written
// here as Envoy Gateway would) makes the route NotProgrammed; deleting the policy removes what it wrote.
import type { ApiSecurityPolicyStatus } from '../../src/api/v1alpha1.ts';
import type { KubeClient } from '../../src/k8s/client.ts';
import { Resources, collectionPath, objectPath, type KubeObject } from '../../src/k8s/resources.ts';
import { policy, service } from '../support/fixtures.ts';
import { installGatewayCrds } from '../support/gateway.ts';
import { apply, clientAs, createNamespace, eventually, installCrds, policyCondition, reconciledPolicy } from '../support/kube.ts';
import { grantOperatorRbac, startOperator, type RunningOperator } from '../support/operator.ts';

type Policy = KubeObject & { status?: ApiSecurityPolicyStatus };
const ROUTE = { group: 'gateway.networking.k8s.io', kind: 'HTTPRoute' } as const;

describe('HTTPRoute targets served by Envoy Gateway', () => {
  let admin: KubeClient;
  let ns: string;
  let op: RunningOperator;
  const list = async (r: (typeof Resources)[keyof typeof Resources]): Promise<KubeObject[]> =>
    (await admin.request<{ items: KubeObject[] }>('GET', collectionPath(r, ns), { verb: 'list' })).items;
  const reconciled = (name: string, check: (p: Policy) => void): Promise<Policy> => reconciledPolicy<Policy>(admin, ns, name, check);
  const route = (name: string, gateway: string): KubeObject =>
    ({ apiVersion: 'gateway.networking.k8s.io/v1', kind: 'HTTPRoute', metadata: { name, namespace: ns }, spec: { parentRefs: [{ name: gateway }], rules: [{ name: 'api', backendRefs: [{ name: 'shop', port: 80 }] }] } }) as KubeObject;

  beforeAll(async () => {
    admin = clientAs('admin');
    await installCrds(admin);
    await installGatewayCrds(admin);
    await grantOperatorRbac(admin);
    ns = await createNamespace(admin, 'routes');
    const classes = { envoy: `${ns}-envoy`, other: `${ns}-other` };
    await apply(admin, { apiVersion: 'gateway.networking.k8s.io/v1', kind: 'GatewayClass', metadata: { name: classes.envoy }, spec: { controllerName: 'gateway.envoyproxy.io/gatewayclass-controller' } } as KubeObject);
    await apply(admin, { apiVersion: 'gateway.networking.k8s.io/v1', kind: 'GatewayClass', metadata: { name: classes.other }, spec: { controllerName: 'example.com/other-gateway' } } as KubeObject);
    for (const [name, cls] of [['eg', classes.envoy], ['other', classes.other]] as const) {
      await apply(admin, { apiVersion: 'gateway.networking.k8s.io/v1', kind: 'Gateway', metadata: { name, namespace: ns }, spec: { gatewayClassName: cls, listeners: [{ name: 'http', protocol: 'HTTP', port: 80 }] } } as KubeObject);
    }
    await apply(admin, service(ns, 'shop'));
    await apply(admin, route('shop', 'eg'), 'user');
    await apply(admin, route('legacy', 'other'), 'user');
    op = await startOperator({ namespace: ns, resyncMs: 1000 });
  }, 120_000);

  afterAll(async () => {
    await op?.stop();
  });

  it('writes a SecurityPolicy and a BackendTrafficPolicy attached to the route, and the route is Enforced', async () => {
    const routeGeneration = (await admin.request<KubeObject>('GET', objectPath(Resources.httpRoute, ns, 'shop'), { verb: 'get' })).metadata.generation;
    await apply(admin, policy(ns, 'shop-api', {
      targetRefs: [{ ...ROUTE, name: 'shop', sectionName: 'api' }],
      authentication: { jwt: { issuer: 'https://id.example.com', jwksURI: 'https://id.example.com/jwks', audiences: ['shop'] } },
      rateLimit: { requestsPerSecond: 20 },
      requestLimits: { maxBodySize: '1Mi' },
      network: { defaultDeny: true },
    }));
    const p = await reconciled('shop-api', (current) => expect(policyCondition(current, 'Enforced')).toMatchObject({ status: 'True' }));
    expect(p.status?.targets).toEqual([{ kind: 'HTTPRoute', name: 'shop', sectionName: 'api', state: 'Enforced', provider: 'envoy-gateway' }]);
    expect(policyCondition(p, 'Enforced')?.message).toContain('2 Envoy Gateway policy object(s) for 1 HTTPRoute target(s)');
    const [sp] = await list(Resources.securityPolicy);
    const [btp] = await list(Resources.backendTrafficPolicy);
    expect(sp?.spec).toMatchObject({ targetRefs: [{ group: 'gateway.networking.k8s.io', kind: 'HTTPRoute', name: 'shop', sectionName: 'api' }], jwt: { providers: [{ issuer: 'https://id.example.com' }] } });
    expect(btp?.spec).toMatchObject({ rateLimit: { type: 'Local' }, requestBuffer: { limit: '1048576' } });
    for (const o of [sp, btp]) expect(o?.metadata.ownerReferences?.[0]).toMatchObject({ kind: 'ApiSecurityPolicy', name: 'shop-api', uid: p.metadata.uid });
    // The route's backend is isolated, admitting Envoy Gateway's proxies.
    const [np] = await list(Resources.networkPolicy);
    expect(JSON.stringify(np?.spec)).toContain('envoy-gateway-system');
    // The route is the user's: only marked (apisec.dev/policy), with nothing else of it owned by the operator.
    const marked = await admin.request<KubeObject>('GET', objectPath(Resources.httpRoute, ns, 'shop'), { verb: 'get' });
    expect(marked.metadata.annotations?.['apisec.dev/policy']).toBe('shop-api');
    expect(marked.metadata.managedFields?.filter((m) => m.manager === 'api-security-operator').map((m) => m.fieldsV1)).toEqual([{ 'f:metadata': { 'f:annotations': { 'f:apisec.dev/policy': {} } } }]);
    expect(marked.metadata.generation).toBe(routeGeneration);
    const controls = (p.status as { controls?: { control: string; result: string; fidelity?: string }[] }).controls ?? [];
    expect(controls.find((c) => c.control === 'Authentication')).toMatchObject({ result: 'Pass', fidelity: 'Exact' });
  });

  it('then writes nothing across resyncs', async () => {
    await op.idle();
    await new Promise((r) => setTimeout(r, 1500));
    await op.idle();
    const writes = op.writes.length;
    const reconciles = op.reconciles;
    await new Promise((r) => setTimeout(r, 5000));
    await op.idle();
    expect(op.reconciles - reconciles).toBeGreaterThanOrEqual(3);
    expect(op.writes.slice(writes)).toEqual([]);
    expect(op.drifts).toEqual([]);
  }, 30_000);

  it('a route of a Gateway whose controller maps to no data plane is Unsupported, naming the controller; a missing one NotFound', async () => {
    await apply(admin, policy(ns, 'legacy-api', { targetRefs: [{ ...ROUTE, name: 'legacy' }], rateLimit: { requestsPerSecond: 5 } }));
    const p = await reconciled('legacy-api', (current) => expect(policyCondition(current, 'Enforced')).toMatchObject({ status: 'False', reason: 'UnknownGatewayController' }));
    expect(p.status?.targets?.[0]).toMatchObject({ kind: 'HTTPRoute', name: 'legacy', state: 'Unsupported', message: expect.stringContaining('"example.com/other-gateway"') });
    await apply(admin, policy(ns, 'ghost-api', { targetRefs: [{ ...ROUTE, name: 'ghost' }], rateLimit: { requestsPerSecond: 5 } }));
    await reconciled('ghost-api', (current) => expect(policyCondition(current, 'Enforced')).toMatchObject({ status: 'False', reason: 'TargetNotFound' }));
    expect((await list(Resources.securityPolicy)).map((o) => o.metadata.ownerReferences?.[0]?.name)).toEqual(['shop-api']);
  });

  it('a SecurityPolicy that Envoy Gateway refuses (status.ancestors) makes the route NotProgrammed until it accepts it', async () => {
    const [sp] = await list(Resources.securityPolicy);
    // What Envoy Gateway writes when another SecurityPolicy already targets the route (its CRD's status schema).
    const ancestorStatus = (status: 'True' | 'False', reason: string, message: string) => ({
      apiVersion: sp!.apiVersion,
      kind: sp!.kind,
      metadata: { name: sp!.metadata.name, namespace: ns },
      status: {
        ancestors: [
          {
            ancestorRef: { group: 'gateway.networking.k8s.io', kind: 'Gateway', name: 'eg', namespace: ns },
            controllerName: 'gateway.envoyproxy.io/gatewayclass-controller',
            conditions: [{ type: 'Accepted', status, reason, message, lastTransitionTime: new Date().toISOString().replace(/\.\d+Z$/, 'Z'), observedGeneration: sp!.metadata.generation }],
          },
        ],
      },
    });
    const writeStatus = (body: unknown) =>
      admin.request('PATCH', `${objectPath(Resources.securityPolicy, ns, sp!.metadata.name)}/status`, { verb: 'patch', query: { fieldManager: 'envoy-gateway', force: true }, body, contentType: 'application/apply-patch+yaml' });
    await writeStatus(ancestorStatus('False', 'Conflicted', 'Unable to target HTTPRoute shop, another SecurityPolicy has already attached to it\u001b[31m'));
    const p = await reconciled('shop-api', (current) => expect(policyCondition(current, 'Programmed')).toMatchObject({ status: 'False', reason: 'DataPlaneRejected' }));
    expect(policyCondition(p, 'Enforced')).toMatchObject({ status: 'False', reason: 'DataPlaneRejected' });
    expect(p.status?.targets?.[0]).toMatchObject({ state: 'NotProgrammed', provider: 'envoy-gateway' });
    const message = p.status?.targets?.[0]?.message ?? '';
    expect(message).toContain(`did not accept SecurityPolicy ${sp!.metadata.name} for Gateway ${ns}/eg (Conflicted: Unable to target HTTPRoute shop, another SecurityPolicy has already attached to it`);
    expect(message).not.toContain('\u001b');
    await writeStatus(ancestorStatus('True', 'Accepted', 'Policy has been accepted.'));
    await reconciled('shop-api', (current) => expect(policyCondition(current, 'Programmed')).toMatchObject({ status: 'True', reason: 'Programmed' }));
  });

  it('deleting the policy removes its Envoy Gateway objects', async () => {
    await admin.request('DELETE', objectPath(Resources.policy, ns, 'shop-api'), { verb: 'delete' });
    await eventually(async () => {
      expect(await list(Resources.securityPolicy)).toEqual([]);
      expect(await list(Resources.backendTrafficPolicy)).toEqual([]);
    }, 20_000);
  });
});
