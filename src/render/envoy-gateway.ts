// Envoy Gateway (gateway.envoyproxy.io/v1alpha1) for a policy whose targets are HTTPRoutes: one
// SecurityPolicy (authentication, authorization, client ranges, CORS) and one BackendTrafficPolicy (rate
// limit, request size), each attached to the routes by targetRefs and owned by the policy; the user's
// routes are never edited. Values come only from schema-validated fields. What Envoy Gateway cannot
// express for a route is reported, not faked. There is no Envoy binary in the tests: the objects are
// proven against Envoy Gateway's CRDs (schema and CEL) on a real API server, not by traffic.
import type { ApiSecurityPolicySpec } from '../api/v1alpha1.ts';
import { sizeToBytes } from '../api/patterns.ts';
import { delegatedAuthentication, delegatedEndpoint, guardDecides, guardResponseHeaders } from './delegation.ts';
import { generatedName, ownedLabels, ownerReference } from './labels.ts';
import { subjectNote, withWindows } from './rate-limit-scope.ts';
import type { FidelityNote, FidelityReport, PolicyRef } from './types.ts';

export const ENVOY_GATEWAY_GROUP = 'gateway.envoyproxy.io';
export const ENVOY_GATEWAY_VERSION = 'v1alpha1';
const GATEWAY_API_GROUP = 'gateway.networking.k8s.io';
/** The JWT provider's name in the SecurityPolicy (authorization rules refer to it). */
const PROVIDER = 'apisec';
const ANY_CLIENT = ['0.0.0.0/0', '::/0'] as const;

/** An HTTPRoute target, optionally one named rule of it. */
export interface RouteRef {
  name: string;
  sectionName?: string | undefined;
}

/** A Service the gateway can call: the guard, or a user's auth endpoint named by its cluster DNS name. */
export interface ServiceRef {
  name: string;
  namespace: string;
  port: number;
}

export interface EnvoyGatewayPath {
  /** The guard's Service (from --guard-url), when the operator knows a guard. */
  guard?: ServiceRef | undefined;
}

type Meta = { name: string; namespace: string; labels: Record<string, string>; ownerReferences: ReturnType<typeof ownerReference>[] };
type TargetRefs = { group: typeof GATEWAY_API_GROUP; kind: 'HTTPRoute'; name: string; sectionName?: string }[];
type Rule = { action: 'Allow' | 'Deny'; operation?: { methods?: string[]; path?: { type: 'Exact' | 'PathPrefix'; value: string } }; principal?: { clientCIDRs?: string[]; jwt?: { provider: string; scopes: string[] } } };

export interface SecurityPolicySpec {
  targetRefs: TargetRefs;
  jwt?: { providers: { name: string; issuer: string; audiences?: string[]; remoteJWKS: { uri: string }; claimToHeaders?: { claim: string; header: string }[] }[] };
  apiKeyAuth?: { credentialRefs: { group: ''; kind: 'Secret'; name: string }[]; extractFrom: { headers: string[] }[]; forwardClientIDHeader: string; sanitize: boolean };
  extAuth?: { http: { backendRefs: { name: string; namespace: string; port: number }[]; path: string; headersToBackend?: string[] }; headersToExtAuth?: string[] };
  authorization?: { defaultAction: 'Allow' | 'Deny'; rules: Rule[] };
  cors?: { allowOrigins: string[]; allowMethods?: string[]; allowHeaders?: string[]; exposeHeaders?: string[]; allowCredentials: boolean; maxAge: string };
}

type RateRule = { clientSelectors: ({ sourceCIDR: { type: 'Distinct'; value: string } } | { headers: { name: string; type: 'Distinct' }[] })[]; limit: { requests: number; unit: 'Second' | 'Minute' } };

export interface BackendTrafficPolicySpec {
  targetRefs: TargetRefs;
  rateLimit?: { type: 'Local'; local: { rules: RateRule[] } } | { type: 'Global'; global: { rules: RateRule[] } };
  requestBuffer?: { limit: string };
}

export type EnvoyGatewayObject =
  | { apiVersion: `${typeof ENVOY_GATEWAY_GROUP}/${typeof ENVOY_GATEWAY_VERSION}`; kind: 'SecurityPolicy'; metadata: Meta; spec: SecurityPolicySpec }
  | { apiVersion: `${typeof ENVOY_GATEWAY_GROUP}/${typeof ENVOY_GATEWAY_VERSION}`; kind: 'BackendTrafficPolicy'; metadata: Meta; spec: BackendTrafficPolicySpec };

export interface EnvoyGatewayRender {
  objects: EnvoyGatewayObject[];
  fidelity: FidelityReport;
}

/** Where the client address comes from (the Gateway's setting, which the operator does not write). */
const CLIENT_ADDRESS = "the client address, as the Gateway's ClientTrafficPolicy clientIPDetection determines it (behind a load balancer: X-Forwarded-For with a trusted hop count or CIDRs), which the operator does not configure";

/**
 * The Service a cluster-internal http URL names (`http://svc.ns[.svc[.cluster.local]][:port]/path`):
 * Envoy Gateway's extAuth calls a Service by reference, not a URL.
 */
export function serviceOfURL(url: string): { service: ServiceRef; path: string } | undefined {
  const m = /^http:\/\/([a-z0-9]([-a-z0-9]*[a-z0-9])?)\.([a-z0-9]([-a-z0-9]*[a-z0-9])?)(\.svc(\.cluster\.local)?)?(:(\d{1,5}))?(\/[^?#]*)?$/.exec(url);
  if (!m) return undefined;
  const port = m[8] ? Number(m[8]) : 80;
  if (port < 1 || port > 65535) return undefined;
  return { service: { name: m[1]!, namespace: m[3]!, port }, path: m[9] ?? '/' };
}

/** The guard's Service from --guard-url (or its check URL), when it names one; undefined without a guard. */
export const guardServiceOf = (guardURL: string | undefined): ServiceRef | undefined => (guardURL === undefined ? undefined : serviceOfURL(guardURL)?.service);

interface Built {
  security: Omit<SecurityPolicySpec, 'targetRefs'>;
  traffic: Omit<BackendTrafficPolicySpec, 'targetRefs'>;
  fidelity: FidelityReport;
  /** Whether authorization rules are left to the guard (it reads the policy itself). */
  guardAuthorizes: boolean;
}

type Part = (spec: ApiSecurityPolicySpec, b: Built, ctx: { policy: PolicyRef; path: EnvoyGatewayPath }) => void;

const https: Part = (spec, b) => {
  if (!spec.tls?.httpsOnly) return;
  b.fidelity.HTTPSOnly = {
    fidelity: 'Unsupported',
    reason: "the HTTPS redirect and HSTS are the route's and the Gateway's (an HTTPRoute RequestRedirect filter on the plain-HTTP listener, a response header filter), which the operator does not write: it never edits the user's route",
  };
};

/** Calls the guard with Envoy's ext_authz: the original method, and the original path after the prefix. */
function guardExtAuth(spec: ApiSecurityPolicySpec, b: Built, { policy, path }: { policy: PolicyRef; path: EnvoyGatewayPath }): void {
  const auth = spec.authentication!;
  if (!path.guard) {
    b.fidelity.Authentication = { fidelity: 'Unsupported', reason: 'no authURL is set and the operator knows no apisec guard (--guard-url), so nothing checks the credentials' };
    return;
  }
  const g = path.guard;
  b.security.extAuth = {
    http: { backendRefs: [{ name: g.name, namespace: g.namespace, port: g.port }], path: `/check/${policy.namespace}/${policy.name}`, headersToBackend: guardResponseHeaders(auth) },
    // Envoy sends only Host, Method, Path, Content-Length and Authorization by default: the API key, and
    // the client address for the guard's brute-force reports, are asked for.
    headersToExtAuth: [...(auth.apiKey ? [auth.apiKey.header] : []), 'X-Forwarded-For'],
  };
  b.guardAuthorizes = true;
  // Envoy Gateway ignores a SecurityPolicy whose backendRef crosses namespaces without a ReferenceGrant
  // there, which the operator neither writes (it never writes in the guard's namespace) nor checks: then
  // the platform's grant decides, so the guard's checks are Delegated, not Exact.
  const grant = g.namespace === policy.namespace ? undefined : `only once a ReferenceGrant in ${g.namespace} lets SecurityPolicies of ${policy.namespace} reference Service ${g.name}, which the operator neither writes nor checks`;
  const by = (what: string): FidelityNote => (grant ? { fidelity: 'Delegated', reason: `${what}, ${grant}` } : { fidelity: 'Exact', reason: what });
  b.fidelity.Authentication = by(`by the apisec guard (extAuth to ${g.namespace}/${g.name})`);
  if (spec.authorization) b.fidelity.Authorization = by('by the apisec guard (extAuth): method, normalised path and scopes of every rule, then defaultAction');
}

type Auth = NonNullable<ApiSecurityPolicySpec['authentication']>;

function nativeJwt(jwt: NonNullable<Auth['jwt']>, b: Built): void {
  const claims = jwt.claimHeaders ?? [];
  const audiences = jwt.audiences ?? [];
  b.security.jwt = {
    providers: [
      {
        name: PROVIDER,
        issuer: jwt.issuer,
        ...(audiences.length ? { audiences: [...audiences] } : {}),
        remoteJWKS: { uri: jwt.jwksURI },
        ...(claims.length ? { claimToHeaders: claims.map((c) => ({ claim: c.claim, header: c.header })) } : {}),
      },
    ],
  };
  const what = `signature (keys from ${jwt.jwksURI}), issuer${audiences.length ? `, audiences ${audiences.join(', ')}` : ''}, expiry`;
  b.fidelity.Authentication = claims.length
    ? { fidelity: 'Approximated', reason: `by Envoy's JWT filter: ${what}; claim headers by claimToHeaders, which is not proven here to drop a client's own header of that name when the token lacks the claim` }
    : { fidelity: 'Exact', reason: `by Envoy's JWT filter: ${what}` };
}

function nativeApiKey(apiKey: NonNullable<Auth['apiKey']>, secret: string, b: Built): void {
  b.security.apiKeyAuth = { credentialRefs: [{ group: '', kind: 'Secret', name: secret }], extractFrom: [{ headers: [apiKey.header] }], forwardClientIDHeader: 'X-Auth-Client', sanitize: true };
  b.fidelity.Authentication = { fidelity: 'Exact', reason: `by Envoy Gateway's API key filter against Secret ${secret} (each entry one client; the key header is removed before the upstream)` };
}

/** A user's auth endpoint (authURL), called by extAuth when its URL names a cluster Service. */
function delegated(auth: Auth, endpoint: string, b: Built, policy: PolicyRef): void {
  const target = serviceOfURL(endpoint);
  if (!target) {
    b.fidelity.Authentication = { fidelity: 'Unsupported', reason: `Envoy Gateway's extAuth calls a Service, not a URL: ${endpoint} is not http://<service>.<namespace>[.svc[.cluster.local]][:port]/path` };
    return;
  }
  const headers = auth.external?.responseHeaders ?? [];
  b.security.extAuth = {
    http: { backendRefs: [{ ...target.service }], path: target.path, ...(headers.length ? { headersToBackend: [...headers] } : {}) },
    ...(auth.apiKey ? { headersToExtAuth: [auth.apiKey.header] } : {}),
  };
  const extra = auth.oidc?.signinURL ? ['Envoy Gateway has no sign-in redirect for extAuth: signinURL is not used (the endpoint must answer 302 itself)'] : [];
  if (target.service.namespace !== policy.namespace) extra.push(`a reference to namespace ${target.service.namespace} needs a ReferenceGrant there`);
  b.fidelity.Authentication = delegatedAuthentication(auth, 'extAuth', extra);
}

const authentication: Part = (spec, b, ctx) => {
  const auth = spec.authentication;
  if (!auth) return;
  if (auth.jwt && !auth.jwt.authURL) return nativeJwt(auth.jwt, b);
  if (auth.apiKey?.secretRef && !auth.apiKey.authURL) return nativeApiKey(auth.apiKey, auth.apiKey.secretRef.name, b);
  if (guardDecides(auth)) return guardExtAuth(spec, b, ctx);
  const endpoint = delegatedEndpoint(auth);
  if (endpoint !== undefined) return delegated(auth, endpoint, b, ctx.policy);
  if (auth.mtls) {
    b.fidelity.Authentication = {
      fidelity: 'Unsupported',
      reason: "client certificates are verified by a ClientTrafficPolicy on the Gateway's listener (the TLS handshake happens before any route is chosen), so it cannot be limited to this route; none is generated",
    };
  }
};

/** A policy path as Envoy RBAC operations: exact, or a subtree (`/a/*`: `/a` itself and everything under `/a/`). */
function operations(methods: readonly string[] | undefined, path: string): NonNullable<Rule['operation']>[] {
  const m = methods?.length ? { methods: [...methods] } : {};
  if (path === '/*') return [{ ...m, path: { type: 'PathPrefix', value: '/' } }];
  if (!path.endsWith('/*')) return [{ ...m, path: { type: 'Exact', value: path } }];
  const root = path.slice(0, -2);
  return [
    { ...m, path: { type: 'Exact', value: root } },
    { ...m, path: { type: 'PathPrefix', value: `${root}/` } },
  ];
}

/** The policy's allow rules as RBAC rules (each also limited to the client ranges), and what they cannot say. */
function authorizationRules(z: NonNullable<ApiSecurityPolicySpec['authorization']>, inRange: { clientCIDRs?: string[] }, jwt: boolean): { rules: Rule[]; unenforced: string[] } {
  const rules: Rule[] = [];
  const unenforced: string[] = [];
  for (const r of z.rules) {
    if (r.anonymous) unenforced.push(`anonymous rule ${r.paths.join(', ')}: the authentication filter answers 401 to a request without credentials before any rule`);
    const scopes = r.requireScopes ?? [];
    if (scopes.length && !jwt) unenforced.push(`scopes ${scopes.join(', ')}: only a JWT carries scopes`);
    // Envoy Gateway needs a principal on every rule: "any client" is every address of both families.
    const principal = { clientCIDRs: inRange.clientCIDRs ?? [...ANY_CLIENT], ...(scopes.length && jwt ? { jwt: { provider: PROVIDER, scopes: [...scopes] } } : {}) };
    for (const p of r.paths) for (const operation of operations(r.methods, p)) rules.push({ action: 'Allow', operation, principal });
  }
  return { rules, unenforced };
}

/** Authorization rules (natively, after the JWT or API-key filter) and the client ranges, in one RBAC list. */
const access: Part = (spec, b) => {
  const allow = spec.ipAccess?.allow ?? [];
  const deny = spec.ipAccess?.deny ?? [];
  const z = b.guardAuthorizes ? undefined : spec.authorization;
  if (!z && !allow.length && !deny.length) return;
  const inRange = allow.length ? { clientCIDRs: [...allow] } : {};
  const { rules: allowRules, unenforced } = z ? authorizationRules(z, inRange, b.security.jwt !== undefined) : { rules: [], unenforced: [] };
  const rules: Rule[] = [...(deny.length ? [{ action: 'Deny' as const, principal: { clientCIDRs: [...deny] } }] : []), ...allowRules];
  // The default for requests no rule allows: the authorization's, but never past the client ranges.
  let defaultAction: 'Allow' | 'Deny' = z?.defaultAction ?? (allow.length ? 'Deny' : 'Allow');
  if (allow.length && defaultAction === 'Allow') {
    rules.push({ action: 'Allow', principal: { ...inRange } });
    defaultAction = 'Deny';
  }
  b.security.authorization = { defaultAction, rules };
  accessFidelity(b, { ranges: allow.length + deny.length > 0, authorization: z !== undefined, unenforced });
};

function accessFidelity(b: Built, { ranges, authorization, unenforced }: { ranges: boolean; authorization: boolean; unenforced: string[] }): void {
  if (ranges) b.fidelity.IPAccess = { fidelity: 'Exact', reason: `by Envoy's RBAC on clientCIDRs; ${CLIENT_ADDRESS}` };
  if (!authorization) return;
  const note: FidelityNote = { fidelity: 'Approximated', reason: "by Envoy's RBAC (SecurityPolicy authorization): methods, exact and prefix paths on the path as Envoy normalises it (its settings, not the guard's decoding), scopes from the JWT" };
  b.fidelity.Authorization = unenforced.length ? { ...note, unenforced } : note;
}

const cors: Part = (spec, b) => {
  const c = spec.cors;
  if (!c) return;
  b.security.cors = {
    allowOrigins: [...c.allowOrigins],
    ...(c.allowMethods ? { allowMethods: [...c.allowMethods] } : {}),
    ...(c.allowHeaders?.length ? { allowHeaders: [...c.allowHeaders] } : {}),
    ...(c.exposeHeaders?.length ? { exposeHeaders: [...c.exposeHeaders] } : {}),
    allowCredentials: c.allowCredentials,
    maxAge: `${c.maxAgeSeconds}s`,
  };
  b.fidelity.CORS = { fidelity: 'Exact' };
};

const rateLimit: Part = (spec, b) => {
  const rl = spec.rateLimit;
  if (!rl) return;
  // Envoy verifies JWTs itself and counts in its own service: nothing here counts per identity.
  const noCount = { how: 'extAuth', passes429: true };
  const bySubject = subjectNote(spec, noCount);
  if (bySubject) return void (b.fidelity.RateLimit = withWindows(bySubject, spec, noCount));
  const perSecond = rl.requestsPerSecond !== undefined;
  const selectors: RateRule['clientSelectors'] =
    rl.key === 'Header' && rl.header
      ? [{ headers: [{ name: rl.header, type: 'Distinct' }] }]
      : [{ sourceCIDR: { type: 'Distinct', value: '0.0.0.0/0' } }, { sourceCIDR: { type: 'Distinct', value: '::/0' } }];
  const limit = { requests: rl.requestsPerSecond ?? rl.requestsPerMinute ?? 1, unit: perSecond ? ('Second' as const) : ('Minute' as const) };
  // One rule per address family: a client selector list is ANDed, so each family is its own rule.
  const rules = rl.key === 'Header' ? [{ clientSelectors: selectors, limit }] : selectors.map((s) => ({ clientSelectors: [s], limit }));
  const global = rl.scope === 'Global';
  b.traffic.rateLimit = global ? { type: 'Global', global: { rules } } : { type: 'Local', local: { rules } };
  const reasons = [
    global
      ? "counted once for every Envoy replica by Envoy Gateway's global rate limit service, whose store (and what happens while it is down: onStoreUnavailable is not expressed per route) the platform configures in the EnvoyGateway's rateLimit backend, which the operator neither writes nor checks; answering 429"
      : "counted per Envoy replica and per route (Envoy's local rate limit, a token bucket), answering 429",
    `no separate burst: ${global ? 'a fixed window of' : 'the bucket holds'} one period of requests${rl.burst !== undefined ? ` (burst ${rl.burst} is not expressed)` : ''}`,
  ];
  reasons.push(rl.key === 'Header' ? `keyed by header ${rl.header ?? ''}` : `keyed by ${CLIENT_ADDRESS}`);
  const unenforced = [
    // A client that omits the header is not counted at all: the limit it declares does not hold for it.
    ...(rl.key === 'Header' ? [`requests without header ${rl.header ?? ''}: Envoy Gateway counts only requests that carry it, so omitting it escapes the limit`] : []),
    ...(rl.maxConnections !== undefined ? [`maxConnections ${rl.maxConnections}: a route has no per-client connection limit`] : []),
  ];
  b.fidelity.RateLimit = withWindows({ fidelity: global ? 'Delegated' : 'Approximated', reason: reasons.join('; '), ...(unenforced.length ? { unenforced } : {}) }, spec, noCount);
};

const requestLimits: Part = (spec, b) => {
  const limits = spec.requestLimits;
  if (!limits) return;
  const unenforced: string[] = [];
  if (limits.maxBodySize) b.traffic.requestBuffer = { limit: String(sizeToBytes(limits.maxBodySize) ?? 0) };
  if (limits.allowedMethods) unenforced.push('method allow-list (an HTTPRoute match on the user\'s route; the operator does not edit it)');
  if (limits.allowedContentTypes) unenforced.push('content-type allow-list');
  const buffered = 'the request is buffered whole before the upstream (requestBuffer), 413 above the limit; not for streaming uploads';
  b.fidelity.RequestLimits = unenforced.length
    ? { fidelity: limits.maxBodySize ? 'Approximated' : 'Unsupported', reason: `${limits.maxBodySize ? `${buffered}; ` : ''}Envoy Gateway cannot express per route: ${unenforced.join(', ')}`, unenforced }
    : { fidelity: 'Exact', reason: buffered };
};

const waf: Part = (spec, b) => {
  if (!spec.waf) return;
  b.fidelity.WAF = spec.waf.enabled ? { fidelity: 'Unsupported', reason: 'Envoy Gateway has no built-in WAF (an extension, e.g. a Wasm filter, is not generated)' } : { fidelity: 'Exact' };
};

const logging: Part = (spec, b) => {
  if (!spec.logging) return;
  b.fidelity.Logging = { fidelity: 'Delegated', reason: "access logs are the Gateway's (EnvoyProxy telemetry), which the operator does not configure" };
};

const PARTS: Part[] = [https, authentication, access, cors, rateLimit, requestLimits, waf, logging];

/** The Envoy Gateway objects of one policy for its HTTPRoute targets, and what each control becomes. */
export function renderEnvoyGateway(policy: PolicyRef, spec: ApiSecurityPolicySpec, routes: readonly RouteRef[], path: EnvoyGatewayPath = {}): EnvoyGatewayRender {
  const b: Built = { security: {}, traffic: {}, fidelity: {}, guardAuthorizes: false };
  for (const part of PARTS) part(spec, b, { policy, path });
  const targetRefs: TargetRefs = routes.map((r) => ({ group: GATEWAY_API_GROUP, kind: 'HTTPRoute', name: r.name, ...(r.sectionName ? { sectionName: r.sectionName } : {}) }));
  const meta = (what: string): Meta => ({ name: generatedName(policy, what), namespace: policy.namespace, labels: ownedLabels(policy), ownerReferences: [ownerReference(policy)] });
  const apiVersion = `${ENVOY_GATEWAY_GROUP}/${ENVOY_GATEWAY_VERSION}` as const;
  const objects: EnvoyGatewayObject[] = [];
  if (Object.keys(b.security).length) objects.push({ apiVersion, kind: 'SecurityPolicy', metadata: meta('securitypolicy'), spec: { targetRefs, ...b.security } });
  if (Object.keys(b.traffic).length) objects.push({ apiVersion, kind: 'BackendTrafficPolicy', metadata: meta('backendtrafficpolicy'), spec: { targetRefs, ...b.traffic } });
  return { objects, fidelity: b.fidelity };
}
