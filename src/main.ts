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
import { REVIEW_RESOURCES, reviewAccess, reviewToken } from './k8s/review.ts';
import { MetricsAuth } from './observability/metrics-auth.ts';
import { Registry, inventoryMetrics, operatorMetrics, runtimeMetrics, webhookMetrics, type OperatorMetrics } from './observability/metrics.ts';
import { startHttpServer, type HttpServer, type HttpServerOptions } from './observability/server.ts';
import { servingTls } from './observability/tls.ts';
import { cacheContext } from './webhook/context.ts';
import { RefusalEvents } from './webhook/events.ts';
import { supportsNativeSidecars } from './webhook/patch.ts';
import { startWebhookServer, type WebhookServer } from './webhook/server.ts';

const MUTATING = new Set(['create', 'update', 'patch', 'delete']);

export function version(): string {
  const pkg = JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8')) as { version: string };
  return pkg.version;
}

function instrument(client: KubeClient, m: OperatorMetrics): void {
  client.onRequest((verb, resource, status) => {
    m.apiRequests.inc({ verb, resource, code: String(status) });
    if (MUTATING.has(verb) && status >= 200 && status < 300 && !REVIEW_RESOURCES.has(resource)) m.writesTotal.inc({ kind: resource, operation: verb });
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

/** Everything the operator runs: one client, its metrics, the controllers and (optionally) the elector. */
interface Components {
  client: KubeClient;
  registry: Registry;
  metrics: OperatorMetrics;
  controller: Manager;
  reports: ReportsController;
  elector: LeaderElector | undefined;
}

function components(config: OperatorConfig, log: Logger): Components {
  let client: KubeClient;
  try {
    client = connect({ kubeconfig: config.kubeconfig, context: config.context }, {
      watchTimeoutSeconds: config.watchTimeoutSeconds,
      requestTimeoutMs: config.requestTimeoutMs,
      qps: config.kubeApiQps,
      burst: config.kubeApiBurst,
      // The identity is the pod's name; anything a header cannot carry becomes _.
      userAgent: `api-security-operator/${version()} (${config.identity.replace(/[^\x21-\x7e]/g, '_').slice(0, 253)})`,
    });
  } catch (err) {
    throw new StartError(`${message(err)}: set --kubeconfig (KUBECONFIG) or --context`, { cause: err });
  }
  const registry = new Registry();
  runtimeMetrics(registry);
  const metrics = operatorMetrics(registry);
  instrument(client, metrics);
  const namespace = config.namespace ? { namespace: config.namespace } : {};
  const controller = new Manager({
    client,
    writer: new Writer(client, config.identity),
    settings: config.settings,
    log,
    workers: config.workers,
    resyncMs: config.resyncMs,
    discoveryIntervalMs: config.discoveryIntervalMs,
    ...namespace,
    onDrift: (kinds, fight) => {
      for (const kind of kinds) metrics.driftTotal.inc({ kind, outcome: fight ? 'paused' : 'repaired' });
    },
    metrics: (name) => metrics.controller(name),
    ...(config.webhook ? { sidecarInjection: { operatorNamespace: config.webhook.operatorNamespace } } : {}),
  });
  // PolicyReports per namespace and the inventory of uncovered APIs, from the same caches.
  const { policies, ingresses, services, httpRoutes } = controller.informers;
  const reports = new ReportsController({
    client,
    actions: new Writer(client, config.identity),
    log,
    sources: { policies, ingresses, services, httpRoutes },
    baselineFor: (ns) => controller.baselineFor(ns),
    rediscoverMs: config.discoveryIntervalMs,
    ...namespace,
    metrics: (name) => metrics.controller(name),
  });
  controller.informers.baselines.on(() => reports.resyncAll());
  controller.informers.namespaces.on((n) => reports.enqueueNamespace(n.metadata.name));
  inventoryMetrics(registry, reports);
  const elector = config.leaderElect
    ? new LeaderElector(client, { namespace: config.leaderElectionNamespace, name: config.leaderElectionId, identity: config.identity, log })
    : undefined;
  return { client, registry, metrics, controller, reports, elector };
}

type Checks = NonNullable<HttpServerOptions['checks']>;

/**
 * With --metrics-auth=kubernetes: the /metrics filter (TokenReview and SubjectAccessReview as the
 * operator's identity) and the HTTPS certificate; nothing otherwise. A certificate that does not load is fatal.
 */
export function metricsProtection(config: Pick<OperatorConfig, 'metricsAuth' | 'metricsCertDir'>, client: KubeClient, log: Logger): Pick<HttpServerOptions, 'auth' | 'tls'> {
  if (config.metricsAuth !== 'kubernetes') return {};
  const auth = new MetricsAuth({
    reviewer: { authenticate: (token, signal) => reviewToken(client, token, signal), authorize: (user, attributes, signal) => reviewAccess(client, user, attributes, signal) },
    log,
  });
  try {
    return { auth, tls: servingTls({ ...(config.metricsCertDir ? { certDir: config.metricsCertDir } : {}), log }) };
  } catch (err) {
    throw new StartError(`the metrics certificate in --metrics-cert-dir=${config.metricsCertDir} does not load (${message(err)}): it needs tls.crt and tls.key, a matching PEM pair`, { cause: err });
  }
}

/** Whether the API server's version runs native sidecars (1.29+); a version that cannot be read counts as current. */
async function nativeSidecars(client: KubeClient, log: Logger): Promise<boolean> {
  try {
    const { gitVersion } = await client.request<{ gitVersion: string }>('GET', '/version', { verb: 'get' });
    const native = supportsNativeSidecars(gitVersion);
    if (!native) log.warn({ version: gitVersion }, 'Kubernetes before 1.29: the sidecar is injected as a container, not a native sidecar');
    return native;
  } catch (err) {
    log.warn({ err: message(err) }, 'Cannot read the API server version: injecting native sidecars');
    return true;
  }
}

/**
 * The sidecar injection webhook, on every replica (the webhook Service picks any): answered from the
 * caches, so only once they have synced. A certificate that does not load or a port in use is fatal.
 */
export async function serveWebhook(config: OperatorConfig, c: Pick<Components, 'client' | 'controller' | 'registry'>, log: Logger): Promise<WebhookServer | undefined> {
  const { webhook } = config;
  if (!webhook) return undefined;
  let tls;
  try {
    tls = servingTls({ certDir: webhook.certDir, log, serves: 'webhook' });
  } catch (err) {
    throw new StartError(`the webhook certificate in --webhook-cert-dir=${webhook.certDir} does not load (${message(err)}): it needs tls.crt and tls.key, a matching PEM pair`, { cause: err });
  }
  const native = await nativeSidecars(c.client, log);
  const admissions = webhookMetrics(c.registry);
  const { controller } = c;
  const writer = new Writer(c.client, config.identity);
  const refusals = new RefusalEvents({ record: (regarding, event) => writer.recordEvent(regarding, event), log });
  return startWebhookServer({
    ...webhook.address,
    tls,
    log,
    context: cacheContext(controller.informers, { operatorNamespace: webhook.operatorNamespace, image: webhook.image, native }),
    ready: () => controller.synced,
    onOutcome: (o) => {
      admissions.inc({ result: o.result });
      if (o.result === 'injected') log.info({ namespace: o.namespace, pod: o.pod, policy: o.policy, manualWiring: o.manual }, 'Injected the sidecar');
      else if (o.result === 'refused') {
        log.warn({ namespace: o.namespace, pod: o.pod, policy: o.policy, reason: o.reason }, 'Admitted a pod without the sidecar');
        void refusals.note(o);
      }
    },
  }).catch((err: unknown) => {
    throw new StartError(explainListen(err as NodeJS.ErrnoException, '--webhook-bind-address', webhook.address), { cause: err });
  });
}

/** One running operator process: start, readiness, and the one way it stops (signal, lost lease, fatal start). */
class OperatorProcess {
  private readonly abort = new AbortController();
  private readonly servers: HttpServer[] = [];
  private syncDeadline: NodeJS.Timeout | undefined;
  private working = false;
  private stopping: Promise<void> | undefined;
  private stopReason = '';
  private failed = false;

  private readonly config: OperatorConfig;
  private readonly log: Logger;
  private readonly c: Components;

  constructor(config: OperatorConfig, log: Logger, c: Components) {
    this.config = config;
    this.log = log;
    this.c = c;
  }

  readonly checks: Checks = {
    healthz: () => ({ ok: true }),
    // Ready only while workers run or can run: the leader with workers started, or (as in
    // controller-runtime) a standby whose caches are warm and that sees a live leader. Every
    // controller's informers count, the PolicyReport one included once reports are enabled.
    readyz: () => {
      if (this.stopping) return { ok: false, detail: `stopping: ${this.stopReason}` };
      const bad = [this.c.controller, this.c.reports].flatMap((c) => c.health()).filter((h) => !h.synced || !h.healthy);
      if (bad.length > 0) return { ok: false, detail: bad.map((h) => `${h.resource}: ${h.lastError ?? (h.synced ? 'not watching' : 'not synced')}`).join('\n') };
      if (this.working || this.c.elector?.isStandby) return { ok: true };
      return { ok: false, detail: this.c.elector ? 'waiting for the leader lease' : 'starting workers' };
    },
  };

  /** Every step runs even if an earlier one fails, and whatever hangs is cut off by the deadline. */
  shutdown(code: number, why: string, deadlineMs: number): Promise<void> {
    this.stopping ??= (async () => {
      const { log, c } = this;
      this.stopReason = why;
      log.info({ reason: why }, 'Stopping operator');
      const deadline = setTimeout(() => {
        log.error({ reason: why, deadlineMs }, 'Operator did not stop in time: exiting now');
        process.exit(code === 0 ? 1 : code);
      }, deadlineMs);
      deadline.unref();
      this.abort.abort();
      clearTimeout(this.syncDeadline);
      const step = async (name: string, fn: () => Promise<void> | void): Promise<void> => {
        try {
          await fn();
        } catch (err) {
          log.warn({ err: message(err), step: name }, 'Stop step failed');
        }
      };
      await step('reports', () => c.reports.stop());
      await step('controller', () => c.controller.stop()); // no new work; in-flight reconciles finish
      await step('elector', () => c.elector?.release());
      c.metrics.isLeader.set(0);
      for (const server of this.servers) await step('server', () => server.close());
      await step('client', () => c.client.close()); // after the lease release: nothing else talks to the API server now
      log.info('Stopped operator');
      process.exitCode = code;
    })();
    return this.stopping;
  }

  /** One fatal line naming cause and fix, then everything stops and the process exits 1. */
  fail(err: unknown): Promise<void> {
    if (!this.failed && !this.stopping) {
      this.failed = true;
      this.log.fatal({ err: rawMessage(err) }, `Operator failed to start: ${fatalLine(err)}`);
      return this.shutdown(1, 'failed to start', FATAL_EXIT_DEADLINE_MS);
    }
    return this.stopping ?? Promise.resolve();
  }

  onSignals(): void {
    for (const sig of ['SIGTERM', 'SIGINT'] as const) {
      process.on(sig, () => {
        if (this.stopping) {
          this.log.warn('Second signal: exiting now');
          process.exit(1);
        }
        void this.shutdown(0, sig, SIGNAL_EXIT_DEADLINE_MS);
      });
    }
  }

  /** Servers, caches, lease, workers; a failure on the way is fatal. */
  async start(): Promise<void> {
    try {
      await this.listen();
      this.c.controller.startInformers();
      this.watchCacheSync();
      if (!(await this.lead())) return void (await this.stopping);
      if (!(await this.c.controller.waitForCacheSync(this.abort.signal))) return void (await this.stopping);
      clearTimeout(this.syncDeadline);
      this.log.info('Caches synced, starting workers');
      this.c.controller.startWorkers();
      this.c.reports.start();
      this.working = true;
    } catch (err) {
      await this.fail(err);
    }
  }

  /** The ports first: a port in use fails before anything talks to the API server. */
  private async listen(): Promise<void> {
    const { config, log } = this;
    const listen = (address: ListenAddress, flag: string, serves: Pick<HttpServerOptions, 'registry' | 'checks' | 'auth' | 'tls'>): Promise<HttpServer> =>
      startHttpServer({ ...address, ...serves, log }).catch((err: unknown) => {
        throw new StartError(explainListen(err as NodeJS.ErrnoException, flag, address), { cause: err });
      });
    const together = sameAddress(config.metricsAddress, config.healthProbeAddress);
    const { registry } = this.c;
    const metrics = { registry, ...metricsProtection(config, this.c.client, log) };
    const metricsServer = await listen(config.metricsAddress, '--metrics-bind-address', together ? { ...metrics, checks: this.checks } : metrics);
    this.servers.push(metricsServer);
    const healthServer = together ? metricsServer : await listen(config.healthProbeAddress, '--health-probe-bind-address', { checks: this.checks });
    if (!together) this.servers.push(healthServer);
    const webhook = await serveWebhook(config, this.c, log);
    if (webhook) this.servers.push(webhook);
    log.info({ metricsPort: metricsServer.port, healthProbePort: healthServer.port, namespace: config.namespace ?? '(all)', version: version() }, 'Started operator');
  }

  /** Caches that cannot sync (RBAC, CRDs missing) end the process, also on a standby. */
  private watchCacheSync(): void {
    const { cacheSyncTimeoutMs } = this.config;
    if (cacheSyncTimeoutMs <= 0) return;
    const { controller } = this.c;
    this.syncDeadline = setTimeout(() => {
      if (!controller.synced) void this.fail(new StartError(explainCacheSync(controller.health().filter((h) => !h.synced), cacheSyncTimeoutMs)));
    }, cacheSyncTimeoutMs);
    this.syncDeadline.unref();
  }

  /** Waits for the lease when leader election is on; false when stopped before it was won. */
  private async lead(): Promise<boolean> {
    const { elector, metrics } = this.c;
    if (!elector) return true;
    const { config, log } = this;
    log.info({ lease: `${config.leaderElectionNamespace}/${config.leaderElectionId}`, identity: config.identity }, 'Waiting for leader lease');
    if (!(await elector.acquire(this.abort.signal))) return false;
    metrics.isLeader.set(1);
    metrics.leaderTransitions.inc({ event: 'acquired' });
    elector.keepRenewing(() => {
      log.error('Lost leader lease');
      metrics.isLeader.set(0);
      metrics.leaderTransitions.inc({ event: 'lost' });
      void this.shutdown(1, 'lost leader lease', SIGNAL_EXIT_DEADLINE_MS);
    });
    return true;
  }
}

/**
 * Runs the operator until it is stopped. Resolves once workers run, or once a fatal start has stopped
 * every component (process.exitCode 1, with a hard deadline for anything that will not stop).
 */
export async function run(config: OperatorConfig, log: Logger): Promise<void> {
  const operator = new OperatorProcess(config, log, components(config, log));
  operator.onSignals();
  await operator.start();
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
