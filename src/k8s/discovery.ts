// Whether the API server serves a resource type (for optional integrations such as PolicyReport, whose CRD
// may not be installed). One GET of the group-version's discovery document.
import type { KubeClient } from './client.ts';
import { isNotFound } from './errors.ts';
import { discoveryPath, type ResourceType } from './resources.ts';

/**
 * True when the group-version is served and lists the resource; false when the group-version is unknown
 * (404) or does not list it. Other errors (network, 5xx, 403) are thrown for the caller to classify.
 */
export async function isServed(client: KubeClient, r: ResourceType, signal?: AbortSignal): Promise<boolean> {
  const path = discoveryPath(r.group, r.version);
  try {
    const list = await client.request<{ resources?: { name: string }[] }>('GET', path, { verb: 'get', ...(signal ? { signal } : {}) });
    return (list.resources ?? []).some((x) => x.name === r.plural);
  } catch (err) {
    if (isNotFound(err)) return false;
    throw err;
  }
}
