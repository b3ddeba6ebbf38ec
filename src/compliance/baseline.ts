// Baselines: the effective settings of a policy are its own, held to the floors of every
// ClusterApiSecurityPolicy that selects its namespace. Tightening is kept; loosening is a violation
// that is reported and replaced by the floor (never silently dropped); a floor the policy does not
// mention is supplied by the baseline. Every effective value records who supplied it. Pure.
import { codeUnitOrder } from '../util/order.ts';
import { olderFirst } from './claims.ts';
import { BlockList, isIP } from 'node:net';
import type { BaselineFloors } from '../api/cluster-v1alpha1.ts';
import { sizeToBytes } from '../api/patterns.ts';
import { storeUnavailable, type ApiSecurityPolicySpec } from '../api/v1alpha1.ts';
import { delegatedEndpoint } from '../render/delegation.ts';
import { admitsEveryNamespace, prefixLength } from './peers.ts';

export interface Baseline {
  name: string;
  creationTimestamp?: string;
  floors: BaselineFloors;
  /** Writes its floors onto the Ingresses no policy targets (src/compliance/protect.ts). */
  protectUncovered?: boolean;
}

export interface Violation {
  field: string;
  baseline: string;
  message: string;
}

export interface Provenance {
  field: string;
  value: string;
  source: string;
}

export type BaselineProvider = NonNullable<BaselineFloors['providers']>[number];

export interface BaselineResult {
  effective: ApiSecurityPolicySpec;
  /** The data planes every selecting baseline allows (undefined: no baseline limits them). */
  providers?: BaselineProvider[];
  violations: Violation[];
  provenance: Provenance[];
  /** Baselines that cannot both hold (reported on the baselines and the policy). */
  conflicts: string[];
  /** Auth hosts the selecting baselines allow (src/compliance/outbound.ts), when any lists them. */
  authHosts?: string[];
}

interface Selector {
  matchLabels?: Record<string, string> | undefined;
  matchExpressions?: { key: string; operator: 'In' | 'NotIn' | 'Exists' | 'DoesNotExist'; values?: string[] | undefined }[] | undefined;
}

/** Kubernetes label selector semantics; an empty selector matches everything. */
export function matchesSelector(labels: Record<string, string>, selector: Selector): boolean {
  for (const [k, v] of Object.entries(selector.matchLabels ?? {})) if (labels[k] !== v) return false;
  for (const e of selector.matchExpressions ?? []) {
    const has = Object.hasOwn(labels, e.key);
    const value = labels[e.key];
    if (e.operator === 'Exists' && !has) return false;
    if (e.operator === 'DoesNotExist' && has) return false;
    if (e.operator === 'In' && !(has && (e.values ?? []).includes(value ?? ''))) return false;
    if (e.operator === 'NotIn' && has && (e.values ?? []).includes(value ?? '')) return false;
  }
  return true;
}

const perSecond = (r: { requestsPerSecond?: number | undefined; requestsPerMinute?: number | undefined }): number => r.requestsPerSecond ?? (r.requestsPerMinute ?? 0) / 60;

/**
 * True when CIDR `inner` lies inside CIDR `outer` (same family): at least as long a prefix, and its
 * network address inside `outer`. node:net's BlockList parses every address form (an IPv6 address with an
 * embedded IPv4 tail, compressed zeros), which hand-written arithmetic got wrong.
 */
export function cidrWithin(inner: string, outer: string): boolean {
  const [ia = '', ib = '0'] = inner.split('/');
  const [oa = '', ob = '0'] = outer.split('/');
  const fam = isIP(ia);
  if (fam === 0 || fam !== isIP(oa) || Number(ib) < Number(ob)) return false;
  const family = fam === 4 ? 'ipv4' : 'ipv6';
  const list = new BlockList();
  try {
    list.addSubnet(oa, Number(ob), family);
    return list.check(ia, family);
  } catch {
    return false; // a prefix length out of range for the family
  }
}

type Ctx = { out: ApiSecurityPolicySpec; floors: BaselineFloors; policy: ApiSecurityPolicySpec; baseline: string; v: Violation[]; p: Provenance[]; policySource: string };

const loosen = (c: Ctx, field: string, message: string): void => {
  c.v.push({ field, baseline: c.baseline, message });
};
const from = (c: Ctx, field: string, value: unknown, byBaseline: boolean): void => {
  c.p.push({ field, value: typeof value === 'string' ? value : JSON.stringify(value), source: byBaseline ? `ClusterApiSecurityPolicy/${c.baseline}` : c.policySource });
};

function tls(c: Ctx): void {
  const f = c.floors.tls;
  if (!f) return;
  const mine = c.out.tls;
  if (!mine) {
    c.out.tls = f;
    from(c, 'tls', f, true);
    return;
  }
  const t = { ...mine };
  if (f.httpsOnly && !mine.httpsOnly) {
    loosen(c, 'tls.httpsOnly', 'the baseline requires HTTPS only');
    t.httpsOnly = true;
  }
  if (f.hsts && (!mine.hsts || mine.hsts.maxAgeSeconds < f.hsts.maxAgeSeconds || (f.hsts.includeSubDomains && !mine.hsts.includeSubDomains))) {
    if (mine.hsts) loosen(c, 'tls.hsts', `the baseline requires HSTS of at least ${f.hsts.maxAgeSeconds}s${f.hsts.includeSubDomains ? ' with includeSubDomains' : ''}`);
    t.hsts = f.hsts;
  }
  c.out.tls = t;
  from(c, 'tls.httpsOnly', t.httpsOnly, f.httpsOnly && !mine.httpsOnly);
}

type RateLimit = NonNullable<Ctx['out']['rateLimit']>;

/** A burst above the floor's (or, without one, above the floor's rate) is cut to it. */
function tightenBurst(c: Ctx, f: RateLimit, r: RateLimit): void {
  const floorBurst = f.burst ?? Math.ceil(perSecond(f));
  if (r.burst !== undefined && r.burst > floorBurst) {
    loosen(c, 'rateLimit.burst', `the baseline allows a burst of at most ${floorBurst}`);
    r.burst = floorBurst;
  } else if (r.burst === undefined && f.burst !== undefined && Math.ceil(perSecond(r)) > f.burst) r.burst = f.burst;
}

/** The key is fixed by the floor: a Header key lets a client rotate the header to escape the limit. */
function fixKey(c: Ctx, f: RateLimit, r: RateLimit): void {
  if (r.key === f.key && (f.key !== 'Header' || r.header?.toLowerCase() === f.header?.toLowerCase())) return;
  loosen(c, 'rateLimit.key', `the baseline counts the limit per ${f.key === 'Header' ? `header ${f.header ?? ''}` : f.key === 'Subject' ? 'authenticated identity' : 'client address'}`);
  r.key = f.key;
  if (f.key === 'Header' && f.header) r.header = f.header;
  else delete r.header;
}

/** A Global floor holds for every policy, and a Deny floor while the store is down too. */
function fixScope(c: Ctx, f: RateLimit, r: RateLimit): void {
  if (f.scope !== 'Global') return;
  if (r.scope !== 'Global') {
    loosen(c, 'rateLimit.scope', 'the baseline counts the limit globally, across every replica');
    r.scope = 'Global';
  }
  if (storeUnavailable(f) === 'Deny' && r.onStoreUnavailable === 'Allow') {
    loosen(c, 'rateLimit.onStoreUnavailable', 'the baseline denies requests while the rate-limit store cannot be reached');
    r.onStoreUnavailable = 'Deny';
  } else if (r.onStoreUnavailable === undefined && f.onStoreUnavailable !== undefined) r.onStoreUnavailable = f.onStoreUnavailable;
  // The floor's windows are supplied where the policy has none (a policy's own windows are not compared yet).
  if (f.windows && !r.windows) r.windows = f.windows;
}

function rateLimit(c: Ctx): void {
  const f = c.floors.rateLimit;
  if (!f) return;
  const mine = c.out.rateLimit;
  if (!mine) {
    c.out.rateLimit = f;
    from(c, 'rateLimit', f, true);
    return;
  }
  let r = { ...mine };
  if (perSecond(mine) > perSecond(f)) {
    loosen(c, 'rateLimit.rate', `the baseline allows at most ${perSecond(f)} requests per second`);
    r = { ...r, requestsPerSecond: f.requestsPerSecond, requestsPerMinute: f.requestsPerMinute };
  }
  tightenBurst(c, f, r);
  if (f.maxConnections !== undefined && (r.maxConnections === undefined || r.maxConnections > f.maxConnections)) {
    if (r.maxConnections !== undefined) loosen(c, 'rateLimit.maxConnections', `the baseline allows at most ${f.maxConnections} connections`);
    r.maxConnections = f.maxConnections;
  }
  fixKey(c, f, r);
  fixScope(c, f, r);
  c.out.rateLimit = r;
  from(c, 'rateLimit.rate', perSecond(r), perSecond(mine) > perSecond(f));
}

function requestLimits(c: Ctx): void {
  const f = c.floors.requestLimits;
  if (!f) return;
  const mine = c.out.requestLimits ?? {};
  const r = { ...mine };
  if (f.maxBodySize) {
    const fb = sizeToBytes(f.maxBodySize) ?? 0;
    const mb = mine.maxBodySize ? sizeToBytes(mine.maxBodySize) : undefined;
    if (mb === undefined || mb > fb) {
      if (mb !== undefined) loosen(c, 'requestLimits.maxBodySize', `the baseline allows bodies of at most ${f.maxBodySize}`);
      r.maxBodySize = f.maxBodySize;
    }
    from(c, 'requestLimits.maxBodySize', r.maxBodySize, r.maxBodySize === f.maxBodySize && mine.maxBodySize !== f.maxBodySize);
  }
  const narrow = <T extends string>(field: 'allowedMethods' | 'allowedContentTypes', floor: T[] | undefined, own: T[] | undefined): T[] | undefined => {
    if (!floor) return own;
    if (!own) return floor;
    const extra = own.filter((x) => !floor.includes(x));
    if (extra.length) loosen(c, `requestLimits.${field}`, `the baseline does not allow ${extra.join(', ')}`);
    const kept = own.filter((x) => floor.includes(x));
    return kept.length ? kept : floor;
  };
  const methods = narrow('allowedMethods', f.allowedMethods, mine.allowedMethods);
  if (methods) r.allowedMethods = methods;
  const types = narrow('allowedContentTypes', f.allowedContentTypes, mine.allowedContentTypes);
  if (types) r.allowedContentTypes = types;
  c.out.requestLimits = r;
}

function ipAccess(c: Ctx): void {
  const f = c.floors.ipAccess;
  if (!f) return;
  const mine = c.out.ipAccess ?? {};
  const deny = [...new Set([...(mine.deny ?? []), ...(f.deny ?? [])])];
  let allow = mine.allow;
  if (f.allow?.length) {
    const outside = (mine.allow ?? []).filter((a) => !f.allow?.some((o) => cidrWithin(a, o)));
    if (outside.length) loosen(c, 'ipAccess.allow', `the baseline only allows ranges inside ${f.allow.join(', ')}; not ${outside.join(', ')}`);
    const inside = (mine.allow ?? []).filter((a) => f.allow?.some((o) => cidrWithin(a, o)));
    allow = inside.length ? inside : f.allow;
  }
  c.out.ipAccess = { ...(allow ? { allow } : {}), ...(deny.length ? { deny } : {}) };
  if (f.deny?.length) from(c, 'ipAccess.deny', deny.join(','), (f.deny ?? []).some((d) => !(mine.deny ?? []).includes(d)));
}

function cors(c: Ctx): void {
  const f = c.floors.cors;
  const mine = c.out.cors;
  if (!f || !mine) return;
  const r = { ...mine };
  if (mine.allowCredentials && !f.allowCredentials) {
    loosen(c, 'cors.allowCredentials', 'the baseline does not allow credentials cross-origin');
    r.allowCredentials = false;
  }
  if (!f.allowOrigins.includes('*')) {
    const extra = mine.allowOrigins.filter((o) => !f.allowOrigins.includes(o));
    if (extra.length) loosen(c, 'cors.allowOrigins', `the baseline does not allow the origins ${extra.join(', ')}`);
    const kept = mine.allowOrigins.filter((o) => f.allowOrigins.includes(o));
    r.allowOrigins = kept.length ? kept : f.allowOrigins;
  }
  c.out.cors = r;
}

function authentication(c: Ctx): void {
  const f = c.floors;
  if (f.authentication && !c.out.authentication) {
    c.out.authentication = f.authentication;
    from(c, 'authentication', Object.keys(f.authentication).join(','), true);
  }
}

function waf(c: Ctx): void {
  const f = c.floors;
  if (f.waf?.enabled) {
    const mine = c.out.waf;
    if (mine && (!mine.enabled || (f.waf.mode === 'Block' && mine.mode === 'Detect'))) loosen(c, 'waf', `the baseline requires the WAF${f.waf.mode === 'Block' ? ' in Block mode' : ''}`);
    if (!mine || !mine.enabled || (f.waf.mode === 'Block' && mine.mode === 'Detect')) {
      c.out.waf = f.waf;
      from(c, 'waf', f.waf.mode, true);
    }
  }
}

function network(c: Ctx): void {
  const f = c.floors;
  if (f.network?.defaultDeny) {
    const mine = c.out.network;
    if (mine && !mine.defaultDeny) loosen(c, 'network.defaultDeny', 'the baseline requires default-deny network isolation');
    if (!mine || !mine.defaultDeny) {
      c.out.network = { defaultDeny: true, allowFrom: mine?.allowFrom ?? f.network.allowFrom };
      from(c, 'network.defaultDeny', true, true);
    }
  }
}

function logging(c: Ctx): void {
  const f = c.floors;
  if (f.logging?.accessLog) {
    const mine = c.out.logging;
    if (mine && !mine.accessLog) loosen(c, 'logging.accessLog', 'the baseline requires access logs');
    if (!mine?.accessLog) {
      c.out.logging = f.logging;
      from(c, 'logging.accessLog', true, true);
    }
  }
}

function mode(c: Ctx): void {
  if (c.floors.mode !== 'Enforce' || c.out.mode !== 'Audit') return;
  loosen(c, 'mode', 'the baseline requires mode Enforce: the policy is enforced, held to the floors');
  c.out.mode = 'Enforce';
  from(c, 'mode', 'Enforce', true);
}

/** True when `url` is `prefix` or lies under it (the next character after a host-only prefix is "/"). */
export function underPrefix(url: string, prefix: string): boolean {
  if (url === prefix) return true;
  if (!url.startsWith(prefix)) return false;
  return prefix.endsWith('/') || url[prefix.length] === '/';
}

/** The endpoints of the authentication method that clients or the data plane are sent to. */
function endpointsOf(a: NonNullable<ApiSecurityPolicySpec['authentication']>): [string, string][] {
  const out: [string, string][] = [];
  const url = delegatedEndpoint(a);
  if (url !== undefined) out.push([`authentication.${authMethod(a) ?? ''}.authURL`, url]);
  if (a.oidc?.signinURL) out.push(['authentication.oidc.signinURL', a.oidc.signinURL]);
  if (a.jwt) out.push(['authentication.jwt.jwksURI', a.jwt.jwksURI]);
  // Without authURL the guard fetches the issuer's discovery document and keys: an endpoint too.
  if (a.oidc && url === undefined) out.push(['authentication.oidc.issuerURL', a.oidc.issuerURL]);
  return out;
}

function authEndpoints(c: Ctx): void {
  const allowed = c.floors.authEndpoints;
  const auth = c.out.authentication;
  if (!allowed || !auth) return;
  const outside = endpointsOf(auth).filter(([, url]) => !allowed.some((p) => underPrefix(url, p)));
  if (outside.length === 0) return;
  loosen(c, outside[0]?.[0] ?? 'authentication', `the baseline allows auth endpoints only under ${allowed.join(', ')}; not ${outside.map(([, u]) => u).join(', ')}`);
  // Never send requests (or browsers) to an endpoint the platform did not allow.
  const floor = c.floors.authentication;
  if (floor && endpointsOf(floor).every(([, url]) => allowed.some((p) => underPrefix(url, p)))) {
    c.out.authentication = floor;
    from(c, 'authentication', Object.keys(floor).join(','), true);
  } else {
    delete c.out.authentication;
    from(c, 'authentication', 'none (endpoint not allowed)', true);
  }
}

function networkPeers(c: Ctx): void {
  const b = c.floors.networkPeers;
  const n = c.out.network;
  if (!b || !n) return;
  const kept = n.allowFrom.filter((p, idx) => {
    const block = p.ipBlock?.cidr;
    if (block) {
      const v6 = block.includes(':');
      const min = v6 ? b.minIPv6PrefixLength : b.minIPv4PrefixLength;
      if (prefixLength(block) < min) {
        loosen(c, `network.allowFrom[${idx}].ipBlock`, `the baseline allows ${v6 ? 'IPv6' : 'IPv4'} blocks no wider than /${min}; not ${block}`);
        return false;
      }
    }
    if (admitsEveryNamespace(p) && !b.allowAllNamespaces) {
      loosen(c, `network.allowFrom[${idx}].namespaceSelector`, 'the baseline does not allow a peer that admits every namespace');
      return false;
    }
    return true;
  });
  if (kept.length !== n.allowFrom.length) {
    c.out.network = { ...n, allowFrom: kept };
    from(c, 'network.allowFrom', `${kept.length} peer(s)`, true);
  }
}

const STEPS = [mode, tls, authentication, authEndpoints, rateLimit, requestLimits, ipAccess, cors, waf, network, networkPeers, logging];

function authMethod(a: BaselineFloors['authentication']): string | undefined {
  return a ? Object.keys(a).find((k) => (a as Record<string, unknown>)[k] !== undefined) : undefined;
}

/** Applies every baseline (oldest first) to a policy's spec. */
export function applyBaselines(spec: ApiSecurityPolicySpec, policyName: string, baselines: Baseline[]): BaselineResult {
  const sorted = [...baselines].sort(olderFirst);
  const out: ApiSecurityPolicySpec = structuredClone(spec);
  const violations: Violation[] = [];
  const provenance: Provenance[] = [];
  for (const b of sorted) {
    const c: Ctx = { out, floors: b.floors, policy: spec, baseline: b.name, v: violations, p: provenance, policySource: `ApiSecurityPolicy/${policyName}` };
    for (const step of STEPS) step(c);
  }
  const conflicts: string[] = [];
  const withAuth = sorted.filter((b) => authMethod(b.floors.authentication));
  for (const b of withAuth.slice(1)) {
    if (authMethod(b.floors.authentication) !== authMethod(withAuth[0]?.floors.authentication)) {
      conflicts.push(`baselines ${withAuth[0]?.name} and ${b.name} require different authentication methods (${authMethod(withAuth[0]?.floors.authentication)} vs ${authMethod(b.floors.authentication)}); ${withAuth[0]?.name}'s applies`);
    }
  }
  // The last word per field wins in provenance (the strictest, as applied in order).
  const byField = new Map(provenance.map((p) => [p.field, p]));
  // Every baseline's list of data planes holds: the allowed ones are in all of them.
  let providers: BaselineProvider[] | undefined;
  for (const b of sorted) {
    if (!b.floors.providers) continue;
    providers = (providers ?? b.floors.providers).filter((p) => b.floors.providers?.includes(p));
  }
  const authHosts = [...new Set(sorted.flatMap((b) => b.floors.authHosts ?? []))];
  return {
    effective: out,
    ...(authHosts.length ? { authHosts } : {}),
    violations,
    provenance: [...byField.values()].sort((a, b) => codeUnitOrder(a.field, b.field)).slice(0, 32),
    conflicts,
    ...(providers ? { providers } : {}),
  };
}
