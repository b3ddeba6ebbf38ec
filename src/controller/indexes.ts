// The caches' secondary indexes (client-go's Indexers), so that mapping an event to keys, and gathering a
// reconcile's inputs, costs what concerns the object and not a scan of every object of its namespace:
//   - policies by target:  "<ns>/<kind>/<name>" of each targetRef;
//   - Ingresses and HTTPRoutes by marker: "<ns>/<policy>" of the apisec.dev/policy annotation (what a
//     policy wrote on);
//   - Ingresses by backend Service: "<ns>/<service>";
//   - generated objects by owner: "<ns>/<policy>" of each ApiSecurityPolicy ownerReference.
// A store without byIndex (the unit tests' in-memory ones) is filtered with the same functions.
import type { TargetRef } from '../api/v1alpha1.ts';
import type { KubeObject } from '../k8s/resources.ts';
import { backendServices } from '../render/index.ts';
import { ANNOTATION_POLICY } from '../render/labels.ts';
import type { IngressLike } from '../render/types.ts';
import type { Store } from './deps.ts';

export type IndexName = 'target' | 'marker' | 'backend' | 'owner';

export const targetsOf = (p: KubeObject): TargetRef[] => ((p.spec as { targetRefs?: TargetRef[] } | undefined)?.targetRefs ?? []).filter(Boolean);

export const targetKey = (namespace: string | undefined, kind: string, name: string): string => `${namespace ?? ''}/${kind}/${name}`;
export const nameKey = (namespace: string | undefined, name: string): string => `${namespace ?? ''}/${name}`;

export const INDEXERS: Record<IndexName, (o: KubeObject) => string[]> = {
  target: (p) => targetsOf(p).map((t) => targetKey(p.metadata.namespace, t.kind, t.name)),
  marker: (ing) => {
    const marker = ing.metadata.annotations?.[ANNOTATION_POLICY];
    return marker ? [nameKey(ing.metadata.namespace, marker)] : [];
  },
  backend: (ing) => backendServices([ing as IngressLike]).map((s) => nameKey(ing.metadata.namespace, s)),
  owner: (o) => (o.metadata.ownerReferences ?? []).filter((r) => r.kind === 'ApiSecurityPolicy').map((r) => nameKey(o.metadata.namespace, r.name)),
};

/** The indexers each informer keeps (src/k8s/informer.ts InformerOptions.indexers). */
export const indexersFor = (...names: IndexName[]): Record<string, (o: KubeObject) => string[]> => Object.fromEntries(names.map((n) => [n, INDEXERS[n]]));

/** The objects of a store filed under `value` in an index; in the namespace `value` starts with. */
export function indexed<T extends KubeObject>(store: Store<T>, index: IndexName, value: string): T[] {
  if (store.byIndex) return store.byIndex(index, value);
  const namespace = value.slice(0, value.indexOf('/'));
  return store.list(namespace || undefined).filter((o) => INDEXERS[index](o).includes(value));
}
