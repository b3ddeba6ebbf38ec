// Names, labels and owner references shared by every generated object.
import { createHash } from 'node:crypto';
import type { PolicyRef } from './types.ts';

export const MANAGED_BY = 'api-security-operator';
export const LABEL_MANAGED_BY = 'app.kubernetes.io/managed-by';
export const LABEL_POLICY = 'apisec.dev/policy';
/** Marker annotation on every target Ingress: which policy's controls it carries. */
export const ANNOTATION_POLICY = 'apisec.dev/policy';
/** On the guard's SuspiciousActivity Events, so the operator caches those and no other Event. */
export const LABEL_EVENT = 'apisec.dev/event';
export const SUSPICIOUS_ACTIVITY = 'suspicious-activity';
/** On the guard's Events that it could not reach the rate-limit store for a policy (reason below). */
export const RATE_LIMIT_STORE_EVENT = 'rate-limit-store';
export const STORE_UNAVAILABLE_REASON = 'RateLimitStoreUnavailable';
/**
 * On a Secret, its owner's consent to be an mTLS client CA (`apisec.dev/client-ca: "true"`): a policy may
 * name only such a Secret, so no policy makes, say, a ServiceAccount token's ca.crt (the cluster CA) one.
 */
export const LABEL_CLIENT_CA = 'apisec.dev/client-ca';
/** The owner's consent that a Secret's entries be API keys (the guard lists only such Secrets; src/compliance/secret-consent.ts). */
export const LABEL_API_KEYS = 'apisec.dev/api-keys';

export function ownedLabels(policy: PolicyRef): Record<string, string> {
  return { [LABEL_MANAGED_BY]: MANAGED_BY, [LABEL_POLICY]: labelValue(policy.name) };
}

export function ownerReference(policy: PolicyRef): {
  apiVersion: string;
  kind: string;
  name: string;
  uid: string;
  controller: boolean;
} {
  return { apiVersion: 'apisec.dev/v1alpha1', kind: 'ApiSecurityPolicy', name: policy.name, uid: policy.uid, controller: true };
}

/** A label value (≤ 63 characters): long names keep a prefix and a hash so they stay unique. */
export function labelValue(name: string): string {
  return name.length <= 63 ? name : `${name.slice(0, 52)}-${hash(name)}`;
}

/** A DNS-1123 object name from parts, ≤ max characters, unique by hash when shortened. */
export function objectName(parts: string[], max = 63): string {
  const full = parts.join('-');
  if (full.length <= max) return full;
  return `${full.slice(0, max - 11).replace(/[-.]+$/, '')}-${hash(full)}`;
}

/**
 * The name of an object generated for one target of a policy: `apisec-<policy>-<target>`, shortened, and a
 * hash of the namespace, the policy's UID and the target. Unique by construction: two policies never share
 * a name however their names and targets combine (`a` + `b-c`, `a-b` + `c`), a re-created policy gets new
 * names, and another tenant cannot predict them (Traefik joins `<namespace>-<name>` into one ID, so a
 * predictable name in namespace `team` could shadow one in `team-a`). DNS-1123, at most 63 characters.
 */
export function generatedName(policy: PolicyRef, target: string): string {
  const readable = `apisec-${policy.name}-${target}`.slice(0, 63 - 11).replace(/[-.]+$/, '');
  return `${readable}-${hash(`${policy.namespace}/${policy.uid}/${target}`)}`;
}

function hash(s: string): string {
  return createHash('sha256').update(s).digest('hex').slice(0, 10);
}
