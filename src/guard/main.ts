// `apisec guard`: the external authorization service the data planes call (docs/guard.md). Wiring only:
// flags → logger → API client → caches (GuardState) → the check server and the metrics/probe server.
// SIGTERM closes the servers, then the caches. A start that fails (kubeconfig, port in use, caches not
// synced in time) logs one line and exits 1: a guard that answers without policies would only deny.
import { parseArgs } from 'node:util';
import type { Logger } from 'pino';
import { ConfigError, parseAddress, parseDuration, parseStoreEndpoint, type ListenAddress } from '../config.ts';
import { Writer } from '../k8s/apply.ts';
import { connect } from '../k8s/connect.ts';
import { createLogger } from '../observability/logger.ts';
import { runtimeMetrics } from '../observability/metrics.ts';
import { startHttpServer, type HttpServer } from '../observability/server.ts';
import { LABEL_EVENT, RATE_LIMIT_STORE_EVENT, STORE_UNAVAILABLE_REASON, SUSPICIOUS_ACTIVITY } from '../render/labels.ts';
import { StoreReports } from './limit-check.ts';
import { FailureWindow } from './brute-force.ts';
import { httpsJsonFetcher } from './fetch.ts';
import { JwksCache } from './jwks.ts';
import { guardMetrics } from './metrics.ts';
import { startGuardServer, type GuardServer } from './server.ts';
import { GuardState } from './state.ts';
import { redisCounter, type StoreOptions } from './store.ts';

export interface GuardConfig {
  address: ListenAddress;
  metricsAddress: ListenAddress;
  kubeconfig?: string;
  context?: string;
  namespaces: string[];
  caFile?: string;
  logLevel: string;
  cacheSyncTimeoutMs: number;
  failureThreshold: number;
  failureWindowMs: number;
  /** Least time between two fetches of one issuer's keys for an unknown kid. */
  jwksCooldownMs: number;
  /** The platform's rate-limit store, for Global rate limits. */
  rateLimitStore?: StoreOptions;
}

export const GUARD_HELP = `Usage: apisec guard [flags]

The external authorization service for ApiSecurityPolicies whose jwt, oidc or apiKey authentication has no
authURL. Data planes call GET|POST /check/{namespace}/{policy}; 2xx allows, 401 and 403 deny.

  --bind-address HOST:PORT      address of /check (default :8080; 127.0.0.1:0 picks a free port on loopback)
  --metrics-bind-address HOST:PORT
                                address of /metrics, /healthz and /readyz (default :9090)
  --port PORT                   shorthand for --bind-address with every interface, :PORT
  --namespace NS                read policies and Secrets only in NS (repeatable; default: all namespaces)
  --ca-file PATH                extra CA certificates for the issuers' discovery documents and JWKS
  --kubeconfig PATH             kubeconfig to use; in a pod the in-cluster config (env KUBECONFIG)
  --context NAME                kubeconfig context
  --failure-threshold N         authentication failures of one client within the window that raise a
                                Warning Event (default 20)
  --failure-window DURATION     the window (default 1m)
  --jwks-cooldown DURATION      least time between two key fetches of one issuer for an unknown kid
                                (default 10s)
  --rate-limit-store HOST:PORT  the Redis or Valkey that Global rate limits count in (the operator's
                                --rate-limit-store); credentials from env APISEC_RATE_LIMIT_STORE_USERNAME
                                and APISEC_RATE_LIMIT_STORE_PASSWORD
  --cache-sync-timeout DURATION exit if the caches have not synced by then (default 2m)
  --log-level LEVEL             trace|debug|info|warn|error (default info; env LOG_LEVEL)
`;

function wholeNumber(flag: string, v: string, min: number, max: number): number {
  if (!/^[0-9]+$/.test(v) || Number(v) < min || Number(v) > max) throw new ConfigError(`--${flag} must be a whole number from ${min} to ${max}, got "${v}"`);
  return Number(v);
}

function namespaceNames(list: string[]): string[] {
  for (const ns of list) if (!/^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/.test(ns)) throw new ConfigError(`--namespace must be a namespace name, got "${ns}"`);
  return list;
}

/** The check and metrics addresses; --port is a shorthand for --bind-address=:PORT. */
function addresses(str: (k: string) => string | undefined): Pick<GuardConfig, 'address' | 'metricsAddress'> {
  const port = str('port');
  if (port !== undefined && str('bind-address') !== undefined) throw new ConfigError('set --port or --bind-address, not both');
  const address = parseAddress('bind-address', port !== undefined ? `:${port}` : (str('bind-address') ?? ':8080'));
  const metricsAddress = parseAddress('metrics-bind-address', str('metrics-bind-address') ?? ':9090');
  if (!address || !metricsAddress) throw new ConfigError('--bind-address and --metrics-bind-address take HOST:PORT (e.g. :8080, 127.0.0.1:0)');
  return { address, metricsAddress };
}

export function parseGuardConfig(argv: string[], env: NodeJS.ProcessEnv): GuardConfig | 'help' {
  let values: Record<string, string | boolean | string[] | undefined>;
  try {
    ({ values } = parseArgs({
      args: argv,
      strict: true,
      options: {
        'bind-address': { type: 'string' },
        'metrics-bind-address': { type: 'string' },
        port: { type: 'string' },
        namespace: { type: 'string', multiple: true },
        'ca-file': { type: 'string' },
        kubeconfig: { type: 'string' },
        context: { type: 'string' },
        'failure-threshold': { type: 'string' },
        'failure-window': { type: 'string' },
        'jwks-cooldown': { type: 'string' },
        'rate-limit-store': { type: 'string' },
        'cache-sync-timeout': { type: 'string' },
        'log-level': { type: 'string' },
        help: { type: 'boolean', short: 'h' },
      },
    }));
  } catch (err) {
    throw new ConfigError((err as Error).message);
  }
  if (values.help) return 'help';
  const str = (k: string): string | undefined => (typeof values[k] === 'string' ? (values[k] as string) : undefined);
  const { address, metricsAddress } = addresses(str);
  const threshold = wholeNumber('failure-threshold', str('failure-threshold') ?? '20', 1, 100000);
  const namespaces = namespaceNames((values.namespace as string[] | undefined) ?? []);
  const kubeconfig = str('kubeconfig') ?? env.KUBECONFIG;
  const context = str('context');
  const caFile = str('ca-file');
  const store = str('rate-limit-store');
  return {
    ...(store ? { rateLimitStore: { endpoint: parseStoreEndpoint(store), username: env.APISEC_RATE_LIMIT_STORE_USERNAME, password: env.APISEC_RATE_LIMIT_STORE_PASSWORD } } : {}),
    address,
    metricsAddress,
    namespaces,
    ...(kubeconfig ? { kubeconfig } : {}),
    ...(context ? { context } : {}),
    ...(caFile ? { caFile } : {}),
    logLevel: str('log-level') ?? env.LOG_LEVEL ?? 'info',
    cacheSyncTimeoutMs: parseDuration(str('cache-sync-timeout') ?? '2m'),
    failureThreshold: threshold,
    failureWindowMs: parseDuration(str('failure-window') ?? '1m'),
    jwksCooldownMs: parseDuration(str('jwks-cooldown') ?? '10s'),
  };
}

export interface RunningGuard {
  port: number;
  metricsPort: number;
  state: GuardState;
  stop(): Promise<void>;
}

/** Starts the guard; resolves once it listens (the check server answers NotSynced until the caches sync). */
export async function startGuard(config: GuardConfig, log: Logger, client = connect({ kubeconfig: config.kubeconfig, context: config.context })): Promise<RunningGuard> {
  const metrics = guardMetrics();
  runtimeMetrics(metrics.registry);
  const fetchJson = httpsJsonFetcher(config.caFile ? { caFile: config.caFile } : {});
  const jwks = new JwksCache(async (url) => {
    try {
      const doc = await fetchJson(url);
      metrics.jwksFetches.inc({ outcome: 'ok' });
      return doc;
    } catch (err) {
      metrics.jwksFetches.inc({ outcome: 'error' });
      log.warn({ url, err: err instanceof Error ? err.message : String(err) }, 'Fetch of signing keys failed');
      throw err;
    }
  }, { cooldownMs: config.jwksCooldownMs });
  const state = new GuardState(client, log, jwks, config.namespaces);
  const counter = config.rateLimitStore ? redisCounter(config.rateLimitStore, log) : undefined;
  const storeReports = new StoreReports();
  const events = new Writer(client, 'apisec-guard');
  state.start();
  const servers: (GuardServer | HttpServer)[] = [];
  const stop = async (): Promise<void> => {
    for (const s of servers.splice(0)) await s.close();
    await state.stop();
    await counter?.close();
    await client.close();
  };
  try {
    servers.push(
      await startHttpServer({
        port: config.metricsAddress.port,
        ...(config.metricsAddress.host ? { host: config.metricsAddress.host } : {}),
        registry: metrics.registry,
        checks: {
          healthz: () => ({ ok: true }),
          readyz: () => {
            const bad = state.health().filter((h) => !h.synced || !h.healthy);
            return bad.length ? { ok: false, detail: bad.map((h) => `${h.resource}: ${h.lastError ?? 'not synced'}`).join('\n') } : { ok: true };
          },
        },
        log,
      }),
    );
    const server = await startGuardServer({
      host: config.address.host ?? '0.0.0.0',
      port: config.address.port,
      source: state,
      metrics,
      log,
      counter,
      // The operator, which owns the status, learns of an unreachable store from these Events (RateLimitStoreUnavailable).
      onStoreUnavailable: (policy, action) => {
        if (!storeReports.due(`${policy.namespace}/${policy.name}`, Date.now())) return;
        const note = `the rate-limit store could not be reached: requests ${action === 'Allow' ? 'pass uncounted' : 'are refused (503)'} (onStoreUnavailable ${action})`;
        void events
          .recordEvent({ apiVersion: 'apisec.dev/v1alpha1', kind: 'ApiSecurityPolicy', name: policy.name, namespace: policy.namespace }, { type: 'Warning', reason: STORE_UNAVAILABLE_REASON, note, action: 'RateLimit', labels: { [LABEL_EVENT]: RATE_LIMIT_STORE_EVENT } })
          .then((err) => err && log.warn({ err: err.message }, 'Event not recorded'));
      },
      failures: new FailureWindow({ threshold: config.failureThreshold, windowMs: config.failureWindowMs }),
      onSuspicious: (s, policy) => {
        const note = `${s.failures} failed authentications from ${s.client} within ${s.windowMs / 1000}s (brute force or credential stuffing?)`;
        void events
          .recordEvent({ apiVersion: 'apisec.dev/v1alpha1', kind: 'ApiSecurityPolicy', name: policy.name, namespace: policy.namespace }, { type: 'Warning', reason: 'SuspiciousActivity', note, action: 'Authenticate', labels: { [LABEL_EVENT]: SUSPICIOUS_ACTIVITY } })
          .then((err) => err && log.warn({ err: err.message }, 'Event not recorded'));
      },
    });
    servers.push(server);
    return { port: server.port, metricsPort: (servers[0] as HttpServer).port, state, stop };
  } catch (err) {
    await stop();
    throw err;
  }
}

/** `apisec guard …`: runs until SIGTERM; returns the exit code. */
export async function runGuardCommand(config: GuardConfig | 'help', out: { write(s: string): unknown }): Promise<number> {
  if (config === 'help') {
    out.write(GUARD_HELP);
    return 0;
  }
  const log = createLogger(config.logLevel).child({ component: 'apisec-guard' });
  let guard: RunningGuard;
  try {
    guard = await startGuard(config, log);
  } catch (err) {
    log.fatal({ err: err instanceof Error ? err.message : String(err) }, 'Guard failed to start');
    return 1;
  }
  const deadline = config.cacheSyncTimeoutMs
    ? setTimeout(() => {
        if (!guard.state.synced) {
          log.fatal({ informers: guard.state.health() }, 'Guard caches did not sync in time: check RBAC (get, list, watch on apisecuritypolicies and secrets) and the CRDs');
          void guard.stop().finally(() => process.exit(1));
        }
      }, config.cacheSyncTimeoutMs)
    : undefined;
  void guard.state.waitForSync().then((ok) => ok && log.info('Guard caches synced'));
  return new Promise((resolve) => {
    const onSignal = (sig: string): void => {
      clearTimeout(deadline);
      log.info({ signal: sig }, 'Stopping guard');
      const hard = setTimeout(() => process.exit(1), 10_000);
      hard.unref();
      void guard.stop().then(() => resolve(0), () => resolve(1));
    };
    process.once('SIGTERM', onSignal);
    process.once('SIGINT', onSignal);
  });
}
