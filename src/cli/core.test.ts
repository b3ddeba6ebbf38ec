// The pure core of the CLI: documents with lines, the inventory, coverage, the verdict under thresholds,
// and what `render` prints.
import { defaultSettings } from '../render/types.ts';
import { assessInventory, check, judge, type CheckResult, type PolicyReport, type Thresholds } from './check.ts';
import { uncoveredApis } from './coverage.ts';
import { parseDocuments, type Doc } from './documents.ts';
import { InputError } from './errors.ts';
import { buildInventory } from './inventory.ts';
import { formatYaml, writtenObjects } from './render-output.ts';

const docs = (text: string, file = 'in.yaml'): Doc[] => parseDocuments({ file, text });
const inventory = (text: string, ns = 'default') => buildInventory(docs(text), ns);

const POLICY = (name: string, extra = '') => `apiVersion: apisec.dev/v1alpha1
kind: ApiSecurityPolicy
metadata: { name: ${name}, namespace: ns }
spec:
  targetRefs: [{ group: networking.k8s.io, kind: Ingress, name: web }]
${extra}
`;
const INGRESS = `apiVersion: networking.k8s.io/v1
kind: Ingress
metadata: { name: web, namespace: ns }
spec:
  ingressClassName: nginx
  tls: [{ hosts: [web.example.com] }]
  rules: [{ host: web.example.com, http: { paths: [{ path: /, backend: { service: { name: web } } }] } }]
`;

describe('parseDocuments', () => {
  it('gives each document the line its content starts on, after separators and comments', () => {
    const d = docs('# head\napiVersion: v1\nkind: A\n---\n\n# about B\nkind: B\n---\n--- \n- just\n- a list\n---\nplain scalar\n');
    expect(d.map((x) => [x.object.kind, x.line])).toEqual([
      ['A', 2],
      ['B', 7],
    ]);
  });

  it('expands a List into its items, each at its own line', () => {
    const d = docs('apiVersion: v1\nkind: List\nitems:\n  - kind: A\n    metadata: { name: a }\n  - kind: B\n    metadata:\n      name: b\n');
    expect(d.map((x) => [x.object.kind, x.line])).toEqual([
      ['A', 4],
      ['B', 6],
    ]);
    expect(d[1]!.lineOf(['metadata', 'name'])).toBe(8);
  });

  it('finds the line of a field, or of its closest parent when the field is missing', () => {
    const [d] = docs('kind: K\nspec:\n  rules:\n    - a: 1\n    - b: 2\n');
    expect(d!.lineOf(['spec', 'rules', 1, 'b'])).toBe(5);
    expect(d!.lineOf(['spec', 'missing', 'deeper'])).toBe(2);
  });

  it.each([
    ['a bad indent', 'kind: A\nmetadata:\n  name: a\n   namespace: b\n', /^x\.yaml:3:9: invalid YAML: /],
    ['an unclosed flow map', 'kind: A\nmetadata: { name: a\n', /^x\.yaml:\d+:\d+: invalid YAML: /],
    ['a duplicate key', 'kind: A\nkind: B\n', /^x\.yaml:2:1: invalid YAML: Map keys must be unique$/],
  ])('reports %s with file, line and column, on one line', (_name, text, message) => {
    expect(() => parseDocuments({ file: 'x.yaml', text })).toThrow(InputError);
    try {
      parseDocuments({ file: 'x.yaml', text });
    } catch (err) {
      expect((err as Error).message).toMatch(message);
      expect((err as Error).message).not.toContain('\n');
    }
  });

  it('reads JSON too', () => {
    expect(docs('{"apiVersion": "v1", "kind": "Service", "metadata": {"name": "s"}}')[0]!.object.kind).toBe('Service');
  });
});

describe('buildInventory', () => {
  it('keeps policies, Ingresses and Services, ignores other kinds, and defaults the namespace', () => {
    const inv = inventory(
      [
        POLICY('p'),
        'apiVersion: v1\nkind: Service\nmetadata: { name: s }\n',
        INGRESS,
        'apiVersion: apps/v1\nkind: Deployment\nmetadata: { name: d }\n',
        'apiVersion: apisec.dev/v1alpha1\nkind: ClusterApiSecurityPolicy\nmetadata: { name: base }\nspec: {}\n',
        'apiVersion: extensions/v1beta1\nkind: Ingress\nmetadata: { name: old }\n',
        'apiVersion: v1\nkind: ConfigMap\nmetadata: { name: c }\n',
      ].join('---\n'),
      'team',
    );
    expect(inv.policies.map((p) => p.object.metadata)).toEqual([{ name: 'p', namespace: 'ns' }]);
    expect(inv.services.map((s) => `${s.object.metadata.namespace}/${s.object.metadata.name}`)).toEqual(['team/s']);
    expect(inv.ingresses).toHaveLength(1);
  });

  it.each([
    ['a policy of another apisec.dev version', 'apiVersion: apisec.dev/v1beta9\nkind: ApiSecurityPolicy\nmetadata: { name: p }\n', /in\.yaml:1: ApiSecurityPolicy apisec\.dev\/v1beta9 is not supported/],
    ['an object without a name', 'apiVersion: v1\nkind: Service\nmetadata: {}\n', /in\.yaml:1: Service without metadata\.name/],
    ['the same object twice', `${INGRESS}---\n${INGRESS}`, /in\.yaml:9: Ingress ns\/web appears twice \(first at in\.yaml:1\)/],
  ])('refuses %s', (_name, text, message) => {
    expect(() => inventory(text)).toThrow(message);
  });
});

describe('uncoveredApis', () => {
  const ing = (name: string, backend: string, host?: string) => ({
    object: { metadata: { name, namespace: 'ns' }, spec: { rules: [{ ...(host ? { host } : {}), http: { paths: [{ backend: { service: { name: backend } } }] } }] } },
  });
  const svc = (name: string, type?: string) => ({ object: { metadata: { name, namespace: 'ns' }, spec: { ...(type ? { type } : {}) } } });

  it('lists untargeted Ingresses and exposed Services; a backend of a targeted Ingress is covered', () => {
    const out = uncoveredApis({
      policies: [{ metadata: { name: 'p', namespace: 'ns' }, spec: { targetRefs: [{ group: 'networking.k8s.io', kind: 'Ingress', name: 'covered' }, { group: '', kind: 'Service', name: 'direct' }] } }],
      ingresses: [ing('covered', 'behind'), ing('open', 'other')],
      services: [svc('behind', 'LoadBalancer'), svc('direct', 'NodePort'), svc('internal'), svc('other', 'NodePort'), svc('lb', 'LoadBalancer')],
    });
    expect(out.map((u) => `${u.kind}/${u.name} ${u.detail}`)).toEqual(['Ingress/open hosts *', 'Service/lb type LoadBalancer', 'Service/other type NodePort']);
  });

  it('an invalid policy covers nothing (the operator refuses it and writes nothing)', () => {
    const invalid = { metadata: { name: 'p', namespace: 'ns' }, spec: { targetRefs: [{ group: 'networking.k8s.io', kind: 'Ingress', name: 'web' }], rateLimit: { requestsPerSecond: -1 } } };
    expect(uncoveredApis({ policies: [invalid], ingresses: [ing('web', 'x')], services: [] }).map((u) => u.name)).toEqual(['web']);
  });

  it('matches targets within the same namespace only', () => {
    const out = uncoveredApis({ policies: [{ metadata: { name: 'p', namespace: 'elsewhere' }, spec: { targetRefs: [{ group: 'networking.k8s.io', kind: 'Ingress', name: 'web' }] } }], ingresses: [ing('web', 'x', 'a.example.com')], services: [] });
    expect(out).toEqual([{ kind: 'Ingress', namespace: 'ns', name: 'web', detail: 'hosts a.example.com' }]);
  });
});

describe('judge', () => {
  const base = (over: Partial<PolicyReport> = {}): PolicyReport => ({
    namespace: 'ns',
    name: 'p',
    at: { file: 'f', line: 1 },
    mode: 'Enforce',
    score: 80,
    violations: 0,
    targets: [{ kind: 'Ingress', name: 'web', state: 'Enforced' }],
    controls: [
      { control: 'HTTPSOnly', result: 'Pass', enforcement: 'Enforced', message: '' },
      { control: 'WAF', result: 'Warn', enforcement: 'Enforced', message: '' },
    ],
    ...over,
  });
  const failing = base({ controls: [{ control: 'RateLimit', result: 'Fail', enforcement: 'NotEnforced', message: '' }] });
  const t = (over: Partial<Thresholds> = {}): Thresholds => ({ failOn: 'fail', minScore: 0, allowUncovered: false, ...over });
  const result = (policies: PolicyReport[], extra: Partial<CheckResult> = {}): CheckResult => ({ policies, errors: [], uncovered: [], ...extra });
  const uncovered = [{ kind: 'Ingress' as const, namespace: 'ns', name: 'open', detail: 'hosts *' }];

  it.each<[string, number, CheckResult, Partial<Thresholds>]>([
    ['a warning with --fail-on fail', 0, result([base()]), {}],
    ['a warning with --fail-on warn', 1, result([base()]), { failOn: 'warn' }],
    ['a failure with --fail-on fail', 1, result([failing]), {}],
    ['a failure with --fail-on never', 0, result([failing]), { failOn: 'never' }],
    ['a score under --min-score', 1, result([base()]), { minScore: 81 }],
    ['a score at --min-score', 0, result([base()]), { minScore: 80 }],
    ['a missing target with --fail-on warn', 1, result([base({ controls: [], targets: [{ kind: 'Ingress', name: 'web', state: 'NotFound' }] })]), { failOn: 'warn' }],
    ['an uncovered API', 1, result([], { uncovered }), {}],
    ['an uncovered API with --allow-uncovered', 0, result([], { uncovered }), { allowUncovered: true }],
    ['an invalid policy, even with --fail-on never', 2, result([], { errors: [{ namespace: 'ns', name: 'bad', at: { file: 'f', line: 3 }, reason: 'InvalidSpec', message: 'spec.x: y' }] }), { failOn: 'never' }],
    ['nothing at all', 0, result([]), {}],
  ])('%s → exit %d', (_name, code, r, over) => {
    const v = judge(r, t(over));
    expect(v.exitCode).toBe(code);
    expect(v.reasons.length > 0).toBe(code !== 0);
  });
});

describe('render output', () => {
  it('prints nothing for an Audit policy, and says so', () => {
    const inv = inventory(`${POLICY('p', '  mode: Audit\n  network: { defaultDeny: true }')}---\n${INGRESS}`);
    const { objects, notes } = writtenObjects(assessInventory(inv, defaultSettings).assessed);
    expect(objects).toEqual([]);
    expect(notes).toEqual(['ns/p: Audit mode, the operator writes nothing (in.yaml:1)']);
  });

  it('prints every generated object that render() returns, whatever its field, and quotes YAML 1.1 booleans', () => {
    const inv = inventory(`${POLICY('p', '  authentication: { mtls: { caSecretRef: ca } }')}---\n${INGRESS}`);
    const { assessed } = assessInventory(inv, defaultSettings);
    // A future renderer's output (e.g. Traefik Middlewares) under a field this CLI has never heard of.
    const extra = { apiVersion: 'traefik.io/v1alpha1', kind: 'Middleware', metadata: { name: 'apisec-p-auth', namespace: 'ns' }, spec: {} };
    Object.assign(assessed[0]!.assessment.rendered, { middlewares: [extra], notes: ['not an object'] });
    const { objects } = writtenObjects(assessed);
    expect(objects.map((o) => o.object.kind)).toEqual(['Ingress', 'Middleware']);
    const yaml = formatYaml(objects);
    expect(yaml).toContain('nginx.ingress.kubernetes.io/auth-tls-verify-client: "on"');
    expect(yaml).toContain('# from ApiSecurityPolicy ns/p\napiVersion: traefik.io/v1alpha1\nkind: Middleware');
  });
});

describe('check', () => {
  it('points an invalid policy at the line of its first bad field', () => {
    const r = check(inventory(POLICY('p', '  rateLimit:\n    requestsPerSecond: 0\n')), defaultSettings);
    expect(r.errors).toEqual([
      { namespace: 'ns', name: 'p', at: { file: 'in.yaml', line: 7 }, reason: 'InvalidSpec', message: 'spec.rateLimit.requestsPerSecond: Too small: expected number to be >=1' },
    ]);
  });

  it('lets the oldest policy win a target and marks the younger one Conflicted, as the operator does', () => {
    const older = POLICY('b-older').replace('namespace: ns }', 'namespace: ns, creationTimestamp: "2026-01-01T00:00:00Z" }');
    const younger = POLICY('a-younger').replace('namespace: ns }', 'namespace: ns, creationTimestamp: "2026-02-01T00:00:00Z" }');
    const r = check(inventory([younger, older, INGRESS].join('---\n')), defaultSettings);
    expect(r.policies.map((p) => [p.name, p.targets[0]!.state])).toEqual([
      ['a-younger', 'Conflicted'],
      ['b-older', 'Enforced'],
    ]);
  });
});

describe('check with baselines (as the operator applies them)', () => {
  const text = `apiVersion: v1
kind: Namespace
metadata: { name: shop, labels: { tier: prod } }
---
apiVersion: apisec.dev/v1alpha1
kind: ClusterApiSecurityPolicy
metadata: { name: prod-floor }
spec:
  namespaceSelector: { matchLabels: { tier: prod } }
  floors: { rateLimit: { requestsPerSecond: 100 }, waf: { enabled: true } }
---
apiVersion: apisec.dev/v1alpha1
kind: ApiSecurityPolicy
metadata: { name: api, namespace: shop }
spec:
  targetRefs: [{ group: networking.k8s.io, kind: Ingress, name: api }]
  rateLimit: { requestsPerSecond: 1000 }
---
apiVersion: networking.k8s.io/v1
kind: Ingress
metadata: { name: api, namespace: shop }
spec: { ingressClassName: nginx, rules: [{ http: { paths: [{ path: /, pathType: Prefix, backend: { service: { name: api, port: { number: 80 } } } }] } }] }
---
apiVersion: networking.k8s.io/v1
kind: Ingress
metadata: { name: unmanaged, namespace: shop }
spec: { ingressClassName: nginx, rules: [{ http: { paths: [{ path: /, pathType: Prefix, backend: { service: { name: other, port: { number: 80 } } } }] } }] }
`;

  it('reports a loosened floor, renders the floor, and fails the run', () => {
    const r = check(inventory(text), defaultSettings);
    const p = r.policies.find((x) => x.name === 'api');
    expect(p?.baselineViolations?.map((v) => `${v.field} ${v.baseline}`)).toEqual(['rateLimit.rate prod-floor']);
    // Supplied by the baseline; ModSecurity's engine mode is the controller ConfigMap's, so Delegated.
    expect(p?.controls.find((c) => c.control === 'WAF')).toMatchObject({ result: 'Warn', fidelity: 'Delegated' });
    const { assessed } = assessInventory(inventory(text), defaultSettings);
    expect(assessed[0]?.spec.rateLimit?.requestsPerSecond).toBe(100);
    const verdict = judge(r, { failOn: 'fail', minScore: 0, allowUncovered: true });
    expect(verdict.exitCode).toBe(1);
    expect(verdict.reasons.join('\n')).toContain('loosens a baseline: rateLimit.rate (prod-floor)');
  });

  it('lists an API without a policy as uncovered, also in a namespace a baseline selects (a baseline alone writes nothing)', () => {
    expect(check(inventory(text), defaultSettings).uncovered.map((u) => u.name)).toEqual(['unmanaged']);
    const unselected = text.replace('labels: { tier: prod }', 'labels: { tier: dev }');
    expect(check(inventory(unselected), defaultSettings).uncovered.map((u) => u.name)).toEqual(['unmanaged']);
  });
});
