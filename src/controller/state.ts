// Helpers that read observed state: which annotation keys the operator's field manager owns, whether
// an object already has everything desired, and a canonical form to compare statuses.
import { ownedAnnotationKeys } from '../compliance/managed-fields.ts';
import type { KubeObject } from '../k8s/resources.ts';

export { ownedAnnotationKeys };

/** True when the object lacks a desired annotation value, or the manager owns keys it no longer wants. */
export function annotationsNeedApply(obj: KubeObject, manager: string, desired: Record<string, string>): boolean {
  const owned = ownedAnnotationKeys(obj, manager);
  const want = Object.keys(desired).sort();
  if (owned.length !== want.length || owned.some((k, i) => k !== want[i])) return true;
  const current = obj.metadata.annotations ?? {};
  return want.some((k) => current[k] !== desired[k]);
}

/**
 * True when every field of `desired` is present with the same value in `actual` (recursively; arrays
 * element by element with equal length). Fields the API server adds (defaults, metadata) are ignored.
 */
export function isSubset(desired: unknown, actual: unknown): boolean {
  if (Array.isArray(desired)) {
    return Array.isArray(actual) && desired.length === actual.length && desired.every((d, i) => isSubset(d, actual[i]));
  }
  if (desired !== null && typeof desired === 'object') {
    if (actual === null || typeof actual !== 'object' || Array.isArray(actual)) return false;
    return Object.entries(desired as Record<string, unknown>).every(([k, v]) => v === undefined || isSubset(v, (actual as Record<string, unknown>)[k]));
  }
  return desired === actual;
}

/** JSON with sorted keys and without undefined fields, for order-insensitive equality. */
export function canonical(value: unknown): string {
  return JSON.stringify(value, (_k, v: unknown) =>
    v !== null && typeof v === 'object' && !Array.isArray(v)
      ? Object.fromEntries(Object.entries(v as Record<string, unknown>).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)))
      : v,
  );
}
