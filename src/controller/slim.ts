// What the operator keeps of each cached object: only what it compares or names, so that nobody can grow
// its memory by labelling big objects (a ConfigMap of 1 MiB with the operator's labels) and every replica
// does not hold each Ingress's and Service's whole history of field managers.
//   - `kubectl.kubernetes.io/last-applied-configuration` is dropped (a copy of the object).
//   - managedFields keep each manager and operation; the field sets only for metadata.annotations
//     (whose keys our field manager owns, and who changed one of them).
//   - A ConfigMap that no ApiSecurityPolicy owns loses its data: the operator never reads it.
//   - The guard's SuspiciousActivity Events keep whom they are about, when, and a clipped note.
//   - Client-CA Secrets are listed as metadata only, and of that only the name is kept.
import type { KubeObject } from '../k8s/resources.ts';

const LAST_APPLIED = 'kubectl.kubernetes.io/last-applied-configuration';

type ManagedField = NonNullable<KubeObject['metadata']['managedFields']>[number];

function slimManagedField(m: ManagedField): ManagedField {
  const annotations = (m.fieldsV1?.['f:metadata'] as Record<string, unknown> | undefined)?.['f:annotations'];
  const rest = { ...m };
  delete rest.fieldsV1;
  return annotations ? { ...rest, fieldsV1: { 'f:metadata': { 'f:annotations': annotations } } } : rest;
}

const ownedByPolicy = (o: KubeObject): boolean => (o.metadata.ownerReferences ?? []).some((r) => r.kind === 'ApiSecurityPolicy');

/** The cached form of an object (informer transform). */
export function slimObject(o: KubeObject): KubeObject {
  const { metadata } = o;
  const annotations = metadata.annotations && LAST_APPLIED in metadata.annotations ? Object.fromEntries(Object.entries(metadata.annotations).filter(([k]) => k !== LAST_APPLIED)) : metadata.annotations;
  const slim: KubeObject = {
    ...o,
    metadata: {
      ...metadata,
      ...(annotations ? { annotations } : {}),
      ...(metadata.managedFields ? { managedFields: metadata.managedFields.map(slimManagedField) } : {}),
    },
  };
  if (o.kind === 'ConfigMap' && !ownedByPolicy(o)) {
    delete slim.data;
    delete slim.binaryData;
  }
  return slim;
}

/** A labelled client-CA Secret: the operator needs to know that it exists, nothing of its content. */
export function slimSecret(s: KubeObject): KubeObject {
  const { name, namespace, uid, resourceVersion } = s.metadata;
  return { apiVersion: s.apiVersion, kind: s.kind, metadata: { name, namespace, uid, resourceVersion } };
}

/** What the status needs of a SuspiciousActivity Event: whom it is about, when, and what it says (clipped). */
export function slimEvent(e: KubeObject): KubeObject {
  const { regarding, eventTime, note, series } = e as KubeObject & { regarding?: { kind?: string; name?: string }; eventTime?: string; note?: string; series?: { lastObservedTime?: string } };
  const { name, namespace, resourceVersion, uid, creationTimestamp } = e.metadata;
  return {
    apiVersion: e.apiVersion,
    kind: e.kind,
    metadata: { name, namespace, resourceVersion, uid, creationTimestamp },
    regarding: { kind: regarding?.kind, name: regarding?.name },
    eventTime: series?.lastObservedTime ?? eventTime ?? creationTimestamp,
    note: typeof note === 'string' ? note.slice(0, 256) : '',
  } as KubeObject;
}
