// Wiring of the operator process: config → logger → client → metrics and health servers → informers →
// leader election → workers; SIGTERM stops taking work, finishes in-flight reconciles, releases the
// lease and exits. A start that fails (src/fatal.ts says why, in one line) stops every component the
// same way and exits 1: a process that looks healthy but runs no worker protects nothing.
import { readFileSync } from 'node:fs';
import { createLogger } from './observability/logger.ts';
import type { Logger } from 'pino';
import { HELP, parseConfig, type ListenAddress, type OperatorConfig } from './config.ts';
import { StartError, explainCacheSync, explainListen, fatalLine } from './fatal.ts';
import { Manager } from './controller/manager.ts';
import { ReportsController } from './controller/reports.ts';
import { Writer } from './k8s/apply.ts';
import type { KubeClient } from './k8s/client.ts';
import { connect } from './k8s/connect.ts';
import { LeaderElector } from './k8s/leader.ts';
import { Registry, inventoryMetrics, operatorMetrics, runtimeMetrics, type OperatorMetrics } from './observability/metrics.ts';
import { startHttpServer, type HttpServer } from './observability/server.ts';

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

const sameAddress = (a: ListenAddress, b: ListenAddress): boolean => a.host === b.host && a.port === b.port;

/** A fatal error must end the process by then even if a component hangs in stop(). */
export const FATAL_EXIT_DEADLINE_MS = 10_000;
/** SIGTERM drains in-flight reconciles: under the kubelet's default 30 s grace period. */
export const SIGNAL_EXIT_DEADLINE_MS = 25_000;

const message = (err: unknown): string => (err instanceof Error ? err.message : String(err));
/** What the failing call said, for the log's err field (the message is the explanation). */
const rawMessage = (err: unknown): string => message(err instanceof StartError && err.cause !== undefined ? err.cause : err);

/**
 * Runs the operator until it is stopped. Resolves once workers run, or once a fatal start has stopped
 * every component (process.exitCode 1, with a hard deadline for anything that will not stop).
 */
export async function run(config: OperatorConfig, log: Logger): Promise<void> {
  let client: KubeClient;
  try {
    client = connect({ kubeconfig: config.kubeconfig, context: config.context });
  } catch (err) {
    throw new StartError(`${message(err)}: set --kubeconfig (KUBECONFIG) or --context`, { cause: err });
  }
  const registry = new Registry();
  runtimeMetrics(registry);
  const metrics = operatorMetrics(registry);
  instrument(client, metrics);

  const controller = new Manager({
    client,
    writer: new Writer(client, config.identity),
    settings: config.settings,
    log,
    workers: config.workers,
    resyncMs: config.resyncMs,
    ...(config.namespace ? { namespace: config.namespace } : {}),
    onDrift: (kinds, fight) => {
      for (const kind of kinds) metrics.driftTotal.inc({ kind, outcome: fight ? 'paused' : 'repaired' });
    },
    metrics: (name) => metrics.controller(name),
  });
  // PolicyReports per namespace and the inventory of uncovered APIs, from the same caches.
  const reports = new ReportsController({
    client,
    actions: new Writer(client, config.identity),
    log,
    sources: { policies: controller.informers.policies, ingresses: controller.informers.ingresses, services: controller.informers.services },
    baselineFor: (ns) => controller.baselineFor(ns),
    ...(config.namespace ? { namespace: config.namespace } : {}),
    metrics: (name) => metrics.controller(name),
  });
  const controllers = [controller, reports];
  controller.informers.baselines.on(() => reports.resyncAll());
  controller.informers.namespaces.on((n) => reports.enqueueNamespace(n.metadata.name));
  inventoryMetrics(registry, reports);
  const elector = config.leaderElect
    ? new LeaderElector(client, { namespace: config.leaderElectionNamespace, name: config.leaderElectionId, identity: config.identity, log })
    : undefined;

  const abort = new AbortController();
  const servers: HttpServer[] = [];
  let syncDeadline: NodeJS.Timeout | undefined;
  let working = false;
  let stopping: Promise<void> | undefined;
  let stopReason = '';
  let failed = false;

  // Every step runs even if an earlier one fails, and whatever hangs is cut off by the deadline.
  const shutdown = (code: number, why: string, deadlineMs: number): Promise<void> => {
    stopping ??= (async () => {
      stopReason = why;
      log.info({ reason: why }, 'Stopping operator');
      const deadline = setTimeout(() => {
        log.error({ reason: why, deadlineMs }, 'Operator did not stop in time: exiting now');
        process.exit(code === 0 ? 1 : code);
      }, deadlineMs);
      deadline.unref();
      abort.abort();
      clearTimeout(syncDeadline);
      const step = async (name: string, fn: () => Promise<void> | void): Promise<void> => {
        try {
          await fn();
        } catch (err) {
          log.warn({ err: message(err), step: name }, 'Stop step failed');
        }
      };
      await step('reports', () => reports.stop());
      await step('controller', () => controller.stop()); // no new work; in-flight reconciles finish
      await step('elector', () => elector?.release());
      metrics.isLeader.set(0);
      for (const server of servers) await step('server', () => server.close());
      await step('client', () => client.close()); // after the lease release: nothing else talks to the API server now
      log.info('Stopped operator');
      process.exitCode = code;
    })();
    return stopping;
  };
  /** One fatal line naming cause and fix, then everything stops and the process exits 1. */
  const fail = (err: unknown): Promise<void> => {
    if (!failed && !stopping) {
      failed = true;
      const line = fatalLine(err);
      log.fatal({ err: rawMessage(err) }, `Operator failed to start: ${line}`);
      return shutdown(1, 'failed to start', FATAL_EXIT_DEADLINE_MS);
    }
    return stopping ?? Promise.resolve();
  };

  for (const sig of ['SIGTERM', 'SIGINT'] as const) {
    process.on(sig, () => {
      if (stopping) {
        log.warn('Second signal: exiting now');
        process.exit(1);
      }
      void shutdown(0, sig, SIGNAL_EXIT_DEADLINE_MS);
    });
  }

  try {
    const checks = {
      healthz: () => ({ ok: true }),
      // Ready only while workers run or can run: the leader with workers started, or (as in
      // controller-runtime) a standby whose caches are warm and that sees a live leader. Every
      // controller's informers count, the PolicyReport one included once reports are enabled.
      readyz: () => {
        if (stopping) return { ok: false, detail: `stopping: ${stopReason}` };
        const bad = controllers.flatMap((c) => c.health()).filter((h) => !h.synced || !h.healthy);
        if (bad.length > 0) return { ok: false, detail: bad.map((h) => `${h.resource}: ${h.lastError ?? (h.synced ? 'not watching' : 'not synced')}`).join('\n') };
        if (working || elector?.isStandby) return { ok: true };
        return { ok: false, detail: elector ? 'waiting for the leader lease' : 'starting workers' };
      },
    };
    // The ports first: a port in use fails before anything talks to the API server.
    const listen = (address: ListenAddress, flag: string, serves: { registry?: Registry; checks?: typeof checks }): Promise<HttpServer> =>
      startHttpServer({ ...address, ...serves, log }).catch((err: unknown) => {
        throw new StartError(explainListen(err as NodeJS.ErrnoException, flag, address), { cause: err });
      });
    const together = sameAddress(config.metricsAddress, config.healthProbeAddress);
    const metricsServer = await listen(config.metricsAddress, '--metrics-bind-address', together ? { registry, checks } : { registry });
    servers.push(metricsServer);
    const healthServer = together ? metricsServer : await listen(config.healthProbeAddress, '--health-probe-bind-address', { checks });
    if (!together) servers.push(healthServer);
    controller.startInformers();
    log.info(
      { metricsPort: metricsServer.port, healthProbePort: healthServer.port, namespace: config.namespace ?? '(all)', version: version() },
      'Started operator',
    );
    // Caches that cannot sync (RBAC, CRDs missing) end the process, also on a standby.
    if (config.cacheSyncTimeoutMs > 0) {
      syncDeadline = setTimeout(() => {
        if (!controller.synced) void fail(new StartError(explainCacheSync(controller.health().filter((h) => !h.synced), config.cacheSyncTimeoutMs)));
      }, config.cacheSyncTimeoutMs);
      syncDeadline.unref();
    }

    if (elector) {
      log.info({ lease: `${config.leaderElectionNamespace}/${config.leaderElectionId}`, identity: config.identity }, 'Waiting for leader lease');
      const won = await elector.acquire(abort.signal);
      if (!won) return void (await stopping);
      metrics.isLeader.set(1);
      elector.keepRenewing(() => {
        log.error('Lost leader lease');
        metrics.isLeader.set(0);
        void shutdown(1, 'lost leader lease', SIGNAL_EXIT_DEADLINE_MS);
      });
    }
    if (!(await controller.waitForCacheSync(abort.signal))) return void (await stopping);
    clearTimeout(syncDeadline);
    log.info('Caches synced, starting workers');
    controller.startWorkers();
    reports.start();
    working = true;
  } catch (err) {
    await fail(err);
  }
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
  const log = createLogger(config.logLevel);
  for (const w of config.warnings) log.warn(w);
  try {
    await run(config, log);
  } catch (err) {
    // Thrown before any component started: nothing to stop.
    log.fatal({ err: rawMessage(err) }, `Operator failed to start: ${fatalLine(err)}`);
    process.exitCode = 1;
  }
}

if (import.meta.url === `file://${process.argv[1]}`) await main();
