// Why the operator cannot start, as one line that names the cause and the flag or RBAC rule that fixes
// it. A fatal start ends the process (src/main.ts): a Ready pod that runs no worker protects nothing.
import { formatAddress, type ListenAddress } from './config.ts';
import { ApiError } from './k8s/errors.ts';
import type { InformerHealth } from './k8s/informer.ts';
import { LeaseError } from './k8s/leader.ts';

/** An error whose message already is the one line to print (cause and fix). */
export class StartError extends Error {
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'StartError';
  }
}

export function explainLease(err: LeaseError): string {
  const { namespace: ns, verb } = err;
  const lease = `${ns}/${err.leaseName}`;
  if (err.status === 404 && verb === 'create') {
    return `lease namespace ${ns} not found: create it (kubectl create namespace ${ns}) or set --leader-election-namespace (POD_NAMESPACE) to an existing namespace`;
  }
  if (err.status === 403) {
    return `forbidden to ${verb} leases.coordination.k8s.io in namespace ${ns}: grant get, create and update on leases (apiGroup coordination.k8s.io) in ${ns} to the operator's identity (the chart's Role <release>-leader-election does), or set --leader-election-namespace to where it is granted`;
  }
  if (err.status === 401) {
    return `the API server rejected the operator's credentials (401) on lease ${lease}: check --kubeconfig and --context, or the pod's ServiceAccount token`;
  }
  if (err.status === 400 || err.status === 422) {
    return `the API server refused lease ${lease} (${err.status} ${err.reason}): set --leader-election-id to a valid name (lowercase letters, digits, '-' and '.'); the API said: ${err.message}`;
  }
  return `leader election on lease ${lease} failed (${err.status} ${err.reason}): ${err.message}`;
}

/** A server that cannot listen; flag is the one that sets its address (--metrics-bind-address or --health-probe-bind-address). */
export function explainListen(err: NodeJS.ErrnoException, flag: string, address: ListenAddress): string {
  const where = formatAddress(address);
  switch (err.code) {
    case 'EADDRINUSE':
      return `address ${where} of ${flag} is already in use: stop what listens there or set ${flag} to another HOST:PORT (port 0 picks a free port)`;
    case 'EACCES':
      return `not allowed to listen on ${where}: set ${flag} to a port above 1023`;
    case 'EADDRNOTAVAIL':
      return `cannot listen on ${where}: the host is not an address of this machine; set ${flag}`;
    default:
      return `cannot listen on ${where} (${err.message}): check ${flag}`;
  }
}

export function explainCacheSync(unsynced: InformerHealth[], timeoutMs: number): string {
  const what = unsynced.map((h) => `${h.resource} (${h.lastError ?? 'no answer yet'})`).join('; ');
  return `caches not synced within ${timeoutMs / 1000} s: ${what}; the operator needs list and watch on these (the chart's ClusterRole grants them) and the CRDs installed (crds/), or raise --cache-sync-timeout`;
}

/** The one fatal line for anything run() threw before workers started. */
export function fatalLine(err: unknown): string {
  if (err instanceof StartError) return err.message;
  if (err instanceof LeaseError) return explainLease(err);
  if (err instanceof ApiError && err.status === 401) return `the API server rejected the operator's credentials (401): check --kubeconfig and --context, or the pod's ServiceAccount token`;
  return `unexpected error: ${err instanceof Error ? err.message : String(err)}`;
}
