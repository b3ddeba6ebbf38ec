// The informer's store and indexes, fed by a fake client: one list page, then watch events, then a relist.
import { pino } from 'pino';
import type { KubeClient } from './client.ts';
import { Informer } from './informer.ts';
import { Resources, type KubeObject } from './resources.ts';

const ing = (ns: string, name: string, backend: string, rv: string): KubeObject => ({ metadata: { namespace: ns, name, resourceVersion: rv }, spec: { backend } });

/** A client whose list answers `pages` in turn and whose watch streams `events` (then ends). */
function fakeClient(lists: KubeObject[][], events: { type: string; object: KubeObject }[][]): KubeClient {
  let l = 0;
  let w = 0;
  return {
    request: async () => ({ items: lists[Math.min(l++, lists.length - 1)], metadata: { resourceVersion: String(l) } }),
    stream: async (_path: string, opts: { signal?: AbortSignal }) => {
      const batch = events[w++];
      if (!batch) await new Promise((_r, reject) => opts.signal?.addEventListener('abort', () => reject(new Error('aborted'))));
      const lines = (batch ?? []).map((e) => JSON.stringify(e) + '\n');
      return { ok: true, body: (async function* () { for (const line of lines) yield new TextEncoder().encode(line); })() };
    },
  } as unknown as KubeClient;
}

const names = (objs: KubeObject[]) => objs.map((o) => o.metadata.name).sort();

describe('Informer indexes', () => {
  it('lists by namespace and finds by index, following updates, deletes and a relist', async () => {
    const events = [
      [
        { type: 'MODIFIED', object: ing('a', 'one', 'svc-2', '5') }, // moves from svc-1 to svc-2
        { type: 'ADDED', object: ing('b', 'three', 'svc-1', '6') },
        { type: 'DELETED', object: ing('a', 'two', 'svc-1', '7') },
      ],
    ];
    const lists = [[ing('a', 'one', 'svc-1', '1'), ing('a', 'two', 'svc-1', '2')], [ing('b', 'three', 'svc-1', '6')]];
    const client = fakeClient(lists, events);
    const inf = new Informer(client, Resources.ingress, pino({ level: 'silent' }), {
      backoffMs: [1, 1],
      indexers: { backend: (o) => [`${o.metadata.namespace}/${(o.spec as { backend: string }).backend}`] },
    });
    const seen: string[] = [];
    inf.on((o, kind) => seen.push(`${kind} ${o.metadata.name}`));
    inf.start();
    await inf.waitForSync();
    await new Promise((r) => setTimeout(r, 50));
    // The stream ended: a second watch got no events and waits; the store holds what the events left.
    expect(names(inf.list('a'))).toEqual(['one']);
    expect(names(inf.list('b'))).toEqual(['three']);
    expect(names(inf.list('c'))).toEqual([]);
    expect(names(inf.byIndex('backend', 'a/svc-1'))).toEqual([]);
    expect(names(inf.byIndex('backend', 'a/svc-2'))).toEqual(['one']);
    expect(names(inf.byIndex('backend', 'b/svc-1'))).toEqual(['three']);
    expect(names(inf.byIndex('nonexistent', 'x'))).toEqual([]);
    expect(seen).toEqual(['upsert one', 'upsert two', 'upsert one', 'upsert three', 'delete two']);
    await inf.stop();
  });

  it('a resumed watch answered 410 Gone relists (counted as expired) and notices what was deleted meanwhile', async () => {
    // First stream ends cleanly; the resumed one answers an ERROR 410, as the API server does for history compacted away.
    const events = [[], [{ type: 'ERROR', object: { code: 410, message: 'too old resource version' } as unknown as KubeObject }]];
    const lists = [[ing('a', 'one', 'svc-1', '1'), ing('a', 'two', 'svc-1', '2')], [ing('a', 'one', 'svc-1', '1')]];
    const inf = new Informer(fakeClient(lists, events), Resources.ingress, pino({ level: 'silent' }), { backoffMs: [1, 1] });
    const seen: string[] = [];
    inf.on((o, kind) => seen.push(`${kind} ${o.metadata.name}`));
    inf.start();
    await inf.waitForSync();
    await new Promise((r) => setTimeout(r, 50));
    expect(seen).toEqual(['upsert one', 'upsert two', 'delete two']);
    expect(inf.health()).toMatchObject({ restarts: 0, relists: 1, expired: 1, healthy: true });
    await inf.stop();
  });
});
