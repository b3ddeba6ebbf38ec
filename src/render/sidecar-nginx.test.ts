import type { ApiSecurityPolicySpec, ApiSecurityPolicySpecInput } from '../api/v1alpha1.ts';
import { UnsafeValueError, headerVariable, renderSidecarConfigMap, renderSidecarNginxConf, sidecarFidelity } from './sidecar-nginx.ts';
import { policySpec, type SpecFragment } from '../../test/support/builders.ts';
import { APP_PORT_PLACEHOLDER } from './sidecar-container.ts';

const policy = { name: 'orders', namespace: 'shop', uid: 'u-1' };
const spec = (s: SpecFragment): ApiSecurityPolicySpec => policySpec({ sidecar: { appPort: 3000 }, ...s }, { kind: 'Service', name: 'orders' });

describe('sidecar nginx.conf', () => {
  it('behind trusted proxies takes the client from X-Forwarded-For (realip), and only then', () => {
    const conf = renderSidecarNginxConf(policy, spec({ ipAccess: { allow: ['10.0.0.0/8'] } }), { trusted: ['10.1.0.0/16', 'fd00::/8'] });
    for (const d of ['real_ip_header X-Forwarded-For;', 'real_ip_recursive on;', 'set_real_ip_from 10.1.0.0/16;', 'set_real_ip_from fd00::/8;']) expect(conf).toContain(d);
    expect(renderSidecarNginxConf(policy, spec({ ipAccess: { allow: ['10.0.0.0/8'] } }))).not.toContain('real_ip');
    expect(() => renderSidecarNginxConf(policy, spec({}), { trusted: ['10.0.0.0/8; allow all'] })).toThrow(UnsafeValueError);
    expect(sidecarFidelity(spec({ ipAccess: { allow: ['10.0.0.0/8'] } }), { trusted: ['10.1.0.0/16'] }).IPAccess).toMatchObject({ fidelity: 'Exact' });
    expect(sidecarFidelity(spec({ ipAccess: { allow: ['10.0.0.0/8'] } })).IPAccess).toMatchObject({ fidelity: 'Approximated' });
  });

  it('proxies the sidecar port to the app on loopback with a JSON access log', () => {
    const conf = renderSidecarNginxConf(policy, spec({}));
    expect(conf).toContain('listen 8080;');
    expect(conf).toContain('proxy_pass http://127.0.0.1:3000;');
    expect(conf).toContain('access_log /dev/stdout apisec_json;');
    expect(conf).toContain("log_format apisec_json escape=json '{");
    expect(conf).not.toContain('limit_req');
  });

  it.each([
    ['rate per second with burst', { rateLimit: { requestsPerSecond: 5, burst: 10 } }, ['limit_req_zone $binary_remote_addr zone=apisec_rate:10m rate=5r/s;', 'limit_req_status 429;', 'limit_req zone=apisec_rate burst=10 nodelay;']],
    ['rate per minute, burst defaults to a second of it', { rateLimit: { requestsPerMinute: 120 } }, ['rate=120r/m;', 'burst=2 nodelay;']],
    ['keyed by header, falling back to the address', { rateLimit: { requestsPerSecond: 1, key: 'Header', header: 'X-Api-Key' } }, ['map $http_x_api_key $apisec_limit_key {', 'limit_req_zone $apisec_limit_key zone=apisec_rate']],
    ['connections', { rateLimit: { requestsPerSecond: 1, maxConnections: 3 } }, ['limit_conn_zone $binary_remote_addr zone=apisec_conn:10m;', 'limit_conn_status 429;', 'limit_conn apisec_conn 3;']],
    ['body size', { requestLimits: { maxBodySize: '64Ki' } }, ['client_max_body_size 65536;']],
    ['methods', { requestLimits: { allowedMethods: ['GET', 'POST'] } }, ['if ($request_method !~ ^(GET|POST)$) {', 'return 405;']],
    ['content types', { requestLimits: { allowedContentTypes: ['application/json', 'application/*+json'] } }, ['"~*^application/json\\s*(;|$)" 1;', '"~*^application/[^;]*\\+json\\s*(;|$)" 1;', 'return 415;']],
    ['deny before allow, then deny all', { ipAccess: { allow: ['10.0.0.0/8'], deny: ['10.9.0.0/16'] } }, ['deny 10.9.0.0/16;\n            allow 10.0.0.0/8;\n            deny all;']],
    ['access log off', { logging: { accessLog: false } }, ['access_log off;']],
  ] as [string, Omit<ApiSecurityPolicySpecInput, 'targetRefs'>, string[]][])('%s', (_name, s, fragments) => {
    const conf = renderSidecarNginxConf(policy, spec(s));
    for (const f of fragments) expect(conf).toContain(f);
  });

  it('starts in an empty prefix: pid and every temp path directly under it, logs to stderr and stdout', () => {
    const conf = renderSidecarNginxConf(policy, spec({ rateLimit: { requestsPerSecond: 1 } }));
    expect(conf).toContain('pid nginx.pid;');
    expect(conf).toContain('error_log stderr warn;');
    // nginx creates only the last component of a temp path: no directory in between.
    const temps = [...conf.matchAll(/^\s*(\w+)_temp_path (\S+);$/gm)].map((m) => [m[1], m[2]]);
    expect(temps).toEqual([
      ['client_body', 'client_body_temp'],
      ['proxy', 'proxy_temp'],
      ['fastcgi', 'fastcgi_temp'],
      ['uwsgi', 'uwsgi_temp'],
      ['scgi', 'scgi_temp'],
    ]);
    // Every file it opens is in the prefix, except the access log on stdout; no `user` directive.
    const files = [...conf.matchAll(/^\s*(pid|error_log|access_log|include|lock_file|\w+_temp_path) (\S+?);?(?: |$)/gm)].map((m) => m[2]);
    expect(new Set(files.filter((f) => f?.startsWith('/')))).toEqual(new Set(['/dev/stdout']));
    expect(conf).not.toMatch(/^\s*(user|include|lock_file)\s/m);
    expect(conf).toContain('proxy_pass http://127.0.0.1:3000;');
  });

  it('refuses values the schema should have refused, instead of writing them', () => {
    expect(() => headerVariable('X-Api-Key;\n}')).toThrow(UnsafeValueError);
    const bad = { ...spec({}), ipAccess: { allow: ['10.0.0.0/8; include /etc/passwd'] } } as ApiSecurityPolicySpec;
    expect(() => renderSidecarNginxConf(policy, bad)).toThrow(UnsafeValueError);
  });

  it('is a ConfigMap owned by the policy, only when the sidecar is enabled', () => {
    const cm = renderSidecarConfigMap(policy, spec({}));
    expect(cm?.metadata).toEqual({
      name: 'apisec-orders-sidecar',
      namespace: 'shop',
      labels: { 'app.kubernetes.io/managed-by': 'api-security-operator', 'apisec.dev/policy': 'orders' },
      ownerReferences: [{ apiVersion: 'apisec.dev/v1alpha1', kind: 'ApiSecurityPolicy', name: 'orders', uid: 'u-1', controller: true }],
    });
    expect(Object.keys(cm?.data ?? {})).toEqual(['nginx.conf']);
    expect(renderSidecarConfigMap(policy, spec({ sidecar: { enabled: false, appPort: 3000 } }))).toBeUndefined();
  });

  it('reports the fidelity it adds per control', () => {
    const f = sidecarFidelity(spec({ rateLimit: { requestsPerSecond: 1 }, requestLimits: { allowedMethods: ['GET'] } }));
    expect(f.RequestLimits?.fidelity).toBe('Exact');
    expect(f.RateLimit).toMatchObject({ fidelity: 'Approximated' });
    expect(f.RateLimit?.reason).toContain('per pod');
  });
});

describe('sidecar nginx.conf without spec.sidecar.appPort', () => {
  it("leaves the upstream's port to the start script, which fills in the port the webhook resolved", () => {
    const conf = renderSidecarNginxConf(policy, policySpec({ sidecar: {} }, { kind: 'Service', name: 'orders' }));
    expect(conf).toContain(`proxy_pass http://127.0.0.1:${APP_PORT_PLACEHOLDER};`);
    expect(conf.split(APP_PORT_PLACEHOLDER)).toHaveLength(2);
  });
});
