// One-shot reads for tools (the apisec CLI): a paged list of a whole collection, as the informer's relist
// pages it, without a watch or a cache.
import type { KubeClient } from './client.ts';
import { isGone } from './errors.ts';
import { apiVersionOf, collectionPath, type KubeObject, type ResourceType } from './resources.ts';

export interface ListOptions {
  /** Unset: all namespaces. */
  namespace?: string;
  labelSelector?: string;
  pageSize?: number;
  signal?: AbortSignal;
}

/**
 * Lists every object of a resource, page by page. A continue token that expires (410 Gone, when paging
 * takes longer than the server keeps a snapshot) restarts the list from the beginning, a few times.
 */
export async function listAll<T extends KubeObject = KubeObject>(client: KubeClient, r: ResourceType, opts: ListOptions = {}): Promise<T[]> {
  const path = collectionPath(r, opts.namespace);
  for (let attempt = 1; ; attempt++) {
    const items: T[] = [];
    let cont: string | undefined;
    try {
      do {
        const page = await client.request<{ items: T[] | null; metadata: { continue?: string } }>('GET', path, {
          verb: 'list',
          query: { limit: opts.pageSize ?? 500, continue: cont, labelSelector: opts.labelSelector },
          signal: opts.signal,
        });
        // List items carry no apiVersion/kind; add them, as the informer does.
        for (const item of page.items ?? []) items.push({ ...item, apiVersion: apiVersionOf(r), kind: r.kind });
        cont = page.metadata.continue || undefined;
      } while (cont);
      return items;
    } catch (err) {
      if (!(isGone(err) && cont !== undefined && attempt < 3)) throw err;
    }
  }
}
