// Finding 8 of the security review, on the real API server: a policy's mTLS caSecretRef could name any
// Secret in the namespace, e.g. a ServiceAccount token Secret, whose ca.crt is the cluster CA, so every
// client holding a cluster-issued certificate would pass the ingress controller's client check. Now a
// Secret must carry its owner's consent (apisec.dev/client-ca: "true"): an unlabelled one leaves the
// policy Accepted=False (Invalid; Enforced=False, ClientCANotLabelled) with nothing written; labelling it enforces the policy, and
// removing the label refuses it again, through the operator's metadata-only watch of labelled Secrets.
import type { ApiSecurityPolicyStatus } from '../../src/api/v1alpha1.ts';
import type { KubeClient } from '../../src/k8s/client.ts';
import { listPages } from '../../src/k8s/list.ts';
import { Resources, objectPath, type KubeObject } from '../../src/k8s/resources.ts';
import { ingress, policy, service } from '../support/fixtures.ts';
import { ALL_VERBS, apply, clientAs, createNamespace, grantTenant, installCrds, policyCondition, reconciledPolicy } from '../support/kube.ts';
import { grantOperatorRbac, startOperator, type RunningOperator } from '../support/operator.ts';

type Policy = KubeObject & { status?: ApiSecurityPolicyStatus };
const LABEL = 'apisec.dev/client-ca';
const AUTH_TLS = 'nginx.ingress.kubernetes.io/auth-tls-secret';

describe('Secrets a policy uses (mTLS client CA, API keys) need their owner\'s label', () => {
  let admin: KubeClient;
  let tenant: KubeClient;
  let ns: string;
  let op: RunningOperator;
  const target = { targetRefs: [{ group: 'networking.k8s.io', kind: 'Ingress', name: 'api' }] };
  const annotations = async (): Promise<Record<string, string>> =>
    (await admin.request<KubeObject>('GET', objectPath(Resources.ingress, ns, 'api'), { verb: 'get' })).metadata.annotations ?? {};
  const secret = (name: string, labels: Record<string, string> = {}, type = 'Opaque'): KubeObject =>
    ({ apiVersion: 'v1', kind: 'Secret', type, metadata: { name, namespace: ns, labels, ...(type === 'Opaque' ? {} : { annotations: { 'kubernetes.io/service-account.name': 'default' } }) }, stringData: { 'ca.crt': 'not a real CA' } }) as KubeObject;
  const reconciled = (name: string, check: (p: Policy) => void): Promise<Policy> => reconciledPolicy<Policy>(admin, ns, name, check);

  beforeAll(async () => {
    admin = clientAs('admin');
    tenant = clientAs('tenant');
    await installCrds(admin);
    await grantOperatorRbac(admin);
    ns = await createNamespace(admin, 'client-ca');
    // The team writes policies and reads its namespace's Secrets, as teams commonly may.
    await grantTenant(admin, ns, [
      { apiGroups: ['apisec.dev'], resources: ['apisecuritypolicies'], verbs: ALL_VERBS },
      { apiGroups: [''], resources: ['secrets'], verbs: ['get', 'list'] },
    ]);
    await apply(admin, service(ns, 'api'));
    await apply(admin, ingress(ns, 'api', 'api'));
    // Like the token Secret of a ServiceAccount: readable by the team, its ca.crt the cluster's CA.
    await apply(admin, secret('default-token', {}, 'kubernetes.io/service-account-token'));
    await apply(admin, secret('partner-ca', { [LABEL]: 'true' }));
    op = await startOperator({ namespace: ns });
  });

  afterAll(async () => {
    await op?.stop();
  });

  it('a policy naming an unlabelled Secret (a ServiceAccount token) is refused, and the Ingress gets no client CA', async () => {
    await apply(tenant, policy(ns, 'token-ca', { ...target, authentication: { mtls: { caSecretRef: 'default-token' } } }));
    const p = await reconciled('token-ca', (current) => expect(policyCondition(current, 'Enforced')).toMatchObject({ status: 'False', reason: 'ClientCANotLabelled' }));
    expect(policyCondition(p, 'Accepted')?.message).toContain(`kubectl label secret default-token -n ${ns} ${LABEL}=true`);
    expect(policyCondition(p, 'Enforced')).toMatchObject({ status: 'False' });
    await op.idle();
    expect(await annotations()).not.toHaveProperty(AUTH_TLS);
    expect(op.writes.filter((w) => w.includes('ingresses'))).toEqual([]);
    await tenant.request('DELETE', objectPath(Resources.policy, ns, 'token-ca'), { verb: 'delete' });
  });

  it('a labelled Secret is a client CA; removing the label refuses the policy again, adding it back enforces it', async () => {
    await apply(tenant, policy(ns, 'partner', { ...target, authentication: { mtls: { caSecretRef: 'partner-ca' } } }));
    await reconciled('partner', (p) => expect(policyCondition(p, 'Enforced')).toMatchObject({ status: 'True' }));
    expect((await annotations())[AUTH_TLS]).toBe(`${ns}/partner-ca`);

    await apply(admin, secret('partner-ca', { [LABEL]: 'false' }));
    await reconciled('partner', (p) => expect(policyCondition(p, 'Enforced')).toMatchObject({ status: 'False', reason: 'ClientCANotLabelled' }));
    await apply(admin, secret('partner-ca', { [LABEL]: 'true' }));
    await reconciled('partner', (p) => expect(policyCondition(p, 'Enforced')).toMatchObject({ status: 'True' }));
  });

  it('API keys too: a Secret not labelled apisec.dev/api-keys is refused (not an oracle on its entries), labelling it accepts the policy', async () => {
    const keys = { targetRefs: [{ group: '', kind: 'Service', name: 'api' }], authentication: { apiKey: { header: 'X-Api-Key', secretRef: { name: 'default-token' } } } };
    await apply(tenant, policy(ns, 'token-keys', keys));
    const p = await reconciled('token-keys', (current) => expect(policyCondition(current, 'Enforced')).toMatchObject({ status: 'False', reason: 'ApiKeysNotLabelled' }));
    expect(policyCondition(p, 'Accepted')).toMatchObject({ status: 'False', reason: 'Invalid' });
    expect(policyCondition(p, 'Accepted')?.message).toContain(`kubectl label secret default-token -n ${ns} apisec.dev/api-keys=true`);
    await apply(admin, { ...secret('default-token', { 'apisec.dev/api-keys': 'true' }, 'kubernetes.io/service-account-token') });
    await reconciled('token-keys', (current) => expect(policyCondition(current, 'Accepted')).toMatchObject({ status: 'True' }));
    await tenant.request('DELETE', objectPath(Resources.policy, ns, 'token-keys'), { verb: 'delete' });
  });

  it('the operator\'s Secret cache holds names only, listed as metadata by the API server', async () => {
    expect(op.controller.informers.clientCAs.list(ns).map((s) => s.metadata.name)).toEqual(['partner-ca']);
    for (const s of op.controller.informers.clientCAs.list()) expect(Object.keys(s).sort()).toEqual(['apiVersion', 'kind', 'metadata']);
    // What the informer asks for: the server sends PartialObjectMetadata, no data and no type.
    for await (const page of listPages(op.client, Resources.secret, { namespace: ns, labelSelector: `${LABEL}=true`, metadataOnly: true })) {
      expect(page.items.map((i) => i.metadata.name)).toEqual(['partner-ca']);
      for (const item of page.items) expect(item).not.toHaveProperty('data');
      for (const item of page.items) expect(item).not.toHaveProperty('type');
    }
  });
});
