// One-shot reads for tools (the apisec CLI): a paged list of a whole collection, as the informer's relist
// pages it, without a watch or a cache.
import type { KubeClient } from './client.ts';
import { isGone } from './errors.ts';
import { apiVersionOf, collectionPath, type KubeObject, type ResourceType } from './resources.ts';

export interface ListOptions {
  /** Unset: all namespaces. */
  namespace?: string | undefined;
  labelSelector?: string | undefined;
  fieldSelector?: string | undefined;
  pageSize?: number | undefined;
  /** Only each object's metadata (PartialObjectMetadata): no data of a Secret is ever transferred. */
  metadataOnly?: boolean | undefined;
  signal?: AbortSignal | undefined;
}

/** The server sends each item as PartialObjectMetadata (metadata only) in a list, or in a watch. */
export const METADATA_LIST = 'application/json;as=PartialObjectMetadataList;g=meta.k8s.io;v=v1';
export const METADATA_WATCH = 'application/json;as=PartialObjectMetadata;g=meta.k8s.io;v=v1';

export interface ListPage<T> {
  /** With apiVersion and kind (list items carry neither). */
  items: T[];
  /** The list's resourceVersion (a watch starts from the last page's). */
  resourceVersion: string;
}

/** The pages of a list, in order: one request per page (`limit`/`continue`), as client-go's pager. */
export async function* listPages<T extends KubeObject = KubeObject>(client: KubeClient, r: ResourceType, opts: ListOptions = {}): AsyncGenerator<ListPage<T>> {
  const path = collectionPath(r, opts.namespace);
  const apiVersion = apiVersionOf(r);
  let cont: string | undefined;
  do {
    const page = await client.request<{ items: T[] | null; metadata: { resourceVersion?: string; continue?: string } }>('GET', path, {
      verb: 'list',
      query: { limit: opts.pageSize ?? 500, continue: cont, labelSelector: opts.labelSelector, fieldSelector: opts.fieldSelector },
      ...(opts.metadataOnly ? { accept: METADATA_LIST } : {}),
      signal: opts.signal,
    });
    yield { items: (page.items ?? []).map((item) => ({ ...item, apiVersion, kind: r.kind })), resourceVersion: page.metadata.resourceVersion ?? '' };
    cont = page.metadata.continue || undefined;
  } while (cont);
}

/**
 * Lists every object of a resource, page by page. A continue token that expires (410 Gone, when paging
 * takes longer than the server keeps a snapshot) restarts the list from the beginning, a few times.
 */
export async function listAll<T extends KubeObject = KubeObject>(client: KubeClient, r: ResourceType, opts: ListOptions = {}): Promise<T[]> {
  for (let attempt = 1; ; attempt++) {
    const items: T[] = [];
    let pages = 0;
    try {
      for await (const page of listPages<T>(client, r, opts)) {
        pages++;
        items.push(...page.items);
      }
      return items;
    } catch (err) {
      // Only a continue token expires: a 410 on the first page is the caller's to see.
      if (!(isGone(err) && pages > 0 && attempt < 3)) throw err;
    }
  }
}
