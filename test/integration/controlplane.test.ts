// Proves the test control plane is a real kube-apiserver: CRDs become Established, custom objects are
// stored and watched, server-side apply tracks ownership per field manager, and RBAC refuses a token
// without permissions.
import type { KubeClient } from '../../src/k8s/client.ts';
import { ApiError } from '../../src/k8s/errors.ts';
import { Resources, collectionPath, objectPath, type KubeObject } from '../../src/k8s/resources.ts';
import { apply, clientAs, controlPlane, createNamespace, installCrds } from '../support/kube.ts';

const policy = (namespace: string, name: string, rps: number): KubeObject => ({
  apiVersion: 'apisec.dev/v1alpha1',
  kind: 'ApiSecurityPolicy',
  metadata: { name, namespace },
  spec: {
    targetRefs: [{ group: '', kind: 'Service', name: 'api' }],
    rateLimit: { requestsPerSecond: rps },
  },
});

describe('the test control plane', () => {
  let admin: KubeClient;
  let ns: string;

  beforeAll(async () => {
    admin = clientAs('admin');
    await installCrds(admin);
    ns = await createNamespace(admin, 'cp');
  });

  it('is a real, version-stamped kube-apiserver', async () => {
    const v = await admin.request<{ gitVersion: string; major: string }>('GET', '/version', { verb: 'get' });
    expect(v.major).toBe('1');
    expect(v.gitVersion).toMatch(/^v1\.\d+\.\d+/);
    if (controlPlane().kind === 'local') expect(v.gitVersion).not.toContain('master');
  });

  it('stores, lists and defaults custom objects', async () => {
    const created = await admin.request<KubeObject & { spec: { mode: string } }>('POST', collectionPath(Resources.policy, ns), {
      verb: 'create',
      body: policy(ns, 'one', 10),
    });
    expect(created.metadata.uid).toBeTruthy();
    expect(created.spec.mode).toBe('Enforce'); // default from the CRD schema
    const got = await admin.request<KubeObject>('GET', objectPath(Resources.policy, ns, 'one'), { verb: 'get' });
    expect(got.metadata.uid).toBe(created.metadata.uid);
    const list = await admin.request<{ items: KubeObject[] }>('GET', collectionPath(Resources.policy, ns), { verb: 'list' });
    expect(list.items.map((i) => i.metadata.name)).toEqual(['one']);
  });

  it('delivers watch events for custom objects', async () => {
    const list = await admin.request<{ metadata: { resourceVersion: string } }>('GET', collectionPath(Resources.policy, ns), { verb: 'list' });
    const abort = new AbortController();
    const res = await admin.stream(collectionPath(Resources.policy, ns), {
      verb: 'watch',
      query: { watch: 1, resourceVersion: list.metadata.resourceVersion, timeoutSeconds: 30 },
      signal: abort.signal,
    });
    const seen: string[] = [];
    const reading = (async (): Promise<void> => {
      const dec = new TextDecoder();
      let buf = '';
      try {
        for await (const chunk of res.body as AsyncIterable<Uint8Array>) {
          buf += dec.decode(chunk, { stream: true });
          for (let nl = buf.indexOf('\n'); nl >= 0; nl = buf.indexOf('\n')) {
            const ev = JSON.parse(buf.slice(0, nl)) as { type: string; object: KubeObject };
            buf = buf.slice(nl + 1);
            seen.push(`${ev.type} ${ev.object.metadata.name}`);
            if (ev.type === 'DELETED') return;
          }
        }
      } catch {
        /* aborted */
      }
    })();
    await apply(admin, policy(ns, 'watched', 5));
    await admin.request('DELETE', objectPath(Resources.policy, ns, 'watched'), { verb: 'delete' });
    await Promise.race([reading, new Promise((r) => setTimeout(r, 10_000))]);
    abort.abort();
    expect(seen).toEqual(['ADDED watched', 'DELETED watched']);
  });

  it('rejects invalid objects at admission with the field named', async () => {
    const bad = policy(ns, 'bad', 10);
    (bad.spec as { rateLimit: unknown }).rateLimit = { requestsPerSecond: 10, requestsPerMinute: 600 };
    const err = await admin
      .request('POST', collectionPath(Resources.policy, ns), { verb: 'create', body: bad })
      .catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ApiError);
    expect((err as ApiError).status).toBe(422);
    expect((err as ApiError).message).toContain('spec.rateLimit');
    expect((err as ApiError).message).toContain('exactly one of requestsPerSecond and requestsPerMinute');
  });

  it('tracks server-side apply ownership per field manager', async () => {
    const cm = (data: Record<string, string>): KubeObject => ({
      apiVersion: 'v1',
      kind: 'ConfigMap',
      metadata: { name: 'shared', namespace: ns },
      data,
    });
    await apply(admin, cm({ a: '1' }), 'manager-a');
    const after = await apply<KubeObject & { data: Record<string, string> }>(admin, cm({ b: '2' }), 'manager-b');
    expect(after.data).toEqual({ a: '1', b: '2' });
    const owners = Object.fromEntries(
      (after.metadata.managedFields ?? []).map((m) => [m.manager, Object.keys((m.fieldsV1?.['f:data'] ?? {}) as object)]),
    );
    expect(owners).toEqual({ 'manager-a': ['f:a'], 'manager-b': ['f:b'] });
    // manager-a stops sending its key: only its key goes, manager-b's stays.
    const pruned = await apply<KubeObject & { data: Record<string, string> }>(admin, cm({}), 'manager-a');
    expect(pruned.data).toEqual({ b: '2' });
  });

  it('enforces RBAC: a token without permissions gets 403, the admin does not', async () => {
    const tenant = clientAs('tenant');
    const err = await tenant.request('GET', collectionPath(Resources.policy, ns), { verb: 'list' }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ApiError);
    expect((err as ApiError).status).toBe(403);
    await expect(admin.request('GET', collectionPath(Resources.policy, ns), { verb: 'list' })).resolves.toBeDefined();
  });
});
