// ingress-nginx annotations for one policy. Values are built only from schema-validated fields (see
// src/api/patterns.ts), and never as a `*-snippet`: snippets are arbitrary nginx config and are how
// annotation injection happens. What ingress-nginx cannot express per Ingress is reported, not faked.
import type { ApiSecurityPolicySpec } from '../api/v1alpha1.ts';
import { sizeToBytes } from '../api/patterns.ts';
import { delegatedAuthentication, delegatedEndpoint, guardDecides, guardFidelity, guardResponseHeaders, unenforcedAuthorization } from './delegation.ts';
import { globalCountGap, subjectNote, withWindows } from './rate-limit-scope.ts';
import type { FidelityReport, RateLimitStore } from './types.ts';

const P = 'nginx.ingress.kubernetes.io/';

export interface ProviderRender {
  annotations: Record<string, string>;
  fidelity: FidelityReport;
}

/** nginx size syntax (k/m/g are binary there): the largest exact unit. */
export function nginxSize(bytes: number): string {
  if (bytes % (1024 * 1024 * 1024) === 0) return `${bytes / (1024 * 1024 * 1024)}g`;
  if (bytes % (1024 * 1024) === 0) return `${bytes / (1024 * 1024)}m`;
  if (bytes % 1024 === 0) return `${bytes / 1024}k`;
  return String(bytes);
}

/** `at.guard`: the guard's check URL for this policy, when the operator knows a guard. */
type Part = (spec: ApiSecurityPolicySpec, a: Record<string, string>, f: FidelityReport, at: { namespace: string; guard: string | undefined; store?: RateLimitStore | undefined }) => void;

const https: Part = (spec, a, f) => {
  if (!spec.tls?.httpsOnly) return;
  a[`${P}ssl-redirect`] = 'true';
  a[`${P}force-ssl-redirect`] = 'true';
  const h = spec.tls.hsts;
  // ingress-nginx has no per-Ingress HSTS annotation: the header comes from the controller's ConfigMap.
  f.HTTPSOnly = h
    ? {
        fidelity: 'Delegated',
        reason: `the redirect is written per Ingress (308); HSTS is sent only as the controller ConfigMap sets it (hsts, hsts-max-age: ${h.maxAgeSeconds}${h.includeSubDomains ? ', hsts-include-subdomains' : ''}${h.preload ? ', hsts-preload' : ''}), which the operator does not configure`,
      }
    : { fidelity: 'Exact' };
};

const authentication: Part = (spec, a, f, { namespace, guard }) => {
  const auth = spec.authentication;
  if (!auth) return;
  if (guardDecides(auth)) {
    // ingress-nginx sends X-Original-Method and X-Original-URL itself, overwriting any a client sent.
    if (guard !== undefined) {
      a[`${P}auth-url`] = guard;
      a[`${P}auth-response-headers`] = guardResponseHeaders(auth).join(',');
    }
    Object.assign(f, guardFidelity(spec, guard, 'auth-url'));
    return;
  }
  const endpoint = delegatedEndpoint(auth);
  if (endpoint !== undefined) {
    a[`${P}auth-url`] = endpoint;
    if (auth.oidc?.signinURL) a[`${P}auth-signin`] = auth.oidc.signinURL;
    if (auth.external?.responseHeaders?.length) a[`${P}auth-response-headers`] = auth.external.responseHeaders.join(',');
    f.Authentication = delegatedAuthentication(auth, 'auth-url');
  } else if (auth.mtls) {
    a[`${P}auth-tls-secret`] = `${namespace}/${auth.mtls.caSecretRef}`;
    a[`${P}auth-tls-verify-client`] = 'on';
    a[`${P}auth-tls-verify-depth`] = String(auth.mtls.verifyDepth);
    a[`${P}auth-tls-pass-certificate-to-upstream`] = String(auth.mtls.passCertificateToUpstream);
    f.Authentication = { fidelity: 'Exact' };
  }
};

const authorization: Part = (spec, _a, f) => {
  if (!spec.authorization || guardDecides(spec.authentication)) return;
  const unenforced = unenforcedAuthorization(spec);
  f.Authorization = { fidelity: 'Unsupported', reason: 'ingress-nginx has no per-route authorization by method, path or scope', ...(unenforced.length ? { unenforced } : {}) };
};

/**
 * ingress-nginx decides the client address for the whole controller: its ConfigMap's use-forwarded-headers
 * and proxy-real-ip-cidr (or use-proxy-protocol) behind a load balancer. Not per Ingress, so not written.
 */
const CLIENT_ADDRESS = "the client address is what the controller ConfigMap makes it (behind a load balancer: use-forwarded-headers and proxy-real-ip-cidr, or use-proxy-protocol), which the operator does not configure";

const rateLimit: Part = (spec, a, f, { guard, store }) => {
  const rl = spec.rateLimit;
  if (!rl) return;
  const viaGuard = { guard, store, how: 'auth-url', passes429: false };
  const bySubject = subjectNote(spec, viaGuard);
  if (bySubject) return void (f.RateLimit = withWindows(bySubject, spec, viaGuard));
  const perSecond = rl.requestsPerSecond !== undefined;
  const rate = rl.requestsPerSecond ?? rl.requestsPerMinute ?? 1;
  a[`${P}${perSecond ? 'limit-rps' : 'limit-rpm'}`] = String(rate);
  // ingress-nginx takes burst as a whole multiple of the rate, in the rate's own unit (its nginx burst
  // is limit-rps × multiplier or limit-rpm × multiplier). Always written: its own default is 5×, ours 1×.
  a[`${P}limit-burst-multiplier`] = String(rl.burst === undefined ? 1 : Math.max(1, Math.ceil(rl.burst / rate)));
  if (rl.maxConnections !== undefined) a[`${P}limit-connections`] = String(rl.maxConnections);
  const reasons = ['limits are per controller replica', 'answers 503 unless the controller ConfigMap sets limit-req-status-code: 429', CLIENT_ADDRESS];
  if (rl.burst !== undefined) reasons.push('burst rounded up to a multiple of the rate');
  const unenforced = [...(rl.key === 'Header' ? [`key Header ${rl.header ?? ''}: ingress-nginx counts per client address only`] : []), ...globalCountGap(spec, 'ingress-nginx')];
  f.RateLimit = withWindows({ fidelity: 'Approximated', reason: reasons.join('; '), ...(unenforced.length ? { unenforced } : {}) }, spec, viaGuard);
};

const ipAccess: Part = (spec, a, f) => {
  if (!spec.ipAccess) return;
  if (spec.ipAccess.allow?.length) a[`${P}allowlist-source-range`] = spec.ipAccess.allow.join(',');
  if (spec.ipAccess.deny?.length) a[`${P}denylist-source-range`] = spec.ipAccess.deny.join(',');
  f.IPAccess = { fidelity: 'Exact', reason: CLIENT_ADDRESS };
};

const cors: Part = (spec, a, f) => {
  const c = spec.cors;
  if (!c) return;
  a[`${P}enable-cors`] = 'true';
  a[`${P}cors-allow-origin`] = c.allowOrigins.join(', ');
  if (c.allowMethods) a[`${P}cors-allow-methods`] = c.allowMethods.join(', ');
  if (c.allowHeaders?.length) a[`${P}cors-allow-headers`] = c.allowHeaders.join(', ');
  if (c.exposeHeaders?.length) a[`${P}cors-expose-headers`] = c.exposeHeaders.join(', ');
  a[`${P}cors-allow-credentials`] = String(c.allowCredentials);
  a[`${P}cors-max-age`] = String(c.maxAgeSeconds);
  f.CORS = { fidelity: 'Exact' };
};

const requestLimits: Part = (spec, a, f) => {
  const limits = spec.requestLimits;
  if (!limits) return;
  const unenforced: string[] = [];
  if (limits.maxBodySize) a[`${P}proxy-body-size`] = nginxSize(sizeToBytes(limits.maxBodySize) ?? 0);
  if (limits.allowedMethods) unenforced.push('method allow-list');
  if (limits.allowedContentTypes) unenforced.push('content-type allow-list');
  f.RequestLimits =
    unenforced.length === 0
      ? { fidelity: 'Exact' }
      : { fidelity: limits.maxBodySize ? 'Approximated' : 'Unsupported', reason: `ingress-nginx cannot express: ${unenforced.join(', ')} (the sidecar can)`, unenforced };
};

const waf: Part = (spec, a, f) => {
  if (!spec.waf) return;
  a[`${P}enable-modsecurity`] = String(spec.waf.enabled);
  a[`${P}enable-owasp-core-rules`] = String(spec.waf.enabled);
  f.WAF =
    spec.waf.mode === 'Block' && spec.waf.enabled
      ? { fidelity: 'Delegated', reason: 'ModSecurity blocks only when the controller ConfigMap sets SecRuleEngine On, which the operator does not configure (snippets are never generated)' }
      : { fidelity: 'Exact' };
};

const logging: Part = (spec, a, f) => {
  if (!spec.logging) return;
  a[`${P}enable-access-log`] = String(spec.logging.accessLog);
  f.Logging = { fidelity: 'Approximated', reason: 'the JSON log format is set globally (controller ConfigMap log-format-upstream)' };
};

const PARTS: Part[] = [https, authentication, authorization, rateLimit, ipAccess, cors, requestLimits, waf, logging];

/** `store`: the operator's rate-limit store, which the guard counts key Subject in. */
export function renderIngressNginx(spec: ApiSecurityPolicySpec, namespace: string, guard?: string, store?: RateLimitStore): ProviderRender {
  const annotations: Record<string, string> = {};
  const fidelity: FidelityReport = {};
  for (const part of PARTS) part(spec, annotations, fidelity, { namespace, guard, store });
  return { annotations, fidelity };
}
