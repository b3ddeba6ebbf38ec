// What a data plane that calls an external auth endpoint can and cannot vouch for. A user's endpoint
// (authURL) decides on its own, and nothing tells it the policy's issuer, audiences or authorization
// rules: those are reported as Delegated (authentication) or unenforced (authorization), never as
// enforced. Without authURL, jwt, oidc and apiKey are decided by the apisec guard (src/guard), which
// reads the policy itself and enforces every part of both controls: Exact.
import type { ApiSecurityPolicySpec } from '../api/v1alpha1.ts';
import type { FidelityNote, FidelityReport, PolicyRef } from './types.ts';

type Auth = NonNullable<ApiSecurityPolicySpec['authentication']>;

/** The external endpoint a delegated method calls, if the method is delegated. */
export function delegatedEndpoint(auth: Auth | undefined): string | undefined {
  return (auth?.oidc ?? auth?.jwt ?? auth?.apiKey ?? auth?.external)?.authURL;
}

/** Headers the guard answers a 2xx with, for the upstream; the data planes overwrite any a client sent. */
export const GUARD_IDENTITY_HEADERS = ['X-Auth-Subject', 'X-Auth-Scopes', 'X-Auth-Client'] as const;

/** Every header the guard may answer a 2xx with for this policy: the identity headers and its claim headers. */
export function guardResponseHeaders(auth: Auth): string[] {
  const claims = (auth.jwt ?? auth.oidc)?.claimHeaders ?? [];
  return [...GUARD_IDENTITY_HEADERS, ...claims.map((c) => c.header)];
}

/** Whether the guard decides: a method it implements, without a user's authURL. */
export function guardDecides(auth: Auth | undefined): boolean {
  const method = auth?.oidc ?? auth?.jwt ?? auth?.apiKey;
  return method !== undefined && method.authURL === undefined;
}

/** The guard's check endpoint for one policy (names are DNS labels: no escaping needed). */
export function guardCheckURL(guardURL: string, policy: Pick<PolicyRef, 'namespace' | 'name'>): string {
  return `${guardURL.replace(/\/+$/, '')}/check/${policy.namespace}/${policy.name}`;
}

/** The request headers that carry the credential, the only client headers a data plane passes to the guard. */
export function credentialHeaders(auth: Auth): string[] {
  return auth.apiKey ? [auth.apiKey.header] : ['Authorization'];
}

/**
 * Fidelity of Authentication and Authorization when the guard decides; `how` names the call the operator
 * wrote. Without a guard URL nothing checks the credentials: Unsupported, and the rules unenforced.
 */
export function guardFidelity(spec: ApiSecurityPolicySpec, guardURL: string | undefined, how: string): FidelityReport {
  const f: FidelityReport = {};
  if (guardURL === undefined) {
    f.Authentication = { fidelity: 'Unsupported', reason: 'no authURL is set and the operator knows no apisec guard (--guard-url), so nothing checks the credentials' };
    const unenforced = unenforcedAuthorization(spec);
    if (spec.authorization) f.Authorization = { fidelity: 'Unsupported', reason: 'no apisec guard is configured', ...(unenforced.length ? { unenforced } : {}) };
    return f;
  }
  f.Authentication = { fidelity: 'Exact', reason: `by the apisec guard (${how}), which validates ${guardChecks(spec)}` };
  if (spec.authorization) f.Authorization = { fidelity: 'Exact', reason: `by the apisec guard (${how}): method, normalised path and scopes of every rule, then defaultAction ${spec.authorization.defaultAction}` };
  return f;
}

function guardChecks(spec: ApiSecurityPolicySpec): string {
  const a = spec.authentication;
  if (a?.apiKey) return `API keys in header ${a.apiKey.header} against Secret ${a.apiKey.secretRef?.name ?? ''}`;
  const aud = a?.jwt?.audiences ?? a?.oidc?.audiences;
  const keys = a?.jwt ? `keys from ${a.jwt.jwksURI}` : `keys from the discovery document of ${a?.oidc?.issuerURL ?? ''}`;
  return `bearer tokens: signature (${keys}), issuer, ${aud?.length ? `audiences ${aud.join(', ')}, ` : ''}expiry and not-before`;
}

/** The parts of the declared method that only the endpoint can check. */
function delegatedChecks(auth: Auth): string[] {
  if (auth.oidc) return [`tokens of issuer ${auth.oidc.issuerURL}`, ...(auth.oidc.audiences?.length ? [`audiences ${auth.oidc.audiences.join(', ')}`] : [])];
  if (auth.jwt) return [`issuer ${auth.jwt.issuer}`, `keys from ${auth.jwt.jwksURI}`, ...(auth.jwt.audiences?.length ? [`audiences ${auth.jwt.audiences.join(', ')}`] : [])];
  if (auth.apiKey) return [`API keys in header ${auth.apiKey.header}`];
  return [];
}

/** Fidelity of a delegated authentication method; `how` names what the operator wrote. */
export function delegatedAuthentication(auth: Auth, how: string, extra: string[] = []): FidelityNote {
  const endpoint = delegatedEndpoint(auth) ?? '';
  const checks = delegatedChecks(auth);
  const what = checks.length ? `; the operator cannot verify that it checks ${checks.join(', ')}` : '; the operator cannot verify what it checks';
  return { fidelity: 'Delegated', reason: [`the endpoint at ${endpoint} decides (${how})${what}`, ...extra].join('; ') };
}

/** The authorization rules no component enforces (nothing passes them to any data plane yet). */
export function unenforcedAuthorization(spec: ApiSecurityPolicySpec): string[] {
  const z = spec.authorization;
  if (!z || (z.defaultAction === 'Allow' && z.rules.length === 0)) return [];
  const scoped = z.rules.filter((r) => r.requireScopes?.length).length;
  return [
    `${z.rules.length} allow rule(s)${scoped ? ` (${scoped} requiring scopes)` : ''} and defaultAction ${z.defaultAction}: no component the operator configures evaluates them` +
      (delegatedEndpoint(spec.authentication) ? ', and the auth endpoint is not told about them' : ''),
  ];
}
