// Runs the operator's controller in the test process against the real API server, as the operator's
// own identity, and counts what it writes.
import { pino } from 'pino';
import { Manager } from '../../src/controller/manager.ts';
import type { RepairBudget } from '../../src/controller/drift.ts';
import { Writer } from '../../src/k8s/apply.ts';
import type { KubeClient } from '../../src/k8s/client.ts';
import { defaultSettings, type OperatorSettings } from '../../src/render/types.ts';
import { apply, clientAs } from './kube.ts';
import { identities } from './controlplane.ts';

/** The permissions the controller needs (the Helm chart grants the same). */
export const operatorRules = [
  { apiGroups: ['apisec.dev'], resources: ['apisecuritypolicies'], verbs: ['get', 'list', 'watch', 'patch'] },
  { apiGroups: ['apisec.dev'], resources: ['apisecuritypolicies/status'], verbs: ['get', 'patch'] },
  { apiGroups: ['apisec.dev'], resources: ['apisecuritypolicies/finalizers'], verbs: ['update'] },
  { apiGroups: ['apisec.dev'], resources: ['clusterapisecuritypolicies'], verbs: ['get', 'list', 'watch'] },
  { apiGroups: ['apisec.dev'], resources: ['clusterapisecuritypolicies/status'], verbs: ['get', 'patch'] },
  { apiGroups: [''], resources: ['namespaces'], verbs: ['get', 'list', 'watch'] },
  { apiGroups: ['networking.k8s.io'], resources: ['ingresses'], verbs: ['get', 'list', 'watch', 'patch'] },
  { apiGroups: [''], resources: ['services'], verbs: ['get', 'list', 'watch'] },
  { apiGroups: ['networking.k8s.io'], resources: ['networkpolicies'], verbs: ['get', 'list', 'watch', 'create', 'patch', 'delete'] },
  { apiGroups: [''], resources: ['configmaps'], verbs: ['get', 'list', 'watch', 'create', 'patch', 'delete'] },
  { apiGroups: [''], resources: ['secrets'], verbs: ['list', 'watch'] },
  { apiGroups: ['coordination.k8s.io'], resources: ['leases'], verbs: ['get', 'create', 'update'] },
  { apiGroups: ['events.k8s.io'], resources: ['events'], verbs: ['get', 'list', 'watch', 'create', 'patch'] },
  { apiGroups: ['traefik.io'], resources: ['middlewares'], verbs: ['get', 'list', 'watch', 'create', 'patch', 'delete'] },
  { apiGroups: ['wgpolicyk8s.io'], resources: ['policyreports'], verbs: ['get', 'list', 'watch', 'create', 'patch', 'delete'] },
  { apiGroups: ['gateway.networking.k8s.io'], resources: ['httproutes'], verbs: ['get', 'list', 'watch', 'patch'] },
  { apiGroups: ['gateway.networking.k8s.io'], resources: ['gateways'], verbs: ['get', 'list', 'watch'] },
  { apiGroups: ['gateway.envoyproxy.io'], resources: ['securitypolicies', 'backendtrafficpolicies'], verbs: ['get', 'list', 'watch', 'create', 'patch', 'delete'] },
  { apiGroups: ['gateway.networking.k8s.io'], resources: ['gatewayclasses'], verbs: ['get', 'list', 'watch'] },
];

/**
 * Only with --metrics-auth=kubernetes (the chart's default, metrics.auth): the /metrics filter's reviews
 * (src/k8s/review.ts). Not in operatorRules: without the flag the operator makes no review.
 */
export const metricsAuthRules = [
  { apiGroups: ['authentication.k8s.io'], resources: ['tokenreviews'], verbs: ['create'] },
  { apiGroups: ['authorization.k8s.io'], resources: ['subjectaccessreviews'], verbs: ['create'] },
];

/**
 * Only with sidecar injection (the chart's sidecarInjection.enabled): pods, listed and watched as metadata,
 * for the policies' SidecarInjected condition. Not in operatorRules: without the webhook no pod is watched.
 */
export const sidecarInjectionRules = [{ apiGroups: [''], resources: ['pods'], verbs: ['list', 'watch'] }];

/** Binds a ClusterRole with these rules to a user (cluster-wide, under `name`). */
export async function bindClusterRole(admin: KubeClient, name: string, user: string, rules: unknown[]): Promise<void> {
  await apply(admin, { apiVersion: 'rbac.authorization.k8s.io/v1', kind: 'ClusterRole', metadata: { name }, rules } as never);
  await apply(admin, {
    apiVersion: 'rbac.authorization.k8s.io/v1',
    kind: 'ClusterRoleBinding',
    metadata: { name },
    roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'ClusterRole', name },
    subjects: [{ kind: 'User', apiGroup: 'rbac.authorization.k8s.io', name: user }],
  } as never);
}

/** Binds a ClusterRole with these rules to the operator's identity (cluster-wide, under `name`). */
export async function bindOperatorRole(admin: KubeClient, name: string, rules: unknown[]): Promise<void> {
  await bindClusterRole(admin, name, identities.operator.user, rules);
}

export async function grantOperatorRbac(admin: KubeClient): Promise<void> {
  await bindOperatorRole(admin, 'apisec-test-operator', operatorRules);
}

export interface RunningOperator {
  controller: Manager;
  client: KubeClient;
  /** Mutating requests the operator made, by "verb resource". */
  writes: string[];
  reconciles: number;
  /** Drift the operator reported: "repaired Ingress", "paused NetworkPolicy", … */
  drifts: string[];
  stop(): Promise<void>;
  /** Resolves when the queue is empty and nothing is in flight. */
  idle(timeoutMs?: number): Promise<void>;
}

export async function startOperator(opts: { namespace?: string; settings?: OperatorSettings; resyncMs?: number; repairBudget?: RepairBudget; sidecarInjection?: { operatorNamespace: string } } = {}): Promise<RunningOperator> {
  const client = clientAs('operator');
  const writes: string[] = [];
  client.onRequest((verb, resource, status) => {
    if (verb !== 'get' && verb !== 'list' && verb !== 'watch' && status >= 200 && status < 300) writes.push(`${verb} ${resource}`);
  });
  const log = pino({ level: process.env.LOG_LEVEL ?? 'silent' });
  let reconciles = 0;
  const drifts: string[] = [];
  const controller = new Manager({
    client,
    writer: new Writer(client),
    settings: opts.settings ?? defaultSettings,
    log,
    workers: 2,
    backoff: { baseDelayMs: 100, maxDelayMs: 2000 },
    ...(opts.namespace ? { namespace: opts.namespace } : {}),
    ...(opts.resyncMs !== undefined ? { resyncMs: opts.resyncMs } : {}),
    ...(opts.repairBudget ? { repairBudget: opts.repairBudget } : {}),
    ...(opts.sidecarInjection ? { sidecarInjection: opts.sidecarInjection } : {}),
    onDrift: (kinds, fight) => drifts.push(...kinds.map((k) => `${fight ? 'paused' : 'repaired'} ${k}`)),
    onReconcile: () => reconciles++,
  });
  controller.startInformers();
  await controller.waitForCacheSync();
  controller.startWorkers();
  const running: RunningOperator = {
    controller,
    client,
    writes,
    drifts,
    get reconciles() {
      return reconciles;
    },
    stop: () => controller.stop(),
    async idle(timeoutMs = 15_000) {
      const deadline = Date.now() + timeoutMs;
      let quietSince = 0;
      while (Date.now() < deadline) {
        const busy = !controller.idle;
        if (!busy && quietSince === 0) quietSince = Date.now();
        if (busy) quietSince = 0;
        if (quietSince && Date.now() - quietSince > 500) return;
        await new Promise((r) => setTimeout(r, 50));
      }
      throw new Error('operator did not become idle');
    },
  };
  return running;
}
