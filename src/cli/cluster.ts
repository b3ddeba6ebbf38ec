// The cluster side of `apisec report`: connect through src/k8s (the only layer that talks to the API
// server), list policies, Ingresses and Services page by page, and turn every failure into one line.
import type { KubeClient } from '../k8s/client.ts';
import { KubeconfigError, connect } from '../k8s/connect.ts';
import { ApiError } from '../k8s/errors.ts';
import { listAll } from '../k8s/list.ts';
import { Resources, type KubeObject, type ResourceType } from '../k8s/resources.ts';
import type { IngressLike, ServiceLike } from '../render/types.ts';
import { ClusterError } from './errors.ts';
import { buildReport, formatReport, type ClusterPolicy, type ReportFormat } from './report.ts';

export interface ReportOptions {
  kubeconfig?: string;
  context?: string;
  namespace?: string;
  timeoutMs: number;
  format: ReportFormat;
  color: boolean;
  warn: (line: string) => void;
}

function explain(err: unknown, { client, r, signal, timeoutMs }: { client: KubeClient; r: ResourceType; signal: AbortSignal; timeoutMs: number }): ClusterError {
  if (signal.aborted) return new ClusterError(`the cluster at ${client.server} did not answer within ${timeoutMs / 1000}s`);
  if (!(err instanceof ApiError)) return new ClusterError(`cannot list ${r.plural} at ${client.server}: ${(err as Error).message}`);
  const detail = err.message.replace(/^\S+ \S+: /, '');
  if (err.status === 0) return new ClusterError(`cannot reach the cluster at ${client.server}: ${detail.replace(/^network error: /, '')}`);
  if (err.status === 401) return new ClusterError(`the cluster at ${client.server} refused the credentials of the kubeconfig (401 Unauthorized)`);
  if (err.status === 403) return new ClusterError(`not allowed to list ${r.plural}: ${detail}`);
  return new ClusterError(`listing ${r.plural} at ${client.server} failed: ${detail}`);
}

export async function reportFromCluster(opts: ReportOptions): Promise<string> {
  let client: KubeClient;
  try {
    client = connect({ kubeconfig: opts.kubeconfig, context: opts.context });
  } catch (err) {
    throw err instanceof KubeconfigError ? new ClusterError(err.message) : err;
  }
  const signal = AbortSignal.timeout(opts.timeoutMs);
  const list = async <T>(r: ResourceType): Promise<T[]> => {
    try {
      return (await listAll(client, r, { ...(opts.namespace ? { namespace: opts.namespace } : {}), signal })) as T[];
    } catch (err) {
      throw explain(err, { client, r, signal, timeoutMs: opts.timeoutMs });
    }
  };
  // Sequential: the first request tells an unreachable cluster apart before more requests pile up.
  let policies: (ClusterPolicy & KubeObject)[];
  try {
    policies = await listAll(client, Resources.policy, { ...(opts.namespace ? { namespace: opts.namespace } : {}), signal });
  } catch (err) {
    if (!(err instanceof ApiError && err.status === 404)) throw explain(err, { client, r: Resources.policy, signal, timeoutMs: opts.timeoutMs });
    opts.warn('the ApiSecurityPolicy CRD is not installed in this cluster: every API is uncovered');
    policies = [];
  }
  const ingresses = await list<IngressLike>(Resources.ingress);
  const services = await list<ServiceLike>(Resources.service);
  return formatReport(buildReport(policies, ingresses, services), opts.format, opts.color);
}
