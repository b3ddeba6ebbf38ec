// docs/fidelity.md and its table, computed from the renderers themselves (npm run gen:docs),
// so the documentation cannot drift from what the operator reports in status.
import { ApiSecurityPolicySpec, type ApiSecurityPolicySpecInput, type ControlName } from '../api/v1alpha1.ts';
import { renderHaproxy } from './haproxy.ts';
import { renderIngressNginx } from './ingress-nginx.ts';
import { sidecarFidelity } from './sidecar-nginx.ts';
import { renderTraefik } from './traefik.ts';
import { routeFidelity } from './traefik-routes.ts';
import { guardServiceOf, renderEnvoyGateway } from './envoy-gateway.ts';
import type { FidelityReport, RateLimitStore } from './types.ts';

const FULL: ApiSecurityPolicySpecInput = {
  targetRefs: [{ group: 'networking.k8s.io', kind: 'Ingress', name: 'api' }],
  tls: { httpsOnly: true, hsts: { maxAgeSeconds: 31536000 } },
  authentication: { oidc: { issuerURL: 'https://id.example.com', authURL: 'http://oauth2-proxy.auth/oauth2/auth' } },
  authorization: { defaultAction: 'Deny', rules: [{ methods: ['GET'], paths: ['/v1/*'] }] },
  rateLimit: { requestsPerSecond: 10, burst: 20, maxConnections: 10 },
  ipAccess: { allow: ['10.0.0.0/8'], deny: ['10.9.0.0/16'] },
  cors: { allowOrigins: ['https://app.example.com'] },
  requestLimits: { maxBodySize: '1Mi', allowedMethods: ['GET', 'POST'], allowedContentTypes: ['application/json'] },
  waf: { enabled: true, mode: 'Block' },
  logging: { accessLog: true },
  sidecar: { appPort: 3000 },
};
const MTLS: ApiSecurityPolicySpecInput = { ...FULL, authentication: { mtls: { caSecretRef: 'client-ca' } } };
/** The same policy without authURL: the apisec guard decides (given the operator's --guard-url). */
const GUARDED: ApiSecurityPolicySpecInput = { ...FULL, authentication: { oidc: { issuerURL: 'https://id.example.com', audiences: ['api'] } } };
const GUARD = 'http://apisec-guard.apisec-system.svc:8080/check/ns/api';
/** The same policy with a Global limit, given the operator's --rate-limit-store (no credentials). */
const GLOBAL: ApiSecurityPolicySpecInput = { ...FULL, rateLimit: { requestsPerSecond: 10, burst: 20, scope: 'Global' } };
const STORE: RateLimitStore = { endpoint: 'redis.apisec-system.svc:6379', credentials: false };

/** `guard`: the guard's check URL, when the operator knows one. */
export type Column = { name: string; report: (spec: ApiSecurityPolicySpec, guard?: string, store?: RateLimitStore) => FidelityReport };

export const COLUMNS: Column[] = [
  { name: 'ingress-nginx', report: (s, g, store) => renderIngressNginx(s, 'ns', g, store).fidelity },
  { name: 'HAProxy (haproxytech)', report: (s) => renderHaproxy(s).fidelity },
  { name: 'Traefik', report: (s, g, store) => renderTraefik({ name: 'api', namespace: 'ns', uid: 'u' }, s, 'api', { guard: g, trusted: [], store }).fidelity },
  {
    name: 'Traefik (HTTPRoute, ExtensionRef filters)',
    report: (s, g, store) => ({ ...renderTraefik({ name: 'api', namespace: 'ns', uid: 'u' }, s, 'api', { guard: g, trusted: [], store }).fidelity, ...routeFidelity(s) }),
  },
  { name: 'sidecar (nginx)', report: (s, g) => sidecarFidelity(s, { guard: g, trusted: [] }) },
  {
    name: 'Envoy Gateway (HTTPRoute; schema-proven, no traffic test)',
    report: (s, g) => renderEnvoyGateway({ name: 'api', namespace: 'ns', uid: 'u' }, s, [{ name: 'api' }], { guard: guardServiceOf(g) }).fidelity,
  },
];

const CONTROLS: ControlName[] = ['HTTPSOnly', 'Authentication', 'Authorization', 'RateLimit', 'IPAccess', 'CORS', 'RequestLimits', 'WAF', 'Logging'];

const cell = (r: FidelityReport, c: ControlName): string => {
  const n = r[c];
  if (!n) return '—';
  const base = n.reason && n.fidelity !== 'Exact' ? `**${n.fidelity}**: ${n.reason}` : `**${n.fidelity}**${n.reason ? ` (${n.reason})` : ''}`;
  return n.unenforced?.length ? `${base}; **not enforced**: ${n.unenforced.join('; ')}` : base;
};

export function fidelityTable(columns: Column[] = COLUMNS): string {
  const full = ApiSecurityPolicySpec.parse(FULL);
  const mtls = ApiSecurityPolicySpec.parse(MTLS);
  const reports = columns.map((col) => col.report(full));
  const mtlsReports = columns.map((col) => col.report(mtls));
  const guarded = ApiSecurityPolicySpec.parse(GUARDED);
  const guardReports = columns.map((col) => col.report(guarded, GUARD));
  const global = ApiSecurityPolicySpec.parse(GLOBAL);
  const globalReports = columns.map((col) => col.report(global, undefined, STORE));
  const rows = CONTROLS.flatMap((c) => {
    const row = `| ${c}${c === 'Authentication' ? ' (OIDC, JWT, API key, external, with authURL)' : c === 'Authorization' ? ' (with authURL, or mTLS)' : ''} | ${reports.map((r) => cell(r, c)).join(' | ')} |`;
    if (c === 'Authentication') {
      return [
        row,
        `| Authentication (OIDC, JWT, API key without authURL: the apisec guard) | ${guardReports.map((r) => cell(r, c)).join(' | ')} |`,
        `| Authentication (mTLS) | ${mtlsReports.map((r) => cell(r, c)).join(' | ')} |`,
      ];
    }
    if (c === 'Authorization') return [row, `| Authorization (the apisec guard) | ${guardReports.map((r) => cell(r, c)).join(' | ')} |`];
    if (c === 'RateLimit') return [row, `| RateLimit (scope Global, --rate-limit-store without credentials, no maxConnections) | ${globalReports.map((r) => cell(r, c)).join(' | ')} |`];
    return [row];
  });
  return [`| control | ${columns.map((c) => c.name).join(' | ')} |`, `|---|${columns.map(() => '---').join('|')}|`, ...rows].join('\n');
}

/** The whole of docs/fidelity.md. */
export function fidelityDoc(): string {
  return `<!-- Generated by \`npm run gen:docs\` from src/render. Do not edit. -->
# Fidelity per control and data plane

The same fidelity is reported per control in each policy's \`status.controls[].fidelity\`, with the reason
in the message. The rule (docs/compliance.md): a control is \`Pass\`/\`Enforced\` only when every part the
policy declares is enforced by a component in the request path that the operator configured.

- **Exact**: what the operator writes enforces the control as declared.
- **Approximated**: it enforces it, with the difference named (per replica, 301 instead of 308).
- **Delegated**: a component the operator does not configure decides (the user's auth endpoint, the
  controller's global ConfigMap); the operator cannot verify it, so the control is at best a \`Warn\`.
- **Unsupported**: nothing enforces it: in Enforce mode a declared control is a \`Fail\`. A note can also
  name declared parts that are not enforced (a method allow-list on ingress-nginx): those make the control
  a \`Fail\` whatever its fidelity.

The sidecar's column applies only when the sidecar is in the request path: every port of every Service
behind the targets sends traffic to the sidecar's port. Then, where it enforces a control better than the
data plane, its fidelity is reported instead. A Service target without an Ingress is enforced only by the
sidecar and the NetworkPolicy. NetworkIsolation is a Kubernetes NetworkPolicy for every data plane (Exact,
given a CNI that enforces NetworkPolicy).

${fidelityTable()}

Status codes proven by real traffic are listed in \`docs/sidecar.md\` (nginx) and in the Traefik traffic
test (\`test/integration/traefik-traffic.test.ts\`).
`;
}
