// eslint-disable-next-line no-restricted-imports -- the test compares the checked-in CRD file with the generator
import { readFileSync } from 'node:fs';
import { parse as parseYaml } from 'yaml';
import { CRD_FILES, renderCrdYaml } from './crd.ts';
import { parseSpec, type ApiSecurityPolicySpecInput } from './v1alpha1.ts';

const targetRefs = [{ group: 'networking.k8s.io', kind: 'Ingress', name: 'shop' }];
const AUTH = 'http://oauth2-proxy.auth.svc.cluster.local/oauth2/auth';

const fullSpec: ApiSecurityPolicySpecInput = {
  targetRefs: [
    { group: 'networking.k8s.io', kind: 'Ingress', name: 'shop' },
    { group: '', kind: 'Service', name: 'shop-backend' },
  ],
  tls: { hsts: { includeSubDomains: true } },
  authentication: { oidc: { issuerURL: 'https://id.example.com/realms/shop', audiences: ['shop-api'], authURL: AUTH, signinURL: 'https://auth.example.com/oauth2/start' } },
  authorization: {
    rules: [
      { methods: ['GET'], paths: ['/v1/products', '/v1/products/*'] },
      { methods: ['POST', 'PUT'], paths: ['/v1/orders/*'], requireScopes: ['orders:write'] },
    ],
  },
  rateLimit: { requestsPerSecond: 20, burst: 40, maxConnections: 100 },
  ipAccess: { allow: ['10.0.0.0/8', '2001:db8::/32'], deny: ['10.66.0.0/16'] },
  cors: { allowOrigins: ['https://shop.example.com'], allowMethods: ['GET', 'POST'], allowHeaders: ['Authorization', 'Content-Type'], allowCredentials: true },
  requestLimits: { maxBodySize: '1Mi', allowedMethods: ['GET', 'POST', 'PUT'], allowedContentTypes: ['application/json', 'application/vnd.api+json'] },
  waf: {},
  network: { allowFrom: [{ ingressController: true }, { namespaceSelector: { matchLabels: { 'kubernetes.io/metadata.name': 'monitoring' } } }, { ipBlock: { cidr: '192.168.0.0/16', except: ['192.168.1.0/24'] } }] },
  sidecar: { appPort: 3000 },
  logging: {},
};

describe('parseSpec: accepts and defaults', () => {
  it('accepts a full realistic spec and applies defaults', () => {
    const res = parseSpec(fullSpec);
    if (!res.ok) throw new Error(res.message);
    expect(res.spec).toEqual({
      ...fullSpec,
      mode: 'Enforce',
      provider: 'auto',
      tls: { httpsOnly: true, hsts: { maxAgeSeconds: 31536000, includeSubDomains: true, preload: false } },
      authorization: { defaultAction: 'Deny', rules: fullSpec.authorization?.rules },
      rateLimit: { requestsPerSecond: 20, burst: 40, maxConnections: 100, key: 'ClientIP', scope: 'Local' },
      cors: { ...fullSpec.cors, maxAgeSeconds: 600 },
      waf: { enabled: true, mode: 'Block', ruleSet: 'OWASPCoreRuleSet' },
      network: { defaultDeny: true, allowFrom: fullSpec.network?.allowFrom },
      sidecar: { enabled: true, port: 8080, appPort: 3000 },
      logging: { accessLog: true, format: 'JSON' },
    });
  });

  it.each<{ name: string; spec: Record<string, unknown>; expected: Record<string, unknown> }>([
    { name: 'only targetRefs', spec: { targetRefs }, expected: { targetRefs, mode: 'Enforce', provider: 'auto' } },
    { name: 'empty network', spec: { targetRefs, network: {} }, expected: { network: { defaultDeny: true, allowFrom: [{ ingressController: true }] } } },
    { name: 'empty authorization', spec: { targetRefs, authorization: {} }, expected: { authorization: { defaultAction: 'Deny', rules: [] } } },
    { name: 'apiKey header', spec: { targetRefs, authentication: { apiKey: { authURL: AUTH } } }, expected: { authentication: { apiKey: { header: 'X-API-Key', authURL: AUTH } } } },
    {
      name: 'mtls',
      spec: { targetRefs, authentication: { mtls: { caSecretRef: 'client-ca' } } },
      expected: { authentication: { mtls: { caSecretRef: 'client-ca', verifyDepth: 1, passCertificateToUpstream: false } } },
    },
    { name: 'explicit Audit and provider', spec: { targetRefs, mode: 'Audit', provider: 'traefik' }, expected: { mode: 'Audit', provider: 'traefik' } },
    { name: 'rpm with burst at the per-second rate', spec: { targetRefs, rateLimit: { requestsPerMinute: 600, burst: 10 } }, expected: { rateLimit: { requestsPerMinute: 600, burst: 10, key: 'ClientIP' } } },
    { name: 'key Header with header', spec: { targetRefs, rateLimit: { requestsPerSecond: 1, key: 'Header', header: 'X-Tenant' } }, expected: { rateLimit: { requestsPerSecond: 1, key: 'Header', header: 'X-Tenant' } } },
    { name: 'a Global limit, onStoreUnavailable defaults later (unset)', spec: { targetRefs, rateLimit: { requestsPerSecond: 1, scope: 'Global' } }, expected: { rateLimit: { requestsPerSecond: 1, key: 'ClientIP', scope: 'Global' } } },
    { name: 'a Global limit that allows while the store is down', spec: { targetRefs, rateLimit: { requestsPerSecond: 1, scope: 'Global', onStoreUnavailable: 'Allow' } }, expected: { rateLimit: { scope: 'Global', onStoreUnavailable: 'Allow' } } },
    { name: 'wildcard origin without credentials', spec: { targetRefs, cors: { allowOrigins: ['*'] } }, expected: { cors: { allowOrigins: ['*'], allowCredentials: false, maxAgeSeconds: 600 } } },
  ])('$name', ({ spec, expected }) => {
    const res = parseSpec(spec);
    if (!res.ok) throw new Error(res.message);
    expect(res.spec).toMatchObject(expected);
  });

  it.each(['10.0.0.0/8', '0.0.0.0/0', '192.168.1.1/32', '::/0', '2001:db8::/32', 'fe80::1/128'])('accepts the CIDR %s', (cidr) => {
    expect(parseSpec({ targetRefs, ipAccess: { allow: [cidr] } }).ok).toBe(true);
  });

  it.each(['512', '64Ki', '1Mi', '10M', '1Gi', '100k', '2K', '1G', '64Gi', '68G', '65536Mi', '9999999999'])('accepts the size %s', (size) => {
    expect(parseSpec({ targetRefs, requestLimits: { maxBodySize: size } }).ok).toBe(true);
  });
});

describe('parseSpec: rejects with field paths', () => {
  const withAuth = (authentication: unknown): Record<string, unknown> => ({ targetRefs, authentication });

  it.each<{ name: string; spec: Record<string, unknown>; path: string; message?: string }>([
    // structure
    { name: 'missing targetRefs', spec: {}, path: 'spec.targetRefs' },
    { name: 'empty targetRefs', spec: { targetRefs: [] }, path: 'spec.targetRefs' },
    { name: 'unsupported kind', spec: { targetRefs: [{ group: '', kind: 'Deployment', name: 'x' }] }, path: 'spec.targetRefs[0].kind' },
    { name: 'target name not DNS', spec: { targetRefs: [{ group: '', kind: 'Service', name: 'Shop_API' }] }, path: 'spec.targetRefs[0].name' },
    { name: 'unknown mode', spec: { targetRefs, mode: 'DryRun' }, path: 'spec.mode' },

    // bounds every data plane accepts (nginx refuses larger sizes and limit_conn above 65535)
    { name: 'a body size above 64Gi', spec: { targetRefs, requestLimits: { maxBodySize: '9999999999Gi' } }, path: 'spec.requestLimits.maxBodySize', message: 'at most 64Gi' },
    { name: 'a body size of 65Gi', spec: { targetRefs, requestLimits: { maxBodySize: '65Gi' } }, path: 'spec.requestLimits.maxBodySize' },
    { name: 'a body size of 69G', spec: { targetRefs, requestLimits: { maxBodySize: '69G' } }, path: 'spec.requestLimits.maxBodySize' },
    { name: '65536 connections', spec: { targetRefs, rateLimit: { requestsPerSecond: 1, maxConnections: 65536 } }, path: 'spec.rateLimit.maxConnections' },
    { name: 'onStoreUnavailable on a Local limit', spec: { targetRefs, rateLimit: { requestsPerSecond: 1, onStoreUnavailable: 'Allow' } }, path: 'spec.rateLimit.onStoreUnavailable' },
    { name: 'an unknown scope', spec: { targetRefs, rateLimit: { requestsPerSecond: 1, scope: 'Cluster' } }, path: 'spec.rateLimit.scope' },
    { name: 'key Subject on a Local limit', spec: { targetRefs, rateLimit: { requestsPerSecond: 1, key: 'Subject' } }, path: 'spec.rateLimit.key' },
    { name: 'windows on a Local limit', spec: { targetRefs, rateLimit: { requestsPerSecond: 1, windows: [{ requests: 10, period: 'Day' }] } }, path: 'spec.rateLimit.windows' },
    { name: 'four windows', spec: { targetRefs, rateLimit: { requestsPerSecond: 1, scope: 'Global', windows: Array.from({ length: 4 }, () => ({ requests: 10, period: 'Day' })) } }, path: 'spec.rateLimit.windows' },

    // authentication
    {
      name: 'two auth methods',
      spec: withAuth({ apiKey: { authURL: AUTH }, external: { authURL: AUTH } }),
      path: 'spec.authentication',
      message: 'set exactly one of oidc, jwt, apiKey, mtls, external',
    },
    { name: 'no auth method', spec: withAuth({}), path: 'spec.authentication', message: 'set exactly one' },
    { name: 'http issuer', spec: withAuth({ oidc: { issuerURL: 'http://id.example.com', authURL: AUTH } }), path: 'spec.authentication.oidc.issuerURL' },
    { name: 'mtls secret with a namespace', spec: withAuth({ mtls: { caSecretRef: 'other/ca' } }), path: 'spec.authentication.mtls.caSecretRef' },

    // URLs: nothing that could break out of an annotation or an nginx directive
    { name: 'URL with a double quote', spec: withAuth({ external: { authURL: 'http://auth.example.com/a"b' } }), path: 'spec.authentication.external.authURL' },
    { name: 'URL with a single quote', spec: withAuth({ external: { authURL: "http://auth.example.com/a'b" } }), path: 'spec.authentication.external.authURL' },
    { name: 'URL with a space', spec: withAuth({ external: { authURL: 'http://auth.example.com/a b' } }), path: 'spec.authentication.external.authURL' },
    { name: 'URL with a semicolon', spec: withAuth({ external: { authURL: 'http://auth.example.com/x;return 200' } }), path: 'spec.authentication.external.authURL' },
    { name: 'URL with a $ variable', spec: withAuth({ external: { authURL: 'http://auth.example.com/$host' } }), path: 'spec.authentication.external.authURL' },
    { name: 'URL with a newline', spec: withAuth({ external: { authURL: 'http://auth.example.com/\nproxy_pass x' } }), path: 'spec.authentication.external.authURL' },
    { name: 'URL with a brace', spec: withAuth({ external: { authURL: 'http://auth.example.com/}' } }), path: 'spec.authentication.external.authURL' },
    { name: 'URL with a query', spec: withAuth({ external: { authURL: 'http://auth.example.com/check?x=1' } }), path: 'spec.authentication.external.authURL' },
    { name: 'URL with user info', spec: withAuth({ external: { authURL: 'http://user@auth.example.com/' } }), path: 'spec.authentication.external.authURL' },
    { name: 'signinURL with a quote', spec: withAuth({ oidc: { issuerURL: 'https://id.example.com', authURL: AUTH, signinURL: 'https://a.example.com/"' } }), path: 'spec.authentication.oidc.signinURL' },
    { name: 'jwt jwksURI over http', spec: withAuth({ jwt: { issuer: 'https://id.example.com', jwksURI: 'http://id.example.com/jwks', authURL: AUTH } }), path: 'spec.authentication.jwt.jwksURI' },
    { name: 'a non-http scheme', spec: withAuth({ external: { authURL: 'file:///etc/passwd' } }), path: 'spec.authentication.external.authURL' },

    // header names
    { name: 'apiKey header with a space', spec: withAuth({ apiKey: { header: 'X Api Key', authURL: AUTH } }), path: 'spec.authentication.apiKey.header' },
    { name: 'apiKey header with a newline', spec: withAuth({ apiKey: { header: 'X-Api-Key\nX-Evil', authURL: AUTH } }), path: 'spec.authentication.apiKey.header' },
    { name: 'apiKey header with a trailing newline', spec: withAuth({ apiKey: { header: 'X-Api-Key\n', authURL: AUTH } }), path: 'spec.authentication.apiKey.header' },
    { name: 'Authorization as a response header', spec: withAuth({ external: { authURL: AUTH, responseHeaders: ['X-User', 'authorization'] } }), path: 'spec.authentication.external.responseHeaders[1]', message: 'must not be Host' },
    { name: 'Host as a response header', spec: withAuth({ external: { authURL: AUTH, responseHeaders: ['Host'] } }), path: 'spec.authentication.external.responseHeaders[0]' },
    { name: 'a hop-by-hop response header', spec: withAuth({ external: { authURL: AUTH, responseHeaders: ['Transfer-Encoding'] } }), path: 'spec.authentication.external.responseHeaders[0]' },
    { name: 'response header with a colon', spec: withAuth({ external: { authURL: AUTH, responseHeaders: ['X-User: admin'] } }), path: 'spec.authentication.external.responseHeaders[0]' },
    { name: 'cors header with CRLF', spec: { targetRefs, cors: { allowOrigins: ['https://a.example.com'], allowHeaders: ['Content-Type', 'X-A\r\nX-B'] } }, path: 'spec.cors.allowHeaders[1]' },
    { name: 'rate limit header with a space', spec: { targetRefs, rateLimit: { requestsPerSecond: 1, key: 'Header', header: 'X Tenant' } }, path: 'spec.rateLimit.header' },

    // rate limit
    { name: 'rps and rpm', spec: { targetRefs, rateLimit: { requestsPerSecond: 10, requestsPerMinute: 600 } }, path: 'spec.rateLimit', message: 'set exactly one of requestsPerSecond and requestsPerMinute' },
    { name: 'neither rps nor rpm', spec: { targetRefs, rateLimit: { maxConnections: 5 } }, path: 'spec.rateLimit', message: 'set exactly one' },
    { name: 'burst below the rps', spec: { targetRefs, rateLimit: { requestsPerSecond: 10, burst: 5 } }, path: 'spec.rateLimit.burst', message: 'burst must be at least' },
    { name: 'burst below the per-second rate of rpm', spec: { targetRefs, rateLimit: { requestsPerMinute: 600, burst: 9 } }, path: 'spec.rateLimit.burst' },
    { name: 'key Header without header', spec: { targetRefs, rateLimit: { requestsPerSecond: 10, key: 'Header' } }, path: 'spec.rateLimit.header', message: 'key Header needs header' },
    { name: 'zero rps', spec: { targetRefs, rateLimit: { requestsPerSecond: 0 } }, path: 'spec.rateLimit.requestsPerSecond' },
    { name: 'fractional rps', spec: { targetRefs, rateLimit: { requestsPerSecond: 1.5 } }, path: 'spec.rateLimit.requestsPerSecond' },

    // cors
    { name: 'wildcard origin with credentials', spec: { targetRefs, cors: { allowOrigins: ['https://a.example.com', '*'], allowCredentials: true } }, path: 'spec.cors.allowOrigins', message: 'wildcard origin' },
    { name: 'origin with a path', spec: { targetRefs, cors: { allowOrigins: ['https://a.example.com/x'] } }, path: 'spec.cors.allowOrigins[0]' },
    { name: 'no origins', spec: { targetRefs, cors: { allowOrigins: [] } }, path: 'spec.cors.allowOrigins' },

    // CIDRs
    { name: 'prefix too long', spec: { targetRefs, ipAccess: { allow: ['10.0.0.0/33'] } }, path: 'spec.ipAccess.allow[0]', message: 'CIDR' },
    { name: 'octet out of range', spec: { targetRefs, ipAccess: { allow: ['999.0.0.0/8'] } }, path: 'spec.ipAccess.allow[0]', message: 'CIDR' },
    { name: 'IPv6 prefix too long', spec: { targetRefs, ipAccess: { deny: ['2001:db8::/129'] } }, path: 'spec.ipAccess.deny[0]' },
    { name: 'no prefix', spec: { targetRefs, ipAccess: { allow: ['10.0.0.1'] } }, path: 'spec.ipAccess.allow[0]' },
    { name: 'CIDR with a comma', spec: { targetRefs, ipAccess: { allow: ['10.0.0.0/8,0.0.0.0/0'] } }, path: 'spec.ipAccess.allow[0]' },
    { name: 'network ipBlock except', spec: { targetRefs, network: { allowFrom: [{ ipBlock: { cidr: '10.0.0.0/8', except: ['10.1.0.0/99'] } }] } }, path: 'spec.network.allowFrom[0].ipBlock.except[0]' },

    // sizes
    { name: 'size 1Ti', spec: { targetRefs, requestLimits: { maxBodySize: '1Ti' } }, path: 'spec.requestLimits.maxBodySize' },
    { name: 'size -1', spec: { targetRefs, requestLimits: { maxBodySize: '-1' } }, path: 'spec.requestLimits.maxBodySize' },
    { name: 'size 0', spec: { targetRefs, requestLimits: { maxBodySize: '0' } }, path: 'spec.requestLimits.maxBodySize' },
    { name: 'size 1.5Mi', spec: { targetRefs, requestLimits: { maxBodySize: '1.5Mi' } }, path: 'spec.requestLimits.maxBodySize' },
    { name: 'size with a space', spec: { targetRefs, requestLimits: { maxBodySize: '1 Mi' } }, path: 'spec.requestLimits.maxBodySize' },
    { name: 'size in lowercase mi', spec: { targetRefs, requestLimits: { maxBodySize: '1mi' } }, path: 'spec.requestLimits.maxBodySize' },

    // others
    { name: 'media type with a space', spec: { targetRefs, requestLimits: { allowedContentTypes: ['application/json; charset=utf-8'] } }, path: 'spec.requestLimits.allowedContentTypes[0]' },
    { name: 'unknown method', spec: { targetRefs, requestLimits: { allowedMethods: ['TRACE'] } }, path: 'spec.requestLimits.allowedMethods[0]' },
    { name: 'authorization path without a leading slash', spec: { targetRefs, authorization: { rules: [{ methods: ['GET'], paths: ['v1'] }] } }, path: 'spec.authorization.rules[0].paths[0]' },
    { name: 'sidecar port below 1024', spec: { targetRefs, sidecar: { appPort: 3000, port: 80 } }, path: 'spec.sidecar.port' },
    { name: 'label key with a space', spec: { targetRefs, network: { allowFrom: [{ podSelector: { matchLabels: { 'a b': 'x' } } }] } }, path: 'spec.network.allowFrom[0].podSelector.matchLabels.a b' },
  ])('$name → $path', ({ spec, path, message }) => {
    const res = parseSpec(spec);
    expect(res.ok).toBe(false);
    if (res.ok) return;
    const issue = res.message.split('; ').find((m) => m.startsWith(`${path}: `));
    expect({ issue, message: res.message }).toEqual({ issue: expect.any(String), message: res.message });
    if (message) expect(issue).toContain(message);
  });

  it('reports every failing field, at most ten', () => {
    const res = parseSpec({ targetRefs, ipAccess: { allow: Array.from({ length: 12 }, (_, i) => `10.0.${i}.0/40`) } });
    expect(res.ok).toBe(false);
    if (res.ok) return;
    const parts = res.message.split('; ');
    expect(parts).toHaveLength(10);
    expect(parts[0]).toMatch(/^spec\.ipAccess\.allow\[0\]: /);
    expect(parts[9]).toMatch(/^spec\.ipAccess\.allow\[9\]: /);
  });
});

describe('CRD', () => {
  const entries = Object.entries(CRD_FILES);

  it('has at least one file', () => {
    expect(entries.length).toBeGreaterThan(0);
  });

  it.each(entries)('crds/%s is up to date (run `npm run gen:crds`)', (file, make) => {
    const onDisk = readFileSync(new URL(`../../crds/${file}`, import.meta.url), 'utf8');
    expect(onDisk).toBe(renderCrdYaml(make));
  });

  it.each(entries)('%s has the printer columns and the status subresource', (file, make) => {
    const crd = parseYaml(renderCrdYaml(make)) as {
      spec: { versions: { name: string; subresources?: { status?: object }; additionalPrinterColumns?: { name: string; jsonPath: string }[] }[] };
    };
    for (const v of crd.spec.versions) {
      expect(v.subresources).toEqual({ status: {} });
      const columns = (v.additionalPrinterColumns ?? []).map((c) => c.name);
      const expected = file.includes('cluster')
        ? ['Ready', 'Namespaces', 'Policies', 'Violations', 'Age']
        : ['Mode', 'Enforced', 'Compliant', 'Score', 'Violations', 'Age'];
      expect(columns).toEqual(expected);
    }
  });

  it.each(entries)('%s: the schema is structural: every object and array node has a type', (_file, make) => {
    const crd = make() as { spec: { versions: { schema: { openAPIV3Schema: unknown } }[] } };
    const untyped: string[] = [];
    const walk = (node: unknown, path: string): void => {
      if (node === null || typeof node !== 'object') return;
      const n = node as Record<string, unknown>;
      if (n.type === undefined && n['x-kubernetes-preserve-unknown-fields'] === undefined) untyped.push(path);
      for (const [k, v] of Object.entries((n.properties ?? {}) as Record<string, unknown>)) walk(v, `${path}.${k}`);
      if (n.items) walk(n.items, `${path}[]`);
      if (n.additionalProperties && typeof n.additionalProperties === 'object') walk(n.additionalProperties, `${path}{}`);
    };
    walk(crd.spec.versions[0]?.schema.openAPIV3Schema, '');
    expect(untyped).toEqual([]);
  });
});
