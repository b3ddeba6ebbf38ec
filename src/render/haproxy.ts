// Annotations for the HAProxy Technologies Kubernetes Ingress Controller (haproxytech/kubernetes-ingress
// 3.x, prefix haproxy.org/). Its per-Ingress annotations cover redirects, rate limits, source lists
// and CORS; client certificates, external auth, body limits and the WAF are ConfigMap-wide or
// Enterprise-only there, and are reported as such rather than faked. No *-config-snippet is generated.
import type { ApiSecurityPolicySpec } from '../api/v1alpha1.ts';
import type { ProviderRender } from './ingress-nginx.ts';
import { unenforcedAuthorization } from './delegation.ts';
import { globalCountGap, subjectNote, withWindows } from './rate-limit-scope.ts';
import type { FidelityReport } from './types.ts';

const P = 'haproxy.org/';

/** A regex that matches exactly the listed origins (their characters are [a-z0-9.:/-*] by schema). */
export function originRegex(origins: string[]): string {
  const alternatives = origins.map((o) => o.replace(/[.]/g, '\\.').replace(/^(https?:\/\/)\*\\\./, '$1[a-z0-9-]+\\.'));
  return `^(${alternatives.join('|')})$`;
}

type Part = (spec: ApiSecurityPolicySpec, a: Record<string, string>, f: FidelityReport) => void;

const https: Part = (spec, a, f) => {
  if (!spec.tls?.httpsOnly) return;
  a[`${P}ssl-redirect`] = 'true';
  a[`${P}ssl-redirect-code`] = '301';
  const reasons = ['redirects with 301: the controller offers 301, 302 or 303, not 308'];
  const h = spec.tls.hsts;
  if (h) {
    const value = [`max-age=${h.maxAgeSeconds}`, ...(h.includeSubDomains ? ['includeSubDomains'] : []), ...(h.preload ? ['preload'] : [])].join('; ');
    a[`${P}response-set-header`] = `Strict-Transport-Security "${value}"`;
  }
  f.HTTPSOnly = { fidelity: 'Approximated', reason: reasons.join('; ') };
};

const authentication: Part = (spec, _a, f) => {
  if (!spec.authentication) return;
  f.Authentication = spec.authentication.mtls
    ? { fidelity: 'Unsupported', reason: 'client certificates (client-ca) are set controller-wide in its ConfigMap, not per Ingress' }
    : { fidelity: 'Unsupported', reason: 'the open-source controller has no external auth per Ingress (basic auth only)' };
};

const authorization: Part = (spec, _a, f) => {
  if (!spec.authorization) return;
  const unenforced = unenforcedAuthorization(spec);
  f.Authorization = { fidelity: 'Unsupported', reason: 'no per-route authorization', ...(unenforced.length ? { unenforced } : {}) };
};

const rateLimit: Part = (spec, a, f) => {
  const rl = spec.rateLimit;
  if (!rl) return;
  const noGuard = { how: 'none', passes429: false };
  const bySubject = subjectNote(spec, noGuard);
  if (bySubject) return void (f.RateLimit = withWindows(bySubject, spec, noGuard));
  const perSecond = rl.requestsPerSecond !== undefined;
  a[`${P}rate-limit-requests`] = String(rl.requestsPerSecond ?? rl.requestsPerMinute);
  a[`${P}rate-limit-period`] = perSecond ? '1s' : '1m';
  a[`${P}rate-limit-status-code`] = '429';
  if (rl.maxConnections !== undefined) a[`${P}pod-maxconn`] = String(rl.maxConnections);
  // No separate burst: stricter than declared, so an approximation rather than a gap.
  const reasons = ['counted per controller replica over a fixed period, without a separate burst'];
  if (rl.maxConnections !== undefined) reasons.push('maxConnections becomes pod-maxconn: connections per backend pod, not per client');
  const unenforced = [...(rl.key === 'Header' ? [`key Header ${rl.header ?? ''}: the controller counts per source address only`] : []), ...globalCountGap(spec, 'HAProxy')];
  f.RateLimit = withWindows({ fidelity: 'Approximated', reason: reasons.join('; '), ...(unenforced.length ? { unenforced } : {}) }, spec, noGuard);
};

const ipAccess: Part = (spec, a, f) => {
  if (!spec.ipAccess) return;
  if (spec.ipAccess.allow?.length) a[`${P}allow-list`] = spec.ipAccess.allow.join(', ');
  if (spec.ipAccess.deny?.length) a[`${P}deny-list`] = spec.ipAccess.deny.join(', ');
  f.IPAccess = { fidelity: 'Exact' };
};

const cors: Part = (spec, a, f) => {
  const c = spec.cors;
  if (!c) return;
  a[`${P}cors-enable`] = 'true';
  a[`${P}cors-allow-origin`] = c.allowOrigins.includes('*') ? '*' : c.allowOrigins.length === 1 && !c.allowOrigins[0]?.includes('*') ? (c.allowOrigins[0] ?? '') : originRegex(c.allowOrigins);
  if (c.allowMethods) a[`${P}cors-allow-methods`] = c.allowMethods.join(', ');
  if (c.allowHeaders?.length) a[`${P}cors-allow-headers`] = c.allowHeaders.join(', ');
  a[`${P}cors-allow-credentials`] = String(c.allowCredentials);
  a[`${P}cors-max-age`] = `${c.maxAgeSeconds}s`;
  f.CORS = c.exposeHeaders?.length ? { fidelity: 'Approximated', reason: 'no Access-Control-Expose-Headers annotation' } : { fidelity: 'Exact' };
};

const unsupported: Part = (spec, _a, f) => {
  if (spec.requestLimits) f.RequestLimits = { fidelity: 'Unsupported', reason: 'no per-Ingress body size, method or content-type limit (use the sidecar)' };
  if (spec.waf?.enabled) f.WAF = { fidelity: 'Unsupported', reason: 'the WAF is part of HAProxy Enterprise only' };
  if (spec.logging) f.Logging = { fidelity: 'Delegated', reason: 'logging is set controller-wide (syslog-server, log-format), which the operator does not configure' };
};

const PARTS: Part[] = [https, authentication, authorization, rateLimit, ipAccess, cors, unsupported];

export function renderHaproxy(spec: ApiSecurityPolicySpec): ProviderRender {
  const annotations: Record<string, string> = {};
  const fidelity: FidelityReport = {};
  for (const part of PARTS) part(spec, annotations, fidelity);
  return { annotations, fidelity };
}
