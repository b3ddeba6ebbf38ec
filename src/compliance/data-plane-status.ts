// What a data plane says of the objects the operator wrote for it. Envoy Gateway reports, per ancestor
// Gateway, whether it accepted a SecurityPolicy or BackendTrafficPolicy (status.ancestors, GEP-713): a
// policy it refuses (another SecurityPolicy already attached to the route, a reference it cannot
// resolve) enforces nothing there, so the route targets behind that Gateway are not programmed, whatever
// the operator wrote. Only a refusal counts: no status yet is no evidence either way. Pure.
import type { KubeObject } from '../k8s/resources.ts';
import { inert } from '../render/text.ts';

/** The cached form of one ancestor's status (src/controller/slim.ts keeps only this, bounded). */
export interface AncestorStatus {
  ancestorRef: { name: string; namespace?: string; kind?: string; sectionName?: string };
  controllerName?: string;
  conditions?: { type: string; status: string; reason?: string; message?: string; observedGeneration?: number }[];
}

/** A Gateway (namespace/name) on which the data plane refused one of the policy's objects, and why. */
export interface DataPlaneRefusal {
  gateway: string;
  message: string;
}

export const DATA_PLANE_REJECTED = 'DataPlaneRejected';

/** The refusals in the status of the policy's own objects, for their current generation. */
export function dataPlaneRefusals(objects: readonly KubeObject[]): DataPlaneRefusal[] {
  const out: DataPlaneRefusal[] = [];
  for (const o of objects) {
    const ancestors = ((o as { status?: { ancestors?: AncestorStatus[] } }).status?.ancestors ?? []).slice(0, 16);
    for (const a of ancestors) {
      if ((a.ancestorRef.kind ?? 'Gateway') !== 'Gateway') continue;
      const accepted = a.conditions?.find((c) => c.type === 'Accepted');
      if (accepted?.status !== 'False') continue;
      // A condition for an older generation says nothing of what is written now.
      if (accepted.observedGeneration !== undefined && o.metadata.generation !== undefined && accepted.observedGeneration < o.metadata.generation) continue;
      const gateway = `${a.ancestorRef.namespace ?? o.metadata.namespace ?? ''}/${a.ancestorRef.name}`;
      // The data plane's text is not ours: escaped and clipped.
      const why = `${inert(accepted.reason ?? 'NotAccepted', 64, true)}: ${inert(accepted.message ?? '', 300, true)}`;
      out.push({ gateway, message: `${inert(a.controllerName ?? 'the data plane', 253, true)} did not accept ${o.kind} ${o.metadata.name} for Gateway ${gateway} (${why})` });
    }
  }
  return out;
}
