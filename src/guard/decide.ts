// The guard's decision for one request, as a function of (policy, request, keys, now): no I/O of its own
// (the key resolver it is handed may fetch a JWKS; tests hand it a local set). Order: which policy, what
// request (method and normalised path: from X-Original-*/X-Forwarded-* headers, or the check request's
// own method and path suffix as Envoy's ext_authz sends it), anonymous rules, credentials (a bearer JWT,
// or an API key), then the allow rules and defaultAction. Everything that is not a clear allow is a deny:
// an unknown, unsynced or invalid policy, one without a method the guard implements, a request it cannot
// read or that it is told about twice.
import { errors, jwtVerify, type JWTPayload, type JWTVerifyGetKey } from 'jose';
import type { ApiSecurityPolicySpec, HttpMethod } from '../api/v1alpha1.ts';
import { guardDecides, guardResponseHeaders } from '../render/delegation.ts';
import { inert } from '../render/text.ts';
import { matchApiKey, type ApiKeySet } from './apikeys.ts';
import { normalisePath, pathMatches, requestTarget } from './paths.ts';
import type { TokenCache } from './token-cache.ts';

/** Signature algorithms accepted from a public key: never `none`, never an HMAC. */
export const ALGORITHMS = ['RS256', 'RS384', 'RS512', 'PS256', 'PS384', 'PS512', 'ES256', 'ES384', 'ES512', 'EdDSA', 'Ed25519'];
export const CLOCK_SKEW_SECONDS = 60;
/** A JWT longer than this is refused before it is parsed. */
export const MAX_TOKEN_BYTES = 8192;
export const MAX_API_KEY_BYTES = 1024;

export interface GuardPolicy {
  namespace: string;
  name: string;
  spec: ApiSecurityPolicySpec;
}

export type PolicyLookup =
  | { state: 'ready'; policy: GuardPolicy }
  | { state: 'unknown' }
  | { state: 'notSynced' }
  | { state: 'invalid'; message: string };

/** The request the data plane asks about. Header names lower case, as node:http gives them. */
export interface CheckRequest {
  headers: Record<string, string | string[] | undefined>;
  /**
   * The original request as Envoy's ext_authz HTTP service sends it (`path_prefix`): the check request's
   * own method and the path and query after /check/{namespace}/{policy}. Absent for a bare check URL.
   */
  pathRequest?: { method: string; target: string };
}

/** What the guard was handed to check credentials with, for this policy. */
export interface Keys {
  jwt?: JWTVerifyGetKey;
  /** Where the JWT keys come from (jwksURI or issuer), part of the verified-token cache's scope. */
  jwtSource?: string;
  apiKeys?: ApiKeySet;
  /** Tokens verified before, for the same issuer, audiences and key source. */
  verified?: TokenCache;
}

export type AllowReason = 'Authenticated' | 'RuleAllowed' | 'DefaultAllow' | 'Anonymous';
export type DenyReason =
  | 'UnknownPolicy'
  | 'NotSynced'
  | 'InvalidPolicy'
  | 'NoIdentityControl'
  | 'NoRequestInfo'
  | 'BadPath'
  | 'MissingCredentials'
  | 'InvalidToken'
  | 'KeysUnavailable'
  | 'InvalidApiKey'
  | 'KeySecretUnusable'
  | 'NoMatchingRule'
  | 'InsufficientScope'
  | 'InternalError';

export type Decision =
  | { allow: true; status: 200; reason: AllowReason; headers: Record<string, string>; subject?: string }
  | { allow: false; status: 401 | 403; reason: DenyReason; detail: string; wwwAuthenticate?: string; subject?: string };

interface Identity {
  subject?: string;
  scopes: string[];
  client?: string;
  /** Header → value, from the policy's claimHeaders. */
  claims?: Record<string, string>;
}

const header = (r: CheckRequest, name: string): string | undefined => {
  const v = r.headers[name.toLowerCase()];
  return Array.isArray(v) ? v[0] : v;
};

/** Header values for the upstream: printable ASCII only (node refuses CR/LF), bounded. */
const headerValue = (s: string): string | undefined => {
  const clean = s.replace(/[^\x20-\x7e]/g, '').slice(0, 1024);
  return clean === '' ? undefined : clean;
};

const quote = (s: string): string => s.replace(/[^\x20-\x7e]/g, '').replace(/["\\]/g, "'");

function deny(status: 401 | 403, reason: DenyReason, detail: string, extra: { wwwAuthenticate?: string; subject?: string } = {}): Decision {
  return { allow: false, status, reason, detail: inert(detail, 512, true), ...extra };
}

/** RFC 6750 §3: no error code when the request carried no credentials. */
function challenge(p: GuardPolicy, error?: 'invalid_token' | 'insufficient_scope', description?: string, scope?: string): string {
  const scheme = p.spec.authentication?.apiKey ? 'APIKey' : 'Bearer';
  const parts = [`realm="${p.namespace}/${p.name}"`];
  if (p.spec.authentication?.apiKey) parts.push(`header="${p.spec.authentication.apiKey.header}"`);
  if (error) parts.push(`error="${error}"`);
  if (description) parts.push(`error_description="${quote(description).slice(0, 200)}"`);
  if (scope) parts.push(`scope="${quote(scope)}"`);
  return `${scheme} ${parts.join(', ')}`;
}

/** The headers in which a data plane describes the original request. */
const DESCRIBING_HEADERS = ['x-original-url', 'x-original-method', 'x-forwarded-uri', 'x-forwarded-method'];

interface Original {
  method: string;
  target: string;
  /** Read from the check request's path (Envoy), not from headers. */
  viaPath: boolean;
}

/**
 * The original request: a path suffix (Envoy) when no header describes one, since two descriptions that
 * may differ are refused rather than one chosen (a client whose header reached the guard could pick the
 * path judged); else the headers.
 */
function original(r: CheckRequest): Original | 'ambiguous' | undefined {
  if (!r.pathRequest) return originalFromHeaders(r);
  if (DESCRIBING_HEADERS.some((h) => header(r, h) !== undefined)) return 'ambiguous';
  return { method: r.pathRequest.method.toUpperCase(), target: r.pathRequest.target, viaPath: true };
}

/** The original method and target: X-Original-* (ingress-nginx, the sidecar) first, else X-Forwarded-* (Traefik). */
function originalFromHeaders(r: CheckRequest): Original | undefined {
  const url = header(r, 'x-original-url');
  const method = header(r, 'x-original-method');
  // A data plane that sends X-Original-URL owns these names; never fall back to X-Forwarded-*, which
  // its client may have sent.
  if (url !== undefined) {
    const target = requestTarget(url);
    return target === undefined || method === undefined ? undefined : { method: method.toUpperCase(), target, viaPath: false };
  }
  const uri = header(r, 'x-forwarded-uri');
  const fmethod = header(r, 'x-forwarded-method');
  if (uri !== undefined && fmethod !== undefined) {
    const target = requestTarget(uri);
    return target === undefined ? undefined : { method: fmethod.toUpperCase(), target, viaPath: false };
  }
  return undefined;
}

type Rule = NonNullable<ApiSecurityPolicySpec['authorization']>['rules'][number];
const ruleMatches = (rule: Rule, method: string, path: string): boolean =>
  (rule.methods as readonly string[]).includes(method as HttpMethod) && rule.paths.some((p) => pathMatches(p, path));

function scopesOf(payload: JWTPayload): string[] {
  const out: string[] = [];
  if (typeof payload.scope === 'string') out.push(...payload.scope.split(' '));
  const scp = payload.scp;
  if (typeof scp === 'string') out.push(...scp.split(' '));
  else if (Array.isArray(scp)) out.push(...scp.filter((s): s is string => typeof s === 'string'));
  return [...new Set(out.filter(Boolean))];
}

/** The configured claims as header values: strings as they are, numbers and booleans as text, string arrays joined. */
function claimValues(payload: JWTPayload, wanted: readonly { claim: string; header: string }[]): Record<string, string> {
  const out: Record<string, string> = {};
  for (const { claim, header: name } of wanted) {
    const v = payload[claim];
    const text = typeof v === 'string' || typeof v === 'number' || typeof v === 'boolean' ? String(v) : Array.isArray(v) && v.every((x) => typeof x === 'string') ? v.join(',') : undefined;
    const clean = text === undefined ? undefined : headerValue(text);
    if (clean) out[name] = clean;
  }
  return out;
}

/** Why a token was refused, in words for the client and the log (never the token). */
function tokenProblem(err: unknown): { reason: DenyReason; detail: string } {
  if (err instanceof KeysUnavailableError) return { reason: 'KeysUnavailable', detail: err.message };
  if (err instanceof errors.JWTExpired) return { reason: 'InvalidToken', detail: 'the token has expired' };
  if (err instanceof errors.JWTClaimValidationFailed) return { reason: 'InvalidToken', detail: `claim ${err.claim} ${err.reason === 'missing' ? 'is missing' : 'is not accepted'}` };
  if (err instanceof errors.JOSEAlgNotAllowed) return { reason: 'InvalidToken', detail: 'the signing algorithm is not allowed' };
  if (err instanceof errors.JWSSignatureVerificationFailed) return { reason: 'InvalidToken', detail: 'the signature does not verify' };
  if (err instanceof errors.JWKSNoMatchingKey) return { reason: 'InvalidToken', detail: 'no signing key of the issuer matches the token' };
  if (err instanceof errors.JWKSMultipleMatchingKeys) return { reason: 'InvalidToken', detail: 'several signing keys match the token' };
  if (err instanceof errors.JOSEError) return { reason: 'InvalidToken', detail: 'the token is malformed' };
  return { reason: 'KeysUnavailable', detail: 'the signing keys could not be read' };
}

/** Raised by a key resolver that has no keys to offer (JWKS down past its stale bound, not JSON, no usable key). */
export class KeysUnavailableError extends Error {}

/** The bearer token of the Authorization header, or the 401 that its absence or shape calls for. */
function bearerToken(p: GuardPolicy, r: CheckRequest): string | Decision {
  const value = header(r, 'authorization');
  if (value === undefined || value.trim() === '') return deny(401, 'MissingCredentials', 'no bearer token', { wwwAuthenticate: challenge(p) });
  const m = /^Bearer +([^ ]+) *$/i.exec(value);
  if (!m?.[1]) return deny(401, 'InvalidToken', 'the Authorization header is not a bearer token', { wwwAuthenticate: challenge(p, 'invalid_token', 'not a bearer token') });
  if (m[1].length > MAX_TOKEN_BYTES) return deny(401, 'InvalidToken', `the token is longer than ${MAX_TOKEN_BYTES} bytes`, { wwwAuthenticate: challenge(p, 'invalid_token', 'token too large') });
  return m[1];
}

/** What a token must show for this policy, and the cache scope of a verified one (issuer, audiences, key source). */
function jwtExpectations(p: GuardPolicy, keys: Keys): { issuer: string; audiences: string[] | undefined; scope: string; claimHeaders: readonly { claim: string; header: string }[] } {
  const method = p.spec.authentication?.jwt ?? p.spec.authentication?.oidc;
  const issuer = p.spec.authentication?.jwt?.issuer ?? p.spec.authentication?.oidc?.issuerURL ?? '';
  const audiences = method?.audiences;
  return { issuer, audiences, scope: `${issuer}\n${audiences?.join(' ') ?? ''}\n${keys.jwtSource ?? ''}`, claimHeaders: method?.claimHeaders ?? [] };
}

async function authenticateJwt(p: GuardPolicy, r: CheckRequest, keys: Keys, now: Date): Promise<Identity | Decision> {
  const token = bearerToken(p, r);
  if (typeof token !== 'string') return token;
  if (!keys.jwt) return deny(401, 'KeysUnavailable', 'the guard has no signing keys for this policy', { wwwAuthenticate: challenge(p, 'invalid_token', 'signing keys unavailable') });
  const { issuer, audiences, scope, claimHeaders } = jwtExpectations(p, keys);
  const identity = (payload: JWTPayload): Identity => ({
    ...(typeof payload.sub === 'string' ? { subject: payload.sub } : {}),
    scopes: scopesOf(payload),
    claims: claimValues(payload, claimHeaders),
  });
  const cached = keys.verified?.get(scope, token, now.getTime());
  if (cached) return identity(cached);
  try {
    const { payload } = await jwtVerify(token, keys.jwt, {
      issuer,
      ...(audiences?.length ? { audience: audiences } : {}),
      algorithms: ALGORITHMS,
      clockTolerance: CLOCK_SKEW_SECONDS,
      requiredClaims: ['exp'],
      currentDate: now,
    });
    keys.verified?.set(scope, token, payload, { now: now.getTime(), expiresAt: ((payload.exp ?? 0) + CLOCK_SKEW_SECONDS) * 1000 });
    return identity(payload);
  } catch (err) {
    const { reason, detail } = tokenProblem(err);
    return deny(401, reason, detail, { wwwAuthenticate: challenge(p, 'invalid_token', detail) });
  }
}

function authenticateApiKey(p: GuardPolicy, r: CheckRequest, keys: Keys): Identity | Decision {
  const name = p.spec.authentication?.apiKey?.header ?? 'X-API-Key';
  const value = header(r, name);
  if (value === undefined || value === '') return deny(401, 'MissingCredentials', `no API key in header ${name}`, { wwwAuthenticate: challenge(p) });
  const set = keys.apiKeys;
  if (!set) return deny(401, 'KeySecretUnusable', `Secret ${p.spec.authentication?.apiKey?.secretRef?.name ?? ''} is not found, or not labelled apisec.dev/api-keys=true`, { wwwAuthenticate: challenge(p, 'invalid_token', 'no keys') });
  if (!set.ok) return deny(401, 'KeySecretUnusable', `Secret ${p.spec.authentication?.apiKey?.secretRef?.name ?? ''}: ${set.problem}`, { wwwAuthenticate: challenge(p, 'invalid_token', 'no keys') });
  if (Buffer.byteLength(value) > MAX_API_KEY_BYTES) return deny(401, 'InvalidApiKey', 'the API key is too long', { wwwAuthenticate: challenge(p, 'invalid_token', 'invalid key') });
  const client = matchApiKey(set, value);
  if (client === undefined) return deny(401, 'InvalidApiKey', 'the API key matches no client', { wwwAuthenticate: challenge(p, 'invalid_token', 'invalid key') });
  return { client, subject: client, scopes: [] };
}

function identityHeaders(id: Identity): Record<string, string> {
  const out: Record<string, string> = {};
  const subject = id.subject === undefined ? undefined : headerValue(id.subject);
  if (subject) out['X-Auth-Subject'] = subject;
  const scopes = headerValue(id.scopes.join(' '));
  if (scopes) out['X-Auth-Scopes'] = scopes;
  if (id.client) out['X-Auth-Client'] = id.client;
  return { ...id.claims, ...out };
}

function authorize(p: GuardPolicy, id: Identity, method: string, path: string): Decision {
  const z = p.spec.authorization;
  const allow = (reason: AllowReason): Decision => ({ allow: true, status: 200, reason, headers: identityHeaders(id), ...(id.subject ? { subject: id.subject } : {}) });
  if (!z) return allow('Authenticated');
  const missing = new Set<string>();
  for (const rule of z.rules) {
    if (rule.anonymous || !ruleMatches(rule, method, path)) continue;
    const lacks = (rule.requireScopes ?? []).filter((s) => !id.scopes.includes(s));
    if (lacks.length === 0) return allow('RuleAllowed');
    for (const s of lacks) missing.add(s);
  }
  if (z.defaultAction === 'Allow') return allow('DefaultAllow');
  const subject = id.subject ? { subject: id.subject } : {};
  if (missing.size) {
    const scope = [...missing].join(' ');
    return deny(403, 'InsufficientScope', `missing scope ${scope} for ${method} ${path}`, { wwwAuthenticate: challenge(p, 'insufficient_scope', 'missing scope', scope), ...subject });
  }
  return deny(403, 'NoMatchingRule', `no rule allows ${method} ${path}`, { wwwAuthenticate: challenge(p, 'insufficient_scope', 'not allowed'), ...subject });
}

/** The answer header in which Envoy's ext_authz HTTP service reads the request headers to remove. */
export const ENVOY_REMOVE_HEADER = 'x-envoy-auth-headers-to-remove';

/**
 * Envoy copies to the upstream only the headers an allowing answer carries (`headersToBackend`), so a
 * client's own X-Auth-Subject would reach the upstream wherever the guard sets none (anonymous rules, a
 * token without scopes). The answer names every identity header it does not carry for removal; Envoy
 * removes them after it copied the others.
 */
function withEnvoyRemovals(p: GuardPolicy, d: Decision): Decision {
  if (!d.allow || !p.spec.authentication) return d;
  const carried = new Set(Object.keys(d.headers).map((h) => h.toLowerCase()));
  const remove = guardResponseHeaders(p.spec.authentication).filter((h) => !carried.has(h.toLowerCase()));
  return remove.length ? { ...d, headers: { ...d.headers, [ENVOY_REMOVE_HEADER]: remove.join(', ') } } : d;
}

export async function decide(lookup: PolicyLookup, request: CheckRequest, keys: Keys, now: Date): Promise<Decision> {
  if (lookup.state === 'unknown') return deny(403, 'UnknownPolicy', 'no such ApiSecurityPolicy: denied (fail closed)');
  if (lookup.state === 'notSynced') return deny(403, 'NotSynced', 'the guard has not read the policies yet: denied (fail closed)');
  if (lookup.state === 'invalid') return deny(403, 'InvalidPolicy', `the policy is invalid: ${lookup.message}`);
  const p = lookup.policy;
  if (!guardDecides(p.spec.authentication)) return deny(403, 'NoIdentityControl', 'the policy declares no authentication the guard decides (jwt, oidc or apiKey without authURL): denied (fail closed)');
  const req = original(request);
  if (req === 'ambiguous') return deny(403, 'NoRequestInfo', 'the request describes the original request twice, by a path after /check/{namespace}/{policy} and by X-Original-* or X-Forwarded-* headers: denied as ambiguous');
  if (!req) return deny(403, 'NoRequestInfo', 'the request names no original method and URI (X-Original-Method and X-Original-URL, or X-Forwarded-Method and X-Forwarded-Uri, or a path after /check/{namespace}/{policy})');
  const norm = normalisePath(req.target);
  if (!norm.ok) return deny(403, 'BadPath', norm.why);
  const d = await judge(p, request, { method: req.method, path: norm.path }, { keys, now });
  return req.viaPath ? withEnvoyRemovals(p, d) : d;
}

/** Anonymous rules, then the credentials, then the allow rules, for the normalised original request. */
async function judge(p: GuardPolicy, request: CheckRequest, { method, path }: { method: string; path: string }, { keys, now }: { keys: Keys; now: Date }): Promise<Decision> {
  if (p.spec.authorization?.rules.some((rule) => rule.anonymous && ruleMatches(rule, method, path))) {
    return { allow: true, status: 200, reason: 'Anonymous', headers: {} };
  }
  const id = p.spec.authentication?.apiKey ? authenticateApiKey(p, request, keys) : await authenticateJwt(p, request, keys, now);
  if ('allow' in id) return id;
  return authorize(p, id, method, path);
}
