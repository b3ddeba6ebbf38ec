// Reading server-side-apply ownership from managedFields: which annotation keys a field manager applied.
// Pure, so the compliance layer (who wrote a marker) and the controller (what to release) read it alike.
import type { KubeObject } from '../k8s/resources.ts';
import { inert } from '../render/text.ts';

/** Annotation keys owned by `manager` through Apply on the main resource (from managedFields). */
export function ownedAnnotationKeys(obj: Pick<KubeObject, 'metadata'>, manager: string): string[] {
  const keys: string[] = [];
  for (const m of obj.metadata.managedFields ?? []) {
    if (m.manager !== manager || m.operation !== 'Apply' || (m.subresource ?? '') !== '') continue;
    const meta = m.fieldsV1?.['f:metadata'] as Record<string, unknown> | undefined;
    const ann = meta?.['f:annotations'] as Record<string, unknown> | undefined;
    for (const k of Object.keys(ann ?? {})) if (k.startsWith('f:')) keys.push(k.slice(2));
  }
  return keys.sort();
}

/** A desired annotation whose key another field manager owns with a different value. */
export interface AnnotationConflict {
  key: string;
  /** The other managers that own the key (from managedFields). */
  managers: string[];
}

/**
 * The keys of `want` that another manager owns while the object shows a different value: an apply
 * without force is refused on exactly these, and a forced one would take them over. A key another
 * manager owns with the same value is shared, not a conflict.
 */
export function annotationConflicts(obj: Pick<KubeObject, 'metadata'>, want: Record<string, string>, manager: string): AnnotationConflict[] {
  const current = obj.metadata.annotations ?? {};
  const owners = new Map<string, string[]>();
  for (const m of obj.metadata.managedFields ?? []) {
    if (m.manager === manager || (m.subresource ?? '') !== '') continue;
    const ann = (m.fieldsV1?.['f:metadata'] as Record<string, unknown> | undefined)?.['f:annotations'] as Record<string, unknown> | undefined;
    for (const k of Object.keys(ann ?? {})) {
      if (!k.startsWith('f:')) continue;
      const key = k.slice(2);
      owners.set(key, [...(owners.get(key) ?? []), m.manager ?? '(unnamed)']);
    }
  }
  const out: AnnotationConflict[] = [];
  for (const key of Object.keys(want).sort()) {
    const managers = owners.get(key);
    if (managers && current[key] !== want[key]) out.push({ key, managers: [...new Set(managers)].sort() });
  }
  return out;
}

/** Why an Ingress is left as it is, for the target's status: each key, who owns it, and how to free it. */
export function describeAnnotationConflicts(ingress: string, conflicts: readonly AnnotationConflict[]): string {
  const name = inert(ingress, 253, true);
  const shown = conflicts.slice(0, 3).map((c) => `${inert(c.key, 317, true)} (field manager ${c.managers.map((m) => `"${inert(m, 128, true)}"`).join(', ')})`);
  const more = conflicts.length > 3 ? ` and ${conflicts.length - 3} more` : '';
  const first = inert(conflicts[0]?.key ?? '', 317, true);
  return (
    `Ingress/${name}: another field manager owns ${shown.join(', ')}${more} with a value this policy would change; ` +
    `the operator does not take over annotations it did not write. Remove the key from that manager's manifest ` +
    `(or: kubectl annotate ingress ${name} ${first}-), or drop the control from the policy`
  );
}
