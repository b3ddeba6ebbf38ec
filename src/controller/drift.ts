// Drift: an object the operator had converged, changed by someone else. A reconcile knows it had
// converged when the digest of what it wants equals the digest recorded in status after the last
// successful apply, at the same generation. Then any difference on a target is drift: it is reported
// (naming the field and who changed it) and repaired — unless the same policy had to repair too often
// in a short window, which means another writer is fighting it: then repairs pause and that is reported.
import { codeUnitOrder } from '../util/order.ts';
import { createHash } from 'node:crypto';
import type { KubeObject } from '../k8s/resources.ts';
import { canonical, isSubset } from './state.ts';

export interface DriftItem {
  /** Kind/name of the object that drifted. */
  object: string;
  /** What changed, e.g. `annotation nginx.ingress.kubernetes.io/limit-rps` or `deleted`. */
  field: string;
  /** The field manager that owns the changed field now, when known. */
  by?: string;
}

export function digestOf(desired: unknown): string {
  return createHash('sha256').update(canonical(desired)).digest('hex').slice(0, 16);
}

/** Annotation keys whose value differs from `want`, with the manager that last wrote each. */
export function annotationDrift(obj: KubeObject, want: Record<string, string>): DriftItem[] {
  const current = obj.metadata.annotations ?? {};
  const items: DriftItem[] = [];
  for (const [k, v] of Object.entries(want).sort(([a], [b]) => codeUnitOrder(a, b))) {
    if (current[k] === v) continue;
    const by = (obj.metadata.managedFields ?? []).find((m) => {
      const ann = (m.fieldsV1?.['f:metadata'] as Record<string, unknown> | undefined)?.['f:annotations'] as Record<string, unknown> | undefined;
      return ann !== undefined && `f:${k}` in ann;
    })?.manager;
    items.push({ object: `${obj.kind ?? 'Ingress'}/${obj.metadata.name}`, field: current[k] === undefined ? `annotation ${k} (removed)` : `annotation ${k}`, ...(by ? { by } : {}) });
  }
  return items;
}

/** The first top-level field of `desired` that `actual` no longer matches. */
export function ownedDrift(desired: KubeObject & { kind: string }, actual: KubeObject | undefined): DriftItem {
  const { kind } = desired;
  const { name } = desired.metadata;
  if (!actual) return { object: `${kind}/${name}`, field: 'deleted' };
  const field = Object.keys(desired).find((k) => k !== 'metadata' && !isSubset(desired[k], actual[k])) ?? 'metadata';
  const by = [...(actual.metadata.managedFields ?? [])].reverse().find((m) => m.operation === 'Update')?.manager;
  return { object: `${kind}/${name}`, field, ...(by ? { by } : {}) };
}

export function describeDrift(items: DriftItem[]): string {
  const shown = items.slice(0, 5).map((i) => `${i.object} ${i.field}${i.by ? ` (changed by ${i.by})` : ''}`);
  return `${shown.join('; ')}${items.length > 5 ? `; and ${items.length - 5} more` : ''}`;
}

/**
 * Counts repairs per policy key in a sliding window. Entries are pruned as they age and removed with
 * forget(), so the map holds only keys that repaired recently.
 */
export class RepairBudget {
  private readonly repairs = new Map<string, number[]>();
  /** When each key's current pause began (its first refused repair). */
  private readonly paused = new Map<string, number>();
  readonly max: number;
  readonly windowMs: number;
  private readonly now: () => number;

  constructor(max = 3, windowMs = 5 * 60_000, now: () => number = Date.now) {
    this.max = max;
    this.windowMs = windowMs;
    this.now = now;
  }

  private recent(key: string): number[] {
    const cutoff = this.now() - this.windowMs;
    const kept = (this.repairs.get(key) ?? []).filter((t) => t > cutoff);
    if (kept.length) this.repairs.set(key, kept);
    else this.repairs.delete(key);
    return kept;
  }

  /** True when the key may repair again (fewer than max repairs in the window). */
  allows(key: string): boolean {
    return this.recent(key).length < this.max;
  }

  record(key: string): void {
    this.repairs.set(key, [...this.recent(key), this.now()]);
  }

  /** True once per pause of a key (a window long): the time to say so, once (log line, Event). */
  firstPause(key: string): boolean {
    const since = this.paused.get(key);
    if (since !== undefined && this.now() - since < this.windowMs) return false;
    this.paused.set(key, this.now());
    return true;
  }

  forget(key: string): void {
    this.repairs.delete(key);
    this.paused.delete(key);
  }

  get size(): number {
    return this.repairs.size;
  }
}
