// Command-line flags and environment of the operator process, parsed and validated up front so a
// wrong setting fails at start with one clear line instead of during a reconcile.
import { parseArgs } from 'node:util';
import { defaultSettings, type ControllerPeer, type OperatorSettings, type Provider } from './render/types.ts';

export interface OperatorConfig {
  kubeconfig?: string;
  context?: string;
  namespace?: string;
  workers: number;
  metricsBindAddress: string;
  metricsPort: number;
  leaderElect: boolean;
  leaderElectionNamespace: string;
  leaderElectionId: string;
  identity: string;
  resyncMs: number;
  /** Caches not synced by then end the process (0: wait forever), like controller-runtime's CacheSyncTimeout. */
  cacheSyncTimeoutMs: number;
  logLevel: string;
  settings: OperatorSettings;
}

export const HELP = `api-security-operator — reconciles ApiSecurityPolicy resources into enforced controls

Usage: npm start -- [flags]     (or: node dist/main.js [flags])

Flags (environment variable in brackets):
  --kubeconfig PATH              kubeconfig to use [KUBECONFIG]; in a pod the in-cluster config
  --context NAME                 kubeconfig context
  --namespace NS                 watch only this namespace [WATCH_NAMESPACE]; default: all
  --workers N                    concurrent reconciles, 1-64 (default 2) [APISEC_WORKERS]
  --metrics-bind-address ADDR    address of /metrics, /healthz, /readyz (default 0.0.0.0)
  --metrics-port PORT            port of that server, 0 for any free port (default 8080)
  --leader-elect=false           run without leader election (one replica only)
  --leader-election-namespace NS namespace of the Lease [POD_NAMESPACE] (default apisec-system)
  --leader-election-id NAME      name of the Lease (default api-security-operator)
  --resync DURATION              periodic re-check of each policy, e.g. 10m, 30s (default 10m)
  --cache-sync-timeout DURATION  exit if the caches have not synced by then, e.g. RBAC or CRDs
                                 missing (default 2m; 0s: wait forever)
  --log-level LEVEL              trace|debug|info|warn|error (default info) [LOG_LEVEL]
  --ingress-class CLASS=PROVIDER data plane of an ingress class (repeatable), PROVIDER one of
                                 ingress-nginx|traefik|haproxy; adds to nginx, traefik, haproxy
  --ingress-controller PROVIDER=NAMESPACE/LABEL=VALUE[,LABEL=VALUE]
                                 where that controller's pods run, for NetworkPolicy peers (repeatable)
  --help, --version
`;

const PROVIDERS = new Set(['ingress-nginx', 'traefik', 'haproxy']);
const LEVELS = new Set(['trace', 'debug', 'info', 'warn', 'error', 'fatal', 'silent']);

export class ConfigError extends Error {}

export function parseDuration(s: string): number {
  const m = /^([0-9]+)(ms|s|m|h)$/.exec(s);
  if (!m) throw new ConfigError(`invalid duration "${s}" (use e.g. 30s, 10m, 1h)`);
  const n = Number(m[1]);
  return n * { ms: 1, s: 1000, m: 60_000, h: 3_600_000 }[m[2] as 'ms' | 's' | 'm' | 'h'];
}

function int(name: string, v: string, min: number, max: number): number {
  if (!/^[0-9]+$/.test(v) || Number(v) < min || Number(v) > max) throw new ConfigError(`--${name} must be a whole number from ${min} to ${max}, got "${v}"`);
  return Number(v);
}

function controllerPeer(v: string): [Provider, ControllerPeer] {
  const m = /^([a-z-]+)=([a-z0-9-]+)\/(.+)$/.exec(v);
  if (!m || !PROVIDERS.has(m[1]!)) throw new ConfigError(`--ingress-controller expects PROVIDER=NAMESPACE/LABEL=VALUE[,LABEL=VALUE], got "${v}"`);
  const podLabels: Record<string, string> = {};
  for (const pair of m[3]!.split(',')) {
    const [k, val] = pair.split('=');
    if (!k || val === undefined) throw new ConfigError(`--ingress-controller: "${pair}" is not LABEL=VALUE`);
    podLabels[k] = val;
  }
  return [m[1] as Provider, { namespace: m[2]!, podLabels }];
}

function oneOf(name: string, value: string, allowed: Set<string>): string {
  if (!allowed.has(value)) throw new ConfigError(`--${name} must be one of ${[...allowed].join(', ')}, got "${value}"`);
  return value;
}

function parseSettings(classes: string[], controllers: string[]): OperatorSettings {
  const settings: OperatorSettings = {
    ingressClasses: { ...defaultSettings.ingressClasses },
    ingressControllers: { ...defaultSettings.ingressControllers },
  };
  for (const v of classes) {
    const [cls, provider] = v.split('=');
    if (!cls || !provider || !PROVIDERS.has(provider)) throw new ConfigError(`--ingress-class expects CLASS=PROVIDER (ingress-nginx|traefik|haproxy), got "${v}"`);
    settings.ingressClasses[cls] = provider as Provider;
  }
  for (const v of controllers) {
    const [provider, peer] = controllerPeer(v);
    settings.ingressControllers[provider] = peer;
  }
  return settings;
}

export function parseConfig(argv: string[], env: NodeJS.ProcessEnv): OperatorConfig | 'help' | 'version' {
  const { values } = parseArgs({
    args: argv,
    strict: true,
    options: {
      kubeconfig: { type: 'string' },
      context: { type: 'string' },
      namespace: { type: 'string' },
      workers: { type: 'string' },
      'metrics-bind-address': { type: 'string' },
      'metrics-port': { type: 'string' },
      'leader-elect': { type: 'string' },
      'leader-election-namespace': { type: 'string' },
      'leader-election-id': { type: 'string' },
      resync: { type: 'string' },
      'cache-sync-timeout': { type: 'string' },
      'log-level': { type: 'string' },
      'ingress-class': { type: 'string', multiple: true },
      'ingress-controller': { type: 'string', multiple: true },
      help: { type: 'boolean' },
      version: { type: 'boolean' },
    },
  });
  if (values.help) return 'help';
  if (values.version) return 'version';
  const logLevel = oneOf('log-level', values['log-level'] ?? env.LOG_LEVEL ?? 'info', LEVELS);
  const leader = oneOf('leader-elect', values['leader-elect'] ?? 'true', new Set(['true', 'false']));

  const settings = parseSettings(values['ingress-class'] ?? [], values['ingress-controller'] ?? []);
  const kubeconfig = values.kubeconfig ?? env.KUBECONFIG;
  const namespace = values.namespace ?? env.WATCH_NAMESPACE;
  return {
    ...(kubeconfig ? { kubeconfig } : {}),
    ...(values.context ? { context: values.context } : {}),
    ...(namespace ? { namespace } : {}),
    workers: int('workers', values.workers ?? env.APISEC_WORKERS ?? '2', 1, 64),
    metricsBindAddress: values['metrics-bind-address'] ?? '0.0.0.0',
    metricsPort: int('metrics-port', values['metrics-port'] ?? '8080', 0, 65535),
    leaderElect: leader === 'true',
    leaderElectionNamespace: values['leader-election-namespace'] ?? env.POD_NAMESPACE ?? 'apisec-system',
    leaderElectionId: values['leader-election-id'] ?? 'api-security-operator',
    identity: env.POD_NAME ?? `${env.HOSTNAME ?? 'local'}-${process.pid}`,
    resyncMs: parseDuration(values.resync ?? '10m'),
    cacheSyncTimeoutMs: parseDuration(values['cache-sync-timeout'] ?? '2m'),
    logLevel,
    settings,
  };
}
