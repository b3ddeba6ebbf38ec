// apisec import: legacy annotated Ingresses → policies (golden), the round trip through the operator's own
// ingress-nginx renderer (what it writes, imported, renders to the same annotations), and hostile text.
import { parse, parseAllDocuments } from 'yaml';
import { expectGolden, repoRoot } from '../../test/support/golden.ts';
import { ApiSecurityPolicySpec, type ApiSecurityPolicySpecInput } from '../api/v1alpha1.ts';
import { renderIngressNginx } from '../render/ingress-nginx.ts';
import type { IngressLike } from '../render/types.ts';
import { parseDocuments } from './documents.ts';
import { formatImported, importIngress, policySize } from './import.ts';
import { buildInventory, type Located } from './inventory.ts';
import { readSources } from './io.ts';

const located = (annotations: Record<string, string>, tls = false): Located<IngressLike> => ({
  object: { metadata: { name: 'api', namespace: 'ns', annotations }, spec: { ...(tls ? { tls: [{ hosts: ['a.example.com'] }] } : {}), rules: [] } },
  at: { file: 'in.yaml', line: 1 },
});

const target = [{ group: 'networking.k8s.io' as const, kind: 'Ingress' as const, name: 'api' }];

describe('apisec import', () => {
  it('turns legacy annotated Ingresses into policies, naming every annotation it does not carry over (golden)', async () => {
    const sources = await readSources(['test/fixtures/import/legacy-ingresses.yaml'], { cwd: repoRoot, readStdin: async () => '', stdinName: 'stdin' });
    const inv = buildInventory(sources.flatMap(parseDocuments), 'default');
    const imported = inv.ingresses.filter((i) => Object.keys(i.object.metadata.annotations ?? {}).length).map(importIngress);
    const text = formatImported(imported);
    expectGolden('cli/import-legacy.yaml', text);
    // What it prints is policies the schema accepts, one per annotated Ingress.
    const docs = parseAllDocuments(text).map((d) => d.toJS() as { spec: unknown });
    expect(docs).toHaveLength(3);
    for (const d of docs) expect(ApiSecurityPolicySpec.safeParse(d.spec).success).toBe(true);
  });

  // Every control ingress-nginx expresses exactly, in the forms a policy can state it.
  const specs: [string, ApiSecurityPolicySpecInput][] = [
    ['ledger (examples/internal-api.yaml)', { targetRefs: target, tls: { httpsOnly: true }, authentication: { mtls: { caSecretRef: 'billing-client-ca', verifyDepth: 2 } }, rateLimit: { requestsPerMinute: 1200 }, ipAccess: { allow: ['10.20.0.0/16'] }, requestLimits: { maxBodySize: '256Ki' }, logging: { accessLog: true } }],
    ['external auth with headers, a per-second rate with burst and connections', { targetRefs: target, authentication: { external: { authURL: 'http://authz.auth/check', responseHeaders: ['X-User', 'X-Tenant'] } }, rateLimit: { requestsPerSecond: 50, burst: 100, maxConnections: 20 } }],
    ['CORS with a wildcard subdomain, allow and deny ranges', { targetRefs: target, cors: { allowOrigins: ['https://a.example.com', 'https://*.b.example.com'], allowMethods: ['GET', 'POST'], allowHeaders: ['Content-Type'], exposeHeaders: ['X-Request-Id'], allowCredentials: true, maxAgeSeconds: 0 }, ipAccess: { allow: ['10.0.0.0/8'], deny: ['10.9.0.0/16', 'fd00::/8'] } }],
    ['sizes and a detecting WAF, logging off', { targetRefs: target, requestLimits: { maxBodySize: '64Gi' }, waf: { enabled: true, mode: 'Detect' }, logging: { accessLog: false } }],
    ['a byte-exact body size and every origin', { targetRefs: target, requestLimits: { maxBodySize: '1000' }, cors: { allowOrigins: ['*'] } }],
  ];

  it.each(specs)('round-trips %s: its annotations, imported, render to the same annotations', (_name, input) => {
    const original = renderIngressNginx(ApiSecurityPolicySpec.parse(input), 'ns').annotations;
    const imported = importIngress(located(original));
    expect(imported.dropped).toEqual([]);
    const again = ApiSecurityPolicySpec.parse(imported.policy.spec);
    expect(renderIngressNginx(again, 'ns').annotations).toEqual(original);
  });

  it('makes ingress-nginx defaults explicit: HTTPS on a TLS Ingress, a burst of 5 × the rate', () => {
    const { policy } = importIngress(located({ 'nginx.ingress.kubernetes.io/limit-rps': '10' }, true));
    expect(policy.spec).toMatchObject({ tls: { httpsOnly: true }, rateLimit: { requestsPerSecond: 10, burst: 50 }, provider: 'ingress-nginx' });
  });

  it('drops a value the policy schema refuses, by control, and says why', () => {
    const { policy, dropped } = importIngress(located({ 'nginx.ingress.kubernetes.io/auth-url': 'http://authz.auth/check', 'nginx.ingress.kubernetes.io/auth-response-headers': 'Authorization', 'nginx.ingress.kubernetes.io/limit-rps': '5' }));
    expect(policy.spec.authentication).toBeUndefined();
    expect(policy.spec.rateLimit).toMatchObject({ requestsPerSecond: 5 });
    expect(dropped).toEqual([{ annotation: 'spec.authentication', reason: expect.stringMatching(/^refused by the policy schema: authentication\.external\.responseHeaders/) }]);
  });

  it('keeps hostile annotation text out of the comments it writes: each stays one inert line', () => {
    const evil = 'x\n---\napiVersion: v1\nkind: Secret\u001b[2K';
    const text = formatImported([importIngress(located({ [`nginx.ingress.kubernetes.io/server-snippet`]: evil, [`nginx.ingress.kubernetes.io/x${evil}`]: 'v' }))]);
    expect(parseAllDocuments(text)).toHaveLength(1);
    expect(text.includes('\u001b')).toBe(false);
    expect(text.split('\n').filter((l) => !l.startsWith('#') && l.includes('Secret'))).toEqual([]);
    expect((parse(text) as { kind: string }).kind).toBe('ApiSecurityPolicy');
  });

  it.each([
    ['8m', '8Mi'],
    ['512k', '512Ki'],
    ['2G', '2Gi'],
    ['1000', '1000'],
    ['0', undefined],
    ['1.5m', undefined],
  ])('reads the nginx size %s as %s', (nginx, size) => expect(policySize(nginx)).toBe(size));
});
