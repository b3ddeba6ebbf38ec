// Helpers for integration tests: clients for the test identities, unique namespaces, CRD installation
// and polling. They talk to the real API server started by global-setup.ts.
import { spawnSync } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { parseAllDocuments } from 'yaml';
import type { KubeClient } from '../../src/k8s/client.ts';
import { connect } from '../../src/k8s/connect.ts';
import { ApiError } from '../../src/k8s/errors.ts';
import { Resources, discoveryPath, objectPath, type KubeObject, type ResourceType } from '../../src/k8s/resources.ts';
import { identities, repoRoot, type ControlPlaneInfo, type IdentityName } from './controlplane.ts';

export function controlPlane(): ControlPlaneInfo {
  const raw = process.env.APISEC_TEST_CONTROLPLANE;
  if (!raw) throw new Error('no control plane: integration tests run through the jest "integration" project');
  return JSON.parse(raw) as ControlPlaneInfo;
}

export function clientAs(identity: IdentityName = 'admin'): KubeClient {
  return connect({ kubeconfig: controlPlane().kubeconfigs[identity] });
}

let counter = 0;
export async function createNamespace(client: KubeClient, prefix: string, labels: Record<string, string> = {}): Promise<string> {
  const name = `${prefix}-${process.pid}-${Date.now().toString(36)}-${counter++}`.slice(0, 63).replace(/-+$/, '');
  await client.request('POST', '/api/v1/namespaces', {
    verb: 'create',
    body: { apiVersion: 'v1', kind: 'Namespace', metadata: { name, labels } },
  });
  return name;
}

/**
 * Server-side applies a manifest as the given field manager (the way kubectl apply --server-side does).
 * Kinds outside the operator's resource table (CRD kinds such as Traefik's Middleware, IngressClass,
 * EndpointSlice) are resolved through API discovery. `fieldValidation: 'Strict'` makes the server
 * refuse unknown or duplicate fields instead of dropping them.
 */
export async function apply<T extends KubeObject>(
  client: KubeClient,
  obj: KubeObject,
  fieldManager = 'apisec-test',
  fieldValidation?: 'Strict' | 'Warn' | 'Ignore',
): Promise<T> {
  const [group, version] = (obj.apiVersion ?? '').includes('/') ? (obj.apiVersion ?? '').split('/') : ['', obj.apiVersion ?? ''];
  const r =
    Object.values(Resources).find((x) => x.kind === obj.kind && x.group === group && x.version === version) ??
    (await discover(client, group ?? '', version ?? '', obj.kind ?? ''));
  return client.request<T>('PATCH', objectPath(r, obj.metadata.namespace, obj.metadata.name), {
    verb: 'patch',
    query: { fieldManager, force: true, ...(fieldValidation ? { fieldValidation } : {}) },
    body: obj,
    contentType: 'application/apply-patch+yaml',
  });
}

/** A condition of an object's status, by type. */
export const policyCondition = (p: { status?: { conditions?: { type: string; status: string; reason: string; message: string }[] } } | undefined, type: string) =>
  p?.status?.conditions?.find((c) => c.type === type);

/**
 * The policy once the operator has reconciled its current generation and `check` holds (polled), e.g.
 * `(p) => expect(policyCondition(p, 'Enforced')).toMatchObject({ status: 'True' })`.
 */
export function reconciledPolicy<P extends KubeObject & { status?: { observedGeneration?: number } }>(client: KubeClient, namespace: string, name: string, check: (p: P) => void = () => undefined, timeoutMs = 30_000): Promise<P> {
  return eventually(async () => {
    const p = await getOrUndefined<P>(client, objectPath(Resources.policy, namespace, name));
    if (!p || p.status?.observedGeneration !== p.metadata.generation) throw new Error(`${name} not reconciled yet`);
    check(p);
    return p;
  }, timeoutMs);
}

/** Every verb on a resource, as a platform grants a team in its own namespace. */
export const ALL_VERBS = ['get', 'list', 'watch', 'create', 'update', 'patch', 'delete'];

/** A Role with these rules in `namespace`, bound to the tenant identity: what a team may do there. */
export async function grantTenant(admin: KubeClient, namespace: string, rules: unknown[], name = 'team'): Promise<void> {
  await apply(admin, { apiVersion: 'rbac.authorization.k8s.io/v1', kind: 'Role', metadata: { name, namespace }, rules } as never);
  await apply(admin, {
    apiVersion: 'rbac.authorization.k8s.io/v1',
    kind: 'RoleBinding',
    metadata: { name, namespace },
    roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'Role', name },
    subjects: [{ kind: 'User', apiGroup: 'rbac.authorization.k8s.io', name: identities.tenant.user }],
  } as never);
}

/** The resource type of a kind the operator's table does not list, from the server's discovery document. */
export async function discover(client: KubeClient, group: string, version: string, kind: string): Promise<ResourceType> {
  const path = discoveryPath(group, version);
  let list: { resources?: { name: string; kind: string; namespaced: boolean }[] };
  try {
    list = await client.request<typeof list>('GET', path, { verb: 'get' });
  } catch (err) {
    throw new Error(`test helper cannot discover ${group ? `${group}/` : ''}${version} ${kind}: ${(err as Error).message}`, { cause: err });
  }
  const found = list.resources?.find((x) => x.kind === kind && !x.name.includes('/'));
  if (!found) throw new Error(`test helper does not know ${group ? `${group}/` : ''}${version} ${kind} (not served by the API server)`);
  return { group, version, kind, plural: found.name, namespaced: found.namespaced };
}

export function loadYamlFile(path: string): KubeObject[] {
  return parseAllDocuments(readFileSync(path, 'utf8'))
    .map((d) => d.toJS() as KubeObject | null)
    .filter((o): o is KubeObject => o !== null && typeof o === 'object');
}

/** Installs every CRD in crds/ and waits until each is Established. */
export async function installCrds(client: KubeClient): Promise<string[]> {
  const dir = join(repoRoot, 'crds');
  const names: string[] = [];
  for (const f of readdirSync(dir).filter((f) => f.endsWith('.yaml'))) {
    for (const crd of loadYamlFile(join(dir, f))) {
      await apply(client, crd);
      names.push(crd.metadata.name);
    }
  }
  for (const name of names) await waitEstablished(client, name);
  return names;
}

export async function waitEstablished(client: KubeClient, name: string): Promise<void> {
  await eventually(async () => {
    const crd = await client.request<{ status?: { conditions?: { type: string; status: string }[] } }>(
      'GET',
      objectPath(Resources.crd, undefined, name),
      { verb: 'get' },
    );
    const established = crd.status?.conditions?.some((c) => c.type === 'Established' && c.status === 'True');
    if (!established) throw new Error(`CRD ${name} not Established yet`);
  }, 30_000);
}

/** Retries fn until it stops throwing, or throws its last error after timeoutMs. */
export async function eventually<T>(fn: () => Promise<T>, timeoutMs = 15_000, intervalMs = 200): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    try {
      return await fn();
    } catch (err) {
      if (Date.now() > deadline) throw err;
      await new Promise((r) => setTimeout(r, intervalMs));
    }
  }
}

export async function getOrUndefined<T>(client: KubeClient, path: string): Promise<T | undefined> {
  try {
    return await client.request<T>('GET', path, { verb: 'get' });
  } catch (err) {
    if (err instanceof ApiError && err.status === 404) return undefined;
    throw err;
  }
}

/** The upstream PolicyReport CRD (test/tools/policyreport-crd.sh, from the Go module cache), installed and Established. */
export async function installPolicyReportCrd(admin: KubeClient): Promise<void> {
  const run = spawnSync('bash', [join(repoRoot, 'test/tools/policyreport-crd.sh')], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'inherit'] });
  if (run.status !== 0) throw new Error(`test/tools/policyreport-crd.sh failed (exit ${run.status}); see above. Alternative: POLICYREPORT_CRD=<path>.`);
  const [crd] = loadYamlFile(run.stdout.trim().split('\n').pop() ?? '');
  if (!crd) throw new Error('no PolicyReport CRD');
  await apply(admin, crd);
  await waitEstablished(admin, crd.metadata.name);
}
