// What the operator keeps of each cached object: only what it compares or names, so that nobody can grow
// its memory by labelling big objects (a ConfigMap of 1 MiB with the operator's labels) and every replica
// does not hold each Ingress's and Service's whole history of field managers.
//   - `kubectl.kubernetes.io/last-applied-configuration` is dropped (a copy of the object).
//   - managedFields keep each manager and operation; the field sets only for metadata.annotations
//     (whose keys our field manager owns, and who changed one of them).
//   - Objects of the kinds the operator generates (ConfigMaps, NetworkPolicies, Middlewares), which anyone
//     can label as the operator's, keep a bounded form (slimOwned): the operator's own labels, no
//     annotations, at most a few owner references and field managers, a ConfigMap's data as a digest, and
//     any other content above 64 KiB as a digest. The plan compares what it wants in the same form.
//   - The guard's SuspiciousActivity Events keep whom they are about, when, and a clipped note.
//   - Client-CA Secrets are listed as metadata only, and of that only the name is kept.
//   - Of a data plane's status on generated objects (Envoy Gateway's status.ancestors), only whether it
//     accepted each, per Gateway, clipped.
//   - Pods (only with sidecar injection) are listed as metadata only: name, labels, the webhook's annotations.
import { createHash } from 'node:crypto';
import type { KubeObject } from '../k8s/resources.ts';
import { ANNOTATION_CONFIG, ANNOTATION_INJECTED, ANNOTATION_REFUSED, ANNOTATION_RELOAD, ANNOTATION_SERVES, REFUSED_MAX } from '../compliance/injection.ts';
import { LABEL_MANAGED_BY, LABEL_POLICY } from '../render/labels.ts';
import { canonical } from './state.ts';
import type { AncestorStatus } from '../compliance/data-plane-status.ts';

const LAST_APPLIED = 'kubectl.kubernetes.io/last-applied-configuration';

type ManagedField = NonNullable<KubeObject['metadata']['managedFields']>[number];

function slimManagedField(m: ManagedField): ManagedField {
  const annotations = (m.fieldsV1?.['f:metadata'] as Record<string, unknown> | undefined)?.['f:annotations'];
  const rest = { ...m };
  delete rest.fieldsV1;
  return annotations ? { ...rest, fieldsV1: { 'f:metadata': { 'f:annotations': annotations } } } : rest;
}

/** The cached form of a target (Ingress, Service) or policy (informer transform). */
export function slimObject(o: KubeObject): KubeObject {
  const { metadata } = o;
  const annotations = metadata.annotations && LAST_APPLIED in metadata.annotations ? Object.fromEntries(Object.entries(metadata.annotations).filter(([k]) => k !== LAST_APPLIED)) : metadata.annotations;
  return {
    ...o,
    metadata: {
      ...metadata,
      ...(annotations ? { annotations } : {}),
      ...(metadata.managedFields ? { managedFields: metadata.managedFields.map(slimManagedField) } : {}),
    },
  };
}

/** In place of content the cache does not keep: its digest, equal only for equal content. */
export const DIGEST_KEY = 'apisec.dev/sha256';
const digest = (v: unknown): Record<string, string> => ({ [DIGEST_KEY]: createHash('sha256').update(canonical(v)).digest('hex') });
/** The operator's own generated content is far smaller (the schema bounds every list a policy has). */
const CONTENT_LIMIT = 64 * 1024;
const OWNED_LABELS = [LABEL_MANAGED_BY, LABEL_POLICY];
const MAX_REFS = 8;

/** The object without its undefined and empty-list fields (as the API server stores it). */
function defined<T extends Record<string, unknown>>(o: T): T {
  return Object.fromEntries(Object.entries(o).filter(([, v]) => v !== undefined && !(Array.isArray(v) && v.length === 0))) as T;
}

/**
 * The cached (and compared) form of an object of a generated kind. Bounded whatever its author put in
 * it: a tenant can give a 1 MiB ConfigMap the operator's labels, and every replica caches it.
 */
export function slimOwned(o: KubeObject): KubeObject {
  const { name, namespace, uid, resourceVersion, generation, creationTimestamp, deletionTimestamp, ownerReferences, labels, managedFields } = o.metadata;
  const kept = Object.entries(labels ?? {}).filter(([k]) => OWNED_LABELS.includes(k));
  const slim = defined({
    apiVersion: o.apiVersion,
    kind: o.kind,
    metadata: defined({
      name,
      namespace,
      uid,
      resourceVersion,
      generation,
      creationTimestamp,
      deletionTimestamp,
      ownerReferences: ownerReferences?.slice(0, MAX_REFS),
      labels: kept.length ? Object.fromEntries(kept) : undefined,
      // The last writers, for naming who changed an object (drift).
      managedFields: managedFields?.slice(-MAX_REFS).map(slimManagedField),
    }),
  }) as KubeObject;
  for (const [k, v] of Object.entries(o)) {
    if (k === 'apiVersion' || k === 'kind' || k === 'metadata' || k === 'status' || v === undefined) continue;
    slim[k] = k === 'data' || k === 'binaryData' || canonical(v).length > CONTENT_LIMIT ? digest(v) : v;
  }
  const ancestors = slimAncestors(o);
  if (ancestors.length) slim.status = { ancestors };
  return slim;
}

const clip = (v: unknown, max: number): string | undefined => (typeof v === 'string' ? v.slice(0, max) : undefined);

/**
 * Of a data plane's status (Envoy Gateway's status.ancestors), only whether it accepted the object per
 * Gateway, bounded: at most 16 ancestors, the Accepted condition with its message clipped.
 */
function slimAncestors(o: KubeObject): AncestorStatus[] {
  const raw = (o as { status?: { ancestors?: unknown } }).status?.ancestors;
  if (!Array.isArray(raw)) return [];
  return raw.slice(0, 16).map((a: Partial<AncestorStatus>) => {
    const ref = a.ancestorRef ?? { name: '' };
    const accepted = (Array.isArray(a.conditions) ? a.conditions : []).find((c) => c?.type === 'Accepted');
    return defined({
      ancestorRef: defined({ name: clip(ref.name, 253) ?? '', namespace: clip(ref.namespace, 253), kind: clip(ref.kind, 63), sectionName: clip(ref.sectionName, 253) }),
      controllerName: clip(a.controllerName, 253),
      conditions: accepted
        ? [defined({ type: 'Accepted', status: clip(accepted.status, 16) ?? '', reason: clip(accepted.reason, 64), message: clip(accepted.message, 512), observedGeneration: typeof accepted.observedGeneration === 'number' ? accepted.observedGeneration : undefined })]
        : undefined,
    }) as AncestorStatus;
  });
}

/** The digest of a cached sidecar ConfigMap's content, when it is the policy's own (its ownerReference): what ANNOTATION_CONFIG holds. */
export function sidecarConfigDigest(cm: KubeObject | undefined, policyUid: string | undefined): string | undefined {
  if (!cm || !policyUid || !cm.metadata.ownerReferences?.some((r) => r.uid === policyUid)) return undefined;
  const value = (cm.data as Record<string, string> | undefined)?.[DIGEST_KEY];
  return value?.slice(0, 16);
}

/** A labelled client-CA Secret: the operator needs to know that it exists, nothing of its content. */
export function slimSecret(s: KubeObject): KubeObject {
  const { name, namespace, uid, resourceVersion } = s.metadata;
  return { apiVersion: s.apiVersion, kind: s.kind, metadata: { name, namespace, uid, resourceVersion } };
}

/** What SidecarInjected needs of a pod (metadata-only watch): its labels and the webhook's three annotations (clipped). */
export function slimPod(p: KubeObject): KubeObject {
  const { name, namespace, uid, resourceVersion, labels, annotations, deletionTimestamp } = p.metadata;
  const kept = Object.fromEntries(
    [ANNOTATION_INJECTED, ANNOTATION_REFUSED, ANNOTATION_CONFIG, ANNOTATION_RELOAD, ANNOTATION_SERVES].flatMap((k) => (annotations?.[k] === undefined ? [] : [[k, annotations[k]!.slice(0, REFUSED_MAX)]])),
  );
  return {
    apiVersion: p.apiVersion,
    kind: p.kind,
    metadata: { name, namespace, uid, resourceVersion, ...(labels ? { labels } : {}), ...(Object.keys(kept).length ? { annotations: kept } : {}), ...(deletionTimestamp ? { deletionTimestamp } : {}) },
  };
}

/** What the status needs of a guard's Event (SuspiciousActivity, RateLimitStoreUnavailable): whom it is about, when, why, and what it says (clipped). */
export function slimEvent(e: KubeObject): KubeObject {
  const { regarding, eventTime, note, series, reason } = e as KubeObject & { regarding?: { kind?: string; name?: string }; eventTime?: string; note?: string; reason?: string; series?: { lastObservedTime?: string } };
  const { name, namespace, resourceVersion, uid, creationTimestamp } = e.metadata;
  return {
    apiVersion: e.apiVersion,
    kind: e.kind,
    metadata: { name, namespace, resourceVersion, uid, creationTimestamp },
    regarding: { kind: regarding?.kind, name: regarding?.name },
    eventTime: series?.lastObservedTime ?? eventTime ?? creationTimestamp,
    note: typeof note === 'string' ? note.slice(0, 256) : '',
    reason: typeof reason === 'string' ? reason.slice(0, 64) : '',
  } as KubeObject;
}
