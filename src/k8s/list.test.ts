// listAll pages through a collection and restarts when a continue token expires.
import type { KubeClient, RequestOptions } from './client.ts';
import { ApiError } from './errors.ts';
import { listAll } from './list.ts';
import { Resources } from './resources.ts';

function fakeClient(pages: (string | ApiError)[][]): { client: KubeClient; calls: string[] } {
  const calls: string[] = [];
  let attempt = 0;
  let page = 0;
  const client = {
    request: async (_method: string, path: string, opts: RequestOptions) => {
      calls.push(`${path}?limit=${String(opts.query?.limit)}&continue=${String(opts.query?.continue ?? '')}`);
      if (!opts.query?.continue) page = 0;
      const p = pages[attempt]![page++]!;
      if (p instanceof ApiError) {
        attempt++;
        throw p;
      }
      const [names, cont] = p.split('|');
      return { items: names!.split(',').filter(Boolean).map((name) => ({ metadata: { name, namespace: 'ns' } })), metadata: { continue: cont ?? '' } };
    },
  } as unknown as KubeClient;
  return { client, calls };
}

describe('listAll', () => {
  it('follows continue tokens and adds apiVersion and kind to the items', async () => {
    const { client, calls } = fakeClient([['a,b|t1', 'c|t2', '']]);
    const items = await listAll(client, Resources.ingress, { namespace: 'ns', pageSize: 2 });
    expect(items.map((i) => `${i.apiVersion} ${i.kind} ${i.metadata.name}`)).toEqual([
      'networking.k8s.io/v1 Ingress a',
      'networking.k8s.io/v1 Ingress b',
      'networking.k8s.io/v1 Ingress c',
    ]);
    expect(calls).toEqual([
      '/apis/networking.k8s.io/v1/namespaces/ns/ingresses?limit=2&continue=',
      '/apis/networking.k8s.io/v1/namespaces/ns/ingresses?limit=2&continue=t1',
      '/apis/networking.k8s.io/v1/namespaces/ns/ingresses?limit=2&continue=t2',
    ]);
  });

  it('starts over when a continue token expires (410), and gives up after three tries', async () => {
    const gone = new ApiError('expired', 410, 'Expired');
    const ok = fakeClient([['a|t1', gone], ['a|t1', 'b']]);
    expect((await listAll(ok.client, Resources.service)).map((i) => i.metadata.name)).toEqual(['a', 'b']);
    expect(ok.calls[0]).toBe('/api/v1/services?limit=500&continue=');

    const never = fakeClient([['a|t', gone], ['a|t', gone], ['a|t', gone]]);
    await expect(listAll(never.client, Resources.service)).rejects.toBe(gone);
  });

  it('passes other errors through', async () => {
    const err = new ApiError('forbidden', 403, 'Forbidden');
    await expect(listAll(fakeClient([[err]]).client, Resources.policy)).rejects.toBe(err);
  });
});
