// Names, labels and owner references shared by every generated object.
import { createHash } from 'node:crypto';
import type { PolicyRef } from './types.ts';

export const MANAGED_BY = 'api-security-operator';
export const LABEL_MANAGED_BY = 'app.kubernetes.io/managed-by';
export const LABEL_POLICY = 'apisec.dev/policy';
/** Marker annotation on every target Ingress: which policy's controls it carries. */
export const ANNOTATION_POLICY = 'apisec.dev/policy';

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

function hash(s: string): string {
  return createHash('sha256').update(s).digest('hex').slice(0, 10);
}
