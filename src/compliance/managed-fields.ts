// Reading server-side-apply ownership from managedFields: which annotation keys a field manager applied.
// Pure, so the compliance layer (who wrote a marker) and the controller (what to release) read it alike.
import type { KubeObject } from '../k8s/resources.ts';

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
