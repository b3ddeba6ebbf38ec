// What a data plane that calls an external auth endpoint can and cannot vouch for. The operator writes
// the call (auth-url, forwardAuth), but the endpoint decides, and nothing tells it the policy's issuer,
// audiences or authorization rules: those are the endpoint's own business, so they are reported as
// Delegated (authentication) or unenforced (authorization), never as enforced.
import type { ApiSecurityPolicySpec } from '../api/v1alpha1.ts';
import type { FidelityNote } from './types.ts';

type Auth = NonNullable<ApiSecurityPolicySpec['authentication']>;

/** The external endpoint a delegated method calls, if the method is delegated. */
export function delegatedEndpoint(auth: Auth | undefined): string | undefined {
  return (auth?.oidc ?? auth?.jwt ?? auth?.apiKey ?? auth?.external)?.authURL;
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
