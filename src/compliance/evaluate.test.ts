import type { ApiSecurityPolicySpec, ApiSecurityPolicySpecInput, ControlName, ControlResult } from '../api/v1alpha1.ts';
import { render } from '../render/index.ts';
import { defaultSettings, type FidelityReport, type IngressLike } from '../render/types.ts';
import { WEIGHTS, evaluate, type ComplianceInput } from './evaluate.ts';
import { policySpec } from '../../test/support/builders.ts';

type Fragment = Omit<ApiSecurityPolicySpecInput, 'targetRefs'>;

const spec = (fragment: Fragment = {}): ApiSecurityPolicySpec => policySpec(fragment, { kind: 'Ingress', name: 'shop' });

const ingress = (name: string, tls = true): IngressLike => ({
  metadata: { name, namespace: 'shop' },
  spec: {
    ingressClassName: 'nginx',
    ...(tls ? { tls: [{ hosts: [`${name}.example.com`], secretName: `${name}-tls` }] } : {}),
    rules: [{ host: `${name}.example.com`, http: { paths: [{ path: '/', backend: { service: { name } } }] } }],
  },
});

/** Every control enforced exactly: the checks of the spec alone (fidelity is tested on its own below). */
const EXACT: FidelityReport = Object.fromEntries(Object.keys(WEIGHTS).map((c) => [c, { fidelity: 'Exact' }]));

const input = (fragment: Fragment = {}, over: Partial<ComplianceInput> = {}): ComplianceInput => {
  const s = spec(fragment);
  return { spec: s, mode: s.mode, ingresses: [ingress('shop')], anyTarget: true, fidelity: EXACT, networkSkipped: [], ...over };
};

const resultOf = (i: ComplianceInput, control: ControlName): ControlResult => {
  const r = evaluate(i).controls.find((c) => c.control === control);
  if (!r) throw new Error(`no result for ${control}`);
  return r;
};

const OIDC = { oidc: { issuerURL: 'https://id.example.com', authURL: 'http://oauth2-proxy.auth/oauth2/auth' } };

interface Case {
  name: string;
  control: ControlName;
  fragment: Fragment;
  over?: Partial<ComplianceInput>;
  result: ControlResult['result'];
  message?: string;
}

const cases: Case[] = [
  // HTTPSOnly
  { name: 'no tls section', control: 'HTTPSOnly', fragment: {}, result: 'Fail' },
  { name: 'httpsOnly false', control: 'HTTPSOnly', fragment: { tls: { httpsOnly: false, hsts: {} } }, result: 'Fail' },
  { name: 'an Ingress without tls', control: 'HTTPSOnly', fragment: { tls: { hsts: {} } }, over: { ingresses: [ingress('shop'), ingress('bare', false)] }, result: 'Warn', message: 'Ingress bare has no tls' },
  { name: 'no hsts', control: 'HTTPSOnly', fragment: { tls: { httpsOnly: true } }, result: 'Warn', message: 'without HSTS' },
  { name: 'hsts', control: 'HTTPSOnly', fragment: { tls: { hsts: {} } }, result: 'Pass' },
  { name: 'hsts, Service targets only', control: 'HTTPSOnly', fragment: { tls: { hsts: {} } }, over: { ingresses: [] }, result: 'Pass' },

  // Authentication
  { name: 'none', control: 'Authentication', fragment: {}, result: 'Fail' },
  { name: 'oidc', control: 'Authentication', fragment: { authentication: OIDC }, result: 'Pass', message: 'authentication by oidc' },
  { name: 'mtls', control: 'Authentication', fragment: { authentication: { mtls: { caSecretRef: 'ca' } } }, result: 'Pass', message: 'authentication by mtls' },
  { name: 'external', control: 'Authentication', fragment: { authentication: { external: { authURL: 'http://authz/check' } } }, result: 'Pass', message: 'authentication by external' },

  // Authorization
  { name: 'no authentication', control: 'Authorization', fragment: { authorization: { rules: [{ methods: ['GET'], paths: ['/'] }] } }, result: 'Fail' },
  { name: 'authentication without authorization', control: 'Authorization', fragment: { authentication: OIDC }, result: 'Warn' },
  { name: 'default Allow', control: 'Authorization', fragment: { authentication: OIDC, authorization: { defaultAction: 'Allow', rules: [{ methods: ['GET'], paths: ['/'] }] } }, result: 'Warn' },
  { name: 'default Deny without rules', control: 'Authorization', fragment: { authentication: OIDC, authorization: {} }, result: 'Warn' },
  { name: 'default Deny with rules', control: 'Authorization', fragment: { authentication: OIDC, authorization: { rules: [{ methods: ['GET'], paths: ['/v1/*'] }] } }, result: 'Pass', message: '1 allow rule' },

  // RateLimit
  { name: 'none', control: 'RateLimit', fragment: {}, result: 'Fail' },
  { name: 'per second per client', control: 'RateLimit', fragment: { rateLimit: { requestsPerSecond: 10 } }, result: 'Pass', message: 'limited to 10/s per client' },
  { name: 'per minute per header', control: 'RateLimit', fragment: { rateLimit: { requestsPerMinute: 600, key: 'Header', header: 'X-Client' } }, result: 'Pass', message: 'limited to 600/min per header X-Client' },

  // IPAccess
  { name: 'none', control: 'IPAccess', fragment: {}, result: 'NotApplicable' },
  { name: 'empty lists', control: 'IPAccess', fragment: { ipAccess: { allow: [], deny: [] } }, result: 'NotApplicable' },
  { name: 'allow 0.0.0.0/0', control: 'IPAccess', fragment: { ipAccess: { allow: ['10.0.0.0/8', '0.0.0.0/0'] } }, result: 'Warn' },
  { name: 'allow ::/0', control: 'IPAccess', fragment: { ipAccess: { allow: ['::/0'] } }, result: 'Warn' },
  { name: 'allow a range', control: 'IPAccess', fragment: { ipAccess: { allow: ['10.0.0.0/8'] } }, result: 'Pass', message: '1 allowed and 0 denied' },
  { name: 'deny only', control: 'IPAccess', fragment: { ipAccess: { deny: ['192.0.2.0/24', '198.51.100.0/24'] } }, result: 'Pass', message: '0 allowed and 2 denied' },

  // CORS
  { name: 'none', control: 'CORS', fragment: {}, result: 'NotApplicable' },
  { name: 'wildcard origin', control: 'CORS', fragment: { cors: { allowOrigins: ['*'] } }, result: 'Warn' },
  { name: 'listed origins', control: 'CORS', fragment: { cors: { allowOrigins: ['https://a.example.com', 'https://b.example.com'] } }, result: 'Pass', message: '2 allowed origin' },

  // RequestLimits
  { name: 'none', control: 'RequestLimits', fragment: {}, result: 'Fail' },
  { name: 'methods without body limit', control: 'RequestLimits', fragment: { requestLimits: { allowedMethods: ['GET'] } }, result: 'Fail' },
  { name: 'body limit only', control: 'RequestLimits', fragment: { requestLimits: { maxBodySize: '1Mi' } }, result: 'Warn' },
  { name: 'body limit and methods', control: 'RequestLimits', fragment: { requestLimits: { maxBodySize: '1Mi', allowedMethods: ['GET', 'POST'] } }, result: 'Pass', message: 'methods GET, POST' },

  // WAF
  { name: 'none', control: 'WAF', fragment: {}, result: 'Warn' },
  { name: 'disabled', control: 'WAF', fragment: { waf: { enabled: false } }, result: 'Warn' },
  { name: 'Detect', control: 'WAF', fragment: { waf: { mode: 'Detect' } }, result: 'Warn' },
  { name: 'Block', control: 'WAF', fragment: { waf: {} }, result: 'Pass' },

  // NetworkIsolation
  { name: 'none', control: 'NetworkIsolation', fragment: {}, result: 'Fail' },
  { name: 'defaultDeny false', control: 'NetworkIsolation', fragment: { network: { defaultDeny: false } }, result: 'Fail' },
  {
    name: 'a Service not isolable',
    control: 'NetworkIsolation',
    fragment: { network: {} },
    over: { networkSkipped: [{ service: 'legacy', reason: 'no selector' }] },
    result: 'Warn',
    message: 'not isolated: legacy (no selector)',
  },
  { name: 'default deny', control: 'NetworkIsolation', fragment: { network: {} }, result: 'Pass', message: '1 allowed caller group' },

  // Logging
  { name: 'none', control: 'Logging', fragment: {}, result: 'Warn' },
  { name: 'access log off', control: 'Logging', fragment: { logging: { accessLog: false } }, result: 'Fail' },
  { name: 'access log on', control: 'Logging', fragment: { logging: {} }, result: 'Pass' },
];

describe('evaluate: each control', () => {
  it.each(cases)('$control: $name → $result', ({ control, fragment, over, result, message }) => {
    const r = resultOf(input(fragment, over), control);
    expect(r.result).toBe(result);
    if (message) expect(r.message).toContain(message);
    // Fail and Warn say how to fix; Pass and NotApplicable do not.
    if (result === 'Fail' || result === 'Warn') expect(r.remediation).toBeTruthy();
    else expect(r.remediation).toBeUndefined();
  });

  it('returns one result per control, in a stable order', () => {
    expect(evaluate(input()).controls.map((c) => c.control)).toEqual([
      'HTTPSOnly',
      'Authentication',
      'Authorization',
      'RateLimit',
      'IPAccess',
      'CORS',
      'RequestLimits',
      'WAF',
      'NetworkIsolation',
      'Logging',
    ]);
  });
});

describe('evaluate: fidelity', () => {
  it.each<{ name: string; control: ControlName; fragment: Fragment; fidelity: FidelityReport; over?: Partial<ComplianceInput>; result: ControlResult['result']; enforcement: ControlResult['enforcement'] }>([
    {
      name: 'Unsupported turns Pass into Fail',
      control: 'Authorization',
      fragment: { authentication: { mtls: { caSecretRef: 'ca' } }, authorization: { rules: [{ methods: ['GET'], paths: ['/'] }] } },
      fidelity: { Authorization: { fidelity: 'Unsupported', reason: 'no per-route authorization' } },
      result: 'Fail',
      enforcement: 'NotEnforced',
    },
    {
      name: 'Unsupported turns Warn into Fail',
      control: 'RequestLimits',
      fragment: { requestLimits: { maxBodySize: '1Mi' } },
      fidelity: { RequestLimits: { fidelity: 'Unsupported', reason: 'x' } },
      result: 'Fail',
      enforcement: 'NotEnforced',
    },
    {
      name: 'Unsupported leaves NotApplicable alone',
      control: 'CORS',
      fragment: {},
      fidelity: { CORS: { fidelity: 'Unsupported', reason: 'x' } },
      result: 'NotApplicable',
      enforcement: 'NotEnforced',
    },
    {
      name: 'Approximated keeps Pass',
      control: 'RateLimit',
      fragment: { rateLimit: { requestsPerSecond: 5 } },
      fidelity: { RateLimit: { fidelity: 'Approximated', reason: 'per replica' } },
      result: 'Pass',
      enforcement: 'Enforced',
    },
    {
      name: 'Delegated turns Pass into Warn: enforced, but decided by a component the operator does not configure',
      control: 'Authentication',
      fragment: { authentication: OIDC },
      fidelity: { Authentication: { fidelity: 'Delegated', reason: 'the endpoint decides' } },
      result: 'Warn',
      enforcement: 'Enforced',
    },
    {
      name: 'an unenforced part turns Pass into Fail, whatever the fidelity',
      control: 'RequestLimits',
      fragment: { requestLimits: { maxBodySize: '1Mi', allowedMethods: ['GET'] } },
      fidelity: { RequestLimits: { fidelity: 'Approximated', reason: 'x', unenforced: ['method allow-list'] } },
      result: 'Fail',
      enforcement: 'NotEnforced',
    },
    {
      name: 'a declared control that no renderer reports is a Fail, never a silent Pass',
      control: 'CORS',
      fragment: { cors: { allowOrigins: ['https://a.example.com'] } },
      fidelity: {},
      result: 'Fail',
      enforcement: 'NotEnforced',
    },
    {
      name: 'NetworkIsolation is judged by fidelity even without an Ingress',
      control: 'NetworkIsolation',
      fragment: { network: {} },
      fidelity: { NetworkIsolation: { fidelity: 'Unsupported', reason: 'x' } },
      over: { ingresses: [] },
      result: 'Fail',
      enforcement: 'NotEnforced',
    },
  ])('$name', ({ control, fragment, fidelity, over, result, enforcement }) => {
    const r = resultOf(input(fragment, { fidelity, ...over }), control);
    expect(r.result).toBe(result);
    expect(r.enforcement).toBe(enforcement);
    expect(r.fidelity).toBe(fidelity[control]?.fidelity);
  });

  it('explains an Unsupported failure and how to fix it', () => {
    const r = resultOf(
      input({ authentication: OIDC, authorization: { rules: [{ methods: ['GET'], paths: ['/'] }] } }, { fidelity: { Authorization: { fidelity: 'Unsupported', reason: 'no per-route authorization' } } }),
      'Authorization',
    );
    expect(r.message).toContain('nothing in the request path enforces it: no per-route authorization');
    expect(r.remediation).toContain('sidecar');
  });

  it('appends the reason of a non-Exact note to the message, not of an Exact one', () => {
    const approx = resultOf(input({ rateLimit: { requestsPerSecond: 5 } }, { fidelity: { RateLimit: { fidelity: 'Approximated', reason: 'per replica' } } }), 'RateLimit');
    expect(approx.message).toBe('limited to 5/s per client (Approximated: per replica)');
    const exact = resultOf(input({ network: {} }, { fidelity: { NetworkIsolation: { fidelity: 'Exact', reason: 'needs a CNI' } } }), 'NetworkIsolation');
    expect(exact.message).toBe('default deny, 1 allowed caller group(s)');
    expect(exact.fidelity).toBe('Exact');
  });

  it('names the unenforced parts in the message', () => {
    const r = resultOf(
      input({ requestLimits: { maxBodySize: '1Mi', allowedMethods: ['GET'] } }, { fidelity: { RequestLimits: { fidelity: 'Approximated', reason: 'x', unenforced: ['method allow-list'] } } }),
      'RequestLimits',
    );
    expect(r.message).toContain('declared but not enforced: method allow-list');
  });

  it('escapes control characters in messages', () => {
    const r = resultOf(input({ rateLimit: { requestsPerSecond: 5 } }, { fidelity: { RateLimit: { fidelity: 'Approximated', reason: 'class \u001b[2J' } } }), 'RateLimit');
    expect(r.message).not.toContain('\u001b');
    expect(r.message).toContain('\\u001b[2J');
  });

  it('caps the message at 1024 characters', () => {
    const r = resultOf(input({ rateLimit: { requestsPerSecond: 5 } }, { fidelity: { RateLimit: { fidelity: 'Approximated', reason: 'x'.repeat(2000) } } }), 'RateLimit');
    expect(r.message).toHaveLength(1024);
  });
});

describe('evaluate: enforcement', () => {
  const fragment: Fragment = { tls: { hsts: {} }, rateLimit: { requestsPerSecond: 5 }, waf: { mode: 'Detect' } };

  it('Enforce: Pass and Warn are Enforced, Fail and NotApplicable are not', () => {
    const byControl = Object.fromEntries(evaluate(input(fragment)).controls.map((c) => [c.control, [c.result, c.enforcement]]));
    expect(byControl).toMatchObject({
      HTTPSOnly: ['Pass', 'Enforced'],
      RateLimit: ['Pass', 'Enforced'],
      WAF: ['Warn', 'Enforced'],
      Authentication: ['Fail', 'NotEnforced'],
      CORS: ['NotApplicable', 'NotEnforced'],
    });
  });

  it('Audit mode: every control is Audit', () => {
    const out = evaluate(input({ ...fragment, mode: 'Audit' }));
    expect(new Set(out.controls.map((c) => c.enforcement))).toEqual(new Set(['Audit']));
  });

  it('Audit mode wins over a missing target', () => {
    const out = evaluate(input({ ...fragment, mode: 'Audit' }, { anyTarget: false, ingresses: [] }));
    expect(new Set(out.controls.map((c) => c.enforcement))).toEqual(new Set(['Audit']));
  });

  it('no target: nothing is enforced, results are still computed', () => {
    const out = evaluate(input(fragment, { anyTarget: false, ingresses: [] }));
    expect(new Set(out.controls.map((c) => c.enforcement))).toEqual(new Set(['NotEnforced']));
    expect(out.controls.find((c) => c.control === 'RateLimit')?.result).toBe('Pass');
  });
});

describe('evaluate: score', () => {
  const allPass: Fragment = {
    tls: { httpsOnly: true, hsts: { maxAgeSeconds: 31536000, includeSubDomains: true } },
    authentication: OIDC,
    authorization: { defaultAction: 'Deny', rules: [{ methods: ['GET', 'POST'], paths: ['/v1/*'], requireScopes: ['orders:read'] }] },
    rateLimit: { requestsPerSecond: 20, burst: 40 },
    ipAccess: { allow: ['10.0.0.0/8'] },
    cors: { allowOrigins: ['https://shop.example.com'] },
    requestLimits: { maxBodySize: '1Mi', allowedMethods: ['GET', 'POST'], allowedContentTypes: ['application/json'] },
    waf: { enabled: true, mode: 'Block' },
    network: { defaultDeny: true },
    logging: { accessLog: true },
  };

  it('weights sum to 100 and cover every control', () => {
    expect(Object.values(WEIGHTS).reduce((a, b) => a + b, 0)).toBe(100);
    expect(Object.keys(WEIGHTS).sort()).toEqual(evaluate(input()).controls.map((c) => c.control).sort());
  });

  it('an all-Pass spec on ingress-nginx with the sidecar in the path: only what they cannot vouch for is not Pass', () => {
    const s = spec({ ...allPass, sidecar: { port: 8080, appPort: 3000 } });
    const ingresses = [ingress('shop')];
    const rendered = render({
      policy: { name: 'p', namespace: 'shop', uid: 'u' },
      spec: s,
      ingresses,
      services: [{ metadata: { name: 'shop' }, spec: { selector: { app: 'shop' }, ports: [{ port: 80, targetPort: 8080 }] } }],
      settings: defaultSettings,
    });
    const out = evaluate({ spec: s, mode: 'Enforce', ingresses, anyTarget: true, fidelity: rendered.fidelity, networkSkipped: rendered.networkSkipped });
    // HSTS and the ModSecurity engine are the controller ConfigMap's, the auth endpoint is the user's, and
    // nothing evaluates the authorization rules yet.
    expect(out.controls.filter((c) => c.result !== 'Pass').map((c) => [c.control, c.result, c.fidelity])).toEqual([
      ['HTTPSOnly', 'Warn', 'Delegated'],
      ['Authentication', 'Warn', 'Delegated'],
      ['Authorization', 'Fail', 'Unsupported'],
      ['WAF', 'Warn', 'Delegated'],
    ]);
    expect(out.score).toBe(Math.round(100 - 15 / 2 - 20 / 2 - 10 - 8 / 2));
    expect(out.violations).toBe(1);
  });

  it('Audit mode: the score is what is protected now (nothing), auditScore what enforcing would give', () => {
    const s = spec({ ...allPass, mode: 'Audit' });
    const out = evaluate({ spec: s, mode: 'Audit', ingresses: [ingress('shop')], anyTarget: true, fidelity: EXACT, networkSkipped: [] });
    expect(out.score).toBe(0);
    expect(out.auditScore).toBe(100);
    expect(new Set(out.controls.map((c) => c.enforcement))).toEqual(new Set(['Audit']));
  });

  it('without a live target nothing is protected: score 0, nothing Enforced', () => {
    const out = evaluate({ ...input(allPass), anyTarget: false });
    expect(out.score).toBe(0);
    expect(out.controls.some((c) => c.enforcement === 'Enforced')).toBe(false);
  });

  it('an empty spec (only targetRefs) scores low', () => {
    const out = evaluate(input());
    // Fail: HTTPS 15, Authentication 20, Authorization 10, RateLimit 15, RequestLimits 10, Network 10;
    // Warn: WAF 8 and Logging 4 earn half; IPAccess and CORS are NotApplicable and leave the denominator.
    expect(out.score).toBe(Math.round((6 / 92) * 100));
    expect(out.score).toBeLessThan(10);
    expect(out.violations).toBe(6);
  });

  it('NotApplicable controls do not lower the score', () => {
    expect(evaluate(input({ ...allPass, ipAccess: undefined, cors: undefined })).score).toBe(100);
  });

  it('a Warn earns half its weight', () => {
    const out = evaluate(input({ ...allPass, waf: { mode: 'Detect' } }));
    expect(out.score).toBe(96); // 100 - 8/2
    expect(out.violations).toBe(0);
  });

  it('a Fail earns nothing and counts as a violation', () => {
    const out = evaluate(input({ ...allPass, authentication: undefined }));
    // Authentication (20) and Authorization (10) fail.
    expect(out.score).toBe(70);
    expect(out.violations).toBe(2);
  });
});
