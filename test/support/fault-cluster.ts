// What every fault file starts with: its own control plane (which it may break), the CRDs and the
// operator's RBAC, a namespace, and a kubeconfig of the operator's identity that reaches the API server
// through a proxy of the test's choice.
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { parse, stringify } from 'yaml';
import type { KubeClient } from '../../src/k8s/client.ts';
import { connect } from '../../src/k8s/connect.ts';
import { startControlPlane, type ControlPlaneInfo, type StartOptions } from './controlplane.ts';
import { createNamespace, installCrds } from './kube.ts';
import { grantOperatorRbac } from './operator.ts';

export interface FaultCluster {
  cp: ControlPlaneInfo;
  admin: KubeClient;
  ns: string;
  apiPort: number;
  /** The API server's serving certificate (for a proxy that connects to it). */
  caFile: string;
  /** Writes a kubeconfig of the operator's identity for https://127.0.0.1:port (with `ca`, a proxy's own certificate). */
  operatorKubeconfig(port: number, ca?: string): string;
}

export async function startFaultCluster(prefix: string, opts: Pick<StartOptions, 'apiserverArgs'> = {}): Promise<FaultCluster> {
  const cp = await startControlPlane({ tieToThisProcess: true, ...opts });
  const admin = connect({ kubeconfig: cp.kubeconfigs.admin });
  await installCrds(admin);
  await grantOperatorRbac(admin);
  const ns = await createNamespace(admin, prefix);
  return {
    cp,
    admin,
    ns,
    apiPort: Number(new URL(cp.server).port),
    caFile: join(cp.workDir ?? '', 'certs', 'apiserver.crt'),
    operatorKubeconfig: (port, ca) => {
      const kc = parse(readFileSync(cp.kubeconfigs.operator, 'utf8')) as { clusters: { cluster: Record<string, string> }[] };
      for (const c of kc.clusters) {
        c.cluster.server = `https://127.0.0.1:${port}`;
        if (ca) c.cluster['certificate-authority-data'] = Buffer.from(ca).toString('base64');
      }
      const path = join(cp.workDir ?? '', `operator-via-${port}.kubeconfig`);
      writeFileSync(path, stringify(kc), { mode: 0o600 });
      return path;
    },
  };
}

/** Compacts etcd's history up to its current revision (etcd's HTTP gateway), so old resourceVersions are gone. Returns that revision. */
export async function compactEtcd(etcdURL: string): Promise<number> {
  const post = async (path: string, body: unknown): Promise<Record<string, unknown>> => {
    const res = await fetch(`${etcdURL}${path}`, { method: 'POST', body: JSON.stringify(body), headers: { 'Content-Type': 'application/json' } });
    if (!res.ok) throw new Error(`etcd ${path}: ${res.status} ${await res.text()}`);
    return (await res.json()) as Record<string, unknown>;
  };
  const range = await post('/v3/kv/range', { key: Buffer.from('/').toString('base64'), limit: 1 });
  const revision = (range.header as { revision?: string } | undefined)?.revision;
  if (!revision) throw new Error('etcd returned no revision');
  await post('/v3/kv/compaction', { revision, physical: true });
  return Number(revision);
}

export interface AuditEvent {
  verb: string;
  userAgent?: string;
  requestReceivedTimestamp: string;
  objectRef?: { resource?: string; subresource?: string; name?: string };
  responseStatus?: { code?: number };
}

/** The operator's mutating requests in the API server's audit log (by its User-Agent), from `since` (ms) on. */
export function operatorWrites(cp: ControlPlaneInfo, since = 0): AuditEvent[] {
  return readFileSync(cp.auditLogPath ?? '', 'utf8')
    .split('\n')
    .filter(Boolean)
    .map((l) => JSON.parse(l) as AuditEvent)
    .filter((e) => ['create', 'update', 'patch', 'delete'].includes(e.verb) && e.userAgent?.startsWith('api-security-operator/') && Date.parse(e.requestReceivedTimestamp) >= since);
}
