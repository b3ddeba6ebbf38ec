// Traefik (v3, Kubernetes Ingress provider + CRD provider): one traefik.io/v1alpha1 Middleware per
// control, in the policy's namespace, owned by the policy, and the Ingress annotation
// `traefik.ingress.kubernetes.io/router.middlewares` that chains them onto the Ingress's routers.
// Values are built only from schema-validated fields (src/api/patterns.ts); no plugin, no raw config.
// What Traefik cannot express per Ingress is reported as Unsupported, not faked.
import { storeUnavailable, type ApiSecurityPolicySpec } from '../api/v1alpha1.ts';
import { sizeToBytes } from '../api/patterns.ts';
import { generatedName, ownedLabels, ownerReference } from './labels.ts';
import { credentialHeaders, delegatedAuthentication, delegatedEndpoint, guardDecides, guardFidelity, guardResponseHeaders, unenforcedAuthorization } from './delegation.ts';
import { storeWithoutCredentials, subjectNote, withWindows } from './rate-limit-scope.ts';
import { NO_DATA_PATH, type DataPath, type FidelityReport, type PolicyRef, type RateLimitStore } from './types.ts';

export const TRAEFIK_GROUP = 'traefik.io';
export const TRAEFIK_VERSION = 'v1alpha1';
export const MIDDLEWARE_PLURAL = 'middlewares';
const A = 'traefik.ingress.kubernetes.io/';
export const ANNOTATION_MIDDLEWARES = `${A}router.middlewares`;
export const ANNOTATION_ACCESS_LOGS = `${A}router.observability.accesslogs`;
/** Bound on the auth endpoint's response body that Traefik buffers (its default is unbounded). */
export const FORWARD_AUTH_MAX_RESPONSE_BYTES = 65536;

/** Traefik's ipStrategy: empty, the connection's address; excludedIPs, the first X-Forwarded-For entry from the right outside them. */
interface IpStrategy {
  excludedIPs?: string[];
}

interface SourceCriterion {
  ipStrategy?: IpStrategy;
  requestHeaderName?: string;
}

/** The subset of Traefik's MiddlewareSpec this renderer writes (field names as in Traefik's CRD). */
export interface TraefikMiddlewareSpec {
  redirectScheme?: { scheme: 'https'; permanent: boolean };
  ipAllowList?: { sourceRange: string[]; ipStrategy?: IpStrategy };
  rateLimit?: { average: number; period: '1s' | '1m'; burst: number; sourceCriterion: SourceCriterion; redis?: { endpoints: string[] } };
  inFlightReq?: { amount: number; sourceCriterion: SourceCriterion };
  buffering?: { maxRequestBodyBytes: number };
  headers?: {
    stsSeconds?: number;
    stsIncludeSubdomains?: boolean;
    stsPreload?: boolean;
    accessControlAllowOriginList?: string[];
    accessControlAllowOriginListRegex?: string[];
    accessControlAllowMethods?: string[];
    accessControlAllowHeaders?: string[];
    accessControlExposeHeaders?: string[];
    accessControlAllowCredentials?: boolean;
    accessControlMaxAge?: number;
    addVaryHeader?: boolean;
  };
  forwardAuth?: { address: string; authResponseHeaders?: string[]; authRequestHeaders?: string[]; maxResponseBodySize: number };
}

export interface TraefikMiddleware {
  apiVersion: `${typeof TRAEFIK_GROUP}/${typeof TRAEFIK_VERSION}`;
  kind: 'Middleware';
  metadata: {
    name: string;
    namespace: string;
    labels: Record<string, string>;
    ownerReferences: ReturnType<typeof ownerReference>[];
  };
  spec: TraefikMiddlewareSpec;
}

export interface TraefikRender {
  annotations: Record<string, string>;
  middlewares: TraefikMiddleware[];
  fidelity: FidelityReport;
}

/** The order of the chain on the router: first entry runs first. */
export const MIDDLEWARE_ORDER = ['redirect', 'ipallowlist', 'ratelimit', 'inflightreq', 'buffering', 'headers', 'forwardauth'] as const;
type Control = (typeof MIDDLEWARE_ORDER)[number];

type Specs = Partial<Record<Control, TraefikMiddlewareSpec>>;
type Part = (spec: ApiSecurityPolicySpec, m: Specs, a: Record<string, string>, f: FidelityReport) => void;

/**
 * The name Traefik gives a CRD object in its dynamic configuration, as referenced from an Ingress
 * annotation: `<namespace>-<name>` with every run of characters other than letters and digits turned
 * into one dash (Traefik's provider.Normalize), then `@kubernetescrd`.
 */
export function traefikCrdRef(namespace: string, name: string): string {
  return `${`${namespace}-${name}`.split(/[^\p{L}\p{N}]+/u).filter(Boolean).join('-')}@kubernetescrd`;
}

/** Anchored Go regexp for a wildcard-subdomain origin such as https://*.example.com (one label). */
export function wildcardOriginRegex(origin: string): string {
  const [scheme, rest] = origin.split('://*.') as [string, string];
  return `^${scheme}://[a-z0-9]([-a-z0-9]*[a-z0-9])?\\.${rest.replace(/[.]/g, '\\.')}$`;
}

const ipStrategy = (trusted: readonly string[]): IpStrategy => (trusted.length ? { excludedIPs: [...trusted] } : {});

const sourceCriterion = (spec: ApiSecurityPolicySpec, trusted: readonly string[]): SourceCriterion =>
  spec.rateLimit?.key === 'Header' && spec.rateLimit.header ? { requestHeaderName: spec.rateLimit.header } : { ipStrategy: ipStrategy(trusted) };

/** Where the client address comes from, for the fidelity notes. */
const clientAddress = (trusted: readonly string[]): string =>
  trusted.length ? `the client address from X-Forwarded-For past the trusted proxies (${trusted.join(', ')})` : "the connection's address (behind a load balancer, the previous hop; set the operator's --trusted-proxy)";

function headers(m: Specs): NonNullable<TraefikMiddlewareSpec['headers']> {
  m.headers ??= {};
  return (m.headers.headers ??= {});
}

const https: Part = (spec, m, _a, f) => {
  if (!spec.tls?.httpsOnly) return;
  m.redirect = { redirectScheme: { scheme: 'https', permanent: true } };
  // Traefik's permanent redirect answers 301 to GET and 308 to other methods (pkg/middlewares/redirect);
  // its 308-for-everything switch is internal to its ingress-nginx provider, not configurable.
  const reasons = ['a permanent RedirectScheme answers 301 to GET and 308 to other methods (the policy asks for 308)'];
  const h = spec.tls.hsts;
  if (h) {
    const hd = headers(m);
    hd.stsSeconds = h.maxAgeSeconds;
    if (h.includeSubDomains) hd.stsIncludeSubdomains = true;
    if (h.preload) hd.stsPreload = true;
    if (h.maxAgeSeconds === 0) reasons.push('HSTS max-age=0 is not sent: Traefik omits the header when stsSeconds is 0');
  }
  f.HTTPSOnly = { fidelity: 'Approximated', reason: reasons.join('; ') };
};

/** `guard`: the guard's check URL for this policy, when the operator knows a guard. */
const authentication = (guard: string | undefined): Part => (spec, m, _a, f) => {
  const auth = spec.authentication;
  if (!auth) return;
  if (guardDecides(auth)) {
    // Traefik sets X-Forwarded-Method/-Uri/-Host itself (trustForwardHeader is off); authRequestHeaders
    // keeps every other client header, such as a forged X-Original-URL, away from the guard.
    if (guard !== undefined) {
      m.forwardauth = {
        forwardAuth: { address: guard, authResponseHeaders: guardResponseHeaders(auth), authRequestHeaders: credentialHeaders(auth), maxResponseBodySize: FORWARD_AUTH_MAX_RESPONSE_BYTES },
      };
    }
    Object.assign(f, guardFidelity(spec, guard, 'forwardAuth'));
    return;
  }
  const endpoint = delegatedEndpoint(auth);
  if (endpoint !== undefined) {
    // Traefik reads the auth endpoint's whole answer into memory unless this is bounded; above it the
    // request is refused with 401 (fail closed). Auth answers are small.
    const fa: NonNullable<TraefikMiddlewareSpec['forwardAuth']> = { address: endpoint, maxResponseBodySize: FORWARD_AUTH_MAX_RESPONSE_BYTES };
    if (auth.external?.responseHeaders?.length) fa.authResponseHeaders = [...auth.external.responseHeaders];
    m.forwardauth = { forwardAuth: fa };
    f.Authentication = delegatedAuthentication(
      auth,
      'forwardAuth',
      auth.oidc?.signinURL ? ['Traefik has no sign-in redirect: a 401 from authURL reaches the browser as is, so signinURL is not used (the auth endpoint must answer 302 itself)'] : [],
    );
  } else if (auth.mtls) {
    f.Authentication = {
      fidelity: 'Unsupported',
      reason:
        'Traefik verifies client certificates with a TLSOption, which acts on the TLS handshake of an entry point or SNI host before any router is chosen, so it cannot be limited to this Ingress; no TLSOption is generated',
    };
  }
};

const authorization: Part = (spec, _m, _a, f) => {
  if (!spec.authorization || guardDecides(spec.authentication)) return;
  const unenforced = unenforcedAuthorization(spec);
  f.Authorization = { fidelity: 'Unsupported', reason: 'Traefik OSS has no authorization by method, path or scope', ...(unenforced.length ? { unenforced } : {}) };
};

/** Where a Global limit counts in Traefik (rateLimit.redis, Traefik 3.4 and later), or what it lacks. */
function globalStore(spec: ApiSecurityPolicySpec, store: RateLimitStore | undefined): { redis?: { endpoints: string[] }; unenforced: string[]; reasons: string[] } {
  const rl = spec.rateLimit;
  if (rl?.scope !== 'Global') return { unenforced: [], reasons: ['counted per Traefik replica and per router (in-memory token bucket: each router using the Middleware has its own, traefik#13706)'] };
  const s = storeWithoutCredentials(store, 'Traefik');
  if ('gap' in s) return { unenforced: [s.gap], reasons: ['counted per Traefik replica and per router (in-memory token bucket)'] };
  const reasons = ["one count per key for every Traefik replica and router, in the platform's store (rateLimit.redis, Traefik 3.4 or later)"];
  if (storeUnavailable(rl) === 'Allow') reasons.push('onStoreUnavailable Allow is not expressed: while the store cannot be reached Traefik answers 500 (it fails closed)');
  return { redis: { endpoints: [s.endpoint] }, unenforced: [], reasons };
}

/** `trusted`: the operator's trusted proxies (CIDRs), whose X-Forwarded-For names the client. */
const rateLimit = ({ trusted, store, guard }: DataPath): Part => (spec, m, _a, f) => {
  const rl = spec.rateLimit;
  if (!rl) return;
  const viaGuard = { guard, store, how: 'forwardAuth', passes429: true };
  const bySubject = subjectNote(spec, viaGuard);
  if (bySubject) return void (f.RateLimit = withWindows(bySubject, spec, viaGuard));
  const perSecond = rl.requestsPerSecond !== undefined;
  const rate = rl.requestsPerSecond ?? rl.requestsPerMinute ?? 1;
  // burst defaults to the per-second rate (as in the sidecar): Traefik's burst is the token-bucket size.
  const burst = Math.max(1, rl.burst ?? (perSecond ? rate : Math.ceil(rate / 60)));
  const criterion = sourceCriterion(spec, trusted);
  const global = globalStore(spec, store);
  m.ratelimit = { rateLimit: { average: rate, period: perSecond ? '1s' : '1m', burst, sourceCriterion: criterion, ...(global.redis ? { redis: global.redis } : {}) } };
  if (rl.maxConnections !== undefined) m.inflightreq = { inFlightReq: { amount: rl.maxConnections, sourceCriterion: { ...criterion } } };
  const reasons = [...global.reasons, 'burst is the bucket size: up to burst requests at once, then the rate'];
  if (rl.key === 'Header') reasons.push('requests without the header share one bucket');
  else reasons.push(`keyed by ${clientAddress(trusted)}`);
  if (rl.maxConnections !== undefined) reasons.push(`maxConnections limits in-flight requests per key (inFlightReq), not TCP connections${rl.scope === 'Global' ? ', per Traefik replica' : ''}`);
  const exact = global.redis !== undefined && storeUnavailable(rl) === 'Deny' && rl.maxConnections === undefined;
  f.RateLimit = withWindows({ fidelity: exact ? 'Exact' : 'Approximated', reason: reasons.join('; '), ...(global.unenforced.length ? { unenforced: global.unenforced } : {}) }, spec, viaGuard);
};

const ipAccess = (trusted: readonly string[]): Part => (spec, m, _a, f) => {
  const ip = spec.ipAccess;
  if (!ip) return;
  const allow = ip.allow ?? [];
  const deny = ip.deny ?? [];
  if (allow.length) m.ipallowlist = { ipAllowList: { sourceRange: [...allow], ...(trusted.length ? { ipStrategy: ipStrategy(trusted) } : {}) } };
  const noDeny = "Traefik's ipAllowList has no deny list";
  if (deny.length === 0) f.IPAccess = { fidelity: 'Exact', reason: `on ${clientAddress(trusted)}` };
  else f.IPAccess = { fidelity: allow.length ? 'Approximated' : 'Unsupported', reason: `${noDeny}; only an allow list is enforced`, unenforced: [`deny ranges ${deny.join(', ')}`] };
};

const cors: Part = (spec, m, _a, f) => {
  const c = spec.cors;
  if (!c) return;
  const hd = headers(m);
  const exact = c.allowOrigins.filter((o) => !o.includes('://*.'));
  const wildcard = c.allowOrigins.filter((o) => o.includes('://*.'));
  if (exact.length) hd.accessControlAllowOriginList = exact;
  if (wildcard.length) hd.accessControlAllowOriginListRegex = wildcard.map(wildcardOriginRegex);
  if (c.allowMethods) hd.accessControlAllowMethods = [...c.allowMethods];
  if (c.allowHeaders?.length) hd.accessControlAllowHeaders = [...c.allowHeaders];
  if (c.exposeHeaders?.length) hd.accessControlExposeHeaders = [...c.exposeHeaders];
  if (c.allowCredentials) hd.accessControlAllowCredentials = true;
  hd.accessControlMaxAge = c.maxAgeSeconds;
  // The allowed origin is echoed per request, so caches must key on Origin (not needed for "*" alone).
  if (!(c.allowOrigins.length === 1 && c.allowOrigins[0] === '*')) hd.addVaryHeader = true;
  f.CORS = { fidelity: 'Exact' };
};

const requestLimits: Part = (spec, m, _a, f) => {
  const limits = spec.requestLimits;
  if (!limits) return;
  const unenforced: string[] = [];
  if (limits.maxBodySize) m.buffering = { buffering: { maxRequestBodyBytes: sizeToBytes(limits.maxBodySize) ?? 0 } };
  if (limits.allowedMethods) unenforced.push('method allow-list (no method filter middleware; Ingress rules cannot match methods)');
  if (limits.allowedContentTypes) unenforced.push('content-type allow-list');
  const buffered = 'the Buffering middleware holds whole request and response bodies (memory, then disk) before passing them on, so streamed responses arrive at once';
  f.RequestLimits =
    unenforced.length === 0
      ? { fidelity: 'Exact', reason: buffered }
      : { fidelity: limits.maxBodySize ? 'Approximated' : 'Unsupported', reason: `Traefik cannot express: ${unenforced.join(', ')} (the sidecar can)`, unenforced };
};

const waf: Part = (spec, _m, _a, f) => {
  if (!spec.waf) return;
  f.WAF = spec.waf.enabled
    ? { fidelity: 'Unsupported', reason: 'Traefik has no built-in WAF (a WAF plugin must be installed in its static configuration)' }
    : { fidelity: 'Exact' };
};

const logging: Part = (spec, _m, a, f) => {
  if (!spec.logging) return;
  a[ANNOTATION_ACCESS_LOGS] = String(spec.logging.accessLog);
  f.Logging = {
    fidelity: 'Approximated',
    reason: "the access log, its file and its JSON format are global (Traefik's static accessLog options); per router it is only switched on or off",
  };
};

const parts = (path: DataPath): Part[] => [https, authentication(path.guard), authorization, rateLimit(path), ipAccess(path.trusted), cors, requestLimits, waf, logging];

/**
 * Traefik artifacts of one policy for one Ingress. The Middlewares are per policy (the same for every
 * Ingress it targets), so the result does not depend on the Ingress; its name is accepted for symmetry
 * with the reconciler's per-Ingress loop.
 */
/** `path`: the guard the policy's checks go to, and the trusted proxies in front of Traefik. */
export function renderTraefik(policy: PolicyRef, spec: ApiSecurityPolicySpec, _ingressName: string, path: DataPath = NO_DATA_PATH): TraefikRender {
  const specs: Specs = {};
  const annotations: Record<string, string> = {};
  const fidelity: FidelityReport = {};
  for (const part of parts(path)) part(spec, specs, annotations, fidelity);

  const middlewares: TraefikMiddleware[] = [];
  for (const control of MIDDLEWARE_ORDER) {
    const s = specs[control];
    if (!s) continue;
    middlewares.push({
      apiVersion: `${TRAEFIK_GROUP}/${TRAEFIK_VERSION}`,
      kind: 'Middleware',
      metadata: {
        name: generatedName(policy, control),
        namespace: policy.namespace,
        labels: ownedLabels(policy),
        ownerReferences: [ownerReference(policy)],
      },
      spec: s,
    });
  }
  if (middlewares.length) {
    annotations[ANNOTATION_MIDDLEWARES] = middlewares.map((mw) => traefikCrdRef(policy.namespace, mw.metadata.name)).join(',');
  }
  return { annotations, middlewares, fidelity };
}
