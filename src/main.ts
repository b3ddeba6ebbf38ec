// Wiring of the operator process: config → logger → client → metrics/health server → informers →
// leader election → workers; SIGTERM stops taking work, finishes in-flight reconciles, releases the
// lease and exits.
import { readFileSync } from 'node:fs';
import { pino, type Logger } from 'pino';
import { HELP, parseConfig, type OperatorConfig } from './config.ts';
import { PolicyController } from './controller/controller.ts';
import { ReportsController } from './controller/reports.ts';
import { Writer } from './k8s/apply.ts';
import { KubeClient } from './k8s/client.ts';
import { LeaderElector } from './k8s/leader.ts';
import { Counter, Gauge, Registry, operatorMetrics, type OperatorMetrics } from './observability/metrics.ts';
import { startHealthServer, type HealthServer } from './observability/server.ts';

const MUTATING = new Set(['create', 'update', 'patch', 'delete']);

export function version(): string {
  const pkg = JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8')) as { version: string };
  return pkg.version;
}

function instrument(client: KubeClient, m: OperatorMetrics): void {
  client.onRequest((verb, resource, status) => {
    m.apiRequests.inc({ verb, resource, code: String(status) });
    if (MUTATING.has(verb) && status >= 200 && status < 300) m.writesTotal.inc({ kind: resource, operation: verb });
  });
}

/** Counters the workqueue and informers keep themselves, copied into metrics every few seconds. */
function mirror(controller: PolicyController, m: OperatorMetrics): () => void {
  let adds = 0;
  let retries = 0;
  const tick = (): void => {
    const q = controller.queue;
    m.queueDepth.set({ name: 'apisecuritypolicy' }, q.depth);
    m.queueAdds.inc({ name: 'apisecuritypolicy' }, q.adds - adds);
    m.queueRetries.inc({ name: 'apisecuritypolicy' }, q.retries - retries);
    adds = q.adds;
    retries = q.retries;
    for (const h of controller.health()) {
      m.informerHealthy.set({ resource: h.resource }, h.synced && h.healthy ? 1 : 0);
      m.informerRestarts.set({ resource: h.resource }, h.restarts);
    }
  };
  tick();
  const t = setInterval(tick, 5000);
  t.unref();
  return () => clearInterval(t);
}

export async function run(config: OperatorConfig, log: Logger): Promise<void> {
  const client = KubeClient.fromKubeconfig(config.kubeconfig, config.context);
  const registry = new Registry();
  const metrics = operatorMetrics(registry);
  instrument(client, metrics);
  const drift = registry.register(
    new Counter({ name: 'apisec_drift_total', help: 'Operator-owned fields changed by someone else, by kind and whether they were repaired or repairs paused (a fight).', labels: ['kind', 'outcome'] }),
  );

  const controller = new PolicyController({
    client,
    writer: new Writer(client, config.identity),
    settings: config.settings,
    log,
    workers: config.workers,
    resyncMs: config.resyncMs,
    ...(config.namespace ? { namespace: config.namespace } : {}),
    onDrift: (kinds, fight) => {
      for (const kind of kinds) drift.inc({ kind, outcome: fight ? 'paused' : 'repaired' });
    },
    onReconcile: (outcome, seconds) => {
      metrics.reconcileTotal.inc({ controller: 'apisecuritypolicy', result: outcome });
      if (outcome !== 'success') metrics.reconcileErrors.inc({ controller: 'apisecuritypolicy' });
      metrics.reconcileDuration.observe({ controller: 'apisecuritypolicy' }, seconds);
    },
  });
  // PolicyReports per namespace and the inventory of uncovered APIs, from the same caches.
  const reports = new ReportsController({
    client,
    actions: new Writer(client, config.identity),
    log,
    sources: { policies: controller.informers.policies, ingresses: controller.informers.ingresses, services: controller.informers.services },
    baselineFor: (ns) => controller.baselineFor(ns),
    ...(config.namespace ? { namespace: config.namespace } : {}),
    onReconcile: (outcome, seconds) => {
      metrics.reconcileTotal.inc({ controller: 'policyreport', result: outcome });
      if (outcome !== 'success') metrics.reconcileErrors.inc({ controller: 'policyreport' });
      metrics.reconcileDuration.observe({ controller: 'policyreport' }, seconds);
    },
  });
  controller.informers.baselines.on(() => reports.resyncAll());
  controller.informers.namespaces.on((n) => reports.enqueueNamespace(n.metadata.name));
  registry.register(
    new Gauge({
      name: 'apisec_uncovered_apis',
      help: 'Exposed APIs (Ingresses, LoadBalancer and NodePort Services) that no ApiSecurityPolicy or baseline covers, by namespace and kind.',
      labels: ['namespace', 'kind'],
      collect: () => reports.uncoveredSamples(),
    }),
  );
  registry.register(new Gauge({ name: 'apisec_apis', help: 'Exposed APIs by what covers them: policy, baseline or none.', labels: ['coverage'], collect: () => reports.coverageSamples() }));
  const stopMirror = mirror(controller, metrics);
  controller.startInformers();

  const server: HealthServer = await startHealthServer({
    port: config.metricsPort,
    host: config.metricsBindAddress,
    registry,
    log,
    checks: {
      healthz: () => ({ ok: true }),
      readyz: () => {
        const bad = controller.health().filter((h) => !h.synced || !h.healthy);
        return bad.length === 0 ? { ok: true } : { ok: false, detail: bad.map((h) => `${h.resource}: ${h.lastError ?? (h.synced ? 'not watching' : 'not synced')}`).join('\n') };
      },
    },
  });
  log.info({ port: server.port, namespace: config.namespace ?? '(all)', version: version() }, 'Started operator');

  const abort = new AbortController();
  const elector = config.leaderElect
    ? new LeaderElector(client, { namespace: config.leaderElectionNamespace, name: config.leaderElectionId, identity: config.identity, log })
    : undefined;

  let stopping: Promise<void> | undefined;
  const shutdown = (code: number, why: string): Promise<void> => {
    stopping ??= (async () => {
      log.info({ reason: why }, 'Stopping operator');
      abort.abort();
      await reports.stop();
      await controller.stop(); // no new work; in-flight reconciles finish
      await elector?.release();
      metrics.isLeader.set(0);
      stopMirror();
      await server.close();
      await client.close(); // after the lease release: nothing else talks to the API server now
      log.info('Stopped operator');
      process.exitCode = code;
    })();
    return stopping;
  };
  for (const sig of ['SIGTERM', 'SIGINT'] as const) {
    process.on(sig, () => {
      if (stopping) {
        log.warn('Second signal: exiting now');
        process.exit(1);
      }
      void shutdown(0, sig);
    });
  }

  if (elector) {
    log.info({ lease: `${config.leaderElectionNamespace}/${config.leaderElectionId}`, identity: config.identity }, 'Waiting for leader lease');
    const won = await elector.acquire(abort.signal);
    if (!won) return;
    metrics.isLeader.set(1);
    elector.keepRenewing(() => {
      log.error('Lost leader lease');
      metrics.isLeader.set(0);
      void shutdown(1, 'lost leader lease');
    });
  }
  if (!(await controller.waitForCacheSync(abort.signal))) return;
  log.info('Caches synced, starting workers');
  controller.startWorkers();
  reports.start();
}

async function main(): Promise<void> {
  let config: OperatorConfig | 'help' | 'version';
  try {
    config = parseConfig(process.argv.slice(2), process.env);
  } catch (err) {
    process.stderr.write(`api-security-operator: ${(err as Error).message}\nRun with --help for usage.\n`);
    process.exitCode = 2;
    return;
  }
  if (config === 'help') return void process.stdout.write(HELP);
  if (config === 'version') return void process.stdout.write(`${version()}\n`);
  const log = pino({ level: config.logLevel, base: { component: 'api-security-operator' } });
  try {
    await run(config, log);
  } catch (err) {
    log.fatal({ err: (err as Error).message }, 'Operator failed to start');
    process.exitCode = 1;
  }
}

if (import.meta.url === `file://${process.argv[1]}`) await main();
